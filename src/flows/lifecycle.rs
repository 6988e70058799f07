//! The consent lifecycle and data freshness: consents that lapse after a period without
//! engagement (one re-permission email first, whose single-use button renews them), and one
//! "is this still right?" email for profiles nobody confirmed for a long time.
//!
//! The rules are `domain::consent::lifecycle_step`; this module reads the candidates, writes
//! each decision with its proof in one batch, and hands the emails to the queue.

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use worker::Env;

use crate::config::Config;
use crate::domain::consent::{
    self as consent, engaged_at, lifecycle_step, ConsentLifetimes, ConsentMethod, LifecycleStep,
    MARKETING_EMAIL, REPERMISSION_NOTICE_DAYS,
};
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{preference_notice, text, Locale, Text};
use crate::domain::outbox::MessageKind;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::links::{self, MailStream};
use crate::jobs::{enqueue_all, message::Job};
use crate::store::tokens::{self, TokenPurpose};
use crate::store::{self, audit, consents, contacts, notices, outbox, webhooks, Db};

/// Where a lifecycle run stands: the purpose it walks and the last consent it looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleCursor {
    pub purpose: String,
    pub updated_at: String,
    pub contact_id: String,
}

impl LifecycleCursor {
    pub fn decode(text: &str) -> LifecycleCursor {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What one step did: how many consents it read, and how many it asked about or let lapse.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleCounts {
    pub read: usize,
    pub asked: usize,
    pub lapsed: usize,
}

/// The payload of a re-permission token.
#[derive(Serialize, Deserialize)]
struct KeepPayload {
    purpose: String,
}

fn locale_of(tag: Option<&str>) -> Locale {
    tag.and_then(Locale::from_tag).unwrap_or(Locale::En)
}

/// One step of the lifecycle run over `purpose` (lifetime `months`): up to `limit` granted
/// consents after `cursor`, each asked about, let lapse, or left. Returns what it did and the
/// cursor of the last consent read.
pub async fn lifecycle_chunk(
    env: &Env,
    config: &Config,
    db: &Db,
    purpose: &str,
    months: u32,
    cursor: &LifecycleCursor,
    limit: u32,
) -> AppResult<(LifecycleCounts, LifecycleCursor)> {
    let now = time::now();
    let at = time::format(now);
    // A consent decided after this cannot be due: its engagement is at least its decision.
    let before = now
        .checked_sub_months(Months::new(months))
        .map(|t| t + Duration::days(REPERMISSION_NOTICE_DAYS))
        .unwrap_or(now);
    let rows = consents::lapsing(
        db,
        purpose,
        &time::format(before),
        (&cursor.updated_at, &cursor.contact_id),
        limit,
    )
    .await?;
    let mut counts = LifecycleCounts {
        read: rows.len(),
        ..LifecycleCounts::default()
    };
    let mut next = cursor.clone();
    let mut statements = Vec::new();
    let mut jobs = Vec::new();
    for row in &rows {
        next = LifecycleCursor {
            purpose: purpose.to_string(),
            updated_at: row.updated_at.clone(),
            contact_id: row.contact_id.clone(),
        };
        let Some(decided) = time::parse(&row.updated_at) else {
            continue;
        };
        let engaged = engaged_at(
            decided,
            row.last_activity_at.as_deref().and_then(time::parse),
        );
        let asked = row.repermission_sent_at.as_deref().and_then(time::parse);
        match lifecycle_step(engaged, asked, months, now) {
            LifecycleStep::Wait => {}
            LifecycleStep::Ask { lapses_at } => {
                counts.asked += 1;
                let message = ask_statements(db, config, row, lapses_at, &at)?;
                statements.extend(message.0);
                if let Some(id) = message.1 {
                    jobs.push(Job::DeliverEmail { id });
                }
            }
            LifecycleStep::Lapse => {
                counts.lapsed += 1;
                statements.extend(lapse_statements(db, row, &at)?);
                jobs.push(Job::ContactChanged {
                    id: row.contact_id.clone(),
                });
            }
        }
    }
    if !statements.is_empty() {
        store::batch(db, statements).await?;
    }
    if !jobs.is_empty() {
        // Emails stay in the outbox (the daily sweep delivers what this loses); a lost
        // membership refresh is caught by the next contact change or rebuild.
        if let Err(e) = enqueue_all(env, jobs).await {
            worker::console_error!("consent lifecycle: enqueue failed: {e:?}");
        }
    }
    Ok((counts, next))
}

/// The one re-permission email of this period: a single-use "keep me subscribed" token valid
/// until the consent would lapse, the preferences link, and the mark that it was asked. An
/// inactive contact (unsubscribed) gets no email; the mark alone starts its notice.
fn ask_statements(
    db: &Db,
    config: &Config,
    row: &consents::Lapsing,
    lapses_at: DateTime<Utc>,
    at: &str,
) -> AppResult<(Vec<worker::D1PreparedStatement>, Option<String>)> {
    // The audit entry is the lasting proof the person was asked before the lapse: the mark is
    // overwritten next period and the outbox row goes after 30 days.
    let mut statements = vec![
        consents::mark_asked_statement(db, &row.contact_id, &row.purpose, at)?,
        audit::record(
            db,
            "system:lifecycle",
            "consent.repermission_asked",
            Some(&row.contact_id),
        )?,
    ];
    let email = match EmailAddress::parse(&row.email) {
        Ok(email) if row.status == "active" => email,
        _ => return Ok((statements, None)),
    };
    let locale = locale_of(row.locale.as_deref());
    let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
    let keep_url = format!("{}/keep?t={token}", config.public_base_url);
    let stream = MailStream::for_purpose(&row.purpose).unwrap_or(MailStream::Marketing);
    let mail_links = links::for_contact(config, &row.contact_id, row.link_epoch, stream);
    let message_id = secret::new_id("msg");
    let date = lapses_at.format("%Y-%m-%d").to_string();
    let body = format!(
        "{}\n\n{}\n\n{keep_url}\n\n{}\n{}\n",
        text(locale, Text::RePermissionBody).replace("{date}", &date),
        preference_notice(locale, &row.purpose),
        text(locale, Text::RePermissionPreferences),
        mail_links.preferences_url,
    );
    let payload = serde_json::to_string(&KeepPayload {
        purpose: row.purpose.clone(),
    })?;
    statements.push(tokens::insert_statement(
        db,
        &tokens::NewToken {
            hash: &secret::sha256_hex(&token),
            purpose: TokenPurpose::RePermission,
            contact_id: &row.contact_id,
            payload: Some(&payload),
            created_at: at,
            expires_at: &time::format(lapses_at),
        },
    )?);
    statements.push(outbox::insert_statement(
        db,
        &outbox::NewMessage {
            id: &message_id,
            contact_id: Some(&row.contact_id),
            to: email.as_str(),
            kind: MessageKind::RePermission.as_str(),
            subject: text(locale, Text::RePermissionSubject),
            text: &body,
            url: Some(&keep_url),
            // Only marketing email has a one-click stream of its own to leave.
            unsubscribe_url: (row.purpose == MARKETING_EMAIL)
                .then_some(mail_links.unsubscribe_url.as_str()),
            preferences_url: Some(&mail_links.preferences_url),
            created_at: at,
            mailbox_hash: &email.mailbox_hash(&config.token_secret),
        },
    )?);
    Ok((statements, Some(message_id)))
}

/// The lapse: a `withdrawn` event by `expired`, announced, audited; marketing email also
/// leaves the person `unsubscribed`.
fn lapse_statements(
    db: &Db,
    row: &consents::Lapsing,
    at: &str,
) -> AppResult<Vec<worker::D1PreparedStatement>> {
    let mut statements = vec![webhooks::consent_changed_statement(
        db,
        &row.contact_id,
        &row.purpose,
        false,
        "expired",
        at,
    )?];
    statements.extend(consents::record_statements(
        db,
        &consents::ConsentEvent {
            contact_id: &row.contact_id,
            purpose: &row.purpose,
            granted: false,
            policy_version: row.policy_version.as_deref(),
            notice_text_hash: None,
            source: "lifecycle",
            method: ConsentMethod::Expired,
            ip_hash: None,
            user_agent: None,
            at,
            frequency: None,
        },
    )?);
    if row.purpose == MARKETING_EMAIL {
        statements.push(contacts::lapse_marketing_statement(
            db,
            &row.contact_id,
            at,
        )?);
    }
    statements.push(audit::record(
        db,
        "system:lifecycle",
        "consent.lapse",
        Some(&row.contact_id),
    )?);
    Ok(statements)
}

/// What the renewal page shows before the button is pressed: which purpose, in which words.
pub struct KeepOffer {
    pub purpose: String,
}

/// The purpose a live (unused, unexpired) re-permission token renews, without spending it.
pub async fn keep_offer(db: &Db, token: &str) -> AppResult<Option<KeepOffer>> {
    let Some(row) = tokens::peek(
        db,
        &secret::sha256_hex(token),
        TokenPurpose::RePermission,
        &time::now_string(),
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(row
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<KeepPayload>(p).ok())
        .map(|p| KeepOffer { purpose: p.purpose }))
}

/// Who pressed the button: what the consent event keeps of the request.
pub struct Presser {
    pub ip_hash: String,
    pub user_agent: Option<String>,
    pub locale: Locale,
}

/// "Keep me subscribed": spends the token and renews the consent as a `granted` event by
/// `re_permission`, recording the words the page showed (archived word for word). A consent
/// withdrawn since the email (or already lapsed) is not brought back by an old button: `Gone`.
pub async fn keep(db: &Db, token: &str, by: &Presser) -> AppResult<String> {
    let at = time::now_string();
    let taken = tokens::consume(
        db,
        &secret::sha256_hex(token),
        TokenPurpose::RePermission,
        &at,
    )
    .await?
    .ok_or(AppError::Gone)?;
    let purpose = taken
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<KeepPayload>(p).ok())
        .map(|p| p.purpose)
        .ok_or(AppError::Gone)?;
    let current = consents::current(db, &taken.contact_id).await?;
    let Some(on_record) = current.iter().find(|c| c.purpose == purpose && c.granted) else {
        return Err(AppError::Gone);
    };
    let shown = keep_notice(by.locale, &purpose);
    let (archive, notice_hash) = notices::archive_statement(
        db,
        &notices::NewNotice {
            text: &shown,
            locale: by.locale.tag(),
            purpose: Some(&purpose),
            policy_version: on_record.policy_version.as_deref(),
            source: "re_permission",
            at: &at,
        },
    )?;
    let mut statements = vec![archive];
    statements.extend(consents::record_statements(
        db,
        &consents::ConsentEvent {
            contact_id: &taken.contact_id,
            purpose: &purpose,
            granted: true,
            policy_version: on_record.policy_version.as_deref(),
            notice_text_hash: Some(&notice_hash),
            source: "re_permission",
            method: ConsentMethod::RePermission,
            ip_hash: Some(&by.ip_hash),
            user_agent: by.user_agent.as_deref(),
            at: &at,
            frequency: None,
        },
    )?);
    statements.push(contacts::visited_statement(db, &taken.contact_id, &at)?);
    statements.push(audit::record(
        db,
        "link:re_permission",
        "consent.renew",
        Some(&taken.contact_id),
    )?);
    store::batch(db, statements).await?;
    Ok(purpose)
}

/// The exact words beside the renewal button: the page's question and the purpose's notice.
pub fn keep_notice(locale: Locale, purpose: &str) -> String {
    format!(
        "{} {}",
        text(locale, Text::KeepIntro),
        preference_notice(locale, purpose)
    )
}

/// One "is this still right?" email to each of up to `limit` active profiles last confirmed
/// more than `months` ago and not asked since, linking to the preference page (whose sign-in
/// link the person asks for there: a 30-minute link in a periodic email would expire unread).
/// Returns how many it read.
pub async fn freshness_chunk(
    env: &Env,
    config: &Config,
    db: &Db,
    months: u32,
    limit: u32,
) -> AppResult<usize> {
    let now = time::now();
    let at = time::format(now);
    let Some(before) = now.checked_sub_months(Months::new(months)) else {
        return Ok(0);
    };
    let stale = contacts::stale_profiles(db, &time::format(before), limit).await?;
    let mut statements = Vec::new();
    let mut jobs = Vec::new();
    for profile in &stale {
        statements.push(contacts::freshness_asked_statement(db, &profile.id, &at)?);
        let Ok(email) = EmailAddress::parse(&profile.email) else {
            continue;
        };
        let locale = locale_of(profile.locale.as_deref());
        let mail_links = links::for_contact(
            config,
            &profile.id,
            profile.link_epoch,
            MailStream::Marketing,
        );
        let message_id = secret::new_id("msg");
        let body = format!(
            "{}\n\n{}\n",
            text(locale, Text::FreshnessBody),
            mail_links.preferences_url
        );
        statements.push(outbox::insert_statement(
            db,
            &outbox::NewMessage {
                id: &message_id,
                contact_id: Some(&profile.id),
                to: email.as_str(),
                kind: MessageKind::UpdateRequest.as_str(),
                subject: text(locale, Text::FreshnessSubject),
                text: &body,
                url: Some(&mail_links.preferences_url),
                unsubscribe_url: None,
                preferences_url: Some(&mail_links.preferences_url),
                created_at: &at,
                mailbox_hash: &email.mailbox_hash(&config.token_secret),
            },
        )?);
        jobs.push(Job::DeliverEmail { id: message_id });
    }
    if !statements.is_empty() {
        store::batch(db, statements).await?;
    }
    if config.email_webhook_url.is_some() && !jobs.is_empty() {
        if let Err(e) = enqueue_all(env, jobs).await {
            worker::console_error!("freshness: enqueue failed: {e:?}");
        }
    }
    Ok(stale.len())
}

/// The state of each lapsing consent for the preference center: when it lapses unless the
/// person engages or renews, given the lifetimes configured. `None` for purposes that do not
/// lapse or consents not granted.
pub fn lapses_at(
    lifetimes: &ConsentLifetimes,
    consent: &consents::CurrentConsent,
    last_activity_at: Option<&str>,
) -> Option<DateTime<Utc>> {
    let months = lifetimes.months(&consent.purpose)?;
    if !consent.granted {
        return None;
    }
    let engaged = engaged_at(
        time::parse(&consent.updated_at)?,
        last_activity_at.and_then(time::parse),
    );
    let asked = consent
        .repermission_sent_at
        .as_deref()
        .and_then(time::parse);
    Some(consent::lapses_at(engaged, asked, months))
}
