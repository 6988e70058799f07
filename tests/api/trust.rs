//! The trust model, attack by attack: what a forwarded email, a leaked CSV, a narrowly scoped
//! key or a botnet can do, and what it can no longer do. Each story is named for the attack it
//! refuses (the README's security model lists them).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    answered, columns_holding, confirm_messages, contact, create_form, create_segment,
    create_survey, external_id, form_body, import, newsletter_links, order, put_consent,
    ready_segment, send_orders, session_for, signed_up_and_confirmed, signup, submit, submit_from,
    token_of, SHOP,
};
use crate::harness::{unique_email, Auth, Reply, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        a_forwarded_newsletter_cannot_erase_the_account,
        a_forwarded_newsletter_leads_to_the_account_only_through_the_mailbox,
        signing_out_everywhere_kills_every_link_already_sent,
        an_operator_can_revoke_a_persons_links,
        an_outbox_key_never_sees_a_live_sign_in_link,
        the_relay_sees_pending_links_and_nobody_sees_delivered_ones,
        a_leaked_segment_export_carries_no_links_by_default,
        an_erased_address_is_not_revived_by_a_single_opt_in_form,
        unconfirmed_form_consent_counts_nowhere_until_confirmed,
        an_import_never_activates_an_unconfirmed_signup,
        a_segments_key_previews_counts_but_not_people,
        survey_invitations_skip_erased_and_objecting_people,
        a_survey_email_unsubscribes_from_surveys_only,
        a_keys_only_key_cannot_revoke_a_broader_key,
        sign_in_emails_are_capped_at_three_a_day,
        confirmation_emails_are_capped_per_mailbox_whatever_the_spelling,
        an_ipv6_subnet_is_one_visitor_to_the_rate_limits,
        a_mail_provider_posting_unsubscribes_from_one_address_is_never_limited,
        a_turnstile_token_solved_on_another_site_is_refused,
        consent_notices_are_archived_word_for_word,
        erasure_tells_the_person_and_leaves_no_link_behind,
    ]
}

/// Tests that read or move the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        erasure_keeps_minimal_consent_proof_and_unlinks_survey_scores_from_orders,
        the_daily_run_forgets_delivered_mail_and_old_rate_counters,
        rotating_link_keys_and_retiring_the_bootstrap_key_keep_every_hash_matching,
        after_erasure_no_table_holds_the_person_but_where_the_record_of_processing_says,
    ]
}

/// The token of a `/me?p=…` path.
fn preferences_token(path: &str) -> Result<String, String> {
    path.split("p=")
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| format!("no token in {path}"))
}

async fn open_session(app: &TestApp, token: &str) -> Result<Reply, String> {
    app.post_json("/v1/me/session", &json!({ "token": token }), Auth::None)
        .await
}

async fn preferences_session(app: &TestApp, email: &str) -> Result<(String, String), String> {
    let (_, preferences) = newsletter_links(app, email).await?;
    let token = preferences_token(&preferences)?;
    let reply = open_session(app, &token).await?.expect(200)?.json();
    ensure_eq!(reply["scope"], "preferences", "scope {reply}");
    let session = reply["session"].as_str().ok_or("no session")?.to_string();
    Ok((token, session))
}

async fn confirmed(app: &TestApp, email: &str) -> Result<(), String> {
    let form = create_form(app, &form_body(true)).await?;
    signed_up_and_confirmed(app, &form, email).await
}

async fn a_forwarded_newsletter_cannot_erase_the_account(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("forwarded");
    confirmed(&app, &email).await?;
    let (_, session) = preferences_session(&app, &email).await?;
    let me = app
        .get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    // The holder of a forwarded email sees the purposes and a masked address, nothing else.
    let keys: Vec<&str> = me
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    ensure_eq!(
        keys,
        ["consents", "email", "locale", "scope"],
        "preferences view holds {keys:?}"
    );
    ensure!(
        me["email"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("{}***@", &email[..1]))
                && !e.contains(&email[1..email.find('@').unwrap_or(1)])),
        "email not masked: {}",
        me["email"]
    );
    ensure!(!me.to_string().contains("Ana"), "the name leaked: {me}");
    for reply in [
        app.delete("/v1/me", Auth::Bearer(&session)).await?,
        app.get("/v1/me/export", Auth::Bearer(&session)).await?,
        app.send(
            app.client
                .patch(app.url("/v1/me"))
                .json(&json!({"name": "Mallory"})),
            Auth::Bearer(&session),
        )
        .await?,
    ] {
        reply.expect_error(403, "needs_sign_in")?;
    }
    let c = contact(&app, &email).await?.ok_or("the account is gone")?;
    ensure_eq!(c["name"], "Ana", "changed: {c}");
    // What it may do: decide on purposes.
    put_consent(&app, &session, "marketing_email", false)
        .await?
        .expect(200)?;
    put_consent(&app, &session, "marketing_email", true)
        .await?
        .expect(200)?;
    put_consent(&app, &session, "sms", true)
        .await?
        .expect_error(400, "validation_failed")?;
    // A withdrawal on record is no notice: an opt-in purpose never granted cannot be turned on
    // from here, and made-up purposes are not recorded at all.
    put_consent(&app, &session, "whatsapp", false)
        .await?
        .expect(200)?;
    put_consent(&app, &session, "whatsapp", true)
        .await?
        .expect_error(400, "validation_failed")?;
    put_consent(&app, &session, "anything_at_all", false)
        .await?
        .expect_error(400, "validation_failed")?;
    Ok(())
}

async fn a_forwarded_newsletter_leads_to_the_account_only_through_the_mailbox(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("escalate");
    confirmed(&app, &email).await?;
    let (_, session) = preferences_session(&app, &email).await?;
    app.send(
        app.client.post(app.url("/v1/me/sign-in-link")),
        Auth::Bearer(&session),
    )
    .await?
    .expect(202)?;
    // The link goes to the person's own mailbox, not to whoever holds the preferences link.
    let mail = app
        .eventually(Duration::from_secs(10), || async {
            let m: Vec<Value> = app
                .mail_to(&email)
                .await?
                .into_iter()
                .filter(|m| m["kind"] == "magic_link" && m["url"].is_string())
                .collect();
            Ok(m.into_iter().next())
        })
        .await?;
    let url = mail["url"].as_str().unwrap_or_default();
    let token = url.split("t=").nth(1).ok_or("no token")?;
    let full = open_session(&app, token).await?.expect(200)?.json();
    ensure_eq!(full["scope"], "full", "scope {full}");
    let me = app
        .get(
            "/v1/me",
            Auth::Bearer(full["session"].as_str().unwrap_or("")),
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        me["email"] == email.as_str() && me.get("links").is_none(),
        "full document {me}"
    );
    ensure!(
        !me.to_string().contains("?p=") && !me.to_string().contains("unsubscribe?t="),
        "the document hands out live links: {me}"
    );
    Ok(())
}

async fn signing_out_everywhere_kills_every_link_already_sent(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("signout");
    confirmed(&app, &email).await?;
    let (unsubscribe, preferences) = newsletter_links(&app, &email).await?;
    let token = preferences_token(&preferences)?;
    let session = open_session(&app, &token).await?.expect(200)?.json()["session"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // A sign-in link already in the mailbox, not used yet.
    app.send(
        app.client.post(app.url("/v1/me/sign-in-link")),
        Auth::Bearer(&session),
    )
    .await?
    .expect(202)?;
    let mail = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app
                .mail_to(&email)
                .await?
                .into_iter()
                .find(|m| m["kind"] == "magic_link" && m["url"].is_string()))
        })
        .await?;
    let unused = mail["url"]
        .as_str()
        .and_then(|u| u.split("t=").nth(1))
        .ok_or("no sign-in token")?
        .to_string();
    app.send(
        app.client.post(app.url("/v1/me/sign-out-everywhere")),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    open_session(&app, &unused)
        .await?
        .expect_error(410, "link_invalid")?;
    app.get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect_error(401, "unauthorized")?;
    open_session(&app, &token)
        .await?
        .expect_error(410, "link_invalid")?;
    // The old unsubscribe link says it no longer works, and withdraws nothing.
    app.send(
        app.client
            .post(app.url(&unsubscribe))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await?
    .expect(400)?;
    let c = contact(&app, &email).await?.ok_or("gone")?;
    ensure!(
        c["status"] == "active" && c["consents"][0]["granted"] == true,
        "a revoked link unsubscribed: {c}"
    );
    // New emails carry new links that work.
    let (fresh_unsubscribe, fresh_preferences) = newsletter_links(&app, &email).await?;
    ensure!(fresh_preferences != preferences, "same link after sign-out");
    open_session(&app, &preferences_token(&fresh_preferences)?)
        .await?
        .expect(200)?;
    app.send(
        app.client
            .post(app.url(&fresh_unsubscribe))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await?
    .expect(200)?;
    let c = contact(&app, &email).await?.ok_or("gone")?;
    ensure_eq!(c["status"], "unsubscribed", "fresh link ignored: {c}");
    Ok(())
}

async fn an_operator_can_revoke_a_persons_links(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("revoked");
    confirmed(&app, &email).await?;
    let (token, session) = preferences_session(&app, &email).await?;
    let id = contact(&app, &email).await?.ok_or("gone")?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reader = create_key(&app, "reader", &["contacts:read"]).await?;
    app.post_json(
        &format!("/admin/v1/contacts/{id}/revoke-links"),
        &json!({}),
        Auth::Bearer(&reader),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    let reply = app
        .post_json(
            &format!("/admin/v1/contacts/{id}/revoke-links"),
            &json!({}),
            Auth::Admin,
        )
        .await?
        .expect(200)?;
    ensure_eq!(reply.json()["status"], "links_revoked", "{}", reply.text);
    open_session(&app, &token)
        .await?
        .expect_error(410, "link_invalid")?;
    app.get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect_error(401, "unauthorized")?;
    app.post_json(
        "/admin/v1/contacts/01970000-0000-7000-8000-000000000000/revoke-links",
        &json!({}),
        Auth::Admin,
    )
    .await?
    .expect_error(404, "not_found")?;
    Ok(())
}

async fn create_key(app: &TestApp, name: &str, scopes: &[&str]) -> Result<String, String> {
    let reply = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": name, "scopes": scopes}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    reply["key"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no key in {reply}"))
}

async fn an_outbox_key_never_sees_a_live_sign_in_link(app: Arc<TestApp>) -> Result<(), String> {
    // The victim's address is one whose mail the relay refuses, so the sign-in link stays
    // pending in the outbox: the moment an attacker would read it.
    let victim = format!("down-{}", unique_email("victim"));
    let form = create_form(&app, &form_body(false)).await?;
    submit(&app, &form, &signup(&victim, "Vic"))
        .await?
        .expect(202)?;
    let outbox_key = create_key(&app, "support desk", &["outbox"]).await?;
    app.post_json("/v1/me/link", &json!({ "email": victim }), Auth::None)
        .await?
        .expect(202)?;
    let listed = app
        .eventually(Duration::from_secs(10), || async {
            let r = app
                .get(
                    &format!("/admin/v1/outbox?to={victim}"),
                    Auth::Bearer(&outbox_key),
                )
                .await?
                .expect(200)?;
            let has = r.json()["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x["kind"] == "magic_link"));
            Ok(has.then_some(r))
        })
        .await?;
    ensure!(
        !listed.text.contains("?t=") && !listed.text.contains("/me?"),
        "an outbox key read a live link: {}",
        listed.text
    );
    let message = listed.json()["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["kind"] == "magic_link").cloned())
        .ok_or("no message")?;
    ensure!(
        message["redacted"] == true && message["url"].is_null() && message["text"].is_null(),
        "message {message}"
    );
    // The listing still serves its purpose: who was sent what, and when.
    ensure!(
        message["to"] == victim.as_str() && message["subject"].is_string(),
        "metadata {message}"
    );
    Ok(())
}

async fn the_relay_sees_pending_links_and_nobody_sees_delivered_ones(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let relay = create_key(&app, "mail relay", &["outbox:deliver"]).await?;
    let stuck = format!("down-{}", unique_email("stuck"));
    let form = create_form(&app, &form_body(true)).await?;
    submit(&app, &form, &signup(&stuck, "S"))
        .await?
        .expect(202)?;
    let pending = app
        .get(
            &format!("/admin/v1/outbox?to={stuck}"),
            Auth::Bearer(&relay),
        )
        .await?
        .expect(200)?
        .json();
    let m = &pending["messages"][0];
    ensure!(
        m["kind"] == "confirm"
            && m["redacted"] == false
            && m["url"].as_str().is_some_and(|u| u.contains("/confirm?t=")),
        "the relay cannot deliver: {pending}"
    );
    // Once delivered, the outbox keeps only the metadata, for every key.
    let delivered = unique_email("delivered");
    submit(&app, &form, &signup(&delivered, "D"))
        .await?
        .expect(202)?;
    let after = app
        .eventually(Duration::from_secs(15), || async {
            let r = app
                .get(
                    &format!("/admin/v1/outbox?to={delivered}"),
                    Auth::Bearer(&relay),
                )
                .await?
                .expect(200)?;
            let sent = r.json()["messages"][0]["sent_at"].is_string();
            Ok(sent.then_some(r))
        })
        .await?;
    ensure!(
        !after.text.contains("?t=") && after.json()["messages"][0]["redacted"] == true,
        "a delivered message kept its link: {}",
        after.text
    );
    let bootstrap = app
        .get(&format!("/admin/v1/outbox?to={delivered}"), Auth::Admin)
        .await?
        .expect(200)?;
    ensure!(
        !bootstrap.text.contains("?t="),
        "delivered link shown to the bootstrap key"
    );
    // The mailbox got it whole.
    let mail = confirm_messages(&app, &delivered).await?;
    ensure!(
        mail.first()
            .and_then(|m| m["url"].as_str())
            .is_some_and(|u| u.contains("/confirm?t=")),
        "nothing delivered: {mail:?}"
    );
    Ok(())
}

async fn a_leaked_segment_export_carries_no_links_by_default(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("leak");
    confirmed(&app, &email).await?;
    let seg = create_segment(
        &app,
        "leak",
        json!({"field": "email", "op": "eq", "value": email}),
    )
    .await?;
    let id = seg["id"].as_str().ok_or("no id")?.to_string();
    ready_segment(&app, &id, 1).await?;
    for path in [
        format!("/admin/v1/segments/{id}/export.csv"),
        format!("/admin/v1/segments/{id}/export.csv?format=ndjson"),
    ] {
        let export = app.get(&path, Auth::Admin).await?.expect(200)?;
        ensure!(
            export.text.contains(&email),
            "member missing: {}",
            export.text
        );
        ensure!(
            !export.text.contains("/me?") && !export.text.contains("/unsubscribe?"),
            "default export carries links: {}",
            export.text
        );
    }
    Ok(())
}

async fn an_erased_address_is_not_revived_by_a_single_opt_in_form(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("revive");
    confirmed(&app, &email).await?;
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    // An attacker chains forms: a double opt-in form leaves the erased address pending…
    let doi = create_form(&app, &form_body(true)).await?;
    submit(&app, &doi, &signup(&email, "Mallory"))
        .await?
        .expect(202)?;
    let pending = contact(&app, &email).await?.ok_or("no pending contact")?;
    ensure_eq!(pending["status"], "pending", "{pending}");
    // …then a single opt-in form would have activated it with consent.
    let single = create_form(&app, &form_body(false)).await?;
    submit(&app, &single, &signup(&email, "Mallory"))
        .await?
        .expect(202)?;
    let still = contact(&app, &email).await?.ok_or("gone")?;
    ensure!(
        still["status"] == "pending" && still["consents"] == json!([]),
        "revived without the person's click: {still}"
    );
    // Only the person's own confirmation brings them back.
    let mail = confirm_messages(&app, &email).await?;
    let token = token_of(mail.first().ok_or("no confirmation email")?)?;
    app.post_json("/v1/confirm", &json!({ "token": token }), Auth::None)
        .await?
        .expect(200)?;
    let back = contact(&app, &email).await?.ok_or("gone")?;
    ensure_eq!(back["status"], "active", "{back}");
    Ok(())
}

async fn unconfirmed_form_consent_counts_nowhere_until_confirmed(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("unconfirmed");
    let form = create_form(&app, &form_body(true)).await?;
    submit(&app, &form, &signup(&email, "Uma"))
        .await?
        .expect(202)?;
    let c = contact(&app, &email).await?.ok_or("no contact")?;
    ensure!(
        c["status"] == "pending" && c["consents"] == json!([]) && c["consent_history"] == json!([]),
        "an unconfirmed consent was recorded as given: {c}"
    );
    let rule = json!({"all": [
        {"field": "email", "op": "eq", "value": email},
        {"field": "consent.marketing_email", "op": "eq", "value": true}
    ]});
    let preview = app
        .post_json(
            "/admin/v1/segments/preview",
            &json!({ "rule": rule }),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        preview["count"],
        0,
        "counted before confirmation: {preview}"
    );
    let mail = confirm_messages(&app, &email).await?;
    let token = token_of(mail.first().ok_or("no confirmation email")?)?;
    app.post_json("/v1/confirm", &json!({ "token": token }), Auth::None)
        .await?
        .expect(200)?;
    let c = contact(&app, &email).await?.ok_or("gone")?;
    let methods: Vec<&str> = c["consent_history"]
        .as_array()
        .map(|h| h.iter().filter_map(|e| e["method"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        c["consents"][0]["granted"] == true && methods == ["form", "double_opt_in"],
        "after confirmation {c}"
    );
    let preview = app
        .post_json(
            "/admin/v1/segments/preview",
            &json!({ "rule": rule }),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(preview["count"], 1, "not counted once confirmed: {preview}");
    Ok(())
}

async fn an_import_never_activates_an_unconfirmed_signup(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("imported");
    let form = create_form(&app, &form_body(true)).await?;
    submit(&app, &form, &signup(&email, "Ivo"))
        .await?
        .expect(202)?;
    let report = import(&app, "text/csv", &format!("email,name\n{email},Ivo I\n"))
        .await?
        .expect(200)?
        .json();
    ensure_eq!(report["updated"], 1, "report {report}");
    let c = contact(&app, &email).await?.ok_or("gone")?;
    ensure!(
        c["status"] == "pending" && c["consents"] == json!([]),
        "an import activated an unconfirmed signup: {c}"
    );
    Ok(())
}

async fn a_segments_key_previews_counts_but_not_people(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("previewed");
    confirmed(&app, &email).await?;
    let rule = json!({"rule": {"field": "email", "op": "eq", "value": email}});
    let narrow = create_key(&app, "segment builder", &["segments"]).await?;
    // Counts, but nobody in them.
    let by_country = json!({"rule": {"field": "country", "op": "eq", "value": "BR"}});
    let reply = app
        .post_json(
            "/admin/v1/segments/preview",
            &by_country,
            Auth::Bearer(&narrow),
        )
        .await?
        .expect(200)?;
    let body = reply.json();
    ensure!(
        body["count"].as_i64().is_some_and(|n| n >= 1)
            && body["sample"] == json!([])
            && body["sample_withheld"] == true,
        "preview {body}"
    );
    ensure!(!reply.text.contains('@'), "a segments key read an email");
    // A count over email, name or attributes would spell people out letter by letter
    // (`starts_with "a"`, `"ab"`, …): neither a preview nor a segment (whose size is a count).
    for probe in [
        json!({"field": "email", "op": "starts_with", "value": &email[..1]}),
        json!({"field": "name", "op": "contains", "value": "An"}),
        json!({"field": "attr.interests", "op": "exists", "value": true}),
    ] {
        app.post_json(
            "/admin/v1/segments/preview",
            &json!({ "rule": probe }),
            Auth::Bearer(&narrow),
        )
        .await?
        .expect_error(403, "missing_scope")?;
        app.post_json(
            "/admin/v1/segments",
            &json!({ "name": "probe", "rule": probe }),
            Auth::Bearer(&narrow),
        )
        .await?
        .expect_error(403, "missing_scope")?;
    }
    let wide = create_key(&app, "analyst", &["segments", "contacts:read"]).await?;
    let body = app
        .post_json("/admin/v1/segments/preview", &rule, Auth::Bearer(&wide))
        .await?
        .expect(200)?
        .json();
    ensure!(
        body["sample"][0]["email"] == email.as_str() && body["sample_withheld"] == false,
        "preview with contacts:read {body}"
    );
    Ok(())
}

async fn invite_report(app: &TestApp, survey: &str, invitations: Value) -> Result<Value, String> {
    Ok(app
        .post_json(
            &format!("/admin/v1/surveys/{survey}/invitations"),
            &json!({"invitations": invitations, "send_email": true}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json())
}

/// The `survey_invitation` email delivered to `email`, whole.
async fn survey_mail(app: &TestApp, email: &str) -> Result<Value, String> {
    app.eventually(Duration::from_secs(10), || async {
        Ok(app
            .mail_to(email)
            .await?
            .into_iter()
            .find(|m| m["kind"] == "survey_invitation" && m["unsubscribe_url"].is_string()))
    })
    .await
}

async fn a_survey_email_unsubscribes_from_surveys_only(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("surveyed");
    confirmed(&app, &email).await?;
    let survey = create_survey(&app).await?;
    invite_report(&app, &survey, json!([{ "email": email }])).await?;
    let mail = survey_mail(&app, &email).await?;
    let unsubscribe = mail["unsubscribe_url"]
        .as_str()
        .unwrap_or_default()
        .replace(&app.base, "");
    let page = app.get(&unsubscribe, Auth::None).await?.expect(200)?;
    ensure!(
        page.text.contains("survey"),
        "page does not say surveys: {}",
        page.text
    );
    app.send(
        app.client
            .post(app.url(&unsubscribe))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await?
    .expect(200)?;
    let c = contact(&app, &email).await?.ok_or("gone")?;
    let state = |purpose: &str| {
        c["consents"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["purpose"] == purpose).cloned())
            .map(|x| x["granted"].clone())
    };
    ensure!(
        c["status"] == "active"
            && state("marketing_email") == Some(json!(true))
            && state("satisfaction_surveys") == Some(json!(false)),
        "survey unsubscribe reached further: {c}"
    );
    Ok(())
}

async fn survey_invitations_skip_erased_and_objecting_people(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (erased, objecting, willing) = (
        unique_email("s-erased"),
        unique_email("s-objecting"),
        unique_email("s-willing"),
    );
    for e in [&erased, &objecting, &willing] {
        confirmed(&app, e).await?;
    }
    let session = session_for(&app, &erased).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let (_, prefs) = preferences_session(&app, &objecting).await?;
    put_consent(&app, &prefs, "satisfaction_surveys", false)
        .await?
        .expect(200)?;
    let survey = create_survey(&app).await?;
    let report = invite_report(
        &app,
        &survey,
        json!([{ "email": erased }, { "email": objecting }, { "email": willing }]),
    )
    .await?;
    ensure!(
        report["skipped"]
            == json!([{"index": 0, "reason": "erased"}, {"index": 1, "reason": "objected"}])
            && report["invitations"].as_array().map(Vec::len) == Some(1),
        "report {report}"
    );
    ensure!(
        !report.to_string().contains(&erased) && !report.to_string().contains(&objecting),
        "the report names skipped addresses: {report}"
    );
    survey_mail(&app, &willing).await?;
    // The invitations' emails are written with the report and delivered through the queue: once
    // it has caught up, an email to a skipped person would be there to see.
    app.queue_caught_up().await?;
    for skipped in [&erased, &objecting] {
        ensure!(
            app.mail_to(skipped)
                .await?
                .iter()
                .all(|m| m["kind"] != "survey_invitation"),
            "{skipped} was emailed a survey"
        );
    }
    ensure!(
        contact(&app, &erased).await?.is_none(),
        "an invitation recreated an erased person"
    );
    Ok(())
}

async fn a_keys_only_key_cannot_revoke_a_broader_key(app: Arc<TestApp>) -> Result<(), String> {
    let backend = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "shop backend", "scopes": ["orders", "contacts:write"]}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    let keymaster = create_key(&app, "key manager", &["keys"]).await?;
    let backend_id = backend["id"].as_str().ok_or("no id")?;
    app.delete(
        &format!("/admin/v1/keys/{backend_id}"),
        Auth::Bearer(&keymaster),
    )
    .await?
    .expect_error(403, "scope_escalation")?;
    let backend_key = backend["key"].as_str().ok_or("no key")?;
    app.post_json(
        "/admin/v1/orders",
        &json!({"orders": []}),
        Auth::Bearer(backend_key),
    )
    .await?;
    let still = app
        .get("/admin/v1/keys", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        still["keys"]
            .as_array()
            .and_then(|k| k.iter().find(|x| x["id"] == backend_id).cloned())
            .is_some_and(|k| k["revoked_at"].is_null()),
        "the broader key was revoked"
    );
    // A key it could have made itself it may revoke.
    let peer = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "peer", "scopes": ["keys"]}),
            Auth::Bearer(&keymaster),
        )
        .await?
        .expect(201)?
        .json();
    app.delete(
        &format!("/admin/v1/keys/{}", peer["id"].as_str().unwrap_or("")),
        Auth::Bearer(&keymaster),
    )
    .await?
    .expect(200)?;
    Ok(())
}

async fn sign_in_emails_are_capped_at_three_a_day(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("bombed");
    let later = unique_email("bombed-later");
    confirmed(&app, &email).await?;
    confirmed(&app, &later).await?;
    // All at once: a count followed by an insert would let every one of them through.
    let requests = (0..5).map(|_| {
        let app = app.clone();
        let email = email.clone();
        tokio::spawn(async move {
            app.post_json("/v1/me/link", &json!({ "email": email }), Auth::None)
                .await
                .map(|r| r.status)
        })
    });
    for r in futures::future::join_all(requests).await {
        let status = r.map_err(|e| e.to_string())??;
        ensure_eq!(status, 202, "link request answered {status}");
    }
    let sent = app
        .eventually(Duration::from_secs(10), || async {
            let n = app
                .mail_to(&email)
                .await?
                .iter()
                .filter(|m| m["kind"] == "magic_link")
                .count();
            Ok((n >= 3).then_some(n))
        })
        .await?;
    // Each request looks up and writes its email after its answer. A link asked for afterwards,
    // for another person, is looked up and written after all five: its email is the signal that
    // none of the five is still on its way.
    app.post_json("/v1/me/link", &json!({ "email": later }), Auth::None)
        .await?
        .expect(202)?;
    app.eventually(Duration::from_secs(10), || async {
        let mail = app.mail_to(&later).await?;
        Ok(mail.iter().any(|m| m["kind"] == "magic_link").then_some(()))
    })
    .await?;
    let after = app
        .mail_to(&email)
        .await?
        .iter()
        .filter(|m| m["kind"] == "magic_link")
        .count();
    ensure!(sent == 3 && after == 3, "{after} sign-in emails in a day");
    Ok(())
}

async fn confirmation_emails_are_capped_per_mailbox_whatever_the_spelling(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let local = unique_email("m.ail.box")
        .split('@')
        .next()
        .unwrap_or("mailbox")
        .to_string();
    let spellings = [
        format!("{local}+a@gmail.com"),
        format!("{local}+b@googlemail.com"),
        format!("{}+c@gmail.com", local.replace('.', "")),
        format!("{}@GMAIL.com", local.to_uppercase()),
        format!("{local}+e@gmail.com"),
    ];
    let form = create_form(&app, &form_body(true)).await?;
    for address in &spellings {
        submit(&app, &form, &signup(address, "Bomb"))
            .await?
            .expect(202)?;
    }
    let mut sent = 0;
    for address in &spellings {
        sent += confirm_messages(&app, &address.to_lowercase()).await?.len();
    }
    ensure_eq!(sent, 3, "{sent} confirmation emails reached one mailbox");
    Ok(())
}

async fn an_ipv6_subnet_is_one_visitor_to_the_rate_limits(app: Arc<TestApp>) -> Result<(), String> {
    // A /64 of this test's own; within it, every request comes from a different address.
    let prefix = app.visitor_subnet();
    // More than two windows' worth, every request from another address of one /64: the
    // limiter (60 a minute) must refuse some, whichever minute boundary the run straddles.
    let mut statuses = Vec::new();
    for i in 0..125u32 {
        let r = app
            .send(
                app.client
                    .post(app.url("/v1/me/session"))
                    .header("CF-Connecting-IP", format!("{prefix}:{:x}::{:x}", i + 1, i))
                    .json(&json!({"token": "not-a-real-token-but-well-shaped"})),
                Auth::None,
            )
            .await?;
        statuses.push(r.status);
    }
    let first_refusal = statuses.iter().position(|s| *s == 429);
    ensure!(
        first_refusal.is_some_and(|i| i <= 120) && statuses.iter().all(|s| *s == 410 || *s == 429),
        "statuses {statuses:?}"
    );
    // Another subnet is another visitor.
    let other = app
        .send(
            app.client
                .post(app.url("/v1/me/session"))
                .header("CF-Connecting-IP", app.visitor_ip())
                .json(&json!({"token": "not-a-real-token-but-well-shaped"})),
            Auth::None,
        )
        .await?;
    ensure_eq!(
        other.status,
        410,
        "another subnet limited: {}",
        other.status
    );
    Ok(())
}

async fn a_turnstile_token_solved_on_another_site_is_refused(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let mut body = form_body(true);
    body["turnstile_site_key"] = json!("0x4AAAAAAAtest");
    let form = create_form(&app, &body).await?;
    let email = unique_email("farmed");
    let mut submission = signup(&email, "Bot");
    submission["turnstile_token"] = json!("farmed-token");
    submit(&app, &form, &submission)
        .await?
        .expect_error(403, "turnstile_failed")?;
    ensure!(contact(&app, &email).await?.is_none(), "stored");
    submission["turnstile_token"] = json!("good-token");
    submit_from(&app, &form, &submission, "198.18.0.77")
        .await?
        .expect(202)?;
    ensure!(
        contact(&app, &email).await?.is_some(),
        "a token solved on {SHOP} was refused"
    );
    Ok(())
}

async fn consent_notices_are_archived_word_for_word(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let shown = "Aceito receber ofertas por e-mail";
    let hash = clientela::domain::consent::notice_hash(shown);
    let reader = create_key(&app, "auditor", &["contacts:read"]).await?;
    let notice = app
        .get(&format!("/admin/v1/notices/{hash}"), Auth::Bearer(&reader))
        .await?
        .expect(200)?
        .json();
    ensure!(
        notice["text"] == shown
            && notice["locale"] == "pt-BR"
            && notice["policy_version"] == "2026-01"
            && notice["purpose"] == "marketing_email"
            // Where it was first shown: the same words on several forms are one notice.
            && notice["source"].as_str().is_some_and(|f| f.starts_with("frm_")),
        "notice {notice}"
    );
    // Editing the form keeps the old words retrievable: consents given under them still prove.
    let mut changed = form_body(true)["consents"].clone();
    changed[0]["text"]["pt-BR"] = json!("Quero receber ofertas por e-mail");
    changed[0]["policy_version"] = json!("2026-02");
    app.send(
        app.client
            .patch(app.url(&format!("/admin/v1/forms/{form}")))
            .json(&json!({ "consents": changed })),
        Auth::Admin,
    )
    .await?
    .expect(200)?;
    app.get(&format!("/admin/v1/notices/{hash}"), Auth::Bearer(&reader))
        .await?
        .expect(200)?;
    let new_hash = clientela::domain::consent::notice_hash("Quero receber ofertas por e-mail");
    app.get(
        &format!("/admin/v1/notices/{new_hash}"),
        Auth::Bearer(&reader),
    )
    .await?
    .expect(200)?;
    // A self-service grant records the words the preference center showed.
    let email = unique_email("notice");
    confirmed(&app, &email).await?;
    let (_, session) = preferences_session(&app, &email).await?;
    let me = app
        .send(
            app.client
                .get(app.url("/v1/me"))
                .header("Accept-Language", "pt-BR"),
            Auth::Bearer(&session),
        )
        .await?
        .expect(200)?
        .json();
    let shown_there = me["consents"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|c| c["purpose"] == "marketing_email")
                .cloned()
        })
        .and_then(|c| c["notice"].as_str().map(str::to_string))
        .ok_or("no notice shown")?;
    put_consent(&app, &session, "marketing_email", false)
        .await?
        .expect(200)?;
    put_consent(&app, &session, "marketing_email", true)
        .await?
        .expect(200)?;
    let c = contact(&app, &email).await?.ok_or("gone")?;
    let last = c["consent_history"]
        .as_array()
        .and_then(|h| h.last().cloned())
        .ok_or("no history")?;
    let recorded = last["notice_text_hash"].as_str().ok_or("no notice hash")?;
    ensure!(
        last["method"] == "self_service"
            && recorded == clientela::domain::consent::notice_hash(&shown_there),
        "self-service grant records {last}, page showed {shown_there:?}"
    );
    let archived = app
        .get(
            &format!("/admin/v1/notices/{recorded}"),
            Auth::Bearer(&reader),
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(archived["text"], shown_there.as_str(), "archive {archived}");
    // Only readers of contacts may read notices; a malformed hash is a 400.
    let forms_key = create_key(&app, "forms only", &["forms"]).await?;
    app.get(
        &format!("/admin/v1/notices/{hash}"),
        Auth::Bearer(&forms_key),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    app.get("/admin/v1/notices/not-a-hash", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    Ok(())
}

async fn erasure_tells_the_person_and_leaves_no_link_behind(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("told");
    confirmed(&app, &email).await?;
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let notice = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app
                .mail_to(&email)
                .await?
                .into_iter()
                .find(|m| m["kind"] == "erasure_notice"))
        })
        .await?;
    ensure!(
        notice["url"].is_null() && notice["text"].as_str().is_some_and(|t| !t.contains("http")),
        "erasure notice {notice}"
    );
    let others: Vec<Value> = app
        .mail_to(&email)
        .await?
        .into_iter()
        .filter(|m| m["kind"] != "erasure_notice")
        .collect();
    ensure!(
        others.is_empty(),
        "messages to an erased person stayed: {others:?}"
    );
    Ok(())
}

async fn erasure_keeps_minimal_consent_proof_and_unlinks_survey_scores_from_orders(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("proof-kept");
    confirmed(&app, &email).await?;
    let id = contact(&app, &email).await?.ok_or("gone")?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let order_id = external_id("proof");
    send_orders(
        &app,
        vec![order(
            &order_id,
            &email,
            "10.00",
            &crate::harness::days_ago(180),
        )],
    )
    .await?;
    let survey = create_survey(&app).await?;
    app.post_json(
        &format!("/admin/v1/surveys/{survey}/invitations"),
        &json!({"invitations": [{"email": email, "order_id": order_id}], "send_email": false}),
        Auth::Admin,
    )
    .await?
    .expect(201)?;
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let events = app.sql_rows(&format!(
        "SELECT purpose, action, method, notice_text_hash, email_hash, ip_hash, user_agent \
         FROM consent_events WHERE contact_id = '{id}' ORDER BY at"
    ))?;
    ensure_eq!(events.len(), 2, "proof not kept: {events:?}");
    for e in &events {
        ensure!(
            e["email_hash"].as_str().is_some_and(|h| h.len() == 64)
                && e["ip_hash"].is_null()
                && e["user_agent"].is_null()
                && e["notice_text_hash"].is_string()
                && e["purpose"] == "marketing_email",
            "proof event {e}"
        );
    }
    let invitations = app.sql_rows(&format!(
        "SELECT contact_id, order_id FROM survey_invitations WHERE survey_id = '{survey}'"
    ))?;
    ensure!(
        invitations.len() == 1
            && invitations[0]["contact_id"].is_null()
            && invitations[0]["order_id"].is_null(),
        "survey invitation still leads to the person: {invitations:?}"
    );
    Ok(())
}

async fn the_daily_run_forgets_delivered_mail_and_old_rate_counters(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("forgotten");
    confirmed(&app, &email).await?;
    app.eventually(Duration::from_secs(15), || async {
        let delivered = app
            .mail_to(&email)
            .await?
            .iter()
            .any(|m| m["kind"] == "confirm");
        Ok(delivered.then_some(()))
    })
    .await?;
    app.sql(&format!(
        "UPDATE outbox SET created_at = '2020-01-01T00:00:00.000Z', sent_at = '2020-01-01T00:00:00.000Z' \
         WHERE to_email = '{email}' AND sent_at IS NOT NULL"
    ))?;
    app.sql(
        "INSERT INTO rate_counters (key, window_start, count, cap) VALUES ('test:old', '2020-01-01T00:00:00.000Z', 3, 10)",
    )?;
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None).await?;
    app.eventually(Duration::from_secs(15), || async {
        let mail = app.sql_rows(&format!(
            "SELECT id FROM outbox WHERE to_email = '{email}' AND sent_at = '2020-01-01T00:00:00.000Z'"
        ))?;
        let counters = app.sql_rows("SELECT key FROM rate_counters WHERE key = 'test:old'")?;
        Ok((mail.is_empty() && counters.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

async fn rotating_link_keys_and_retiring_the_bootstrap_key_keep_every_hash_matching(
    app: Arc<TestApp>,
) -> Result<(), String> {
    // Before: a subscriber with links in their mailbox, an erased person, a named admin key.
    let email = unique_email("rotated");
    confirmed(&app, &email).await?;
    let (old_unsubscribe, old_preferences) = newsletter_links(&app, &email).await?;
    let erased = unique_email("rotated-erased");
    confirmed(&app, &erased).await?;
    let session = session_for(&app, &erased).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let admin = create_key(
        &app,
        "administrator",
        &["keys", "contacts:read", "forms", "segments", "exports"],
    )
    .await?;
    let segment = create_segment(
        &app,
        "rotated",
        json!({"field": "email", "op": "eq", "value": email}),
    )
    .await?;
    let segment_id = segment["id"].as_str().ok_or("no id")?.to_string();
    ready_segment(&app, &segment_id, 1).await?;

    // The redeploy: link key 2 signs, key 1 (and the pre-key-id links) retired, no bootstrap.
    let (_runtime, base) = app
        .redeployed(&[
            ("LINK_KEY_ID", "2"),
            ("LINK_KEYS_RETIRED", "1,0"),
            ("ADMIN_BOOTSTRAP_DISABLED", "1"),
        ])
        .await?;
    let call = |method: reqwest::Method, path: &str, key: &str| {
        app.client
            .request(method, format!("{base}{path}"))
            .bearer_auth(key)
    };
    let status = |r: Reply| r.status;
    ensure_eq!(
        status(
            app.send(
                call(reqwest::Method::GET, "/admin/v1/keys", &app.admin_key),
                Auth::None
            )
            .await?
        ),
        401,
        "the retired bootstrap key still works"
    );
    app.send(
        call(reqwest::Method::GET, "/admin/v1/keys", &admin),
        Auth::None,
    )
    .await?
    .expect(200)?;
    // Email hashes did not move: the person is found, and the erased one stays out.
    let found = app
        .send(
            call(
                reqwest::Method::GET,
                &format!("/admin/v1/contacts?email={email}"),
                &admin,
            ),
            Auth::None,
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        found["contacts"][0]["email"],
        email.as_str(),
        "lost: {found}"
    );
    let form = app
        .send(
            call(reqwest::Method::POST, "/admin/v1/forms", &admin).json(&form_body(false)),
            Auth::None,
        )
        .await?
        .expect(201)?
        .json();
    let form_id = form["id"].as_str().ok_or("no form")?;
    app.send(
        app.client
            .post(format!("{base}/v1/forms/{form_id}/submissions"))
            .header("Origin", SHOP)
            .header("CF-Connecting-IP", "198.18.7.7")
            .json(&signup(&erased, "Back")),
        Auth::None,
    )
    .await?
    .expect(202)?;
    let back = app
        .send(
            call(
                reqwest::Method::GET,
                &format!("/admin/v1/contacts?email={erased}"),
                &admin,
            ),
            Auth::None,
        )
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        back["contacts"],
        json!([]),
        "the suppression stopped matching after rotation: {back}"
    );
    // Links signed with the retired key are dead; new ones, signed with key 2, work.
    let old_token = preferences_token(&old_preferences)?;
    let refused = app
        .send(
            app.client
                .post(format!("{base}/v1/me/session"))
                .json(&json!({ "token": old_token })),
            Auth::None,
        )
        .await?;
    ensure_eq!(
        refused.status,
        410,
        "a retired key's link opened: {}",
        refused.status
    );
    let page = app
        .send(
            app.client.get(format!("{base}{old_unsubscribe}")),
            Auth::None,
        )
        .await?;
    ensure_eq!(
        page.status,
        400,
        "a retired unsubscribe link shows its button"
    );
    let csv = app
        .send(
            call(
                reqwest::Method::GET,
                &format!(
                    "/admin/v1/segments/{segment_id}/export.csv?columns=email,preferences_url"
                ),
                &admin,
            ),
            Auth::None,
        )
        .await?
        .expect(200)?;
    let fresh = csv
        .text
        .lines()
        .find(|l| l.starts_with(&email))
        .and_then(|l| l.split("p=").nth(1))
        .ok_or_else(|| format!("no link in {}", csv.text))?
        .to_string();
    ensure!(
        fresh.contains(".p.2."),
        "not signed with the new key: {fresh}"
    );
    app.send(
        app.client
            .post(format!("{base}/v1/me/session"))
            .json(&json!({ "token": fresh })),
        Auth::None,
    )
    .await?
    .expect(200)?;
    Ok(())
}

async fn a_mail_provider_posting_unsubscribes_from_one_address_is_never_limited(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("provider");
    confirmed(&app, &email).await?;
    let (unsubscribe, _) = newsletter_links(&app, &email).await?;
    // One shared sender address, more one-click posts than the per-IP limit allows a minute.
    let provider_ip = format!("192.0.2.{}", 100 + std::process::id() % 100);
    // More than two windows' worth, so the limit would bite whichever minute boundary the
    // run straddles.
    for i in 0..125 {
        let reply = app
            .send(
                app.client
                    .post(app.url(&unsubscribe))
                    .header("CF-Connecting-IP", &provider_ip)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("List-Unsubscribe=One-Click"),
                Auth::None,
            )
            .await?;
        ensure_eq!(reply.status, 200, "post {i}: {}", reply.status);
    }
    // Forged links from that address are what the limit is for.
    let forged = unsubscribe.replacen(".u.", ".s.", 1);
    let mut statuses = Vec::new();
    for _ in 0..125 {
        statuses.push(
            app.send(
                app.client
                    .post(app.url(&forged))
                    .header(
                        "CF-Connecting-IP",
                        format!("198.18.200.{}", 1 + std::process::id() % 200),
                    )
                    .body("List-Unsubscribe=One-Click"),
                Auth::None,
            )
            .await?
            .status,
        );
    }
    ensure!(
        statuses.contains(&429) && statuses.iter().all(|s| *s == 400 || *s == 429),
        "forged statuses {statuses:?}"
    );
    Ok(())
}

/// Where a person may still appear after erasure, as the README's record of processing says:
/// (table, what may be found there).
const KEPT_AFTER_ERASURE: &[(&str, &str)] = &[
    (
        "suppressions",
        "the email HMAC, so nobody brings the person back",
    ),
    (
        "consent_events",
        "minimal proof: contact id and email HMAC, no IP hash, no browser",
    ),
    (
        "audit_log",
        "ids of what changed and who changed it, never an email",
    ),
    (
        "outbox",
        "the erasure notice to the address, once, without a link",
    ),
    (
        "rate_counters",
        "counters keyed by the email HMAC, for their window",
    ),
    (
        "events",
        "the erasure's own event: the id, for the shop's other tools to erase too, 30 days",
    ),
    (
        "privacy_requests",
        "the person's requests by contact id, the erasure's among them: proof each was honoured, 5 years",
    ),
];

async fn after_erasure_no_table_holds_the_person_but_where_the_record_of_processing_says(
    app: Arc<TestApp>,
) -> Result<(), String> {
    // A person with something in every table a person can reach: form data and consents, an
    // order, a survey answer with text, a segment membership, sessions and links.
    let email = unique_email("everywhere");
    confirmed(&app, &email).await?;
    let external = external_id("everywhere");
    send_orders(
        &app,
        vec![order(
            &external,
            &email,
            "49.90",
            &crate::harness::days_ago(180),
        )],
    )
    .await?;
    let survey = answered(
        &app,
        &email,
        Some(&external),
        true,
        json!({"nps": 9, "why": "the shoes fit"}),
    )
    .await?;
    // The preferences link of the survey email (a segment naming the address would keep it in
    // the marketer's own rule text, which erasure does not rewrite).
    let mail = survey_mail(&app, &email).await?;
    let prefs_token = mail["preferences_url"]
        .as_str()
        .and_then(|u| u.split("p=").nth(1))
        .ok_or("no preferences link")?
        .to_string();
    let prefs = open_session(&app, &prefs_token).await?.expect(200)?.json()["session"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    put_consent(&app, &prefs, "profiling", false)
        .await?
        .expect(200)?;
    create_segment(
        &app,
        "Brazil",
        json!({"field": "country", "op": "eq", "value": "BR"}),
    )
    .await?;
    let row = app.sql_rows(&format!(
        "SELECT id, email_hash FROM contacts WHERE email = '{email}'"
    ))?;
    let id = row[0]["id"].as_str().ok_or("no id")?.to_string();
    let hash = row[0]["email_hash"].as_str().ok_or("no hash")?.to_string();
    app.eventually(Duration::from_secs(20), || async {
        let n = app.sql_rows(&format!(
            "SELECT COUNT(*) AS n FROM segment_members WHERE contact_id = '{id}'"
        ))?;
        let s = app.sql_rows(&format!(
            "SELECT COUNT(*) AS n FROM contact_stats WHERE contact_id = '{id}'"
        ))?;
        Ok((n[0]["n"].as_i64() >= Some(1) && s[0]["n"] == 1).then_some(()))
    })
    .await?;

    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    // What the erasure left for the queue (its notice, the segment update) has run, and so has
    // any update queued for the person before it.
    app.queue_caught_up().await?;

    let unexpected: Vec<String> = columns_holding(&app, &[&id, &email, &hash])?
        .into_iter()
        .filter(|column| {
            let table = column.split('.').next().unwrap_or_default();
            !KEPT_AFTER_ERASURE.iter().any(|(t, _)| *t == table)
        })
        .collect();
    ensure!(
        unexpected.is_empty(),
        "the erased person is still in {unexpected:?} (allowed: {KEPT_AFTER_ERASURE:?})"
    );
    // And what is kept is only what the record of processing says.
    let proof = app.sql_rows(&format!(
        "SELECT COUNT(*) AS n, SUM(ip_hash IS NOT NULL OR user_agent IS NOT NULL) AS identifying, \
           SUM(email_hash = '{hash}') AS keyed FROM consent_events WHERE contact_id = '{id}'"
    ))?;
    ensure!(
        proof[0]["n"].as_i64() >= Some(3)
            && proof[0]["identifying"] == 0
            && proof[0]["keyed"] == proof[0]["n"],
        "minimal proof {proof:?}"
    );
    let mail = app.sql_rows(&format!(
        "SELECT kind, url, contact_id FROM outbox WHERE to_email = '{email}' OR contact_id = '{id}'"
    ))?;
    ensure!(
        mail.len() == 1 && mail[0]["kind"] == "erasure_notice" && mail[0]["url"].is_null(),
        "outbox after erasure: {mail:?}"
    );
    let audit = app.sql_rows(&format!(
        "SELECT COUNT(*) AS n FROM audit_log WHERE instr(COALESCE(detail, ''), '{email}') > 0 \
           OR instr(subject, '{email}') > 0"
    ))?;
    ensure_eq!(audit[0]["n"], 0, "an email in the audit log");
    let scores = app.sql_rows(&format!(
        "SELECT r.contact_id, r.answers, r.nps, i.order_id FROM survey_responses r \
         JOIN survey_invitations i ON i.id = r.invitation_id WHERE r.survey_id = '{survey}'"
    ))?;
    ensure!(
        scores.len() == 1
            && scores[0]["contact_id"].is_null()
            && scores[0]["order_id"].is_null()
            && scores[0]["answers"] == "{}"
            && scores[0]["nps"] == 9,
        "survey score after erasure: {scores:?}"
    );
    let order = app.sql_rows(&format!(
        "SELECT contact_id, total_cents FROM orders WHERE external_id = '{external}'"
    ))?;
    ensure!(
        order.len() == 1 && order[0]["contact_id"].is_null() && order[0]["total_cents"] == 4990,
        "order after erasure: {order:?}"
    );
    Ok(())
}
