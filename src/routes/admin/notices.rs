//! `/admin/v1/notices/{sha256}`: the words behind a consent event's `notice_text_hash`.

use worker::{Request, Response};

use crate::error::{AppError, AppResult};
use crate::http::app::App;
use crate::http::response;
use crate::store::notices;

/// Scope `contacts:read`: whoever may read consent histories may read what they point at.
pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let sha256 = app.param("sha256")?;
    if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::validation("sha256", "64 hexadecimal characters"));
    }
    let notice = notices::find(&call.db, &sha256.to_ascii_lowercase())
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &notice)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin/v1/notices/{sha256}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getNotice",
            "summary": "The exact words behind a consent event's notice_text_hash (the archive is append-only)",
            "parameters": [{ "name": "sha256", "in": "path", "required": true, "description": "SHA-256 of the notice text, 64 hexadecimal characters (either case)",
                "schema": { "type": "string", "pattern": "^[0-9A-Fa-f]{64}$" } }],
            "responses": admin_errors(json!({
                "200": json_response("notice", json!({ "type": "object", "required": ["sha256", "text", "locale", "purpose", "policy_version", "source", "created_at"], "properties": {
                    "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" }, "text": { "type": "string" }, "locale": { "type": "string" },
                    "purpose": { "type": ["string", "null"] }, "policy_version": { "type": ["string", "null"] },
                    "source": { "type": "string", "description": "where it was shown: a form id, a survey id or `preference_center`" },
                    "created_at": { "type": "string", "format": "date-time", "description": "when it was first archived" } } })),
                "400": error_response("`validation_failed`: not 64 hexadecimal characters"),
                "404": error_response("no such notice")
            }))
        })
    }
}
