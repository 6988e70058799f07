//! Email addresses, parsed once at the edge of a handler (zero2prod's `SubscriberEmail::parse`).
//!
//! Normalization is lower-casing the whole address: every mailbox provider we serve treats
//! local parts case-insensitively, and one person must map to one contact and one hash.

use std::fmt;

use crate::domain::secret::hmac_hex;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why an address was refused. Messages never echo the input (it is PII).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailError {
    Empty,
    TooLong,
    ControlCharacter,
    Malformed,
}

impl EmailError {
    pub fn message(self) -> &'static str {
        match self {
            EmailError::Empty => "an email address is required",
            EmailError::TooLong => "the email address is too long",
            EmailError::ControlCharacter => "the email address contains invalid characters",
            EmailError::Malformed => "not a valid email address",
        }
    }
}

const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";

impl EmailAddress {
    pub fn parse(input: &str) -> Result<EmailAddress, EmailError> {
        if input.chars().any(|c| c.is_control()) {
            return Err(EmailError::ControlCharacter);
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        // The limit applies to what is stored: lower-casing can lengthen a UTF-8 address
        // (`Ⱦ` is 2 bytes, `ⱦ` 3), and a stored address must parse again.
        let lowered = trimmed.to_lowercase();
        if lowered.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = lowered.split_once('@').ok_or(EmailError::Malformed)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(EmailError::Malformed);
        }
        Ok(EmailAddress(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The keyed hash stored in `contacts.email_hash` and `suppressions`.
    pub fn keyed_hash(&self, token_secret: &str) -> String {
        hmac_hex(token_secret, &self.0)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || LOCAL_SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.len() > 253 || labels.len() < 2 {
        return false;
    }
    let labels_ok = labels.iter().all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    let tld = labels.last().copied().unwrap_or("");
    labels_ok && tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalizes_common_addresses() {
        let e = EmailAddress::parse("  Ana.Souza+shop@Example.COM.br ").unwrap();
        assert_eq!(e.as_str(), "ana.souza+shop@example.com.br");
        assert_eq!(e.domain(), "example.com.br");
        assert!(EmailAddress::parse("o'neil@ex-ample.io").is_ok());
        assert!(EmailAddress::parse("иван@пример.рф").is_ok());
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "ana@",
            "ana@localhost",
            "ana@@example.com",
            "ana@exa mple.com",
            "a b@example.com",
            ".ana@example.com",
            "ana.@example.com",
            "an..a@example.com",
            "ana@-example.com",
            "ana@example.c",
            "ana@127.0.0.1",
            "ana@example..com",
            "<ana@example.com>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn header_injection_is_refused() {
        assert_eq!(
            EmailAddress::parse("ana@example.com\r\nBcc: x@evil.test"),
            Err(EmailError::ControlCharacter)
        );
        assert_eq!(
            EmailAddress::parse("ana@example.com\n"),
            Err(EmailError::ControlCharacter)
        );
    }

    #[test]
    fn length_limits() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(EmailAddress::parse(&long_local).is_err());
        let huge = format!("a@{}.com", "b".repeat(300));
        assert_eq!(EmailAddress::parse(&huge), Err(EmailError::TooLong));
    }

    /// Found by the `email` fuzz target: 247 bytes as typed, 367 once lower-cased, so the
    /// stored address failed to parse again.
    #[test]
    fn length_limit_applies_after_lower_casing() {
        let label = "Ⱦ".repeat(20);
        let raw = format!("a@{}", [label.as_str(); 6].join("."));
        assert!(raw.len() <= 254);
        assert_eq!(EmailAddress::parse(&raw), Err(EmailError::TooLong));
    }

    #[test]
    fn keyed_hash_is_stable_per_secret() {
        let a = EmailAddress::parse("Ana@Example.com").unwrap();
        let b = EmailAddress::parse("ana@example.com").unwrap();
        assert_eq!(a.keyed_hash("k1"), b.keyed_hash("k1"));
        assert_ne!(a.keyed_hash("k1"), a.keyed_hash("k2"));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = EmailAddress::parse(&s);
        }

        #[test]
        fn normalized_form_is_a_fixed_point(local in "[a-zA-Z0-9_+-]{1,20}", domain in "[a-zA-Z0-9]{1,15}", tld in "[a-zA-Z]{2,6}") {
            let raw = format!("{local}@{domain}.{tld}");
            let once = EmailAddress::parse(&raw).unwrap();
            let twice = EmailAddress::parse(once.as_str()).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn accepted_addresses_have_no_whitespace_or_controls(s in "[ -~\\r\\n\\t]{0,40}") {
            if let Ok(e) = EmailAddress::parse(&s) {
                prop_assert!(!e.as_str().chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert_eq!(e.as_str().matches('@').count(), 1);
            }
        }
    }
}
