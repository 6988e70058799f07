//! `GET /admin/v1/dead-letters?since=&limit=`: queue messages that failed every attempt,
//! oldest first, so an operator can see what the queue gave up on.

use serde_json::json;
use worker::{Request, Response};

use crate::error::AppResult;
use crate::http::app::{since_and_limit, App};
use crate::http::response;
use crate::store::dead_letters;

pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let (since, limit) = since_and_limit(&req, 100, 1000)?;
    let letters = dead_letters::since(&call.db, &since, limit).await?;
    response::json(200, &json!({ "dead_letters": letters }))
}

// The contract: each handler's OpenAPI operation.

/// `GET /admin/v1/dead-letters`: the contract of [`list`].
pub fn list_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/dead-letters")
}
