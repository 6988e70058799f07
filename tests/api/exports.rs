//! Segment exports that never truncate: a segment too large for one request is refused by the
//! direct export (409, never a short 200) and exported whole by the job, chunk by chunk through
//! the queue into R2, downloaded with a signed link that expires and cannot be forged.
//!
//! The segments here are written straight into the local D1 (hundreds of contacts, their
//! consents and memberships in one `wrangler d1 execute`), so every story is serial.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clientela::domain::keyring::Keyring;
use clientela::domain::link::{self, LinkPurpose};
use serde_json::{json, Value};

use crate::ensure;
use crate::ensure_eq;
use crate::given::run_tag;
use crate::harness::{audit_entries, Auth, Reply, TestApp, TestFn};

/// Tests that write the local D1 from a second process (see `harness::run`).
pub fn serial_tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        an_export_of_every_contact_has_exactly_the_segments_size_in_rows,
        the_direct_export_refuses_a_segment_too_large_for_one_invocation_instead_of_cutting_it_short,
        a_download_link_expires_and_cannot_be_forged,
        an_export_key_without_the_scope_cannot_start_or_read_exports,
        a_redelivered_export_chunk_writes_no_row_twice,
    ]
}

/// Members of the big segments: with `CHUNK_ROWS=3` and 50 queries a message, a chunk holds at
/// most 120 rows, so this is several chunks; one request can stream about 130.
const MANY: usize = 500;

/// A ready segment of `n` active, consenting contacts whose emails start with `tag`, written in
/// one go: (segment id, contact ids sorted).
fn segment_of(app: &TestApp, tag: &str, n: usize) -> Result<(String, Vec<String>), String> {
    // Ids sort like the contact ids the service makes (UUID-shaped, hex and dashes).
    let prefix: String = format!("{:08x}", rand_u32());
    let segment = format!("seg_{}{:08x}", prefix, rand_u32());
    let rule = json!({"field": "email", "op": "starts_with", "value": tag}).to_string();
    let sql = format!(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < {n}) \
         INSERT INTO contacts (id, email, email_hash, name, status, source, created_at, updated_at, confirmed_at) \
         SELECT printf('{prefix}-0000-7000-8000-%012d', i), printf('{tag}-%04d@example.com', i), \
           printf('{tag}-hash-%d', i), printf('Person %d', i), 'active', 'import', \
           '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM k; \
         INSERT INTO consents (contact_id, purpose, granted, policy_version, updated_at) \
           SELECT id, 'marketing_email', 1, '2026-01', created_at FROM contacts WHERE id LIKE '{prefix}-%'; \
         INSERT INTO segments (id, name, rule, purpose, version, size, state, computed_at, created_at, updated_at) \
           VALUES ('{segment}', 'Everyone {tag}', '{rule}', 'marketing_email', 1, {n}, 'ready', \
             '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'); \
         INSERT INTO segment_members (segment_id, contact_id, since) \
           SELECT '{segment}', id, created_at FROM contacts WHERE id LIKE '{prefix}-%';"
    );
    app.sql(&sql)?;
    let ids: Vec<String> = (0..n)
        .map(|i| format!("{prefix}-0000-7000-8000-{i:012}"))
        .collect();
    Ok((segment, ids))
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

async fn start(app: &TestApp, segment: &str, body: Value) -> Result<String, String> {
    let reply = app
        .post_json(
            &format!("/admin/v1/segments/{segment}/exports"),
            &body,
            Auth::Admin,
        )
        .await?
        .expect(202)?;
    let doc = reply.json();
    ensure_eq!(doc["state"], "queued", "a new export: {doc}");
    doc["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no id in {doc}"))
}

/// Polls the export until it is ready; its document then.
async fn ready(app: &TestApp, id: &str) -> Result<Value, String> {
    let status = || async {
        Ok::<Value, String>(
            app.get(&format!("/admin/v1/exports/{id}"), Auth::Admin)
                .await?
                .expect(200)?
                .json(),
        )
    };
    let done = app
        .eventually(Duration::from_secs(90), || async {
            let doc = status().await?;
            ensure!(doc["state"] != "failed", "the export failed: {doc}");
            Ok((doc["state"] == "ready").then_some(doc))
        })
        .await;
    match done {
        Ok(doc) => Ok(doc),
        Err(e) => Err(format!("{e}; last seen {}", status().await?)),
    }
}

/// The download URL's path and query, to fetch from the runtime under test.
fn download_path(doc: &Value) -> Result<String, String> {
    let url = doc["download_url"]
        .as_str()
        .ok_or_else(|| format!("a ready export without a download_url: {doc}"))?;
    let at = url.find("/v1/exports/").ok_or("not a download URL")?;
    Ok(url[at..].to_string())
}

/// The contact ids of a CSV export whose first column is `contact_id`, header checked.
fn csv_ids(reply: &Reply) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new().from_reader(reply.text.as_bytes());
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    ensure_eq!(header.get(0), Some("contact_id"), "the header: {header:?}");
    let mut ids = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("a broken CSV row: {e}"))?;
        ids.push(record.get(0).unwrap_or_default().to_string());
    }
    Ok(ids)
}

async fn an_export_of_every_contact_has_exactly_the_segments_size_in_rows(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("bigexport");
    let (segment, members) = segment_of(&app, &tag, MANY)?;
    let id = start(
        &app,
        &segment,
        json!({"format": "csv", "columns": ["contact_id", "email"]}),
    )
    .await?;
    let doc = ready(&app, &id).await?;
    ensure_eq!(doc["rows"], MANY, "rows counted by the job: {doc}");
    ensure_eq!(doc["total"], MANY, "the progress bar's end: {doc}");
    ensure!(
        doc["chunks"].as_u64().unwrap_or(0) >= 3,
        "{MANY} members should take several chunks: {doc}"
    );
    let file = app
        .get(&download_path(&doc)?, Auth::None)
        .await?
        .expect(200)?;
    ensure!(
        file.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv")),
        "content type {:?}",
        file.header("content-type")
    );
    ensure!(
        file.header("content-disposition")
            .is_some_and(|d| d.contains("attachment; filename=") && d.contains(".csv")),
        "disposition {:?}",
        file.header("content-disposition")
    );
    ensure_eq!(
        file.text.matches("contact_id,email").count(),
        1,
        "the header comes once, in the first chunk"
    );
    let ids = csv_ids(&file)?;
    ensure_eq!(ids.len(), MANY, "rows in the downloaded file");
    let unique: BTreeSet<&String> = ids.iter().collect();
    ensure_eq!(unique.len(), MANY, "distinct contacts in the file");
    let want: BTreeSet<&String> = members.iter().collect();
    ensure_eq!(
        unique,
        want,
        "the file's contacts are the segment's members"
    );
    // Keyset order: the chunks come back in the order they were written.
    ensure!(ids.windows(2).all(|w| w[0] < w[1]), "rows out of order");
    ensure_eq!(doc["bytes"], file.text.len(), "bytes counted by the job");

    // The same members as NDJSON.
    let nd = start(
        &app,
        &segment,
        json!({"format": "ndjson", "columns": ["contact_id"]}),
    )
    .await?;
    let doc = ready(&app, &nd).await?;
    let file = app
        .get(&download_path(&doc)?, Auth::None)
        .await?
        .expect(200)?;
    ensure!(
        file.header("content-type")
            .is_some_and(|t| t.starts_with("application/x-ndjson")),
        "content type {:?}",
        file.header("content-type")
    );
    let lines: Vec<Value> = file
        .text
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}")))
        .collect::<Result<_, _>>()?;
    let nd_ids: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["contact_id"].as_str().map(str::to_string))
        .collect();
    ensure_eq!(lines.len(), MANY, "NDJSON lines");
    ensure_eq!(nd_ids.len(), MANY, "distinct contacts in the NDJSON file");

    // Asking and downloading are both in the audit log.
    ensure_eq!(
        audit_entries(&app, "segment.export.job.csv", Some(&segment))
            .await?
            .len(),
        1,
        "the export job is audited"
    );
    ensure!(
        !audit_entries(&app, "segment.export.download", Some(&segment))
            .await?
            .is_empty(),
        "the download is audited"
    );
    Ok(())
}

async fn the_direct_export_refuses_a_segment_too_large_for_one_invocation_instead_of_cutting_it_short(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("toolarge");
    let (segment, _) = segment_of(&app, &tag, MANY)?;
    for query in ["", "?format=ndjson", "?columns=email"] {
        let refused = app
            .get(
                &format!("/admin/v1/segments/{segment}/export.csv{query}"),
                Auth::Admin,
            )
            .await?
            .expect_error(409, "export_too_large")?;
        let message = refused.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(
            message.contains(&format!("POST /admin/v1/segments/{segment}/exports")),
            "the refusal points at the export job: {message}"
        );
    }
    // A small segment still streams whole, as before.
    let small_tag = run_tag("smallexport");
    let (small, members) = segment_of(&app, &small_tag, 7)?;
    let csv = app
        .get(
            &format!("/admin/v1/segments/{small}/export.csv?columns=contact_id"),
            Auth::Admin,
        )
        .await?
        .expect(200)?;
    ensure_eq!(csv_ids(&csv)?, members, "the small segment's export");
    Ok(())
}

/// The link key as the Worker under test derives it, from `.dev.vars`.
fn keyring() -> Result<Keyring, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let vars = std::fs::read_to_string(root.join(".dev.vars")).map_err(|e| e.to_string())?;
    let secret = vars
        .lines()
        .find_map(|l| l.strip_prefix("TOKEN_SECRET="))
        .ok_or("TOKEN_SECRET missing from .dev.vars")?;
    Keyring::new(secret.trim(), "1", "").map_err(str::to_string)
}

async fn a_download_link_expires_and_cannot_be_forged(app: Arc<TestApp>) -> Result<(), String> {
    let tag = run_tag("exportlink");
    let (segment, _) = segment_of(&app, &tag, 4)?;
    let id = start(&app, &segment, json!({})).await?;
    let doc = ready(&app, &id).await?;
    let path = download_path(&doc)?;
    app.get(&path, Auth::None).await?.expect(200)?;
    let expires = doc["download_expires_at"].as_str().unwrap_or_default();
    let in_a_day = chrono::Utc::now() + chrono::Duration::hours(24);
    let parsed = chrono::DateTime::parse_from_rfc3339(expires)
        .map_err(|e| format!("download_expires_at {expires}: {e}"))?;
    ensure!(
        (parsed.with_timezone(&chrono::Utc) - in_a_day)
            .num_seconds()
            .abs()
            < 120,
        "the link should expire in 24 h: {expires}"
    );

    let keys = keyring()?;
    let now = chrono::Utc::now();
    let url = |token: &str| format!("/v1/exports/{id}/download?t={token}");
    // Issued 23 h ago it still works; 25 h ago it is over.
    let fresh = link::sign(
        &keys,
        &id,
        LinkPurpose::ExportDownload,
        0,
        now - chrono::Duration::hours(23),
    );
    app.get(&url(&fresh), Auth::None).await?.expect(200)?;
    let stale = link::sign(
        &keys,
        &id,
        LinkPurpose::ExportDownload,
        0,
        now - chrono::Duration::hours(25),
    );
    app.get(&url(&stale), Auth::None)
        .await?
        .expect_error(410, "link_invalid")?;

    // Forged: a changed signature, another export's id, another purpose's link.
    let token = path.split("t=").nth(1).ok_or("no token")?.to_string();
    let flipped = if token.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{flipped}", &token[..token.len() - 1]);
    app.get(&url(&forged), Auth::None)
        .await?
        .expect_error(410, "link_invalid")?;
    let other = start(&app, &segment, json!({})).await?;
    app.get(
        &format!("/v1/exports/{other}/download?t={token}"),
        Auth::None,
    )
    .await?
    .expect_error(410, "link_invalid")?;
    let preferences = link::sign(&keys, &id, LinkPurpose::Preferences, 0, now);
    app.get(&url(&preferences), Auth::None)
        .await?
        .expect_error(410, "link_invalid")?;
    app.get(&format!("/v1/exports/{id}/download"), Auth::None)
        .await?
        .expect_error(400, "validation_failed")?;

    // Deleted after its 7 days, a genuine fresh link leads nowhere.
    app.sql(&format!("DELETE FROM exports WHERE id = '{id}'"))?;
    app.get(&path, Auth::None)
        .await?
        .expect_error(410, "link_invalid")?;
    app.get(&format!("/admin/v1/exports/{id}"), Auth::Admin)
        .await?
        .expect_error(404, "not_found")?;
    Ok(())
}

async fn an_export_key_without_the_scope_cannot_start_or_read_exports(
    app: Arc<TestApp>,
) -> Result<(), String> {
    let tag = run_tag("exportscope");
    let (segment, _) = segment_of(&app, &tag, 3)?;
    let key = |scopes: Value| {
        let app = app.clone();
        async move {
            let created = app
                .post_json(
                    "/admin/v1/keys",
                    &json!({"name": "export scope", "scopes": scopes}),
                    Auth::Admin,
                )
                .await?
                .expect(201)?
                .json();
            created["key"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no key in {created}"))
        }
    };
    let segments_only = key(json!(["segments", "contacts:read"])).await?;
    let exporter = key(json!(["exports"])).await?;
    let start_path = format!("/admin/v1/segments/{segment}/exports");
    let refused = app
        .post_json(&start_path, &json!({}), Auth::Bearer(&segments_only))
        .await?
        .expect_error(403, "missing_scope")?;
    ensure!(
        refused.text.contains("exports"),
        "the refusal names the scope: {}",
        refused.text
    );
    let started = app
        .post_json(
            &start_path,
            &json!({"format": "csv"}),
            Auth::Bearer(&exporter),
        )
        .await?
        .expect(202)?
        .json();
    let id = started["id"].as_str().ok_or("no id")?;
    app.get(
        &format!("/admin/v1/exports/{id}"),
        Auth::Bearer(&segments_only),
    )
    .await?
    .expect_error(403, "missing_scope")?;
    app.get(&format!("/admin/v1/exports/{id}"), Auth::None)
        .await?
        .expect_error(401, "unauthorized")?;
    let doc = ready(&app, id).await?;
    ensure_eq!(doc["rows"], 3, "{doc}");
    app.get(&format!("/admin/v1/exports/{id}"), Auth::Bearer(&exporter))
        .await?
        .expect(200)?;
    // Bad requests are the documented 400s.
    for (body, field) in [
        (json!({"format": "xlsx"}), "format"),
        (json!({"columns": ["password"]}), "columns"),
        (json!({"columns": []}), "columns"),
        (json!({"columns": ["email,name"]}), "columns"),
        (json!({"format": null}), "format"),
        (json!({"columns": null}), "columns"),
    ] {
        let reply = app
            .post_json(&start_path, &body, Auth::Bearer(&exporter))
            .await?
            .expect_error(400, "validation_failed")?;
        ensure!(
            reply.json()["error"]["fields"][field].is_string(),
            "{body}: {}",
            reply.text
        );
    }
    app.post_json(
        "/admin/v1/segments/seg_missing/exports",
        &json!({}),
        Auth::Bearer(&exporter),
    )
    .await?
    .expect_error(404, "not_found")?;
    Ok(())
}

const FAULTS_TABLE: &str = "CREATE TABLE IF NOT EXISTS queue_faults (kind TEXT PRIMARY KEY, \
     remaining INTEGER NOT NULL DEFAULT 0, crash_after INTEGER, job TEXT, message_id TEXT)";

/// Disarms the queue faults however the story ends.
struct Disarm<'a>(&'a TestApp);

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .sql(&format!("{FAULTS_TABLE}; DELETE FROM queue_faults"));
    }
}

async fn a_redelivered_export_chunk_writes_no_row_twice(app: Arc<TestApp>) -> Result<(), String> {
    let tag = run_tag("crashexport");
    let (segment, members) = segment_of(&app, &tag, MANY)?;
    // The next eight batches work every message (the new chunk written and committed, the next
    // one queued; the chunks already committed met again), then die before acking: every
    // message comes back after its commit, beside the continuation it queued. Eight, so that no
    // message can pass `max_retries` and reach the dead letters.
    let guard = Disarm(&app);
    app.sql(&format!(
        "{FAULTS_TABLE}; DELETE FROM queue_faults; \
         INSERT INTO queue_faults (kind, remaining, crash_after) VALUES ('crash', 8, 25)"
    ))?;
    let id = start(&app, &segment, json!({"columns": ["contact_id"]})).await?;
    let doc = ready(&app, &id).await?;
    let left = app.sql_rows("SELECT remaining FROM queue_faults WHERE kind = 'crash'")?;
    drop(guard);
    ensure!(
        left.first()
            .is_some_and(|r| r["remaining"].as_i64() < Some(8)),
        "no batch crashed, so the story met no redelivery: {left:?}"
    );
    ensure_eq!(doc["rows"], MANY, "rows counted: {doc}");
    let file = app
        .get(&download_path(&doc)?, Auth::None)
        .await?
        .expect(200)?;
    let ids = csv_ids(&file)?;
    ensure_eq!(ids.len(), MANY, "rows in the file");
    ensure_eq!(ids, members, "every member once, in order");
    Ok(())
}
