//! The backup format: what a nightly backup is, object by object, independent of where it runs.
//!
//! A backup run writes objects to R2 under `backups/{run}/`: one per chunk of one table
//! (`{seq:06}-{attempt}`), then the manifest (`manifest`), written last so that a manifest means every
//! object it lists is in place. The Worker writes them (its backup job); the restore tool
//! (`make restore`) reads them back. Both go through this module only.
//!
//! - **An object** is its rows as NDJSON (one JSON object per row, column → value, as D1
//!   returns it), zlib-compressed, then sealed with AES-256-GCM under the current backup key
//!   ([`seal`]). Its header names the key id, so a key can be rotated while older backups stay
//!   readable under theirs, and the header and the object's name are authenticated with it: an
//!   altered byte, a swapped object or a wrong key all fail to [`open`].
//! - **The manifest** ([`Manifest`]) is sealed the same way and holds the schema version, the
//!   time the run started, each table's row count and high-water mark, and each object's size,
//!   row count and SHA-256, so a restore checks everything before it writes anything.
//! - **What is copied** is [`tables::TABLES`], in an order where parents come before children;
//!   what is not, and why, is [`tables::EXCLUDED`]. No live link is ever copied: pending
//!   outbox messages are left out and sent ones lose their text and links.
//! - **Which runs are kept** is [`retention::keep`]: 30 daily and 12 monthly.

pub mod keys;
pub mod manifest;
pub mod retention;
pub mod seal;
pub mod tables;

pub use keys::BackupKeys;
pub use manifest::{Manifest, ObjectEntry, TableCount};
pub use seal::{key_id_of, open, seal, OpenError};
pub use tables::{TableKey, TableSpec, EXCLUDED, SCHEMA_VERSION, TABLES};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The name of object `seq` of run `run_id`, sealed under `nonce`. Each attempt at a chunk has
/// a name of its own (the nonce's first 4 bytes): two deliveries of one chunk that race each
/// other then never overwrite the object the committing one listed in the run.
pub fn object_name(run_id: &str, seq: u32, nonce: &[u8; 12]) -> String {
    format!("backups/{run_id}/{seq:06}-{}", hex::encode(&nonce[..4]))
}

/// The name of run `run_id`'s manifest.
pub fn manifest_name(run_id: &str) -> String {
    format!("backups/{run_id}/manifest")
}

/// Every object of run `run_id` starts with this (to list or delete them).
pub fn prefix(run_id: &str) -> String {
    format!("backups/{run_id}/")
}

/// A fresh nonce for one object: never reused under a key, since each is 96 random bits and a
/// key seals far fewer than the 2^32 objects where a collision would become likely.
pub fn nonce() -> Result<[u8; 12], getrandom::Error> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce)?;
    Ok(nonce)
}

/// Lower-case hex SHA-256, as the manifest records each sealed object.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Rows as NDJSON: one JSON object per line, in the order given.
pub fn encode_rows(rows: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        // Serialising a `Value` cannot fail.
        if serde_json::to_writer(&mut out, row).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// The rows of an object's NDJSON: each line must be a JSON object.
pub fn decode_rows(bytes: &[u8]) -> Result<Vec<Map<String, Value>>, String> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(row)) => Ok(row),
            Ok(_) => Err(format!("line {} is not a row", n + 1)),
            Err(e) => Err(format!("line {}: {e}", n + 1)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_survive_ndjson_with_newlines_and_unicode_inside_values() {
        let rows = vec![
            json!({"id": "ct_1", "name": "Zoë\nline two", "score": 9, "gone": null}),
            json!({"id": "ct_2", "name": "\u{2028}", "score": 10.5, "gone": "x"}),
        ];
        let bytes = encode_rows(&rows);
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 2);
        let back: Vec<Value> = decode_rows(&bytes)
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect();
        assert_eq!(back, rows);
    }

    #[test]
    fn a_line_that_is_not_a_row_is_refused_with_its_number() {
        assert_eq!(
            decode_rows(b"{\"a\":1}\n[1]\n").unwrap_err(),
            "line 2 is not a row"
        );
        assert!(decode_rows(b"{\"a\":").unwrap_err().starts_with("line 1"));
    }

    #[test]
    fn names_keep_a_run_under_its_own_prefix_in_order_and_each_attempt_apart() {
        let n = [0xab, 0xcd, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(object_name("bkp_1", 7, &n), "backups/bkp_1/000007-abcd0001");
        assert!(object_name("bkp_1", 7, &n) < object_name("bkp_1", 10, &[0; 12]));
        assert_ne!(
            object_name("bkp_1", 7, &n),
            object_name("bkp_1", 7, &[0; 12])
        );
        assert!(manifest_name("bkp_1").starts_with(&prefix("bkp_1")));
        assert!(!object_name("bkp_10", 0, &n).starts_with(&prefix("bkp_1")));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }
}
