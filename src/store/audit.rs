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

/// Entries at or after `since`, oldest first: by primary key, as ids are UUID v7 and sort by
/// time (an index on `at` would cost every audited write one more row).
pub async fn since(db: &Db, since: &str, limit: u32) -> AppResult<Vec<AuditEntry>> {
    // A second of slack: an entry's id and its `at` are read from the clock one after the other.
    let from = time::parse(since)
        .map(|t| first_id_at(t.timestamp_millis() - 1000))
        .unwrap_or_default();
    all(
        db,
        "SELECT id, at, actor, action, subject FROM audit_log WHERE id >= ?1 AND at >= ?2 \
         ORDER BY id LIMIT ?3",
        &[
            Arg::Text(&from),
            Arg::Text(since),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

/// The smallest UUID v7 of millisecond `ms`: its first 48 bits are the time, in hex.
fn first_id_at(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1);
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_id_of_a_millisecond_sorts_before_every_id_made_in_it_and_after_earlier_ones() {
        let now = uuid::Uuid::now_v7().to_string();
        let ms = i64::from_str_radix(&now[..8], 16).unwrap() << 16
            | i64::from_str_radix(&now[9..13], 16).unwrap();
        assert!(first_id_at(ms).as_str() <= now.as_str());
        assert!(first_id_at(ms + 1).as_str() > now.as_str());
    }
}
