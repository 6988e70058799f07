//! What a person can read about themselves beyond the contact row: orders, survey answers,
//! segment memberships; and the self-service writes to the contact row.

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

use crate::error::AppResult;
use crate::store::{all, first, statement, Arg};

#[derive(Debug, Deserialize, Serialize)]
pub struct OrderRow {
    pub external_id: String,
    pub total_cents: f64,
    pub currency: String,
    pub placed_at: String,
    pub items: String,
}

pub async fn orders(db: &D1Database, contact_id: &str) -> AppResult<Vec<OrderRow>> {
    all(
        db,
        "SELECT external_id, total_cents, currency, placed_at, items FROM orders WHERE contact_id = ?1 ORDER BY placed_at",
        &[Arg::Text(contact_id)],
    )
    .await
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ResponseRow {
    pub survey_id: String,
    pub answers: String,
    pub created_at: String,
}

pub async fn survey_responses(db: &D1Database, contact_id: &str) -> AppResult<Vec<ResponseRow>> {
    all(
        db,
        "SELECT survey_id, answers, created_at FROM survey_responses WHERE contact_id = ?1 ORDER BY created_at",
        &[Arg::Text(contact_id)],
    )
    .await
}

#[derive(Debug, Deserialize)]
struct NameRow {
    name: String,
}

pub async fn segment_names(db: &D1Database, contact_id: &str) -> AppResult<Vec<String>> {
    let rows: Vec<NameRow> = all(
        db,
        "SELECT s.name FROM segment_members m JOIN segments s ON s.id = m.segment_id \
         WHERE m.contact_id = ?1 AND s.deleted_at IS NULL ORDER BY s.name",
        &[Arg::Text(contact_id)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Sets one whitelisted column. `column` comes from `domain::contact::EDITABLE`, never from input.
pub fn set_column_statement(
    db: &D1Database,
    id: &str,
    column: &'static str,
    value: Option<&str>,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        &format!("UPDATE contacts SET {column} = ?2, updated_at = ?3, last_activity_at = ?3, data_confirmed_at = ?3 WHERE id = ?1"),
        &[Arg::Text(id), Arg::OptText(value), Arg::Text(at)],
    )
}

/// Status follows the marketing consent: withdrawn → `unsubscribed`, granted again → `active`.
/// A pending contact stays pending: only its confirmation activates it.
pub fn marketing_status_statement(
    db: &D1Database,
    id: &str,
    granted: bool,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let (from, to) = if granted {
        ("unsubscribed", "active")
    } else {
        ("active", "unsubscribed")
    };
    statement(
        db,
        "UPDATE contacts SET status = ?3, updated_at = ?4, last_activity_at = ?4 WHERE id = ?1 AND status = ?2",
        &[Arg::Text(id), Arg::Text(from), Arg::Text(to), Arg::Text(at)],
    )
}

/// Pending contacts older than `created_before` with no confirmation: retention.
pub async fn expired_pending(
    db: &D1Database,
    created_before: &str,
    limit: u32,
) -> AppResult<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        email_hash: String,
    }
    let rows: Vec<Row> = all(
        db,
        "SELECT id, email_hash FROM contacts WHERE status = 'pending' AND confirmed_at IS NULL AND created_at < ?1 LIMIT ?2",
        &[Arg::Text(created_before), Arg::Int(limit as i64)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.email_hash)).collect())
}

/// A contact's derived facts, as segments see them.
#[derive(Debug, Deserialize, Serialize)]
pub struct StatsRow {
    pub order_count: f64,
    pub total_spent_cents: f64,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
    pub last_nps: Option<f64>,
    pub nps_category: Option<String>,
    pub avg_csat: Option<f64>,
    pub csat_count: f64,
    pub temperature: String,
    pub rfm_r: Option<f64>,
    pub rfm_f: Option<f64>,
    pub rfm_m: Option<f64>,
    pub rfm_segment: Option<String>,
}

pub async fn stats(db: &D1Database, contact_id: &str) -> AppResult<Option<StatsRow>> {
    first(
        db,
        "SELECT order_count, total_spent_cents, first_order_at, last_order_at, last_nps, nps_category, \
           avg_csat, csat_count, temperature, rfm_r, rfm_f, rfm_m, rfm_segment FROM contact_stats WHERE contact_id = ?1",
        &[Arg::Text(contact_id)],
    )
    .await
}
