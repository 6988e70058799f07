//! `consent_events` (append-only proof) and `consents` (current state per purpose).

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::consent::{self, ConsentMethod, Frequency, PROFILING};
use crate::error::AppResult;
use crate::store::{all, all_in, first, js_int, statement, Arg};

pub struct ConsentEvent<'a> {
    pub contact_id: &'a str,
    pub purpose: &'a str,
    pub granted: bool,
    pub policy_version: Option<&'a str>,
    pub notice_text_hash: Option<&'a str>,
    pub source: &'a str,
    pub method: ConsentMethod,
    pub ip_hash: Option<&'a str>,
    /// The raw `User-Agent`; the event stores its hash ([`consent::user_agent_hash`]).
    pub user_agent: Option<&'a str>,
    pub at: &'a str,
    /// How often, for a grant of a purpose that offers a choice; a grant without one keeps the
    /// choice on record.
    pub frequency: Option<Frequency>,
}

/// The event and the new current state, to go in the caller's batch together.
pub fn record_statements(db: &Db, e: &ConsentEvent<'_>) -> AppResult<Vec<D1PreparedStatement>> {
    let id = uuid::Uuid::now_v7().to_string();
    let agent = e.user_agent.map(consent::user_agent_hash);
    let action = if e.granted { "granted" } else { "withdrawn" };
    let event = statement(
        db,
        "INSERT INTO consent_events (id, contact_id, purpose, action, policy_version, notice_text_hash, source, method, ip_hash, user_agent, at, frequency) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &[
            Arg::Text(&id),
            Arg::Text(e.contact_id),
            Arg::Text(e.purpose),
            Arg::Text(action),
            Arg::OptText(e.policy_version),
            Arg::OptText(e.notice_text_hash),
            Arg::Text(e.source),
            Arg::Text(e.method.as_str()),
            Arg::OptText(e.ip_hash),
            Arg::OptText(agent.as_deref()),
            Arg::Text(e.at),
            Arg::OptText(e.frequency.map(Frequency::as_str)),
        ],
    )?;
    let current = statement(
        db,
        "INSERT INTO consents (contact_id, purpose, granted, policy_version, updated_at, frequency) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (contact_id, purpose) DO UPDATE SET granted = excluded.granted, \
           policy_version = COALESCE(excluded.policy_version, consents.policy_version), \
           updated_at = MAX(consents.updated_at, excluded.updated_at), \
           frequency = COALESCE(excluded.frequency, consents.frequency)",
        &[
            Arg::Text(e.contact_id),
            Arg::Text(e.purpose),
            Arg::Int(i64::from(e.granted)),
            Arg::OptText(e.policy_version),
            Arg::Text(e.at),
            Arg::OptText(e.frequency.map(Frequency::as_str)),
        ],
    )?;
    Ok(vec![event, current])
}

/// `granted` is stored as 0 or 1 (a CHECK holds it so).
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(js_int::int(d)? == 1)
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CurrentConsent {
    pub purpose: String,
    #[serde(deserialize_with = "flag")]
    pub granted: bool,
    pub policy_version: Option<String>,
    pub updated_at: String,
    /// The chosen frequency, if one was ever chosen.
    pub frequency: Option<String>,
    /// When this period's re-permission email went out (see `domain::consent::lifecycle_step`).
    pub repermission_sent_at: Option<String>,
}

pub async fn current(db: &Db, contact_id: &str) -> AppResult<Vec<CurrentConsent>> {
    all(
        db,
        "SELECT purpose, granted, policy_version, updated_at, frequency, repermission_sent_at \
         FROM consents WHERE contact_id = ?1 ORDER BY purpose",
        &[Arg::Text(contact_id)],
    )
    .await
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ConsentEventRow {
    pub purpose: String,
    pub action: String,
    pub frequency: Option<String>,
    pub policy_version: Option<String>,
    pub notice_text_hash: Option<String>,
    pub source: String,
    pub method: String,
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
    pub at: String,
}

pub async fn history(db: &Db, contact_id: &str) -> AppResult<Vec<ConsentEventRow>> {
    all(
        db,
        "SELECT purpose, action, frequency, policy_version, notice_text_hash, source, method, ip_hash, user_agent, at \
         FROM consent_events WHERE contact_id = ?1 ORDER BY at, id",
        &[Arg::Text(contact_id)],
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct Withdrawal {
    pub contact_id: String,
    pub purpose: String,
}

/// The purposes these contacts have withdrawn (at most [`crate::store::LOOKUP_CHUNK`] ids per call).
pub async fn withdrawn_among(db: &Db, contact_ids: &[&str]) -> AppResult<Vec<Withdrawal>> {
    all_in(
        db,
        "SELECT contact_id, purpose FROM consents WHERE granted = 0 AND contact_id IN ({})",
        contact_ids,
    )
    .await
}

/// Up to `limit` events of the minimal proof kept after erasure whose decision is older than
/// `before`: it goes once the limitation period has passed (index `consent_events_erased_at`).
pub fn purge_erased_proof_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM consent_events WHERE (contact_id, at, id) IN (SELECT contact_id, at, id \
           FROM consent_events WHERE email_hash IS NOT NULL AND at < ?1 LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}

#[derive(Deserialize)]
struct Found {
    #[allow(dead_code)]
    #[serde(deserialize_with = "js_int::int")]
    found: i64,
}

/// Whether the person ever granted `purpose` where it was offered with its notice (a form, a
/// confirmation, an import's stated basis, an earlier self-service grant).
pub async fn ever_granted(db: &Db, contact_id: &str, purpose: &str) -> AppResult<bool> {
    let row: Option<Found> = first(
        db,
        "SELECT 1 AS found FROM consent_events WHERE contact_id = ?1 AND purpose = ?2 AND action = 'granted' LIMIT 1",
        &[Arg::Text(contact_id), Arg::Text(purpose)],
    )
    .await?;
    Ok(row.is_some())
}

/// An objection to profiling carried by the person's own request with `Sec-GPC: 1`, recorded
/// only while nothing is on record for `profiling`: an explicit choice in the preference center
/// (either way) is the person's word and a browser signal does not overturn it. Three
/// statements for the caller's batch, in this order (each reads the state before the last).
pub fn gpc_objection_statements(
    db: &Db,
    contact_id: &str,
    ip_hash: Option<&str>,
    user_agent: Option<&str>,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    let id = uuid::Uuid::now_v7().to_string();
    let agent = user_agent.map(consent::user_agent_hash);
    let unrecorded = "NOT EXISTS (SELECT 1 FROM consents WHERE contact_id = ?1 AND purpose = ?2)";
    Ok(vec![
        statement(
            db,
            &format!(
                "INSERT INTO events (type, at, contact_id, detail) \
                 SELECT 'contact.consent_changed', ?3, ?1, \
                   json_object('purpose', ?2, 'granted', json('false'), 'by', 'gpc') WHERE {unrecorded}"
            ),
            &[Arg::Text(contact_id), Arg::Text(PROFILING), Arg::Text(at)],
        )?,
        statement(
            db,
            &format!(
                "INSERT INTO consent_events (id, contact_id, purpose, action, source, method, ip_hash, user_agent, at) \
                 SELECT ?3, ?1, ?2, 'withdrawn', 'gpc', 'gpc', ?4, ?5, ?6 WHERE {unrecorded}"
            ),
            &[
                Arg::Text(contact_id),
                Arg::Text(PROFILING),
                Arg::Text(&id),
                Arg::OptText(ip_hash),
                Arg::OptText(agent.as_deref()),
                Arg::Text(at),
            ],
        )?,
        statement(
            db,
            "INSERT INTO consents (contact_id, purpose, granted, updated_at) VALUES (?1, ?2, 0, ?3) \
             ON CONFLICT (contact_id, purpose) DO NOTHING",
            &[Arg::Text(contact_id), Arg::Text(PROFILING), Arg::Text(at)],
        )?,
    ])
}

/// One granted consent the lifecycle run looks at, with what decides its step.
#[derive(Debug, Deserialize)]
pub struct Lapsing {
    pub contact_id: String,
    pub purpose: String,
    pub updated_at: String,
    pub policy_version: Option<String>,
    pub repermission_sent_at: Option<String>,
    pub last_activity_at: Option<String>,
    pub status: String,
    pub email: String,
    pub locale: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    pub link_epoch: i64,
}

/// Up to `limit` granted consents of `purpose` decided before `before` (none decided later can
/// be due), after the cursor `(updated_at, contact_id)`, oldest first (index `consents_lapsing`).
pub async fn lapsing(
    db: &Db,
    purpose: &str,
    before: &str,
    after: (&str, &str),
    limit: u32,
) -> AppResult<Vec<Lapsing>> {
    all(
        db,
        "SELECT k.contact_id, k.purpose, k.updated_at, k.policy_version, k.repermission_sent_at, \
           c.last_activity_at, c.status, c.email, c.locale, c.link_epoch \
         FROM consents k JOIN contacts c ON c.id = k.contact_id \
         WHERE k.purpose = ?1 AND k.granted = 1 AND k.updated_at < ?2 \
           AND (k.updated_at, k.contact_id) > (?3, ?4) \
         ORDER BY k.updated_at, k.contact_id LIMIT ?5",
        &[
            Arg::Text(purpose),
            Arg::Text(before),
            Arg::Text(after.0),
            Arg::Text(after.1),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

/// This period's re-permission email went out at `at` (the consent itself is unchanged).
pub fn mark_asked_statement(
    db: &Db,
    contact_id: &str,
    purpose: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE consents SET repermission_sent_at = ?3 WHERE contact_id = ?1 AND purpose = ?2 AND granted = 1",
        &[Arg::Text(contact_id), Arg::Text(purpose), Arg::Text(at)],
    )
}
