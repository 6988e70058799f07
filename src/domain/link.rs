//! Signed, stateless, long-lived links that every marketing email carries: one-click
//! unsubscribe and the preference center. The token is `<contact id>.<purpose>.<HMAC>`, so
//! nothing needs storing, a forged or re-targeted token fails the signature, and erasing the
//! contact makes every such link point at nothing.

use crate::domain::secret::{hmac_hex, secrets_equal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Unsubscribe,
    Preferences,
}

impl LinkPurpose {
    fn code(self) -> &'static str {
        match self {
            LinkPurpose::Unsubscribe => "u",
            LinkPurpose::Preferences => "p",
        }
    }
}

fn signature(secret: &str, contact_id: &str, purpose: LinkPurpose) -> String {
    // 128 bits of the HMAC keep URLs short and are far beyond guessing.
    hmac_hex(secret, &format!("link:{}:{contact_id}", purpose.code()))[..32].to_string()
}

pub fn sign(secret: &str, contact_id: &str, purpose: LinkPurpose) -> String {
    format!(
        "{contact_id}.{}.{}",
        purpose.code(),
        signature(secret, contact_id, purpose)
    )
}

/// The contact id a token was signed for, if it is genuine and meant for `purpose`.
pub fn verify(secret: &str, token: &str, purpose: LinkPurpose) -> Option<String> {
    let mut parts = token.trim().splitn(3, '.');
    let (id, code, sig) = (parts.next()?, parts.next()?, parts.next()?);
    let id_ok =
        (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !id_ok || code != purpose.code() {
        return None;
    }
    secrets_equal(sig, &signature(secret, id, purpose)).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "01970000-0000-7000-8000-000000000001";

    #[test]
    fn signed_links_verify_for_their_purpose_only() {
        let t = sign("secret", ID, LinkPurpose::Unsubscribe);
        assert_eq!(
            verify("secret", &t, LinkPurpose::Unsubscribe).as_deref(),
            Some(ID)
        );
        assert_eq!(verify("secret", &t, LinkPurpose::Preferences), None);
        assert_eq!(verify("other-secret", &t, LinkPurpose::Unsubscribe), None);
    }

    #[test]
    fn retargeting_a_link_to_another_contact_fails() {
        let t = sign("secret", ID, LinkPurpose::Preferences);
        let forged = t.replacen("0001", "0002", 1);
        assert_eq!(verify("secret", &forged, LinkPurpose::Preferences), None);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_verifies(s in "\\PC{0,120}") {
            prop_assert_eq!(verify("secret", &s, LinkPurpose::Unsubscribe), None);
        }
    }
}
