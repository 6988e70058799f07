//! `/admin/v1/*`: the marketer's and shop back end's API, behind scoped API keys.

pub mod audit;
pub mod contacts;
pub mod dead_letters;
pub mod forms;
pub mod import;
pub mod keys;
pub mod notices;
pub mod orders;
pub mod outbox;
pub mod segments;
pub mod surveys;

use worker::{D1Database, Request};

use crate::config::Config;
use crate::domain::scope::Scope;
use crate::error::AppResult;
use crate::http::auth::{authenticate, Principal};
use crate::routes::App;
use crate::store;

/// What every admin handler starts with: settings, the database, and a caller holding `scope`.
pub struct AdminCall {
    pub config: Config,
    pub db: D1Database,
    pub principal: Principal,
}

pub async fn admit(req: &Request, app: &App, scope: Scope) -> AppResult<AdminCall> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let principal = authenticate(req, &db, &config).await?;
    principal.require(scope)?;
    Ok(AdminCall {
        config,
        db,
        principal,
    })
}

/// Like [`admit`], for an operation open to a caller holding any one of `scopes`.
pub async fn admit_any(req: &Request, app: &App, scopes: &[Scope]) -> AppResult<AdminCall> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let principal = authenticate(req, &db, &config).await?;
    if !scopes.iter().any(|s| principal.scopes.contains(*s)) {
        // Names the first, the one the operation is really about.
        principal.require(scopes[0])?;
    }
    Ok(AdminCall {
        config,
        db,
        principal,
    })
}

/// `GET /admin`: the marketer's page. It holds no data itself; it calls this API with a key.
pub fn page() -> AppResult<worker::Response> {
    let mut r = crate::http::response::text(
        200,
        "text/html; charset=utf-8",
        crate::pages::ADMIN_HTML.to_string(),
    )?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; form-action 'self'; frame-ancestors 'none'",
    )?;
    r.headers_mut().set("Cache-Control", "no-store")?;
    Ok(r)
}
