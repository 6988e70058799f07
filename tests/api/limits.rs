//! Cloudflare's per-invocation limits, held under load: every story runs under the guard at the
//! free plan's 50 D1 queries (see `harness::platform_limits_held`); these build the load that
//! only several invocations can carry.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::ensure_eq;
use crate::given::{create_segment, dead_letter_holding, run_tag};
use crate::harness::{Auth, TestApp, TestFn, CHUNK_ROWS, QUERIES_PER_INVOCATION};

/// Tests that write the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![several_rebuilds_in_flight_finish_with_no_dead_letters]
}

/// Active contacts with marketing consent, written straight into D1 (a base of this size
/// through the signup API would take minutes); ids sort after every contact the API made.
pub fn insert_active_contacts(app: &TestApp, tag: &str, count: usize) -> Result<(), String> {
    let now = crate::harness::as_stored(&crate::harness::days_ago(0));
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO contacts (id, email, email_hash, name, country, status, source, created_at, \
         updated_at, confirmed_at) SELECT 'zz-{tag}-' || printf('%06d', i), \
         '{tag}-' || printf('%06d', i) || '@example.com', lower(hex(randomblob(32))), \
         'Person ' || i, 'BR', 'active', 'import', '{now}', '{now}', '{now}' FROM n; \
         INSERT INTO consents (contact_id, purpose, granted, policy_version, updated_at) \
         SELECT id, 'marketing_email', 1, '2026-01', '{now}' FROM contacts \
         WHERE id LIKE 'zz-{tag}-%';"
    ))
}

/// Six segments over a base whose rebuild takes several invocations each, all created at once:
/// their rebuild messages are in flight together. Before the WORK queue and per-message budgets,
/// a batch of such messages passed the 1,000 queries together, failed, was retried and reached
/// the dead-letter queue; here every one finishes, each at the right size.
async fn several_rebuilds_in_flight_finish_with_no_dead_letters(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("inflight");
    // Each chunk of CHUNK_ROWS contacts costs two queries: this many need three invocations.
    let count = CHUNK_ROWS * QUERIES_PER_INVOCATION as usize;
    insert_active_contacts(&app, &tag, count)?;
    let since = crate::harness::days_ago(0);
    let mut created = Vec::new();
    for i in 0..6 {
        // Each a different rule, so each has its own size.
        let rule = json!({"all": [
            {"field": "email", "op": "starts_with", "value": tag},
            {"field": "name", "op": "neq", "value": format!("Person {}", i + 1)},
        ]});
        let segment = create_segment(&app, &format!("{tag} in flight {i}"), rule).await?;
        created.push(segment);
    }
    for segment in &created {
        let id = segment["id"].as_str().ok_or("no id")?;
        let ready = app
            .eventually(Duration::from_secs(90), || async {
                let s = app
                    .get(&format!("/admin/v1/segments/{id}"), Auth::Admin)
                    .await?
                    .expect(200)?
                    .json();
                Ok((s["state"] == "ready").then_some(s))
            })
            .await
            .map_err(|e| format!("segment {id} never became ready: {e}"))?;
        ensure_eq!(
            ready["size"],
            json!(count - 1),
            "segment {id} built to the wrong size: {ready}"
        );
    }
    // Only this story's kind of message: an earlier story's email may reach the dead letters
    // meanwhile, by design.
    if let Some(letter) = dead_letter_holding(&app, &since, "segment_rebuild").await? {
        return Err(format!("a rebuild reached the dead-letter queue: {letter}"));
    }
    Ok(())
}
