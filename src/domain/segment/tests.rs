//! Unit tests: parsing and its errors, normalization, each operator in both backends on small
//! hand-made contacts, eligibility and the helpers. The property test in `property.rs` covers the
//! agreement of the backends at large.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use crate::domain::time;

fn now() -> DateTime<Utc> {
    time::parse("2026-06-15T12:00:00Z").unwrap()
}

fn parse(v: Value) -> SegmentRule {
    parse_rule(&v).unwrap_or_else(|e| panic!("{v}: {e:?}"))
}

fn errors(v: Value) -> BTreeMap<String, String> {
    parse_rule(&v).expect_err("should be refused")
}

fn cond(field: &str, op: &str, value: Value) -> Value {
    json!({"field": field, "op": op, "value": value})
}

fn ana() -> ContactFacts {
    ContactFacts {
        id: "c1".into(),
        email: "ana.souza@gmail.com".into(),
        name: Some("Ana Souza".into()),
        locale: Some("pt-BR".into()),
        country: Some("BR".into()),
        city: Some("São Paulo".into()),
        birth_date: Some("1990-06-15".into()),
        gender: None,
        status: "active".into(),
        source: "frm_123".into(),
        created_at: "2026-01-10T09:00:00.000Z".into(),
        confirmed_at: Some("2026-01-10T09:05:00.000Z".into()),
        last_activity_at: Some("2026-06-10T00:00:00.000Z".into()),
        data_confirmed_at: Some("2026-01-10T09:05:00.000Z".into()),
        order_count: 3,
        total_spent_cents: 30_000,
        first_order_at: Some("2026-02-01T00:00:00.000Z".into()),
        last_order_at: Some("2026-06-01T00:00:00.000Z".into()),
        last_nps: Some(9),
        nps_category: Some("promoter".into()),
        avg_csat: Some(4.5),
        temperature: "hot".into(),
        rfm_r: Some(5),
        rfm_f: Some(4),
        rfm_m: None,
        rfm_segment: Some("champions".into()),
        last_response_at: None,
        attributes: [
            ("plan".to_string(), json!("gold")),
            ("score".to_string(), json!(7)),
            ("ratio".to_string(), json!(0.75)),
            ("vip".to_string(), json!(true)),
            ("interests".to_string(), json!(["shoes", "bags"])),
            ("gone".to_string(), Value::Null),
        ]
        .into_iter()
        .collect(),
        consents: ["marketing_email".to_string()].into_iter().collect(),
        withdrawn: BTreeSet::new(),
        frequencies: [("marketing_email".to_string(), "all".to_string())]
            .into_iter()
            .collect(),
        bought_categories: ["bags".to_string(), "shoes".to_string()]
            .into_iter()
            .collect(),
        bought_skus: ["SKU-1".to_string(), "SHOE-9".to_string()]
            .into_iter()
            .collect(),
        segments: ["seg_vip".to_string()].into_iter().collect(),
    }
}

/// A contact with everything optional missing and no stats row.
fn bare() -> ContactFacts {
    ContactFacts {
        id: "c2".into(),
        email: "x@shop.example".into(),
        status: "pending".into(),
        source: "import".into(),
        created_at: "2025-01-01T00:00:00.000Z".into(),
        ..ContactFacts::default()
    }
}

fn on(facts: &ContactFacts, rule: Value) -> bool {
    parse(rule).eval(facts, now())
}

// ---------------------------------------------------------------- parsing and errors

#[test]
fn parses_and_normalizes_round_trip() {
    let rule = parse(json!({"all": [
        cond("country", "eq", json!(" br ")),
        cond("email", "contains", json!("@GMAIL.com")),
        cond("email_domain", "in", json!(["Gmail.COM", "shop.example"])),
        cond("bought_category", "eq", json!("  Bags ")),
        cond("total_spent", "gte", json!(129.9)),
        cond("avg_order_value", "between", json!(["10", "20.5"])),
        cond("created_at", "gte", json!("2026-01-01")),
        cond("confirmed_at", "lt", json!("2026-01-02T03:04:05+02:00")),
        cond("status", "eq", json!("Active")),
        {"not": cond("consent.sms", "eq", json!(true))},
        {"any": [cond("attr.plan", "eq", json!(" gold")), cond("attr.score", "gt", json!(2.5))]}
    ]}));
    let expected = json!({"all": [
        cond("country", "eq", json!("BR")),
        cond("email", "contains", json!("@gmail.com")),
        cond("email_domain", "in", json!(["gmail.com", "shop.example"])),
        cond("bought_category", "eq", json!("bags")),
        cond("total_spent", "gte", json!("129.90")),
        cond("avg_order_value", "between", json!(["10.00", "20.50"])),
        cond("created_at", "gte", json!("2026-01-01T00:00:00.000Z")),
        cond("confirmed_at", "lt", json!("2026-01-02T01:04:05.000Z")),
        cond("status", "eq", json!("active")),
        {"not": cond("consent.sms", "eq", json!(true))},
        {"any": [cond("attr.plan", "eq", json!(" gold")), cond("attr.score", "gt", json!(2.5))]}
    ]});
    assert_eq!(rule.to_json(), expected);
    assert_eq!(parse(rule.to_json()), rule);
    let stored = serde_json::to_string(&rule).unwrap();
    let back: SegmentRule = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, rule);
    assert!(serde_json::from_str::<SegmentRule>(r#"{"all":[{"field":"nope"}]}"#).is_err());
}

#[test]
fn unknown_field_operator_and_value_type_name_the_path() {
    let e = errors(json!({"all": [
        cond("country", "eq", json!("BR")),
        cond("shoe_size", "eq", json!(42)),
        cond("country", "gt", json!("BR")),
        cond("order_count", "eq", json!("three")),
        cond("city", "like", json!("x")),
        {"not": cond("age", "between", json!([40, 30]))},
    ]}));
    assert_eq!(
        e.get("rule.all[1].field").map(String::as_str),
        Some("unknown field")
    );
    assert!(e["rule.all[2].op"].starts_with("not for this field; one of eq, neq, in"));
    assert_eq!(
        e["rule.all[3].value"],
        "a whole number from 0 to 4294967295"
    );
    assert_eq!(e["rule.all[4].op"], "unknown operator");
    assert_eq!(
        e["rule.all[5].not.value"],
        "the low bound is above the high bound"
    );
    assert!(!e.contains_key("rule.all[0].field"));
    assert_eq!(e.len(), 5);
}

#[test]
fn messages_never_quote_values() {
    let secret = "ana.private@example.com";
    let e = errors(json!({"any": [
        cond(secret, "eq", json!(secret)),
        cond("email", secret, json!(secret)),
        cond("country", "eq", json!(secret)),
        cond("attr.x", "contains", json!(42)),
        cond("created_at", "gt", json!(secret)),
        {"field": "email", "op": "eq", "value": "a", secret: 1},
    ]}));
    for message in e.values() {
        assert!(!message.contains("ana.private"), "{message}");
    }
    // Keys are paths; an unknown key is shown, cut to 40 characters.
    assert!(e.keys().any(|k| k.starts_with("rule.any[5].ana.private")));
}

#[test]
fn shape_errors() {
    assert_eq!(
        errors(json!([]))["rule"],
        "an object: all, any, not or a condition"
    );
    assert_eq!(errors(json!({"all": {}}))["rule.all"], "a list of rules");
    assert_eq!(
        errors(json!({"all": [], "any": []}))["rule.any"],
        "not allowed beside all"
    );
    let e = errors(json!({"field": "email", "op": "eq"}));
    assert_eq!(e["rule.value"], "required");
    let e = errors(json!({"op": "eq", "value": 1}));
    assert_eq!(e["rule.field"], "required (or use all, any or not)");
    let e = errors(json!({"field": "email", "value": 1}));
    assert_eq!(e["rule.op"], "required");
    let e = errors(json!({"field": "email", "op": "eq", "value": "a", "extra": 1}));
    assert_eq!(e["rule.extra"], "unknown key");
    let e = errors(json!({"field": 3, "op": ["eq"], "value": 1}));
    assert_eq!(e["rule.field"], "a field name");
    assert_eq!(e["rule.op"], "an operator name");
}

#[test]
fn value_errors_by_operator() {
    let one = |c: Value| {
        let e = errors(c);
        assert_eq!(e.len(), 1, "{e:?}");
        e.into_iter().next().unwrap()
    };
    assert_eq!(one(cond("name", "exists", json!("yes"))).1, "true or false");
    assert_eq!(
        one(cond("last_order_at", "within_days", json!(0))).1,
        "a whole number of days from 1 to 36500"
    );
    assert_eq!(
        one(cond("country", "in", json!([]))).1,
        "a list of 1 to 500 values"
    );
    assert_eq!(
        one(cond("country", "in", json!(vec!["BR"; 501]))).1,
        "a list of 1 to 500 values"
    );
    assert_eq!(
        one(cond("country", "in", json!(["BR", "Brazil"]))),
        ("rule.value[1]".into(), "a two-letter country code".into())
    );
    assert_eq!(
        one(cond("attr.x", "in", json!(["a", 1]))).1,
        "all texts or all numbers"
    );
    assert_eq!(
        one(cond("attr.x", "between", json!(["a", 1]))).1,
        "two values of the same type"
    );
    assert_eq!(
        one(cond("attr.x", "gt", json!(true))).1,
        "a text or a number"
    );
    assert_eq!(
        one(cond("attr.x", "eq", json!(null))).1,
        "a text, a number, true or false"
    );
    assert_eq!(
        one(cond("age", "between", json!([1]))).1,
        "a list of two values: [low, high]"
    );
    assert_eq!(
        one(cond("status", "eq", json!("gone"))).1,
        "one of pending, active, unsubscribed"
    );
    assert_eq!(
        one(cond("total_spent", "gt", json!("-1"))).1,
        "must not be negative"
    );
    assert_eq!(
        one(cond("total_spent", "gt", json!("1.234"))).1,
        "at most 2 decimal places"
    );
    assert_eq!(
        one(cond("birth_month", "eq", json!(13))).1,
        "a whole number from 1 to 12"
    );
    assert_eq!(
        one(cond("avg_csat", "gt", json!(6))).1,
        "a number from 1 to 5"
    );
    assert_eq!(
        one(cond("name", "eq", json!("  "))).1,
        "a text of 1 to 254 printable characters"
    );
    assert_eq!(
        one(cond("name", "eq", json!("a\u{7}"))).1,
        "a text of 1 to 254 printable characters"
    );
    assert_eq!(one(cond("segment", "eq", json!("seg 1"))).1, "a segment id");
    assert_eq!(
        one(cond("consent.sms", "eq", json!("yes"))).1,
        "true or false"
    );
    assert!(one(cond("consent.SMS", "eq", json!(true)))
        .1
        .starts_with("consent.<purpose>"));
    assert!(one(cond("attr.Shoe", "eq", json!(1)))
        .1
        .starts_with("attr.<key>"));
    assert_eq!(one(cond("email", "exists", json!(true))).0, "rule.op");
}

#[test]
fn depth_and_size_are_bounded() {
    let mut deep = cond("country", "eq", json!("BR"));
    for _ in 0..5 {
        deep = json!({"not": deep});
    }
    assert!(parse_rule(&deep).is_ok(), "six levels");
    let e = errors(json!({"not": deep}));
    assert_eq!(
        e["rule.not.not.not.not.not.not"],
        "nested too deeply: at most 6 levels"
    );

    let many = |n: usize| json!({"any": vec![cond("order_count", "gt", json!(1)); n]});
    assert!(parse_rule(&many(MAX_PARAMS)).is_ok());
    assert_eq!(
        errors(many(MAX_PARAMS + 1))["rule"],
        "too many values for one query: at most 90"
    );
    let existence = |n: usize| json!({"any": vec![cond("name", "exists", json!(true)); n]});
    assert!(
        parse_rule(&existence(MAX_CONDITIONS)).is_ok(),
        "binds nothing"
    );
    assert_eq!(
        errors(existence(MAX_CONDITIONS + 1))["rule"],
        "at most 100 conditions"
    );
}

#[test]
fn an_in_list_is_one_parameter() {
    let ids: Vec<String> = (0..MAX_LIST).map(|i| format!("seg_{i}")).collect();
    let rule = parse(cond("segment", "in", json!(ids)));
    let (sql, params) = rule.to_sql(now());
    assert_eq!(params.len(), 1);
    assert!(sql.contains("json_each(?)"));
}

// ---------------------------------------------------------------- operators, by field type

#[test]
fn text_operators() {
    let a = ana();
    let b = bare();
    assert!(on(&a, cond("country", "eq", json!("br"))));
    assert!(!on(&a, cond("country", "neq", json!("BR"))));
    assert!(on(&a, cond("country", "neq", json!("PT"))));
    assert!(
        !on(&b, cond("country", "neq", json!("PT"))),
        "missing never matches neq"
    );
    assert!(
        on(&b, json!({"not": cond("country", "eq", json!("BR"))})),
        "but not(eq) does"
    );
    assert!(on(&a, cond("country", "in", json!(["PT", "BR"]))));
    assert!(!on(&a, cond("country", "not_in", json!(["PT", "BR"]))));
    assert!(!on(&b, cond("country", "not_in", json!(["PT"]))));
    assert!(on(&a, cond("name", "contains", json!("Souza"))));
    assert!(
        !on(&a, cond("name", "contains", json!("souza"))),
        "case-sensitive"
    );
    assert!(
        on(&a, cond("name", "starts_with", json!("Ana "))),
        "trimmed value, then compared"
    );
    assert!(!on(&a, cond("name", "starts_with", json!("Souza"))));
    assert!(on(&a, cond("city", "contains", json!("ã"))));
    assert!(on(&a, cond("name", "exists", json!(true))));
    assert!(on(&b, cond("name", "exists", json!(false))));
    assert!(on(&a, cond("email_domain", "eq", json!("GMAIL.COM"))));
    assert!(on(&a, cond("email", "starts_with", json!("Ana."))));
    assert!(on(&a, cond("locale", "starts_with", json!("pt"))));
    assert!(on(&a, cond("source", "starts_with", json!("frm_"))));
    assert!(on(&a, cond("status", "in", json!(["active", "pending"]))));
    assert!(
        on(&b, cond("temperature", "eq", json!("cold"))),
        "no stats row reads as cold"
    );
    assert!(on(&a, cond("nps_category", "eq", json!("promoter"))));
    assert!(on(&b, cond("nps_category", "exists", json!(false))));
    assert!(on(&a, cond("rfm_segment", "neq", json!("lost"))));
}

#[test]
fn number_operators() {
    let a = ana();
    let b = bare();
    assert!(on(&a, cond("order_count", "eq", json!(3))));
    assert!(on(&a, cond("order_count", "neq", json!(2))));
    assert!(on(&a, cond("order_count", "in", json!([1, 3]))));
    assert!(on(&a, cond("order_count", "not_in", json!([1, 2]))));
    assert!(on(&a, cond("order_count", "gt", json!(2))));
    assert!(!on(&a, cond("order_count", "gt", json!(3))));
    assert!(on(&a, cond("order_count", "gte", json!(3))));
    assert!(on(&a, cond("order_count", "lt", json!(4))));
    assert!(on(&a, cond("order_count", "lte", json!(3))));
    assert!(on(&a, cond("order_count", "between", json!([3, 3]))));
    assert!(
        on(&b, cond("order_count", "eq", json!(0))),
        "no stats row: no orders"
    );
    assert!(
        !on(&b, cond("last_nps", "lt", json!(11 - 1))),
        "missing never compares"
    );
    assert!(on(&a, cond("last_nps", "gte", json!(9))));
    assert!(on(&a, cond("avg_csat", "gt", json!(4))));
    assert!(on(&a, cond("avg_csat", "between", json!([4.5, 5]))));
    assert!(!on(&a, cond("avg_csat", "lt", json!(4.5))));
    assert!(on(&a, cond("rfm_m", "exists", json!(false))));
    assert!(on(&a, cond("rfm_r", "eq", json!(5))));
}

#[test]
fn money_operators_compare_in_cents() {
    let a = ana();
    let b = bare();
    assert!(on(&a, cond("total_spent", "eq", json!("300"))));
    assert!(on(&a, cond("total_spent", "eq", json!(300.00))));
    assert!(on(&a, cond("total_spent", "gt", json!("299.99"))));
    assert!(!on(&a, cond("total_spent", "gt", json!("300.00"))));
    assert!(on(&a, cond("total_spent", "between", json!(["0", "300"]))));
    assert!(on(&b, cond("total_spent", "eq", json!(0))));
    assert!(on(&a, cond("avg_order_value", "eq", json!("100"))));
    let mut odd = ana();
    odd.total_spent_cents = 1000;
    assert!(
        on(&odd, cond("avg_order_value", "gt", json!("3.33"))),
        "333.33… cents"
    );
    assert!(on(&odd, cond("avg_order_value", "lt", json!("3.34"))));
    assert!(on(&odd, cond("avg_order_value", "neq", json!("3.34"))));
    assert!(
        on(&b, cond("avg_order_value", "exists", json!(false))),
        "no orders, no average"
    );
    assert!(!on(&b, cond("avg_order_value", "lt", json!(1))));
}

#[test]
fn date_operators_and_day_windows() {
    let a = ana();
    let b = bare();
    assert!(on(&a, cond("created_at", "gte", json!("2026-01-10"))));
    assert!(on(&a, cond("created_at", "lt", json!("2026-01-11"))));
    assert!(on(
        &a,
        cond("created_at", "between", json!(["2026-01-01", "2026-02-01"]))
    ));
    // last_order_at is 14.5 days before now.
    assert!(on(&a, cond("last_order_at", "within_days", json!(15))));
    assert!(!on(&a, cond("last_order_at", "within_days", json!(14))));
    assert!(on(&a, cond("last_order_at", "not_within_days", json!(14))));
    assert!(!on(&a, cond("last_order_at", "not_within_days", json!(15))));
    assert!(
        !on(&b, cond("last_order_at", "not_within_days", json!(1))),
        "never ordered"
    );
    assert!(on(&b, cond("last_order_at", "exists", json!(false))));
    let mut edge = ana();
    edge.last_order_at = Some("2026-06-08T12:00:00.000Z".into());
    assert!(
        on(&edge, cond("last_order_at", "within_days", json!(7))),
        "the cut-off is inside"
    );
    edge.last_order_at = Some("2026-06-16T00:00:00.000Z".into());
    assert!(
        on(&edge, cond("last_order_at", "within_days", json!(1))),
        "the future is inside"
    );
}

#[test]
fn age_and_birth_month() {
    let mut p = ana(); // born 1990-06-15; now is 2026-06-15: 36 today.
    assert!(on(&p, cond("age", "eq", json!(36))));
    assert!(on(&p, cond("age", "gte", json!(36))));
    assert!(!on(&p, cond("age", "gt", json!(36))));
    assert!(on(&p, cond("age", "lt", json!(37))));
    assert!(on(&p, cond("age", "lte", json!(36))));
    assert!(on(&p, cond("age", "neq", json!(35))));
    assert!(on(&p, cond("age", "between", json!([30, 36]))));
    assert!(!on(&p, cond("age", "between", json!([37, 40]))));
    p.birth_date = Some("1990-06-16".into());
    assert!(on(&p, cond("age", "eq", json!(35))), "birthday tomorrow");
    assert!(on(&bare(), cond("age", "exists", json!(false))));
    assert!(!on(&bare(), cond("age", "neq", json!(35))));

    let leap = time::parse("2027-02-28T12:00:00Z").unwrap();
    let born = ContactFacts {
        birth_date: Some("2000-02-29".into()),
        ..ana()
    };
    assert!(
        parse(cond("age", "eq", json!(26))).eval(&born, leap),
        "not yet 27 on 28 Feb"
    );
    let march = time::parse("2027-03-01T00:00:00Z").unwrap();
    assert!(parse(cond("age", "eq", json!(27))).eval(&born, march));

    assert!(on(&p, cond("birth_month", "eq", json!(6))));
    assert!(on(&p, cond("birth_month", "in", json!([1, 6]))));
    assert!(on(&p, cond("birth_month", "not_in", json!([1, 7]))));
    assert!(on(&p, cond("birth_month", "between", json!([5, 7]))));
    assert!(!on(&p, cond("birth_month", "gt", json!(6))));
    assert!(!on(&p, cond("birth_month", "gt", json!(12))));
    assert!(!on(&bare(), cond("birth_month", "neq", json!(6))));
    assert!(on(&bare(), cond("birth_month", "exists", json!(false))));
}

/// Every age operator against whole years computed here, on the days around a birthday (the
/// property test holds SQL and Rust to each other, so only a test like this can catch a plan
/// that is wrong in both).
#[test]
fn age_operators_agree_with_whole_years_around_a_birthday() {
    for birth in [
        "1990-06-14",
        "1990-06-15",
        "1990-06-16",
        "2008-06-15",
        "2008-06-16",
        "2000-02-29",
        "1990-01-01",
        "1990-12-31",
    ] {
        let (y, m, d): (i64, u32, u32) = (
            birth[..4].parse().unwrap(),
            birth[5..7].parse().unwrap(),
            birth[8..].parse().unwrap(),
        );
        // now() is 2026-06-15.
        let age = 2026 - y - i64::from((6, 15) < (m, d));
        let facts = ContactFacts {
            birth_date: Some(birth.into()),
            ..ana()
        };
        for n in [age - 1, age, age + 1] {
            for (op, expected) in [
                ("eq", age == n),
                ("neq", age != n),
                ("gt", age > n),
                ("gte", age >= n),
                ("lt", age < n),
                ("lte", age <= n),
            ] {
                let rule = cond("age", op, json!(n));
                assert_eq!(on(&facts, rule), expected, "born {birth}: age {op} {n}");
            }
            for (lo, hi) in [(n, n), (n - 1, n), (n, n + 1)] {
                let rule = cond("age", "between", json!([lo, hi]));
                let expected = (lo..=hi).contains(&age);
                assert_eq!(
                    on(&facts, rule),
                    expected,
                    "born {birth}: age in {lo}..={hi}"
                );
            }
        }
    }
}

/// Every birth month operator against the month of the stored date.
#[test]
fn birth_month_operators_agree_with_the_month_of_the_date() {
    for month in 1..=12i64 {
        let facts = ContactFacts {
            birth_date: Some(format!("1990-{month:02}-10")),
            ..ana()
        };
        for n in 1..=12i64 {
            for (op, value, expected) in [
                ("eq", json!(n), month == n),
                ("neq", json!(n), month != n),
                ("gt", json!(n), month > n),
                ("gte", json!(n), month >= n),
                ("lt", json!(n), month < n),
                ("lte", json!(n), month <= n),
                ("in", json!([n]), month == n),
                ("not_in", json!([n]), month != n),
                (
                    "between",
                    json!([n, 12.min(n + 1)]),
                    (n..=n + 1).contains(&month),
                ),
            ] {
                let rule = cond("birth_month", op, value.clone());
                assert_eq!(on(&facts, rule), expected, "month {month}: {op} {value}");
            }
        }
    }
}

#[test]
fn consent_items_and_segments() {
    let a = ana();
    let b = bare();
    assert!(on(&a, cond("consent.marketing_email", "eq", json!(true))));
    assert!(on(&a, cond("consent.sms", "eq", json!(false))));
    assert!(on(&a, cond("consent.sms", "neq", json!(true))));
    assert!(!on(&a, cond("consent.marketing_email", "neq", json!(true))));
    assert!(on(&a, cond("bought_category", "eq", json!("BAGS"))));
    assert!(on(&a, cond("bought_category", "neq", json!("hats"))));
    assert!(
        on(&b, cond("bought_category", "neq", json!("hats"))),
        "never bought it"
    );
    assert!(on(
        &a,
        cond("bought_category", "in", json!(["hats", "shoes"]))
    ));
    assert!(!on(
        &a,
        cond("bought_category", "not_in", json!(["hats", "shoes"]))
    ));
    assert!(on(&a, cond("bought_category", "contains", json!("ag"))));
    assert!(on(&a, cond("bought_sku", "starts_with", json!("SHOE-"))));
    assert!(
        !on(&a, cond("bought_sku", "eq", json!("sku-1"))),
        "SKUs keep their case"
    );
    assert!(on(&a, cond("bought_sku", "exists", json!(true))));
    assert!(on(&b, cond("bought_sku", "exists", json!(false))));
    assert!(on(&a, cond("segment", "eq", json!("seg_vip"))));
    assert!(on(&a, cond("segment", "not_in", json!(["seg_a", "seg_b"]))));
    assert!(!on(&a, cond("segment", "neq", json!("seg_vip"))));
}

#[test]
fn attributes_compare_within_their_json_type() {
    let a = ana();
    assert!(on(&a, cond("attr.plan", "eq", json!("gold"))));
    assert!(on(&a, cond("attr.plan", "neq", json!("silver"))));
    assert!(on(&a, cond("attr.plan", "in", json!(["gold", "x"]))));
    assert!(on(&a, cond("attr.plan", "gt", json!("f"))));
    assert!(on(&a, cond("attr.plan", "starts_with", json!("go"))));
    assert!(on(&a, cond("attr.plan", "contains", json!("ol"))));
    assert!(
        on(&a, cond("attr.score", "eq", json!(7.0))),
        "7 = 7.0, as in SQLite"
    );
    assert!(on(&a, cond("attr.score", "gt", json!(6.5))));
    assert!(on(&a, cond("attr.score", "between", json!([7, 7.5]))));
    assert!(
        !on(&a, cond("attr.score", "gt", json!("a"))),
        "a number is not compared with a text"
    );
    assert!(
        !on(&a, cond("attr.plan", "lt", json!(1))),
        "nor a text with a number"
    );
    assert!(
        on(&a, cond("attr.plan", "neq", json!(1))),
        "but it is not 1"
    );
    assert!(on(&a, cond("attr.ratio", "lt", json!(1))));
    assert!(on(&a, cond("attr.ratio", "in", json!([0.75, 2]))));
    assert!(on(&a, cond("attr.ratio", "not_in", json!([0.5]))));
    assert!(on(&a, cond("attr.vip", "eq", json!(true))));
    assert!(
        !on(&a, cond("attr.vip", "eq", json!(1))),
        "true is not the number 1"
    );
    assert!(on(&a, cond("attr.vip", "neq", json!(false))));
    assert!(
        on(&a, cond("attr.interests", "contains", json!("bags"))),
        "array element"
    );
    assert!(
        !on(&a, cond("attr.interests", "contains", json!("bag"))),
        "elements whole"
    );
    assert!(!on(&a, cond("attr.interests", "eq", json!("bags"))));
    assert!(on(&a, cond("attr.interests", "neq", json!("bags"))));
    assert!(
        on(&a, cond("attr.gone", "exists", json!(false))),
        "null is absent"
    );
    assert!(!on(&a, cond("attr.gone", "neq", json!("x"))));
    assert!(!on(&a, cond("attr.nothing", "neq", json!("x"))));
    assert!(on(&a, cond("attr.nothing", "exists", json!(false))));
}

#[test]
fn combinators() {
    let a = ana();
    assert!(on(&a, json!({"all": []})), "all of nothing: everyone");
    assert!(!on(&a, json!({"any": []})), "any of nothing: no one");
    assert!(on(
        &a,
        json!({"any": [cond("country", "eq", json!("PT")), cond("order_count", "gt", json!(1))]})
    ));
    assert!(!on(
        &a,
        json!({"all": [cond("country", "eq", json!("PT")), cond("order_count", "gt", json!(1))]})
    ));
    assert!(on(
        &a,
        json!({"not": {"not": cond("country", "eq", json!("BR"))}})
    ));
}

// ---------------------------------------------------------------- SQL shape, eligibility, helpers

#[test]
fn sql_binds_values_and_now_never_splices_them() {
    let rule = parse(json!({"all": [
        cond("name", "eq", json!("x'); DROP TABLE contacts; --")),
        cond("last_order_at", "within_days", json!(30)),
        cond("attr.plan", "eq", json!("gold")),
    ]}));
    let (sql, params) = rule.to_sql(now());
    assert!(!sql.contains("DROP") && !sql.contains("gold"));
    assert!(!sql.contains("now") && !sql.contains("datetime") && !sql.contains("date("));
    assert_eq!(sql.matches('?').count(), params.len());
    assert_eq!(
        params,
        vec![
            SqlValue::Text("x'); DROP TABLE contacts; --".into()),
            SqlValue::Text("2026-05-16T12:00:00.000Z".into()),
            SqlValue::Text("plan".into()),
            SqlValue::Text("gold".into()),
        ]
    );
    let renumbered = numbered(&sql, 3);
    assert!(renumbered.contains("?3") && renumbered.contains("?6") && !renumbered.contains("?7"));
    assert_eq!(renumbered.matches('?').count(), 4);
}

fn audience(purpose: &str, profiling: bool) -> Audience {
    Audience {
        purpose: purpose.to_string(),
        profiling,
    }
}

#[test]
fn eligibility_needs_active_status_and_consent() {
    let rule = parse(json!({"all": []}));
    let a = ana();
    let marketing = audience(DEFAULT_PURPOSE, false);
    assert!(is_member(&rule, &marketing, &a, now()));
    assert!(!is_member(&rule, &audience("sms", false), &a, now()));
    let pending = ContactFacts {
        status: "pending".into(),
        ..ana()
    };
    assert!(!is_member(&rule, &marketing, &pending, now()));
    let gone = ContactFacts {
        status: "unsubscribed".into(),
        ..ana()
    };
    assert!(!is_member(&rule, &marketing, &gone, now()));
    let (sql, params) = member_sql(
        &parse(cond("country", "eq", json!("BR"))),
        &audience("sms", false),
        now(),
    );
    assert!(
        sql.starts_with("((c.status = 'active') AND EXISTS"),
        "{sql}"
    );
    assert_eq!(
        params,
        vec![SqlValue::Text("sms".into()), SqlValue::Text("BR".into())]
    );
}

#[test]
fn a_legitimate_interest_purpose_is_allowed_until_objected_to() {
    let rule = parse(json!({"all": []}));
    let surveys = audience("satisfaction_surveys", false);
    assert!(
        is_member(&rule, &surveys, &ana(), now()),
        "no record: allowed"
    );
    let mut objector = ana();
    objector.withdrawn.insert("satisfaction_surveys".into());
    assert!(!is_member(&rule, &surveys, &objector, now()));
    let asks = parse(cond("consent.profiling", "eq", json!(true)));
    assert!(asks.eval(&ana(), now()), "profiling is on by default");
    objector.withdrawn.insert("profiling".into());
    assert!(!asks.eval(&objector, now()));
}

#[test]
fn an_objection_to_profiling_excludes_from_every_rule_on_derived_data_whatever_surrounds_it() {
    let mut objector = ana();
    objector.withdrawn.insert("profiling".into());
    let marketing =
        |rule: &SegmentRule| Audience::of(rule, DEFAULT_PURPOSE, &["seg_rfm".to_string()].into());
    for derived in [
        cond("rfm_segment", "eq", json!("champions")),
        json!({"not": cond("order_count", "eq", json!(0))}),
        json!({"any": [cond("country", "eq", json!("BR")), cond("last_nps", "gte", json!(9))]}),
        cond("temperature", "neq", json!("cold")),
        cond("bought_category", "not_in", json!(["tents"])),
        cond("segment", "eq", json!("seg_rfm")),
        json!({"not": cond("segment", "eq", json!("seg_other_rfm_user"))}),
    ] {
        let rule = parse(derived.clone());
        let mut with_segments = objector.clone();
        with_segments.segments.insert("seg_rfm".into());
        let audience = if derived.to_string().contains("seg_other_rfm_user") {
            Audience::of(
                &rule,
                DEFAULT_PURPOSE,
                &["seg_other_rfm_user".to_string()].into(),
            )
        } else {
            marketing(&rule)
        };
        assert!(audience.profiling, "{derived} profiles");
        assert!(
            !is_member(&rule, &audience, &with_segments, now()),
            "{derived}: an objector is never a member"
        );
    }
    // Declared data keeps objectors.
    for declared in [
        cond("country", "eq", json!("BR")),
        json!({"not": cond("age", "lt", json!(18))}),
        cond("consent.marketing_email", "eq", json!(true)),
        cond("segment", "eq", json!("seg_plain")),
    ] {
        let rule = parse(declared.clone());
        let audience = marketing(&rule);
        assert!(!audience.profiling, "{declared} does not profile");
        let mut member = objector.clone();
        member.segments.insert("seg_plain".into());
        assert!(is_member(&rule, &audience, &member, now()), "{declared}");
    }
}

#[test]
fn a_segment_profiles_when_it_names_one_that_does_to_any_depth() {
    let rfm = parse(cond("rfm_segment", "eq", json!("champions")));
    let middle = parse(cond("segment", "eq", json!("seg_rfm")));
    let top = parse(json!({"not": cond("segment", "in", json!(["seg_middle"]))}));
    let plain = parse(cond("country", "eq", json!("BR")));
    let found = profiling_segments([
        ("seg_top", &top),
        ("seg_middle", &middle),
        ("seg_rfm", &rfm),
        ("seg_plain", &plain),
    ]);
    assert_eq!(
        found,
        ["seg_middle", "seg_rfm", "seg_top"]
            .map(String::from)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
}

#[test]
fn frequency_and_data_confirmation_are_rule_fields() {
    let weekly = parse(cond("frequency.marketing_email", "eq", json!("weekly")));
    let mut a = ana();
    assert!(!weekly.eval(&a, now()), "no choice made means all");
    a.frequencies
        .insert("marketing_email".into(), "weekly".into());
    assert!(weekly.eval(&a, now()));
    let not_monthly = parse(cond("frequency.marketing_email", "neq", json!("monthly")));
    let mut withdrawn = ana();
    withdrawn.consents.clear();
    withdrawn.frequencies.clear();
    assert!(
        !not_monthly.eval(&withdrawn, now()),
        "no frequency while not granted"
    );
    assert!(
        errors(json!(cond("frequency.profiling", "eq", json!("all")))).contains_key("rule.field")
    );
    assert!(errors(json!(cond(
        "frequency.marketing_email",
        "eq",
        json!("daily")
    )))
    .contains_key("rule.value"));
    let stale = parse(cond("data_confirmed_at", "not_within_days", json!(90)));
    assert!(stale.eval(&ana(), now()));
    let fresh = ContactFacts {
        data_confirmed_at: Some(time::format(now())),
        ..ana()
    };
    assert!(!stale.eval(&fresh, now()));
}

#[test]
fn time_relative_rules_and_referenced_segments() {
    let relative = [
        cond("last_order_at", "within_days", json!(30)),
        cond("created_at", "not_within_days", json!(30)),
        cond("age", "gte", json!(18)),
        cond("temperature", "eq", json!("hot")),
        cond("rfm_segment", "eq", json!("lost")),
    ];
    for c in relative {
        assert!(parse(json!({"not": c})).is_time_relative(), "{c}");
    }
    let fixed = [
        cond("last_order_at", "gte", json!("2026-01-01")),
        cond("birth_month", "eq", json!(6)),
        cond("order_count", "gt", json!(1)),
    ];
    for c in fixed {
        assert!(!parse(c.clone()).is_time_relative(), "{c}");
    }
    let rule = parse(json!({"any": [
        cond("segment", "eq", json!("seg_b")),
        {"not": cond("segment", "in", json!(["seg_a", "seg_b"]))},
        cond("country", "eq", json!("BR")),
    ]}));
    assert_eq!(rule.referenced_segments(), vec!["seg_a", "seg_b"]);
    assert!(parse(json!({"all": []})).referenced_segments().is_empty());
}

#[test]
fn conditions_expose_field_op_and_value() {
    let rule = parse(cond("attr.plan", "in", json!(["a", "b"])));
    let c = rule.conditions()[0];
    assert_eq!(c.field(), &Field::Attr("plan".into()));
    assert_eq!(c.field().name(), "attr.plan");
    assert_eq!(c.op(), Op::In);
    assert_eq!(
        c.value(),
        &Operand::List(vec![Scalar::Text("a".into()), Scalar::Text("b".into())])
    );
    for op in Op::ALL {
        assert_eq!(Op::parse(op.as_str()), Some(op));
    }
}

/// A count over an email, name or attribute rule reads people out one letter at a time, so
/// those rules are told apart for keys that may not read contacts.
#[test]
fn identifying_fields_are_recognised_anywhere_in_the_tree() {
    let reads = |rule: serde_json::Value| parse_rule(&rule).unwrap().reads_identifying_fields();
    assert!(reads(
        json!({"field": "email", "op": "starts_with", "value": "a"})
    ));
    assert!(reads(
        json!({"all": [{"field": "country", "op": "eq", "value": "BR"},
        {"not": {"any": [{"field": "name", "op": "contains", "value": "An"}]}}]})
    ));
    assert!(reads(
        json!({"field": "attr.shoe_size", "op": "eq", "value": "38"})
    ));
    assert!(!reads(
        json!({"all": [{"field": "country", "op": "eq", "value": "BR"},
        {"field": "order_count", "op": "gte", "value": 2},
        {"field": "email_domain", "op": "eq", "value": "example.com"}]})
    ));
}

/// Answers worked out by hand for operator arms of the lowered plan. The property test cannot
/// check these (both backends run the same plan), so a dropped arm would go unseen.
#[test]
fn lowered_operators_give_the_answers_worked_out_by_hand() {
    let (a, b) = (ana(), bare());
    // `gte` and `lte` on a number column: Ana has 3 orders.
    assert!(on(&a, cond("order_count", "gte", json!(3))));
    assert!(!on(&a, cond("order_count", "gte", json!(4))));
    assert!(on(&a, cond("order_count", "lte", json!(3))));
    assert!(!on(&a, cond("order_count", "lte", json!(2))));
    // `between` is inclusive at both ends: Ana spent 300.00.
    assert!(on(
        &a,
        cond("total_spent", "between", json!(["100.00", "300.00"]))
    ));
    assert!(!on(
        &a,
        cond("total_spent", "between", json!(["300.01", "400.00"]))
    ));
    // `exists` on a column, on the age, on an attribute and on what was bought.
    for (field, present) in [
        ("city", "exists"),
        ("age", "exists"),
        ("bought_category", "exists"),
    ] {
        assert!(on(&a, cond(field, present, json!(true))), "{field} exists");
        assert!(
            !on(&a, cond(field, present, json!(false))),
            "{field} missing"
        );
        assert!(
            !on(&b, cond(field, present, json!(true))),
            "bare {field} exists"
        );
        assert!(
            on(&b, cond(field, present, json!(false))),
            "bare {field} missing"
        );
    }
    assert!(on(&a, cond("attr.plan", "exists", json!(true))));
    assert!(!on(&a, cond("attr.gone", "exists", json!(true))));
    assert!(!on(&b, cond("attr.plan", "exists", json!(true))));
    // `neq` a flag and `not_in` a list hold only where the attribute is there and differs.
    assert!(!on(&a, cond("attr.vip", "neq", json!(true))));
    assert!(on(&a, cond("attr.vip", "neq", json!(false))));
    assert!(!on(&b, cond("attr.vip", "neq", json!(true))));
    assert!(!on(
        &a,
        cond("attr.plan", "not_in", json!(["gold", "silver"]))
    ));
    assert!(on(&a, cond("attr.plan", "not_in", json!(["silver"]))));
    assert!(!on(&b, cond("attr.plan", "not_in", json!(["silver"]))));
}
