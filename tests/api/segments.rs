//! Segments kept current through the queue: built from contacts, orders and answers, moved by
//! each event without a rebuild, exported as marketers download them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    answered, confirm_messages, contact, create_form, create_segment, export, external_id,
    form_body, import, member_emails, newsletter_links, order, ready_segment, run_tag, send_orders,
    session_for, signup, submit, token_of,
};
use crate::harness::{audit_entries, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        segment_is_built_from_contacts_orders_and_answers_then_kept_current,
        unconfirmed_and_unconsented_people_never_join_a_marketing_segment,
        segment_rules_are_validated_and_previewed,
        export_neutralises_formulas_and_offers_columns_and_ndjson,
        replacing_a_rule_rebuilds_a_new_version,
        a_segment_larger_than_a_page_is_built_and_exported_whole,
        every_change_to_a_person_moves_them_in_or_out_of_segments_at_once,
        segments_are_listed_a_page_at_a_time,
        the_builders_field_list_is_what_a_rule_may_say,
    ]
}

/// Tests that move time by writing the local D1 directly (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        days_pass_and_the_daily_run_keeps_time_relative_segments_right,
        a_deleted_segment_disappears_at_once_and_its_members_are_purged_in_chunks,
        preview_reports_a_capped_count_on_a_large_base,
    ]
}

async fn active_contact(
    app: &TestApp,
    form: &str,
    email: &str,
    name: &str,
    country: &str,
) -> Result<String, String> {
    let mut body = signup(email, name);
    body["fields"]["country"] = json!(country);
    submit(app, form, &body).await?.expect(202)?;
    let c = contact(app, email)
        .await?
        .ok_or("signup did not create a contact")?;
    ensure_eq!(c["status"], "active", "not active: {c}");
    c["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no id".into())
}

async fn eventually_members(app: &TestApp, id: &str, want: &[&str]) -> Result<(), String> {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let got = app
        .eventually(Duration::from_secs(20), || async {
            let got = member_emails(app, id).await?;
            Ok(if got == want { Some(got) } else { None })
        })
        .await;
    match got {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "members never became {want:?}; now {:?}",
            member_emails(app, id).await?
        )),
    }
}

async fn segment_is_built_from_contacts_orders_and_answers_then_kept_current(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(false)).await?;
    let tag = run_tag("story");
    let big = format!("{tag}-big@example.com");
    let small = format!("{tag}-small@example.com");
    let abroad = format!("{tag}-abroad@example.com");
    let later = format!("{tag}-later@example.com");
    active_contact(&app, &form, &big, "Big Spender", "BR").await?;
    active_contact(&app, &form, &small, "Small Spender", "BR").await?;
    active_contact(&app, &form, &abroad, "Abroad", "PT").await?;
    active_contact(&app, &form, &later, "Later", "BR").await?;
    send_orders(
        &app,
        vec![
            order(
                &external_id("big"),
                &big,
                "250.00",
                &crate::harness::days_ago(29),
            ),
            order(
                &external_id("small"),
                &small,
                "20.00",
                &crate::harness::days_ago(29),
            ),
            order(
                &external_id("abroad"),
                &abroad,
                "900.00",
                &crate::harness::days_ago(29),
            ),
        ],
    )
    .await?;
    let rule = json!({"all": [
        {"field": "email", "op": "starts_with", "value": tag},
        {"field": "country", "op": "eq", "value": "br"},
        {"field": "total_spent", "op": "gte", "value": "100.00"},
        {"field": "bought_category", "op": "eq", "value": "BAGS"}
    ]});
    let created = create_segment(&app, "Brazilian bag buyers", rule).await?;
    ensure!(
        created["state"] == "building"
            && created["version"] == 1
            && created["purpose"] == "marketing_email",
        "created {created}"
    );
    let id = created["id"].as_str().ok_or("no id")?.to_string();
    let ready = ready_segment(&app, &id, 1).await?;
    ensure!(
        ready["size"] == 1 && ready["computed_at"].is_string(),
        "ready {ready}"
    );
    eventually_members(&app, &id, &[&big]).await?;

    // An order moves a contact in: no rebuild, the version stays.
    let later_order = order(
        &external_id("later"),
        &later,
        "120.00",
        &crate::harness::days_ago(25),
    );
    send_orders(&app, vec![later_order.clone()]).await?;
    eventually_members(&app, &id, &[&big, &later]).await?;
    // Sent again (the shop retries): nobody is counted twice. A second buyer's first big order
    // is sent after it, and their joining shows the retry's contact change has been worked.
    send_orders(&app, vec![later_order]).await?;
    send_orders(
        &app,
        vec![order(
            &external_id("small2"),
            &small,
            "90.00",
            &crate::harness::days_ago(24),
        )],
    )
    .await?;
    eventually_members(&app, &id, &[&big, &later, &small]).await?;
    let again = ready_segment(&app, &id, 1).await?;
    ensure!(
        again["size"] == 3 && again["version"] == 1,
        "size after a repeated order {again}"
    );
    let later_stats = contact(&app, &later).await?.ok_or("gone")?["stats"].clone();
    ensure!(
        later_stats["order_count"] == 1 && later_stats["total_spent_cents"] == 12000,
        "a repeated order counted twice: {later_stats}"
    );

    // Withdrawing marketing consent moves them out.
    let session = session_for(&app, &big).await?;
    app.send(
        app.client
            .put(app.url("/v1/me/consents/marketing_email"))
            .json(&json!({"granted": false})),
        Auth::Bearer(&session),
    )
    .await?
    .expect(200)?;
    eventually_members(&app, &id, &[&later, &small]).await?;
    // The export re-checks consent at once; the membership itself follows through the queue.
    app.eventually(Duration::from_secs(20), || async {
        let s = ready_segment(&app, &id, 1).await?;
        Ok((s["size"] == 2).then_some(()))
    })
    .await
    .map_err(|e| format!("size after withdrawal: {e}"))?;

    // Their own view lists the segments they are in.
    let later_session = session_for(&app, &later).await?;
    let me = app
        .get("/v1/me", Auth::Bearer(&later_session))
        .await?
        .expect(200)?
        .json();
    ensure!(
        me.to_string().contains("Brazilian bag buyers"),
        "self-service does not show the segment"
    );
    Ok(())
}

async fn unconfirmed_and_unconsented_people_never_join_a_marketing_segment(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("eligible");
    let confirmed_form = create_form(&app, &form_body(false)).await?;
    let double_opt_in = create_form(&app, &form_body(true)).await?;
    let member = format!("{tag}-member@example.com");
    let pending = format!("{tag}-pending@example.com");
    let buyer = format!("{tag}-buyer@example.com");
    active_contact(&app, &confirmed_form, &member, "Member", "BR").await?;
    submit(&app, &double_opt_in, &signup(&pending, "Pending"))
        .await?
        .expect(202)?;
    // A buyer the shop sent an order for has no marketing consent.
    send_orders(
        &app,
        vec![order(
            &external_id("nc"),
            &buyer,
            "10.00",
            &crate::harness::days_ago(29),
        )],
    )
    .await?;
    let created = create_segment(
        &app,
        "Everyone tagged",
        json!({"all": [{"field": "email", "op": "starts_with", "value": tag}]}),
    )
    .await?;
    let id = created["id"].as_str().ok_or("no id")?;
    // The stored count, which the export's own eligibility re-check does not touch: a builder
    // that let the pending signup or the order-only buyer in shows here.
    let ready = ready_segment(&app, id, 1).await?;
    ensure_eq!(ready["size"], 1, "the builder counted {}", ready["size"]);
    eventually_members(&app, id, &[&member]).await?;
    // A segment for a purpose nobody granted is empty.
    let sms = app
        .post_json(
            "/admin/v1/segments",
            &json!({"name": "SMS", "purpose": "sms", "rule": {"all": [{"field": "email", "op": "starts_with", "value": tag}]}}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    let sms_ready = ready_segment(&app, sms["id"].as_str().ok_or("no id")?, 1).await?;
    ensure_eq!(sms_ready["size"], 0, "sms segment {sms_ready}");
    Ok(())
}

async fn segment_rules_are_validated_and_previewed(app: Arc<TestApp>) -> Result<(), String> {
    let bad = app
        .post_json(
            "/admin/v1/segments",
            &json!({"name": "Bad", "rule": {"all": [
                {"field": "shoe_size", "op": "eq", "value": 42},
                {"field": "country", "op": "gt", "value": "BR"},
                {"field": "order_count", "op": "eq", "value": "three"}
            ]}}),
            Auth::Admin,
        )
        .await?
        .expect_error(400, "validation_failed")?;
    let fields = bad.json()["error"]["fields"].clone();
    let keys: Vec<&String> = fields
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    ensure!(
        keys.iter().any(|k| k.contains("all[0]"))
            && keys.iter().any(|k| k.contains("all[1]"))
            && keys.iter().any(|k| k.contains("all[2]")),
        "fields {fields}"
    );
    let deep = (0..10).fold(
        json!({"field": "country", "op": "eq", "value": "BR"}),
        |inner, _| json!({"not": inner}),
    );
    app.post_json(
        "/admin/v1/segments",
        &json!({"name": "Deep", "rule": deep}),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "validation_failed")?;
    app.post_json(
        "/admin/v1/segments",
        &json!({"name": "Loop", "rule": {"all": [{"field": "segment", "op": "eq", "value": "seg_missing"}]}}),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "validation_failed")?;

    let form = create_form(&app, &form_body(false)).await?;
    let tag = run_tag("preview");
    for i in 0..3 {
        active_contact(&app, &form, &format!("{tag}-{i}@example.com"), "P", "BR").await?;
    }
    let preview = app
        .post_json(
            "/admin/v1/segments/preview",
            &json!({"rule": {"all": [{"field": "email", "op": "starts_with", "value": tag}]}}),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        preview["count"] == 3
            && preview["count_capped"] == false
            && preview["sample"].as_array().map(Vec::len) == Some(3),
        "preview {preview}"
    );
    let list = app
        .get("/admin/v1/segments", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        !list.to_string().contains("Deep"),
        "a refused segment was saved"
    );
    Ok(())
}

async fn export_neutralises_formulas_and_offers_columns_and_ndjson(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(false)).await?;
    let tag = run_tag("export");
    let evil = format!("{tag}-evil@example.com");
    active_contact(
        &app,
        &form,
        &evil,
        "=HYPERLINK(\"http://evil\",\"x\")",
        "BR",
    )
    .await?;
    let created = create_segment(
        &app,
        "Export",
        json!({"all": [{"field": "email", "op": "starts_with", "value": tag}]}),
    )
    .await?;
    let id = created["id"].as_str().ok_or("no id")?;
    ready_segment(&app, id, 1).await?;
    let csv = export(&app, id, "").await?.expect(200)?;
    ensure!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv"))
            && csv
                .header("content-disposition")
                .is_some_and(|d| d.contains("attachment")),
        "headers {:?}",
        csv.headers
    );
    let mut lines = csv.text.split("\r\n");
    ensure_eq!(lines.next(), Some("contact_id,email,name,locale,country,city,temperature,order_count,total_spent,last_order_at"),
        "header {}",
        csv.text
    );
    let row = lines.next().ok_or("no member row")?;
    ensure!(
        row.contains(&evil)
            && row.contains(r#""'=HYPERLINK(""http://evil"",""x"")""#)
            && !row.contains("/me?p=")
            && !row.contains("/unsubscribe?t="),
        "row {row}"
    );
    // Asked for by name, the signed links are there as merge fields; the preferences link
    // opens the person's own preferences, and only those.
    let linked = export(
        &app,
        id,
        "?columns=email,name,preferences_url,unsubscribe_url",
    )
    .await?
    .expect(200)?;
    let row = linked.text.split("\r\n").nth(1).ok_or("no member row")?;
    ensure!(
        row.contains(&format!("{}/me?p=", app.base))
            && row.contains(&format!("{}/unsubscribe?t=", app.base)),
        "row {row}"
    );
    let token = row
        .split("/me?p=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .ok_or("no preferences token in the row")?;
    let opened = app
        .post_json("/v1/me/session", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(opened["scope"], "preferences", "scope {opened}");
    let picked = export(&app, id, "?columns=email,name,order_count")
        .await?
        .expect(200)?;
    ensure!(
        picked.text.starts_with("email,name,order_count\r\n"),
        "columns {}",
        picked.text
    );
    export(&app, id, "?columns=email,password")
        .await?
        .expect_error(400, "validation_failed")?;
    export(&app, id, "?format=xml")
        .await?
        .expect_error(400, "validation_failed")?;
    let nd = export(&app, id, "?format=ndjson&columns=email,name")
        .await?
        .expect(200)?;
    let first: Value =
        serde_json::from_str(nd.text.lines().next().unwrap_or("")).map_err(|e| e.to_string())?;
    ensure_eq!(
        first,
        json!({"email": evil, "name": "=HYPERLINK(\"http://evil\",\"x\")"}),
        "ndjson {first}"
    );
    // Every export of this segment is recorded about it: the CSV ones above and the NDJSON one.
    let csv_audits = audit_entries(&app, "segment.export.csv", Some(id)).await?;
    let nd_audits = audit_entries(&app, "segment.export.ndjson", Some(id)).await?;
    ensure!(
        csv_audits.len() == 3
            && nd_audits.len() == 1
            && csv_audits.iter().all(|e| e["actor"] == "bootstrap"),
        "exports of {id} audited: {} csv, {} ndjson",
        csv_audits.len(),
        nd_audits.len()
    );
    export(&app, "seg_missing", "")
        .await?
        .expect_error(404, "not_found")?;
    Ok(())
}

async fn replacing_a_rule_rebuilds_a_new_version(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(false)).await?;
    let tag = run_tag("replace");
    let br = format!("{tag}-br@example.com");
    let pt = format!("{tag}-pt@example.com");
    active_contact(&app, &form, &br, "Br", "BR").await?;
    active_contact(&app, &form, &pt, "Pt", "PT").await?;
    let by_country = |country: &str| json!({"all": [{"field": "email", "op": "starts_with", "value": tag}, {"field": "country", "op": "eq", "value": country}]});
    let created = create_segment(&app, "By country", by_country("BR")).await?;
    let id = created["id"].as_str().ok_or("no id")?.to_string();
    ready_segment(&app, &id, 1).await?;
    eventually_members(&app, &id, &[&br]).await?;
    let replaced = app
        .send(
            app.client
                .put(app.url(&format!("/admin/v1/segments/{id}")))
                .json(&json!({"name": "By country", "rule": by_country("PT")})),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        replaced["version"] == 2 && replaced["state"] == "building",
        "replaced {replaced}"
    );
    ready_segment(&app, &id, 2).await?;
    eventually_members(&app, &id, &[&pt]).await?;
    app.delete(&format!("/admin/v1/segments/{id}"), Auth::Admin)
        .await?
        .expect(200)?;
    app.get(&format!("/admin/v1/segments/{id}"), Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    let _ = contact(&app, &br)
        .await?
        .ok_or("deleting a segment touched its members")?;
    Ok(())
}

async fn days_pass_and_the_daily_run_keeps_time_relative_segments_right(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(false)).await?;
    let tag = run_tag("days");
    let fresh = format!("{tag}-fresh@example.com");
    let fading = format!("{tag}-fading@example.com");
    active_contact(&app, &form, &fresh, "Fresh", "BR").await?;
    let fading_id = active_contact(&app, &form, &fading, "Fading", "BR").await?;
    let now = chrono::Utc::now();
    let recent =
        (now - chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    send_orders(
        &app,
        vec![
            // Amounts at the ends of any base's range, so their money quintiles differ whatever
            // the other stories' buyers spent (quintiles rank against the whole base).
            order(&external_id("fresh"), &fresh, "99999.00", &recent),
            order(&external_id("fading"), &fading, "0.01", &recent),
        ],
    )
    .await?;
    let created = create_segment(
        &app,
        "Bought this month",
        json!({"all": [{"field": "email", "op": "starts_with", "value": tag},
                       {"field": "last_order_at", "op": "within_days", "value": 30}]}),
    )
    .await?;
    let id = created["id"].as_str().ok_or("no id")?.to_string();
    ready_segment(&app, &id, 1).await?;
    eventually_members(&app, &id, &[&fading, &fresh]).await?;
    // Temperature follows the order on the JOBS queue; the rebuild ran on the WORK queue, which
    // may finish first.
    app.queue_caught_up().await?;
    let fresh_contact = contact(&app, &fresh).await?.ok_or("gone")?;
    ensure_eq!(
        fresh_contact["stats"]["temperature"],
        "hot",
        "a buyer of two days ago is not hot: {}",
        fresh_contact["stats"]
    );

    // Forty days pass for one buyer: nothing about them changes, only the calendar.
    let long_ago =
        (now - chrono::Duration::days(40)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.sql(&format!(
        "UPDATE orders SET placed_at = '{long_ago}' WHERE contact_id = '{fading_id}'; \
         UPDATE contact_stats SET first_order_at = '{long_ago}', last_order_at = '{long_ago}' WHERE contact_id = '{fading_id}'; \
         UPDATE contacts SET last_activity_at = '{long_ago}' WHERE id = '{fading_id}'"
    ))?;
    let before = ready_segment(&app, &id, 1).await?;
    let first_run = now_ms();
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None).await?;
    eventually_members(&app, &id, &[&fresh]).await?;
    let after = ready_segment(&app, &id, 1).await?;
    ensure!(
        after["version"] == before["version"] && after["size"] == 1,
        "the daily run changed the version or miscounted: {after}"
    );
    // The daily tasks run on the queue, and a run an earlier story started may still be scoring
    // with the base as it was then: what counts is where this run leaves the scores.
    let ranked = |faded: &Value, fresh_rfm: &Value| {
        fresh_rfm["r"].as_i64() > faded["stats"]["rfm"]["r"].as_i64()
            && fresh_rfm["m"].as_i64() > faded["stats"]["rfm"]["m"].as_i64()
    };
    let scored = app
        .eventually(Duration::from_secs(20), || async {
            let c = contact(&app, &fading).await?.ok_or("gone")?;
            let fresh_rfm = contact(&app, &fresh).await?.ok_or("gone")?["stats"]["rfm"].clone();
            Ok((c["stats"]["temperature"] == "warm"
                && c["stats"]["rfm"]["group"].is_string()
                && ranked(&c, &fresh_rfm))
            .then_some((c, fresh_rfm)))
        })
        .await;
    let (faded, fresh_rfm) = match scored {
        Ok(both) => both,
        Err(_) => (
            contact(&app, &fading).await?.ok_or("gone")?,
            contact(&app, &fresh).await?.ok_or("gone")?["stats"]["rfm"].clone(),
        ),
    };
    ensure!(
        fresh_rfm["r"].as_i64() > faded["stats"]["rfm"]["r"].as_i64()
            && fresh_rfm["m"].as_i64() > faded["stats"]["rfm"]["m"].as_i64(),
        "RFM does not rank the recent big buyer above the old small one: {fresh_rfm} vs {}",
        faded["stats"]["rfm"]
    );

    // Running the day again (a redelivered rebuild) changes nothing, once its rebuild is over:
    // the first run's rebuild has ended when the segment is computed after that run began, and
    // then the second's when it is computed after this one began.
    computed_since(&app, &id, &first_run).await?;
    let second_run = now_ms();
    app.get("/__scheduled?cron=17+3+*+*+*", Auth::None).await?;
    computed_since(&app, &id, &second_run).await?;
    ensure!(
        member_emails(&app, &id).await? == vec![fresh.clone()]
            && ready_segment(&app, &id, 1).await?["size"] == 1,
        "a repeated daily run changed the members"
    );
    Ok(())
}

/// Now, as the Worker writes times (`2026-11-30T09:29:35.123Z`).
fn now_ms() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Waits until a rebuild of segment `id` ended at or after `since` (its `computed_at`).
async fn computed_since(app: &TestApp, id: &str, since: &str) -> Result<(), String> {
    app.eventually(Duration::from_secs(30), || async {
        let s = ready_segment(app, id, 1).await?;
        Ok(s["computed_at"]
            .as_str()
            .is_some_and(|at| at >= since)
            .then_some(()))
    })
    .await
    .map_err(|_| format!("segment {id} was not rebuilt after {since}"))
}

/// The segment's `size` (its stored member count, which the export does not consult) once it is
/// `want`; the error names the size it stayed at.
async fn eventually_size(app: &TestApp, id: &str, want: i64, step: &str) -> Result<(), String> {
    let reached = app
        .eventually(Duration::from_secs(20), || async {
            let s = ready_segment(app, id, 1).await?;
            Ok((s["size"] == want).then_some(()))
        })
        .await;
    match reached {
        Ok(()) => Ok(()),
        Err(_) => Err(format!(
            "{step}: size never became {want}; it is {}",
            ready_segment(app, id, 1).await?["size"]
        )),
    }
}

/// With `CHUNK_ROWS` at 3 the rebuild reads the contacts three at a time and the export pages
/// three members at a time: seven members end on a short page, six on a full one followed by an
/// empty read. A boundary row lost or repeated by either shows here.
async fn a_segment_larger_than_a_page_is_built_and_exported_whole(
    app: Arc<TestApp>,
) -> Result<(), String> {
    use crate::harness::CHUNK_ROWS;
    let form = create_form(&app, &form_body(false)).await?;
    let tag = run_tag("pages");
    let mut everyone = Vec::new();
    for i in 0..(2 * CHUNK_ROWS + 1) {
        let email = format!("{tag}-{i}@example.com");
        let country = if i == 0 { "PT" } else { "BR" };
        active_contact(&app, &form, &email, &format!("Person {i}"), country).await?;
        everyone.push(email);
    }
    everyone.sort();
    let brazil: Vec<String> = everyone
        .iter()
        .filter(|e| !e.starts_with(&format!("{tag}-0@")))
        .cloned()
        .collect();
    ensure_eq!(brazil.len(), 2 * CHUNK_ROWS, "setup: {brazil:?}");
    for (name, rule, want) in [
        (
            "seven",
            json!({"field": "email", "op": "starts_with", "value": tag}),
            &everyone,
        ),
        (
            "six",
            json!({"all": [{"field": "email", "op": "starts_with", "value": tag},
                           {"field": "country", "op": "eq", "value": "br"}]}),
            &brazil,
        ),
    ] {
        let created = create_segment(&app, name, rule).await?;
        let id = created["id"].as_str().ok_or("no id")?;
        let ready = ready_segment(&app, id, 1).await?;
        ensure_eq!(
            ready["size"],
            want.len(),
            "{name}: the rebuild counted {} members, not {}",
            ready["size"],
            want.len()
        );
        let csv = export(&app, id, "?columns=email").await?.expect(200)?;
        let rows: Vec<&str> = csv.text.split("\r\n").filter(|l| !l.is_empty()).collect();
        ensure_eq!(rows.first(), Some(&"email"), "{name}: header {rows:?}");
        let mut got: Vec<String> = rows[1..].iter().map(|s| s.to_string()).collect();
        ensure_eq!(
            got.len(),
            want.len(),
            "{name}: the CSV has {} rows for {} members: {got:?}",
            got.len(),
            want.len()
        );
        got.sort();
        ensure_eq!(&got, want, "{name}: CSV {got:?}, want {want:?}");
        let nd = export(&app, id, "?format=ndjson&columns=email")
            .await?
            .expect(200)?;
        let mut lines: Vec<String> = nd
            .text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .map(|v| v["email"].as_str().unwrap_or("").to_string())
                    .map_err(|e| format!("{name}: ndjson line {l}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        lines.sort();
        ensure_eq!(&lines, want, "{name}: NDJSON {lines:?}, want {want:?}");
    }
    Ok(())
}

/// Every way a person's facts change enqueues a contact change, and the segment follows at once
/// (no rebuild, the version stays 1): the person's own edit, the shop's import, a confirmation,
/// a one-click unsubscribe, an erasure and a survey answer. Each step waits for the size it must
/// reach before the next, so a step that moves nobody stalls there and is named.
async fn every_change_to_a_person_moves_them_in_or_out_of_segments_at_once(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let open_form = create_form(&app, &form_body(false)).await?;
    let double_opt_in = create_form(&app, &form_body(true)).await?;
    let tag = run_tag("moves");
    let patched = format!("{tag}-patched@example.com");
    let imported = format!("{tag}-imported@example.com");
    let confirming = format!("{tag}-confirming@example.com");
    let unsubscribing = format!("{tag}-unsubscribing@example.com");
    let erased = format!("{tag}-erased@example.com");
    let answering = format!("{tag}-answering@example.com");
    active_contact(&app, &open_form, &patched, "Patched", "BR").await?;
    active_contact(&app, &open_form, &imported, "Imported", "BR").await?;
    active_contact(&app, &open_form, &unsubscribing, "Unsub", "PT").await?;
    active_contact(&app, &open_form, &erased, "Erased", "PT").await?;
    active_contact(&app, &open_form, &answering, "Answering", "BR").await?;
    let mut pending = signup(&confirming, "Confirming");
    pending["fields"]["country"] = json!("PT");
    submit(&app, &double_opt_in, &pending).await?.expect(202)?;
    // Links and sessions are fetched before the segments exist: fetching them makes no change.
    let (unsubscribe_url, _) = newsletter_links(&app, &unsubscribing).await?;
    let patch_session = session_for(&app, &patched).await?;
    let erase_session = session_for(&app, &erased).await?;

    let portugal = create_segment(
        &app,
        "In Portugal",
        json!({"all": [{"field": "email", "op": "starts_with", "value": tag},
                       {"field": "country", "op": "eq", "value": "pt"}]}),
    )
    .await?;
    let portugal = portugal["id"].as_str().ok_or("no id")?.to_string();
    eventually_size(&app, &portugal, 2, "built").await?;

    app.send(
        app.client
            .patch(app.url("/v1/me"))
            .json(&json!({"country": "PT"})),
        Auth::Bearer(&patch_session),
    )
    .await?
    .expect(200)?;
    eventually_size(&app, &portugal, 3, "after the person's own edit").await?;

    import(
        &app,
        "text/csv",
        &format!("email,country\r\n{imported},PT\r\n"),
    )
    .await?
    .expect(200)?;
    eventually_size(&app, &portugal, 4, "after the shop's import").await?;

    let messages = confirm_messages(&app, &confirming).await?;
    let token = token_of(messages.first().ok_or("no confirmation email")?)?;
    app.post_json("/v1/confirm", &json!({"token": token}), Auth::None)
        .await?
        .expect(200)?;
    eventually_size(&app, &portugal, 5, "after a confirmation").await?;

    app.send(
        app.client
            .post(app.url(&unsubscribe_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        Auth::None,
    )
    .await?
    .expect(200)?;
    eventually_size(&app, &portugal, 4, "after a one-click unsubscribe").await?;

    app.delete("/v1/me", Auth::Bearer(&erase_session))
        .await?
        .expect(200)?;
    eventually_size(&app, &portugal, 3, "after an erasure").await?;
    eventually_members(&app, &portugal, &[&confirming, &imported, &patched]).await?;

    // A survey answer: the score lands on the person and moves them into a segment on it.
    let promoters = create_segment(
        &app,
        "Promoters",
        json!({"all": [{"field": "email", "op": "starts_with", "value": tag},
                       {"field": "last_nps", "op": "gte", "value": 9}]}),
    )
    .await?;
    let promoters = promoters["id"].as_str().ok_or("no id")?.to_string();
    eventually_size(&app, &promoters, 0, "promoters built").await?;
    // No order: an order would enqueue a contact change of its own and hide a missing one.
    answered(&app, &answering, None, false, json!({"nps": 10})).await?;
    eventually_size(&app, &promoters, 1, "after a survey answer").await?;
    eventually_members(&app, &promoters, &[&answering]).await?;
    Ok(())
}

/// `n` active contacts `{tag}-{i}@example.com` written straight into D1 (ids `{tag}-c-{i}`),
/// with marketing consent when `consented`: a base larger than signing people up one by one
/// would make in a story.
fn seed_contacts(app: &TestApp, tag: &str, n: usize, consented: bool) -> Result<(), String> {
    let at = "2026-01-01T00:00:00.000Z";
    let mut sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
         SELECT '{tag}-c-' || i, '{tag}-' || i || '@example.com', '{tag}-h-' || i, 'active', 'import', '{at}', '{at}' FROM n;",
        last = n - 1
    );
    if consented {
        sql.push_str(&format!(
            " INSERT INTO consents (contact_id, purpose, granted, updated_at) \
             SELECT id, 'marketing_email', 1, '{at}' FROM contacts WHERE id LIKE '{tag}-c-%';"
        ));
    }
    app.sql(&sql)
}

/// Removes what [`seed_contacts`] wrote, so later stories' rebuilds do not walk it.
fn unseed_contacts(app: &TestApp, tag: &str) -> Result<(), String> {
    app.sql(&format!(
        "DELETE FROM consents WHERE contact_id LIKE '{tag}-c-%'; \
         DELETE FROM segment_members WHERE contact_id LIKE '{tag}-c-%'; \
         DELETE FROM contacts WHERE id LIKE '{tag}-c-%';"
    ))
}

fn member_rows(app: &TestApp, id: &str) -> Result<i64, String> {
    let rows = app.sql_rows(&format!(
        "SELECT COUNT(*) AS n FROM segment_members WHERE segment_id = '{id}'"
    ))?;
    rows.first()
        .and_then(|r| r["n"].as_i64())
        .ok_or_else(|| format!("no count in {rows:?}"))
}

/// Every live segment id of the list, read a page of `limit` at a time by its cursor.
async fn listed_ids(app: &TestApp, limit: usize) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/segments?limit={limit}&cursor={c}"),
            None => format!("/admin/v1/segments?limit={limit}"),
        };
        let page = app.get(&path, Auth::Admin).await?.expect(200)?.json();
        let segments = page["segments"].as_array().ok_or("no segments")?;
        ensure!(segments.len() <= limit, "a page longer than its limit");
        ids.extend(
            segments
                .iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(ids),
        }
    }
    Err("the list never ended".into())
}

/// Deleting a segment answers as before and it is gone for every reader at once (read, list,
/// export, rules naming it); its membership rows are then purged by queue messages a chunk
/// each. The rows outnumber what one invocation may delete a chunk at a time under the
/// guard (50 queries of 3 rows), so only a purge that hands over to a continuation finishes
/// without ever passing the cap.
async fn a_deleted_segment_disappears_at_once_and_its_members_are_purged_in_chunks(
    app: Arc<TestApp>,
) -> Result<(), String> {
    const MEMBERS: usize = 200;
    let tag = run_tag("purge");
    let id = format!(
        "seg_{}",
        tag.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    seed_contacts(&app, &tag, MEMBERS, false)?;
    app.sql(&format!(
        "INSERT INTO segments (id, name, rule, purpose, version, size, state, computed_at, created_at, updated_at) \
         VALUES ('{id}', 'Purged', '{{\"all\":[{{\"field\":\"email\",\"op\":\"starts_with\",\"value\":\"{tag}\"}}]}}', \
           'marketing_email', 1, {MEMBERS}, 'ready', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'); \
         INSERT INTO segment_members (segment_id, contact_id, since) \
         SELECT '{id}', id, '2026-01-01T00:00:00.000Z' FROM contacts WHERE id LIKE '{tag}-c-%';"
    ))?;
    ensure_eq!(member_rows(&app, &id)?, MEMBERS as i64, "seeded members");
    app.get(&format!("/admin/v1/segments/{id}"), Auth::Admin)
        .await?
        .expect(200)?;

    let deleted = app
        .delete(&format!("/admin/v1/segments/{id}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(deleted, json!({"id": id, "status": "deleted"}), "answer");

    app.get(&format!("/admin/v1/segments/{id}"), Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    app.delete(&format!("/admin/v1/segments/{id}"), Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    export(&app, &id, "")
        .await?
        .expect_error(404, "not_found")?;
    ensure!(
        !listed_ids(&app, 500).await?.contains(&id),
        "a deleted segment is still listed"
    );
    app.post_json(
        "/admin/v1/segments",
        &json!({"name": "Inside", "rule": {"all": [{"field": "segment", "op": "eq", "value": id}]}}),
        Auth::Admin,
    )
    .await?
    .expect_error(400, "validation_failed")?;
    let preview = app
        .post_json(
            "/admin/v1/segments/preview",
            &json!({"rule": {"all": [{"field": "segment", "op": "in", "value": [id]}]}, "purpose": "marketing_email"}),
            Auth::Admin,
        )
        .await?;
    // A rule may not name it any more; were it read, no one would be in it.
    ensure!(
        preview.status == 400 || preview.json()["count"] == 0,
        "preview over a deleted segment: {}",
        preview.text
    );

    let left = app
        .eventually(Duration::from_secs(60), || async {
            let n = member_rows(&app, &id)?;
            Ok((n == 0).then_some(n))
        })
        .await
        .map_err(|e| {
            format!(
                "{e}; {} membership rows left",
                member_rows(&app, &id).unwrap_or(-1)
            )
        })?;
    ensure_eq!(left, 0, "rows left");
    let dead = app
        .get("/admin/v1/dead-letters", Auth::Admin)
        .await?
        .expect(200)?
        .text;
    ensure!(!dead.contains(&id), "a purge message died: {dead}");
    // Chunked, not merely finished: no purge message ever passed the invocation's cap (one
    // that tried to delete everything would, and finish only through its retries).
    let log = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/it-wrangler-{}.log", std::process::id())),
    )
    .map_err(|e| format!("runtime log: {e}"))?;
    let tripped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("platform limit exceeded") && l.contains("segment_purge"))
        .collect();
    ensure!(tripped.is_empty(), "a purge passed the cap: {tripped:?}");
    unseed_contacts(&app, &tag)?;
    Ok(())
}

/// On a base larger than the cap (here a redeploy with `PREVIEW_COUNT_CAP=5`) a preview stops
/// counting at the cap and says so; under it, the count is exact and not capped.
async fn preview_reports_a_capped_count_on_a_large_base(app: Arc<TestApp>) -> Result<(), String> {
    let tag = run_tag("capped");
    seed_contacts(&app, &tag, 8, true)?;
    let rule = json!({"rule": {"all": [{"field": "email", "op": "starts_with", "value": tag}]}});
    let exact = app
        .post_json("/admin/v1/segments/preview", &rule, Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        exact["count"] == 8 && exact["count_capped"] == false,
        "uncapped preview {exact}"
    );

    let (_capped_runtime, base) = app.redeployed(&[("PREVIEW_COUNT_CAP", "5")]).await?;
    let capped = app
        .send(
            app.client
                .post(format!("{base}/admin/v1/segments/preview"))
                .json(&rule),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        capped["count"] == 5
            && capped["count_capped"] == true
            && capped["sample"].as_array().map(Vec::len) == Some(8),
        "capped preview {capped}"
    );
    let narrow = json!({"rule": {"all": [{"field": "email", "op": "starts_with", "value": format!("{tag}-1@")}]}});
    let under = app
        .send(
            app.client
                .post(format!("{base}/admin/v1/segments/preview"))
                .json(&narrow),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json();
    ensure!(
        under["count"] == 1 && under["count_capped"] == false,
        "preview under the cap {under}"
    );
    unseed_contacts(&app, &tag)?;
    Ok(())
}

/// The list reads live segments a page at a time, newest first: following `next_cursor`
/// reaches every segment once, and a cursor the service did not make is a 400.
async fn segments_are_listed_a_page_at_a_time(app: Arc<TestApp>) -> Result<(), String> {
    let tag = run_tag("paged");
    let mut made = Vec::new();
    for i in 0..3 {
        let rule = json!({"all": [{"field": "email", "op": "starts_with", "value": format!("{tag}-{i}")}]});
        let s = create_segment(&app, &format!("Paged {i}"), rule).await?;
        made.push(s["id"].as_str().ok_or("no id")?.to_string());
    }
    let ids = listed_ids(&app, 2).await?;
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    ensure_eq!(unique.len(), ids.len(), "a segment listed twice: {ids:?}");
    let at: Vec<usize> = made
        .iter()
        .map(|id| {
            ids.iter()
                .position(|x| x == id)
                .ok_or(format!("{id} never listed"))
        })
        .collect::<Result<_, _>>()?;
    ensure!(at[2] < at[1] && at[1] < at[0], "not newest first: {at:?}");
    app.get("/admin/v1/segments?cursor=bm90LW91cnM", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    app.get("/admin/v1/segments?limit=0", Auth::Admin)
        .await?
        .expect_error(400, "validation_failed")?;
    Ok(())
}

/// A value of the described type, as the builder sends it; `high` for the top of a range.
fn described_value(field: &Value, high: bool) -> Value {
    match field["type"].as_str().unwrap_or("") {
        "text" => json!(if high { "shoes" } else { "bags" }),
        "attribute" => json!(if high { "m" } else { "l" }),
        "country" => json!("BR"),
        "enum" => field["values"][0]["value"].clone(),
        "integer" | "number" => field[if high { "max" } else { "min" }].clone(),
        "money" => json!(if high { "200.00" } else { "129.90" }),
        "date" => json!(if high { "2026-02-01" } else { "2026-01-15" }),
        "boolean" => json!(true),
        "segment" => Value::Null, // filled in with a real segment
        other => json!(format!("a type no builder knows: {other}")),
    }
}

/// GET /admin/v1/segments/fields is the builder's only source: every field it lists, with every
/// operator it lists for it and a value of the type it names, is a rule the API previews; each
/// label is there in both workspace languages; and a field it says needs `contacts:read` is
/// refused to a key without it, as it says.
async fn the_builders_field_list_is_what_a_rule_may_say(app: Arc<TestApp>) -> Result<(), String> {
    let narrow = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "builder", "scopes": ["segments"]}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json()["key"]
        .as_str()
        .ok_or("no key")?
        .to_string();
    let doc = app
        .get("/admin/v1/segments/fields", Auth::Bearer(&narrow))
        .await?
        .expect(200)?
        .json();
    let fields = doc["fields"].as_array().ok_or("no fields")?.clone();
    ensure!(fields.len() >= 33, "{} fields", fields.len());
    let shapes: std::collections::HashMap<String, String> = doc["operators"]
        .as_array()
        .ok_or("no operators")?
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap_or("").to_string(),
                o["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let bought = fields
        .iter()
        .find(|f| f["name"] == "bought_category")
        .ok_or("no bought_category")?;
    ensure_eq!(
        (
            &bought["labels"]["en"],
            &bought["labels"]["pt-BR"],
            &bought["derived"]
        ),
        (
            &json!("Bought from category"),
            &json!("Comprou da categoria"),
            &json!(true)
        ),
        "bought_category"
    );
    let other = create_segment(
        &app,
        "Named by the builder story",
        json!({"field": "country", "op": "eq", "value": "BR"}),
    )
    .await?;
    for field in &fields {
        let name = field["name"].as_str().unwrap_or("");
        for tag in ["en", "pt-BR"] {
            ensure!(
                field["labels"][tag].as_str().is_some_and(|l| !l.is_empty()),
                "{name}: no {tag} label"
            );
        }
        let written = match field["parameter"].as_object() {
            None => name.to_string(),
            Some(p) => format!(
                "{}{}",
                p["prefix"].as_str().unwrap_or(""),
                p["values"][0]["value"].as_str().unwrap_or("size")
            ),
        };
        // One rule per field, one condition per operator it lists.
        let conditions: Vec<Value> = field["operators"]
            .as_array()
            .ok_or("no operators")?
            .iter()
            .map(|op| {
                let op = op.as_str().unwrap_or("");
                let mut one = described_value(field, false);
                if field["type"] == "segment" {
                    one = other["id"].clone();
                }
                let value = match shapes.get(op).map(String::as_str) {
                    Some("list") => json!([one]),
                    Some("range") => json!([one, described_value(field, true)]),
                    Some("flag") => json!(true),
                    Some("days") => json!(30),
                    _ => one,
                };
                json!({"field": written, "op": op, "value": value})
            })
            .collect();
        let rule = json!({"rule": {"all": conditions}});
        if field["requires_scope"] == "contacts:read" {
            app.post_json("/admin/v1/segments/preview", &rule, Auth::Bearer(&narrow))
                .await?
                .expect_error(403, "missing_scope")?;
            app.post_json("/admin/v1/segments/preview", &rule, Auth::Admin)
                .await?
                .expect(200)?;
        } else {
            let reply = app
                .post_json("/admin/v1/segments/preview", &rule, Auth::Bearer(&narrow))
                .await?;
            ensure!(
                reply.status == 200,
                "{name}: {rule} refused: {}",
                reply.text
            );
        }
    }
    Ok(())
}
