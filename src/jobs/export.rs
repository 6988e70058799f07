//! Segment exports as a queue job, so an export of any size is complete: each message writes one
//! chunk of members to R2 (`exports/{id}/{n:06}`), sized from what its batch may still ask of D1,
//! commits it to the `exports` row and enqueues the next; the last one writes the manifest
//! (`exports/{id}/manifest.json`) after its chunk and marks the export ready. Also owns the R2
//! side of downloads and the purge of exports past their 7 days.
//!
//! Redelivery: the row is the truth. A message writes chunk `n` only while the row says `n`
//! chunks are committed, from the row's cursor, and commits with `WHERE chunks = n`; a message
//! redelivered after its commit finds `chunks > n` and does nothing, so no row is written twice
//! or skipped. One redelivered before its commit rewrites the same key from the same cursor.

use sha2::{Digest, Sha256};
use worker::{Bucket, Env, HttpMetadata};

use crate::config::{chunk_rows, Config};
use crate::domain::export::{parse_columns, ExportColumn};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::flows::segments::MemberExport;
use crate::jobs::delivery::Outcome;
use crate::jobs::{enqueue, message::Job};
use crate::store::exports::{self, Commit, ExportRow, Part};
use crate::store::{self, segments, Db};

/// Members per D1 query, as the direct export reads them.
pub const EXPORT_PAGE: usize = 500;
/// Pages one chunk holds at most: 20,000 members, a few MB, far below an isolate's memory.
const MAX_PAGES_PER_CHUNK: u32 = 40;
/// A chunk ends early once it holds this much (wide rows with links).
const MAX_CHUNK_BYTES: usize = 8 << 20;
/// D1 calls a chunk makes besides its pages, once the export row is read: the segment's row and
/// the commit.
const RESERVE: u32 = 2;
/// Days an export (its row and its objects) is kept after it was asked for.
pub const KEEP_DAYS: i64 = 7;
/// Exports purged per call of [`purge_expired`] at most (R2 calls count as subrequests too).
const PURGE_PER_RUN: usize = 20;

/// The `EXPORTS` R2 bucket (wrangler.toml).
pub fn bucket(env: &Env) -> AppResult<Bucket> {
    env.bucket("EXPORTS")
        .map_err(|_| AppError::Misconfigured("R2 binding EXPORTS"))
}

pub fn chunk_key(id: &str, chunk: i64) -> String {
    format!("exports/{id}/{chunk:06}")
}

pub fn manifest_key(id: &str) -> String {
    format!("exports/{id}/manifest.json")
}

/// The media type of an export's file.
pub fn content_type(ndjson: bool) -> &'static str {
    if ndjson {
        "application/x-ndjson; charset=utf-8"
    } else {
        "text/csv; charset=utf-8"
    }
}

/// `ExportChunk`: writes chunk `chunk` of export `id` if it is the next one.
pub async fn write_chunk(env: &Env, db: &Db, id: &str, chunk: i64) -> AppResult<Outcome> {
    let Some(export) = exports::find(db, id).await? else {
        return Ok(Outcome::Done);
    };
    if !export.state.is_open() || export.chunks != chunk {
        // Purged, finished, failed, or this chunk is already committed (a redelivery).
        return Ok(Outcome::Done);
    }
    let remaining = db.budget().remaining();
    if remaining < RESERVE + 1 {
        // Earlier messages of this batch used its D1 allowance: a message of its own has one.
        enqueue(
            env,
            Job::ExportChunk {
                id: export.id,
                chunk,
            },
        )
        .await?;
        return Ok(Outcome::Done);
    }
    let pages = (remaining - RESERVE).min(MAX_PAGES_PER_CHUNK);
    let at = time::now_string();
    let segment = match segments::find(db, &export.segment_id).await? {
        None => {
            exports::fail(db, id, "the segment was deleted during the export", &at).await?;
            return Ok(Outcome::Done);
        }
        Some(s) if s.version != export.segment_version => {
            exports::fail(
                db,
                id,
                "the segment's rule changed during the export: start a new one",
                &at,
            )
            .await?;
            return Ok(Outcome::Done);
        }
        Some(s) => s,
    };
    let columns = stored_columns(&export)?;
    let ndjson = export.ndjson();
    let reader = MemberExport {
        db: db.clone(),
        config: Config::from_env(env)?,
        audience: segments::audience(db, &segment.rule()?, &segment.purpose).await?,
        segment_id: segment.id,
        columns,
        ndjson,
        page_size: chunk_rows(env, EXPORT_PAGE),
    };
    let mut body = if chunk == 0 && !ndjson {
        crate::domain::export::csv_header(&reader.columns).into_bytes()
    } else {
        Vec::new()
    };
    let mut cursor = export.cursor.clone();
    let mut rows = 0u64;
    let mut last = false;
    for _ in 0..pages {
        let (bytes, next, count) = reader.page_counted(&cursor).await?;
        body.extend_from_slice(&bytes);
        rows += count as u64;
        match next {
            Some(next) => cursor = next,
            None => {
                last = true;
                break;
            }
        }
        if body.len() >= MAX_CHUNK_BYTES {
            break;
        }
    }
    let part = Part {
        rows,
        bytes: body.len() as u64,
        sha256: hex::encode(Sha256::digest(&body)),
    };
    let mut parts = export.parts()?;
    parts.push(part.clone());
    let bucket = bucket(env)?;
    put(&bucket, &chunk_key(id, chunk), body, content_type(ndjson)).await?;
    if last {
        // Written last: a manifest means every chunk it lists is in place.
        let manifest = manifest(&export, &parts);
        put(
            &bucket,
            &manifest_key(id),
            manifest.into_bytes(),
            "application/json",
        )
        .await?;
    }
    let parts_json = serde_json::to_string(&parts)?;
    let committed = exports::commit_chunk(
        db,
        &Commit {
            id,
            chunk,
            part: &part,
            parts_json: &parts_json,
            cursor: &cursor,
            last,
            at: &time::now_string(),
        },
    )
    .await?;
    if committed && last {
        // The `export.ready` just written goes out now.
        crate::jobs::webhooks::fan_out(env, db).await?;
    }
    if committed && !last {
        enqueue(
            env,
            Job::ExportChunk {
                id: id.to_string(),
                chunk: chunk + 1,
            },
        )
        .await?;
    }
    Ok(Outcome::Done)
}

fn stored_columns(export: &ExportRow) -> AppResult<Vec<ExportColumn>> {
    parse_columns(Some(&export.columns)).map_err(|e| AppError::internal("export columns", e))
}

async fn put(bucket: &Bucket, key: &str, body: Vec<u8>, media_type: &str) -> AppResult<()> {
    bucket
        .put(key, body)
        .http_metadata(HttpMetadata {
            content_type: Some(media_type.to_string()),
            ..HttpMetadata::default()
        })
        .execute()
        .await
        .map_err(|e| AppError::internal("r2 put", e))?;
    Ok(())
}

/// The manifest: what a reader needs to check the chunks it fetched, each by its hash.
fn manifest(export: &ExportRow, parts: &[Part]) -> String {
    let chunks: Vec<serde_json::Value> = parts
        .iter()
        .enumerate()
        .map(|(n, p)| {
            serde_json::json!({
                "key": chunk_key(&export.id, n as i64),
                "rows": p.rows,
                "bytes": p.bytes,
                "sha256": p.sha256,
            })
        })
        .collect();
    serde_json::json!({
        "id": export.id,
        "segment_id": export.segment_id,
        "segment_version": export.segment_version,
        "format": export.format,
        "columns": export.columns.split(',').collect::<Vec<_>>(),
        "chunk_count": parts.len(),
        "rows": parts.iter().map(|p| p.rows).sum::<u64>(),
        "bytes": parts.iter().map(|p| p.bytes).sum::<u64>(),
        "chunks": chunks,
    })
    .to_string()
}

/// The export's file: its committed chunks read from R2 in order, as one stream.
pub fn file_stream(
    bucket: Bucket,
    export: &ExportRow,
) -> AppResult<impl futures_util::TryStream<Ok = Vec<u8>, Error = worker::Error> + 'static> {
    use futures_util::{stream, StreamExt, TryStreamExt};
    let keys: Vec<String> = (0..export.parts()?.len() as i64)
        .map(|n| chunk_key(&export.id, n))
        .collect();
    Ok(stream::iter(keys)
        .then(move |key| {
            let bucket = bucket.clone();
            async move {
                let object = bucket.get(&key).execute().await?.ok_or_else(|| {
                    worker::Error::RustError("an export chunk is missing from R2".into())
                })?;
                let body = object.body().ok_or_else(|| {
                    worker::Error::RustError("an export chunk has no body".into())
                })?;
                body.stream()
            }
        })
        .try_flatten())
}

/// Deletes exports asked for more than [`KEEP_DAYS`] ago: their R2 objects, then their rows, a
/// bounded number per call (two D1 calls); how many went. The daily purge calls it until it
/// answers fewer than it could have.
pub async fn purge_expired(env: &Env, db: &Db) -> AppResult<usize> {
    if db.budget().remaining() < 2 {
        return Ok(0);
    }
    let limit = chunk_rows(env, PURGE_PER_RUN) as u32;
    let expired = exports::expired(db, &time::now_string(), limit).await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let bucket = bucket(env)?;
    for export in &expired {
        delete_objects(&bucket, &export.id).await?;
    }
    let statements = expired
        .iter()
        .map(|e| exports::delete_statement(db, &e.id))
        .collect::<AppResult<Vec<_>>>()?;
    store::batch(db, statements).await?;
    Ok(expired.len())
}

/// Every object under `exports/{id}/`, chunks written by a message that never committed
/// included.
async fn delete_objects(bucket: &Bucket, id: &str) -> AppResult<()> {
    let prefix = format!("exports/{id}/");
    loop {
        let listed = bucket
            .list()
            .prefix(prefix.clone())
            .execute()
            .await
            .map_err(|e| AppError::internal("r2 list", e))?;
        let keys: Vec<String> = listed.objects().iter().map(|o| o.key()).collect();
        if keys.is_empty() {
            return Ok(());
        }
        bucket
            .delete_multiple(keys)
            .await
            .map_err(|e| AppError::internal("r2 delete", e))?;
        if !listed.truncated() {
            return Ok(());
        }
    }
}
