//! `GET /api/v1/agents`: the admin agent list — filters, text search, sort orders and
//! signed cursors over `store::query::admin`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::agents::AgentView;
use super::auth::Reader;
use super::problem::Problem;
use crate::http::State;
use crate::http::cursor;
use crate::store::query::admin::{self, AdminListError, AdminQuery, After, Filters, Sort};

/// What a list cursor's MAC covers besides its payload: an admin list cursor never opens as
/// a SCIM one, nor the other way round.
const DOMAIN: &[u8] = b"rollcall admin agent list v1\0";
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Registers the list endpoint.
pub fn register(cfg: &mut ServiceConfig) {
    cfg.service(list_agents);
}

/// Query parameters of `GET /api/v1/agents` (for the document; parsed by hand, strictly).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ListParams {
    /// `pending`, `active` or `suspended`.
    status: Option<String>,
    /// Role name.
    role: Option<String>,
    /// Department, exactly.
    department: Option<String>,
    /// Skill group, exactly.
    skill_group: Option<String>,
    /// Channel, exactly.
    channel: Option<String>,
    /// Source (`admin`, `scim:<token>`, `ldap:<source>`); a kind alone (`ldap`) matches
    /// all its sources.
    source: Option<String>,
    /// Text searched (case-insensitively, as a substring) in display name, given and family
    /// name, nickname, user name, email and agent number; at most 100 characters.
    q: Option<String>,
    /// `userName` (default), `displayName`, `created`, `updated` or `agentNumber`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
    /// Agents per page: 1 to 500, default 50.
    limit: Option<i64>,
    /// `nextCursor` of the previous page, with the same other parameters.
    cursor: Option<String>,
}

/// One page of agents.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    /// The next page's cursor; `null` after the last page. A page may hold fewer agents
    /// than `limit` and still have a next page (a search examines a bounded number of
    /// agents per page).
    pub next_cursor: Option<String>,
}

/// What a cursor holds: the position, and what it was issued for.
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    after: After,
    sort: Sort,
    desc: bool,
    /// Fingerprint of the filters and search term.
    query: String,
}

fn bad(param: &str, detail: impl std::fmt::Display) -> Problem {
    Problem::bad_request(format!("query parameter {param}: {detail}"))
}

fn fingerprint(filters: &Filters) -> String {
    let json = serde_json::to_string(filters).unwrap_or_default();
    cursor::fingerprint(&[json.as_bytes()])
}

/// The parameters of one request, checked.
fn parse(query: &str, key: &[u8]) -> Result<AdminQuery, Problem> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|e| Problem::bad_request(format!("bad query string: {e}")))?
        .into_inner();
    let mut filters = Filters::default();
    let (mut sort, mut order, mut limit, mut cursor_text) = (None, None, None, None);
    for (k, v) in pairs {
        let slot: &mut Option<String> = match k.as_str() {
            "status" => &mut filters.status,
            "role" => &mut filters.role,
            "department" => &mut filters.department,
            "skillGroup" => &mut filters.skill_group,
            "channel" => &mut filters.channel,
            "source" => &mut filters.source,
            "q" => &mut filters.q,
            "sort" => &mut sort,
            "order" => &mut order,
            "limit" => &mut limit,
            "cursor" => &mut cursor_text,
            _ => {
                return Err(bad(
                    &k,
                    "unknown; known: status, role, department, skillGroup, channel, source, \
                     q, sort, order, limit, cursor",
                ));
            }
        };
        if slot.is_some() {
            return Err(bad(&k, "given more than once"));
        }
        // No stored value holds one (every door refuses them); PostgreSQL refuses NUL.
        if v.chars().any(char::is_control) {
            return Err(bad(&k, "must not hold control characters"));
        }
        *slot = Some(v);
    }
    if let Some(s) = &filters.status
        && !admin::STATUSES.contains(&s.as_str())
    {
        return Err(bad(
            "status",
            format!("must be one of {}", admin::STATUSES.join(", ")),
        ));
    }
    // Checked here so that the problem names the parameter; an empty term lists everyone.
    if let Some(q) = &filters.q {
        admin::term(q).map_err(|e| match e {
            AdminListError::Invalid { message, .. } => bad("q", message),
            AdminListError::Db(_) => Problem::internal(),
        })?;
    }
    let sort = match sort.as_deref() {
        None => Sort::UserName,
        Some(s) => Sort::parse(s).ok_or_else(|| {
            bad(
                "sort",
                "must be userName, displayName, created, updated or agentNumber",
            )
        })?,
    };
    let desc = match order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(bad("order", "must be asc or desc")),
    };
    let limit = match limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                bad(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let query = fingerprint(&filters);
    let after = match cursor_text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => {
            let sealed: Sealed = cursor::open(key, DOMAIN, c)
                .and_then(|p| serde_json::from_slice(&p).ok())
                .ok_or_else(|| bad("cursor", "not a cursor Rollcall issued"))?;
            if sealed.sort != sort || sealed.desc != desc || sealed.query != query {
                return Err(bad(
                    "cursor",
                    "issued for another query: send the same parameters as for the first page",
                ));
            }
            Some(sealed.after)
        }
    };
    Ok(AdminQuery {
        filters,
        sort,
        descending: desc,
        after,
        limit,
    })
}

/// Agents, a page at a time.
#[utoipa::path(
    tag = "agents",
    params(ListParams),
    responses(
        (status = 200, description = "A page of agents", body = AgentPage),
        (status = 400, description = "A query parameter is wrong (the detail names it), or the cursor was not issued for this query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's scope is neither read nor admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/agents")]
async fn list_agents(state: State, _r: Reader, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let key = state.cursor_key.clone();
    let query = parse(req.query_string(), &key)?;
    let page = super::read(&state, move |conn| {
        let page = admin::list(conn, &query).map_err(|e| match e {
            AdminListError::Invalid { param, message } => bad(param, message),
            AdminListError::Db(e) => Problem::from(e),
        })?;
        let next_cursor = page.next.map(|after| {
            let sealed = Sealed {
                after,
                sort: query.sort,
                desc: query.descending,
                query: fingerprint(&query.filters),
            };
            cursor::seal(
                &key,
                DOMAIN,
                &serde_json::to_vec(&sealed).unwrap_or_default(),
            )
        });
        Ok(AgentPage {
            items: page.items.iter().map(AgentView::from).collect(),
            next_cursor,
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn err(q: &str) -> String {
        parse(q, KEY).expect_err(q).detail
    }

    #[test]
    fn parameters_are_checked_by_name() {
        assert!(err("limit=0").contains("limit"));
        assert!(err("limit=501").contains("limit"));
        assert!(err("limit=ten").contains("limit"));
        assert!(err("sort=salary").contains("sort"));
        assert!(err("order=up").contains("order"));
        assert!(err("status=deleted").contains("status"));
        assert!(err("colour=red").contains("colour"));
        assert!(err("q=a&q=b").contains("given more than once"));
        assert!(err("q=%00").contains("q"));
        assert!(err("cursor=abc").contains("cursor"));
        let ok = parse("q=Wang&sort=displayName&order=desc&limit=500", KEY).expect("ok");
        assert_eq!(
            (ok.sort, ok.descending, ok.limit),
            (Sort::DisplayName, true, 500)
        );
    }

    #[test]
    fn a_cursor_belongs_to_its_query() {
        let sealed = Sealed {
            after: After {
                key: admin::Key::Text("m".into()),
                id: "x".into(),
            },
            sort: Sort::UserName,
            desc: false,
            query: fingerprint(&Filters {
                q: Some("wang".into()),
                ..Filters::default()
            }),
        };
        let c = cursor::seal(KEY, DOMAIN, &serde_json::to_vec(&sealed).expect("json"));
        let q = format!("q=wang&cursor={c}");
        assert_eq!(
            parse(&q, KEY).expect("same query").after,
            Some(sealed.after)
        );
        assert!(err(&format!("q=li&cursor={c}")).contains("another query"));
        assert!(err(&format!("q=wang&order=desc&cursor={c}")).contains("another query"));
        // Signed under another domain (a SCIM cursor) or key: not issued here.
        let scim = cursor::seal(KEY, b"rollcall cursor v1\0", b"1.x");
        assert!(err(&format!("cursor={scim}")).contains("not a cursor"));
        assert!(parse(&q, b"another key, also thirty-two bytes").is_err());
    }
}
