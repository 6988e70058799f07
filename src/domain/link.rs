//! Signed, stateless links that marketing and survey emails carry: the preference center and
//! one-click unsubscribe. Nothing is stored per link; what bounds a link is inside its signature.
//!
//! A token is `<contact id>.<purpose>.<key id>.<issued at>.<epoch>.<signature>`:
//! - the **purpose** decides what the holder can do (see [`LinkPurpose`]); a link for one purpose
//!   never verifies for another;
//! - the **key id** names the link key it was signed with ([`Keyring`]), so link keys rotate and
//!   retire without touching email hashes;
//! - **issued at** (Unix seconds) makes it expire: preferences after 90 days, unsubscribe after
//!   400 days (old emails keep working for over a year);
//! - the **epoch** is the contact's `link_epoch` when it was issued; moving the epoch on revokes
//!   every link of that contact (the caller compares it with the stored one).
//!
//! Unsubscribe links minted before key ids existed (`<id>.u.<signature>`, signed with the root
//! secret) still verify as key id `0` and epoch 0, so unsubscribing from an old email keeps
//! working; they are revoked by the first epoch move and retired with `LINK_KEYS_RETIRED=0`.
//! Legacy preference links are refused: they opened a full account and never expired.

use chrono::{DateTime, Duration, Utc};

use crate::domain::keyring::{valid_key_id, Keyring, LEGACY_LINK_KEY_ID};
use crate::domain::secret::secrets_equal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Opens a preferences-only session: purposes and their state, the email masked.
    Preferences,
    /// Withdraws `marketing_email`, nothing else.
    UnsubscribeMarketing,
    /// Withdraws `satisfaction_surveys`, nothing else.
    UnsubscribeSurveys,
}

impl LinkPurpose {
    fn code(self) -> &'static str {
        match self {
            LinkPurpose::Preferences => "p",
            LinkPurpose::UnsubscribeMarketing => "u",
            LinkPurpose::UnsubscribeSurveys => "s",
        }
    }

    fn from_code(code: &str) -> Option<LinkPurpose> {
        [
            LinkPurpose::Preferences,
            LinkPurpose::UnsubscribeMarketing,
            LinkPurpose::UnsubscribeSurveys,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }

    /// How long a link stays good after it was issued.
    pub fn lifetime(self) -> Duration {
        match self {
            LinkPurpose::Preferences => Duration::days(90),
            LinkPurpose::UnsubscribeMarketing | LinkPurpose::UnsubscribeSurveys => {
                Duration::days(400)
            }
        }
    }

    /// The consent purpose an unsubscribe link withdraws.
    pub fn withdraws(self) -> Option<&'static str> {
        match self {
            LinkPurpose::Preferences => None,
            LinkPurpose::UnsubscribeMarketing => Some("marketing_email"),
            LinkPurpose::UnsubscribeSurveys => Some("satisfaction_surveys"),
        }
    }
}

/// A genuine, unexpired link: whom it is for and under which epoch it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLink {
    pub contact_id: String,
    pub purpose: LinkPurpose,
    pub epoch: i64,
}

/// Clock skew tolerated for an issue time in the future.
const SKEW_SECS: i64 = 300;

fn message(purpose: LinkPurpose, contact_id: &str, issued: i64, epoch: i64) -> String {
    format!("link:v2:{}:{contact_id}:{issued}:{epoch}", purpose.code())
}

pub fn sign(
    keys: &Keyring,
    contact_id: &str,
    purpose: LinkPurpose,
    epoch: i64,
    now: DateTime<Utc>,
) -> String {
    let kid = keys.current_link_key_id();
    let issued = now.timestamp();
    // The current key is never retired (the keyring refuses that setting), so this is `Some`.
    let mac = keys
        .link_mac(kid, &message(purpose, contact_id, issued, epoch))
        .unwrap_or_default();
    // 128 bits of the HMAC keep URLs short and are far beyond guessing.
    format!(
        "{contact_id}.{}.{kid}.{issued}.{epoch}.{}",
        purpose.code(),
        &mac[..32.min(mac.len())]
    )
}

fn id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// A canonical decimal (no sign, no leading zero), so each link has exactly one spelling.
fn number(s: &str) -> Option<i64> {
    let canonical = s == "0" || !s.starts_with('0');
    (!s.is_empty() && s.len() <= 12 && canonical && s.chars().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The link's contact and epoch, if `token` is genuine, meant for `purpose`, signed under a key
/// that is not retired, and not expired at `now`. The caller still compares the epoch.
pub fn verify(
    keys: &Keyring,
    token: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Option<VerifiedLink> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    match parts.as_slice() {
        [id, code, kid, issued, epoch, sig] => {
            let (issued, epoch) = (number(issued)?, number(epoch)?);
            if !id_ok(id)
                || LinkPurpose::from_code(code)? != purpose
                || !valid_key_id(kid)
                || *kid == LEGACY_LINK_KEY_ID
                || sig.len() != 32
            {
                return None;
            }
            let age = now.timestamp() - issued;
            if age < -SKEW_SECS || age > purpose.lifetime().num_seconds() {
                return None;
            }
            let mac = keys.link_mac(kid, &message(purpose, id, issued, epoch))?;
            secrets_equal(sig, &mac[..32]).then(|| VerifiedLink {
                contact_id: id.to_string(),
                purpose,
                epoch,
            })
        }
        [id, "u", sig] if purpose == LinkPurpose::UnsubscribeMarketing && id_ok(id) => {
            let mac = keys.link_mac(LEGACY_LINK_KEY_ID, &format!("link:u:{id}"))?;
            secrets_equal(sig, &mac[..32]).then(|| VerifiedLink {
                contact_id: id.to_string(),
                purpose,
                epoch: 0,
            })
        }
        _ => None,
    }
}

/// Whether a raw token looks like a signed link rather than a random single-use token.
pub fn is_signed_link_shaped(token: &str) -> bool {
    token.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret::hmac_hex;
    use proptest::prelude::*;

    const ROOT: &str = "0123456789abcdef0123456789abcdef";
    const ID: &str = "01970000-0000-7000-8000-000000000001";

    fn keys() -> Keyring {
        Keyring::new(ROOT, "1", "").unwrap()
    }

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0).unwrap()
    }

    #[test]
    fn signed_links_verify_for_their_purpose_only() {
        let t = sign(&keys(), ID, LinkPurpose::UnsubscribeMarketing, 3, at(0));
        let v = verify(&keys(), &t, LinkPurpose::UnsubscribeMarketing, at(1)).unwrap();
        assert_eq!((v.contact_id.as_str(), v.epoch), (ID, 3));
        assert_eq!(verify(&keys(), &t, LinkPurpose::Preferences, at(1)), None);
        assert_eq!(
            verify(&keys(), &t, LinkPurpose::UnsubscribeSurveys, at(1)),
            None
        );
        let other = Keyring::new("another-root-secret-of-32-chars!", "1", "").unwrap();
        assert_eq!(
            verify(&other, &t, LinkPurpose::UnsubscribeMarketing, at(1)),
            None
        );
    }

    #[test]
    fn a_preferences_link_expires_after_90_days_and_unsubscribe_after_a_year() {
        let p = sign(&keys(), ID, LinkPurpose::Preferences, 0, at(0));
        assert!(verify(&keys(), &p, LinkPurpose::Preferences, at(89)).is_some());
        assert!(verify(&keys(), &p, LinkPurpose::Preferences, at(91)).is_none());
        let u = sign(&keys(), ID, LinkPurpose::UnsubscribeMarketing, 0, at(0));
        assert!(verify(&keys(), &u, LinkPurpose::UnsubscribeMarketing, at(366)).is_some());
        assert!(verify(&keys(), &u, LinkPurpose::UnsubscribeMarketing, at(401)).is_none());
        // Issued "tomorrow" is a forgery or a broken clock, not a long-lived link.
        let future = sign(&keys(), ID, LinkPurpose::Preferences, 0, at(1));
        assert!(verify(&keys(), &future, LinkPurpose::Preferences, at(0)).is_none());
    }

    #[test]
    fn tampering_with_any_part_fails() {
        let t = sign(&keys(), ID, LinkPurpose::Preferences, 2, at(0));
        let parts: Vec<&str> = t.split('.').collect();
        for (i, replacement) in [
            "01970000-0000-7000-8000-000000000002",
            "u",
            "2",
            "1800000001",
            "3",
            "00000000000000000000000000000000",
        ]
        .iter()
        .enumerate()
        {
            let mut forged = parts.clone();
            forged[i] = replacement;
            let forged = forged.join(".");
            assert_eq!(
                verify(&keys(), &forged, LinkPurpose::Preferences, at(1)),
                None,
                "part {i} replaced"
            );
        }
    }

    #[test]
    fn old_key_ids_verify_until_retired() {
        let t = sign(&keys(), ID, LinkPurpose::UnsubscribeMarketing, 0, at(0));
        let rotated = Keyring::new(ROOT, "2", "").unwrap();
        assert!(verify(&rotated, &t, LinkPurpose::UnsubscribeMarketing, at(1)).is_some());
        assert!(sign(&rotated, ID, LinkPurpose::Preferences, 0, at(0)).contains(".p.2."));
        let retired = Keyring::new(ROOT, "2", "1").unwrap();
        assert!(verify(&retired, &t, LinkPurpose::UnsubscribeMarketing, at(1)).is_none());
    }

    #[test]
    fn legacy_unsubscribe_links_still_work_but_legacy_preference_links_do_not() {
        let sig = |code: &str| hmac_hex(ROOT, &format!("link:{code}:{ID}"))[..32].to_string();
        let old_unsubscribe = format!("{ID}.u.{}", sig("u"));
        let v = verify(
            &keys(),
            &old_unsubscribe,
            LinkPurpose::UnsubscribeMarketing,
            at(0),
        )
        .unwrap();
        assert_eq!(v.epoch, 0);
        let old_preferences = format!("{ID}.p.{}", sig("p"));
        assert_eq!(
            verify(&keys(), &old_preferences, LinkPurpose::Preferences, at(0)),
            None
        );
        let retired = Keyring::new(ROOT, "1", "0").unwrap();
        assert_eq!(
            verify(
                &retired,
                &old_unsubscribe,
                LinkPurpose::UnsubscribeMarketing,
                at(0)
            ),
            None
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_verifies(s in "\\PC{0,160}") {
            for purpose in [LinkPurpose::Preferences, LinkPurpose::UnsubscribeMarketing] {
                prop_assert_eq!(verify(&keys(), &s, purpose, at(0)), None);
            }
        }

        #[test]
        fn every_signed_link_verifies(epoch in 0i64..1_000_000, day in 0i64..89) {
            let t = sign(&keys(), ID, LinkPurpose::Preferences, epoch, at(0));
            let v = verify(&keys(), &t, LinkPurpose::Preferences, at(day));
            prop_assert_eq!(v.map(|v| v.epoch), Some(epoch));
        }
    }
}
