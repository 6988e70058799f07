//! The API contract as OpenAPI 3.1, assembled: every row of the route table (`src/router.rs`)
//! with the operation written beside its handler, who may call it, and the shared schemas. Tests
//! hold it equal to the route table; `GET /openapi.json` serves it.

use serde_json::{json, Value};

use crate::domain::scope::Scope;
use crate::http::contract::{
    event_schema, event_type_schema, export_schema, locale_tag, privacy_request_schema,
    webhook_schema,
};
use crate::router::{Access, ROUTES};

/// The document: the shared parts, and every route with its contract and who may call it.
pub fn document() -> Value {
    let mut doc = shared();
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = (route.contract)();
    }
    doc["paths"] = Value::Object(paths);
    publish_access(&mut doc);
    doc
}

/// The parts of the document no single operation owns: info, security schemes and the shared
/// schemas operations refer to by `$ref`.
fn shared() -> Value {
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
            "kind": { "type": "string", "enum": ["confirm", "magic_link", "survey_invitation", "survey_reminder", "update_request", "re_permission", "erasure_notice", "test"] },
            "subject": { "type": "string" },
            "text": { "type": ["string", "null"], "description": "the body; null when redacted" },
            "url": { "type": ["string", "null"], "description": "the link the message is about; null when it has none or when redacted" },
            "unsubscribe_url": { "type": ["string", "null"], "description": "one-click unsubscribe link of marketing and survey emails; absent when the message has none or when redacted" },
            "preferences_url": { "type": ["string", "null"], "description": "preference-center link of marketing and survey emails; absent when the message has none or when redacted" },
            "headers": {
                "type": "object",
                "additionalProperties": { "type": "string" },
                "description": "headers the relay puts on the email as they are: `List-Unsubscribe` (RFC 2369) with the unsubscribe link and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), on every email with an unsubscribe link; absent when it has none or when redacted"
            },
            "created_at": { "type": "string", "format": "date-time" },
            "sent_at": { "type": ["string", "null"], "format": "date-time" },
            "redacted": { "type": "boolean", "description": "true when the body and links were withheld (the key lacks `outbox:deliver`, or the message was delivered)" }
        }
    });
    let schemas: serde_json::Map<String, Value> = [
        ("Error", json!({
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
                })),
        ("Scope", json!({ "type": "string", "enum": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() })),
        ("ApiKey", key),
        ("EventType", event_type_schema()),
        ("Webhook", webhook_schema()),
        ("Event", event_schema()),
        ("PrivacyRequest", privacy_request_schema()),
        ("Export", export_schema()),
        ("FormInput", form_input_schema()),
        ("Form", json!({ "allOf": [ form_input_schema_open(), { "type": "object", "required": ["id", "created_at", "updated_at", "embed_html"], "properties": {
                    "id": { "type": "string" }, "created_at": { "type": "string", "format": "date-time" },
                    "updated_at": { "type": "string", "format": "date-time" }, "embed_html": { "type": "string" } } } ] })),
        ("PublicForm", json!({ "type": "object", "required": ["id", "name", "submit_url", "honeypot_field", "fields", "consents"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "locale": { "type": ["string", "null"] },
                    "double_opt_in": { "type": "boolean" }, "submit_url": { "type": "string" },
                    "redirect_url": { "type": ["string", "null"] }, "honeypot_field": { "type": "string" },
                    "turnstile_site_key": { "type": ["string", "null"] },
                    "fields": { "type": "array", "items": { "type": "object" } },
                    "consents": { "type": "array", "items": { "type": "object" } } } })),
        ("Submission", json!({ "type": "object", "additionalProperties": false, "properties": {
                    "fields": { "type": "object" },
                    "consents": { "type": "object", "additionalProperties": { "type": "boolean" } },
                    "turnstile_token": { "type": "string" } } })),
        ("PurposeState", purpose_state_schema()),
        ("Me", json!({ "description": "Everything held about the person: what a `full` session (from a sign-in link) reads.",
                    "allOf": [ { "$ref": "#/components/schemas/Contact" }, { "type": "object", "required": ["scope", "consents", "orders", "survey_responses", "segments"], "properties": {
                    "scope": { "const": "full" },
                    "consents": { "type": "array", "items": { "$ref": "#/components/schemas/PurposeState" } },
                    "orders": { "type": "array" }, "survey_responses": { "type": "array" },
                    "segments": { "$ref": "#/components/schemas/SegmentsExplained" } } } ] })),
        ("MePreferences", json!({ "type": "object", "additionalProperties": false, "required": ["scope", "email", "locale", "consents"],
                    "description": "What a `preferences` session (from the preferences link in an email) reads: the purposes and the address masked, nothing else.",
                    "properties": {
                    "scope": { "const": "preferences" },
                    "email": { "type": "string", "description": "masked: the first character of the local part, `***`, then the domain (`p***@example.com`)" },
                    "locale": { "type": ["string", "null"] },
                    "consents": { "type": "array", "items": { "$ref": "#/components/schemas/PurposeState" } } } })),
        ("SegmentsExplained", json!({ "type": "array", "maxItems": 50,
                    "description": "The `ready` segments the person is a member of, by name, at most 50 (more are left out): each with why, in plain sentences of the request's `Accept-Language` (en, pt-BR, ro, ru; else en), rendered from the segment's rule and the person's own facts. A person who no longer meets the rule (until the next rebuild) reads one sentence saying so.",
                    "items": { "type": "object", "additionalProperties": false, "required": ["id", "name", "explanation"], "properties": {
                        "id": { "type": "string" }, "name": { "type": "string" },
                        "explanation": { "type": "array", "items": { "type": "string" }, "examples": [["Orders: 3", "Last order: 12 days ago", "You are subscribed and agreed to: Marketing emails"]] } } } })),
        ("Contact", json!({ "type": "object", "required": ["id", "email", "status", "attributes", "consents", "consent_history"], "properties": {
                    "id": { "type": "string" }, "email": { "type": "string" },
                    "status": { "type": "string", "enum": ["pending", "active", "unsubscribed"] },
                    "attributes": { "type": "object" },
                    "segments": { "$ref": "#/components/schemas/SegmentsExplained", "description": "`GET /admin/v1/contacts/{id}` only (not in search results)" },
                    "consents": { "type": "array", "items": { "type": "object", "required": ["purpose", "granted"], "properties": {
                        "purpose": { "type": "string" }, "granted": { "type": "boolean" },
                        "frequency": { "type": ["string", "null"] },
                        "policy_version": { "type": ["string", "null"] }, "updated_at": { "type": ["string", "null"] } } } },
                    "data_confirmed_at": { "type": ["string", "null"], "description": "when the person last confirmed or edited their profile" },
                    "consent_history": { "type": "array", "items": { "type": "object", "required": ["purpose", "action", "method", "at"], "properties": {
                        "purpose": { "type": "string" }, "action": { "type": "string", "enum": ["granted", "withdrawn"] },
                        "method": { "type": "string", "enum": ["form", "double_opt_in", "self_service", "one_click_unsubscribe", "import", "admin", "re_permission", "expired", "gpc"], "description": "`re_permission`: renewed from a re-permission email; `expired`: lapsed after its period without engagement; `gpc`: an objection carried by the browser's Global Privacy Control" },
                        "frequency": { "type": ["string", "null"] }, "at": { "type": "string", "format": "date-time" },
                        "source": { "type": "string", "description": "where it was given or withdrawn: a form id, `me` (the preference center), `import`, `order`, ..." },
                        "policy_version": { "type": ["string", "null"] },
                        "notice_text_hash": { "type": ["string", "null"], "description": "SHA-256 of the words shown; GET /admin/v1/notices/{sha256} returns them" } } } },
                    "stats": { "type": ["object", "null"], "description": "purchase and survey facts; null before the first order or answer", "properties": {
                        "order_count": { "type": "integer" }, "total_spent_cents": { "type": "integer" },
                        "first_order_at": { "type": ["string", "null"] }, "last_order_at": { "type": ["string", "null"] },
                        "last_nps": { "type": ["integer", "null"] }, "nps_category": { "type": ["string", "null"], "enum": ["promoter", "passive", "detractor", null] },
                        "avg_csat": { "type": ["number", "null"] }, "csat_count": { "type": "integer" },
                        "temperature": { "type": "string", "enum": ["cold", "warm", "hot"] },
                        "rfm": { "type": ["object", "null"], "description": "RFM quintiles (5 best) and group, recomputed daily", "properties": {
                            "r": { "type": "integer" }, "f": { "type": "integer" }, "m": { "type": "integer" }, "group": { "type": "string" } } } } } } })),
        ("SegmentInput", json!({ "type": "object", "additionalProperties": false, "required": ["name", "rule"],
                    "examples": [{ "name": "Brazilian buyers", "rule": { "all": [{ "field": "country", "op": "eq", "value": "BR" }, { "field": "order_count", "op": "gte", "value": 1 }] } }],
                    "properties": {
                    "name": { "type": "string" }, "rule": { "type": "object" },
                    "purpose": { "type": ["string", "null"], "description": "consent every member must hold; null or absent: marketing_email" } } })),
        ("Segment", json!({ "type": "object", "required": ["id", "name", "rule", "purpose", "version", "state", "size", "computed_at"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "rule": { "type": "object" }, "purpose": { "type": "string" },
                    "version": { "type": "integer" }, "state": { "type": "string", "enum": ["building", "ready"] },
                    "size": { "type": "integer" }, "computed_at": { "type": ["string", "null"] },
                    "created_at": { "type": "string" }, "updated_at": { "type": "string" } } })),
        ("SurveyInput", json!({ "type": "object", "additionalProperties": false, "required": ["name", "questions"],
                    "examples": [{ "name": "After delivery", "locale": "en", "expires_after_days": 30, "questions": [
                        { "key": "nps", "type": "nps", "required": true, "text": { "en": "How likely are you to recommend us?" } },
                        { "key": "why", "type": "text", "text": { "en": "Why?" } }] }],
                    "properties": {
                    "name": { "type": "string" }, "locale": locale_tag(),
                    "expires_after_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 365, "description": "null or absent: 30" },
                    "reminder_after_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 364, "description": "days after an emailed invitation when one reminder goes to whoever has not answered (and has not objected), before expiry: less than expires_after_days; null or absent: no reminder" },
                    "questions": { "type": "array", "minItems": 1, "maxItems": 30, "items": { "type": "object", "additionalProperties": false, "required": ["key", "type", "text"], "properties": {
                        "key": { "type": "string" }, "type": { "type": "string", "enum": ["nps", "csat", "ces", "single_choice", "multi_choice", "text"] },
                        "required": { "type": ["boolean", "null"], "description": "null or absent: false" },
                        "text": { "type": "object", "additionalProperties": { "type": "string" } },
                        "max_len": { "type": ["integer", "null"], "minimum": 1, "description": "text questions only" },
                        "options": { "type": ["array", "null"], "minItems": 1, "description": "choice questions only", "items": { "type": "object", "additionalProperties": false, "required": ["value"], "properties": {
                            "value": { "type": "string" }, "label": { "type": ["object", "null"], "additionalProperties": { "type": "string" } } } } } } } } } })),
        ("Survey", json!({ "type": "object", "required": ["id", "name", "questions", "created_at", "updated_at"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "locale": { "type": "string" },
                    "expires_after_days": { "type": "integer" }, "reminder_after_days": { "type": ["integer", "null"] }, "questions": { "type": "array" },
                    "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" } } })),
        ("OutboxMessage", message),
    ]
    .into_iter()
    .map(|(name, schema)| (name.to_string(), schema))
    .collect();
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Clientela",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A business's first-party customer base: signup forms with consent proof, self-service privacy rights, satisfaction surveys and segments."
        },
        "components": {
            "securitySchemes": { "apiKey": { "type": "http", "scheme": "bearer" }, "session": { "type": "http", "scheme": "bearer", "description": "a session from POST /v1/me/session" } },
            "schemas": Value::Object(schemas)
        }
    });
    doc
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

/// One purpose in the self-service views: its state, its legal basis and the words the
/// preference center shows beside it.
fn purpose_state_schema() -> Value {
    json!({
        "type": "object",
        "required": ["purpose", "granted", "basis", "policy_version", "updated_at", "notice", "frequencies", "frequency", "lapses_at"],
        "properties": {
            "purpose": { "type": "string" },
            "granted": { "type": "boolean" },
            "basis": { "type": "string", "enum": ["consent", "legitimate_interest"], "description": "legitimate_interest purposes are on until objected to" },
            "policy_version": { "type": ["string", "null"] },
            "updated_at": { "type": ["string", "null"], "description": "null for a legitimate-interest purpose never decided on" },
            "notice": { "type": "string", "description": "the words shown beside the switch, in the request's Accept-Language; a grant records exactly these" },
            "frequencies": { "type": "array", "items": { "type": "string", "enum": ["all", "weekly", "monthly"] }, "description": "how often the person may choose to hear from us (empty: only yes or no)" },
            "frequency": { "type": ["string", "null"], "enum": ["all", "weekly", "monthly", null], "description": "the frequency chosen, while granted (`all` when none was chosen)" },
            "lapses_at": { "type": ["string", "null"], "description": "when this consent lapses unless the person engages or renews it (null: it does not lapse)" }
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
