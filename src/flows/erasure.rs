//! A person erases themselves (GDPR Art. 17, LGPD Art. 18 VI): every row about them goes in one
//! batch (`store::erasure`), minimal consent proof and a suppression stay, and a notice that it
//! happened goes to the address. The request is on the register (`flows::requests`) in the
//! same batch, whether the person erased themselves or staff did on their word.

use crate::store::Db;
use worker::Env;

use crate::config::Config;
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::outbox::MessageKind;
use crate::domain::privacy_request::Kind;
use crate::domain::webhook::EventType;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::requests::Asked;
use crate::jobs::{enqueue, message::Job};
use crate::store::privacy_requests::{self, RequestRow};
use crate::store::{self, audit, contacts, erasure, outbox, webhooks};

/// Erases `contact` on behalf of `actor`, as `asked`; returns the request as the register keeps
/// it. The notice goes out in the contact's own locale, or `fallback` when none is on record.
pub async fn erase(
    env: &Env,
    config: &Config,
    db: &Db,
    contact: &contacts::ContactRow,
    actor: &str,
    asked: &Asked<'_>,
    fallback: Locale,
) -> AppResult<RequestRow> {
    let email = EmailAddress::parse(&contact.email)
        .map_err(|_| AppError::internal("stored email", "unparseable"))?;
    let at = time::now_string();
    let mailbox_hash = email.mailbox_hash(&config.token_secret);
    let mut statements = erasure::erase_statements(
        db,
        &erasure::Erased {
            id: &contact.id,
            mailbox_hash: &mailbox_hash,
        },
        Some(&email.keyed_hash(&config.token_secret)),
        &at,
    )?;
    statements.push(audit::record(
        db,
        actor,
        "contact.erase",
        Some(&contact.id),
    )?);
    // The proof the request was honoured: kept after the erasure, by contact id only.
    let request = asked.request(config, &contact.id, Kind::Erasure, &at);
    statements.push(privacy_requests::record(db, &request, asked.actor())?);
    // Every recipient of the person's data hears of it (GDPR Art. 19): the id only, never the
    // address, and memberships end with it (no `segment.exited` follows).
    statements.push(webhooks::contact_event(
        db,
        EventType::ContactErased,
        &contact.id,
        &at,
        None,
    )?);
    // The notice has no contact (there is none left) and no link (nothing to reach); once
    // delivered only its metadata stays, and that goes after 30 days.
    let locale = contact
        .fields
        .locale
        .as_deref()
        .and_then(Locale::from_tag)
        .unwrap_or(fallback);
    let notice_id = secret::new_id("msg");
    statements.push(outbox::insert_statement(
        db,
        &outbox::NewMessage {
            id: &notice_id,
            contact_id: None,
            to: email.as_str(),
            kind: MessageKind::ErasureNotice.as_str(),
            subject: text(locale, Text::ErasureSubject),
            text: text(locale, Text::ErasureBody),
            url: None,
            unsubscribe_url: None,
            preferences_url: None,
            created_at: &at,
            mailbox_hash: &mailbox_hash,
        },
    )?);
    store::batch(db, statements).await?;
    // Segments follow (sizes moved in the batch already); a lost message is repaired by the
    // daily re-evaluation.
    if let Err(e) = enqueue(
        env,
        Job::ContactChanged {
            id: contact.id.clone(),
        },
    )
    .await
    {
        worker::console_error!("enqueue ContactChanged: {e:?}");
    }
    if config.email_webhook_url.is_some() {
        if let Err(e) = enqueue(env, Job::DeliverEmail { id: notice_id }).await {
            // The outbox keeps it; the daily sweep delivers it.
            worker::console_error!("erasure notice: enqueue failed: {e:?}");
        }
    }
    Ok(request)
}
