//! `/admin/v1/*`: the marketer's and shop back end's API, behind scoped API keys.

pub mod audit;
pub mod backups;
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

/// `GET /admin`: the marketer's workspace. It holds no data itself; it calls this API with a key.
/// It speaks `?lang=` when given (the page's language switch), else the browser's language.
pub async fn page(req: Request, _app: &App) -> AppResult<Response> {
    let pairs = crate::http::app::query_pairs(&req)?;
    let locale = crate::http::app::param_value(&pairs, "lang")
        .and_then(crate::domain::i18n::Locale::from_tag)
        .unwrap_or_else(|| crate::http::client::page_locale(&req));
    let mut r =
        crate::http::response::text(200, "text/html; charset=utf-8", crate::pages::admin(locale))?;
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
            "summary": "The marketer's workspace: overview, segment builder, form builder, surveys, contacts, webhooks",
            "parameters": [{ "name": "lang", "in": "query", "required": false, "description": "`en` or `pt-BR` (others read English); default: Accept-Language", "schema": { "type": "string" } }],
            "responses": { "200": html_response("the page") }
        })
    }
}
