//! Shops upgrade a live database: a D1 created by `schema.sql` (the first release) and filled
//! the way that release filled it is upgraded by `wrangler d1 migrations apply`, and every row
//! is still there, with only the changes the migrations promise.

use std::sync::Arc;

use serde_json::Value;

use crate::ensure;
use crate::ensure_eq;
use crate::harness::{
    apply_migrations, d1_execute_at, d1_file_at, d1_rows_at, scratch_state, TestApp, TestFn,
};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![a_database_of_the_first_release_upgrades_with_its_data_intact]
}

/// Rows as the first release wrote them: an active buyer with consent history, an unconfirmed
/// signup whose form consent was recorded as granted, an erased address, a delivered and a
/// pending email with live links, tokens, a segment and its member, audit entries, and a survey
/// Ana answered about her order.
const FIRST_RELEASE_ROWS: &str = "
INSERT INTO contacts (id, email, email_hash, name, status, source, created_at, updated_at, confirmed_at)
  VALUES ('c-active', 'ana@example.com', 'h-ana', 'Ana', 'active', 'frm_1', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:05:00.000Z'),
         ('c-pending', 'bob@example.com', 'h-bob', 'Bob', 'pending', 'frm_1', '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z', NULL);
INSERT INTO contact_attributes (contact_id, key, value, updated_at) VALUES ('c-active', 'shoe_size', '38', '2026-01-01T00:00:00.000Z');
INSERT INTO consent_events (id, contact_id, purpose, action, policy_version, notice_text_hash, source, method, ip_hash, user_agent, at)
  VALUES ('e1', 'c-active', 'marketing_email', 'granted', '2026-01', 'n1', 'frm_1', 'form', 'ip1', 'UA', '2026-01-01T00:00:00.000Z'),
         ('e2', 'c-active', 'marketing_email', 'granted', '2026-01', 'n1', 'frm_1', 'double_opt_in', 'ip2', 'UA', '2026-01-01T00:05:00.000Z'),
         ('e3', 'c-pending', 'marketing_email', 'granted', '2026-01', 'n1', 'frm_1', 'form', 'ip3', 'UA', '2026-02-01T00:00:00.000Z');
INSERT INTO consents (contact_id, purpose, granted, policy_version, updated_at)
  VALUES ('c-active', 'marketing_email', 1, '2026-01', '2026-01-01T00:05:00.000Z'),
         ('c-pending', 'marketing_email', 1, '2026-01', '2026-02-01T00:00:00.000Z');
INSERT INTO contact_stats (contact_id, order_count, total_spent_cents, updated_at) VALUES ('c-active', 2, 25980, '2026-03-01T00:00:00.000Z');
INSERT INTO orders (id, external_id, contact_id, total_cents, currency, placed_at, created_at, updated_at)
  VALUES ('o1', '1001', 'c-active', 12990, 'BRL', '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z');
INSERT INTO suppressions (email_hash, reason, at) VALUES ('h-erased', 'erased', '2026-01-15T00:00:00.000Z');
INSERT INTO tokens (hash, purpose, contact_id, payload, created_at, expires_at)
  VALUES ('t-confirm', 'confirm', 'c-pending', '{\"form_id\":\"frm_1\",\"locale\":\"en\",\"consents\":[],\"changes\":null}', '2026-02-01T00:00:00.000Z', '2026-02-08T00:00:00.000Z'),
         ('t-session', 'session', 'c-active', NULL, '2026-03-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z');
INSERT INTO outbox (id, contact_id, to_email, kind, subject, body_text, url, unsubscribe_url, preferences_url, created_at, sent_at)
  VALUES ('m-sent', 'c-active', 'ana@example.com', 'magic_link', 'Sign in', 'open https://x/me?t=LIVE', 'https://x/me?t=LIVE', NULL, NULL, '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:01.000Z'),
         ('m-pending', 'c-pending', 'bob@example.com', 'confirm', 'Confirm', 'open https://x/confirm?t=PENDING', 'https://x/confirm?t=PENDING', NULL, NULL, '2026-02-01T00:00:00.000Z', NULL);
INSERT INTO segments (id, name, rule, created_at, updated_at, state, size) VALUES ('seg_1', 'Buyers', '{\"all\":[]}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'ready', 1);
INSERT INTO segment_members (segment_id, contact_id, since) VALUES ('seg_1', 'c-active', '2026-01-02T00:00:00.000Z');
INSERT INTO audit_log (id, at, actor, action, subject) VALUES ('a1', '2026-01-01T00:00:00.000Z', 'bootstrap', 'form.create', 'frm_1');
INSERT INTO rate_counters (key, window_start, count) VALUES ('signup-email:h-ana', '2026-01-01T00:00:00.000Z', 1);
INSERT INTO surveys (id, name, definition, created_at, updated_at) VALUES ('srv_1', 'After purchase', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
INSERT INTO survey_invitations (id, survey_id, contact_id, order_id, token_hash, created_at, expires_at, answered_at)
  VALUES ('inv_1', 'srv_1', 'c-active', 'o1', 'th-1', '2026-02-02T00:00:00.000Z', '2026-03-04T00:00:00.000Z', '2026-02-03T00:00:00.000Z'),
         ('inv_2', 'srv_1', 'c-pending', NULL, 'th-2', '2026-02-02T00:00:00.000Z', '2026-03-04T00:00:00.000Z', NULL);
INSERT INTO survey_responses (id, survey_id, invitation_id, contact_id, answers, nps, csat, created_at)
  VALUES ('r-ana', 'srv_1', 'inv_1', 'c-active', '{\"nps\":9}', 9, 5, '2026-02-03T00:00:00.000Z');
";

const TABLES: [&str; 17] = [
    "contacts",
    "contact_attributes",
    "consent_events",
    "consents",
    "contact_stats",
    "orders",
    "suppressions",
    "tokens",
    "outbox",
    "segments",
    "segment_members",
    "audit_log",
    "rate_counters",
    "dead_letters",
    "surveys",
    "survey_invitations",
    "survey_responses",
];

/// Rows per table, in one query (each `wrangler d1 execute` is a Node process of its own).
fn counts(state: &std::path::Path) -> Result<Vec<i64>, String> {
    let query = format!(
        "SELECT {}",
        TABLES
            .iter()
            .map(|t| format!("(SELECT COUNT(*) FROM {t}) AS {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = d1_rows_at(state, &query)?
        .into_iter()
        .next()
        .ok_or("no counts")?;
    TABLES
        .iter()
        .map(|t| row[*t].as_i64().ok_or_else(|| format!("no count for {t}")))
        .collect()
}

/// What the upgrade must have kept or changed, read in one query as JSON per aspect.
const AFTER_UPGRADE: &str = "SELECT
  (SELECT json_object('email', email, 'email_hash', email_hash, 'name', name, 'status', status, 'link_epoch', link_epoch)
     FROM contacts WHERE id = 'c-active') AS ana,
  (SELECT json_group_array(json_object('ip_hash', ip_hash, 'email_hash', email_hash))
     FROM (SELECT * FROM consent_events WHERE contact_id = 'c-active' ORDER BY at)) AS history,
  (SELECT COUNT(*) FROM consent_events WHERE contact_id = 'c-pending') AS pending_history,
  (SELECT json_group_array(contact_id) FROM (SELECT contact_id FROM consents ORDER BY contact_id)) AS current,
  (SELECT reason FROM suppressions WHERE email_hash = 'h-erased') AS suppression,
  (SELECT json_object('to', to_email, 'subject', subject, 'body', body_text, 'url', url)
     FROM outbox WHERE id = 'm-sent') AS sent,
  (SELECT url FROM outbox WHERE id = 'm-pending') AS pending_url,
  (SELECT COUNT(*) FROM notices) AS notices,
  (SELECT json_group_array(json_object('invitation', i.id, 'response', r.id, 'nps', r.nps, 'answers', r.answers))
     FROM survey_invitations i JOIN survey_responses r ON r.survey_id = i.survey_id AND r.id = i.response_id
     WHERE i.contact_id = 'c-active') AS ana_answers,
  (SELECT response_id FROM survey_invitations WHERE id = 'inv_2') AS unanswered,
  (SELECT json_object('id', id, 'contact', contact_id, 'total', total_cents) FROM orders WHERE external_id = '1001') AS order_1001";

fn json_of(row: &Value, key: &str) -> Value {
    row[key]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

async fn a_database_of_the_first_release_upgrades_with_its_data_intact(
    _app: Arc<TestApp>,
) -> Result<(), String> {
    let state = scratch_state("upgrade");
    tokio::task::spawn_blocking(move || {
        let outcome = upgrade_story(&state);
        let _ = std::fs::remove_dir_all(&state);
        outcome
    })
    .await
    .map_err(|e| e.to_string())?
}

fn upgrade_story(state: &std::path::Path) -> Result<(), String> {
    d1_file_at(state, "schema.sql")?;
    d1_execute_at(state, FIRST_RELEASE_ROWS, false)?;
    let before = counts(state)?;

    let applied = apply_migrations(state)?;
    ensure!(
        applied.contains("0001_trust_model.sql"),
        "the first migration did not run: {applied}"
    );

    // Every row of every table is still there, but for the promised changes: a withdrawn
    // consent row (below), and the hourly rate counters, which 0006 restarts (their cap now
    // lives in the row; an hour's counts are all that is lost).
    let after = counts(state)?;
    for ((table, b), a) in TABLES.iter().zip(&before).zip(&after) {
        let expected = match *table {
            "consents" => b - 1,
            "rate_counters" => 0,
            _ => *b,
        };
        ensure_eq!(*a, expected, "{table}: {b} rows before, {a} after");
    }
    let row = d1_rows_at(state, AFTER_UPGRADE)?
        .into_iter()
        .next()
        .ok_or("no row")?;
    let ana = json_of(&row, "ana");
    ensure!(
        ana["email"] == "ana@example.com"
            && ana["email_hash"] == "h-ana"
            && ana["name"] == "Ana"
            && ana["status"] == "active"
            && ana["link_epoch"] == 0,
        "contact changed: {ana}"
    );
    let history = json_of(&row, "history");
    ensure!(
        history.as_array().map(Vec::len) == Some(2)
            && history[0]["ip_hash"] == "ip1"
            && history[1]["ip_hash"] == "ip2"
            && history
                .as_array()
                .is_some_and(|h| h.iter().all(|e| e["email_hash"].is_null())),
        "consent proof changed: {history}"
    );
    ensure_eq!(row["suppression"], "erased", "suppression lost: {row}");
    // The promised change: a consent of a still-unconfirmed contact no longer counts (its
    // event stays as history, and its confirmation link still grants it), the confirmed one does.
    ensure_eq!(
        json_of(&row, "current"),
        serde_json::json!(["c-active"]),
        "current consents after upgrade: {row}"
    );
    ensure_eq!(
        row["pending_history"],
        1,
        "the unconfirmed contact's history was lost: {row}"
    );
    // A delivered email keeps its metadata and loses its live link and body; a pending one
    // keeps everything so it can still be delivered byte for byte.
    let sent = json_of(&row, "sent");
    ensure!(
        sent["to"] == "ana@example.com"
            && sent["subject"] == "Sign in"
            && sent["body"] == ""
            && sent["url"].is_null(),
        "delivered message after upgrade: {sent}"
    );
    ensure_eq!(
        row["pending_url"],
        "https://x/confirm?t=PENDING",
        "pending message lost its link: {row}"
    );
    ensure_eq!(row["notices"], 0, "notices table missing or filled: {row}");
    // 0007: Ana's answer is found through her invitation, which now names it; the unanswered
    // invitation names none; her order is found by its external id with its own id kept.
    ensure_eq!(
        json_of(&row, "ana_answers"),
        serde_json::json!([{"invitation": "inv_1", "response": "r-ana", "nps": 9, "answers": "{\"nps\":9}"}]),
        "the answer is not found through its invitation after upgrade: {row}"
    );
    ensure!(
        row["unanswered"].is_null(),
        "an unanswered invitation names a response: {row}"
    );
    ensure_eq!(
        json_of(&row, "order_1001"),
        serde_json::json!({"id": "o1", "contact": "c-active", "total": 12990}),
        "order after upgrade: {row}"
    );

    // Applying again changes nothing. (schema.sql is never applied to a migrated database:
    // `make dev` applies it only to one without tables, since its IF NOT EXISTS statements
    // would bring back what migrations dropped.)
    let again = apply_migrations(state)?;
    ensure!(
        !again.contains("0001_trust_model.sql"),
        "a second apply ran the migration again: {again}"
    );
    ensure_eq!(counts(state)?, after, "re-applying changed the data");
    Ok(())
}
