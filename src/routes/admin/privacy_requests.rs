//! `/admin/v1/privacy-requests`: the register of data-subject requests, newest first, for the
//! one who answers to a regulator for them. Contact ids only, never an address or a name.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::cursor::Cursor;
use crate::domain::privacy_request::Kind;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::{limit_param, only_params, param_value, query_pairs, App};
use crate::http::response;
use crate::store::privacy_requests::{self, Filter};

pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["kind", "open", "limit", "cursor"])?;
    let kind = param_value(&pairs, "kind")
        .map(|raw| Kind::parse(raw).map_err(|e| AppError::validation("kind", e)))
        .transpose()?;
    let open_only = match param_value(&pairs, "open") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(AppError::validation("open", "true or false")),
    };
    let after = param_value(&pairs, "cursor")
        .map(|raw| Cursor::parse(raw).map_err(|message| AppError::validation("cursor", message)))
        .transpose()?;
    let limit = limit_param(&pairs, 50, 500)?;
    let filter = Filter { kind, open_only };
    let page = privacy_requests::list(&call.db, &filter, after.as_ref(), limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|r| Cursor::new(&r.received_at, &r.id).encode())
        })
        .flatten();
    let now = time::now_string();
    let requests: Vec<Value> = page.iter().map(|r| r.to_json(&now)).collect();
    response::json(
        200,
        &json!({ "requests": requests, "next_cursor": next_cursor }),
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin/v1/privacy-requests`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listPrivacyRequests",
            "summary": "The register of data-subject requests (access, rectification, erasure, objection, withdrawal), newest received first, a page at a time",
            "description": "Self-service requests record themselves, done at once; requests given to staff offline are recorded by `POST /admin/v1/contacts/{id}/erase` and `GET /admin/v1/contacts/{id}/export`. A repeated unsubscribe, or an edit that changes nothing, is not a new request; a consent lapsing by time is none. Entries name the person by contact id only and stay after their erasure (five years from receipt).",
            "parameters": [
                { "name": "kind", "in": "query", "schema": { "type": "string", "enum": ["access", "rectification", "erasure", "objection", "withdrawal"] } },
                { "name": "open", "in": "query", "schema": { "type": "boolean" }, "description": "true: only requests not yet completed" },
                { "name": "cursor", "in": "query", "schema": { "type": "string" }, "description": "`next_cursor` of the previous page" },
                limit(500)
            ],
            "responses": admin_errors(json!({
                "200": json_response("requests", json!({ "type": "object", "required": ["requests", "next_cursor"], "properties": {
                    "requests": { "type": "array", "items": { "$ref": "#/components/schemas/PrivacyRequest" } },
                    "next_cursor": { "type": ["string", "null"], "description": "the `cursor` of the next page; null on the last" } } })),
                "400": error_response("invalid query")
            }))
        })
    }
}
