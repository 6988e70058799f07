//! Survey invitations: who may be invited (erased people and people who objected to survey
//! emails are skipped), one signed single-use link each, and the email that carries it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::store::Db;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use worker::{D1PreparedStatement, Env};

use crate::config::Config;
use crate::domain::consent::SATISFACTION_SURVEYS;
use crate::domain::email::{EmailAddress, EmailHashes};
use crate::domain::form::ContactFields;
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::outbox::MessageKind;
use crate::domain::signup::ContactStatus;
use crate::domain::survey::SurveyDefinition;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::links::{self, MailStream};
use crate::jobs::{enqueue_all, message::Job};
use crate::store::{self, audit, consents, contacts, outbox, surveys, LOOKUP_CHUNK};

/// Who the caller asks to invite: a known contact, or an address (a buyer not yet a contact).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationTarget {
    pub email: Option<String>,
    pub contact_id: Option<String>,
    /// The shop's `external_id` of the order the survey asks about.
    pub order_id: Option<String>,
}

/// The caller of an invitation run: where it writes, and who the audit log names.
pub struct Inviter<'a> {
    pub env: &'a Env,
    pub config: &'a Config,
    pub db: &'a Db,
    pub actor: &'a str,
}

/// What an invitation run made, and whom it skipped.
#[derive(Serialize)]
pub struct InvitationReport {
    pub invitations: Vec<IssuedInvitation>,
    pub skipped: Vec<Skipped>,
}

/// One link made. Fields in name order, the order the answer has always had.
#[derive(Serialize)]
pub struct IssuedInvitation {
    pub contact_id: String,
    pub expires_at: String,
    pub id: String,
    pub url: String,
}

/// Why an invitation was not made; the caller learns the position, never an address.
#[derive(Serialize)]
pub struct Skipped {
    pub index: usize,
    pub reason: &'static str,
}

/// Who one invitation goes to, once checked.
struct Invitee {
    contact_id: String,
    email: EmailAddress,
    locale: Locale,
    /// Set when the address was unknown: the buyer becomes a contact without marketing consent.
    create_with_hash: Option<String>,
    order_id: Option<String>,
    /// The contact's link epoch, for the links in the email.
    epoch: i64,
    /// Position in the request, for the report of who was skipped.
    index: usize,
}

/// Invites `targets` to survey `survey_id`: one signed, single-use link per person, written with
/// the contacts it creates and (with `send_email`) the emails that carry them. Everyone is
/// looked up before anything is written (a bad target refuses the whole request), then one
/// batch per [`LOOKUP_CHUNK`] people: a constant number of D1 calls per chunk, so the largest
/// request (200) fits the free plan's 50 queries.
pub async fn invite(
    by: &Inviter<'_>,
    survey_id: &str,
    survey: &SurveyDefinition,
    targets: &[InvitationTarget],
    send_email: bool,
) -> AppResult<InvitationReport> {
    let (invitees, skipped) = resolve_invitees(by, targets, survey.locale).await?;
    let now = time::now();
    let at = time::format(now);
    let expires_at = time::format(now + Duration::days(i64::from(survey.expires_after_days)));
    // Only invitations we email get a reminder: a shop handing links out itself follows up itself.
    let remind_at = survey
        .reminder_after_days
        .filter(|_| send_email)
        .map(|days| time::format(now + Duration::days(i64::from(days))));
    let mut jobs = Vec::new();
    let mut issued = Vec::new();
    let chunks = invitees.chunks(LOOKUP_CHUNK).count();
    // One write batch per chunk of people: a few statements each, so a batch stays small
    // however many are invited, and a new contact is written before (or with) its invitation.
    for (n, chunk) in invitees.chunks(LOOKUP_CHUNK).enumerate() {
        let mut statements = Vec::new();
        for invitee in chunk {
            statements.extend(invitation_statements(
                by,
                survey_id,
                invitee,
                (&at, &expires_at, remind_at.as_deref()),
                send_email,
                &mut issued,
                &mut jobs,
            )?);
        }
        if n + 1 == chunks {
            statements.push(audit::record(
                by.db,
                by.actor,
                "survey.invite",
                Some(survey_id),
            )?);
        }
        store::batch(by.db, statements).await?;
    }
    if let Err(e) = enqueue_all(by.env, jobs).await {
        // The outbox keeps the messages; the daily cron re-queues undelivered ones.
        worker::console_error!("survey invitations: enqueue failed: {e:?}");
    }
    // Everyone skipped: nothing was written, and the report says why.
    Ok(InvitationReport {
        invitations: issued,
        skipped,
    })
}

/// The statements that invite one person: their contact when new, the invitation, and with
/// `send_email` the email carrying the link (whose delivery job joins `jobs`).
fn invitation_statements(
    by: &Inviter<'_>,
    survey_id: &str,
    invitee: &Invitee,
    (at, expires_at, remind_at): (&str, &str, Option<&str>),
    send_email: bool,
    issued: &mut Vec<IssuedInvitation>,
    jobs: &mut Vec<Job>,
) -> AppResult<Vec<D1PreparedStatement>> {
    let mut statements = Vec::new();
    if let Some(hash) = &invitee.create_with_hash {
        statements.push(contacts::insert_statement(
            by.db,
            &contacts::NewContact {
                id: &invitee.contact_id,
                email: invitee.email.as_str(),
                email_hash: hash,
                fields: &ContactFields::default(),
                status: ContactStatus::Active,
                source: "survey",
                at,
                active_at: None,
            },
        )?);
    }
    let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
    let invitation_id = secret::new_id("inv");
    let url = format!("{}/s/{token}", by.config.public_base_url);
    statements.push(surveys::insert_invitation_statement(
        by.db,
        &surveys::NewInvitation {
            id: &invitation_id,
            survey_id,
            contact_id: &invitee.contact_id,
            order_id: invitee.order_id.as_deref(),
            token_hash: &secret::sha256_hex(&token),
            created_at: at,
            expires_at,
            remind_at,
        },
    )?);
    if send_email {
        let message_id = secret::new_id("msg");
        // Survey emails rest on legitimate interest: each carries a one-click way out of
        // survey emails (not of marketing) and the preference center.
        let mail_links = links::for_contact(
            by.config,
            &invitee.contact_id,
            invitee.epoch,
            MailStream::Surveys,
        );
        let body_text = format!("{}\n\n{url}\n", text(invitee.locale, Text::SurveyEmailBody));
        statements.push(outbox::insert_statement(
            by.db,
            &outbox::NewMessage {
                id: &message_id,
                contact_id: Some(&invitee.contact_id),
                to: invitee.email.as_str(),
                kind: MessageKind::SurveyInvitation.as_str(),
                subject: text(invitee.locale, Text::SurveyEmailSubject),
                text: &body_text,
                url: Some(&url),
                unsubscribe_url: Some(&mail_links.unsubscribe_url),
                preferences_url: Some(&mail_links.preferences_url),
                created_at: at,
                mailbox_hash: &invitee.email.mailbox_hash(&by.config.token_secret),
            },
        )?);
        jobs.push(Job::DeliverEmail { id: message_id });
    }
    issued.push(IssuedInvitation {
        contact_id: invitee.contact_id.clone(),
        expires_at: expires_at.to_string(),
        id: invitation_id,
        url,
    });
    Ok(statements)
}

/// One target as read from the request, before anything is looked up.
enum Parsed<'t> {
    Email {
        email: EmailAddress,
        hashes: EmailHashes,
    },
    Contact(&'t str),
    /// A field error, reported under `invitations[i].<field>`.
    Invalid(&'static str, &'static str),
}

/// What the database knows about every target of a request, read with IN-lists of at most
/// [`LOOKUP_CHUNK`] keys: a constant number of queries per chunk, not per person.
#[derive(Default)]
struct Known {
    orders: HashMap<String, String>,
    suppressed: HashSet<String>,
    by_hash: HashMap<String, surveys::InviteeRow>,
    by_id: HashMap<String, surveys::InviteeRow>,
}

/// Unique keys, in first-seen order.
fn unique<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    keys.into_iter().filter(|k| seen.insert(*k)).collect()
}

async fn look_up(db: &Db, targets: &[InvitationTarget], parsed: &[Parsed<'_>]) -> AppResult<Known> {
    let mut known = Known::default();
    let externals = unique(targets.iter().filter_map(|t| t.order_id.as_deref()));
    for chunk in externals.chunks(LOOKUP_CHUNK) {
        for o in surveys::orders_by_external_id(db, chunk).await? {
            known.orders.insert(o.external_id, o.id);
        }
    }
    let hashes = unique(parsed.iter().flat_map(|p| match p {
        Parsed::Email { hashes, .. } => hashes.all(),
        _ => Vec::new(),
    }));
    for chunk in hashes.chunks(LOOKUP_CHUNK) {
        known
            .suppressed
            .extend(contacts::suppressed_among(db, chunk).await?);
        for c in surveys::invitees_by_email_hash(db, chunk).await? {
            known.by_hash.insert(c.email_hash.clone(), c);
        }
    }
    let ids = unique(parsed.iter().filter_map(|p| match p {
        Parsed::Contact(id) => Some(*id),
        _ => None,
    }));
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        for c in surveys::invitees_by_id(db, chunk).await? {
            known.by_id.insert(c.id.clone(), c);
        }
    }
    Ok(known)
}

/// The people to invite, and those skipped: an erased address (suppressed), or a person who
/// objected to survey emails (`satisfaction_surveys` withdrawn). A bad target is a 400.
async fn resolve_invitees(
    by: &Inviter<'_>,
    targets: &[InvitationTarget],
    survey_locale: Locale,
) -> AppResult<(Vec<Invitee>, Vec<Skipped>)> {
    let parsed: Vec<Parsed<'_>> = targets
        .iter()
        .map(|target| match (&target.email, &target.contact_id) {
            (Some(raw), None) => match EmailAddress::parse(raw) {
                Ok(email) => Parsed::Email {
                    hashes: email.keyed_hashes(&by.config.token_secret),
                    email,
                },
                Err(_) => Parsed::Invalid("email", "not a valid email address"),
            },
            (None, Some(id)) => Parsed::Contact(id),
            _ => Parsed::Invalid("email", "give either email or contact_id"),
        })
        .collect();
    let known = look_up(by.db, targets, &parsed).await?;
    let mut skipped = Vec::new();
    let mut errors = BTreeMap::new();
    let mut invitees = Vec::new();
    let mut new_by_hash: HashMap<String, String> = HashMap::new();
    for (i, (target, parsed)) in targets.iter().zip(parsed).enumerate() {
        let path = |field: &str| format!("invitations[{i}].{field}");
        let order_id = match &target.order_id {
            Some(external) => match known.orders.get(external) {
                Some(id) => Some(id.clone()),
                None => {
                    errors.insert(path("order_id"), "no order with this external_id".into());
                    continue;
                }
            },
            None => None,
        };
        let (contact, email) = match parsed {
            Parsed::Invalid(field, message) => {
                errors.insert(path(field), message.into());
                continue;
            }
            Parsed::Email { email, hashes } => {
                if hashes.all().iter().any(|h| known.suppressed.contains(*h)) {
                    skipped.push(Skipped {
                        index: i,
                        reason: "erased",
                    });
                    continue;
                }
                // The contact stored under the current hash first, as a single look-up would.
                let found = hashes.all().into_iter().find_map(|h| known.by_hash.get(h));
                match found {
                    Some(c) => (c, email),
                    None => {
                        let hash = hashes.current;
                        let id = new_by_hash
                            .entry(hash.clone())
                            .or_insert_with(|| uuid::Uuid::now_v7().to_string())
                            .clone();
                        let first = !invitees.iter().any(|x: &Invitee| x.contact_id == id);
                        invitees.push(Invitee {
                            contact_id: id,
                            email,
                            locale: survey_locale,
                            create_with_hash: first.then_some(hash),
                            order_id,
                            epoch: 0,
                            index: i,
                        });
                        continue;
                    }
                }
            }
            Parsed::Contact(id) => match known.by_id.get(id) {
                Some(c) => match EmailAddress::parse(&c.email) {
                    Ok(email) => (c, email),
                    Err(_) => {
                        errors.insert(
                            path("contact_id"),
                            "this contact has no usable email".into(),
                        );
                        continue;
                    }
                },
                None => {
                    errors.insert(path("contact_id"), "no such contact".into());
                    continue;
                }
            },
        };
        let locale = contact
            .locale
            .as_deref()
            .and_then(Locale::from_tag)
            .unwrap_or(survey_locale);
        invitees.push(Invitee {
            contact_id: contact.id.clone(),
            email,
            locale,
            create_with_hash: None,
            order_id,
            epoch: contact.link_epoch,
            index: i,
        });
    }
    if !errors.is_empty() {
        return Err(AppError::fields(errors));
    }
    // Objections to survey emails, looked up for the known people in D1-sized chunks.
    let known: Vec<&str> = unique(
        invitees
            .iter()
            .filter(|i| i.create_with_hash.is_none())
            .map(|i| i.contact_id.as_str()),
    );
    let mut objected = HashSet::new();
    for chunk in known.chunks(LOOKUP_CHUNK) {
        for w in consents::withdrawn_among(by.db, chunk).await? {
            if w.purpose == SATISFACTION_SURVEYS {
                objected.insert(w.contact_id);
            }
        }
    }
    let (invitees, objecting): (Vec<Invitee>, Vec<Invitee>) = invitees
        .into_iter()
        .partition(|i| !objected.contains(&i.contact_id));
    skipped.extend(objecting.iter().map(|i| Skipped {
        index: i.index,
        reason: "objected",
    }));
    skipped.sort_by_key(|s| s.index);
    Ok((invitees, skipped))
}

/// One chunk of the daily reminders: up to `limit` invitations whose reminder is due. Each is
/// sent, with a link of its own and the same ways out as the invitation, if its person has not
/// answered, has not objected to survey emails, still exists and the link still works for a
/// day; otherwise it is settled unsent. Returns how many were due (fewer than `limit`: done).
pub async fn send_due_reminders(
    env: &Env,
    config: &Config,
    db: &Db,
    limit: u32,
) -> AppResult<usize> {
    let now = time::now();
    let at = time::format(now);
    let due = surveys::due_reminders(db, &at, limit).await?;
    let open_until = now + Duration::days(1);
    let mut statements = Vec::new();
    let mut jobs = Vec::new();
    for d in &due {
        let still_open = d.answered_at.is_none()
            && d.objected == 0
            && time::parse(&d.expires_at).is_some_and(|e| e > open_until);
        let target = match (&d.contact_id, &d.email) {
            (Some(contact_id), Some(email)) if still_open => EmailAddress::parse(email)
                .ok()
                .map(|email| (contact_id, email)),
            _ => None,
        };
        let Some((contact_id, email)) = target else {
            statements.push(surveys::settle_reminder_statement(db, &d.id, None)?);
            continue;
        };
        let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
        let url = format!("{}/s/{token}", config.public_base_url);
        let locale = d
            .locale
            .as_deref()
            .or(d.survey_locale.as_deref())
            .and_then(Locale::from_tag)
            .unwrap_or(Locale::En);
        let mail_links = links::for_contact(
            config,
            contact_id,
            d.link_epoch.unwrap_or(0),
            MailStream::Surveys,
        );
        let message_id = secret::new_id("msg");
        let body_text = format!("{}\n\n{url}\n", text(locale, Text::SurveyReminderBody));
        let token_hash = secret::sha256_hex(&token);
        statements.push(surveys::settle_reminder_statement(
            db,
            &d.id,
            Some((&token_hash, &at)),
        )?);
        statements.push(outbox::insert_statement(
            db,
            &outbox::NewMessage {
                id: &message_id,
                contact_id: Some(contact_id),
                to: email.as_str(),
                kind: MessageKind::SurveyReminder.as_str(),
                subject: text(locale, Text::SurveyReminderSubject),
                text: &body_text,
                url: Some(&url),
                unsubscribe_url: Some(&mail_links.unsubscribe_url),
                preferences_url: Some(&mail_links.preferences_url),
                created_at: &at,
                mailbox_hash: &email.mailbox_hash(&config.token_secret),
            },
        )?);
        statements.push(surveys::withdraw_unneeded_reminder_statement(
            db,
            &message_id,
            &d.id,
            &token_hash,
        )?);
        jobs.push(Job::DeliverEmail { id: message_id });
    }
    store::batch(db, statements).await?;
    if config.email_webhook_url.is_some() {
        // The outbox keeps them; the daily sweep delivers what this send loses.
        if let Err(e) = enqueue_all(env, jobs).await {
            worker::console_error!("survey reminders: enqueue failed: {e:?}");
        }
    }
    Ok(due.len())
}
