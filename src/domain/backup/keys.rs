//! The backup keys: `BACKUP_KEYS` holds every key a backup may have been sealed under, by id;
//! `BACKUP_KEY_ID` names the one new backups are sealed under.
//!
//! Rotation is adding a key and pointing `BACKUP_KEY_ID` at it: each object names its key id,
//! so older backups stay readable as long as their key stays listed. Removing a key from the
//! list makes every backup sealed under it unreadable, which is how backups are destroyed
//! cryptographically when a key must go.

use std::collections::BTreeMap;

use crate::domain::keyring::valid_key_id;

/// A 256-bit AES key.
pub type Key = [u8; 32];

#[derive(Clone)]
pub struct BackupKeys {
    current: String,
    keys: BTreeMap<String, Key>,
}

impl std::fmt::Debug for BackupKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("BackupKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BackupKeys {
    /// `keys` is `id:hex[,id:hex…]` with 64 hex digits per key; `current` must be one of the
    /// ids. Errors name the setting at fault, never a key.
    pub fn parse(keys: &str, current: &str) -> Result<BackupKeys, &'static str> {
        let mut parsed = BTreeMap::new();
        for pair in keys.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, hex_key) = pair
                .split_once(':')
                .ok_or("BACKUP_KEYS (comma-separated id:key pairs)")?;
            let id = id.trim();
            if !valid_key_id(id) {
                return Err("BACKUP_KEYS (a key id is 1 to 8 lower-case letters or digits)");
            }
            let mut key = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut key)
                .map_err(|_| "BACKUP_KEYS (each key is 64 hex digits: 32 random bytes)")?;
            if key == [0u8; 32] {
                return Err("BACKUP_KEYS (a key of zeros is no key)");
            }
            if parsed.insert(id.to_string(), key).is_some() {
                return Err("BACKUP_KEYS (a key id appears twice)");
            }
        }
        if parsed.is_empty() {
            return Err("BACKUP_KEYS (no key)");
        }
        let current = current.trim();
        if !parsed.contains_key(current) {
            return Err("BACKUP_KEY_ID (must name a key of BACKUP_KEYS)");
        }
        Ok(BackupKeys {
            current: current.to_string(),
            keys: parsed,
        })
    }

    /// The id new objects are sealed under.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    pub(crate) fn current_key(&self) -> &Key {
        // `parse` guarantees the current id is listed.
        &self.keys[&self.current]
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Key> {
        self.keys.get(id)
    }

    /// Every id this keyring can open.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn two_keys_parse_and_the_current_one_seals() {
        let keys = BackupKeys::parse(&format!("k1:{K1}, k2:{K2}"), "k2").unwrap();
        assert_eq!(keys.current_id(), "k2");
        assert_eq!(keys.current_key()[0], 0x1f);
        assert_eq!(keys.get("k1").unwrap()[31], 0x1f);
        assert_eq!(keys.ids().collect::<Vec<_>>(), ["k1", "k2"]);
    }

    #[test]
    fn bad_settings_are_named_and_no_key_is_ever_printed() {
        let cases = [
            ("", "k1", "BACKUP_KEYS (no key)"),
            (K1, "k1", "BACKUP_KEYS (comma-separated id:key pairs)"),
            (
                &format!("K1:{K1}"),
                "K1",
                "BACKUP_KEYS (a key id is 1 to 8 lower-case letters or digits)",
            ),
            (
                "k1:abcd",
                "k1",
                "BACKUP_KEYS (each key is 64 hex digits: 32 random bytes)",
            ),
            (
                &format!("k1:{}", "0".repeat(64)),
                "k1",
                "BACKUP_KEYS (a key of zeros is no key)",
            ),
            (
                &format!("k1:{K1},k1:{K2}"),
                "k1",
                "BACKUP_KEYS (a key id appears twice)",
            ),
            (
                &format!("k1:{K1}"),
                "k2",
                "BACKUP_KEY_ID (must name a key of BACKUP_KEYS)",
            ),
        ];
        for (keys, current, error) in cases {
            assert_eq!(BackupKeys::parse(keys, current).unwrap_err(), error);
        }
        let keys = BackupKeys::parse(&format!("k1:{K1}"), "k1").unwrap();
        let shown = format!("{keys:?}");
        assert!(
            !shown.contains("0a0b") && !shown.contains("10, 11"),
            "{shown}"
        );
    }
}
