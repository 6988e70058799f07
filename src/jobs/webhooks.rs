//! Webhook deliveries: events become deliveries ([`fan_out`]), each posted signed, at least once,
//! on the Standard Webhooks backoff ([`deliver`]).
//!
//! The fan-out runs where events are written from the queue (after a batch's contact changes,
//! after each rebuild chunk and finished export), so a request that records an event pays for
//! no extra queue send: every such request already enqueues its contact's `ContactChanged`.
//! Deliveries are keyed by (subscription, event), so running the fan-out twice creates nothing
//! twice; a delivery's `webhook-id` is its event's id, the same on every attempt.

use chrono::Duration;
use worker::Env;

use crate::config::chunk_rows;
use crate::domain::standard_webhooks::WebhookSecret;
use crate::domain::time;
use crate::domain::webhook::{next_attempt_in, DISABLE_AFTER_DAYS};
use crate::error::AppResult;
use crate::jobs::delivery::{post_signed, Outcome};
use crate::jobs::{enqueue, enqueue_all, message::Job};
use crate::store::webhooks::{self, Attempt, DeliveryKey};
use crate::store::{self, Db};

/// Events one fan-out step turns into deliveries, per subscription.
const FAN_OUT_EVENTS: usize = 500;
/// Fan-out steps one call after a change may take before handing the rest to a
/// `WebhookFanOut` message.
const FAN_OUT_STEPS: u32 = 4;
/// Lost deliveries one `WebhookFanOut` puts back on the queue.
const RESEND_ROWS: usize = 500;
/// How long one attempt may hold a delivery before another sender may try.
const LEASE_SECS: i64 = 60;
/// A failure this long after the previous one starts a subscription's failing clock again: more
/// than the longest wait of the backoff, so one delivery's retries count as one stretch.
const QUIET_HOURS: i64 = 11;
/// D1 calls of one fan-out step, and of one delivery (claim, record).
pub const FAN_OUT_QUERIES: u32 = 1;
pub const DELIVERY_QUERIES: u32 = 2;

/// Turns new events into deliveries and enqueues them, a few steps at most (after the work that
/// wrote them); what remains goes to a `WebhookFanOut` message. Without subscriptions a step
/// reads a handful of rows.
pub async fn fan_out(env: &Env, db: &Db) -> AppResult<()> {
    fan_out_steps(env, db, FAN_OUT_STEPS).await
}

/// `WebhookFanOut`: deliveries whose message was lost go back on the queue, then as many
/// fan-out steps as the message's own invocation allows, keeping a few queries for its
/// continuation.
pub async fn fan_out_backlog(env: &Env, db: &Db) -> AppResult<()> {
    resend_due(env, db, chunk_rows(env, RESEND_ROWS) as u32).await?;
    let steps = db.budget().remaining().saturating_sub(4).max(1);
    fan_out_steps(env, db, steps).await
}

async fn fan_out_steps(env: &Env, db: &Db, steps: u32) -> AppResult<()> {
    let per_step = chunk_rows(env, FAN_OUT_EVENTS) as i64;
    for _ in 0..steps {
        if db.budget().remaining() < FAN_OUT_QUERIES {
            break;
        }
        let (created, more) = webhooks::fan_out(db, &time::now_string(), per_step).await?;
        if let Err(e) = enqueue_all(env, created.into_iter().map(Job::from).collect()).await {
            // The deliveries are written and pending: a `WebhookFanOut` sends what is due of
            // them ([`resend_due`]); failing that, the daily sweep does.
            worker::console_error!("webhooks: enqueueing deliveries failed: {e:?}");
            return enqueue(env, Job::WebhookFanOut).await;
        }
        if !more {
            return Ok(());
        }
    }
    enqueue(env, Job::WebhookFanOut).await
}

/// Pending deliveries due over a minute ago (their message lost, or never sent), back onto the
/// queue: at most `limit`, by the partial index.
pub async fn resend_due(env: &Env, db: &Db, limit: u32) -> AppResult<()> {
    let due_before = time::format(time::now() - Duration::minutes(1));
    let lost = webhooks::stragglers(db, &due_before, limit).await?;
    enqueue_all(env, lost.into_iter().map(Job::from).collect()).await
}

impl From<DeliveryKey> for Job {
    fn from(key: DeliveryKey) -> Job {
        Job::DeliverWebhook {
            webhook_id: key.webhook_id,
            event_seq: key.event_seq,
        }
    }
}

/// `WEBHOOK_RETRY_SECS`: a test-only setting that shortens every wait of the backoff.
fn test_backoff(env: &Env) -> Option<u32> {
    env.var("WEBHOOK_RETRY_SECS")
        .ok()
        .and_then(|v| v.to_string().parse::<u32>().ok())
        .filter(|s| (1..=3600).contains(s))
}

/// One attempt at one delivery. Settled: nothing to do. Pending but not due (another
/// attempt's lease, or one left by an attempt that died before recording): come back when it
/// is due. Otherwise the post, then its outcome and the next attempt's time in one write; the
/// queue message waits the backoff and comes back.
pub async fn deliver(env: &Env, db: &Db, key: &DeliveryKey) -> AppResult<Outcome> {
    let now = time::now();
    let at = time::format(now);
    let lease = time::format(now + Duration::seconds(LEASE_SECS));
    let claimed = webhooks::claim(db, key, &at, &lease).await?;
    let Some(attempts) = claimed.attempts else {
        return Ok(
            match claimed.pending_until.as_deref().and_then(time::parse) {
                Some(due) => Outcome::RetryIn((due - now).num_seconds().clamp(1, 43_200) as u32),
                None => Outcome::Done,
            },
        );
    };
    let disable_before = time::format(now - Duration::days(DISABLE_AFTER_DAYS));
    let quiet_before = time::format(now - Duration::hours(QUIET_HOURS));
    let cuts = (disable_before.as_str(), quiet_before.as_str());
    let (event, target) = match (claimed.event, claimed.target) {
        (Some(event), Some(target)) if target.live() => (event, target),
        (event, _) => {
            let why = if event.is_none() {
                "event no longer kept (erased, or past its 30 days)"
            } else {
                "subscription disabled"
            };
            let records =
                webhooks::record_statements(db, key, &Attempt::Abandoned(why), &at, cuts)?;
            store::batch(db, records).await?;
            return Ok(Outcome::Done);
        }
    };
    let (event, email) = event;
    let body = event.body(email.as_deref()).to_string();
    // A stored secret that no longer parses is a fault of ours: fail the attempt, never send
    // unsigned.
    let posted = match WebhookSecret::parse(&target.secret) {
        Ok(secret) => {
            post_signed(
                &target.url,
                Some(&secret),
                &event.id(),
                body,
                "Clientela-Webhooks/1",
            )
            .await
        }
        Err(_) => Err((None, "unreadable signing secret".to_string())),
    };
    let done = time::now();
    let done_at = time::format(done);
    // A failure waits the backoff (its time recorded with it), or ends the delivery.
    let wait = posted
        .as_ref()
        .err()
        .and_then(|_| next_attempt_in(attempts, test_backoff(env)));
    let next_at = wait.map(|w| time::format(done + Duration::seconds(i64::from(w))));
    let attempt = match &posted {
        Ok(status) => Attempt::Delivered { status: *status },
        Err((status, error)) => {
            worker::console_warn!(
                "webhook {} {}: attempt {attempts} failed ({error})",
                key.webhook_id,
                event.id()
            );
            Attempt::Failed {
                status: *status,
                error,
                next_at: next_at.as_deref(),
            }
        }
    };
    let outcome = wait.map_or(Outcome::Done, Outcome::RetryIn);
    let records = webhooks::record_statements(db, key, &attempt, &done_at, cuts)?;
    store::batch(db, records).await?;
    Ok(outcome)
}
