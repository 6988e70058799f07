//! `GET /openapi.json`: the API contract as OpenAPI 3.1. A test holds it equal to the router.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::http::app::App;

use crate::domain::export::ExportColumn;
use crate::domain::scope::Scope;
use crate::error::AppResult;
use crate::http::response;
use crate::router::{Access, ROUTES};

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

/// `responses` with one more (or a replaced) answer.
fn with_status(mut responses: Value, status: &str, response: Value) -> Value {
    if let Some(map) = responses.as_object_mut() {
        map.insert(status.into(), response);
    }
    responses
}

/// The prose for an admin operation's scopes, the same words `security` says in scopes.
fn scope_note(scopes: &[Scope]) -> String {
    let names: Vec<String> = scopes.iter().map(|s| format!("`{s}`")).collect();
    match names.as_slice() {
        [one] => format!("Requires the {one} scope."),
        _ => format!("Requires one of the scopes {}.", names.join(", ")),
    }
}

/// Who may call each operation, written from the route table (`router::ROUTES`), never by
/// hand: `security` (an API key holding any one of the listed scopes, each a requirement of
/// its own, or a session) and, for admin operations, the scope note leading the description.
/// An operation the table lacks is left alone, for `documents_exactly_the_routes` to name.
fn publish_access(doc: &mut Value) {
    for route in ROUTES {
        let Some(op) = doc["paths"]
            .get_mut(route.path)
            .and_then(|item| item.get_mut(route.method.to_ascii_lowercase()))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        match route.access {
            Access::Public => {
                op.remove("security");
            }
            Access::Session => {
                op.insert("security".into(), json!([{ "session": [] }]));
            }
            Access::Admin(scopes) => {
                let security: Vec<Value> = scopes
                    .iter()
                    .map(|s| json!({ "apiKey": [s.as_str()] }))
                    .collect();
                op.insert("security".into(), Value::Array(security));
                let note = scope_note(scopes);
                let description = match op.get("description").and_then(Value::as_str) {
                    Some(more) => format!("{note} {more}"),
                    None => note,
                };
                op.insert("description".into(), Value::String(description));
            }
        }
    }
}

/// The 403 of an operation a `preferences` session may not use.
fn needs_sign_in() -> Value {
    error_response("`needs_sign_in`: the session was opened by a preferences link; this needs a `full` session from a sign-in link (`POST /v1/me/sign-in-link` emails one)")
}

/// `{"status": <status>}`, the whole answer of many operations.
fn status_only(status: &str) -> Value {
    json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": status } } })
}

/// The export's `columns` parameter, from the columns the code knows.
fn columns_note() -> String {
    let names = |columns: &[ExportColumn]| {
        columns
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "comma-separated: {}. Absent or empty: {}. The signed preferences_url and unsubscribe_url come only when named.",
        names(&ExportColumn::ALL),
        names(&ExportColumn::DEFAULT)
    )
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

/// One purpose in the self-service views: its state, its legal basis and the words the
/// preference center shows beside it.
fn purpose_state_schema() -> Value {
    json!({
        "type": "object",
        "required": ["purpose", "granted", "basis", "policy_version", "updated_at", "notice"],
        "properties": {
            "purpose": { "type": "string" },
            "granted": { "type": "boolean" },
            "basis": { "type": "string", "enum": ["consent", "legitimate_interest"], "description": "legitimate_interest purposes are on until objected to" },
            "policy_version": { "type": ["string", "null"] },
            "updated_at": { "type": ["string", "null"], "description": "null for a legitimate-interest purpose never decided on" },
            "notice": { "type": "string", "description": "the words shown beside the switch, in the request's Accept-Language; a grant records exactly these" }
        }
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

/// The self-service operations: a person's own data, behind a session from a link.
///
/// A sign-in link (emailed on request) opens a `full` session; the preferences link in every
/// marketing and survey email opens a `preferences` one, which reads the purposes and the masked
/// address, decides on purposes, and may only ask for a sign-in link for anything else.
fn self_service_paths() -> Value {
    let no_session = || unauthorized("no valid session");
    json!({
        "/v1/me/link": { "post": {
            "operationId": "requestMagicLink",
            "summary": "Email a sign-in link to this address if we know it; always the same answer",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["email"], "properties": { "email": { "type": "string" } } })),
            "responses": with_body_errors(json!({
                "202": json_response("accepted", status_only("accepted")),
                "429": rate_limited("too many requests from this address or for this email; see Retry-After")
            }))
        } },
        "/v1/me/session": { "post": {
            "operationId": "startSession",
            "summary": "Trade a sign-in token (single use) for a `full` session, or a signed preferences link for a `preferences` session",
            "description": "A `preferences` session reads the purposes and the masked address and decides on purposes; everything else answers 403 `needs_sign_in`. A preferences link works until it expires or is revoked (sign out everywhere, or an operator).",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": { "token": { "type": "string" } } })),
            "responses": with_body_errors(json!({
                "200": json_response("session", json!({ "type": "object", "required": ["session", "expires_at", "scope"], "properties": {
                    "session": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" },
                    "scope": { "type": "string", "enum": ["preferences", "full"], "description": "full from a sign-in link, preferences from a preferences link" } } })),
                "410": error_response("used, expired, revoked or invalid link"),
                "429": rate_limited("too many requests from this address; see Retry-After")
            }))
        } },
        "/v1/me": {
            "get": {
                "operationId": "getMe",
                "summary": "What the session may see: everything held (`full`), or the purposes and the masked address (`preferences`)",
                "responses": {
                    "200": json_response("the person as the session may see them; `scope` tells which", json!({
                        "oneOf": [ { "$ref": "#/components/schemas/Me" }, { "$ref": "#/components/schemas/MePreferences" } ],
                        "discriminator": { "propertyName": "scope", "mapping": { "full": "#/components/schemas/Me", "preferences": "#/components/schemas/MePreferences" } }
                    })),
                    "401": no_session()
                }
            },
            "patch": {
                "operationId": "patchMe",
                "summary": "Correct editable fields (name, phone, locale, country, city, birth_date, gender, preferred_channel)",
                "description": "A `full` session only.",
                "requestBody": json_body(json!({ "type": "object", "minProperties": 1, "additionalProperties": false, "properties": {
                    "name": { "type": ["string", "null"] }, "phone": { "type": ["string", "null"] }, "locale": { "type": ["string", "null"] },
                    "country": { "type": ["string", "null"] }, "city": { "type": ["string", "null"] }, "birth_date": { "type": ["string", "null"] },
                    "gender": { "type": ["string", "null"] }, "preferred_channel": { "type": "string", "enum": ["email", "sms", "whatsapp"] } } })),
                "responses": with_body_errors(json!({
                    "200": json_response("profile", json!({ "$ref": "#/components/schemas/Me" })),
                    "401": no_session(),
                    "403": needs_sign_in()
                }))
            },
            "delete": {
                "operationId": "eraseMe",
                "summary": "Erase everything about the signed-in person; a notice that it happened goes to the address",
                "description": "A `full` session only.",
                "responses": {
                    "200": json_response("erased", status_only("erased")),
                    "401": no_session(),
                    "403": needs_sign_in()
                }
            }
        },
        "/v1/me/export": { "get": {
            "operationId": "exportMe",
            "summary": "Download everything we hold, with purposes and retention (JSON attachment)",
            "description": "A `full` session only.",
            "responses": {
                "200": json_response("export", json!({ "type": "object", "required": ["format", "generated_at", "data", "processing"], "properties": {
                    "format": { "const": "clientela-export/1" }, "generated_at": { "type": "string", "format": "date-time" },
                    "data": { "$ref": "#/components/schemas/Me" },
                    "processing": { "type": "array", "items": { "type": "object", "required": ["data", "purpose", "retention"], "properties": {
                        "data": { "type": "string" }, "purpose": { "type": "string" }, "retention": { "type": "string" } } } } } })),
                "401": no_session(),
                "403": needs_sign_in()
            }
        } },
        "/v1/me/consents/{purpose}": { "put": {
            "operationId": "putConsent",
            "summary": "Grant or withdraw consent for a purpose (either session)",
            "description": "Withdrawing (objecting) is always allowed; a grant needs the purpose on record or a legitimate-interest purpose (400 otherwise). A grant records the words the preference center shows (`notice`).",
            "parameters": [{ "name": "purpose", "in": "path", "required": true, "schema": { "type": "string" } }],
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["granted"], "properties": { "granted": { "type": "boolean" } } })),
            "responses": with_body_errors(json!({
                "200": json_response("recorded", json!({ "type": "object", "required": ["purpose", "granted", "updated_at"], "properties": { "purpose": { "type": "string" }, "granted": { "type": "boolean" }, "updated_at": { "type": "string" } } })),
                "401": no_session()
            }))
        } },
        "/v1/me/sign-in-link": { "post": {
            "operationId": "emailSignInLink",
            "summary": "Email a sign-in link to the session's own address (either session), the only way from a preferences link to a `full` session",
            "description": "No body. At most three sign-in emails go to one mailbox in any 24 hours; beyond that nothing is sent and the answer is the same.",
            "responses": {
                "202": json_response("accepted", status_only("accepted")),
                "401": no_session(),
                "429": rate_limited("too many requests from this address; see Retry-After")
            }
        } },
        "/v1/me/sign-out-everywhere": { "post": {
            "operationId": "signOutEverywhere",
            "summary": "Revoke every preferences and unsubscribe link already emailed to the person and end every session, this one included (either session)",
            "description": "No body. New emails carry new links.",
            "responses": {
                "200": json_response("signed out", status_only("signed_out")),
                "401": no_session()
            }
        } }
    })
}

fn legacy_document() -> Value {
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
        "required": ["id", "to", "kind", "subject", "text", "url", "created_at", "sent_at", "redacted"],
        "description": "A queued email. Its body and links are shown only to a key with `outbox:deliver`, and only until it is delivered; otherwise `text` and `url` are null, the other links absent and `redacted` true.",
        "properties": {
            "id": { "type": "string" },
            "to": { "type": "string", "format": "idn-email" },
            "kind": { "type": "string", "enum": ["confirm", "magic_link", "survey_invitation", "update_request", "erasure_notice", "test"] },
            "subject": { "type": "string" },
            "text": { "type": ["string", "null"], "description": "the body; null when redacted" },
            "url": { "type": ["string", "null"], "description": "the link the message is about; null when it has none or when redacted" },
            "unsubscribe_url": { "type": ["string", "null"], "description": "one-click unsubscribe link of marketing and survey emails; absent when the message has none or when redacted" },
            "preferences_url": { "type": ["string", "null"], "description": "preference-center link of marketing and survey emails; absent when the message has none or when redacted" },
            "created_at": { "type": "string", "format": "date-time" },
            "sent_at": { "type": ["string", "null"], "format": "date-time" },
            "redacted": { "type": "boolean", "description": "true when the body and links were withheld (the key lacks `outbox:deliver`, or the message was delivered)" }
        }
    });
    let limit = |max: u32| json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": max } });
    let mut doc = json!({
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
                "PurposeState": purpose_state_schema(),
                "Me": { "description": "Everything held about the person: what a `full` session (from a sign-in link) reads.",
                    "allOf": [ { "$ref": "#/components/schemas/Contact" }, { "type": "object", "required": ["scope", "consents", "orders", "survey_responses", "segments"], "properties": {
                    "scope": { "const": "full" },
                    "consents": { "type": "array", "items": { "$ref": "#/components/schemas/PurposeState" } },
                    "orders": { "type": "array" }, "survey_responses": { "type": "array" },
                    "segments": { "type": "array", "items": { "type": "string" } } } } ] },
                "MePreferences": { "type": "object", "additionalProperties": false, "required": ["scope", "email", "locale", "consents"],
                    "description": "What a `preferences` session (from the preferences link in an email) reads: the purposes and the address masked, nothing else.",
                    "properties": {
                    "scope": { "const": "preferences" },
                    "email": { "type": "string", "description": "masked: the first character of the local part, `***`, then the domain (`p***@example.com`)" },
                    "locale": { "type": ["string", "null"] },
                    "consents": { "type": "array", "items": { "$ref": "#/components/schemas/PurposeState" } } } },
                "Contact": { "type": "object", "required": ["id", "email", "status", "attributes", "consents", "consent_history"], "properties": {
                    "id": { "type": "string" }, "email": { "type": "string" },
                    "status": { "type": "string", "enum": ["pending", "active", "unsubscribed"] },
                    "attributes": { "type": "object" },
                    "consents": { "type": "array", "items": { "type": "object", "required": ["purpose", "granted"], "properties": {
                        "purpose": { "type": "string" }, "granted": { "type": "boolean" },
                        "policy_version": { "type": ["string", "null"] }, "updated_at": { "type": ["string", "null"] } } } },
                    "consent_history": { "type": "array", "items": { "type": "object", "required": ["purpose", "action", "method", "at"], "properties": {
                        "purpose": { "type": "string" }, "action": { "type": "string", "enum": ["granted", "withdrawn"] },
                        "method": { "type": "string" }, "at": { "type": "string", "format": "date-time" },
                        "notice_text_hash": { "type": ["string", "null"], "description": "SHA-256 of the words shown; GET /admin/v1/notices/{sha256} returns them" } } } },
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
                },
                "get": {
                    "operationId": "listKeys",
                    "summary": "List API keys (never their secrets)",
                    "responses": admin_errors(json!({
                        "200": json_response("keys", json!({ "type": "object", "required": ["keys"], "properties": { "keys": { "type": "array", "items": { "$ref": "#/components/schemas/ApiKey" } } } }))
                    }))
                }
            },
            "/admin/v1/keys/{id}": { "delete": {
                "operationId": "revokeKey",
                "summary": "Revoke an API key (idempotent)",
                "description": "A key can only revoke keys whose every scope it holds itself (403 `scope_escalation` otherwise).",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": with_status(admin_errors(json!({
                    "200": json_response("revoked", json!({ "$ref": "#/components/schemas/ApiKey" })),
                    "404": error_response("no such key")
                })), "403", error_response("the API key lacks the scope, or the key to revoke holds a scope this one lacks (`scope_escalation`)"))
            } },
            "/admin/v1/audit": { "get": {
                "operationId": "listAudit",
                "summary": "Audit log entries from `since`, oldest first",
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
                "description": "Only a key with `outbox:deliver` (the mail relay's) sees the body and links of a message still to be delivered; every other message, and every message for any other key, comes redacted (`text` and `url` null, no other links, `redacted` true). Delivered messages keep no body or link at all.",
                "parameters": [
                    { "name": "to", "in": "query", "schema": { "type": "string", "format": "idn-email" } },
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
                    "responses": {
                        "200": html_response("confirmed"), "400": html_response("malformed link"), "410": html_response("used, expired or invalid link"),
                        "429": html_response("too many requests from this address (per-IP limit): a page asking to try again later")
                    }
                }
            },
            "/v1/confirm": { "post": {
                "operationId": "confirm",
                "summary": "Confirm a signup with the token from the email",
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": { "token": { "type": "string" } } })),
                "responses": with_body_errors(json!({
                    "200": json_response("confirmed", status_only("confirmed")),
                    "410": error_response("used, expired, forged or wrong-purpose token"),
                    "429": rate_limited("too many requests from this address; see Retry-After")
                }))
            } },
            "/admin/v1/forms": {
                "post": {
                    "operationId": "createForm",
                    "summary": "Create a signup form",
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/FormInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Form" })), "/id", &["getForm", "patchForm", "getPublicForm", "preflightPublicForm", "submitForm", "preflightSubmission"]) })))
                },
                "get": {
                    "operationId": "listForms",
                    "summary": "List forms",
                    "responses": admin_errors(json!({ "200": json_response("forms", json!({ "type": "object", "required": ["forms"], "properties": { "forms": { "type": "array", "items": { "$ref": "#/components/schemas/Form" } } } })) }))
                }
            },
            "/admin/v1/forms/{id}": {
                "get": {
                    "operationId": "getForm",
                    "summary": "Read a form",
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("form", json!({ "$ref": "#/components/schemas/Form" })), "404": error_response("no such form") }))
                },
                "patch": {
                    "operationId": "patchForm",
                    "summary": "Replace top-level keys of a form; the result is validated whole",
                    "parameters": [id_param()],
                    "requestBody": json_body(json!({ "type": "object" })),
                    "responses": admin_errors(with_body_errors(json!({ "200": json_response("form", json!({ "$ref": "#/components/schemas/Form" })), "404": error_response("no such form") })))
                }
            },
            "/admin/v1/contacts": { "get": {
                "operationId": "findContacts",
                "summary": "Find a contact by email",
                "parameters": [{ "name": "email", "in": "query", "required": true, "schema": { "type": "string" } }],
                "responses": admin_errors(json!({
                    "200": linked(json_response("matches", json!({ "type": "object", "required": ["contacts"], "properties": { "contacts": { "type": "array", "items": { "$ref": "#/components/schemas/Contact" } } } })), "/contacts/0/id", &["getContact", "revokeContactLinks"]),
                    "400": error_response("invalid email")
                }))
            } },
            "/admin/v1/contacts/{id}": { "get": {
                "operationId": "getContact",
                "summary": "A contact with attributes, consents and consent history",
                "parameters": [id_param()],
                "responses": admin_errors(json!({ "200": json_response("contact", json!({ "$ref": "#/components/schemas/Contact" })), "404": error_response("no such contact") }))
            } },
            "/admin/v1/contacts/{id}/revoke-links": { "post": {
                "operationId": "revokeContactLinks",
                "summary": "Revoke every preferences and unsubscribe link already sent to the person and end their self-service sessions (a leaked export, a shared inbox); new emails carry new links",
                "parameters": [id_param()],
                "responses": admin_errors(json!({
                    "200": json_response("revoked", json!({ "type": "object", "required": ["id", "status"], "properties": { "id": { "type": "string" }, "status": { "const": "links_revoked" } } })),
                    "404": error_response("no such contact")
                }))
            } },
            "/admin/v1/notices/{sha256}": { "get": {
                "operationId": "getNotice",
                "summary": "The exact words behind a consent event's notice_text_hash (the archive is append-only)",
                "parameters": [{ "name": "sha256", "in": "path", "required": true, "description": "SHA-256 of the notice text, 64 hexadecimal characters (either case)",
                    "schema": { "type": "string", "pattern": "^[0-9A-Fa-f]{64}$" } }],
                "responses": admin_errors(json!({
                    "200": json_response("notice", json!({ "type": "object", "required": ["sha256", "text", "locale", "purpose", "policy_version", "source", "created_at"], "properties": {
                        "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" }, "text": { "type": "string" }, "locale": { "type": "string" },
                        "purpose": { "type": ["string", "null"] }, "policy_version": { "type": ["string", "null"] },
                        "source": { "type": "string", "description": "where it was shown: a form id, a survey id or `preference_center`" },
                        "created_at": { "type": "string", "format": "date-time", "description": "when it was first archived" } } })),
                    "400": error_response("`validation_failed`: not 64 hexadecimal characters"),
                    "404": error_response("no such notice")
                }))
            } },
            "/admin/v1/contacts/import": { "post": {
                "operationId": "importContacts",
                "summary": "Import contacts from NDJSON or CSV; rows are created, updated or rejected with reasons",
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
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/SurveyInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Survey" })), "/id", &["getSurvey", "patchSurvey", "inviteToSurvey", "surveyResults", "exportSurveyResponses"]) })))
                },
                "get": {
                    "operationId": "listSurveys",
                    "summary": "List surveys",
                    "responses": admin_errors(json!({ "200": json_response("surveys", json!({ "type": "object", "required": ["surveys"], "properties": { "surveys": { "type": "array", "items": { "$ref": "#/components/schemas/Survey" } } } })) }))
                }
            },
            "/admin/v1/surveys/{id}": {
                "get": {
                    "operationId": "getSurvey",
                    "summary": "Read a survey",
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("survey", json!({ "$ref": "#/components/schemas/Survey" })), "404": error_response("no such survey") }))
                },
                "patch": {
                    "operationId": "patchSurvey",
                    "summary": "Replace top-level keys of a survey; the result is validated whole",
                    "parameters": [id_param()],
                    "requestBody": json_body(json!({ "type": "object" })),
                    "responses": admin_errors(with_body_errors(json!({ "200": json_response("survey", json!({ "$ref": "#/components/schemas/Survey" })), "404": error_response("no such survey") })))
                }
            },
            "/admin/v1/surveys/{id}/invitations": { "post": {
                "operationId": "inviteToSurvey",
                "summary": "Signed single-use survey links for contacts or emails, optionally about an order, optionally emailed",
                "description": "People who erased their data (`erased`) or objected to survey emails (`objected`) are skipped and reported by their position in the request, never by address.",
                "parameters": [id_param()],
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["invitations"], "properties": {
                    "invitations": { "type": "array", "minItems": 1, "maxItems": 200, "items": { "type": "object", "additionalProperties": false, "properties": {
                        "email": { "type": "string" }, "contact_id": { "type": "string" }, "order_id": { "type": "string", "description": "the order's external_id" } } } },
                    "send_email": { "type": "boolean", "default": false } } })),
                "responses": admin_errors(with_body_errors(json!({
                    "201": json_response("links, and who was skipped", json!({ "type": "object", "required": ["invitations", "skipped"], "properties": { "invitations": { "type": "array", "items": {
                        "type": "object", "required": ["id", "contact_id", "url", "expires_at"], "properties": {
                        "id": { "type": "string" }, "contact_id": { "type": "string" }, "url": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } } } },
                        "skipped": { "type": "array", "items": { "type": "object", "required": ["index", "reason"], "properties": {
                            "index": { "type": "integer", "minimum": 0, "description": "position in the request's `invitations`" },
                            "reason": { "type": "string", "enum": ["erased", "objected"] } } } } } })),
                    "404": error_response("no such survey")
                })))
            } },
            "/admin/v1/surveys/{id}/results": { "get": {
                "operationId": "surveyResults",
                "summary": "Invited, responses, response rate, NPS, CSAT, CES and choice counts",
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
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/SegmentInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Segment" })), "/id", &["getSegment", "replaceSegment", "deleteSegment", "exportSegment"]) })))
                },
                "get": {
                    "operationId": "listSegments",
                    "summary": "List segments with size, state and version",
                    "responses": admin_errors(json!({ "200": json_response("segments", json!({ "type": "object", "required": ["segments"], "properties": { "segments": { "type": "array", "items": { "$ref": "#/components/schemas/Segment" } } } })) }))
                }
            },
            "/admin/v1/segments/preview": { "post": {
                "operationId": "previewSegment",
                "summary": "Count and a small sample of who matches a rule now, without saving",
                "description": "The sample is personal data: it is filled only for a key that also holds `contacts:read`; for any other key it is empty and `sample_withheld` is true.",
                "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["rule"], "properties": { "rule": { "type": "object" }, "purpose": { "type": "string" } } })),
                "responses": admin_errors(with_body_errors(json!({ "200": json_response("preview", json!({ "type": "object", "required": ["count", "sample", "sample_withheld"], "properties": {
                    "count": { "type": "integer" },
                    "sample_withheld": { "type": "boolean", "description": "true when the key lacks `contacts:read`: the sample is then empty" },
                    "sample": { "type": "array", "items": { "type": "object", "required": ["id", "email"], "properties": {
                        "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": ["string", "null"] }, "country": { "type": ["string", "null"] } } } } } })) })))
            } },
            "/admin/v1/segments/{id}": {
                "get": {
                    "operationId": "getSegment",
                    "summary": "Read a segment",
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("segment", json!({ "$ref": "#/components/schemas/Segment" })), "404": error_response("no such segment") }))
                },
                "put": {
                    "operationId": "replaceSegment",
                    "summary": "Replace name, rule and purpose: a new version, rebuilt by the queue",
                    "parameters": [id_param()],
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/SegmentInput" })),
                    "responses": admin_errors(with_body_errors(json!({ "200": json_response("segment", json!({ "$ref": "#/components/schemas/Segment" })), "404": error_response("no such segment") })))
                },
                "delete": {
                    "operationId": "deleteSegment",
                    "summary": "Delete a segment and its memberships",
                    "parameters": [id_param()],
                    "responses": admin_errors(json!({ "200": json_response("deleted", json!({ "type": "object", "required": ["id", "status"], "properties": { "id": { "type": "string" }, "status": { "const": "deleted" } } })), "404": error_response("no such segment") }))
                }
            },
            "/admin/v1/segments/{id}/export.csv": { "get": {
                "operationId": "exportSegment",
                "summary": "Stream the members as RFC 4180 CSV (or NDJSON); signed preferences and unsubscribe URLs only when named in `columns`",
                "parameters": [
                    id_param(),
                    { "name": "columns", "in": "query", "required": false, "schema": { "type": "string" }, "description": columns_note() },
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
                    "responses": { "200": html_response("page"), "400": html_response("invalid or expired link") }
                },
                "post": {
                    "operationId": "unsubscribe",
                    "summary": "RFC 8058 one-click unsubscribe (body List-Unsubscribe=One-Click): withdraws the purpose of the email the link came in (marketing_email or satisfaction_surveys)",
                    "description": "A revoked link, or one of an erased person, changes nothing and gets the same page.",
                    "parameters": [token_param()],
                    "responses": {
                        "200": html_response("unsubscribed"), "400": html_response("invalid or expired link"),
                        "429": rate_limited("too many requests from this address (per-IP limit); see Retry-After")
                    }
                }
            },
            "/admin/v1/outbox/test": { "post": {
                "operationId": "sendTestMessage",
                "summary": "Queue a test email to check delivery to the webhook",
                "description": "The answer shows the message whole (`redacted` false).",
                "requestBody": json_body(json!({
                    "type": "object", "additionalProperties": false, "required": ["to"],
                    "properties": { "to": { "type": "string", "format": "idn-email" } }
                })),
                "responses": admin_errors(with_body_errors(json!({
                    "201": json_response("queued", json!({ "type": "object", "required": ["message"], "properties": { "message": { "$ref": "#/components/schemas/OutboxMessage" } } }))
                })))
            } }
        }
    });
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), self_service_paths())
    {
        paths.extend(more);
    }
    doc
}

/// One operation of the document as it was written before the contracts moved beside their
/// handlers.
pub fn legacy_operation(method: &str, path: &str) -> Value {
    static LEGACY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    LEGACY.get_or_init(legacy_document)["paths"][path][method].clone()
}

/// The document: the shared parts, and every row of the route table with its contract and who
/// may call it.
pub fn document() -> Value {
    let mut doc = legacy_document();
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = (route.contract)();
    }
    doc["paths"] = Value::Object(paths);
    publish_access(&mut doc);
    doc
}

pub async fn get(_req: Request, _app: &App) -> AppResult<Response> {
    response::json(200, &document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                found.push((method.to_uppercase(), path.clone(), op));
            }
        }
        found
    }

    #[test]
    fn documents_exactly_the_routes() {
        let doc = document();
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn operation_ids_are_unique_and_links_and_refs_resolve() {
        let doc = document();
        let ops = operations(&doc);
        let ids: BTreeSet<&str> = ops
            .iter()
            .map(|(m, p, op)| {
                assert!(op["responses"].is_object(), "{m} {p} has no responses");
                op["operationId"].as_str().expect("operationId")
            })
            .collect();
        assert_eq!(ids.len(), ops.len(), "duplicate operationId");
        let text = doc.to_string();
        for (_, _, op) in &ops {
            for response in op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, r)| r)
            {
                for (_, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(ids.contains(target), "link to unknown operation {target}");
                }
            }
        }
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
    }

    #[test]
    fn path_parameters_match_their_templates() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(templated, declared, "{method} {path}");
        }
    }

    #[test]
    fn security_says_who_the_route_table_admits() {
        let doc = document();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            let (method, path) = (route.method, route.path);
            match route.access {
                Access::Public => {
                    assert!(op.get("security").is_none(), "{method} {path}: public")
                }
                Access::Session => {
                    assert_eq!(
                        op["security"],
                        json!([{ "session": [] }]),
                        "{method} {path}"
                    )
                }
                Access::Admin(scopes) => {
                    let named: Vec<&str> = op["security"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["apiKey"].as_array())
                        .flat_map(|s| s.iter().filter_map(Value::as_str))
                        .collect();
                    let want: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                    assert_eq!(named, want, "{method} {path}");
                    let text = op["description"].as_str().unwrap_or_default();
                    assert!(text.starts_with("Requires "), "{method} {path}: {text}");
                    assert!(
                        op["responses"]["403"].is_object(),
                        "{method} {path}: no 403"
                    );
                }
            }
        }
    }

    #[test]
    fn every_scope_is_offered() {
        let doc = document();
        let offered = doc["components"]["schemas"]["Scope"]["enum"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(offered.len(), Scope::ALL.len());
        assert!(offered.contains(&json!("outbox:deliver")));
    }
}

// The contract: each handler's OpenAPI operation.

/// `GET /openapi.json`: the contract of [`get`].
pub fn get_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/openapi.json")
}
