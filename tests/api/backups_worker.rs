//! Backups as the Worker takes them: on demand and nightly, one at a time, behind their scope,
//! sealed so that the bucket alone reveals nothing, and without any link that could still act
//! for someone. The restore drill (reading a backup back into a database) has stories of its own.
//!
//! Most stories run a Worker of their own on a fresh database (`on_fresh_base`), so they know
//! every row a backup should hold and no other story's backup runs meanwhile; they are serial
//! only to keep the machine for one runtime at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use clientela::domain::backup::{self, BackupKeys, Manifest, ObjectEntry};
use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{create_form, form_body, signed_up_and_confirmed, signup, submit};
use crate::harness::{
    audit_entries, r2_object_at, unique_email, with_backup_keys, Auth, TestApp, TestFn,
    BACKUP_KEYS, BACKUP_KEY_ID,
};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![a_key_without_the_backups_scope_can_neither_start_nor_list_backups]
}

pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        an_on_demand_backup_becomes_ready_and_lists_the_rows_of_every_table_the_base_holds,
        a_backup_asked_for_while_one_runs_is_refused_with_backup_running,
        a_worker_without_backup_keys_answers_backups_not_configured,
        the_backup_objects_hold_no_plaintext_email_and_open_with_the_backup_key,
        a_pending_messages_live_link_is_not_in_the_backup,
        the_daily_run_starts_the_nightly_backup_and_restarts_a_stalled_one,
        a_backup_asked_for_while_a_stalled_one_runs_is_refused_and_sets_the_stalled_one_going,
    ]
}

const BUCKET: &str = "clientela-backups";
const DAILY: &str = "/__scheduled?cron=17+3+*+*+*";

/// A Worker with backup keys on a fresh base holding a form and `people` confirmed contacts
/// (their emails returned): more than a page of three rows in most tables.
async fn base_with_people(tag: &str, app: &TestApp, people: usize) -> Result<Vec<String>, String> {
    let form = create_form(app, &form_body(true)).await?;
    let mut emails = Vec::new();
    for _ in 0..people {
        let email = unique_email(tag);
        signed_up_and_confirmed(app, &form, &email).await?;
        emails.push(email);
    }
    // The contact changes those signups queued are worked before anything is counted.
    app.queue_caught_up().await?;
    Ok(emails)
}

/// Starts a backup: its id.
async fn start(app: &TestApp) -> Result<String, String> {
    let doc = app
        .post_json("/admin/v1/backups", &json!({}), Auth::Admin)
        .await?
        .expect(202)?
        .json();
    ensure_eq!(doc["state"], "running", "a new backup: {doc}");
    doc["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no id in {doc}"))
}

/// Polls backup `id` until it is ready: its document then.
async fn ready(app: &TestApp, id: &str) -> Result<Value, String> {
    let status = || async {
        Ok::<Value, String>(
            app.get(&format!("/admin/v1/backups/{id}"), Auth::Admin)
                .await?
                .expect(200)?
                .json(),
        )
    };
    let done = app
        .eventually(Duration::from_secs(60), || async {
            let doc = status().await?;
            ensure!(doc["state"] != "failed", "the backup failed: {doc}");
            Ok((doc["state"] == "ready").then_some(doc))
        })
        .await;
    match done {
        Ok(doc) => Ok(doc),
        Err(e) => Err(format!("{e}; last seen {}", status().await?)),
    }
}

fn keys() -> Result<BackupKeys, String> {
    BackupKeys::parse(BACKUP_KEYS, BACKUP_KEY_ID).map_err(str::to_string)
}

/// Object `name` of the local bucket, with the objects a backup story reads.
fn fetch(app: &TestApp, name: &str) -> Result<Vec<u8>, String> {
    r2_object_at(&app.state, BUCKET, name)
}

/// An object as the bucket holds it: its manifest entry and sealed bytes.
type Fetched = (ObjectEntry, Vec<u8>);

/// Backup `id`'s manifest, opened with the test key, and the sealed objects of `tables` it
/// lists, each checked against the manifest's hash, fetched a few `wrangler r2 object get` at a
/// time (each is a process: a story reads only the tables it is about).
fn fetch_backup(
    app: &TestApp,
    id: &str,
    tables: &[&str],
) -> Result<(Manifest, Vec<Fetched>), String> {
    let name = backup::manifest_name(id);
    let plain =
        backup::open(&keys()?, &name, &fetch(app, &name)?).map_err(|e| format!("{name}: {e}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&plain).map_err(|e| format!("the manifest: {e}"))?;
    let wanted: Vec<&ObjectEntry> = manifest
        .objects
        .iter()
        .filter(|o| tables.contains(&o.table.as_str()))
        .collect();
    let mut fetched = Vec::new();
    for group in wanted.chunks(4) {
        let bytes: Vec<Result<Vec<u8>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|entry| scope.spawn(|| fetch(app, &entry.name)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a fetch panicked".into())))
                .collect()
        });
        for (entry, sealed) in group.iter().zip(bytes) {
            let sealed = sealed?;
            ensure_eq!(
                backup::sha256_hex(&sealed),
                entry.sha256,
                "{}: the manifest's hash",
                entry.name
            );
            fetched.push(((*entry).clone(), sealed));
        }
    }
    Ok((manifest, fetched))
}

/// The rows of a fetched object, opened with the test key: as many as the manifest says.
fn rows_of(entry: &ObjectEntry, sealed: &[u8]) -> Result<Vec<Value>, String> {
    let plain =
        backup::open(&keys()?, &entry.name, sealed).map_err(|e| format!("{}: {e}", entry.name))?;
    let rows: Vec<Value> = backup::decode_rows(&plain)?
        .into_iter()
        .map(Value::Object)
        .collect();
    ensure_eq!(rows.len() as u64, entry.rows, "{}: rows", entry.name);
    Ok(rows)
}

async fn an_on_demand_backup_becomes_ready_and_lists_the_rows_of_every_table_the_base_holds(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_runtime, own) = app
        .on_fresh_base("backup-counts", &with_backup_keys(&[]))
        .await?;
    base_with_people("bkcount", &own, 4).await?;
    let id = start(&own).await?;
    ready(&own, &id).await?;
    let list = own
        .get("/admin/v1/backups", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    let doc = list["backups"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["id"] == id.as_str()))
        .ok_or_else(|| format!("backup {id} not listed: {list}"))?
        .clone();
    ensure_eq!(doc["state"], "ready", "{doc}");
    ensure_eq!(doc["trigger"], "api", "{doc}");
    ensure_eq!(doc["key_id"], BACKUP_KEY_ID, "{doc}");
    ensure!(
        doc["duration_ms"].as_i64().is_some_and(|ms| ms >= 0),
        "a ready backup has a duration: {doc}"
    );
    ensure!(
        doc["bytes"].as_u64().unwrap_or(0) > 0 && doc["objects"].as_u64().unwrap_or(0) > 0,
        "a backup of a base with people holds objects: {doc}"
    );
    let listed: BTreeMap<String, u64> = doc["tables"]
        .as_array()
        .ok_or_else(|| format!("no tables: {doc}"))?
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["rows"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let expected: Vec<&str> = backup::TABLES.iter().map(|t| t.name).collect();
    ensure_eq!(
        listed.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut names = expected.clone();
            names.sort_unstable();
            names
        },
        "every table the backup copies is listed"
    );
    // Every table's rows as the base holds them now, in one query (one row, a column a table).
    let counts = backup::TABLES
        .iter()
        .map(|spec| {
            let only = spec.only.map_or(String::new(), |c| format!(" WHERE {c}"));
            format!("(SELECT COUNT(*) FROM {0}{only}) AS {0}", spec.name)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let row = own
        .sql_rows(&format!("SELECT {counts}"))?
        .first()
        .cloned()
        .ok_or("no counts")?;
    let held: BTreeMap<String, u64> = backup::TABLES
        .iter()
        .map(|spec| (spec.name.to_string(), row[spec.name].as_u64().unwrap_or(0)))
        .collect();
    for spec in backup::TABLES {
        // The run's own `backup.completed` is written after the audit log was read.
        let after = u64::from(spec.name == "audit_log");
        ensure_eq!(
            listed[spec.name],
            held[spec.name] - after,
            "rows of {} in the backup",
            spec.name
        );
    }
    ensure!(listed["contacts"] == 4, "the four people: {listed:?}");
    ensure_eq!(
        doc["rows"].as_u64(),
        Some(listed.values().sum::<u64>()),
        "the run's rows are its tables' rows"
    );
    for action in ["backup.requested", "backup.completed"] {
        ensure_eq!(
            audit_entries(&own, action, Some(&id)).await?.len(),
            1,
            "{action} is audited once"
        );
    }
    Ok(())
}

async fn a_backup_asked_for_while_one_runs_is_refused_with_backup_running(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_runtime, own) = app
        .on_fresh_base("backup-running", &with_backup_keys(&[]))
        .await?;
    // A run in progress, as a lost message would leave it: it never moves on by itself here.
    own.sql(
        "INSERT INTO backup_runs (id, state, trigger, started_at, updated_at, key_id, schema_version) \
         VALUES ('00000000-0000-7000-8000-00000000b0b0', 'running', 'api', \
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'test', 'x')",
    )?;
    own.post_json("/admin/v1/backups", &json!({}), Auth::Admin)
        .await?
        .expect_error(409, "backup_running")?;
    let runs = own
        .get("/admin/v1/backups", Auth::Admin)
        .await?
        .expect(200)?
        .json()["backups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure_eq!(
        runs.len(),
        1,
        "the refused request started nothing: {runs:?}"
    );
    let audit = own
        .get("/admin/v1/audit", Auth::Admin)
        .await?
        .expect(200)?
        .json();
    ensure!(
        audit["entries"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["action"] != "backup.requested")),
        "a refused request is not audited as requested: {audit}"
    );
    Ok(())
}

async fn a_key_without_the_backups_scope_can_neither_start_nor_list_backups(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let key = app
        .post_json(
            "/admin/v1/keys",
            &json!({"name": "everything but backups", "scopes": ["exports", "audit", "contacts:read"]}),
            Auth::Admin,
        )
        .await?
        .expect(201)?
        .json()["key"]
        .as_str()
        .map(str::to_string)
        .ok_or("no key")?;
    app.post_json("/admin/v1/backups", &json!({}), Auth::Bearer(&key))
        .await?
        .expect_error(403, "missing_scope")?;
    app.get("/admin/v1/backups", Auth::Bearer(&key))
        .await?
        .expect_error(403, "missing_scope")?;
    app.get("/admin/v1/backups/any", Auth::Bearer(&key))
        .await?
        .expect_error(403, "missing_scope")?;
    Ok(())
}

async fn a_worker_without_backup_keys_answers_backups_not_configured(
    app: Arc<TestApp>,
) -> Result<(), String> {
    // A redeploy has no backup keys unless it asks for them.
    let (_runtime, base) = app.redeployed(&[]).await?;
    let reply = app
        .send(
            app.client
                .post(format!("{base}/admin/v1/backups"))
                .json(&json!({})),
            Auth::Admin,
        )
        .await?
        .expect_error(409, "backups_not_configured")?;
    ensure!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("BACKUP_KEYS")),
        "the answer names the setting: {}",
        reply.text
    );
    Ok(())
}

async fn the_backup_objects_hold_no_plaintext_email_and_open_with_the_backup_key(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_runtime, own) = app
        .on_fresh_base("backup-sealed", &with_backup_keys(&[]))
        .await?;
    let emails = base_with_people("bksealed", &own, 4).await?;
    let id = start(&own).await?;
    let doc = ready(&own, &id).await?;
    // The tables that hold addresses, as anyone holding the bucket sees them: no key used yet.
    let (manifest, fetched) = fetch_backup(&own, &id, &["contacts", "outbox"])?;
    ensure_eq!(manifest.run_id, id, "the manifest's run");
    ensure_eq!(manifest.key_id, BACKUP_KEY_ID, "the manifest's key");
    ensure!(
        fetched.iter().any(|(o, _)| o.table == "contacts"),
        "no contacts object: {doc}"
    );
    for (entry, sealed) in &fetched {
        for email in &emails {
            ensure!(
                !sealed.windows(email.len()).any(|w| w == email.as_bytes()),
                "{} holds {email} in plain text",
                entry.name
            );
        }
        ensure_eq!(
            backup::key_id_of(sealed).as_deref(),
            Some(BACKUP_KEY_ID),
            "the key id in the header of {}",
            entry.name
        );
    }
    let mut copied = Vec::new();
    for (entry, sealed) in &fetched {
        let rows = rows_of(entry, sealed)?;
        if entry.table == "contacts" {
            copied.extend(
                rows.iter()
                    .filter_map(|r| r["email"].as_str().map(str::to_string)),
            );
        }
    }
    copied.sort();
    let mut expected = emails.clone();
    expected.sort();
    ensure_eq!(copied, expected, "the contacts the sealed objects hold");
    // Sealed under its name: an object moved to another name does not open.
    let (_, first) = fetched.first().ok_or("no object")?;
    ensure!(
        backup::open(&keys()?, &backup::object_name(&id, 999, &[0; 12]), first).is_err(),
        "an object opened under another name"
    );
    Ok(())
}

async fn a_pending_messages_live_link_is_not_in_the_backup(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_runtime, own) = app
        .on_fresh_base("backup-outbox", &with_backup_keys(&[]))
        .await?;
    let sent = base_with_people("bkoutbox", &own, 1).await?;
    // The mail relay refuses `down-*` addresses: this confirmation stays pending, its link live.
    let form = create_form(&own, &form_body(true)).await?;
    let down = unique_email("down-bkoutbox");
    submit(&own, &form, &signup(&down, "Dora"))
        .await?
        .expect(202)?;
    let pending = own
        .eventually(Duration::from_secs(20), || async {
            Ok(own
                .mail_to(&down)
                .await?
                .into_iter()
                .find(|m| m["url"].is_string()))
        })
        .await?;
    let link = pending["url"].as_str().unwrap_or_default().to_string();
    let token = link.split("t=").nth(1).unwrap_or_default().to_string();
    ensure!(token.len() > 10, "a live link with a token: {pending}");
    let id = start(&own).await?;
    ready(&own, &id).await?;
    let (_, fetched) = fetch_backup(&own, &id, &["outbox"])?;
    let mut outbox_ids = Vec::new();
    for (entry, sealed) in &fetched {
        for row in rows_of(entry, sealed)? {
            ensure!(
                !row.to_string().contains(&token),
                "a copied message holds the pending message's link token: {row}"
            );
            outbox_ids.push(row["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ensure!(
        !outbox_ids.iter().any(|m| pending["id"] == m.as_str()),
        "the pending message was copied"
    );
    let delivered = own
        .mail_to(&sent[0])
        .await?
        .into_iter()
        .find(|m| m["kind"] == "confirm")
        .ok_or("no confirmation sent")?;
    ensure!(
        outbox_ids.iter().any(|m| delivered["id"] == m.as_str()),
        "the sent confirmation is in the mail log copied: {outbox_ids:?}"
    );
    Ok(())
}

async fn the_daily_run_starts_the_nightly_backup_and_restarts_a_stalled_one(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_runtime, own) = app
        .on_fresh_base("backup-daily", &with_backup_keys(&[]))
        .await?;
    base_with_people("bkdaily", &own, 2).await?;
    // A run started yesterday whose message was lost 20 minutes ago: nothing moves it but the
    // daily run.
    let stalled = "00000000-0000-7000-8000-0000000057a1";
    lost_message(&own, stalled, "schedule", "-21 hours")?;
    own.get(DAILY, Auth::None).await?.expect(200)?;
    copied_two_contacts(&own, stalled).await?;
    // The newest run started 21 hours ago: the next daily run starts tonight's.
    own.get(DAILY, Auth::None).await?.expect(200)?;
    let nightly = own
        .eventually(Duration::from_secs(30), || async {
            let runs = own
                .get("/admin/v1/backups", Auth::Admin)
                .await?
                .expect(200)?
                .json()["backups"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            Ok(runs
                .into_iter()
                .find(|r| r["id"] != stalled && r["trigger"] == "schedule"))
        })
        .await?;
    let id = nightly["id"].as_str().ok_or("no id")?;
    ready(&own, id).await?;
    ensure_eq!(
        audit_entries(&own, "backup.requested", Some(id))
            .await?
            .first()
            .map(|e| e["actor"].clone()),
        Some(json!("system")),
        "the nightly run is requested by the system"
    );
    Ok(())
}

/// A run whose message was lost (an enqueue that failed after its commit) would block every
/// request with `409 backup_running` until the next daily run: the request itself restarts it.
async fn a_backup_asked_for_while_a_stalled_one_runs_is_refused_and_sets_the_stalled_one_going(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_runtime, own) = app
        .on_fresh_base("backup-stalled", &with_backup_keys(&[]))
        .await?;
    base_with_people("bkstall", &own, 2).await?;
    let stalled = "00000000-0000-7000-8000-0000000057a2";
    lost_message(&own, stalled, "api", "-1 hours")?;
    own.post_json("/admin/v1/backups", &json!({}), Auth::Admin)
        .await?
        .expect_error(409, "backup_running")?;
    copied_two_contacts(&own, stalled).await
}

/// A running run `id` (started `started` ago, by `trigger`) whose message was lost 20 minutes
/// ago: its row is all there is of it.
fn lost_message(app: &TestApp, id: &str, trigger: &str, started: &str) -> Result<(), String> {
    app.sql(&format!(
        "INSERT INTO backup_runs (id, state, trigger, started_at, updated_at, key_id, schema_version) \
         VALUES ('{id}', 'running', '{trigger}', \
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '{started}'), \
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-20 minutes'), 'test', '{}')",
        backup::SCHEMA_VERSION
    ))
}

/// Waits for run `id` to be ready and checks it copied the base's two contacts.
async fn copied_two_contacts(app: &TestApp, id: &str) -> Result<(), String> {
    let doc = ready(app, id).await?;
    ensure!(
        doc["tables"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "contacts" && t["rows"] == 2)),
        "the restarted run copied the base: {doc}"
    );
    Ok(())
}
