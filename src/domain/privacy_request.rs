//! Data-subject requests (GDPR Arts. 12(3), 15–21; LGPD Art. 18): what was asked, through which
//! channel, why staff say so, and by when it must be answered. The register holds the contact id
//! and nothing else about the person.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Months, Utc};

use crate::domain::consent::Basis;

/// What the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Rectification,
    Erasure,
    Objection,
    Withdrawal,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Access,
        Kind::Rectification,
        Kind::Erasure,
        Kind::Objection,
        Kind::Withdrawal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Rectification => "rectification",
            Kind::Erasure => "erasure",
            Kind::Objection => "objection",
            Kind::Withdrawal => "withdrawal",
        }
    }

    pub fn parse(raw: &str) -> Result<Kind, &'static str> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or("one of access, rectification, erasure, objection, withdrawal")
    }

    /// Withdrawing `purpose` is an objection when it rests on legitimate interest (GDPR
    /// Art. 21), a withdrawal of consent otherwise (Art. 7(3)).
    pub fn of_withdrawn(purpose: &str) -> Kind {
        match Basis::of(purpose) {
            Basis::LegitimateInterest => Kind::Objection,
            Basis::Consent => Kind::Withdrawal,
        }
    }
}

/// How the request reached us: by the person themselves, or told to staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The preference center or the self-service API.
    SelfService,
    /// An unsubscribe link, or a mail provider's RFC 8058 one-click post.
    OneClick,
    /// A decision carried by an import.
    Import,
    Offline(OfflineChannel),
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::SelfService => "self_service",
            Channel::OneClick => "one_click",
            Channel::Import => "import",
            Channel::Offline(c) => c.as_str(),
        }
    }
}

/// A channel staff record a request from: never the self-service ones, which record themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineChannel {
    Email,
    Phone,
    Letter,
    InPerson,
}

impl OfflineChannel {
    pub const ALL: [OfflineChannel; 4] = [
        OfflineChannel::Email,
        OfflineChannel::Phone,
        OfflineChannel::Letter,
        OfflineChannel::InPerson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfflineChannel::Email => "email",
            OfflineChannel::Phone => "phone",
            OfflineChannel::Letter => "letter",
            OfflineChannel::InPerson => "in_person",
        }
    }

    pub fn parse(raw: &str) -> Result<OfflineChannel, &'static str> {
        OfflineChannel::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or("one of email, phone, letter, in_person")
    }
}

/// Why staff record a request (a ticket number, "called the shop"). Free text, so the API asks
/// for no personal data in it and refuses an email address; bounded so it cannot become a
/// notes field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Reason, &'static str> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("required: why staff record this request (no personal data)");
        }
        if text.chars().count() > Reason::MAX_CHARS {
            return Err("at most 500 characters");
        }
        if text.chars().any(char::is_control) {
            return Err("one line of text, without control characters");
        }
        // The one piece of personal data a reason is likeliest to carry, and the easiest to
        // tell: the register must never hold an address.
        if text.contains('@') {
            return Err("no personal data: not an email address");
        }
        Ok(Reason(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When a request given offline was received: now, or a moment already past.
pub fn parse_received_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, &'static str> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| "an RFC 3339 date-time, such as 2026-11-30T09:00:00Z")?
        .with_timezone(&Utc);
    if at > now {
        return Err("not in the future");
    }
    Ok(at)
}

/// A request staff took offline, as the admin API receives it: each bad field named.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineRequest {
    pub channel: OfflineChannel,
    pub reason: Reason,
    pub received_at: DateTime<Utc>,
}

impl OfflineRequest {
    /// `reason` and `channel` are required; `received_at` defaults to `now`.
    pub fn parse(
        reason: Option<&str>,
        channel: Option<&str>,
        received_at: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<OfflineRequest, BTreeMap<String, String>> {
        fn check<T>(
            errors: &mut BTreeMap<String, String>,
            field: &str,
            r: Result<T, &str>,
        ) -> Option<T> {
            r.map_err(|e| errors.insert(field.to_string(), e.to_string()))
                .ok()
        }
        let mut errors = BTreeMap::new();
        let reason = check(&mut errors, "reason", Reason::parse(reason.unwrap_or("")));
        let channel = check(
            &mut errors,
            "channel",
            channel.map_or(Err("required: email, phone, letter or in_person"), |c| {
                OfflineChannel::parse(c)
            }),
        );
        let received_at = check(
            &mut errors,
            "received_at",
            received_at.map_or(Ok(now), |r| parse_received_at(r, now)),
        );
        match (reason, channel, received_at) {
            (Some(reason), Some(channel), Some(received_at)) => Ok(OfflineRequest {
                channel,
                reason,
                received_at,
            }),
            _ => Err(errors),
        }
    }
}

/// How long a request may take, from its receipt (`PRIVACY_REQUEST_DEADLINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    Days(u32),
    /// One calendar month (GDPR Art. 12(3)): the same day of the next month, or its last day
    /// when the next month is shorter.
    CalendarMonth,
}

impl Default for Deadline {
    /// LGPD Art. 19 II's 15 days: the stricter of the two laws this product serves.
    fn default() -> Deadline {
        Deadline::Days(15)
    }
}

impl Deadline {
    /// Longest `<N>d` accepted: GDPR's month extended by two more is about 90 days.
    const MAX_DAYS: u32 = 90;

    /// `lgpd` (15 days), `gdpr` (one calendar month) or `<N>d` (1 to 90 days).
    pub fn parse(raw: &str) -> Result<Deadline, &'static str> {
        const EXPECTED: &str = "lgpd, gdpr or a number of days such as 30d (1d to 90d)";
        match raw.trim().to_ascii_lowercase().as_str() {
            "lgpd" => Ok(Deadline::Days(15)),
            "gdpr" => Ok(Deadline::CalendarMonth),
            other => other
                .strip_suffix('d')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| (1..=Deadline::MAX_DAYS).contains(n))
                .map(Deadline::Days)
                .ok_or(EXPECTED),
        }
    }

    /// When a request received at `received_at` must be answered.
    pub fn due(self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Deadline::Days(n) => received_at + Duration::days(i64::from(n)),
            Deadline::CalendarMonth => received_at
                .checked_add_months(Months::new(1))
                .unwrap_or(received_at + Duration::days(28)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn deadlines_parse_from_the_law_or_a_number_of_days() {
        assert_eq!(Deadline::parse("lgpd"), Ok(Deadline::Days(15)));
        assert_eq!(Deadline::parse(" GDPR "), Ok(Deadline::CalendarMonth));
        assert_eq!(Deadline::parse("30d"), Ok(Deadline::Days(30)));
        assert_eq!(Deadline::parse("1d"), Ok(Deadline::Days(1)));
        assert_eq!(Deadline::parse("90d"), Ok(Deadline::Days(90)));
        for bad in [
            "", "0d", "91d", "30", "d", "-5d", "15 days", "month", "1.5d",
        ] {
            assert!(Deadline::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Deadline::default(), Deadline::Days(15));
    }

    #[test]
    fn a_deadline_in_days_counts_whole_days_from_receipt() {
        assert_eq!(
            Deadline::Days(15).due(at("2026-02-20T10:30:00Z")),
            at("2026-03-07T10:30:00Z")
        );
    }

    #[test]
    fn one_month_is_a_calendar_month_ending_on_the_last_day_of_a_shorter_month() {
        let month = Deadline::CalendarMonth;
        assert_eq!(
            month.due(at("2026-01-31T09:00:00Z")),
            at("2026-02-28T09:00:00Z")
        );
        assert_eq!(
            month.due(at("2028-01-31T09:00:00Z")),
            at("2028-02-29T09:00:00Z"),
            "a leap year"
        );
        assert_eq!(
            month.due(at("2026-03-15T09:00:00Z")),
            at("2026-04-15T09:00:00Z")
        );
        assert_eq!(
            month.due(at("2026-12-31T23:59:59Z")),
            at("2027-01-31T23:59:59Z")
        );
    }

    #[test]
    fn a_reason_is_one_bounded_non_blank_line() {
        assert_eq!(
            Reason::parse("  ticket 4411  ").map(|r| r.as_str().to_string()),
            Ok("ticket 4411".into())
        );
        assert!(Reason::parse("").is_err());
        assert!(Reason::parse("   ").is_err());
        assert!(Reason::parse("two\nlines").is_err());
        assert!(Reason::parse("asked by ana@example.com").is_err());
        assert!(Reason::parse(&"x".repeat(500)).is_ok());
        assert!(Reason::parse(&"x".repeat(501)).is_err());
    }

    #[test]
    fn an_offline_request_is_received_now_or_before() {
        let now = at("2026-11-30T12:00:00Z");
        assert_eq!(
            parse_received_at("2026-11-29T08:00:00-03:00", now),
            Ok(at("2026-11-29T11:00:00Z"))
        );
        assert_eq!(parse_received_at("2026-11-30T12:00:00Z", now), Ok(now));
        assert!(parse_received_at("2026-11-30T12:00:01Z", now).is_err());
        assert!(parse_received_at("yesterday", now).is_err());
    }

    #[test]
    fn an_offline_request_names_each_missing_or_bad_field() {
        let now = at("2026-11-30T12:00:00Z");
        let ok = OfflineRequest::parse(Some("ticket 9"), Some("phone"), None, now).unwrap();
        assert_eq!(
            (ok.channel, ok.reason.as_str(), ok.received_at),
            (OfflineChannel::Phone, "ticket 9", now)
        );
        let bad =
            OfflineRequest::parse(Some("  "), None, Some("2099-01-01T00:00:00Z"), now).unwrap_err();
        assert_eq!(
            bad.keys().collect::<Vec<_>>(),
            ["channel", "reason", "received_at"]
        );
        let bad = OfflineRequest::parse(None, Some("one_click"), None, now).unwrap_err();
        assert_eq!(bad.keys().collect::<Vec<_>>(), ["channel", "reason"]);
    }

    #[test]
    fn channels_and_kinds_name_themselves_and_only_offline_channels_parse() {
        for c in OfflineChannel::ALL {
            assert_eq!(OfflineChannel::parse(c.as_str()), Ok(c));
        }
        assert!(OfflineChannel::parse("self_service").is_err());
        assert!(OfflineChannel::parse("one_click").is_err());
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Ok(k));
        }
        assert_eq!(Kind::of_withdrawn("satisfaction_surveys"), Kind::Objection);
        assert_eq!(Kind::of_withdrawn("marketing_email"), Kind::Withdrawal);
    }
}
