//! Backups on demand and their history: `POST /admin/v1/backups` starts a run on the queue (the
//! nightly one starts by itself), `GET /admin/v1/backups` lists the runs retention keeps with
//! what each holds, `GET /admin/v1/backups/{id}` shows one. Neither hands out the contents:
//! those are sealed under `BACKUP_KEYS`, which only the restore holds besides the Worker.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::domain::backup::{ObjectEntry, TableCount};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::{limit_param, only_params, query_pairs, App};
use crate::http::response;
use crate::jobs::backup;
use crate::store::backups::{self, RunRow, Trigger};

/// `POST /admin/v1/backups`: `202 {"id","state"}`; the queue writes the objects.
pub async fn create(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let keys = backup::keys(&app.env)?.ok_or_else(|| AppError::Conflict {
        code: "backups_not_configured",
        message: "backups are not configured: set BACKUP_KEYS and BACKUP_KEY_ID".into(),
    })?;
    let id = backup::start(
        &app.env,
        &call.db,
        &keys,
        Trigger::Api,
        &call.principal.actor,
    )
    .await?
    .ok_or_else(|| AppError::Conflict {
        code: "backup_running",
        message: "a backup is running: wait until it is ready (GET /admin/v1/backups)".into(),
    })?;
    response::json(202, &json!({ "id": id, "state": "running" }))
}

/// `GET /admin/v1/backups`: the newest runs first.
pub async fn list(req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["limit"])?;
    let limit = limit_param(&pairs, 50, 100)?;
    let runs = backups::newest(&call.db, limit).await?;
    let docs = runs.iter().map(document).collect::<AppResult<Vec<_>>>()?;
    response::json(200, &json!({ "backups": docs }))
}

/// `GET /admin/v1/backups/{id}`: one run.
pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let run = backups::find(&call.db, app.param("id")?)
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &document(&run)?)
}

fn document(run: &RunRow) -> AppResult<Value> {
    let tables: Vec<TableCount> =
        serde_json::from_str(&run.plan).map_err(|e| AppError::internal("backup plan", e))?;
    let objects: Vec<ObjectEntry> =
        serde_json::from_str(&run.objects).map_err(|e| AppError::internal("backup objects", e))?;
    let duration_ms = run.finished_at.as_deref().and_then(|end| {
        Some((time::parse(end)? - time::parse(&run.started_at)?).num_milliseconds())
    });
    Ok(json!({
        "id": run.id,
        "state": run.state.as_str(),
        "trigger": run.trigger,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": duration_ms,
        "bytes": run.bytes,
        "objects": objects.len(),
        "rows": run.rows,
        "tables": tables.iter().map(|t| json!({ "name": t.name, "rows": t.rows })).collect::<Vec<_>>(),
        "key_id": run.key_id,
        "schema_version": run.schema_version,
        "error": run.error,
    }))
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `POST /admin/v1/backups`: [`create`](super::create).
    pub fn create() -> Value {
        json!({
            "operationId": "startBackup",
            "summary": "Start an encrypted backup of the whole base now (the nightly one starts by itself); poll getBackup until it is ready",
            "description": "Each table is read in chunks by a queue job and written to the BACKUPS bucket as compressed NDJSON sealed with AES-256-GCM under BACKUP_KEY_ID, then a sealed manifest; `make restore BACKUP=<id>` reads it back. One backup runs at a time.",
            "responses": admin_errors(json!({
                "202": linked(json_response("the backup is running", json!({ "type": "object", "required": ["id", "state"], "properties": {
                    "id": { "type": "string" }, "state": { "const": "running" } } })), "/id", &["getBackup"]),
                "409": error_response("`backup_running`: a backup is running; `backups_not_configured`: BACKUP_KEYS is not set")
            }))
        })
    }

    /// `GET /admin/v1/backups`: [`list`](super::list).
    pub fn list() -> Value {
        json!({
            "operationId": "listBackups",
            "summary": "Backup runs, newest first: state, size, row counts and duration",
            "description": "Retention keeps the newest ready backup of each of the last 30 days and of each of the last 12 months, and failed runs for 7 days; the daily run deletes the others with their objects.",
            "parameters": [limit(100)],
            "responses": admin_errors(json!({
                "200": json_response("backup runs", json!({ "type": "object", "required": ["backups"], "properties": {
                    "backups": { "type": "array", "items": schema() } } })),
                "400": error_response("an unknown or invalid query parameter")
            }))
        })
    }

    /// `GET /admin/v1/backups/{id}`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "getBackup",
            "summary": "One backup run: its state, size, row counts per table and duration",
            "parameters": [id_param()],
            "responses": admin_errors(json!({
                "200": json_response("the backup run", schema()),
                "404": error_response("no such backup (or pruned by retention)")
            }))
        })
    }

    /// A run as the backup operations show it.
    fn schema() -> Value {
        json!({ "type": "object", "required": ["id", "state", "trigger", "started_at", "finished_at", "duration_ms", "bytes", "objects", "rows", "tables", "key_id", "schema_version", "error"], "properties": {
            "id": { "type": "string", "description": "the run id: `make restore BACKUP=<id>`" },
            "state": { "type": "string", "enum": ["running", "ready", "failed"] },
            "trigger": { "type": "string", "enum": ["api", "schedule"] },
            "started_at": { "type": "string", "description": "rows of rowid tables inserted after this are not in the backup" },
            "finished_at": { "type": ["string", "null"] },
            "duration_ms": { "type": ["integer", "null"], "description": "from start to finish; null while running" },
            "bytes": { "type": "integer", "description": "sealed bytes written so far, manifest included" },
            "objects": { "type": "integer", "description": "objects written so far, manifest not counted" },
            "rows": { "type": "integer", "description": "rows copied so far" },
            "tables": { "type": "array", "description": "every table the backup copies, in load order, with the rows copied so far", "items": {
                "type": "object", "required": ["name", "rows"], "properties": {
                    "name": { "type": "string" }, "rows": { "type": "integer" } } } },
            "key_id": { "type": "string", "description": "the backup key every object is sealed under" },
            "schema_version": { "type": "string", "description": "the newest migration the Worker knew" },
            "error": { "type": ["string", "null"], "description": "why a failed run stopped" }
        } })
    }
}
