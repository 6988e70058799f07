//! `GET /admin/v1/audit?since=&limit=`: who changed what, oldest first from `since`.

use serde_json::json;
use worker::{Request, Response};

use crate::error::AppResult;
use crate::http::app::{since_and_limit, App};
use crate::http::response;
use crate::store::audit;

pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let (since, limit) = since_and_limit(&req, 100, 1000)?;
    let entries = audit::since(&call.db, &since, limit).await?;
    response::json(200, &json!({ "entries": entries }))
}

// The contract: each handler's OpenAPI operation.

/// `GET /admin/v1/audit`: the contract of [`list`].
pub fn list_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/audit")
}
