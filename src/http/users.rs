//! `/scim/v2/Users`: list, search, create, read, replace, patch, delete.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::ScimCaller;
use super::body::json_body;
use super::error::{ApiError, SCIM_JSON};
use super::list::{ListParams, etag_version, scim_ok, user_page, with_etag};
use super::{AppState, State, blocking, with_conn, with_read_conn};
use crate::accounts::{AccountError, AgentInput};
use crate::domain::Agent;
use crate::scim::error::ScimError;
use crate::scim::limits;
use crate::scim::patch::{apply_patch, parse_patch_request};
use crate::scim::project::Projection;
use crate::scim::schema::ResourceKind;
use crate::scim::user::{UserBody, from_json, to_json};
use crate::store::{DbConn, Pool, agents as agent_store, groups as group_store};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Users", web::get().to(list))
        .route("/Users", web::post().to(create))
        .route("/Users/.search", web::post().to(search))
        .route("/Users/.search", super::not_allowed("POST"))
        .route("/Users/{id}", web::get().to(get_one))
        .route("/Users/{id}", web::put().to(replace))
        .route("/Users/{id}", web::patch().to(patch))
        .route("/Users/{id}", web::delete().to(delete))
        .route("/Users", super::not_allowed("GET, POST"))
        .route("/Users/{id}", super::not_allowed("GET, PUT, PATCH, DELETE"));
}

async fn list(req: HttpRequest, state: State, _c: ScimCaller) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(req.query_string(), &state)?;
    Ok(scim_ok(&user_page(&state, params).await?))
}

async fn search(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    _c: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let params = ListParams::from_search_body(&body, &state)?;
    Ok(scim_ok(&user_page(&state, params).await?))
}

/// `attributes` / `excludedAttributes` from the query string.
pub fn projection(req: &HttpRequest) -> Result<Projection, ScimError> {
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Projection::parse(get("attributes"), get("excludedAttributes"))
}

/// An `If-Match` header (RFC 9110 §13.1.1): absent or `*`, or a list of entity tags of which
/// one must be current. A tag that does not parse never matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Tags(Vec<i64>),
}

impl IfMatch {
    pub fn parse(value: &str) -> IfMatch {
        let value = value.trim();
        if value == "*" {
            return IfMatch::Any;
        }
        IfMatch::Tags(
            value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| etag_version(t).unwrap_or(-1))
                .collect(),
        )
    }

    /// The version a change must find (`None`: any). With several tags, `current` (the
    /// resource's version now, looked up only then) picks the one that is current; when
    /// none is, the first tag is expected, which then fails with 412. The gateway checks
    /// the version again in the change's transaction.
    pub fn expected(
        &self,
        current: impl FnOnce() -> Result<Option<i64>, ApiError>,
    ) -> Result<Option<i64>, ApiError> {
        match self {
            IfMatch::Any => Ok(None),
            IfMatch::Tags(tags) => match tags.as_slice() {
                [] => Ok(Some(-1)),
                [one] => Ok(Some(*one)),
                [first, ..] => {
                    let now = current()?;
                    Ok(Some(now.filter(|v| tags.contains(v)).unwrap_or(*first)))
                }
            },
        }
    }
}

/// The request's `If-Match`.
pub fn if_match(req: &HttpRequest) -> IfMatch {
    match req.headers().get(header::IF_MATCH) {
        None => IfMatch::Any,
        Some(v) => IfMatch::parse(v.to_str().unwrap_or("\"\"")),
    }
}

fn agent_version(conn: &mut DbConn, id: &str) -> Result<Option<i64>, ApiError> {
    Ok(agent_store::get_row(conn, id)?.map(|r| r.version))
}

fn render(conn: &mut DbConn, agent: &Agent, base: &str) -> Result<Value, ApiError> {
    let groups = group_store::memberships_of(conn, &[agent.id.as_str()])?;
    let g = groups.get(&agent.id).map(Vec::as_slice).unwrap_or(&[]);
    Ok(to_json(agent, g, base))
}

fn respond(status: StatusCode, agent_json: Value, version: i64, proj: &Projection) -> HttpResponse {
    let mut v = agent_json;
    proj.apply(&mut v);
    let mut resp = HttpResponse::build(status);
    resp.content_type(SCIM_JSON);
    if status == StatusCode::CREATED
        && let Some(loc) = v["meta"]["location"].as_str()
    {
        resp.insert_header((header::LOCATION, loc.to_owned()));
    }
    with_etag(resp.body(v.to_string()), version)
}

fn input_of(body: UserBody) -> Result<AgentInput, ApiError> {
    input_hashed(body, &mut None)
}

/// [`input_of`], hashing a password only if it is not the one `hashed` holds the hash of
/// (a PATCH retried after a concurrent change hashes once).
fn input_hashed(
    body: UserBody,
    hashed: &mut Option<(String, String)>,
) -> Result<AgentInput, ApiError> {
    let password_hash = match body.password {
        Some(p) => match hashed {
            Some((plain, hash)) if *plain == p => Some(hash.clone()),
            _ => {
                let hash = crate::auth::hash_password(&p).map_err(|e| {
                    tracing::error!(error = %e, "password hashing failed");
                    ApiError::internal()
                })?;
                *hashed = Some((p, hash.clone()));
                Some(hash)
            }
        },
        None => None,
    };
    Ok(AgentInput {
        profile: body.profile,
        keep_agent_settings: body.keep_agent_settings,
        keep_source_owned: true,
        active: body.active,
        login_blocked: body.login_blocked,
        password_hash,
        ..AgentInput::default()
    })
}

/// The caller as recorded: actor for the audit log, source for new agents.
pub struct Who<'a> {
    pub actor: &'a str,
    pub source: &'a str,
}

/// Refuses a User document with a multi-valued attribute over the cap.
fn check_values(st: &AppState, body: &Value) -> Result<(), ApiError> {
    limits::check_values(body, st.config.scim.max_values_per_attribute, &[])?;
    Ok(())
}

pub fn do_create(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    body: &Value,
) -> Result<(Value, i64), ApiError> {
    check_values(st, body)?;
    let input = input_of(from_json(body)?)?;
    let now = crate::store::now();
    let agent = st
        .accounts
        .create_agent(conn, who.actor, who.source, input, now)?;
    Ok((render(conn, &agent, &st.base_url)?, agent.version))
}

pub fn do_replace(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    id: &str,
    expected: Option<i64>,
    body: &Value,
) -> Result<(Value, i64), ApiError> {
    check_values(st, body)?;
    let input = input_of(from_json(body)?)?;
    let now = crate::store::now();
    let agent = st
        .accounts
        .update_agent(conn, who.actor, id, expected, input, None, now)
        .map_err(|e| not_found_as_user(e, id))?;
    Ok((render(conn, &agent, &st.base_url)?, agent.version))
}

/// Where a PATCH takes its database connections from.
pub enum Conns<'a> {
    /// One held for the whole request (a Bulk request runs its operations on one).
    Held(&'a mut DbConn),
    /// The pool: one to read, released, none while the patched document is computed, one
    /// to write.
    Pool(&'a Pool),
}

impl Conns<'_> {
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut DbConn) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match self {
            Conns::Held(conn) => f(conn),
            Conns::Pool(pool) => {
                let mut conn = pool.get().map_err(|e| {
                    tracing::error!(error = %e, "no database connection");
                    ApiError::unavailable()
                })?;
                f(&mut conn)
            }
        }
    }
}

/// Optimistic rounds of a PATCH (read, compute, write if the version is still the one read)
/// before it computes inside the write transaction, where no other writer can get between.
const OPTIMISTIC_ROUNDS: usize = 8;

/// Read, patch, write with the version read — the write fails if another writer got in
/// between, and the PATCH starts again from the new version. No connection is held while
/// the document is computed. After [`OPTIMISTIC_ROUNDS`] lost races the PATCH is computed
/// inside the write transaction (its work is bounded by `scim.max_patch_terms` and
/// `scim.max_values_per_attribute`), so it always ends.
pub fn do_patch(
    conns: &mut Conns<'_>,
    st: &AppState,
    who: &Who<'_>,
    id: &str,
    expected: Option<i64>,
    body: &Value,
) -> Result<(Value, i64), ApiError> {
    let ops = parse_patch_request(body)?;
    limits::check_patch(&ops, st.config.scim.max_patch_terms)?;
    let max_values = st.config.scim.max_values_per_attribute;
    let mut hashed: Option<(String, String)> = None;
    let mut patched = |agent: &Agent| -> Result<AgentInput, ApiError> {
        let mut doc = to_json(agent, &[], &st.base_url);
        apply_patch(ResourceKind::User, &mut doc, &ops, max_values)?;
        input_hashed(from_json(&doc)?, &mut hashed)
    };
    for _ in 0..OPTIMISTIC_ROUNDS {
        let agent = conns.with(|conn| {
            agent_store::get(conn, id)?
                .ok_or_else(|| ScimError::not_found(format!("User {id} not found")).into())
        })?;
        if let Some(v) = expected
            && v != agent.version
        {
            return Err(AccountError::VersionMismatch {
                current: agent.version,
            }
            .into());
        }
        let input = patched(&agent)?;
        let written = conns.with(|conn| {
            let now = crate::store::now();
            match st.accounts.update_agent(
                conn,
                who.actor,
                id,
                Some(agent.version),
                input,
                None,
                now,
            ) {
                Ok(updated) => Ok(Some((
                    render(conn, &updated, &st.base_url)?,
                    updated.version,
                ))),
                Err(AccountError::VersionMismatch { .. }) if expected.is_none() => Ok(None),
                Err(e) => Err(not_found_as_user(e, id)),
            }
        })?;
        if let Some(done) = written {
            return Ok(done);
        }
    }
    conns.with(|conn| {
        let now = crate::store::now();
        let mut refused: Option<ApiError> = None;
        let result =
            st.accounts
                .update_agent_with(conn, who.actor, id, expected, None, now, |agent| {
                    patched(agent).map_err(|e| {
                        refused = Some(e);
                        AccountError::Invalid(String::new())
                    })
                });
        if let Some(e) = refused {
            return Err(e);
        }
        let updated = result.map_err(|e| not_found_as_user(e, id))?;
        Ok((render(conn, &updated, &st.base_url)?, updated.version))
    })
}

pub fn do_delete(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    id: &str,
    expected: Option<i64>,
) -> Result<(), ApiError> {
    let now = crate::store::now();
    st.accounts
        .delete_agent(conn, who.actor, id, expected, None, now)
        .map_err(|e| not_found_as_user(e, id))
}

fn not_found_as_user(e: AccountError, id: &str) -> ApiError {
    match e {
        AccountError::NotFound(_) => ScimError::not_found(format!("User {id} not found")).into(),
        other => ApiError::from(other),
    }
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    caller: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let proj = projection(&req)?;
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let st = state.clone();
    let (json, version) = with_conn(&state, move |conn| {
        let actor = caller.actor();
        let source = format!("scim:{}", caller.0.token_name);
        do_create(
            conn,
            &st,
            &Who {
                actor: &actor,
                source: &source,
            },
            &body,
        )
    })
    .await?;
    Ok(respond(StatusCode::CREATED, json, version, &proj))
}

async fn get_one(
    req: HttpRequest,
    path: web::Path<String>,
    state: State,
    _c: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let proj = projection(&req)?;
    let id = path.into_inner();
    let base = state.base_url.clone();
    let (json, version) = with_read_conn(&state, move |conn| {
        let agent = agent_store::get(conn, &id)?
            .ok_or_else(|| ScimError::not_found(format!("User {id} not found")))?;
        Ok((render(conn, &agent, &base)?, agent.version))
    })
    .await?;
    if let Some(tag) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && (tag.trim() == "*" || tag.split(',').any(|t| etag_version(t) == Some(version)))
    {
        return Ok(with_etag(HttpResponse::NotModified().finish(), version));
    }
    Ok(respond(StatusCode::OK, json, version, &proj))
}

async fn replace(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: State,
    caller: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let proj = projection(&req)?;
    let expected = if_match(&req);
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let id = path.into_inner();
    let st = state.clone();
    let (json, version) = with_conn(&state, move |conn| {
        let actor = caller.actor();
        let expected = expected.expected(|| agent_version(conn, &id))?;
        do_replace(
            conn,
            &st,
            &Who {
                actor: &actor,
                source: "",
            },
            &id,
            expected,
            &body,
        )
    })
    .await?;
    Ok(respond(StatusCode::OK, json, version, &proj))
}

async fn patch(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: State,
    caller: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let proj = projection(&req)?;
    let expected = if_match(&req);
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let id = path.into_inner();
    let st = state.clone();
    let (json, version) = blocking(move || {
        let actor = caller.actor();
        let expected = expected.expected(|| {
            let mut conn = st.pool.get().map_err(|e| {
                tracing::error!(error = %e, "no database connection");
                ApiError::internal()
            })?;
            agent_version(&mut conn, &id)
        })?;
        do_patch(
            &mut Conns::Pool(&st.pool),
            &st,
            &Who {
                actor: &actor,
                source: "",
            },
            &id,
            expected,
            &body,
        )
    })
    .await?;
    Ok(respond(StatusCode::OK, json, version, &proj))
}

async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    state: State,
    caller: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req);
    let id = path.into_inner();
    let st = state.clone();
    with_conn(&state, move |conn| {
        let actor = caller.actor();
        let expected = expected.expected(|| agent_version(conn, &id))?;
        do_delete(
            conn,
            &st,
            &Who {
                actor: &actor,
                source: "",
            },
            &id,
            expected,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::IfMatch;
    use crate::http::error::ApiError;

    fn expected(header: &str, current: i64) -> Option<i64> {
        IfMatch::parse(header)
            .expected(|| Ok::<_, ApiError>(Some(current)))
            .expect("no error")
    }

    #[test]
    fn if_match_lists() {
        assert_eq!(IfMatch::parse(" * "), IfMatch::Any);
        assert_eq!(
            IfMatch::parse("W/\"3\", W/\"4\""),
            IfMatch::Tags(vec![3, 4])
        );
        assert_eq!(IfMatch::parse("\"3\",junk,"), IfMatch::Tags(vec![3, -1]));
        assert_eq!(expected("*", 4), None);
        assert_eq!(expected("W/\"3\", W/\"4\"", 4), Some(4));
        assert_eq!(expected("W/\"3\", W/\"4\"", 3), Some(3));
        // None current: the first tag is expected, and the change fails with 412.
        assert_eq!(expected("W/\"3\", W/\"4\"", 9), Some(3));
        assert_eq!(expected("", 9), Some(-1));
        // One tag: no look-up.
        let one = IfMatch::parse("W/\"5\"").expected(|| panic!("looked up"));
        assert_eq!(one.expect("no error"), Some(5));
    }
}
