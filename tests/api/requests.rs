//! The register of data-subject requests: what a person does themselves records itself, done at
//! once; what they ask staff by email, phone, letter or in person staff record with a reason,
//! through the same erasure and export the person would use. The register names contact ids,
//! never an address, and stays after the erasure it proves.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    contact, create_form, form_body, newsletter_links, one_click_unsubscribe, put_consent,
    session_for, signed_up_and_confirmed,
};
use crate::harness::{as_stored, audit_entries, days_ago, unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        an_erasure_requested_by_phone_is_on_the_register_as_completed_with_its_reason,
        an_access_request_by_letter_is_answered_with_the_persons_own_export,
        self_service_export_edit_unsubscribe_and_objection_are_on_the_register_done_at_once,
        a_repeated_unsubscribe_or_an_edit_that_changes_nothing_is_not_a_new_request,
        the_register_never_holds_an_email_address,
        a_key_without_the_scope_can_neither_erase_export_nor_read_the_register,
        a_blank_reason_is_refused_and_erases_nothing,
    ]
}

/// A confirmed contact of a new form: (id, email).
async fn confirmed(app: &TestApp, tag: &str) -> Result<(String, String), String> {
    let form = create_form(app, &form_body(true)).await?;
    let email = unique_email(tag);
    signed_up_and_confirmed(app, &form, &email).await?;
    let c = contact(app, &email).await?.ok_or("no contact")?;
    let id = c["id"].as_str().ok_or("no id")?.to_string();
    Ok((id, email))
}

/// Every page of the register as served (raw bodies, for searching), and the entries of
/// `contact_id`, oldest first.
async fn register(app: &TestApp, contact_id: &str) -> Result<(Vec<String>, Vec<Value>), String> {
    let mut bodies = Vec::new();
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/privacy-requests?limit=500&cursor={c}"),
            None => "/admin/v1/privacy-requests?limit=500".to_string(),
        };
        let page = app.get(&path, Auth::Admin).await?.expect(200)?;
        let json = page.json();
        bodies.push(page.text);
        for r in json["requests"].as_array().ok_or("no requests")? {
            if r["contact_id"] == contact_id {
                found.push(r.clone());
            }
        }
        match json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    found.reverse();
    Ok((bodies, found))
}

/// The entries of `contact_id` as `kind channel` pairs, oldest first.
async fn kinds(app: &TestApp, contact_id: &str) -> Result<Vec<String>, String> {
    Ok(register(app, contact_id)
        .await?
        .1
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or("?"),
                r["channel"].as_str().unwrap_or("?")
            )
        })
        .collect())
}

async fn key_with(app: &TestApp, scopes: &[&str]) -> Result<(String, String), String> {
    let created = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "requests", "scopes": scopes}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    Ok((
        created["key"].as_str().ok_or("no key")?.to_string(),
        created["id"].as_str().ok_or("no key id")?.to_string(),
    ))
}

async fn an_erasure_requested_by_phone_is_on_the_register_as_completed_with_its_reason(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (id, email) = confirmed(&app, "phone-erasure").await?;
    let (key, key_id) = key_with(&app, &["contacts:write"]).await?;
    let received = days_ago(3);
    let erased = app
        .post_json(
            &format!("/admin/v1/contacts/{id}/erase"),
            &json!({"reason": "ticket 4411: asked on the phone", "channel": "phone", "received_at": received}),
            Auth::Bearer(&key),
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        erased["id"] == id.as_str() && erased["status"] == "erased",
        "answer {erased}"
    );
    let request = &erased["request"];
    // Fifteen days from when the person called, not from when staff typed it in.
    let due = chrono::DateTime::parse_from_rfc3339(&received).map_err(|e| e.to_string())?
        + chrono::Duration::days(15);
    ensure!(
        request["kind"] == "erasure"
            && request["channel"] == "phone"
            && request["reason"] == "ticket 4411: asked on the phone"
            && request["received_at"] == as_stored(&received).as_str()
            && request["due_at"] == as_stored(&due.to_rfc3339()).as_str()
            && request["completed_at"].is_string()
            && request["overdue"] == false,
        "request {request}"
    );
    // Erased as self-service erases: the person is gone, the address told.
    ensure!(contact(&app, &email).await?.is_none(), "still there");
    app.get(&format!("/admin/v1/contacts/{id}"), Auth::Admin)
        .await?
        .expect(404)?;
    let notices = app.mail_to(&email).await?;
    ensure!(
        notices.iter().any(|m| m["kind"] == "erasure_notice"),
        "no erasure notice: {notices:?}"
    );
    // The register keeps the request after the erasure it proves, as it was answered.
    let (_, entries) = register(&app, &id).await?;
    ensure_eq!(entries, vec![request.clone()], "the register");
    let audited = audit_entries(&app, "contact.erase", Some(&id)).await?;
    ensure!(
        audited.len() == 1 && audited[0]["actor"] == key_id.as_str(),
        "audit {audited:?}"
    );
    // A second call finds nobody to erase and records nothing more.
    app.post_json(
        &format!("/admin/v1/contacts/{id}/erase"),
        &json!({"reason": "ticket 4411", "channel": "phone"}),
        Auth::Bearer(&key),
    )
    .await?
    .expect_error(404, "not_found")?;
    ensure_eq!(register(&app, &id).await?.1.len(), 1, "after a second call");
    Ok(())
}

async fn an_access_request_by_letter_is_answered_with_the_persons_own_export(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (id, email) = confirmed(&app, "letter-access").await?;
    // The confirmation queues the person's stats: both answers must read them computed, or one
    // says `"stats": null` (seen on a loaded machine).
    app.queue_caught_up().await?;
    let locale = contact(&app, &email).await?.ok_or("no contact")?["locale"]
        .as_str()
        .unwrap_or("en")
        .to_string();
    let session = session_for(&app, &email).await?;
    // In the person's own language, as staff's answer is written.
    let mut own = app
        .send(
            app.client
                .get(app.url("/v1/me/export"))
                .header("Accept-Language", &locale),
            Auth::Bearer(&session),
        )
        .await?
        .expect(200)?
        .json();
    let (key, key_id) = key_with(&app, &["contacts:read"]).await?;
    let answered = app
        .get(
            &format!("/admin/v1/contacts/{id}/export?reason=letter%20of%2028%20Nov&channel=letter"),
            Auth::Bearer(&key),
        )
        .await?
        .expect(200)?
        .json();
    let mut answered = answered;
    // Segment memberships follow other stories' segments in the shared database: not compared.
    for doc in [&mut own, &mut answered] {
        if let Some(data) = doc["data"].as_object_mut() {
            data.remove("segments");
        }
    }
    ensure_eq!(answered["format"], own["format"], "format");
    ensure_eq!(
        answered["processing"],
        own["processing"],
        "processing record"
    );
    ensure_eq!(answered["data"], own["data"], "what is held");
    ensure_eq!(
        kinds(&app, &id).await?,
        ["access self_service", "access letter"],
        "the register"
    );
    let (_, entries) = register(&app, &id).await?;
    ensure!(
        entries[1]["reason"] == "letter of 28 Nov" && entries[1]["completed_at"].is_string(),
        "entry {}",
        entries[1]
    );
    let audited = audit_entries(&app, "contact.export", Some(&id)).await?;
    ensure!(
        audited.len() == 1 && audited[0]["actor"] == key_id.as_str(),
        "audit {audited:?}"
    );
    Ok(())
}

async fn self_service_export_edit_unsubscribe_and_objection_are_on_the_register_done_at_once(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (id, email) = confirmed(&app, "self-register").await?;
    let session = session_for(&app, &email).await?;
    app.get("/v1/me/export", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    app.send(
        app.client
            .patch(app.url("/v1/me"))
            .json(&json!({"name": "Ana Lima"})),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    let (unsubscribe, _) = newsletter_links(&app, &email).await?;
    one_click_unsubscribe(&app, &unsubscribe)
        .await?
        .expect(200)?;
    put_consent(&app, &session, "satisfaction_surveys", false)
        .await?
        .expect(200)?;
    ensure_eq!(
        kinds(&app, &id).await?,
        [
            "access self_service",
            "rectification self_service",
            "withdrawal one_click",
            "objection self_service"
        ],
        "the register"
    );
    for r in register(&app, &id).await?.1 {
        ensure!(
            r["completed_at"] == r["received_at"]
                && r["reason"].is_null()
                && r["overdue"] == false
                && r["due_at"].as_str() > r["received_at"].as_str(),
            "done at once: {r}"
        );
    }
    Ok(())
}

async fn a_repeated_unsubscribe_or_an_edit_that_changes_nothing_is_not_a_new_request(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (id, email) = confirmed(&app, "repeat").await?;
    let (unsubscribe, _) = newsletter_links(&app, &email).await?;
    for _ in 0..2 {
        one_click_unsubscribe(&app, &unsubscribe)
            .await?
            .expect(200)?;
    }
    let session = session_for(&app, &email).await?;
    // Withdrawn already by the link: withdrawing again in the preference center is no request.
    put_consent(&app, &session, "marketing_email", false)
        .await?
        .expect(200)?;
    for _ in 0..2 {
        app.send(
            app.client
                .patch(app.url("/v1/me"))
                .json(&json!({"city": "Olinda"})),
            Auth::Bearer(&session),
        )
        .await?
        .expect(200)?;
    }
    ensure_eq!(
        kinds(&app, &id).await?,
        ["withdrawal one_click", "rectification self_service"],
        "the register"
    );
    Ok(())
}

async fn the_register_never_holds_an_email_address(app: Arc<TestApp>) -> Result<(), String> {
    let (id, email) = confirmed(&app, "no-address").await?;
    let session = session_for(&app, &email).await?;
    app.get("/v1/me/export", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    app.get(
        &format!("/admin/v1/contacts/{id}/export?reason=by%20email&channel=email"),
        Auth::Admin,
    )
    .await?
    .expect(200)?;
    app.post_json(
        &format!("/admin/v1/contacts/{id}/erase"),
        &json!({"reason": "asked by email", "channel": "email"}),
        Auth::Admin,
    )
    .await?
    .expect(200)?;
    let (bodies, entries) = register(&app, &id).await?;
    ensure_eq!(entries.len(), 3, "the register {entries:?}");
    let local = email.split('@').next().unwrap_or(&email);
    for body in &bodies {
        ensure!(
            !body.contains(&email) && !body.contains(local),
            "the register shows the address: {body}"
        );
    }
    for entry in &entries {
        let mut fields: Vec<&str> = entry
            .as_object()
            .ok_or("not an object")?
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        ensure_eq!(
            fields,
            [
                "channel",
                "completed_at",
                "contact_id",
                "due_at",
                "id",
                "kind",
                "overdue",
                "reason",
                "received_at"
            ],
            "an entry's fields"
        );
    }
    Ok(())
}

async fn a_key_without_the_scope_can_neither_erase_export_nor_read_the_register(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (id, email) = confirmed(&app, "no-scope").await?;
    let (reader, _) = key_with(&app, &["contacts:read", "audit"]).await?;
    let (writer, _) = key_with(&app, &["contacts:write"]).await?;
    app.post_json(
        &format!("/admin/v1/contacts/{id}/erase"),
        &json!({"reason": "ticket 1", "channel": "phone"}),
        Auth::Bearer(&reader),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    app.get(
        &format!("/admin/v1/contacts/{id}/export?reason=ticket%201&channel=phone"),
        Auth::Bearer(&writer),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    app.get("/admin/v1/privacy-requests", Auth::Bearer(&writer))
        .await?
        .expect_error(403, "missing_scope")?;
    ensure!(contact(&app, &email).await?.is_some(), "erased");
    ensure_eq!(kinds(&app, &id).await?.len(), 0, "the register");
    Ok(())
}

async fn a_blank_reason_is_refused_and_erases_nothing(app: Arc<TestApp>) -> Result<(), String> {
    let (id, email) = confirmed(&app, "blank-reason").await?;
    for (body, fields) in [
        (json!({"reason": "   ", "channel": "phone"}), vec!["reason"]),
        (json!({"channel": "phone"}), vec!["reason"]),
        (json!({"reason": "ticket 7"}), vec!["channel"]),
        (
            json!({"reason": "call back ana@example.com", "channel": "email"}),
            vec!["reason"],
        ),
        (
            json!({"reason": "ticket 7", "channel": "self_service"}),
            vec!["channel"],
        ),
        (
            json!({"reason": "ticket 7", "channel": "letter", "received_at": days_ago(-2)}),
            vec!["received_at"],
        ),
    ] {
        let refused = app
            .post_json(
                &format!("/admin/v1/contacts/{id}/erase"),
                &body,
                Auth::Admin,
            )
            .await?
            .expect(400)?
            .json();
        let named: Vec<&str> = refused["error"]["fields"]
            .as_object()
            .map(|f| f.keys().map(String::as_str).collect())
            .unwrap_or_default();
        ensure_eq!(named, fields, "{body} answered {refused}");
    }
    let refused = app
        .get(
            &format!("/admin/v1/contacts/{id}/export?channel=phone&reason="),
            Auth::Admin,
        )
        .await?
        .expect(400)?
        .json();
    ensure!(
        refused["error"]["fields"]["reason"].is_string(),
        "export answered {refused}"
    );
    ensure!(contact(&app, &email).await?.is_some(), "erased after all");
    ensure_eq!(kinds(&app, &id).await?.len(), 0, "the register");
    Ok(())
}
