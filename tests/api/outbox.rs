//! The outbox and its delivery to the email webhook through the queue.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::ensure;
use crate::ensure_eq;
use crate::given::{create_form, create_survey, form_body, invite, signed_up_and_confirmed};
use crate::harness::{unique_email, Auth, TestApp, TestFn};
use crate::webhook::{Delivery, TEST_SECRET};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        test_message_is_delivered_to_the_webhook_and_marked_sent,
        failing_webhook_is_retried_until_the_message_is_delivered,
        outbox_is_filtered_by_recipient,
        outbox_refuses_a_malformed_recipient_without_echoing_it,
        the_outbox_is_read_newest_first_a_page_at_a_time,
        the_relay_gets_ready_unsubscribe_headers_and_signed_posts_the_specs_library_verifies,
    ]
}

async fn queue_test_message(app: &TestApp, to: &str) -> Result<String, String> {
    let reply = app
        .post_json("/admin/v1/outbox/test", &json!({"to": to}), Auth::Admin)
        .await?
        .expect(201)?
        .json();
    ensure_eq!(
        reply["message"]["kind"],
        "test",
        "kind {}",
        reply["message"]["kind"]
    );
    reply["message"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no id".to_string())
}

async fn sent_at(app: &TestApp, to: &str) -> Result<Option<String>, String> {
    let list = app
        .get(&format!("/admin/v1/outbox?to={to}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    Ok(list["messages"][0]["sent_at"].as_str().map(str::to_string))
}

async fn test_message_is_delivered_to_the_webhook_and_marked_sent(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let to = unique_email("hook");
    let id = queue_test_message(&app, &to).await?;
    let delivery = app
        .eventually(Duration::from_secs(30), || async {
            Ok(app.webhook.deliveries_to(&to).into_iter().next())
        })
        .await?;
    ensure_eq!(
        delivery.body["id"],
        id.as_str(),
        "delivered {}",
        delivery.body
    );
    ensure!(
        delivery.body["subject"].is_string() && delivery.body["text"].is_string(),
        "incomplete message"
    );
    ensure_eq!(
        delivery.idempotency_key.as_deref(),
        Some(id.as_str()),
        "no Idempotency-Key"
    );
    app.eventually(Duration::from_secs(15), || sent_at(&app, &to))
        .await?;
    // A second delivery would come from the job run twice or retried at once.
    app.queue_caught_up().await?;
    ensure_eq!(
        app.webhook.deliveries_to(&to).len(),
        1,
        "delivered more than once"
    );
    Ok(())
}

async fn failing_webhook_is_retried_until_the_message_is_delivered(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let to = unique_email("flaky");
    let id = queue_test_message(&app, &to).await?;
    let deliveries = app
        .eventually(Duration::from_secs(60), || async {
            let d = app.webhook.deliveries_to(&to);
            Ok((d.iter().any(|x| x.answered == 200)).then_some(d))
        })
        .await?;
    let answers: Vec<u16> = deliveries.iter().map(|d| d.answered).collect();
    ensure_eq!(answers, [500, 200], "webhook answered {answers:?}");
    ensure!(
        deliveries.iter().all(|d| d.body["id"] == id.as_str()),
        "different message ids"
    );
    app.eventually(Duration::from_secs(15), || sent_at(&app, &to))
        .await?;
    Ok(())
}

async fn outbox_is_filtered_by_recipient(app: Arc<TestApp>) -> Result<(), String> {
    let (a, b) = (unique_email("alice"), unique_email("bob"));
    queue_test_message(&app, &a).await?;
    queue_test_message(&app, &b).await?;
    let upper = a.to_uppercase();
    let list = app
        .get(&format!("/admin/v1/outbox?to={upper}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    let messages = list["messages"].as_array().ok_or("no messages")?;
    ensure!(
        messages.len() == 1 && messages[0]["to"] == a.as_str(),
        "got {list}"
    );
    ensure!(messages[0]["created_at"].is_string(), "no created_at");
    Ok(())
}

async fn outbox_refuses_a_malformed_recipient_without_echoing_it(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let reply = app
        .get("/admin/v1/outbox?to=someone-private%40", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    ensure!(
        !reply.text.contains("someone-private"),
        "error echoes the input: {}",
        reply.text
    );
    let reply = app
        .post_json(
            "/admin/v1/outbox/test",
            &json!({"to": "victim@example.com\r\nBcc: all@example.com"}),
            Auth::Admin,
        )
        .await?
        .expect_error(400, "validation_failed")?;
    ensure!(
        reply.json()["error"]["fields"]["to"].is_string(),
        "did not name to"
    );
    ensure!(!reply.text.contains("victim"), "error echoes the input");
    Ok(())
}

/// Tests that write the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        a_message_whose_queue_job_was_lost_is_delivered_by_the_daily_sweep,
        a_malformed_relay_secret_shows_in_the_health_check_and_no_mail_goes_out_unsigned,
    ]
}

/// A deployment whose `EMAIL_WEBHOOK_SECRET` is not a Standard Webhooks secret says so at
/// `/healthz` (naming the setting, never echoing it), and its mail waits in the outbox rather
/// than reach the relay unsigned.
async fn a_malformed_relay_secret_shows_in_the_health_check_and_no_mail_goes_out_unsigned(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let bad = "whsec_dG9vLXNob3J0";
    let (_runtime, base) = app.redeployed(&[("EMAIL_WEBHOOK_SECRET", bad)]).await?;
    let health = app
        .send(app.client.get(format!("{base}/healthz")), Auth::None)
        .await?
        .expect_error(500, "misconfigured")?;
    ensure!(
        health.text.contains("EMAIL_WEBHOOK_SECRET") && !health.text.contains(bad),
        "health check: {}",
        health.text
    );
    let to = unique_email("unsigned");
    app.send(
        app.client
            .post(format!("{base}/admin/v1/outbox/test"))
            .json(&json!({ "to": to })),
        Auth::Admin,
    )
    .await?
    .expect(201)?;
    // Its queue tries (and retries) the delivery meanwhile; none may reach the relay.
    tokio::time::sleep(Duration::from_secs(8)).await;
    ensure_eq!(
        app.webhook.deliveries_to(&to).len(),
        0,
        "mail reached the relay unsigned"
    );
    Ok(())
}

/// "No email is lost": messages written to the outbox whose delivery job never ran (a queue
/// message lost, or dead-lettered after every retry) are handed back to the queue by the daily
/// run, more of them than one sweep chunk holds; one still backing off, and one younger than
/// the queue's own retries, are left alone.
async fn a_message_whose_queue_job_was_lost_is_delivered_by_the_daily_sweep(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let lost: Vec<String> = (0..(2 * crate::harness::CHUNK_ROWS + 1))
        .map(|_| unique_email("lost"))
        .collect();
    let backing_off = unique_email("backing-off");
    let fresh = unique_email("fresh");
    let now = chrono::Utc::now();
    let stamp = |minutes: i64| {
        (now + chrono::Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let row = |to: &str, created: &str, next: Option<&str>| {
        format!(
            "('msg_{}', '{to}', 'test', 'Lost', 'A message whose job never ran', '{created}', {})",
            to.replace(['@', '.', '-'], "_"),
            next.map_or("NULL".to_string(), |n| format!("'{n}'"))
        )
    };
    let mut rows: Vec<String> = lost.iter().map(|to| row(to, &stamp(-60), None)).collect();
    rows.push(row(&backing_off, &stamp(-60), Some(&stamp(60))));
    rows.push(row(&fresh, &stamp(0), None));
    app.sql(&format!(
        "INSERT INTO outbox (id, to_email, kind, subject, body_text, created_at, next_attempt_at) VALUES {}",
        rows.join(", ")
    ))?;
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None)
        .await?
        .expect(200)?;
    let missing = app
        .eventually(Duration::from_secs(30), || async {
            let missing: Vec<&String> = lost
                .iter()
                .filter(|to| app.webhook.deliveries_to(to).is_empty())
                .collect();
            Ok(missing.is_empty().then_some(()))
        })
        .await;
    if missing.is_err() {
        let undelivered: Vec<&String> = lost
            .iter()
            .filter(|to| app.webhook.deliveries_to(to).is_empty())
            .collect();
        return Err(format!(
            "the sweep did not deliver {} of {} lost messages",
            undelivered.len(),
            lost.len()
        ));
    }
    // The mailbox hears of a message before the Worker, back from the webhook, marks it sent.
    app.eventually(Duration::from_secs(30), || async {
        for to in &lost {
            if sent_at(&app, to).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
    .map_err(|e| format!("a swept message was delivered but not marked sent: {e}"))?;
    ensure!(
        app.webhook.deliveries_to(&backing_off).is_empty()
            && app.webhook.deliveries_to(&fresh).is_empty(),
        "the sweep took a message that was backing off or still the queue's"
    );
    // Not lost for ever: once the backoff ends, the next run delivers it.
    app.sql(&format!(
        "UPDATE outbox SET next_attempt_at = '{}' WHERE to_email = '{backing_off}'",
        stamp(-1)
    ))?;
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None)
        .await?
        .expect(200)?;
    app.eventually(Duration::from_secs(30), || async {
        Ok((!app.webhook.deliveries_to(&backing_off).is_empty()).then_some(()))
    })
    .await
    .map_err(|e| format!("the message whose backoff ended was not swept: {e}"))?;
    Ok(())
}

/// The outbox list pages by its index: `limit` messages newest first and a `next_cursor` that
/// continues exactly after the last one, for one recipient as for everyone; a cursor the
/// service did not make is a 400.
async fn the_outbox_is_read_newest_first_a_page_at_a_time(app: Arc<TestApp>) -> Result<(), String> {
    let to = unique_email("outbox-pages");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(queue_test_message(&app, &to).await?);
        // Apart in time, so the newest-first order is the order they were sent in.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ids.reverse();
    let page = |cursor: Option<String>| {
        let app = app.clone();
        let to = to.clone();
        async move {
            let path = match cursor {
                Some(c) => format!("/admin/v1/outbox?to={to}&limit=2&cursor={c}"),
                None => format!("/admin/v1/outbox?to={to}&limit=2"),
            };
            Ok::<_, String>(app.get(&path, Auth::Admin).await?.expect(200)?.json())
        }
    };
    let first = page(None).await?;
    let second = page(first["next_cursor"].as_str().map(str::to_string)).await?;
    let listed: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|p| p["messages"].as_array().into_iter().flatten())
        .filter_map(|m| m["id"].as_str())
        .collect();
    ensure_eq!(listed, ids, "pages {first} {second}");
    ensure!(
        first["next_cursor"].is_string(),
        "no cursor after a full page: {first}"
    );
    ensure!(
        second["next_cursor"].is_null(),
        "a cursor after the last page: {second}"
    );

    let everyone = app
        .get("/admin/v1/outbox?limit=1", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    let cursor = everyone["next_cursor"]
        .as_str()
        .ok_or("no cursor for everyone")?;
    let next = app
        .get(
            &format!("/admin/v1/outbox?limit=1&cursor={cursor}"),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        next["messages"][0]["id"] != everyone["messages"][0]["id"],
        "the next page repeated the first: {everyone} {next}"
    );
    app.get("/admin/v1/outbox?cursor=%00%01", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    Ok(())
}

/// [`crate::webhook::the_specs_library_verifies`] for a delivery to the mail relay.
fn the_specs_library_verifies(secret: &str, delivery: &Delivery) -> Result<bool, String> {
    crate::webhook::the_specs_library_verifies(secret, &delivery.signed, &delivery.raw)
}

/// A survey invitation reaches the relay with the headers it adds as they are (RFC 2369 and
/// RFC 8058, pointing at the link that unsubscribes in one POST), signed as Standard Webhooks
/// describe: a retry repeats the `webhook-id` and body with its own timestamp and signature,
/// each accepted by the specification's own library, and an altered body is refused by it.
async fn the_relay_gets_ready_unsubscribe_headers_and_signed_posts_the_specs_library_verifies(
    app: Arc<TestApp>,
) -> Result<(), String> {
    // `flaky-` addresses get a 500 from the relay on their first attempt.
    let email = unique_email("flaky-relay");
    let form = create_form(&app, &form_body(true)).await?;
    signed_up_and_confirmed(&app, &form, &email).await?;
    let survey = create_survey(&app).await?;
    invite(&app, &survey, json!([{ "email": email }]), true).await?;
    let attempts = app
        .eventually(Duration::from_secs(60), || async {
            let d: Vec<Delivery> = app
                .webhook
                .deliveries_to(&email)
                .into_iter()
                .filter(|d| d.body["kind"] == "survey_invitation")
                .collect();
            Ok(d.iter().any(|x| x.answered == 200).then_some(d))
        })
        .await?;
    let answers: Vec<u16> = attempts.iter().map(|d| d.answered).collect();
    ensure_eq!(answers, [500, 200], "relay answered {answers:?}");
    let (first, second) = (&attempts[0], &attempts[1]);

    let mail = &second.body;
    let unsubscribe = mail["unsubscribe_url"]
        .as_str()
        .ok_or("no unsubscribe_url")?;
    ensure_eq!(
        mail["headers"],
        json!({
            "List-Unsubscribe": format!("<{unsubscribe}>"),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }),
        "relay headers: {mail}"
    );

    let id = mail["id"].as_str().ok_or("no id")?;
    for attempt in [first, second] {
        ensure_eq!(attempt.signed[0].as_deref(), Some(id), "webhook-id");
        ensure!(
            the_specs_library_verifies(TEST_SECRET, attempt)?,
            "the reference library refused attempt {:?} of {}",
            attempt.signed,
            attempt.raw
        );
    }
    ensure_eq!(first.raw, second.raw, "a retry changed the body");
    // The retry came seconds later (backoff): its own timestamp, so its own signature.
    ensure!(
        first.signed[1] != second.signed[1] && first.signed[2] != second.signed[2],
        "a retry reused the first attempt's timestamp or signature: {:?} {:?}",
        first.signed,
        second.signed
    );
    // The check is not vacuous: the same library refuses an altered body and another key.
    let mut altered = second.clone();
    altered.raw = second.raw.replace(&email, "someone-else@example.com");
    ensure!(
        !the_specs_library_verifies(TEST_SECRET, &altered)?,
        "an altered body verified"
    );
    ensure!(
        !the_specs_library_verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", second)?,
        "another key verified"
    );

    // The header's link is the one-click endpoint: a provider's POST unsubscribes.
    app.send(
        app.client
            .post(unsubscribe)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await?
    .expect(200)?;
    Ok(())
}
