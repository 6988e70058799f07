//! Caps on emails per mailbox, so no form or sign-in page can be turned into a way to flood
//! someone's inbox.

use chrono::{DateTime, Duration, Timelike, Utc};
use worker::D1Database;

use crate::domain::time;
use crate::error::AppResult;
use crate::store::{outbox, rate};

/// Whether one more email of `kind` may go to the mailbox behind `mailbox_hash`: fewer than
/// `limit` in the last 24 hours, counted in the outbox (a rolling window), and fewer than
/// `limit` claimed since the start of the UTC day, counted atomically (simultaneous requests
/// would all pass the count before any of them wrote; the counter lets only `limit` through).
/// At worst `2 × limit` straddle midnight.
pub async fn mailbox_may_receive(
    db: &D1Database,
    mailbox_hash: &str,
    kind: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let day_ago = time::format(now - Duration::hours(24));
    if outbox::count_to_mailbox_since(db, mailbox_hash, kind, &day_ago).await? >= limit {
        return Ok(false);
    }
    let day_start = now
        .with_hour(0)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let claimed = rate::hit(
        db,
        &format!("mailbox:{kind}:{mailbox_hash}"),
        &time::format(day_start),
    )
    .await?;
    Ok(claimed <= limit)
}
