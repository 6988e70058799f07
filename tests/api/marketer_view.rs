//! The marketer's overview of the base and one person's document: counts that move with what
//! people do (and forget the erased), and a contact's latest orders and answers.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::given::{
    answered, create_form, external_id, form_body, order, send_orders, session_for,
    signed_up_and_confirmed,
};
use crate::harness::{days_ago, unique_email, Auth, TestApp, TestFn};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        the_overview_is_for_keys_that_already_see_counts_of_the_base,
        a_contacts_document_lists_their_latest_orders_and_answers_with_totals,
        browser_marketer_looks_a_contact_up_and_reads_their_consent_timeline,
        browser_marketer_sees_the_base_at_a_glance,
    ]
}

async fn browser_marketer_looks_a_contact_up_and_reads_their_consent_timeline(
    app: Arc<TestApp>,
) -> Result<(), String> {
    crate::browser::run_script(app, "contacts.mjs").await
}

async fn browser_marketer_sees_the_base_at_a_glance(app: Arc<TestApp>) -> Result<(), String> {
    crate::browser::run_script(app, "overview.mjs").await
}

/// Counts of the whole base move with every other story's signups: these run alone.
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        the_overview_counts_todays_signup_and_confirmation_this_weeks_withdrawal_and_forgets_the_erased,
    ]
}

async fn overview(app: &TestApp) -> Result<Value, String> {
    Ok(app
        .get("/admin/v1/overview", Auth::Admin)
        .await?
        .expect(200)?
        .json())
}

/// (signups, confirmations) on the last day, this week's withdrawals, the base's total.
fn today_in(o: &Value) -> Result<(i64, i64, i64, i64), String> {
    let day = o["days"]
        .as_array()
        .and_then(|d| d.last())
        .ok_or("no days")?;
    let week = o["weeks"]
        .as_array()
        .and_then(|w| w.last())
        .ok_or("no weeks")?;
    ensure_eq!(day["day"], o["today"], "the series ends today");
    Ok((
        day["signups"].as_i64().ok_or("signups")?,
        day["confirmations"].as_i64().ok_or("confirmations")?,
        week["withdrawals"].as_i64().ok_or("withdrawals")?,
        o["contacts"]["total"].as_i64().ok_or("total")?,
    ))
}

async fn the_overview_counts_todays_signup_and_confirmation_this_weeks_withdrawal_and_forgets_the_erased(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let before = today_in(&overview(&app).await?)?;
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("overview");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let signed = overview(&app).await?;
    ensure_eq!(
        today_in(&signed)?,
        (before.0 + 1, before.1 + 1, before.2, before.3 + 1),
        "a signup and its confirmation today are in today's column; the base grew by one"
    );
    let days = signed["days"].as_array().ok_or("days")?;
    ensure_eq!(days.len(), 90, "ninety days, zeros included");
    ensure!(
        days.windows(2)
            .all(|w| w[0]["day"].as_str() < w[1]["day"].as_str()),
        "days oldest first: {days:?}"
    );

    let session = session_for(&app, &email).await?;
    crate::given::put_consent(&app, &session, "marketing_email", false)
        .await?
        .expect(200)?;
    let withdrawn = today_in(&overview(&app).await?)?;
    ensure_eq!(
        withdrawn,
        (before.0 + 1, before.1 + 1, before.2 + 1, before.3 + 1),
        "the withdrawal is in this week's column"
    );

    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let erased = overview(&app).await?;
    ensure_eq!(
        today_in(&erased)?,
        before,
        "an erased person is counted nowhere: not as a signup, a confirmation, a withdrawal or a contact"
    );
    Ok(())
}

async fn the_overview_is_for_keys_that_already_see_counts_of_the_base(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let key = |scopes: &'static [&'static str]| {
        let app = app.clone();
        async move {
            let reply = app
                .post_json(
                    "/admin/v1/keys",
                    &json!({"name": "overview", "scopes": scopes}),
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
    };
    let segments = key(&["segments"]).await?;
    let o = app
        .get("/admin/v1/overview", Auth::Bearer(&segments))
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        o["rfm"]["cells"].as_array().map(Vec::len),
        Some(25),
        "the whole RFM grid"
    );
    let look_up_only = key(&["contacts:read"]).await?;
    app.get("/admin/v1/overview", Auth::Bearer(&look_up_only))
        .await?
        .expect_error(403, "missing_scope")?;
    Ok(())
}

async fn a_contacts_document_lists_their_latest_orders_and_answers_with_totals(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("doc-orders");
    let orders: Vec<Value> = (1..=12)
        .map(|n| {
            order(
                &external_id(&format!("doc-{n}")),
                &email,
                &format!("{n}.50"),
                &days_ago(40 - n),
            )
        })
        .collect();
    send_orders(&app, orders).await?;
    answered(
        &app,
        &email,
        None,
        false,
        json!({"nps": 9, "why": "quick delivery"}),
    )
    .await?;
    let found = crate::given::contact(&app, &email)
        .await?
        .ok_or("no contact")?;
    let id = found["id"].as_str().ok_or("no id")?;
    let doc = app
        .get(&format!("/admin/v1/contacts/{id}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure_eq!(doc["orders"]["total"], 12, "every order counted");
    let latest = doc["orders"]["latest"].as_array().ok_or("latest orders")?;
    ensure_eq!(latest.len(), 10, "the latest ten shown");
    ensure_eq!(
        latest[0]["placed_at"].as_str().map(|t| t[..10].to_string()),
        Some(days_ago(28)[..10].to_string()),
        "newest first: {latest:?}"
    );
    ensure_eq!(latest[0]["total_cents"], 1250, "the order's total");
    ensure_eq!(doc["survey_responses"]["total"], 1, "one answer");
    let answer = &doc["survey_responses"]["latest"][0];
    ensure_eq!(answer["survey_name"], "After purchase", "the survey named");
    ensure_eq!(answer["answers"]["why"], "quick delivery", "their words");
    ensure_eq!(answer["nps"], 9, "their score");
    Ok(())
}
