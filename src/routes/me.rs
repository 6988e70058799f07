//! Self-service (GDPR Arts. 15–17, 20, 21; LGPD Art. 18): a person reaches their own data and
//! decides on each consent.
//!
//! What opens what (the README's security model):
//! - a **sign-in link** (emailed on request, 30 minutes, single use) proves the mailbox and opens
//!   a `full` session: view, edit, export, erase, consents;
//! - a **preferences link** (in every marketing and survey email, 90 days, revocable) opens a
//!   `preferences` session: the purposes and their state and the email masked; it may withdraw
//!   any purpose and grant one already on record, and ask for a sign-in link to be emailed;
//!   everything else answers 403 `needs_sign_in`.

use chrono::{Duration, Timelike};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Env, Request, Response};

use crate::config::Config;
use crate::domain::consent::{
    Basis, ConsentMethod, Frequency, Purpose, KNOWN_PURPOSES, MARKETING_EMAIL, PROFILING,
};
use crate::domain::contact::ProfilePatch;
use crate::domain::email::{EmailAddress, EmailHashes};
use crate::domain::i18n::{preference_notice, text, Locale, Text};
use crate::domain::link::{self, LinkPurpose};
use crate::domain::outbox::MessageKind;
use crate::domain::privacy_request::Channel;
use crate::domain::webhook::EventType;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::contact::{full_document, preferences_document};
use crate::flows::erasure;
use crate::flows::requests::{self, Asked};
use crate::http::app::{App, PersonCall};
use crate::http::body::{parse_email_field, parse_token, read_json, JSON_LIMIT};
use crate::http::client::page_locale;
use crate::http::session::{SessionPayload, SessionScope};
use crate::http::{client, response};
use crate::jobs::{enqueue, message::Job};
use crate::store::tokens::{self, TokenPurpose};
use crate::store::{self, audit, consents, contacts, notices, outbox, profile, rate, webhooks, Db};

const MAGIC_LINK_MINUTES: i64 = 30;
const SESSION_MINUTES: i64 = 60;
/// Requests for a sign-in link per address per hour (answered 429 beyond, known or not).
const LINKS_PER_ADDRESS_HOURLY: u32 = 5;
/// Sign-in emails actually sent per mailbox in any 24 hours; more requests are dropped silently.
const SIGN_IN_EMAILS_PER_DAY: u32 = 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    email: String,
}

fn hour_start(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    now.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now)
}

/// `POST /v1/me/link`: always 202 at once. The look-up rides with the address's counter, the
/// same read for every address, and the email is written after the answer, so neither the bytes
/// nor the timing tell whether the address is known.
pub async fn request_link(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = app.db()?;
    let body: LinkRequest = read_json(&mut req, JSON_LIMIT).await?;
    let email = parse_email_field("email", &body.email)?;
    client::limit_per_ip(&app.env, &req, "link").await?;
    let email_hashes = email.keyed_hashes(&config.token_secret);
    let now = time::now();
    let hour = hour_start(now);
    let window = time::format(hour);
    let counter = rate::Hit {
        key: &format!("me-link:{}", email_hashes.current),
        window_start: &window,
        cap: LINKS_PER_ADDRESS_HOURLY,
    };
    let retry = (hour + Duration::hours(1) - now).num_seconds().max(1) as u32;
    // The count alone before the answer, the same for every address; the look-up and the email
    // are one statement after it, so neither the bytes, the timing nor the rows read before the
    // answer tell whether the address is known. The link goes to the address on record, not to
    // the spelling in the request.
    rate::guarded_batch(&db, &counter, Vec::new(), retry).await?;
    let locale = page_locale(&req);
    let env = app.env.clone();
    let db = app.db()?;
    app.ctx.wait_until(async move {
        // Start only once the answer is on its way: work for a known address must not hold
        // the response back where the database shares the runtime's thread (as locally).
        worker::Delay::from(std::time::Duration::ZERO).await;
        let mark = store::RowMark::start(db.budget());
        let to = SignInRecipient::Holder {
            email: &email,
            hashes: &email_hashes,
        };
        // Capped or not, the caller's answer was the same: it must not tell.
        if let Err(e) = send_sign_in_link(&env, &db, &config, to, locale).await {
            worker::console_error!("magic link: {e:?}");
        }
        mark.log("after_answer me_link", db.budget());
    });
    response::json(202, &json!({ "status": "accepted" }))
}

/// Who a sign-in email goes to.
enum SignInRecipient<'a> {
    /// A signed-in contact, at their address on record.
    Contact {
        id: &'a str,
        email: &'a EmailAddress,
    },
    /// Whoever holds this address, if anyone (looked up by the insert itself).
    Holder {
        email: &'a EmailAddress,
        hashes: &'a EmailHashes,
    },
}

/// Whether a sign-in email went out.
#[derive(Debug, PartialEq, Eq)]
enum SignInEmail {
    Sent,
    /// Three went to that mailbox in the last 24 hours.
    Capped,
}

/// Emails a sign-in link to the contact's own address, unless three went to that mailbox in
/// the last 24 hours.
async fn send_sign_in_link(
    env: &Env,
    db: &Db,
    config: &Config,
    to: SignInRecipient<'_>,
    locale: Locale,
) -> AppResult<SignInEmail> {
    let (contact_id, email) = match to {
        SignInRecipient::Contact { id, email } => (Some(id), email),
        SignInRecipient::Holder { email, .. } => (None, email),
    };
    let now = time::now();
    let mailbox_hash = email.mailbox_hash(&config.token_secret);
    let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
    let at = time::format(now);
    let day_ago = time::format(now - Duration::hours(24));
    let url = format!("{}/me?t={token}", config.public_base_url);
    let message_id = secret::new_id("msg");
    let body = format!("{}\n\n{url}\n", text(locale, Text::MagicLinkBody));
    // The cap is checked by the insert itself, so simultaneous requests cannot all pass it;
    // the token exists only if its email does.
    let message = outbox::NewMessage {
        id: &message_id,
        contact_id,
        to: email.as_str(),
        kind: MessageKind::MagicLink.as_str(),
        subject: text(locale, Text::MagicLinkSubject),
        text: &body,
        url: Some(&url),
        unsubscribe_url: None,
        preferences_url: None,
        created_at: &at,
        mailbox_hash: &mailbox_hash,
    };
    let cap = outbox::Cap {
        since: &day_ago,
        per_mailbox: SIGN_IN_EMAILS_PER_DAY,
        once_per_contact: false,
    };
    let insert = match to {
        SignInRecipient::Contact { .. } => outbox::insert_capped_statement(db, &message, &cap)?,
        SignInRecipient::Holder { hashes, .. } => {
            outbox::insert_capped_to_holder_statement(db, &message, &cap, hashes)?
        }
    };
    let changed = store::batch_changes(
        db,
        vec![
            insert,
            tokens::insert_for_message_statement(
                db,
                &tokens::NewToken {
                    hash: &secret::sha256_hex(&token),
                    purpose: TokenPurpose::MagicLink,
                    contact_id: contact_id.unwrap_or_default(),
                    payload: None,
                    created_at: &at,
                    expires_at: &time::format(now + Duration::minutes(MAGIC_LINK_MINUTES)),
                },
                &message_id,
            )?,
        ],
    )
    .await?;
    if changed.first() != Some(&1) {
        worker::console_log!("magic link: daily cap reached for one mailbox; not sent");
        return Ok(SignInEmail::Capped);
    }
    if config.email_webhook_url.is_some() {
        enqueue(env, Job::DeliverEmail { id: message_id }).await?;
    }
    Ok(SignInEmail::Sent)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    token: String,
}

/// `POST /v1/me/session`: trades a sign-in token (single use) for a `full` session, or a signed
/// preferences link (reusable until it expires or is revoked) for a `preferences` one.
pub async fn start_session(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = app.db()?;
    let body: SessionRequest = read_json(&mut req, JSON_LIMIT).await?;
    client::limit_per_ip(&app.env, &req, "session").await?;
    let now = time::now();
    let (contact_id, epoch, scope) = if link::is_signed_link_shaped(&body.token) {
        let link = link::verify(&config.keys, &body.token, LinkPurpose::Preferences, now)
            .ok_or(AppError::Gone)?;
        let contact = contacts::find(&db, &link.contact_id)
            .await?
            .ok_or(AppError::Gone)?;
        // Revoked by "sign out everywhere" (or an operator) since it was issued.
        if contact.link_epoch != link.epoch {
            return Err(AppError::Gone);
        }
        (contact.id, contact.link_epoch, SessionScope::Preferences)
    } else {
        let token = parse_token(&body.token)?;
        let consumed = tokens::consume(
            &db,
            &secret::sha256_hex(token),
            TokenPurpose::MagicLink,
            &time::format(now),
        )
        .await?
        .ok_or(AppError::Gone)?;
        let contact = contacts::find(&db, &consumed.contact_id)
            .await?
            .ok_or(AppError::Gone)?;
        (contact.id, contact.link_epoch, SessionScope::Full)
    };
    let session = secret::random_secret(32).map_err(|e| AppError::internal("random", e))?;
    let expires_at = time::format(now + Duration::minutes(SESSION_MINUTES));
    let payload = serde_json::to_string(&SessionPayload { scope, epoch })?;
    let insert = tokens::insert_statement(
        &db,
        &tokens::NewToken {
            hash: &secret::sha256_hex(&session),
            purpose: TokenPurpose::Session,
            contact_id: &contact_id,
            payload: Some(&payload),
            created_at: &time::format(now),
            expires_at: &expires_at,
        },
    )?;
    // Opening the page is not yet the person's act: the page trades its link for a session as
    // it loads, so a mail scanner that runs scripts would do the same. Engagement and a Global
    // Privacy Control objection count from what the person does there (a choice, an edit, "my
    // details are still right").
    store::execute(&db, insert, "session insert").await?;
    response::json(
        200,
        &json!({ "session": session, "expires_at": expires_at, "scope": scope.as_str() }),
    )
}

pub async fn get(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let PersonCall { db, session } = app.person()?;
    let locale = page_locale(&req);
    let doc = match session.scope {
        SessionScope::Full => {
            full_document(
                db,
                session.contact.clone(),
                locale,
                &config.consent_lifetimes,
            )
            .await?
        }
        SessionScope::Preferences => {
            preferences_document(db, &session.contact, locale, &config.consent_lifetimes).await?
        }
    };
    response::json(200, &doc)
}

pub async fn patch(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let PersonCall { db, session } = app.person()?;
    session.require_full()?;
    let contact = &session.contact;
    let body: Map<String, Value> = read_json(&mut req, JSON_LIMIT).await?;
    let patch = ProfilePatch::parse(&body, time::now().date_naive()).map_err(AppError::fields)?;
    let at = time::now_string();
    let mut statements = patch
        .0
        .iter()
        .map(|(column, value)| {
            profile::set_column_statement(db, &contact.id, column, value.as_deref(), &at)
        })
        .collect::<AppResult<Vec<_>>>()?;
    // On the register if a value changes: read before the updates, so it goes first.
    let changes: Vec<_> = patch.0.iter().map(|(c, v)| (*c, v.as_deref())).collect();
    statements.insert(
        0,
        requests::rectification_statement(db, &config, &contact.id, &changes, &at)?,
    );
    statements.push(audit::record(
        db,
        &session.actor(),
        "contact.update",
        Some(&contact.id),
    )?);
    if client::gpc(&req) {
        let config = Config::from_env(&app.env)?;
        statements.extend(crate::flows::requests::gpc_objection_statements(
            db,
            &config,
            &contact.id,
            Some(&client::ip_hash(&req, &config.keys)),
            client::user_agent(&req).as_deref(),
            &at,
        )?);
    }
    let fields: Vec<&str> = patch.0.iter().map(|(column, _)| *column).collect();
    statements.push(webhooks::contact_event(
        db,
        EventType::ContactUpdated,
        &contact.id,
        &at,
        Some(json!({ "changed": fields, "by": "self_service" })),
    )?);
    store::batch(db, statements).await?;
    changed(app, &contact.id).await;
    let updated = contacts::find(db, &contact.id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let config = Config::from_env(&app.env)?;
    response::json(
        200,
        &full_document(db, updated, page_locale(&req), &config.consent_lifetimes).await?,
    )
}

pub async fn export(req: Request, app: &App) -> AppResult<Response> {
    let PersonCall { db, session } = app.person()?;
    session.require_full()?;
    let config = Config::from_env(&app.env)?;
    let (export, _) = requests::export(
        db,
        &config,
        session.contact.clone(),
        page_locale(&req),
        &Asked::Themselves,
    )
    .await?;
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
    /// How often, for a grant of a purpose that offers a choice.
    #[serde(default)]
    frequency: Option<String>,
}

/// `PUT /v1/me/consents/{purpose}`: either session. A grant records the notice the preference
/// center showed (archived word for word); withdrawing (objecting) is always allowed.
pub async fn put_consent(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let PersonCall { db, session } = app.person()?;
    let contact_id = session.contact.id.clone();
    let purpose =
        Purpose::parse(app.param("purpose")?).map_err(|e| AppError::validation("purpose", e))?;
    let body: ConsentRequest = read_json(&mut req, JSON_LIMIT).await?;
    let frequency = match body.frequency.as_deref() {
        None => None,
        Some(_) if !body.granted => {
            return Err(AppError::validation(
                "frequency",
                "only with a grant: withdrawing needs none",
            ))
        }
        Some(f) => {
            let f = Frequency::parse(f).map_err(|e| AppError::validation("frequency", e))?;
            if !Frequency::offered(purpose.as_str()).contains(&f) {
                return Err(AppError::validation(
                    "frequency",
                    "this purpose offers no such frequency",
                ));
            }
            Some(f)
        }
    };
    let at = time::now_string();
    let current = consents::current(db, &contact_id).await?;
    let on_record = current.iter().find(|c| c.purpose == purpose.as_str());
    let legitimate_interest = Basis::of(purpose.as_str()) == Basis::LegitimateInterest;
    // Objecting is always possible, to a purpose on record or one the product offers; other
    // names would only fill the record with noise.
    if on_record.is_none() && !KNOWN_PURPOSES.contains(&purpose.as_str()) {
        return Err(AppError::validation(
            "purpose",
            "not a purpose you have a decision on record for",
        ));
    }
    // A grant needs a notice the person was once shown where the purpose is offered (a form,
    // an import's stated basis, an earlier grant): a withdrawal on record is not one.
    // Legitimate-interest purposes are on by default, so turning one back on needs none.
    if body.granted
        && !legitimate_interest
        && !consents::ever_granted(db, &contact_id, purpose.as_str()).await?
    {
        return Err(AppError::validation(
            "purpose",
            "no consent on record for this purpose; it is granted where it is offered",
        ));
    }
    let locale = page_locale(&req);
    let notice_text = preference_notice(locale, purpose.as_str());
    let policy_version = on_record.and_then(|c| c.policy_version.clone());
    let (archive, notice_hash) = notices::archive_statement(
        db,
        &notices::NewNotice {
            text: &notice_text,
            locale: locale.tag(),
            purpose: Some(purpose.as_str()),
            policy_version: None,
            source: "preference_center",
            at: &at,
        },
    )?;
    let announce = webhooks::consent_changed_statement(
        db,
        &contact_id,
        purpose.as_str(),
        body.granted,
        "self_service",
        &at,
    )?;
    let mut statements = vec![archive, announce];
    if !body.granted {
        statements.push(requests::withdrawal_statement(
            db,
            &config,
            &contact_id,
            purpose.as_str(),
            Channel::SelfService,
            &at,
        )?);
    }
    statements.extend(consents::record_statements(
        db,
        &consents::ConsentEvent {
            contact_id: &contact_id,
            purpose: purpose.as_str(),
            granted: body.granted,
            policy_version: policy_version.as_deref(),
            notice_text_hash: Some(&notice_hash),
            source: "me",
            method: ConsentMethod::SelfService,
            ip_hash: Some(&client::ip_hash(&req, &config.keys)),
            user_agent: client::user_agent(&req).as_deref(),
            at: &at,
            frequency,
        },
    )?);
    // The browser's signal comes with the person's own action here; an explicit choice on
    // profiling itself is their word and is recorded as such above.
    if client::gpc(&req) && purpose.as_str() != PROFILING {
        statements.extend(crate::flows::requests::gpc_objection_statements(
            db,
            &config,
            &contact_id,
            Some(&client::ip_hash(&req, &config.keys)),
            client::user_agent(&req).as_deref(),
            &at,
        )?);
    }
    statements.push(contacts::visited_statement(db, &contact_id, &at)?);
    if purpose.as_str() == MARKETING_EMAIL {
        statements.push(profile::marketing_status_statement(
            db,
            &contact_id,
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
        db,
        &session.actor(),
        action,
        Some(&contact_id),
    )?);

    store::batch(db, statements).await?;
    changed(app, &contact_id).await;
    response::json(
        200,
        &json!({
            "purpose": purpose.as_str(),
            "granted": body.granted,
            "frequency": frequency.map(Frequency::as_str),
            "updated_at": at,
        }),
    )
}

/// `DELETE /v1/me` (a `full` session): everything about the person goes in one batch, minimal
/// consent proof and a suppression stay, and a notice that it happened goes to the address.
pub async fn erase(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let PersonCall { db, session } = app.person()?;
    session.require_full()?;
    erasure::erase(
        &app.env,
        &config,
        db,
        &session.contact,
        &session.actor(),
        &Asked::Themselves,
        page_locale(&req),
    )
    .await?;
    response::json(200, &json!({ "status": "erased" }))
}

/// `POST /v1/me/data-confirmed` (a `full` session, where the person sees their data): "this is
/// still right". The profile counts as confirmed now, which ends any freshness request.
pub async fn confirm_data(_req: Request, app: &App) -> AppResult<Response> {
    let PersonCall { db, session } = app.person()?;
    session.require_full()?;
    let at = time::now_string();
    store::batch(
        db,
        vec![
            contacts::data_confirmed_statement(db, &session.contact.id, &at)?,
            audit::record(
                db,
                &session.actor(),
                "contact.data_confirmed",
                Some(&session.contact.id),
            )?,
        ],
    )
    .await?;
    response::json(200, &json!({ "data_confirmed_at": at }))
}

/// `POST /v1/me/sign-in-link` (either session): emails a sign-in link to the person's own
/// address, so a preferences link can lead to the full account only through the mailbox. The
/// session holder knows the address exists, so a reached cap is said plainly (429).
pub async fn email_sign_in_link(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let PersonCall { session, db } = app.person()?;
    client::limit_per_ip(&app.env, &req, "link").await?;
    let email = EmailAddress::parse(&session.contact.email)
        .map_err(|_| AppError::internal("stored email", "unparseable"))?;
    let locale = page_locale(&req);
    let to = SignInRecipient::Contact {
        id: &session.contact.id,
        email: &email,
    };
    match send_sign_in_link(&app.env, db, &config, to, locale).await? {
        SignInEmail::Sent => response::json(202, &json!({ "status": "accepted" })),
        SignInEmail::Capped => Err(AppError::TooManyRequests {
            retry_after_secs: 3600,
        }),
    }
}

/// `POST /v1/me/sign-out-everywhere` (either session): every link already emailed to the
/// person stops working and every session ends, this one included.
pub async fn sign_out_everywhere(_req: Request, app: &App) -> AppResult<Response> {
    let PersonCall { db, session } = app.person()?;
    let at = time::now_string();
    let mut statements = contacts::revoke_links_statements(db, &session.contact.id, &at)?;
    statements.push(audit::record(
        db,
        &session.actor(),
        "contact.revoke_links",
        Some(&session.contact.id),
    )?);
    store::batch(db, statements).await?;
    response::json(200, &json!({ "status": "signed_out" }))
}

/// Segments follow every change; a lost message is repaired by the daily re-evaluation.
async fn changed(app: &App, id: &str) {
    if let Err(e) = enqueue(&app.env, Job::ContactChanged { id: id.to_string() }).await {
        worker::console_error!("enqueue ContactChanged: {e:?}");
    }
}

/// `GET /me`: the hosted preference center.
pub async fn page(req: Request, _app: &App) -> AppResult<Response> {
    let locale = page_locale(&req);
    let html = crate::pages::preferences(locale);
    let mut r = response::text(200, "text/html; charset=utf-8", html)?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    )?;
    Ok(r)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /v1/me/link`: [`request_link`](super::request_link).
    pub fn request_link() -> Value {
        json!({
            "operationId": "requestMagicLink",
            "summary": "Email a sign-in link to this address if we know it; always the same answer",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["email"], "properties": { "email": { "type": "string" } } })),
            "responses": with_body_errors(json!({
                "202": json_response("accepted", status_only("accepted")),
                "429": rate_limited("too many requests from this address or for this email; see Retry-After")
            }))
        })
    }

    /// `POST /v1/me/session`: [`start_session`](super::start_session).
    pub fn start_session() -> Value {
        json!({
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
        })
    }

    /// `GET /v1/me`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getMe",
            "summary": "What the session may see: everything held (`full`), or the purposes and the masked address (`preferences`)",
            "responses": {
                "200": json_response("the person as the session may see them; `scope` tells which", json!({
                    "oneOf": [ { "$ref": "#/components/schemas/Me" }, { "$ref": "#/components/schemas/MePreferences" } ],
                    "discriminator": { "propertyName": "scope", "mapping": { "full": "#/components/schemas/Me", "preferences": "#/components/schemas/MePreferences" } }
                })),
                "401": no_session()
            }
        })
    }

    /// `PATCH /v1/me`: [`patch`](super::patch).
    pub fn patch() -> Value {
        json!({
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
        })
    }

    /// `DELETE /v1/me`: [`erase`](super::erase).
    pub fn erase() -> Value {
        json!({
            "operationId": "eraseMe",
            "summary": "Erase everything about the signed-in person; a notice that it happened goes to the address",
            "description": "A `full` session only.",
            "responses": {
                "200": json_response("erased", status_only("erased")),
                "401": no_session(),
                "403": needs_sign_in()
            }
        })
    }

    /// `POST /v1/me/data-confirmed`: [`confirm_data`](super::confirm_data).
    pub fn confirm_data() -> Value {
        json!({
            "operationId": "confirmMyData",
            "summary": "Say the profile is still right: it counts as confirmed now (`data_confirmed_at`), which ends any freshness request",
            "description": "A `full` session only.",
            "responses": {
                "200": json_response("confirmed", json!({ "type": "object", "required": ["data_confirmed_at"], "properties": { "data_confirmed_at": { "type": "string" } } })),
                "401": no_session(),
                "403": needs_sign_in()
            }
        })
    }

    /// `GET /v1/me/export`: [`export`](super::export).
    pub fn export() -> Value {
        json!({
            "operationId": "exportMe",
            "summary": "Download everything we hold, with purposes and retention (JSON attachment)",
            "description": "A `full` session only. Each download is an `access` request on the register of requests, and `requests` lists the person's requests, this one last.",
            "responses": {
                "200": json_response("export", json!({ "$ref": "#/components/schemas/Export" })),
                "401": no_session(),
                "403": needs_sign_in()
            }
        })
    }

    /// `PUT /v1/me/consents/{purpose}`: [`put_consent`](super::put_consent).
    pub fn put_consent() -> Value {
        json!({
            "operationId": "putConsent",
            "summary": "Grant or withdraw consent for a purpose (either session)",
            "description": "Withdrawing (objecting) is always allowed; a grant needs the purpose on record or a legitimate-interest purpose (400 otherwise). A grant records the words the preference center shows (`notice`) and, for a purpose that offers them (`frequencies` in `GET /v1/me`), may choose how often (`frequency`; a grant without one keeps the choice on record). A request with `Sec-GPC: 1` also records an objection to profiling (method `gpc`) unless the person has decided on profiling themselves.",
            "parameters": [{ "name": "purpose", "in": "path", "required": true, "schema": { "type": "string" } }],
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["granted"], "properties": { "granted": { "type": "boolean" }, "frequency": { "type": "string", "enum": ["all", "weekly", "monthly"] } } })),
            "responses": with_body_errors(json!({
                "200": json_response("recorded", json!({ "type": "object", "required": ["purpose", "granted", "frequency", "updated_at"], "properties": { "purpose": { "type": "string" }, "granted": { "type": "boolean" }, "frequency": { "type": ["string", "null"] }, "updated_at": { "type": "string" } } })),
                "401": no_session()
            }))
        })
    }

    /// `POST /v1/me/sign-in-link`: [`email_sign_in_link`](super::email_sign_in_link).
    pub fn email_sign_in_link() -> Value {
        json!({
            "operationId": "emailSignInLink",
            "summary": "Email a sign-in link to the session's own address (either session), the only way from a preferences link to a `full` session",
            "description": "No body. At most three sign-in emails go to one mailbox in any 24 hours; beyond that nothing is sent and the answer is the same.",
            "responses": {
                "202": json_response("accepted", status_only("accepted")),
                "401": no_session(),
                "429": rate_limited("too many requests from this address; see Retry-After")
            }
        })
    }

    /// `POST /v1/me/sign-out-everywhere`: [`sign_out_everywhere`](super::sign_out_everywhere).
    pub fn sign_out_everywhere() -> Value {
        json!({
            "operationId": "signOutEverywhere",
            "summary": "Revoke every preferences and unsubscribe link already emailed to the person and end every session, this one included (either session)",
            "description": "No body. New emails carry new links.",
            "responses": {
                "200": json_response("signed out", status_only("signed_out")),
                "401": no_session()
            }
        })
    }

    /// `GET /me`: [`page`](super::page).
    pub fn page() -> Value {
        json!({
            "operationId": "preferenceCenter",
            "summary": "The hosted preference center (reads ?t= magic link or ?p= preferences link)",
            "responses": { "200": html_response("page") }
        })
    }
}
