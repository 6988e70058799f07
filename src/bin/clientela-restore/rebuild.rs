//! The backup rebuilt in an in-memory SQLite before anything is written to the target: the
//! schema as it was when the backup was taken, its rows, the migrations written since, then
//! rows whose parent was deleted while the backup ran dropped, and every erasure recorded after
//! it started applied again through the Worker's own erasure (`src/store/erasure.rs`).

use clientela::store::erasure::{erase_plan, Erased};
use clientela::store::sqlite::{MIGRATIONS, SCHEMA};
use clientela::store::Arg;
use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::{Map, Value as Json};

use crate::sqlfile::quote_ident;

/// An empty database at `version` (a migration file name): `schema.sql`, then each migration up
/// to and including that one. The newer ones are applied by [`migrate_after`].
pub fn schema_at(version: &str) -> Result<Connection, String> {
    let at = MIGRATIONS
        .iter()
        .position(|(name, _)| *name == version)
        .ok_or_else(|| unknown_version(version))?;
    let db = Connection::open_in_memory().map_err(|e| format!("in-memory SQLite: {e}"))?;
    // Rows go in before the newer migrations and before orphans are dropped.
    db.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(|e| format!("foreign keys off: {e}"))?;
    db.execute_batch(SCHEMA)
        .map_err(|e| format!("schema.sql: {e}"))?;
    for (name, sql) in &MIGRATIONS[..=at] {
        db.execute_batch(sql)
            .map_err(|e| format!("migration {name}: {e}"))?;
    }
    Ok(db)
}

/// Why a backup's schema version is refused: newer than this tool, or unknown to it.
pub fn unknown_version(version: &str) -> String {
    let newest = MIGRATIONS.last().map_or("", |(name, _)| *name);
    if version > newest {
        format!(
            "the backup's schema ({version}) is newer than this restore tool's ({newest}): \
             restore with the release that took it, or a newer one"
        )
    } else {
        format!("the backup's schema version {version} is not a migration this tool knows")
    }
}

/// Applies every migration after `version`, bringing the rebuilt rows to today's schema.
pub fn migrate_after(db: &Connection, version: &str) -> Result<Vec<&'static str>, String> {
    let at = MIGRATIONS
        .iter()
        .position(|(name, _)| *name == version)
        .ok_or_else(|| unknown_version(version))?;
    let mut applied = Vec::new();
    for (name, sql) in &MIGRATIONS[at + 1..] {
        db.execute_batch(sql)
            .map_err(|e| format!("migration {name} on the rebuilt backup: {e}"))?;
        applied.push(*name);
    }
    Ok(applied)
}

/// Inserts `rows` (column → value, as D1 returned them) into `table`; how many.
pub fn load(db: &Connection, table: &str, rows: &[Map<String, Json>]) -> Result<u64, String> {
    let tx = db
        .unchecked_transaction()
        .map_err(|e| format!("begin: {e}"))?;
    let mut count = 0;
    for row in rows {
        let sql = insert_sql("INSERT", table, row);
        let values: Vec<Value> = row.values().map(sql_value).collect();
        tx.prepare_cached(&sql)
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(values)))
            .map_err(|e| format!("a row of {table} does not fit the schema: {e}"))?;
        count += 1;
    }
    tx.commit().map_err(|e| format!("commit: {e}"))?;
    Ok(count)
}

/// A JSON value as D1 returned it, as SQLite stores it. D1 gives every number as a JavaScript
/// number: a whole one goes in as an integer (a REAL column's affinity turns it back into a real).
fn sql_value(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Integer(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Value::Integer(f as i64)
            }
            (None, Some(f)) => Value::Real(f),
            (None, None) => Value::Null,
        },
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

/// Deletes rows whose parent is missing (it was deleted while the backup ran: D1 enforces
/// foreign keys, so the target would refuse them), repeating until none is left, since a
/// dropped row may itself be a parent. Rows dropped per table.
pub fn drop_orphans(db: &Connection) -> Result<Vec<(String, u64)>, String> {
    let mut dropped: Vec<(String, u64)> = Vec::new();
    let deletes = orphan_deletes(db)?;
    loop {
        let mut any = false;
        for (table, sql) in &deletes {
            let n = db
                .execute(sql, [])
                .map_err(|e| format!("dropping orphans of {table}: {e}"))?
                as u64;
            if n > 0 {
                any = true;
                match dropped.iter_mut().find(|(t, _)| t == table) {
                    Some((_, total)) => *total += n,
                    None => dropped.push((table.clone(), n)),
                }
            }
        }
        if !any {
            return Ok(dropped);
        }
    }
}

/// One `DELETE` per foreign key of the schema: the rows whose key names no parent.
fn orphan_deletes(db: &Connection) -> Result<Vec<(String, String)>, String> {
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(|e| format!("tables: {e}"))?;
    let mut deletes = Vec::new();
    for table in tables {
        // (id, parent table, child column, parent column) per column of each key.
        let keys: Vec<(i64, String, String, Option<String>)> = db
            .prepare(&format!("PRAGMA foreign_key_list({})", quote_ident(&table)))
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                    .collect::<Result<_, _>>()
            })
            .map_err(|e| format!("foreign keys of {table}: {e}"))?;
        let mut ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        ids.dedup();
        for id in ids {
            let columns: Vec<&(i64, String, String, Option<String>)> =
                keys.iter().filter(|k| k.0 == id).collect();
            let parent = &columns[0].1;
            let parent_key = primary_key(db, parent)?;
            let pairs: Vec<(String, String)> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, _, child, to))| {
                    let to = to
                        .clone()
                        .or_else(|| parent_key.get(i).cloned())
                        .unwrap_or_else(|| "rowid".into());
                    (child.clone(), to)
                })
                .collect();
            let set = pairs
                .iter()
                .map(|(c, _)| format!("c.{} IS NOT NULL", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let join = pairs
                .iter()
                .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let sql = format!(
                "DELETE FROM {t} AS c WHERE {set} AND NOT EXISTS (SELECT 1 FROM {p} AS p WHERE {join})",
                t = quote_ident(&table),
                p = quote_ident(parent),
            );
            deletes.push((table.clone(), sql));
        }
    }
    Ok(deletes)
}

fn primary_key(db: &Connection, table: &str) -> Result<Vec<String>, String> {
    let mut key: Vec<(i64, String)> = crate::sqlfile::columns(db, table)?
        .into_iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name))
        .collect();
    key.sort();
    Ok(key.into_iter().map(|(_, n)| n).collect())
}

/// An erasure the live database recorded after the backup started: from the request register
/// (the person's id) and the suppression list (their email's HMAC), paired by time when the
/// same erasure wrote both.
#[derive(Clone, Debug, PartialEq)]
pub struct Erasure {
    pub contact_id: Option<String>,
    pub email_hash: Option<String>,
    pub at: String,
    /// The register's row, copied as it is, so the proof the request was honoured is restored
    /// with the erasure.
    pub request: Option<Map<String, Json>>,
}

/// Erasures from the register's `erasure` requests completed at or after `since` and the
/// suppressions with reason `erased` since then, one per person.
pub fn erasures(
    requests: &[Map<String, Json>],
    suppressions: &[Map<String, Json>],
) -> Vec<Erasure> {
    let text =
        |row: &Map<String, Json>, key: &str| row.get(key).and_then(Json::as_str).map(String::from);
    let mut out: Vec<Erasure> = requests
        .iter()
        .filter_map(|r| {
            let at = text(r, "completed_at")?;
            Some(Erasure {
                contact_id: text(r, "contact_id"),
                email_hash: None,
                at,
                request: Some(r.clone()),
            })
        })
        .collect();
    for s in suppressions {
        let (Some(hash), Some(at)) = (text(s, "email_hash"), text(s, "at")) else {
            continue;
        };
        // The erasure's batch wrote both with one `at`; a later one for the same address (an
        // erased person signing up again and erasing again) has its own.
        match out
            .iter_mut()
            .find(|e| e.email_hash.is_none() && e.at == at && e.request.is_some())
        {
            Some(e) => e.email_hash = Some(hash),
            None => out.push(Erasure {
                contact_id: None,
                email_hash: Some(hash),
                at,
                request: None,
            }),
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    out
}

/// The erasures the backup itself records from `since` on (its register and suppressions,
/// read to their end when the run finished).
pub fn erasures_within(db: &Connection, since: &str) -> Result<Vec<Erasure>, String> {
    let since = clientela::domain::time::parse(since)
        .map(|t| clientela::domain::time::format(t - super::CLOCK_MARGIN))
        .ok_or_else(|| format!("the manifest's start time {since} is not a time"))?;
    let rows = |sql: &str| -> Result<Vec<Map<String, Json>>, String> {
        let mut stmt = db.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
        let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let found = stmt
            .query_map([&since], |r| {
                let mut row = Map::new();
                for (i, name) in names.iter().enumerate() {
                    let value: Option<String> = r.get(i)?;
                    row.insert(name.clone(), value.map_or(Json::Null, Json::String));
                }
                Ok(row)
            })
            .map_err(|e| format!("{sql}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{sql}: {e}"));
        found
    };
    let requests = rows(
        "SELECT id, contact_id, kind, channel, reason, received_at, due_at, completed_at, actor \
         FROM privacy_requests WHERE kind = 'erasure' AND completed_at >= ?1",
    )?;
    let suppressions =
        rows("SELECT email_hash, at FROM suppressions WHERE reason = 'erased' AND at >= ?1")?;
    Ok(erasures(&requests, &suppressions))
}

/// Those of `erasures` whose person the rebuilt database still holds (by id, or by the HMAC of
/// their address when the erasure names no id).
pub fn still_present(db: &Connection, erasures: &[Erasure]) -> Result<Vec<Erasure>, String> {
    let mut out = Vec::new();
    for e in erasures {
        let present: bool = db
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM contacts \
                 WHERE id = ?1 OR (?1 IS NULL AND email_hash = ?2))",
                rusqlite::params![e.contact_id, e.email_hash],
                |r| r.get(0),
            )
            .map_err(|err| format!("finding an erased person: {err}"))?;
        if present {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// Revokes again the keys the live database revoked after the backup (`id`, `revoked_at`) and
/// deletes again its webhooks deleted since (`id`, `deleted_at`), as the Worker does (a deleted
/// webhook loses its secret and is disabled). How many rows changed.
pub fn switch_off(
    db: &Connection,
    revoked: &[Map<String, Json>],
    deleted: &[Map<String, Json>],
) -> Result<usize, String> {
    let text =
        |row: &Map<String, Json>, key: &str| row.get(key).and_then(Json::as_str).map(String::from);
    let mut changed = 0;
    for row in revoked {
        if let (Some(id), Some(at)) = (text(row, "id"), text(row, "revoked_at")) {
            changed += db
                .execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    [&id, &at],
                )
                .map_err(|e| format!("revoking {id} again: {e}"))?;
        }
    }
    for row in deleted {
        if let (Some(id), Some(at)) = (text(row, "id"), text(row, "deleted_at")) {
            changed += db
                .execute(
                    "UPDATE webhooks SET deleted_at = ?2, disabled_at = COALESCE(disabled_at, ?2), \
                       secret = '' WHERE id = ?1 AND deleted_at IS NULL",
                    [&id, &at],
                )
                .map_err(|e| format!("deleting webhook {id} again: {e}"))?;
        }
    }
    Ok(changed)
}

/// Applies `erasures` to the rebuilt database, in time order; the contact ids erased (those the
/// backup still held).
pub fn replay(db: &Connection, erasures: &[Erasure]) -> Result<Vec<String>, String> {
    let mut erased = Vec::new();
    for e in erasures {
        if let Some(request) = &e.request {
            insert_ignoring(db, "privacy_requests", request)?;
        }
        // The person as the backup holds them: by id, or without one (a suppression alone) by
        // the HMAC of their address. Never by address when the id is known: someone who came
        // back after an earlier erasure is another contact with the same address.
        let found: Option<(String, String)> = db
            .query_row(
                "SELECT id, email_hash FROM contacts \
                 WHERE id = ?1 OR (?1 IS NULL AND email_hash = ?2) LIMIT 1",
                rusqlite::params![e.contact_id, e.email_hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(format!("finding an erased person: {e}")),
            })?;
        let id = match (&found, &e.contact_id) {
            (Some((id, _)), _) => id.clone(),
            // Gone from the contacts already, but their other rows may not be (read before the
            // erasure, or tables without a foreign key): erase those by id.
            (None, Some(id)) => id.clone(),
            (None, None) => {
                if let Some(hash) = &e.email_hash {
                    db.execute(
                        "INSERT INTO suppressions (email_hash, reason, at) VALUES (?1, 'erased', ?2) \
                         ON CONFLICT (email_hash) DO UPDATE SET reason = 'erased', at = excluded.at",
                        rusqlite::params![hash, e.at],
                    )
                    .map_err(|e| format!("suppression: {e}"))?;
                }
                continue;
            }
        };
        let hash = found
            .as_ref()
            .map(|(_, h)| h.clone())
            .or(e.email_hash.clone());
        // Messages carry the HMAC of the mailbox, keyed by TOKEN_SECRET, which this tool does
        // not hold: the person's own messages say it.
        let mailbox: String = db
            .query_row(
                "SELECT mailbox_hash FROM outbox WHERE mailbox_hash IS NOT NULL \
                   AND (contact_id = ?1 OR to_email IN (SELECT email FROM contacts WHERE id = ?1)) LIMIT 1",
                [&id],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(String::new()),
                e => Err(format!("the person's mailbox: {e}")),
            })?;
        let plan = erase_plan(
            &Erased {
                id: &id,
                mailbox_hash: &mailbox,
            },
            hash.as_deref(),
            &e.at,
        );
        run(db, &plan).map_err(|err| format!("erasing {id} again: {err}"))?;
        if found.is_some() {
            erased.push(id);
        }
    }
    Ok(erased)
}

/// `<verb> INTO table (its columns) VALUES (?1, …)` for `row`'s columns, in its order.
fn insert_sql(verb: &str, table: &str, row: &Map<String, Json>) -> String {
    let names: Vec<String> = row.keys().map(|k| quote_ident(k)).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!(
        "{verb} INTO {} ({}) VALUES ({})",
        quote_ident(table),
        names.join(", "),
        marks.join(", ")
    )
}

fn insert_ignoring(db: &Connection, table: &str, row: &Map<String, Json>) -> Result<(), String> {
    let sql = insert_sql("INSERT OR IGNORE", table, row);
    let values: Vec<Value> = row.values().map(sql_value).collect();
    db.execute(&sql, rusqlite::params_from_iter(values))
        .map(|_| ())
        .map_err(|e| format!("{table}: {e}"))
}

/// Runs a plan of the Worker's statements as one transaction, as D1 runs a batch.
fn run(db: &Connection, plan: &[(&str, Vec<Arg<'_>>)]) -> Result<(), String> {
    let tx = db
        .unchecked_transaction()
        .map_err(|e| format!("begin: {e}"))?;
    for (sql, args) in plan {
        let values: Vec<Value> = args
            .iter()
            .map(|a| match a {
                Arg::Text(s) | Arg::OptText(Some(s)) => Value::Text((*s).to_string()),
                Arg::OptText(None) | Arg::Null => Value::Null,
                Arg::Int(i) => Value::Integer(*i),
                Arg::Real(f) => Value::Real(*f),
            })
            .collect();
        tx.execute(sql, rusqlite::params_from_iter(values))
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    tx.commit().map_err(|e| format!("commit: {e}"))
}
