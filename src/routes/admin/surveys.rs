//! `/admin/v1/surveys`: define satisfaction surveys, invite buyers, read results and answers.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::survey::{csv_safe, parse_definition, StoredResponse};
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::survey::{self as flow, InvitationTarget, Inviter};
use crate::http::app::App;
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::store::{self, audit, surveys};

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

/// `GET /admin/v1/surveys/{id}/results`: NPS, CSAT, CES and choice counts over every answer.
pub async fn results(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let survey_id = app.param("id")?.to_string();
    let row = surveys::find(&call.db, &survey_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let survey = row.definition()?;
    let invited = surveys::invited_count(&call.db, &survey_id).await?;
    let responses: Vec<StoredResponse> =
        surveys::all_responses(&call.db, &survey_id, call.config.chunk(PAGE))
            .await?
            .iter()
            .map(surveys::ResponseRow::to_stored)
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
    let survey = row.definition()?;
    let rows = surveys::all_responses(&call.db, &survey_id, call.config.chunk(PAGE)).await?;
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
