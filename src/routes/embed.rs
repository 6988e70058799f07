//! `GET /embed.js`: the signup widget shops embed with one script tag.

use worker::{Request, Response};

use crate::error::AppResult;
use crate::http::app::App;
use crate::pages::EMBED_JS;

pub async fn get(_req: Request, _app: &App) -> AppResult<Response> {
    let mut r = Response::from_bytes(EMBED_JS.as_bytes().to_vec())?;
    let h = r.headers_mut();
    h.set("Content-Type", "application/javascript; charset=utf-8")?;
    h.set("Cache-Control", "public, max-age=300")?;
    h.set("X-Content-Type-Options", "nosniff")?;
    h.set("Access-Control-Allow-Origin", "*")?;
    Ok(r)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /embed.js`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "embedScript",
            "summary": "The signup widget: <script src=\"…/embed.js\" data-form=\"frm_…\" async>",
            "responses": { "200": { "description": "JavaScript", "content": { "application/javascript": { "schema": { "type": "string" } } } } }
        })
    }
}
