//! Who may call the admin API: a bearer token (`http::auth`) with scope `admin` for every
//! endpoint, or `read` for reads only. Handlers take [`Admin`] or [`Reader`].

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use super::problem::Problem;
use crate::auth::{Principal, Scope};

/// A caller with scope `admin`: may read and change.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

/// A caller with scope `read` or `admin`: may read.
#[derive(Debug, Clone)]
pub struct Reader(pub Principal);

impl Admin {
    /// The audit actor: `token:<name>`.
    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

impl Reader {
    /// The audit actor: `token:<name>`.
    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

async fn principal(req: HttpRequest) -> Result<Principal, Problem> {
    crate::http::auth::authenticate(&req)
        .await
        .map_err(Problem::from)
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let p = principal(req).await?;
            if p.has(Scope::Admin) {
                Ok(Admin(p))
            } else {
                Err(Problem::forbidden(
                    "this endpoint needs a token with scope admin",
                ))
            }
        })
    }
}

impl FromRequest for Reader {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let p = principal(req).await?;
            if p.has(Scope::Admin) || p.has(Scope::Read) {
                Ok(Reader(p))
            } else {
                Err(Problem::forbidden(
                    "this endpoint needs a token with scope read or admin",
                ))
            }
        })
    }
}
