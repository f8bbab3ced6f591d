//! The interactive page for the OpenAPI document, `GET /api/v1/docs`: Swagger UI, vendored
//! under `static/swagger-ui/` and compiled into the binary (nothing is fetched at build time
//! or from a CDN at run time). No token needed, like the document itself.

use actix_web::{HttpResponse, web};

const INDEX: &[u8] = include_bytes!("../../static/swagger-ui/index.html");
const START: &[u8] = include_bytes!("../../static/swagger-ui/start.js");
const BUNDLE: &[u8] = include_bytes!("../../static/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../static/swagger-ui/swagger-ui.css");

/// The page and its assets: (path under `/api/v1`, content type, bytes).
pub const FILES: [(&str, &str, &[u8]); 4] = [
    ("/docs", "text/html; charset=utf-8", INDEX),
    ("/docs/start.js", "text/javascript; charset=utf-8", START),
    (
        "/docs/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        BUNDLE,
    ),
    ("/docs/swagger-ui.css", "text/css; charset=utf-8", CSS),
];

/// A `GET` route serving one of [`FILES`].
pub fn route(content_type: &'static str, bytes: &'static [u8]) -> actix_web::Route {
    web::get().to(move || async move {
        HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(bytes)
    })
}
