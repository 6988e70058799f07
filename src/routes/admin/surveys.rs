//! `/admin/v1/surveys`: define satisfaction surveys, invite buyers, read results and answers.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::csv::csv_safe;
use crate::domain::survey::{first_result_day, parse_definition, responses_by_day};
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::survey::{self as flow, InvitationTarget, Inviter};
use crate::http::app::App;
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::store::{self, audit, surveys};

/// Invitations per request: each is a few statements in one D1 batch.
const MAX_INVITATIONS: usize = 200;
/// Responses read per D1 query when exporting.
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
    let survey = row
        .definition()?
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
    let survey = row.definition()?;
    let inviter = Inviter {
        env: &app.env,
        config: &call.config,
        db: &call.db,
        actor: &call.principal.actor,
    };
    let report = flow::invite(
        &inviter,
        &survey_id,
        &survey,
        &body.invitations,
        body.send_email,
    )
    .await?;
    response::json(201, &report)
}

/// `GET /admin/v1/surveys/{id}/results`: NPS, CSAT, CES and choice counts over every answer,
/// each score question's distribution, and the answers of each of the last 90 days.
pub async fn results(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let survey_id = app.param("id")?.to_string();
    let row = surveys::find(&call.db, &survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = row.definition()?;
    let invited = surveys::invited_count(&call.db, &survey_id).await?;
    // Counted by SQL: a constant number of queries however many answered.
    let (totals, tallies, scores) = surveys::result_totals(&call.db, &survey_id, &survey).await?;
    let mut results = survey.results_from_totals(invited, &totals, &tallies, &scores);
    let today = time::now().date_naive();
    let per_day = if totals.responses == 0 {
        Default::default()
    } else {
        surveys::responses_per_day(&call.db, &survey_id, first_result_day(today)).await?
    };
    results.responses_by_day = responses_by_day(today, &per_day);
    response::json(200, &results)
}

/// `GET /admin/v1/surveys/{id}/responses.csv`: one row per answer, one column per question;
/// free text is neutralised so a spreadsheet never runs it as a formula.
pub async fn export_csv(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let survey_id = app.param("id")?.to_string();
    let row = surveys::find(&call.db, &survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = row.definition()?;
    // As many pages as this request's D1 budget can read, keeping two queries spare: a survey
    // with more answers is refused whole rather than answered in part.
    let pages = call.db.budget().remaining().saturating_sub(2).max(1) as usize;
    let rows = surveys::all_responses(&call.db, &survey_id, call.config.chunk(PAGE), pages)
        .await?
        .ok_or_else(|| AppError::Conflict {
            code: "export_too_large",
            message: format!(
                "this survey has more answers than one request can read ({}); \
                 GET /admin/v1/surveys/{survey_id}/results has its aggregates",
                pages * call.config.chunk(PAGE)
            ),
        })?;
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

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/surveys`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "createSurvey",
            "summary": "Create a survey: questions of type nps, csat, ces, single_choice, multi_choice, text",
            "requestBody": json_body(json!({ "$ref": "#/components/schemas/SurveyInput" })),
            "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Survey" })), "/id", &["getSurvey", "patchSurvey", "inviteToSurvey", "surveyResults", "exportSurveyResponses"]) })))
        })
    }

    /// `GET /admin/v1/surveys`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listSurveys",
            "summary": "List surveys",
            "responses": admin_errors(json!({ "200": json_response("surveys", json!({ "type": "object", "required": ["surveys"], "properties": { "surveys": { "type": "array", "items": { "$ref": "#/components/schemas/Survey" } } } })) }))
        })
    }

    /// `GET /admin/v1/surveys/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getSurvey",
            "summary": "Read a survey",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("survey", json!({ "$ref": "#/components/schemas/Survey" })), "404": error_response("no such survey") }))
        })
    }

    /// `PATCH /admin/v1/surveys/{id}`: [`patch`](super::patch).
    pub fn patch() -> Value {
        json!({
            "operationId": "patchSurvey",
            "summary": "Replace top-level keys of a survey; the result is validated whole",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "type": "object" })),
            "responses": admin_errors(with_body_errors(json!({ "200": json_response("survey", json!({ "$ref": "#/components/schemas/Survey" })), "404": error_response("no such survey") })))
        })
    }

    /// `POST /admin/v1/surveys/{id}/invitations`: [`invite`](super::invite).
    pub fn invite() -> Value {
        json!({
            "operationId": "inviteToSurvey",
            "summary": "Signed single-use survey links for contacts or emails, optionally about an order, optionally emailed",
            "description": "People who erased their data (`erased`) or objected to survey emails (`objected`) are skipped and reported by their position in the request, never by address.",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["invitations"], "properties": {
                "invitations": { "type": "array", "minItems": 1, "maxItems": 200, "items": { "type": "object", "additionalProperties": false, "properties": {
                    "email": { "type": "string" }, "contact_id": { "type": "string" }, "order_id": { "type": "string", "description": "the order's external_id" } } } },
                "send_email": { "type": "boolean", "default": false } } })),
            "responses": admin_errors(with_body_errors(json!({
                "201": json_response("links, and who was skipped", json!({ "type": "object", "required": ["invitations", "skipped"], "properties": { "invitations": { "type": "array", "items": {
                    "type": "object", "required": ["id", "contact_id", "url", "expires_at"], "properties": {
                    "id": { "type": "string" }, "contact_id": { "type": "string" }, "url": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } } } },
                    "skipped": { "type": "array", "items": { "type": "object", "required": ["index", "reason"], "properties": {
                        "index": { "type": "integer", "minimum": 0, "description": "position in the request's `invitations`" },
                        "reason": { "type": "string", "enum": ["erased", "objected"] } } } } } })),
                "404": error_response("no such survey")
            })))
        })
    }

    /// `GET /admin/v1/surveys/{id}/results`: [`results`](super::results).
    pub fn results() -> Value {
        json!({
            "operationId": "surveyResults",
            "summary": "Invited, responses, response rate, NPS, CSAT, CES and choice counts, score distributions, answers per day",
            "parameters": [id_param()],
            "responses": admin_errors(json!({
                "200": json_response("results", json!({ "type": "object", "required": ["invited", "responses", "response_rate", "nps", "csat", "ces", "choices", "scores", "responses_by_day"], "properties": {
                    "invited": { "type": "integer" }, "responses": { "type": "integer" }, "response_rate": { "type": ["number", "null"] },
                    "nps": { "type": "object", "required": ["score", "promoters", "passives", "detractors"], "properties": {
                        "score": { "type": ["number", "null"] }, "promoters": { "type": "integer" }, "passives": { "type": "integer" }, "detractors": { "type": "integer" } } },
                    "csat": { "type": "object", "properties": { "average": { "type": ["number", "null"] }, "satisfied_pct": { "type": ["number", "null"] } } },
                    "ces": { "type": "object", "properties": { "average": { "type": ["number", "null"] } } },
                    "choices": { "type": "object" },
                    "scores": { "type": "object", "description": "per score question (nps, csat, ces), by its key: how many answers gave each value of its scale (0–10, 1–5, 1–7), every value listed in order",
                        "additionalProperties": { "type": "object", "required": ["type", "counts"], "properties": {
                            "type": { "type": "string", "enum": ["nps", "csat", "ces"] },
                            "counts": { "type": "array", "items": { "type": "object", "required": ["score", "count"], "properties": {
                                "score": { "type": "integer", "minimum": 0, "maximum": 10 }, "count": { "type": "integer", "minimum": 0 } } } } } } },
                    "responses_by_day": { "type": "array", "minItems": 90, "maxItems": 90, "description": "answers per UTC day over the last 90 days, oldest first, today last, days without answers as 0",
                        "items": { "type": "object", "required": ["date", "count"], "properties": {
                            "date": { "type": "string", "format": "date" }, "count": { "type": "integer", "minimum": 0 } } } } } })),
                "404": error_response("no such survey")
            }))
        })
    }

    /// `GET /admin/v1/surveys/{id}/responses.csv`: [`export_csv`](super::export_csv).
    pub fn export_csv() -> Value {
        json!({
            "operationId": "exportSurveyResponses",
            "summary": "Every response as CSV, one column per question; formula-like text neutralised",
            "parameters": [id_param()],
            "responses": admin_errors(json!({
                "200": { "description": "CSV download", "content": { "text/csv": { "schema": { "type": "string" } } } },
                "404": error_response("no such survey"),
                "409": error_response("`export_too_large`: more answers than one request can read within its D1 budget (about 500,000 at the paid plan's 1,000 queries); the results endpoint has the aggregates")
            }))
        })
    }
}
