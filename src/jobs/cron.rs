//! Scheduled work: every run sweeps undelivered outbox messages back onto the queue.

use chrono::Duration;
use worker::Env;

use crate::config::Config;
use crate::domain::time;
use crate::error::AppResult;
use crate::jobs::{enqueue_all, message::Job};
use crate::store::{self, outbox};

/// Messages younger than this are still in the queue's hands.
const STRAGGLER_AGE_MINUTES: i64 = 5;
const SWEEP_LIMIT: u32 = 500;

pub async fn run(env: &Env, cron: &str) {
    if let Err(e) = sweep_outbox(env).await {
        worker::console_error!("cron {cron}: outbox sweep failed: {e:?}");
    }
}

/// Re-enqueues unsent messages whose backoff has elapsed (e.g. ones that exhausted their queue
/// retries and went to the dead-letter queue), so no email is lost while the webhook is down.
pub async fn sweep_outbox(env: &Env) -> AppResult<usize> {
    let config = Config::from_env(env)?;
    if config.email_webhook_url.is_none() {
        return Ok(0);
    }
    let db = store::database(env)?;
    let now = time::now();
    let ids = outbox::stragglers(
        &db,
        &time::format(now),
        &time::format(now - Duration::minutes(STRAGGLER_AGE_MINUTES)),
        SWEEP_LIMIT,
    )
    .await?;
    let count = ids.len();
    enqueue_all(
        env,
        ids.into_iter().map(|id| Job::DeliverEmail { id }).collect(),
    )
    .await?;
    Ok(count)
}
