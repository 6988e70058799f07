//! `GET /openapi.json`: the API contract, assembled by `src/openapi.rs` from the route table.

use worker::{Request, Response};

use crate::error::AppResult;
use crate::http::app::App;
use crate::http::response;

pub async fn get(_req: Request, _app: &App) -> AppResult<Response> {
    response::json(200, &crate::openapi::document())
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /openapi.json`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "openapi",
            "summary": "This document",
            "responses": { "200": { "description": "OpenAPI 3.1 document", "content": { "application/json": { "schema": { "type": "object" } } } } }
        })
    }
}
