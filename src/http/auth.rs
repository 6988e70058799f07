//! Admin authentication: `Authorization: Bearer <api key>` resolved to a principal with scopes.

use crate::store::Db;
use chrono::Duration;
use worker::Request;

use crate::config::Config;
use crate::domain::scope::{Scope, ScopeSet};
use crate::domain::secret::{secrets_equal, sha256_hex};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::store::keys;

/// Who is calling the admin API and what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `bootstrap` or the API key id: what `audit_log.actor` records.
    pub actor: String,
    pub scopes: ScopeSet,
}

impl Principal {
    /// 403 naming the scope when this principal lacks it.
    pub fn require(&self, scope: Scope) -> AppResult<()> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                code: "missing_scope",
                message: format!("this API key lacks the '{scope}' scope"),
            })
        }
    }
}

/// The bearer credential of a request, if it carries one.
pub fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get("Authorization").ok().flatten()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

pub async fn authenticate(req: &Request, db: &Db, config: &Config) -> AppResult<Principal> {
    let token = bearer_token(req).ok_or(AppError::Unauthorized)?;
    if token.len() > 200 {
        return Err(AppError::Unauthorized);
    }
    if let Some(bootstrap) = &config.admin_bootstrap_key {
        if secrets_equal(&token, bootstrap) {
            return Ok(Principal {
                actor: "bootstrap".into(),
                scopes: ScopeSet::all(),
            });
        }
    }
    let Some(row) = keys::find_active_by_hash(db, &sha256_hex(&token)).await? else {
        // Without the bootstrap key, only a named `keys` key can let anyone in: say so rather
        // than answer 401 forever to an operator who retired the bootstrap key too early.
        if config.admin_bootstrap_key.is_none() && !keys::any_active_with_scope(db, "keys").await? {
            return Err(AppError::Misconfigured(
                "ADMIN_BOOTSTRAP_KEY (no named key with the keys scope exists yet)",
            ));
        }
        return Err(AppError::Unauthorized);
    };
    let scopes = row.scope_set()?;
    let now = time::now();
    keys::touch_last_used(
        db,
        &row.id,
        &time::format(now),
        &time::format(now - Duration::hours(1)),
    )
    .await?;
    Ok(Principal {
        actor: row.id,
        scopes,
    })
}
