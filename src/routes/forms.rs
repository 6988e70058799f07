//! Public form endpoints: the definition the widget renders, CORS preflight, and submissions
//! (JSON from the widget, urlencoded from a plain HTML form).

use chrono::{Duration, Timelike};
use serde_json::json;
use worker::{Request, Response};

use crate::config::Config;
use crate::domain::email::EmailAddress;
use crate::domain::form::{FormDefinition, FormInput, Submission, SubmissionInput, SubmissionJson};
use crate::domain::i18n::Locale;
use crate::domain::signup::{
    plan, ConfirmPayload, ContactStatus, PendingChanges, SignupPlan, SubmissionProof,
};
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::http::app::App;
use crate::http::body::{decode_json, media_type, read_limited};
use crate::http::{client, cors, response, turnstile};
use crate::jobs::{enqueue_all, message::Job};
use crate::routes::confirm::{confirm_message_statements, ConfirmationEmail};
use crate::store::{self, audit, consents, contacts, forms, rate};

/// A signup is a handful of short fields; anything bigger is not a person typing.
const SUBMISSION_LIMIT: usize = 16 * 1024;
/// Submissions per address per hour, across every form and location.
const EMAIL_HOURLY_LIMIT: u32 = 10;

/// Loads a live form and its validated definition, or 404.
pub async fn load_form(db: &worker::D1Database, id: &str) -> AppResult<FormDefinition> {
    let row = forms::find(db, id).await?.ok_or(AppError::NotFound)?;
    let input: FormInput = serde_json::from_str(&row.definition)?;
    FormDefinition::parse(input)
        .map_err(|_| AppError::internal("stored form", "definition no longer valid"))
}

pub async fn get_public(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let id = app.param("id")?;
    let form = load_form(&db, id).await?;
    let origin = cors::check_origin(&req, &form)?;
    let view = form.public_view(id, &config.public_base_url);
    Ok(cors::allow(response::json(200, &view)?, origin.as_deref()))
}

pub async fn preflight(req: Request, app: &App) -> AppResult<Response> {
    let db = store::database(&app.env)?;
    let form = load_form(&db, app.param("id")?).await?;
    match cors::check_origin(&req, &form)? {
        Some(origin) => cors::preflight(&origin),
        None => Err(AppError::bad_request(
            "not_a_preflight",
            "a CORS preflight needs an Origin header",
        )),
    }
}

pub async fn submit(mut req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let form_id = app.param("id")?.to_string();
    let form = load_form(&db, &form_id).await?;
    let origin = cors::check_origin(&req, &form)?;
    // From here on the browser may read every answer, errors included.
    let outcome = accept(&mut req, app, &config, &db, &form_id, &form).await;
    let response = match outcome {
        Ok(r) => r,
        Err(e) => response::error(&e)?,
    };
    Ok(cors::allow(response, origin.as_deref()))
}

/// The one answer for every accepted submission: new, known, pending, suppressed or a bot.
fn accepted(form: &FormDefinition, plain_form_post: bool) -> AppResult<Response> {
    match (&form.redirect_url, plain_form_post) {
        (Some(url), true) => {
            let mut r = Response::empty()?.with_status(303);
            r.headers_mut().set("Location", url)?;
            Ok(r)
        }
        _ => response::json(202, &json!({ "status": "accepted" })),
    }
}

async fn accept(
    req: &mut Request,
    app: &App,
    config: &Config,
    db: &worker::D1Database,
    form_id: &str,
    form: &FormDefinition,
) -> AppResult<Response> {
    let ip = client::ip(req);
    client::limit_per_ip(&app.env, req, "signup").await?;
    let kind = media_type(req);
    let plain_form_post = kind == "application/x-www-form-urlencoded";
    if kind != "application/json" && !plain_form_post {
        return Err(AppError::UnsupportedMediaType {
            expected: "application/json or application/x-www-form-urlencoded",
        });
    }
    let body = read_limited(req, SUBMISSION_LIMIT).await?;
    let input: SubmissionInput = if plain_form_post {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        SubmissionInput::from_pairs(&pairs, form)
    } else {
        decode_json::<SubmissionJson>(&body)?.into()
    };
    if input.trips_honeypot(form) {
        return accepted(form, plain_form_post);
    }
    // A form that shows Turnstile must have it verified; without the secret we cannot, so we
    // refuse rather than let bots through.
    if form.turnstile_site_key.is_some() {
        let secret = config
            .turnstile_secret
            .as_deref()
            .ok_or(AppError::Misconfigured("TURNSTILE_SECRET"))?;
        let hosts: Vec<String> = form
            .allowed_origins
            .iter()
            .filter_map(|o| url::Url::parse(o).ok())
            .filter_map(|u| u.host_str().map(str::to_string))
            .collect();
        if !turnstile::verify(
            config,
            secret,
            input.turnstile_token.as_deref(),
            &ip,
            &hosts,
        )
        .await
        {
            return Err(AppError::Forbidden {
                code: "turnstile_failed",
                message: "the anti-bot check failed, please try again".into(),
            });
        }
    }
    let accept_language = client::accept_language(req);
    let locale = Locale::negotiate(form.locale(), accept_language.as_deref());
    let now = time::now();
    let submission =
        Submission::parse(form, &input, locale, now.date_naive()).map_err(AppError::fields)?;
    let email_hashes = submission.email.keyed_hashes(&config.token_secret);
    let email_hash = email_hashes.current.clone();
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    if rate::hit(
        db,
        &format!("signup-email:{email_hash}"),
        &time::format(hour),
    )
    .await?
        > EMAIL_HOURLY_LIMIT
    {
        let retry = (hour + Duration::hours(1) - now).num_seconds().max(1) as u32;
        return Err(AppError::TooManyRequests {
            retry_after_secs: retry,
        });
    }
    let existing = contacts::state_by_email_hash(db, &email_hashes).await?;
    // Checked for pending contacts too: a double opt-in form leaves an erased address pending,
    // and only its owner's confirmation may bring it back. Checked for every address, known or
    // not, so every submission makes the same round trips: a path one query shorter for known
    // addresses would tell them apart by timing.
    let suppressed = contacts::is_suppressed(db, &email_hashes).await?;
    let status = existing
        .as_ref()
        .and_then(|c| ContactStatus::parse(&c.status));
    let signup = Signup {
        config,
        db,
        form_id,
        submission: &submission,
        email_hash: &email_hash,
        locale,
        at: time::format(now),
        ip_hash: client::ip_hash(req, &config.keys),
        user_agent: client::user_agent(req),
    };
    let jobs = match plan(status, suppressed, form.double_opt_in) {
        SignupPlan::Drop => Vec::new(),
        SignupPlan::CreateActive => signup.create(true).await?,
        SignupPlan::CreatePending => signup.create(false).await?,
        SignupPlan::RefreshPending => {
            signup
                .refresh_pending(existing_id(&existing)?, false)
                .await?
        }
        SignupPlan::ActivatePending => {
            signup
                .refresh_pending(existing_id(&existing)?, true)
                .await?
        }
        SignupPlan::ConfirmChanges => signup.request_confirmation(existing_id(&existing)?).await?,
    };
    if let Err(e) = enqueue_all(&app.env, jobs).await {
        // The rows are written; the cron sweep delivers stranded emails.
        worker::console_error!("signup: enqueue failed: {e:?}");
    }
    accepted(form, plain_form_post)
}

fn existing_id(existing: &Option<contacts::ContactState>) -> AppResult<&str> {
    existing
        .as_ref()
        .map(|c| c.id.as_str())
        .ok_or_else(|| AppError::internal("signup", "plan needs an existing contact"))
}

/// One submission being written: everything the statements need.
struct Signup<'a> {
    config: &'a Config,
    db: &'a worker::D1Database,
    form_id: &'a str,
    submission: &'a Submission,
    email_hash: &'a str,
    locale: Locale,
    at: String,
    ip_hash: String,
    user_agent: Option<String>,
}

impl Signup<'_> {
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
                    method: "form",
                    ip_hash: Some(&self.ip_hash),
                    user_agent: self.user_agent.as_deref(),
                    at: &self.at,
                },
            )?);
        }
        Ok(statements)
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
    ) -> AppResult<(Vec<worker::D1PreparedStatement>, Vec<Job>)> {
        let (statements, message_id) = confirm_message_statements(
            self.config,
            self.db,
            &ConfirmationEmail {
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

    async fn create(&self, active: bool) -> AppResult<Vec<Job>> {
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
                status: if active { "active" } else { "pending" },
                source: self.form_id,
                at: &self.at,
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
            jobs.push(Job::ContactChanged { id: id.clone() });
        } else {
            let (mail, mail_jobs) = self.confirmation(&id, true, &self.payload(None))?;
            statements.extend(mail);
            jobs.extend(mail_jobs);
        }
        store::batch(self.db, statements).await?;
        Ok(jobs)
    }

    async fn refresh_pending(&self, id: &str, activate: bool) -> AppResult<Vec<Job>> {
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
            jobs.push(Job::ContactChanged { id: id.to_string() });
        } else {
            let (mail, mail_jobs) = self.confirmation(id, false, &self.payload(None))?;
            statements.extend(mail);
            jobs.extend(mail_jobs);
        }
        store::batch(self.db, statements).await?;
        Ok(jobs)
    }

    /// A confirmed address: nothing changes until its owner follows the emailed link.
    async fn request_confirmation(&self, id: &str) -> AppResult<Vec<Job>> {
        let changes = PendingChanges {
            fields: self.submission.contact.clone(),
            attributes: self.submission.attributes.clone(),
        };
        let (statements, jobs) = self.confirmation(id, false, &self.payload(Some(changes)))?;
        if !statements.is_empty() {
            store::batch(self.db, statements).await?;
        }
        Ok(jobs)
    }
}

/// Parses `email` the same way everywhere a raw address arrives.
pub fn parse_email_field(field: &str, raw: &str) -> AppResult<EmailAddress> {
    EmailAddress::parse(raw).map_err(|e| AppError::validation(field, e.message()))
}

pub fn new_form_id() -> String {
    secret::new_id("frm")
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /v1/forms/{id}`: [`get_public`](super::get_public).
    pub fn get_public() -> Value {
        json!({
            "operationId": "getPublicForm",
            "summary": "A form's public definition (CORS for its allowed origins)",
            "parameters": [id_param()],
            "responses": {
                "200": json_response("form", json!({ "$ref": "#/components/schemas/PublicForm" })),
                "403": error_response("origin not allowed"),
                "404": error_response("no such form")
            }
        })
    }

    /// `OPTIONS /v1/forms/{id}`: [`preflight`](super::preflight).
    pub fn preflight() -> Value {
        json!({
            "operationId": "preflightPublicForm",
            "summary": "CORS preflight",
            "parameters": [id_param()],
            "responses": { "204": { "description": "allowed" }, "400": error_response("no Origin"), "403": error_response("origin not allowed"), "404": error_response("no such form") }
        })
    }

    /// `POST /v1/forms/{id}/submissions`: [`submit`](super::submit).
    pub fn submit() -> Value {
        json!({
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
        })
    }

    /// `OPTIONS /v1/forms/{id}/submissions`: [`preflight`](super::preflight).
    pub fn preflight_submission() -> Value {
        json!({
            "operationId": "preflightSubmission",
            "summary": "CORS preflight",
            "parameters": [id_param()],
            "responses": { "204": { "description": "allowed" }, "400": error_response("no Origin"), "403": error_response("origin not allowed"), "404": error_response("no such form") }
        })
    }
}
