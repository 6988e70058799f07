//! `audit_log`: who changed what, when. Subjects are ids, never emails.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::time;
use crate::error::AppResult;
use crate::store::{all, statement, Arg};

#[derive(Debug, Deserialize, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
}

/// An audit insert, meant to go in the same batch as the change it records.
pub fn record(
    db: &Db,
    actor: &str,
    action: &str,
    subject: Option<&str>,
) -> AppResult<D1PreparedStatement> {
    // Bare UUID v7: ids sort by time, so (at, id) orders entries written in the same millisecond.
    let id = uuid::Uuid::now_v7().to_string();
    statement(
        db,
        "INSERT INTO audit_log (id, at, actor, action, subject) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[
            Arg::Text(&id),
            Arg::Text(&time::now_string()),
            Arg::Text(actor),
            Arg::Text(action),
            Arg::OptText(subject),
        ],
    )
}

/// Entries at or after `since`, oldest first.
pub async fn since(db: &Db, since: &str, limit: u32) -> AppResult<Vec<AuditEntry>> {
    all(
        db,
        "SELECT id, at, actor, action, subject FROM audit_log WHERE at >= ?1 ORDER BY at, id LIMIT ?2",
        &[Arg::Text(since), Arg::Int(i64::from(limit))],
    )
    .await
}
