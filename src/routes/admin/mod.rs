//! `/admin/v1/*`: the marketer's and shop back end's API, behind scoped API keys.

pub mod audit;
pub mod contacts;
pub mod forms;
pub mod import;
pub mod keys;
pub mod orders;
pub mod outbox;
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
