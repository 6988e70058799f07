//! Fuzzes segment rules from the request body on: `parse_rule` over any JSON, then everything
//! downstream of a rule that parsed — its stored JSON, the SQL compiler and the evaluator on a
//! contact. Input: the rule's JSON, then optionally a NUL byte and bytes that make the contact
//! and two clocks (JSON text never holds a raw NUL, so the split is unambiguous).
//!
//! The evaluator is checked against oracles that do not go through its lowering of the whole
//! rule: `all`/`any`/`not` recombined here from each condition evaluated alone; a direct reading
//! of the contact for conditions on text and integer columns, sets and consents, written from
//! the rule language's documentation (`src/domain/segment/mod.rs`); a rule that is not time
//! relative gives the same answer at any clock; and segments the rule does not name do not
//! matter. (The SQL backend is held to the evaluator by the property test on SQLite.)
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Unstructured;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

use clientela::domain::segment::{
    is_member, member_sql, numbered, parse_rule, Audience, Condition, ContactFacts, Field, Op,
    Operand, Scalar, SegmentRule, MAX_PARAMS,
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

/// Mostly small numbers and the round sums rules name, so bounds are met exactly now and then.
fn int(u: &mut Unstructured) -> arbitrary::Result<i64> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary()?,
        1 => [0, 990, 1000, 12990, 100_000][u.choose_index(5)?],
        _ => u.int_in_range(-2..=12)?,
    })
}

fn opt_int(u: &mut Unstructured) -> arbitrary::Result<Option<i64>> {
    Ok(if u.arbitrary()? { Some(int(u)?) } else { None })
}

/// A birth date as forms store it (`YYYY-MM-DD`), or any text.
fn date(u: &mut Unstructured) -> arbitrary::Result<Option<String>> {
    if u.arbitrary()? {
        let (y, m, d) = (
            u.int_in_range(1900..=2100)?,
            u.int_in_range(1..=12)?,
            u.int_in_range(1..=29)?,
        );
        Ok(Some(format!("{y:04}-{m:02}-{d:02}")))
    } else {
        opt_text(u)
    }
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
    let consents = set(u)?;
    let withdrawn: BTreeSet<String> = set(u)?
        .into_iter()
        .filter(|p| !consents.contains(p))
        .collect();
    let frequencies = consents
        .iter()
        .map(|p| (p.clone(), "all".to_string()))
        .collect();
    Ok(ContactFacts {
        id: text(u)?,
        email: text(u)?,
        name: opt_text(u)?,
        locale: opt_text(u)?,
        country: opt_text(u)?,
        city: opt_text(u)?,
        birth_date: date(u)?,
        gender: opt_text(u)?,
        status: text(u)?,
        source: text(u)?,
        created_at: time(u)?.unwrap_or_default(),
        confirmed_at: time(u)?,
        last_activity_at: time(u)?,
        data_confirmed_at: time(u)?,
        order_count: int(u)?,
        total_spent_cents: int(u)?,
        first_order_at: time(u)?,
        last_order_at: time(u)?,
        last_nps: opt_int(u)?,
        nps_category: opt_text(u)?,
        avg_csat: u.arbitrary()?,
        temperature: text(u)?,
        rfm_r: opt_int(u)?,
        rfm_f: opt_int(u)?,
        rfm_m: opt_int(u)?,
        rfm_segment: opt_text(u)?,
        last_response_at: time(u)?,
        attributes,
        consents,
        withdrawn,
        frequencies,
        bought_categories: set(u)?,
        bought_skus: set(u)?,
        segments: set(u)?,
    })
}

/// A column's value as the rule language compares it.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Int(i64),
    Text(String),
}

fn cmp(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        // Byte order, as SQLite's BINARY collation compares UTF-8.
        (V::Text(x), V::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn scalar(s: &Scalar) -> Option<V> {
    match s {
        Scalar::Text(t) => Some(V::Text(t.clone())),
        Scalar::Int(i) | Scalar::Cents(i) => Some(V::Int(*i)),
        _ => None,
    }
}

/// The value of a text or integer column (`Some(None)`: absent), or `None` for a field this
/// oracle does not model (times, ages, reals, attributes).
fn column(field: &Field, f: &ContactFacts) -> Option<Option<V>> {
    let text = |s: &Option<String>| s.clone().map(V::Text);
    Some(match field {
        Field::Email => Some(V::Text(f.email.clone())),
        // Everything after the first `@`, or the whole address without one.
        Field::EmailDomain => Some(V::Text(
            f.email
                .split_once('@')
                .map_or(f.email.as_str(), |(_, d)| d)
                .to_string(),
        )),
        Field::Name => text(&f.name),
        Field::Locale => text(&f.locale),
        Field::Country => text(&f.country),
        Field::City => text(&f.city),
        Field::Gender => text(&f.gender),
        Field::Source => Some(V::Text(f.source.clone())),
        Field::Status => Some(V::Text(f.status.clone())),
        Field::Temperature => Some(V::Text(f.temperature.clone())),
        Field::NpsCategory => text(&f.nps_category),
        Field::RfmSegment => text(&f.rfm_segment),
        Field::OrderCount => Some(V::Int(f.order_count)),
        Field::TotalSpent => Some(V::Int(f.total_spent_cents)),
        Field::LastNps => f.last_nps.map(V::Int),
        Field::RfmR => f.rfm_r.map(V::Int),
        Field::RfmF => f.rfm_f.map(V::Int),
        Field::RfmM => f.rfm_m.map(V::Int),
        _ => return None,
    })
}

/// What one condition means for this contact, read straight from the facts; `None` where this
/// oracle has no opinion.
fn reference(c: &Condition, f: &ContactFacts) -> Option<bool> {
    let set = match c.field() {
        Field::Consent(purpose) => {
            // Allowed by the purpose's basis: opt-in needs a grant, legitimate interest only
            // the absence of an objection.
            let granted = f.allows(purpose);
            return match (c.op(), c.value()) {
                (Op::Eq, Operand::One(Scalar::Bool(b))) => Some(granted == *b),
                (Op::Neq, Operand::One(Scalar::Bool(b))) => Some(granted != *b),
                _ => None,
            };
        }
        Field::BoughtCategory => Some(&f.bought_categories),
        Field::BoughtSku => Some(&f.bought_skus),
        Field::Segment => Some(&f.segments),
        _ => None,
    };
    if let Some(set) = set {
        // Sets are never missing: `neq` / `not_in` mean "none of them".
        let has = |s: &Scalar| match s {
            Scalar::Text(t) => Some(set.contains(t)),
            _ => None,
        };
        return match (c.op(), c.value()) {
            (Op::Eq, Operand::One(s)) => has(s),
            (Op::Neq, Operand::One(s)) => has(s).map(|h| !h),
            (Op::In, Operand::List(items)) => {
                let hits: Option<Vec<bool>> = items.iter().map(has).collect();
                hits.map(|h| h.contains(&true))
            }
            (Op::NotIn, Operand::List(items)) => {
                let hits: Option<Vec<bool>> = items.iter().map(has).collect();
                hits.map(|h| !h.contains(&true))
            }
            _ => None,
        };
    }
    let value = column(c.field(), f)?;
    if let (Op::Exists, Operand::Flag(wanted)) = (c.op(), c.value()) {
        return Some(value.is_some() == *wanted);
    }
    // A missing value passes no test, `neq` and `not_in` included.
    let Some(v) = value else {
        return Some(false);
    };
    let with = |s: &Scalar| cmp(&v, &scalar(s)?);
    let all = |items: &[Scalar]| -> Option<Vec<Ordering>> { items.iter().map(with).collect() };
    match (c.op(), c.value()) {
        (Op::Eq, Operand::One(s)) => with(s).map(Ordering::is_eq),
        (Op::Neq, Operand::One(s)) => with(s).map(Ordering::is_ne),
        (Op::Gt, Operand::One(s)) => with(s).map(Ordering::is_gt),
        (Op::Gte, Operand::One(s)) => with(s).map(Ordering::is_ge),
        (Op::Lt, Operand::One(s)) => with(s).map(Ordering::is_lt),
        (Op::Lte, Operand::One(s)) => with(s).map(Ordering::is_le),
        (Op::Between, Operand::Range(lo, hi)) => Some(with(lo)?.is_ge() && with(hi)?.is_le()),
        (Op::In, Operand::List(items)) => all(items).map(|o| o.iter().any(|o| o.is_eq())),
        (Op::NotIn, Operand::List(items)) => all(items).map(|o| !o.iter().any(|o| o.is_eq())),
        (Op::Contains, Operand::One(Scalar::Text(t))) => match &v {
            V::Text(s) => Some(s.contains(t.as_str())),
            V::Int(_) => None,
        },
        (Op::StartsWith, Operand::One(Scalar::Text(t))) => match &v {
            V::Text(s) => Some(s.starts_with(t.as_str())),
            V::Int(_) => None,
        },
        _ => None,
    }
}

/// The rule's boolean structure evaluated here, each condition compiled and run on its own:
/// checked against [`reference`] where that has an answer, and, unless the condition is time
/// relative (the daily cron re-evaluates only those), the same at the `later` clock.
fn recombined(
    rule: &SegmentRule,
    facts: &ContactFacts,
    now: DateTime<Utc>,
    later: DateTime<Utc>,
) -> bool {
    let each = |r: &SegmentRule| recombined(r, facts, now, later);
    match rule {
        SegmentRule::All(items) => items.iter().all(each),
        SegmentRule::Any(items) => items.iter().any(each),
        SegmentRule::Not(inner) => !each(inner),
        SegmentRule::Condition(c) => {
            let holds = rule.eval(facts, now);
            if let Some(expected) = reference(c, facts) {
                assert_eq!(holds, expected, "condition {}", rule.to_json());
            }
            if !rule.is_time_relative() {
                let then = rule.eval(facts, later);
                assert_eq!(then, holds, "{} at {now} and {later}", rule.to_json());
            }
            holds
        }
    }
}

fn check(rule: &SegmentRule, facts: &ContactFacts, now: DateTime<Utc>, later: DateTime<Utc>) {
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
    let audience = Audience::of(rule, "marketing_email", &BTreeSet::new());
    let (member, member_params) = member_sql(rule, &audience, now);
    assert_eq!(member.matches('?').count(), member_params.len());

    let holds = rule.compile(now).eval(facts);
    assert_eq!(recombined(rule, facts, now, later), holds, "rule {stored}");
    let negated = SegmentRule::Not(Box::new(rule.clone()));
    assert_eq!(negated.eval(facts, now), !holds, "not of {stored}");
    assert_eq!(
        is_member(rule, &audience, facts, now),
        facts.status == "active"
            && facts.consents.contains("marketing_email")
            && holds
            && !(audience.profiling && facts.withdrawn.contains("profiling"))
    );
    // The daily cron re-evaluates only time-relative segments: any other rule must give the
    // same answer tomorrow, or in a century.
    if !rule.is_time_relative() {
        assert_eq!(
            rule.eval(facts, later),
            holds,
            "{stored} at {now} and {later}"
        );
    }
    // Membership of segments the rule does not name cannot matter.
    let named = rule.referenced_segments();
    let mut fewer = facts.clone();
    fewer.segments.retain(|s| named.contains(s));
    assert_eq!(
        rule.eval(&fewer, now),
        holds,
        "{stored} reads unnamed segments"
    );
    let _ = rule.conditions();
}

/// Any clock a Worker could have, from 1900 to 2200.
fn clock(u: &mut Unstructured) -> DateTime<Utc> {
    let secs = u
        .int_in_range(-2_208_988_800i64..=7_258_118_400)
        .unwrap_or(1_780_000_000);
    DateTime::<Utc>::from_timestamp(secs, u.int_in_range(0..=999_999_999).unwrap_or(0))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
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
    let now = clock(&mut u);
    let later = clock(&mut u);
    check(&rule, &facts, now, later);
});
