//! `exports`: segment exports run as queue jobs, one row per export holding where the job stands
//! (the committed chunks, the keyset cursor, each chunk's size and hash for the manifest).

use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::error::{AppError, AppResult};
use crate::store::js_int;
use crate::store::{all, first, run, statement, Arg, Db};

/// Where an export job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportState {
    /// Asked for; no chunk written yet.
    Queued,
    /// Some chunks are written; the queue writes the rest.
    Running,
    /// Every chunk and the manifest are in R2.
    Ready,
    /// Stopped for good (the segment was deleted or its rule replaced meanwhile).
    Failed,
}

impl ExportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportState::Queued => "queued",
            ExportState::Running => "running",
            ExportState::Ready => "ready",
            ExportState::Failed => "failed",
        }
    }

    /// Whether the queue still has work for it.
    pub fn is_open(self) -> bool {
        matches!(self, ExportState::Queued | ExportState::Running)
    }
}

/// One committed chunk, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Part {
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExportRow {
    pub id: String,
    pub segment_id: String,
    #[serde(deserialize_with = "js_int::int")]
    pub segment_version: i64,
    pub format: String,
    pub columns: String,
    pub state: ExportState,
    #[serde(deserialize_with = "js_int::int")]
    pub total: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub rows: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub chunks: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub bytes: i64,
    pub cursor: String,
    pub parts: String,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    pub expires_at: String,
}

impl ExportRow {
    /// The committed chunks; the column is written only by [`commit_chunk`], so failing to read
    /// it is a fault.
    pub fn parts(&self) -> AppResult<Vec<Part>> {
        serde_json::from_str(&self.parts).map_err(|e| AppError::internal("export parts", e))
    }

    pub fn ndjson(&self) -> bool {
        self.format == "ndjson"
    }
}

const COLUMNS: &str =
    "id, segment_id, segment_version, format, columns, state, total, rows, chunks, \
     bytes, cursor, parts, error, created_by, created_at, updated_at, finished_at, expires_at";

pub struct NewExport<'a> {
    pub id: &'a str,
    pub segment_id: &'a str,
    pub segment_version: i64,
    pub format: &'a str,
    pub columns: &'a str,
    pub total: i64,
    pub created_by: &'a str,
    pub created_at: &'a str,
    pub expires_at: &'a str,
}

pub fn insert_statement(db: &Db, e: &NewExport<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO exports (id, segment_id, segment_version, format, columns, state, total, \
           created_by, created_at, updated_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8, ?8, ?9)",
        &[
            Arg::Text(e.id),
            Arg::Text(e.segment_id),
            Arg::Int(e.segment_version),
            Arg::Text(e.format),
            Arg::Text(e.columns),
            Arg::Int(e.total),
            Arg::Text(e.created_by),
            Arg::Text(e.created_at),
            Arg::Text(e.expires_at),
        ],
    )
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<ExportRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM exports WHERE id = ?1"),
        &[Arg::Text(id)],
    )
    .await
}

/// Chunk `chunk` as written to R2: counted in, and the cursor moved past it. Only the message
/// for the next chunk commits (`chunks = ?2`), so a redelivered one changes nothing; true when
/// this call committed it.
pub struct Commit<'a> {
    pub id: &'a str,
    pub chunk: i64,
    pub part: &'a Part,
    pub parts_json: &'a str,
    pub cursor: &'a str,
    pub last: bool,
    pub at: &'a str,
}

pub async fn commit_chunk(db: &Db, c: &Commit<'_>) -> AppResult<bool> {
    let state = if c.last {
        ExportState::Ready
    } else {
        ExportState::Running
    };
    let mut statements = vec![statement(
        db,
        "UPDATE exports SET state = ?3, rows = rows + ?4, bytes = bytes + ?5, chunks = chunks + 1, \
           cursor = ?6, parts = ?7, updated_at = ?8, finished_at = CASE WHEN ?9 = 1 THEN ?8 END \
         WHERE id = ?1 AND chunks = ?2 AND state IN ('queued', 'running')",
        &[
            Arg::Text(c.id),
            Arg::Int(c.chunk),
            Arg::Text(state.as_str()),
            Arg::Int(c.part.rows as i64),
            Arg::Int(c.part.bytes as i64),
            Arg::Text(c.cursor),
            Arg::Text(c.parts_json),
            Arg::Text(c.at),
            Arg::Int(i64::from(c.last)),
        ],
    )?];
    if c.last {
        // `export.ready`, only when this commit is the one that finished it (not a redelivery):
        // ids and counts, never the download link (a capability the API hands out).
        statements.push(statement(
            db,
            "INSERT INTO events (type, at, segment_id, detail) \
             SELECT 'export.ready', ?2, segment_id, \
               json_object('export_id', id, 'rows', rows, 'format', format) \
             FROM exports WHERE id = ?1 AND state = 'ready' AND finished_at = ?2 AND updated_at = ?2",
            &[Arg::Text(c.id), Arg::Text(c.at)],
        )?);
    }
    let changed = crate::store::batch_changes(db, statements).await?;
    Ok(changed.first().copied() == Some(1))
}

/// Stops an export for good; `why` is shown to the marketer (no personal data).
pub async fn fail(db: &Db, id: &str, why: &str, at: &str) -> AppResult<()> {
    run(
        db,
        "UPDATE exports SET state = 'failed', error = ?2, updated_at = ?3, finished_at = ?3 \
         WHERE id = ?1 AND state IN ('queued', 'running')",
        &[Arg::Text(id), Arg::Text(why), Arg::Text(at)],
    )
    .await
    .map(|_| ())
}

/// Claims the right to restart a stalled export: true for exactly one caller that saw
/// `updated_at` as `seen`.
pub async fn touch(db: &Db, id: &str, seen: &str, at: &str) -> AppResult<bool> {
    let changed = run(
        db,
        "UPDATE exports SET updated_at = ?3 WHERE id = ?1 AND updated_at = ?2 \
           AND state IN ('queued', 'running')",
        &[Arg::Text(id), Arg::Text(seen), Arg::Text(at)],
    )
    .await?;
    Ok(changed == 1)
}

#[derive(Debug, Deserialize)]
pub struct ExpiredExport {
    pub id: String,
}

/// Exports past `expires_at`, oldest first.
pub async fn expired(db: &Db, now: &str, limit: u32) -> AppResult<Vec<ExpiredExport>> {
    all(
        db,
        "SELECT id FROM exports WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2",
        &[Arg::Text(now), Arg::Int(i64::from(limit))],
    )
    .await
}

pub fn delete_statement(db: &Db, id: &str) -> AppResult<D1PreparedStatement> {
    statement(db, "DELETE FROM exports WHERE id = ?1", &[Arg::Text(id)])
}

#[derive(Deserialize)]
struct Count {
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

/// The segment's members, counted no further than `cap`: a bounded read whatever its size.
pub async fn members_up_to(db: &Db, segment_id: &str, cap: u64) -> AppResult<u64> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let count: Option<Count> = first(
        db,
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM segment_members WHERE segment_id = ?1 LIMIT ?2)",
        &[Arg::Text(segment_id), Arg::Int(cap)],
    )
    .await?;
    Ok(count.map_or(0, |c| c.n.max(0) as u64))
}
