//! `/admin/v1/*`: the marketer's and shop back end's API, behind scoped API keys.

pub mod audit;
pub mod contacts;
pub mod dead_letters;
pub mod exports;
pub mod forms;
pub mod import;
pub mod keys;
pub mod notices;
pub mod orders;
pub mod outbox;
pub mod overview;
pub mod privacy_requests;
pub mod segments;
pub mod surveys;
pub mod webhooks;

use worker::{Request, Response};

use crate::error::AppResult;
use crate::http::app::App;

/// `GET /admin`: the marketer's page. It holds no data itself; it calls this API with a key.
pub async fn page(_req: Request, _app: &App) -> AppResult<Response> {
    let mut r = crate::http::response::text(
        200,
        "text/html; charset=utf-8",
        crate::pages::ADMIN_HTML.to_string(),
    )?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; form-action 'self'; frame-ancestors 'none'",
    )?;
    r.headers_mut().set("Cache-Control", "no-store")?;
    Ok(r)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin`: [`page`](super::page).
    pub fn page() -> Value {
        json!({
            "operationId": "adminPage",
            "summary": "The marketer's page: segments with download buttons, forms, survey results",
            "responses": { "200": html_response("the page") }
        })
    }
}
