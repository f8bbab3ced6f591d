//! `/api/v1/mail/outbox`: the mail outbox as operators watch it (newest first, by status,
//! paged; never the values a mail carries — its link holds a token) and another try for a
//! mail that failed (`mail::outbox`).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::idempotency::idempotent;
use super::keyset;
use super::problem::Problem;
use crate::http::State;
use crate::mail::outbox::{self, MailStatus, Retry};
use crate::store::models::MailRow;

pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(list_outbox).service(retry_mail);
}

const OUTBOX: &str = "mail";

/// A mail in the outbox, without the values it carries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailView {
    pub id: i64,
    /// `activation`, `password_reset` or `account_disabled`.
    pub template: String,
    pub recipient: String,
    /// The agent the mail is about.
    pub agent_id: Option<String>,
    /// The language asked for (`null`: `mail.default_language`).
    pub language: Option<String>,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The last attempt's error (the SMTP server's answer, or why it could not be sent).
    pub last_error: Option<String>,
    pub created_at: String,
    /// When the next attempt is due (pending), or was last planned.
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
}

/// A page of the outbox, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailPage {
    pub items: Vec<MailView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn time(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn view(row: MailRow) -> MailView {
    MailView {
        id: row.id,
        template: row.template,
        recipient: row.recipient,
        agent_id: row.agent_id,
        language: row.language,
        status: row.status,
        attempts: row.attempts,
        last_error: row.last_error,
        created_at: time(row.created_at),
        next_attempt_at: time(row.next_attempt_at),
        sent_at: row.sent_at.map(time),
    }
}

/// The mail outbox, newest first.
#[utoipa::path(
    tag = "mail",
    params(
        ("status" = Option<String>, Query, description = "Only mails with this status: `pending`, `sending`, `sent` or `failed`"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Mails per page (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of mails", body = MailPage),
        (status = 400, description = "A bad status, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/mail/outbox")]
async fn list_outbox(req: HttpRequest, state: State, _r: Reader) -> Result<HttpResponse, Problem> {
    let q = web::Query::<OutboxQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Problem::bad_request(format!("bad query: {e}")))?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            MailStatus::parse(s).ok_or_else(|| {
                Problem::bad_request(format!(
                    "status {s:?}: use pending, sending, sent or failed"
                ))
            })
        })
        .transpose()?;
    let limit = keyset::limit(q.limit, 50, 500)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| keyset::decode(&state.cursor_key, OUTBOX, c))
        .transpose()?;
    let (rows, next) = super::read(&state, move |conn| {
        Ok(outbox::list(conn, status, before, limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(MailPage {
        items: rows.into_iter().map(view).collect(),
        next_cursor: next.map(|id| keyset::encode(&state.cursor_key, OUTBOX, id)),
    }))
}

/// Tries a failed (or pending) mail again now; the give-up age counts again from now.
#[utoipa::path(
    tag = "mail",
    params(("id" = i64, Path, description = "The mail's id")),
    responses(
        (status = 200, description = "The mail, due now (or still being sent)", body = MailView),
        (status = 403, description = "The token's scope is not admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mail", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mail was sent already", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/mail/outbox/{id}/retry")]
async fn retry_mail(
    req: HttpRequest,
    state: State,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let raw = id.into_inner();
    let missing = || Problem::not_found(format!("no mail {raw}"));
    let Ok(id) = raw.parse::<i64>() else {
        return Err(missing());
    };
    let st = state.clone();
    let fingerprint = json!({ "mail": id });
    idempotent(&req, &state, &admin.actor(), &fingerprint, async move {
        let outcome = super::db(&st, move |conn| {
            Ok(outbox::retry(conn, id, crate::store::now())?)
        })
        .await?;
        match outcome {
            Retry::Due(row) => {
                tracing::info!(mail = id, "mail retry asked for");
                Ok(HttpResponse::Ok().json(view(*row)))
            }
            Retry::NotFound => Err(Problem::not_found(format!("no mail {id}"))),
            Retry::AlreadySent => Err(Problem::conflict(format!("mail {id} was sent already"))),
        }
    })
    .await
}
