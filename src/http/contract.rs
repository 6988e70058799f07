//! The vocabulary of the API contract: OpenAPI fragments every operation repeats (error answers,
//! bodies, parameters, links). Each handler's operation is written beside it (a `doc` module in
//! its `src/routes` file) with these; `src/openapi.rs` assembles the document.

use serde_json::{json, Value};

use crate::domain::export::ExportColumn;
use crate::domain::webhook::EventType;

pub fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// A 401, with the challenge every such answer carries.
pub fn unauthorized(description: &str) -> Value {
    let mut response = error_response(description);
    response["headers"] = json!({ "WWW-Authenticate": { "required": true, "schema": { "type": "string", "const": "Bearer" } } });
    response
}

/// A 429, with the seconds to wait before trying again.
pub fn rate_limited(description: &str) -> Value {
    let mut response = error_response(description);
    response["headers"] = json!({ "Retry-After": { "required": true, "description": "seconds", "schema": { "type": "integer", "minimum": 1 } } });
    response
}

pub fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// A response whose `id` feeds the `{id}` of other operations: the links let clients and
/// generated tests follow a created resource to its reads and writes.
pub fn linked(mut response: Value, pointer: &str, operations: &[&str]) -> Value {
    let links: serde_json::Map<String, Value> = operations
        .iter()
        .map(|op| {
            let link = json!({ "operationId": op, "parameters": { "id": format!("$response.body#{pointer}") } });
            (op.to_string(), link)
        })
        .collect();
    response["links"] = Value::Object(links);
    response
}

pub fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// The standard admin answers besides success.
pub fn admin_errors(mut responses: Value) -> Value {
    let map = responses.as_object_mut();
    if let Some(map) = map {
        map.insert("401".into(), unauthorized("missing or invalid API key"));
        map.insert("403".into(), error_response("the API key lacks the scope"));
    }
    responses
}

pub fn with_body_errors(mut responses: Value) -> Value {
    if let Some(map) = responses.as_object_mut() {
        map.insert("400".into(), error_response("validation failed"));
        map.insert("413".into(), error_response("body too large"));
        map.insert("415".into(), error_response("body is not JSON"));
    }
    responses
}

/// `responses` with one more (or a replaced) answer.
pub fn with_status(mut responses: Value, status: &str, response: Value) -> Value {
    if let Some(map) = responses.as_object_mut() {
        map.insert(status.into(), response);
    }
    responses
}

/// The 403 of an operation a `preferences` session may not use.
pub fn needs_sign_in() -> Value {
    error_response("`needs_sign_in`: the session was opened by a preferences link; this needs a `full` session from a sign-in link (`POST /v1/me/sign-in-link` emails one)")
}

/// `{"status": <status>}`, the whole answer of many operations.
pub fn status_only(status: &str) -> Value {
    json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": status } } })
}

/// The export's `columns` parameter, from the columns the code knows.
pub fn columns_note() -> String {
    let names = |columns: &[ExportColumn]| {
        columns
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "comma-separated: {}. Absent or empty: {}. The signed preferences_url and unsubscribe_url come only when named. For a member who objected to profiling, the derived columns (temperature, order_count, total_spent, last_order_at, last_nps, nps_category) are empty.",
        names(&ExportColumn::ALL),
        names(&ExportColumn::DEFAULT)
    )
}

pub fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } })
}

pub fn token_param() -> Value {
    json!({ "name": "t", "in": "query", "required": true, "schema": { "type": "string" } })
}

pub fn html_response(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

/// A language tag the service reads by its primary subtag (`pt-BR`, `en-US`, `RO`): en, pt,
/// ro or ru. Null or absent means the default.
pub fn locale_tag() -> Value {
    json!({
        "type": ["string", "null"],
        "pattern": "^\\s*([Ee][Nn]|[Pp][Tt]|[Rr][Oo]|[Rr][Uu])([-_].*)?\\s*$",
        "description": "en, pt-BR, ro or ru (read by the primary subtag); null or absent: en"
    })
}

/// The `since` query parameter of the lists that read forward in time.
pub fn since() -> Value {
    json!({ "name": "since", "in": "query", "schema": { "type": "string", "format": "date-time" } })
}

/// A `limit` query parameter up to `max`.
pub fn limit(max: u32) -> Value {
    json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": max } })
}

/// The 401 of a self-service operation.
pub fn no_session() -> Value {
    unauthorized("no valid session")
}

/// `components.schemas.EventType`.
pub fn event_type_schema() -> Value {
    json!({ "type": "string", "enum": EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>() })
}

/// `components.schemas.Webhook`.
pub fn webhook_schema() -> Value {
    json!({ "type": "object",
        "required": ["id", "url", "events", "segment_ids", "description", "include_rebuilds", "includes_email", "state", "created_at", "updated_at"],
        "properties": {
            "id": { "type": "string" }, "url": { "type": "string" },
            "events": { "type": "array", "items": { "$ref": "#/components/schemas/EventType" } },
            "segment_ids": { "type": ["array", "null"], "items": { "type": "string" }, "description": "segment events only for these segments; null: every segment" },
            "description": { "type": "string" },
            "include_rebuilds": { "type": "boolean", "description": "whether the first build of a new segment announces every member" },
            "includes_email": { "type": "boolean", "description": "whether bodies carry the person's address (the creating key held `contacts:read`); never for `contact.erased`" },
            "state": { "type": "string", "enum": ["active", "disabled"] },
            "failing_since": { "type": ["string", "null"], "format": "date-time" },
            "disabled_at": { "type": ["string", "null"], "format": "date-time" },
            "disabled_reason": { "type": ["string", "null"] },
            "created_by": { "type": "string" },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
            "last_delivery": { "type": ["object", "null"] }
        } })
}

/// `components.schemas.Event`: a feed entry, the body a webhook delivery carries with its id.
pub fn event_schema() -> Value {
    json!({ "type": "object", "required": ["id", "type", "timestamp", "data"], "properties": {
        "id": { "type": "string", "description": "`evt_…`: the `webhook-id` of its deliveries and a feed position" },
        "type": { "$ref": "#/components/schemas/EventType" },
        "timestamp": { "type": "string", "format": "date-time" },
        "data": { "type": "object", "description": "ids (`contact_id`, `segment_id`, …), what changed, and `email` only where the reader may read contacts" }
    } })
}

/// `components.schemas.PrivacyRequest`: one entry of the register of data-subject requests.
pub fn privacy_request_schema() -> Value {
    json!({ "type": "object",
        "required": ["id", "contact_id", "kind", "channel", "reason", "received_at", "due_at", "completed_at", "overdue"],
        "properties": {
            "id": { "type": "string" },
            "contact_id": { "type": "string", "description": "the only reference to the person; kept after their erasure" },
            "kind": { "type": "string", "enum": ["access", "rectification", "erasure", "objection", "withdrawal"] },
            "channel": { "type": "string", "enum": ["self_service", "one_click", "import", "email", "phone", "letter", "in_person"],
                "description": "`self_service`, `one_click` (an unsubscribe link) and `import` record themselves; the others are requests staff took offline" },
            "reason": { "type": ["string", "null"], "description": "staff's words for an offline request; null for self-service" },
            "received_at": { "type": "string", "format": "date-time" },
            "due_at": { "type": "string", "format": "date-time", "description": "received_at plus PRIVACY_REQUEST_DEADLINE (15 days by default)" },
            "completed_at": { "type": ["string", "null"], "format": "date-time" },
            "overdue": { "type": "boolean", "description": "completed after due_at, or still open past it" }
        } })
}

/// `components.schemas.Export`: everything held about a person, with purposes and retention:
/// what they download themselves and what staff answer an access request with.
pub fn export_schema() -> Value {
    json!({ "type": "object", "required": ["format", "generated_at", "data", "requests", "processing"], "properties": {
        "format": { "const": "clientela-export/1" }, "generated_at": { "type": "string", "format": "date-time" },
        "data": { "$ref": "#/components/schemas/Me" },
        "requests": { "type": "array", "description": "the person's requests on the register, oldest first, this one last",
            "items": { "$ref": "#/components/schemas/PrivacyRequest" } },
        "processing": { "type": "array", "items": { "type": "object", "required": ["data", "purpose", "retention"], "properties": {
            "data": { "type": "string" }, "purpose": { "type": "string" }, "retention": { "type": "string" } } } } } })
}

/// The body of an offline request (erasure), or the query of one (access).
pub fn offline_request_fields() -> Value {
    json!({
        "reason": { "type": "string", "minLength": 1, "maxLength": 500,
            "description": "why staff record this request, such as a ticket number or \"asked by phone\"; one line, kept five years on the register, so never personal data (no name, address, phone number; an email address is refused)" },
        "channel": { "type": "string", "enum": ["email", "phone", "letter", "in_person"], "description": "how the person asked" },
        "received_at": { "type": "string", "format": "date-time", "description": "when the person asked (not in the future); default now. The deadline runs from it" }
    })
}
