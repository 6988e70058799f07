//! What a backup copies: each table, in an order where a parent comes before its children, how
//! it is read in pages, and what is left out of it.
//!
//! Rowid tables are read by rowid up to the high-water mark taken when the run started, so rows
//! inserted while it runs are not copied (and a row written after a table was read is in no
//! object at all). WITHOUT ROWID tables have no such mark and are read by their primary key:
//! what they hold when their pages are read is what is copied.

use serde_json::{Map, Value};

/// The newest migration this code knows: the schema version a backup records, and the newest a
/// restore accepts.
pub const SCHEMA_VERSION: &str = "0012_backups.sql";

/// The column a rowid page selects besides `*`, dropped from the row before it is written.
const ROWID: &str = "_backup_rowid";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKey {
    /// Read by rowid, up to the run's high-water mark.
    Rowid,
    /// A WITHOUT ROWID table, read by its primary key's columns in order.
    Columns(&'static [&'static str]),
}

/// What a copied row holds instead of a column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redact {
    Null,
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub name: &'static str,
    pub key: TableKey,
    /// A condition on the rows copied, when not all are.
    pub only: Option<&'static str>,
    /// Columns whose value is never copied.
    pub redact: &'static [(&'static str, Redact)],
}

const fn rowid(name: &'static str) -> TableSpec {
    TableSpec {
        name,
        key: TableKey::Rowid,
        only: None,
        redact: &[],
    }
}

const fn keyed(name: &'static str, columns: &'static [&'static str]) -> TableSpec {
    TableSpec {
        name,
        key: TableKey::Columns(columns),
        only: None,
        redact: &[],
    }
}

/// Every table a backup copies, in load order: parents before the children whose foreign keys
/// point at them (a unit test holds it to the schema).
pub const TABLES: &[TableSpec] = &[
    rowid("forms"),
    rowid("notices"),
    rowid("surveys"),
    rowid("segments"),
    rowid("webhooks"),
    rowid("api_keys"),
    rowid("contacts"),
    keyed("contact_attributes", &["contact_id", "key"]),
    keyed("consents", &["contact_id", "purpose"]),
    keyed("consent_events", &["contact_id", "at", "id"]),
    keyed("contact_stats", &["contact_id"]),
    keyed("orders", &["external_id"]),
    rowid("survey_invitations"),
    keyed("survey_responses", &["survey_id", "id"]),
    keyed("segment_members", &["segment_id", "contact_id"]),
    keyed("tokens", &["hash"]),
    rowid("events"),
    keyed("webhook_deliveries", &["webhook_id", "event_seq"]),
    keyed("audit_log", &["id"]),
    // The mail log, without what could still act for someone: a pending message (its links are
    // live and it would be sent again from the restore) is not copied, and a sent one keeps who,
    // what kind and when, not its text or links.
    TableSpec {
        name: "outbox",
        key: TableKey::Columns(&["id"]),
        only: Some("sent_at IS NOT NULL"),
        redact: &[
            ("body_text", Redact::Empty),
            ("url", Redact::Null),
            ("unsubscribe_url", Redact::Null),
            ("preferences_url", Redact::Null),
        ],
    },
    // The two records of erasures are read last and to their end (by key, with no high-water
    // mark): an erasure made while the run copied the contacts is then in the backup itself,
    // and a restore without the live database still applies it again.
    keyed("privacy_requests", &["id"]),
    keyed("suppressions", &["email_hash"]),
];

/// Tables a backup leaves out, and why.
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "rate_counters",
        "per-minute counters, meaningless an hour later",
    ),
    (
        "exports",
        "downloads kept 7 days whose files live in the EXPORTS bucket, not in the backup",
    ),
    (
        "dead_letters",
        "messages the old database's queue gave up on: they name work of that database",
    ),
    (
        "backup_runs",
        "the history of the database's own backups: a restored one starts its own",
    ),
    (
        "sqlite_sequence",
        "SQLite's own counters, rebuilt by the restore's inserts",
    ),
    (
        "d1_migrations",
        "the target's own record of its migrations, written as they are applied",
    ),
    ("_cf_KV", "D1's internal table"),
    ("_cf_METADATA", "D1's internal table"),
];

/// The key of the last row of a page: where the next page starts.
pub type Cursor = Vec<Value>;

impl TableSpec {
    pub fn find(name: &str) -> Option<&'static TableSpec> {
        TABLES.iter().find(|t| t.name == name)
    }

    /// One page of this table after `cursor` (`None`: from the start) as SQL and its arguments
    /// in order: integers as numbers, text as strings. Rowid tables stop at `high_water`.
    pub fn page_query(
        &self,
        cursor: Option<&Cursor>,
        high_water: i64,
        limit: u32,
    ) -> (String, Vec<Value>) {
        let mut args = Vec::new();
        let mut conditions = Vec::new();
        let (select, order) = match self.key {
            TableKey::Rowid => {
                args.push(Value::from(high_water));
                conditions.push(format!("rowid <= ?{}", args.len()));
                if let Some(after) = cursor.and_then(|c| c.first()) {
                    args.push(after.clone());
                    conditions.push(format!("rowid > ?{}", args.len()));
                }
                (format!("rowid AS {ROWID}, *"), "rowid".to_string())
            }
            TableKey::Columns(columns) => {
                if let Some(after) = cursor {
                    let first = args.len() + 1;
                    args.extend(after.iter().cloned());
                    let marks: Vec<String> = (first..first + columns.len())
                        .map(|n| format!("?{n}"))
                        .collect();
                    conditions.push(format!("({}) > ({})", columns.join(", "), marks.join(", ")));
                }
                ("*".to_string(), columns.join(", "))
            }
        };
        if let Some(only) = self.only {
            conditions.push(format!("({only})"));
        }
        args.push(Value::from(limit));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        (
            format!(
                "SELECT {select} FROM {}{filter} ORDER BY {order} LIMIT ?{}",
                self.name,
                args.len()
            ),
            args,
        )
    }

    /// The query of this table's high-water mark (`NULL` when empty); rowid tables only.
    pub fn high_water_query(&self) -> Option<String> {
        match self.key {
            TableKey::Rowid => Some(format!(
                "SELECT MAX(rowid) AS high_water FROM {}",
                self.name
            )),
            TableKey::Columns(_) => None,
        }
    }

    /// Turns a row as read by [`TableSpec::page_query`] into the row a backup holds (the rowid
    /// column dropped, redacted columns replaced) and returns the row's cursor.
    pub fn finish_row(&self, row: &mut Map<String, Value>) -> Cursor {
        let cursor = match self.key {
            TableKey::Rowid => vec![row.remove(ROWID).unwrap_or(Value::Null)],
            TableKey::Columns(columns) => columns
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                .collect(),
        };
        for (column, redact) in self.redact {
            if row.contains_key(*column) {
                let value = match redact {
                    Redact::Null => Value::Null,
                    Redact::Empty => Value::from(""),
                };
                row.insert((*column).to_string(), value);
            }
        }
        cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::fresh_database;
    use rusqlite::types::Value as Sql;
    use std::collections::BTreeSet;

    fn schema_tables() -> BTreeSet<String> {
        let db = fresh_database();
        let mut stmt = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap();
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        names
    }

    #[test]
    fn every_table_of_the_schema_is_copied_or_left_out_with_a_reason() {
        let covered: BTreeSet<String> = TABLES
            .iter()
            .map(|t| t.name.to_string())
            .chain(EXCLUDED.iter().map(|(n, _)| n.to_string()))
            .collect();
        for table in schema_tables() {
            assert!(
                covered.contains(&table),
                "table {table} is neither in TABLES nor in EXCLUDED"
            );
        }
        let schema = schema_tables();
        for t in TABLES {
            assert!(
                schema.contains(t.name),
                "TABLES lists {} which does not exist",
                t.name
            );
            assert!(
                !EXCLUDED.iter().any(|(n, _)| *n == t.name),
                "{} both",
                t.name
            );
        }
    }

    #[test]
    fn parents_are_loaded_before_their_children() {
        let db = fresh_database();
        for (i, t) in TABLES.iter().enumerate() {
            let mut stmt = db
                .prepare(&format!(
                    "SELECT \"table\" FROM pragma_foreign_key_list('{}')",
                    t.name
                ))
                .unwrap();
            let parents: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for parent in parents {
                let at = TABLES.iter().position(|p| p.name == parent);
                assert!(
                    matches!(at, Some(p) if p < i),
                    "{} is loaded before its parent {parent}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn each_keyed_table_is_keyed_by_its_whole_primary_key_and_rowid_tables_have_rowids() {
        // Keyed tables may have rowids too (read to their end, with no mark); rowid ones must.
        let db = fresh_database();
        for t in TABLES {
            let sql: String = db
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [t.name],
                    |r| r.get(0),
                )
                .unwrap();
            let without_rowid = sql.to_uppercase().contains("WITHOUT ROWID");
            match t.key {
                TableKey::Rowid => assert!(!without_rowid, "{} has no rowid", t.name),
                TableKey::Columns(columns) => {
                    let mut stmt = db
                        .prepare(&format!(
                            "SELECT name FROM pragma_table_info('{}') WHERE pk > 0 ORDER BY pk",
                            t.name
                        ))
                        .unwrap();
                    let pk: Vec<String> = stmt
                        .query_map([], |r| r.get(0))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    assert_eq!(pk, columns, "{}", t.name);
                }
            }
        }
    }

    #[test]
    fn the_schema_version_is_the_newest_migration() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let newest = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .max()
            .unwrap();
        assert_eq!(newest, SCHEMA_VERSION);
    }

    fn read_all(db: &rusqlite::Connection, t: &TableSpec, limit: u32) -> Vec<Map<String, Value>> {
        let high_water = match t.high_water_query() {
            Some(q) => db
                .query_row(&q, [], |r| r.get::<_, Option<i64>>(0))
                .unwrap()
                .unwrap_or(0),
            None => 0,
        };
        let mut cursor: Option<Cursor> = None;
        let mut out = Vec::new();
        loop {
            let (sql, args) = t.page_query(cursor.as_ref(), high_water, limit);
            let args: Vec<Sql> = args
                .iter()
                .map(|a| match a {
                    Value::Number(n) => Sql::Integer(n.as_i64().unwrap()),
                    Value::String(s) => Sql::Text(s.clone()),
                    other => panic!("{other}"),
                })
                .collect();
            let mut stmt = db.prepare(&sql).unwrap();
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let rows: Vec<Map<String, Value>> = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    let mut row = Map::new();
                    for (i, n) in names.iter().enumerate() {
                        let v = match r.get::<_, Sql>(i)? {
                            Sql::Null => Value::Null,
                            Sql::Integer(i) => Value::from(i),
                            Sql::Real(f) => Value::from(f),
                            Sql::Text(s) => Value::from(s),
                            Sql::Blob(_) => panic!("blob"),
                        };
                        row.insert(n.clone(), v);
                    }
                    Ok(row)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let Some(last) = rows.len().checked_sub(1) else {
                break;
            };
            for (i, mut row) in rows.into_iter().enumerate() {
                let c = t.finish_row(&mut row);
                if i == last {
                    cursor = Some(c);
                }
                out.push(row);
            }
        }
        out
    }

    #[test]
    fn pages_read_every_row_once_by_rowid_and_by_composite_key() {
        let db = fresh_database();
        db.execute_batch(
            "INSERT INTO suppressions (email_hash, reason, at) VALUES
               ('h3', 'erased', 't'), ('h1', 'erased', 't'), ('h2', 'unsubscribed', 't');
             DELETE FROM suppressions WHERE email_hash = 'h1';
             INSERT INTO suppressions (email_hash, reason, at) VALUES ('h0', 'erased', 't');",
        )
        .unwrap();
        let rows = read_all(&db, TableSpec::find("suppressions").unwrap(), 1);
        let hashes: Vec<&str> = rows
            .iter()
            .map(|r| r["email_hash"].as_str().unwrap())
            .collect();
        assert_eq!(hashes, ["h0", "h2", "h3"], "key order, each once");
        db.execute_batch(
            "INSERT INTO forms (id, name, definition, created_at, updated_at) VALUES
               ('f3', 'c', '{}', 't', 't'), ('f1', 'a', '{}', 't', 't'), ('f2', 'b', '{}', 't', 't');
             DELETE FROM forms WHERE id = 'f1';",
        )
        .unwrap();
        let rows = read_all(&db, TableSpec::find("forms").unwrap(), 1);
        let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["f3", "f2"], "rowid order, each once");
        assert!(rows.iter().all(|r| !r.contains_key(ROWID)));

        let spec = TableSpec::find("segment_members").unwrap();
        let (sql, args) = spec.page_query(Some(&vec!["seg_a".into(), "ct_b".into()]), 0, 7);
        assert_eq!(
            sql,
            "SELECT * FROM segment_members WHERE (segment_id, contact_id) > (?1, ?2) \
             ORDER BY segment_id, contact_id LIMIT ?3"
        );
        assert_eq!(
            args,
            vec![Value::from("seg_a"), Value::from("ct_b"), Value::from(7)]
        );
    }

    #[test]
    fn rows_inserted_after_the_high_water_mark_are_not_copied() {
        let spec = TableSpec::find("contacts").unwrap();
        let (sql, args) = spec.page_query(None, 41, 500);
        assert_eq!(
            sql,
            "SELECT rowid AS _backup_rowid, * FROM contacts WHERE rowid <= ?1 \
             ORDER BY rowid LIMIT ?2"
        );
        assert_eq!(args, vec![Value::from(41), Value::from(500)]);
    }

    #[test]
    fn a_pending_message_is_not_copied_and_a_sent_one_loses_its_text_and_links() {
        let db = fresh_database();
        db.execute_batch(
            "INSERT INTO outbox (id, contact_id, to_email, kind, subject, body_text, url,
                 unsubscribe_url, preferences_url, created_at, sent_at, attempts)
             VALUES
               ('msg_1', 'ct_1', 'a@example.com', 'confirm', 'Confirm', 'Click https://x/confirm?t=live',
                'https://x/confirm?t=live', 'https://x/u?t=live', 'https://x/p?t=live', 't', NULL, 0),
               ('msg_2', 'ct_1', 'a@example.com', 'confirm', 'Confirm', 'Click https://x/confirm?t=old',
                'https://x/confirm?t=old', 'https://x/u?t=old', 'https://x/p?t=old', 't', 't2', 1);",
        )
        .unwrap();
        let rows = read_all(&db, TableSpec::find("outbox").unwrap(), 10);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["id"], "msg_2");
        let text = serde_json::to_string(&rows[0]).unwrap();
        assert!(
            !text.contains("t=old") && !text.contains("t=live"),
            "{text}"
        );
        assert_eq!(rows[0]["body_text"], "");
        assert_eq!(rows[0]["subject"], "Confirm");
    }
}
