//! The daily cron (`wrangler.toml`'s `crons`) only enqueues: one `Job::Daily` per task (outbox
//! sweep, retention, purges, and the chain temperatures → RFM → segment refresh), and the queue
//! works each in bounded chunks that enqueue their own continuation until done (`jobs::daily`,
//! which says what each task does). The cron itself makes no D1 call, so it cannot pass the
//! per-invocation limits however large the base, and a task that fails is retried by the queue
//! from its last chunk instead of ending the tasks after it.

use worker::Env;

use crate::jobs::{daily, enqueue_all};

pub async fn run(env: &Env, cron: &str) {
    match enqueue_all(env, daily::first_jobs()).await {
        Ok(()) => worker::console_log!("cron {cron}: daily tasks enqueued"),
        Err(e) => worker::console_error!("cron {cron}: enqueueing the daily tasks failed: {e:?}"),
    }
}
