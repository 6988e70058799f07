//! Orders from the shop's back end: tied to their buyers, idempotent, exact money, all or nothing.

use std::sync::Arc;

use serde_json::json;

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    contact, create_form, external_id, form_body, order, send_orders, session_for,
    signed_up_and_confirmed,
};
use crate::harness::{as_stored, audit_entries, days_ago, unique_email, Auth, TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        orders_are_tied_to_buyers_and_kept_in_their_facts,
        resending_an_order_updates_it_instead_of_counting_it_twice,
        a_bad_row_is_named_and_nothing_is_stored,
        an_erased_buyer_is_not_brought_back_by_an_order,
        orders_summing_beyond_what_a_double_holds_leave_the_buyer_readable,
    ]
}

async fn orders_are_tied_to_buyers_and_kept_in_their_facts(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let subscriber = unique_email("buyer-known");
    signed_up_and_confirmed(&app, &form, &subscriber).await?;
    let walk_in = unique_email("buyer-new");
    // Dates relative to today: orders from the future are refused, and fixed dates would age.
    let (first, last) = (days_ago(60), days_ago(29));
    // The walk-in's order is sent with the shop's local offset (UTC-3).
    let local = chrono::DateTime::parse_from_rfc3339(&days_ago(28))
        .map_err(|e| e.to_string())?
        .with_timezone(&chrono::FixedOffset::west_opt(3 * 3600).ok_or("offset")?)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let report = send_orders(
        &app,
        vec![
            order(&external_id("o1"), &subscriber, "0.10", &first),
            order(&external_id("o2"), &subscriber, "0.20", &last),
            json!({"external_id": external_id("o3"), "email": walk_in.to_uppercase(), "name": "Walk In",
                   "total": "129.90", "currency": "brl", "placed_at": local}),
        ],
    )
    .await?;
    ensure_eq!(report, json!({"created": 3, "updated": 0}), "{report}");

    let known = contact(&app, &subscriber).await?.ok_or("subscriber gone")?;
    ensure!(
        known["stats"]["order_count"] == 2
            && known["stats"]["total_spent_cents"] == 30
            && known["stats"]["first_order_at"] == as_stored(&first)
            && known["stats"]["last_order_at"] == as_stored(&last),
        "money must add up exactly: {}",
        known["stats"]
    );
    let new = contact(&app, &walk_in)
        .await?
        .ok_or("an unknown buyer did not become a contact")?;
    ensure!(
        new["source"] == "order"
            && new["name"] == "Walk In"
            && new["consents"] == json!([])
            && new["stats"]["order_count"] == 1
            && new["stats"]["total_spent_cents"] == 12990
            && new["stats"]["last_order_at"] == as_stored(&local),
        "walk-in {new}"
    );
    // The walk-in's creation is recorded about the walk-in; the known buyer was not created.
    let made = audit_entries(&app, "contact.create.order", new["id"].as_str()).await?;
    ensure!(
        made.len() == 1 && made[0]["actor"] == "bootstrap",
        "walk-in creation audit {made:?}"
    );
    let remade = audit_entries(&app, "contact.create.order", known["id"].as_str()).await?;
    ensure!(remade.is_empty(), "a known buyer recorded as created");
    // An ingest names no subject: a key of this test's own sends one, and finds its entry.
    let key = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "orders audit", "scopes": ["orders"]}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json();
    let batch = json!({"orders": [order(&external_id("o4"), &subscriber, "0.30", &days_ago(27))]});
    app.post_json(
        "/admin/v1/orders",
        &batch,
        Auth::Bearer(key["key"].as_str().ok_or("no key")?),
    )
    .await?
    .expect(200)?;
    let ingests = audit_entries(&app, "orders.ingest", None).await?;
    let by_key = ingests.iter().filter(|e| e["actor"] == key["id"]).count();
    ensure_eq!(
        by_key,
        1,
        "{by_key} orders.ingest entries by this test's key"
    );
    Ok(())
}

async fn resending_an_order_updates_it_instead_of_counting_it_twice(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("resend");
    let id = external_id("resend");
    let placed_at = days_ago(29);
    let first = send_orders(&app, vec![order(&id, &email, "50.00", &placed_at)]).await?;
    ensure_eq!(first, json!({"created": 1, "updated": 0}), "{first}");
    let again = send_orders(&app, vec![order(&id, &email, "50.00", &placed_at)]).await?;
    ensure_eq!(again, json!({"created": 0, "updated": 1}), "{again}");
    let refunded = send_orders(&app, vec![order(&id, &email, "35.50", &placed_at)]).await?;
    ensure_eq!(refunded, json!({"created": 0, "updated": 1}), "{refunded}");
    let c = contact(&app, &email).await?.ok_or("buyer gone")?;
    ensure!(
        c["stats"]["order_count"] == 1 && c["stats"]["total_spent_cents"] == 3550,
        "stats {}",
        c["stats"]
    );
    Ok(())
}

async fn a_bad_row_is_named_and_nothing_is_stored(app: Arc<TestApp>) -> Result<(), String> {
    let good = unique_email("all-or-nothing");
    let placed_at = days_ago(29);
    let bad_rows = vec![
        order(&external_id("good"), &good, "10.00", &placed_at),
        json!({"external_id": external_id("bad1"), "email": unique_email("x"), "total": 10.5,
               "currency": "BRL", "placed_at": placed_at}),
        json!({"external_id": external_id("bad2"), "email": "not an email", "total": "1e3",
               "currency": "BRL", "placed_at": "yesterday", "coupon": "X"}),
        order(
            &external_id("bad3"),
            &unique_email("y"),
            "-1.00",
            &placed_at,
        ),
        order(
            &external_id("bad4"),
            &unique_email("z"),
            "1.999",
            &placed_at,
        ),
    ];
    let reply = app
        .post_json(
            "/admin/v1/orders",
            &json!({ "orders": bad_rows }),
            Auth::Admin,
        )
        .await?
        .expect_error(400, "validation_failed")?;
    let fields = &reply.json()["error"]["fields"];
    for path in [
        "orders[1].total",
        "orders[2].email",
        "orders[2].total",
        "orders[2].placed_at",
        "orders[2].coupon",
        "orders[3].total",
        "orders[4].total",
    ] {
        ensure!(fields.get(path).is_some(), "{path} not named in {fields}");
    }
    ensure!(
        !reply.text.contains("not an email"),
        "the error quotes a value"
    );
    ensure!(
        contact(&app, &good).await?.is_none(),
        "a valid row of a refused batch was stored"
    );
    for (body, status) in [
        (json!({"orders": []}), 400),
        (json!({"orders": "x"}), 400),
        (json!([1, 2]), 400),
    ] {
        app.post_json("/admin/v1/orders", &body, Auth::Admin)
            .await?
            .expect(status)?;
    }
    app.post_raw(
        "/admin/v1/orders",
        "text/csv",
        b"external_id,total\n1,2\n".to_vec(),
        Auth::Admin,
    )
    .await?
    .expect_error(415, "unsupported_media_type")?;
    Ok(())
}

async fn an_erased_buyer_is_not_brought_back_by_an_order(app: Arc<TestApp>) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let email = unique_email("erased-buyer");
    signed_up_and_confirmed(&app, &form, &email).await?;
    let session = session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let report = send_orders(
        &app,
        vec![order(
            &external_id("after-erase"),
            &email,
            "20.00",
            &days_ago(27),
        )],
    )
    .await?;
    ensure_eq!(report, json!({"created": 1, "updated": 0}), "{report}");
    ensure!(
        contact(&app, &email).await?.is_none(),
        "an order resurrected an erased person"
    );
    Ok(())
}

/// An `orders` key may send 500 orders of up to 999,999,999,999.99 each. Ninety-one of them sum
/// beyond 2^53 cents, more than the Worker reads exactly from D1: the total is stored capped, so
/// the person's own view and export and the admin look-up still answer (they once failed with a
/// 500, locking the person out of their data).
async fn orders_summing_beyond_what_a_double_holds_leave_the_buyer_readable(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let buyer = unique_email("whale");
    let placed = days_ago(1);
    let orders = (0..91)
        .map(|i| {
            order(
                &external_id(&format!("whale{i}")),
                &buyer,
                "999999999999.99",
                &placed,
            )
        })
        .collect();
    send_orders(&app, orders).await?;
    let session = session_for(&app, &buyer).await?;
    let me = app
        .get("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?
        .json();
    ensure_eq!(
        me["stats"]["total_spent_cents"],
        json!(9_007_199_254_740_991_i64),
        "the total is capped at 2^53 - 1: {me}"
    );
    ensure_eq!(me["stats"]["order_count"], json!(91), "every order counts");
    app.get("/v1/me/export", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let id = me["id"].as_str().ok_or("no id")?;
    app.get(&format!("/admin/v1/contacts/{id}"), Auth::Admin)
        .await?
        .expect(200)?;
    Ok(())
}
