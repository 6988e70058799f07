//! Facts about the caller: IP (as Cloudflare's edge reports it), user agent, language.

use worker::Request;

use crate::domain::secret::hmac_hex;

pub fn ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .map(|ip| ip.trim().chars().take(64).collect())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Keyed hash of the IP: enough to prove and to correlate abuse, not to recover the address.
pub fn ip_hash(req: &Request, token_secret: &str) -> String {
    hmac_hex(token_secret, &format!("ip:{}", ip(req)))
}

pub fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get("User-Agent")
        .ok()
        .flatten()
        .map(|ua| ua.chars().filter(|c| !c.is_control()).take(256).collect())
}

pub fn accept_language(req: &Request) -> Option<String> {
    req.headers().get("Accept-Language").ok().flatten()
}
