//! Unit and property tests of the order stages: money, the request's rules and error paths,
//! and the stats arithmetic.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::money::{MAX_CENTS, NEGATIVE, NOT_DECIMAL, TOO_LARGE, TOO_PRECISE};
use super::parse::{NOT_TEXT, REQUIRED};
use super::*;
use crate::domain::time;

fn now() -> DateTime<Utc> {
    time::parse("2026-11-23T12:00:00Z").unwrap_or_default()
}

fn order() -> Value {
    json!({
        "external_id": "1001",
        "email": "ana@example.com",
        "total": "129.90",
        "currency": "BRL",
        "placed_at": "2026-11-01T12:00:00Z",
        "items": [{"sku": "SKU-1", "name": "Bag", "category": "bags", "quantity": 1, "price": "129.90"}]
    })
}

/// `order()` with some keys replaced (a `null` in `changes` removes the key).
fn order_with(changes: Value) -> Value {
    let mut order = order();
    if let (Some(order), Some(changes)) = (order.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            if value.is_null() {
                order.remove(key);
            } else {
                order.insert(key.clone(), value.clone());
            }
        }
    }
    order
}

fn item_with(changes: Value) -> Value {
    let mut item = json!({"sku": "SKU-1", "quantity": 2, "price": "10.00"});
    if let (Some(item), Some(changes)) = (item.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            if value.is_null() {
                item.remove(key);
            } else {
                item.insert(key.clone(), value.clone());
            }
        }
    }
    order_with(json!({"items": [item]}))
}

fn parse(orders: Vec<Value>) -> Result<Vec<OrderInput>, OrderErrors> {
    parse_orders(&json!({ "orders": orders }), now())
}

fn accepted(orders: Vec<Value>) -> Vec<OrderInput> {
    match parse(orders) {
        Ok(parsed) => parsed,
        Err(errors) => panic!("refused: {errors:?}"),
    }
}

fn errors(orders: Vec<Value>) -> OrderErrors {
    match parse(orders) {
        Ok(parsed) => panic!("accepted {parsed:?}"),
        Err(errors) => errors,
    }
}

fn one_error(order: Value) -> (String, String) {
    let errors = errors(vec![order]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap_or_default()
}

fn expect(order: Value, path: &str, message: &str) {
    assert_eq!(
        one_error(order.clone()),
        (path.to_string(), message.to_string()),
        "for {order}"
    );
}

fn money(input: &str) -> i64 {
    Money::parse(input).map(Money::cents).unwrap_or(-1)
}

#[test]
fn money_is_parsed_exactly() {
    assert_eq!(money("129.90"), 12990);
    assert_eq!(money("129.9"), 12990);
    assert_eq!(money("129"), 12900);
    assert_eq!(money("0.00"), 0);
    assert_eq!(money("0"), 0);
    assert_eq!(money("19.99"), 1999);
    assert_eq!(money("0.01"), 1);
    assert_eq!(money("0.10") + money("0.20"), 30);
    assert_eq!(money("007.05"), 705);
    assert_eq!(money("999999999999.99"), MAX_CENTS);
}

#[test]
fn money_displays_with_two_decimals() {
    for (input, shown) in [
        ("129.90", "129.90"),
        ("129.9", "129.90"),
        ("129", "129.00"),
        ("0", "0.00"),
        ("0.05", "0.05"),
        ("19.99", "19.99"),
        ("007.5", "7.50"),
        ("999999999999.99", "999999999999.99"),
    ] {
        let parsed = Money::parse(input).map(|m| m.to_string());
        assert_eq!(parsed.as_deref(), Ok(shown), "for {input:?}");
        assert_eq!(money(shown), money(input));
    }
}

#[test]
fn money_rejects_everything_else() {
    for (input, problem) in [
        ("", NOT_DECIMAL),
        (" ", NOT_DECIMAL),
        (" 1.00", NOT_DECIMAL),
        ("1.00 ", NOT_DECIMAL),
        ("1 000.00", NOT_DECIMAL),
        ("+1.00", NOT_DECIMAL),
        ("-1.00", NEGATIVE),
        ("-0", NEGATIVE),
        ("--1", NOT_DECIMAL),
        ("-", NOT_DECIMAL),
        ("-1e3", NOT_DECIMAL),
        ("1.234", TOO_PRECISE),
        ("0.001", TOO_PRECISE),
        ("1e3", NOT_DECIMAL),
        ("1E3", NOT_DECIMAL),
        ("1.5e2", NOT_DECIMAL),
        ("1000000000000", TOO_LARGE),
        ("0000000000000.00", TOO_LARGE),
        ("NaN", NOT_DECIMAL),
        ("nan", NOT_DECIMAL),
        ("Infinity", NOT_DECIMAL),
        ("inf", NOT_DECIMAL),
        ("1.", NOT_DECIMAL),
        (".5", NOT_DECIMAL),
        (".", NOT_DECIMAL),
        ("1..0", NOT_DECIMAL),
        ("1.2.3", NOT_DECIMAL),
        ("1,00", NOT_DECIMAL),
        ("1_000", NOT_DECIMAL),
        ("0x10", NOT_DECIMAL),
        ("R$1.00", NOT_DECIMAL),
        ("١٢", NOT_DECIMAL),
        ("1.٥", NOT_DECIMAL),
    ] {
        assert_eq!(Money::parse(input), Err(problem), "for {input:?}");
    }
}

#[test]
fn money_from_cents_matches_what_parse_can_produce() {
    assert_eq!(Money::from_cents(0).map(Money::cents), Some(0));
    assert_eq!(
        Money::from_cents(MAX_CENTS).map(Money::cents),
        Some(MAX_CENTS)
    );
    assert_eq!(Money::from_cents(-1), None);
    assert_eq!(Money::from_cents(MAX_CENTS + 1), None);
    assert_eq!(Money::from_cents(i64::MIN), None);
}

#[test]
fn the_documented_example_parses() {
    let parsed = accepted(vec![order()]);
    assert_eq!(parsed.len(), 1);
    let order = &parsed[0];
    assert_eq!(order.external_id, "1001");
    assert_eq!(order.email.as_str(), "ana@example.com");
    assert_eq!(order.name, None);
    assert_eq!(order.total.cents(), 12990);
    assert_eq!(order.currency, "BRL");
    assert_eq!(order.placed_at, "2026-11-01T12:00:00.000Z");
    assert_eq!(
        order.items,
        vec![ItemInput {
            sku: "SKU-1".into(),
            name: Some("Bag".into()),
            category: Some("bags".into()),
            quantity: 1,
            price_cents: 12990,
        }]
    );
}

#[test]
fn values_are_normalized() {
    let parsed = accepted(vec![json!({
        "external_id": "  A-77  ",
        "email": " Ana@Example.COM ",
        "name": "  Ana Souza ",
        "total": "10",
        "currency": " brl ",
        "placed_at": "2026-11-01T09:00:00-03:00",
        "items": [
            {"sku": " SKU-9 ", "name": " Red bag ", "category": "  Bags & Shoes ", "quantity": 3, "price": "3.3"},
            {"sku": "GIFT", "name": "", "category": null, "quantity": 1, "price": "0"}
        ]
    })]);
    let order = &parsed[0];
    assert_eq!(order.external_id, "A-77");
    assert_eq!(order.email.as_str(), "ana@example.com");
    assert_eq!(order.name.as_deref(), Some("Ana Souza"));
    assert_eq!(order.total.cents(), 1000);
    assert_eq!(order.currency, "BRL");
    assert_eq!(order.placed_at, "2026-11-01T12:00:00.000Z");
    assert_eq!(
        order.items,
        vec![
            ItemInput {
                sku: "SKU-9".into(),
                name: Some("Red bag".into()),
                category: Some("bags & shoes".into()),
                quantity: 3,
                price_cents: 330,
            },
            ItemInput {
                sku: "GIFT".into(),
                name: None,
                category: None,
                quantity: 1,
                price_cents: 0,
            },
        ]
    );
}

#[test]
fn items_are_optional_and_total_need_not_match_them() {
    for items in [json!(null), json!([])] {
        let parsed = accepted(vec![order_with(json!({ "items": items }))]);
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].items.is_empty());
    }
    let mut without = order();
    if let Some(o) = without.as_object_mut() {
        o.remove("items");
    }
    assert_eq!(parse(vec![without]).map(|p| p[0].items.len()), Ok(0));
    // Items sum to 2 × 10.00 = 20.00; shipping makes the total 25.90.
    let parsed = accepted(vec![order_with(
        json!({"total": "25.90", "items": [{"sku": "S", "quantity": 2, "price": "10.00"}]}),
    )]);
    assert_eq!(parsed[0].total.cents(), 2590);
}

#[test]
fn items_json_has_the_stored_shape() {
    let parsed = accepted(vec![order_with(json!({"items": [
        {"sku": "SKU-1", "name": "Bag", "category": "Bags", "quantity": 1, "price": "129.90"},
        {"sku": "SKU-2", "quantity": 2, "price": "0.5"}
    ]}))]);
    let stored: Value = serde_json::from_str(&parsed[0].items_json()).unwrap_or_default();
    assert_eq!(
        stored,
        json!([
            {"sku": "SKU-1", "name": "Bag", "category": "bags", "quantity": 1, "price_cents": 12990},
            {"sku": "SKU-2", "name": null, "category": null, "quantity": 2, "price_cents": 50}
        ])
    );
    let empty = accepted(vec![order_with(json!({"items": []}))]);
    assert_eq!(empty[0].items_json(), "[]");
}

#[test]
fn body_and_orders_list_are_checked() {
    let single = |path: &str, message: &str| -> Result<Vec<OrderInput>, OrderErrors> {
        let mut errors = OrderErrors::new();
        errors.insert(path.into(), message.into());
        Err(errors)
    };
    let list = "a list of 1 to 500 orders";
    assert_eq!(
        parse_orders(&json!([order()]), now()),
        single("body", "a JSON object with an orders list")
    );
    assert_eq!(
        parse_orders(&json!("orders"), now()),
        single("body", "a JSON object with an orders list")
    );
    assert_eq!(parse_orders(&json!({}), now()), single("orders", list));
    assert_eq!(
        parse_orders(&json!({"orders": []}), now()),
        single("orders", list)
    );
    assert_eq!(
        parse_orders(&json!({"orders": null}), now()),
        single("orders", list)
    );
    assert_eq!(
        parse_orders(&json!({"orders": order()}), now()),
        single("orders", list)
    );
    let too_many: Vec<Value> = (0..=MAX_ORDERS)
        .map(|i| order_with(json!({"external_id": i.to_string()})))
        .collect();
    assert_eq!(parse(too_many), single("orders", list));
    let most: Vec<Value> = (0..MAX_ORDERS)
        .map(|i| order_with(json!({"external_id": i.to_string()})))
        .collect();
    assert_eq!(parse(most).map(|p| p.len()), Ok(MAX_ORDERS));
}

#[test]
fn unknown_keys_are_named_at_every_level() {
    let errors = parse_orders(
        &json!({
            "orders": [order_with(json!({"coupon": "X", "items": [{"sku": "S", "quantity": 1, "price": "1", "colour": "red"}]}))],
            "dry_run": true
        }),
        now(),
    );
    let expected: OrderErrors = [
        ("dry_run", "unknown field"),
        ("orders[0].coupon", "unknown field"),
        ("orders[0].items[0].colour", "unknown field"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(errors, Err(expected));
}

#[test]
fn unknown_keys_are_shown_short_and_printable() {
    let key = format!("a\u{7}{}", "b".repeat(100));
    let (path, message) = one_error(order_with(json!({ key: 1 })));
    assert_eq!(path, format!("orders[0].a{}", "b".repeat(39)));
    assert_eq!(message, "unknown field");
}

#[test]
fn rows_that_are_not_objects_are_refused() {
    let errors = errors(vec![order(), json!("1002"), json!(null)]);
    let paths: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(paths, ["orders[1]", "orders[2]"]);
    assert!(errors.values().all(|m| m == "an object"));
}

#[test]
fn required_fields_are_required() {
    for key in ["external_id", "email", "total", "currency", "placed_at"] {
        expect(
            order_with(json!({ key: null })),
            &format!("orders[0].{key}"),
            REQUIRED,
        );
    }
    for key in ["external_id", "currency", "placed_at"] {
        expect(
            order_with(json!({ key: "  " })),
            &format!("orders[0].{key}"),
            REQUIRED,
        );
    }
    expect(
        order_with(json!({"email": ""})),
        "orders[0].email",
        REQUIRED,
    );
    for key in ["sku", "quantity", "price"] {
        expect(
            item_with(json!({ key: null })),
            &format!("orders[0].items[0].{key}"),
            REQUIRED,
        );
    }
    expect(
        item_with(json!({"sku": ""})),
        "orders[0].items[0].sku",
        REQUIRED,
    );
}

#[test]
fn text_fields_must_be_text() {
    for key in ["external_id", "email", "currency", "placed_at", "name"] {
        expect(
            order_with(json!({ key: 1001 })),
            &format!("orders[0].{key}"),
            NOT_TEXT,
        );
    }
    for key in ["sku", "name", "category"] {
        expect(
            item_with(json!({ key: ["x"] })),
            &format!("orders[0].items[0].{key}"),
            NOT_TEXT,
        );
    }
}

#[test]
fn money_fields_must_be_decimal_strings() {
    for amount in [json!(129.9), json!(129), json!(true), json!({"cents": 1})] {
        expect(
            order_with(json!({"total": amount})),
            "orders[0].total",
            NOT_DECIMAL,
        );
        expect(
            item_with(json!({"price": amount})),
            "orders[0].items[0].price",
            NOT_DECIMAL,
        );
    }
    expect(
        order_with(json!({"total": ""})),
        "orders[0].total",
        NOT_DECIMAL,
    );
    expect(
        order_with(json!({"total": "-5.00"})),
        "orders[0].total",
        NEGATIVE,
    );
    expect(
        order_with(json!({"total": "5.001"})),
        "orders[0].total",
        TOO_PRECISE,
    );
    expect(
        order_with(json!({"total": "1e3"})),
        "orders[0].total",
        NOT_DECIMAL,
    );
    expect(
        order_with(json!({"total": "+5"})),
        "orders[0].total",
        NOT_DECIMAL,
    );
    expect(
        order_with(json!({"total": "1234567890123"})),
        "orders[0].total",
        TOO_LARGE,
    );
    expect(
        item_with(json!({"price": "-0.01"})),
        "orders[0].items[0].price",
        NEGATIVE,
    );
    expect(
        item_with(json!({"price": "NaN"})),
        "orders[0].items[0].price",
        NOT_DECIMAL,
    );
}

#[test]
fn currency_is_three_letters() {
    let parsed = accepted(vec![order_with(json!({"currency": "eur"}))]);
    assert_eq!(parsed[0].currency, "EUR");
    for bad in ["BR", "BRLL", "R$", "12A", "B R", "ÉUR", "brl1", "€"] {
        expect(
            order_with(json!({"currency": bad})),
            "orders[0].currency",
            "a three-letter currency code such as BRL",
        );
    }
}

#[test]
fn external_id_is_short_printable_text() {
    let longest = "x".repeat(100);
    let parsed = accepted(vec![order_with(json!({"external_id": longest}))]);
    assert_eq!(parsed[0].external_id.len(), 100);
    for bad in [
        "x".repeat(101),
        "10\u{0}01".into(),
        "10\n01".into(),
        "\u{1b}[31m".into(),
    ] {
        expect(
            order_with(json!({"external_id": bad})),
            "orders[0].external_id",
            "1 to 100 printable characters",
        );
    }
}

#[test]
fn duplicate_external_ids_name_the_first_row() {
    let errors = errors(vec![
        order(),
        order_with(json!({"external_id": "1002"})),
        order_with(json!({"external_id": " 1001 "})),
        order_with(json!({"external_id": "1002", "total": "x"})),
        order_with(json!({"external_id": "1001"})),
    ]);
    let expected: OrderErrors = [
        ("orders[2].external_id", "duplicate of orders[0]"),
        ("orders[3].external_id", "duplicate of orders[1]"),
        ("orders[3].total", NOT_DECIMAL),
        ("orders[4].external_id", "duplicate of orders[0]"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(errors, expected);
}

#[test]
fn an_invalid_first_row_still_claims_its_external_id() {
    let errors = errors(vec![order_with(json!({"email": "nope"})), order()]);
    assert_eq!(
        errors.get("orders[1].external_id").map(String::as_str),
        Some("duplicate of orders[0]")
    );
}

#[test]
fn email_uses_the_email_rules() {
    expect(
        order_with(json!({"email": "ana"})),
        "orders[0].email",
        "not a valid email address",
    );
    expect(
        order_with(json!({"email": "ana@example.com\r\nBcc: x@evil.test"})),
        "orders[0].email",
        "the email address contains invalid characters",
    );
}

#[test]
fn buyer_name_is_optional_short_text() {
    for name in [json!(null), json!(""), json!("   ")] {
        let parsed = parse(vec![order_with(json!({"name": name}))]);
        assert_eq!(parsed.map(|p| p[0].name.clone()), Ok(None));
    }
    let parsed = parse(vec![order_with(json!({"name": "x".repeat(200)}))]);
    assert_eq!(
        parsed.map(|p| p[0].name.as_ref().map(String::len)),
        Ok(Some(200))
    );
    for bad in ["x".repeat(201), "Ana\u{0}".into()] {
        expect(
            order_with(json!({"name": bad})),
            "orders[0].name",
            "1 to 200 printable characters",
        );
    }
}

#[test]
fn placed_at_is_rfc3339_and_not_far_in_the_future() {
    let within_a_day = parse(vec![order_with(
        json!({"placed_at": "2026-11-24T12:00:00Z"}),
    )]);
    assert_eq!(
        within_a_day.map(|p| p[0].placed_at.clone()),
        Ok("2026-11-24T12:00:00.000Z".to_string())
    );
    expect(
        order_with(json!({"placed_at": "2026-11-24T12:00:00.001Z"})),
        "orders[0].placed_at",
        "more than a day in the future",
    );
    expect(
        order_with(json!({"placed_at": "1969-12-31T23:59:59Z"})),
        "orders[0].placed_at",
        "before 1970",
    );
    expect(
        order_with(json!({"placed_at": "0000-01-01T00:00:00+01:00"})),
        "orders[0].placed_at",
        "before 1970",
    );
    for bad in [
        "2026-11-01",
        "2026-11-01 12:00",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "1700000000",
    ] {
        expect(
            order_with(json!({"placed_at": bad})),
            "orders[0].placed_at",
            "an RFC 3339 time such as 2026-11-01T12:00:00Z",
        );
    }
}

#[test]
fn items_list_is_bounded() {
    let item = json!({"sku": "S", "quantity": 1, "price": "1.00"});
    let most = vec![item.clone(); MAX_ITEMS];
    let parsed = parse(vec![order_with(json!({"items": most}))]);
    assert_eq!(parsed.map(|p| p[0].items.len()), Ok(MAX_ITEMS));
    let message = "a list of at most 200 items";
    expect(
        order_with(json!({"items": vec![item; MAX_ITEMS + 1]})),
        "orders[0].items",
        message,
    );
    expect(
        order_with(json!({"items": {"sku": "S"}})),
        "orders[0].items",
        message,
    );
    expect(
        order_with(json!({"items": "SKU-1"})),
        "orders[0].items",
        message,
    );
    expect(
        order_with(json!({"items": [1]})),
        "orders[0].items[0]",
        "an object",
    );
}

#[test]
fn item_texts_are_checked() {
    let long_sku = item_with(json!({"sku": "s".repeat(101)}));
    expect(
        long_sku,
        "orders[0].items[0].sku",
        "1 to 100 printable characters",
    );
    expect(
        item_with(json!({"sku": "a\tb"})),
        "orders[0].items[0].sku",
        "1 to 100 printable characters",
    );
    expect(
        item_with(json!({"name": "n".repeat(201)})),
        "orders[0].items[0].name",
        "1 to 200 printable characters",
    );
    expect(
        item_with(json!({"category": "c".repeat(101)})),
        "orders[0].items[0].category",
        "1 to 100 printable characters",
    );
    let hundred = item_with(json!({"category": format!("  {}  ", "C".repeat(100))}));
    assert_eq!(
        parse(vec![hundred]).map(|p| p[0].items[0].category.clone()),
        Ok(Some("c".repeat(100)))
    );
    // 'İ' lower-cases to two characters: 100 of them no longer fit.
    expect(
        item_with(json!({"category": "İ".repeat(100)})),
        "orders[0].items[0].category",
        "1 to 100 printable characters",
    );
}

#[test]
fn quantity_is_a_whole_number_in_range() {
    for good in [1, 7, 10_000] {
        let parsed = parse(vec![item_with(json!({"quantity": good}))]);
        assert_eq!(parsed.map(|p| p[0].items[0].quantity), Ok(good));
    }
    for bad in [
        json!(0),
        json!(-1),
        json!(10_001),
        json!(1.5),
        json!(2.0),
        json!("2"),
        json!(true),
        json!(u64::MAX),
        json!(1e20),
    ] {
        expect(
            item_with(json!({"quantity": bad})),
            "orders[0].items[0].quantity",
            "a whole number from 1 to 10000",
        );
    }
}

#[test]
fn every_problem_of_every_row_is_reported() {
    let errors = errors(vec![
        order_with(json!({"total": 12.5, "currency": "R$"})),
        order_with(json!({"external_id": "1002"})),
        order_with(json!({
            "external_id": "1003",
            "email": "nope",
            "placed_at": "soon",
            "items": [{"sku": "S", "quantity": 1, "price": "1"}, {"quantity": 0, "price": "1.999"}]
        })),
    ]);
    let paths: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "orders[0].currency",
            "orders[0].total",
            "orders[2].email",
            "orders[2].items[1].price",
            "orders[2].items[1].quantity",
            "orders[2].items[1].sku",
            "orders[2].placed_at",
        ]
    );
    assert_eq!(errors["orders[2].items[1].price"], TOO_PRECISE);
}

#[test]
fn messages_never_quote_values() {
    let secret = "SECRET-9f3a";
    let errors = errors(vec![json!({
        "external_id": format!("{secret}\u{0}"),
        "email": format!("{secret}@"),
        "name": format!("{secret}\u{0}"),
        "total": secret,
        "currency": secret,
        "placed_at": secret,
        "items": [{"sku": format!("{secret}\u{0}"), "name": 1, "category": format!("{secret}\u{0}"), "quantity": secret, "price": secret}]
    })]);
    assert_eq!(errors.len(), 11, "{errors:?}");
    assert!(errors.values().all(|m| !m.contains("SECRET")), "{errors:?}");
    assert!(errors.keys().all(|k| !k.contains("SECRET")), "{errors:?}");
}

fn stats(count: i64, total: i64, first: &str, last: &str) -> OrderStats {
    OrderStats {
        order_count: count,
        total_spent_cents: total,
        first_order_at: Some(first.into()),
        last_order_at: Some(last.into()),
    }
}

#[test]
fn stats_apply_counts_and_widens() {
    let jan = "2026-01-10T00:00:00.000Z";
    let mar = "2026-03-10T00:00:00.000Z";
    let feb = "2026-02-10T00:00:00.000Z";
    let none = OrderStats::default();
    let one = none.apply(mar, 12990);
    assert_eq!(one, stats(1, 12990, mar, mar));
    let two = one.apply(jan, 10);
    assert_eq!(two, stats(2, 13000, jan, mar));
    let three = two.apply(feb, 0);
    assert_eq!(three, stats(3, 13000, jan, mar));
}

#[test]
fn stats_replace_adjusts_the_total_only() {
    let jan = "2026-01-10T00:00:00.000Z";
    let mar = "2026-03-10T00:00:00.000Z";
    let apr = "2026-04-10T00:00:00.000Z";
    let before = stats(2, 20000, jan, mar);
    assert_eq!(before.replace(5000, 4500, mar), stats(2, 19500, jan, mar));
    assert_eq!(before.replace(5000, 5000, mar), before);
    assert_eq!(before.replace(5000, 9000, apr), stats(2, 24000, jan, apr));
}

#[test]
fn stats_saturate_instead_of_overflowing() {
    let rich = stats(i64::MAX, i64::MAX, "a", "b");
    let after = rich.apply("b", 1);
    assert_eq!(
        (after.order_count, after.total_spent_cents),
        (i64::MAX, i64::MAX)
    );
}

proptest! {
    #[test]
    fn formatting_then_parsing_keeps_the_cents(cents in 0i64..100_000_000_000_000) {
        let money = Money::from_cents(cents);
        prop_assert!(money.is_some());
        let shown = money.map(|m| m.to_string()).unwrap_or_default();
        prop_assert_eq!(Money::parse(&shown).map(Money::cents), Ok(cents));
    }

    #[test]
    fn parse_never_panics(s in "(?s).{0,40}") {
        let _ = Money::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_near_misses(s in "[-+0-9.eE ,_]{0,20}") {
        if let Ok(money) = Money::parse(&s) {
            prop_assert!(Money::from_cents(money.cents()).is_some());
            prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        }
    }

    #[test]
    fn well_formed_amounts_parse_to_their_value(whole in "[0-9]{1,12}", fraction in "[0-9]{0,2}") {
        let text = if fraction.is_empty() { whole.clone() } else { format!("{whole}.{fraction}") };
        let units: i128 = whole.parse().unwrap_or_default();
        let hundredths: i128 = format!("{fraction:0<2}").parse().unwrap_or_default();
        let expected = i64::try_from(units * 100 + hundredths).ok();
        prop_assert_eq!(Money::parse(&text).ok().map(Money::cents), expected);
    }

    #[test]
    fn errors_name_exactly_the_bad_rows(bad in proptest::collection::vec(any::<bool>(), 1..30)) {
        let rows: Vec<Value> = bad
            .iter()
            .enumerate()
            .map(|(i, bad)| {
                let total = if *bad { json!(1.5) } else { json!("1.50") };
                order_with(json!({"external_id": i.to_string(), "total": total}))
            })
            .collect();
        match parse(rows) {
            Ok(parsed) => {
                prop_assert!(bad.iter().all(|b| !b));
                prop_assert_eq!(parsed.len(), bad.len());
            }
            Err(errors) => {
                let expected: std::collections::BTreeSet<String> = bad
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b)
                    .map(|(i, _)| format!("orders[{i}].total"))
                    .collect();
                let found: std::collections::BTreeSet<String> = errors.into_keys().collect();
                prop_assert_eq!(found, expected);
            }
        }
    }

    #[test]
    fn stats_do_not_depend_on_arrival_order(
        orders in proptest::collection::vec((0u32..1_000_000, 0i64..1_000_000), 1..20),
    ) {
        let at = |secs: u32| {
            time::format(DateTime::<Utc>::from_timestamp(i64::from(secs) * 1000, 0).unwrap_or_default())
        };
        let forward = orders
            .iter()
            .fold(OrderStats::default(), |s, (t, c)| s.apply(&at(*t), *c));
        let backward = orders
            .iter()
            .rev()
            .fold(OrderStats::default(), |s, (t, c)| s.apply(&at(*t), *c));
        prop_assert_eq!(&forward, &backward);
        prop_assert_eq!(forward.order_count, orders.len() as i64);
        let first = orders.iter().map(|(t, _)| *t).min().map(at);
        prop_assert_eq!(forward.first_order_at, first);
    }

    #[test]
    fn replacing_back_restores_the_total(total in 0i64..1_000_000_000, old in 0i64..1_000_000, new in 0i64..1_000_000) {
        let at = "2026-01-01T00:00:00.000Z";
        let start = stats(3, total, at, at);
        let changed = start.replace(old, new, at);
        prop_assert_eq!(changed.order_count, 3);
        prop_assert_eq!(changed.total_spent_cents, total - old + new);
        prop_assert_eq!(changed.replace(new, old, at), start);
    }
}
