//! Test-only: the schema and every migration on an in-memory SQLite (D1 is SQLite), so the
//! SQL this module writes can be run natively in unit tests.

use rusqlite::{types::Value, Connection};

use super::Arg;

const SCHEMA: &str = include_str!("../../schema.sql");
/// Every file of `migrations/`, in order; a test fails when one is missing from this list.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_trust_model.sql",
        include_str!("../../migrations/0001_trust_model.sql"),
    ),
    (
        "0002_daily_jobs.sql",
        include_str!("../../migrations/0002_daily_jobs.sql"),
    ),
];

/// An empty database at the current schema: `schema.sql`, then each migration.
pub fn fresh_database() -> Connection {
    let db = Connection::open_in_memory().expect("in-memory SQLite");
    db.execute_batch(SCHEMA).expect("schema.sql");
    for (name, sql) in MIGRATIONS {
        db.execute_batch(sql)
            .unwrap_or_else(|e| panic!("migration {name}: {e}"));
    }
    db
}

/// Runs `plan` as one transaction, as D1 runs a batch; the rows each statement changed.
pub fn run(db: &Connection, plan: &[(&str, Vec<Arg<'_>>)]) -> Vec<usize> {
    db.execute_batch("BEGIN").expect("begin");
    let changed = plan
        .iter()
        .map(|(sql, args)| {
            let values: Vec<Value> = args.iter().map(value).collect();
            db.execute(sql, rusqlite::params_from_iter(values))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
        .collect();
    db.execute_batch("COMMIT").expect("commit");
    changed
}

fn value(arg: &Arg<'_>) -> Value {
    match arg {
        Arg::Text(s) | Arg::OptText(Some(s)) => Value::Text((*s).to_string()),
        Arg::OptText(None) | Arg::Null => Value::Null,
        Arg::Int(i) => Value::Integer(*i),
        Arg::Real(f) => Value::Real(*f),
    }
}

#[test]
fn every_migration_file_is_listed() {
    let mut on_disk: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .expect("migrations/")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
    on_disk.sort();
    let listed: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
    assert_eq!(on_disk, listed);
}
