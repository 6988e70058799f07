//! `/admin/v1/contacts`: look a person up by email or id; the document lists everything held.
//! Requests a person gives staff offline (email, phone, letter, in person) are answered here:
//! erasure and access, each on the register of requests with staff's reason.

use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use crate::domain::i18n::Locale;
use crate::domain::privacy_request::OfflineRequest;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::flows::contact::{contact_document, contact_document_with_segments};
use crate::flows::erasure;
use crate::flows::requests::{self, Asked};
use crate::http::app::{only_params, param_value, query_pairs, AdminCall, App};
use crate::http::body::{parse_email_field, read_json, JSON_LIMIT};
use crate::http::client::page_locale;
use crate::http::response;
use crate::store::{self, audit, contacts};

pub async fn search(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["email"])?;
    let raw =
        param_value(&pairs, "email").ok_or_else(|| AppError::validation("email", "required"))?;
    let email = parse_email_field("email", raw)?;
    let found =
        contacts::find_by_email_hash(&call.db, &email.keyed_hashes(&call.config.token_secret))
            .await?;
    let mut docs = Vec::new();
    if let Some(contact) = found {
        docs.push(contact_document(&call.db, contact).await?);
    }
    response::json(200, &json!({ "contacts": docs }))
}

pub async fn get(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let contact = contacts::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    let locale = page_locale(&req);
    response::json(
        200,
        &contact_document_with_segments(&call.db, contact, locale).await?,
    )
}

/// `POST /admin/v1/contacts/{id}/revoke-links`: every preferences and unsubscribe link already
/// sent to the person stops working and every self-service session ends (a leaked export, a
/// shared inbox). New emails carry new links.
pub async fn revoke_links(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?;
    let contact = contacts::find(&call.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let at = time::now_string();
    let mut statements = contacts::revoke_links_statements(&call.db, &contact.id, &at)?;
    statements.push(audit::record(
        &call.db,
        &call.principal.actor,
        "contact.revoke_links",
        Some(&contact.id),
    )?);
    store::batch(&call.db, statements).await?;
    response::json(200, &json!({ "id": contact.id, "status": "links_revoked" }))
}

/// An offline request as the erase endpoint receives it; every field checked in
/// [`OfflineRequest::parse`], so a missing one is named like a bad one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineBody {
    reason: Option<String>,
    channel: Option<String>,
    received_at: Option<String>,
}

/// The contact the path names, once the request about them is known to be well formed.
async fn named_contact(call: &AdminCall, app: &App) -> AppResult<contacts::ContactRow> {
    contacts::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)
}

/// The asker of an offline request, answered in the contact's locale (English if none).
fn locale_of(contact: &contacts::ContactRow) -> Locale {
    contact
        .fields
        .locale
        .as_deref()
        .and_then(Locale::from_tag)
        .unwrap_or(Locale::En)
}

/// `POST /admin/v1/contacts/{id}/erase`: a person asked staff to erase them. The same erasure
/// as self-service (notice to the address, `contact.erased` to subscribers), with the request
/// on the register and the audit log naming the key.
pub async fn erase(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let body: OfflineBody = read_json(&mut req, JSON_LIMIT).await?;
    let asked = OfflineRequest::parse(
        body.reason.as_deref(),
        body.channel.as_deref(),
        body.received_at.as_deref(),
        time::now(),
    )
    .map_err(AppError::fields)?;
    let contact = named_contact(call, app).await?;
    let request = erasure::erase(
        &app.env,
        &call.config,
        &call.db,
        &contact,
        &call.principal.actor,
        &Asked::Offline {
            channel: asked.channel,
            reason: &asked.reason,
            received_at: asked.received_at,
            actor: &call.principal.actor,
        },
        locale_of(&contact),
    )
    .await?;
    let now = time::now_string();
    response::json(
        200,
        &json!({ "id": contact.id, "status": "erased", "request": request.to_json(&now) }),
    )
}

/// `GET /admin/v1/contacts/{id}/export`: a person asked staff for their data. The answer is
/// the document they would download themselves; the request goes on the register, audited.
pub async fn export(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["reason", "channel", "received_at"])?;
    let asked = OfflineRequest::parse(
        param_value(&pairs, "reason"),
        param_value(&pairs, "channel"),
        param_value(&pairs, "received_at"),
        time::now(),
    )
    .map_err(AppError::fields)?;
    let contact = named_contact(call, app).await?;
    let locale = locale_of(&contact);
    let (export, _) = requests::export(
        &call.db,
        &call.config,
        contact,
        locale,
        &Asked::Offline {
            channel: asked.channel,
            reason: &asked.reason,
            received_at: asked.received_at,
            actor: &call.principal.actor,
        },
    )
    .await?;
    response::json(200, &export)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin/v1/contacts`: [`search`](super::search).
    pub fn search() -> Value {
        json!({
            "operationId": "findContacts",
            "summary": "Find a contact by email",
            "parameters": [{ "name": "email", "in": "query", "required": true, "schema": { "type": "string" } }],
            "responses": admin_errors(json!({
                "200": linked(json_response("matches", json!({ "type": "object", "required": ["contacts"], "properties": { "contacts": { "type": "array", "items": { "$ref": "#/components/schemas/Contact" } } } })), "/contacts/0/id", &["getContact", "revokeContactLinks"]),
                "400": error_response("invalid email")
            }))
        })
    }

    /// `GET /admin/v1/contacts/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getContact",
            "summary": "A contact with attributes, consents and consent history, the segments they are in with why, and their latest orders and survey answers",
            "description": "`consent_history` is oldest first: each grant and withdrawal with its `source` (the form id, `me`, `import`, ...) and `notice_text_hash` (the words, from `GET /admin/v1/notices/{sha256}`). `orders` and `survey_responses` list the latest 10, newest first, with how many there are in all.",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("contact", json!({ "allOf": [{ "$ref": "#/components/schemas/Contact" }, { "type": "object", "required": ["segments", "orders", "survey_responses"], "properties": {
                "orders": { "type": "object", "additionalProperties": false, "required": ["total", "latest"], "properties": {
                    "total": { "type": "integer", "minimum": 0 },
                    "latest": { "type": "array", "maxItems": 10, "items": { "type": "object", "additionalProperties": false, "required": ["external_id", "total_cents", "currency", "placed_at", "items"], "properties": {
                        "external_id": { "type": "string" }, "total_cents": { "type": "integer" }, "currency": { "type": "string" },
                        "placed_at": { "type": "string" }, "items": { "type": "array" } } } } } },
                "survey_responses": { "type": "object", "additionalProperties": false, "required": ["total", "latest"], "properties": {
                    "total": { "type": "integer", "minimum": 0 },
                    "latest": { "type": "array", "maxItems": 10, "items": { "type": "object", "additionalProperties": false, "required": ["survey_id", "survey_name", "answers", "nps", "csat", "ces", "created_at"], "properties": {
                        "survey_id": { "type": "string" }, "survey_name": { "type": "string" },
                        "answers": { "type": "object", "description": "answers by question key" },
                        "nps": { "type": ["integer", "null"] }, "csat": { "type": ["integer", "null"] }, "ces": { "type": ["integer", "null"] },
                        "created_at": { "type": "string", "format": "date-time" } } } } } } } }] })), "404": error_response("no such contact") }))
        })
    }

    /// `POST /admin/v1/contacts/{id}/revoke-links`: [`revoke_links`](super::revoke_links).
    pub fn revoke_links() -> Value {
        json!({
            "operationId": "revokeContactLinks",
            "summary": "Revoke every preferences and unsubscribe link already sent to the person and end their self-service sessions (a leaked export, a shared inbox); new emails carry new links",
            "parameters": [id_param()],
            "responses": admin_errors(json!({
                "200": json_response("revoked", json!({ "type": "object", "required": ["id", "status"], "properties": { "id": { "type": "string" }, "status": { "const": "links_revoked" } } })),
                "404": error_response("no such contact")
            }))
        })
    }

    /// `POST /admin/v1/contacts/{id}/erase`: [`erase`](super::erase).
    pub fn erase() -> Value {
        json!({
            "operationId": "eraseContact",
            "summary": "Erase a person who asked staff to (by email, phone, letter or in person), as self-service erasure does; the request goes on the register with its reason",
            "description": "Everything about the person goes; minimal consent proof and a suppression stay, a notice goes to the address and subscribers hear `contact.erased`. The register keeps the request (contact id, kind `erasure`, channel, reason, dates) as proof it was honoured, and the audit log names the key. `reason` is free text kept five years: write a ticket number or how the person asked, never personal data.",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["reason", "channel"], "properties": offline_request_fields() })),
            "responses": admin_errors(with_body_errors(json!({
                "200": json_response("erased", json!({ "type": "object", "required": ["id", "status", "request"], "properties": {
                    "id": { "type": "string" }, "status": { "const": "erased" },
                    "request": { "$ref": "#/components/schemas/PrivacyRequest" } } })),
                "404": error_response("no such contact (or already erased)")
            })))
        })
    }

    /// `GET /admin/v1/contacts/{id}/export`: [`export`](super::export).
    pub fn export() -> Value {
        let fields = offline_request_fields();
        json!({
            "operationId": "exportContact",
            "summary": "Answer a person's access request given to staff offline: the document they would download themselves; the request goes on the register with its reason",
            "description": "`reason` is free text kept five years: write a ticket number or how the person asked, never personal data. The request is audited (`contact.export`).",
            "parameters": [
                id_param(),
                { "name": "reason", "in": "query", "required": true, "schema": fields["reason"] },
                { "name": "channel", "in": "query", "required": true, "schema": fields["channel"] },
                { "name": "received_at", "in": "query", "schema": fields["received_at"] }
            ],
            "responses": admin_errors(json!({
                "200": json_response("the person's export", json!({ "$ref": "#/components/schemas/Export" })),
                "400": error_response("a missing or invalid reason, channel or received_at (named in `fields`)"),
                "404": error_response("no such contact")
            }))
        })
    }
}
