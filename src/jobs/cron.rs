//! The daily cron (`wrangler.toml`'s `crons`), three steps in order; each runs even if an earlier
//! one failed, and the sweeps and deletions are bounded per run, so a backlog is worked off over
//! the following days.
//!
//! 1. Outbox sweep: unsent messages whose backoff has elapsed (lost queue jobs, dead letters) go
//!    back onto the queue, when an email webhook is configured.
//! 2. Retention (the record of processing, enforced): unconfirmed signups older than
//!    `UNCONFIRMED_RETENTION_DAYS` are erased (without a suppression) and audited; expired tokens
//!    and ones used over a week ago, old dead letters, delivered and never-delivered outbox rows,
//!    spent rate-limit windows and the consent proof of erased people past its limitation period
//!    are deleted.
//! 3. Segments: derived facts first (temperatures cool down, RFM scores are recomputed), then
//!    segments that age with the clock or read those facts, or were left `building`, are rebuilt.

use chrono::Duration;
use worker::Env;

use crate::config::{chunk_rows, Config};
use crate::domain::time;
use crate::error::AppResult;
use crate::jobs::{enqueue_all, message::Job, segments};
use crate::store::{
    self, audit, consents, dead_letters, erasure, outbox, profile, rate, tokens, Db,
};

/// Messages younger than this are still in the queue's hands.
const STRAGGLER_AGE_MINUTES: i64 = 5;
/// Messages re-enqueued per run (the rest wait for the next run), read in chunks of at most this.
const SWEEP_PER_RUN: usize = 500;
/// Unconfirmed signups erased per run (each is one batch of a few statements), in chunks.
const RETENTION_PER_RUN: usize = 200;

/// A run's work of at most `per_run` rows as (chunk size, chunks): one chunk in production, many
/// small ones when `CHUNK_ROWS` is set lower, so the tests cross every chunk boundary.
fn chunks_of(env: &Env, per_run: usize) -> (usize, usize) {
    let chunk = chunk_rows(env, per_run);
    (chunk, per_run.div_ceil(chunk))
}
/// Dead letters are kept this long for operators; their emails are swept back from the outbox.
const DEAD_LETTER_DAYS: i64 = 30;
/// Delivered outbox messages (metadata only: body and links went at delivery) are kept this long.
const DELIVERED_DAYS: i64 = 30;
/// Messages never delivered (no webhook, or one that refused them) are given up after this long:
/// every link in them has expired, and an erasure notice must not keep the address for ever.
const UNDELIVERED_DAYS: i64 = 30;
/// Minimal consent proof of erased people is kept this long after each decision (the
/// limitation period for claims about consent; the README's record of processing).
const ERASED_PROOF_DAYS: i64 = 5 * 365;

pub async fn run(env: &Env, cron: &str) {
    let budget = store::budget(env, &format!("cron {cron}"));
    let db = match Db::open(env, &budget) {
        Ok(db) => db,
        Err(e) => {
            worker::console_error!("cron {cron}: no database: {e:?}");
            return;
        }
    };
    let db = &db;
    run_tasks(env, cron, db).await;
    store::report_calls(&format!("cron {cron}"), &budget);
}

async fn run_tasks(env: &Env, cron: &str, db: &Db) {
    if let Err(e) = sweep_outbox(env, db).await {
        worker::console_error!("cron {cron}: outbox sweep failed: {e:?}");
    }
    match apply_retention(env, db).await {
        Ok(n) if n > 0 => {
            worker::console_log!("cron {cron}: retention removed {n} unconfirmed signups")
        }
        Ok(_) => {}
        Err(e) => worker::console_error!("cron {cron}: retention failed: {e:?}"),
    }
    // Derived facts first, then the segments that read them.
    if let Err(e) = segments::refresh_temperatures(db).await {
        worker::console_error!("cron {cron}: temperature refresh failed: {e:?}");
    }
    if let Err(e) = segments::recompute_rfm(env, db).await {
        worker::console_error!("cron {cron}: RFM recompute failed: {e:?}");
    }
    if let Err(e) = segments::refresh_daily(env, db).await {
        worker::console_error!("cron {cron}: segment refresh failed: {e:?}");
    }
}

/// Record of processing, enforced: unconfirmed signups older than the retention period are
/// deleted (without a suppression: they never joined), and spent or expired tokens and old dead
/// letters go too.
pub async fn apply_retention(env: &Env, db: &Db) -> AppResult<usize> {
    let config = Config::from_env(env)?;
    let now = time::now();
    let at = time::format(now);
    let cutoff = time::format(now - Duration::days(config.unconfirmed_retention_days));
    let (chunk, chunks) = chunks_of(env, RETENTION_PER_RUN);
    let mut removed = 0;
    for _ in 0..chunks {
        // Each chunk erases what it read, so the next read starts where this one ended.
        let expired = profile::expired_pending(db, &cutoff, chunk as u32).await?;
        for id in &expired {
            let mut statements = erasure::erase_statements(db, id, None, &at)?;
            statements.push(audit::record(db, "system", "contact.expire", Some(id))?);
            store::batch(db, statements).await?;
        }
        removed += expired.len();
        if expired.len() < chunk {
            break;
        }
    }
    let week_ago = time::format(now - Duration::days(7));
    store::execute(
        db,
        tokens::purge_statement(db, &at, &week_ago)?,
        "token purge",
    )
    .await?;
    let letters_before = time::format(now - Duration::days(DEAD_LETTER_DAYS));
    dead_letters::purge_before(db, &letters_before).await?;
    store::batch(
        db,
        vec![
            outbox::purge_delivered_statement(
                db,
                &time::format(now - Duration::days(DELIVERED_DAYS)),
            )?,
            outbox::purge_undelivered_statement(
                db,
                &time::format(now - Duration::days(UNDELIVERED_DAYS)),
            )?,
            // Every window is at most a day long; two days back nothing counts any more.
            rate::purge_statement(db, &time::format(now - Duration::days(2)))?,
            consents::purge_erased_proof_statement(
                db,
                &time::format(now - Duration::days(ERASED_PROOF_DAYS)),
            )?,
        ],
    )
    .await?;
    Ok(removed)
}

/// Re-enqueues unsent messages whose backoff has elapsed (e.g. ones that exhausted their queue
/// retries and went to the dead-letter queue), so no email is lost while the webhook is down.
pub async fn sweep_outbox(env: &Env, db: &Db) -> AppResult<usize> {
    let config = Config::from_env(env)?;
    if config.email_webhook_url.is_none() {
        return Ok(0);
    }
    let now = time::now();
    let (chunk, chunks) = chunks_of(env, SWEEP_PER_RUN);
    let (at, created_before) = (
        time::format(now),
        time::format(now - Duration::minutes(STRAGGLER_AGE_MINUTES)),
    );
    let mut after = String::new();
    let mut count = 0;
    for _ in 0..chunks {
        let ids = outbox::stragglers(db, &at, &created_before, &after, chunk as u32).await?;
        let Some(last) = ids.last() else { break };
        after = last.clone();
        let full = ids.len() == chunk;
        count += ids.len();
        enqueue_all(
            env,
            ids.into_iter().map(|id| Job::DeliverEmail { id }).collect(),
        )
        .await?;
        if !full {
            break;
        }
    }
    Ok(count)
}
