//! `SegmentPurge`: a deleted segment's membership rows, removed a bounded chunk at a time. The
//! segment itself is gone for every reader the moment it is deleted (`deleted_at`); its rows
//! are only storage, so each message removes what its share of the invocation's D1 budget
//! allows and hands the rest to a new message, instead of one statement over every member.

use worker::Env;

use crate::config::chunk_rows;
use crate::error::AppResult;
use crate::jobs::delivery::Outcome;
use crate::jobs::{enqueue, message::Job};
use crate::store::{segments, Db};

/// Membership rows per DELETE (one D1 call): small enough to hold the writer briefly.
const PURGE_ROWS: usize = 2000;
/// D1 calls one message may make, however many the batch has left: the other messages of
/// the batch need theirs.
const MAX_CALLS: u32 = 10;
/// Calls left untouched for the rest of the invocation's bookkeeping.
const RESERVE: u32 = 2;
/// Lost purges restarted per daily run.
const RESUME_LIMIT: u32 = 100;

/// Removes chunks of segment `id`'s memberships until none remain or this message's share of
/// the budget is spent, then enqueues the continuation. A message for a live segment (none is
/// ever sent) removes nothing; redelivery is harmless.
pub async fn purge_chunk(env: &Env, db: &Db, id: &str) -> AppResult<Outcome> {
    let rows = chunk_rows(env, PURGE_ROWS).max(1);
    let calls = db
        .budget()
        .remaining()
        .saturating_sub(RESERVE)
        .min(MAX_CALLS);
    for _ in 0..calls {
        let removed = segments::purge_members(db, id, rows as u32).await?;
        if removed < rows {
            return Ok(Outcome::Done);
        }
    }
    enqueue(env, Job::SegmentPurge { id: id.to_string() }).await?;
    Ok(Outcome::Done)
}

/// Starts the purge again for deleted segments whose rows are still there (the message sent at
/// deletion was lost): for the daily run. How many it started.
pub async fn resume_lost(env: &Env, db: &Db) -> AppResult<usize> {
    let ids = segments::unpurged(db, RESUME_LIMIT).await?;
    let started = ids.len();
    crate::jobs::enqueue_all(
        env,
        ids.into_iter().map(|id| Job::SegmentPurge { id }).collect(),
    )
    .await?;
    Ok(started)
}
