//! The buyer's side of a survey: the hosted page behind an invitation link, and the answer.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::i18n::{text, Locale, Text};
use crate::domain::segment::{temperature_on_activity, TemperatureThresholds};
use crate::domain::survey::nps_category;
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::http::app::{param_value, query_pairs, App};
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::{client, response};
use crate::jobs::{enqueue, message::Job};
use crate::store::{self, surveys, webhooks};

/// What a link token leads to.
enum Invitation {
    /// Open, with its survey (read in the same round trip).
    Open(surveys::InvitationRow, Box<surveys::SurveyRow>),
    Answered(surveys::InvitationRow),
    /// Forged, unknown or past its expiry: the same answer for all three.
    Invalid,
}

async fn look_up(db: &crate::store::Db, token: &str) -> AppResult<Invitation> {
    if !secret::is_token_shaped(token) {
        return Ok(Invitation::Invalid);
    }
    let Some((row, survey)) =
        surveys::invitation_by_token_hash(db, &secret::sha256_hex(token)).await?
    else {
        return Ok(Invitation::Invalid);
    };
    if row.answered_at.is_some() {
        return Ok(Invitation::Answered(row));
    }
    let expired = time::parse(&row.expires_at).is_none_or(|at| at <= time::now());
    Ok(match survey {
        Some(survey) if !expired => Invitation::Open(row, Box::new(survey)),
        _ => Invitation::Invalid,
    })
}

/// `GET /s/{token}`: the survey, in the buyer's language, one tap per answer.
pub async fn page(req: Request, app: &App) -> AppResult<Response> {
    let db = app.db()?;
    let accept = client::accept_language(&req);
    let pairs = query_pairs(&req)?;
    let embed = param_value(&pairs, "embed") == Some("1");
    let token = app.param("token")?;
    let (row, survey_row) = match look_up(&db, token).await? {
        Invitation::Open(row, survey) => (row, survey),
        Invitation::Answered(row) => {
            let locale = page_locale(row.locale.as_deref(), accept.as_deref(), None);
            return message_page(409, locale, Text::SurveyAnswered);
        }
        Invitation::Invalid => {
            let locale = Locale::negotiate(None, accept.as_deref());
            return message_page(410, locale, Text::SurveyExpired);
        }
    };
    let survey = survey_row.definition()?;
    let locale = page_locale(
        row.locale.as_deref(),
        accept.as_deref(),
        Some(survey.locale),
    );
    let data = json!({
        "token": token,
        "locale": locale.tag(),
        "embed": embed,
        "survey": survey.public_view(locale),
    });
    html_response(200, crate::pages::survey(locale, &data))
}

/// The contact's own language, then the browser's, then the survey's.
fn page_locale(contact: Option<&str>, accept: Option<&str>, survey: Option<Locale>) -> Locale {
    contact
        .and_then(Locale::from_tag)
        .or_else(|| accept.and_then(Locale::from_accept_language))
        .or(survey)
        .unwrap_or(Locale::En)
}

fn message_page(status: u16, locale: Locale, message: Text) -> AppResult<Response> {
    let body = format!("<p>{}</p>", crate::pages::escape(text(locale, message)));
    html_response(
        status,
        crate::pages::page(locale, text(locale, Text::SurveyTitle), &body),
    )
}

/// Survey pages may be framed by the shop's post-purchase page, so any ancestor is allowed.
fn html_response(status: u16, html: String) -> AppResult<Response> {
    let mut r = response::text(status, "text/html; charset=utf-8", html)?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors *",
    )?;
    r.headers_mut().set("Cache-Control", "no-store")?;
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseRequest {
    token: String,
    answers: Value,
}

/// `POST /v1/surveys/responses`: one answer per invitation, validated against every question.
pub async fn respond(mut req: Request, app: &App) -> AppResult<Response> {
    let db = app.db()?;
    client::limit_per_ip(&app.env, &req, "survey").await?;
    let body: ResponseRequest = read_json(&mut req, JSON_LIMIT).await?;
    // A malformed body is a 400 whatever the link; only a well-formed answer learns about it.
    if !body.answers.is_object() {
        return Err(AppError::validation(
            "answers",
            "an object of answers by question key",
        ));
    }
    let (invitation, survey_row) = match look_up(&db, body.token.trim()).await? {
        Invitation::Open(row, survey) => (row, survey),
        Invitation::Answered(_) => return Err(already_answered()),
        Invitation::Invalid => return Err(AppError::Gone),
    };
    let survey = survey_row.definition()?;
    let answers = survey
        .parse_answers(&body.answers)
        .map_err(AppError::fields)?;
    let response_id = uuid::Uuid::now_v7().to_string();
    let answers_json = answers.to_json().to_string();
    let now = time::now();
    let at = time::format(now);
    let nps = answers.nps();
    let temperature = temperature_on_activity(now, &TemperatureThresholds::default());
    let mut statements = surveys::record_response_statements(
        &db,
        &surveys::NewResponse {
            id: &response_id,
            survey_id: &invitation.survey_id,
            invitation_id: &invitation.id,
            contact_id: invitation.contact_id.as_deref(),
            answers_json: &answers_json,
            nps,
            nps_category: nps.map(|n| nps_category(n).as_str()),
            csat: answers.csat(),
            ces: answers.ces(),
            at: &at,
            temperature: temperature.as_str(),
        },
    )?;
    statements.push(webhooks::survey_answered_statement(
        &db,
        &webhooks::Answered {
            invitation_id: &invitation.id,
            response_id: &response_id,
            survey_id: &invitation.survey_id,
            contact_id: invitation.contact_id.as_deref(),
            scores: json!({ "nps": nps, "csat": answers.csat(), "ces": answers.ces() }),
            at: &at,
        },
    )?);
    // Global Privacy Control on an answer through the person's own link: their objection to
    // profiling (unless they decided on it themselves).
    if let (Some(contact_id), true) = (invitation.contact_id.as_deref(), client::gpc(&req)) {
        let config = crate::config::Config::from_env(&app.env)?;
        statements.extend(crate::flows::requests::gpc_objection_statements(
            &db,
            &config,
            contact_id,
            Some(&client::ip_hash(&req, &config.keys)),
            client::user_agent(&req).as_deref(),
            &at,
        )?);
    }
    let changes = store::batch_changes(&db, statements).await?;
    if changes.first().copied().unwrap_or(0) == 0 {
        // Another tap on the same link got there first.
        return Err(already_answered());
    }
    // The contact's segments follow, and the answer's event goes out after them; an answer
    // through a link whose person was erased has only its event to send.
    let job = match invitation.contact_id {
        Some(contact_id) => Job::ContactChanged { id: contact_id },
        None => Job::WebhookFanOut,
    };
    if let Err(e) = enqueue(&app.env, job).await {
        worker::console_error!("survey response: enqueue failed: {e:?}");
    }
    response::json(201, &json!({ "status": "recorded" }))
}

fn already_answered() -> AppError {
    AppError::Conflict {
        code: "already_answered",
        message: "this survey has already been answered with this link".into(),
    }
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /s/{token}`: [`page`](super::page).
    pub fn page() -> Value {
        json!({
            "operationId": "surveyPage",
            "summary": "The hosted survey page of an invitation link (`?embed=1` for an iframe)",
            "parameters": [
                { "name": "token", "in": "path", "required": true, "schema": { "type": "string" } },
                { "name": "embed", "in": "query", "required": false, "schema": { "type": "string" }, "description": "`1` lays the page out for an iframe; any other value is the full page" }
            ],
            "responses": {
                "200": html_response("the survey"),
                "409": html_response("already answered"),
                "410": html_response("invalid or expired link")
            }
        })
    }

    /// `POST /v1/surveys/responses`: [`respond`](super::respond).
    pub fn respond() -> Value {
        json!({
            "operationId": "answerSurvey",
            "summary": "Answer a survey once per invitation",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token", "answers"], "properties": {
                "token": { "type": "string" }, "answers": { "type": "object" } } })),
            "responses": with_body_errors(json!({
                "201": json_response("recorded", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "recorded" } } })),
                "409": error_response("already answered"),
                "410": error_response("invalid or expired link"),
                "429": rate_limited("too many requests; see Retry-After")
            }))
        })
    }
}
