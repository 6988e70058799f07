//! Double opt-in: the confirmation email, the page its link opens (a GET never changes state,
//! because mail scanners prefetch links), and the POST that consumes the token.

use chrono::Duration;
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, D1PreparedStatement, Request, Response};

use crate::config::Config;
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::outbox::MessageKind;
use crate::domain::signup::{ConfirmPayload, SubmissionProof};
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::http::app::{param_value, query_pairs, App};
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::{client, response};
use crate::jobs::{enqueue, message::Job};
use crate::pages::{escape, page};
use crate::store::{self, audit, consents, contacts, outbox, tokens};

const PURPOSE: &str = "confirm";
/// A confirmation link works for a week; unconfirmed signups are purged later by retention.
const CONFIRM_TTL_DAYS: i64 = 7;

/// Confirmation emails per mailbox (case, `+tag` and gmail dots folded) in any 24 hours.
pub const CONFIRMATIONS_PER_MAILBOX_DAILY: u32 = 3;

/// One confirmation email to write: for whom, what it confirms, and its cap.
#[derive(Clone, Copy)]
pub struct ConfirmationEmail<'a> {
    pub contact_id: &'a str,
    pub email: &'a EmailAddress,
    pub payload: &'a ConfirmPayload,
    pub locale: Locale,
    pub at: &'a str,
    /// At most one per contact in 24 hours (an address already known).
    pub once_per_contact: bool,
}

/// The outbox message and the token row of a confirmation email; returns the message id. The
/// message goes in only within its caps (three per mailbox in 24 hours; with
/// `once_per_contact`, one per contact in 24 hours), and the token only with its message.
pub fn confirm_message_statements(
    config: &Config,
    db: &D1Database,
    mail: &ConfirmationEmail<'_>,
) -> AppResult<(Vec<D1PreparedStatement>, String)> {
    let ConfirmationEmail {
        contact_id,
        email,
        payload,
        locale,
        at,
        once_per_contact,
    } = *mail;
    let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
    let hash = secret::sha256_hex(&token);
    let now = time::now();
    let expires_at = time::format(now + Duration::days(CONFIRM_TTL_DAYS));
    let day_ago = time::format(now - Duration::hours(24));
    let payload_json = serde_json::to_string(payload)?;
    let url = format!("{}/confirm?t={token}", config.public_base_url);
    let message_id = secret::new_id("msg");
    let body = format!("{}\n\n{url}\n", text(locale, Text::ConfirmEmailBody));
    let statements = vec![
        outbox::insert_capped_statement(
            db,
            &outbox::NewMessage {
                id: &message_id,
                contact_id: Some(contact_id),
                to: email.as_str(),
                kind: MessageKind::Confirm.as_str(),
                subject: text(locale, Text::ConfirmEmailSubject),
                text: &body,
                url: Some(&url),
                unsubscribe_url: None,
                preferences_url: None,
                created_at: at,
                mailbox_hash: Some(&email.mailbox_hash(&config.token_secret)),
            },
            &outbox::Cap {
                since: &day_ago,
                per_mailbox: CONFIRMATIONS_PER_MAILBOX_DAILY,
                once_per_contact,
            },
        )?,
        tokens::insert_with_message_statement(
            db,
            &tokens::NewToken {
                hash: &hash,
                purpose: PURPOSE,
                contact_id,
                payload: Some(&payload_json),
                created_at: at,
                expires_at: &expires_at,
            },
            &message_id,
        )?,
    ];
    Ok((statements, message_id))
}

/// A link token as it may appear in a URL, or 400.
pub fn parse_token(raw: &str) -> AppResult<&str> {
    let t = raw.trim();
    if secret::is_token_shaped(t) {
        Ok(t)
    } else {
        Err(AppError::bad_request(
            "invalid_token",
            "this link is malformed",
        ))
    }
}

/// Consumes the token and activates the contact, recording the consents the signup carried as
/// granted by double opt-in: until this moment they counted nowhere.
async fn confirm(req: &Request, app: &App, token: &str) -> AppResult<Locale> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    client::limit_per_ip(&app.env, req, "confirm").await?;
    let now = time::now_string();
    let token_hash = secret::sha256_hex(token);
    let consumed = tokens::consume(&db, &token_hash, PURPOSE, &now)
        .await?
        .ok_or(AppError::Gone)?;
    let payload: ConfirmPayload =
        serde_json::from_str(consumed.payload.as_deref().unwrap_or("null"))
            .map_err(|e| AppError::internal("confirm payload", e))?;
    let locale = Locale::from_tag(&payload.locale).unwrap_or(Locale::En);
    let id = consumed.contact_id.as_str();
    // Erased since the email went out: the link has nothing left to confirm.
    let Some(contact) = contacts::find(&db, id).await? else {
        return Err(AppError::Gone);
    };
    let email = EmailAddress::parse(&contact.email)
        .map_err(|_| AppError::internal("stored email", "unparseable"))?;
    let ip_hash = client::ip_hash(req, &config.keys);
    let user_agent = client::user_agent(req);
    let mut statements = Vec::new();
    if let Some(changes) = &payload.changes {
        statements.push(contacts::update_fields_statement(
            &db,
            id,
            &changes.fields,
            &now,
        )?);
        for (key, value) in &changes.attributes {
            statements.push(contacts::upsert_attribute_statement(
                &db,
                id,
                key,
                &value.to_string(),
                &now,
            )?);
        }
    }
    statements.push(contacts::activate_statement(&db, id, &now)?);
    // The owner of the address confirmed: an erased person is a member again.
    statements.push(contacts::lift_suppression_statement(
        &db,
        &email.keyed_hashes(&config.token_secret),
    )?);
    // First the form submission as it happened (time, IP hash, browser, words shown), then the
    // confirmation: both count from now on, not from the submission.
    let confirmation = SubmissionProof {
        at: now.clone(),
        ip_hash,
        user_agent,
    };
    let steps: Vec<(&str, &SubmissionProof)> = payload
        .submitted
        .iter()
        .map(|submitted| ("form", submitted))
        .chain(std::iter::once(("double_opt_in", &confirmation)))
        .collect();
    for consent in &payload.consents {
        for (method, proof) in &steps {
            statements.extend(consents::record_statements(
                &db,
                &consents::ConsentEvent {
                    contact_id: id,
                    purpose: &consent.purpose,
                    granted: true,
                    policy_version: Some(&consent.policy_version),
                    notice_text_hash: Some(&consent.notice_text_hash),
                    source: &payload.form_id,
                    method,
                    ip_hash: Some(&proof.ip_hash),
                    user_agent: proof.user_agent.as_deref(),
                    at: &proof.at,
                },
            )?);
        }
    }
    statements.push(tokens::forget_payload_statement(&db, &token_hash)?);
    statements.push(audit::record(
        &db,
        &format!("contact:{id}"),
        "contact.confirm",
        Some(id),
    )?);
    store::batch(&db, statements).await?;
    if let Err(e) = enqueue(&app.env, Job::ContactChanged { id: id.to_string() }).await {
        worker::console_error!("confirm: enqueue failed: {e:?}");
    }
    Ok(locale)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    token: String,
}

/// `POST /v1/confirm {"token"}` for the widget and API clients.
pub async fn post_json(mut req: Request, app: &App) -> AppResult<Response> {
    let body: ConfirmRequest = read_json(&mut req, JSON_LIMIT).await?;
    let token = parse_token(&body.token)?;
    confirm(&req, app, token).await?;
    response::json(200, &json!({ "status": "confirmed" }))
}

pub fn page_locale(req: &Request) -> Locale {
    Locale::negotiate(None, client::accept_language(req).as_deref())
}

pub fn html(status: u16, body: String) -> AppResult<Response> {
    let mut r = response::text(status, "text/html; charset=utf-8", body)?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    )?;
    Ok(r)
}

/// `GET /confirm?t=…`: a page with one button; nothing changes until it is pressed.
pub async fn page_get(req: Request, _app: &App) -> AppResult<Response> {
    let locale = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    if parse_token(token).is_err() {
        let body = format!(
            r#"<p id="result" role="alert">{}</p>"#,
            escape(text(locale, Text::LinkInvalid))
        );
        return html(400, page(locale, text(locale, Text::ConfirmTitle), &body));
    }
    let body = format!(
        r#"<p>{intro}</p>
<form method="post" action="/confirm?t={token}">
<button type="submit" id="confirm">{button}</button>
</form>"#,
        intro = escape(text(locale, Text::ConfirmIntro)),
        token = escape(token),
        button = escape(text(locale, Text::ConfirmButton)),
    );
    html(200, page(locale, text(locale, Text::ConfirmTitle), &body))
}

/// `POST /confirm?t=…`: the button on the page, as a plain form post, answered with a page.
pub async fn page_post(req: Request, app: &App) -> AppResult<Response> {
    let fallback = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let outcome = match parse_token(token) {
        Ok(token) => confirm(&req, app, token).await,
        Err(e) => Err(e),
    };
    let (status, locale, message) = match outcome {
        Ok(locale) => (200, locale, text(locale, Text::ConfirmDone)),
        // As on the GET page and in `POST /v1/confirm`: malformed is 400, spent or forged 410.
        Err(AppError::BadRequest { .. }) => (400, fallback, text(fallback, Text::LinkInvalid)),
        Err(AppError::Gone) => (410, fallback, text(fallback, Text::LinkInvalid)),
        Err(e) => {
            if let AppError::Internal(cause) = &e {
                worker::console_error!("confirm page: {cause}");
            }
            (e.status(), fallback, text(fallback, Text::TryAgainLater))
        }
    };
    let body = format!(r#"<p id="result" role="status">{}</p>"#, escape(message));
    html(
        status,
        page(locale, text(locale, Text::ConfirmTitle), &body),
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /confirm`: [`page_get`](super::page_get).
    pub fn page_get() -> Value {
        json!({
            "operationId": "confirmPage",
            "summary": "The page a confirmation link opens: one button, no state change",
            "parameters": [token_param()],
            "responses": { "200": html_response("page"), "400": html_response("malformed link") }
        })
    }

    /// `POST /confirm`: [`page_post`](super::page_post).
    pub fn page_post() -> Value {
        json!({
            "operationId": "confirmPagePost",
            "summary": "The page's button: confirms and answers with a page",
            "parameters": [token_param()],
            "responses": {
                "200": html_response("confirmed"), "400": html_response("malformed link"), "410": html_response("used, expired or invalid link"),
                "429": html_response("too many requests from this address (per-IP limit): a page asking to try again later")
            }
        })
    }

    /// `POST /v1/confirm`: [`post_json`](super::post_json).
    pub fn post_json() -> Value {
        json!({
            "operationId": "confirm",
            "summary": "Confirm a signup with the token from the email",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": { "token": { "type": "string" } } })),
            "responses": with_body_errors(json!({
                "200": json_response("confirmed", status_only("confirmed")),
                "410": error_response("used, expired, forged or wrong-purpose token"),
                "429": rate_limited("too many requests from this address; see Retry-After")
            }))
        })
    }
}
