//! Customer self-service: magic link, session, view, correct, export, consents, erasure,
//! one-click unsubscribe and retention.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::harness::{unique_email, Auth, Reply, TestApp, TestFn};
use crate::signup::{contact, create_form, form_body, signed_up_and_confirmed, signup, submit};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        customer_sees_fixes_exports_and_erases_their_data,
        magic_link_answers_the_same_for_known_and_unknown_addresses,
        profile_changes_refuse_mass_assignment,
        one_click_unsubscribe_withdraws_marketing_consent,
        twenty_simultaneous_uses_of_one_link_give_one_session,
        preferences_link_opens_a_preferences_only_session,
        erased_person_can_come_back_only_by_double_opt_in,
        preference_center_page_is_served_localized,
    ]
}

/// Tests that move time by writing the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        self_service_requires_a_live_session,
        unconfirmed_signups_expire_after_thirty_days
    ]
}

async fn magic_link_messages(app: &TestApp, email: &str) -> Result<Vec<Value>, String> {
    Ok(app
        .mail_to(email)
        .await?
        .into_iter()
        .filter(|x| x["kind"] == "magic_link")
        .collect())
}

async fn request_link(app: &TestApp, email: &str) -> Result<Reply, String> {
    app.send(
        app.client
            .post(app.url("/v1/me/link"))
            .header("CF-Connecting-IP", "192.0.2.10")
            .json(&json!({"email": email})),
        Auth::None,
    )
    .await
}

/// Requests a magic link and waits for its email; returns the token.
async fn magic_token(app: &TestApp, email: &str) -> Result<String, String> {
    let before = magic_link_messages(app, email).await?.len();
    request_link(app, email).await?.expect(202)?;
    let messages = app
        .eventually(Duration::from_secs(10), || async {
            let m = magic_link_messages(app, email).await?;
            Ok((m.len() > before).then_some(m))
        })
        .await?;
    let url = messages[0]["url"].as_str().ok_or("no url")?;
    ensure!(url.starts_with(&format!("{}/me?t=", app.base)), "url {url}");
    url.split("t=")
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| "no token".into())
}

pub async fn session_for(app: &TestApp, email: &str) -> Result<String, String> {
    let token = magic_token(app, email).await?;
    let reply = app
        .post_json("/v1/me/session", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?;
    reply.json()["session"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no session".into())
}

async fn customer_sees_fixes_exports_and_erases_their_data(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("story");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let session = session_for(&app, &email).await?;
    let me = app
        .get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    ensure!(
        me["email"] == email.as_str() && me["status"] == "active",
        "me {me}"
    );
    ensure!(
        me["attributes"]["interests"] == json!(["bags"]),
        "attributes {}",
        me["attributes"]
    );
    ensure!(
        me["consent_history"]
            .as_array()
            .is_some_and(|h| h.len() == 2),
        "history {}",
        me["consent_history"]
    );
    ensure!(
        me["orders"] == json!([]) && me["segments"] == json!([]),
        "extras {me}"
    );
    let edited = app
        .send(
            app.client
                .patch(app.url("/v1/me"))
                .json(&json!({"name": "Ana Lima", "city": "Recife", "country": null})),
            Auth::Bearer(&session),
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        edited["name"] == "Ana Lima" && edited["city"] == "Recife" && edited["country"].is_null(),
        "edited {edited}"
    );
    let export = app
        .get("/v1/me/export", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    ensure!(
        export
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "not a download"
    );
    let doc = export.json();
    ensure!(
        doc["data"]["name"] == "Ana Lima"
            && doc["processing"].as_array().is_some_and(|p| !p.is_empty()),
        "export {doc}"
    );
    let withdraw = app
        .send(
            app.client
                .put(app.url("/v1/me/consents/marketing_email"))
                .json(&json!({"granted": false})),
            Auth::Bearer(&session),
        )
        .await?
        .expect(200)?;
    ensure!(
        withdraw.json()["granted"] == false,
        "withdraw {}",
        withdraw.text
    );
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure!(
        c["status"] == "unsubscribed" && c["consents"][0]["granted"] == false,
        "after withdraw {c}"
    );
    app.send(
        app.client
            .put(app.url("/v1/me/consents/marketing_email"))
            .json(&json!({"granted": true})),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure!(
        c["status"] == "active" && c["consents"][0]["granted"] == true,
        "after re-grant {c}"
    );
    let methods: Vec<String> = c["consent_history"]
        .as_array()
        .ok_or("no history")?
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["method"].as_str().unwrap_or(""),
                e["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    ensure!(
        methods.ends_with(&[
            "self_service:withdrawn".to_string(),
            "self_service:granted".to_string()
        ]),
        "history {methods:?}"
    );
    let contact_id = c["id"].as_str().ok_or("no id")?.to_string();
    let erased = app
        .delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    ensure!(
        erased.json() == json!({"status": "erased"}),
        "erase {}",
        erased.text
    );
    app.get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect_error(401, "unauthorized")?;
    ensure!(
        contact(&app, &email).await?.is_none(),
        "admin still finds the person"
    );
    app.get(&format!("/admin/v1/contacts/{contact_id}"), Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    let audit = app
        .get("/admin/v1/audit?limit=1000", Auth::Admin)
        .await?
        .expect(200)?;
    ensure!(
        audit.text.contains("contact.erase") && !audit.text.contains(&email),
        "audit {}",
        audit.text.len()
    );
    // Only the notice that the erasure happened is left for the address.
    let outbox = app
        .get(&format!("/admin/v1/outbox?to={email}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    let kinds: Vec<&str> = outbox["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["kind"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        kinds == ["erasure_notice"],
        "outbox keeps messages to an erased person: {kinds:?}"
    );
    // A form without double opt-in cannot bring an erased person back.
    let single = create_form(&app, &form_body(false)).await?;
    submit(&app, &single, &signup(&email, "Ana"))
        .await?
        .expect(202)?;
    ensure!(
        contact(&app, &email).await?.is_none(),
        "resurrected by a form without double opt-in"
    );
    // Nor can the shop's next list upload.
    let report = crate::import::import(
        &app,
        "text/csv",
        &format!("email,consents,consent_basis\n{email},marketing_email,newsletter list 2024\n"),
    )
    .await?
    .expect(200)?
    .json();
    ensure!(
        report["created"] == 0
            && report["rejected"][0]["line"] == 2
            && report["rejected"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("suppressed")),
        "import after erasure {report}"
    );
    ensure!(
        contact(&app, &email).await?.is_none(),
        "resurrected by an import"
    );
    Ok(())
}

async fn magic_link_answers_the_same_for_known_and_unknown_addresses(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let known = unique_email("known-me");
    signed_up_and_confirmed(&app, &form, &known).await?;
    let unknown = unique_email("stranger");
    let a = request_link(&app, &known).await?.expect(202)?;
    let b = request_link(&app, &unknown).await?.expect(202)?;
    ensure!(
        a.text == b.text && a.text == r#"{"status":"accepted"}"#,
        "answers differ: {} / {}",
        a.text,
        b.text
    );
    app.eventually(Duration::from_secs(10), || async {
        Ok((!magic_link_messages(&app, &known).await?.is_empty()).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(
        magic_link_messages(&app, &unknown).await?.is_empty(),
        "an unknown address got mail"
    );
    request_link(&app, "not-an-email")
        .await?
        .expect_error(400, "validation_failed")?;
    Ok(())
}

async fn profile_changes_refuse_mass_assignment(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("mass");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let session = session_for(&app, &email).await?;
    let reply = app
        .send(app.client.patch(app.url("/v1/me")).json(&json!({"name": "X", "email": "other@example.com", "status": "pending", "confirmed_at": null})), Auth::Bearer(&session))
        .await?
        .expect_error(400, "validation_failed")?;
    let fields = &reply.json()["error"]["fields"];
    for f in ["email", "status", "confirmed_at"] {
        ensure!(fields[f] == "not editable", "{f} not refused: {fields}");
    }
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure!(
        c["name"] == "Ana" && c["status"] == "active",
        "partially applied: {c}"
    );
    app.send(
        app.client
            .patch(app.url("/v1/me"))
            .json(&json!({"birth_date": "2999-01-01"})),
        Auth::Bearer(&session),
    )
    .await?
    .expect_error(400, "validation_failed")?;
    app.send(
        app.client
            .put(app.url("/v1/me/consents/Not-A-Purpose"))
            .json(&json!({"granted": true})),
        Auth::Bearer(&session),
    )
    .await?
    .expect_error(400, "validation_failed")?;
    // A grant needs a notice the person was shown; objecting needs nothing.
    app.send(
        app.client
            .put(app.url("/v1/me/consents/profiling"))
            .json(&json!({"granted": true})),
        Auth::Bearer(&session),
    )
    .await?
    .expect_error(400, "validation_failed")?;
    app.send(
        app.client
            .put(app.url("/v1/me/consents/profiling"))
            .json(&json!({"granted": false})),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    Ok(())
}

async fn self_service_requires_a_live_session(app: Arc<TestApp>) -> Result<(), String> {
    for auth in [
        Auth::None,
        Auth::Bearer("garbage"),
        Auth::Bearer("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let reply = app.get("/v1/me", auth).await?;
        reply.expect_error(401, "unauthorized")?;
    }
    app.delete("/v1/me", Auth::Bearer(&app.admin_key))
        .await?
        .expect_error(401, "unauthorized")?;
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("expiring");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let session = session_for(&app, &email).await?;
    app.get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let hash = clientela::domain::secret::sha256_hex(&session);
    app.sql(&format!(
        "UPDATE tokens SET expires_at = '2000-01-01T00:00:00.000Z' WHERE hash = '{hash}'"
    ))?;
    app.get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect_error(401, "unauthorized")?;
    Ok(())
}

async fn one_click_unsubscribe_withdraws_marketing_consent(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("oneclick");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let (url, _) = crate::trust::newsletter_links(&app, &email).await?;
    let page = app.get(&url, Auth::None).await?.expect(200)?;
    ensure!(page.text.contains(r#"id="unsubscribe""#), "no button");
    ensure!(
        contact(&app, &email).await?.ok_or("gone")?["consents"][0]["granted"] == true,
        "a GET unsubscribed"
    );
    let one_click = app
        .client
        .post(app.url(&url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click");
    app.send(one_click, Auth::None).await?.expect(200)?;
    let c = contact(&app, &email).await?.ok_or("gone")?;
    ensure!(
        c["status"] == "unsubscribed" && c["consents"][0]["granted"] == false,
        "after one-click {c}"
    );
    let last = c["consent_history"]
        .as_array()
        .and_then(|h| h.last().cloned())
        .ok_or("no history")?;
    ensure!(
        last["method"] == "one_click_unsubscribe" && last["action"] == "withdrawn",
        "event {last}"
    );
    let again = app
        .client
        .post(app.url(&url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click");
    app.send(again, Auth::None).await?.expect(200)?;
    let forged = url.replacen(".u.", ".p.", 1);
    app.send(
        app.client
            .post(app.url(&forged))
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await?
    .expect(400)?;
    Ok(())
}

async fn twenty_simultaneous_uses_of_one_link_give_one_session(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("race");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let token = magic_token(&app, &email).await?;
    let attempts = (0..20).map(|_| {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            app.post_json("/v1/me/session", &json!({"token": token}), Auth::None)
                .await
                .map(|r| r.status)
        })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.map_err(|e| e.to_string())??);
    }
    let wins = statuses.iter().filter(|s| **s == 200).count();
    let gone = statuses.iter().filter(|s| **s == 410).count();
    ensure!(wins == 1 && gone == 19, "statuses {statuses:?}");
    Ok(())
}

async fn preferences_link_opens_a_preferences_only_session(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("prefs");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let (_, url) = crate::trust::newsletter_links(&app, &email).await?;
    let token = url.split("p=").nth(1).ok_or("no token")?;
    // Reusable until it expires or is revoked, and only ever for a preferences-only session.
    for _ in 0..2 {
        let opened = app
            .post_json("/v1/me/session", &json!({"token": token}), Auth::None)
            .await?
            .expect(200)?
            .json();
        ensure!(opened["scope"] == "preferences", "scope {opened}");
    }
    let last = if token.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    app.post_json("/v1/me/session", &json!({"token": forged}), Auth::None)
        .await?
        .expect_error(410, "link_invalid")?;
    Ok(())
}

async fn erased_person_can_come_back_only_by_double_opt_in(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("returning");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    signed_up_and_confirmed(&app, &form, &email).await?;
    let c = contact(&app, &email).await?.ok_or("not back")?;
    ensure!(c["status"] == "active", "status {}", c["status"]);
    let methods: Vec<&str> = c["consent_history"]
        .as_array()
        .ok_or("no history")?
        .iter()
        .filter_map(|e| e["method"].as_str())
        .collect();
    ensure!(
        methods == ["form", "double_opt_in"],
        "old history survived erasure: {methods:?}"
    );
    Ok(())
}

async fn unconfirmed_signups_expire_after_thirty_days(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let (old, recent) = (unique_email("stale"), unique_email("recent"));
    submit(&app, &form, &signup(&old, "Old"))
        .await?
        .expect(202)?;
    submit(&app, &form, &signup(&recent, "New"))
        .await?
        .expect(202)?;
    let id = contact(&app, &old).await?.ok_or("no contact")?["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    app.sql(&format!(
        "UPDATE contacts SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = '{id}'"
    ))?;
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None).await?;
    app.eventually(Duration::from_secs(10), || async {
        Ok(contact(&app, &old).await?.is_none().then_some(()))
    })
    .await?;
    ensure!(
        contact(&app, &recent).await?.is_some(),
        "a recent signup was purged"
    );
    // Never confirmed, so never suppressed: they may sign up again.
    submit(&app, &form, &signup(&old, "Old"))
        .await?
        .expect(202)?;
    ensure!(
        contact(&app, &old).await?.is_some(),
        "expired signup was suppressed"
    );
    Ok(())
}

async fn preference_center_page_is_served_localized(app: Arc<TestApp>) -> Result<(), String> {
    let page = app
        .send(
            app.client
                .get(app.url("/me?t=abc"))
                .header("Accept-Language", "ro-RO,ro;q=0.9"),
            Auth::None,
        )
        .await?
        .expect(200)?;
    ensure!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "not HTML"
    );
    ensure!(page.text.contains(r#"lang="ro""#), "not localized");
    ensure!(page.header("content-security-policy").is_some(), "no CSP");
    Ok(())
}
