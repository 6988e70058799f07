//! A form submission written to the base in two D1 round trips: one read for everything the
//! decision needs (the form, the contact under the address, its suppression; see [`look_up`]),
//! the plan chosen from it (`domain::signup`), and one batch of writes behind the address's
//! hourly counter (contact, attributes, consents granted now, the confirmation email and its
//! token), which the database refuses whole past the limit.

use crate::store::Db;
use chrono::{DateTime, Duration, Timelike, Utc};
use worker::Env;

use crate::config::Config;
use crate::domain::consent::ConsentMethod;
use crate::domain::email::EmailHashes;
use crate::domain::form::Submission;
use crate::domain::i18n::Locale;
use crate::domain::signup::{
    plan, ConfirmPayload, ContactStatus, PendingChanges, SignupPlan, SubmissionProof,
};
use crate::domain::time;
use crate::domain::webhook::EventType;
use crate::error::{AppError, AppResult};
use crate::flows::confirmation;
use crate::jobs::{enqueue_all, message::Job};
use crate::store::contacts::Known;
use crate::store::forms::{self, FormRow};
use crate::store::{self, audit, consents, contacts, rate, webhooks};

/// Submissions per address per hour, across every form and location.
const EMAIL_HOURLY_LIMIT: u32 = 10;

/// The form, and what is known about the address its submission names (when it names one that
/// parses), in one D1 batch: the first of a signup's two round trips. The address is only the
/// body's hint, read before the form is; [`sign_up`] looks again in the rare case the
/// submission, parsed against its form, comes out as another address.
pub async fn look_up(
    db: &Db,
    form_id: &str,
    hashes: Option<&EmailHashes>,
) -> AppResult<(Option<FormRow>, Option<Known>)> {
    let mut statements = vec![forms::find_statement(db, form_id)?];
    if let Some(hashes) = hashes {
        statements.push(contacts::known_statement(db, hashes)?);
    }
    let results = store::batch_results(db, statements).await?;
    let form = match results.first() {
        Some(r) => forms::found(r)?,
        None => None,
    };
    let known = match results.get(1) {
        Some(r) => Some(contacts::known_from(r)?),
        None => None,
    };
    Ok((form, known))
}

/// A submission that passed its form's checks, and where it came from.
pub struct Submitted<'a> {
    pub form_id: &'a str,
    pub double_opt_in: bool,
    pub submission: &'a Submission,
    /// The locale the visitor saw the form in.
    pub locale: Locale,
    /// When it arrived (the instant the submission was parsed against).
    pub now: DateTime<Utc>,
    pub ip_hash: String,
    pub user_agent: Option<String>,
    /// The request carried `Sec-GPC: 1`.
    pub gpc: bool,
}

/// Writes the submission as its plan says (only the count, for a dropped one), or 429 past
/// the hourly limit of its address. `known` is what [`look_up`] found for the address the body
/// named. Every accepted submission ends the same way for the caller, with the same round
/// trips, so neither the answer nor its timing tells known addresses from new ones.
pub async fn sign_up(
    env: &Env,
    config: &Config,
    db: &Db,
    submitted: Submitted<'_>,
    known: Option<(EmailHashes, Known)>,
) -> AppResult<()> {
    let Submitted {
        form_id,
        double_opt_in,
        submission,
        locale,
        now,
        ip_hash,
        user_agent,
        gpc,
    } = submitted;
    let email_hashes = submission.email.keyed_hashes(&config.token_secret);
    // Checked for pending contacts too: a double opt-in form leaves an erased address pending,
    // and only its owner's confirmation may bring it back. Looked up for every address, known
    // or not, in the same read.
    let known = match known {
        Some((hashes, known)) if hashes == email_hashes => known,
        _ => contacts::known(db, &email_hashes).await?,
    };
    let email_hash = email_hashes.current.clone();
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let signup = Signup {
        config,
        db,
        form_id,
        submission,
        email_hash: &email_hash,
        locale,
        at: time::format(now),
        ip_hash,
        user_agent,
        gpc,
    };
    let window = time::format(hour);
    let counter = rate::Hit {
        key: &format!("signup-email:{email_hash}"),
        window_start: &window,
        cap: EMAIL_HOURLY_LIMIT,
    };
    let retry = (hour + Duration::hours(1) - now).num_seconds().max(1) as u32;
    let mut known = known;
    let mut raced = false;
    let jobs = loop {
        let (statements, jobs) = signup.writes(known, double_opt_in)?;
        match rate::guarded_batch(db, &counter, statements, retry).await {
            Ok(_) => break jobs,
            // A simultaneous submission of the same new address created it between our read and
            // our write, and the batch rolled back whole: plan again from what is there now
            // (once; it cannot be new twice).
            Err(e) if !raced && contacts::is_duplicate_address(&e) => {
                raced = true;
                known = contacts::known(db, &email_hashes).await?;
            }
            Err(e) => return Err(e),
        }
    };
    if let Err(e) = enqueue_all(env, jobs).await {
        // The rows are written; the cron sweep delivers stranded emails.
        worker::console_error!("signup: enqueue failed: {e:?}");
    }
    Ok(())
}

fn existing_id(existing: &Option<contacts::ContactState>) -> AppResult<&str> {
    existing
        .as_ref()
        .map(|c| c.id.as_str())
        .ok_or_else(|| AppError::internal("signup", "plan needs an existing contact"))
}

/// A plan's statements for the signup's write batch, and the jobs that follow it.
type Writes = (Vec<worker::D1PreparedStatement>, Vec<Job>);

/// One submission being written: everything the statements need.
struct Signup<'a> {
    config: &'a Config,
    db: &'a Db,
    form_id: &'a str,
    submission: &'a Submission,
    email_hash: &'a str,
    locale: Locale,
    at: String,
    ip_hash: String,
    user_agent: Option<String>,
    gpc: bool,
}

impl Signup<'_> {
    /// The statements and jobs of the plan for what is `known` about the address.
    fn writes(&self, known: Known, double_opt_in: bool) -> AppResult<Writes> {
        let existing = known.contact;
        let status = existing.as_ref().map(|c| c.status);
        match plan(status, known.suppressed, double_opt_in) {
            SignupPlan::Drop => Ok((Vec::new(), Vec::new())),
            SignupPlan::CreateActive => self.create(true),
            SignupPlan::CreatePending => self.create(false),
            SignupPlan::RefreshPending => self.refresh_pending(existing_id(&existing)?, false),
            SignupPlan::ActivatePending => self.refresh_pending(existing_id(&existing)?, true),
            SignupPlan::ConfirmChanges => self.request_confirmation(existing_id(&existing)?),
        }
    }

    /// The submitted attributes, and the consents when `activate`: a form without double
    /// opt-in grants them at once; on a double opt-in form they wait in the confirmation token
    /// and are recorded only when the person confirms, so an unconfirmed consent counts nowhere.
    fn data_statements(
        &self,
        contact_id: &str,
        activate: bool,
    ) -> AppResult<Vec<worker::D1PreparedStatement>> {
        let mut statements = Vec::new();
        for (key, value) in &self.submission.attributes {
            statements.push(contacts::upsert_attribute_statement(
                self.db,
                contact_id,
                key,
                &value.to_string(),
                &self.at,
            )?);
        }
        let granted_now = if activate {
            self.submission.consents.as_slice()
        } else {
            &[]
        };
        for consent in granted_now {
            statements.extend(consents::record_statements(
                self.db,
                &consents::ConsentEvent {
                    contact_id,
                    purpose: &consent.purpose,
                    granted: true,
                    policy_version: Some(&consent.policy_version),
                    notice_text_hash: Some(&consent.notice_text_hash),
                    source: self.form_id,
                    method: ConsentMethod::Form,
                    ip_hash: Some(&self.ip_hash),
                    user_agent: self.user_agent.as_deref(),
                    at: &self.at,
                    frequency: None,
                },
            )?);
        }
        // A new address made active by its own signup: the signal is its owner's.
        if activate && self.gpc {
            statements.extend(crate::flows::requests::gpc_objection_statements(
                self.db,
                self.config,
                contact_id,
                Some(&self.ip_hash),
                self.user_agent.as_deref(),
                &self.at,
            )?);
        }
        Ok(statements)
    }

    /// `contact.confirmed` for a form without double opt-in: the person is a member at once,
    /// as they are on a double opt-in form when they confirm (`flows::confirmation`).
    fn joined_event(&self, contact_id: &str) -> AppResult<worker::D1PreparedStatement> {
        let purposes: Vec<&str> = self
            .submission
            .consents
            .iter()
            .map(|c| c.purpose.as_str())
            .collect();
        webhooks::contact_event(
            self.db,
            EventType::ContactConfirmed,
            contact_id,
            &self.at,
            Some(serde_json::json!({
                "form_id": self.form_id, "consents": purposes, "double_opt_in": false
            })),
        )
    }

    fn payload(&self, changes: Option<PendingChanges>) -> ConfirmPayload {
        ConfirmPayload {
            form_id: self.form_id.to_string(),
            locale: self.locale.tag().to_string(),
            consents: self.submission.consents.clone(),
            changes,
            submitted: Some(SubmissionProof {
                at: self.at.clone(),
                ip_hash: self.ip_hash.clone(),
                user_agent: self.user_agent.clone(),
                gpc: self.gpc,
            }),
        }
    }

    /// The confirmation email and its token, unless one went to this address in the last 24
    /// hours, or three went to this mailbox (`+tag` spellings and gmail dots folded): nobody
    /// can turn a signup form into a way to flood someone's inbox. Both caps are checked by the
    /// insert itself, in the signup's own batch (no extra round trip, no race); when a cap
    /// holds, the delivery job finds no message and settles.
    fn confirmation(
        &self,
        contact_id: &str,
        is_new: bool,
        payload: &ConfirmPayload,
    ) -> AppResult<Writes> {
        let (statements, message_id) = confirmation::confirm_message_statements(
            self.config,
            self.db,
            &confirmation::ConfirmationEmail {
                contact_id,
                email: &self.submission.email,
                payload,
                locale: self.locale,
                at: &self.at,
                once_per_contact: !is_new,
            },
        )?;
        Ok((statements, vec![Job::DeliverEmail { id: message_id }]))
    }

    fn create(&self, active: bool) -> AppResult<Writes> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut fields = self.submission.contact.clone();
        fields.locale = fields
            .locale
            .or_else(|| Some(self.locale.tag().to_string()));
        let mut statements = vec![contacts::insert_statement(
            self.db,
            &contacts::NewContact {
                id: &id,
                email: self.submission.email.as_str(),
                email_hash: self.email_hash,
                fields: &fields,
                status: if active {
                    ContactStatus::Active
                } else {
                    ContactStatus::Pending
                },
                source: self.form_id,
                at: &self.at,
                active_at: None,
            },
        )?];
        statements.extend(self.data_statements(&id, active)?);
        statements.push(audit::record(
            self.db,
            &format!("form:{}", self.form_id),
            "contact.signup",
            Some(&id),
        )?);
        let mut jobs = Vec::new();
        if active {
            statements.push(self.joined_event(&id)?);
            jobs.push(Job::ContactChanged { id: id.clone() });
        } else {
            let (mail, mail_jobs) = self.confirmation(&id, true, &self.payload(None))?;
            statements.extend(mail);
            jobs.extend(mail_jobs);
        }
        Ok((statements, jobs))
    }

    fn refresh_pending(&self, id: &str, activate: bool) -> AppResult<Writes> {
        let mut statements = vec![contacts::update_fields_statement(
            self.db,
            id,
            &self.submission.contact,
            &self.at,
        )?];
        statements.extend(self.data_statements(id, activate)?);
        statements.push(audit::record(
            self.db,
            &format!("form:{}", self.form_id),
            "contact.signup",
            Some(id),
        )?);
        let mut jobs = Vec::new();
        if activate {
            statements.push(contacts::activate_statement(self.db, id, &self.at)?);
            statements.push(self.joined_event(id)?);
            jobs.push(Job::ContactChanged { id: id.to_string() });
        } else {
            let (mail, mail_jobs) = self.confirmation(id, false, &self.payload(None))?;
            statements.extend(mail);
            jobs.extend(mail_jobs);
        }
        Ok((statements, jobs))
    }

    /// A confirmed address: nothing changes until its owner follows the emailed link.
    fn request_confirmation(&self, id: &str) -> AppResult<Writes> {
        let changes = PendingChanges {
            fields: self.submission.contact.clone(),
            attributes: self.submission.attributes.clone(),
        };
        self.confirmation(id, false, &self.payload(Some(changes)))
    }
}
