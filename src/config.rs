//! Typed settings read from the Worker's environment. A missing secret is a clear
//! `misconfigured` 500 naming it, never a panic.

use crate::domain::standard_webhooks::WebhookSecret;
use worker::Env;

use crate::domain::consent::ConsentLifetimes;
use crate::domain::keyring::Keyring;
use crate::domain::privacy_request::Deadline;
use crate::error::{AppError, AppResult};

const DEFAULT_TURNSTILE_VERIFY_URL: &str =
    "https://challenges.cloudflare.com/turnstile/v0/siteverify";

#[derive(Clone)]
pub struct Config {
    /// The key of email hashes (unchanged since the first release: suppressions depend on it).
    pub token_secret: String,
    /// Every key derived from `TOKEN_SECRET`: IP hashes and link signing (see `domain::keyring`).
    pub keys: Keyring,
    /// The first admin API key; it holds every scope. Optional once a named key with the `keys`
    /// scope exists; `ADMIN_BOOTSTRAP_DISABLED=1` refuses it even when set.
    pub admin_bootstrap_key: Option<String>,
    pub turnstile_secret: Option<String>,
    pub turnstile_verify_url: String,
    /// Where links in emails point, without a trailing slash.
    pub public_base_url: String,
    pub email_webhook_url: Option<String>,
    /// `EMAIL_WEBHOOK_SECRET`, parsed where it signs: see [`Config::email_webhook_secret`].
    email_webhook_secret: Option<String>,
    /// Days an unconfirmed signup is kept before retention deletes it.
    pub unconfirmed_retention_days: i64,
    /// `CHUNK_ROWS`, when set: see [`chunk_rows`].
    chunk_rows: Option<usize>,
    /// `CONSENT_LIFETIMES`: how long each opt-in consent lasts without engagement.
    pub consent_lifetimes: ConsentLifetimes,
    /// `DATA_FRESHNESS_MONTHS` (default 12; 0 turns it off): a profile nobody confirmed for this
    /// long gets one "is this still right?" email.
    pub freshness_months: u32,
    /// How long a data-subject request may take (`PRIVACY_REQUEST_DEADLINE`: `lgpd`, 15 days,
    /// the default; `gdpr`, one calendar month; or `<N>d`).
    pub privacy_deadline: Deadline,
}

/// Months after which an unconfirmed profile is asked to be checked, unless configured.
pub const DEFAULT_FRESHNESS_MONTHS: u32 = 12;

impl Config {
    pub fn from_env(env: &Env) -> AppResult<Config> {
        let token_secret = required(env, "TOKEN_SECRET")?;
        if token_secret.len() < 32 {
            return Err(AppError::Misconfigured(
                "TOKEN_SECRET (at least 32 characters)",
            ));
        }
        let disabled = optional(env, "ADMIN_BOOTSTRAP_DISABLED").is_some_and(|v| v == "1");
        let admin_bootstrap_key = optional(env, "ADMIN_BOOTSTRAP_KEY").filter(|_| !disabled);
        if admin_bootstrap_key.as_ref().is_some_and(|k| k.len() < 24) {
            return Err(AppError::Misconfigured(
                "ADMIN_BOOTSTRAP_KEY (at least 24 characters)",
            ));
        }
        let keys = Keyring::new(
            &token_secret,
            optional(env, "LINK_KEY_ID").as_deref().unwrap_or("1"),
            optional(env, "LINK_KEYS_RETIRED").as_deref().unwrap_or(""),
        )
        .map_err(AppError::Misconfigured)?;
        let consent_lifetimes =
            ConsentLifetimes::parse(optional(env, "CONSENT_LIFETIMES").as_deref().unwrap_or(""))
                .map_err(AppError::Misconfigured)?;
        let freshness_months = match optional(env, "DATA_FRESHNESS_MONTHS") {
            None => DEFAULT_FRESHNESS_MONTHS,
            Some(v) => v.trim().parse::<u32>().ok().filter(|m| *m <= 240).ok_or(
                AppError::Misconfigured("DATA_FRESHNESS_MONTHS (months from 0 to 240)"),
            )?,
        };
        let public_base_url = required(env, "PUBLIC_BASE_URL")?
            .trim_end_matches('/')
            .to_string();
        Ok(Config {
            token_secret,
            keys,
            admin_bootstrap_key,
            turnstile_secret: optional(env, "TURNSTILE_SECRET"),
            turnstile_verify_url: optional(env, "TURNSTILE_VERIFY_URL")
                .unwrap_or_else(|| DEFAULT_TURNSTILE_VERIFY_URL.to_string()),
            public_base_url,
            email_webhook_url: optional(env, "EMAIL_WEBHOOK_URL"),
            email_webhook_secret: optional(env, "EMAIL_WEBHOOK_SECRET"),
            unconfirmed_retention_days: optional(env, "UNCONFIRMED_RETENTION_DAYS")
                .and_then(|d| d.parse::<i64>().ok())
                .filter(|d| (1..=3650).contains(d))
                .unwrap_or(30),
            chunk_rows: chunk_rows_var(env),
            consent_lifetimes,
            freshness_months,
            privacy_deadline: privacy_deadline(optional(env, "PRIVACY_REQUEST_DEADLINE"))?,
        })
    }

    /// The key that signs deliveries to `EMAIL_WEBHOOK_URL` (Standard Webhooks), when one is
    /// set. A malformed one fails the delivery, which is retried, rather than send unsigned
    /// mail a relay expecting signatures would reject; nothing else depends on it.
    pub fn email_webhook_secret(&self) -> AppResult<Option<WebhookSecret>> {
        self.email_webhook_secret
            .as_deref()
            .map(WebhookSecret::parse)
            .transpose()
            .map_err(|_| {
                AppError::Misconfigured(
                    "EMAIL_WEBHOOK_SECRET (whsec_ and the base64 of 24 to 64 bytes)",
                )
            })
    }

    /// [`chunk_rows`] for code that already holds the settings.
    pub fn chunk(&self, natural: usize) -> usize {
        self.chunk_rows.map_or(natural, |rows| rows.min(natural))
    }
}

/// A deadline set wrong is said plainly rather than replaced by a guess: the register's due
/// dates are what an operator answers to a regulator with.
fn privacy_deadline(raw: Option<String>) -> AppResult<Deadline> {
    raw.map_or(Ok(Deadline::default()), |raw| {
        Deadline::parse(&raw).map_err(|_| {
            AppError::Misconfigured("PRIVACY_REQUEST_DEADLINE (lgpd, gdpr, or 1d to 90d)")
        })
    })
}

/// Secrets and vars are both string bindings; an empty value counts as missing.
pub(crate) fn optional(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(env: &Env, name: &'static str) -> AppResult<String> {
    optional(env, name).ok_or(AppError::Misconfigured(name))
}

/// The size of one chunk of a job that loops over rows, or of one page of a paged read: the
/// job's own `natural` size, or `CHUNK_ROWS` when that var is set lower. Production leaves it
/// unset; the integration tests set it to a few rows so that every rebuild, export, sweep and
/// purge crosses its chunk and page boundaries with the handful of rows a story creates.
pub fn chunk_rows(env: &Env, natural: usize) -> usize {
    chunk_rows_var(env).map_or(natural, |rows| rows.min(natural))
}

fn chunk_rows_var(env: &Env) -> Option<usize> {
    optional(env, "CHUNK_ROWS")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&rows| rows > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_privacy_deadline_defaults_to_fifteen_days_and_a_wrong_one_is_refused() {
        assert_eq!(privacy_deadline(None).ok(), Some(Deadline::Days(15)));
        assert_eq!(
            privacy_deadline(Some("gdpr".into())).ok(),
            Some(Deadline::CalendarMonth)
        );
        assert_eq!(
            privacy_deadline(Some("30d".into())).ok(),
            Some(Deadline::Days(30))
        );
        assert!(matches!(
            privacy_deadline(Some("a month".into())),
            Err(AppError::Misconfigured(_))
        ));
    }
}
