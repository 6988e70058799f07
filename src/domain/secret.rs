//! Random secrets (API keys, link tokens, sessions) and the one-way hashes we store instead.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// `bytes` of OS randomness, URL-safe base64 without padding. 24 bytes = 192 bits.
pub fn random_secret(bytes: usize) -> Result<String, getrandom::Error> {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Lower-case hex SHA-256: what `api_keys.hash` and `tokens.hash` hold.
pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// Lower-case hex HMAC-SHA256 under the deployment's `TOKEN_SECRET`.
pub fn hmac_hex(key: &str, input: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(input.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compares two secrets without an early exit, by comparing their digests.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Whether `token` has the shape of the random tokens we issue (base64url, sane length), so
/// junk is refused as malformed before any lookup.
pub fn is_token_shaped(token: &str) -> bool {
    (20..=128).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A new prefixed identifier (`key_…`, `msg_…`) from a UUID v7, so ids sort by creation time.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_and_distinct() {
        let a = random_secret(24).unwrap();
        let b = random_secret(24).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal("ck_same", "ck_same"));
        assert!(!secrets_equal("ck_same", "ck_samf"));
        assert!(!secrets_equal("", "x"));
    }

    #[test]
    fn ids_carry_prefix_and_sort_by_time() {
        let a = new_id("key");
        let b = new_id("key");
        assert!(a.starts_with("key_") && a.len() == 36);
        assert!(a < b);
    }
}
