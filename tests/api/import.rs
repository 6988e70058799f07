//! Contact imports: a shop's existing list becomes contacts with the consent basis it vouches for;
//! bad rows come back with reasons, erased people and withdrawn consents stay as they are.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    contact, create_form, form_body, import, newsletter_links, signed_up_and_confirmed,
};
use crate::harness::{audit_entries, unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        csv_import_creates_updates_and_rejects_with_reasons,
        ndjson_import_records_consent_with_its_basis,
        import_never_regrants_a_consent_the_person_withdrew,
        import_refuses_bad_files_whole,
    ]
}

fn reasons(report: &Value) -> Vec<(u64, String)> {
    report["rejected"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["line"].as_u64().unwrap_or(0),
                        r["reason"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn csv_import_creates_updates_and_rejects_with_reasons(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let known = unique_email("csv-known");
    signed_up_and_confirmed(&app, &form, &known).await?;
    let fresh = unique_email("csv-fresh");
    let twice = unique_email("csv-twice");
    let csv = format!(
        "email,name,country,attr.tier,consents,consent_basis\r\n\
         {fresh},Bruno Lima,BR,gold,marketing_email,checkout checkbox 2025\r\n\
         {},Ana Imported,,silver,,\r\n\
         not-an-email,Nobody,,,,\r\n\
         {twice},First,,,,\r\n\
         {},Second,,,,\r\n",
        known.to_uppercase(),
        twice.to_uppercase()
    );
    let report = import(&app, "text/csv; charset=utf-8", &csv)
        .await?
        .expect(200)?
        .json();
    ensure!(
        report["created"] == 2 && report["updated"] == 1,
        "counts {report}"
    );
    let rejected = reasons(&report);
    ensure!(
        rejected.len() == 2
            && rejected[0].0 == 4
            && rejected[0].1.contains("email")
            && rejected[1] == (5, "duplicate of line 6".to_string()),
        "rejections {rejected:?}"
    );
    ensure!(
        !report.to_string().contains("not-an-email"),
        "the report quotes a value"
    );

    let created = contact(&app, &fresh).await?.ok_or("fresh not created")?;
    ensure!(
        created["status"] == "active"
            && created["source"] == "import"
            && created["name"] == "Bruno Lima"
            && created["country"] == "BR"
            && created["attributes"]["tier"] == "gold",
        "created {created}"
    );
    let event = &created["consent_history"][0];
    ensure!(
        created["consents"][0]["granted"] == true
            && event["method"] == "import"
            && event["source"] == "import: checkout checkbox 2025",
        "consent {created}"
    );
    let updated = contact(&app, &known).await?.ok_or("known vanished")?;
    ensure!(
        updated["name"] == "Ana Imported"
            && updated["country"] == "BR"
            && updated["attributes"]["tier"] == "silver"
            && updated["consents"][0]["granted"] == true,
        "updated {updated}"
    );
    let last = contact(&app, &twice)
        .await?
        .ok_or("duplicate not created")?;
    ensure_eq!(last["name"], "Second", "the last duplicate wins: {last}");

    // One entry per row, about that row's contact, by the key that imported it, and no email.
    for (action, person) in [
        ("contact.import.create", &created),
        ("contact.import.update", &updated),
        ("contact.import.create", &last),
    ] {
        let entries = audit_entries(&app, action, person["id"].as_str()).await?;
        ensure!(
            entries.len() == 1
                && entries[0]["actor"] == "bootstrap"
                && !entries[0].to_string().contains('@'),
            "{action} of {}: {entries:?}",
            person["id"]
        );
    }
    // The same file again changes nothing but counts: imports are safe to retry.
    let again = import(&app, "text/csv", &csv).await?.expect(200)?.json();
    ensure!(
        again["created"] == 0 && again["updated"] == 3,
        "rerun {again}"
    );
    Ok(())
}

async fn ndjson_import_records_consent_with_its_basis(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("ndjson");
    // Consent given some months ago (relative: a future date is refused, a fixed one ages).
    let consented_at = crate::harness::days_ago(270);
    let body = format!(
        "{}\n\n{}\n",
        json!({"email": email, "name": "Carla", "preferred_channel": "whatsapp",
               "attr.vip": true, "consents": ["marketing_email", "sms"],
               "consent_basis": "paper form at the Recife store", "consented_at": consented_at,
               "policy_version": "2025-01"}),
        json!({"email": unique_email("ndjson-bad"), "favourite_colour": "blue"})
    );
    let report = import(&app, "application/x-ndjson", &body)
        .await?
        .expect(200)?
        .json();
    let rejected = reasons(&report);
    ensure!(
        report["created"] == 1
            && rejected.len() == 1
            && rejected[0].0 == 3
            && rejected[0].1.contains("favourite_colour")
            && !rejected[0].1.contains("blue"),
        "report {report}"
    );
    let c = contact(&app, &email).await?.ok_or("not created")?;
    ensure!(
        c["preferred_channel"] == "whatsapp" && c["attributes"]["vip"] == true,
        "contact {c}"
    );
    let history = c["consent_history"].as_array().ok_or("no history")?;
    ensure!(
        history.len() == 2
            && history
                .iter()
                .all(|e| e["at"] == crate::harness::as_stored(&consented_at)
                    && e["policy_version"] == "2025-01"
                    && e["source"] == "import: paper form at the Recife store"),
        "history {history:?}"
    );
    Ok(())
}

async fn import_never_regrants_a_consent_the_person_withdrew(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("withdrew");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let unsubscribe = app
        .client
        .post(app.url(&unsubscribe_path(&app, &email).await?))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click");
    app.send(unsubscribe, Auth::None).await?.expect(200)?;

    let csv = format!("email,consents,consent_basis\n{email},marketing_email|sms,old CRM export\n");
    let report = import(&app, "text/csv", &csv).await?.expect(200)?.json();
    ensure!(
        report["updated"] == 1
            && report["consents_kept_withdrawn"]
                == json!([{"line": 2, "purpose": "marketing_email"}]),
        "report {report}"
    );
    let c = contact(&app, &email).await?.ok_or("gone")?;
    let granted = |purpose: &str| {
        c["consents"]
            .as_array()
            .and_then(|all| all.iter().find(|x| x["purpose"] == purpose))
            .map(|x| x["granted"].clone())
    };
    ensure!(
        c["status"] == "unsubscribed"
            && granted("marketing_email") == Some(json!(false))
            && granted("sms") == Some(json!(true)),
        "contact {c}"
    );
    Ok(())
}

/// The signed one-click unsubscribe path a marketing email carries for `email`.
async fn unsubscribe_path(app: &TestApp, email: &str) -> Result<String, String> {
    Ok(newsletter_links(app, email).await?.0)
}

async fn import_refuses_bad_files_whole(app: Arc<TestApp>) -> Result<(), String> {
    let email = unique_email("badfile");
    import(
        &app,
        "application/json",
        &format!("{{\"email\":\"{email}\"}}"),
    )
    .await?
    .expect_error(415, "unsupported_media_type")?;
    import(&app, "text/csv", &format!("name\n{email}\n"))
        .await?
        .expect_error(400, "invalid_import")?;
    let huge = format!("email\n{}", "x".repeat(1024 * 1024 + 1));
    import(&app, "text/csv", &huge)
        .await?
        .expect_error(413, "payload_too_large")?;
    let reader = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "reader", "scopes": ["contacts:read"]}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    let key = reader["key"].as_str().ok_or("no key")?;
    app.post_raw(
        "/admin/v1/contacts/import",
        "text/csv",
        format!("email\n{email}\n").into_bytes(),
        Auth::Bearer(key),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    ensure!(
        contact(&app, &email).await?.is_none(),
        "a refused file stored a contact"
    );
    Ok(())
}
