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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn notice_hash_changes_with_the_text() {
        assert_ne!(notice_hash("I agree"), notice_hash("I agree."));
        assert_eq!(notice_hash("I agree").len(), 64);
    }
}
