//! All SQL lives here, one file per table group, with bound parameters only.

pub mod audit;
pub mod consents;
pub mod contacts;
pub mod erasure;
pub mod forms;
pub mod health;
pub mod keys;
pub mod outbox;
pub mod profile;
pub mod rate;
pub mod tokens;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::error::{AppError, AppResult};

pub fn database(env: &Env) -> AppResult<D1Database> {
    env.d1("DB")
        .map_err(|_| AppError::Misconfigured("D1 binding DB"))
}

/// A bound SQL parameter. D1 rejects BigInt, so integers travel as f64 (exact to 2^53).
pub enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Null,
}

impl From<&Arg<'_>> for JsValue {
    fn from(arg: &Arg<'_>) -> JsValue {
        match arg {
            Arg::Text(s) => JsValue::from_str(s),
            Arg::OptText(Some(s)) => JsValue::from_str(s),
            Arg::OptText(None) | Arg::Null => JsValue::NULL,
            Arg::Int(i) => JsValue::from_f64(*i as f64),
        }
    }
}

pub fn statement(db: &D1Database, sql: &str, args: &[Arg<'_>]) -> AppResult<D1PreparedStatement> {
    let values: Vec<JsValue> = args.iter().map(JsValue::from).collect();
    db.prepare(sql)
        .bind(&values)
        .map_err(|e| AppError::internal("d1 bind", e))
}

pub async fn all<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[Arg<'_>],
) -> AppResult<Vec<T>> {
    let result = statement(db, sql, args)?
        .all()
        .await
        .map_err(|e| AppError::internal("d1 query", e))?;
    result
        .results::<T>()
        .map_err(|e| AppError::internal("d1 decode", e))
}

pub async fn first<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[Arg<'_>],
) -> AppResult<Option<T>> {
    Ok(all::<T>(db, sql, args).await?.into_iter().next())
}

/// Runs a write; returns the number of rows it changed.
pub async fn run(db: &D1Database, sql: &str, args: &[Arg<'_>]) -> AppResult<usize> {
    let result = statement(db, sql, args)?
        .run()
        .await
        .map_err(|e| AppError::internal("d1 write", e))?;
    Ok(result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// Runs statements atomically: D1 batches are one transaction.
pub async fn batch(db: &D1Database, statements: Vec<D1PreparedStatement>) -> AppResult<()> {
    db.batch(statements)
        .await
        .map_err(|e| AppError::internal("d1 batch", e))?;
    Ok(())
}
