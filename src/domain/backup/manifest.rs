//! The manifest: what a finished backup holds, written last and sealed like its objects.

use serde::{Deserialize, Serialize};

/// The version of this format; a restore refuses a manifest of a newer one.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub run_id: String,
    /// When the run took its high-water marks: rows written after it may be missing, and a
    /// restore re-applies every erasure recorded from this time on.
    pub started_at: String,
    pub finished_at: String,
    /// The newest migration (file name) of the Worker that wrote it.
    pub schema_version: String,
    /// The key the objects are sealed under.
    pub key_id: String,
    /// Each copied table in load order, with its rows and high-water mark.
    pub tables: Vec<TableCount>,
    /// Each object in write order.
    pub objects: Vec<ObjectEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    pub name: String,
    pub rows: u64,
    /// The largest rowid when the run started (rowid tables): rows after it were not copied.
    pub high_water: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub name: String,
    pub table: String,
    pub rows: u64,
    /// Size of the sealed object.
    pub bytes: u64,
    /// SHA-256 of the sealed object, lower-case hex.
    pub sha256: String,
}

impl Manifest {
    /// Total size of the objects, sealed.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.bytes).sum()
    }

    /// Total rows copied.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Whether the manifest is whole: every object belongs to a listed table, and each table's
    /// rows are the sum of its objects'. The first inconsistency, when not.
    pub fn check(&self) -> Result<(), String> {
        if self.format > FORMAT {
            return Err(format!(
                "the manifest is of format {}, newer than this tool's {FORMAT}",
                self.format
            ));
        }
        for table in &self.tables {
            let rows: u64 = self
                .objects
                .iter()
                .filter(|o| o.table == table.name)
                .map(|o| o.rows)
                .sum();
            if rows != table.rows {
                return Err(format!(
                    "table {} counts {} rows but its objects hold {rows}",
                    table.name, table.rows
                ));
            }
        }
        if let Some(o) = self
            .objects
            .iter()
            .find(|o| !self.tables.iter().any(|t| t.name == o.table))
        {
            return Err(format!("object {} belongs to no listed table", o.name));
        }
        Ok(())
    }

    /// Whether `sealed` is object `entry` as the run wrote it.
    pub fn verify(entry: &ObjectEntry, sealed: &[u8]) -> Result<(), String> {
        if sealed.len() as u64 != entry.bytes || super::sha256_hex(sealed) != entry.sha256 {
            return Err(format!(
                "object {} is not the one the backup wrote (size or SHA-256 differs)",
                entry.name
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            run_id: "bkp_1".into(),
            started_at: "2026-12-01T03:17:00Z".into(),
            finished_at: "2026-12-01T03:18:00Z".into(),
            schema_version: "0012_backups.sql".into(),
            key_id: "k1".into(),
            tables: vec![
                TableCount {
                    name: "contacts".into(),
                    rows: 3,
                    high_water: Some(3),
                },
                TableCount {
                    name: "consents".into(),
                    rows: 0,
                    high_water: None,
                },
            ],
            objects: vec![
                ObjectEntry {
                    name: "backups/bkp_1/000000".into(),
                    table: "contacts".into(),
                    rows: 2,
                    bytes: 10,
                    sha256: "aa".into(),
                },
                ObjectEntry {
                    name: "backups/bkp_1/000001".into(),
                    table: "contacts".into(),
                    rows: 1,
                    bytes: 5,
                    sha256: "bb".into(),
                },
            ],
        }
    }

    #[test]
    fn a_whole_manifest_checks_and_round_trips() {
        let m = manifest();
        assert_eq!(m.check(), Ok(()));
        assert_eq!((m.rows(), m.bytes()), (3, 15));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
    }

    #[test]
    fn counts_that_disagree_with_the_objects_are_refused() {
        let mut m = manifest();
        m.tables[0].rows = 4;
        assert!(m.check().unwrap_err().contains("contacts counts 4"));
        let mut m = manifest();
        m.objects[1].table = "orders".into();
        assert!(m.check().is_err());
        let mut m = manifest();
        m.format = FORMAT + 1;
        assert!(m.check().unwrap_err().contains("newer"));
    }

    #[test]
    fn an_object_is_verified_by_size_and_digest() {
        let body = b"sealed bytes";
        let entry = ObjectEntry {
            name: "n".into(),
            table: "contacts".into(),
            rows: 1,
            bytes: body.len() as u64,
            sha256: super::super::sha256_hex(body),
        };
        assert_eq!(Manifest::verify(&entry, body), Ok(()));
        assert!(Manifest::verify(&entry, b"sealed bytez").is_err());
        assert!(Manifest::verify(&entry, b"sealed byte").is_err());
    }
}
