//! `clientela-restore`: loads one encrypted backup (`src/domain/backup`) into an empty D1
//! database. `make restore BACKUP=<run id>` runs it; `--help` says every option.
//!
//! Nothing is written until every object has been fetched, matched against the manifest
//! (size, SHA-256), opened under its key and counted; a wrong or missing key, an altered or
//! missing object, a backup newer than this tool and a target that already holds rows are each
//! refused with a sentence and exit status 1. The backup is rebuilt in an in-memory SQLite
//! (`rebuild`), brought to today's schema, cleared of rows whose parent went while the backup
//! ran, and every erasure the live database recorded after the backup started is applied again,
//! so a person erased since never comes back. Then the target gets the schema as `make schema`
//! gives it and the rows as bounded SQL files (`sqlfile`), in load order, and its row counts are
//! compared with the rebuilt ones.

mod rebuild;

/// Erasures are stamped by each isolate's clock and the backup's start by another's: a few
/// minutes earlier than the start is read too (applying an erasure again changes nothing).
const CLOCK_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
mod sqlfile;
#[cfg(test)]
mod tests;
mod verify;
mod wrangler;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clientela::domain::backup::TABLES;
use wrangler::{Database, Place};

const USAGE: &str = "\
usage: clientela-restore <run id> [options]
  --target local|<database>   where to load it: the local D1 (default) or a remote database by name
  --target-state <dir>        the local target's wrangler state directory (--persist-to)
  --source local|<database>|none
                              the live database whose erasures since the backup are applied again
                              (default: local for a local target; none skips that, with a warning)
  --state <dir>               the local source's and local bucket's state directory (--persist-to)
  --bucket local|remote       where the backups bucket is (default: local for a local target)
Keys come from BACKUP_KEYS (id:hex64,…), or from .dev.vars for a local bucket. Run it from the
repository root: the target's schema comes from schema.sql and migrations/.";

#[derive(Debug, PartialEq)]
struct Options {
    run_id: String,
    target: Database,
    source: Option<Database>,
    bucket: Place,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut run_id = None;
    let mut target = None;
    let mut target_state = None;
    let mut source = None;
    let mut state = None;
    let mut bucket = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--target" => target = Some(value("--target")?),
            "--target-state" => target_state = Some(PathBuf::from(value("--target-state")?)),
            "--source" => source = Some(value("--source")?),
            "--state" => state = Some(PathBuf::from(value("--state")?)),
            "--bucket" => bucket = Some(value("--bucket")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other if run_id.is_none() => run_id = Some(other.to_string()),
            other => return Err(format!("one run id only; {other} is a second")),
        }
    }
    let run_id =
        run_id.ok_or("which backup? give its run id (GET /admin/v1/backups lists them)")?;
    if !run_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!("{run_id} is not a backup run id"));
    }
    let target_name = target.unwrap_or_else(|| "local".into());
    let local_target = target_name == "local";
    let database = |name: &str, dir: Option<PathBuf>| match name {
        "local" => Database {
            name: "DB".into(),
            place: Place::Local(dir),
        },
        remote => Database {
            name: remote.into(),
            place: Place::Remote,
        },
    };
    let target = database(&target_name, target_state);
    // A remote restore is the disaster case: whether the live database still exists is for the
    // operator to say, never a default that silently skips the erasures made since the backup.
    let source_name = match source {
        Some(source) => source,
        None if local_target => "local".into(),
        None => {
            return Err(
                "a remote target needs --source: the live database whose erasures since \
                        the backup are applied again, or `none` when it is gone"
                    .into(),
            )
        }
    };
    let source = match source_name.as_str() {
        "none" => None,
        name => Some(database(name, state.clone())),
    };
    let bucket = match bucket.as_deref() {
        Some("local") => Place::Local(state),
        Some("remote") => Place::Remote,
        None if local_target => Place::Local(state),
        None => Place::Remote,
        Some(other) => return Err(format!("--bucket is local or remote, not {other}")),
    };
    if source.as_ref() == Some(&target) {
        return Err(format!(
            "the source and the target are both {}: restore into a new, empty database",
            target.describe()
        ));
    }
    Ok(Options {
        run_id,
        target,
        source,
        bucket,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = restore(&options) {
        eprintln!("restore refused: {e}");
        std::process::exit(1);
    }
}

/// The backups bucket through `wrangler r2 object get`, each object through a file in `dir`.
struct R2<'a> {
    place: &'a Place,
    dir: &'a Path,
}

impl R2<'_> {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name.replace('/', "_"))
    }
}

/// Objects fetched at once: each `wrangler` run is a Node.js start of a second or two, mostly
/// waiting, so a few side by side save most of it.
const FETCHES_AT_ONCE: usize = 4;

impl verify::Bucket for R2<'_> {
    fn get(&self, name: &str) -> Result<Vec<u8>, String> {
        let file = self.file(name);
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => Ok(bytes),
            Err(_) => wrangler::r2_get(self.place, name, &file),
        };
        let _ = std::fs::remove_file(&file);
        bytes
    }

    fn prefetch(&self, names: &[String]) -> Result<(), String> {
        for batch in names.chunks(FETCHES_AT_ONCE) {
            std::thread::scope(|s| {
                let fetches: Vec<_> = batch
                    .iter()
                    .map(|name| {
                        s.spawn(move || wrangler::r2_get(self.place, name, &self.file(name)))
                    })
                    .collect();
                fetches
                    .into_iter()
                    .map(|f| f.join().unwrap_or_else(|_| Err("a fetch panicked".into())))
                    .collect::<Result<Vec<_>, _>>()
            })?;
        }
        Ok(())
    }
}

/// A private scratch directory for fetched objects and SQL files (they hold the base in clear),
/// removed when the restore ends, however it ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(run_id: &str) -> Result<Scratch, String> {
        let dir =
            std::env::temp_dir().join(format!("clientela-restore-{run_id}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| format!("scratch directory {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `BACKUP_KEYS`, or for a local bucket the `.dev.vars` line `make setup` wrote.
fn backup_keys(bucket: &Place) -> Result<String, String> {
    if let Ok(keys) = std::env::var("BACKUP_KEYS") {
        if !keys.trim().is_empty() {
            return Ok(keys);
        }
    }
    if matches!(bucket, Place::Local(_)) {
        if let Ok(vars) = std::fs::read_to_string(".dev.vars") {
            if let Some(keys) = vars.lines().find_map(|l| l.strip_prefix("BACKUP_KEYS=")) {
                return Ok(keys.trim().trim_matches('"').to_string());
            }
        }
    }
    Err("BACKUP_KEYS is not set: the keys the Worker seals backups with (id:hex64,…)".into())
}

/// Tables of the target that hold rows; whether it has the schema at all.
fn target_state(target: &Database) -> Result<(Vec<String>, bool), String> {
    let tables: Vec<String> = wrangler::d1_rows(
        target,
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
           AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations'",
    )?
    .iter()
    .filter_map(|r| r.get("name")?.as_str().map(String::from))
    .collect();
    if tables.is_empty() {
        return Ok((Vec::new(), false));
    }
    // One row, a column per table (D1 caps compound SELECTs far below SQLite's 500 terms).
    let probe = tables
        .iter()
        .map(|t| {
            format!(
                "EXISTS (SELECT 1 FROM {q}) AS {q}",
                q = sqlfile::quote_ident(t)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let row = wrangler::d1_rows(target, &format!("SELECT {probe}"))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let full = tables
        .iter()
        .filter(|t| row.get(t.as_str()).and_then(|v| v.as_i64()) != Some(0))
        .cloned()
        .collect();
    Ok((full, tables.iter().any(|t| t == "contacts")))
}

fn restore(options: &Options) -> Result<(), String> {
    if !Path::new("wrangler.toml").exists() || !Path::new("migrations").is_dir() {
        return Err(
            "run it from the repository root (make restore does): the target's schema \
                    comes from its schema.sql and migrations/"
                .into(),
        );
    }
    let started = Instant::now();
    let step = |what: &str, since: Instant| {
        println!("{what} ({:.1} s)", since.elapsed().as_secs_f64());
    };
    let keys = backup_keys(&options.bucket)?;
    let t = Instant::now();
    let (full, has_schema) = target_state(&options.target)?;
    if !full.is_empty() {
        return Err(format!(
            "{} is not empty ({} hold rows): restore into a new, empty database",
            options.target.describe(),
            full.join(", ")
        ));
    }
    step(&format!("{} is empty", options.target.describe()), t);

    let scratch = Scratch::new(&options.run_id)?;
    let t = Instant::now();
    let bucket = R2 {
        place: &options.bucket,
        dir: &scratch.0,
    };
    let checked = verify::check(&bucket, &keys, &options.run_id)?;
    let manifest = &checked.manifest;
    step(
        &format!(
            "backup {} fetched and checked: {} objects, {} bytes, schema {}, key {}, taken {} to {}",
            manifest.run_id,
            manifest.objects.len(),
            checked.bytes,
            manifest.schema_version,
            manifest.key_id,
            manifest.started_at,
            manifest.finished_at
        ),
        t,
    );

    let t = Instant::now();
    let erasures = match &options.source {
        Some(source) => {
            // In the form the database writes its times (UTC, milliseconds), so the text
            // comparison is a time comparison whatever form the manifest used.
            let since = clientela::domain::time::parse(&manifest.started_at)
                .map(|t| clientela::domain::time::format(t - CLOCK_MARGIN))
                .ok_or_else(|| {
                    format!(
                        "the manifest's start time {} is not a time",
                        manifest.started_at
                    )
                })?;
            let requests = wrangler::d1_rows(
                source,
                &format!(
                    "SELECT id, contact_id, kind, channel, reason, received_at, due_at, completed_at, actor \
                     FROM privacy_requests WHERE kind = 'erasure' AND completed_at >= '{since}'"
                ),
            )?;
            let suppressions = wrangler::d1_rows(
                source,
                &format!(
                    "SELECT email_hash, at FROM suppressions WHERE reason = 'erased' AND at >= '{since}'"
                ),
            )?;
            let erasures = rebuild::erasures(&requests, &suppressions);
            step(
                &format!(
                    "{} erasures recorded since the backup started, read from {}",
                    erasures.len(),
                    source.describe()
                ),
                t,
            );
            erasures
        }
        None => {
            println!(
                "WARNING: no source database: erasures recorded after the backup started are \
                 not applied again. Apply them before the Worker serves this database."
            );
            Vec::new()
        }
    };

    let t = Instant::now();
    let db = rebuild::schema_at(&manifest.schema_version)?;
    for (table, rows) in &checked.tables {
        rebuild::load(&db, table, rows)?;
    }
    let migrated = rebuild::migrate_after(&db, &manifest.schema_version)?;
    let orphans = rebuild::drop_orphans(&db)?;
    // The backup's own records of erasures are read last and to their end: one made while the
    // run copied the contacts is there while the person may be too. Those are applied again
    // first (only where the person is still in the backup), then the live database's.
    let mut all =
        rebuild::still_present(&db, &rebuild::erasures_within(&db, &manifest.started_at)?)?;
    all.extend(erasures);
    let erased = rebuild::replay(&db, &all)?;
    // What was switched off after the backup stays off: a revoked key must not open the
    // restored API, and a deleted webhook must not receive the people's data again.
    let undone = match &options.source {
        Some(source) => {
            let since = clientela::domain::time::parse(&manifest.started_at)
                .map(|t| clientela::domain::time::format(t - CLOCK_MARGIN))
                .unwrap_or_default();
            let revoked = wrangler::d1_rows(
                source,
                &format!("SELECT id, revoked_at FROM api_keys WHERE revoked_at >= '{since}'"),
            )?;
            let deleted = wrangler::d1_rows(
                source,
                &format!("SELECT id, deleted_at FROM webhooks WHERE deleted_at >= '{since}'"),
            )?;
            rebuild::switch_off(&db, &revoked, &deleted)?
        }
        None => 0,
    };
    step(
        &format!(
            "rebuilt in SQLite: {} newer migrations, orphans dropped {:?}, {} people erased again, \
             {undone} keys or webhooks switched off again",
            migrated.len(),
            orphans,
            erased.len()
        ),
        t,
    );

    let t = Instant::now();
    let sql_dir = scratch.0.join("sql");
    std::fs::create_dir(&sql_dir).map_err(|e| format!("{}: {e}", sql_dir.display()))?;
    let mut files = sqlfile::Files::new(&sql_dir, sqlfile::D1);
    let mut counts = Vec::new();
    for spec in TABLES {
        counts.push((spec.name, sqlfile::write_table(&db, spec.name, &mut files)?));
    }
    files.flush()?;
    step(&format!("{} SQL files written", files.written.len()), t);

    let t = Instant::now();
    if !has_schema {
        let schema = scratch.0.join("schema.sql");
        std::fs::write(&schema, clientela::store::sqlite::SCHEMA)
            .map_err(|e| format!("{}: {e}", schema.display()))?;
        wrangler::d1_file(&options.target, &schema)?;
    }
    wrangler::migrations_apply(&options.target)?;
    step("target schema created (schema.sql and migrations)", t);

    let t = Instant::now();
    for (i, file) in files.written.iter().enumerate() {
        wrangler::d1_file(&options.target, file).map_err(|e| {
            format!(
                "{e}\n{} now holds part of the backup ({i} of {} files): restore into a new, \
                 empty database",
                options.target.describe(),
                files.written.len()
            )
        })?;
        if (i + 1) % 10 == 0 {
            println!("  {} of {} files loaded", i + 1, files.written.len());
        }
    }
    step(&format!("{} files loaded", files.written.len()), t);

    // The change feed's sequence goes on from the highest number ever handed out, not from the
    // highest copied: webhook receivers and feed readers hold cursors past it, and a number
    // given twice would make them skip the new event.
    let t = Instant::now();
    let live_max = match &options.source {
        Some(source) => wrangler::d1_rows(source, "SELECT MAX(seq) AS seq FROM events")?
            .first()
            .and_then(|r| r.get("seq"))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        None => 0,
    };
    let marked = manifest
        .tables
        .iter()
        .find(|t| t.name == "events")
        .and_then(|t| t.high_water)
        .unwrap_or(0);
    let restored_max: i64 = db
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
        .map_err(|e| format!("events: {e}"))?;
    let next_after = live_max.max(marked);
    if next_after > restored_max {
        let file = scratch.0.join("sequence.sql");
        std::fs::write(
            &file,
            format!(
                "INSERT INTO events (seq, type, at) VALUES ({next_after}, 'restore.sequence', '{}');\n\
                 DELETE FROM events WHERE seq = {next_after};\n",
                clientela::domain::time::now_string()
            ),
        )
        .map_err(|e| format!("{}: {e}", file.display()))?;
        wrangler::d1_file(&options.target, &file)?;
    }
    step(
        &format!(
            "the events sequence goes on after {}",
            next_after.max(restored_max)
        ),
        t,
    );

    let t = Instant::now();
    let probe = counts
        .iter()
        .map(|(table, _)| {
            format!(
                "(SELECT COUNT(*) FROM {q}) AS {q}",
                q = sqlfile::quote_ident(table)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let loaded = wrangler::d1_rows(&options.target, &format!("SELECT {probe}"))?
        .into_iter()
        .next()
        .unwrap_or_default();
    for (table, expected) in &counts {
        let got = loaded.get(*table).and_then(|n| n.as_u64());
        if got != Some(*expected) {
            return Err(format!(
                "{table}: {expected} rows rebuilt but the target holds {got:?}"
            ));
        }
    }
    step("row counts in the target match", t);
    for (table, n) in &counts {
        println!("  {table:<24} {n:>9}");
    }
    println!(
        "restored backup {} into {} in {:.1} s",
        manifest.run_id,
        options.target.describe(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
