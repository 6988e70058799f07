//! Contact imports (`POST /admin/v1/contacts/import`): an uploaded NDJSON or CSV file becomes one
//! validated [`ImportRow`] or one [`Rejection`] per row; the route then checks suppressions,
//! dedupes against the store and writes.
//!
//! Public API:
//! - [`parse_import`]`(format, body, today, now) -> Result<(Vec<ImportRow>, Vec<Rejection>), ImportError>`
//! - [`ImportFormat`] (`Ndjson`, `Csv`, and [`ImportFormat::from_content_type`]),
//! - [`ImportError`] (`NoEmailColumn`, `TooManyRows { limit }`, `NotUtf8`, with a `message()`),
//! - [`MAX_ROWS`], [`MAX_ATTRIBUTE_LEN`].
//!
//! Rules, the same for both formats (a JSON key and a CSV header name are both a "column"):
//! - `email` is required. The standard columns `name`, `phone`, `locale`, `country`, `city`,
//!   `birth_date`, `gender` and `preferred_channel` are optional and parsed by the rules of
//!   [`crate::domain::contact`]. A blank value (empty CSV field, JSON `null`, blank string) is absent.
//!   In NDJSON these values must be strings.
//! - `attr.<key>` (`key`: 1–40 of `[a-z0-9_]`, starting with a letter) is a custom attribute, stored
//!   in [`ImportRow::attributes`] under `<key>` without the prefix. NDJSON values are any JSON
//!   scalar or an array of strings; CSV values are strings, kept exactly as written (formula-looking
//!   values too: neutralising them is the export's job). At most [`MAX_ATTRIBUTE_LEN`] characters
//!   once serialized as JSON.
//! - `consents` lists the purposes the person agreed to (NDJSON: an array of strings; CSV:
//!   `marketing_email|sms`). With at least one purpose, `consent_basis` (how consent was obtained,
//!   1–200 printable characters) is required; `consented_at` (RFC 3339, not in the future) and
//!   `policy_version` (1–40 printable characters) are optional. Without purposes the three basis
//!   columns are still checked but then dropped: a CSV often fills them on every row.
//! - Any other column rejects the row. CSV columns with a blank header name are ignored while
//!   their value is blank (spreadsheets add them).
//!
//! Lines: `line` is the 1-based line of the file where the row starts (a CSV header is line 1).
//! NDJSON lines that are blank are skipped; CSV rows must have as many fields as the header.
//! Every other row ends up exactly once in the result, as a row or as a rejection. A rejection
//! lists each problem of its row, joined by `"; "`, and never quotes a value (values are PII);
//! column names are quoted, truncated to 40 characters.
//!
//! Duplicates: when one (normalized) email appears on several rows, its last row is the one that
//! counts; the earlier valid rows are rejected with `duplicate of line N`. An earlier row that is
//! invalid keeps its own reason. The last row is kept or rejected on its own merits, so a broken
//! last row never lets an older one through.
//!
//! Whole-request errors: a body that is not UTF-8, more than [`MAX_ROWS`] rows, and a CSV whose
//! header has no `email` column (header names are matched exactly, after trimming spaces).
//! A UTF-8 byte order mark at the start is ignored.
//!
//! Stages, one file each: `read.rs` (the file split into rows of named cells, NDJSON or CSV),
//! `row.rs` (one row's cells checked into an [`ImportRow`] or a reason) and `settle.rs` (the
//! last row of an email wins); their tests are in `tests.rs`.

mod read;
mod row;
mod settle;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::consent::Purpose;
use crate::domain::email::EmailAddress;
use crate::domain::form::ContactFields;

/// Most data rows one import may carry.
pub const MAX_ROWS: usize = 1000;
/// Most characters of one custom attribute value, serialized as JSON.
pub const MAX_ATTRIBUTE_LEN: usize = 1000;

const BYTE_ORDER_MARK: char = '\u{feff}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 with a header row.
    Csv,
}

impl ImportFormat {
    /// The format a `Content-Type` header names (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Option<ImportFormat> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(ImportFormat::Csv),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Some(ImportFormat::Ndjson),
            _ => None,
        }
    }
}

/// One row that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub line: usize,
    pub email: EmailAddress,
    pub fields: ContactFields,
    pub preferred_channel: Option<String>,
    /// Custom attributes by key, without the `attr.` prefix.
    pub attributes: BTreeMap<String, Value>,
    /// Sorted, without repeats; empty for a person without consent.
    pub consents: Vec<Purpose>,
    /// Set exactly when `consents` is not empty.
    pub consent_basis: Option<String>,
    /// RFC 3339 UTC as [`time::format`](crate::domain::time::format) writes it; only with
    /// consents.
    pub consented_at: Option<String>,
    /// Only with consents.
    pub policy_version: Option<String>,
}

/// A row that was refused, and why (never quoting a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub line: usize,
    pub reason: String,
}

/// A file that cannot be imported at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportError {
    NoEmailColumn,
    TooManyRows { limit: usize },
    NotUtf8,
}

impl ImportError {
    pub fn message(self) -> String {
        match self {
            ImportError::NoEmailColumn => "the CSV header row has no email column".to_string(),
            ImportError::TooManyRows { limit } => format!("at most {limit} rows per import"),
            ImportError::NotUtf8 => "the file is not UTF-8 text".to_string(),
        }
    }
}

/// Parses a whole upload. `today` bounds birth dates and `now` consent times.
pub fn parse_import(
    format: ImportFormat,
    body: &[u8],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(Vec<ImportRow>, Vec<Rejection>), ImportError> {
    let text = std::str::from_utf8(body).map_err(|_| ImportError::NotUtf8)?;
    let text = text.strip_prefix(BYTE_ORDER_MARK).unwrap_or(text);
    let clock = row::Clock { today, now };
    let outcomes = match format {
        ImportFormat::Ndjson => read::parse_ndjson(text, clock)?,
        ImportFormat::Csv => read::parse_csv(text, clock)?,
    };
    Ok(settle::settle_duplicates(outcomes))
}
