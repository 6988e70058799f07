//! `/admin/v1/contacts`: look a person up by email or id; the document lists everything held.

use serde_json::{json, Value};
use worker::{D1Database, Request, Response};

use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::{only_params, param_value, query_pairs, App};
use crate::http::response;
use crate::routes::forms::parse_email_field;
use crate::store::{self, audit, consents, contacts, profile};

/// The contact, its attributes, current consents and full consent history.
pub async fn contact_document(db: &D1Database, contact: contacts::ContactRow) -> AppResult<Value> {
    let attributes: serde_json::Map<String, Value> = contacts::attributes(db, &contact.id)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.key,
                serde_json::from_str(&a.value).unwrap_or(Value::String(a.value)),
            )
        })
        .collect();
    let current: Vec<Value> = consents::current(db, &contact.id)
        .await?
        .into_iter()
        .map(|c| json!({"purpose": c.purpose, "granted": c.granted == 1.0, "policy_version": c.policy_version, "updated_at": c.updated_at}))
        .collect();
    let history = consents::history(db, &contact.id).await?;
    let stats = profile::stats(db, &contact.id).await?.map(|s| {
        json!({
            "order_count": s.order_count as i64,
            "total_spent_cents": s.total_spent_cents as i64,
            "first_order_at": s.first_order_at,
            "last_order_at": s.last_order_at,
            "last_nps": s.last_nps.map(|n| n as i64),
            "nps_category": s.nps_category,
            "avg_csat": s.avg_csat,
            "csat_count": s.csat_count as i64,
            "temperature": s.temperature,
            "rfm": s.rfm_segment.as_ref().map(|group| json!({
                "r": s.rfm_r.map(|n| n as i64),
                "f": s.rfm_f.map(|n| n as i64),
                "m": s.rfm_m.map(|n| n as i64),
                "group": group,
            })),
        })
    });
    let mut doc = serde_json::to_value(&contact)?;
    if let Some(map) = doc.as_object_mut() {
        map.insert("attributes".into(), Value::Object(attributes));
        map.insert("consents".into(), json!(current));
        map.insert("consent_history".into(), serde_json::to_value(history)?);
        map.insert("stats".into(), stats.unwrap_or(Value::Null));
    }
    Ok(doc)
}

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

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let contact = contacts::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &contact_document(&call.db, contact).await?)
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
            "summary": "A contact with attributes, consents and consent history",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("contact", json!({ "$ref": "#/components/schemas/Contact" })), "404": error_response("no such contact") }))
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
