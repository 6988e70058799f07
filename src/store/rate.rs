//! `rate_counters`: fixed-window counters in D1 for limits that must hold across isolates and
//! locations (per email address), where the rate-limiting binding is per location.
//!
//! The cap lives in the row and the database enforces it (`CHECK (count <= cap)`, named
//! `rate_within_cap`): a hit past the cap fails its statement, and the D1 batch it rides in
//! rolls back whole. So a counter costs no round trip of its own: it goes first in the batch of
//! writes it guards, and a refused request leaves nothing behind, not even the count.

use crate::store::Db;
use worker::{D1PreparedStatement, D1Result};

use crate::error::{AppError, AppResult};
use crate::store::{statement, Arg};

/// What the constraint is called in the error D1 returns when a hit passes the cap.
const CAP_CONSTRAINT: &str = "rate_within_cap";

/// One hit on a counter: `key` in the window starting at `window_start`, refused past `cap`.
pub struct Hit<'a> {
    pub key: &'a str,
    pub window_start: &'a str,
    pub cap: u32,
}

/// Counts one hit; fails (and with it the batch it is part of) once the window's count would
/// pass the cap. One row per key and window: the next window starts a new row at 1.
pub fn hit_statement(db: &Db, hit: &Hit<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO rate_counters (window_start, key, count, cap) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT (window_start, key) DO UPDATE SET count = count + 1, cap = excluded.cap",
        &[
            Arg::Text(hit.window_start),
            Arg::Text(hit.key),
            Arg::Int(i64::from(hit.cap)),
        ],
    )
}

/// Whether a D1 error is a counter refusing a hit past its cap.
pub fn is_over_cap(error: &AppError) -> bool {
    matches!(error, AppError::Internal(detail) if detail.contains(CAP_CONSTRAINT))
}

/// Runs `statements` as one batch behind `hit`: all of them, or (past the cap) none, answered
/// as 429 with `retry_after_secs`. Returns the result of each of `statements`.
pub async fn guarded_batch(
    db: &Db,
    hit: &Hit<'_>,
    statements: Vec<D1PreparedStatement>,
    retry_after_secs: u32,
) -> AppResult<Vec<D1Result>> {
    let mut batch = vec![hit_statement(db, hit)?];
    batch.extend(statements);
    match crate::store::batch_results(db, batch).await {
        Ok(mut results) => {
            results.remove(0);
            Ok(results)
        }
        Err(e) if is_over_cap(&e) => Err(AppError::TooManyRequests { retry_after_secs }),
        Err(e) => Err(e),
    }
}

/// Up to `limit` counters whose window started before `before`: they count nothing any more,
/// so retention drops them (the window leads the primary key: a range of it).
pub fn purge_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM rate_counters WHERE (window_start, key) IN \
           (SELECT window_start, key FROM rate_counters WHERE window_start < ?1 LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}
