//! Backups as a queue job: each `BackupChunk` message reads the next rows of one table (in
//! [`TABLES`] order, by keyset pages, rowid tables up to the high-water marks the first chunk
//! took), as many pages as its D1 budget, a few seconds and 8 MB allow, writes them to the
//! `BACKUPS` bucket as one sealed object (`backups/{run}/{seq:06}`, see `domain::backup`),
//! commits to the `backup_runs` row and enqueues the next; the last one writes the sealed
//! manifest after its object and marks the run ready. A chunk never spans two tables, so every
//! object holds the rows of one. Also owns the daily part: starting the nightly run, restarting
//! a stalled one, and pruning runs retention no longer keeps.
//!
//! Redelivery: the row is the truth, as for exports (`jobs::export`). A message works only
//! while the row says its chunk is the next one, from the row's table and cursor, and commits
//! with `WHERE chunks = n`; a redelivery right after the commit (`chunks = n + 1`) sends the
//! next chunk's message again, in case that enqueue is what failed, and a later one does
//! nothing. Every attempt writes its object under a name of its own (the nonce's first bytes),
//! so two attempts racing never overwrite the object the committing one listed; the loser's
//! object is left for the prune of the run's prefix.
//!
//! What a backup taken while writes go on holds: rows of rowid tables inserted after the run
//! started are not copied (the marks); rows changed or deleted while it runs are copied as each
//! page found them, so two tables read minutes apart may disagree (a child whose parent was
//! deleted in between). The restore drops such orphans and re-applies later erasures.

use chrono::Duration;
use serde_json::Value;
use worker::{Bucket, Env, HttpMetadata};

use crate::config::{chunk_rows, optional};
use crate::domain::backup::{
    encode_rows, manifest::FORMAT, manifest_name, nonce, object_name, prefix, retention, seal,
    sha256_hex, tables::Cursor, BackupKeys, Manifest, ObjectEntry, TableCount, TableKey, TABLES,
};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::delivery::Outcome;
use crate::jobs::{enqueue, message::Job};
use crate::store::backups::{self, Commit, NewRun, RunRow, RunState, Trigger};
use crate::store::{self, Db};

/// Rows per D1 page (lowered by `CHUNK_ROWS` in the tests).
const PAGE_ROWS: usize = 1000;
/// A chunk ends once its NDJSON holds this much: the object stays far below an isolate's memory.
const MAX_CHUNK_BYTES: usize = 8 << 20;
/// Wall time a chunk spends reading before it seals what it has, far below the consumer's limits.
const TIME_LIMIT_MS: i64 = 8000;
/// D1 calls a chunk makes besides its pages, once the run's row is read: the high-water marks
/// (first chunk only) and the commit.
const RESERVE: u32 = 2;
/// A running run whose row has not moved for this long lost its message: the daily run
/// re-enqueues it.
pub const STALLED_MINUTES: i64 = 15;
/// A run still running this long after it started is failed: something keeps it from finishing.
pub const GIVE_UP_DAYS: i64 = 2;
/// The nightly run starts only when no run started within this many hours.
pub const SCHEDULE_GAP_HOURS: i64 = 20;
/// Runs whose objects one daily step deletes at most (R2 calls count as subrequests).
const PRUNE_PER_STEP: usize = 5;
/// List calls per pruned run in one step: a run with more objects is finished the next step.
const PRUNE_LISTS_PER_RUN: usize = 4;
/// Runs read for retention: it keeps a few dozen, so this is only a guard.
const RETENTION_READ: u32 = 2000;
/// D1 calls of one [`daily`] step at most.
pub const DAILY_QUERIES: u32 = 7;

/// The `BACKUPS` R2 bucket (wrangler.toml).
pub fn bucket(env: &Env) -> AppResult<Bucket> {
    env.bucket("BACKUPS")
        .map_err(|_| AppError::Misconfigured("R2 binding BACKUPS"))
}

/// The backup keys (`BACKUP_KEYS`, `BACKUP_KEY_ID`): none when backups are not configured, a
/// `misconfigured` error naming the setting when they are set wrong.
pub fn keys(env: &Env) -> AppResult<Option<BackupKeys>> {
    let Some(keys) = optional(env, "BACKUP_KEYS") else {
        return Ok(None);
    };
    let current = optional(env, "BACKUP_KEY_ID").unwrap_or_default();
    BackupKeys::parse(&keys, &current)
        .map(Some)
        .map_err(AppError::Misconfigured)
}

/// Starts a run unless one is running; its id when this call started it (chunk 0 is queued).
pub async fn start(
    env: &Env,
    db: &Db,
    keys: &BackupKeys,
    trigger: Trigger,
    actor: &str,
) -> AppResult<Option<String>> {
    let id = uuid::Uuid::now_v7().to_string();
    let started = backups::start(
        db,
        &NewRun {
            id: &id,
            trigger,
            at: &time::now_string(),
            key_id: keys.current_id(),
            schema_version: crate::domain::backup::SCHEMA_VERSION,
            actor,
        },
    )
    .await?;
    if !started {
        // Someone asking for a backup while one "runs" is also when a run that lost its message
        // is noticed first: it moves again now rather than at the next daily run.
        if let Some(run) = backups::running(db).await? {
            let now = time::now();
            let updated = time::parse(&run.updated_at).unwrap_or(now);
            resume_if_stalled(env, db, &run, updated, now).await?;
        }
        return Ok(None);
    }
    enqueue(
        env,
        Job::BackupChunk {
            id: id.clone(),
            chunk: 0,
        },
    )
    .await?;
    Ok(Some(id))
}

/// `BackupChunk`: writes chunk `chunk` of run `id` if it is the next one.
pub async fn write_chunk(env: &Env, db: &Db, id: &str, chunk: i64) -> AppResult<Outcome> {
    let Some(run) = backups::find(db, id).await? else {
        return Ok(Outcome::Done);
    };
    if run.state == RunState::Running && run.chunks == chunk + 1 {
        // This chunk committed, and this is its retry: the enqueue of the next one after the
        // commit may be what failed, and nothing else would ever send it. Sending it twice is
        // harmless (each attempt writes under its own name; one commits).
        enqueue(
            env,
            Job::BackupChunk {
                id: run.id,
                chunk: chunk + 1,
            },
        )
        .await?;
        return Ok(Outcome::Done);
    }
    if run.state != RunState::Running || run.chunks != chunk {
        // Pruned, finished, failed, or this chunk is already committed (a redelivery).
        return Ok(Outcome::Done);
    }
    let keys = match keys(env) {
        Ok(Some(keys)) => keys,
        Ok(None) => {
            let why = "BACKUP_KEYS was removed while the backup ran";
            backups::fail(db, id, why, &time::now_string()).await?;
            return Ok(Outcome::Done);
        }
        Err(e) => {
            worker::console_error!("backup {id}: {e:?}");
            let why = "BACKUP_KEYS or BACKUP_KEY_ID is set wrong: see the Worker's log";
            backups::fail(db, id, why, &time::now_string()).await?;
            return Ok(Outcome::Done);
        }
    };
    if keys.current_id() != run.key_id {
        // One run, one key: the manifest names the key every object was sealed under.
        let why = "BACKUP_KEY_ID changed while the backup ran: the next run uses the new key";
        backups::fail(db, id, why, &time::now_string()).await?;
        return Ok(Outcome::Done);
    }
    if db.budget().remaining() < RESERVE + 1 {
        // Earlier messages of this batch used its D1 allowance: a message of its own has one.
        enqueue(env, Job::BackupChunk { id: run.id, chunk }).await?;
        return Ok(Outcome::Done);
    }
    let mut plan: Vec<TableCount> = parse(&run.plan, "backup plan")?;
    if plan.is_empty() {
        plan = backups::high_water_marks(db).await?;
    }
    let read = read_chunk(env, db, &run, &plan).await?;
    let last = read.table >= TABLES.len();
    let mut objects: Vec<ObjectEntry> = parse(&run.objects, "backup objects")?;
    let bucket = bucket(env)?;
    let mut bytes = 0u64;
    if let Some(table) = read.rows_of {
        let nonce = fresh_nonce()?;
        let name = object_name(id, objects.len() as u32, &nonce);
        let sealed = seal_bytes(&keys, &name, &read.body, nonce)?;
        bytes += sealed.len() as u64;
        if let Some(count) = plan.get_mut(table) {
            count.rows += read.rows;
        }
        objects.push(ObjectEntry {
            name: name.clone(),
            table: TABLES[table].name.to_string(),
            rows: read.rows,
            bytes: sealed.len() as u64,
            sha256: sha256_hex(&sealed),
        });
        put(&bucket, &name, sealed).await?;
    }
    let at = time::now_string();
    if last {
        // Written last: a manifest means every object it lists is in place.
        let manifest = Manifest {
            format: FORMAT,
            run_id: run.id.clone(),
            started_at: run.started_at.clone(),
            finished_at: at.clone(),
            schema_version: run.schema_version.clone(),
            key_id: run.key_id.clone(),
            tables: plan.clone(),
            objects: objects.clone(),
        };
        let name = manifest_name(id);
        let sealed = seal_bytes(
            &keys,
            &name,
            &serde_json::to_vec(&manifest)?,
            fresh_nonce()?,
        )?;
        bytes += sealed.len() as u64;
        put(&bucket, &name, sealed).await?;
    }
    let cursor = match &read.cursor {
        Some(cursor) => serde_json::to_string(cursor)?,
        None => String::new(),
    };
    let committed = backups::commit_chunk(
        db,
        &Commit {
            id,
            chunk,
            plan: &serde_json::to_string(&plan)?,
            table_index: read.table as i64,
            cursor: &cursor,
            objects: &serde_json::to_string(&objects)?,
            bytes,
            rows: read.rows,
            last,
            at: &at,
        },
    )
    .await?;
    if committed && !last {
        enqueue(
            env,
            Job::BackupChunk {
                id: id.to_string(),
                chunk: chunk + 1,
            },
        )
        .await?;
    }
    Ok(Outcome::Done)
}

/// What one chunk read: the rows of one table as NDJSON, and where the next chunk starts.
struct Read {
    body: Vec<u8>,
    rows: u64,
    /// The table the rows are of (none when the chunk read no row).
    rows_of: Option<usize>,
    /// The table the next chunk reads ([`TABLES`]`.len()`: none, the run is done).
    table: usize,
    cursor: Option<Cursor>,
}

async fn read_chunk(env: &Env, db: &Db, run: &RunRow, plan: &[TableCount]) -> AppResult<Read> {
    let page_rows = chunk_rows(env, PAGE_ROWS);
    let started = time::now();
    let mut pages = db.budget().remaining().saturating_sub(1);
    let mut read = Read {
        body: Vec::new(),
        rows: 0,
        rows_of: None,
        table: usize::try_from(run.table_index).unwrap_or(TABLES.len()),
        cursor: if run.cursor.is_empty() {
            None
        } else {
            Some(parse(&run.cursor, "backup cursor")?)
        },
    };
    while let Some(spec) = TABLES.get(read.table) {
        let high_water = plan.get(read.table).and_then(|t| t.high_water);
        if spec.key == TableKey::Rowid && high_water.is_none() {
            // Empty when the run started: nothing of it belongs to this backup.
            read.table += 1;
            read.cursor = None;
            continue;
        }
        if pages == 0 || (time::now() - started).num_milliseconds() > TIME_LIMIT_MS {
            break;
        }
        pages -= 1;
        let mut page = backups::page(
            db,
            spec,
            read.cursor.as_ref(),
            high_water.unwrap_or(0),
            page_rows as u32,
        )
        .await?;
        let found = page.len();
        for row in &mut page {
            if let Value::Object(columns) = row {
                read.cursor = Some(spec.finish_row(columns));
            }
        }
        if found > 0 {
            read.body.extend_from_slice(&encode_rows(&page));
            read.rows += found as u64;
            read.rows_of = Some(read.table);
        }
        if found < page_rows {
            read.table += 1;
            read.cursor = None;
            if read.rows_of.is_some() {
                // A chunk never spans two tables.
                break;
            }
            continue;
        }
        if read.body.len() >= MAX_CHUNK_BYTES {
            break;
        }
    }
    Ok(read)
}

fn parse<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> AppResult<T> {
    serde_json::from_str(json).map_err(|e| AppError::internal(what, e))
}

fn fresh_nonce() -> AppResult<[u8; 12]> {
    nonce().map_err(|e| AppError::internal("backup nonce", e))
}

fn seal_bytes(
    keys: &BackupKeys,
    name: &str,
    plaintext: &[u8],
    nonce: [u8; 12],
) -> AppResult<Vec<u8>> {
    seal(keys, name, plaintext, nonce)
        .map_err(|_| AppError::internal("backup seal", "an object too large to seal"))
}

async fn put(bucket: &Bucket, key: &str, body: Vec<u8>) -> AppResult<()> {
    bucket
        .put(key, body)
        .http_metadata(HttpMetadata {
            content_type: Some("application/octet-stream".to_string()),
            ..HttpMetadata::default()
        })
        .execute()
        .await
        .map_err(|e| AppError::internal("r2 put", e))?;
    Ok(())
}

/// The daily part, one step: fails a run that has not finished in [`GIVE_UP_DAYS`], re-enqueues
/// one whose row has not moved for [`STALLED_MINUTES`], starts the nightly run when keys are
/// set and none started in [`SCHEDULE_GAP_HOURS`], and prunes a few runs retention no longer
/// keeps (whether or not keys are set). True when more runs are left to prune.
pub async fn daily(env: &Env, db: &Db) -> AppResult<bool> {
    let now = time::now();
    let at = time::format(now);
    if let Some(run) = backups::running(db).await? {
        let started = time::parse(&run.started_at).unwrap_or(now);
        let updated = time::parse(&run.updated_at).unwrap_or(now);
        if now - started > Duration::days(GIVE_UP_DAYS) {
            let why = "the backup did not finish within two days";
            backups::fail(db, &run.id, why, &at).await?;
        } else {
            resume_if_stalled(env, db, &run, updated, now).await?;
        }
    } else {
        match keys(env) {
            Ok(Some(keys)) => {
                let newest = backups::newest(db, 1).await?;
                let recent = newest.first().is_some_and(|run| {
                    time::parse(&run.started_at)
                        .is_some_and(|t| now - t < Duration::hours(SCHEDULE_GAP_HOURS))
                });
                if !recent {
                    if let Some(id) = start(env, db, &keys, Trigger::Schedule, "system").await? {
                        worker::console_log!("backup {id}: the nightly run started");
                    }
                }
            }
            Ok(None) => {}
            // Said in the log; pruning still goes on.
            Err(e) => worker::console_error!("daily backup not started: {e:?}"),
        }
    }
    prune(env, db, now).await
}

/// Queues the next chunk of `run` again when its row has not moved for [`STALLED_MINUTES`]: its
/// message was lost (an enqueue that failed after a commit, a message the queue gave up on).
/// The touch is conditional on the `updated_at` read, so two callers resume it once.
async fn resume_if_stalled(
    env: &Env,
    db: &Db,
    run: &RunRow,
    updated: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    if now - updated > Duration::minutes(STALLED_MINUTES)
        && backups::touch(db, &run.id, &run.updated_at, &time::format(now)).await?
    {
        worker::console_warn!("backup {}: stalled; its next chunk is queued again", run.id);
        enqueue(
            env,
            Job::BackupChunk {
                id: run.id.clone(),
                chunk: run.chunks,
            },
        )
        .await?;
    }
    Ok(())
}

/// Deletes up to [`PRUNE_PER_STEP`] runs retention no longer keeps: their objects, then their
/// rows. True when more are left.
async fn prune(env: &Env, db: &Db, now: chrono::DateTime<chrono::Utc>) -> AppResult<bool> {
    let runs: Vec<retention::RunAge> = backups::ages(db, RETENTION_READ)
        .await?
        .into_iter()
        .map(|r| retention::RunAge {
            started_at: time::parse(&r.started_at).unwrap_or(now),
            state: match r.state {
                RunState::Running => retention::RunState::Running,
                RunState::Ready => retention::RunState::Ready,
                RunState::Failed => retention::RunState::Failed,
            },
            id: r.id,
        })
        .collect();
    let kept = retention::keep(&runs, now);
    let pruned: Vec<&retention::RunAge> = runs
        .iter()
        .filter(|r| r.state != retention::RunState::Running && !kept.contains(&r.id))
        .collect();
    if pruned.is_empty() {
        return Ok(false);
    }
    let bucket = bucket(env)?;
    let mut gone = Vec::new();
    for run in pruned.iter().take(PRUNE_PER_STEP) {
        if delete_objects(&bucket, &run.id).await? {
            gone.push(backups::delete_statement(db, &run.id)?);
        }
    }
    let deleted = gone.len();
    store::batch(db, gone).await?;
    if deleted > 0 {
        worker::console_log!("backups: pruned {deleted} runs retention no longer keeps");
    }
    Ok(pruned.len() > PRUNE_PER_STEP || deleted < pruned.len().min(PRUNE_PER_STEP))
}

/// Deletes the objects under a run's prefix, a few list pages at most; true when none is left.
async fn delete_objects(bucket: &Bucket, id: &str) -> AppResult<bool> {
    for _ in 0..PRUNE_LISTS_PER_RUN {
        let listed = bucket
            .list()
            .prefix(prefix(id))
            .execute()
            .await
            .map_err(|e| AppError::internal("r2 list", e))?;
        let keys: Vec<String> = listed.objects().iter().map(|o| o.key()).collect();
        if keys.is_empty() {
            return Ok(true);
        }
        bucket
            .delete_multiple(keys)
            .await
            .map_err(|e| AppError::internal("r2 delete", e))?;
        if !listed.truncated() {
            return Ok(true);
        }
    }
    Ok(false)
}
