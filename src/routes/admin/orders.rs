//! `POST /admin/v1/orders`: the shop's back end sends purchases; each becomes an order tied to its
//! buyer, and the buyer's purchase facts follow in the same D1 batch.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::form::ContactFields;
use crate::domain::order::{parse_orders, OrderInput};
use crate::domain::segment::{temperature_on_activity, TemperatureThresholds};
use crate::domain::signup::ContactStatus;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::http::app::AdminCall;
use crate::http::app::App;
use crate::http::body::{decode_json, media_type, read_limited};
use crate::http::response;
use crate::jobs::{enqueue_all, message::Job};
use crate::store::{self, audit, contacts, orders, LOOKUP_CHUNK};

/// 500 orders with their items; far above what one checkout batch carries.
const ORDERS_LIMIT: usize = 1024 * 1024;
/// Contact names elsewhere are capped at 100 characters.
const NAME_LEN: usize = 100;

pub async fn ingest(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    if media_type(&req) != "application/json" {
        return Err(AppError::UnsupportedMediaType {
            expected: "application/json",
        });
    }
    let bytes = read_limited(&mut req, ORDERS_LIMIT).await?;
    let body: Value = decode_json(&bytes)?;
    let now = time::now();
    let incoming = parse_orders(&body, now).map_err(AppError::fields)?;
    let at = time::format(now);

    let Found {
        buyers,
        known_orders,
        linked,
    } = look_up(call, &incoming).await?;

    let mut statements = Vec::new();
    let mut new_contacts = Vec::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let (mut created, mut updated) = (0usize, 0usize);
    for order in &incoming {
        let items_json = order.items_json();
        let mut write = orders::OrderWrite {
            id: "",
            external_id: &order.external_id,
            contact_id: None,
            total_cents: order.total.cents(),
            currency: &order.currency,
            placed_at: &order.placed_at,
            items_json: &items_json,
            at: &at,
        };
        if known_orders.contains(order.external_id.as_str()) {
            // Its buyer is the one it was first linked to; `linked_contacts` below finds them.
            statements.push(orders::update_statement(&call.db, &write)?);
            updated += 1;
            continue;
        }
        let hash = order.email.keyed_hash(&call.config.token_secret);
        let contact_id = match buyers.get(&hash) {
            Some(Buyer::Known(id)) | Some(Buyer::New(id)) => Some(id.clone()),
            Some(Buyer::Suppressed) | None => None,
        };
        if let Some(Buyer::New(id)) = buyers.get(&hash) {
            if !new_contacts.contains(id) {
                statements.push(new_buyer_statement(call, order, id, &hash, &at)?);
                statements.push(audit::record(
                    &call.db,
                    &call.principal.actor,
                    "contact.create.order",
                    Some(id),
                )?);
                new_contacts.push(id.clone());
            }
        }
        let order_id = secret::new_id("ord");
        write.id = &order_id;
        write.contact_id = contact_id.as_deref();
        statements.push(orders::insert_statement(&call.db, &write)?);
        created += 1;
        if let Some(id) = &contact_id {
            statements.push(orders::touch_activity_statement(
                &call.db,
                id,
                &order.placed_at,
            )?);
            touched.insert(id.clone());
        }
    }
    // A resent order may change its buyer's facts too.
    touched.extend(linked);
    // A buyer created now was active now (their row says so), which settles their temperature.
    let created_hot = temperature_on_activity(now, &TemperatureThresholds::default());
    for id in &touched {
        let temperature = new_contacts.contains(id).then_some(created_hot.as_str());
        statements.push(orders::refresh_stats_statement(
            &call.db,
            id,
            &at,
            temperature,
        )?);
    }
    statements.push(audit::record(
        &call.db,
        &call.principal.actor,
        "orders.ingest",
        None,
    )?);
    // One batch, one transaction: a failure leaves no order, contact or fact half-written.
    store::batch(&call.db, statements).await?;

    let jobs: Vec<Job> = touched
        .into_iter()
        .map(|id| Job::ContactChanged { id })
        .collect();
    if let Err(e) = enqueue_all(&app.env, jobs).await {
        worker::console_error!("orders: enqueue failed: {e:?}");
    }
    response::json(200, &json!({ "created": created, "updated": updated }))
}

#[derive(Clone)]
enum Buyer {
    Known(String),
    /// Erased: the order is kept for the shop's totals without a person attached.
    Suppressed,
    /// Unknown: becomes a contact without any marketing consent.
    New(String),
}

/// What one read found for an ingest: every buyer's email hash mapped to what the batch does
/// with them, the external ids already stored, and the buyers those are linked to.
struct Found {
    buyers: HashMap<String, Buyer>,
    known_orders: HashSet<String>,
    linked: Vec<String>,
}

/// Everything the ingest decides on, in one D1 round trip: contacts and suppressions by email
/// hash, and stored orders by external id, in chunks of a few dozen keys per statement.
async fn look_up(call: &AdminCall, incoming: &[OrderInput]) -> AppResult<Found> {
    let all_hashes: Vec<crate::domain::email::EmailHashes> = incoming
        .iter()
        .map(|o| o.email.keyed_hashes(&call.config.token_secret))
        .collect();
    let hashes: Vec<String> = all_hashes
        .iter()
        .map(|h| h.current.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Earlier releases hashed IDN addresses in their Unicode form: look those up too.
    let candidates: Vec<String> = all_hashes
        .iter()
        .flat_map(|h| h.all().into_iter().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let external_ids: Vec<&str> = incoming
        .iter()
        .map(|o| o.external_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let chunk = call.config.chunk(LOOKUP_CHUNK);
    let mut reads = store::Reads::default();
    let mut suppressed_at = Vec::new();
    let mut contacts_at = Vec::new();
    for keys in candidates.chunks(chunk) {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        suppressed_at.push(reads.add_in(&call.db, contacts::SUPPRESSED_AMONG_SQL, &keys)?);
        contacts_at.push(reads.add_in(&call.db, contacts::KNOWN_BY_EMAIL_HASHES_SQL, &keys)?);
    }
    let mut orders_at = Vec::new();
    for keys in external_ids.chunks(chunk) {
        orders_at.push(reads.add_in(&call.db, orders::STORED_BY_EXTERNAL_IDS_SQL, keys)?);
    }
    let results = reads.run(&call.db).await?;

    let mut buyers = HashMap::new();
    for (suppressed, known) in suppressed_at.into_iter().zip(contacts_at) {
        for row in store::rows::<contacts::SuppressedHash>(&results, suppressed)? {
            buyers.insert(row.email_hash, Buyer::Suppressed);
        }
        for contact in store::rows::<contacts::KnownContact>(&results, known)? {
            buyers
                .entry(contact.email_hash)
                .or_insert(Buyer::Known(contact.id));
        }
    }
    for h in &all_hashes {
        if let Some(found) = h.legacy.as_ref().and_then(|l| buyers.get(l)).cloned() {
            let current = buyers.entry(h.current.clone()).or_insert(found.clone());
            if matches!(found, Buyer::Suppressed) {
                *current = Buyer::Suppressed;
            }
        }
    }
    for hash in hashes {
        buyers
            .entry(hash)
            .or_insert_with(|| Buyer::New(uuid::Uuid::now_v7().to_string()));
    }
    let mut known_orders = HashSet::new();
    let mut linked = BTreeSet::new();
    for at in orders_at {
        for order in store::rows::<orders::StoredOrder>(&results, at)? {
            known_orders.insert(order.external_id);
            linked.extend(order.contact_id);
        }
    }
    Ok(Found {
        buyers,
        known_orders,
        linked: linked.into_iter().collect(),
    })
}

fn new_buyer_statement(
    call: &AdminCall,
    order: &OrderInput,
    id: &str,
    hash: &str,
    at: &str,
) -> AppResult<worker::D1PreparedStatement> {
    let fields = ContactFields {
        name: order
            .name
            .as_ref()
            .map(|n| n.chars().take(NAME_LEN).collect()),
        ..ContactFields::default()
    };
    contacts::insert_statement(
        &call.db,
        &contacts::NewContact {
            id,
            email: order.email.as_str(),
            email_hash: hash,
            fields: &fields,
            status: ContactStatus::Active,
            source: "order",
            at,
            active_at: None,
        },
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/orders`: [`ingest`](super::ingest).
    pub fn ingest() -> Value {
        json!({
            "operationId": "ingestOrders",
            "summary": "Record purchases, idempotent on external_id; unknown buyers become contacts without marketing consent",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["orders"],
                "examples": [{ "orders": [{ "external_id": "1001", "email": "ana@example.com", "total": "129.90", "currency": "BRL",
                    "placed_at": "2026-01-15T12:00:00Z", "items": [{ "sku": "BAG-1", "name": "Tote", "category": "Bags", "quantity": 1, "price": "129.90" }] }] }],
                "properties": {
                "orders": { "type": "array", "minItems": 1, "maxItems": 500, "items": { "type": "object", "additionalProperties": false,
                    "required": ["external_id", "email", "total", "currency", "placed_at"], "properties": {
                    "external_id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": "string" },
                    "total": { "type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$" },
                    "currency": { "type": "string", "pattern": "^[A-Za-z]{3}$" },
                    "placed_at": { "type": "string", "format": "date-time" },
                    "items": { "type": "array", "maxItems": 200, "items": { "type": "object", "additionalProperties": false,
                        "required": ["sku", "quantity", "price"], "properties": {
                        "sku": { "type": "string" }, "name": { "type": "string" }, "category": { "type": "string" },
                        "quantity": { "type": "integer", "minimum": 1, "maximum": 10000 },
                        "price": { "type": "string" } } } } } } } } })),
            "responses": admin_errors(with_body_errors(json!({
                "200": json_response("stored", json!({ "type": "object", "required": ["created", "updated"], "properties": {
                    "created": { "type": "integer", "minimum": 0 }, "updated": { "type": "integer", "minimum": 0 } } }))
            })))
        })
    }
}
