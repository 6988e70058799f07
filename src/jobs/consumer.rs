//! The queue consumer: decodes each message, runs its job, and acks or retries it alone.
//! It never returns an error (that would panic the isolate and redeliver the whole batch).
//! Messages arriving from the dead-letter queue, and messages no job can be read from, are kept
//! in `dead_letters` for operators instead of vanishing.

use wasm_bindgen::JsValue;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::domain::time;
use crate::jobs::delivery::{self, Outcome};
use crate::jobs::export;
use crate::jobs::faults::BatchFaults;
use crate::jobs::message::{decode, Job, CONTACT_CHANGES_QUERIES, DELIVERY_QUERIES};
use crate::jobs::{backup, daily};
use crate::jobs::{segment_purge, segments, webhooks};
use crate::store::{self, dead_letters, dead_letters::DeadLetter, Db};

/// Delay before retrying a job that failed unexpectedly (D1 hiccup, missing binding).
const ERROR_RETRY_SECS: u32 = 5;

/// Queues whose name ends so are dead-letter queues (`clientela-jobs-dlq` in wrangler.toml).
const DEAD_LETTER_SUFFIX: &str = "-dlq";

/// What becomes of one message once its batch is worked.
#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack,
    RetryIn(u32),
}

pub async fn consume(batch: MessageBatch<JsValue>, env: Env) {
    let metered = env.var("D1_ROW_METER").is_ok_and(|v| v.to_string() == "on");
    store::set_row_meter(metered);
    let queue = batch.queue();
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    // One budget for the whole batch: Cloudflare counts a queue batch as one invocation.
    let budget = store::budget(&env, &format!("queue {queue}"));
    let db = match Db::open(&env, &budget) {
        Ok(db) => db,
        Err(e) => {
            worker::console_error!("queue: no database: {e:?}");
            messages.iter().for_each(|m| retry(m, ERROR_RETRY_SECS));
            return;
        }
    };
    if queue.ends_with(DEAD_LETTER_SUFFIX) {
        let refs: Vec<&RawMessage> = messages.iter().collect();
        match keep_dead_letters(&db, &queue, &refs).await {
            Ok(()) => messages.iter().for_each(|m| m.ack()),
            Err(e) => {
                worker::console_error!("queue: keeping dead letters failed: {e:?}");
                messages.iter().for_each(|m| retry(m, ERROR_RETRY_SECS));
            }
        }
        return;
    }
    let mut faults = BatchFaults::for_batch(&env).await;
    let worked = faults
        .crash_after()
        .map_or(messages.len(), |k| k.min(messages.len()));
    let mut settles = Vec::with_capacity(worked);
    let decoded: Vec<_> = messages
        .iter()
        .take(worked)
        .map(|m| decode(&body_text(m)))
        .collect();
    // Contact changes are evaluated together at the end: one load of facts and segments for
    // the batch, whose queries are kept aside from the start.
    let mut changed: Vec<(usize, String)> = Vec::new();
    // Emails likewise: one claim and one write of outcomes for all of the batch's deliveries.
    let mut deliveries: Vec<(usize, String)> = Vec::new();
    let has = |f: fn(&Job) -> bool| decoded.iter().any(|job| job.as_ref().is_ok_and(f));
    let reserve = if has(|j| matches!(j, Job::ContactChanged { .. })) {
        CONTACT_CHANGES_QUERIES
    } else {
        0
    } + if has(|j| matches!(j, Job::DeliverEmail { .. })) {
        DELIVERY_QUERIES
    } else {
        0
    };
    // Messages the invocation has no queries left for go back on the queue as new messages
    // (a retry would count against their attempts and could send them to the dead letters).
    let mut deferred: Vec<(usize, Job)> = Vec::new();
    for ((index, message), job) in messages.iter().take(worked).enumerate().zip(decoded) {
        let job = match job {
            Ok(job) => job,
            Err(reason) => {
                worker::console_warn!(
                    "queue: message {} holds no job ({reason:?}); kept as a dead letter",
                    message.id()
                );
                settles.push(match keep_dead_letters(&db, &queue, &[message]).await {
                    Ok(()) => Settle::Ack,
                    Err(_) => Settle::RetryIn(ERROR_RETRY_SECS),
                });
                continue;
            }
        };
        if faults.is_poison(&message.id(), job.kind()).await {
            settles.push(Settle::RetryIn(0));
            continue;
        }
        budget.set_path(&format!("queue {queue} {}", job.kind()));
        if budget.remaining() < job.queries_needed() + reserve {
            deferred.push((index, job));
            settles.push(Settle::Ack);
            continue;
        }
        settles.push(match job {
            Job::ContactChanged { id } => {
                changed.push((index, id));
                Settle::Ack
            }
            Job::DeliverEmail { id } => {
                deliveries.push((index, id));
                Settle::Ack
            }
            job => match metered_run(&env, &db, &job).await {
                Ok(Outcome::Done) => Settle::Ack,
                Ok(Outcome::RetryIn(secs)) => Settle::RetryIn(secs),
                Err(e) => {
                    worker::console_error!("queue: job {} failed: {e:?}", message.id());
                    Settle::RetryIn(ERROR_RETRY_SECS)
                }
            },
        });
    }
    if !deferred.is_empty() {
        worker::console_log!(
            "queue {queue}: {} messages deferred to the next invocation (D1 budget spent)",
            deferred.len()
        );
        let jobs = deferred.iter().map(|(_, job)| job.clone()).collect();
        if let Err(e) = crate::jobs::enqueue_all(&env, jobs).await {
            worker::console_error!("queue: deferring messages failed: {e:?}");
            deferred
                .iter()
                .for_each(|(index, _)| settles[*index] = Settle::RetryIn(0));
        }
    }
    for (index, settle) in deliver(&env, &db, &deliveries).await {
        settles[index] = settle;
    }
    if !changed.is_empty() && !contacts_changed(&env, &db, &changed).await {
        changed
            .iter()
            .for_each(|(index, _)| settles[*index] = Settle::RetryIn(ERROR_RETRY_SECS));
    }
    if faults.crash_after().is_some() {
        // The injected crash: the work above is done but nothing was acked, so the queue
        // redelivers the whole batch, exactly as after an isolate dying mid-batch.
        messages.iter().for_each(|m| retry(m, 0));
        return;
    }
    store::report_calls(&format!("queue {queue}"), &budget);
    for (message, settle) in messages.iter().zip(settles) {
        match settle {
            Settle::Ack => message.ack(),
            Settle::RetryIn(secs) => retry(message, secs),
        }
    }
}

/// Delivers the batch's emails together; how each message settles.
async fn deliver(env: &Env, db: &Db, deliveries: &[(usize, String)]) -> Vec<(usize, Settle)> {
    if deliveries.is_empty() {
        return Vec::new();
    }
    let ids: Vec<&str> = deliveries.iter().map(|(_, id)| id.as_str()).collect();
    let mark = store::RowMark::start(db.budget());
    let outcomes = delivery::deliver_all(env, db, &ids).await;
    mark.log(
        &format!("job deliver_email messages={}", ids.len()),
        db.budget(),
    );
    match outcomes {
        Ok(outcomes) => deliveries
            .iter()
            .zip(outcomes)
            .map(|((index, _), outcome)| {
                (
                    *index,
                    match outcome {
                        Outcome::Done => Settle::Ack,
                        Outcome::RetryIn(secs) => Settle::RetryIn(secs),
                    },
                )
            })
            .collect(),
        Err(e) => {
            worker::console_error!("queue: delivering {} emails failed: {e:?}", ids.len());
            deliveries
                .iter()
                .map(|(index, _)| (*index, Settle::RetryIn(ERROR_RETRY_SECS)))
                .collect()
        }
    }
}

/// Re-evaluates segments for the batch's changed contacts; false when it must be retried.
async fn contacts_changed(env: &Env, db: &Db, changed: &[(usize, String)]) -> bool {
    let ids: Vec<String> = changed.iter().map(|(_, id)| id.clone()).collect();
    let mark = store::RowMark::start(db.budget());
    // The batch's events (the changes that enqueued it, the memberships it moved) become
    // deliveries; a failure here retries the batch, whose second pass changes nothing twice.
    let changed_and_fanned = async {
        segments::contacts_changed(env, db, &ids).await?;
        webhooks::fan_out(env, db).await
    };
    match changed_and_fanned.await {
        Ok(()) => {
            let what = format!("contacts_changed contacts={}", ids.len());
            mark.log(&what, db.budget());
            true
        }
        Err(e) => {
            worker::console_error!(
                "queue: segment update for {} contacts failed: {e:?}",
                ids.len()
            );
            false
        }
    }
}

/// The message body as text: jobs travel as JSON strings, but a producer may send an object.
fn body_text(message: &RawMessage) -> String {
    let raw = message.body();
    raw.as_string().unwrap_or_else(|| {
        js_sys::JSON::stringify(&raw)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    })
}

async fn keep_dead_letters(
    db: &Db,
    queue: &str,
    messages: &[&RawMessage],
) -> crate::error::AppResult<()> {
    let received_at = time::now_string();
    let letters: Vec<DeadLetter> = messages
        .iter()
        .map(|message| {
            let body = body_text(message);
            let letter = DeadLetter {
                message_id: message.id(),
                queue: queue.to_string(),
                job: decode(&body).ok().map(|job| job.kind().to_string()),
                body,
                received_at: received_at.clone(),
            };
            worker::console_warn!(
                "queue: dead letter {} ({})",
                letter.message_id,
                letter.job.as_deref().unwrap_or("undecodable")
            );
            letter
        })
        .collect();
    dead_letters::keep(db, &letters).await
}

/// [`run`], and with `D1_ROW_METER=on` a `d1-rows job <kind> …` line: what one job cost,
/// which `make bench` adds to the request that caused it.
async fn metered_run(env: &Env, db: &Db, job: &Job) -> crate::error::AppResult<Outcome> {
    let mark = store::RowMark::start(db.budget());
    let outcome = run(env, db, job).await;
    mark.log(&format!("job {}", job.kind()), db.budget());
    outcome
}

async fn run(env: &Env, db: &Db, job: &Job) -> crate::error::AppResult<Outcome> {
    match job {
        // Batched in `consume`.
        Job::DeliverEmail { id } => Ok(delivery::deliver_all(env, db, &[id.as_str()])
            .await?
            .pop()
            .unwrap_or(Outcome::Done)),
        Job::SegmentRebuild {
            id,
            version,
            cursor,
        } => segments::rebuild_chunk(env, db, id, *version, cursor).await,
        Job::ExportChunk { id, chunk } => export::write_chunk(env, db, id, *chunk).await,
        Job::BackupChunk { id, chunk } => backup::write_chunk(env, db, id, *chunk).await,
        Job::SegmentPurge { id } => segment_purge::purge_chunk(env, db, id).await,
        Job::Daily { task, cursor } => daily::run_task(env, db, *task, cursor).await,
        Job::DeliverWebhook {
            webhook_id,
            event_seq,
        } => {
            let key = crate::store::webhooks::DeliveryKey {
                webhook_id: webhook_id.clone(),
                event_seq: *event_seq,
            };
            webhooks::deliver(env, db, &key).await
        }
        Job::WebhookFanOut => {
            webhooks::fan_out_backlog(env, db).await?;
            Ok(Outcome::Done)
        }
        // Batched in `consume`.
        Job::ContactChanged { id } => {
            segments::contacts_changed(env, db, std::slice::from_ref(id)).await?;
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
