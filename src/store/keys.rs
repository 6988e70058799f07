//! `api_keys`: admin credentials, stored as SHA-256 hashes of their secrets.

use crate::store::Db;
use serde::Deserialize;

use crate::domain::scope::ScopeSet;
use crate::error::{AppError, AppResult};
use crate::store::{all, first, js_int, run, Arg};

#[derive(Debug, Deserialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ApiKeyRow {
    /// The scope names as stored (a JSON array of strings).
    pub fn scope_names(&self) -> AppResult<Vec<String>> {
        Ok(serde_json::from_str(&self.scopes)?)
    }

    /// The scopes the key holds; a name no longer known is a fault, not a narrower key.
    pub fn scope_set(&self) -> AppResult<ScopeSet> {
        ScopeSet::parse(&self.scope_names()?).map_err(|e| AppError::internal("stored scopes", e))
    }
}

/// The columns of [`ApiKeyRow`]: never the hash.
const COLUMNS: &str = "id, name, prefix, scopes, created_at, last_used_at, revoked_at";

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub prefix: &'a str,
    pub name: &'a str,
    pub scopes_json: &'a str,
    pub created_at: &'a str,
}

pub fn insert_statement(db: &Db, key: &NewApiKey<'_>) -> AppResult<worker::D1PreparedStatement> {
    crate::store::statement(
        db,
        "INSERT INTO api_keys (id, hash, prefix, name, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Arg::Text(key.id),
            Arg::Text(key.hash),
            Arg::Text(key.prefix),
            Arg::Text(key.name),
            Arg::Text(key.scopes_json),
            Arg::Text(key.created_at),
        ],
    )
}

/// The live (unrevoked) key with this hash.
pub async fn find_active_by_hash(db: &Db, hash: &str) -> AppResult<Option<ApiKeyRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL"),
        &[Arg::Text(hash)],
    )
    .await
}

/// Records use at most once an hour per key, so authentication rarely writes.
pub async fn touch_last_used(db: &Db, id: &str, now: &str, hour_ago: &str) -> AppResult<()> {
    run(
        db,
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
        &[Arg::Text(id), Arg::Text(now), Arg::Text(hour_ago)],
    )
    .await?;
    Ok(())
}

pub async fn list(db: &Db) -> AppResult<Vec<ApiKeyRow>> {
    all(
        db,
        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"),
        &[],
    )
    .await
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<ApiKeyRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
        &[Arg::Text(id)],
    )
    .await
}

pub fn revoke_statement(db: &Db, id: &str, at: &str) -> AppResult<worker::D1PreparedStatement> {
    crate::store::statement(
        db,
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

#[derive(Deserialize)]
struct Found {
    #[serde(deserialize_with = "js_int::int")]
    found: i64,
}

/// Whether any unrevoked key holds `scope` (what lets the bootstrap key be retired).
pub async fn any_active_with_scope(db: &Db, scope: &str) -> AppResult<bool> {
    let row: Option<Found> = first(
        db,
        "SELECT EXISTS (SELECT 1 FROM api_keys, json_each(api_keys.scopes) AS s \
           WHERE api_keys.revoked_at IS NULL AND s.value = ?1) AS found",
        &[Arg::Text(scope)],
    )
    .await?;
    Ok(row.is_some_and(|r| r.found > 0))
}
