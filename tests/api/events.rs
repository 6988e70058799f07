//! Events out: webhook subscriptions delivered as Standard Webhooks describe (checked with the
//! specification's own JavaScript library, not our signer), segment entry and exit from the
//! queue's diff, retries with one `webhook-id`, and the change feed. Each story's receiver is a
//! path of its own on the loopback receiver; the database is shared, so stories look only at
//! their own contacts' events.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    create_form, create_segment, external_id, form_body, ids_by_type, order, posts_about,
    put_consent, ready_segment, run_tag, send_orders, session_for, signed_up_and_confirmed,
    subscribe, unsubscribe,
};
use crate::harness::{days_ago, unique_email, Auth, TestApp, TestFn};
use crate::webhook::{the_specs_library_verifies, EventPost};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        a_confirmation_a_withdrawal_and_an_erasure_each_reach_the_receiver_once_signed,
        an_order_moves_a_contact_into_a_segment_and_a_withdrawal_moves_them_out_once_each,
        a_receiver_failing_twice_gets_one_webhook_id_three_times_and_a_replay_sends_it_again,
        a_webhooks_only_key_routes_no_addresses_out,
        a_subscription_url_must_be_https_and_its_secret_is_shown_once,
        a_new_segment_announces_its_members_only_to_subscriptions_that_ask,
        a_survey_answer_and_a_finished_export_reach_their_subscribers_without_links,
    ]
}

async fn contact_id(app: &TestApp, email: &str) -> Result<String, String> {
    let found = crate::given::contact(app, email)
        .await?
        .ok_or_else(|| format!("{email} not found"))?;
    found["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no contact id".into())
}

/// Waits for the receiver's first post about `contact_id`.
async fn first_post(app: &TestApp, receiver: &str, contact_id: &str) -> Result<EventPost, String> {
    app.eventually(Duration::from_secs(45), || async {
        Ok(posts_about(app, receiver, contact_id).into_iter().next())
    })
    .await
}

/// Pages of the feed from `after` (of `types`, when given) to its end: the entries, and the
/// position to continue from.
async fn walk_feed(
    app: &TestApp,
    after: &str,
    types: Option<&str>,
) -> Result<(Vec<Value>, String), String> {
    let mut after = after.to_string();
    let mut all = Vec::new();
    let filter = types.map_or(String::new(), |t| format!("&types={t}"));
    loop {
        let page = app
            .get(
                &format!("/admin/v1/events?after={after}{filter}&limit=500"),
                Auth::Admin,
            )
            .await?
            .expect(200)?
            .json();
        all.extend(page["events"].as_array().cloned().unwrap_or_default());
        after = page["next"].as_str().ok_or("no next")?.to_string();
        if page["has_more"] != true {
            return Ok((all, after));
        }
    }
}

/// The newest feed position now: events after it are this story's (and others').
async fn feed_end(app: &TestApp) -> Result<String, String> {
    Ok(walk_feed(app, "evt_0", None).await?.1)
}

/// Every feed entry after `after` of `types`, in order.
async fn feed_after(app: &TestApp, after: &str, types: &str) -> Result<Vec<Value>, String> {
    Ok(walk_feed(app, after, Some(types)).await?.0)
}

/// The GDPR Art. 19 story: the shop's CRM hears that a person joined, withdrew and was erased,
/// each once, each signed so that the specification's library verifies it; the erasure carries
/// no address. The change feed holds the same events, in the same order, with the same bodies.
async fn a_confirmation_a_withdrawal_and_an_erasure_each_reach_the_receiver_once_signed(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let receiver = run_tag("art19");
    let start = feed_end(&app).await?;
    let types = "contact.confirmed,contact.updated,contact.consent_changed,contact.erased";
    let (hook, secret) = subscribe(
        &app,
        &receiver,
        None,
        json!({ "events": types.split(',').collect::<Vec<_>>() }),
        Auth::Admin,
    )
    .await?;
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("art19");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let id = contact_id(&app, &email).await?;
    // A delivery reads the address when it is sent: the confirmation goes out before the
    // erasure removes it.
    first_post(&app, &receiver, &id)
        .await
        .map_err(|_| "the confirmation never arrived".to_string())?;
    let session = session_for(&app, &email).await?;
    app.send(
        app.client
            .patch(app.url("/v1/me"))
            .json(&json!({ "name": "Ana Souza", "city": "Recife" })),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    // Withdrawn twice: the second changes nothing and announces nothing.
    for _ in 0..2 {
        put_consent(&app, &session, "marketing_email", false)
            .await?
            .expect(200)?;
    }
    let delivered = |posts: &[EventPost], t: &str| posts.iter().any(|p| p.body["type"] == t);
    let before_erasure = app
        .eventually(Duration::from_secs(45), || async {
            let posts = posts_about(&app, &receiver, &id);
            Ok((delivered(&posts, "contact.updated")
                && delivered(&posts, "contact.consent_changed"))
            .then_some(posts))
        })
        .await
        .map_err(|_| "the update and the withdrawal never arrived".to_string())?;
    // The feed: the same events, in order, with the same bodies.
    let feed: Vec<Value> = feed_after(&app, &start, types)
        .await?
        .into_iter()
        .filter(|e| e["data"]["contact_id"] == id.as_str())
        .collect();
    let kinds: Vec<&str> = feed.iter().filter_map(|e| e["type"].as_str()).collect();
    ensure_eq!(
        kinds,
        vec![
            "contact.confirmed",
            "contact.updated",
            "contact.consent_changed"
        ],
        "feed order"
    );
    for entry in &feed {
        let sent = before_erasure
            .iter()
            .find(|p| p.signed[0].as_deref() == entry["id"].as_str())
            .ok_or_else(|| format!("{} was never delivered", entry["id"]))?;
        ensure_eq!(
            entry["data"],
            sent.body["data"],
            "feed and webhook bodies differ"
        );
        ensure_eq!(entry["timestamp"], sent.body["timestamp"], "timestamps");
    }
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    app.eventually(Duration::from_secs(45), || async {
        let posts = posts_about(&app, &receiver, &id);
        Ok((posts.iter().any(|p| p.body["type"] == "contact.erased")).then_some(()))
    })
    .await
    .map_err(|_| {
        format!(
            "the erasure never arrived: {:?}",
            posts_about(&app, &receiver, &id)
                .iter()
                .map(|p| p.body["type"].clone())
                .collect::<Vec<_>>()
        )
    })?;
    app.queue_caught_up().await?;
    let posts = posts_about(&app, &receiver, &id);
    ensure_eq!(
        ids_by_type(&posts)?,
        vec![
            ("contact.confirmed".to_string(), 1),
            ("contact.consent_changed".to_string(), 1),
            ("contact.erased".to_string(), 1),
            ("contact.updated".to_string(), 1)
        ],
        "each event once"
    );
    for p in &posts {
        ensure!(
            the_specs_library_verifies(&secret, &p.signed, &p.raw)?,
            "the spec's library refused {}",
            p.raw
        );
    }
    let body = |t: &str| {
        posts
            .iter()
            .find(|p| p.body["type"] == t)
            .map(|p| p.body.clone())
            .unwrap_or(Value::Null)
    };
    ensure_eq!(
        body("contact.confirmed")["data"]["email"],
        email.as_str(),
        "the admin key reads contacts, so its subscription carries the address"
    );
    let withdrawal = body("contact.consent_changed")["data"].clone();
    ensure_eq!(
        (
            withdrawal["contact_id"].clone(),
            withdrawal["purpose"].clone(),
            withdrawal["granted"].clone(),
            withdrawal["by"].clone()
        ),
        (
            json!(id),
            json!("marketing_email"),
            json!(false),
            json!("self_service")
        ),
        "the withdrawal says what changed: {withdrawal}"
    );
    let update = body("contact.updated")["data"].clone();
    let mut changed: Vec<&str> = update["changed"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    changed.sort_unstable();
    ensure_eq!(
        (changed, update["by"].clone()),
        (vec!["city", "name"], json!("self_service")),
        "the update names the fields, not their values: {update}"
    );
    ensure!(
        !update.to_string().contains("Recife"),
        "a value travelled: {update}"
    );
    ensure_eq!(
        body("contact.erased")["data"],
        json!({ "contact_id": id }),
        "an erasure carries the id only"
    );
    ensure!(
        !posts
            .iter()
            .any(|p| p.raw.contains(&email) && p.body["type"] == "contact.erased"),
        "the address travelled with the erasure"
    );
    // After the erasure the feed keeps only the erasure itself: the person's earlier events
    // went with them.
    let feed: Vec<Value> = feed_after(&app, &start, types)
        .await?
        .into_iter()
        .filter(|e| e["data"]["contact_id"] == id.as_str())
        .collect();
    ensure_eq!(
        feed.iter().map(|e| e["data"].clone()).collect::<Vec<_>>(),
        vec![json!({ "contact_id": id })],
        "the feed after the erasure"
    );
    ensure_eq!(
        feed[0]["type"],
        "contact.erased",
        "the feed after the erasure"
    );
    unsubscribe(&app, &hook).await
}

/// Membership changes come from the queue's own diff: an order moves a buyer into a segment, a
/// withdrawal of the segment's purpose moves them out: one `segment.entered`, one
/// `segment.exited`, in that order, for a subscription filtered to that segment.
async fn an_order_moves_a_contact_into_a_segment_and_a_withdrawal_moves_them_out_once_each(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("segev");
    let segment = create_segment(
        &app,
        &format!("{tag} buyers"),
        json!({"all": [
            {"field": "email", "op": "starts_with", "value": tag},
            {"field": "order_count", "op": "gte", "value": 1}
        ]}),
    )
    .await?;
    let segment_id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(&app, &segment_id, 1).await?;
    let (hook, secret) = subscribe(
        &app,
        &tag,
        None,
        json!({ "events": ["segment.entered", "segment.exited"], "segment_ids": [segment_id] }),
        Auth::Admin,
    )
    .await?;
    let form = create_form(&app, &form_body(true)).await?;
    let email = format!("{tag}@example.com");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let id = contact_id(&app, &email).await?;
    send_orders(
        &app,
        vec![order(&external_id("segev"), &email, "40.00", &days_ago(1))],
    )
    .await?;
    first_post(&app, &tag, &id)
        .await
        .map_err(|_| "no segment.entered arrived".to_string())?;
    let session = session_for(&app, &email).await?;
    put_consent(&app, &session, "marketing_email", false)
        .await?
        .expect(200)?;
    app.eventually(Duration::from_secs(45), || async {
        Ok((posts_about(&app, &tag, &id).len() >= 2).then_some(()))
    })
    .await
    .map_err(|_| "no segment.exited arrived".to_string())?;
    app.queue_caught_up().await?;
    let posts = posts_about(&app, &tag, &id);
    ensure_eq!(
        ids_by_type(&posts)?,
        vec![
            ("segment.entered".to_string(), 1),
            ("segment.exited".to_string(), 1)
        ],
        "one entry and one exit"
    );
    ensure_eq!(posts[0].body["type"], "segment.entered", "entry first");
    ensure_eq!(
        posts[0].body["data"]["segment_id"],
        segment_id.as_str(),
        "which segment"
    );
    for p in &posts {
        ensure!(
            the_specs_library_verifies(&secret, &p.signed, &p.raw)?,
            "refused {}",
            p.raw
        );
    }
    unsubscribe(&app, &hook).await
}

/// At least once, never as a new message: a receiver answering 500 twice gets the same
/// `webhook-id` and body three times, each attempt signed afresh; the delivery log shows the
/// three answers; a replay sends the same id and body a fourth time.
async fn a_receiver_failing_twice_gets_one_webhook_id_three_times_and_a_replay_sends_it_again(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let receiver = run_tag("flaky");
    let (hook, secret) = subscribe(
        &app,
        &receiver,
        Some("2"),
        json!({ "events": ["contact.confirmed"] }),
        Auth::Admin,
    )
    .await?;
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("flaky");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let id = contact_id(&app, &email).await?;
    let posts = app
        .eventually(Duration::from_secs(60), || async {
            let posts = posts_about(&app, &receiver, &id);
            Ok((posts.len() >= 3).then_some(posts))
        })
        .await
        .map_err(|_| {
            format!(
                "three attempts never came: {:?}",
                posts_about(&app, &receiver, &id)
                    .iter()
                    .map(|p| p.answered)
                    .collect::<Vec<_>>()
            )
        })?;
    let answers: Vec<u16> = posts.iter().map(|p| p.answered).collect();
    ensure_eq!(answers, vec![500, 500, 200], "answers");
    ensure_eq!(
        ids_by_type(&posts)?,
        vec![("contact.confirmed".to_string(), 1)],
        "one id"
    );
    for p in &posts {
        ensure!(
            the_specs_library_verifies(&secret, &p.signed, &p.raw)?,
            "refused attempt {:?}",
            p.signed
        );
    }
    let event_id = posts[0].signed[0].clone().ok_or("no id")?;
    let deliveries = app
        .eventually(Duration::from_secs(15), || async {
            let list = app
                .get(
                    &format!("/admin/v1/webhooks/{hook}/deliveries"),
                    Auth::Admin,
                )
                .await?
                .expect(200)?
                .json();
            let found = list["deliveries"].as_array().and_then(|d| {
                d.iter()
                    .find(|d| d["event_id"] == event_id.as_str())
                    .cloned()
            });
            Ok(found.filter(|d| d["state"] == "delivered"))
        })
        .await?;
    let statuses: Vec<Value> = deliveries["log"]
        .as_array()
        .ok_or("no log")?
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    ensure_eq!(
        statuses,
        vec![json!(500), json!(500), json!(200)],
        "the log"
    );
    ensure_eq!(deliveries["attempts"], 3, "attempts");
    app.post_json(
        &format!("/admin/v1/webhooks/{hook}/deliveries/{event_id}/retry"),
        &json!({}),
        Auth::Admin,
    )
    .await?
    .expect(202)?;
    let replayed = app
        .eventually(Duration::from_secs(30), || async {
            let posts = posts_about(&app, &receiver, &id);
            Ok((posts.len() >= 4).then_some(posts))
        })
        .await?;
    ensure_eq!(replayed[3].raw, posts[0].raw, "the replay's body");
    ensure_eq!(replayed[3].signed[0], posts[0].signed[0], "the replay's id");
    app.post_json(
        &format!("/admin/v1/webhooks/{hook}/deliveries/evt_999999999/retry"),
        &json!({}),
        Auth::Admin,
    )
    .await?
    .expect_error(404, "not_found")?;
    unsubscribe(&app, &hook).await
}

/// A key holding `webhooks` but not `contacts:read` cannot route addresses out: its
/// subscriptions and its feed carry ids only.
async fn a_webhooks_only_key_routes_no_addresses_out(app: Arc<TestApp>) -> Result<(), String> {
    let key = app
        .post_json(
            "/admin/v1/keys",
            &json!({ "name": "crm sync", "scopes": ["webhooks"] }),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    let key = key["key"].as_str().ok_or("no key")?.to_string();
    let receiver = run_tag("noaddr");
    let (hook, _) = subscribe(
        &app,
        &receiver,
        None,
        json!({ "events": ["contact.confirmed"] }),
        Auth::Bearer(&key),
    )
    .await?;
    let shown = app
        .get(&format!("/admin/v1/webhooks/{hook}"), Auth::Bearer(&key))
        .await?
        .expect(200)?
        .json();
    ensure_eq!(shown["includes_email"], false, "includes_email");
    ensure!(shown.get("secret").is_none(), "the secret was shown again");
    let start = feed_end(&app).await?;
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("noaddr");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let id = contact_id(&app, &email).await?;
    let post = first_post(&app, &receiver, &id).await?;
    ensure!(
        !post.raw.contains(&email),
        "the address went out: {}",
        post.raw
    );
    let page = app
        .get(
            &format!("/admin/v1/events?after={start}&types=contact.confirmed&limit=500"),
            Auth::Bearer(&key),
        )
        .await?
        .expect(200)?;
    ensure!(!page.text.contains(&email), "the feed showed the address");
    // The admin key (which reads contacts) does see it in the feed.
    let full = feed_after(&app, &start, "contact.confirmed").await?;
    ensure!(
        full.iter().any(|e| e["data"]["email"] == email.as_str()),
        "the admin feed lacks the address"
    );
    unsubscribe(&app, &hook).await?;
    // Nor can it borrow a subscription that carries addresses: pointing one at itself takes the
    // addresses out, and replaying one of its deliveries needs `contacts:read`.
    let (carrying, _) = subscribe(
        &app,
        &format!("{receiver}-admin"),
        None,
        json!({ "events": ["contact.confirmed"] }),
        Auth::Admin,
    )
    .await?;
    let someone = unique_email("noaddr-other");
    signed_up_and_confirmed(&app, &form, &someone).await?;
    let someone_id = contact_id(&app, &someone).await?;
    let delivered = first_post(&app, &format!("{receiver}-admin"), &someone_id).await?;
    ensure!(
        delivered.raw.contains(&someone),
        "the admin's subscription carries the address"
    );
    let event_id = delivered.signed[0].clone().ok_or("no webhook-id")?;
    app.post_json(
        &format!("/admin/v1/webhooks/{carrying}/deliveries/{event_id}/retry"),
        &json!({}),
        Auth::Bearer(&key),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/admin/v1/webhooks/{carrying}")))
                .json(
                    &json!({ "url": app.webhook.events_url(&format!("{receiver}-stolen"), None) }),
                ),
            Auth::Bearer(&key),
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        patched["includes_email"],
        false,
        "a redirected subscription keeps addresses"
    );
    unsubscribe(&app, &carrying).await
}

/// Deliveries go over TLS: plain http only to loopback on a loopback deployment (this one); no
/// credentials in the URL; unknown event types named. The secret appears in the create answer
/// only, as `whsec_` and the base64 of 32 bytes.
async fn a_subscription_url_must_be_https_and_its_secret_is_shown_once(
    app: Arc<TestApp>,
) -> Result<(), String> {
    for (url, events) in [
        ("http://crm.example/hook", json!(["contact.erased"])),
        (
            "https://user:pw@crm.example/hook",
            json!(["contact.erased"]),
        ),
        ("https://crm.example/hook", json!(["contact.deleted"])),
        ("https://crm.example/hook", json!([])),
    ] {
        let reply = app
            .post_json(
                "/admin/v1/webhooks",
                &json!({ "url": url, "events": events }),
                Auth::Admin,
            )
            .await?
            .expect_error(400, "validation_failed")?;
        ensure!(
            !reply.text.contains("pw@"),
            "echoed credentials: {}",
            reply.text
        );
    }
    let created = app
        .post_json(
            "/admin/v1/webhooks",
            &json!({ "url": "https://crm.example/hook", "events": ["contact.erased"], "description": "CRM" }),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    let secret = created["secret"].as_str().ok_or("no secret")?;
    let key = secret.strip_prefix("whsec_").ok_or("not whsec_")?;
    ensure_eq!(key.len(), 44, "base64 of 32 bytes: {secret}");
    let id = created["id"].as_str().ok_or("no id")?;
    let list = app
        .get("/admin/v1/webhooks", Auth::Admin)
        .await?
        .expect(200)?;
    ensure!(list.text.contains(id), "not listed");
    ensure!(!list.text.contains(secret), "the list shows the secret");
    let disabled = app
        .send(
            app.client
                .patch(app.url(&format!("/admin/v1/webhooks/{id}")))
                .json(&json!({ "enabled": false })),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(disabled["state"], "disabled", "disabled");
    unsubscribe(&app, id).await?;
    app.get(&format!("/admin/v1/webhooks/{id}"), Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    Ok(())
}

/// A new segment's first build does not flood a receiver: a subscription to `segment.entered`
/// hears nothing of it unless it set `include_rebuilds`, and then each member once, marked
/// `rebuild`.
async fn a_new_segment_announces_its_members_only_to_subscriptions_that_ask(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("rebuilt");
    let form = create_form(&app, &form_body(true)).await?;
    let people: Vec<String> = (0..4).map(|i| format!("{tag}-{i}@example.com")).collect();
    for p in &people {
        signed_up_and_confirmed(&app, &form, p).await?;
    }
    // Their own contact changes are worked before the segment exists, so every entry below
    // comes from its first build.
    app.queue_caught_up().await?;
    let quiet = format!("{tag}-quiet");
    let loud = format!("{tag}-loud");
    let (quiet_hook, _) = subscribe(
        &app,
        &quiet,
        None,
        json!({ "events": ["segment.entered"] }),
        Auth::Admin,
    )
    .await?;
    // While nobody asks for first builds, a new segment's members are not even written to the
    // log (a segment of a million would be a million events nobody reads).
    let start = feed_end(&app).await?;
    let unasked = create_segment(
        &app,
        &format!("{tag} unasked"),
        json!({"field": "email", "op": "starts_with", "value": tag}),
    )
    .await?;
    let unasked_id = unasked["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(&app, &unasked_id, 1).await?;
    let logged = feed_after(&app, &start, "segment.entered")
        .await?
        .into_iter()
        .filter(|e| e["data"]["segment_id"] == unasked_id.as_str())
        .count();
    ensure_eq!(
        logged,
        0,
        "entries of a first build nobody asked for were logged"
    );
    let (loud_hook, _) = subscribe(
        &app,
        &loud,
        None,
        json!({ "events": ["segment.entered"], "include_rebuilds": true }),
        Auth::Admin,
    )
    .await?;
    let segment = create_segment(
        &app,
        &format!("{tag} all"),
        json!({"field": "email", "op": "starts_with", "value": tag}),
    )
    .await?;
    let segment_id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(&app, &segment_id, 1).await?;
    let ours = |receiver: &str| -> Vec<EventPost> {
        app.webhook
            .events_to(receiver)
            .into_iter()
            .filter(|p| p.body["data"]["segment_id"] == segment_id.as_str())
            .collect()
    };
    app.eventually(Duration::from_secs(45), || async {
        Ok((ours(&loud).len() >= people.len()).then_some(()))
    })
    .await
    .map_err(|_| format!("the asking subscription got {} entries", ours(&loud).len()))?;
    app.queue_caught_up().await?;
    ensure_eq!(
        ours(&quiet).len(),
        0,
        "the quiet subscription heard the build"
    );
    let loud_posts = ours(&loud);
    ensure_eq!(
        ids_by_type(&loud_posts)?,
        vec![("segment.entered".to_string(), people.len())],
        "each member once"
    );
    ensure!(
        loud_posts.iter().all(|p| p.body["data"]["rebuild"] == true),
        "entries of a first build are marked"
    );
    unsubscribe(&app, &quiet_hook).await?;
    unsubscribe(&app, &loud_hook).await
}

/// The two events that do not come from a contact change: a buyer's answer (with its scores,
/// once, whatever the number of taps) and a finished export (ids and counts, never the signed
/// download link, which only the API hands out).
async fn a_survey_answer_and_a_finished_export_reach_their_subscribers_without_links(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("answered");
    let form = create_form(&app, &form_body(true)).await?;
    let email = format!("{tag}@example.com");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let id = contact_id(&app, &email).await?;
    let segment = create_segment(
        &app,
        &format!("{tag} one"),
        json!({"field": "email", "op": "eq", "value": email}),
    )
    .await?;
    let segment_id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(&app, &segment_id, 1).await?;
    let (hook, _) = subscribe(
        &app,
        &tag,
        None,
        json!({ "events": ["survey.answered", "export.ready"], "segment_ids": [segment_id] }),
        Auth::Admin,
    )
    .await?;
    let survey = crate::given::create_survey(&app).await?;
    let links = crate::given::invite(&app, &survey, json!([{ "email": email }]), false).await?;
    let token = crate::given::invitation_token(links.first().ok_or("no invitation")?)?;
    crate::given::answer(&app, &token, json!({ "nps": 4, "csat": 2 }))
        .await?
        .expect(201)?;
    crate::given::answer(&app, &token, json!({ "nps": 10 }))
        .await?
        .expect_error(409, "already_answered")?;
    let export = app
        .post_json(
            &format!("/admin/v1/segments/{segment_id}/exports"),
            &json!({}),
            Auth::Admin,
        )
        .await?
        .expect(202)?
        .json();
    let export_id = export["id"].as_str().ok_or("no export id")?.to_string();
    let ours = || -> Vec<EventPost> {
        app.webhook
            .events_to(&tag)
            .into_iter()
            .filter(|p| {
                p.body["data"]["contact_id"] == id.as_str()
                    || p.body["data"]["export_id"] == export_id.as_str()
            })
            .collect()
    };
    app.eventually(Duration::from_secs(45), || async {
        Ok((ids_by_type(&ours())?.len() == 2).then_some(()))
    })
    .await
    .map_err(|_| format!("got {:?}", ids_by_type(&ours())))?;
    app.queue_caught_up().await?;
    let posts = ours();
    ensure_eq!(
        ids_by_type(&posts)?,
        vec![
            ("export.ready".to_string(), 1),
            ("survey.answered".to_string(), 1)
        ],
        "one of each"
    );
    let body = |t: &str| {
        posts
            .iter()
            .find(|p| p.body["type"] == t)
            .map(|p| p.body["data"].clone())
            .unwrap_or(Value::Null)
    };
    let answer = body("survey.answered");
    ensure_eq!(
        (answer["survey_id"].clone(), answer["scores"].clone()),
        (json!(survey), json!({ "nps": 4, "csat": 2, "ces": null })),
        "the answer's event: {answer}"
    );
    let ready = body("export.ready");
    ensure_eq!(
        (ready["segment_id"].clone(), ready["rows"].clone()),
        (json!(segment_id), json!(1)),
        "the export's event: {ready}"
    );
    ensure!(
        !posts.iter().any(|p| p.raw.contains("download")),
        "a download link went out"
    );
    unsubscribe(&app, &hook).await
}
