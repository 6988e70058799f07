//! Customer self-service: magic link, session, view, correct, export, consents, erasure,
//! one-click unsubscribe and retention.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    answered, columns_holding, contact, create_form, create_segment, external_id, form_body,
    import, magic_link_messages, magic_token, newsletter_links, order, request_link, run_tag,
    send_orders, session_for, signed_up_and_confirmed, signup, submit,
};
use crate::harness::{audit_entries, unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        customer_sees_fixes_exports_and_erases_their_data,
        magic_link_answers_the_same_for_known_and_unknown_addresses,
        profile_changes_refuse_mass_assignment,
        one_click_unsubscribe_withdraws_marketing_consent,
        twenty_simultaneous_uses_of_one_link_give_one_session,
        preferences_link_opens_a_preferences_only_session,
        preference_center_page_is_served_localized,
        an_erased_address_stays_suppressed_in_every_spelling,
    ]
}

/// Tests that move time by writing the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        self_service_requires_a_live_session,
        erased_person_can_come_back_only_by_double_opt_in,
        the_export_holds_every_table_that_keeps_something_of_the_person,
        a_sign_in_link_request_does_the_same_work_for_known_and_unknown_addresses,
    ]
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
    ensure_eq!(
        me["attributes"]["interests"],
        json!(["bags"]),
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
    ensure_eq!(
        withdraw.json()["granted"],
        false,
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
    ensure_eq!(
        erased.json(),
        json!({"status": "erased"}),
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
    // The erasure is recorded about this person, by this person, without their address.
    let erasures = audit_entries(&app, "contact.erase", Some(&contact_id)).await?;
    ensure!(
        erasures.len() == 1
            && erasures[0]["actor"] == format!("contact:{contact_id}").as_str()
            && !erasures[0].to_string().contains(&email),
        "erasure audit {erasures:?}"
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
    ensure_eq!(
        kinds,
        ["erasure_notice"],
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
    let report = import(
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
    // The unknown address first: its lookup, done after the answer, then runs before the known
    // one's, so the known address's email is the signal that the unknown's work is over.
    let b = request_link(&app, &unknown).await?.expect(202)?;
    let a = request_link(&app, &known).await?.expect(202)?;
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
        ensure_eq!(fields[f], "not editable", "{f} not refused: {fields}");
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
    // A grant of an opt-in purpose needs a notice the person was shown; objecting needs nothing.
    app.send(
        app.client
            .put(app.url("/v1/me/consents/whatsapp"))
            .json(&json!({"granted": true})),
        Auth::Bearer(&session),
    )
    .await?
    .expect_error(400, "validation_failed")?;
    app.send(
        app.client
            .put(app.url("/v1/me/consents/whatsapp"))
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
    let (url, _) = newsletter_links(&app, &email).await?;
    let page = app.get(&url, Auth::None).await?.expect(200)?;
    ensure!(page.text.contains(r#"id="unsubscribe""#), "no button");
    ensure_eq!(
        contact(&app, &email).await?.ok_or("gone")?["consents"][0]["granted"],
        true,
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
    let (_, url) = newsletter_links(&app, &email).await?;
    let token = url.split("p=").nth(1).ok_or("no token")?;
    // Reusable until it expires or is revoked, and only ever for a preferences-only session.
    for _ in 0..2 {
        let opened = app
            .post_json("/v1/me/session", &json!({"token": token}), Auth::None)
            .await?
            .expect(200)?
            .json();
        ensure_eq!(opened["scope"], "preferences", "scope {opened}");
    }
    let last = if token.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    app.post_json("/v1/me/session", &json!({"token": forged}), Auth::None)
        .await?
        .expect_error(410, "link_invalid")?;
    Ok(())
}

/// Serial: reads the local D1 to see what erasure left of the first life.
async fn erased_person_can_come_back_only_by_double_opt_in(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("returning");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let first = contact(&app, &email).await?.ok_or("no contact")?;
    let first_id = first["id"].as_str().ok_or("no id")?.to_string();
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    // The first life keeps only its minimal proof: no contact row, no IP hash, no browser.
    let kept = app.sql_rows(&format!(
        "SELECT (SELECT COUNT(*) FROM contacts WHERE id = '{first_id}') AS contact, \
                COUNT(*) AS events, \
                SUM(ip_hash IS NOT NULL OR user_agent IS NOT NULL) AS identifying \
         FROM consent_events WHERE contact_id = '{first_id}'"
    ))?;
    ensure!(
        kept[0]["contact"] == 0 && kept[0]["events"] == 2 && kept[0]["identifying"] == 0,
        "what erasure left of the first life: {kept:?}"
    );
    signed_up_and_confirmed(&app, &form, &email).await?;
    let c = contact(&app, &email).await?.ok_or("not back")?;
    ensure!(
        c["status"] == "active" && c["id"] != first_id.as_str(),
        "came back as {} {}",
        c["status"],
        c["id"]
    );
    let methods: Vec<&str> = c["consent_history"]
        .as_array()
        .ok_or("no history")?
        .iter()
        .filter_map(|e| e["method"].as_str())
        .collect();
    ensure_eq!(
        methods,
        ["form", "double_opt_in"],
        "the first life's history is shown in the second: {methods:?}"
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

/// Where each table that can hold a person shows in their export, and how to find it there.
/// A table that holds the person and is in neither list fails the test: a new table must say
/// whether the person gets it back (GDPR Art. 15, LGPD Art. 18) or why not.
const EXPORTED: &[(&str, &str)] = &[
    ("contacts", "the profile at the top of `data`"),
    ("contact_attributes", "`data.attributes`"),
    ("consents", "`data.consents`, with the words shown"),
    ("consent_events", "`data.consent_history`, every event"),
    ("contact_stats", "`data.stats`"),
    ("orders", "`data.orders`, with their items"),
    (
        "survey_responses",
        "`data.survey_responses`, with the answers",
    ),
    ("segment_members", "`data.segments`, by name, each with why"),
    ("privacy_requests", "`requests`, this download the last"),
];
const NOT_EXPORTED: &[(&str, &str)] = &[
    (
        "tokens",
        "live sign-in, confirmation and session credentials: an export must not hand out access",
    ),
    (
        "outbox",
        "the delivery log of the emails sent; their bodies are dropped once delivered",
    ),
    (
        "survey_invitations",
        "the bookkeeping of survey links; the answers are exported",
    ),
    (
        "audit_log",
        "the operators' record of who changed what, ids only",
    ),
    (
        "rate_counters",
        "abuse counters keyed by the email HMAC, for their window",
    ),
    (
        "events",
        "what the shop's other tools were told (ids and what changed, 30 days): the facts it \
         tells, the export holds itself (profile, consents with their history, segments, answers)",
    ),
];

/// Serial: reads the local D1 to find every table that holds the person.
async fn the_export_holds_every_table_that_keeps_something_of_the_person(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let tag = run_tag("export-all");
    let email = format!("{tag}-x@example.com");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let external = external_id("export-all");
    let placed = (chrono::Utc::now() - chrono::Duration::hours(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    send_orders(&app, vec![order(&external, &email, "49.90", &placed)]).await?;
    let survey = answered(
        &app,
        &email,
        Some(&external),
        true,
        json!({"nps": 9, "why": "the shoes fit"}),
    )
    .await?;
    let segment = create_segment(
        &app,
        "Everyone exported",
        json!({"field": "email", "op": "starts_with", "value": tag}),
    )
    .await?;
    let segment_id = segment["id"].as_str().ok_or("no id")?.to_string();
    let row = app.sql_rows(&format!(
        "SELECT id, email_hash FROM contacts WHERE email = '{email}'"
    ))?;
    let id = row[0]["id"].as_str().ok_or("no id")?.to_string();
    let hash = row[0]["email_hash"].as_str().ok_or("no hash")?.to_string();
    app.eventually(Duration::from_secs(20), || async {
        let n = app.sql_rows(&format!(
            "SELECT (SELECT COUNT(*) FROM segment_members WHERE contact_id = '{id}' AND segment_id = '{segment_id}') \
                  + (SELECT COUNT(*) FROM contact_stats WHERE contact_id = '{id}' AND last_nps = 9) AS n"
        ))?;
        Ok((n[0]["n"] == 2).then_some(()))
    })
    .await
    .map_err(|e| format!("membership and score never landed: {e}"))?;

    let session = session_for(&app, &email).await?;
    let export = app
        .get("/v1/me/export", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    let data = &export["data"];
    let events = app.sql_rows(&format!(
        "SELECT COUNT(*) AS n FROM consent_events WHERE contact_id = '{id}'"
    ))?[0]["n"]
        .as_u64()
        .unwrap_or(0) as usize;
    let shown = |table: &str| -> bool {
        match table {
            "contacts" => data["id"] == id.as_str() && data["email"] == email.as_str(),
            "contact_attributes" => data["attributes"]["interests"] == json!(["bags"]),
            "consents" => data["consents"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|p| p["purpose"] == "marketing_email" && p["granted"] == true)
            }),
            "consent_events" => data["consent_history"]
                .as_array()
                .is_some_and(|h| h.len() == events && events >= 2),
            "contact_stats" => data["stats"]["order_count"] == 1 && data["stats"]["last_nps"] == 9,
            "orders" => data["orders"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|o| o["external_id"] == external.as_str() && o["total"] == "49.90")
            }),
            "survey_responses" => data["survey_responses"].as_array().is_some_and(|r| {
                r.iter().any(|r| {
                    r["survey_id"] == survey.as_str() && r["answers"]["why"] == "the shoes fit"
                })
            }),
            "segment_members" => data["segments"]
                .as_array()
                .is_some_and(|s| s.iter().any(|n| n["name"] == "Everyone exported")),
            "privacy_requests" => export["requests"].as_array().is_some_and(|r| {
                r.last().is_some_and(|r| {
                    r["kind"] == "access"
                        && r["channel"] == "self_service"
                        && r["contact_id"] == id.as_str()
                })
            }),
            _ => false,
        }
    };
    let holding = columns_holding(&app, &[&id, &email, &hash])?;
    let mut tables: Vec<&str> = holding.iter().filter_map(|c| c.split('.').next()).collect();
    tables.sort();
    tables.dedup();
    for (table, _) in EXPORTED {
        ensure!(
            tables.contains(table),
            "the story did not put the person in `{table}`: it proves nothing there ({tables:?})"
        );
    }
    for table in tables {
        if NOT_EXPORTED.iter().any(|(t, _)| *t == table) {
            continue;
        }
        ensure!(
            EXPORTED.iter().any(|(t, _)| *t == table),
            "`{table}` holds the person but is neither exported nor said why not"
        );
        ensure!(
            shown(table),
            "`{table}` holds the person but the export does not show it: {export}"
        );
    }
    ensure!(
        export["processing"]
            .as_array()
            .is_some_and(|p| p.len() >= 5),
        "no record of processing in the export"
    );
    Ok(())
}

/// Erasure suppresses the person, not one spelling of their address: another case, stray
/// spaces or the ASCII (punycode) form of an international domain are the same mailbox, and
/// none of them brings the person back through a form without double opt-in.
async fn an_erased_address_stays_suppressed_in_every_spelling(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let local = run_tag("idn");
    let email = format!("{local}@jos\u{e9}.example");
    let form = create_form(&app, &form_body(false)).await?;
    submit(&app, &form, &signup(&email, "Zé"))
        .await?
        .expect(202)?;
    ensure!(
        contact(&app, &email).await?.is_some(),
        "the international address did not sign up"
    );
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    for spelling in [
        email.clone(),
        email.to_uppercase(),
        format!("  {email} "),
        format!("{local}@xn--jos-dma.example"),
        format!("{}@XN--JOS-DMA.EXAMPLE", local.to_uppercase()),
    ] {
        submit(&app, &form, &signup(&spelling, "Zé"))
            .await?
            .expect(202)?;
        ensure!(
            contact(&app, &email).await?.is_none()
                && contact(&app, &format!("{local}@xn--jos-dma.example"))
                    .await?
                    .is_none(),
            "`{spelling}` brought the erased person back"
        );
    }
    Ok(())
}

/// Serial (a second deployment with the D1 row meter on): asking for a sign-in link reads and
/// writes exactly the same rows before the answer whether or not the address is known. The
/// lookup and the email happen after the answer; done before it, they would show in the
/// counts (and in the time a prober measures).
async fn a_sign_in_link_request_does_the_same_work_for_known_and_unknown_addresses(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let known = unique_email("metered-known");
    signed_up_and_confirmed(&app, &form, &known).await?;
    let unknown = unique_email("metered-unknown");
    let (_metered, base) = app.redeployed(&[("D1_ROW_METER", "on")]).await?;
    let mut counts = Vec::new();
    for (i, email) in [&unknown, &known].into_iter().enumerate() {
        let reply = app
            .send(
                app.client
                    .post(format!("{base}/v1/me/link"))
                    .header("CF-Connecting-IP", format!("198.51.100.{}", 40 + i))
                    .json(&json!({"email": email})),
                Auth::None,
            )
            .await?
            .expect(202)?;
        let read = reply.header("x-d1-rows-read").ok_or("no row meter")?;
        let written = reply.header("x-d1-rows-written").ok_or("no row meter")?;
        counts.push((read, written));
    }
    ensure_eq!(
        counts[0],
        counts[1],
        "rows (read, written) before the answer: unknown {:?}, known {:?}",
        counts[0],
        counts[1]
    );
    // The known address did get its link, after the answer.
    app.eventually(Duration::from_secs(10), || async {
        Ok((!magic_link_messages(&app, &known).await?.is_empty()).then_some(()))
    })
    .await
    .map_err(|e| format!("the known address got no link: {e}"))?;
    Ok(())
}
