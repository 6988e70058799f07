//! The consent model: purposes and the basis each rests on, the methods by which a decision
//! was recorded (the proof GDPR Art. 7(1) and LGPD Art. 8 §2 ask for), how often a person
//! wants to hear from us, and the lifecycle of a consent that lapses without engagement.
//!
//! One model for every reader: a purpose's [`Basis`] says what "no record" means; a decision is
//! `granted` or `withdrawn` with a [`ConsentMethod`] (a renewal is `granted` by
//! `re_permission`, a lapse `withdrawn` by `expired`, a Global Privacy Control objection
//! `withdrawn` on `profiling` by `gpc`). Segment rules (`consent.<purpose>`), exports and the
//! preference center all ask [`Basis::allows`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Months, Utc};

use crate::domain::secret::sha256_hex;

/// A processing purpose such as `marketing_email`: lower-case letters, digits and underscores.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Purpose(String);

impl Purpose {
    pub fn parse(input: &str) -> Result<Purpose, &'static str> {
        let ok = (2..=40).contains(&input.len())
            && input.starts_with(|c: char| c.is_ascii_lowercase())
            && input
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Purpose(input.to_string()))
        } else {
            Err("2 to 40 lower-case letters, digits or underscores, starting with a letter")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The purpose survey invitations are sent under.
pub const SATISFACTION_SURVEYS: &str = "satisfaction_surveys";
/// Using behaviour and derived data (orders, scores, RFM, temperature) to place a person in
/// segments. Legitimate interest: on until the person objects (GDPR Art. 21, LGPD Art. 18 §2).
pub const PROFILING: &str = "profiling";
/// The purpose segments require when none is named, and the one marketing unsubscribe withdraws.
pub const MARKETING_EMAIL: &str = "marketing_email";

/// The purposes the product itself knows and offers. A person may object to any of these (or
/// to one on their record) at any time; other names are refused rather than recorded.
pub const KNOWN_PURPOSES: [&str; 5] = [
    MARKETING_EMAIL,
    "sms",
    "whatsapp",
    PROFILING,
    SATISFACTION_SURVEYS,
];

/// On what ground a purpose's processing rests (GDPR Art. 6(1)(a) or (f); LGPD Art. 7 I or IX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Opt-in: no record means not allowed.
    Consent,
    /// Opt-out: no record means allowed; an objection is a `withdrawn` record.
    LegitimateInterest,
}

impl Basis {
    pub fn of(purpose: &str) -> Basis {
        match purpose {
            SATISFACTION_SURVEYS | PROFILING => Basis::LegitimateInterest,
            _ => Basis::Consent,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Consent => "consent",
            Basis::LegitimateInterest => "legitimate_interest",
        }
    }

    /// Whether processing is allowed given the current record (`None`: nothing on record).
    pub fn allows(self, granted: Option<bool>) -> bool {
        match self {
            Basis::Consent => granted == Some(true),
            Basis::LegitimateInterest => granted != Some(false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMethod {
    Form,
    DoubleOptIn,
    SelfService,
    OneClickUnsubscribe,
    Import,
    /// The person pressed "keep me subscribed" in a re-permission email: a `granted` event.
    RePermission,
    /// The consent lapsed after its period without engagement: a `withdrawn` event.
    Expired,
    /// The person's own request carried `Sec-GPC: 1`: a `withdrawn` event on `profiling`.
    Gpc,
}

impl ConsentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Form => "form",
            ConsentMethod::DoubleOptIn => "double_opt_in",
            ConsentMethod::SelfService => "self_service",
            ConsentMethod::OneClickUnsubscribe => "one_click_unsubscribe",
            ConsentMethod::Import => "import",
            ConsentMethod::RePermission => "re_permission",
            ConsentMethod::Expired => "expired",
            ConsentMethod::Gpc => "gpc",
        }
    }
}

/// How often a person wants messages of a purpose that offers a choice. `All` is also what a
/// grant without a choice means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Frequency {
    All,
    Weekly,
    Monthly,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::All, Frequency::Weekly, Frequency::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::All => "all",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
        }
    }

    pub fn parse(input: &str) -> Result<Frequency, &'static str> {
        Frequency::ALL
            .into_iter()
            .find(|f| f.as_str() == input)
            .ok_or("one of all, weekly, monthly")
    }

    /// The frequencies a purpose offers (empty: only yes or no). Only opt-in purposes offer a
    /// choice: a frequency is part of what the person agreed to.
    pub fn offered(purpose: &str) -> &'static [Frequency] {
        match purpose {
            MARKETING_EMAIL => &Frequency::ALL,
            _ => &[],
        }
    }
}

/// How long each opt-in purpose's consent lasts without a sign of engagement (confirmation,
/// order, survey answer, something done in the preference center, a renewal), in months. Purposes not
/// listed never lapse; legitimate-interest purposes have no consent to lapse.
/// `CONSENT_LIFETIMES` overrides it: `marketing_email=24,sms=12` (`0` turns one off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentLifetimes(BTreeMap<String, u32>);

/// The default: marketing email lapses after 24 months without engagement.
pub const DEFAULT_MARKETING_LIFETIME_MONTHS: u32 = 24;
/// The re-permission email goes this long before a consent would lapse, and a consent never
/// lapses sooner than this after the email.
pub const REPERMISSION_NOTICE_DAYS: i64 = 30;

impl Default for ConsentLifetimes {
    fn default() -> ConsentLifetimes {
        ConsentLifetimes(BTreeMap::from([(
            MARKETING_EMAIL.to_string(),
            DEFAULT_MARKETING_LIFETIME_MONTHS,
        )]))
    }
}

impl ConsentLifetimes {
    /// Parses `purpose=months` pairs over the defaults; the error names what is wrong.
    pub fn parse(input: &str) -> Result<ConsentLifetimes, &'static str> {
        let mut lifetimes = ConsentLifetimes::default();
        for pair in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (purpose, months) = pair
                .split_once('=')
                .ok_or("CONSENT_LIFETIMES (purpose=months pairs, comma-separated)")?;
            let purpose = Purpose::parse(purpose.trim())
                .map_err(|_| "CONSENT_LIFETIMES (a purpose name is malformed)")?;
            if Basis::of(purpose.as_str()) != Basis::Consent {
                return Err("CONSENT_LIFETIMES (legitimate-interest purposes do not lapse)");
            }
            let months: u32 = months
                .trim()
                .parse()
                .ok()
                .filter(|m| *m <= 240)
                .ok_or("CONSENT_LIFETIMES (months from 0 to 240)")?;
            if months == 0 {
                lifetimes.0.remove(purpose.as_str());
            } else {
                lifetimes.0.insert(purpose.as_str().to_string(), months);
            }
        }
        Ok(lifetimes)
    }

    /// The lifetime in months of `purpose`'s consent, if it lapses at all.
    pub fn months(&self, purpose: &str) -> Option<u32> {
        self.0.get(purpose).copied()
    }

    /// Every purpose that lapses, with its lifetime.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0.iter().map(|(p, m)| (p.as_str(), *m))
    }
}

/// What the daily lifecycle run does with one granted consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleStep {
    /// Nothing yet.
    Wait,
    /// Send the one re-permission email of this period; the consent lapses at `lapses_at`
    /// unless renewed or the person engages.
    Ask { lapses_at: DateTime<Utc> },
    /// Record the lapse.
    Lapse,
}

/// The step for a consent whose last sign of engagement was `engaged_at`, whose re-permission
/// email of some period went out at `asked_at`, with a lifetime of `months`. An email sent
/// before the last engagement belongs to an earlier period and counts for nothing. A consent
/// never lapses before its email has had [`REPERMISSION_NOTICE_DAYS`] to be read, so a consent
/// imported long after it was given is asked first, not dropped.
pub fn lifecycle_step(
    engaged_at: DateTime<Utc>,
    asked_at: Option<DateTime<Utc>>,
    months: u32,
    now: DateTime<Utc>,
) -> LifecycleStep {
    let nominal = lapses_at(engaged_at, None, months);
    match asked_at.filter(|asked| *asked >= engaged_at) {
        None if now >= nominal - Duration::days(REPERMISSION_NOTICE_DAYS) => LifecycleStep::Ask {
            lapses_at: lapses_at(engaged_at, Some(now), months),
        },
        None => LifecycleStep::Wait,
        Some(asked) if now >= lapses_at(engaged_at, Some(asked), months) => LifecycleStep::Lapse,
        Some(_) => LifecycleStep::Wait,
    }
}

/// The last sign of engagement behind a consent: its own decision, or the person's latest act
/// if that came later.
pub fn engaged_at(decided: DateTime<Utc>, last_activity: Option<DateTime<Utc>>) -> DateTime<Utc> {
    last_activity.map_or(decided, |active| active.max(decided))
}

/// When a consent engaged at `engaged_at` lapses: `months` later, and never sooner than
/// [`REPERMISSION_NOTICE_DAYS`] after this period's re-permission email (`asked_at`; one sent
/// before the engagement belongs to an earlier period). The preference center shows it, and
/// [`lifecycle_step`] acts on it.
pub fn lapses_at(
    engaged_at: DateTime<Utc>,
    asked_at: Option<DateTime<Utc>>,
    months: u32,
) -> DateTime<Utc> {
    let nominal = engaged_at
        .checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    match asked_at.filter(|asked| *asked >= engaged_at) {
        Some(asked) => nominal.max(asked + Duration::days(REPERMISSION_NOTICE_DAYS)),
        None => nominal,
    }
}

/// Whether a request carries the Global Privacy Control signal (`Sec-GPC: 1`).
pub fn gpc_signal(header: Option<&str>) -> bool {
    header.is_some_and(|v| v.trim() == "1")
}

/// Hash of the exact notice text a person saw, so the record proves what they agreed to.
pub fn notice_hash(text: &str) -> String {
    sha256_hex(text)
}

/// What a consent event keeps of the browser: the SHA-256 of its `User-Agent`. It answers
/// "was it this browser?" for a claimed or logged agent string, as the IP hash does for an
/// address, in 64 characters instead of a raw string of up to 256 (about 230 bytes less per
/// confirmed subscriber on a realistic base, BENCHMARKS.md "Scale"), and it says nothing by
/// itself about the device.
pub fn user_agent_hash(user_agent: &str) -> String {
    sha256_hex(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_kept_as_its_sha256() {
        let agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0";
        let kept = user_agent_hash(agent);
        assert_eq!(kept.len(), 64);
        assert!(!kept.contains("Mozilla"));
        assert_eq!(
            kept,
            sha256_hex(agent),
            "a claimed agent can be checked against it"
        );
        assert_ne!(
            kept,
            user_agent_hash("Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0")
        );
    }

    #[test]
    fn purposes() {
        assert!(Purpose::parse("marketing_email").is_ok());
        assert!(Purpose::parse("sms").is_ok());
        for bad in [
            "",
            "x",
            "Marketing",
            "1abc",
            "has space",
            "a-b",
            &"a".repeat(41),
        ] {
            assert!(Purpose::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legitimate_interest_is_opt_out_and_consent_opt_in() {
        assert!(Basis::of(SATISFACTION_SURVEYS).allows(None));
        assert!(!Basis::of(SATISFACTION_SURVEYS).allows(Some(false)));
        assert!(!Basis::of(MARKETING_EMAIL).allows(None));
        assert!(Basis::of(MARKETING_EMAIL).allows(Some(true)));
    }

    /// These names are what consent records store and the API shows as basis and method; a
    /// renamed one would orphan every proof already recorded.
    #[test]
    fn bases_and_methods_keep_their_stored_names() {
        assert_eq!(Basis::Consent.as_str(), "consent");
        assert_eq!(Basis::LegitimateInterest.as_str(), "legitimate_interest");
        for (method, name) in [
            (ConsentMethod::Form, "form"),
            (ConsentMethod::DoubleOptIn, "double_opt_in"),
            (ConsentMethod::SelfService, "self_service"),
            (ConsentMethod::OneClickUnsubscribe, "one_click_unsubscribe"),
            (ConsentMethod::Import, "import"),
            (ConsentMethod::RePermission, "re_permission"),
            (ConsentMethod::Expired, "expired"),
            (ConsentMethod::Gpc, "gpc"),
        ] {
            assert_eq!(method.as_str(), name);
        }
        assert_eq!(Purpose::parse("sms").unwrap().to_string(), "sms");
    }

    fn at(s: &str) -> DateTime<Utc> {
        crate::domain::time::parse(s).unwrap()
    }

    #[test]
    fn profiling_and_surveys_are_legitimate_interest_and_marketing_is_consent() {
        assert_eq!(Basis::of(PROFILING), Basis::LegitimateInterest);
        assert_eq!(Basis::of(SATISFACTION_SURVEYS), Basis::LegitimateInterest);
        assert_eq!(Basis::of(MARKETING_EMAIL), Basis::Consent);
        assert_eq!(Basis::of("sms"), Basis::Consent);
        assert!(
            Basis::of(PROFILING).allows(None),
            "profiling is on until objected to"
        );
    }

    #[test]
    fn a_consent_is_asked_thirty_days_before_it_lapses_and_lapses_only_after_the_notice() {
        let engaged = at("2024-01-10T00:00:00Z");
        // Nothing before the notice window opens.
        assert_eq!(
            lifecycle_step(engaged, None, 24, at("2025-12-10T00:00:00Z")),
            LifecycleStep::Wait
        );
        // 30 days before the 24 months: ask, lapsing at the nominal date.
        assert_eq!(
            lifecycle_step(engaged, None, 24, at("2025-12-11T00:00:00Z")),
            LifecycleStep::Ask {
                lapses_at: at("2026-01-10T00:00:00Z")
            }
        );
        // Asked: nothing until the deadline, then the lapse.
        let asked = Some(at("2025-12-11T00:00:00Z"));
        assert_eq!(
            lifecycle_step(engaged, asked, 24, at("2026-01-09T23:59:59Z")),
            LifecycleStep::Wait
        );
        assert_eq!(
            lifecycle_step(engaged, asked, 24, at("2026-01-10T00:00:00Z")),
            LifecycleStep::Lapse
        );
    }

    #[test]
    fn an_overdue_consent_is_asked_first_and_given_the_full_notice() {
        let engaged = at("2020-01-01T00:00:00Z");
        let now = at("2026-06-01T00:00:00Z");
        assert_eq!(
            lifecycle_step(engaged, None, 24, now),
            LifecycleStep::Ask {
                lapses_at: now + Duration::days(30)
            }
        );
        assert_eq!(
            lifecycle_step(engaged, Some(now), 24, now + Duration::days(29)),
            LifecycleStep::Wait
        );
        assert_eq!(
            lifecycle_step(engaged, Some(now), 24, now + Duration::days(30)),
            LifecycleStep::Lapse
        );
    }

    #[test]
    fn engagement_after_the_email_starts_a_new_period() {
        let asked = at("2025-12-11T00:00:00Z");
        let engaged_again = at("2025-12-20T00:00:00Z"); // an order after the email
        assert_eq!(
            lifecycle_step(engaged_again, Some(asked), 24, at("2026-02-01T00:00:00Z")),
            LifecycleStep::Wait
        );
    }

    #[test]
    fn lifetimes_parse_over_the_defaults_and_refuse_nonsense() {
        let d = ConsentLifetimes::default();
        assert_eq!(d.months(MARKETING_EMAIL), Some(24));
        assert_eq!(d.months("sms"), None);
        let l = ConsentLifetimes::parse("sms=12, marketing_email=0").unwrap();
        assert_eq!(l.months("sms"), Some(12));
        assert_eq!(l.months(MARKETING_EMAIL), None);
        for bad in ["sms", "sms=x", "SMS=1", "profiling=12", "sms=999"] {
            assert!(ConsentLifetimes::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frequencies_are_offered_only_where_there_is_a_choice() {
        assert_eq!(Frequency::offered(MARKETING_EMAIL), &Frequency::ALL);
        assert!(Frequency::offered(PROFILING).is_empty());
        assert_eq!(Frequency::parse("weekly"), Ok(Frequency::Weekly));
        assert!(Frequency::parse("Weekly").is_err());
    }

    #[test]
    fn only_a_gpc_header_of_one_counts() {
        assert!(gpc_signal(Some("1")));
        assert!(gpc_signal(Some(" 1 ")));
        assert!(!gpc_signal(Some("0")));
        assert!(!gpc_signal(None));
    }

    #[test]
    fn notice_hash_changes_with_the_text() {
        assert_ne!(notice_hash("I agree"), notice_hash("I agree."));
        assert_eq!(notice_hash("I agree").len(), 64);
    }
}
