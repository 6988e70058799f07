//! Background work: the versioned queue messages, their consumer, and the cron tasks.

pub mod backup;
pub mod consumer;
pub mod cron;
pub mod daily;
pub mod delivery;
pub mod export;
pub mod faults;
pub mod message;
pub mod segment_purge;
pub mod segments;
pub mod webhooks;

use worker::Env;

use crate::error::{AppError, AppResult};
use message::{Envelope, Job};

/// Puts a job on its queue (see [`Job::queue`]).
pub async fn enqueue(env: &Env, job: Job) -> AppResult<()> {
    enqueue_all(env, vec![job]).await
}

/// Cloudflare Queues takes at most 100 messages per `sendBatch`.
const MESSAGES_PER_SEND: usize = 100;

/// Puts several jobs on their queues, as few calls as the batch limit allows.
pub async fn enqueue_all(env: &Env, jobs: Vec<Job>) -> AppResult<()> {
    for binding in [message::QueueBinding::Jobs, message::QueueBinding::Work] {
        let bodies = jobs
            .iter()
            .filter(|job| job.queue() == binding)
            .map(|job| Envelope::v1(job.clone()).to_json().map_err(AppError::from))
            .collect::<AppResult<Vec<String>>>()?;
        if bodies.is_empty() {
            continue;
        }
        let queue = env
            .queue(binding.name())
            .map_err(|_| AppError::Misconfigured(binding.misconfigured()))?;
        for chunk in bodies.chunks(crate::config::chunk_rows(env, MESSAGES_PER_SEND)) {
            let batch = worker::BatchMessageBuilder::new()
                .messages(chunk.to_vec())
                .build();
            queue
                .send_batch(batch)
                .await
                .map_err(|e| AppError::internal("queue send", e))?;
        }
    }
    Ok(())
}
