//! The chat platform's sign-in endpoints under `/api/v1/auth`: `POST /login` (user name or
//! email and password → a session token), `GET /session` (the token as Bearer → who the
//! agent is and what it may do, or 401 with a reason), `POST /logout`. These take no API
//! token: the session token is the credential.

mod mfa;
mod password;
mod throttle;

use std::net::IpAddr;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use throttle::Throttle;

use crate::accounts::{Client, Failure, NewSession, Refusal, find_for_signin};
use crate::api::body::Json;
use crate::api::problem::{Problem, types};
use crate::http::State;
use crate::sessions::{Reason, Required, SessionAnswer, Verdict};
use crate::store::models::AgentRow;

pub fn register(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(sign_in)
        .service(check_session)
        .service(sign_out)
        .service(mfa::start_totp)
        .service(mfa::confirm_totp)
        .service(password::change_password)
        .service(password::forgot_password)
        .service(password::use_link);
}

/// A sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Login {
    /// The agent's user name, or its email.
    #[schema(example = "ana.lima")]
    pub login: String,
    pub password: String,
    /// For an agent with a second factor: the code its authenticator app shows, or one of
    /// its recovery codes.
    #[serde(default)]
    pub code: Option<String>,
}

/// A session opened.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginAnswer {
    /// The session token: send it as `Authorization: Bearer <token>`. Shown once.
    #[schema(example = "rcs_3q2+7w…")]
    pub token: String,
    /// A step the agent must take before the session is good for work:
    /// `password_change_required`, `password_expired` (change it with `POST
    /// /auth/password`) or `mfa_enrollment_required` (enrol with `POST /auth/mfa/totp`).
    /// Until then the session check answers 403 with this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<String>,
    /// Under the `classic` policy, when the password expires within `warn_days`: the days
    /// left (rounded up). Show it to the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_expires_in_days: Option<u32>,
    #[serde(flatten)]
    pub answer: SessionAnswer,
}

fn refused(status: u16, refusal: Refusal, detail: &str) -> Problem {
    Problem::typed(status, types::SIGNIN_REFUSED, "Sign-in refused", detail)
        .with_reason(refusal.code())
}

fn session_refused(reason: Reason) -> Problem {
    let detail = match reason {
        Reason::Invalid => "no session has this token",
        Reason::Expired => "the session has expired",
        Reason::Revoked => "the session was ended (signed out, revoked, or the password changed)",
        Reason::Disabled => "the agent is disabled",
        Reason::Deleted => "the agent was deleted",
        Reason::ForcedOffline => "the agent was forced offline",
    };
    Problem::typed(401, types::SESSION_REFUSED, "Session refused", detail)
        .with_reason(reason.code())
}

fn step_required(required: Required) -> Problem {
    let detail = match required {
        Required::PasswordChange => {
            "the agent must change its initial or reset password first (POST /auth/password)"
        }
        Required::PasswordExpired => {
            "the agent's password has expired: change it first (POST /auth/password)"
        }
        Required::MfaEnrollment => {
            "the agent's role must use a second factor: enrol one first (POST /auth/mfa/totp)"
        }
    };
    Problem::typed(
        403,
        types::SESSION_REFUSED,
        "Session not yet good for work",
        detail,
    )
    .with_reason(required.code())
}

/// The client's address: the configured proxy header's first entry, else the peer.
fn client_ip(req: &HttpRequest, state: &State) -> Option<IpAddr> {
    if let Some(name) = &state.config.signin.client_ip_header
        && let Some(value) = req.headers().get(name.as_str())
        && let Ok(text) = value.to_str()
        && let Some(first) = text.split(',').next()
        && let Ok(ip) = first.trim().parse()
    {
        return Some(ip);
    }
    req.peer_addr().map(|a| a.ip())
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

/// 503 with `Retry-After` when the hashing pool is full; 500 when hashing failed.
fn hashing_problem(e: crate::credentials::hashing::HashError) -> Problem {
    use crate::credentials::hashing::HashError;
    match e {
        HashError::Busy { retry_after } => {
            Problem::new(503, "too many sign-ins at once; try again")
                .retry_after(retry_after.as_secs())
        }
        HashError::Internal(e) => {
            tracing::error!(error = %e, "password hashing failed");
            Problem::internal()
        }
    }
}

/// Verifies `password` against `hash` (a dummy of the same cost when there is none) on the
/// hashing pool; `Some(new hash)` as well when the stored one has other parameters.
async fn verify(
    state: &State,
    password: &str,
    hash: Option<&str>,
) -> Result<(bool, Option<String>), Problem> {
    use crate::credentials::hashing::Verdict as Hashed;
    let hasher = &state.credentials.hasher;
    match hasher
        .verify(password, hash)
        .await
        .map_err(hashing_problem)?
    {
        Hashed::Invalid => Ok((false, None)),
        Hashed::Valid {
            needs_rehash: false,
        } => Ok((true, None)),
        Hashed::Valid { needs_rehash: true } => {
            // A busy pool only postpones the rehash to a later sign-in.
            Ok((true, hasher.hash(password).await.ok()))
        }
    }
}

/// Sign in an agent
///
/// Checks the password (and refuses pending, disabled, forced-offline and locked agents);
/// opens a session and answers its token with what `GET /auth/session` answers. Every
/// attempt is in the security log. Failures lock the account after `signin.lockout_threshold`
/// in a row, for a time that doubles with each further failure; a client address with too
/// many failures is throttled. Both answer 429 with `Retry-After`.
#[utoipa::path(
    tag = "Sign-in",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in", body = LoginAnswer),
        (status = 401, description = "Wrong user name or password (`reason`: `invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The agent may not sign in (`reason`: `pending`, `disabled`, `forced_offline`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked or throttled (`reason`: `locked`, `throttled`); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn sign_in(
    req: HttpRequest,
    state: State,
    body: Json<Login>,
) -> Result<HttpResponse, Problem> {
    let Login {
        login,
        password,
        code,
    } = body.value;
    // NUL is in no user name or email (and PostgreSQL refuses it in text).
    if login.trim().is_empty() || login.len() > 256 || login.contains('\0') || password.len() > 1024
    {
        return Err(refused(
            401,
            Refusal::InvalidCredentials,
            "wrong user name or password",
        ));
    }
    let ip = client_ip(&req, &state);
    let ip_text = ip.map(|i| i.to_string());
    let agent_text = user_agent(&req);
    if let Some(ip) = ip
        && let Some(wait) = state.throttle.refused(ip, Instant::now())
    {
        record_failure(
            &state,
            None,
            &login,
            Refusal::Throttled,
            &ip_text,
            &agent_text,
        )
        .await?;
        return Err(refused(
            429,
            Refusal::Throttled,
            "too many failed sign-ins from this address",
        )
        .retry_after(wait));
    }
    let name = login.clone();
    let row: Option<AgentRow> =
        crate::api::read(&state, move |conn| Ok(find_for_signin(conn, &name)?)).await?;
    let now = crate::store::now();
    if let Some(r) = &row
        && let Some(until) = r.locked_until.filter(|t| *t > now)
    {
        let wait = (until - now).num_seconds().max(1) as u64;
        record_failure(
            &state,
            Some(r.id.clone()),
            &login,
            Refusal::Locked,
            &ip_text,
            &agent_text,
        )
        .await?;
        return Err(refused(
            429,
            Refusal::Locked,
            "the account is locked after failed sign-ins",
        )
        .retry_after(wait));
    }
    let hash = row.as_ref().and_then(|r| r.password_hash.clone());
    let (good, rehash) = verify(&state, &password, hash.as_deref()).await?;
    let row = match row {
        Some(row) if good => row,
        other => {
            if let Some(ip) = ip {
                state.throttle.failed(ip, Instant::now());
            }
            let id = other.map(|r| r.id);
            let failure = record_failure(
                &state,
                id,
                &login,
                Refusal::InvalidCredentials,
                &ip_text,
                &agent_text,
            )
            .await?;
            let problem = refused(
                401,
                Refusal::InvalidCredentials,
                "wrong user name or password",
            );
            // The failure that locks says so (the client learns when to try again).
            return Err(match failure.locked_until {
                Some(until) if failure.failures > 0 => {
                    let wait = (until - crate::store::now()).num_seconds().max(1);
                    problem.retry_after(u64::try_from(wait).unwrap_or(1))
                }
                _ => problem,
            });
        }
    };
    if let Some(refusal) = Refusal::of_state(&row) {
        record_failure(
            &state,
            Some(row.id.clone()),
            &login,
            refusal,
            &ip_text,
            &agent_text,
        )
        .await?;
        let detail = match refusal {
            Refusal::Pending => "the agent is waiting for approval",
            Refusal::ForcedOffline => "the agent was forced offline; an admin must resume it",
            _ => "the agent is disabled",
        };
        return Err(refused(403, refusal, detail));
    }
    let mfa = match second_factor(&state, &row.id, code).await? {
        SecondFactor::None => false,
        SecondFactor::Accepted => true,
        SecondFactor::Missing => {
            return Err(refused(
                401,
                Refusal::InvalidCode,
                "this agent signs in with a second factor: send its code as `code`",
            )
            .with_reason("mfa_required"));
        }
        SecondFactor::Wrong => {
            if let Some(ip) = ip {
                state.throttle.failed(ip, Instant::now());
            }
            record_failure(
                &state,
                Some(row.id.clone()),
                &login,
                Refusal::InvalidCode,
                &ip_text,
                &agent_text,
            )
            .await?;
            return Err(refused(
                401,
                Refusal::InvalidCode,
                "the code is wrong or was already used",
            ));
        }
    };
    open_session(&state, row, rehash, mfa, &ip_text, &agent_text).await
}

enum SecondFactor {
    /// The agent has none.
    None,
    Accepted,
    Missing,
    Wrong,
}

/// Checks the sign-in's second factor, using it up (a TOTP step, a recovery code).
async fn second_factor(
    state: &State,
    id: &str,
    code: Option<String>,
) -> Result<SecondFactor, Problem> {
    let (st, id) = (state.clone(), id.to_owned());
    crate::api::db(state, move |conn| {
        if crate::accounts::confirmed_totp(conn, &id)?.is_none() {
            return Ok(SecondFactor::None);
        }
        let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
            return Ok(SecondFactor::Missing);
        };
        let Some(sealer) = st.credentials.sealer.clone() else {
            tracing::error!(agent = %id, "an agent has a second factor but auth.mfa.key is not configured");
            return Err(Problem::internal());
        };
        let totp = st.credentials.totp;
        let check = |sealed: &str, last: u64| {
            let secret = crate::credentials::totp::Secret::from_bytes(&sealer.open(&id, sealed).ok()?);
            totp.verify(&secret, &code, mfa::unix_now(), Some(last))
        };
        let recovery = crate::credentials::recovery::hash(&code);
        let used = st.accounts.use_second_factor(
            conn,
            &id,
            check,
            recovery.as_deref(),
            crate::store::now(),
        )?;
        Ok(if used.is_some() {
            SecondFactor::Accepted
        } else {
            SecondFactor::Wrong
        })
    })
    .await
}

/// The live session behind the request's Bearer token, as an extractor (401 with the
/// reason otherwise) — placed before a body, so that a request without a good session is
/// refused before its body is read.
pub struct SignedIn(pub std::sync::Arc<crate::sessions::Valid>);

impl actix_web::FromRequest for SignedIn {
    type Error = Problem;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<State>()
                .cloned()
                .ok_or_else(Problem::internal)?;
            signed_in_agent(&req, &state).await.map(SignedIn)
        })
    }
}

/// The live session behind the request's Bearer token (401 with the reason otherwise),
/// also one that still has a step to take (the endpoints that take it accept it).
pub async fn signed_in_agent(
    req: &HttpRequest,
    state: &State,
) -> Result<std::sync::Arc<crate::sessions::Valid>, Problem> {
    let token = crate::http::auth::bearer(req).map_err(|_| session_refused(Reason::Invalid))?;
    live_any(state, &token).await
}

/// The session `token` names when it is good for work; 403 with the step when one is
/// still required, 401 with the reason when it is no good.
async fn live(
    state: &State,
    token: &str,
) -> Result<std::sync::Arc<crate::sessions::Valid>, Problem> {
    let v = live_any(state, token).await?;
    match v.required {
        Some(step) => Err(step_required(step)),
        None => Ok(v),
    }
}

/// The live session `token` names (with or without a step to take), or the problem that
/// refuses it.
async fn live_any(
    state: &State,
    token: &str,
) -> Result<std::sync::Arc<crate::sessions::Valid>, Problem> {
    match state.sessions.check(token, crate::store::now()).await {
        Ok(Verdict::Valid(v)) => Ok(v),
        Ok(Verdict::Refused(reason)) => Err(session_refused(reason)),
        Err(e) => {
            tracing::error!(error = %e, "session check failed");
            Err(Problem::unavailable())
        }
    }
}

/// Records a refused sign-in; for an agent's wrong password, counts it and may lock.
async fn record_failure(
    state: &State,
    id: Option<String>,
    login: &str,
    refusal: Refusal,
    ip: &Option<String>,
    user_agent: &Option<String>,
) -> Result<Failure, Problem> {
    let st = state.clone();
    let (login, ip, ua) = (login.to_owned(), ip.clone(), user_agent.clone());
    crate::api::db(state, move |conn| {
        let client = Client {
            ip: ip.as_deref(),
            user_agent: ua.as_deref(),
        };
        let signin = &st.config.signin;
        st.accounts
            .signin_failed(
                conn,
                id.as_deref(),
                &login,
                refusal,
                |n| signin.lock_for(n),
                client,
                crate::store::now(),
            )
            .map_err(Problem::from)
    })
    .await
}

async fn open_session(
    state: &State,
    row: AgentRow,
    rehash: Option<String>,
    mfa: bool,
    ip: &Option<String>,
    user_agent: &Option<String>,
) -> Result<HttpResponse, Problem> {
    let token = crate::sessions::new_token();
    let now = crate::store::now();
    let policies = &state.credentials.policies;
    let expires_in = row.password_changed_at.and_then(|changed| {
        match policies.expiry(policies.profile_for(&row.role), changed, now) {
            crate::credentials::policy::Expiry::Warn { days_left } => Some(days_left),
            _ => None,
        }
    });
    let lifetime = chrono::Duration::seconds(
        i64::try_from(state.config.sessions.absolute_timeout_secs).unwrap_or(i64::MAX / 4),
    );
    let session = NewSession {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: crate::auth::token_hash(&token),
        expires_at: now + lifetime,
        mfa,
    };
    let st = state.clone();
    let (ip, ua) = (ip.clone(), user_agent.clone());
    crate::api::db(state, move |conn| {
        let client = Client {
            ip: ip.as_deref(),
            user_agent: ua.as_deref(),
        };
        st.accounts
            .signed_in(conn, &row.id, &session, rehash.as_deref(), client, now)
            .map_err(Problem::from)
    })
    .await?;
    let v = live_any(state, &token).await?;
    let answer: serde_json::Value =
        serde_json::from_slice(&v.body).map_err(|_| Problem::internal())?;
    let mut body = serde_json::json!({ "token": token });
    if let Some(step) = v.required {
        body["required"] = step.code().into();
    }
    if let Some(days) = expires_in {
        body["passwordExpiresInDays"] = days.into();
    }
    if let (Some(obj), serde_json::Value::Object(rest)) = (body.as_object_mut(), answer) {
        obj.extend(rest);
    }
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// Check a session
///
/// The chat platform's hot path: send the agent's session token as the Bearer token. A good
/// session answers who the agent is, its role, effective permissions, skill groups,
/// channels and chat limit. It is refused (401, with `reason`) once the agent is disabled
/// (`disabled`), deleted (`deleted`) or forced offline (`forced_offline`), the session was
/// ended (`revoked`: signed out, revoked, password changed or reset) or ran out
/// (`expired`), or the token is unknown (`invalid`) — at once on the node that made the
/// change, within `sessions.poll_ms` on the others.
#[utoipa::path(
    tag = "Sign-in",
    responses(
        (status = 200, description = "The session is good", body = SessionAnswer),
        (status = 401, description = "The session is no good; `reason` says why", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The agent must first change its password or enrol a second factor (`reason`: `password_change_required`, `password_expired`, `mfa_enrollment_required`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/auth/session")]
pub async fn check_session(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let token = crate::http::auth::bearer(&req).map_err(|_| session_refused(Reason::Invalid))?;
    let v = live(&state, &token).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(v.body.clone()))
}

/// Sign out
///
/// Ends the session whose token is the Bearer token (`session.revoke` in the audit log).
#[utoipa::path(
    tag = "Sign-in",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "The session is no good; `reason` says why", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/logout")]
pub async fn sign_out(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let token = crate::http::auth::bearer(&req).map_err(|_| session_refused(Reason::Invalid))?;
    let valid = live_any(&state, &token).await?;
    let st = state.clone();
    let (agent, session) = (valid.agent_id.clone(), valid.session_id.clone());
    crate::api::db(&state, move |conn| {
        st.accounts
            .revoke_sessions(
                conn,
                &format!("agent:{agent}"),
                &agent,
                Some(&session),
                "signed out",
                crate::store::now(),
            )
            .map_err(Problem::from)
    })
    .await?;
    state.sessions.forget(&token);
    Ok(HttpResponse::NoContent().finish())
}
