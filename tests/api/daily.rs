//! The daily run at scale: the cron only enqueues, and each task works its way through a base
//! far larger than one invocation's D1 budget (the free plan's 50 queries) in chunks that hand
//! on to the next, until done. Serial: the bases are written with `wrangler d1` directly, and
//! two stories redeploy with larger chunks so that thousands of rows take seconds, not minutes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::harness::{Auth, Reply, TestApp, TestFn};

pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        the_daily_run_completes_every_task_within_the_free_plan_budget,
        a_retention_backlog_of_2000_is_cleared_in_one_daily_run,
        the_daily_run_purges_spent_tokens_old_counters_and_old_mail,
    ]
}

const DAILY: &str = "/__scheduled?cron=17+3+*+*+*";

/// An instant `days` (fractional) before now, as the Worker stores times.
fn ago(days: f64) -> String {
    let at = chrono::Utc::now() - chrono::Duration::milliseconds((days * 86_400_000.0) as i64);
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One number out of a `SELECT COUNT(*) AS n` (or any `n`).
fn count(app: &TestApp, query: &str) -> Result<i64, String> {
    app.sql_rows(query)?
        .first()
        .and_then(|r| r["n"].as_i64())
        .ok_or_else(|| format!("no count from {query}"))
}

/// A request to another deployment of the Worker on the same database.
async fn call(
    app: &TestApp,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Reply, String> {
    let mut builder = app.client.request(method, format!("{base}{path}"));
    if let Some(body) = body {
        builder = builder.json(body);
    }
    app.send(builder, Auth::Admin).await
}

/// Lines of a runtime's log that say an invocation passed a platform limit or a job failed.
fn trouble(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("platform limit exceeded") || l.contains("queue: job"))
        .map(str::to_string)
        .collect()
}

/// Runs `story`, then `cleanup` whatever the story's outcome: these bases are large, and the
/// stories after them must not work through them at three rows a chunk.
async fn cleaning_up<F: std::future::Future<Output = Result<(), String>>>(
    app: &TestApp,
    story: F,
    cleanup: &str,
) -> Result<(), String> {
    let outcome = story.await;
    let cleaned = app.sql(cleanup);
    outcome.and(cleaned)
}

/// 20,000 subscribers, three in four of them buyers, every temperature stale and no RFM yet: the
/// daily run cools them down, scores them, and refreshes a segment that reads the scores, in
/// chunks of 2,000 rows (`CHUNK_ROWS`) under the free plan's 50 queries per invocation.
async fn the_daily_run_completes_every_task_within_the_free_plan_budget(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (runtime, base) = app.redeployed(&[("CHUNK_ROWS", "2000")]).await?;
    let cleanup = "DELETE FROM segment_members WHERE contact_id LIKE 'd14b-%'; \
         DELETE FROM consents WHERE contact_id LIKE 'd14b-%'; \
         DELETE FROM contact_stats WHERE contact_id LIKE 'd14b-%'; \
         DELETE FROM contacts WHERE id LIKE 'd14b-%'; \
         UPDATE segments SET deleted_at = updated_at WHERE name = 'd14b champions'";
    cleaning_up(&app, large_base_story(&app, &base, &runtime.log), cleanup).await
}

async fn large_base_story(app: &TestApp, base: &str, log: &Path) -> Result<(), String> {
    const PEOPLE: u32 = 20_000;
    let (long_ago, recent) = (ago(200.0), ago(2.0));
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PEOPLE}) \
         INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at, confirmed_at, last_activity_at) \
         SELECT printf('d14b-%05d', i), printf('d14b-%05d@example.com', i), printf('d14b-hash-%05d', i), \
           'active', 'import', '{long_ago}', '{long_ago}', '{long_ago}', \
           CASE WHEN i % 10 = 0 THEN '{recent}' ELSE '{long_ago}' END FROM n; \
         INSERT INTO consents (contact_id, purpose, granted, updated_at) \
           SELECT id, 'marketing_email', 1, created_at FROM contacts WHERE id LIKE 'd14b-%'; \
         INSERT INTO contact_stats (contact_id, order_count, total_spent_cents, last_order_at, temperature, updated_at) \
           SELECT id, CAST(substr(id, 6) AS INTEGER) % 4, (CAST(substr(id, 6) AS INTEGER) * 7919) % 100000, \
             CASE WHEN CAST(substr(id, 6) AS INTEGER) % 4 = 0 THEN NULL \
               ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (CAST(substr(id, 6) AS INTEGER) % 365) || ' days') END, \
             'hot', created_at \
           FROM contacts WHERE id LIKE 'd14b-%'"
    ))?;
    let segment = call(
        app,
        base,
        reqwest::Method::POST,
        "/admin/v1/segments",
        Some(&json!({"name": "d14b champions", "rule": {"all": [
            {"field": "email", "op": "starts_with", "value": "d14b-"},
            {"field": "rfm_segment", "op": "eq", "value": "champions"}]}})),
    )
    .await?
    .expect(201)?
    .json();
    let id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    let read_segment = || async {
        Ok::<Value, String>(
            call(
                app,
                base,
                reqwest::Method::GET,
                &format!("/admin/v1/segments/{id}"),
                None,
            )
            .await?
            .expect(200)?
            .json(),
        )
    };
    app.eventually(Duration::from_secs(30), || async {
        Ok((read_segment().await?["state"] == "ready").then_some(()))
    })
    .await
    .map_err(|e| format!("the new segment was never built: {e}"))?;
    let before = read_segment().await?;
    ensure_eq!(before["size"], 0, "champions before any RFM: {before}");

    let started = ago(0.0);
    let clock = Instant::now();
    call(app, base, reqwest::Method::GET, DAILY, None)
        .await?
        .expect(200)?;
    // The segment refresh is the chain's last task: once it rebuilt the segment, temperatures
    // and RFM were done.
    let after = app
        .eventually(Duration::from_secs(50), || async {
            let s = read_segment().await?;
            let fresh = s["computed_at"]
                .as_str()
                .is_some_and(|at| at >= &started[..]);
            Ok((fresh && s["state"] == "ready" && s["size"].as_i64() > Some(0)).then_some(s))
        })
        .await
        .map_err(|e| {
            format!(
                "the segment was not refreshed after the run: {e}; log trouble: {:?}",
                trouble(log)
            )
        })?;
    let took = clock.elapsed().as_secs_f32();
    let champions = count(
        app,
        "SELECT COUNT(*) AS n FROM contact_stats WHERE contact_id LIKE 'd14b-%' AND rfm_segment = 'champions'",
    )?;
    ensure_eq!(
        after["size"].as_i64(),
        Some(champions),
        "the segment holds every champion scored"
    );
    let unscored = count(
        app,
        "SELECT COUNT(*) AS n FROM contact_stats WHERE contact_id LIKE 'd14b-%' AND order_count > 0 \
           AND (rfm_r IS NULL OR rfm_f IS NULL OR rfm_m IS NULL OR rfm_segment IS NULL)",
    )?;
    ensure_eq!(unscored, 0, "buyers left without RFM scores");
    let scored_non_buyers = count(
        app,
        "SELECT COUNT(*) AS n FROM contact_stats WHERE contact_id LIKE 'd14b-%' AND order_count = 0 \
           AND rfm_r IS NOT NULL",
    )?;
    ensure_eq!(
        scored_non_buyers,
        0,
        "people who never bought got RFM scores"
    );
    let quintiles = count(
        app,
        "SELECT COUNT(DISTINCT rfm_r) AS n FROM contact_stats WHERE contact_id LIKE 'd14b-%' AND rfm_r IS NOT NULL",
    )?;
    ensure_eq!(quintiles, 5, "recency scores spread over 1 to 5");
    let (week, month) = (ago(7.0), ago(30.0));
    let stale_hot = count(
        app,
        &format!(
            "SELECT COUNT(*) AS n FROM contact_stats s JOIN contacts c ON c.id = s.contact_id \
             WHERE s.contact_id LIKE 'd14b-%' AND s.temperature = 'hot' AND c.last_activity_at < '{week}' \
               AND (s.last_order_at IS NULL OR s.last_order_at < '{month}')"
        ),
    )?;
    ensure_eq!(
        stale_hot,
        0,
        "people nothing happened to for a month are still hot"
    );
    let cold = count(
        app,
        "SELECT COUNT(*) AS n FROM contact_stats WHERE contact_id LIKE 'd14b-%' AND temperature = 'cold'",
    )?;
    ensure!(cold > 0, "nobody cooled down");
    let letters = call(
        app,
        base,
        reqwest::Method::GET,
        &format!("/admin/v1/dead-letters?since={started}"),
        None,
    )
    .await?
    .expect(200)?
    .json();
    // The daily run's own chunked jobs must never die. Email deliveries are left out: the
    // outbox sweep re-queues every unsent message of the shared base, and stories running
    // meanwhile point the relay at an address that fails on purpose (seen on a loaded machine:
    // two `deliver_email` letters from such a story failed this check).
    let died: Vec<&Value> = letters["dead_letters"]
        .as_array()
        .map(|l| l.iter().filter(|d| d["job"] != "deliver_email").collect())
        .unwrap_or_default();
    ensure!(died.is_empty(), "dead letters after the run: {died:?}");
    let trouble = trouble(log);
    ensure!(
        trouble.is_empty(),
        "the daily run passed a limit or failed a job: {trouble:?}"
    );
    println!(
        "daily-figures: {PEOPLE} contacts cooled, scored and segmented in {took:.1} s \
         (CHUNK_ROWS=2000, 50 D1 queries per invocation); {champions} champions"
    );
    Ok(())
}

/// A bot flood left 2,000 unconfirmed signups past the retention period: one daily run erases
/// every one of them, and audits each, however many chunks and messages that takes (50 a chunk
/// here, a few chunks per message under the free plan's budget).
async fn a_retention_backlog_of_2000_is_cleared_in_one_daily_run(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (runtime, base) = app.redeployed(&[("CHUNK_ROWS", "50")]).await?;
    let cleanup = "DELETE FROM tokens WHERE contact_id LIKE 'd14r-%'; \
         DELETE FROM consent_events WHERE contact_id LIKE 'd14r-%'; \
         DELETE FROM contacts WHERE id LIKE 'd14r-%'";
    cleaning_up(&app, backlog_story(&app, &base, &runtime.log), cleanup).await
}

async fn backlog_story(app: &TestApp, base: &str, log: &Path) -> Result<(), String> {
    const BACKLOG: u32 = 2000;
    let (old, young) = (ago(40.0), ago(1.0));
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BACKLOG}) \
         INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
         SELECT printf('d14r-%04d', i), printf('d14r-%04d@example.com', i), printf('d14r-hash-%04d', i), \
           'pending', 'frm_flood', '{old}', '{old}' FROM n; \
         INSERT INTO consent_events (id, contact_id, purpose, action, source, method, at) \
           SELECT 'ce-' || id, id, 'marketing_email', 'granted', 'frm_flood', 'form', created_at \
           FROM contacts WHERE id LIKE 'd14r-%'; \
         INSERT INTO tokens (hash, purpose, contact_id, created_at, expires_at) \
           SELECT 'tok-' || id, 'confirm', id, created_at, '2999-01-01T00:00:00.000Z' \
           FROM contacts WHERE id LIKE 'd14r-%'; \
         INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at, confirmed_at) VALUES \
           ('d14r-young', 'd14r-young@example.com', 'd14r-hash-young', 'pending', 'frm_flood', '{young}', '{young}', NULL), \
           ('d14r-member', 'd14r-member@example.com', 'd14r-hash-member', 'active', 'frm_flood', '{old}', '{old}', '{old}')"
    ))?;
    let clock = Instant::now();
    call(app, base, reqwest::Method::GET, DAILY, None)
        .await?
        .expect(200)?;
    app.eventually(Duration::from_secs(50), || async {
        let left = count(
            app,
            "SELECT COUNT(*) AS n FROM contacts WHERE id LIKE 'd14r-____'",
        )?;
        Ok((left == 0).then_some(()))
    })
    .await
    .map_err(|e| {
        let left = count(
            app,
            "SELECT COUNT(*) AS n FROM contacts WHERE id LIKE 'd14r-____'",
        )
        .unwrap_or(-1);
        format!(
            "{left} of {BACKLOG} expired signups left after one daily run: {e}; log trouble: {:?}",
            trouble(log)
        )
    })?;
    let took = clock.elapsed().as_secs_f32();
    let audited = count(
        app,
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'contact.expire' AND actor = 'system' \
           AND subject LIKE 'd14r-____'",
    )?;
    ensure_eq!(
        audited,
        i64::from(BACKLOG),
        "expiries audited, one per person"
    );
    let traces = count(
        app,
        "SELECT (SELECT COUNT(*) FROM tokens WHERE contact_id LIKE 'd14r-____') \
           + (SELECT COUNT(*) FROM consent_events WHERE contact_id LIKE 'd14r-____') AS n",
    )?;
    ensure_eq!(traces, 0, "tokens or consent events of erased signups left");
    let kept = app.sql_rows(
        "SELECT id FROM contacts WHERE id IN ('d14r-young', 'd14r-member') ORDER BY id",
    )?;
    ensure_eq!(
        kept.len(),
        2,
        "a young signup or a member was erased: {kept:?}"
    );
    let trouble = trouble(log);
    ensure!(
        trouble.is_empty(),
        "retention passed a limit or failed a job: {trouble:?}"
    );
    println!(
        "daily-figures: a retention backlog of {BACKLOG} erased and audited in {took:.1} s \
         (CHUNK_ROWS=50, 50 D1 queries per invocation)"
    );
    Ok(())
}

/// What the record of processing says goes, goes on the next daily run, chunk by chunk (three
/// rows a `DELETE` here): rate counters whose window has passed, expired sessions and links,
/// tokens used over a week ago, mail delivered (or given up on) over 30 days ago, dead letters
/// over 30 days old. Everything younger stays.
async fn the_daily_run_purges_spent_tokens_old_counters_and_old_mail(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (old_window, expired, used, month_ago) = (ago(2.0), ago(0.01), ago(8.0), ago(31.0));
    let (now_window, live, fresh) = (ago(0.0), ago(-1.0), ago(2.0));
    let rows = |n: u32, row: &dyn Fn(u32) -> String| -> String {
        (1..=n).map(row).collect::<Vec<_>>().join(", ")
    };
    app.sql(&format!(
        "INSERT INTO rate_counters (key, window_start, count, cap) VALUES {}, ('d14p:now', '{now_window}', 1, 10); \
         INSERT INTO tokens (hash, purpose, created_at, expires_at, used_at) VALUES {}, {}, {}, \
           ('d14p-live', 'session', '{fresh}', '{live}', NULL); \
         INSERT INTO outbox (id, to_email, kind, subject, body_text, created_at, sent_at, next_attempt_at) VALUES {}, {}, \
           ('d14p-recent', 'd14p@example.com', 'test', 'Recent', '', '{fresh}', '{fresh}', NULL); \
         INSERT INTO dead_letters (message_id, queue, job, body, received_at) VALUES {}, \
           ('d14p-young', 'clientela-jobs-dlq', 'deliver_email', '{{}}', '{fresh}')",
        rows(7, &|i| format!("('d14p:old{i}', '{old_window}', 3, 10)")),
        rows(4, &|i| format!("('d14p-session{i}', 'session', '{month_ago}', '{expired}', NULL)")),
        rows(4, &|i| format!("('d14p-link{i}', 'magic_link', '{month_ago}', '{month_ago}', NULL)")),
        rows(4, &|i| format!("('d14p-used{i}', 'session', '{used}', '{live}', '{used}')")),
        rows(4, &|i| format!(
            "('d14p-sent{i}', 'd14p@example.com', 'test', 'Old', '', '{month_ago}', '{month_ago}', NULL)"
        )),
        // Never delivered and given up on; not due again, so the sweep leaves them be.
        rows(4, &|i| format!(
            "('d14p-unsent{i}', 'd14p@example.com', 'test', 'Old', 'body', '{month_ago}', NULL, '2999-01-01T00:00:00.000Z')"
        )),
        rows(4, &|i| format!(
            "('d14p-letter{i}', 'clientela-jobs-dlq', 'deliver_email', '{{}}', '{month_ago}')"
        )),
    ))?;
    let left = || {
        count(
            &app,
            "SELECT (SELECT COUNT(*) FROM rate_counters WHERE key LIKE 'd14p:old%') \
               + (SELECT COUNT(*) FROM tokens WHERE hash LIKE 'd14p-session%' OR hash LIKE 'd14p-link%' OR hash LIKE 'd14p-used%') \
               + (SELECT COUNT(*) FROM outbox WHERE id LIKE 'd14p-sent%' OR id LIKE 'd14p-unsent%') \
               + (SELECT COUNT(*) FROM dead_letters WHERE message_id LIKE 'd14p-letter%') AS n",
        )
    };
    ensure_eq!(left()?, 31, "the old rows were written");
    app.get(DAILY, Auth::None).await?.expect(200)?;
    app.eventually(Duration::from_secs(40), || async {
        Ok((left()? == 0).then_some(()))
    })
    .await
    .map_err(|e| {
        format!(
            "{} old rows left after the daily run: {e}",
            left().unwrap_or(-1)
        )
    })?;
    let kept = count(
        &app,
        "SELECT (SELECT COUNT(*) FROM rate_counters WHERE key = 'd14p:now') \
           + (SELECT COUNT(*) FROM tokens WHERE hash = 'd14p-live') \
           + (SELECT COUNT(*) FROM outbox WHERE id = 'd14p-recent') \
           + (SELECT COUNT(*) FROM dead_letters WHERE message_id = 'd14p-young') AS n",
    )?;
    ensure_eq!(
        kept,
        4,
        "a live counter, session, recent mail or young dead letter went"
    );
    app.sql(
        "DELETE FROM rate_counters WHERE key = 'd14p:now'; DELETE FROM tokens WHERE hash = 'd14p-live'; \
         DELETE FROM outbox WHERE id = 'd14p-recent'; DELETE FROM dead_letters WHERE message_id = 'd14p-young'",
    )?;
    Ok(())
}
