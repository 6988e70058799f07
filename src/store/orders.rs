//! `orders` and the purchase facts of `contact_stats` derived from them.

use crate::store::Db;
use serde::Deserialize;
use worker::D1PreparedStatement;

use crate::error::AppResult;
use crate::store::{statement, Arg};

/// The stored orders among some external ids and who bought them, for
/// [`crate::store::Reads::add_in`]: rows decode as [`StoredOrder`].
pub const STORED_BY_EXTERNAL_IDS_SQL: &str =
    "SELECT external_id, contact_id FROM orders WHERE external_id IN ({})";

#[derive(Debug, Deserialize)]
pub struct StoredOrder {
    pub external_id: String,
    /// None once its buyer erased their data.
    pub contact_id: Option<String>,
}

pub struct OrderWrite<'a> {
    pub id: &'a str,
    pub external_id: &'a str,
    /// `None` for a buyer who erased their data: the sale counts, the person is not kept.
    pub contact_id: Option<&'a str>,
    pub total_cents: i64,
    pub currency: &'a str,
    pub placed_at: &'a str,
    pub items_json: &'a str,
    pub at: &'a str,
}

pub fn insert_statement(db: &Db, o: &OrderWrite<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO orders (id, external_id, contact_id, total_cents, currency, placed_at, items, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        &[
            Arg::Text(o.id),
            Arg::Text(o.external_id),
            Arg::OptText(o.contact_id),
            Arg::Int(o.total_cents),
            Arg::Text(o.currency),
            Arg::Text(o.placed_at),
            Arg::Text(o.items_json),
            Arg::Text(o.at),
        ],
    )
}

/// A resent order replaces its amounts and items; the buyer it was first linked to stays.
pub fn update_statement(db: &Db, o: &OrderWrite<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE orders SET total_cents = ?2, currency = ?3, placed_at = ?4, items = ?5, updated_at = ?6 \
         WHERE external_id = ?1",
        &[
            Arg::Text(o.external_id),
            Arg::Int(o.total_cents),
            Arg::Text(o.currency),
            Arg::Text(o.placed_at),
            Arg::Text(o.items_json),
            Arg::Text(o.at),
        ],
    )
}

/// Recomputes a contact's purchase facts from their orders. Run after the order writes in the
/// same batch, it is exact whatever mix of new, resent and changed orders the batch carried.
/// The sum is taken as `TOTAL` (never an integer overflow, which would fail the whole batch) and
/// capped at 2^53 - 1, the largest integer the Worker reads exactly: an `orders` key sending
/// hundreds of maximum-value orders must not make the person's data unreadable. `temperature`
/// is written with the facts when the caller knows it (a buyer created now, active now); else
/// the row keeps its own, for the queued refresh to recompute.
pub fn refresh_stats_statement(
    db: &Db,
    contact_id: &str,
    at: &str,
    temperature: Option<&str>,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO contact_stats (contact_id, order_count, total_spent_cents, first_order_at, last_order_at, temperature, updated_at) \
         SELECT ?1, COUNT(*), CAST(MIN(TOTAL(total_cents), 9007199254740991) AS INTEGER), MIN(placed_at), MAX(placed_at), \
           COALESCE(?3, 'cold'), ?2 \
         FROM orders WHERE contact_id = ?1 \
         ON CONFLICT (contact_id) DO UPDATE SET order_count = excluded.order_count, \
           total_spent_cents = excluded.total_spent_cents, first_order_at = excluded.first_order_at, \
           last_order_at = excluded.last_order_at, updated_at = excluded.updated_at, \
           temperature = COALESCE(?3, contact_stats.temperature)",
        &[Arg::Text(contact_id), Arg::Text(at), Arg::OptText(temperature)],
    )
}

/// A purchase is activity: `last_activity_at` moves to the latest order time.
pub fn touch_activity_statement(
    db: &Db,
    contact_id: &str,
    placed_at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET last_activity_at = ?2 \
         WHERE id = ?1 AND (last_activity_at IS NULL OR last_activity_at < ?2)",
        &[Arg::Text(contact_id), Arg::Text(placed_at)],
    )
}
