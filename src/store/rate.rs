//! `rate_counters`: fixed-window counters in D1 for limits that must hold across isolates and
//! locations (per email address), where the rate-limiting binding is per location.

use crate::store::Db;
use serde::Deserialize;

use crate::error::AppResult;
use crate::store::{first, js_int, Arg};

#[derive(Deserialize)]
struct Count {
    #[serde(deserialize_with = "js_int::int")]
    count: i64,
}

/// Counts one hit for `key` in the window starting at `window_start` and returns the total.
pub async fn hit(db: &Db, key: &str, window_start: &str) -> AppResult<u32> {
    let row: Option<Count> = first(
        db,
        "INSERT INTO rate_counters (key, window_start, count) VALUES (?1, ?2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN rate_counters.window_start = excluded.window_start THEN rate_counters.count + 1 ELSE 1 END, \
           window_start = excluded.window_start \
         RETURNING count",
        &[Arg::Text(key), Arg::Text(window_start)],
    )
    .await?;
    Ok(row.map_or(1, |r| u32::try_from(r.count).unwrap_or(u32::MAX)))
}

/// Up to `limit` counters whose window started before `before`: they count nothing any more
/// (the next hit starts a new window at 1), so retention drops them (index
/// `rate_counters_window`).
pub fn purge_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM rate_counters WHERE rowid IN \
           (SELECT rowid FROM rate_counters WHERE window_start < ?1 LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}
