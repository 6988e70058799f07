//! `backup_runs`: one row per backup run, the queue job's state (which table and key it has
//! reached, the objects it wrote) and what `GET /admin/v1/backups` lists. Counts and object
//! names only: the rows themselves are in the sealed objects, never here.

use serde::Deserialize;
use serde_json::Value;
use worker::D1PreparedStatement;

use crate::domain::backup::{tables::Cursor, TableCount, TableSpec, TABLES};
use crate::error::AppResult;
use crate::store::js_int;
use crate::store::{
    all, batch_changes, batch_results, decode_first, first, run, statement, Arg, Db,
};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// The queue is writing its objects.
    Running,
    /// Every object and the manifest are in R2.
    Ready,
    /// Stopped for good; `error` says why.
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Ready => "ready",
            RunState::Failed => "failed",
        }
    }
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `POST /admin/v1/backups`.
    Api,
    /// The daily run.
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Schedule => "schedule",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunRow {
    pub id: String,
    pub state: RunState,
    pub trigger: String,
    pub started_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    pub key_id: String,
    pub schema_version: String,
    /// JSON: the tables with their high-water marks and the rows copied so far.
    pub plan: String,
    #[serde(deserialize_with = "js_int::int")]
    pub table_index: i64,
    pub cursor: String,
    #[serde(deserialize_with = "js_int::int")]
    pub chunks: i64,
    /// JSON: the objects written so far, as the manifest lists them.
    pub objects: String,
    #[serde(deserialize_with = "js_int::int")]
    pub bytes: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub rows: i64,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, state, trigger, started_at, updated_at, finished_at, key_id, \
     schema_version, plan, table_index, cursor, chunks, objects, bytes, rows, error";

const AUDIT_SQL: &str = "INSERT INTO audit_log (id, at, actor, action, subject) \
     SELECT ?1, ?2, ?3, ?4, id FROM backup_runs WHERE id = ?5 AND state = ?6 AND updated_at = ?2";

/// An audit entry about run `run_id`, written only when the run's row holds `state` and was
/// changed at `at` by the same batch: so a statement that changed nothing (a second request
/// while one runs, a redelivered chunk) records nothing either.
fn audit_statement(
    db: &Db,
    actor: &str,
    action: &str,
    run_id: &str,
    state: RunState,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let entry = uuid::Uuid::now_v7().to_string();
    statement(
        db,
        AUDIT_SQL,
        &[
            Arg::Text(&entry),
            Arg::Text(at),
            Arg::Text(actor),
            Arg::Text(action),
            Arg::Text(run_id),
            Arg::Text(state.as_str()),
        ],
    )
}

pub struct NewRun<'a> {
    pub id: &'a str,
    pub trigger: Trigger,
    pub at: &'a str,
    pub key_id: &'a str,
    pub schema_version: &'a str,
    /// Who asked (the API key id, or `system` for the daily run), for `backup.requested`.
    pub actor: &'a str,
}

const START_SQL: &str =
    "INSERT INTO backup_runs (id, state, trigger, started_at, updated_at, key_id, schema_version) \
     SELECT ?1, 'running', ?2, ?3, ?3, ?4, ?5 \
     WHERE NOT EXISTS (SELECT 1 FROM backup_runs WHERE state = 'running')";

/// Starts a run unless one is running (the check and the insert are one statement, and the
/// unique index on running runs holds it against a race); audited as `backup.requested`. True
/// when this call started it.
pub async fn start(db: &Db, r: &NewRun<'_>) -> AppResult<bool> {
    let insert = statement(
        db,
        START_SQL,
        &[
            Arg::Text(r.id),
            Arg::Text(r.trigger.as_str()),
            Arg::Text(r.at),
            Arg::Text(r.key_id),
            Arg::Text(r.schema_version),
        ],
    )?;
    let audit = audit_statement(
        db,
        r.actor,
        "backup.requested",
        r.id,
        RunState::Running,
        r.at,
    )?;
    let changed = batch_changes(db, vec![insert, audit]).await?;
    Ok(changed.first().copied() == Some(1))
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<RunRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM backup_runs WHERE id = ?1"),
        &[Arg::Text(id)],
    )
    .await
}

/// The run in progress, if any (through the index of running runs).
pub async fn running(db: &Db) -> AppResult<Option<RunRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM backup_runs WHERE state = 'running' LIMIT 1"),
        &[],
    )
    .await
}

/// The `limit` newest runs, newest first (ids are UUID v7: by primary key).
pub async fn newest(db: &Db, limit: u32) -> AppResult<Vec<RunRow>> {
    all(
        db,
        &format!("SELECT {COLUMNS} FROM backup_runs ORDER BY id DESC LIMIT ?1"),
        &[Arg::Int(i64::from(limit))],
    )
    .await
}

/// A chunk as written to R2: the run moves past it. Only the message for the next chunk commits
/// (`chunks = ?2`), so a redelivered one changes nothing; the last one marks the run ready and is
/// audited as `backup.completed`. True when this call committed it.
pub struct Commit<'a> {
    pub id: &'a str,
    pub chunk: i64,
    pub plan: &'a str,
    pub table_index: i64,
    pub cursor: &'a str,
    pub objects: &'a str,
    pub bytes: u64,
    pub rows: u64,
    pub last: bool,
    pub at: &'a str,
}

pub async fn commit_chunk(db: &Db, c: &Commit<'_>) -> AppResult<bool> {
    let state = if c.last {
        RunState::Ready
    } else {
        RunState::Running
    };
    let mut statements = vec![statement(
        db,
        "UPDATE backup_runs SET state = ?3, plan = ?4, table_index = ?5, cursor = ?6, \
           chunks = chunks + 1, objects = ?7, bytes = bytes + ?8, rows = rows + ?9, \
           updated_at = ?10, finished_at = CASE WHEN ?11 = 1 THEN ?10 END \
         WHERE id = ?1 AND chunks = ?2 AND state = 'running'",
        &[
            Arg::Text(c.id),
            Arg::Int(c.chunk),
            Arg::Text(state.as_str()),
            Arg::Text(c.plan),
            Arg::Int(c.table_index),
            Arg::Text(c.cursor),
            Arg::Text(c.objects),
            Arg::Int(c.bytes as i64),
            Arg::Int(c.rows as i64),
            Arg::Text(c.at),
            Arg::Int(i64::from(c.last)),
        ],
    )?];
    if c.last {
        statements.push(audit_statement(
            db,
            "system",
            "backup.completed",
            c.id,
            RunState::Ready,
            c.at,
        )?);
    }
    let changed = batch_changes(db, statements).await?;
    Ok(changed.first().copied() == Some(1))
}

/// Stops a running run for good, audited as `backup.failed`; `why` is shown to operators (no
/// personal data).
pub async fn fail(db: &Db, id: &str, why: &str, at: &str) -> AppResult<()> {
    let update = statement(
        db,
        "UPDATE backup_runs SET state = 'failed', error = ?2, updated_at = ?3, finished_at = ?3 \
         WHERE id = ?1 AND state = 'running'",
        &[Arg::Text(id), Arg::Text(why), Arg::Text(at)],
    )?;
    let audit = audit_statement(db, "system", "backup.failed", id, RunState::Failed, at)?;
    batch_changes(db, vec![update, audit]).await.map(|_| ())
}

/// Claims the right to restart a stalled run: true for exactly one caller that saw `updated_at`
/// as `seen`.
pub async fn touch(db: &Db, id: &str, seen: &str, at: &str) -> AppResult<bool> {
    let changed = run(
        db,
        "UPDATE backup_runs SET updated_at = ?3 WHERE id = ?1 AND updated_at = ?2 \
           AND state = 'running'",
        &[Arg::Text(id), Arg::Text(seen), Arg::Text(at)],
    )
    .await?;
    Ok(changed == 1)
}

/// A run as retention weighs it.
#[derive(Debug, Clone, Deserialize)]
pub struct RunAgeRow {
    pub id: String,
    pub state: RunState,
    pub started_at: String,
}

/// Every run, oldest first, up to `limit` (retention keeps a few dozen; the bound only guards
/// against a table nobody pruned).
pub async fn ages(db: &Db, limit: u32) -> AppResult<Vec<RunAgeRow>> {
    all(
        db,
        "SELECT id, state, started_at FROM backup_runs ORDER BY id LIMIT ?1",
        &[Arg::Int(i64::from(limit))],
    )
    .await
}

/// Deletes a pruned run's row (its objects went first), never a running one.
pub fn delete_statement(db: &Db, id: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "DELETE FROM backup_runs WHERE id = ?1 AND state <> 'running'",
        &[Arg::Text(id)],
    )
}

#[derive(Deserialize)]
struct Mark {
    #[serde(default, deserialize_with = "js_int::opt_int")]
    high_water: Option<i64>,
}

/// Every table a backup copies with no row counted yet and, for rowid tables, its highest rowid
/// now (none when empty): the marks a run reads up to, taken in one batch.
pub async fn high_water_marks(db: &Db) -> AppResult<Vec<TableCount>> {
    let mut at = Vec::new();
    let mut statements = Vec::new();
    for spec in TABLES {
        at.push(match spec.high_water_query() {
            Some(sql) => {
                statements.push(statement(db, &sql, &[])?);
                Some(statements.len() - 1)
            }
            None => None,
        });
    }
    let results = batch_results(db, statements).await?;
    TABLES
        .iter()
        .zip(at)
        .map(|(spec, at)| {
            let high_water = match at.and_then(|i| results.get(i)) {
                Some(result) => decode_first::<Mark>(result)?.and_then(|m| m.high_water),
                None => None,
            };
            Ok(TableCount {
                name: spec.name.to_string(),
                rows: 0,
                high_water,
            })
        })
        .collect()
}

/// One page of `spec`'s rows after `cursor`, as D1 returns them (column → value), read as
/// [`TableSpec::page_query`] says: by key, rowid tables up to `high_water`.
pub async fn page(
    db: &Db,
    spec: &TableSpec,
    cursor: Option<&Cursor>,
    high_water: i64,
    limit: u32,
) -> AppResult<Vec<Value>> {
    let (sql, args) = spec.page_query(cursor, high_water, limit);
    let args: Vec<Arg<'_>> = args.iter().map(arg).collect();
    all(db, &sql, &args).await
}

/// A cursor or page argument as a bound parameter.
fn arg(value: &Value) -> Arg<'_> {
    match value {
        Value::String(s) => Arg::Text(s),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Arg::Real(n.as_f64().unwrap_or(0.0)), Arg::Int),
        Value::Bool(b) => Arg::Int(i64::from(*b)),
        _ => Arg::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{fresh_database, run as run_plan};

    /// `start`'s batch for run `id` at `at`, audit entry `entry`.
    fn start<'a>(id: &'a str, at: &'a str, entry: &'a str) -> Vec<(&'static str, Vec<Arg<'a>>)> {
        vec![
            (
                START_SQL,
                vec![
                    Arg::Text(id),
                    Arg::Text("api"),
                    Arg::Text(at),
                    Arg::Text("k1"),
                    Arg::Text("0012_backups.sql"),
                ],
            ),
            (
                AUDIT_SQL,
                vec![
                    Arg::Text(entry),
                    Arg::Text(at),
                    Arg::Text("key_1"),
                    Arg::Text("backup.requested"),
                    Arg::Text(id),
                    Arg::Text("running"),
                ],
            ),
        ]
    }

    /// Two requests racing each find no run and send their batch: the second inserts nothing and
    /// so audits nothing, and the partial unique index holds even a plain insert off.
    #[test]
    fn one_run_at_a_time_and_only_a_started_run_is_audited() {
        let db = fresh_database();
        assert_eq!(
            run_plan(&db, &start("r1", "2026-12-01T03:17:00.000Z", "a1")),
            [1, 1]
        );
        assert_eq!(
            run_plan(&db, &start("r2", "2026-12-01T03:17:00.001Z", "a2")),
            [0, 0]
        );
        assert!(db
            .execute_batch(
                "INSERT INTO backup_runs (id, state, trigger, started_at, updated_at, key_id, schema_version) \
                 VALUES ('r3', 'running', 'api', 't', 't', 'k1', 'v')"
            )
            .is_err());
        db.execute_batch("UPDATE backup_runs SET state = 'ready' WHERE id = 'r1'")
            .expect("finish r1");
        assert_eq!(
            run_plan(&db, &start("r4", "2026-12-02T03:17:00.000Z", "a4")),
            [1, 1]
        );
        let audited: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'backup.requested'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(audited, 2);
    }

    /// Every page of every table reads its rows through the table's key, never a sort: a backup
    /// of a large base reads each row once.
    #[test]
    fn every_page_walks_its_tables_key() {
        let db = fresh_database();
        for spec in TABLES {
            let cursor = match spec.key {
                crate::domain::backup::TableKey::Rowid => vec![Value::from(1)],
                crate::domain::backup::TableKey::Columns(columns) => {
                    columns.iter().map(|_| Value::from("x")).collect()
                }
            };
            for cursor in [None, Some(&cursor)] {
                let (sql, _) = spec.page_query(cursor, 100, 3);
                let plan = crate::store::sqlite::query_plan(&db, &sql);
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{}: {sql}\n{plan}",
                    spec.name
                );
            }
        }
    }
}
