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
/// Fan-out steps one call may take before handing the rest to a `WebhookFanOut` message.
const FAN_OUT_STEPS: u32 = 4;
/// How long one attempt may hold a delivery before another sender may try.
const LEASE_SECS: i64 = 60;
/// D1 calls of one fan-out step, and of one delivery (claim, record).
pub const FAN_OUT_QUERIES: u32 = 1;
pub const DELIVERY_QUERIES: u32 = 2;

/// Turns new events into deliveries and enqueues them, a few steps at most; what remains goes
/// to a `WebhookFanOut` message. Without subscriptions a step reads a handful of rows.
pub async fn fan_out(env: &Env, db: &Db) -> AppResult<()> {
    let per_step = chunk_rows(env, FAN_OUT_EVENTS) as i64;
    for _ in 0..FAN_OUT_STEPS {
        if db.budget().remaining() < FAN_OUT_QUERIES {
            break;
        }
        let (created, more) = webhooks::fan_out(db, &time::now_string(), per_step).await?;
        enqueue_all(env, created.into_iter().map(Job::from).collect()).await?;
        if !more {
            return Ok(());
        }
    }
    enqueue(env, Job::WebhookFanOut).await
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

/// One attempt at one delivery. Not due, settled or held by another sender: nothing to do
/// (whoever holds it settles it). Otherwise the post, then its outcome and the next attempt's
/// time in one write; the queue message waits the backoff and comes back.
pub async fn deliver(env: &Env, db: &Db, key: &DeliveryKey) -> AppResult<Outcome> {
    let now = time::now();
    let at = time::format(now);
    let lease = time::format(now + Duration::seconds(LEASE_SECS));
    let claimed = webhooks::claim(db, key, &at, &lease).await?;
    let Some(attempts) = claimed.attempts else {
        return Ok(Outcome::Done);
    };
    let disable_before = time::format(now - Duration::days(DISABLE_AFTER_DAYS));
    let (event, target) = match (claimed.event, claimed.target) {
        (Some(event), Some(target)) if target.live() => (event, target),
        _ => {
            let records =
                webhooks::record_statements(db, key, &Attempt::Abandoned, &at, &disable_before)?;
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
    let done = time::now_string();
    let (attempt, outcome) = match &posted {
        Ok(status) => (Attempt::Delivered { status: *status }, Outcome::Done),
        Err((status, error)) => match next_attempt_in(attempts, test_backoff(env)) {
            Some(wait) => (
                Attempt::Failed {
                    status: *status,
                    error,
                    next_at: None,
                },
                Outcome::RetryIn(wait),
            ),
            None => (
                Attempt::Failed {
                    status: *status,
                    error,
                    next_at: None,
                },
                Outcome::Done,
            ),
        },
    };
    let next_at = match outcome {
        Outcome::RetryIn(wait) => Some(time::format(
            time::now() + Duration::seconds(i64::from(wait)),
        )),
        Outcome::Done => None,
    };
    let attempt = match attempt {
        Attempt::Failed { status, error, .. } => Attempt::Failed {
            status,
            error,
            next_at: next_at.as_deref(),
        },
        other => other,
    };
    if let Attempt::Failed { error, .. } = &attempt {
        worker::console_warn!(
            "webhook {} {}: attempt {attempts} failed ({error})",
            key.webhook_id,
            event.id()
        );
    }
    let records = webhooks::record_statements(db, key, &attempt, &done, &disable_before)?;
    store::batch(db, records).await?;
    Ok(outcome)
}
