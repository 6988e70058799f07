//! `GET /openapi.json`: the API contract as OpenAPI 3.1. A test holds it equal to the router.

use serde_json::{json, Value};
use worker::Response;

use crate::domain::scope::Scope;
use crate::error::AppResult;
use crate::http::response;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// The standard admin answers besides success.
fn admin_errors(mut responses: Value) -> Value {
    let map = responses.as_object_mut();
    if let Some(map) = map {
        map.insert("401".into(), error_response("missing or invalid API key"));
        map.insert("403".into(), error_response("the API key lacks the scope"));
    }
    responses
}

fn with_body_errors(mut responses: Value) -> Value {
    if let Some(map) = responses.as_object_mut() {
        map.insert("400".into(), error_response("validation failed"));
        map.insert("413".into(), error_response("body too large"));
        map.insert("415".into(), error_response("body is not JSON"));
    }
    responses
}

fn scope_note(scope: Scope) -> String {
    format!("Requires the `{scope}` scope.")
}

pub fn document() -> Value {
    let key = json!({
        "type": "object",
        "required": ["id", "name", "prefix", "scopes", "created_at"],
        "properties": {
            "id": { "type": "string" },
            "name": { "type": "string" },
            "prefix": { "type": "string" },
            "scopes": { "type": "array", "items": { "$ref": "#/components/schemas/Scope" } },
            "created_at": { "type": "string", "format": "date-time" },
            "last_used_at": { "type": ["string", "null"], "format": "date-time" },
            "revoked_at": { "type": ["string", "null"], "format": "date-time" }
        }
    });
    let message = json!({
        "type": "object",
        "required": ["id", "to", "kind", "subject", "text", "url", "created_at", "sent_at"],
        "properties": {
            "id": { "type": "string" },
            "to": { "type": "string", "format": "email" },
            "kind": { "type": "string", "enum": ["confirm", "magic_link", "survey_invitation", "update_request", "test"] },
            "subject": { "type": "string" },
            "text": { "type": "string" },
            "url": { "type": ["string", "null"] },
            "unsubscribe_url": { "type": "string" },
            "preferences_url": { "type": "string" },
            "created_at": { "type": "string", "format": "date-time" },
            "sent_at": { "type": ["string", "null"], "format": "date-time" }
        }
    });
    let limit = |max: u32| json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": max } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Clientela",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A business's first-party customer base: signup forms with consent proof, self-service privacy rights, satisfaction surveys and segments."
        },
        "components": {
            "securitySchemes": { "apiKey": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": { "type": "string" },
                            "message": { "type": "string" },
                            "fields": { "type": "object", "additionalProperties": { "type": "string" } }
                        }
                    } }
                },
                "Scope": { "type": "string", "enum": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() },
                "ApiKey": key,
                "OutboxMessage": message
            }
        },
        "paths": {
            "/healthz": { "get": {
                "operationId": "healthz",
                "summary": "Liveness and D1 readiness",
                "responses": {
                    "200": json_response("D1 answers", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "ok" } } })),
                    "503": error_response("D1 does not answer")
                }
            } },
            "/openapi.json": { "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3.1 document", "content": { "application/json": { "schema": { "type": "object" } } } } }
            } },
            "/admin/v1/keys": {
                "post": {
                    "operationId": "createKey",
                    "summary": "Create a scoped API key; the secret is returned once",
                    "description": scope_note(Scope::Keys) + " A key can only grant scopes it holds.",
                    "security": [{ "apiKey": [] }],
                    "requestBody": json_body(json!({
                        "type": "object", "additionalProperties": false, "required": ["name", "scopes"],
                        "properties": {
                            "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                            "scopes": { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/Scope" } }
                        }
                    })),
                    "responses": admin_errors(with_body_errors(json!({
                        "201": json_response("created", json!({ "allOf": [ { "$ref": "#/components/schemas/ApiKey" }, { "type": "object", "required": ["key"], "properties": { "key": { "type": "string" } } } ] }))
                    })))
                },
                "get": {
                    "operationId": "listKeys",
                    "summary": "List API keys (never their secrets)",
                    "description": scope_note(Scope::Keys),
                    "security": [{ "apiKey": [] }],
                    "responses": admin_errors(json!({
                        "200": json_response("keys", json!({ "type": "object", "required": ["keys"], "properties": { "keys": { "type": "array", "items": { "$ref": "#/components/schemas/ApiKey" } } } }))
                    }))
                }
            },
            "/admin/v1/keys/{id}": { "delete": {
                "operationId": "revokeKey",
                "summary": "Revoke an API key (idempotent)",
                "description": scope_note(Scope::Keys),
                "security": [{ "apiKey": [] }],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": admin_errors(json!({
                    "200": json_response("revoked", json!({ "$ref": "#/components/schemas/ApiKey" })),
                    "404": error_response("no such key")
                }))
            } },
            "/admin/v1/audit": { "get": {
                "operationId": "listAudit",
                "summary": "Audit log entries from `since`, oldest first",
                "description": scope_note(Scope::Audit),
                "security": [{ "apiKey": [] }],
                "parameters": [
                    { "name": "since", "in": "query", "schema": { "type": "string", "format": "date-time" } },
                    limit(1000)
                ],
                "responses": admin_errors(json!({
                    "200": json_response("entries", json!({ "type": "object", "required": ["entries"], "properties": { "entries": { "type": "array", "items": {
                        "type": "object", "required": ["id", "at", "actor", "action"],
                        "properties": {
                            "id": { "type": "string" }, "at": { "type": "string", "format": "date-time" },
                            "actor": { "type": "string" }, "action": { "type": "string" },
                            "subject": { "type": ["string", "null"] }
                        }
                    } } } })),
                    "400": error_response("invalid query")
                }))
            } },
            "/admin/v1/outbox": { "get": {
                "operationId": "listOutbox",
                "summary": "Emails in the outbox, newest first",
                "description": scope_note(Scope::Outbox),
                "security": [{ "apiKey": [] }],
                "parameters": [
                    { "name": "to", "in": "query", "schema": { "type": "string", "format": "email" } },
                    limit(500)
                ],
                "responses": admin_errors(json!({
                    "200": json_response("messages", json!({ "type": "object", "required": ["messages"], "properties": { "messages": { "type": "array", "items": { "$ref": "#/components/schemas/OutboxMessage" } } } })),
                    "400": error_response("invalid query")
                }))
            } },
            "/admin/v1/outbox/test": { "post": {
                "operationId": "sendTestMessage",
                "summary": "Queue a test email to check delivery to the webhook",
                "description": scope_note(Scope::Outbox),
                "security": [{ "apiKey": [] }],
                "requestBody": json_body(json!({
                    "type": "object", "additionalProperties": false, "required": ["to"],
                    "properties": { "to": { "type": "string", "format": "email" } }
                })),
                "responses": admin_errors(with_body_errors(json!({
                    "201": json_response("queued", json!({ "type": "object", "required": ["message"], "properties": { "message": { "$ref": "#/components/schemas/OutboxMessage" } } }))
                })))
            } }
        }
    })
}

pub fn get() -> AppResult<Response> {
    response::json(200, &document())
}
