//! The restore without wrangler: backups sealed here with the format's own `seal` from the rows of
//! an in-memory SQLite, a map standing in for the bucket, and the SQL files run on another SQLite.

use std::collections::HashMap;

use clientela::domain::backup::{
    self, BackupKeys, Manifest, ObjectEntry, TableCount, SCHEMA_VERSION, TABLES,
};
use clientela::store::sqlite::fresh_database;
use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::rebuild;
use crate::sqlfile;
use crate::verify::{self, Bucket};

const KEY: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OTHER_KEY: &str = "k1:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const STARTED: &str = "2026-06-01T00:00:00.000Z";

struct Objects(HashMap<String, Vec<u8>>);

impl Bucket for Objects {
    fn get(&self, name: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name}: no such object"))
    }
}

fn keys() -> BackupKeys {
    BackupKeys::parse(KEY, "k1").unwrap()
}

/// A small base: three people with consents, consent events, a segment with members, a sent
/// message with its mailbox HMAC, a survey answer; the third person's row deleted without its
/// children, as a person erased between the backup's read of `contacts` and of the others.
fn base() -> Connection {
    let db = fresh_database();
    db.execute_batch(
        "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) VALUES \
           ('c1', 'ana@example.com', 'h1', 'active', 'import', 't', 't'), \
           ('c2', 'bob@example.com', 'h2', 'active', 'import', 't', 't'), \
           ('c3', 'cy@example.com', 'h3', 'active', 'import', 't', 't'); \
         INSERT INTO consents (contact_id, purpose, granted, updated_at) VALUES \
           ('c1', 'marketing_email', 1, 't'), ('c2', 'marketing_email', 1, 't'), ('c3', 'marketing_email', 1, 't'); \
         INSERT INTO consent_events (id, contact_id, purpose, action, source, method, ip_hash, user_agent, at) VALUES \
           ('e1', 'c1', 'marketing_email', 'granted', 'import', 'import', 'ip1', 'ua', '2026-01-01'), \
           ('e2', 'c2', 'marketing_email', 'granted', 'import', 'import', 'ip2', 'ua', '2026-01-01'); \
         INSERT INTO segments (id, name, rule, size, state, created_at, updated_at) VALUES ('s1', 'All', '{}', 3, 'ready', 't', 't'); \
         INSERT INTO segment_members (segment_id, contact_id, since) VALUES ('s1', 'c1', 't'), ('s1', 'c2', 't'), ('s1', 'c3', 't'); \
         INSERT INTO contact_stats (contact_id, avg_csat, updated_at) VALUES ('c1', 4.5, 't'), ('c2', 4.0, 't'); \
         INSERT INTO outbox (id, contact_id, to_email, kind, subject, body_text, created_at, sent_at, mailbox_hash) VALUES \
           ('m1', 'c2', 'bob@example.com', 'confirm', 's', 'b', '2026-01-01', '2026-01-01', 'mb2'); \
         PRAGMA foreign_keys = OFF; \
         DELETE FROM contacts WHERE id = 'c3';",
    )
    .unwrap();
    db
}

fn json_rows(db: &Connection, sql: &str) -> Vec<Value> {
    let mut s = db.prepare(sql).unwrap();
    let names: Vec<String> = s.column_names().iter().map(|n| n.to_string()).collect();
    s.query_map([], |r| {
        let mut row = Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = match r.get::<_, Sql>(i)? {
                Sql::Null => Value::Null,
                Sql::Integer(n) => Value::from(n),
                Sql::Real(f) => Value::from(f),
                Sql::Text(t) => Value::from(t),
                Sql::Blob(b) => Value::from(hex::encode(b)),
            };
            row.insert(name.clone(), v);
        }
        Ok(Value::Object(row))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A backup of `db` as the Worker writes one: a sealed object per table with rows (at most
/// `per_object` rows each), then the sealed manifest.
fn backup_of(db: &Connection, run: &str, schema_version: &str) -> Objects {
    let keys = keys();
    let mut objects = HashMap::new();
    let mut manifest = Manifest {
        format: 1,
        run_id: run.into(),
        started_at: STARTED.into(),
        finished_at: STARTED.into(),
        schema_version: schema_version.into(),
        key_id: "k1".into(),
        tables: Vec::new(),
        objects: Vec::new(),
    };
    let mut seq = 0;
    for spec in TABLES {
        // A table newer than the database's schema is not in its backup.
        let exists: bool = db
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [spec.name],
                |r| r.get(0),
            )
            .unwrap();
        if !exists {
            continue;
        }
        let only = spec.only.map_or(String::new(), |c| format!(" WHERE {c}"));
        let rows = json_rows(db, &format!("SELECT * FROM {}{only}", spec.name));
        manifest.tables.push(TableCount {
            name: spec.name.into(),
            rows: rows.len() as u64,
            high_water: None,
        });
        for chunk in rows.chunks(2) {
            seq += 1;
            let nonce = backup::nonce().unwrap();
            let name = backup::object_name(run, seq, &nonce);
            let sealed = backup::seal(&keys, &name, &backup::encode_rows(chunk), nonce).unwrap();
            manifest.objects.push(ObjectEntry {
                name: name.clone(),
                table: spec.name.into(),
                rows: chunk.len() as u64,
                bytes: sealed.len() as u64,
                sha256: backup::sha256_hex(&sealed),
            });
            objects.insert(name, sealed);
        }
    }
    let name = backup::manifest_name(run);
    let plain = serde_json::to_vec(&manifest).unwrap();
    objects.insert(
        name.clone(),
        backup::seal(&keys, &name, &plain, backup::nonce().unwrap()).unwrap(),
    );
    Objects(objects)
}

fn strings(db: &Connection, sql: &str) -> Vec<String> {
    db.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn rebuilt(objects: &Objects, erasures: &[rebuild::Erasure]) -> (Connection, Vec<(String, u64)>) {
    let checked = verify::check(objects, KEY, "run1").unwrap();
    let db = rebuild::schema_at(&checked.manifest.schema_version).unwrap();
    for (table, rows) in &checked.tables {
        rebuild::load(&db, table, rows).unwrap();
    }
    rebuild::migrate_after(&db, &checked.manifest.schema_version).unwrap();
    let orphans = rebuild::drop_orphans(&db).unwrap();
    rebuild::replay(&db, erasures).unwrap();
    (db, orphans)
}

#[test]
fn a_checked_backup_loads_back_through_bounded_files_with_the_same_rows() {
    let source = base();
    let objects = backup_of(&source, "run1", SCHEMA_VERSION);
    let (db, _) = rebuilt(&objects, &[]);
    let dir = std::env::temp_dir().join(format!("restore-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = sqlfile::Files::new(&dir, sqlfile::D1);
    for spec in TABLES {
        sqlfile::write_table(&db, spec.name, &mut files).unwrap();
        files.flush().unwrap();
    }
    let target = fresh_database();
    target.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    for file in &files.written {
        target
            .execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (sql, expected) in [
        ("SELECT id FROM contacts ORDER BY id", vec!["c1", "c2"]),
        (
            "SELECT contact_id FROM segment_members ORDER BY contact_id",
            vec!["c1", "c2"],
        ),
        (
            "SELECT contact_id || ' ' || typeof(avg_csat) || ' ' || avg_csat FROM contact_stats ORDER BY 1",
            vec!["c1 real 4.5", "c2 real 4.0"],
        ),
        ("SELECT id FROM outbox", vec!["m1"]),
    ] {
        assert_eq!(strings(&target, sql), expected, "{sql}");
    }
}

#[test]
fn an_altered_object_is_refused() {
    let mut objects = backup_of(&base(), "run1", SCHEMA_VERSION);
    let name = objects
        .0
        .keys()
        .find(|n| n.starts_with("backups/run1/000001-"))
        .unwrap()
        .clone();
    let sealed = objects.0.get_mut(&name).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    let refused = verify::check(&objects, KEY, "run1")
        .err()
        .expect("the altered object was restored");
    assert!(
        refused.contains("altered") && refused.contains(&name),
        "{refused}"
    );
}

#[test]
fn a_wrong_key_is_refused_and_so_is_a_missing_one() {
    let objects = backup_of(&base(), "run1", SCHEMA_VERSION);
    let refused = verify::check(&objects, OTHER_KEY, "run1")
        .err()
        .expect("a wrong key with the right id was accepted");
    assert!(refused.contains("k1"), "{refused}");
    let other_id = OTHER_KEY.replace("k1:", "k2:");
    let refused = verify::check(&objects, &other_id, "run1")
        .err()
        .expect("a key id the backup was not sealed under was accepted");
    assert!(
        refused.contains("k1") && refused.contains("BACKUP_KEYS"),
        "{refused}"
    );
}

#[test]
fn a_backup_of_a_newer_schema_is_refused() {
    let objects = backup_of(&base(), "run1", "9999_from_the_future.sql");
    let refused = verify::check(&objects, KEY, "run1")
        .err()
        .expect("a backup of a newer schema was accepted");
    assert!(refused.contains("newer"), "{refused}");
}

#[test]
fn rows_whose_parent_went_while_the_backup_ran_are_dropped() {
    let (db, orphans) = rebuilt(&backup_of(&base(), "run1", SCHEMA_VERSION), &[]);
    let mut orphans = orphans;
    orphans.sort();
    assert_eq!(
        orphans,
        [
            ("consents".to_string(), 1),
            ("segment_members".to_string(), 1)
        ]
    );
    assert_eq!(
        strings(&db, "SELECT contact_id FROM segment_members ORDER BY 1"),
        ["c1", "c2"]
    );
    let violations: i64 = db
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(violations, 0);
}

#[test]
fn an_erasure_recorded_after_the_backup_started_is_applied_again() {
    // What the live database says: bob erased after the backup began (the register's request
    // and the suppression, one batch, one time), and an older erasure the backup already holds.
    let at = "2026-06-01T00:05:00.000Z";
    let request = serde_json::json!({
        "id": "req1", "contact_id": "c2", "kind": "erasure", "channel": "self_service",
        "reason": null, "received_at": at, "due_at": "2026-07-01T00:05:00.000Z",
        "completed_at": at, "actor": "self"
    });
    let suppression = serde_json::json!({"email_hash": "h2", "at": at});
    let erasures = rebuild::erasures(
        &[request.as_object().unwrap().clone()],
        &[suppression.as_object().unwrap().clone()],
    );
    assert_eq!(
        erasures.len(),
        1,
        "the request and its suppression are one erasure"
    );
    let (db, _) = rebuilt(&backup_of(&base(), "run1", SCHEMA_VERSION), &erasures);
    assert_eq!(strings(&db, "SELECT id FROM contacts"), ["c1"]);
    for table in ["consents", "segment_members", "contact_stats"] {
        assert_eq!(
            strings(&db, &format!("SELECT contact_id FROM {table} ORDER BY 1")),
            ["c1"],
            "{table}"
        );
    }
    assert_eq!(strings(&db, "SELECT id FROM outbox"), Vec::<String>::new());
    assert_eq!(
        strings(&db, "SELECT email_hash || ' ' || reason FROM suppressions"),
        ["h2 erased"]
    );
    assert_eq!(
        strings(
            &db,
            "SELECT id || ' ' || COALESCE(email_hash, '-') || ' ' || COALESCE(ip_hash, '-') FROM consent_events ORDER BY id"
        ),
        ["e1 - ip1", "e2 h2 -"],
        "bob's consent proof stays as the erasure leaves it: his email's HMAC, no IP"
    );
    assert_eq!(
        strings(&db, "SELECT id || ' ' || contact_id FROM privacy_requests"),
        ["req1 c2"]
    );
}

#[test]
fn an_erasure_known_only_by_its_suppression_still_erases_the_person() {
    let suppression = serde_json::json!({"email_hash": "h1", "at": "2026-06-02T00:00:00.000Z"});
    let erasures = rebuild::erasures(&[], &[suppression.as_object().unwrap().clone()]);
    let (db, _) = rebuilt(&backup_of(&base(), "run1", SCHEMA_VERSION), &erasures);
    assert_eq!(strings(&db, "SELECT id FROM contacts"), ["c2"]);
    assert_eq!(strings(&db, "SELECT email_hash FROM suppressions"), ["h1"]);
}

#[test]
fn a_backup_at_an_older_schema_is_brought_to_todays() {
    // The rows of a database at the previous migration, restored by this tool.
    let (previous, _) =
        clientela::store::sqlite::MIGRATIONS[clientela::store::sqlite::MIGRATIONS.len() - 2];
    let old = rebuild::schema_at(previous).unwrap();
    old.execute_batch(
        "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
           VALUES ('c1', 'ana@example.com', 'h1', 'active', 'import', 't', 't');",
    )
    .unwrap();
    let objects = backup_of(&old, "run1", previous);
    let (db, _) = rebuilt(&objects, &[]);
    assert_eq!(strings(&db, "SELECT id FROM contacts"), ["c1"]);
}

#[test]
fn an_erasure_the_backup_itself_records_is_applied_again_without_the_live_database() {
    // Bob was erased while the run copied: after `contacts` was read (he is in it), before the
    // register and the suppressions were (they are read last, to their end). Ana's erasure
    // request is older than the backup and names someone the backup still holds only because
    // she came back: it must not erase her again.
    let live = base();
    live.execute_batch(
        "INSERT INTO privacy_requests (id, contact_id, kind, channel, received_at, due_at, completed_at, actor) VALUES \
           ('req2', 'c2', 'erasure', 'self_service', '2026-06-01T00:03:00.000Z', '2026-06-16T00:03:00.000Z', '2026-06-01T00:03:00.000Z', 'self'), \
           ('req0', 'c1', 'erasure', 'self_service', '2026-05-01T00:00:00.000Z', '2026-05-16T00:00:00.000Z', '2026-05-01T00:00:00.000Z', 'self'); \
         INSERT INTO suppressions (email_hash, reason, at) VALUES ('h2', 'erased', '2026-06-01T00:03:00.000Z');",
    )
    .unwrap();
    let (db, _) = rebuilt(&backup_of(&live, "run1", SCHEMA_VERSION), &[]);
    let within = rebuild::erasures_within(&db, STARTED).unwrap();
    assert_eq!(within.len(), 1, "bob's, not ana's older one: {within:?}");
    let present = rebuild::still_present(&db, &within).unwrap();
    rebuild::replay(&db, &present).unwrap();
    assert_eq!(strings(&db, "SELECT id FROM contacts"), ["c1"]);
    assert_eq!(
        strings(&db, "SELECT contact_id FROM consents ORDER BY 1"),
        ["c1"]
    );
    assert_eq!(
        strings(&db, "SELECT id FROM privacy_requests ORDER BY 1"),
        ["req0", "req2"],
        "the register as it was, once each"
    );
}

#[test]
fn a_key_revoked_and_a_webhook_deleted_after_the_backup_stay_so() {
    let live = base();
    live.execute_batch(
        "INSERT INTO api_keys (id, hash, prefix, name, scopes, created_at) VALUES \
           ('key_1', 'kh1', 'ck_1', 'relay', '[\"outbox\"]', 't'), \
           ('key_2', 'kh2', 'ck_2', 'crm', '[\"contacts:read\"]', 't');",
    )
    .unwrap();
    let webhook_columns = strings(
        &live,
        "SELECT name FROM pragma_table_info('webhooks') \
         WHERE name = 'id' OR (\"notnull\" = 1 AND dflt_value IS NULL)",
    );
    let values: Vec<String> = webhook_columns
        .iter()
        .map(|c| match c.as_str() {
            "id" => "'whk_1'".to_string(),
            "secret" => "'whsec_x'".to_string(),
            "events" => "'[]'".to_string(),
            _ => "'x'".to_string(),
        })
        .collect();
    live.execute_batch(&format!(
        "INSERT INTO webhooks ({}) VALUES ({})",
        webhook_columns.join(", "),
        values.join(", ")
    ))
    .unwrap();
    let (db, _) = rebuilt(&backup_of(&live, "run1", SCHEMA_VERSION), &[]);
    let row = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect::<Map<String, Value>>()
    };
    let changed = rebuild::switch_off(
        &db,
        &[row(&[
            ("id", "key_2"),
            ("revoked_at", "2026-06-02T00:00:00.000Z"),
        ])],
        &[row(&[
            ("id", "whk_1"),
            ("deleted_at", "2026-06-02T00:00:00.000Z"),
        ])],
    )
    .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(
        strings(&db, "SELECT id FROM api_keys WHERE revoked_at IS NULL"),
        ["key_1"]
    );
    assert_eq!(
        strings(
            &db,
            "SELECT id || ' ' || secret || ' ' || COALESCE(disabled_at, '-') FROM webhooks WHERE deleted_at IS NOT NULL"
        ),
        ["whk_1  2026-06-02T00:00:00.000Z"]
    );
}

#[test]
fn a_remote_restore_says_whether_the_live_database_exists() {
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let refused = crate::parse(&args("run1 --target clientela-restored")).unwrap_err();
    assert!(refused.contains("--source"), "{refused}");
    let o = crate::parse(&args("run1 --target clientela-restored --source none")).unwrap();
    assert_eq!(o.source, None);
}

#[test]
fn options_name_the_places() {
    use crate::wrangler::{Database, Place};
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let o = crate::parse(&args("run1 --target-state /t --state /s")).unwrap();
    assert_eq!(
        o.target,
        Database {
            name: "DB".into(),
            place: Place::Local(Some("/t".into()))
        }
    );
    assert_eq!(o.source.unwrap().place, Place::Local(Some("/s".into())));
    assert_eq!(o.bucket, Place::Local(Some("/s".into())));
    let o = crate::parse(&args("run1 --target clientela-restored --source clientela")).unwrap();
    assert_eq!(o.target.place, Place::Remote);
    assert_eq!(o.source.unwrap().name, "clientela");
    assert_eq!(o.bucket, Place::Remote);
    assert!(
        crate::parse(&args("run1")).is_err(),
        "local into local: the same database"
    );
    assert!(crate::parse(&args("../x --target-state /t")).is_err());
}

#[test]
fn an_erasure_of_an_earlier_life_leaves_the_person_who_came_back() {
    // Ana was erased (as contact c-old) and signed up again as c1, all with her one address.
    let request = serde_json::json!({
        "id": "req0", "contact_id": "c-old", "kind": "erasure", "channel": "self_service",
        "reason": null, "received_at": "2026-06-01T00:01:00.000Z",
        "due_at": "2026-07-01T00:01:00.000Z", "completed_at": "2026-06-01T00:01:00.000Z",
        "actor": "self"
    });
    let suppression = serde_json::json!({"email_hash": "h1", "at": "2026-06-01T00:01:00.000Z"});
    let erasures = rebuild::erasures(
        &[request.as_object().unwrap().clone()],
        &[suppression.as_object().unwrap().clone()],
    );
    let (db, _) = rebuilt(&backup_of(&base(), "run1", SCHEMA_VERSION), &erasures);
    assert_eq!(
        strings(&db, "SELECT id FROM contacts ORDER BY id"),
        ["c1", "c2"]
    );
}
