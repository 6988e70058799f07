//! `GET /v1/exports/{id}/download?t=…`: a finished segment export, streamed from R2 chunk by
//! chunk in order. The signed link (issued by `GET /admin/v1/exports/{id}`, good for 24 h) is
//! the credential, so a browser or a mail tool can fetch the file without the API key.

use worker::{Request, Response};

use crate::config::Config;
use crate::domain::link::{self, LinkPurpose};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::http::app::{only_params, param_value, query_pairs, App};
use crate::jobs::export::{bucket, content_type, file_stream};
use crate::store::exports::{self, ExportState};
use crate::store::{self, audit};

pub async fn download(req: Request, app: &App) -> AppResult<Response> {
    let pairs = query_pairs(&req)?;
    only_params(&pairs, &["t"])?;
    let token = param_value(&pairs, "t")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::validation("t", "the download link's token is missing"))?;
    let id = app.param("id")?;
    let config = Config::from_env(&app.env)?;
    let verified = link::verify(
        &config.keys,
        token,
        LinkPurpose::ExportDownload,
        time::now(),
    )
    .filter(|v| v.contact_id == id)
    .ok_or(AppError::Gone)?;
    let db = app.db()?;
    // Purged after 7 days, or never finished: the link leads nowhere.
    let export = exports::find(&db, &verified.contact_id)
        .await?
        .filter(|e| e.state == ExportState::Ready)
        .ok_or(AppError::Gone)?;
    store::batch(
        &db,
        vec![audit::record(
            &db,
            // The link was issued to whoever may read this export; it names the key that asked.
            &export.created_by,
            "segment.export.download",
            Some(&export.segment_id),
        )?],
    )
    .await?;
    let body = file_stream(bucket(&app.env)?, &export)?;
    let mut response = Response::from_stream(body)?;
    let headers = response.headers_mut();
    let extension = if export.ndjson() { "ndjson" } else { "csv" };
    headers.set("Content-Type", content_type(export.ndjson()))?;
    headers.set(
        "Content-Disposition",
        &format!(
            "attachment; filename=\"segment-{}-{}.{extension}\"",
            export.segment_id,
            export.created_at.get(..10).unwrap_or("export")
        ),
    )?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("Referrer-Policy", "no-referrer")?;
    Ok(response)
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /v1/exports/{id}/download`: [`download`](super::download).
    pub fn download() -> Value {
        json!({
            "operationId": "downloadExport",
            "summary": "Download a finished segment export with the signed link from getExport (no API key: the link is the credential, for 24 h)",
            "parameters": [id_param(), token_param()],
            "responses": {
                "200": { "description": "the file, its chunks in order", "content": { "text/csv": { "schema": { "type": "string" } }, "application/x-ndjson": { "schema": { "type": "string" } } } },
                "400": error_response("no token, or an unknown query parameter"),
                "410": error_response("`link_invalid`: expired, forged or for another export, or the export is gone (deleted 7 days after it was asked for)")
            }
        })
    }
}
