//! Signup capture: forms, the embeddable widget's endpoints, double opt-in, consent proof,
//! and the abuse controls around them.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    confirm_messages, contact, create_form, form_body, signed_up_and_confirmed, signup, submit,
    submit_from, token_of, SHOP,
};
use crate::harness::{unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        signup_then_confirm_makes_contact_active,
        consent_proof_records_text_hash_policy_ip_and_agent,
        form_without_double_opt_in_activates_at_once,
        answers_are_identical_for_new_pending_and_confirmed_addresses,
        at_most_one_confirmation_email_per_address_per_day,
        plain_html_form_post_redirects_to_the_thank_you_page,
        honeypot_submissions_are_accepted_and_dropped,
        bad_submissions_are_refused_field_by_field,
        oversized_and_mistyped_bodies_are_refused,
        unknown_form_is_404,
        foreign_origin_is_refused_without_cors_headers,
        allowed_origin_gets_cors_on_preflight_and_answers,
        confirm_link_get_shows_a_button_and_changes_nothing,
        too_many_submissions_from_one_ip_get_429_with_retry_after,
        too_many_submissions_for_one_address_get_429,
        a_burst_for_one_address_is_cut_at_ten_and_the_refused_store_nothing,
        turnstile_is_verified_server_side_and_fails_closed,
        form_definitions_are_validated_and_patchable,
        public_definition_hides_allowed_origins,
        embed_script_is_served_as_javascript,
    ]
}

/// Tests that move time by writing the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        forged_used_and_expired_tokens_are_refused,
        turnstile_without_a_secret_refuses_the_signup,
        confirmed_address_is_never_made_pending_or_overwritten,
    ]
}

/// A distinct visitor IP per call, so per-IP limits only bite where a test wants them to.
fn visitor_ip() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("198.51.{}.{}", (n / 250) % 250, n % 250 + 1)
}

async fn signup_then_confirm_makes_contact_active(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("ana");
    let reply = submit(&app, &form, &signup(&email.to_uppercase(), "Ana Souza"))
        .await?
        .expect(202)?;
    ensure_eq!(
        reply.json(),
        json!({"status": "accepted"}),
        "body {}",
        reply.text
    );
    let pending = contact(&app, &email)
        .await?
        .ok_or("no contact after signup")?;
    ensure_eq!(pending["status"], "pending", "status {}", pending["status"]);
    ensure_eq!(
        pending["email"],
        email.as_str(),
        "email not normalized: {}",
        pending["email"]
    );
    ensure!(
        pending["name"] == "Ana Souza" && pending["country"] == "BR",
        "columns {pending}"
    );
    ensure_eq!(
        pending["attributes"]["interests"],
        json!(["bags"]),
        "attributes {}",
        pending["attributes"]
    );
    let messages = confirm_messages(&app, &email).await?;
    ensure_eq!(messages.len(), 1, "{} confirmation emails", messages.len());
    let url = messages[0]["url"].as_str().unwrap_or("");
    ensure!(
        url.starts_with(&format!("{}/confirm?t=", app.base)),
        "url {url}"
    );
    ensure_eq!(
        messages[0]["subject"],
        "Confirme sua inscrição",
        "not localized: {}",
        messages[0]["subject"]
    );
    let token = token_of(&messages[0])?;
    let confirmed = app
        .post_json("/v1/confirm", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?;
    ensure_eq!(
        confirmed.json(),
        json!({"status": "confirmed"}),
        "body {}",
        confirmed.text
    );
    let active = contact(&app, &email).await?.ok_or("contact vanished")?;
    ensure!(
        active["status"] == "active" && active["confirmed_at"].is_string(),
        "after confirm {active}"
    );
    let consents = &active["consents"];
    ensure_eq!(
        consents,
        &json!([{"purpose": "marketing_email", "granted": true, "frequency": null, "policy_version": "2026-01", "updated_at": consents[0]["updated_at"]}]),
        "consents {consents}"
    );
    Ok(())
}

async fn consent_proof_records_text_hash_policy_ip_and_agent(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("proof");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    let history = c["consent_history"].as_array().ok_or("no history")?;
    let methods: Vec<&str> = history
        .iter()
        .filter_map(|e| e["method"].as_str())
        .collect();
    ensure_eq!(methods, ["form", "double_opt_in"], "methods {methods:?}");
    // SHA-256 of the Portuguese text the visitor saw (the form's locale is pt-BR).
    let shown = clientela::domain::consent::notice_hash("Aceito receber ofertas por e-mail");
    for event in history {
        ensure!(
            event["action"] == "granted" && event["purpose"] == "marketing_email",
            "event {event}"
        );
        ensure_eq!(event["policy_version"], "2026-01", "policy {event}");
        ensure_eq!(event["notice_text_hash"], shown.as_str(), "hash {event}");
        ensure_eq!(event["source"], form.as_str(), "source {event}");
        ensure!(
            event["ip_hash"].as_str().is_some_and(|h| h.len() == 64),
            "ip hash {event}"
        );
        ensure!(!event.to_string().contains("198.51."), "raw IP stored");
    }
    // The browser is kept as the SHA-256 of its User-Agent (README, record of processing).
    ensure_eq!(
        history[0]["user_agent"],
        clientela::domain::consent::user_agent_hash("StoryBrowser/1.0").as_str(),
        "agent {}",
        history[0]
    );
    Ok(())
}

async fn form_without_double_opt_in_activates_at_once(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(false)).await?;
    let email = unique_email("single");
    submit(&app, &form, &signup(&email, "Bia"))
        .await?
        .expect(202)?;
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure_eq!(c["status"], "active", "status {}", c["status"]);
    ensure!(
        confirm_messages(&app, &email).await?.is_empty(),
        "sent a confirmation anyway"
    );
    Ok(())
}

async fn answers_are_identical_for_new_pending_and_confirmed_addresses(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let confirmed = unique_email("known");
    signed_up_and_confirmed(&app, &form, &confirmed).await?;
    let fresh = unique_email("fresh");
    let first = submit(&app, &form, &signup(&fresh, "X")).await?;
    let pending_again = submit(&app, &form, &signup(&fresh, "X")).await?;
    let known = submit(&app, &form, &signup(&confirmed, "X")).await?;
    for r in [&first, &pending_again, &known] {
        ensure!(
            r.status == 202 && r.text == first.text,
            "answers differ: {} {}",
            r.status,
            r.text
        );
        ensure_eq!(
            r.header("content-type"),
            first.header("content-type"),
            "content types differ"
        );
    }
    Ok(())
}

/// A resubmission for a confirmed address is a change request: nothing it carries (name,
/// fields, attributes) touches the contact until the mailbox owner confirms it, and then all of
/// it does.
async fn confirmed_address_is_never_made_pending_or_overwritten(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("victim");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let before = contact(&app, &email).await?.ok_or("no contact")?;
    let sent_before = confirm_messages(&app, &email).await?.len();
    // A known address gets one confirmation email a day: let the first one be a day old.
    let day_ago = (chrono::Utc::now() - chrono::Duration::hours(25))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.sql(&format!(
        "UPDATE outbox SET created_at = '{day_ago}' WHERE contact_id = '{}'",
        before["id"].as_str().ok_or("no id")?
    ))?;
    let change = json!({"fields": {"email": email, "name": "Mallory", "country": "PT", "interests": ["shoes"]},
                        "consents": {"marketing_email": true}});
    submit(&app, &form, &change).await?.expect(202)?;
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure_eq!(c["status"], "active", "went back to {}", c["status"]);
    ensure!(
        c["name"] == before["name"]
            && c["country"] == before["country"]
            && c["attributes"] == before["attributes"]
            && c["attributes"]["interests"] == json!(["bags"]),
        "data overwritten without confirmation: {} / {}",
        before,
        c
    );
    // The owner confirms from their mailbox: now every change lands.
    let messages = app
        .eventually(std::time::Duration::from_secs(10), || async {
            let m = confirm_messages(&app, &email).await?;
            Ok((m.len() > sent_before).then_some(m))
        })
        .await
        .map_err(|e| format!("no change confirmation was sent: {e}"))?;
    let token = token_of(&messages[0])?;
    app.post_json("/v1/confirm", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?;
    let after = contact(&app, &email).await?.ok_or("no contact")?;
    ensure!(
        after["status"] == "active"
            && after["name"] == "Mallory"
            && after["country"] == "PT"
            && after["attributes"]["interests"] == json!(["shoes"]),
        "confirmed changes were not applied: {after}"
    );
    Ok(())
}

async fn at_most_one_confirmation_email_per_address_per_day(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("bombed");
    for _ in 0..4 {
        submit(&app, &form, &signup(&email, "Z"))
            .await?
            .expect(202)?;
    }
    let n = confirm_messages(&app, &email).await?.len();
    ensure_eq!(n, 1, "{n} confirmation emails for one address");
    Ok(())
}

async fn plain_html_form_post_redirects_to_the_thank_you_page(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("nojs");
    let body = format!(
        "email={}&name=Caio&interests=shoes&interests=bags&consent.marketing_email=on&website=",
        email.replace('@', "%40")
    );
    let builder = app
        .client
        .post(app.url(&format!("/v1/forms/{form}/submissions")))
        .header("Origin", SHOP)
        .header("CF-Connecting-IP", visitor_ip())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    let reply = app.send(builder, Auth::None).await?.expect(303)?;
    ensure_eq!(
        reply.header("location").as_deref(),
        Some("https://shop.example/thanks"),
        "location {:?}",
        reply.header("location")
    );
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure_eq!(
        c["attributes"]["interests"],
        json!(["shoes", "bags"]),
        "attributes {}",
        c["attributes"]
    );
    Ok(())
}

async fn honeypot_submissions_are_accepted_and_dropped(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("bot");
    let mut body = signup(&email, "Bot");
    body["fields"]["website"] = json!("http://spam.example");
    let reply = submit(&app, &form, &body).await?.expect(202)?;
    ensure_eq!(
        reply.json(),
        json!({"status": "accepted"}),
        "body {}",
        reply.text
    );
    ensure!(
        contact(&app, &email).await?.is_none(),
        "bot became a contact"
    );
    ensure!(
        confirm_messages(&app, &email).await?.is_empty(),
        "bot got an email"
    );
    Ok(())
}

async fn bad_submissions_are_refused_field_by_field(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    // An address of this test's own: the database is shared, and the last check reads it back.
    let ana = unique_email("refused");
    let injected = format!("{ana}\r\nBcc: all@example.com");
    let cases = [
        (
            json!({"fields": {"email": "not-an-email"}, "consents": {"marketing_email": true}}),
            "email",
        ),
        (
            json!({"fields": {"email": injected}, "consents": {"marketing_email": true}}),
            "email",
        ),
        (
            json!({"fields": {"email": ana}, "consents": {}}),
            "consent.marketing_email",
        ),
        (
            json!({"fields": {"email": ana}, "consents": {"marketing_email": false}}),
            "consent.marketing_email",
        ),
        (
            json!({"fields": {"email": ana, "is_admin": true}, "consents": {"marketing_email": true}}),
            "is_admin",
        ),
        (
            json!({"fields": {"email": ana, "name": 5}, "consents": {"marketing_email": true}}),
            "name",
        ),
        (
            json!({"fields": {"email": ana, "interests": ["hats"]}, "consents": {"marketing_email": true}}),
            "interests",
        ),
        (
            json!({"fields": {"email": ana}, "consents": {"marketing_email": true}, "status": "active"}),
            "status",
        ),
    ];
    for (body, field) in cases {
        let reply = submit(&app, &form, &body)
            .await?
            .expect_error(400, "validation_failed")?;
        ensure!(
            reply.json()["error"]["fields"][field].is_string(),
            "{body} did not name {field}: {}",
            reply.text
        );
        ensure!(!reply.text.contains(&ana), "error echoes the address");
    }
    ensure!(
        contact(&app, &ana).await?.is_none(),
        "a refused submission stored a contact"
    );
    Ok(())
}

async fn oversized_and_mistyped_bodies_are_refused(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let path = format!("/v1/forms/{form}/submissions");
    let big = format!(
        r#"{{"fields":{{"email":"a@example.com","name":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let send = |ct: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url(&path))
            .header("Origin", SHOP)
            .header("CF-Connecting-IP", visitor_ip())
            .header("Content-Type", ct)
            .body(body)
    };
    app.send(send("application/json", big.into_bytes()), Auth::None)
        .await?
        .expect_error(413, "payload_too_large")?;
    app.send(
        send("text/plain", b"email=a@example.com".to_vec()),
        Auth::None,
    )
    .await?
    .expect_error(415, "unsupported_media_type")?;
    app.send(
        send("application/json", b"{\"fields\":".to_vec()),
        Auth::None,
    )
    .await?
    .expect_error(400, "invalid_json")?;
    Ok(())
}

async fn unknown_form_is_404(app: Arc<TestApp>) -> Result<(), String> {
    submit(&app, "frm_doesnotexist", &signup("a@example.com", "A"))
        .await?
        .expect_error(404, "not_found")?;
    app.get("/v1/forms/frm_doesnotexist", Auth::None)
        .await?
        .expect_error(404, "not_found")?;
    Ok(())
}

async fn foreign_origin_is_refused_without_cors_headers(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("foreign");
    let builder = app
        .client
        .post(app.url(&format!("/v1/forms/{form}/submissions")))
        .header("Origin", "https://evil.example")
        .header("CF-Connecting-IP", visitor_ip())
        .json(&signup(&email, "E"));
    let reply = app
        .send(builder, Auth::None)
        .await?
        .expect_error(403, "origin_not_allowed")?;
    ensure!(
        reply.header("access-control-allow-origin").is_none(),
        "CORS header on a refusal"
    );
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            app.url(&format!("/v1/forms/{form}/submissions")),
        )
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST");
    let reply = app.send(preflight, Auth::None).await?;
    ensure!(
        reply.status == 403 && reply.header("access-control-allow-origin").is_none(),
        "preflight {}",
        reply.status
    );
    ensure!(
        contact(&app, &email).await?.is_none(),
        "stored a foreign submission"
    );
    Ok(())
}

async fn allowed_origin_gets_cors_on_preflight_and_answers(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            app.url(&format!("/v1/forms/{form}/submissions")),
        )
        .header("Origin", SHOP)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type");
    let reply = app.send(preflight, Auth::None).await?.expect(204)?;
    ensure_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(SHOP),
        "preflight ACAO {:?}",
        reply.header("access-control-allow-origin")
    );
    ensure!(
        reply
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST")),
        "no POST allowed"
    );
    let ok = submit(&app, &form, &signup(&unique_email("cors"), "C"))
        .await?
        .expect(202)?;
    ensure_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some(SHOP),
        "202 without ACAO"
    );
    let bad = submit(&app, &form, &json!({"fields": {}}))
        .await?
        .expect(400)?;
    ensure_eq!(
        bad.header("access-control-allow-origin").as_deref(),
        Some(SHOP),
        "400 without ACAO: the widget could not show errors"
    );
    Ok(())
}

async fn forged_used_and_expired_tokens_are_refused(app: Arc<TestApp>) -> Result<(), String> {
    let confirm = |token: String| {
        let app = app.clone();
        async move {
            app.post_json("/v1/confirm", &json!({"token": token}), Auth::None)
                .await
        }
    };
    confirm("A".repeat(32))
        .await?
        .expect_error(410, "link_invalid")?;
    confirm("not a token!".into())
        .await?
        .expect_error(400, "invalid_token")?;
    // The page's button without a token is malformed too, as on the GET page.
    let page = app
        .send(app.client.post(app.url("/confirm")), Auth::None)
        .await?;
    ensure_eq!(page.status, 400, "POST /confirm without t: {}", page.status);
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("tokens");
    submit(&app, &form, &signup(&email, "T"))
        .await?
        .expect(202)?;
    let token = token_of(
        confirm_messages(&app, &email)
            .await?
            .first()
            .ok_or("no email")?,
    )?;
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    confirm(tampered).await?.expect_error(410, "link_invalid")?;
    confirm(token.clone()).await?.expect(200)?;
    let reused = confirm(token).await?.expect_error(410, "link_invalid")?;
    ensure_eq!(
        reused.json()["error"]["message"],
        "this link is invalid or has expired",
        "not generic"
    );
    // An expired link: move its expiry into the past.
    let late = unique_email("late");
    submit(&app, &form, &signup(&late, "L"))
        .await?
        .expect(202)?;
    let late_token = token_of(
        confirm_messages(&app, &late)
            .await?
            .first()
            .ok_or("no email")?,
    )?;
    let hash = clientela::domain::secret::sha256_hex(&late_token);
    app.sql(&format!(
        "UPDATE tokens SET expires_at = '2000-01-01T00:00:00.000Z' WHERE hash = '{hash}'"
    ))?;
    confirm(late_token)
        .await?
        .expect_error(410, "link_invalid")?;
    let c = contact(&app, &late).await?.ok_or("no contact")?;
    ensure_eq!(
        c["status"],
        "pending",
        "expired link confirmed: {}",
        c["status"]
    );
    Ok(())
}

async fn confirm_link_get_shows_a_button_and_changes_nothing(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("scanner");
    submit(&app, &form, &signup(&email, "S"))
        .await?
        .expect(202)?;
    let message = confirm_messages(&app, &email)
        .await?
        .first()
        .cloned()
        .ok_or("no email")?;
    let url = message["url"]
        .as_str()
        .ok_or("no url")?
        .replace(&app.base, "");
    for _ in 0..2 {
        let page = app
            .send(
                app.client
                    .get(app.url(&url))
                    .header("Accept-Language", "ru,en;q=0.5"),
                Auth::None,
            )
            .await?
            .expect(200)?;
        ensure!(
            page.header("content-type")
                .is_some_and(|c| c.starts_with("text/html")),
            "not HTML"
        );
        ensure!(
            page.text.contains(r#"id="confirm""#) && page.text.contains("Подтвердить"),
            "no localized button: {}",
            page.text
        );
    }
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure_eq!(c["status"], "pending", "a GET confirmed the address");
    let form_post = app
        .send(app.client.post(app.url(&url)), Auth::None)
        .await?
        .expect(200)?;
    ensure!(
        form_post.text.contains(r#"id="result""#),
        "no result on the page"
    );
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure_eq!(c["status"], "active", "the button did not confirm");
    Ok(())
}

async fn too_many_submissions_from_one_ip_get_429_with_retry_after(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let ip = "203.0.113.77";
    let mut limited = None;
    // The limit is 60 a minute in fixed windows: 125 tries put at least 63 in one window even
    // when the run straddles a window's end (80 did not, once, on a loaded machine).
    for _ in 0..125 {
        let reply = submit_from(&app, &form, &json!({"fields": {}}), ip).await?;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let reply = limited.ok_or("125 submissions from one IP were never limited")?;
    ensure!(
        reply
            .header("retry-after")
            .is_some_and(|s| s.parse::<u32>().is_ok_and(|n| n > 0)),
        "no Retry-After"
    );
    ensure_eq!(
        reply.json()["error"]["code"],
        "rate_limited",
        "body {}",
        reply.text
    );
    submit(&app, &form, &signup(&unique_email("other-ip"), "O"))
        .await?
        .expect(202)?;
    Ok(())
}

async fn too_many_submissions_for_one_address_get_429(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("hammered");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(submit(&app, &form, &signup(&email, "H")).await?.status);
    }
    ensure!(
        statuses[..10].iter().all(|s| *s == 202),
        "statuses {statuses:?}"
    );
    ensure!(
        statuses[10..].iter().all(|s| *s == 429),
        "statuses {statuses:?}"
    );
    Ok(())
}

/// The per-address counter rides in the signup's own write batch and the database refuses a
/// count past the cap: sent all at once from many places, exactly ten submissions of one address
/// land (ten audit entries), and each refused one left nothing behind, not even half a write.
async fn a_burst_for_one_address_is_cut_at_ten_and_the_refused_store_nothing(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("burst");
    let body = signup(&email, "B");
    let ips: Vec<String> = (0..14).map(|_| app.visitor_ip()).collect();
    let replies =
        futures::future::join_all(ips.iter().map(|ip| submit_from(&app, &form, &body, ip))).await;
    let mut statuses = Vec::new();
    for reply in replies {
        statuses.push(reply?.status);
    }
    statuses.sort_unstable();
    ensure_eq!(
        statuses,
        [vec![202; 10], vec![429; 4]].concat(),
        "statuses of 14 simultaneous submissions"
    );
    let id = contact(&app, &email).await?.ok_or("no contact")?["id"]
        .as_str()
        .ok_or("no id")?
        .to_string();
    let landed = crate::harness::audit_entries(&app, "contact.signup", Some(&id)).await?;
    ensure_eq!(landed.len(), 10, "submissions written for the address");
    Ok(())
}

async fn turnstile_is_verified_server_side_and_fails_closed(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let mut body = form_body(true);
    body["turnstile_site_key"] = json!("0x4AAAAAAAtest");
    let form = create_form(&app, &body).await?;
    let public = app
        .get(&format!("/v1/forms/{form}"), Auth::None)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        public["turnstile_site_key"],
        "0x4AAAAAAAtest",
        "site key not public"
    );
    let email = unique_email("human");
    let mut missing = signup(&email, "H");
    submit(&app, &form, &missing)
        .await?
        .expect_error(403, "turnstile_failed")?;
    // A forged token, and a verifier that fails: a 500 or a body that is not JSON (each
    // carrying a passing verdict), or no answer at all. Each is a refusal.
    for token in [
        "forged-token",
        "verifier-500-token",
        "verifier-garbage-token",
        "verifier-hangup-token",
        "verifier-silent-token",
    ] {
        missing["turnstile_token"] = json!(token);
        let asked = std::time::Instant::now();
        submit(&app, &form, &missing)
            .await?
            .expect_error(403, "turnstile_failed")
            .map_err(|e| format!("{token}: {e}"))?;
        // A verifier that does not answer is given up on, not waited for.
        ensure!(
            asked.elapsed() < std::time::Duration::from_secs(20),
            "{token}: the signup waited {:?} for the verifier",
            asked.elapsed()
        );
    }
    ensure!(
        contact(&app, &email).await?.is_none(),
        "stored without passing Turnstile"
    );
    ensure!(
        app.mail_to(&email).await?.is_empty(),
        "mail queued without passing Turnstile"
    );
    missing["turnstile_token"] = json!("good-token");
    submit(&app, &form, &missing).await?.expect(202)?;
    ensure!(contact(&app, &email).await?.is_some(), "good token refused");
    Ok(())
}

/// A form that shows Turnstile, on a deployment without TURNSTILE_SECRET (empty counts as
/// unset): nothing can be verified, so every signup through it is refused and nothing is kept,
/// while a form without Turnstile on the same deployment still signs people up.
async fn turnstile_without_a_secret_refuses_the_signup(app: Arc<TestApp>) -> Result<(), String> {
    let mut body = form_body(true);
    body["turnstile_site_key"] = json!("0x4AAAAAAAtest");
    let guarded = create_form(&app, &body).await?;
    let open = create_form(&app, &form_body(true)).await?;
    let (_runtime, base) = app.redeployed(&[("TURNSTILE_SECRET", "")]).await?;
    let post = |form: &str, body: Value| {
        app.client
            .post(format!("{base}/v1/forms/{form}/submissions"))
            .header("Origin", SHOP)
            .header("CF-Connecting-IP", visitor_ip())
            .json(&body)
    };
    let (email, other) = (unique_email("no-secret"), unique_email("no-secret-open"));
    let mut attempt = signup(&email, "N");
    attempt["turnstile_token"] = json!("good-token");
    app.send(post(&guarded, attempt), Auth::None)
        .await?
        .expect_error(500, "misconfigured")?;
    app.send(post(&open, signup(&other, "O")), Auth::None)
        .await?
        .expect(202)?;
    ensure!(
        contact(&app, &other).await?.is_some(),
        "the deployment without the secret stores nothing at all"
    );
    ensure!(
        contact(&app, &email).await?.is_none(),
        "stored without a Turnstile secret"
    );
    ensure!(
        app.mail_to(&email).await?.is_empty(),
        "mail queued without a Turnstile secret"
    );
    Ok(())
}

async fn form_definitions_are_validated_and_patchable(app: Arc<TestApp>) -> Result<(), String> {
    let mut bad = form_body(true);
    bad["fields"] = json!([{"key": "name", "type": "text"}]);
    bad["allowed_origins"] = json!(["shop.example"]);
    bad["unknown"] = json!(1);
    let reply = app
        .post_json("/admin/v1/forms", &bad, Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    ensure!(
        reply.json()["error"]["fields"]["unknown"].is_string(),
        "unknown key not named: {}",
        reply.text
    );
    bad.as_object_mut().map(|m| m.remove("unknown"));
    let reply = app
        .post_json("/admin/v1/forms", &bad, Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    let fields = &reply.json()["error"]["fields"];
    ensure!(
        fields["fields"].is_string() && fields["allowed_origins[0]"].is_string(),
        "fields {fields}"
    );
    let id = create_form(&app, &form_body(true)).await?;
    let stored = |path: String| {
        let app = app.clone();
        async move { Ok::<_, String>(app.get(&path, Auth::Admin).await?.expect(200)?.json()) }
    };
    let (admin_path, public_path) = (format!("/admin/v1/forms/{id}"), format!("/v1/forms/{id}"));
    let before = stored(admin_path.clone()).await?;
    let public_before = stored(public_path.clone()).await?;
    let patched = app
        .send(
            app.client
                .patch(app.url(&admin_path))
                .json(&json!({"name": "Winter sale", "double_opt_in": false})),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        patched["name"] == "Winter sale" && patched["double_opt_in"] == false,
        "patched {patched}"
    );
    ensure!(
        patched["fields"].as_array().is_some_and(|f| f.len() == 4),
        "PATCH lost the fields"
    );
    // Read back: the change persisted, in the admin view and the public definition, and every
    // key the PATCH did not name is as it was.
    let without = |mut form: Value, keys: &[&str]| {
        keys.iter().for_each(|k| {
            form.as_object_mut().map(|m| m.remove(*k));
        });
        form
    };
    let after = stored(admin_path.clone()).await?;
    ensure!(
        after["name"] == "Winter sale" && after["double_opt_in"] == false,
        "PATCH did not persist: {after}"
    );
    let changed = ["name", "double_opt_in", "updated_at"];
    ensure_eq!(
        without(after.clone(), &changed),
        without(before.clone(), &changed),
        "PATCH changed keys it did not name:\n{before}\n{after}"
    );
    let public_after = stored(public_path.clone()).await?;
    ensure!(
        public_after["name"] == "Winter sale" && public_after["double_opt_in"] == false,
        "public definition not updated: {public_after}"
    );
    ensure_eq!(
        without(public_after, &changed),
        without(public_before, &changed),
        "public definition changed beyond the PATCH"
    );
    // The stored setting is the one signups follow: no confirmation step any more.
    let direct = unique_email("patched-form");
    submit(&app, &id, &signup(&direct, "P"))
        .await?
        .expect(202)?;
    let joined = contact(&app, &direct).await?.ok_or("no contact")?;
    ensure_eq!(
        joined["status"],
        "active",
        "double_opt_in false not applied: {}",
        joined["status"]
    );
    app.send(
        app.client
            .patch(app.url(&admin_path))
            .json(&json!({"fields": []})),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "validation_failed")?;
    ensure_eq!(
        stored(admin_path.clone()).await?,
        after,
        "a refused PATCH changed the form"
    );
    let listed = app
        .get("/admin/v1/forms", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        listed["forms"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["id"] == id.as_str())),
        "not listed"
    );
    let created = app
        .get(&format!("/admin/v1/forms/{id}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        created["embed_html"]
            .as_str()
            .is_some_and(|h| h.contains(&id) && h.contains("/embed.js")),
        "no embed snippet"
    );
    let key = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "reader", "scopes": ["outbox"]}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    app.post_json(
        "/admin/v1/forms",
        &form_body(true),
        Auth::Bearer(key["key"].as_str().unwrap_or("")),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    Ok(())
}

async fn public_definition_hides_allowed_origins(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let reply = app
        .send(
            app.client
                .get(app.url(&format!("/v1/forms/{form}")))
                .header("Origin", SHOP),
            Auth::None,
        )
        .await?
        .expect(200)?;
    ensure_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(SHOP),
        "no CORS on the definition"
    );
    let public = reply.json();
    ensure!(
        public.get("allowed_origins").is_none() && !reply.text.contains("shop.example\""),
        "origins leak: {}",
        reply.text
    );
    ensure_eq!(
        public["honeypot_field"],
        "website",
        "honeypot {}",
        public["honeypot_field"]
    );
    ensure_eq!(
        public["submit_url"],
        format!("{}/v1/forms/{form}/submissions", app.base).as_str(),
        "submit_url {}",
        public["submit_url"]
    );
    Ok(())
}

async fn embed_script_is_served_as_javascript(app: Arc<TestApp>) -> Result<(), String> {
    let reply = app.get("/embed.js", Auth::None).await?.expect(200)?;
    ensure!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/javascript")),
        "type {:?}",
        reply.header("content-type")
    );
    ensure!(reply.text.len() > 40, "empty script");
    Ok(())
}
