//! Double opt-in: the confirmation email a signup writes (within its caps), and what following
//! its link does: the contact becomes active and the consents it carried are recorded.

use crate::store::Db;
use chrono::Duration;
use worker::{D1PreparedStatement, Env};

use crate::config::Config;
use crate::domain::consent::ConsentMethod;
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::outbox::MessageKind;
use crate::domain::signup::{ConfirmPayload, ContactStatus, SubmissionProof};
use crate::domain::webhook::EventType;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::requests;
use crate::jobs::{enqueue, message::Job};
use crate::store::tokens::{self, TokenPurpose};
use crate::store::{self, audit, consents, contacts, outbox, webhooks};

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
    db: &Db,
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
                mailbox_hash: &email.mailbox_hash(&config.token_secret),
            },
            &outbox::Cap {
                since: &day_ago,
                per_mailbox: CONFIRMATIONS_PER_MAILBOX_DAILY,
                once_per_contact,
            },
        )?,
        tokens::insert_for_message_statement(
            db,
            &tokens::NewToken {
                hash: &hash,
                purpose: TokenPurpose::Confirm,
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

/// Who followed the link: the keyed hash of their IP and their browser, recorded with the
/// confirmation as proof.
pub struct Confirmer {
    pub ip_hash: String,
    pub user_agent: Option<String>,
    /// The click carried `Sec-GPC: 1`.
    pub gpc: bool,
}

/// Consumes the token and activates the contact, recording the consents the signup carried as
/// granted by double opt-in: until this moment they counted nowhere. Returns the locale the
/// signup was made in, for the page that says it is done.
pub async fn confirm(
    env: &Env,
    config: &Config,
    db: &Db,
    token: &str,
    by: Confirmer,
) -> AppResult<Locale> {
    let now = time::now_string();
    let token_hash = secret::sha256_hex(token);
    // The token (taken and emptied: what it carried is recorded below, not kept twice) and its
    // contact in one round trip: the last statement sees the update's `used_at`, so it finds
    // the contact only if this request took the token.
    let mut statements = Vec::from(tokens::take_statements(
        db,
        &token_hash,
        TokenPurpose::Confirm,
        &now,
    )?);
    statements.push(contacts::of_consumed_token_statement(
        db,
        &token_hash,
        &now,
    )?);
    let read = store::batch_results(db, statements).await?;
    let consumed = match (read.first(), read.get(1)) {
        (Some(token), Some(took)) => tokens::taken(token, took)?,
        _ => None,
    }
    .ok_or(AppError::Gone)?;
    let payload: ConfirmPayload =
        serde_json::from_str(consumed.payload.as_deref().unwrap_or("null"))
            .map_err(|e| AppError::internal("confirm payload", e))?;
    let locale = Locale::from_tag(&payload.locale).unwrap_or(Locale::En);
    let id = consumed.contact_id.as_str();
    // Erased since the email went out: the link has nothing left to confirm.
    let Some(contact) = (match read.get(2) {
        Some(r) => contacts::found(r)?,
        None => None,
    }) else {
        return Err(AppError::Gone);
    };
    let email = EmailAddress::parse(&contact.email)
        .map_err(|_| AppError::internal("stored email", "unparseable"))?;
    let mut statements = Vec::new();
    if let Some(changes) = &payload.changes {
        // A correction the person made through a form and confirmed from their mailbox: on the
        // register if it changes a stored value (read before the update below).
        statements.push(requests::rectification_statement(
            db,
            config,
            id,
            &changes.fields.set(),
            &now,
        )?);
        statements.push(contacts::update_fields_statement(
            db,
            id,
            &changes.fields,
            &now,
        )?);
        for (key, value) in &changes.attributes {
            statements.push(contacts::upsert_attribute_statement(
                db,
                id,
                key,
                &value.to_string(),
                &now,
            )?);
        }
    }
    statements.push(contacts::activate_statement(db, id, &now)?);
    // The owner of the address confirmed: an erased person is a member again.
    statements.push(contacts::lift_suppression_statement(
        db,
        &email.keyed_hashes(&config.token_secret),
    )?);
    // First the form submission as it happened (time, IP hash, browser, words shown), then the
    // confirmation: both count from now on, not from the submission.
    let confirmation = SubmissionProof {
        at: now.clone(),
        ip_hash: by.ip_hash,
        user_agent: by.user_agent,
        gpc: by.gpc,
    };
    let steps: Vec<(ConsentMethod, &SubmissionProof)> = payload
        .submitted
        .iter()
        .map(|submitted| (ConsentMethod::Form, submitted))
        .chain(std::iter::once((ConsentMethod::DoubleOptIn, &confirmation)))
        .collect();
    for consent in &payload.consents {
        for (method, proof) in &steps {
            statements.extend(consents::record_statements(
                db,
                &consents::ConsentEvent {
                    contact_id: id,
                    purpose: &consent.purpose,
                    granted: true,
                    policy_version: Some(&consent.policy_version),
                    notice_text_hash: Some(&consent.notice_text_hash),
                    source: &payload.form_id,
                    method: *method,
                    ip_hash: Some(&proof.ip_hash),
                    user_agent: proof.user_agent.as_deref(),
                    at: &proof.at,
                    frequency: None,
                },
            )?);
        }
    }
    // Global Privacy Control on the signup or on this click: the owner of the address objects
    // to profiling (unless they decided on it themselves, e.g. on the form).
    // The signup's own signal counts only for a first signup: a change posted about an address
    // already confirmed came from anyone, and its owner's click confirms the data, not the
    // stranger's browser settings.
    let first_signup = contact.status == ContactStatus::Pending;
    if confirmation.gpc || (first_signup && payload.submitted.as_ref().is_some_and(|s| s.gpc)) {
        statements.extend(crate::flows::requests::gpc_objection_statements(
            db,
            config,
            id,
            Some(&confirmation.ip_hash),
            confirmation.user_agent.as_deref(),
            &now,
        )?);
    }
    statements.push(audit::record(
        db,
        &format!("contact:{id}"),
        "contact.confirm",
        Some(id),
    )?);
    // Data a confirmed person changed through a form, now confirmed from their mailbox: the
    // field names, never the values.
    if let Some(changes) = &payload.changes {
        let mut changed: Vec<String> = changes
            .fields
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        changed.extend(changes.attributes.keys().map(|k| format!("attributes.{k}")));
        if !changed.is_empty() {
            statements.push(webhooks::contact_event(
                db,
                EventType::ContactUpdated,
                id,
                &now,
                Some(serde_json::json!({ "changed": changed, "by": "confirmed_form" })),
            )?);
        }
    }
    let purposes: Vec<&str> = payload
        .consents
        .iter()
        .map(|c| c.purpose.as_str())
        .collect();
    statements.push(webhooks::contact_event(
        db,
        EventType::ContactConfirmed,
        id,
        &now,
        Some(serde_json::json!({
            "form_id": payload.form_id, "consents": purposes, "double_opt_in": true
        })),
    )?);
    store::batch(db, statements).await?;
    if let Err(e) = enqueue(env, Job::ContactChanged { id: id.to_string() }).await {
        worker::console_error!("confirm: enqueue failed: {e:?}");
    }
    Ok(locale)
}
