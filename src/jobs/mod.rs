//! Background work: the versioned queue messages, their consumer, and the cron tasks.

pub mod consumer;
pub mod cron;
pub mod daily;
pub mod delivery;
pub mod faults;
pub mod message;
pub mod segments;

use worker::Env;

use crate::error::{AppError, AppResult};
use message::{Envelope, Job};

/// Puts a job on the `JOBS` queue.
pub async fn enqueue(env: &Env, job: Job) -> AppResult<()> {
    let queue = env
        .queue("JOBS")
        .map_err(|_| AppError::Misconfigured("queue binding JOBS"))?;
    queue
        .send(Envelope::v1(job).to_json()?)
        .await
        .map_err(|e| AppError::internal("queue send", e))
}

/// Cloudflare Queues takes at most 100 messages per `sendBatch`.
const MESSAGES_PER_SEND: usize = 100;

/// Puts several jobs on the queue, as few calls as the batch limit allows.
pub async fn enqueue_all(env: &Env, jobs: Vec<Job>) -> AppResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let queue = env
        .queue("JOBS")
        .map_err(|_| AppError::Misconfigured("queue binding JOBS"))?;
    let bodies = jobs
        .into_iter()
        .map(|job| Envelope::v1(job).to_json().map_err(AppError::from))
        .collect::<AppResult<Vec<String>>>()?;
    for chunk in bodies.chunks(crate::config::chunk_rows(env, MESSAGES_PER_SEND)) {
        let batch = worker::BatchMessageBuilder::new()
            .messages(chunk.to_vec())
            .build();
        queue
            .send_batch(batch)
            .await
            .map_err(|e| AppError::internal("queue send", e))?;
    }
    Ok(())
}
