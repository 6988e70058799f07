//! The rebuilt database as SQL files `wrangler d1 execute --file` loads: plain `INSERT`s of
//! literal values (no bound parameters, so no 100-parameter limit), several rows per statement,
//! every statement under D1's 100 KB and every file a few MB, tables in load order. A row too
//! long for one statement goes in with its long texts empty, then each text is appended a piece
//! at a time by its primary key.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::Connection;

/// How large a statement and a file may grow.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub statement: usize,
    pub file: usize,
}

/// D1 refuses a statement over 100 KB; files stay small enough that `wrangler` uploads and runs
/// each well within its own time limits, and a failure names a small piece.
pub const D1: Limits = Limits {
    statement: 90_000,
    file: 4_000_000,
};

/// The files written so far and the one being filled.
pub struct Files {
    dir: PathBuf,
    limits: Limits,
    current: String,
    pub written: Vec<PathBuf>,
}

impl Files {
    pub fn new(dir: &Path, limits: Limits) -> Files {
        Files {
            dir: dir.to_path_buf(),
            limits,
            current: String::new(),
            written: Vec::new(),
        }
    }

    fn push(&mut self, statement: &str) -> Result<(), String> {
        if !self.current.is_empty() && self.current.len() + statement.len() + 1 > self.limits.file {
            self.flush()?;
        }
        self.current.push_str(statement);
        self.current.push('\n');
        Ok(())
    }

    /// Writes the file being filled, if it holds anything.
    pub fn flush(&mut self) -> Result<(), String> {
        if self.current.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!("{:04}.sql", self.written.len() + 1));
        std::fs::write(&path, &self.current)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        self.current.clear();
        self.written.push(path);
        Ok(())
    }
}

/// Every row of `table` as statements into `files`; the number of rows.
pub fn write_table(db: &Connection, table: &str, files: &mut Files) -> Result<u64, String> {
    let columns = columns(db, table)?;
    if columns.is_empty() {
        return Err(format!(
            "table {table} has no columns in the rebuilt database"
        ));
    }
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let head = format!(
        "INSERT INTO {} ({}) VALUES ",
        quote_ident(table),
        names.join(", ")
    );
    let limit = files.limits.statement;
    let mut select = db
        .prepare(&format!(
            "SELECT {} FROM {}",
            names.join(", "),
            quote_ident(table)
        ))
        .map_err(|e| format!("reading {table}: {e}"))?;
    let mut rows = select
        .query([])
        .map_err(|e| format!("reading {table}: {e}"))?;
    let mut statement = String::new();
    let mut count = 0;
    while let Some(row) = rows.next().map_err(|e| format!("reading {table}: {e}"))? {
        let values: Vec<Value> = (0..columns.len())
            .map(|i| row.get::<_, Value>(i))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("reading {table}: {e}"))?;
        count += 1;
        let tuple = tuple(&values);
        if head.len() + tuple.len() + 1 > limit {
            // Too long for one statement even alone.
            if !statement.is_empty() {
                files.push(&format!("{statement};"))?;
                statement.clear();
            }
            for long in long_row(table, &head, &columns, &values, limit)? {
                files.push(&long)?;
            }
            continue;
        }
        if !statement.is_empty() && statement.len() + 2 + tuple.len() + 1 > limit {
            files.push(&format!("{statement};"))?;
            statement.clear();
        }
        if statement.is_empty() {
            statement.push_str(&head);
        } else {
            statement.push_str(",\n");
        }
        statement.push_str(&tuple);
    }
    if !statement.is_empty() {
        files.push(&format!("{statement};"))?;
    }
    Ok(count)
}

pub struct Column {
    pub name: String,
    /// Position in the primary key (1-based), 0 if not in it.
    pub pk: i64,
}

pub fn columns(db: &Connection, table: &str) -> Result<Vec<Column>, String> {
    let mut info = db
        .prepare(&format!("PRAGMA table_info({})", quote_ident(table)))
        .map_err(|e| format!("columns of {table}: {e}"))?;
    let columns = info
        .query_map([], |r| {
            Ok(Column {
                name: r.get(1)?,
                pk: r.get(5)?,
            })
        })
        .map_err(|e| format!("columns of {table}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("columns of {table}: {e}"));
    columns
}

/// One row longer than a statement: inserted with every long text empty, then each long text
/// appended in pieces, found by the primary key (which must itself be short).
fn long_row(
    table: &str,
    head: &str,
    columns: &[Column],
    values: &[Value],
    limit: usize,
) -> Result<Vec<String>, String> {
    // A text this long or longer is appended afterwards.
    let long = limit / 8;
    let mut key: Vec<(&Column, &Value)> = columns
        .iter()
        .zip(values)
        .filter(|(c, _)| c.pk > 0)
        .collect();
    key.sort_by_key(|(c, _)| c.pk);
    if key.is_empty() {
        return Err(format!(
            "a row of {table} is longer than one statement and the table has no primary key"
        ));
    }
    let condition = key
        .iter()
        .map(|(c, v)| format!("{} = {}", quote_ident(&c.name), literal(v)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut first = Vec::new();
    let mut appends = Vec::new();
    for (column, value) in columns.iter().zip(values) {
        match value {
            Value::Text(text) if column.pk == 0 && text.len() >= long => {
                first.push(Value::Text(String::new()));
                let update = format!(
                    "UPDATE {} SET {c} = {c} || ",
                    quote_ident(table),
                    c = quote_ident(&column.name)
                );
                let room = limit
                    .checked_sub(update.len() + condition.len() + 16)
                    .filter(|r| *r >= 64)
                    .ok_or_else(|| format!("the key of a row of {table} is too long"))?;
                for piece in pieces(text, room) {
                    appends.push(format!("{update}{piece} WHERE {condition};"));
                }
            }
            Value::Blob(_) if column.pk == 0 && literal(value).len() >= long => {
                return Err(format!("a blob in {table} is too long for one statement"));
            }
            other => first.push(other.clone()),
        }
    }
    let insert = format!("{head}{};", tuple(&first));
    if insert.len() > limit {
        return Err(format!(
            "a row of {table} is too long for one statement even without its long texts"
        ));
    }
    let mut out = vec![insert];
    out.extend(appends);
    Ok(out)
}

/// `text` as quoted literals of at most `room` bytes each, split between characters.
fn pieces(text: &str, room: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut piece = String::from("'");
    for c in text.chars() {
        let width = if c == '\'' { 2 } else { c.len_utf8() };
        if piece.len() + width + 1 > room {
            piece.push('\'');
            out.push(std::mem::replace(&mut piece, String::from("'")));
        }
        if c == '\'' {
            piece.push('\'');
        }
        piece.push(c);
    }
    piece.push('\'');
    out.push(piece);
    out
}

fn tuple(values: &[Value]) -> String {
    let parts: Vec<String> = values.iter().map(literal).collect();
    format!("({})", parts.join(", "))
}

/// One value as an SQL literal that SQLite reads back as the same value and type.
pub fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        // `{:?}` prints the shortest text that reads back as the same f64, always with a `.` or
        // an exponent, so SQLite reads a real, not an integer.
        Value::Real(f) if f.is_finite() => format!("{f:?}"),
        Value::Real(f) if *f > 0.0 => "9e999".into(),
        Value::Real(f) if *f < 0.0 => "-9e999".into(),
        Value::Real(_) => "NULL".into(),
        Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Value::Blob(b) => format!("X'{}'", hex::encode(b)),
    }
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(db: &Connection, sql: &str) -> Vec<Vec<Value>> {
        let mut s = db.prepare(sql).unwrap();
        let n = s.column_count();
        s.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Many rows, awkward values and one row far longer than a statement: every statement stays
    /// under the limit, every file under its own, and running the files in order on an empty
    /// copy of the schema gives back the same rows, values and types.
    #[test]
    fn files_are_bounded_and_load_back_the_same_rows() {
        let schema = "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, r REAL, body TEXT, b BLOB);";
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(schema).unwrap();
        for i in 0..3000 {
            db.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    format!("id-{i}"),
                    i64::MAX - i,
                    0.1 + i as f64,
                    format!("it's row {i}; \"quoted\" -- not a comment\nsecond line é"),
                    vec![0u8, 1, 255]
                ],
            )
            .unwrap();
        }
        let long: String = "O'Brien ü ".repeat(30_000);
        db.execute(
            "INSERT INTO t VALUES ('long', NULL, 2.0, ?1, NULL)",
            [&long],
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("restore-sqlfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let limits = Limits {
            statement: 10_000,
            file: 60_000,
        };
        let mut files = Files::new(&dir, limits);
        assert_eq!(write_table(&db, "t", &mut files).unwrap(), 3001);
        files.flush().unwrap();
        assert!(
            files.written.len() > 5,
            "{} files for 3,000 rows at {} bytes a file",
            files.written.len(),
            limits.file
        );
        let copy = Connection::open_in_memory().unwrap();
        copy.execute_batch(schema).unwrap();
        for path in &files.written {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(
                text.len() <= limits.file,
                "{} is {} bytes",
                path.display(),
                text.len()
            );
            for statement in text.split(";\n").filter(|s| !s.trim().is_empty()) {
                assert!(
                    statement.len() < limits.statement,
                    "a statement of {} bytes, over the limit of {}",
                    statement.len(),
                    limits.statement
                );
            }
            copy.execute_batch(&text).unwrap();
        }
        let all = "SELECT id, n, r, body, b, typeof(n), typeof(r) FROM t ORDER BY id";
        assert_eq!(table(&db, all), table(&copy, all));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn literals_read_back_as_the_same_value_and_type() {
        let db = Connection::open_in_memory().unwrap();
        for v in [
            Value::Null,
            Value::Integer(-9_007_199_254_740_993),
            Value::Real(4.0),
            Value::Real(1e-7),
            Value::Real(f64::INFINITY),
            Value::Text("a'b\"c\n".into()),
            Value::Blob(vec![0, 16, 255]),
        ] {
            let back: Value = db
                .query_row(&format!("SELECT {}", literal(&v)), [], |r| r.get(0))
                .unwrap();
            assert_eq!(back, v, "{}", literal(&v));
        }
    }
}
