//! `dead_letters`: queue messages that exhausted their retries, kept for operators to inspect.

use crate::store::Db;
use serde::{Deserialize, Serialize};

use crate::error::AppResult;
use crate::store::{all, batch, statement, Arg};

#[derive(Debug, Deserialize, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub queue: String,
    pub job: Option<String>,
    pub body: String,
    pub received_at: String,
}

/// Keeps dead letters in one batch; a message the dead-letter queue delivers again is kept once.
pub async fn keep(db: &Db, letters: &[DeadLetter]) -> AppResult<()> {
    let statements = letters
        .iter()
        .map(|letter| {
            statement(
                db,
                "INSERT OR IGNORE INTO dead_letters (message_id, queue, job, body, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    Arg::Text(&letter.message_id),
                    Arg::Text(&letter.queue),
                    Arg::OptText(letter.job.as_deref()),
                    Arg::Text(&letter.body),
                    Arg::Text(&letter.received_at),
                ],
            )
        })
        .collect::<AppResult<Vec<_>>>()?;
    batch(db, statements).await
}

/// Dead letters received at or after `since`, oldest first.
pub async fn since(db: &Db, since: &str, limit: u32) -> AppResult<Vec<DeadLetter>> {
    all(
        db,
        "SELECT message_id, queue, job, body, received_at FROM dead_letters \
         WHERE received_at >= ?1 ORDER BY received_at, message_id LIMIT ?2",
        &[Arg::Text(since), Arg::Int(i64::from(limit))],
    )
    .await
}

/// Up to `limit` dead letters received before `before`, forgotten (index
/// `dead_letters_received`).
pub fn purge_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM dead_letters WHERE rowid IN \
           (SELECT rowid FROM dead_letters WHERE received_at < ?1 LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}
