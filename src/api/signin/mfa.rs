//! The agent's own TOTP enrolment, with its session token as Bearer:
//! `POST /api/v1/auth/mfa/totp` starts it (the secret and its `otpauth://` URI, shown once),
//! `POST /api/v1/auth/mfa/totp/confirm` proves it with a first code and answers the recovery
//! codes (shown once). From then on sign-in asks for a code.

use actix_web::{HttpResponse, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::SignedIn;
use crate::api::body::Json;
use crate::api::problem::{Problem, types};
use crate::credentials::{recovery, totp::Secret};
use crate::http::State;

/// A started enrolment: put the URI in a QR code for the agent's authenticator app.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpStarted {
    /// The secret in base32, for typing into the app. Shown once.
    pub secret: String,
    #[schema(
        example = "otpauth://totp/Rollcall:ana.lima?secret=…&issuer=Rollcall&algorithm=SHA1&digits=6&period=30"
    )]
    pub otpauth_uri: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The code the app shows now.
    #[schema(example = "492039")]
    pub code: String,
}

/// A confirmed enrolment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpConfirmed {
    /// Single-use codes for when the app is lost. Shown once; stored only as hashes.
    pub recovery_codes: Vec<String>,
}

fn not_configured() -> Problem {
    Problem::conflict("no second factor can be enrolled: auth.mfa.key is not configured")
}

/// Start a TOTP enrolment
#[utoipa::path(
    tag = "Sign-in",
    responses(
        (status = 200, description = "The secret, shown once", body = TotpStarted),
        (status = 401, description = "The session is no good; `reason` says why", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already enrolled, or no key is configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/mfa/totp")]
pub async fn start_totp(state: State, agent: SignedIn) -> Result<HttpResponse, Problem> {
    let agent = agent.0;
    let sealer = state
        .credentials
        .sealer
        .clone()
        .ok_or_else(not_configured)?;
    let secret = Secret::generate();
    let sealed = sealer.seal(&agent.agent_id, secret.as_bytes());
    let (st, id) = (state.clone(), agent.agent_id.clone());
    let user_name = crate::api::db(&state, move |conn| {
        st.accounts
            .start_totp(conn, &id, &sealed, crate::store::now())?;
        Ok(crate::store::agents::get_row(conn, &id)?
            .map(|r| r.user_name)
            .unwrap_or(id))
    })
    .await?;
    let c = &state.credentials;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(TotpStarted {
            secret: secret.to_base32(),
            otpauth_uri: c.totp.uri(&c.issuer, &user_name, &secret),
        }))
}

/// Confirm a TOTP enrolment
#[utoipa::path(
    tag = "Sign-in",
    request_body = CodeBody,
    responses(
        (status = 200, description = "Enrolled; the recovery codes, shown once", body = TotpConfirmed),
        (status = 401, description = "The session is no good; `reason` says why", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No enrolment was started", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code (`reason`: `invalid_code`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/mfa/totp/confirm")]
pub async fn confirm_totp(
    state: State,
    agent: SignedIn,
    body: Json<CodeBody>,
) -> Result<HttpResponse, Problem> {
    let agent = agent.0;
    let sealer = state
        .credentials
        .sealer
        .clone()
        .ok_or_else(not_configured)?;
    let codes = recovery::generate(state.credentials.recovery_codes);
    let hashes: Vec<String> = codes.iter().filter_map(|c| recovery::hash(c)).collect();
    let code = body.value.code;
    let (st, id) = (state.clone(), agent.agent_id.clone());
    let session = agent.session_id.clone();
    let confirmed = crate::api::db(&state, move |conn| {
        let totp = st.credentials.totp;
        let check = |sealed: &str| {
            let secret = Secret::from_bytes(&sealer.open(&id, sealed).ok()?);
            totp.verify(&secret, &code, unix_now(), None)
        };
        Ok(st.accounts.confirm_totp(
            conn,
            &id,
            Some(&session),
            check,
            &hashes,
            crate::store::now(),
        )?)
    })
    .await?;
    if !confirmed {
        return Err(Problem::typed(
            422,
            types::SIGNIN_REFUSED,
            "Wrong code",
            "the code is not right",
        )
        .with_reason("invalid_code"));
    }
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(TotpConfirmed {
            recovery_codes: codes,
        }))
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
