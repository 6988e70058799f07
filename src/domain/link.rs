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
    /// Downloads one finished segment export (the id is the export's, not a contact's); issued
    /// to an API key holding `exports` by `GET /admin/v1/exports/{id}`, good for a day.
    ExportDownload,
}

impl LinkPurpose {
    fn code(self) -> &'static str {
        match self {
            LinkPurpose::Preferences => "p",
            LinkPurpose::UnsubscribeMarketing => "u",
            LinkPurpose::UnsubscribeSurveys => "s",
            LinkPurpose::ExportDownload => "d",
        }
    }

    fn from_code(code: &str) -> Option<LinkPurpose> {
        [
            LinkPurpose::Preferences,
            LinkPurpose::UnsubscribeMarketing,
            LinkPurpose::UnsubscribeSurveys,
            LinkPurpose::ExportDownload,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }

    /// How long a link stays good after it was issued.
    pub fn lifetime(self) -> Duration {
        match self {
            LinkPurpose::Preferences => Duration::days(90),
            LinkPurpose::ExportDownload => Duration::hours(24),
            LinkPurpose::UnsubscribeMarketing | LinkPurpose::UnsubscribeSurveys => {
                Duration::days(400)
            }
        }
    }

    /// The consent purpose an unsubscribe link withdraws.
    pub fn withdraws(self) -> Option<&'static str> {
        match self {
            LinkPurpose::Preferences | LinkPurpose::ExportDownload => None,
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

    /// Key id 0 belongs to the old three-part unsubscribe links only: a new-format token that
    /// names it is refused even when signed with that key (the root secret), so key 0 cannot
    /// mint preference links.
    #[test]
    fn key_id_zero_is_refused_in_new_format_links() {
        let issued = at(0).timestamp();
        let sig = &hmac_hex(ROOT, &format!("link:v2:p:{ID}:{issued}:0"))[..32];
        let token = format!("{ID}.p.0.{issued}.0.{sig}");
        assert_eq!(keys().link_mac("0", "m"), Some(hmac_hex(ROOT, "m")));
        assert_eq!(
            verify(&keys(), &token, LinkPurpose::Preferences, at(1)),
            None
        );
    }

    /// An unsubscribe link withdraws its own purpose and nothing else; a preferences link
    /// withdraws nothing by itself.
    #[test]
    fn each_unsubscribe_link_withdraws_only_its_purpose() {
        assert_eq!(LinkPurpose::Preferences.withdraws(), None);
        assert_eq!(
            LinkPurpose::UnsubscribeMarketing.withdraws(),
            Some("marketing_email")
        );
        assert_eq!(
            LinkPurpose::UnsubscribeSurveys.withdraws(),
            Some("satisfaction_surveys")
        );
    }

    /// Signed links go to the verifier; random single-use tokens (base64url) do not.
    #[test]
    fn signed_links_are_told_from_random_tokens() {
        let t = sign(&keys(), ID, LinkPurpose::Preferences, 0, at(0));
        assert!(is_signed_link_shaped(&t));
        assert!(!is_signed_link_shaped(
            "q1w2e3r4t5y6u7i8o9p0-_AbCdEfGhIjKlMnOpQrStU"
        ));
    }

    /// An export's download link opens that export only, and only for a day.
    #[test]
    fn an_export_download_link_lasts_a_day_and_is_no_other_link() {
        let export_id = "01970000-0000-7000-8000-00000000000e";
        let d = sign(&keys(), export_id, LinkPurpose::ExportDownload, 0, at(0));
        let v = verify(&keys(), &d, LinkPurpose::ExportDownload, at(0)).unwrap();
        assert_eq!(v.contact_id, export_id);
        let hours = |h: i64| at(0) + Duration::hours(h);
        assert!(verify(&keys(), &d, LinkPurpose::ExportDownload, hours(23)).is_some());
        assert!(verify(&keys(), &d, LinkPurpose::ExportDownload, hours(25)).is_none());
        for other in [LinkPurpose::Preferences, LinkPurpose::UnsubscribeMarketing] {
            assert_eq!(verify(&keys(), &d, other, at(0)), None);
        }
        let p = sign(&keys(), export_id, LinkPurpose::Preferences, 0, at(0));
        assert_eq!(
            verify(&keys(), &p, LinkPurpose::ExportDownload, at(0)),
            None
        );
        assert_eq!(LinkPurpose::ExportDownload.withdraws(), None);
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

    /// A number as a token may spell it, and whether that is its one canonical spelling.
    fn spelled(n: i64) -> impl Strategy<Value = (String, bool)> {
        prop_oneof![
            12 => Just((n.to_string(), true)),
            1 => Just((format!("0{n}"), false)),
            1 => Just((format!("+{n}"), false)),
            1 => Just((format!("{n} "), false)),
        ]
    }

    /// How the signature part of a generated token is made.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Sig {
        Genuine,
        OneHexDigitChanged,
        UpperCase,
        Short,
        Long,
    }

    /// Every part of a well-shaped token, each usually right and sometimes wrong in one way, so
    /// that genuine links verify and each of the verifier's refusals is reached.
    #[derive(Debug, Clone)]
    struct Shaped {
        retired: &'static str,
        id: String,
        code: &'static str,
        signed_code: &'static str,
        kid: &'static str,
        signed_kid: &'static str,
        issued: (String, bool),
        epoch: (String, bool),
        epoch_value: i64,
        age: i64,
        sig: Sig,
        purpose: LinkPurpose,
    }

    const PURPOSES: [LinkPurpose; 3] = [
        LinkPurpose::Preferences,
        LinkPurpose::UnsubscribeMarketing,
        LinkPurpose::UnsubscribeSurveys,
    ];
    const ISSUED: i64 = 1_800_000_000;

    fn shaped() -> impl Strategy<Value = Shaped> {
        let id = prop_oneof![
            10 => Just(ID.to_string()),
            2 => "[0-9a-f-]{1,64}",
            1 => "[0-9a-f]{65}",
            1 => "[0-9a-f]{0,8}[g-zA-Z.][0-9a-f]{0,8}",
        ];
        let code = |p: LinkPurpose| {
            let other = prop::sample::select(vec!["p", "u", "s", "x", "P"]);
            prop_oneof![12 => Just(p.code()), 1 => other]
        };
        let kid = || {
            let other = prop::sample::select(vec!["2", "k9", "0", "abcdefghi", "K1", ""]);
            prop_oneof![10 => Just("1"), 1 => other]
        };
        let purpose = prop::sample::select(PURPOSES.to_vec());
        (purpose, 0..3usize)
            .prop_flat_map(move |(signed_for, shift)| {
                let other = PURPOSES[(shift + 1) % 3];
                let verified_for = prop_oneof![10 => Just(signed_for), 1 => Just(other)];
                let life = signed_for.lifetime().num_seconds();
                let age = prop_oneof![
                    Just(0i64),
                    Just(life),
                    Just(life + 1),
                    Just(-SKEW_SECS),
                    Just(-SKEW_SECS - 1),
                    -2 * SKEW_SECS..life + 2 * SKEW_SECS,
                ];
                let c = code(signed_for);
                let spoiled = prop::sample::select(vec![
                    Sig::OneHexDigitChanged,
                    Sig::UpperCase,
                    Sig::Short,
                    Sig::Long,
                ]);
                (
                    prop::sample::select(vec!["", "2", "0", "2,0"]),
                    id.clone(),
                    c.clone(),
                    prop_oneof![12 => c, 1 => Just("p")],
                    kid(),
                    kid(),
                    spelled(ISSUED),
                    (0i64..1_000_000).prop_flat_map(|e| (Just(e), spelled(e))),
                    age,
                    prop_oneof![10 => Just(Sig::Genuine), 1 => spoiled.clone()],
                    verified_for,
                )
            })
            .prop_map(
                |(
                    retired,
                    id,
                    code,
                    signed_code,
                    kid,
                    signed_kid,
                    issued,
                    (epoch_value, epoch),
                    age,
                    sig,
                    purpose,
                )| Shaped {
                    retired,
                    id,
                    code,
                    signed_code,
                    kid,
                    signed_kid,
                    issued,
                    epoch,
                    epoch_value,
                    age,
                    sig,
                    purpose,
                },
            )
    }

    impl Shaped {
        fn mac(code: &str, kid: &str, id: &str, epoch: i64) -> Option<String> {
            let message = format!("link:v2:{code}:{id}:{ISSUED}:{epoch}");
            let all_keys = Keyring::new(ROOT, "1", "").unwrap();
            all_keys
                .link_mac(kid, &message)
                .map(|mac| mac[..32].to_string())
        }

        /// The signature part as sent: made the way the documented format says (not by
        /// `sign`), then perhaps spoiled.
        fn sig(&self) -> String {
            let mac = Self::mac(
                self.signed_code,
                self.signed_kid,
                &self.id,
                self.epoch_value,
            );
            let mut sig = mac.unwrap_or_else(|| "f".repeat(32));
            match self.sig {
                Sig::Genuine => {}
                Sig::OneHexDigitChanged => {
                    let last = if sig.ends_with('0') { "1" } else { "0" };
                    sig.replace_range(31.., last);
                }
                Sig::UpperCase => sig = sig.to_uppercase(),
                Sig::Short => sig.truncate(31),
                Sig::Long => sig.push('0'),
            }
            sig
        }

        fn token(&self) -> String {
            let (id, code, kid) = (&self.id, self.code, self.kid);
            let (issued, epoch) = (&self.issued.0, &self.epoch.0);
            format!("{id}.{code}.{kid}.{issued}.{epoch}.{}", self.sig())
        }

        /// What `verify` must answer, from the rules in the module documentation.
        fn expected(&self) -> Option<VerifiedLink> {
            let id_ok = (1..=64).contains(&self.id.len())
                && self.id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            let kid_ok = self.kid != "0" && !self.retired.split(',').any(|r| r == self.kid);
            let sig_ok =
                Self::mac(self.code, self.kid, &self.id, self.epoch_value) == Some(self.sig());
            let fresh = -SKEW_SECS <= self.age && self.age <= self.purpose.lifetime().num_seconds();
            let spelled = self.issued.1 && self.epoch.1;
            (id_ok && self.code == self.purpose.code() && kid_ok && spelled && fresh && sig_ok)
                .then(|| VerifiedLink {
                    contact_id: self.id.clone(),
                    purpose: self.purpose,
                    epoch: self.epoch_value,
                })
        }
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_verifies(s in "\\PC{0,160}") {
            for purpose in [LinkPurpose::Preferences, LinkPurpose::UnsubscribeMarketing] {
                prop_assert_eq!(verify(&keys(), &s, purpose, at(0)), None);
            }
        }

        /// Well-shaped tokens, genuine or wrong in one part (purpose, key id, retired key,
        /// spelling of a number, age at either edge, signature): `verify` accepts exactly the
        /// genuine, fresh ones for their own purpose.
        #[test]
        fn a_well_shaped_token_verifies_exactly_when_every_part_is_right(t in shaped()) {
            let keys = Keyring::new(ROOT, "1", t.retired).unwrap();
            let now = DateTime::from_timestamp(ISSUED + t.age, 0).unwrap();
            let token = t.token();
            prop_assert_eq!(verify(&keys, &token, t.purpose, now), t.expected(), "token {}", token);
        }

        /// Unsubscribe links from before key ids: only the genuine ones, only for marketing, and
        /// not once key id 0 is retired.
        #[test]
        fn legacy_unsubscribe_links_verify_exactly_when_genuine(
            id in prop_oneof![3 => Just(ID.to_string()), 1 => "[0-9a-f-]{1,70}"],
            code in prop::sample::select(vec!["u", "p", "s"]),
            tampered in proptest::bool::weighted(0.3),
            retired in prop::sample::select(vec!["", "0", "2"]),
            purpose in prop::sample::select(PURPOSES.to_vec()),
        ) {
            let mut sig = hmac_hex(ROOT, &format!("link:{code}:{id}"))[..32].to_string();
            if tampered {
                let last = if sig.ends_with('0') { "1" } else { "0" };
                sig.replace_range(31.., last);
            }
            let keys = Keyring::new(ROOT, "1", retired).unwrap();
            let expected = (code == "u" && purpose == LinkPurpose::UnsubscribeMarketing && !tampered
                && retired != "0" && (1..=64).contains(&id.len()))
                .then(|| VerifiedLink { contact_id: id.clone(), purpose, epoch: 0 });
            prop_assert_eq!(verify(&keys, &format!("{id}.{code}.{sig}"), purpose, at(0)), expected);
        }

        #[test]
        fn every_signed_link_verifies(epoch in 0i64..1_000_000, day in 0i64..89) {
            let t = sign(&keys(), ID, LinkPurpose::Preferences, epoch, at(0));
            let v = verify(&keys(), &t, LinkPurpose::Preferences, at(day));
            prop_assert_eq!(v.map(|v| v.epoch), Some(epoch));
        }
    }
}
