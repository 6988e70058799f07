//! Signing as the Standard Webhooks specification describes (standardwebhooks.com): secrets
//! `whsec_` + base64 of the key bytes, and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{webhook-id}.{webhook-timestamp}.{body}">`, so receivers verify with the spec's published
//! libraries instead of code of ours.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A signing secret: the key bytes behind a `whsec_…` string.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

/// Why a configured secret was refused (never echoing it).
#[derive(Debug, PartialEq, Eq)]
pub enum SecretError {
    /// Not `whsec_` followed by standard base64.
    Shape,
    /// The spec asks for 24 to 64 bytes of key.
    Length(usize),
}

impl WebhookSecret {
    /// `whsec_` + standard base64 of 24 to 64 bytes, as the specification's secrets are.
    pub fn parse(text: &str) -> Result<WebhookSecret, SecretError> {
        let encoded = text.trim().strip_prefix(PREFIX).ok_or(SecretError::Shape)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Shape)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(WebhookSecret(key))
    }

    /// A new secret: `whsec_` and the base64 of 32 random bytes, as the specification's are.
    /// Returns the text (shown once) with its parsed key.
    pub fn generate() -> Result<(String, WebhookSecret), getrandom::Error> {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key)?;
        Ok((
            format!("{PREFIX}{}", STANDARD.encode(&key)),
            WebhookSecret(key),
        ))
    }

    /// The `webhook-signature` value for one delivery attempt: `v1,` and the base64 HMAC-SHA256
    /// of `id.timestamp.body` (`timestamp` in whole seconds since the Unix epoch).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own vector (its reference libraries' `test_sign_function`).
    #[test]
    fn signs_the_specifications_test_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_base64_of_24_to_64_bytes() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Shape),
            "no prefix"
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(SecretError::Shape)
        );
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 16]))),
            Err(SecretError::Length(16))
        );
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 32]))).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            ),
            "Ok(WebhookSecret(…))",
            "a secret never prints"
        );
    }
}
