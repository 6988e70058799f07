//! `queue_faults`: the test-only fault plan the consumer follows when `QUEUE_FAULTS=on`.
//! Compiled only with the `faults` cargo feature (the integration tests' bundle). The table is
//! created by the tests that arm it, never by `schema.sql`: production has none, and its build
//! has no code that reads it.

use crate::store::Db;
use serde::Deserialize;

use crate::error::AppResult;
use crate::store::{all, run, Arg};

#[derive(Debug, Deserialize)]
struct CrashRow {
    crash_after: i64,
}

/// Takes one armed crash, if any: the number of messages to work before the batch "dies".
pub async fn take_crash(db: &Db) -> AppResult<Option<usize>> {
    let rows: Vec<CrashRow> = all(
        db,
        "UPDATE queue_faults SET remaining = remaining - 1 \
         WHERE kind = 'crash' AND remaining > 0 RETURNING crash_after",
        &[],
    )
    .await?;
    Ok(rows
        .into_iter()
        .next()
        .map(|r| r.crash_after.max(0) as usize))
}

#[derive(Debug, Clone, Deserialize)]
pub struct PoisonRow {
    /// The job kind whose next message becomes the poison.
    pub job: String,
    /// The queue message chosen as the poison, once one was seen; it then fails every attempt.
    pub message_id: Option<String>,
}

pub async fn poison(db: &Db) -> AppResult<Option<PoisonRow>> {
    Ok(all(
        db,
        "SELECT job, message_id FROM queue_faults WHERE kind = 'poison'",
        &[],
    )
    .await?
    .into_iter()
    .next())
}

/// Makes `message_id` the poison unless another message already is; true when it now is.
pub async fn choose_poison(db: &Db, message_id: &str) -> AppResult<bool> {
    let changed = run(
        db,
        "UPDATE queue_faults SET message_id = ?1 WHERE kind = 'poison' AND message_id IS NULL",
        &[Arg::Text(message_id)],
    )
    .await?;
    Ok(changed == 1)
}
