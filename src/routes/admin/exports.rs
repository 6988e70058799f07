//! Segment exports as jobs: `POST /admin/v1/segments/{id}/exports` starts one on the queue (any
//! size: it never truncates), `GET /admin/v1/exports/{id}` shows its progress and, once ready,
//! hands out a signed download link good for a day (the file streams from R2).

use chrono::Duration;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::export::parse_columns;
use crate::domain::link::{self, LinkPurpose};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::App;
use crate::http::body::{read_json, JSON_LIMIT};
use crate::http::response;
use crate::jobs::export::KEEP_DAYS;
use crate::jobs::{enqueue, message::Job};
use crate::store::exports::{self, ExportRow, NewExport};
use crate::store::{self, audit, segments};

/// An open export whose row has not moved for this long lost its queue message (a crash between
/// its commit and its enqueue): the next status read puts it back on the queue.
const STALLED_SECS: i64 = 120;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportInput {
    #[serde(default, deserialize_with = "present")]
    format: Option<String>,
    #[serde(default, deserialize_with = "present")]
    columns: Option<Vec<String>>,
}

/// An optional field that, when present, holds a value: `null` is refused like any wrong type
/// (the contract says string and array, not null).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `POST /admin/v1/segments/{id}/exports`: `202 {"id","state"}`; the queue writes the file.
pub async fn create(mut req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let input: ExportInput = read_json(&mut req, JSON_LIMIT).await?;
    let format = match input.format.as_deref() {
        None | Some("csv") => "csv",
        Some("ndjson") => "ndjson",
        Some(_) => return Err(AppError::validation("format", "csv or ndjson")),
    };
    let columns = match &input.columns {
        Some(names) if names.is_empty() => {
            return Err(AppError::validation("columns", "name at least one column"))
        }
        Some(names) if names.iter().any(|n| n.contains(',')) => {
            return Err(AppError::validation("columns", "one column name per item"))
        }
        Some(names) => parse_columns(Some(&names.join(","))),
        None => parse_columns(None),
    }
    .map_err(|message| AppError::validation("columns", &message))?;
    let segment = segments::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = time::now();
    let at = time::format(now);
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    store::batch(
        &call.db,
        vec![
            exports::insert_statement(
                &call.db,
                &NewExport {
                    id: &id,
                    segment_id: &segment.id,
                    segment_version: segment.version,
                    format,
                    columns: &names.join(","),
                    total: segment.size,
                    created_by: &call.principal.actor,
                    created_at: &at,
                    expires_at: &time::format(now + Duration::days(KEEP_DAYS)),
                },
            )?,
            audit::record(
                &call.db,
                &call.principal.actor,
                &format!("segment.export.job.{format}"),
                Some(&segment.id),
            )?,
        ],
    )
    .await?;
    enqueue(
        &app.env,
        Job::ExportChunk {
            id: id.clone(),
            chunk: 0,
        },
    )
    .await?;
    response::json(202, &json!({ "id": id, "state": "queued" }))
}

/// `GET /admin/v1/exports/{id}`: where the export stands; when ready, a download link.
pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let export = exports::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = time::now();
    if export.state.is_open() {
        restart_if_stalled(app, &export, now).await?;
    }
    let mut doc = document(&export);
    if export.state == exports::ExportState::Ready {
        let token = link::sign(
            &call.config.keys,
            &export.id,
            LinkPurpose::ExportDownload,
            0,
            now,
        );
        doc["download_url"] = json!(format!(
            "{}/v1/exports/{}/download?t={token}",
            call.config.public_base_url, export.id
        ));
        doc["download_expires_at"] =
            json!(time::format(now + LinkPurpose::ExportDownload.lifetime()));
    }
    response::json(200, &doc)
}

/// Re-enqueues the next chunk of an export that has not moved for [`STALLED_SECS`]; one status
/// read wins the row (`touch`), so polling pages do not pile up messages.
async fn restart_if_stalled(
    app: &App,
    export: &ExportRow,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let stalled = time::parse(&export.updated_at)
        .is_some_and(|updated| (now - updated).num_seconds() > STALLED_SECS);
    if !stalled {
        return Ok(());
    }
    let call = app.admin()?;
    if exports::touch(&call.db, &export.id, &export.updated_at, &time::format(now)).await? {
        worker::console_warn!(
            "exports: {} stalled; its next chunk is queued again",
            export.id
        );
        enqueue(
            &app.env,
            Job::ExportChunk {
                id: export.id.clone(),
                chunk: export.chunks,
            },
        )
        .await?;
    }
    Ok(())
}

fn document(e: &ExportRow) -> Value {
    json!({
        "id": e.id,
        "segment_id": e.segment_id,
        "format": e.format,
        "columns": e.columns.split(',').collect::<Vec<_>>(),
        "state": e.state.as_str(),
        "rows": e.rows,
        "total": e.total,
        "chunks": e.chunks,
        "bytes": e.bytes,
        "error": e.error,
        "created_at": e.created_at,
        "finished_at": e.finished_at,
        "expires_at": e.expires_at,
    })
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/segments/{id}/exports`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "startSegmentExport",
            "summary": "Export a segment of any size as a queue job (CSV or NDJSON, one R2 object per chunk); poll getExport for progress and the download link",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "properties": {
                "format": { "type": "string", "enum": ["csv", "ndjson"], "default": "csv" },
                "columns": { "type": "array", "minItems": 1, "items": { "type": "string" }, "description": columns_note() }
            } })),
            "responses": admin_errors(with_body_errors(json!({
                "202": linked(json_response("the export job is queued", json!({ "type": "object", "required": ["id", "state"], "properties": {
                    "id": { "type": "string" }, "state": { "const": "queued" } } })), "/id", &["getExport"]),
                "404": error_response("no such segment")
            })))
        })
    }

    /// `GET /admin/v1/exports/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getExport",
            "summary": "An export job's state and progress; when ready, a signed download URL that expires in 24 h",
            "description": "Exports and their files are deleted 7 days after they were asked for (`expires_at`).",
            "parameters": [id_param()],
            "responses": admin_errors(json!({
                "200": json_response("the export", schema()),
                "404": error_response("no such export (or deleted after 7 days)")
            }))
        })
    }

    /// An export as `getExport` shows it.
    fn schema() -> Value {
        json!({ "type": "object", "required": ["id", "segment_id", "format", "columns", "state", "rows", "total", "chunks", "bytes", "error", "created_at", "finished_at", "expires_at"], "properties": {
            "id": { "type": "string" },
            "segment_id": { "type": "string" },
            "format": { "type": "string", "enum": ["csv", "ndjson"] },
            "columns": { "type": "array", "items": { "type": "string" } },
            "state": { "type": "string", "enum": ["queued", "running", "ready", "failed"] },
            "rows": { "type": "integer", "description": "rows written so far" },
            "total": { "type": "integer", "description": "the segment's size when the export was asked for: rows / total is the progress (members without the purpose's consent are left out, so rows may end below it)" },
            "chunks": { "type": "integer" },
            "bytes": { "type": "integer" },
            "error": { "type": ["string", "null"], "description": "why a failed export stopped" },
            "created_at": { "type": "string" },
            "finished_at": { "type": ["string", "null"] },
            "expires_at": { "type": "string", "description": "when the export and its file are deleted" },
            "download_url": { "type": "string", "description": "only when ready: a signed link to the file, no API key needed" },
            "download_expires_at": { "type": "string", "description": "only when ready: when download_url stops working" }
        } })
    }
}
