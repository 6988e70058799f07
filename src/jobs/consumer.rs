//! The queue consumer: decodes each message, runs its job, and acks or retries it alone.
//! It never returns an error (that would panic the isolate and redeliver the whole batch).

use wasm_bindgen::JsValue;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use crate::jobs::delivery::{self, Outcome};
use crate::jobs::message::{decode, Job};
use crate::jobs::segments;
use crate::store;

/// Delay before retrying a job that failed unexpectedly (D1 hiccup, missing binding).
const ERROR_RETRY_SECS: u32 = 5;

pub async fn consume(batch: MessageBatch<JsValue>, env: Env) {
    let metered = env.var("D1_ROW_METER").is_ok_and(|v| v.to_string() == "on");
    store::set_row_meter(metered);
    // Contact changes are evaluated together: one load of facts and segments for the batch.
    let mut changed = Vec::new();
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
        if let Job::ContactChanged { id } = job {
            changed.push((id, message));
            continue;
        }
        match run(&env, &job).await {
            Ok(Outcome::Done) => message.ack(),
            Ok(Outcome::RetryIn(secs)) => retry(&message, secs),
            Err(e) => {
                worker::console_error!("queue: job {} failed: {e:?}", message.id());
                retry(&message, ERROR_RETRY_SECS);
            }
        }
    }
    if changed.is_empty() {
        return;
    }
    let ids: Vec<String> = changed.iter().map(|(id, _)| id.clone()).collect();
    let (read_before, written_before) = store::rows_metered();
    match segments::contacts_changed(&env, &ids).await {
        Ok(()) => {
            changed.iter().for_each(|(_, m)| m.ack());
            if metered {
                // `make bench` reads D1 rows per incremental update from this line.
                let (read, written) = store::rows_metered();
                worker::console_log!(
                    "d1-rows contacts_changed contacts={} read={} written={}",
                    ids.len(),
                    read - read_before,
                    written - written_before
                );
            }
        }
        Err(e) => {
            worker::console_error!(
                "queue: segment update for {} contacts failed: {e:?}",
                ids.len()
            );
            changed.iter().for_each(|(_, m)| retry(m, ERROR_RETRY_SECS));
        }
    }
}

async fn run(env: &Env, job: &Job) -> crate::error::AppResult<Outcome> {
    match job {
        Job::DeliverEmail { id } => delivery::deliver_email(env, id).await,
        Job::SegmentRebuild {
            id,
            version,
            cursor,
        } => segments::rebuild_chunk(env, id, *version, cursor).await,
        // Batched in `consume`.
        Job::ContactChanged { id } => {
            segments::contacts_changed(env, std::slice::from_ref(id)).await?;
            Ok(Outcome::Done)
        }
    }
}

fn retry(message: &impl MessageExt, secs: u32) {
    message.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(secs)
            .build(),
    );
}
