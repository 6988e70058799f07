//! `/admin/v1/forms`: create, list, read and change signup forms.

use serde_json::{json, Map, Value};
use worker::{Request, Response};

use crate::domain::form::{FormDefinition, FormInput};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::AdminCall;
use crate::http::app::App;
use crate::http::body::{decode_json, read_json, JSON_LIMIT};
use crate::http::response;
use crate::store::{self, audit, forms, notices};

fn document(row: &forms::FormRow, base_url: &str) -> AppResult<Value> {
    let mut doc: Value = serde_json::from_str(&row.definition)?;
    if let Some(map) = doc.as_object_mut() {
        map.insert("id".into(), json!(row.id));
        map.insert("created_at".into(), json!(row.created_at));
        map.insert("updated_at".into(), json!(row.updated_at));
        map.insert(
            "embed_html".into(),
            json!(format!(
                r#"<script src="{base_url}/embed.js" data-form="{}" async></script>"#,
                row.id
            )),
        );
    }
    Ok(doc)
}

/// Every consent text of the form, in every locale, into the append-only notice archive, so a
/// hash in a consent event always leads back to the words the person saw, even after the form
/// is edited.
fn archive_notices(
    call: &AdminCall,
    form_id: &str,
    form: &FormDefinition,
    at: &str,
) -> AppResult<Vec<worker::D1PreparedStatement>> {
    let mut statements = Vec::new();
    for block in &form.consents {
        for (locale, text) in &block.text {
            let (statement, _) = notices::archive_statement(
                &call.db,
                &notices::NewNotice {
                    text,
                    locale,
                    purpose: Some(block.purpose.as_str()),
                    policy_version: Some(&block.policy_version),
                    source: form_id,
                    at,
                },
            )?;
            statements.push(statement);
        }
    }
    Ok(statements)
}

pub async fn create(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let input: FormInput = read_json(&mut req, JSON_LIMIT).await?;
    let form = FormDefinition::parse(input).map_err(AppError::fields)?;
    let id = forms::new_form_id();
    let at = time::now_string();
    let definition = serde_json::to_string(&form)?;
    let mut statements = vec![
        forms::insert_statement(&call.db, &id, &form.name, &definition, &at)?,
        audit::record(&call.db, &call.principal.actor, "form.create", Some(&id))?,
    ];
    statements.extend(archive_notices(call, &id, &form, &at)?);
    store::batch(&call.db, statements).await?;
    let row = forms::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(201, &document(&row, &call.config.public_base_url)?)
}

pub async fn list(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let rows = forms::list(&call.db).await?;
    let docs = rows
        .iter()
        .map(|r| document(r, &call.config.public_base_url))
        .collect::<AppResult<Vec<_>>>()?;
    response::json(200, &json!({ "forms": docs }))
}

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let row = forms::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &document(&row, &call.config.public_base_url)?)
}

/// Top-level keys of the body replace those of the stored definition; the result is validated
/// as a whole, so a PATCH can never leave a form invalid.
pub async fn patch(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let id = app.param("id")?.to_string();
    let changes: Map<String, Value> = read_json(&mut req, JSON_LIMIT).await?;
    let row = forms::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut merged: Map<String, Value> = serde_json::from_str(&row.definition)?;
    for (k, v) in changes {
        merged.insert(k, v);
    }
    let input: FormInput = decode_json(&serde_json::to_vec(&merged)?)?;
    let form = FormDefinition::parse(input).map_err(AppError::fields)?;
    let at = time::now_string();
    let definition = serde_json::to_string(&form)?;
    let mut statements = vec![
        forms::update_statement(&call.db, &id, &form.name, &definition, &at)?,
        audit::record(&call.db, &call.principal.actor, "form.update", Some(&id))?,
    ];
    statements.extend(archive_notices(call, &id, &form, &at)?);
    store::batch(&call.db, statements).await?;
    let row = forms::find(&call.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &document(&row, &call.config.public_base_url)?)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/forms`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "createForm",
            "summary": "Create a signup form",
            "requestBody": json_body(json!({ "$ref": "#/components/schemas/FormInput" })),
            "responses": admin_errors(with_body_errors(json!({ "201": linked(json_response("created", json!({ "$ref": "#/components/schemas/Form" })), "/id", &["getForm", "patchForm", "getPublicForm", "preflightPublicForm", "submitForm", "preflightSubmission"]) })))
        })
    }

    /// `GET /admin/v1/forms`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listForms",
            "summary": "List forms",
            "responses": admin_errors(json!({ "200": json_response("forms", json!({ "type": "object", "required": ["forms"], "properties": { "forms": { "type": "array", "items": { "$ref": "#/components/schemas/Form" } } } })) }))
        })
    }

    /// `GET /admin/v1/forms/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getForm",
            "summary": "Read a form",
            "parameters": [id_param()],
            "responses": admin_errors(json!({ "200": json_response("form", json!({ "$ref": "#/components/schemas/Form" })), "404": error_response("no such form") }))
        })
    }

    /// `PATCH /admin/v1/forms/{id}`: [`patch`](super::patch).
    pub fn patch() -> Value {
        json!({
            "operationId": "patchForm",
            "summary": "Replace top-level keys of a form; the result is validated whole",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "type": "object" })),
            "responses": admin_errors(with_body_errors(json!({ "200": json_response("form", json!({ "$ref": "#/components/schemas/Form" })), "404": error_response("no such form") })))
        })
    }
}
