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

    /// The address as it is hashed: the domain in its ASCII (punycode) form, so `josé.example`
    /// and `xn--jos-dma.example` are one person. ASCII domains are unchanged.
    fn hash_form(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        if domain.is_ascii() {
            return self.0.clone();
        }
        match idna::domain_to_ascii(domain) {
            Ok(ascii) if !ascii.is_empty() => format!("{local}@{ascii}"),
            _ => self.0.clone(),
        }
    }

    /// The keyed hash stored in `contacts.email_hash` and `suppressions` for new rows.
    pub fn keyed_hash(&self, email_key: &str) -> String {
        hmac_hex(email_key, &self.hash_form())
    }

    /// Every hash this address may be stored under: the current one, and for an IDN domain the
    /// one earlier releases stored (of the Unicode form). Look-ups and suppression checks try
    /// both, so nobody erased before the change slips back in.
    pub fn keyed_hashes(&self, email_key: &str) -> EmailHashes {
        let current = self.keyed_hash(email_key);
        let unicode = hmac_hex(email_key, &self.0);
        EmailHashes {
            legacy: (unicode != current).then_some(unicode),
            current,
        }
    }

    /// The address as a preferences-only session may show it: `p***@example.com`. Enough for
    /// its owner to recognise, too little for whoever holds a forwarded link to learn it.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }

    /// The mailbox behind the address, for caps that spellings must not dodge: `+tag` dropped,
    /// and for gmail.com (and googlemail.com, the same mailboxes) dots in the local part too.
    pub fn mailbox(&self) -> String {
        // From the hashed form, so a Unicode spelling of a domain (`ｇmail.com`) folds too.
        let hashed = self.hash_form();
        let (local, domain) = hashed.rsplit_once('@').unwrap_or((&hashed, ""));
        let local = local.split('+').next().unwrap_or(local);
        match domain {
            "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
            _ => format!("{local}@{domain}"),
        }
    }

    /// Keyed hash of [`Self::mailbox`], stored with outbox messages whose count is capped.
    pub fn mailbox_hash(&self, email_key: &str) -> String {
        hmac_hex(email_key, &format!("mailbox:{}", self.mailbox()))
    }
}

/// The hashes one address may be stored under (see [`EmailAddress::keyed_hashes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailHashes {
    pub current: String,
    pub legacy: Option<String>,
}

impl EmailHashes {
    pub fn all(&self) -> Vec<&str> {
        std::iter::once(self.current.as_str())
            .chain(self.legacy.as_deref())
            .collect()
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

    /// 254 bytes is the longest address stored (RFC 5321's path limit less the brackets).
    #[test]
    fn an_address_of_exactly_254_bytes_is_accepted_and_255_refused() {
        let domain = |d: usize| {
            format!(
                "{}.{}.{}.com",
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(d)
            )
        };
        let longest = format!("{}@{}", "a".repeat(64), domain(57));
        assert_eq!(longest.len(), 254);
        assert_eq!(EmailAddress::parse(&longest).unwrap().as_str(), longest);
        let too_long = format!("{}@{}", "a".repeat(64), domain(58));
        assert_eq!(EmailAddress::parse(&too_long), Err(EmailError::TooLong));
    }

    /// Look-ups and suppression checks try every hash an address may be stored under.
    #[test]
    fn every_stored_hash_of_an_address_is_listed() {
        let plain = EmailAddress::parse("ana@example.com").unwrap();
        let h = plain.keyed_hashes("k");
        assert_eq!(h.all(), vec![hmac_hex("k", "ana@example.com").as_str()]);
        let idn = EmailAddress::parse("ana@josé.example")
            .unwrap()
            .keyed_hashes("k");
        assert_eq!(
            idn.all(),
            vec![
                hmac_hex("k", "ana@xn--jos-dma.example").as_str(),
                hmac_hex("k", "ana@josé.example").as_str()
            ]
        );
    }

    #[test]
    fn an_address_displays_as_its_normalised_form() {
        let e = EmailAddress::parse(" Ana@Example.COM").unwrap();
        assert_eq!(e.to_string(), "ana@example.com");
        assert_eq!(format!("<{e}>"), "<ana@example.com>");
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

    #[test]
    fn idn_domains_hash_as_punycode_and_remember_the_old_hash() {
        let unicode = EmailAddress::parse("ana@josé.example").unwrap();
        let ascii = EmailAddress::parse("ana@xn--jos-dma.example").unwrap();
        assert_eq!(unicode.keyed_hash("k"), ascii.keyed_hash("k"));
        let hashes = unicode.keyed_hashes("k");
        assert_eq!(hashes.legacy, Some(hmac_hex("k", "ana@josé.example")));
        assert_eq!(ascii.keyed_hashes("k").legacy, None);
        // ASCII addresses hash exactly as they always did.
        let plain = EmailAddress::parse("ana@example.com").unwrap();
        assert_eq!(plain.keyed_hash("k"), hmac_hex("k", "ana@example.com"));
    }

    #[test]
    fn masking_keeps_the_first_letter_and_the_domain() {
        let e = EmailAddress::parse("paula.souza@example.com").unwrap();
        assert_eq!(e.masked(), "p***@example.com");
        let short = EmailAddress::parse("é@example.com").unwrap();
        assert_eq!(short.masked(), "é***@example.com");
    }

    #[test]
    fn mailboxes_fold_tags_and_gmail_dots() {
        let m = |s: &str| EmailAddress::parse(s).unwrap().mailbox();
        assert_eq!(m("Ana+news@Example.com"), "ana@example.com");
        assert_eq!(m("a.n.a+x@googlemail.com"), "ana@gmail.com");
        assert_eq!(m("a.n.a@gmail.com"), "ana@gmail.com");
        assert_eq!(m("a.n.a@example.com"), "a.n.a@example.com");
        // Full-width letters are another spelling of the same domain (IDNA maps them).
        assert_eq!(m("a.n.a+z@ｇmail.com"), "ana@gmail.com");
        assert_ne!(
            EmailAddress::parse("ana+1@example.com")
                .unwrap()
                .mailbox_hash("k"),
            EmailAddress::parse("bob+1@example.com")
                .unwrap()
                .mailbox_hash("k")
        );
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
