//! The outbox and its delivery to the email webhook through the queue.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::ensure;
use crate::harness::{unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        test_message_is_delivered_to_the_webhook_and_marked_sent,
        failing_webhook_is_retried_until_the_message_is_delivered,
        outbox_is_filtered_by_recipient,
        outbox_refuses_a_malformed_recipient_without_echoing_it,
    ]
}

async fn queue_test_message(app: &TestApp, to: &str) -> Result<String, String> {
    let reply = app
        .post_json("/admin/v1/outbox/test", &json!({"to": to}), Auth::Admin)
        .await?
        .expect(201)?
        .json();
    ensure!(
        reply["message"]["kind"] == "test",
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
    ensure!(
        delivery.body["id"] == id.as_str(),
        "delivered {}",
        delivery.body
    );
    ensure!(
        delivery.body["subject"].is_string() && delivery.body["text"].is_string(),
        "incomplete message"
    );
    ensure!(
        delivery.idempotency_key.as_deref() == Some(id.as_str()),
        "no Idempotency-Key"
    );
    app.eventually(Duration::from_secs(15), || sent_at(&app, &to))
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        app.webhook.deliveries_to(&to).len() == 1,
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
    ensure!(answers == [500, 200], "webhook answered {answers:?}");
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
