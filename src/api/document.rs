//! The answers every admin API operation may give, added to the OpenAPI document in one
//! place instead of being repeated on each handler: a handler documents what is its own
//! (its success, 404, 409, 412, its own 422s), this module the rest — the token (401, 403),
//! a request that cannot be read (400), a body too large or of another type (413, 415), a
//! body the rules refuse (422), and the database out of reach (503).

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// `(status, description, only for operations with a request body)`.
const COMMON: &[(&str, &str, bool)] = &[
    (
        "400",
        "The request cannot be read: a query parameter, header or body that is malformed, missing or unknown",
        false,
    ),
    ("401", "No token, or an unknown one", false),
    ("403", "The token's scope does not allow this", false),
    ("413", "The body is too large", true),
    (
        "415",
        "The body is not of a type this operation reads",
        true,
    ),
    (
        "422",
        "A value the rules refuse (`errors[].pointer` names each)",
        true,
    ),
    ("503", "The database cannot be reached; try again", false),
];

/// Adds the common answers to every operation that does not document them itself.
pub fn add_common_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ];
        for op in ops.into_iter().flatten() {
            complete(op);
        }
    }
}

fn complete(op: &mut Operation) {
    let has_body = op.request_body.is_some();
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    for (status, description, body_only) in COMMON {
        if (*body_only && !has_body) || (!secured && matches!(*status, "401" | "403")) {
            continue;
        }
        op.responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::T(problem(description)));
    }
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::request_body::RequestBody;
    use utoipa::openapi::security::SecurityRequirement;

    fn statuses(doc: &OpenApi, path: &str) -> Vec<String> {
        let item = &doc.paths.paths[path];
        let op = item.get.as_ref().or(item.post.as_ref()).expect("operation");
        op.responses.responses.keys().cloned().collect()
    }

    #[test]
    fn body_answers_only_where_a_body_is_read_and_own_answers_stay() {
        let mut doc = OpenApi::default();
        let own = ResponseBuilder::new().description("mine").build();
        let get = OperationBuilder::new()
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .response("200", ResponseBuilder::new().description("ok").build())
            .build();
        let post = OperationBuilder::new()
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .request_body(Some(RequestBody::new()))
            .response("422", own)
            .build();
        let open = OperationBuilder::new().build();
        doc.paths
            .paths
            .insert("/g".into(), PathItem::new(HttpMethod::Get, get));
        doc.paths
            .paths
            .insert("/p".into(), PathItem::new(HttpMethod::Post, post));
        doc.paths
            .paths
            .insert("/o".into(), PathItem::new(HttpMethod::Get, open));
        add_common_responses(&mut doc);
        assert_eq!(statuses(&doc, "/g"), ["200", "400", "401", "403", "503"]);
        assert_eq!(
            statuses(&doc, "/p"),
            ["400", "401", "403", "413", "415", "422", "503"]
        );
        let RefOr::T(r) = &doc.paths.paths["/p"]
            .post
            .as_ref()
            .expect("post")
            .responses
            .responses["422"]
        else {
            panic!("inline response");
        };
        assert_eq!(r.description, "mine");
        assert_eq!(statuses(&doc, "/o"), ["400", "503"]);
    }
}
