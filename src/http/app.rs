//! What a handler gets besides the request: the environment, the path parameters, and the caller
//! the route table admitted (dispatch checks a route's `Access` before its handler runs).

use crate::store::{Budget, Db};
use std::rc::Rc;
use worker::{Env, Request};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::auth::Principal;
use crate::http::session::Session;

pub struct App {
    pub env: Env,
    /// This request's D1 allowance (the platform-limits guard); every `db()` shares it.
    pub budget: Rc<Budget>,
    /// The path's `{name}` segments, in the order the pattern names them.
    pub params: Vec<(String, String)>,
    /// For work that must not delay the answer (and so must not reveal, by timing, what it found).
    pub ctx: worker::Context,
    pub caller: Caller,
}

/// Who is calling, as dispatch established it from the route's `Access`. A handler never
/// authenticates: it asks for the caller its row promised.
pub enum Caller {
    /// A public route: no credential was asked for (a link or token in the request is checked by
    /// the handler itself).
    Anyone,
    /// An admin route: an API key holding one of the row's scopes.
    Admin(AdminCall),
    /// A self-service route: a live session and the person behind it.
    Person(PersonCall),
}

/// What every admin handler starts with: settings, the database, and the admitted key.
pub struct AdminCall {
    pub config: Config,
    pub db: Db,
    pub principal: Principal,
}

/// What every self-service handler starts with: the database and the session's person.
pub struct PersonCall {
    pub db: Db,
    pub session: Session,
}

impl App {
    /// A path parameter by the name its pattern gives it (`{id}` → `"id"`).
    pub fn param(&self, name: &str) -> AppResult<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or(AppError::NotFound)
    }

    /// The admitted API key of an admin route. Any other route asking is a mistake in the route
    /// table, answered as a 500 rather than a way in.
    pub fn admin(&self) -> AppResult<&AdminCall> {
        match &self.caller {
            Caller::Admin(call) => Ok(call),
            _ => Err(AppError::internal("route table", "not an admin route")),
        }
    }

    /// The session of a self-service route (see [`App::admin`] for any other route).
    pub fn person(&self) -> AppResult<&PersonCall> {
        match &self.caller {
            Caller::Person(call) => Ok(call),
            _ => Err(AppError::internal("route table", "not a session route")),
        }
    }

    /// The database, counted against this request's budget.
    pub fn db(&self) -> AppResult<Db> {
        Db::open(&self.env, &self.budget)
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

/// A `limit` query parameter within `1..=max`, or `default`.
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
