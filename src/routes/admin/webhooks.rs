//! `/admin/v1/webhooks` and `/admin/v1/events`: event subscriptions (the signing secret shown
//! once), their deliveries with a replay, and the change feed for pull integrations.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::scope::Scope;
use crate::domain::secret::new_id;
use crate::domain::standard_webhooks::WebhookSecret;
use crate::domain::time;
use crate::domain::webhook::{parse_cursor, parse_description, EventTypes, WebhookUrl};
use crate::error::{AppError, AppResult};
use crate::http::app::{limit_param, only_params, param_value, query_pairs, AdminCall, App};
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::jobs::{enqueue, message::Job};
use crate::store::webhooks::{self, DeliveryKey, WebhookChange};
use crate::store::{self, audit, segments};

/// Segments one subscription may name.
const MAX_SEGMENTS: usize = 50;
/// Deliveries per page of the list, and events per page of the feed.
const DELIVERY_PAGE: u32 = 100;
const FEED_PAGE: u32 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    url: String,
    events: Vec<String>,
    segment_ids: Option<Vec<String>>,
    description: Option<String>,
    include_rebuilds: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRequest {
    url: Option<String>,
    events: Option<Vec<String>>,
    /// Absent: unchanged; `null`: every segment; a list: those.
    #[serde(default, deserialize_with = "present")]
    segment_ids: Option<Option<Vec<String>>>,
    description: Option<String>,
    include_rebuilds: Option<bool>,
    enabled: Option<bool>,
}

/// A field that is present (even as `null`) becomes `Some`.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    Option::<Vec<String>>::deserialize(d).map(Some)
}

/// The request's fields as domain values, every problem named by field.
struct Checked {
    url: Option<WebhookUrl>,
    events: Option<EventTypes>,
    segment_ids: Option<Option<String>>,
    description: Option<String>,
}

async fn check(
    call: &AdminCall,
    url: Option<&str>,
    events: Option<&[String]>,
    segment_ids: Option<Option<&[String]>>,
    description: Option<&str>,
) -> AppResult<Checked> {
    let mut errors = std::collections::BTreeMap::new();
    let mut note = |field: &str, problem: String| {
        errors.insert(field.to_string(), problem);
    };
    let url = match url.map(|u| WebhookUrl::parse(u, &call.config.public_base_url)) {
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => {
            note("url", e.to_string());
            None
        }
        None => None,
    };
    let events = match events.map(EventTypes::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            note("events", e);
            None
        }
        None => None,
    };
    let description = match description.map(parse_description) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            note("description", e.to_string());
            None
        }
        None => None,
    };
    let segment_ids = match segment_ids {
        None => None,
        Some(None) => Some(None),
        Some(Some(ids)) => {
            let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            let json = serde_json::to_string(&unique)?;
            if unique.is_empty() || unique.len() > MAX_SEGMENTS {
                note(
                    "segment_ids",
                    format!("1 to {MAX_SEGMENTS} segment ids, or null for every segment"),
                );
            } else if unique.iter().any(|id| id.len() > 100)
                || segments::count_existing(&call.db, &json).await? != unique.len() as i64
            {
                note("segment_ids", "names a segment that does not exist".into());
            }
            Some(Some(json))
        }
    };
    if !errors.is_empty() {
        return Err(AppError::fields(errors));
    }
    Ok(Checked {
        url,
        events,
        segment_ids,
        description,
    })
}

/// `POST /admin/v1/webhooks`: the answer carries `secret`, once. Bodies carry addresses only if
/// this key may read contacts itself: a `webhooks`-only key cannot route addresses out.
pub async fn create(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let body: CreateRequest = read_json(&mut req, JSON_LIMIT).await?;
    let checked = check(
        call,
        Some(&body.url),
        Some(&body.events),
        body.segment_ids.as_deref().map(Some),
        Some(body.description.as_deref().unwrap_or("")),
    )
    .await?;
    let (Some(url), Some(events)) = (checked.url, checked.events) else {
        return Err(AppError::internal("webhook", "checked fields missing"));
    };
    let (secret, _) = WebhookSecret::generate().map_err(|e| AppError::internal("random", e))?;
    let id = new_id("whk");
    let at = time::now_string();
    let events_json = serde_json::to_string(&events.names())?;
    let with_email = call.principal.scopes.contains(Scope::ContactsRead);
    let insert = webhooks::insert_statement(
        &call.db,
        &webhooks::NewWebhook {
            id: &id,
            url: url.as_str(),
            events: &events_json,
            segment_ids: checked.segment_ids.flatten().as_deref(),
            description: checked.description.as_deref().unwrap_or(""),
            include_rebuilds: body.include_rebuilds.unwrap_or(false),
            secret: &secret,
            with_email,
            created_by: &call.principal.actor,
            at: &at,
        },
    )?;
    let audit = audit::record(&call.db, &call.principal.actor, "webhook.create", Some(&id))?;
    store::batch(&call.db, vec![insert, audit]).await?;
    let row = webhooks::find(&call.db, &id)
        .await?
        .ok_or_else(|| AppError::internal("webhook", "not found after insert"))?;
    let mut shown = row.into_json();
    shown["secret"] = json!(secret);
    response::json(201, &shown)
}

pub async fn list(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let rows = webhooks::list(&call.db).await?;
    let hooks: Vec<Value> = rows.into_iter().map(|r| r.into_json()).collect();
    response::json(200, &json!({ "webhooks": hooks }))
}

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let row = webhooks::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &row.into_json())
}

/// `PATCH`: any of the fields; `enabled: true` brings a disabled subscription back from the
/// newest event on. A key that cannot read contacts leaves the subscription without addresses.
pub async fn patch(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?;
    let body: PatchRequest = read_json(&mut req, JSON_LIMIT).await?;
    webhooks::find(&call.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let checked = check(
        call,
        body.url.as_deref(),
        body.events.as_deref(),
        body.segment_ids.as_ref().map(|s| s.as_deref()),
        body.description.as_deref(),
    )
    .await?;
    let events_json = checked
        .events
        .as_ref()
        .map(|e| serde_json::to_string(&e.names()))
        .transpose()?;
    let at = time::now_string();
    let change = WebhookChange {
        url: checked.url.as_ref().map(WebhookUrl::as_str),
        events: events_json.as_deref(),
        segment_ids: checked.segment_ids.as_ref().map(|s| s.as_deref()),
        description: checked.description.as_deref(),
        include_rebuilds: body.include_rebuilds,
        enabled: body.enabled,
        may_read_contacts: call.principal.scopes.contains(Scope::ContactsRead),
    };
    let update = webhooks::update_statement(&call.db, id, &change, &at)?;
    let audit = audit::record(&call.db, &call.principal.actor, "webhook.update", Some(id))?;
    store::batch(&call.db, vec![update, audit]).await?;
    let row = webhooks::find(&call.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &row.into_json())
}

pub async fn delete(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?;
    webhooks::find(&call.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let at = time::now_string();
    let delete = webhooks::delete_statement(&call.db, id, &at)?;
    let audit = audit::record(&call.db, &call.principal.actor, "webhook.delete", Some(id))?;
    store::batch(&call.db, vec![delete, audit]).await?;
    response::json(200, &json!({ "id": id, "status": "deleted" }))
}

/// `GET …/deliveries?before=&limit=`: newest first, each with its attempts.
pub async fn deliveries(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["before", "limit"])?;
    let limit = limit_param(&pairs, DELIVERY_PAGE, DELIVERY_PAGE)?;
    let before = match param_value(&pairs, "before") {
        None => i64::MAX / 2,
        Some(b) => parse_cursor(b).ok_or_else(|| AppError::validation("before", "an event id"))?,
    };
    webhooks::find(&call.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = webhooks::deliveries(&call.db, id, before, limit).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("evt_{}", r.event_seq)))
        .flatten();
    let list: Vec<Value> = rows.into_iter().map(|r| r.into_json()).collect();
    response::json(200, &json!({ "deliveries": list, "next_before": next }))
}

/// `POST …/deliveries/{delivery_id}/retry`: sends it again from a first attempt (same
/// `webhook-id` and body). 202 whether it was settled or already on its way.
pub async fn retry(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?;
    let seq = parse_cursor(app.param("delivery_id")?).ok_or(AppError::NotFound)?;
    let hook = webhooks::find(&call.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // A replay reads the person's address now: only a key that may read contacts replays a
    // delivery that carries one.
    if hook.with_email == 1 && !call.principal.scopes.contains(Scope::ContactsRead) {
        call.principal.require(Scope::ContactsRead)?;
    }
    if hook.disabled_at.is_some() {
        return Err(AppError::Conflict {
            code: "webhook_disabled",
            message: "the subscription is disabled: enable it first".into(),
        });
    }
    let key = DeliveryKey {
        webhook_id: id.to_string(),
        event_seq: seq,
    };
    if !webhooks::delivery_exists(&call.db, &key).await? {
        return Err(AppError::NotFound);
    }
    let at = time::now_string();
    let retry = webhooks::retry_statement(&call.db, &key, &at)?;
    let audit = audit::record(
        &call.db,
        &call.principal.actor,
        "webhook.retry",
        Some(&format!("{id}/evt_{seq}")),
    )?;
    store::batch(&call.db, vec![retry, audit]).await?;
    enqueue(&app.env, Job::from(key)).await?;
    response::json(
        202,
        &json!({ "status": "queued", "event_id": format!("evt_{seq}") }),
    )
}

/// `GET /admin/v1/events?after=&types=&limit=`: the change feed, oldest first, the bodies the
/// webhooks send (addresses only for a key that may read contacts). `next` is where to continue;
/// a page may be short, or empty, with `has_more` true when a filter matched little of the
/// stretch it read.
pub async fn feed(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["after", "types", "limit"])?;
    let limit = limit_param(&pairs, 100, FEED_PAGE)?;
    let after = match param_value(&pairs, "after") {
        None => 0,
        Some(a) => parse_cursor(a).ok_or_else(|| AppError::validation("after", "an event id"))?,
    };
    let types = match param_value(&pairs, "types") {
        None => None,
        Some(t) => {
            let names: Vec<&str> = t.split(',').map(str::trim).collect();
            let parsed =
                EventTypes::parse(&names).map_err(|e| AppError::validation("types", &e))?;
            Some(serde_json::to_string(&parsed.names())?)
        }
    };
    let with_email = call.principal.scopes.contains(Scope::ContactsRead);
    let page = webhooks::feed(&call.db, after, types.as_deref(), limit, with_email).await?;
    let full = page.events.len() == limit as usize;
    let next = match page.events.last() {
        Some((e, _)) if full => e.seq,
        _ => (page.start + webhooks::FEED_WINDOW)
            .min(page.newest)
            .max(page.start),
    };
    let newest = page.newest;
    let list: Vec<Value> = page
        .events
        .iter()
        .map(|(e, email)| {
            let mut body = e.body(email.as_deref());
            body["id"] = json!(e.id());
            body
        })
        .collect();
    response::json(
        200,
        &json!({ "events": list, "next": format!("evt_{next}"), "has_more": next < newest }),
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    fn webhook_input(required: &[&str]) -> Value {
        json!({ "type": "object", "additionalProperties": false, "required": required,
            "examples": [{ "url": "https://crm.example/hooks/clientela", "events": ["contact.erased", "segment.entered"] }],
            "properties": {
                "url": { "type": "string", "description": "https (plain http only to loopback, when the deployment itself runs on loopback)" },
                "events": { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/EventType" } },
                "segment_ids": { "type": ["array", "null"], "minItems": 1, "maxItems": 50, "items": { "type": "string" } },
                "description": { "type": "string", "maxLength": 200 },
                "include_rebuilds": { "type": "boolean" }
            } })
    }

    fn webhook_response(description: &str) -> Value {
        json_response(
            description,
            json!({ "$ref": "#/components/schemas/Webhook" }),
        )
    }

    /// `POST /admin/v1/webhooks`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "createWebhook",
            "summary": "Subscribe a URL to events; the signing secret is returned once",
            "description": "Deliveries follow Standard Webhooks: `webhook-id` (the event id, the same on every attempt), `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>` under `secret` (`whsec_…`).",
            "requestBody": json_body(webhook_input(&["url", "events"])),
            "responses": admin_errors(with_body_errors(json!({
                "201": linked(json_response("created", json!({ "allOf": [ { "$ref": "#/components/schemas/Webhook" }, { "type": "object", "required": ["secret"], "properties": { "secret": { "type": "string", "pattern": "^whsec_" } } } ] })), "/id", &["getWebhook", "patchWebhook", "deleteWebhook", "listWebhookDeliveries"])
            })))
        })
    }

    /// `GET /admin/v1/webhooks`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listWebhooks",
            "summary": "List subscriptions with their state and last delivery (never their secrets)",
            "responses": admin_errors(json!({
                "200": json_response("subscriptions", json!({ "type": "object", "required": ["webhooks"], "properties": { "webhooks": { "type": "array", "items": { "$ref": "#/components/schemas/Webhook" } } } }))
            }))
        })
    }

    /// `GET /admin/v1/webhooks/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getWebhook",
            "summary": "One subscription",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": webhook_response("the subscription"), "404": error_response("no such subscription") }))
        })
    }

    /// `PATCH /admin/v1/webhooks/{id}`: [`patch`](super::patch).
    pub fn patch() -> Value {
        let mut input = webhook_input(&[]);
        input["properties"]["enabled"] = json!({ "type": "boolean", "description": "false disables; true re-enables from the newest event on (what was missed is in the change feed)" });
        json!({
            "operationId": "patchWebhook",
            "summary": "Change, disable or re-enable a subscription",
            "parameters": [id_param()],
            "requestBody": json_body(input),
            "responses": admin_errors(with_body_errors(json!({ "200": webhook_response("the subscription"), "404": error_response("no such subscription") })))
        })
    }

    /// `DELETE /admin/v1/webhooks/{id}`: [`delete`](super::delete).
    pub fn delete() -> Value {
        json!({
            "operationId": "deleteWebhook",
            "summary": "Delete a subscription: deliveries stop at once",
            "parameters": [id_param()],
            "responses": admin_errors(json!({
                "200": json_response("deleted", json!({ "type": "object", "required": ["id", "status"], "properties": { "id": { "type": "string" }, "status": { "const": "deleted" } } })),
                "404": error_response("no such subscription")
            }))
        })
    }

    /// `GET /admin/v1/webhooks/{id}/deliveries`: [`deliveries`](super::deliveries).
    pub fn deliveries() -> Value {
        json!({
            "operationId": "listWebhookDeliveries",
            "summary": "A subscription's deliveries, newest first, each with every attempt's time and status",
            "parameters": [id_param(),
                { "name": "before", "in": "query", "schema": { "type": "string", "pattern": "^(evt_)?[0-9]{1,15}$" }, "description": "`next_before` of the previous page" },
                limit(super::DELIVERY_PAGE)],
            "responses": admin_errors(json!({
                "200": json_response("deliveries", json!({ "type": "object", "required": ["deliveries", "next_before"], "properties": {
                    "deliveries": { "type": "array", "items": { "type": "object", "required": ["id", "event_id", "state", "attempts", "log"], "properties": {
                        "id": { "type": "string" }, "event_id": { "type": "string" },
                        "type": { "type": ["string", "null"] },
                        "state": { "type": "string", "enum": ["pending", "delivered", "failed"] },
                        "attempts": { "type": "integer" },
                        "next_attempt_at": { "type": ["string", "null"] },
                        "last_status": { "type": ["integer", "null"] },
                        "log": { "type": "array", "items": { "type": "object" } },
                        "created_at": { "type": "string" } } } },
                    "next_before": { "type": ["string", "null"] } } })),
                "400": error_response("`validation_failed`: a bad `before` or `limit`"),
                "404": error_response("no such subscription")
            }))
        })
    }

    /// `POST /admin/v1/webhooks/{id}/deliveries/{delivery_id}/retry`: [`retry`](super::retry).
    pub fn retry() -> Value {
        json!({
            "operationId": "retryWebhookDelivery",
            "summary": "Send one delivery again, from a first attempt, with the same webhook-id and body",
            "parameters": [id_param(), { "name": "delivery_id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": admin_errors(json!({
                "202": json_response("queued", json!({ "type": "object", "required": ["status", "event_id"], "properties": { "status": { "const": "queued" }, "event_id": { "type": "string" } } })),
                "404": error_response("no such subscription or delivery"),
                "409": error_response("`webhook_disabled`: enable the subscription first")
            }))
        })
    }

    /// `GET /admin/v1/events`: [`feed`](super::feed).
    pub fn feed() -> Value {
        json!({
            "operationId": "listEvents",
            "summary": "The change feed: events in order, kept 30 days, the bodies webhooks send",
            "description": "Continue from `next`. A page may be short or empty while `has_more` is true: a `types` filter reads a bounded stretch of the log per page.",
            "parameters": [
                { "name": "after", "in": "query", "schema": { "type": "string", "pattern": "^(evt_)?[0-9]{1,15}$" }, "description": "an event id (`next` of the previous page); absent, or older than the oldest kept (30 days): from the oldest kept" },
                { "name": "types", "in": "query", "schema": { "type": "string" }, "description": "comma-separated event types" },
                limit(super::FEED_PAGE)
            ],
            "responses": admin_errors(json!({
                "200": json_response("events", json!({ "type": "object", "required": ["events", "next", "has_more"], "properties": {
                    "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } },
                    "next": { "type": "string" }, "has_more": { "type": "boolean" } } })),
                "400": error_response("`validation_failed`: a bad `after`, `types` or `limit`")
            }))
        })
    }
}
