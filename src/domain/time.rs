//! Timestamps as the API and the schema spell them: RFC 3339 UTC with millisecond precision.
//!
//! Fixed width matters: D1 compares these as text, so every stored time must sort lexically.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub fn now_string() -> String {
    format(now())
}

/// Parses an RFC 3339 time with any offset into UTC.
pub fn parse(input: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(input.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fixed_width_utc() {
        let t = parse("2026-01-02T03:04:05+02:00").unwrap();
        assert_eq!(format(t), "2026-01-02T01:04:05.000Z");
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert!(parse("yesterday").is_none());
        assert!(parse("2026-13-01T00:00:00Z").is_none());
    }
}
