//! Every object of a backup fetched, checked against the manifest (size, SHA-256 of the sealed
//! bytes), opened under its key and decoded, and the row counts added up, before the restore
//! writes anything anywhere.

use clientela::domain::backup::{self, BackupKeys, Manifest};
use serde_json::{Map, Value};

/// Where the sealed objects come from: `wrangler r2 object get` in the tool, a map in tests.
pub trait Bucket {
    fn get(&self, name: &str) -> Result<Vec<u8>, String>;

    /// A hint that `names` come next, to fetch them side by side.
    fn prefetch(&self, _names: &[String]) -> Result<(), String> {
        Ok(())
    }
}

/// A backup that passed every check: its manifest and its rows, table by table in the order
/// of the manifest's objects.
pub struct Checked {
    pub manifest: Manifest,
    pub tables: Vec<(String, Vec<Map<String, Value>>)>,
    /// Sealed bytes fetched, the manifest included.
    pub bytes: u64,
}

/// Fetches and checks run `run_id` with the keys of `BACKUP_KEYS` (`keys`).
pub fn check(bucket: &dyn Bucket, keys: &str, run_id: &str) -> Result<Checked, String> {
    let manifest_name = backup::manifest_name(run_id);
    let sealed = bucket.get(&manifest_name)?;
    let mut bytes = sealed.len() as u64;
    // Any listed key will do as the current one: a restore only opens, each object under the
    // key its header names.
    let first = keys
        .split(',')
        .find_map(|pair| pair.split_once(':'))
        .map_or("", |(id, _)| id.trim());
    let keys = BackupKeys::parse(keys, first).map_err(|e| format!("{e} is not valid"))?;
    let plain = backup::open(&keys, &manifest_name, &sealed)
        .map_err(|e| format!("the manifest of backup {run_id} {e}"))?;
    let manifest: Manifest = serde_json::from_slice(&plain)
        .map_err(|e| format!("the manifest of backup {run_id} does not parse: {e}"))?;
    manifest
        .check()
        .map_err(|e| format!("backup {run_id}: {e}"))?;
    if manifest.run_id != run_id {
        return Err(format!(
            "the manifest under {manifest_name} names run {}: it was moved",
            manifest.run_id
        ));
    }
    if manifest.schema_version.as_str() > backup::SCHEMA_VERSION {
        return Err(crate::rebuild::unknown_version(&manifest.schema_version));
    }
    let prefix = backup::prefix(run_id);
    if let Some(entry) = manifest
        .objects
        .iter()
        .find(|o| !o.name.starts_with(&prefix))
    {
        return Err(format!(
            "the manifest lists {}, outside backup {run_id}",
            entry.name
        ));
    }
    let names: Vec<String> = manifest.objects.iter().map(|o| o.name.clone()).collect();
    bucket.prefetch(&names)?;
    let mut tables: Vec<(String, Vec<Map<String, Value>>)> = Vec::new();
    for entry in &manifest.objects {
        let sealed = bucket.get(&entry.name)?;
        bytes += sealed.len() as u64;
        Manifest::verify(entry, &sealed).map_err(|e| format!("altered: {e}"))?;
        let plain = backup::open(&keys, &entry.name, &sealed)
            .map_err(|e| format!("{}: {e}", entry.name))?;
        let rows = backup::decode_rows(&plain)
            .map_err(|e| format!("{} does not decode: {e}", entry.name))?;
        if rows.len() as u64 != entry.rows {
            return Err(format!(
                "{} holds {} rows, the manifest says {}",
                entry.name,
                rows.len(),
                entry.rows
            ));
        }
        match tables.iter_mut().find(|(t, _)| *t == entry.table) {
            Some((_, all)) => all.extend(rows),
            None => tables.push((entry.table.clone(), rows)),
        }
    }
    Ok(Checked {
        manifest,
        tables,
        bytes,
    })
}
