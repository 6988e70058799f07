//! Fuzzes segment rules from the request body on: `parse_rule` over any JSON, then everything
//! downstream of a rule that parsed — its stored JSON, the SQL compiler and the evaluator on a
//! contact. Input: the rule's JSON, then optionally a NUL byte and bytes that make the contact
//! and the clock (JSON text never holds a raw NUL, so the split is unambiguous).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Unstructured;
use chrono::{DateTime, Utc};
use clientela::domain::segment::{
    is_member, member_sql, numbered, parse_rule, ContactFacts, SegmentRule, MAX_PARAMS,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Texts and keys drawn from what rules name, so conditions match now and then.
const WORDS: [&str; 12] = [
    "BR",
    "pt-BR",
    "ana@example.com",
    "example.com",
    "shoes",
    "sku-1",
    "seg_a",
    "active",
    "marketing_email",
    "hot",
    "2026-01-01",
    "vip",
];

fn text(u: &mut Unstructured) -> arbitrary::Result<String> {
    if u.arbitrary()? {
        Ok(WORDS[u.choose_index(WORDS.len())?].to_string())
    } else {
        u.arbitrary()
    }
}

fn opt_text(u: &mut Unstructured) -> arbitrary::Result<Option<String>> {
    if u.arbitrary()? {
        text(u).map(Some)
    } else {
        Ok(None)
    }
}

/// An RFC 3339 time near the clock, as the store writes them, or something odd.
fn time(u: &mut Unstructured) -> arbitrary::Result<Option<String>> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => None,
        1 => Some(u.arbitrary()?),
        _ => {
            let secs = u.int_in_range(-4_000_000_000i64..=4_000_000_000)?;
            DateTime::<Utc>::from_timestamp(secs, 0).map(clientela::domain::time::format)
        }
    })
}

fn json_scalar(u: &mut Unstructured) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::Array(vec![Value::String(text(u)?), Value::String(text(u)?)]),
        _ => Value::String(text(u)?),
    })
}

fn set(u: &mut Unstructured) -> arbitrary::Result<BTreeSet<String>> {
    let n = u.int_in_range(0..=3u8)?;
    (0..n).map(|_| text(u)).collect()
}

fn facts(u: &mut Unstructured) -> arbitrary::Result<ContactFacts> {
    let mut attributes = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=3u8)? {
        attributes.insert(text(u)?, json_scalar(u)?);
    }
    Ok(ContactFacts {
        id: text(u)?,
        email: text(u)?,
        name: opt_text(u)?,
        locale: opt_text(u)?,
        country: opt_text(u)?,
        city: opt_text(u)?,
        birth_date: opt_text(u)?,
        gender: opt_text(u)?,
        status: text(u)?,
        source: text(u)?,
        created_at: time(u)?.unwrap_or_default(),
        confirmed_at: time(u)?,
        last_activity_at: time(u)?,
        order_count: u.arbitrary()?,
        total_spent_cents: u.arbitrary()?,
        first_order_at: time(u)?,
        last_order_at: time(u)?,
        last_nps: u.arbitrary()?,
        nps_category: opt_text(u)?,
        avg_csat: u.arbitrary()?,
        temperature: text(u)?,
        rfm_r: u.arbitrary()?,
        rfm_f: u.arbitrary()?,
        rfm_m: u.arbitrary()?,
        rfm_segment: opt_text(u)?,
        last_response_at: time(u)?,
        attributes,
        consents: set(u)?,
        bought_categories: set(u)?,
        bought_skus: set(u)?,
        segments: set(u)?,
    })
}

fn check(rule: &SegmentRule, facts: &ContactFacts, now: DateTime<Utc>) {
    // Stored as `to_json` and parsed again on every rebuild, preview and export.
    let stored = rule.to_json();
    assert_eq!(
        parse_rule(&stored).as_ref(),
        Ok(rule),
        "stored rule: {stored}"
    );
    let via_serde: SegmentRule = serde_json::from_value(stored.clone()).expect("serde reads it");
    assert_eq!(&via_serde, rule);

    let (sql, params) = rule.to_sql(now);
    assert!(params.len() <= MAX_PARAMS, "{} parameters", params.len());
    // Values are bound, never spliced: the only `?` in the text are the placeholders.
    assert_eq!(sql.matches('?').count(), params.len(), "{sql}");
    let _ = numbered(&sql, 2);
    let (member, member_params) = member_sql(rule, "marketing_email", now);
    assert_eq!(member.matches('?').count(), member_params.len());

    let compiled = rule.compile(now);
    let holds = compiled.eval(facts);
    assert_eq!(rule.eval(facts, now), holds);
    let _ = is_member(rule, "marketing_email", facts, now);
    let _ = rule.is_time_relative();
    let _ = rule.referenced_segments();
    let _ = rule.conditions();
}

fuzz_target!(|data: &[u8]| {
    let (rule_bytes, rest) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(value) = serde_json::from_slice::<Value>(rule_bytes) else {
        return;
    };
    let Ok(rule) = parse_rule(&value) else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let facts = facts(&mut u).unwrap_or_default();
    // Any clock a Worker could have, from 1900 to 2200.
    let secs = u
        .int_in_range(-2_208_988_800i64..=7_258_118_400)
        .unwrap_or(1_780_000_000);
    let now = DateTime::<Utc>::from_timestamp(secs, u.int_in_range(0..=999_999_999).unwrap_or(0))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    check(&rule, &facts, now);
});
