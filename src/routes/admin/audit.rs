//! `GET /admin/v1/audit?since=&limit=`: who changed what, oldest first from `since`.

use serde_json::json;
use worker::{Request, Response};

use crate::domain::scope::Scope;
use crate::error::AppResult;
use crate::http::response;
use crate::routes::admin::admit;
use crate::routes::{since_and_limit, App};
use crate::store::audit;

pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = admit(&req, app, Scope::Audit).await?;
    let (since, limit) = since_and_limit(&req, 100, 1000)?;
    let entries = audit::since(&call.db, &since, limit).await?;
    response::json(200, &json!({ "entries": entries }))
}
