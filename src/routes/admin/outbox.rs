//! `/admin/v1/outbox`: the emails Clientela has queued, and a test message to check the webhook.

use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use crate::domain::cursor::Cursor;
use crate::domain::email::EmailAddress;
use crate::domain::outbox::{MessageKind, OutboxMessage};
use crate::domain::scope::Scope;
use crate::domain::secret::new_id;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::{limit_param, only_params, param_value, query_pairs, App};
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::jobs::{enqueue, message::Job};
use crate::store::{self, audit, outbox};

/// Every key with `outbox` (or the relay's `outbox:deliver`) sees what was queued; only
/// `outbox:deliver` sees the body and live links of a message still to be delivered, so a key
/// that reads the outbox cannot request a sign-in link for someone and read it back.
pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let deliverer = call.principal.scopes.contains(Scope::OutboxDeliver);
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["to", "limit", "cursor"])?;
    let to = param_value(&pairs, "to")
        .map(|raw| EmailAddress::parse(raw).map_err(|e| AppError::validation("to", e.message())))
        .transpose()?;
    let after = param_value(&pairs, "cursor")
        .map(|raw| Cursor::parse(raw).map_err(|message| AppError::validation("cursor", message)))
        .transpose()?;
    let limit = limit_param(&pairs, 50, 500)?;
    let mailbox_hash = to
        .as_ref()
        .map(|to| to.mailbox_hash(&call.config.token_secret));
    let recipient = to
        .as_ref()
        .zip(mailbox_hash.as_deref())
        .map(|(to, mailbox_hash)| outbox::Recipient {
            address: to.as_str(),
            mailbox_hash,
        });
    let page = outbox::list(&call.db, recipient.as_ref(), after.as_ref(), limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|m| Cursor::new(&m.created_at, &m.id).encode())
        })
        .flatten();
    let messages: Vec<OutboxMessage> = page
        .into_iter()
        .map(|m| {
            if deliverer && m.sent_at.is_none() {
                m
            } else {
                m.redacted()
            }
        })
        .collect();
    response::json(
        200,
        &json!({ "messages": messages, "next_cursor": next_cursor }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestMessageRequest {
    to: String,
}

/// Queues a `test` email, delivered like any other, so a marketer can check the webhook.
pub async fn send_test(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let body: TestMessageRequest = read_json(&mut req, JSON_LIMIT).await?;
    let to = EmailAddress::parse(&body.to).map_err(|e| AppError::validation("to", e.message()))?;
    let message = OutboxMessage {
        id: new_id("msg"),
        to: to.as_str().to_string(),
        kind: MessageKind::Test.as_str().to_string(),
        subject: "Clientela test message".into(),
        text: Some(
            "This is a test message from Clientela. If it reached you, email delivery works."
                .into(),
        ),
        url: None,
        unsubscribe_url: None,
        preferences_url: None,
        headers: Default::default(),
        created_at: time::now_string(),
        sent_at: None,
        redacted: false,
    };
    let insert = outbox::insert_statement(
        &call.db,
        &outbox::NewMessage {
            id: &message.id,
            contact_id: None,
            to: &message.to,
            kind: &message.kind,
            subject: &message.subject,
            text: message.text.as_deref().unwrap_or_default(),
            url: None,
            unsubscribe_url: None,
            preferences_url: None,
            created_at: &message.created_at,
            mailbox_hash: &to.mailbox_hash(&call.config.token_secret),
        },
    )?;
    let audit = audit::record(
        &call.db,
        &call.principal.actor,
        "outbox.test",
        Some(&message.id),
    )?;
    store::batch(&call.db, vec![insert, audit]).await?;
    if call.config.email_webhook_url.is_some() {
        // Should the send fail, the message is stored and the cron sweep delivers it.
        if let Err(e) = enqueue(
            &app.env,
            Job::DeliverEmail {
                id: message.id.clone(),
            },
        )
        .await
        {
            worker::console_error!("outbox {}: enqueue failed: {e:?}", message.id);
        }
    }
    response::json(201, &json!({ "message": message }))
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /admin/v1/outbox`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listOutbox",
            "summary": "Emails in the outbox, newest first, a page at a time",
            "description": "Only a key with `outbox:deliver` (the mail relay's) sees the body and links of a message still to be delivered; every other message, and every message for any other key, comes redacted (`text` and `url` null, no other links, `redacted` true). Delivered messages keep no body or link at all.",
            "parameters": [
                { "name": "to", "in": "query", "schema": { "type": "string", "format": "idn-email" } },
                { "name": "cursor", "in": "query", "schema": { "type": "string" }, "description": "`next_cursor` of the previous page" },
                limit(500)
            ],
            "responses": admin_errors(json!({
                "200": json_response("messages", json!({ "type": "object", "required": ["messages", "next_cursor"], "properties": {
                    "messages": { "type": "array", "items": { "$ref": "#/components/schemas/OutboxMessage" } },
                    "next_cursor": { "type": ["string", "null"], "description": "the `cursor` of the next page; null on the last" } } })),
                "400": error_response("invalid query")
            }))
        })
    }

    /// `POST /admin/v1/outbox/test`: [`send_test`](super::send_test).
    pub fn send_test() -> Value {
        json!({
            "operationId": "sendTestMessage",
            "summary": "Queue a test email to check delivery to the webhook",
            "description": "The answer shows the message whole (`redacted` false).",
            "requestBody": json_body(json!({
                "type": "object", "additionalProperties": false, "required": ["to"],
                "properties": { "to": { "type": "string", "format": "idn-email" } }
            })),
            "responses": admin_errors(with_body_errors(json!({
                "201": json_response("queued", json!({ "type": "object", "required": ["message"], "properties": { "message": { "$ref": "#/components/schemas/OutboxMessage" } } }))
            })))
        })
    }
}
