//! `/admin/v1/contacts`: look a person up by email or id; the document lists everything held.

use serde_json::json;
use worker::{Request, Response};

use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::flows::contact::{contact_document, contact_document_with_segments};
use crate::http::app::{only_params, param_value, query_pairs, App};
use crate::http::body::parse_email_field;
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
            "summary": "A contact with attributes, consents and consent history, and the segments they are in with why",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("contact", json!({ "allOf": [{ "$ref": "#/components/schemas/Contact" }, { "type": "object", "required": ["segments"] }] })), "404": error_response("no such contact") }))
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
}
