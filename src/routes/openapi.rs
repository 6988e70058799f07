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

/// A 401, with the challenge every such answer carries.
fn unauthorized(description: &str) -> Value {
    let mut response = error_response(description);
    response["headers"] = json!({ "WWW-Authenticate": { "required": true, "schema": { "type": "string", "const": "Bearer" } } });
    response
}

/// A 429, with the seconds to wait before trying again.
fn rate_limited(description: &str) -> Value {
    let mut response = error_response(description);
    response["headers"] = json!({ "Retry-After": { "required": true, "description": "seconds", "schema": { "type": "integer", "minimum": 1 } } });
    response
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// A response whose `id` feeds the `{id}` of other operations: the links let clients and
/// generated tests follow a created resource to its reads and writes.
fn linked(mut response: Value, pointer: &str, operations: &[&str]) -> Value {
    let links: serde_json::Map<String, Value> = operations
        .iter()
        .map(|op| {
            let link = json!({ "operationId": op, "parameters": { "id": format!("$response.body#{pointer}") } });
            (op.to_string(), link)
        })
        .collect();
    response["links"] = Value::Object(links);
    response
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// The standard admin answers besides success.
fn admin_errors(mut responses: Value) -> Value {
    let map = responses.as_object_mut();
    if let Some(map) = map {
        map.insert("401".into(), unauthorized("missing or invalid API key"));
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

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } })
}

fn token_param() -> Value {
    json!({ "name": "t", "in": "query", "required": true, "schema": { "type": "string" } })
}

fn html_response(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

/// A language tag the service reads by its primary subtag (`pt-BR`, `en-US`, `RO`): en, pt,
/// ro or ru. Null or absent means the default.
fn locale_tag() -> Value {
    json!({
        "type": ["string", "null"],
        "pattern": "^\\s*([Ee][Nn]|[Pp][Tt]|[Rr][Oo]|[Rr][Uu])([-_].*)?\\s*$",
        "description": "en, pt-BR, ro or ru (read by the primary subtag); null or absent: en"
    })
}

fn form_input_properties() -> Value {
    let texts = json!({ "type": "object", "additionalProperties": { "type": "string" } });
    json!({
        "name": { "type": "string", "minLength": 1, "maxLength": 100 },
        "allowed_origins": { "type": "array", "items": { "type": "string" } },
        "locale": { "type": ["string", "null"], "enum": ["en", "pt-BR", "ro", "ru", null] },
        "double_opt_in": { "type": "boolean" },
        "redirect_url": { "type": ["string", "null"] },
        "turnstile_site_key": { "type": ["string", "null"] },
        "fields": { "type": "array", "items": { "type": "object", "required": ["key", "type"], "properties": {
            "key": { "type": "string" },
            "type": { "type": "string", "enum": ["email", "text", "phone", "date", "number", "single_choice", "multi_choice", "checkbox"] },
            "required": { "type": "boolean" }, "label": texts, "max_len": { "type": ["integer", "null"] },
            "options": { "type": ["array", "null"], "items": { "type": "string" } },
            "min": { "type": "number" }, "max": { "type": "number" } } } },
        "consents": { "type": "array", "items": { "type": "object", "required": ["purpose", "policy_version", "text"], "properties": {
            "purpose": { "type": "string" }, "required": { "type": "boolean" },
            "policy_version": { "type": "string" }, "text": texts } } }
    })
}

fn form_input_schema() -> Value {
    let example = json!({
        "name": "Newsletter", "allowed_origins": ["https://shop.example"], "locale": "pt-BR",
        "double_opt_in": true, "redirect_url": "https://shop.example/thanks",
        "fields": [
            { "key": "email", "type": "email", "required": true, "label": { "en": "Email", "pt-BR": "E-mail" } },
            { "key": "name", "type": "text", "max_len": 100 },
            { "key": "interests", "type": "multi_choice", "options": ["shoes", "bags"] }
        ],
        "consents": [{ "purpose": "marketing_email", "required": true, "policy_version": "2026-01",
                       "text": { "en": "I agree to receive offers by email" } }]
    });
    json!({ "type": "object", "additionalProperties": false, "required": ["name", "fields"], "properties": form_input_properties(), "examples": [example] })
}

fn form_input_schema_open() -> Value {
    json!({ "type": "object", "required": ["name", "fields"], "properties": form_input_properties() })
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
            "securitySchemes": { "apiKey": { "type": "http", "scheme": "bearer" }, "session": { "type": "http", "scheme": "bearer", "description": "a session from POST /v1/me/session" } },
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
                "FormInput": form_input_schema(),
                "Form": { "allOf": [ form_input_schema_open(), { "type": "object", "required": ["id", "created_at", "updated_at", "embed_html"], "properties": {
                    "id": { "type": "string" }, "created_at": { "type": "string", "format": "date-time" },
                    "updated_at": { "type": "string", "format": "date-time" }, "embed_html": { "type": "string" } } } ] },
                "PublicForm": { "type": "object", "required": ["id", "name", "submit_url", "honeypot_field", "fields", "consents"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "locale": { "type": ["string", "null"] },
                    "double_opt_in": { "type": "boolean" }, "submit_url": { "type": "string" },
                    "redirect_url": { "type": ["string", "null"] }, "honeypot_field": { "type": "string" },
                    "turnstile_site_key": { "type": ["string", "null"] },
                    "fields": { "type": "array", "items": { "type": "object" } },
                    "consents": { "type": "array", "items": { "type": "object" } } } },
                "Submission": { "type": "object", "additionalProperties": false, "properties": {
                    "fields": { "type": "object" },
                    "consents": { "type": "object", "additionalProperties": { "type": "boolean" } },
                    "turnstile_token": { "type": "string" } } },
                "Me": { "allOf": [ { "$ref": "#/components/schemas/Contact" }, { "type": "object", "required": ["orders", "survey_responses", "segments", "links"], "properties": {
                    "orders": { "type": "array" }, "survey_responses": { "type": "array" },
                    "segments": { "type": "array", "items": { "type": "string" } },
                    "links": { "type": "object", "required": ["unsubscribe_url", "preferences_url"], "properties": {
                        "unsubscribe_url": { "type": "string" }, "preferences_url": { "type": "string" } } } } } ] },
                "Contact": { "type": "object", "required": ["id", "email", "status", "attributes", "consents", "consent_history"], "properties": {
                    "id": { "type": "string" }, "email": { "type": "string" },
                    "status": { "type": "string", "enum": ["pending", "active", "unsubscribed"] },
                    "attributes": { "type": "object" },
                    "consents": { "type": "array", "items": { "type": "object", "required": ["purpose", "granted"], "properties": {
                        "purpose": { "type": "string" }, "granted": { "type": "boolean" } } } },
                    "consent_history": { "type": "array", "items": { "type": "object", "required": ["purpose", "action", "method", "at"], "properties": {
                        "purpose": { "type": "string" }, "action": { "type": "string", "enum": ["granted", "withdrawn"] },
                        "method": { "type": "string" }, "at": { "type": "string", "format": "date-time" } } } },
                    "stats": { "type": ["object", "null"], "description": "purchase and survey facts; null before the first order or answer", "properties": {
                        "order_count": { "type": "integer" }, "total_spent_cents": { "type": "integer" },
                        "first_order_at": { "type": ["string", "null"] }, "last_order_at": { "type": ["string", "null"] },
                        "last_nps": { "type": ["integer", "null"] }, "nps_category": { "type": ["string", "null"], "enum": ["promoter", "passive", "detractor", null] },
                        "avg_csat": { "type": ["number", "null"] }, "csat_count": { "type": "integer" },
                        "temperature": { "type": "string", "enum": ["cold", "warm", "hot"] },
                        "rfm": { "type": ["object", "null"], "description": "RFM quintiles (5 best) and group, recomputed daily", "properties": {
                            "r": { "type": "integer" }, "f": { "type": "integer" }, "m": { "type": "integer" }, "group": { "type": "string" } } } } } } },
                "SegmentInput": { "type": "object", "additionalProperties": false, "required": ["name", "rule"],
                    "examples": [{ "name": "Brazilian buyers", "rule": { "all": [{ "field": "country", "op": "eq", "value": "BR" }, { "field": "order_count", "op": "gte", "value": 1 }] } }],
                    "properties": {
                    "name": { "type": "string" }, "rule": { "type": "object" },
                    "purpose": { "type": ["string", "null"], "description": "consent every member must hold; null or absent: marketing_email" } } },
                "Segment": { "type": "object", "required": ["id", "name", "rule", "purpose", "version", "state", "size", "computed_at"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "rule": { "type": "object" }, "purpose": { "type": "string" },
                    "version": { "type": "integer" }, "state": { "type": "string", "enum": ["building", "ready"] },
                    "size": { "type": "integer" }, "computed_at": { "type": ["string", "null"] },
                    "created_at": { "type": "string" }, "updated_at": { "type": "string" } } },
                "SurveyInput": { "type": "object", "additionalProperties": false, "required": ["name", "questions"],
                    "examples": [{ "name": "After delivery", "locale": "en", "expires_after_days": 30, "questions": [
                        { "key": "nps", "type": "nps", "required": true, "text": { "en": "How likely are you to recommend us?" } },
                        { "key": "why", "type": "text", "text": { "en": "Why?" } }] }],
                    "properties": {
                    "name": { "type": "string" }, "locale": locale_tag(),
                    "expires_after_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 365, "description": "null or absent: 30" },
                    "questions": { "type": "array", "minItems": 1, "maxItems": 30, "items": { "type": "object", "additionalProperties": false, "required": ["key", "type", "text"], "properties": {
                        "key": { "type": "string" }, "type": { "type": "string", "enum": ["nps", "csat", "ces", "single_choice", "multi_choice", "text"] },
                        "required": { "type": ["boolean", "null"], "description": "null or absent: false" },
                        "text": { "type": "object", "additionalProperties": { "type": "string" } },
                        "max_len": { "type": ["integer", "null"], "minimum": 1, "description": "text questions only" },
                        "options": { "type": ["array", "null"], "minItems": 1, "description": "choice questions only", "items": { "type": "object", "additionalProperties": false, "required": ["value"], "properties": {
                            "value": { "type": "string" }, "label": { "type": ["object", "null"], "additionalProperties": { "type": "string" } } } } } } } } } },
                "Survey": { "type": "object", "required": ["id", "name", "questions", "created_at", "updated_at"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "locale": { "type": "string" },
                    "expires_after_days": { "type": "integer" }, "questions": { "type": "array" },
                    "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" } } },
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
                        "examples": [{ "name": "shop backend", "scopes": ["orders", "outbox"] }],
                        "properties": {
                            "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                            "scopes": { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/Scope" } }
                        }
                    })),
                    "responses": admin_errors(with_body_errors(json!({
                        "201": linked(json_response("created", json!({ "allOf": [ { "$ref": "#/components/schemas/ApiKey" }, { "type": "object", "required": ["key"], "properties": { "key": { "type": "string" } } } ] })), "/id", &["revokeKey"])
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
            "/admin/v1/dead-letters": { "get": {
                "operationId": "listDeadLetters",
                "summary": "Queue messages that failed every attempt, oldest first from `since`",
                "description": scope_note(Scope::Audit),
                "security": [{ "apiKey": [] }],
                "parameters": [
                    { "name": "since", "in": "query", "schema": { "type": "string", "format": "date-time" } },
                    limit(1000)
                ],
                "responses": admin_errors(json!({
                    "200": json_response("dead letters", json!({ "type": "object", "required": ["dead_letters"], "properties": { "dead_letters": { "type": "array", "items": {
                        "type": "object", "required": ["message_id", "queue", "job", "body", "received_at"],
                        "properties": {
                            "message_id": { "type": "string" }, "queue": { "type": "string" },
                            "job": { "type": ["string", "null"], "description": "the job kind; null when the body held no job" },
                            "body": { "type": "string", "description": "the message as sent: a job envelope with ids, never an email" },
                            "received_at": { "type": "string", "format": "date-time" }
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
            "/embed.js": { "get": {
                "operationId": "embedScript",
                "summary": "The signup widget: <script src=\"…/embed.js\" data-form=\"frm_…\" async>",
                "responses": { "200": { "description": "JavaScript", "content": { "application/javascript": { "schema": { "type": "string" } } } } }
            } },
            "/v1/forms/{id}": {
                "get": {
                    "operationId": "getPublicForm",
                    "summary": "A form's public definition (CORS for its allowed origins)",
                    "parameters": [id_param()],
                    "responses": {
                        "200": json_response("form", json!({ "$ref": "#/components/schemas/PublicForm" })),
                        "403": error_response("origin not allowed"),
                        "404": error_response("no such form")
                    }
                },
                "options": {
                    "operationId": "preflightPublicForm",
                    "summary": "CORS preflight",
                    "parameters": [id_param()],
                    "responses": { "204": { "description": "allowed" }, "400": error_response("no Origin"), "403": error_response("origin not allowed"), "404": error_response("no such form") }
                }
            },
            "/v1/forms/{id}/submissions": {
                "post": {
                    "operationId": "submitForm",
                    "summary": "Sign up through a form; the same answer whether the address is new or known",
                    "parameters": [id_param()],
                    "requestBody": { "required": true, "content": {
                        "application/json": { "schema": { "$ref": "#/components/schemas/Submission" } },
                        "application/x-www-form-urlencoded": { "schema": { "type": "object", "additionalProperties": { "type": "string" } } }
                    } },
                    "responses": with_body_errors(json!({
                        "202": json_response("accepted", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "accepted" } } })),
                        "303": { "description": "plain form post: redirect to the form's redirect_url" },
                        "403": error_response("origin not allowed or Turnstile failed"),
                        "404": error_response("no such form"),
                        "429": rate_limited("too many submissions; see Retry-After")
                    }))
                },
                "options": {
                    "operationId": "preflightSubmission",
                    "summary": "CORS preflight",
                    "parameters": [id_param()],
                    "responses": { "204": { "description": "allowed" }, "400": error_response("no Origin"), "403": error_response("origin not allowed"), "404": error_response("no such form") }
                }
            },
            "/confirm": {
                "get": {
                    "operationId": "confirmPage",
                    "summary": "The page a confirmation link opens: one button, no state change",
                    "parameters": [token_param()],
                    "responses": { "200": html_response("page"), "400": html_response("malformed link") }
                },
                "post": {
                    "operationId": "confirmPagePost",
                    "summary": "The page's button: confirms and answers with a page",
                    "parameters": [token_param()],
                    "responses": { "200": html_response("confirmed"), "400": html_response("malformed link"), "410": html_response("used, expired or invalid link") }
                }
            },
            "/v1/confirm": { "post": {
                "operationId": "confirm",
                "summary": "Confirm a signup with the token from the email",
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": { "token": { "type": "string" } } })),
                "responses": with_body_errors(json!({
                    "200": json_response("confirmed", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "confirmed" } } })),
                    "410": error_response("used, expired, forged or wrong-purpose token")
                }))
            } },
            "/admin/v1/forms": {
                "post": {
                    "operationId": "createForm",
                    "summary": "Create a signup form",
                    "description": scope_note(Scope::Forms),
                    "security": [{ "apiKey": [] }],
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/FormInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Form" })), "/id", &["getForm", "patchForm", "getPublicForm", "preflightPublicForm", "submitForm", "preflightSubmission"]) })))
                },
                "get": {
                    "operationId": "listForms",
                    "summary": "List forms",
                    "description": scope_note(Scope::Forms),
                    "security": [{ "apiKey": [] }],
                    "responses": admin_errors(json!({ "200": json_response("forms", json!({ "type": "object", "required": ["forms"], "properties": { "forms": { "type": "array", "items": { "$ref": "#/components/schemas/Form" } } } })) }))
                }
            },
            "/admin/v1/forms/{id}": {
                "get": {
                    "operationId": "getForm",
                    "summary": "Read a form",
                    "description": scope_note(Scope::Forms),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("form", json!({ "$ref": "#/components/schemas/Form" })), "404": error_response("no such form") }))
                },
                "patch": {
                    "operationId": "patchForm",
                    "summary": "Replace top-level keys of a form; the result is validated whole",
                    "description": scope_note(Scope::Forms),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "requestBody": json_body(json!({ "type": "object" })),
                    "responses": admin_errors(with_body_errors(json!({ "200": json_response("form", json!({ "$ref": "#/components/schemas/Form" })), "404": error_response("no such form") })))
                }
            },
            "/admin/v1/contacts": { "get": {
                "operationId": "findContacts",
                "summary": "Find a contact by email",
                "description": scope_note(Scope::ContactsRead),
                "security": [{ "apiKey": [] }],
                "parameters": [{ "name": "email", "in": "query", "required": true, "schema": { "type": "string" } }],
                "responses": admin_errors(json!({
                    "200": linked(json_response("matches", json!({ "type": "object", "required": ["contacts"], "properties": { "contacts": { "type": "array", "items": { "$ref": "#/components/schemas/Contact" } } } })), "/contacts/0/id", &["getContact"]),
                    "400": error_response("invalid email")
                }))
            } },
            "/admin/v1/contacts/{id}": { "get": {
                "operationId": "getContact",
                "summary": "A contact with attributes, consents and consent history",
                "description": scope_note(Scope::ContactsRead),
                "security": [{ "apiKey": [] }],
                "parameters": [id_param()],
                "responses": admin_errors(json!({ "200": json_response("contact", json!({ "$ref": "#/components/schemas/Contact" })), "404": error_response("no such contact") }))
            } },
            "/admin/v1/contacts/import": { "post": {
                "operationId": "importContacts",
                "summary": "Import contacts from NDJSON or CSV; rows are created, updated or rejected with reasons",
                "description": scope_note(Scope::ContactsWrite),
                "security": [{ "apiKey": [] }],
                "requestBody": { "required": true, "content": {
                    "application/x-ndjson": { "schema": { "type": "string" } },
                    "text/csv": { "schema": { "type": "string" } }
                } },
                "responses": admin_errors(with_body_errors(json!({
                    "200": json_response("the import report", json!({
                        "type": "object",
                        "required": ["created", "updated", "rejected", "consents_kept_withdrawn"],
                        "properties": {
                            "created": { "type": "integer", "minimum": 0 },
                            "updated": { "type": "integer", "minimum": 0 },
                            "rejected": { "type": "array", "items": { "type": "object", "required": ["line", "reason"], "properties": { "line": { "type": "integer" }, "reason": { "type": "string" } } } },
                            "consents_kept_withdrawn": { "type": "array", "items": { "type": "object", "required": ["line", "purpose"], "properties": { "line": { "type": "integer" }, "purpose": { "type": "string" } } } }
                        }
                    }))
                })))
            } },
            "/admin/v1/orders": { "post": {
                "operationId": "ingestOrders",
                "summary": "Record purchases, idempotent on external_id; unknown buyers become contacts without marketing consent",
                "description": scope_note(Scope::Orders),
                "security": [{ "apiKey": [] }],
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["orders"],
                    "examples": [{ "orders": [{ "external_id": "1001", "email": "ana@example.com", "total": "129.90", "currency": "BRL",
                        "placed_at": "2026-01-15T12:00:00Z", "items": [{ "sku": "BAG-1", "name": "Tote", "category": "Bags", "quantity": 1, "price": "129.90" }] }] }],
                    "properties": {
                    "orders": { "type": "array", "minItems": 1, "maxItems": 500, "items": { "type": "object", "additionalProperties": false,
                        "required": ["external_id", "email", "total", "currency", "placed_at"], "properties": {
                        "external_id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": "string" },
                        "total": { "type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$" },
                        "currency": { "type": "string", "pattern": "^[A-Za-z]{3}$" },
                        "placed_at": { "type": "string", "format": "date-time" },
                        "items": { "type": "array", "maxItems": 200, "items": { "type": "object", "additionalProperties": false,
                            "required": ["sku", "quantity", "price"], "properties": {
                            "sku": { "type": "string" }, "name": { "type": "string" }, "category": { "type": "string" },
                            "quantity": { "type": "integer", "minimum": 1, "maximum": 10000 },
                            "price": { "type": "string" } } } } } } } } })),
                "responses": admin_errors(with_body_errors(json!({
                    "200": json_response("stored", json!({ "type": "object", "required": ["created", "updated"], "properties": {
                        "created": { "type": "integer", "minimum": 0 }, "updated": { "type": "integer", "minimum": 0 } } }))
                })))
            } },
            "/admin/v1/surveys": {
                "post": {
                    "operationId": "createSurvey",
                    "summary": "Create a survey: questions of type nps, csat, ces, single_choice, multi_choice, text",
                    "description": scope_note(Scope::Surveys),
                    "security": [{ "apiKey": [] }],
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/SurveyInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Survey" })), "/id", &["getSurvey", "patchSurvey", "inviteToSurvey", "surveyResults", "exportSurveyResponses"]) })))
                },
                "get": {
                    "operationId": "listSurveys",
                    "summary": "List surveys",
                    "description": scope_note(Scope::Surveys),
                    "security": [{ "apiKey": [] }],
                    "responses": admin_errors(json!({ "200": json_response("surveys", json!({ "type": "object", "required": ["surveys"], "properties": { "surveys": { "type": "array", "items": { "$ref": "#/components/schemas/Survey" } } } })) }))
                }
            },
            "/admin/v1/surveys/{id}": {
                "get": {
                    "operationId": "getSurvey",
                    "summary": "Read a survey",
                    "description": scope_note(Scope::Surveys),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("survey", json!({ "$ref": "#/components/schemas/Survey" })), "404": error_response("no such survey") }))
                },
                "patch": {
                    "operationId": "patchSurvey",
                    "summary": "Replace top-level keys of a survey; the result is validated whole",
                    "description": scope_note(Scope::Surveys),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "requestBody": json_body(json!({ "type": "object" })),
                    "responses": admin_errors(with_body_errors(json!({ "200": json_response("survey", json!({ "$ref": "#/components/schemas/Survey" })), "404": error_response("no such survey") })))
                }
            },
            "/admin/v1/surveys/{id}/invitations": { "post": {
                "operationId": "inviteToSurvey",
                "summary": "Signed single-use survey links for contacts or emails, optionally about an order, optionally emailed",
                "description": scope_note(Scope::Surveys),
                "security": [{ "apiKey": [] }],
                "parameters": [id_param()],
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["invitations"], "properties": {
                    "invitations": { "type": "array", "minItems": 1, "maxItems": 200, "items": { "type": "object", "additionalProperties": false, "properties": {
                        "email": { "type": "string" }, "contact_id": { "type": "string" }, "order_id": { "type": "string", "description": "the order's external_id" } } } },
                    "send_email": { "type": "boolean", "default": false } } })),
                "responses": admin_errors(with_body_errors(json!({
                    "201": json_response("links", json!({ "type": "object", "required": ["invitations"], "properties": { "invitations": { "type": "array", "items": {
                        "type": "object", "required": ["id", "contact_id", "url", "expires_at"], "properties": {
                        "id": { "type": "string" }, "contact_id": { "type": "string" }, "url": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } } } } } })),
                    "404": error_response("no such survey")
                })))
            } },
            "/admin/v1/surveys/{id}/results": { "get": {
                "operationId": "surveyResults",
                "summary": "Invited, responses, response rate, NPS, CSAT, CES and choice counts",
                "description": scope_note(Scope::Surveys),
                "security": [{ "apiKey": [] }],
                "parameters": [id_param()],
                "responses": admin_errors(json!({
                    "200": json_response("results", json!({ "type": "object", "required": ["invited", "responses", "response_rate", "nps", "csat", "ces", "choices"], "properties": {
                        "invited": { "type": "integer" }, "responses": { "type": "integer" }, "response_rate": { "type": ["number", "null"] },
                        "nps": { "type": "object", "required": ["score", "promoters", "passives", "detractors"], "properties": {
                            "score": { "type": ["number", "null"] }, "promoters": { "type": "integer" }, "passives": { "type": "integer" }, "detractors": { "type": "integer" } } },
                        "csat": { "type": "object", "properties": { "average": { "type": ["number", "null"] }, "satisfied_pct": { "type": ["number", "null"] } } },
                        "ces": { "type": "object", "properties": { "average": { "type": ["number", "null"] } } },
                        "choices": { "type": "object" } } })),
                    "404": error_response("no such survey")
                }))
            } },
            "/admin/v1/surveys/{id}/responses.csv": { "get": {
                "operationId": "exportSurveyResponses",
                "summary": "Every response as CSV, one column per question; formula-like text neutralised",
                "description": scope_note(Scope::Surveys),
                "security": [{ "apiKey": [] }],
                "parameters": [id_param()],
                "responses": admin_errors(json!({
                    "200": { "description": "CSV download", "content": { "text/csv": { "schema": { "type": "string" } } } },
                    "404": error_response("no such survey")
                }))
            } },
            "/s/{token}": { "get": {
                "operationId": "surveyPage",
                "summary": "The hosted survey page of an invitation link (`?embed=1` for an iframe)",
                "parameters": [
                    { "name": "token", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "embed", "in": "query", "required": false, "schema": { "type": "string" }, "description": "`1` lays the page out for an iframe; any other value is the full page" }
                ],
                "responses": {
                    "200": html_response("the survey"),
                    "409": html_response("already answered"),
                    "410": html_response("invalid or expired link")
                }
            } },
            "/v1/surveys/responses": { "post": {
                "operationId": "answerSurvey",
                "summary": "Answer a survey once per invitation",
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token", "answers"], "properties": {
                    "token": { "type": "string" }, "answers": { "type": "object" } } })),
                "responses": with_body_errors(json!({
                    "201": json_response("recorded", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "recorded" } } })),
                    "409": error_response("already answered"),
                    "410": error_response("invalid or expired link"),
                    "429": rate_limited("too many requests; see Retry-After")
                }))
            } },
            "/admin/v1/segments": {
                "post": {
                    "operationId": "createSegment",
                    "summary": "Save a segment; the queue builds its members (state building, then ready)",
                    "description": scope_note(Scope::Segments),
                    "security": [{ "apiKey": [] }],
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/SegmentInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Segment" })), "/id", &["getSegment", "replaceSegment", "deleteSegment", "exportSegment"]) })))
                },
                "get": {
                    "operationId": "listSegments",
                    "summary": "List segments with size, state and version",
                    "description": scope_note(Scope::Segments),
                    "security": [{ "apiKey": [] }],
                    "responses": admin_errors(json!({ "200": json_response("segments", json!({ "type": "object", "required": ["segments"], "properties": { "segments": { "type": "array", "items": { "$ref": "#/components/schemas/Segment" } } } })) }))
                }
            },
            "/admin/v1/segments/preview": { "post": {
                "operationId": "previewSegment",
                "summary": "Count and a small sample of who matches a rule now, without saving",
                "description": scope_note(Scope::Segments),
                "security": [{ "apiKey": [] }],
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["rule"], "properties": { "rule": { "type": "object" }, "purpose": { "type": "string" } } })),
                "responses": admin_errors(with_body_errors(json!({ "200": json_response("preview", json!({ "type": "object", "required": ["count", "sample"], "properties": {
                    "count": { "type": "integer" }, "sample": { "type": "array", "items": { "type": "object", "required": ["id", "email"], "properties": {
                        "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": ["string", "null"] }, "country": { "type": ["string", "null"] } } } } } })) })))
            } },
            "/admin/v1/segments/{id}": {
                "get": {
                    "operationId": "getSegment",
                    "summary": "Read a segment",
                    "description": scope_note(Scope::Segments),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("segment", json!({ "$ref": "#/components/schemas/Segment" })), "404": error_response("no such segment") }))
                },
                "put": {
                    "operationId": "replaceSegment",
                    "summary": "Replace name, rule and purpose: a new version, rebuilt by the queue",
                    "description": scope_note(Scope::Segments),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/SegmentInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "200": json_response("segment", json!({ "$ref": "#/components/schemas/Segment" })), "404": error_response("no such segment") })))
                },
                "delete": {
                    "operationId": "deleteSegment",
                    "summary": "Delete a segment and its memberships",
                    "description": scope_note(Scope::Segments),
                    "security": [{ "apiKey": [] }],
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("deleted", json!({ "type": "object", "required": ["id", "status"], "properties": { "id": { "type": "string" }, "status": { "const": "deleted" } } })), "404": error_response("no such segment") }))
                }
            },
            "/admin/v1/segments/{id}/export.csv": { "get": {
                "operationId": "exportSegment",
                "summary": "Stream the members as RFC 4180 CSV (or NDJSON), with signed preferences and unsubscribe URLs",
                "description": scope_note(Scope::Exports),
                "security": [{ "apiKey": [] }],
                "parameters": [
                    id_param(),
                    { "name": "columns", "in": "query", "required": false, "schema": { "type": "string" }, "description": "comma-separated: contact_id, email, name, phone, locale, country, city, gender, birth_date, preferred_channel, created_at, temperature, order_count, total_spent, last_order_at, last_nps, nps_category, preferences_url, unsubscribe_url" },
                    { "name": "format", "in": "query", "required": false, "schema": { "type": "string", "enum": ["csv", "ndjson"] } }
                ],
                "responses": admin_errors(json!({
                    "200": { "description": "the members", "content": { "text/csv": { "schema": { "type": "string" } }, "application/x-ndjson": { "schema": { "type": "string" } } } },
                    "400": error_response("unknown column or format"),
                    "404": error_response("no such segment")
                }))
            } },
            "/admin": { "get": {
                "operationId": "adminPage",
                "summary": "The marketer's page: segments with download buttons, forms, survey results",
                "responses": { "200": html_response("the page") }
            } },
            "/v1/me/link": { "post": {
                "operationId": "requestMagicLink",
                "summary": "Email a sign-in link to this address if we know it; always the same answer",
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["email"], "properties": { "email": { "type": "string" } } })),
                "responses": with_body_errors(json!({
                    "202": json_response("accepted", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "accepted" } } })),
                    "429": rate_limited("too many requests; see Retry-After")
                }))
            } },
            "/v1/me/session": { "post": {
                "operationId": "startSession",
                "summary": "Trade a magic-link token or a signed preferences link for a session",
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": { "token": { "type": "string" } } })),
                "responses": with_body_errors(json!({
                    "200": json_response("session", json!({ "type": "object", "required": ["session", "expires_at"], "properties": { "session": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } } })),
                    "410": error_response("used, expired or invalid link")
                }))
            } },
            "/v1/me": {
                "get": {
                    "operationId": "getMe",
                    "summary": "Everything we hold about the signed-in person",
                    "security": [{ "session": [] }],
                    "responses": { "200": json_response("profile", json!({ "$ref": "#/components/schemas/Me" })), "401": unauthorized("no valid session") }
                },
                "patch": {
                    "operationId": "patchMe",
                    "summary": "Correct editable fields (name, phone, locale, country, city, birth_date, gender, preferred_channel)",
                    "security": [{ "session": [] }],
                    "requestBody": json_body(json!({ "type": "object", "minProperties": 1, "additionalProperties": false, "properties": {
                        "name": { "type": ["string", "null"] }, "phone": { "type": ["string", "null"] }, "locale": { "type": ["string", "null"] },
                        "country": { "type": ["string", "null"] }, "city": { "type": ["string", "null"] }, "birth_date": { "type": ["string", "null"] },
                        "gender": { "type": ["string", "null"] }, "preferred_channel": { "type": "string", "enum": ["email", "sms", "whatsapp"] } } })),
                    "responses": with_body_errors(json!({ "200": json_response("profile", json!({ "$ref": "#/components/schemas/Me" })), "401": unauthorized("no valid session") }))
                },
                "delete": {
                    "operationId": "eraseMe",
                    "summary": "Erase everything about the signed-in person",
                    "security": [{ "session": [] }],
                    "responses": { "200": json_response("erased", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "erased" } } })), "401": unauthorized("no valid session") }
                }
            },
            "/v1/me/export": { "get": {
                "operationId": "exportMe",
                "summary": "Download everything we hold, with purposes and retention (JSON attachment)",
                "security": [{ "session": [] }],
                "responses": { "200": json_response("export", json!({ "type": "object", "required": ["format", "generated_at", "data", "processing"] })), "401": unauthorized("no valid session") }
            } },
            "/v1/me/consents/{purpose}": { "put": {
                "operationId": "putConsent",
                "summary": "Grant or withdraw consent for a purpose",
                "security": [{ "session": [] }],
                "parameters": [{ "name": "purpose", "in": "path", "required": true, "schema": { "type": "string" } }],
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["granted"], "properties": { "granted": { "type": "boolean" } } })),
                "responses": with_body_errors(json!({
                    "200": json_response("recorded", json!({ "type": "object", "required": ["purpose", "granted", "updated_at"], "properties": { "purpose": { "type": "string" }, "granted": { "type": "boolean" }, "updated_at": { "type": "string" } } })),
                    "401": unauthorized("no valid session")
                }))
            } },
            "/me": { "get": {
                "operationId": "preferenceCenter",
                "summary": "The hosted preference center (reads ?t= magic link or ?p= preferences link)",
                "responses": { "200": html_response("page") }
            } },
            "/unsubscribe": {
                "get": {
                    "operationId": "unsubscribePage",
                    "summary": "Unsubscribe page with one button",
                    "parameters": [token_param()],
                    "responses": { "200": html_response("page"), "400": html_response("invalid link") }
                },
                "post": {
                    "operationId": "unsubscribe",
                    "summary": "RFC 8058 one-click unsubscribe (body List-Unsubscribe=One-Click): withdraws marketing_email",
                    "parameters": [token_param()],
                    "responses": { "200": html_response("unsubscribed"), "400": html_response("invalid link") }
                }
            },
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
