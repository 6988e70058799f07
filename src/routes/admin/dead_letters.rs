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

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin/v1/dead-letters`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listDeadLetters",
            "summary": "Queue messages that failed every attempt, oldest first from `since`",
            "parameters": [
                since(),
                limit(1000)
            ],
            "responses": admin_errors(json!({
                "200": json_response("dead letters", json!({ "type": "object", "required": ["dead_letters"], "properties": { "dead_letters": { "type": "array", "items": {
                    "type": "object", "required": ["message_id", "queue", "job", "body", "received_at"],
                    "properties": {
                        "message_id": { "type": "string" }, "queue": { "type": "string" },
                        "job": { "type": ["string", "null"], "description": "the job kind; null when the body held no job" },
                        "body": { "type": "string", "description": "the message as sent: a job envelope with ids, never an email" },
                        "received_at": { "type": "string", "format": "date-time" }
                    }
                } } } })),
                "400": error_response("invalid query")
            }))
        })
    }
}
