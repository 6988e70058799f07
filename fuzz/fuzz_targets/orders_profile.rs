//! Fuzzes the remaining parsers of outside input, one per first byte: order batches
//! (`parse_orders`) and amounts (`Money::parse`), self-service profile changes
//! (`ProfilePatch::parse`), RFC 3339 times, API key scopes, export columns, `Accept-Language`,
//! consent purposes and import content types.
#![no_main]

use chrono::{DateTime, NaiveDate, Utc};
use clientela::domain::consent::Purpose;
use clientela::domain::contact::ProfilePatch;
use clientela::domain::export::parse_columns;
use clientela::domain::i18n::Locale;
use clientela::domain::import::ImportFormat;
use clientela::domain::order::{parse_orders, Money};
use clientela::domain::scope::ScopeSet;
use clientela::domain::time;
use clientela::http::body::decode_json;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_779_000_000, 0).expect("a time")
}

fn orders(body: &[u8]) {
    let Ok(value) = decode_json::<Value>(body) else {
        return;
    };
    let Ok(orders) = parse_orders(&value, now()) else {
        return;
    };
    for order in &orders {
        assert!(Money::from_cents(order.total.cents()).is_some());
        let items: Value = serde_json::from_str(&order.items_json()).expect("items are JSON");
        assert!(items.is_array());
        let placed = time::parse(&order.placed_at).expect("placed_at parses");
        assert!(placed <= now(), "an order in the future");
        assert_eq!(time::format(placed), order.placed_at);
    }
}

fn money(text: &str) {
    if let Ok(m) = Money::parse(text) {
        assert_eq!(Money::parse(&m.to_string()), Ok(m));
        assert_eq!(Money::from_cents(m.cents()), Some(m));
    }
}

fn profile(body: &[u8]) {
    let Ok(map) = decode_json::<Map<String, Value>>(body) else {
        return;
    };
    let today = NaiveDate::from_ymd_opt(2026, 5, 17).expect("a date");
    if let Ok(patch) = ProfilePatch::parse(&map, today) {
        // What was accepted is what `GET /v1/me` shows and a later PATCH sends back.
        let resent: Map<String, Value> = patch
            .0
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().map_or(Value::Null, Value::String)))
            .collect();
        if !resent.is_empty() {
            assert_eq!(ProfilePatch::parse(&resent, today).as_ref(), Ok(&patch));
        }
    }
}

fn rfc3339(text: &str) {
    if let Some(t) = time::parse(text) {
        let stored = time::format(t);
        // D1 compares stored times as text, which needs one fixed width.
        assert_eq!(stored.len(), "2026-01-02T03:04:05.000Z".len(), "{stored}");
        let again = time::parse(&stored).expect("a stored time parses");
        assert_eq!(time::format(again), stored);
    }
}

fn scopes(text: &str) {
    let names: Vec<&str> = text.split(',').collect();
    if let Ok(set) = ScopeSet::parse(&names) {
        let again = ScopeSet::parse(&set.names()).expect("scope names parse");
        assert_eq!(again, set);
    }
}

fn columns(text: &str) {
    if let Ok(columns) = parse_columns(Some(text)) {
        let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
        assert_eq!(parse_columns(Some(&names.join(","))), Ok(columns));
    }
}

fn headers(text: &str) {
    let _ = Locale::from_accept_language(text);
    let _ = Locale::negotiate(None, Some(text));
    let _ = ImportFormat::from_content_type(text);
    if let Ok(p) = Purpose::parse(text) {
        assert_eq!(Purpose::parse(p.as_str()), Ok(p));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => orders(rest),
        1 => profile(rest),
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            match which % 8 {
                2 => money(text),
                3 => rfc3339(text),
                4 => scopes(text),
                5 => columns(text),
                _ => headers(text),
            }
        }
    }
});
