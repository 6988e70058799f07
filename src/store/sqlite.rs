//! Native only: the schema and every migration on an in-memory SQLite (D1 is SQLite), so the
//! SQL this module writes can be run natively in unit tests, and the restore tool
//! (`src/bin/clientela-restore/main.rs`) can rebuild a backup at the schema it was taken under.

use rusqlite::{types::Value, Connection};

use super::Arg;

/// `schema.sql`: the first release, before every migration.
pub const SCHEMA: &str = include_str!("../../schema.sql");
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
    (
        "0003_exports.sql",
        include_str!("../../migrations/0003_exports.sql"),
    ),
    (
        "0004_bounded_reads.sql",
        include_str!("../../migrations/0004_bounded_reads.sql"),
    ),
    (
        "0005_smaller_rows.sql",
        include_str!("../../migrations/0005_smaller_rows.sql"),
    ),
    (
        "0006_two_round_trip_writes.sql",
        include_str!("../../migrations/0006_two_round_trip_writes.sql"),
    ),
    (
        "0007_lean_answers_and_orders.sql",
        include_str!("../../migrations/0007_lean_answers_and_orders.sql"),
    ),
    (
        "0008_webhooks.sql",
        include_str!("../../migrations/0008_webhooks.sql"),
    ),
    (
        "0009_survey_reminders.sql",
        include_str!("../../migrations/0009_survey_reminders.sql"),
    ),
    (
        "0010_consent_lifecycle.sql",
        include_str!("../../migrations/0010_consent_lifecycle.sql"),
    ),
    (
        "0011_privacy_requests.sql",
        include_str!("../../migrations/0011_privacy_requests.sql"),
    ),
    (
        "0012_backups.sql",
        include_str!("../../migrations/0012_backups.sql"),
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

/// SQLite's plan for `sql` (every parameter bound to NULL), one step per line: what a test
/// reads to prove a query walks an index instead of scanning or sorting a whole table.
pub fn query_plan(db: &Connection, sql: &str) -> String {
    let mut plan = db
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let nulls = vec![Value::Null; plan.parameter_count()];
    let steps = plan
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .expect("query plan")
        .collect::<Result<Vec<_>, _>>()
        .expect("plan rows");
    steps.join("\n")
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

#[cfg(test)]
/// The statements of `src/store` as SQLite would run them: every string literal that starts a
/// statement, with `format!` holes filled from the file's `const`s (a `{}` list becomes one
/// `?`, any other hole nothing). Statements that still do not prepare are left out, which can
/// only make the index test below stricter.
fn store_statements() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store");
    let mut statements = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/store").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("a store file");
        let literals = rust_literals(&text);
        let consts: Vec<(String, String)> = text
            .match_indices("const ")
            .filter_map(|(at, _)| {
                let rest = &text[at + 6..];
                let name = rest.split(':').next()?.trim().to_string();
                let value = rust_literals(rest.split(';').next()?).into_iter().next()?;
                Some((name, value))
            })
            .collect();
        for mut sql in literals {
            let head = sql.trim_start().split([' ', '(']).next().unwrap_or("");
            let starts = ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(&head)
                || head.starts_with('{');
            if !starts {
                continue;
            }
            for (name, value) in &consts {
                sql = sql.replace(&format!("{{{name}}}"), value);
            }
            sql = sql.replace("{}", "?");
            while let (Some(open), Some(close)) = (sql.find('{'), sql.find('}')) {
                if close < open {
                    break;
                }
                sql.replace_range(open..=close, "");
            }
            statements.push(sql);
        }
    }
    statements
}

#[cfg(test)]
/// The string literals of a Rust source, `\` line continuations joined as rustc joins them.
fn rust_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('\n') => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    Some('n') => s.push('\n'),
                    Some(other) => s.push(other),
                    None => {}
                },
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
/// The indexes one statement's plan reads.
fn indexes_read(db: &Connection, sql: &str) -> Option<Vec<String>> {
    let mut plan = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).ok()?;
    let params = plan.parameter_count();
    let rows = plan
        .query_map(
            rusqlite::params_from_iter(std::iter::repeat_n(Value::Null, params)),
            |row| row.get::<_, String>(3),
        )
        .ok()?;
    Some(
        rows.flatten()
            .flat_map(|detail| {
                detail
                    .split_whitespace()
                    .skip_while(|w| *w != "INDEX")
                    .nth(1)
                    .map(str::to_string)
            })
            .collect(),
    )
}

#[cfg(test)]
/// Indexes no statement reads today that stay on purpose, with why.
const KEPT_UNREAD: &[&str] = &[
    // Erased people's minimal consent proof, looked up by the email's HMAC when a claim about
    // their consent comes in (README, record of processing): by an operator, not by a route,
    // and it must not read five years of events to answer. Partial: erased rows only.
    "consent_events_email_hash",
];

/// Every index costs room on every row and a write on every insert, so each one left must be
/// read by some statement of `src/store` or by a segment rule's SQL (`contacts_country` serves
/// a preview of a country rule). Migration 0005 dropped the ones none read.
#[test]
fn every_index_is_read_by_some_query() {
    use crate::domain::segment::{member_sql, parse_rule, Audience};
    let db = fresh_database();
    let mut statements = store_statements();
    for rule in [
        serde_json::json!({"field": "country", "op": "eq", "value": "PT"}),
        serde_json::json!({"field": "attr.shoe_size", "op": "eq", "value": "38"}),
        serde_json::json!({"field": "consent.profiling", "op": "eq", "value": true}),
    ] {
        let rule = parse_rule(&rule).expect("a rule");
        let audience = Audience {
            purpose: "marketing_email".into(),
            profiling: true,
        };
        let (sql, _) = member_sql(&rule, &audience, chrono::Utc::now());
        statements.push(format!(
            "SELECT COUNT(*) FROM contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id WHERE {sql}"
        ));
    }
    let read: std::collections::BTreeSet<String> = statements
        .iter()
        .filter_map(|sql| indexes_read(&db, sql))
        .flatten()
        .collect();
    let mut indexes = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL")
        .expect("schema");
    let unread: Vec<String> = indexes
        .query_map([], |row| row.get::<_, String>(0))
        .expect("indexes")
        .flatten()
        .filter(|name| !read.contains(name) && !KEPT_UNREAD.contains(&name.as_str()))
        .collect();
    assert!(
        unread.is_empty(),
        "indexes no query reads (drop them in a migration, or add the query): {unread:?}"
    );
}

/// The outbox list and the live segments' pages walk an index in the order they answer: no
/// step sorts the table (`USE TEMP B-TREE`) or scans it. A recipient's list reads that mailbox's
/// messages (and the legacy ones of that address) through their indexes and sorts only those:
/// one mailbox holds a few messages, never the table.
#[test]
fn paged_lists_walk_their_index_without_sorting() {
    let db = fresh_database();
    for (sql, indexes, sorts) in [
        (super::outbox::LIST_SQL, &["outbox_created"][..], false),
        (
            super::outbox::LIST_TO_SQL,
            &["outbox_mailbox", "outbox_legacy_to"][..],
            true,
        ),
        (super::segments::PAGE_SQL, &["segments_live"][..], false),
    ] {
        let plan = query_plan(&db, sql);
        assert!(
            indexes.iter().all(|i| plan.contains(i))
                && (sorts || !plan.contains("TEMP B-TREE"))
                && !plan.contains("SCAN outbox\n"),
            "{sql}\n{plan}"
        );
    }
}

/// Messages written before every message carried its mailbox HMAC (0006) stay reachable: a
/// recipient's list shows them beside the new ones, and erasing the person deletes both.
#[test]
fn messages_without_a_mailbox_hmac_are_listed_and_erased_like_the_others() {
    let db = fresh_database();
    db.execute_batch(
        "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
           VALUES ('c1', 'ana@example.com', 'h1', 'active', 'import', 't', 't'); \
         INSERT INTO outbox (id, contact_id, to_email, kind, subject, body_text, created_at, mailbox_hash) VALUES \
           ('m-old', 'c1', 'ana@example.com', 'confirm', 's', 'b', '2026-01-01T00:00:00.000Z', NULL), \
           ('m-new', 'c1', 'ana@example.com', 'magic_link', 's', 'b', '2026-01-02T00:00:00.000Z', 'mb1'), \
           ('m-other', NULL, 'bob@example.com', 'test', 's', 'b', '2026-01-03T00:00:00.000Z', 'mb2');",
    )
    .expect("rows");
    let listed: Vec<String> = db
        .prepare(super::outbox::LIST_TO_SQL)
        .expect("list")
        .query_map(
            rusqlite::params![
                "9999-12-31T23:59:59.999Z",
                "~",
                10,
                "ana@example.com",
                "mb1"
            ],
            |r| r.get::<_, String>(0),
        )
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(listed, ["m-new", "m-old"]);
    let erased = super::erasure::Erased {
        id: "c1",
        mailbox_hash: "mb1",
    };
    run(&db, &super::erasure::erase_plan(&erased, None, "t"));
    let left: Vec<String> = db
        .prepare("SELECT id FROM outbox ORDER BY id")
        .expect("left")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(left, ["m-other"]);
}

/// Erasing a person unlinks their survey answers (found through their invitations, answered
/// before or after 0007) and closes their open survey links, so nothing they write later is
/// stored; other people's invitations and answers are untouched.
#[test]
fn erasure_unlinks_answers_through_invitations_and_closes_open_survey_links() {
    let db = fresh_database();
    db.execute_batch(
        "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) VALUES \
           ('c1', 'ana@example.com', 'h1', 'active', 'import', 't', 't'), \
           ('c2', 'bob@example.com', 'h2', 'active', 'import', 't', 't'); \
         INSERT INTO surveys (id, name, definition, created_at, updated_at) VALUES ('s1', 'S', '{}', 't', 't'); \
         INSERT INTO survey_invitations (id, survey_id, contact_id, token_hash, created_at, expires_at, answered_at, response_id) VALUES \
           ('i-answered', 's1', 'c1', 't1', '2026-01-01', '2099-01-01', '2026-01-02', 'r1'), \
           ('i-open', 's1', 'c1', 't2', '2026-01-01', '2099-01-01', NULL, NULL), \
           ('i-bob', 's1', 'c2', 't3', '2026-01-01', '2099-01-01', '2026-01-02', 'r2'); \
         INSERT INTO survey_responses (id, survey_id, invitation_id, contact_id, answers, nps, created_at) VALUES \
           ('r1', 's1', 'i-answered', 'c1', '{\"comment\":\"call me on 555\"}', 9, '2026-01-02'), \
           ('r2', 's1', 'i-bob', 'c2', '{\"comment\":\"fine\"}', 7, '2026-01-02');",
    )
    .expect("rows");
    let erased = super::erasure::Erased {
        id: "c1",
        mailbox_hash: "mb1",
    };
    run(
        &db,
        &super::erasure::erase_plan(&erased, Some("h1"), "2026-03-01T00:00:00.000Z"),
    );
    let rows = |sql: &str| -> Vec<String> {
        db.prepare(sql)
            .expect("prepare")
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(
        rows("SELECT id || ' ' || COALESCE(contact_id, '-') || ' ' || answers || ' ' || nps FROM survey_responses ORDER BY id"),
        ["r1 - {} 9", "r2 c2 {\"comment\":\"fine\"} 7"],
        "the answer is unlinked and emptied, its score kept; the other person's untouched"
    );
    assert_eq!(
        rows("SELECT id || ' ' || COALESCE(contact_id, '-') || ' ' || expires_at FROM survey_invitations ORDER BY id"),
        [
            "i-answered - 2026-03-01T00:00:00.000Z",
            "i-bob c2 2099-01-01",
            "i-open - 2026-03-01T00:00:00.000Z",
        ],
        "the person's links close at the erasure; the other person's stay open"
    );
}
