//! The page an activation or password-reset link opens, `GET /password` (with its script
//! and style): a form that posts the link's token and the chosen password to
//! `POST /api/v1/auth/password/link`. Compiled into the binary from `static/password/`; no
//! inline script, so a strict Content-Security-Policy holds. Deployments whose chat platform
//! has its own page point `auth.links.url` there instead.

use actix_web::{HttpResponse, web};

const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "/password",
        "text/html; charset=utf-8",
        include_bytes!("../../static/password/index.html"),
    ),
    (
        "/password.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/password/password.js"),
    ),
    (
        "/password.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/password/password.css"),
    ),
];

/// Registers the page and its assets.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, content_type, bytes) in FILES {
        cfg.route(
            path,
            web::get().to(move || async move {
                HttpResponse::Ok()
                    .content_type(content_type)
                    .insert_header(("Cache-Control", "no-cache"))
                    .insert_header(("X-Content-Type-Options", "nosniff"))
                    .insert_header(("Referrer-Policy", "no-referrer"))
                    .insert_header(("X-Frame-Options", "DENY"))
                    .insert_header((
                        "Content-Security-Policy",
                        "default-src 'none'; script-src 'self'; style-src 'self'; \
                         connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
                    ))
                    .body(bytes)
            }),
        );
    }
}
