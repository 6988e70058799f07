//! How long things live: a confirmation link 7 days, a sign-in link 30 minutes, a session 60
//! minutes, an unconfirmed signup 30 days. Each is tested on both sides of its boundary by moving
//! time in the local D1: a row's timestamps are moved into the past by as much time as the test
//! pretends has gone by, which is what the Worker's clock moving forward would do to it.

use std::sync::Arc;
use std::time::Duration;

use clientela::domain::secret::sha256_hex;
use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    confirm_messages, contact, create_form, form_body, signed_up_and_confirmed, signup, submit,
    token_of,
};
use crate::harness::{audit_entries, unique_email, Auth, TestApp, TestFn};

/// All write the local D1 from a second process (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        confirmation_link_works_for_seven_days_and_not_a_minute_more,
        sign_in_link_works_for_thirty_minutes_and_not_a_minute_more,
        session_lasts_sixty_minutes_and_not_a_minute_more,
        unconfirmed_signups_are_kept_thirty_days_and_purged_by_the_daily_cron,
    ]
}

const MINUTE: i64 = 60;
const DAY: i64 = 24 * 60 * MINUTE;

/// The token row behind a secret: its lifetime as stored (`expires_at - created_at`, seconds).
fn stored_lifetime(app: &TestApp, secret: &str, purpose: &str) -> Result<i64, String> {
    let rows = app.sql_rows(&format!(
        "SELECT CAST(ROUND((julianday(expires_at) - julianday(created_at)) * 86400) AS INTEGER) \
         AS seconds FROM tokens WHERE hash = '{}' AND purpose = '{purpose}'",
        sha256_hex(secret)
    ))?;
    rows.first()
        .and_then(|r| r["seconds"].as_i64())
        .ok_or_else(|| format!("no {purpose} token row"))
}

/// Moves time `seconds` forward for one token: both its timestamps go that far into the past.
fn age_token(app: &TestApp, secret: &str, seconds: i64) -> Result<(), String> {
    app.sql(&format!(
        "UPDATE tokens SET \
         created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-{seconds} seconds'), \
         expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', expires_at, '-{seconds} seconds') \
         WHERE hash = '{}'",
        sha256_hex(secret)
    ))
}

/// A distinct client address per request, so the per-IP limits never decide these tests.
fn client_ip() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("198.18.{}.{}", (n / 250) % 250, n % 250 + 1)
}

async fn confirm(app: &TestApp, token: &str) -> Result<crate::harness::Reply, String> {
    app.send(
        app.client
            .post(app.url("/v1/confirm"))
            .header("CF-Connecting-IP", client_ip())
            .json(&json!({ "token": token })),
        Auth::None,
    )
    .await
}

/// Signs `email` up through a double opt-in form; the token of its confirmation email.
async fn pending_signup(app: &TestApp, form: &str, email: &str) -> Result<String, String> {
    submit(app, form, &signup(email, "Lifetime"))
        .await?
        .expect(202)?;
    let messages = app
        .eventually(Duration::from_secs(10), || async {
            let m = confirm_messages(app, email).await?;
            Ok((!m.is_empty()).then_some(m))
        })
        .await?;
    token_of(&messages[0])
}

async fn confirmation_link_works_for_seven_days_and_not_a_minute_more(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let (early, late) = (
        unique_email("ttl-confirm-in"),
        unique_email("ttl-confirm-out"),
    );
    let in_time = pending_signup(&app, &form, &early).await?;
    let too_late = pending_signup(&app, &form, &late).await?;
    let lifetime = stored_lifetime(&app, &in_time, "confirm")?;
    ensure_eq!(
        lifetime,
        7 * DAY,
        "a confirmation link lives {lifetime} s, not 7 days"
    );
    age_token(&app, &in_time, 7 * DAY - MINUTE)?;
    age_token(&app, &too_late, 7 * DAY + MINUTE)?;
    confirm(&app, &in_time).await?.expect(200)?;
    confirm(&app, &too_late)
        .await?
        .expect_error(410, "link_invalid")?;
    let status = |c: Option<Value>| c.map(|c| c["status"].clone()).unwrap_or(Value::Null);
    ensure_eq!(
        status(contact(&app, &early).await?),
        "active",
        "confirmed a minute before expiry, yet not active"
    );
    ensure_eq!(
        status(contact(&app, &late).await?),
        "pending",
        "confirmed a minute after expiry"
    );
    Ok(())
}

async fn sign_in_links(app: &TestApp, email: &str) -> Result<Vec<Value>, String> {
    Ok(app
        .mail_to(email)
        .await?
        .into_iter()
        .filter(|m| m["kind"] == "magic_link")
        .collect())
}

/// Asks for a sign-in link for `email` and waits for it; returns its token.
async fn sign_in_token(app: &TestApp, email: &str) -> Result<String, String> {
    let before = sign_in_links(app, email).await?.len();
    app.send(
        app.client
            .post(app.url("/v1/me/link"))
            .header("CF-Connecting-IP", client_ip())
            .json(&json!({ "email": email })),
        Auth::None,
    )
    .await?
    .expect(202)?;
    let messages = app
        .eventually(Duration::from_secs(10), || async {
            let m = sign_in_links(app, email).await?;
            Ok((m.len() > before).then_some(m))
        })
        .await?;
    token_of(&messages[0])
}

async fn open_session(app: &TestApp, token: &str) -> Result<crate::harness::Reply, String> {
    app.send(
        app.client
            .post(app.url("/v1/me/session"))
            .header("CF-Connecting-IP", client_ip())
            .json(&json!({ "token": token })),
        Auth::None,
    )
    .await
}

async fn sign_in_link_works_for_thirty_minutes_and_not_a_minute_more(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("ttl-sign-in");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let in_time = sign_in_token(&app, &email).await?;
    let too_late = sign_in_token(&app, &email).await?;
    let lifetime = stored_lifetime(&app, &in_time, "magic_link")?;
    ensure_eq!(
        lifetime,
        30 * MINUTE,
        "a sign-in link lives {lifetime} s, not 30 minutes"
    );
    age_token(&app, &in_time, 30 * MINUTE - MINUTE)?;
    age_token(&app, &too_late, 30 * MINUTE + MINUTE)?;
    open_session(&app, &in_time).await?.expect(200)?;
    open_session(&app, &too_late)
        .await?
        .expect_error(410, "link_invalid")?;
    Ok(())
}

async fn session_lasts_sixty_minutes_and_not_a_minute_more(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("ttl-session");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let token = sign_in_token(&app, &email).await?;
        let opened = open_session(&app, &token).await?.expect(200)?.json();
        sessions.push(
            opened["session"]
                .as_str()
                .ok_or_else(|| format!("no session in {opened}"))?
                .to_string(),
        );
    }
    let (in_time, too_late) = (&sessions[0], &sessions[1]);
    let lifetime = stored_lifetime(&app, in_time, "session")?;
    ensure_eq!(
        lifetime,
        60 * MINUTE,
        "a session lives {lifetime} s, not 60 minutes"
    );
    age_token(&app, in_time, 60 * MINUTE - MINUTE)?;
    age_token(&app, too_late, 60 * MINUTE + MINUTE)?;
    let me = app
        .get("/v1/me", Auth::Bearer(in_time))
        .await?
        .expect(200)?;
    ensure_eq!(me.json()["email"], email.as_str(), "me {}", me.text);
    app.get("/v1/me", Auth::Bearer(too_late))
        .await?
        .expect_error(401, "unauthorized")?;
    Ok(())
}

/// The daily cron as wrangler.toml schedules it.
fn daily_cron() -> Result<String, String> {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml"))
        .map_err(|e| format!("wrangler.toml: {e}"))?;
    toml.lines()
        .find_map(|l| l.trim().strip_prefix("crons"))
        .and_then(|rest| rest.split('"').nth(1))
        .map(str::to_string)
        .ok_or_else(|| "no cron in wrangler.toml".into())
}

async fn unconfirmed_signups_are_kept_thirty_days_and_purged_by_the_daily_cron(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    // Unconfirmed signups of various ages, and a confirmed one older than all of them.
    let ages = [
        ("29d", 29 * DAY, true),
        ("30d-10m", 30 * DAY - 10 * MINUTE, true),
        ("30d+10m", 30 * DAY + 10 * MINUTE, false),
        ("31d", 31 * DAY, false),
    ];
    let mut people = Vec::new();
    for (tag, age, kept) in ages {
        let email = unique_email(&format!("retention-{tag}"));
        submit(&app, &form, &signup(&email, "Unconfirmed"))
            .await?
            .expect(202)?;
        people.push((email, age, kept));
    }
    let member = unique_email("retention-member");
    signed_up_and_confirmed(&app, &form, &member).await?;
    people.push((member.clone(), 31 * DAY, true));
    let mut ids = Vec::new();
    for (email, age, _) in &people {
        let id = contact(&app, email).await?.ok_or("no contact")?["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        app.sql(&format!(
            "UPDATE contacts SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{age} seconds') \
             WHERE id = '{id}'"
        ))?;
        ids.push(id);
    }
    let cron = daily_cron()?.replace(' ', "+");
    app.get(&format!("/__scheduled?cron={cron}"), Auth::None)
        .await?
        .expect(200)?;
    // The positive signal that the run happened: the oldest unconfirmed signup is gone.
    let oldest = &people[3].0;
    app.eventually(Duration::from_secs(20), || async {
        Ok(contact(&app, oldest).await?.is_none().then_some(()))
    })
    .await
    .map_err(|e| format!("the daily cron did not purge a 31-day-old signup: {e}"))?;
    for ((email, age, kept), id) in people.iter().zip(&ids) {
        let there = contact(&app, email).await?.is_some();
        ensure_eq!(
            there,
            *kept,
            "{age} s old ({email}): {}",
            if there { "kept" } else { "purged" }
        );
        // A purge is recorded about the person it removed, by the system; a kept one is not.
        let expired = audit_entries(&app, "contact.expire", Some(id)).await?;
        ensure!(
            expired.len() == usize::from(!kept) && expired.iter().all(|e| e["actor"] == "system"),
            "{age} s old: expiry audit {expired:?}"
        );
    }
    // Never confirmed, so never suppressed: they may sign up again.
    submit(&app, &form, &signup(oldest, "Back"))
        .await?
        .expect(202)?;
    ensure!(
        contact(&app, oldest).await?.is_some(),
        "an expired signup was suppressed"
    );
    Ok(())
}
