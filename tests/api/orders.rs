//! Orders from the shop's back end: tied to their buyers, idempotent, exact money, all or nothing.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::ensure;
use crate::harness::{unique_email, Auth, TestApp, TestFn};
use crate::signup::{contact, create_form, form_body, signed_up_and_confirmed};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        orders_are_tied_to_buyers_and_kept_in_their_facts,
        resending_an_order_updates_it_instead_of_counting_it_twice,
        a_bad_row_is_named_and_nothing_is_stored,
        an_erased_buyer_is_not_brought_back_by_an_order,
    ]
}

pub fn order(external_id: &str, email: &str, total: &str, placed_at: &str) -> Value {
    json!({"external_id": external_id, "email": email, "total": total, "currency": "BRL",
           "placed_at": placed_at,
           "items": [{"sku": "BAG-1", "name": "Tote", "category": "Bags", "quantity": 1, "price": total}]})
}

pub async fn send_orders(app: &TestApp, orders: Vec<Value>) -> Result<Value, String> {
    Ok(app
        .post_json(
            "/admin/v1/orders",
            &json!({ "orders": orders }),
            Auth::Admin,
        )
        .await?
        .expect(200)?
        .json())
}

/// A per-test order number, so tests sharing one database never collide.
pub fn external_id(tag: &str) -> String {
    unique_email(tag).replace('@', "-at-")
}

async fn orders_are_tied_to_buyers_and_kept_in_their_facts(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let form = create_form(&app, &form_body(true)).await?;
    let subscriber = unique_email("buyer-known");
    signed_up_and_confirmed(&app, &form, &subscriber).await?;
    let walk_in = unique_email("buyer-new");
    let report = send_orders(
        &app,
        vec![
            order(&external_id("o1"), &subscriber, "0.10", "2026-10-01T10:00:00Z"),
            order(&external_id("o2"), &subscriber, "0.20", "2026-11-01T10:00:00Z"),
            json!({"external_id": external_id("o3"), "email": walk_in.to_uppercase(), "name": "Walk In",
                   "total": "129.90", "currency": "brl", "placed_at": "2026-11-02T09:30:00-03:00"}),
        ],
    )
    .await?;
    ensure!(report == json!({"created": 3, "updated": 0}), "{report}");

    let known = contact(&app, &subscriber).await?.ok_or("subscriber gone")?;
    ensure!(
        known["stats"]["order_count"] == 2
            && known["stats"]["total_spent_cents"] == 30
            && known["stats"]["first_order_at"] == "2026-10-01T10:00:00.000Z"
            && known["stats"]["last_order_at"] == "2026-11-01T10:00:00.000Z",
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
            && new["stats"]["last_order_at"] == "2026-11-02T12:30:00.000Z",
        "walk-in {new}"
    );
    let audit = app
        .get("/admin/v1/audit?limit=1000", Auth::Admin)
        .await?
        .expect(200)?;
    ensure!(
        audit.text.contains("orders.ingest") && audit.text.contains("contact.create.order"),
        "orders are not audited"
    );
    Ok(())
}

async fn resending_an_order_updates_it_instead_of_counting_it_twice(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let email = unique_email("resend");
    let id = external_id("resend");
    let first = send_orders(
        &app,
        vec![order(&id, &email, "50.00", "2026-11-01T10:00:00Z")],
    )
    .await?;
    ensure!(first == json!({"created": 1, "updated": 0}), "{first}");
    let again = send_orders(
        &app,
        vec![order(&id, &email, "50.00", "2026-11-01T10:00:00Z")],
    )
    .await?;
    ensure!(again == json!({"created": 0, "updated": 1}), "{again}");
    let refunded = send_orders(
        &app,
        vec![order(&id, &email, "35.50", "2026-11-01T10:00:00Z")],
    )
    .await?;
    ensure!(
        refunded == json!({"created": 0, "updated": 1}),
        "{refunded}"
    );
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
    let bad_rows = vec![
        order(&external_id("good"), &good, "10.00", "2026-11-01T10:00:00Z"),
        json!({"external_id": external_id("bad1"), "email": unique_email("x"), "total": 10.5,
               "currency": "BRL", "placed_at": "2026-11-01T10:00:00Z"}),
        json!({"external_id": external_id("bad2"), "email": "not an email", "total": "1e3",
               "currency": "BRL", "placed_at": "yesterday", "coupon": "X"}),
        order(
            &external_id("bad3"),
            &unique_email("y"),
            "-1.00",
            "2026-11-01T10:00:00Z",
        ),
        order(
            &external_id("bad4"),
            &unique_email("z"),
            "1.999",
            "2026-11-01T10:00:00Z",
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
    let session = crate::me::session_for(&app, &email).await?;
    app.delete("/v1/me", Auth::Bearer(&session))
        .await?
        .expect(200)?;
    let report = send_orders(
        &app,
        vec![order(
            &external_id("after-erase"),
            &email,
            "20.00",
            "2026-11-03T10:00:00Z",
        )],
    )
    .await?;
    ensure!(report == json!({"created": 1, "updated": 0}), "{report}");
    ensure!(
        contact(&app, &email).await?.is_none(),
        "an order resurrected an erased person"
    );
    Ok(())
}
