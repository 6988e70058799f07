//! Thin handlers: parse the request into domain types, call the store, shape the response.

pub mod admin;
pub mod confirm;
pub mod embed;
pub mod forms;
pub mod health;
pub mod me;
pub mod openapi;
pub mod surveys;
pub mod unsubscribe;

use worker::{Env, Request};

use crate::error::{AppError, AppResult};

/// What a handler gets besides the request: the environment and the path parameters.
pub struct App {
    pub env: Env,
    pub params: Vec<String>,
    /// For work that must not delay the answer (and so must not reveal, by timing, what it found).
    pub ctx: worker::Context,
}

impl App {
    pub fn param(&self, index: usize) -> AppResult<&str> {
        self.params
            .get(index)
            .map(String::as_str)
            .ok_or(AppError::NotFound)
    }
}

/// The decoded query string as (name, value) pairs.
pub fn query_pairs(req: &Request) -> AppResult<Vec<(String, String)>> {
    let url = req.url().map_err(|e| AppError::internal("url", e))?;
    Ok(url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Refuses query parameters a route does not know, naming the first one.
pub fn only_params(pairs: &[(String, String)], allowed: &[&str]) -> AppResult<()> {
    match pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(AppError::validation(
            &k.chars().take(40).collect::<String>(),
            "unknown query parameter",
        )),
        None => Ok(()),
    }
}

pub fn param_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `limit` query parameter within `1..=max`, or `default`.
/// `?since=&limit=` of the lists that read forward in time (audit log, dead letters): the time
/// normalised to how times are stored (absent: the beginning) and the page size.
pub fn since_and_limit(req: &Request, default_limit: u32, max: u32) -> AppResult<(String, u32)> {
    let pairs = query_pairs(req)?;
    only_params(&pairs, &["since", "limit"])?;
    Ok((
        since_param(&pairs)?,
        limit_param(&pairs, default_limit, max)?,
    ))
}

fn since_param(pairs: &[(String, String)]) -> AppResult<String> {
    match param_value(pairs, "since") {
        Some(s) => crate::domain::time::parse(s)
            .map(crate::domain::time::format)
            .ok_or_else(|| AppError::validation("since", "an RFC 3339 time")),
        None => Ok("0000-01-01T00:00:00.000Z".to_string()),
    }
}

pub fn limit_param(pairs: &[(String, String)], default: u32, max: u32) -> AppResult<u32> {
    match param_value(pairs, "limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| AppError::validation("limit", &format!("an integer from 1 to {max}"))),
    }
}
