//! `GET /admin/v1/audit?since=&limit=`: who changed what, oldest first from `since`.

use serde_json::json;
use worker::{Request, Response};

use crate::domain::scope::Scope;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::response;
use crate::routes::admin::admit;
use crate::routes::{limit_param, only_params, param_value, query_pairs, App};
use crate::store::audit;

pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = admit(&req, app, Scope::Audit).await?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["since", "limit"])?;
    let since = match param_value(&pairs, "since") {
        Some(s) => time::parse(s)
            .map(time::format)
            .ok_or_else(|| AppError::validation("since", "an RFC 3339 time"))?,
        None => "0000-01-01T00:00:00.000Z".to_string(),
    };
    let limit = limit_param(&pairs, 100, 1000)?;
    let entries = audit::since(&call.db, &since, limit).await?;
    response::json(200, &json!({ "entries": entries }))
}
