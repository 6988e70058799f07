//! `POST /admin/v1/contacts/import`: a shop's existing list (NDJSON or CSV) becomes contacts, each
//! with the consent basis the shop vouches for. Erased people stay erased.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use worker::{D1PreparedStatement, Request, Response};

use crate::domain::consent::ConsentMethod;
use crate::domain::email::EmailHashes;
use crate::domain::import::{parse_import, ImportFormat, ImportRow, Rejection};
use crate::domain::signup::ContactStatus;
use crate::domain::time;
use crate::domain::webhook::EventType;
use crate::error::{AppError, AppResult};
use crate::http::app::AdminCall;
use crate::http::app::App;
use crate::http::body::{media_type, read_limited};
use crate::http::response;
use crate::jobs::{enqueue_all, message::Job};
use crate::store::{self, audit, consents, contacts, webhooks, LOOKUP_CHUNK};

/// One import file; [`crate::domain::import::MAX_ROWS`] bounds it by rows as well.
const IMPORT_LIMIT: usize = 1024 * 1024;
/// Rows written per D1 batch: each row's statements stay together, so a row is all or nothing.
const ROWS_PER_BATCH: usize = 50;

/// What the caller gets back: every data row is counted once, as created, updated or rejected.
#[derive(Debug, Serialize)]
struct ImportReport {
    created: usize,
    updated: usize,
    rejected: Vec<Rejection>,
    /// Purposes a row asked to grant that the person had withdrawn themselves: left withdrawn.
    consents_kept_withdrawn: Vec<KeptWithdrawn>,
}

#[derive(Debug, Serialize)]
struct KeptWithdrawn {
    line: usize,
    purpose: String,
}

pub async fn import(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let format = ImportFormat::from_content_type(&media_type(&req)).ok_or(
        AppError::UnsupportedMediaType {
            expected: "text/csv or application/x-ndjson",
        },
    )?;
    let body = read_limited(&mut req, IMPORT_LIMIT).await?;
    let now = time::now();
    let (rows, mut rejected) = parse_import(format, &body, now.date_naive(), now)
        .map_err(|e| AppError::bad_request("invalid_import", e.message()))?;

    let row_hashes: Vec<EmailHashes> = rows
        .iter()
        .map(|row| row.email.keyed_hashes(&call.config.token_secret))
        .collect();
    // Both hashes of an IDN address are looked up, so one erased or stored under the hash of an
    // earlier release is still found; rows then go by the current hash.
    let candidates: Vec<String> = row_hashes
        .iter()
        .flat_map(|h| h.all().into_iter().map(str::to_string))
        .collect();
    let (mut known, mut suppressed) = look_up(call, &candidates).await?;
    for h in &row_hashes {
        if let Some(legacy) = &h.legacy {
            if suppressed.contains(legacy) {
                suppressed.insert(h.current.clone());
            }
            if let Some(contact) = known.get(legacy).cloned() {
                known.entry(h.current.clone()).or_insert(contact);
            }
        }
    }
    let hashes: Vec<String> = row_hashes.into_iter().map(|h| h.current).collect();
    let existing_ids: Vec<&str> = known.values().map(|c| c.id.as_str()).collect();
    let withdrawn = withdrawn_purposes(call, &existing_ids).await?;

    let at = time::format(now);
    let mut report = ImportReport {
        created: 0,
        updated: 0,
        rejected: Vec::new(),
        consents_kept_withdrawn: Vec::new(),
    };
    let mut pending_rows = Vec::new();
    for (row, hash) in rows.iter().zip(&hashes) {
        if suppressed.contains(hash) {
            rejected.push(Rejection {
                line: row.line,
                reason: "suppressed: this person erased their data".into(),
            });
            continue;
        }
        let plan = match known.get(hash) {
            Some(contact) => {
                let kept: HashSet<&str> = withdrawn
                    .get(contact.id.as_str())
                    .map(|purposes| purposes.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                RowPlan::Update {
                    id: contact.id.clone(),
                    kept_withdrawn: row
                        .consents
                        .iter()
                        .map(|p| p.as_str().to_string())
                        .filter(|p| kept.contains(p.as_str()))
                        .collect(),
                }
            }
            None => RowPlan::Create {
                id: uuid::Uuid::now_v7().to_string(),
            },
        };
        pending_rows.push((row, hash.as_str(), plan));
    }

    let mut jobs = Vec::new();
    for chunk in pending_rows.chunks(call.config.chunk(ROWS_PER_BATCH)) {
        let mut statements = Vec::new();
        for (row, hash, plan) in chunk {
            statements.extend(row_statements(call, row, hash, plan, &at)?);
        }
        store::batch(&call.db, statements).await?;
        for (row, _, plan) in chunk {
            match plan {
                RowPlan::Create { id } => {
                    report.created += 1;
                    jobs.push(Job::ContactChanged { id: id.clone() });
                }
                RowPlan::Update { id, kept_withdrawn } => {
                    report.updated += 1;
                    report
                        .consents_kept_withdrawn
                        .extend(kept_withdrawn.iter().map(|purpose| KeptWithdrawn {
                            line: row.line,
                            purpose: purpose.clone(),
                        }));
                    jobs.push(Job::ContactChanged { id: id.clone() });
                }
            }
        }
    }
    // The rows are stored; a queue hiccup only delays segment updates, which the daily cron
    // recomputes anyway, so it must not turn a done import into an error the caller retries.
    if let Err(e) = enqueue_all(&app.env, jobs).await {
        worker::console_error!("import: enqueue failed: {e:?}");
    }
    rejected.sort_by_key(|r| r.line);
    report.rejected = rejected;
    response::json(200, &report)
}

enum RowPlan {
    Create {
        id: String,
    },
    Update {
        id: String,
        kept_withdrawn: Vec<String>,
    },
}

/// Known contacts by email hash, and the suppressed hashes, in chunks D1 can bind.
async fn look_up(
    call: &AdminCall,
    hashes: &[String],
) -> AppResult<(HashMap<String, contacts::KnownContact>, HashSet<String>)> {
    let mut known = HashMap::new();
    let mut suppressed = HashSet::new();
    for chunk in hashes.chunks(call.config.chunk(LOOKUP_CHUNK)) {
        let keys: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for contact in contacts::known_by_email_hashes(&call.db, &keys).await? {
            known.insert(contact.email_hash.clone(), contact);
        }
        suppressed.extend(contacts::suppressed_among(&call.db, &keys).await?);
    }
    Ok((known, suppressed))
}

async fn withdrawn_purposes(
    call: &AdminCall,
    contact_ids: &[&str],
) -> AppResult<HashMap<String, Vec<String>>> {
    let mut withdrawn: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in contact_ids.chunks(call.config.chunk(LOOKUP_CHUNK)) {
        for w in consents::withdrawn_among(&call.db, chunk).await? {
            withdrawn.entry(w.contact_id).or_default().push(w.purpose);
        }
    }
    Ok(withdrawn)
}

fn row_statements(
    call: &AdminCall,
    row: &ImportRow,
    hash: &str,
    plan: &RowPlan,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    let db = &call.db;
    let mut statements = Vec::new();
    let (id, kept_withdrawn, action) = match plan {
        RowPlan::Create { id } => {
            statements.push(contacts::insert_statement(
                db,
                &contacts::NewContact {
                    id,
                    email: row.email.as_str(),
                    email_hash: hash,
                    fields: &row.fields,
                    status: ContactStatus::Active,
                    source: "import",
                    at,
                    active_at: row.consent_basis.as_ref().and(row.consented_at.as_deref()),
                },
            )?);
            if let Some(channel) = &row.preferred_channel {
                statements.push(contacts::preferred_channel_statement(db, id, channel)?);
            }
            (id, &[][..], "contact.import.create")
        }
        RowPlan::Update { id, kept_withdrawn } => {
            statements.push(contacts::import_update_statement(
                db,
                id,
                &row.fields,
                row.preferred_channel.as_deref(),
                at,
            )?);
            let mut changed: Vec<String> =
                row.fields.names().into_iter().map(String::from).collect();
            changed.extend(row.attributes.keys().map(|k| format!("attributes.{k}")));
            if !changed.is_empty() {
                statements.push(webhooks::contact_event(
                    db,
                    EventType::ContactUpdated,
                    id,
                    at,
                    Some(serde_json::json!({ "changed": changed, "by": "import" })),
                )?);
            }
            (id, kept_withdrawn.as_slice(), "contact.import.update")
        }
    };
    for (key, value) in &row.attributes {
        statements.push(contacts::upsert_attribute_statement(
            db,
            id,
            key,
            &value.to_string(),
            at,
        )?);
    }
    if let Some(basis) = &row.consent_basis {
        let source = format!("import: {basis}");
        let consented_at = row.consented_at.as_deref().unwrap_or(at);
        for purpose in &row.consents {
            if kept_withdrawn.iter().any(|p| p == purpose.as_str()) {
                continue;
            }
            statements.push(webhooks::consent_changed_statement(
                db,
                id,
                purpose.as_str(),
                true,
                "import",
                at,
            )?);
            statements.extend(consents::record_statements(
                db,
                &consents::ConsentEvent {
                    contact_id: id,
                    purpose: purpose.as_str(),
                    granted: true,
                    policy_version: row.policy_version.as_deref(),
                    notice_text_hash: None,
                    source: &source,
                    method: ConsentMethod::Import,
                    ip_hash: None,
                    user_agent: None,
                    at: consented_at,
                    frequency: None,
                },
            )?);
        }
    }
    statements.push(audit::record(db, &call.principal.actor, action, Some(id))?);
    Ok(statements)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/contacts/import`: [`import`](super::import).
    pub fn import() -> Value {
        json!({
            "operationId": "importContacts",
            "summary": "Import contacts from NDJSON or CSV; rows are created, updated or rejected with reasons",
            "requestBody": { "required": true, "content": {
                "application/x-ndjson": { "schema": { "type": "string" } },
                "text/csv": { "schema": { "type": "string" } }
            } },
            "responses": admin_errors(with_body_errors(json!({
                "200": json_response("the import report", json!({
                    "type": "object",
                    "required": ["created", "updated", "rejected", "consents_kept_withdrawn"],
                    "properties": {
                        "created": { "type": "integer", "minimum": 0 },
                        "updated": { "type": "integer", "minimum": 0 },
                        "rejected": { "type": "array", "items": { "type": "object", "required": ["line", "reason"], "properties": { "line": { "type": "integer" }, "reason": { "type": "string" } } } },
                        "consents_kept_withdrawn": { "type": "array", "items": { "type": "object", "required": ["line", "purpose"], "properties": { "line": { "type": "integer" }, "purpose": { "type": "string" } } } }
                    }
                }))
            })))
        })
    }
}
