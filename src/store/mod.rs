//! All SQL lives here, one file per table group, with bound parameters only.

pub mod audit;
pub mod backups;
pub mod budget;
pub mod consents;
pub mod contacts;
pub mod dead_letters;
pub mod erasure;
pub mod exports;
#[cfg(feature = "faults")]
pub mod faults;
pub mod forms;
pub mod health;
pub mod js_int;
pub mod keys;
pub mod notices;
pub mod orders;
pub mod outbox;
pub mod overview;
pub mod privacy_requests;
pub mod profile;
pub mod rate;
pub mod segments;
// Native only (rusqlite): the unit tests, and the restore tool's rebuild (src/bin/clientela-restore).
#[cfg(not(target_arch = "wasm32"))]
pub mod sqlite;
pub mod surveys;
pub mod tokens;
pub mod webhooks;

use std::cell::Cell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

use crate::error::{AppError, AppResult};
pub use budget::Budget;

thread_local! {
    /// Whether D1 row counts are being tallied (`D1_ROW_METER=on`, for `make bench` only).
    static METER_ON: Cell<bool> = const { Cell::new(false) };
    /// Rows read and written by every D1 call of this isolate since it started.
    static ROWS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Turns the row meter on or off for this isolate.
pub fn set_row_meter(on: bool) {
    METER_ON.with(|m| m.set(on));
}

/// Rows read and written so far by this isolate: a request's share is the difference between a
/// reading before and after it, exact when requests do not overlap (how `make bench` samples).
pub fn rows_metered() -> (u64, u64) {
    ROWS.with(Cell::get)
}

pub(crate) fn meter(result: &D1Result) {
    if !METER_ON.with(Cell::get) {
        return;
    }
    if let Ok(Some(meta)) = result.meta() {
        let read = meta.rows_read.unwrap_or(0) as u64;
        let written = meta.rows_written.unwrap_or(0) as u64;
        ROWS.with(|rows| {
            let (r, w) = rows.get();
            rows.set((r + read, w + written));
        });
    }
}

/// The database as one invocation sees it: every D1 call goes through here and is counted
/// against the invocation's [`Budget`] (the platform-limits guard).
#[derive(Clone)]
pub struct Db {
    d1: Rc<D1Database>,
    budget: Rc<Budget>,
}

impl Db {
    /// The `DB` binding under `budget`, which the invocation's entry point made.
    pub fn open(env: &Env, budget: &Rc<Budget>) -> AppResult<Db> {
        let d1 = env
            .d1("DB")
            .map_err(|_| AppError::Misconfigured("D1 binding DB"))?;
        Ok(Db {
            d1: Rc::new(d1),
            budget: budget.clone(),
        })
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    fn spend(&self, sql: &str) -> AppResult<()> {
        self.budget.spend(sql).map_err(exceeded)
    }
}

/// A new invocation's budget from `PLATFORM_LIMITS` and `D1_QUERIES_PER_INVOCATION`.
pub fn budget(env: &Env, path: &str) -> Rc<Budget> {
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
    Rc::new(Budget::new(
        var("PLATFORM_LIMITS").as_deref(),
        var("D1_QUERIES_PER_INVOCATION").as_deref(),
        path,
    ))
}

/// `make bench` reads the D1 calls of each invocation from this line (when `D1_ROW_METER=on`).
pub fn report_calls(what: &str, budget: &Budget) {
    if METER_ON.with(Cell::get) {
        worker::console_log!("d1-calls {what} used={}", budget.used());
    }
}

/// Where some work began, to log what D1 work it did when the meter is on: a line
/// `d1-rows <what> read=R written=W calls=N`. `make bench` adds the lines of queued jobs and of
/// work done after an answer (`wait_until`, in no response's headers) to the request that
/// caused them, and reads grouped segment updates from theirs.
pub struct RowMark {
    rows: (u64, u64),
    calls: u32,
}

impl RowMark {
    pub fn start(budget: &Budget) -> RowMark {
        RowMark {
            rows: rows_metered(),
            calls: budget.used(),
        }
    }

    pub fn log(&self, what: &str, budget: &Budget) {
        if METER_ON.with(Cell::get) {
            let (read, written) = rows_metered();
            worker::console_log!(
                "d1-rows {what} read={} written={} calls={}",
                read - self.rows.0,
                written - self.rows.1,
                budget.used() - self.calls
            );
        }
    }
}

/// Logs the passed limit (the line operators and tests look for) and fails the invocation.
fn exceeded(e: budget::Exceeded) -> AppError {
    worker::console_error!("platform limit exceeded: {e}");
    AppError::PlatformLimit
}

/// A bound SQL parameter. D1 rejects BigInt, so integers travel as f64 (exact to 2^53).
pub enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Real(f64),
    Null,
}

impl From<&Arg<'_>> for JsValue {
    fn from(arg: &Arg<'_>) -> JsValue {
        match arg {
            Arg::Text(s) => JsValue::from_str(s),
            Arg::OptText(Some(s)) => JsValue::from_str(s),
            Arg::OptText(None) | Arg::Null => JsValue::NULL,
            Arg::Int(i) => JsValue::from_f64(*i as f64),
            Arg::Real(r) => JsValue::from_f64(*r),
        }
    }
}

/// D1 binds at most 100 parameters per statement; look-ups by many keys go in chunks of this size.
pub const LOOKUP_CHUNK: usize = 90;

/// SQL placeholders `?1, ?2, …` for an `IN (…)` list of `count` bound values.
fn placeholders(count: usize) -> String {
    placeholders_after(0, count)
}

/// SQL placeholders for an `IN (…)` list of `count` values bound after `leading` others:
/// `?{leading + 1}, …, ?{leading + count}`.
pub fn placeholders_after(leading: usize, count: usize) -> String {
    (leading + 1..=leading + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A segment rule's SQL values as bindings, in order.
pub fn rule_args(values: &[crate::domain::segment::SqlValue]) -> Vec<Arg<'_>> {
    use crate::domain::segment::SqlValue;
    values
        .iter()
        .map(|v| match v {
            SqlValue::Text(t) => Arg::Text(t),
            SqlValue::Int(i) => Arg::Int(*i),
            SqlValue::Real(r) => Arg::Real(*r),
            SqlValue::Null => Arg::Null,
        })
        .collect()
}

pub fn statement(db: &Db, sql: &str, args: &[Arg<'_>]) -> AppResult<D1PreparedStatement> {
    db.budget
        .check_statement(sql, args.len())
        .map_err(exceeded)?;
    let values: Vec<JsValue> = args.iter().map(JsValue::from).collect();
    db.d1
        .prepare(sql)
        .bind(&values)
        .map_err(|e| AppError::internal("d1 bind", e))
}

pub async fn all<T: DeserializeOwned>(db: &Db, sql: &str, args: &[Arg<'_>]) -> AppResult<Vec<T>> {
    let prepared = statement(db, sql, args)?;
    db.spend(sql)?;
    let result = prepared
        .all()
        .await
        .map_err(|e| AppError::internal("d1 query", e))?;
    meter(&result);
    result
        .results::<T>()
        .map_err(|e| AppError::internal("d1 decode", e))
}

/// Rows of `sql`, whose `{}` becomes one placeholder per key: `WHERE x IN ({})`. At most
/// [`LOOKUP_CHUNK`] keys per call; no keys, no query.
pub async fn all_in<T: DeserializeOwned>(db: &Db, sql: &str, keys: &[&str]) -> AppResult<Vec<T>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let args: Vec<Arg<'_>> = keys.iter().map(|k| Arg::Text(k)).collect();
    all(db, &sql.replace("{}", &placeholders(keys.len())), &args).await
}

/// Look-ups gathered into one D1 batch: one round trip for reads that do not depend on each
/// other. [`Reads::add_in`] queues an `all_in`-style statement and says where its rows will be;
/// [`Reads::run`] sends them all; [`rows`] decodes one result.
#[derive(Default)]
pub struct Reads {
    statements: Vec<D1PreparedStatement>,
}

impl Reads {
    /// `sql` with `{}` as one placeholder per key (at most [`LOOKUP_CHUNK`] keys); the index of
    /// its result, or none for no keys (no statement).
    pub fn add_in(&mut self, db: &Db, sql: &str, keys: &[&str]) -> AppResult<Option<usize>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let args: Vec<Arg<'_>> = keys.iter().map(|k| Arg::Text(k)).collect();
        self.statements.push(statement(
            db,
            &sql.replace("{}", &placeholders(keys.len())),
            &args,
        )?);
        Ok(Some(self.statements.len() - 1))
    }

    pub async fn run(self, db: &Db) -> AppResult<Vec<D1Result>> {
        batch_results(db, self.statements).await
    }
}

/// The rows of one statement's result in a batch.
pub fn decode<T: DeserializeOwned>(result: &D1Result) -> AppResult<Vec<T>> {
    result
        .results::<T>()
        .map_err(|e| AppError::internal("d1 decode", e))
}

/// The first row of one statement's result in a batch, if it has one.
pub fn decode_first<T: DeserializeOwned>(result: &D1Result) -> AppResult<Option<T>> {
    Ok(decode(result)?.into_iter().next())
}

/// The rows of result `at` of a [`Reads`] batch (none for `None`).
pub fn rows<T: DeserializeOwned>(results: &[D1Result], at: Option<usize>) -> AppResult<Vec<T>> {
    at.and_then(|i| results.get(i))
        .map_or(Ok(Vec::new()), decode)
}

pub async fn first<T: DeserializeOwned>(
    db: &Db,
    sql: &str,
    args: &[Arg<'_>],
) -> AppResult<Option<T>> {
    Ok(all::<T>(db, sql, args).await?.into_iter().next())
}

/// Runs a write; returns the number of rows it changed.
pub async fn run(db: &Db, sql: &str, args: &[Arg<'_>]) -> AppResult<usize> {
    let prepared = statement(db, sql, args)?;
    db.spend(sql)?;
    let result = prepared
        .run()
        .await
        .map_err(|e| AppError::internal("d1 write", e))?;
    meter(&result);
    Ok(result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// Runs one prepared write.
pub async fn execute(db: &Db, statement: D1PreparedStatement, what: &'static str) -> AppResult<()> {
    db.spend(what)?;
    let result = statement
        .run()
        .await
        .map_err(|e| AppError::internal(what, e))?;
    meter(&result);
    Ok(())
}

/// Runs statements atomically and returns how many rows each one changed.
pub async fn batch_changes(db: &Db, statements: Vec<D1PreparedStatement>) -> AppResult<Vec<usize>> {
    let results = batch_results(db, statements).await?;
    Ok(results
        .iter()
        .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
        .collect())
}

/// Runs statements as one D1 batch (one call, one transaction) and returns their results.
pub async fn batch_results(
    db: &Db,
    statements: Vec<D1PreparedStatement>,
) -> AppResult<Vec<D1Result>> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    db.spend("batch")?;
    let results = db
        .d1
        .batch(statements)
        .await
        .map_err(|e| AppError::internal("d1 batch", e))?;
    results.iter().for_each(meter);
    Ok(results)
}

/// Runs statements atomically: D1 batches are one transaction.
pub async fn batch(db: &Db, statements: Vec<D1PreparedStatement>) -> AppResult<()> {
    batch_results(db, statements).await.map(|_| ())
}
