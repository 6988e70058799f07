//! Delivers outbox messages to `EMAIL_WEBHOOK_URL`: at least once, with backoff, never lost.
//!
//! A lease in the row (`next_attempt_at`) keeps a redelivered queue message and the sweeper
//! from sending the same email twice at once; the receiver also gets `Idempotency-Key`.

use chrono::Duration;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use crate::config::Config;
use crate::domain::outbox::{retry_delay_secs, OutboxMessage};
use crate::domain::time;
use crate::error::AppResult;
use crate::store::{outbox, outbox::Claim, Db};

/// How long one attempt may hold a message before another may try.
const LEASE_SECS: i64 = 60;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Done,
    RetryIn(u32),
}

pub async fn deliver_email(env: &Env, db: &Db, id: &str) -> AppResult<Outcome> {
    let config = Config::from_env(env)?;
    let Some(webhook) = config.email_webhook_url.as_deref() else {
        // Without a webhook the outbox is the delivery: messages wait there for the admin API.
        return Ok(Outcome::Done);
    };
    let now = time::now();
    let lease_until = time::format(now + Duration::seconds(LEASE_SECS));
    match outbox::claim(db, id, &time::format(now), &lease_until).await? {
        Claim::Settled => Ok(Outcome::Done),
        Claim::Busy { not_before } => {
            let wait = time::parse(&not_before)
                .map(|t| (t - now).num_seconds())
                .unwrap_or(LEASE_SECS);
            Ok(Outcome::RetryIn(wait.clamp(1, 3600) as u32))
        }
        Claim::Claimed { message, attempts } => match post(webhook, &message).await {
            Ok(()) => {
                outbox::mark_sent(db, id, &time::now_string()).await?;
                Ok(Outcome::Done)
            }
            Err(reason) => {
                let delay = retry_delay_secs(attempts);
                let next = time::format(time::now() + Duration::seconds(i64::from(delay)));
                worker::console_warn!(
                    "outbox {id}: attempt {attempts} failed ({reason}); retry in {delay}s"
                );
                outbox::mark_failed(db, id, &reason, &next).await?;
                Ok(Outcome::RetryIn(delay))
            }
        },
    }
}

/// POSTs the message JSON; any non-2xx answer or transport failure is a failed attempt.
async fn post(webhook: &str, message: &OutboxMessage) -> Result<(), String> {
    let body = serde_json::to_string(message).map_err(|e| format!("encode: {e}"))?;
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| format!("header: {e}"));
    set("Content-Type", "application/json")?;
    set("Idempotency-Key", &message.id)?;
    set("User-Agent", "Clientela-Outbox/1")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request =
        Request::new_with_init(webhook, &init).map_err(|_| "invalid webhook url".to_string())?;
    let response = Fetch::Request(request)
        .send()
        .await
        .map_err(|_| "transport error".to_string())?;
    match response.status_code() {
        200..=299 => Ok(()),
        status => Err(format!("http {status}")),
    }
}
