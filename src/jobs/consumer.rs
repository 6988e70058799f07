//! The queue consumer: decodes each message, runs its job, and acks or retries it alone.
//! It never returns an error (that would panic the isolate and redeliver the whole batch).

use wasm_bindgen::JsValue;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use crate::jobs::delivery::{self, Outcome};
use crate::jobs::message::{decode, Job};

/// Delay before retrying a job that failed unexpectedly (D1 hiccup, missing binding).
const ERROR_RETRY_SECS: u32 = 5;

pub async fn consume(batch: MessageBatch<JsValue>, env: Env) {
    for message in batch.raw_iter() {
        let raw = message.body();
        let body = raw.as_string().unwrap_or_else(|| {
            js_sys::JSON::stringify(&raw)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_default()
        });
        let job = match decode(&body) {
            Ok(job) => job,
            Err(reason) => {
                worker::console_warn!(
                    "queue: dropping undecodable message {} ({reason:?})",
                    message.id()
                );
                message.ack();
                continue;
            }
        };
        match run(&env, &job).await {
            Ok(Outcome::Done) => message.ack(),
            Ok(Outcome::RetryIn(secs)) => retry(&message, secs),
            Err(e) => {
                worker::console_error!("queue: job {} failed: {e:?}", message.id());
                retry(&message, ERROR_RETRY_SECS);
            }
        }
    }
}

async fn run(env: &Env, job: &Job) -> crate::error::AppResult<Outcome> {
    match job {
        Job::DeliverEmail { id } => delivery::deliver_email(env, id).await,
        // Segment membership is the only thing derived from contact changes, and segments
        // are not defined yet (issue 6): there is nothing to recompute.
        Job::ContactChanged { .. } => Ok(Outcome::Done),
    }
}

fn retry(message: &impl MessageExt, secs: u32) {
    message.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(secs)
            .build(),
    );
}
