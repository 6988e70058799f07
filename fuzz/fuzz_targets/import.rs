//! Fuzzes contact imports (`POST /admin/v1/contacts/import`): `parse_import` over arbitrary
//! bytes as CSV or NDJSON (the first byte picks), checking the promises its module documents.
#![no_main]

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use clientela::domain::import::{parse_import, ImportFormat, MAX_ROWS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let format = if mode & 1 == 0 {
        ImportFormat::Csv
    } else {
        ImportFormat::Ndjson
    };
    let today = NaiveDate::from_ymd_opt(2026, 5, 17).expect("a date");
    let now = DateTime::<Utc>::from_timestamp(1_779_000_000, 0).expect("a time");
    let Ok((rows, rejected)) = parse_import(format, body, today, now) else {
        return;
    };
    assert!(rows.len() + rejected.len() <= MAX_ROWS);
    // Each row ends up once, as a row or as a rejection.
    let mut lines = BTreeSet::new();
    for line in rows
        .iter()
        .map(|r| r.line)
        .chain(rejected.iter().map(|r| r.line))
    {
        assert!(line >= 1);
        assert!(lines.insert(line), "line {line} reported twice");
    }
    let mut emails = BTreeSet::new();
    for row in &rows {
        assert!(
            emails.insert(row.email.as_str()),
            "a duplicate email was kept"
        );
        assert_eq!(row.consent_basis.is_some(), !row.consents.is_empty());
        if row.consents.is_empty() {
            assert!(row.consented_at.is_none() && row.policy_version.is_none());
        }
        assert!(
            row.consents.windows(2).all(|w| w[0] < w[1]),
            "consents unsorted"
        );
        for key in row.attributes.keys() {
            assert!(!key.starts_with("attr."));
        }
    }
    for rejection in &rejected {
        assert!(!rejection.reason.is_empty());
    }
});
