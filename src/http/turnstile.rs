//! Server-side Turnstile verification. Fails closed: no answer or a bad answer is a refusal,
//! and so is a token solved on a site that is not one of the form's allowed origins (a token
//! farmed on the attacker's own page passes Turnstile but names the attacker's hostname).

use std::time::Duration;

use futures_util::future::{select, Either};
use serde::Deserialize;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::config::Config;

/// How long a signup waits for siteverify (Cloudflare answers in well under a second): a
/// verifier that does not answer is a refusal, not a signup held open.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Verdict {
    success: bool,
    hostname: Option<String>,
}

/// `allowed_hosts`: the hosts of the form's allowed origins; the token must name one of them.
pub async fn verify(
    config: &Config,
    secret: &str,
    token: Option<&str>,
    ip: &str,
    allowed_hosts: &[String],
) -> bool {
    let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 2048) else {
        return false;
    };
    let body = format!(
        "secret={}&response={}&remoteip={}",
        urlencode(secret),
        urlencode(token),
        urlencode(ip)
    );
    let headers = Headers::new();
    if headers
        .set("Content-Type", "application/x-www-form-urlencoded")
        .is_err()
    {
        return false;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let Ok(request) = Request::new_with_init(&config.turnstile_verify_url, &init) else {
        return false;
    };
    let verdict = async {
        match Fetch::Request(request).send().await {
            Ok(mut response) if response.status_code() == 200 => {
                response.json::<Verdict>().await.is_ok_and(|v| {
                    v.success
                        && v.hostname.is_some_and(|h| {
                            allowed_hosts
                                .iter()
                                .any(|a| a.eq_ignore_ascii_case(h.trim()))
                        })
                })
            }
            _ => false,
        }
    };
    let verdict = std::pin::pin!(verdict);
    match select(verdict, Delay::from(VERIFY_TIMEOUT)).await {
        Either::Left((passed, _)) => passed,
        Either::Right(_) => false,
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
