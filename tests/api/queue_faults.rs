//! The queue under faults: a consumer that dies mid-batch is redelivered into exactly the state
//! of a clean run (no membership lost or doubled, no email sent twice), and a message that fails
//! every attempt ends in the dead-letter queue, where operators can see it. Faults are armed by
//! writing the test-only `queue_faults` table (the Worker runs with `QUEUE_FAULTS=on` here only).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    create_form, create_segment, dead_letter_holding, external_id, form_body, ids_by_type,
    member_emails, order, posts_about, ready_segment, run_tag, send_orders,
    signed_up_and_confirmed, subscribe, unsubscribe,
};
use crate::harness::{days_ago, unique_email, Auth, TestApp, TestFn};

/// Tests that write the local D1 from a second process (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        a_consumer_dying_mid_batch_ends_in_the_state_of_a_clean_run,
        a_message_that_always_fails_reaches_the_dead_letter_queue,
    ]
}

const FAULTS_TABLE: &str = "CREATE TABLE IF NOT EXISTS queue_faults (kind TEXT PRIMARY KEY, \
     remaining INTEGER NOT NULL DEFAULT 0, crash_after INTEGER, job TEXT, message_id TEXT)";

/// Faults armed for as long as this guard lives. It disarms them however the test ends (an early
/// `?`, a panic, the runner ending it at its time limit): a fault left armed would crash or poison
/// the queue under the tests that follow.
struct Armed<'a> {
    app: &'a TestApp,
    live: bool,
}

impl<'a> Armed<'a> {
    /// Replaces whatever faults were armed with `insert` (an INSERT into `queue_faults`).
    fn arm(app: &'a TestApp, insert: &str) -> Result<Self, String> {
        // The guard comes first, so a write that failed halfway is undone as well.
        let armed = Armed { app, live: true };
        app.sql(&format!(
            "{FAULTS_TABLE}; DELETE FROM queue_faults; {insert}"
        ))?;
        Ok(armed)
    }

    /// Disarms now, and says if that failed (dropping the guard can only try).
    fn disarm(mut self) -> Result<(), String> {
        self.live = false;
        disarm(self.app)
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        if self.live {
            // Synchronous on purpose: it must have happened before the next test starts.
            let _ = disarm(self.app);
        }
    }
}

fn disarm(app: &TestApp) -> Result<(), String> {
    app.sql(&format!("{FAULTS_TABLE}; DELETE FROM queue_faults"))
}

/// What one run of the story leaves that a user would notice, with the run's tag taken out of
/// the addresses so that two runs compare equal when they behaved the same.
#[derive(Debug, PartialEq)]
struct StoryOutcome {
    members: Vec<String>,
    size: i64,
    /// Webhook deliveries of confirmation emails, per person: each must be exactly one.
    confirmations_delivered: Vec<(String, usize)>,
    /// Per person, the distinct `webhook-id`s a subscription received by event type (every
    /// repeat of one id carried the same body, or the story fails).
    events_received: Vec<(String, Vec<(String, usize)>)>,
}

const PEOPLE: usize = 6;

/// Six people sign up through a double opt-in form and confirm; four of them buy; a segment of
/// big spenders follows. Every step goes through the queue: emails to deliver, contacts changed.
async fn story(app: &TestApp, tag: &str) -> Result<StoryOutcome, String> {
    let rule = json!({"all": [
        {"field": "email", "op": "starts_with", "value": tag},
        {"field": "total_spent", "op": "gte", "value": "50.00"}
    ]});
    let segment = create_segment(app, &format!("{tag} big spenders"), rule).await?;
    let id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(app, &id, 1).await?;
    let (hook, _) = subscribe(
        app,
        tag,
        None,
        json!({ "events": ["contact.confirmed", "segment.entered"], "segment_ids": [id] }),
        Auth::Admin,
    )
    .await?;
    let form = create_form(app, &form_body(true)).await?;
    let people: Vec<String> = (0..PEOPLE)
        .map(|i| format!("{tag}-p{i}@example.com"))
        .collect();
    for person in &people {
        signed_up_and_confirmed(app, &form, person).await?;
    }
    let placed_at = days_ago(29);
    let orders = [("80.00", 0), ("30.00", 1), ("120.00", 2), ("60.00", 3)]
        .iter()
        .map(|(total, who)| order(&external_id("fault"), &people[*who], total, &placed_at))
        .collect();
    send_orders(app, orders).await?;

    let want: Vec<String> = [0, 2, 3].iter().map(|i| people[*i].clone()).collect();
    let settled = app
        .eventually(Duration::from_secs(60), || async {
            let members = member_emails(app, &id).await?;
            let all_delivered = people
                .iter()
                .all(|p| !app.webhook.deliveries_to(p).is_empty());
            // Each person's confirmation, and each member's entry, reached the subscription.
            let announced = app.webhook.events_to(tag).len() >= PEOPLE + want.len();
            Ok((members == want && all_delivered && announced).then_some(()))
        })
        .await;
    if settled.is_err() {
        return Err(format!(
            "the queue never settled: members {:?}",
            member_emails(app, &id).await?
        ));
    }
    let settled_at = Instant::now();
    // Redeliveries still in flight would show up as a second email or a changed size, once
    // they ran: a crashed batch comes back at once, so while work is left the armed crashes get
    // spent; once they are, the queue catching up takes in the last crashed batch's redelivery.
    app.eventually(Duration::from_secs(30), || async {
        let left = app.sql_rows("SELECT remaining FROM queue_faults WHERE kind = 'crash'")?;
        Ok(left
            .first()
            .is_none_or(|r| r["remaining"] == json!(0))
            .then_some(()))
    })
    .await
    .map_err(|_| "the crashes were not all used, so the run did not meet them".to_string())?;
    app.queue_caught_up().await?;
    println!(
        "queue faults: run {tag} settled; its crashes were spent and the queue caught up {:.1} s later",
        settled_at.elapsed().as_secs_f64()
    );
    let untag = |email: &str| email.replacen(tag, "", 1);
    let mut events_received = Vec::new();
    for person in &people {
        let contact = crate::given::contact(app, person)
            .await?
            .ok_or_else(|| format!("{person} not found"))?;
        let contact_id = contact["id"].as_str().ok_or("no contact id")?;
        events_received.push((
            untag(person),
            ids_by_type(&posts_about(app, tag, contact_id))?,
        ));
    }
    unsubscribe(app, &hook).await?;
    let size = ready_segment(app, &id, 1).await?["size"]
        .as_i64()
        .ok_or("no size")?;
    Ok(StoryOutcome {
        members: member_emails(app, &id)
            .await?
            .iter()
            .map(|e| untag(e))
            .collect(),
        size,
        confirmations_delivered: people
            .iter()
            .map(|p| (untag(p), app.webhook.deliveries_to(p).len()))
            .collect(),
        events_received,
    })
}

async fn a_consumer_dying_mid_batch_ends_in_the_state_of_a_clean_run(
    app: Arc<TestApp>,
) -> Result<(), String> {
    disarm(&app)?;
    let started = Instant::now();
    let clean = story(&app, &run_tag("clean")).await?;
    let clean_secs = started.elapsed().as_secs_f64();
    ensure!(
        clean.size == 3
            && clean
                .confirmations_delivered
                .iter()
                .all(|(_, sent)| *sent == 1),
        "the clean run itself is wrong: {clean:?}"
    );
    ensure!(
        clean.events_received.iter().all(|(person, kinds)| {
            let entered = kinds.iter().any(|(k, n)| k == "segment.entered" && *n == 1);
            let member = clean.members.contains(person);
            kinds.contains(&("contact.confirmed".to_string(), 1)) && entered == member
        }),
        "the clean run's events are wrong: {:?}",
        clean.events_received
    );

    // The next eight batches each work one message, then die before acking any. The story
    // waits until all eight were spent.
    let crashes = Armed::arm(
        &app,
        "INSERT INTO queue_faults (kind, remaining, crash_after) VALUES ('crash', 8, 1)",
    )?;
    let started = Instant::now();
    let faulty = story(&app, &run_tag("crashy")).await?;
    let crashy_secs = started.elapsed().as_secs_f64();
    crashes.disarm()?;
    ensure_eq!(
        faulty,
        clean,
        "redelivery changed the outcome:\n clean {clean:?}\n crash {faulty:?}"
    );
    // `make bench` copies this line into BENCHMARKS.md.
    println!(
        "fault-figures crash: {PEOPLE} people, 8 batches died after 1 message; same members ({}), \
         size {}, each confirmation delivered once; story {clean_secs:.1} s clean, \
         {crashy_secs:.1} s with crashes (both include waiting for the queue to catch up)",
        faulty.members.len(),
        faulty.size
    );
    Ok(())
}

async fn a_message_that_always_fails_reaches_the_dead_letter_queue(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let send_test = |to: String| {
        let app = app.clone();
        async move {
            let reply = app
                .post_json("/admin/v1/outbox/test", &json!({ "to": to }), Auth::Admin)
                .await?
                .expect(201)?;
            reply.json()["message"]["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no message id in {}", reply.text))
        }
    };
    // The poison is the next delivery the consumer meets: 1 try + 8 retries (`max_retries`),
    // each a batch of its own a second apart (`max_batch_timeout`), so about 10 s here. The
    // budget leaves the runner's time limit far away.
    const BUDGET: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let deadline = started + BUDGET;
    // Letters of earlier tests (always-failing addresses) come first in the list: read from now.
    let since = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (letter, doomed_to, fine_to, queued) = loop {
        let poison = Armed::arm(
            &app,
            "INSERT INTO queue_faults (kind, job) VALUES ('poison', 'deliver_email')",
        )?;
        let doomed_to = unique_email("doomed");
        let doomed = send_test(doomed_to.clone()).await?;
        let queued = Instant::now();
        // The poison fails again and again; a message behind it still flows past it.
        let fine_to = unique_email("fine");
        send_test(fine_to.clone()).await?;
        let letter = loop {
            if let Some(letter) = dead_letter_holding(&app, &since, &doomed).await? {
                break Some(letter);
            }
            if !app.webhook.deliveries_to(&doomed_to).is_empty() {
                // A delivery left over from an earlier test (a retry of an always-failing
                // address) reached the consumer first and became the poison: arm again.
                break None;
            }
            ensure!(
                Instant::now() < deadline,
                "the poison never reached the dead-letter queue within {BUDGET:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        poison.disarm()?;
        if let Some(letter) = letter {
            break (letter, doomed_to, fine_to, queued);
        }
        println!("queue faults: another delivery became the poison; arming again");
    };
    let to_dead_letter_secs = queued.elapsed().as_secs_f64();
    ensure!(
        !app.webhook.deliveries_to(&fine_to).is_empty(),
        "the message behind the poison was not delivered while the poison failed"
    );
    ensure!(
        letter["job"] == "deliver_email"
            && letter["queue"] == "clientela-jobs-dlq"
            && letter["received_at"].is_string(),
        "dead letter {letter}"
    );
    ensure!(
        !letter.to_string().contains(&doomed_to),
        "a dead letter carries an email address: {letter}"
    );
    ensure!(
        app.webhook.deliveries_to(&doomed_to).is_empty(),
        "the poisoned email was delivered"
    );
    // Dead letters are kept 30 days: the daily run forgets an older one and keeps this one.
    app.sql(
        "INSERT INTO dead_letters (message_id, queue, job, body, received_at) VALUES \
         ('old-letter', 'clientela-jobs-dlq', 'deliver_email', '{}', '2020-01-01T00:00:00.000Z')",
    )?;
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None).await?;
    // The cron only enqueues; the purge runs on the queue a moment later.
    let letter_ids = || async {
        Ok::<Vec<Value>, String>(
            app.get("/admin/v1/dead-letters?limit=1000", Auth::Admin)
                .await?
                .expect(200)?
                .json()["dead_letters"]
                .as_array()
                .map(|all| all.iter().map(|l| l["message_id"].clone()).collect())
                .unwrap_or_default(),
        )
    };
    let purged = app
        .eventually(Duration::from_secs(20), || async {
            let ids = letter_ids().await?;
            Ok((!ids.contains(&json!("old-letter"))).then_some(ids))
        })
        .await;
    let ids = match purged {
        Ok(ids) => ids,
        Err(_) => letter_ids().await?,
    };
    ensure!(
        !ids.contains(&json!("old-letter")) && ids.contains(&letter["message_id"]),
        "after the daily run the dead letters are {ids:?}"
    );
    // The list reads its query like every admin list.
    app.get("/admin/v1/dead-letters?limit=0", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    println!(
        "fault-figures poison: a delivery failing every attempt reached the dead-letter queue \
         and `GET /admin/v1/dead-letters` {to_dead_letter_secs:.1} s after it was queued \
         (1 try + 8 retries); the message behind it was delivered meanwhile, and the poisoned \
         email never was"
    );
    Ok(())
}
