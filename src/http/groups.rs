//! `/scim/v2/Groups`: list, search, create, read, replace, patch, delete. Member changes go
//! to SQL row by row; a group's member list is loaded only when it is returned.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::ScimCaller;
use super::body::json_body;
use super::error::{ApiError, SCIM_JSON};
use super::list::{ListParams, etag_version, group_domain, group_page, scim_ok, with_etag};
use super::users::{Who, if_match, projection};
use super::{AppState, State, with_conn, with_read_conn};
use crate::accounts::{AccountError, MemberOp, NewGroup};
use crate::scim::error::ScimError;
use crate::scim::group::{from_json, to_json};
use crate::scim::limits;
use crate::scim::patch::{MemberChange, apply_patch, parse_patch_request, split_member_ops};
use crate::scim::project::Projection;
use crate::scim::schema::ResourceKind;
use crate::store::{DbConn, groups as group_store, write_tx};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/Groups", web::get().to(list))
        .route("/Groups", web::post().to(create))
        .route("/Groups/.search", web::post().to(search))
        .route("/Groups/.search", super::not_allowed("POST"))
        .route("/Groups/{id}", web::get().to(get_one))
        .route("/Groups/{id}", web::put().to(replace))
        .route("/Groups/{id}", web::patch().to(patch))
        .route("/Groups/{id}", web::delete().to(delete))
        .route("/Groups", super::not_allowed("GET, POST"))
        .route(
            "/Groups/{id}",
            super::not_allowed("GET, PUT, PATCH, DELETE"),
        );
}

async fn list(req: HttpRequest, state: State, _c: ScimCaller) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(req.query_string(), &state)?;
    Ok(scim_ok(&group_page(&state, params).await?))
}

async fn search(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    _c: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let params = ListParams::from_search_body(&body, &state)?;
    Ok(scim_ok(&group_page(&state, params).await?))
}

fn render(
    conn: &mut DbConn,
    id: &str,
    proj: &Projection,
    base: &str,
) -> Result<(Value, i64), ApiError> {
    let row = group_store::get(conn, id)?
        .ok_or_else(|| ScimError::not_found(format!("Group {id} not found")))?;
    let members = if proj.wants("members") {
        Some(group_store::members(conn, id)?)
    } else {
        None
    };
    let mut v = to_json(&group_domain(&row), members.as_deref(), base);
    proj.apply(&mut v);
    Ok((v, row.version))
}

fn respond(status: StatusCode, v: &Value, version: i64) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    resp.content_type(SCIM_JSON);
    if status == StatusCode::CREATED
        && let Some(loc) = v["meta"]["location"].as_str()
    {
        resp.insert_header((header::LOCATION, loc.to_owned()));
    }
    with_etag(resp.body(v.to_string()), version)
}

pub fn do_create(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    body: &Value,
    proj: &Projection,
) -> Result<(Value, i64), ApiError> {
    let g = from_json(body)?;
    let now = crate::store::now();
    let row = st.accounts.create_group(
        conn,
        who.actor,
        who.source,
        NewGroup {
            display_name: &g.display_name,
            external_id: g.external_id,
            members: g.members.unwrap_or_default(),
        },
        now,
    )?;
    render(conn, &row.id, proj, &st.base_url)
}

/// PUT replaces: absent members means no members.
pub fn do_replace(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    id: &str,
    expected: Option<i64>,
    body: &Value,
    proj: &Projection,
) -> Result<(Value, i64), ApiError> {
    let g = from_json(body)?;
    let now = crate::store::now();
    let ops = vec![MemberOp::Replace(g.members.unwrap_or_default())];
    st.accounts
        .update_group(
            conn,
            who.actor,
            id,
            expected,
            Some(&g.display_name),
            Some(g.external_id),
            &ops,
            now,
        )
        .map_err(|e| not_found_as_group(e, id))?;
    render(conn, id, proj, &st.base_url)
}

/// Member changes go to the member rows; the rest of the PATCH is applied to the group as it
/// is inside the write transaction (a few attributes: no work worth releasing the connection
/// for), so a concurrent rename or member change is never overwritten.
pub fn do_patch(
    conn: &mut DbConn,
    st: &AppState,
    who: &Who<'_>,
    id: &str,
    expected: Option<i64>,
    body: &Value,
    proj: &Projection,
) -> Result<(Value, i64), ApiError> {
    let ops = parse_patch_request(body)?;
    let (member_changes, rest) = split_member_ops(ops)?;
    limits::check_patch(&rest, st.config.scim.max_patch_terms)?;
    let member_ops: Vec<MemberOp> = member_changes.into_iter().map(member_op).collect();
    write_tx(conn, |conn| -> Result<(), ApiError> {
        let row = group_store::get(conn, id)?
            .ok_or_else(|| ScimError::not_found(format!("Group {id} not found")))?;
        if let Some(v) = expected
            && v != row.version
        {
            return Err(AccountError::VersionMismatch {
                current: row.version,
            }
            .into());
        }
        let (name, external_id) = if rest.is_empty() {
            (None, None)
        } else {
            let mut doc = to_json(&group_domain(&row), None, &st.base_url);
            apply_patch(
                ResourceKind::Group,
                &mut doc,
                &rest,
                st.config.scim.max_values_per_attribute,
            )?;
            let g = from_json(&doc)?;
            (Some(g.display_name), Some(g.external_id))
        };
        let now = crate::store::now();
        st.accounts
            .update_group(
                conn,
                who.actor,
                id,
                Some(row.version),
                name.as_deref(),
                external_id,
                &member_ops,
                now,
            )
            .map_err(|e| not_found_as_group(e, id))?;
        Ok(())
    })?;
    render(conn, id, proj, &st.base_url)
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
        .delete_group(conn, who.actor, id, expected, now)
        .map_err(|e| not_found_as_group(e, id))
}

fn not_found_as_group(e: AccountError, id: &str) -> ApiError {
    match e {
        AccountError::NotFound(_) => ScimError::not_found(format!("Group {id} not found")).into(),
        other => ApiError::from(other),
    }
}

fn member_op(change: MemberChange) -> MemberOp {
    match change {
        MemberChange::Add(ids) => MemberOp::Add(ids),
        MemberChange::Remove(ids) => MemberOp::Remove(ids),
        MemberChange::RemoveAll => MemberOp::RemoveAll,
        MemberChange::Replace(ids) => MemberOp::Replace(ids),
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
    let (v, version) = with_conn(&state, move |conn| {
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
            &proj,
        )
    })
    .await?;
    Ok(respond(StatusCode::CREATED, &v, version))
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
    let (v, version) = with_read_conn(&state, move |conn| render(conn, &id, &proj, &base)).await?;
    if let Some(tag) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && (tag.trim() == "*" || tag.split(',').any(|t| etag_version(t) == Some(version)))
    {
        return Ok(with_etag(HttpResponse::NotModified().finish(), version));
    }
    Ok(respond(StatusCode::OK, &v, version))
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
    let (v, version) = with_conn(&state, move |conn| {
        let actor = caller.actor();
        let expected = expected.expected(|| group_version(conn, &id))?;
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
            &proj,
        )
    })
    .await?;
    Ok(respond(StatusCode::OK, &v, version))
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
    let (v, version) = with_conn(&state, move |conn| {
        let actor = caller.actor();
        let expected = expected.expected(|| group_version(conn, &id))?;
        do_patch(
            conn,
            &st,
            &Who {
                actor: &actor,
                source: "",
            },
            &id,
            expected,
            &body,
            &proj,
        )
    })
    .await?;
    Ok(respond(StatusCode::OK, &v, version))
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
        let expected = expected.expected(|| group_version(conn, &id))?;
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

fn group_version(conn: &mut DbConn, id: &str) -> Result<Option<i64>, ApiError> {
    Ok(group_store::get(conn, id)?.map(|g| g.version))
}
