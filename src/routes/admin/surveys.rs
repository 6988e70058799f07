//! `/admin/v1/surveys`: define satisfaction surveys, invite buyers, read results and answers.

use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::consent::SATISFACTION_SURVEYS;
use crate::domain::email::EmailAddress;
use crate::domain::form::ContactFields;
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::outbox::MessageKind;
use crate::domain::signup::ContactStatus;
use crate::domain::survey::{csv_safe, parse_definition, StoredResponse, SurveyDefinition};
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::links::{self, MailStream};
use crate::http::app::AdminCall;
use crate::http::app::App;
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::jobs::{enqueue_all, message::Job};
use crate::store::{self, audit, consents, contacts, outbox, surveys, LOOKUP_CHUNK};

/// Invitations per request: each is a few statements in one D1 batch.
const MAX_INVITATIONS: usize = 200;
/// Responses read per D1 query when aggregating or exporting.
const PAGE: usize = 500;

fn document(row: &surveys::SurveyRow) -> AppResult<Value> {
    let mut doc: Value = serde_json::from_str(&row.definition)?;
    if let Some(map) = doc.as_object_mut() {
        map.insert("id".into(), json!(row.id));
        map.insert("created_at".into(), json!(row.created_at));
        map.insert("updated_at".into(), json!(row.updated_at));
    }
    Ok(doc)
}

pub fn definition_of(row: &surveys::SurveyRow) -> AppResult<SurveyDefinition> {
    serde_json::from_str(&row.definition).map_err(|e| AppError::internal("stored survey", e))
}

pub async fn create(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let body: Value = read_json(&mut req, JSON_LIMIT).await?;
    let survey = parse_definition(&body).map_err(AppError::fields)?;
    let id = secret::new_id("srv");
    let at = time::now_string();
    let definition = serde_json::to_string(&survey)?;
    store::batch(
        &call.db,
        vec![
            surveys::insert_statement(
                &call.db,
                &id,
                &survey.name,
                &definition,
                survey.expires_after_days,
                &at,
            )?,
            audit::record(&call.db, &call.principal.actor, "survey.create", Some(&id))?,
        ],
    )
    .await?;
    let row = surveys::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(201, &document(&row)?)
}

pub async fn list(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let docs = surveys::list(&call.db)
        .await?
        .iter()
        .map(document)
        .collect::<AppResult<Vec<_>>>()?;
    response::json(200, &json!({ "surveys": docs }))
}

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let row = surveys::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &document(&row)?)
}

/// Top-level keys replace the stored ones and the whole is validated again.
pub async fn patch(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?.to_string();
    let changes: Value = read_json(&mut req, JSON_LIMIT).await?;
    let row = surveys::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = definition_of(&row)?
        .patched(&changes)
        .map_err(AppError::fields)?;
    let definition = serde_json::to_string(&survey)?;
    store::batch(
        &call.db,
        vec![
            surveys::update_statement(
                &call.db,
                &id,
                &survey.name,
                &definition,
                survey.expires_after_days,
                &time::now_string(),
            )?,
            audit::record(&call.db, &call.principal.actor, "survey.update", Some(&id))?,
        ],
    )
    .await?;
    let row = surveys::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &document(&row)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    invitations: Vec<InvitationTarget>,
    #[serde(default)]
    send_email: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationTarget {
    email: Option<String>,
    contact_id: Option<String>,
    /// The shop's `external_id` of the order the survey asks about.
    order_id: Option<String>,
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

/// Why an invitation was not made; the caller learns the position, never an address.
#[derive(serde::Serialize)]
struct Skipped {
    index: usize,
    reason: &'static str,
}

/// `POST /admin/v1/surveys/{id}/invitations`: one signed, single-use link per person.
pub async fn invite(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let survey_id = app.param("id")?.to_string();
    let body: InvitationRequest = read_json(&mut req, JSON_LIMIT).await?;
    if body.invitations.is_empty() || body.invitations.len() > MAX_INVITATIONS {
        return Err(AppError::validation(
            "invitations",
            &format!("1 to {MAX_INVITATIONS} invitations per request"),
        ));
    }
    let row = surveys::find(&call.db, &survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = definition_of(&row)?;
    let (invitees, skipped) = resolve_invitees(&call, &body.invitations, survey.locale).await?;

    let now = time::now();
    let at = time::format(now);
    let expires_at = time::format(now + Duration::days(i64::from(survey.expires_after_days)));
    let mut statements = Vec::new();
    let mut jobs = Vec::new();
    let mut links = Vec::new();
    for invitee in &invitees {
        if let Some(hash) = &invitee.create_with_hash {
            statements.push(contacts::insert_statement(
                &call.db,
                &contacts::NewContact {
                    id: &invitee.contact_id,
                    email: invitee.email.as_str(),
                    email_hash: hash,
                    fields: &ContactFields::default(),
                    status: ContactStatus::Active,
                    source: "survey",
                    at: &at,
                },
            )?);
        }
        let token = secret::random_secret(24).map_err(|e| AppError::internal("random", e))?;
        let invitation_id = secret::new_id("inv");
        let url = format!("{}/s/{token}", call.config.public_base_url);
        statements.push(surveys::insert_invitation_statement(
            &call.db,
            &surveys::NewInvitation {
                id: &invitation_id,
                survey_id: &survey_id,
                contact_id: &invitee.contact_id,
                order_id: invitee.order_id.as_deref(),
                token_hash: &secret::sha256_hex(&token),
                created_at: &at,
                expires_at: &expires_at,
            },
        )?);
        if body.send_email {
            let message_id = secret::new_id("msg");
            // Survey emails rest on legitimate interest: each carries a one-click way out of
            // survey emails (not of marketing) and the preference center.
            let mail_links = links::for_contact(
                &call.config,
                &invitee.contact_id,
                invitee.epoch,
                MailStream::Surveys,
            );
            let (unsubscribe_url, preferences_url) =
                (mail_links.unsubscribe_url, mail_links.preferences_url);
            let body_text = format!("{}\n\n{url}\n", text(invitee.locale, Text::SurveyEmailBody));
            statements.push(outbox::insert_statement(
                &call.db,
                &outbox::NewMessage {
                    id: &message_id,
                    contact_id: Some(&invitee.contact_id),
                    to: invitee.email.as_str(),
                    kind: MessageKind::SurveyInvitation.as_str(),
                    subject: text(invitee.locale, Text::SurveyEmailSubject),
                    text: &body_text,
                    url: Some(&url),
                    unsubscribe_url: Some(&unsubscribe_url),
                    preferences_url: Some(&preferences_url),
                    created_at: &at,
                    mailbox_hash: None,
                },
            )?);
            jobs.push(Job::DeliverEmail { id: message_id });
        }
        links.push(json!({ "id": invitation_id, "contact_id": invitee.contact_id, "url": url, "expires_at": expires_at }));
    }
    statements.push(audit::record(
        &call.db,
        &call.principal.actor,
        "survey.invite",
        Some(&survey_id),
    )?);
    if invitees.is_empty() {
        // Everyone was skipped: nothing to write but the report.
        return response::json(201, &json!({ "invitations": links, "skipped": skipped }));
    }
    store::batch(&call.db, statements).await?;
    if let Err(e) = enqueue_all(&app.env, jobs).await {
        // The outbox keeps the messages; the daily cron re-queues undelivered ones.
        worker::console_error!("survey invitations: enqueue failed: {e:?}");
    }
    response::json(201, &json!({ "invitations": links, "skipped": skipped }))
}

/// The people to invite, and those skipped: an erased address (suppressed), or a person who
/// objected to survey emails (`satisfaction_surveys` withdrawn). A bad target is a 400.
async fn resolve_invitees(
    call: &AdminCall,
    targets: &[InvitationTarget],
    survey_locale: Locale,
) -> AppResult<(Vec<Invitee>, Vec<Skipped>)> {
    let mut skipped = Vec::new();
    let mut errors = std::collections::BTreeMap::new();
    let mut invitees = Vec::new();
    let mut new_by_hash: std::collections::HashMap<String, String> = Default::default();
    for (i, target) in targets.iter().enumerate() {
        let path = |field: &str| format!("invitations[{i}].{field}");
        let order_id = match &target.order_id {
            Some(external) => match surveys::order_id_by_external_id(&call.db, external).await? {
                Some(id) => Some(id),
                None => {
                    errors.insert(path("order_id"), "no order with this external_id".into());
                    continue;
                }
            },
            None => None,
        };
        let found = match (&target.email, &target.contact_id) {
            (Some(raw), None) => {
                let Ok(email) = EmailAddress::parse(raw) else {
                    errors.insert(path("email"), "not a valid email address".into());
                    continue;
                };
                let hashes = email.keyed_hashes(&call.config.token_secret);
                let hash = hashes.current.clone();
                if contacts::is_suppressed(&call.db, &hashes).await? {
                    skipped.push(Skipped {
                        index: i,
                        reason: "erased",
                    });
                    continue;
                }
                match contacts::find_by_email_hash(&call.db, &hashes).await? {
                    Some(c) => (c, email),
                    None => {
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
            (None, Some(id)) => match contacts::find(&call.db, id).await? {
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
            _ => {
                errors.insert(path("email"), "give either email or contact_id".into());
                continue;
            }
        };
        let (contact, email) = found;
        let locale = contact
            .fields
            .locale
            .as_deref()
            .and_then(Locale::from_tag)
            .unwrap_or(survey_locale);
        invitees.push(Invitee {
            contact_id: contact.id,
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
    let known: Vec<&str> = invitees
        .iter()
        .filter(|i| i.create_with_hash.is_none())
        .map(|i| i.contact_id.as_str())
        .collect();
    let mut objected = std::collections::HashSet::new();
    for chunk in known.chunks(call.config.chunk(LOOKUP_CHUNK)) {
        for w in consents::withdrawn_among(&call.db, chunk).await? {
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

async fn all_responses(call: &AdminCall, survey_id: &str) -> AppResult<Vec<surveys::ResponseRow>> {
    let page_size = call.config.chunk(PAGE);
    let mut rows = Vec::new();
    let mut after = String::new();
    loop {
        let page = surveys::responses_page(&call.db, survey_id, &after, page_size as u32).await?;
        let done = page.len() < page_size;
        if let Some(last) = page.last() {
            after = last.id.clone();
        }
        rows.extend(page);
        if done {
            return Ok(rows);
        }
    }
}

fn stored(row: &surveys::ResponseRow) -> StoredResponse {
    StoredResponse {
        answers: serde_json::from_str(&row.answers).unwrap_or(Value::Null),
        nps: row.nps.map(|n| n as i64),
        csat: row.csat.map(|n| n as i64),
        ces: row.ces.map(|n| n as i64),
    }
}

/// `GET /admin/v1/surveys/{id}/results`: NPS, CSAT, CES and choice counts over every answer.
pub async fn results(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let survey_id = app.param("id")?.to_string();
    let row = surveys::find(&call.db, &survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = definition_of(&row)?;
    let invited = surveys::invited_count(&call.db, &survey_id).await?;
    let responses: Vec<StoredResponse> = all_responses(&call, &survey_id)
        .await?
        .iter()
        .map(stored)
        .collect();
    response::json(200, &survey.results(invited, &responses))
}

/// `GET /admin/v1/surveys/{id}/responses.csv`: one row per answer, one column per question;
/// free text is neutralised so a spreadsheet never runs it as a formula.
pub async fn export_csv(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let survey_id = app.param("id")?.to_string();
    let row = surveys::find(&call.db, &survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = definition_of(&row)?;
    let rows = all_responses(&call, &survey_id).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["response_id".to_string(), "answered_at".to_string()];
    header.extend(survey.questions.iter().map(|q| q.key.clone()));
    writer
        .write_record(&header)
        .map_err(|e| AppError::internal("csv", e))?;
    for r in &rows {
        let answers: Value = serde_json::from_str(&r.answers).unwrap_or(Value::Null);
        let mut record = vec![r.id.clone(), r.created_at.clone()];
        for q in &survey.questions {
            let cell = match answers.get(&q.key) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_safe(s),
                Some(Value::Array(values)) => csv_safe(
                    &values
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                Some(other) => other.to_string(),
            };
            record.push(cell);
        }
        writer
            .write_record(&record)
            .map_err(|e| AppError::internal("csv", e))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::internal("csv", e))?;
    store::batch(
        &call.db,
        vec![audit::record(
            &call.db,
            &call.principal.actor,
            "survey.export",
            Some(&survey_id),
        )?],
    )
    .await?;
    let mut r = response::text(
        200,
        "text/csv; charset=utf-8",
        String::from_utf8(bytes).map_err(|e| AppError::internal("csv", e))?,
    )?;
    r.headers_mut().set(
        "Content-Disposition",
        &format!("attachment; filename=\"survey-{survey_id}.csv\""),
    )?;
    Ok(r)
}

// The contract: each handler's OpenAPI operation.

/// `POST /admin/v1/surveys`: the contract of [`create`].
pub fn create_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("post", "/admin/v1/surveys")
}

/// `GET /admin/v1/surveys`: the contract of [`list`].
pub fn list_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/surveys")
}

/// `GET /admin/v1/surveys/{id}`: the contract of [`get`].
pub fn get_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/surveys/{id}")
}

/// `PATCH /admin/v1/surveys/{id}`: the contract of [`patch`].
pub fn patch_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("patch", "/admin/v1/surveys/{id}")
}

/// `POST /admin/v1/surveys/{id}/invitations`: the contract of [`invite`].
pub fn invite_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("post", "/admin/v1/surveys/{id}/invitations")
}

/// `GET /admin/v1/surveys/{id}/results`: the contract of [`results`].
pub fn results_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/surveys/{id}/results")
}

/// `GET /admin/v1/surveys/{id}/responses.csv`: the contract of [`export_csv`].
pub fn export_csv_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/surveys/{id}/responses.csv")
}
