//! Facts about the caller: IP (as Cloudflare's edge reports it), user agent, language.

use worker::Request;

use worker::Env;

use crate::domain::i18n::Locale;
use crate::domain::keyring::Keyring;
use crate::error::{AppError, AppResult};

pub fn ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .map(|ip| ip.trim().chars().take(64).collect())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Keyed hash of the IP: enough to prove and to correlate abuse, not to recover the address.
pub fn ip_hash(req: &Request, keys: &Keyring) -> String {
    keys.ip_hash(&ip(req))
}

/// Counts one request of `bucket` against the caller's per-IP limit (IPv6 by /64). Fails closed:
/// without the `PUBLIC_LIMITER` binding every request is refused as misconfigured, because a
/// deployment that forgot it would otherwise have no per-IP limit at all.
pub async fn limit_per_ip(env: &Env, req: &Request, bucket: &str) -> AppResult<()> {
    let limiter = env
        .rate_limiter("PUBLIC_LIMITER")
        .map_err(|_| AppError::Misconfigured("PUBLIC_LIMITER"))?;
    let key = format!("{bucket}:{}", crate::domain::ip::rate_key(&ip(req)));
    if limiter.limit(key).await?.success {
        Ok(())
    } else {
        Err(AppError::TooManyRequests {
            retry_after_secs: 60,
        })
    }
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

/// The locale of the words a page shows: the one its requests name in `Accept-Language`.
pub fn page_locale(req: &Request) -> Locale {
    Locale::negotiate(None, accept_language(req).as_deref())
}

/// Whether the request carries the Global Privacy Control signal (`Sec-GPC: 1`). It counts only
/// where the handler acts for the person themselves (their confirmation click, their preference
/// page, their survey answer): an anonymous post about an address proves nothing about its owner.
pub fn gpc(req: &Request) -> bool {
    crate::domain::consent::gpc_signal(req.headers().get("Sec-GPC").ok().flatten().as_deref())
}
