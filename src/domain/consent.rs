//! Consent purposes and the methods by which a decision was recorded (the proof GDPR Art. 7(1)
//! and LGPD Art. 8 §2 ask for).

use std::fmt;

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
/// The purpose segments require when none is named, and the one marketing unsubscribe withdraws.
pub const MARKETING_EMAIL: &str = "marketing_email";

/// The purposes the product itself knows and offers. A person may object to any of these (or
/// to one on their record) at any time; other names are refused rather than recorded.
pub const KNOWN_PURPOSES: [&str; 5] = [
    MARKETING_EMAIL,
    "sms",
    "whatsapp",
    "profiling",
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
            SATISFACTION_SURVEYS => Basis::LegitimateInterest,
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
}

impl ConsentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Form => "form",
            ConsentMethod::DoubleOptIn => "double_opt_in",
            ConsentMethod::SelfService => "self_service",
            ConsentMethod::OneClickUnsubscribe => "one_click_unsubscribe",
            ConsentMethod::Import => "import",
        }
    }
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
        ] {
            assert_eq!(method.as_str(), name);
        }
        assert_eq!(Purpose::parse("sms").unwrap().to_string(), "sms");
    }

    #[test]
    fn notice_hash_changes_with_the_text() {
        assert_ne!(notice_hash("I agree"), notice_hash("I agree."));
        assert_eq!(notice_hash("I agree").len(), 64);
    }
}
