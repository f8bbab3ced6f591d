//! `/api/v1/imports`: upload a CSV or xlsx file of agents (multipart/form-data with a file
//! part, or the file as the body), follow the import, download its report CSV and the
//! template. The work is `imports::run`, through the gateway.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Reader};
use super::idempotency::idempotent;
use super::problem::Problem;
use crate::http::State;
use crate::imports::{self, Context, Mode, Options};

/// The largest import file accepted (32 MiB: about 200,000 rows of the template's columns).
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// How long `POST /imports` waits for the import to finish before answering `202`.
const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(template)
        .service(create_import)
        .service(get_import)
        .service(report_csv);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `all_or_nothing` (default) or `valid_only`.
    pub mode: Option<String>,
    /// `true`: check and preview, write nothing.
    pub dry_run: Option<bool>,
    /// The file's name (for a raw body; a multipart part carries its own).
    pub file_name: Option<String>,
}

/// The import template (CSV, the columns' English headers).
#[utoipa::path(
    tag = "imports",
    responses(
        (status = 200, description = "The template", content_type = "text/csv"),
    ),
    security(("bearer" = []))
)]
#[get("/imports/template")]
async fn template(_r: Reader) -> HttpResponse {
    csv_response(imports::template(), "rollcall-import-template.csv")
}

/// Imports agents from a file. Answers `200` with the result when the import finishes within
/// two seconds, else `202` with its id (`Location`): follow it with `GET /imports/{id}`.
#[utoipa::path(
    tag = "imports",
    params(ImportQuery),
    request_body(content = String, description = "multipart/form-data with a `file` part, or the file itself (text/csv, or an xlsx workbook)", content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The import finished: its report (status `done` or `failed`)"),
        (status = 202, description = "The import runs: `{\"id\", \"status\"}`"),
        (status = 400, description = "No file in the request", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's scope is not admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is larger than 32 MiB", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/imports")]
async fn create_import(
    req: HttpRequest,
    state: State,
    admin: Admin,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let mode = match query.mode.as_deref() {
        None | Some("all_or_nothing") => Mode::AllOrNothing,
        Some("valid_only") => Mode::ValidOnly,
        Some(other) => {
            return Err(Problem::invalid_field(
                "/mode",
                format!("mode {other:?}: use all_or_nothing or valid_only"),
            ));
        }
    };
    let opts = Options {
        mode,
        dry_run: query.dry_run.unwrap_or(false),
    };
    let body = read_body(&req, &state, payload).await?;
    let (file_name, bytes) = file_of(&req, body, query.file_name.clone())?;
    let actor = admin.actor();
    // What an Idempotency-Key compares: the file and how it is imported.
    let fingerprint = json!({
        "file": hex::encode(Sha256::digest(&bytes)),
        "fileName": file_name,
        "mode": opts.mode.as_str(),
        "dryRun": opts.dry_run,
    });
    let st = state.clone();
    idempotent(&req, &state, &actor.clone(), &fingerprint, async move {
        let (a, name) = (actor.clone(), file_name.clone());
        let id = super::db(&st, move |conn| {
            Ok(imports::record::begin(
                conn,
                &a,
                &name,
                opts,
                crate::store::now(),
            )?)
        })
        .await?;
        let (st2, id2) = (st.clone(), id.clone());
        let job = actix_web::rt::spawn(async move {
            let app = st2.clone();
            super::db(&st2, move |conn| {
                let ctx = Context {
                    accounts: &app.accounts,
                    channels: &app.config.accounts.channels,
                    actor: &actor,
                };
                imports::run(conn, &ctx, &id2, &file_name, bytes, opts, None)
                    .map(|o| o.report)
                    .map_err(|e| {
                        tracing::error!(import = %id2, error = %e, "import failed");
                        Problem::internal()
                    })
            })
            .await
        });
        match tokio::time::timeout(WAIT, job).await {
            Ok(Ok(Ok(report))) => Ok(HttpResponse::Ok()
                .insert_header((header::LOCATION, format!("{}/imports/{id}", super::BASE)))
                .json(report)),
            Ok(Ok(Err(p))) => Err(p),
            Ok(Err(_)) => Err(Problem::internal()),
            Err(_) => Ok(HttpResponse::Accepted()
                .insert_header((header::LOCATION, format!("{}/imports/{id}", super::BASE)))
                .json(json!({ "id": id, "status": "validating" }))),
        }
    })
    .await
}

/// An import: its status (`validating | applying | done | failed`), counts and report.
#[utoipa::path(
    tag = "imports",
    params(("id" = String, Path, description = "The import's id")),
    responses(
        (status = 200, description = "The import"),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/imports/{id}")]
async fn get_import(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let rec = super::db(&state, move |conn| {
        imports::record::get(conn, &id)?
            .ok_or_else(|| Problem::not_found(format!("import {id} not found")))
    })
    .await?;
    let report: serde_json::Value = rec
        .report
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(HttpResponse::Ok().json(json!({
        "id": rec.id,
        "actor": rec.actor,
        "fileName": rec.file_name,
        "status": rec.status,
        "mode": rec.mode,
        "dryRun": rec.dry_run,
        "summary": {
            "rows": rec.row_count,
            "created": rec.created,
            "updated": rec.updated,
            "unchanged": rec.unchanged,
            "errors": rec.errors,
        },
        "error": rec.error,
        "createdAt": rec.created_at,
        "finishedAt": rec.finished_at,
        "report": report,
    })))
}

/// The file with an `error` column (only for imports that refused rows).
#[utoipa::path(
    tag = "imports",
    params(("id" = String, Path, description = "The import's id")),
    responses(
        (status = 200, description = "The report", content_type = "text/csv"),
        (status = 404, description = "No such import, or no row was refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/imports/{id}/report.csv")]
async fn report_csv(
    state: State,
    _r: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let csv = super::db(&state, move |conn| {
        imports::record::report_csv(conn, &id)?
            .ok_or_else(|| Problem::not_found(format!("import {id} has no refused rows to report")))
    })
    .await?;
    Ok(csv_response(csv.into_bytes(), "import-report.csv"))
}

fn csv_response(bytes: Vec<u8>, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes)
}

/// Reads the body: at most [`MAX_FILE_BYTES`], within `server.body_timeout_secs`.
async fn read_body(
    req: &HttpRequest,
    state: &State,
    mut payload: web::Payload,
) -> Result<Vec<u8>, Problem> {
    let too_large = || {
        Problem::new(
            413,
            format!("the file is larger than {MAX_FILE_BYTES} bytes: split it"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_FILE_BYTES
    {
        return Err(too_large());
    }
    let secs = state.config.server.body_timeout_secs;
    let read = async {
        let mut buf = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                Problem::bad_request(format!("could not read the request body: {e}"))
            })?;
            if buf.len() + chunk.len() > MAX_FILE_BYTES {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    tokio::time::timeout(std::time::Duration::from_secs(secs), read)
        .await
        .map_err(|_| {
            Problem::new(
                408,
                format!("the request body did not arrive within {secs} s"),
            )
        })?
}

/// The file in the request: the `file` part (else the first part with a file name) of a
/// multipart body, or the body itself.
fn file_of(
    req: &HttpRequest,
    body: Vec<u8>,
    name: Option<String>,
) -> Result<(String, Vec<u8>), Problem> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (file_name, bytes) = if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        let boundary = super::multipart::boundary(&ct)
            .ok_or_else(|| Problem::bad_request("multipart/form-data without a boundary"))?;
        let part = super::multipart::file_part(&body, &boundary).ok_or_else(|| {
            Problem::bad_request("no file in the form: send it as the part named \"file\"")
        })?;
        (part.0.or(name), part.1)
    } else {
        (name, body)
    };
    if bytes.is_empty() {
        return Err(Problem::bad_request("the file is empty"));
    }
    Ok((file_name.unwrap_or_else(|| "upload".into()), bytes))
}
