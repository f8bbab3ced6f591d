//! Listing and searching: query parameters (GET) or a SearchRequest body (POST `.search`),
//! index or cursor pagination, projections.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::ScimCaller;
use super::error::{ApiError, SCIM_JSON};
use super::{State, body::json_body, with_read_conn};
use crate::domain::Group;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{AttrPath, Filter, parse_attr_path, parse_filter};
use crate::scim::project::Projection;
use crate::scim::{SEARCH_REQUEST, get_ci, list_response};
use crate::store::list::{ListRequest, Window, list_agents, list_groups};
use crate::store::{groups as group_store, models::GroupRow};

const USERS: &str = "Users";
const GROUPS: &str = "Groups";

/// A parsed list/search request.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub filter: Option<Filter>,
    pub start_index: i64,
    pub count: i64,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub projection: Projection,
    /// `Some(None)`: cursor pagination from the start; `Some(Some(pos))`: after `pos`.
    pub cursor: Option<Option<(chrono::NaiveDateTime, String)>>,
    /// The count the cursor carries from the first page of this listing.
    pub carried: Option<super::cursor::Carried>,
}

struct Raw {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
    cursor: Option<String>,
}

fn int_param(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer (got {v:?})")))
}

impl ListParams {
    pub fn from_query(query: &str, state: &State) -> Result<Self, ScimError> {
        let pairs: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|e| ScimError::invalid_syntax(format!("bad query string: {e}")))?
            .into_inner();
        let mut raw = Raw {
            filter: None,
            start_index: None,
            count: None,
            sort_by: None,
            sort_order: None,
            attributes: None,
            excluded: None,
            cursor: None,
        };
        for (k, v) in pairs {
            match k.to_ascii_lowercase().as_str() {
                "filter" => raw.filter = Some(v),
                "startindex" => raw.start_index = Some(int_param("startIndex", &v)?),
                "count" => raw.count = Some(int_param("count", &v)?),
                "sortby" => raw.sort_by = Some(v),
                "sortorder" => raw.sort_order = Some(v),
                "attributes" => raw.attributes = Some(v),
                "excludedattributes" => raw.excluded = Some(v),
                "cursor" => raw.cursor = Some(v),
                _ => {}
            }
        }
        Self::from_raw(raw, state)
    }

    pub fn from_search_body(body: &Value, state: &State) -> Result<Self, ScimError> {
        let Value::Object(o) = body else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        if let Some(Value::Array(s)) = get_ci(o, "schemas")
            && !s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST))
            })
        {
            return Err(ScimError::invalid_value(format!(
                "schemas must contain {SEARCH_REQUEST}"
            )));
        }
        let s = |k: &str| -> Result<Option<String>, ScimError> {
            match get_ci(o, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(a)) => Ok(Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                Some(_) => Err(ScimError::invalid_value(format!("{k} must be a string"))),
            }
        };
        let n = |k: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(o, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer"))),
                Some(Value::String(v)) => int_param(k, v).map(Some),
                Some(_) => Err(ScimError::invalid_value(format!("{k} must be an integer"))),
            }
        };
        let raw = Raw {
            filter: s("filter")?,
            start_index: n("startIndex")?,
            count: n("count")?,
            sort_by: s("sortBy")?,
            sort_order: s("sortOrder")?,
            attributes: s("attributes")?,
            excluded: s("excludedAttributes")?,
            cursor: s("cursor")?,
        };
        Self::from_raw(raw, state)
    }

    fn from_raw(raw: Raw, state: &State) -> Result<Self, ScimError> {
        let scim = &state.config.scim;
        let filter = match raw.filter.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(ScimError::invalid_filter(
                    "the filter is empty; leave the parameter out to list everything",
                ));
            }
            Some(f) => {
                let parsed =
                    parse_filter(f).map_err(|e| ScimError::invalid_filter(e.to_string()))?;
                let leaves = leaf_count(&parsed);
                if leaves > MAX_FILTER_LEAVES {
                    return Err(ScimError::invalid_filter(format!(
                        "the filter has {leaves} comparisons; at most {MAX_FILTER_LEAVES} are supported"
                    )));
                }
                Some(parsed)
            }
        };
        let sort_by = match raw.sort_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                parse_attr_path(s)
                    .map_err(|e| ScimError::invalid_value(format!("bad sortBy: {e}")))?,
            ),
        };
        let descending = match raw.sort_order.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(o) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be ascending or descending (got {o:?})"
                )));
            }
        };
        let (cursor, carried) = match raw.cursor {
            None => (None, None),
            Some(c) if c.trim().is_empty() => (Some(None), None),
            Some(c) => {
                let (pos, carried) = super::cursor::decode_list(&state.cursor_key, c.trim())?;
                (Some(Some(pos)), carried)
            }
        };
        let max = i64::from(scim.max_results);
        let count = raw
            .count
            .unwrap_or(i64::from(scim.default_count))
            .clamp(0, max);
        Ok(ListParams {
            filter,
            start_index: raw.start_index.unwrap_or(1).max(1),
            count,
            sort_by,
            descending,
            projection: Projection::parse(raw.attributes.as_deref(), raw.excluded.as_deref())?,
            cursor,
            carried,
        })
    }

    /// `startIndex` as the response states it: none for cursor pagination, where a
    /// `startIndex` the client sent is not used.
    fn response_start_index(&self) -> Option<i64> {
        match self.cursor {
            Some(_) => None,
            None => Some(self.start_index),
        }
    }

    /// What a count carried in a cursor is valid for: the resource type and the filter.
    fn fingerprint(&self, kind: &str) -> String {
        let filter = format!("{:?}", self.filter);
        super::cursor::fingerprint(&[kind.as_bytes(), filter.as_bytes()])
    }

    /// The cursor after `pos`, carrying `total` (counted on the first page, or carried).
    fn next_cursor(
        &self,
        key: &[u8],
        kind: &str,
        pos: &super::cursor::Position,
        total: i64,
    ) -> String {
        let carried = super::cursor::Carried {
            total,
            query: self.fingerprint(kind),
        };
        super::cursor::encode_list(key, pos, Some(&carried))
    }

    fn request(&self, kind: &str) -> ListRequest<'_> {
        let known_total = self
            .carried
            .as_ref()
            .filter(|c| c.query == self.fingerprint(kind))
            .map(|c| c.total);
        ListRequest {
            known_total,
            filter: self.filter.as_ref(),
            sort_by: self.sort_by.as_ref(),
            descending: self.descending,
            window: match &self.cursor {
                Some(after) => Window::Cursor {
                    after: after.clone(),
                    count: self.count,
                },
                None => Window::Index {
                    offset: self.start_index - 1,
                    count: self.count,
                },
            },
        }
    }
}

pub fn scim_ok(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(SCIM_JSON)
        .body(body.to_string())
}

/// Users matching `params`, rendered and projected.
pub async fn user_page(state: &State, params: ListParams) -> Result<Value, ApiError> {
    let base = state.base_url.clone();
    let key = state.cursor_key.clone();
    with_read_conn(state, move |conn| {
        let result = list_agents(conn, &params.request(USERS))?;
        let ids: Vec<&str> = result.items.iter().map(|a| a.id.as_str()).collect();
        let groups = if params.projection.wants("groups") {
            group_store::memberships_of(conn, &ids)?
        } else {
            Default::default()
        };
        let resources = result
            .items
            .iter()
            .map(|a| {
                let g = groups.get(&a.id).map(Vec::as_slice).unwrap_or(&[]);
                let mut v = crate::scim::user::to_json(a, g, &base);
                params.projection.apply(&mut v);
                v
            })
            .collect();
        let next = result
            .next
            .as_ref()
            .map(|p| params.next_cursor(&key, USERS, p, result.total));
        Ok(list_response(
            result.total,
            params.response_start_index(),
            resources,
            next,
        ))
    })
    .await
}

pub fn group_domain(row: &GroupRow) -> Group {
    Group {
        id: row.id.clone(),
        display_name: row.display_name.clone(),
        external_id: row.external_id.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }
}

pub async fn group_page(state: &State, params: ListParams) -> Result<Value, ApiError> {
    let base = state.base_url.clone();
    let key = state.cursor_key.clone();
    with_read_conn(state, move |conn| {
        let result = list_groups(conn, &params.request(GROUPS))?;
        let with_members = params.projection.wants("members");
        let mut resources = Vec::with_capacity(result.items.len());
        for row in &result.items {
            let members = if with_members {
                Some(group_store::members(conn, &row.id)?)
            } else {
                None
            };
            let mut v = crate::scim::group::to_json(&group_domain(row), members.as_deref(), &base);
            params.projection.apply(&mut v);
            resources.push(v);
        }
        let next = result
            .next
            .as_ref()
            .map(|p| params.next_cursor(&key, GROUPS, p, result.total));
        Ok(list_response(
            result.total,
            params.response_start_index(),
            resources,
            next,
        ))
    })
    .await
}

/// `POST /.search` across Users and Groups: users first, then groups.
pub async fn root_search(
    req: HttpRequest,
    payload: web::Payload,
    state: State,
    _caller: ScimCaller,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload, state.config.scim.max_payload_bytes).await?;
    let params = ListParams::from_search_body(&body, &state)?;
    if params.cursor.is_some() || params.sort_by.is_some() {
        return Err(ScimError::invalid_value(
            "searches at the root support index pagination without sortBy; search /Users or /Groups",
        )
        .into());
    }
    // A filter naming attributes of one type only matches nothing of the other type.
    let counts = |p: &ListParams| {
        let mut p = p.clone();
        p.count = 0;
        p
    };
    let users_total = match user_page(&state, counts(&params)).await {
        Ok(v) => v["totalResults"].as_i64().unwrap_or(0),
        Err(ApiError(e)) if e.scim_type == Some(ScimType::InvalidFilter) => -1,
        Err(e) => return Err(e),
    };
    let groups_total = match group_page(&state, counts(&params)).await {
        Ok(v) => v["totalResults"].as_i64().unwrap_or(0),
        Err(ApiError(e)) if e.scim_type == Some(ScimType::InvalidFilter) => -1,
        Err(e) => return Err(e),
    };
    if users_total < 0 && groups_total < 0 {
        // Neither type understands the filter: report the users' error.
        user_page(&state, params).await?;
        return Err(ApiError::internal());
    }
    let (ut, gt) = (users_total.max(0), groups_total.max(0));
    let offset = params.start_index - 1;
    let mut resources: Vec<Value> = Vec::new();
    if offset < ut && params.count > 0 {
        let page = user_page(&state, params.clone()).await?;
        if let Some(items) = page["Resources"].as_array() {
            resources.extend(items.iter().cloned());
        }
    }
    let remaining = params.count - resources.len() as i64;
    if remaining > 0 && gt > 0 {
        let mut gp = params.clone();
        gp.start_index = (offset - ut).max(0) + 1;
        gp.count = remaining;
        let page = group_page(&state, gp).await?;
        if let Some(items) = page["Resources"].as_array() {
            resources.extend(items.iter().cloned());
        }
    }
    Ok(scim_ok(&list_response(
        ut + gt,
        Some(params.start_index),
        resources,
        None,
    )))
}

/// Parses and validates `If-Match` / `If-None-Match` ETags (`W/"7"` or `"7"`).
pub fn etag_version(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

pub fn with_etag(mut resp: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&crate::scim::etag(version)) {
        resp.headers_mut().insert(actix_web::http::header::ETAG, v);
    }
    resp
}

/// Most comparisons one filter may hold: a longer chain costs more SQL than any client needs
/// (an existence probe has one), so it is refused with `invalidFilter` — as is a filter
/// past the parser's own bound (1,000), so that every over-long filter gets the same answer.
pub const MAX_FILTER_LEAVES: usize = 100;

fn leaf_count(f: &Filter) -> usize {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => leaf_count(a) + leaf_count(b),
        Filter::Not(a) | Filter::ValuePath(_, a) => leaf_count(a),
        Filter::Present(_) | Filter::Compare(..) => 1,
    }
}
