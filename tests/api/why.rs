//! "Why am I in this segment?": the person's own document and support's contact document list
//! the segments the person is in, each with the conditions that put them there, said with their
//! own values and in their language.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::ensure;
use crate::given::{
    create_form, create_segment, external_id, form_body, order, ready_segment, run_tag,
    send_orders, session_for, signed_up_and_confirmed,
};
use crate::harness::{days_ago, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        me_explains_why_a_buyer_is_in_a_segment,
        browser_customer_reads_why_they_are_in_a_group
    ]
}

/// The segment's entry in a document's `segments`, if listed.
fn listed(doc: &Value, id: &str) -> Option<Value> {
    doc["segments"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
}

fn sentences(entry: &Value) -> Vec<String> {
    entry["explanation"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn me_in(app: &TestApp, session: &str, language: &str) -> Result<Value, String> {
    Ok(app
        .send(
            app.client
                .get(app.url("/v1/me"))
                .header("Accept-Language", language),
            Auth::Bearer(session),
        )
        .await?
        .expect(200)?
        .json())
}

async fn me_explains_why_a_buyer_is_in_a_segment(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = format!("{}-buyer@example.com", run_tag("why"));
    signed_up_and_confirmed(&app, &form, &email).await?;
    send_orders(
        &app,
        vec![
            order(&external_id("why-1"), &email, "40.00", &days_ago(40)),
            order(&external_id("why-2"), &email, "25.50", &days_ago(12)),
        ],
    )
    .await?;
    let segment = create_segment(
        &app,
        "Frequent recent buyers",
        json!({"all": [
            {"field": "order_count", "op": "gte", "value": 2},
            {"field": "last_order_at", "op": "within_days", "value": 30}
        ]}),
    )
    .await?;
    let id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(&app, &id, 1).await?;

    let session = session_for(&app, &email).await?;
    let entry = app
        .eventually(Duration::from_secs(20), || async {
            Ok(listed(&me_in(&app, &session, "en").await?, &id))
        })
        .await
        .map_err(|e| format!("the ready segment never showed in /v1/me: {e}"))?;
    ensure!(
        entry["name"] == "Frequent recent buyers",
        "named by its name: {entry}"
    );
    let en = sentences(&entry);
    ensure!(
        en.iter().any(|s| s == "Orders: 2"),
        "names the person's 2 orders: {en:?}"
    );
    ensure!(
        en.iter().any(|s| s == "Last order: 12 days ago"),
        "names the days since the last order: {en:?}"
    );
    ensure!(
        en.last().is_some_and(|s| s.contains("Marketing emails")),
        "ends with the consent every member holds: {en:?}"
    );

    let pt = sentences(
        &listed(&me_in(&app, &session, "pt-BR,pt;q=0.9").await?, &id)
            .ok_or("listed in English but not in Portuguese")?,
    );
    ensure!(
        pt.iter().any(|s| s == "Pedidos: 2") && pt.iter().any(|s| s == "Último pedido: há 12 dias"),
        "in Portuguese: {pt:?}"
    );
    ensure!(
        !pt.iter().any(|s| en.contains(s)),
        "no English sentence left in the Portuguese explanation: {pt:?} / {en:?}"
    );

    // Support reads the same reasons on the contact document (in English without a language).
    let me = me_in(&app, &session, "en").await?;
    let contact_id = me["id"].as_str().ok_or("no contact id")?;
    let admin = app
        .get(&format!("/admin/v1/contacts/{contact_id}"), Auth::Admin)
        .await?
        .expect(200)?
        .json();
    let support =
        listed(&admin, &id).ok_or_else(|| format!("not on the contact document: {admin}"))?;
    ensure!(
        sentences(&support) == en,
        "support reads what the person reads: {support}"
    );
    Ok(())
}

/// The preference center shows the reasons under each group (`tests/browser/why.mjs`).
async fn browser_customer_reads_why_they_are_in_a_group(app: Arc<TestApp>) -> Result<(), String> {
    crate::browser::run_script(app, "why.mjs").await
}
