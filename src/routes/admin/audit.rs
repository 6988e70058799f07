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

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin/v1/audit`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listAudit",
            "summary": "Audit log entries from `since`, oldest first",
            "parameters": [
                since(),
                limit(1000)
            ],
            "responses": admin_errors(json!({
                "200": json_response("entries", json!({ "type": "object", "required": ["entries"], "properties": { "entries": { "type": "array", "items": {
                    "type": "object", "required": ["id", "at", "actor", "action"],
                    "properties": {
                        "id": { "type": "string" }, "at": { "type": "string", "format": "date-time" },
                        "actor": { "type": "string" }, "action": { "type": "string" },
                        "subject": { "type": ["string", "null"] }
                    }
                } } } })),
                "400": error_response("invalid query")
            }))
        })
    }
}
