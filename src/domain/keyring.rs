//! The keys behind every hash and signature, derived from the one `TOKEN_SECRET`.
//!
//! Each use has its own key so that one can rotate without the others:
//! - **email hashes** (`contacts.email_hash`, `suppressions`, erased consent proof) keep the key
//!   they always had, `TOKEN_SECRET` itself: a suppression holds no email to re-hash, so this key
//!   can never change without letting erased people back in;
//! - **IP hashes** in consent proof use an HKDF subkey (`clientela/ip-hash/v1`);
//! - **signed links** (preferences, unsubscribe) use an HKDF subkey per key id
//!   (`clientela/link/<id>`). New links are signed under `LINK_KEY_ID`; links signed under any
//!   other id still verify unless that id is listed in `LINK_KEYS_RETIRED`. Retiring an id kills
//!   every link issued under it (a leaked export, say) without touching a single email hash.

use std::collections::BTreeSet;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::secret::hmac_hex;

/// The id legacy (pre-key-id) unsubscribe links verify under; retire it with `LINK_KEYS_RETIRED=0`.
pub const LEGACY_LINK_KEY_ID: &str = "0";

#[derive(Clone)]
pub struct Keyring {
    token_secret: String,
    ip_key: [u8; 32],
    current_link_key_id: String,
    retired_link_key_ids: BTreeSet<String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Keyring")
            .field("current_link_key_id", &self.current_link_key_id)
            .field("retired_link_key_ids", &self.retired_link_key_ids)
            .finish_non_exhaustive()
    }
}

/// Whether `id` may name a link key: 1 to 8 lower-case letters or digits (it sits in URLs).
pub fn valid_key_id(id: &str) -> bool {
    (1..=8).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl Keyring {
    /// `retired` is the comma-separated `LINK_KEYS_RETIRED`. Errors name the setting at fault.
    pub fn new(
        token_secret: &str,
        current_link_key_id: &str,
        retired: &str,
    ) -> Result<Keyring, &'static str> {
        if !valid_key_id(current_link_key_id) || current_link_key_id == LEGACY_LINK_KEY_ID {
            return Err("LINK_KEY_ID (1 to 8 lower-case letters or digits, not 0)");
        }
        let retired_link_key_ids: BTreeSet<String> = retired
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if retired_link_key_ids.iter().any(|id| !valid_key_id(id)) {
            return Err("LINK_KEYS_RETIRED (comma-separated key ids)");
        }
        if retired_link_key_ids.contains(current_link_key_id) {
            return Err("LINK_KEYS_RETIRED (must not retire the current LINK_KEY_ID)");
        }
        Ok(Keyring {
            token_secret: token_secret.to_string(),
            ip_key: subkey(token_secret, "clientela/ip-hash/v1"),
            current_link_key_id: current_link_key_id.to_string(),
            retired_link_key_ids,
        })
    }

    /// The key of `contacts.email_hash` and `suppressions`: unchanged since the first release.
    pub fn email_key(&self) -> &str {
        &self.token_secret
    }

    /// Keyed hash of a client IP: proves and correlates, never recovers the address.
    pub fn ip_hash(&self, ip: &str) -> String {
        mac_hex(&self.ip_key, &format!("ip:{ip}"))
    }

    pub fn current_link_key_id(&self) -> &str {
        &self.current_link_key_id
    }

    /// HMAC-SHA256 hex of `message` under link key `id`, unless that id is retired.
    pub fn link_mac(&self, id: &str, message: &str) -> Option<String> {
        if !valid_key_id(id) || self.retired_link_key_ids.contains(id) {
            return None;
        }
        if id == LEGACY_LINK_KEY_ID {
            // Links minted before key ids existed were signed with the root secret itself.
            return Some(hmac_hex(&self.token_secret, message));
        }
        Some(mac_hex(
            &subkey(&self.token_secret, &format!("clientela/link/{id}")),
            message,
        ))
    }
}

/// HKDF-SHA256 (RFC 5869) with no salt: the root is already a uniformly random secret.
fn subkey(root: &str, info: &str) -> [u8; 32] {
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expansion cannot fail.
    let _ = Hkdf::<Sha256>::new(None, root.as_bytes()).expand(info.as_bytes(), &mut okm);
    okm
}

fn mac_hex(key: &[u8], message: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "0123456789abcdef0123456789abcdef";

    /// RFC 5869 appendix A.1, so the derivation is HKDF and not something like it.
    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm)
            .expand(&info, &mut okm)
            .unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn email_hashes_keep_the_key_of_the_first_release() {
        let k = Keyring::new(ROOT, "1", "").unwrap();
        let k2 = Keyring::new(ROOT, "2", "1").unwrap();
        assert_eq!(k.email_key(), ROOT);
        assert_eq!(
            k2.email_key(),
            ROOT,
            "rotating link keys re-keys no email hash"
        );
    }

    #[test]
    fn each_use_has_its_own_key() {
        let k = Keyring::new(ROOT, "1", "").unwrap();
        assert_ne!(k.ip_hash("203.0.113.9"), hmac_hex(ROOT, "ip:203.0.113.9"));
        assert_ne!(k.link_mac("1", "m"), k.link_mac("2", "m"));
        assert_ne!(k.link_mac("1", "m"), Some(hmac_hex(ROOT, "m")));
        assert_eq!(k.link_mac("0", "m"), Some(hmac_hex(ROOT, "m")));
    }

    /// IP hashes are keyed, stable and distinct: the proof correlates one address's events
    /// without storing it, and a new secret does not map onto old hashes.
    #[test]
    fn ip_hashes_are_stable_per_address_and_per_secret() {
        let k = Keyring::new(ROOT, "1", "").unwrap();
        let h = k.ip_hash("203.0.113.9");
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            h,
            Keyring::new(ROOT, "2", "1").unwrap().ip_hash("203.0.113.9")
        );
        assert_ne!(h, k.ip_hash("203.0.113.10"));
        let other = Keyring::new("another-root-secret-of-32-chars!", "1", "").unwrap();
        assert_ne!(h, other.ip_hash("203.0.113.9"));
    }

    /// Logs may show which link keys are in use, never the secret.
    #[test]
    fn debug_output_names_the_key_ids_and_hides_the_secret() {
        let shown = format!("{:?}", Keyring::new(ROOT, "2", "1").unwrap());
        assert!(shown.contains("current_link_key_id: \"2\""), "{shown}");
        assert!(shown.contains("\"1\""), "{shown}");
        assert!(!shown.contains(ROOT), "{shown}");
    }

    #[test]
    fn retired_ids_sign_and_verify_nothing() {
        let k = Keyring::new(ROOT, "2", "1,0").unwrap();
        assert_eq!(k.link_mac("1", "m"), None);
        assert_eq!(k.link_mac("0", "m"), None);
        assert!(k.link_mac("2", "m").is_some());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(Keyring::new(ROOT, "", "").is_err());
        assert!(Keyring::new(ROOT, "0", "").is_err());
        assert!(Keyring::new(ROOT, "Key.1", "").is_err());
        assert!(Keyring::new(ROOT, "2", "2").is_err());
        assert!(Keyring::new(ROOT, "2", "a b").is_err());
    }
}
