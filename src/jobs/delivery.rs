//! Delivers outbox messages to `EMAIL_WEBHOOK_URL`: at least once, with backoff, never lost.
//!
//! A lease in the row (`next_attempt_at`) keeps a redelivered queue message and the sweeper
//! from sending the same email twice at once; the receiver also gets `Idempotency-Key`.

use chrono::Duration;
use futures_util::future::{select, Either};
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::config::Config;
use crate::domain::outbox::{retry_delay_secs, OutboxMessage};
use crate::domain::standard_webhooks::WebhookSecret;
use crate::domain::time;
use crate::error::AppResult;
use crate::store::{self, outbox, outbox::Claim, Db};

/// How long one attempt may hold a message before another may try.
const LEASE_SECS: i64 = 60;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Done,
    RetryIn(u32),
}

/// Delivers the messages `ids` (one queue batch's worth): per [`store::LOOKUP_CHUNK`] of them,
/// one claim, the posts, then one batch recording every outcome (one statement for all that
/// went out, one per failure). Returns each message's outcome, in the order of `ids`.
pub async fn deliver_all(env: &Env, db: &Db, ids: &[&str]) -> AppResult<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(store::LOOKUP_CHUNK) {
        outcomes.extend(deliver_chunk(env, db, chunk).await?);
    }
    Ok(outcomes)
}

async fn deliver_chunk(env: &Env, db: &Db, ids: &[&str]) -> AppResult<Vec<Outcome>> {
    let config = Config::from_env(env)?;
    let Some(webhook) = config.email_webhook_url.as_deref() else {
        // Without a webhook the outbox is the delivery: messages wait there for the admin API.
        return Ok(ids.iter().map(|_| Outcome::Done).collect());
    };
    let secret = config.email_webhook_secret()?;
    let secret = secret.as_ref();
    let now = time::now();
    let lease_until = time::format(now + Duration::seconds(LEASE_SECS));
    let claims = outbox::claim_all(db, ids, &time::format(now), &lease_until).await?;
    // The posts run side by side, so the last of a batch starts well within its lease.
    let posted = futures_util::future::join_all(claims.iter().map(|claim| async move {
        match claim {
            Claim::Claimed { message, .. } => Some(post(webhook, secret, message).await),
            _ => None,
        }
    }))
    .await;
    let mut outcomes = Vec::with_capacity(ids.len());
    let mut records = Vec::new();
    let mut sent: Vec<&str> = Vec::new();
    for ((id, claim), posted) in ids.iter().zip(claims).zip(posted) {
        outcomes.push(match claim {
            Claim::Settled => Outcome::Done,
            Claim::Busy { not_before } => {
                let wait = time::parse(&not_before)
                    .map(|t| (t - now).num_seconds())
                    .unwrap_or(LEASE_SECS);
                Outcome::RetryIn(wait.clamp(1, 3600) as u32)
            }
            Claim::Claimed { attempts, .. } => match posted.unwrap_or(Ok(())) {
                Ok(()) => {
                    sent.push(id);
                    Outcome::Done
                }
                Err(reason) => {
                    let delay = retry_delay_secs(attempts);
                    let next = time::format(time::now() + Duration::seconds(i64::from(delay)));
                    worker::console_warn!(
                        "outbox {id}: attempt {attempts} failed ({reason}); retry in {delay}s"
                    );
                    records.push(outbox::mark_failed_statement(db, id, &reason, &next)?);
                    Outcome::RetryIn(delay)
                }
            },
        });
    }
    if !sent.is_empty() {
        records.push(outbox::mark_sent_statement(db, &sent, &time::now_string())?);
    }
    // Should this write fail, the leases run out and the messages are tried again: a sent one
    // may go twice, which the receiver's `Idempotency-Key` absorbs.
    store::batch(db, records).await?;
    Ok(outcomes)
}

/// POSTs the message JSON; any non-2xx answer or transport failure is a failed attempt. With
/// `EMAIL_WEBHOOK_SECRET` the post is signed as Standard Webhooks describe (see [`post_signed`]).
async fn post(
    webhook: &str,
    secret: Option<&WebhookSecret>,
    message: &OutboxMessage,
) -> Result<(), String> {
    let body = serde_json::to_string(message).map_err(|e| format!("encode: {e}"))?;
    post_signed(webhook, secret, &message.id, body, "Clientela-Outbox/1")
        .await
        .map(|_| ())
        .map_err(|(_, reason)| reason)
}

/// POSTs `body` (JSON) to `url`. With a secret the post is signed as Standard Webhooks
/// describe: every attempt carries `id` as `webhook-id` and the same body, with its own
/// timestamp and signature, so a receiver verifies it with the specification's libraries and
/// drops replays; `Idempotency-Key` says the same to receivers that know only that. The 2xx
/// status, or the failure: the status when there was an answer, and why.
pub async fn post_signed(
    url: &str,
    secret: Option<&WebhookSecret>,
    id: &str,
    body: String,
    user_agent: &str,
) -> Result<u16, (Option<u16>, String)> {
    let fail = |e: String| (None, e);
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| fail(format!("header: {e}")));
    set("Content-Type", "application/json")?;
    set("Idempotency-Key", id)?;
    set("User-Agent", user_agent)?;
    if let Some(secret) = secret {
        let timestamp = time::now().timestamp();
        set("webhook-id", id)?;
        set("webhook-timestamp", &timestamp.to_string())?;
        set(
            "webhook-signature",
            &secret.sign(id, timestamp, body.as_bytes()),
        )?;
    }
    // Never followed: a redirect would carry the signed body (and any address in it) to a host
    // nobody checked, plain http included. A 3xx is a failed attempt like any other non-2xx.
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body.into()));
    let request =
        Request::new_with_init(url, &init).map_err(|_| fail("invalid webhook url".into()))?;
    // A receiver that never answers must not hold the batch it shares with others.
    let fetch = Fetch::Request(request);
    let sent = std::pin::pin!(fetch.send());
    let response = match select(sent, Delay::from(POST_TIMEOUT)).await {
        Either::Left((Ok(response), _)) => response,
        Either::Left((Err(_), _)) => return Err(fail("transport error".into())),
        Either::Right(_) => return Err(fail("no answer within 10 s".into())),
    };
    match response.status_code() {
        status @ 200..=299 => Ok(status),
        status => Err((Some(status), format!("http {status}"))),
    }
}

/// How long a post may wait for its answer.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
