//! Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas, advertising
//! exactly what Rollcall implements. Readable without a token, as the RFC allows.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::State;
use super::error::ApiError;
use super::list::scim_ok;
use crate::scim::error::ScimError;
use crate::scim::{list_response, schema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/ServiceProviderConfig",
        web::get().to(service_provider_config),
    )
    .route("/ResourceTypes", web::get().to(resource_types))
    .route("/ResourceTypes/{id}", web::get().to(resource_type))
    .route("/Schemas", web::get().to(schemas))
    .route("/Schemas/{id}", web::get().to(one_schema));
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/{id}",
        "/Schemas",
        "/Schemas/{id}",
    ] {
        cfg.route(path, super::not_allowed("GET"));
    }
}

pub fn service_provider_config_json(state: &State) -> Value {
    let scim = &state.config.scim;
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{}/docs/scim", state.base_url),
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": scim.max_bulk_operations,
            "maxPayloadSize": scim.max_payload_bytes,
        },
        "filter": { "supported": true, "maxResults": scim.max_results },
        "changePassword": { "supported": true },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": scim.default_count,
            "maxPageSize": scim.max_results,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A Rollcall API token with scope scim, sent as Authorization: Bearer <token>",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/scim/v2/ServiceProviderConfig", state.base_url),
        },
    })
}

fn reject_filter(req: &HttpRequest) -> Result<(), ApiError> {
    if req.query_string().to_ascii_lowercase().contains("filter=") {
        return Err(
            ScimError::new(403, None, "discovery endpoints do not support filtering").into(),
        );
    }
    Ok(())
}

async fn service_provider_config(state: State) -> HttpResponse {
    scim_ok(&service_provider_config_json(&state))
}

async fn resource_types(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    reject_filter(&req)?;
    let all = schema::resource_types_json(&state.base_url);
    let n = all.len() as i64;
    Ok(scim_ok(&list_response(n, Some(1), all, None)))
}

async fn resource_type(path: web::Path<String>, state: State) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    schema::resource_types_json(&state.base_url)
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|r| scim_ok(&r))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")).into())
}

/// The schemas, with the configured channel catalog as the `canonicalValues` of the agent
/// extension's `channels` (the values the gateway accepts there).
fn schemas_json(state: &State) -> Vec<Value> {
    let mut all = schema::all_schemas_json(&state.base_url);
    for s in &mut all {
        let Some(attrs) = s.get_mut("attributes").and_then(Value::as_array_mut) else {
            continue;
        };
        for a in attrs.iter_mut() {
            if a["name"] == "channels"
                && let Some(o) = a.as_object_mut()
            {
                o.insert(
                    "canonicalValues".into(),
                    json!(state.config.accounts.channels),
                );
            }
        }
    }
    all
}

async fn schemas(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    reject_filter(&req)?;
    let all = schemas_json(&state);
    let n = all.len() as i64;
    Ok(scim_ok(&list_response(n, Some(1), all, None)))
}

async fn one_schema(path: web::Path<String>, state: State) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    schemas_json(&state)
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|s| scim_ok(&s))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")).into())
}
