//! Self-service (GDPR Arts. 15–17, 20, 21; LGPD Art. 18): a person reaches their own data with a
//! magic link, then reads, corrects, downloads or erases it and decides on each consent.

use chrono::{Duration, Timelike};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env, Request, Response};

use crate::config::Config;
use crate::domain::consent::Purpose;
use crate::domain::contact::ProfilePatch;
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::link::{self, LinkPurpose};
use crate::domain::outbox::MessageKind;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::http::auth::bearer_token;
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::{client, response};
use crate::jobs::{enqueue, message::Job};
use crate::routes::admin::contacts::contact_document;
use crate::routes::confirm::parse_token;
use crate::routes::forms::parse_email_field;
use crate::routes::App;
use crate::store::{self, audit, consents, contacts, erasure, outbox, profile, rate, tokens};

const MAGIC_LINK_MINUTES: i64 = 30;
const SESSION_MINUTES: i64 = 60;
const LINKS_PER_ADDRESS_HOURLY: u32 = 5;

/// The signed links every marketing email carries for this contact.
pub fn contact_links(config: &Config, contact_id: &str) -> (String, String) {
    let base = &config.public_base_url;
    (
        format!(
            "{base}/unsubscribe?t={}",
            link::sign(&config.token_secret, contact_id, LinkPurpose::Unsubscribe)
        ),
        format!(
            "{base}/me?p={}",
            link::sign(&config.token_secret, contact_id, LinkPurpose::Preferences)
        ),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    email: String,
}

/// `POST /v1/me/link`: always 202 at once. The lookup and the email happen after the answer,
/// so neither the bytes nor the timing tell whether the address is known.
pub async fn request_link(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let body: LinkRequest = read_json(&mut req, JSON_LIMIT).await?;
    let email = parse_email_field("email", &body.email)?;
    if let Ok(limiter) = app.env.rate_limiter("PUBLIC_LIMITER") {
        if !limiter
            .limit(format!("link:{}", client::ip(&req)))
            .await?
            .success
        {
            return Err(AppError::TooManyRequests {
                retry_after_secs: 60,
            });
        }
    }
    let email_hash = email.keyed_hash(&config.token_secret);
    let now = time::now();
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    if rate::hit(&db, &format!("me-link:{email_hash}"), &time::format(hour)).await?
        > LINKS_PER_ADDRESS_HOURLY
    {
        let retry = (hour + Duration::hours(1) - now).num_seconds().max(1) as u32;
        return Err(AppError::TooManyRequests {
            retry_after_secs: retry,
        });
    }
    let locale = Locale::negotiate(None, client::accept_language(&req).as_deref());
    let env = app.env.clone();
    app.ctx.wait_until(async move {
        // Start only once the answer is on its way: work for a known address must not hold
        // the response back where the database shares the runtime's thread (as locally).
        worker::Delay::from(std::time::Duration::ZERO).await;
        if let Err(e) = send_magic_link(&env, &config, &email, &email_hash, locale).await {
            worker::console_error!("magic link: {e:?}");
        }
    });
    response::json(202, &json!({ "status": "accepted" }))
}

async fn send_magic_link(
    env: &Env,
    config: &Config,
    email: &EmailAddress,
    email_hash: &str,
    locale: Locale,
) -> AppResult<()> {
    let db = store::database(env)?;
    let Some(contact) = contacts::state_by_email_hash(&db, email_hash).await? else {
        return Ok(());
    };
    let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
    let now = time::now();
    let at = time::format(now);
    let url = format!("{}/me?t={token}", config.public_base_url);
    let message_id = secret::new_id("msg");
    let body = format!("{}\n\n{url}\n", text(locale, Text::MagicLinkBody));
    store::batch(
        &db,
        vec![
            tokens::insert_statement(
                &db,
                &tokens::NewToken {
                    hash: &secret::sha256_hex(&token),
                    purpose: "magic_link",
                    contact_id: &contact.id,
                    payload: None,
                    created_at: &at,
                    expires_at: &time::format(now + Duration::minutes(MAGIC_LINK_MINUTES)),
                },
            )?,
            outbox::insert_statement(
                &db,
                &outbox::NewMessage {
                    id: &message_id,
                    contact_id: Some(&contact.id),
                    to: email.as_str(),
                    kind: MessageKind::MagicLink.as_str(),
                    subject: text(locale, Text::MagicLinkSubject),
                    text: &body,
                    url: Some(&url),
                    unsubscribe_url: None,
                    preferences_url: None,
                    created_at: &at,
                },
            )?,
        ],
    )
    .await?;
    if config.email_webhook_url.is_some() {
        enqueue(env, Job::DeliverEmail { id: message_id }).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    token: String,
}

/// `POST /v1/me/session`: trades a magic-link token (single use) or a signed preferences link
/// for a short session.
pub async fn start_session(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let body: SessionRequest = read_json(&mut req, JSON_LIMIT).await?;
    let now = time::now();
    let contact_id = if body.token.contains('.') {
        let id = link::verify(&config.token_secret, &body.token, LinkPurpose::Preferences)
            .ok_or(AppError::Gone)?;
        contacts::find(&db, &id).await?.ok_or(AppError::Gone)?.id
    } else {
        let token = parse_token(&body.token)?;
        tokens::consume(
            &db,
            &secret::sha256_hex(token),
            "magic_link",
            &time::format(now),
        )
        .await?
        .ok_or(AppError::Gone)?
        .contact_id
    };
    let session = secret::random_secret(32).map_err(|e| AppError::internal("random", e))?;
    let expires_at = time::format(now + Duration::minutes(SESSION_MINUTES));
    let insert = tokens::insert_statement(
        &db,
        &tokens::NewToken {
            hash: &secret::sha256_hex(&session),
            purpose: "session",
            contact_id: &contact_id,
            payload: None,
            created_at: &time::format(now),
            expires_at: &expires_at,
        },
    )?;
    store::execute(insert, "session insert").await?;
    response::json(
        200,
        &json!({ "session": session, "expires_at": expires_at }),
    )
}

/// The contact behind the request's session, or 401.
async fn signed_in(req: &Request, db: &D1Database) -> AppResult<contacts::ContactRow> {
    let token = bearer_token(req).ok_or(AppError::Unauthorized)?;
    if !secret::is_token_shaped(&token) {
        return Err(AppError::Unauthorized);
    }
    let session = tokens::session(db, &secret::sha256_hex(&token), &time::now_string())
        .await?
        .ok_or(AppError::Unauthorized)?;
    contacts::find(db, &session.contact_id)
        .await?
        .ok_or(AppError::Unauthorized)
}

/// Everything we hold about the person.
async fn full_document(
    config: &Config,
    db: &D1Database,
    contact: contacts::ContactRow,
) -> AppResult<Value> {
    let id = contact.id.clone();
    let mut doc = contact_document(db, contact).await?;
    let orders: Vec<Value> = profile::orders(db, &id)
        .await?
        .into_iter()
        .map(|o| {
            json!({
                "external_id": o.external_id,
                "total": format!("{}.{:02}", (o.total_cents as i64) / 100, (o.total_cents as i64).rem_euclid(100)),
                "currency": o.currency,
                "placed_at": o.placed_at,
                "items": serde_json::from_str::<Value>(&o.items).unwrap_or(Value::Array(vec![])),
            })
        })
        .collect();
    let responses: Vec<Value> = profile::survey_responses(db, &id)
        .await?
        .into_iter()
        .map(|r| json!({"survey_id": r.survey_id, "answers": serde_json::from_str::<Value>(&r.answers).unwrap_or(Value::Null), "created_at": r.created_at}))
        .collect();
    let (unsubscribe_url, preferences_url) = contact_links(config, &id);
    if let Some(map) = doc.as_object_mut() {
        map.insert("orders".into(), json!(orders));
        map.insert("survey_responses".into(), json!(responses));
        map.insert(
            "segments".into(),
            json!(profile::segment_names(db, &id).await?),
        );
        map.insert(
            "links".into(),
            json!({"unsubscribe_url": unsubscribe_url, "preferences_url": preferences_url}),
        );
    }
    Ok(doc)
}

pub async fn get(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let contact = signed_in(&req, &db).await?;
    response::json(200, &full_document(&config, &db, contact).await?)
}

pub async fn patch(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let contact = signed_in(&req, &db).await?;
    let body: Map<String, Value> = read_json(&mut req, JSON_LIMIT).await?;
    let patch = ProfilePatch::parse(&body, time::now().date_naive()).map_err(AppError::fields)?;
    let at = time::now_string();
    let mut statements = patch
        .0
        .iter()
        .map(|(column, value)| {
            profile::set_column_statement(&db, &contact.id, column, value.as_deref(), &at)
        })
        .collect::<AppResult<Vec<_>>>()?;
    statements.push(audit::record(
        &db,
        &format!("contact:{}", contact.id),
        "contact.update",
        Some(&contact.id),
    )?);
    store::batch(&db, statements).await?;
    changed(app, &contact.id).await;
    let updated = contacts::find(&db, &contact.id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    response::json(200, &full_document(&config, &db, updated).await?)
}

/// What we keep, why and for how long: part of every export (GDPR Art. 15(1), LGPD Art. 9).
fn processing_record() -> Value {
    json!([
        {"data": "email address", "purpose": "to identify you and send what you agreed to", "retention": "until you erase your data; unconfirmed signups are removed after 30 days"},
        {"data": "profile fields (name, phone, locale, country, city, birth date, gender, preferences)", "purpose": "to personalise and group our messages", "retention": "until you erase your data"},
        {"data": "consent history (purpose, policy version, hash of the text shown, IP hash, browser)", "purpose": "proof of your consent", "retention": "until you erase your data"},
        {"data": "orders", "purpose": "purchase history and satisfaction surveys", "retention": "kept for accounting, unlinked from you on erasure"},
        {"data": "survey answers", "purpose": "to improve our service", "retention": "scores kept anonymously for statistics after erasure; text removed"}
    ])
}

pub async fn export(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let contact = signed_in(&req, &db).await?;
    let doc = full_document(&config, &db, contact).await?;
    let export = json!({
        "format": "clientela-export/1",
        "generated_at": time::now_string(),
        "data": doc,
        "processing": processing_record(),
    });
    let mut r = response::json(200, &export)?;
    r.headers_mut().set(
        "Content-Disposition",
        "attachment; filename=\"my-data.json\"",
    )?;
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    granted: bool,
}

pub async fn put_consent(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let contact = signed_in(&req, &db).await?;
    let purpose = Purpose::parse(app.param(0)?).map_err(|e| AppError::validation("purpose", e))?;
    let body: ConsentRequest = read_json(&mut req, JSON_LIMIT).await?;
    let at = time::now_string();
    let current = consents::current(&db, &contact.id).await?;
    let on_record = current.iter().find(|c| c.purpose == purpose.as_str());
    // Withdrawing (objecting) is always allowed; a grant needs a notice the person was shown,
    // which only a form, an import or an earlier decision provides.
    if body.granted && on_record.is_none() {
        return Err(AppError::validation(
            "purpose",
            "no consent on record for this purpose; it is granted where it is offered",
        ));
    }
    let policy_version = on_record.and_then(|c| c.policy_version.clone());
    let mut statements = consents::record_statements(
        &db,
        &consents::ConsentEvent {
            contact_id: &contact.id,
            purpose: purpose.as_str(),
            granted: body.granted,
            policy_version: policy_version.as_deref(),
            notice_text_hash: None,
            source: "me",
            method: "self_service",
            ip_hash: Some(&client::ip_hash(&req, &config.token_secret)),
            user_agent: client::user_agent(&req).as_deref(),
            at: &at,
        },
    )?;
    if purpose.as_str() == "marketing_email" {
        statements.push(profile::marketing_status_statement(
            &db,
            &contact.id,
            body.granted,
            &at,
        )?);
    }
    let action = if body.granted {
        "consent.grant"
    } else {
        "consent.withdraw"
    };
    statements.push(audit::record(
        &db,
        &format!("contact:{}", contact.id),
        action,
        Some(&contact.id),
    )?);
    store::batch(&db, statements).await?;
    changed(app, &contact.id).await;
    response::json(
        200,
        &json!({ "purpose": purpose.as_str(), "granted": body.granted, "updated_at": at }),
    )
}

pub async fn erase(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let contact = signed_in(&req, &db).await?;
    let email = EmailAddress::parse(&contact.email)
        .map_err(|_| AppError::internal("stored email", "unparseable"))?;
    let at = time::now_string();
    let mut statements = erasure::erase_statements(
        &db,
        &contact.id,
        Some(&email.keyed_hash(&config.token_secret)),
        &at,
    )?;
    statements.push(audit::record(
        &db,
        &format!("contact:{}", contact.id),
        "contact.erase",
        Some(&contact.id),
    )?);
    store::batch(&db, statements).await?;
    changed(app, &contact.id).await;
    response::json(200, &json!({ "status": "erased" }))
}

/// Segments follow every change; a lost message is repaired by the daily re-evaluation.
async fn changed(app: &App, id: &str) {
    if let Err(e) = enqueue(&app.env, Job::ContactChanged { id: id.to_string() }).await {
        worker::console_error!("enqueue ContactChanged: {e:?}");
    }
}

/// `GET /me`: the hosted preference center.
pub fn page(req: Request, _app: &App) -> AppResult<Response> {
    let locale = crate::routes::confirm::page_locale(&req);
    let html = crate::pages::PREFERENCES_HTML.replace("{{lang}}", locale.tag());
    let mut r = response::text(200, "text/html; charset=utf-8", html)?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    )?;
    Ok(r)
}
