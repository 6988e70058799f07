//! The health probe's query.

use crate::store::Db;

use crate::error::AppResult;
use crate::store::{first, js_int, Arg};

#[derive(serde::Deserialize)]
struct One {
    #[serde(deserialize_with = "js_int::int")]
    ok: i64,
}

/// True when D1 answers a trivial query and the schema is applied.
pub async fn database_answers(db: &Db) -> AppResult<bool> {
    let row: Option<One> = first(
        db,
        "SELECT 1 AS ok FROM sqlite_master WHERE type = 'table' AND name = ?1",
        &[Arg::Text("contacts")],
    )
    .await?;
    Ok(row.is_some_and(|r| r.ok == 1))
}
