//! `/admin/v1/keys`: create (secret shown once), list (never the secret), revoke.

use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use crate::domain::scope::ScopeSet;
use crate::domain::secret::{new_id, random_secret, sha256_hex};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::App;
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::store::{self, audit, keys};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyRequest {
    name: String,
    scopes: Vec<String>,
}

/// A key's display name: 1 to 100 printable characters.
struct KeyName(String);

impl KeyName {
    fn parse(input: &str) -> AppResult<KeyName> {
        let name = input.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::validation(
                "name",
                "1 to 100 printable characters",
            ));
        }
        Ok(KeyName(name.to_string()))
    }
}

pub async fn create(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let body: CreateKeyRequest = read_json(&mut req, JSON_LIMIT).await?;
    let name = KeyName::parse(&body.name)?;
    let scopes = ScopeSet::parse(&body.scopes).map_err(|e| AppError::validation("scopes", &e))?;
    if !scopes.is_subset_of(&call.principal.scopes) {
        return Err(AppError::Forbidden {
            code: "scope_escalation",
            message: "a key can only grant scopes it holds itself".into(),
        });
    }
    let secret = format!(
        "ck_{}",
        random_secret(24).map_err(|e| AppError::internal("random", e))?
    );
    let id = new_id("key");
    let created_at = time::now_string();
    let scopes_json = serde_json::to_string(&scopes.names())?;
    let prefix: String = secret.chars().take(10).collect();
    let hash = sha256_hex(&secret);
    let insert = keys::insert_statement(
        &call.db,
        &keys::NewApiKey {
            id: &id,
            hash: &hash,
            prefix: &prefix,
            name: &name.0,
            scopes_json: &scopes_json,
            created_at: &created_at,
        },
    )?;
    let audit = audit::record(&call.db, &call.principal.actor, "key.create", Some(&id))?;
    store::batch(&call.db, vec![insert, audit]).await?;
    response::json(
        201,
        &json!({
            "id": id,
            "name": name.0,
            "scopes": scopes.names(),
            "prefix": prefix,
            "key": secret,
            "created_at": created_at,
        }),
    )
}

fn key_json(row: &keys::ApiKeyRow) -> serde_json::Value {
    let scopes = row.scope_names().unwrap_or_default();
    json!({
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": scopes,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    })
}

pub async fn list(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let rows = keys::list(&call.db).await?;
    let keys: Vec<_> = rows.iter().map(key_json).collect();
    response::json(200, &json!({ "keys": keys }))
}

/// `GET /admin/v1/key`: the calling key's own id and scopes, so a client (the `/admin` page) can
/// show what the key may do before it tries. It tells the holder nothing they could not learn by
/// calling each route, and nothing about any other key.
pub async fn current(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    response::json(
        200,
        &json!({ "actor": call.principal.actor, "scopes": call.principal.scopes.names() }),
    )
}

/// Revoking is idempotent: a revoked key stays revoked and answers the same. A key may only
/// revoke keys whose every scope it holds itself, so a `keys`-only key cannot lock out the
/// shop's back end or its administrators.
pub async fn revoke(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?;
    let row = keys::find(&call.db, id).await?.ok_or(AppError::NotFound)?;
    let target = row.scope_set()?;
    if !target.is_subset_of(&call.principal.scopes) {
        return Err(AppError::Forbidden {
            code: "scope_escalation",
            message: "a key can only revoke keys whose every scope it holds itself".into(),
        });
    }
    if row.revoked_at.is_none() {
        let at = time::now_string();
        let revoke = keys::revoke_statement(&call.db, id, &at)?;
        let audit = audit::record(&call.db, &call.principal.actor, "key.revoke", Some(id))?;
        store::batch(&call.db, vec![revoke, audit]).await?;
    }
    let row = keys::find(&call.db, id).await?.ok_or(AppError::NotFound)?;
    response::json(200, &key_json(&row))
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/keys`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "createKey",
            "summary": "Create a scoped API key; the secret is returned once",
            "description": "A key can only grant scopes it holds.",
            "requestBody": json_body(json!({
                "type": "object", "additionalProperties": false, "required": ["name", "scopes"],
                "examples": [{ "name": "shop backend", "scopes": ["orders", "outbox"] }],
                "properties": {
                    "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                    "scopes": { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/Scope" } }
                }
            })),
            "responses": admin_errors(with_body_errors(json!({
                "201": linked(json_response("created", json!({ "allOf": [ { "$ref": "#/components/schemas/ApiKey" }, { "type": "object", "required": ["key"], "properties": { "key": { "type": "string" } } } ] })), "/id", &["revokeKey"])
            })))
        })
    }

    /// `GET /admin/v1/keys`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listKeys",
            "summary": "List API keys (never their secrets)",
            "responses": admin_errors(json!({
                "200": json_response("keys", json!({ "type": "object", "required": ["keys"], "properties": { "keys": { "type": "array", "items": { "$ref": "#/components/schemas/ApiKey" } } } }))
            }))
        })
    }

    /// `GET /admin/v1/key`: [`current`](super::current).
    pub fn current() -> Value {
        json!({
            "operationId": "currentKey",
            "summary": "The calling API key: its id (`bootstrap` for ADMIN_API_KEY) and its scopes",
            "responses": admin_errors(json!({
                "200": json_response("the key", json!({ "type": "object", "required": ["actor", "scopes"], "additionalProperties": false, "properties": { "actor": { "type": "string" }, "scopes": { "type": "array", "items": { "type": "string" } } } }))
            }))
        })
    }

    /// `DELETE /admin/v1/keys/{id}`: [`revoke`](super::revoke).
    pub fn revoke() -> Value {
        json!({
            "operationId": "revokeKey",
            "summary": "Revoke an API key (idempotent)",
            "description": "A key can only revoke keys whose every scope it holds itself (403 `scope_escalation` otherwise).",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": with_status(admin_errors(json!({
                "200": json_response("revoked", json!({ "$ref": "#/components/schemas/ApiKey" })),
                "404": error_response("no such key")
            })), "403", error_response("the API key lacks the scope, or the key to revoke holds a scope this one lacks (`scope_escalation`)"))
        })
    }
}
