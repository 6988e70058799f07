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

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::consent::Purpose;
use crate::domain::contact;
use crate::domain::email::EmailAddress;
use crate::domain::form::ContactFields;
use crate::domain::time;

/// Most data rows one import may carry.
pub const MAX_ROWS: usize = 1000;
/// Most characters of one custom attribute value, serialized as JSON.
pub const MAX_ATTRIBUTE_LEN: usize = 1000;

const ATTRIBUTE_PREFIX: &str = "attr.";
const BYTE_ORDER_MARK: char = '\u{feff}';
const SHOWN_COLUMN_LEN: usize = 40;

const EMAIL: &str = "email";
const CONSENTS: &str = "consents";
const CONSENT_BASIS: &str = "consent_basis";
const CONSENTED_AT: &str = "consented_at";
const POLICY_VERSION: &str = "policy_version";

/// Every column an import row may have, besides `attr.<key>`.
const KNOWN_COLUMNS: [&str; 13] = [
    EMAIL,
    "name",
    "phone",
    "locale",
    "country",
    "city",
    "birth_date",
    "gender",
    "preferred_channel",
    CONSENTS,
    CONSENT_BASIS,
    CONSENTED_AT,
    POLICY_VERSION,
];

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
    /// RFC 3339 UTC as [`time::format`] writes it; only with consents.
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
    let clock = Clock { today, now };
    let outcomes = match format {
        ImportFormat::Ndjson => parse_ndjson(text, clock)?,
        ImportFormat::Csv => parse_csv(text, clock)?,
    };
    Ok(settle_duplicates(outcomes))
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    today: NaiveDate,
    now: DateTime<Utc>,
}

/// What one row became, with its email when that parsed (duplicates are found on it even when
/// the row failed for another reason).
struct RowOutcome {
    line: usize,
    email: Option<EmailAddress>,
    result: Result<ImportRow, String>,
}

impl RowOutcome {
    fn rejected(line: usize, reason: impl Into<String>) -> RowOutcome {
        RowOutcome {
            line,
            email: None,
            result: Err(reason.into()),
        }
    }
}

fn parse_ndjson(text: &str, clock: Clock) -> Result<Vec<RowOutcome>, ImportError> {
    let lines = || {
        text.split('\n')
            .enumerate()
            .map(|(index, line)| (index + 1, line.strip_suffix('\r').unwrap_or(line)))
            .filter(|(_, line)| !line.trim().is_empty())
    };
    if lines().count() > MAX_ROWS {
        return Err(ImportError::TooManyRows { limit: MAX_ROWS });
    }
    let outcomes = lines()
        .map(
            |(line, source)| match serde_json::from_str::<Value>(source) {
                Ok(Value::Object(object)) => parse_row(
                    line,
                    object
                        .iter()
                        .map(|(key, value)| (key.as_str(), Cell::Json(value))),
                    clock,
                ),
                Ok(_) => RowOutcome::rejected(line, "not a JSON object"),
                Err(_) => RowOutcome::rejected(line, "invalid JSON"),
            },
        )
        .collect();
    Ok(outcomes)
}

fn parse_csv(text: &str, clock: Clock) -> Result<Vec<RowOutcome>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|_| ImportError::NoEmailColumn)?
        .iter()
        .map(|name| name.trim().to_string())
        .collect();
    if !header.iter().any(|name| name == EMAIL) {
        return Err(ImportError::NoEmailColumn);
    }
    let mut outcomes = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(text);
    loop {
        let before = reader.position().clone();
        let read = reader.read_record(&mut record);
        if !matches!(read, Ok(false)) && outcomes.len() == MAX_ROWS {
            return Err(ImportError::TooManyRows { limit: MAX_ROWS });
        }
        match read {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.line_of_record_after(before.byte());
                if record.len() == header.len() {
                    let cells = header
                        .iter()
                        .map(String::as_str)
                        .zip(record.iter().map(Cell::Text));
                    outcomes.push(parse_row(line, cells, clock));
                } else {
                    let reason =
                        format!("expected {} fields, found {}", header.len(), record.len());
                    outcomes.push(RowOutcome::rejected(line, reason));
                }
            }
            Err(_) => {
                let line = lines.line_of_record_after(before.byte());
                outcomes.push(RowOutcome::rejected(line, "unreadable CSV row"));
                if reader.position().byte() <= before.byte() {
                    break;
                }
            }
        }
    }
    Ok(outcomes)
}

/// Line numbers of CSV records. The reader reports where it stood before a record (the end of
/// the previous one, which for CRLF is before the `\n`, and before any skipped empty lines), so
/// the start of a record is found here: the first byte after that point that is not `\r`/`\n`
/// (a record never starts with one: empty lines are not records).
struct LineCounter<'a> {
    text: &'a [u8],
    counted_to: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> LineCounter<'a> {
        LineCounter {
            text: text.as_bytes(),
            counted_to: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record read from byte `from` on; `from` never decreases.
    fn line_of_record_after(&mut self, from: u64) -> usize {
        let from = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .clamp(self.counted_to, self.text.len());
        let start = self.text[from..]
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .map_or(self.text.len(), |offset| from + offset);
        // The reader ends a line at `\n`, `\r\n` and a lone `\r` alike (old Mac exports use
        // the last), so each of them starts a new line here too.
        let text = self.text;
        self.line += (self.counted_to..start)
            .filter(|&i| match text[i] {
                b'\n' => true,
                b'\r' => text.get(i + 1) != Some(&b'\n'),
                _ => false,
            })
            .count();
        self.counted_to = start;
        self.line
    }
}

/// One value of a row, as the format carries it.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A value of the wrong JSON type.
struct WrongType;

impl<'a> Cell<'a> {
    /// The text of the cell, `None` when blank.
    fn text(self) -> Result<Option<&'a str>, WrongType> {
        let text = match self {
            Cell::Text(text) => text,
            Cell::Json(Value::Null) => return Ok(None),
            Cell::Json(Value::String(text)) => text.as_str(),
            Cell::Json(_) => return Err(WrongType),
        };
        Ok((!text.trim().is_empty()).then_some(text))
    }

    fn attribute_value(self) -> Result<Option<Value>, WrongType> {
        let value = match self {
            Cell::Text(text) if text.trim().is_empty() => return Ok(None),
            Cell::Text(text) => Value::String(text.to_string()),
            Cell::Json(Value::Null) => return Ok(None),
            Cell::Json(Value::String(text)) if text.trim().is_empty() => return Ok(None),
            Cell::Json(value @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => {
                value.clone()
            }
            Cell::Json(Value::Array(items)) if items.iter().all(Value::is_string) => {
                Value::Array(items.clone())
            }
            Cell::Json(_) => return Err(WrongType),
        };
        let length = serde_json::to_string(&value).map_or(usize::MAX, |s| s.chars().count());
        if length <= MAX_ATTRIBUTE_LEN {
            Ok(Some(value))
        } else {
            Err(WrongType)
        }
    }

    fn purposes(self) -> Result<Vec<Purpose>, &'static str> {
        const INVALID_PURPOSE: &str = "invalid purpose in consents";
        let mut purposes = match self {
            Cell::Text(text) => text
                .split('|')
                .map(str::trim)
                .filter(|piece| !piece.is_empty())
                .map(|piece| Purpose::parse(piece).map_err(|_| INVALID_PURPOSE))
                .collect::<Result<Vec<_>, _>>()?,
            Cell::Json(Value::Null) => Vec::new(),
            Cell::Json(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(piece) => {
                        Purpose::parse(piece.trim()).map_err(|_| INVALID_PURPOSE)
                    }
                    _ => Err("consents must be a list of purposes"),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Cell::Json(_) => return Err("consents must be a list of purposes"),
        };
        purposes.sort();
        purposes.dedup();
        Ok(purposes)
    }
}

/// A column name fit to appear in a reason: no control characters, at most 40 characters.
fn shown(column: &str) -> String {
    column
        .chars()
        .filter(|c| !c.is_control())
        .take(SHOWN_COLUMN_LEN)
        .collect()
}

fn valid_attribute_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The known columns of one row, and the problems found while sorting its columns.
struct Columns<'a> {
    known: HashMap<&'a str, Cell<'a>>,
    attributes: BTreeMap<String, Value>,
    problems: Vec<String>,
}

impl<'a> Columns<'a> {
    fn from_cells(cells: impl IntoIterator<Item = (&'a str, Cell<'a>)>) -> Columns<'a> {
        let mut columns = Columns {
            known: HashMap::new(),
            attributes: BTreeMap::new(),
            problems: Vec::new(),
        };
        let mut seen = HashSet::new();
        for (column, cell) in cells {
            if column.trim().is_empty() {
                if !matches!(cell.text(), Ok(None)) {
                    columns
                        .problems
                        .push("value in a column without a name".to_string());
                }
            } else if !seen.insert(column) {
                columns
                    .problems
                    .push(format!("duplicate column '{}'", shown(column)));
            } else if let Some(key) = column.strip_prefix(ATTRIBUTE_PREFIX) {
                if !valid_attribute_key(key) {
                    columns
                        .problems
                        .push(format!("invalid attribute name '{}'", shown(column)));
                    continue;
                }
                match cell.attribute_value() {
                    Ok(Some(value)) => {
                        columns.attributes.insert(key.to_string(), value);
                    }
                    Ok(None) => {}
                    Err(WrongType) => columns
                        .problems
                        .push(format!("invalid value for '{}'", shown(column))),
                }
            } else if let Some(known) = KNOWN_COLUMNS.iter().find(|known| **known == column) {
                columns.known.insert(*known, cell);
            } else {
                columns
                    .problems
                    .push(format!("unknown column '{}'", shown(column)));
            }
        }
        columns
    }

    /// The parsed value of an optional column, `None` when absent, blank or invalid (an invalid
    /// value adds `invalid <column>` to the problems).
    fn optional(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Option<String>,
    ) -> Option<String> {
        let text = match self.known.get(column).map(|cell| cell.text()) {
            None | Some(Ok(None)) => return None,
            Some(Ok(Some(text))) => text,
            Some(Err(WrongType)) => {
                self.problems.push(format!("invalid {column}"));
                return None;
            }
        };
        let parsed = parse(text);
        if parsed.is_none() {
            self.problems.push(format!("invalid {column}"));
        }
        parsed
    }

    fn is_blank(&self, column: &str) -> bool {
        matches!(
            self.known.get(column).map(|cell| cell.text()),
            None | Some(Ok(None))
        )
    }

    fn email(&mut self) -> Option<EmailAddress> {
        if self.is_blank(EMAIL) {
            self.problems.push("missing email".to_string());
            return None;
        }
        let parsed = match self.known.get(EMAIL).map(|cell| cell.text()) {
            Some(Ok(Some(text))) => EmailAddress::parse(text).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.problems.push("invalid email".to_string());
        }
        parsed
    }

    fn consents(&mut self) -> Vec<Purpose> {
        match self.known.get(CONSENTS).map(|cell| cell.purposes()) {
            None => Vec::new(),
            Some(Ok(purposes)) => purposes,
            Some(Err(problem)) => {
                self.problems.push(problem.to_string());
                Vec::new()
            }
        }
    }

    fn consented_at(&mut self, now: DateTime<Utc>) -> Option<String> {
        let mut in_future = false;
        let parsed = self.optional(CONSENTED_AT, |text| {
            let at = time::parse(text)?;
            in_future = at > now;
            Some(time::format(at))
        });
        if in_future {
            self.problems.push("consented_at in the future".to_string());
            return None;
        }
        parsed
    }
}

fn parse_row<'a>(
    line: usize,
    cells: impl IntoIterator<Item = (&'a str, Cell<'a>)>,
    clock: Clock,
) -> RowOutcome {
    let mut columns = Columns::from_cells(cells);
    let email = columns.email();
    let fields = ContactFields {
        name: columns.optional("name", |s| contact::short_text(s, 100)),
        phone: columns.optional("phone", contact::phone),
        locale: columns.optional("locale", contact::locale_tag),
        country: columns.optional("country", contact::country_code),
        city: columns.optional("city", |s| contact::short_text(s, 100)),
        birth_date: columns.optional("birth_date", |s| contact::birth_date(s, clock.today)),
        gender: columns.optional("gender", |s| contact::short_text(s, 40)),
    };
    let preferred_channel = columns.optional("preferred_channel", |s| contact::channel(s.trim()));
    let consents = columns.consents();
    let consent_basis = columns.optional(CONSENT_BASIS, |s| contact::short_text(s, 200));
    let consented_at = columns.consented_at(clock.now);
    let policy_version = columns.optional(POLICY_VERSION, |s| contact::short_text(s, 40));
    if !consents.is_empty() && columns.is_blank(CONSENT_BASIS) {
        columns
            .problems
            .push("consent_basis required with consents".to_string());
    }
    let with_consents = |value: Option<String>| value.filter(|_| !consents.is_empty());
    let (consent_basis, consented_at, policy_version) = (
        with_consents(consent_basis),
        with_consents(consented_at),
        with_consents(policy_version),
    );
    let result = match (&email, columns.problems.is_empty()) {
        (Some(email), true) => Ok(ImportRow {
            line,
            email: email.clone(),
            fields,
            preferred_channel,
            attributes: columns.attributes,
            consents,
            consent_basis,
            consented_at,
            policy_version,
        }),
        _ => Err(columns.problems.join("; ")),
    };
    RowOutcome {
        line,
        email,
        result,
    }
}

/// Keeps the last row of each email and splits the outcomes, both in line order.
fn settle_duplicates(outcomes: Vec<RowOutcome>) -> (Vec<ImportRow>, Vec<Rejection>) {
    let mut last_line: HashMap<String, usize> = HashMap::new();
    for outcome in &outcomes {
        if let Some(email) = &outcome.email {
            last_line.insert(email.as_str().to_string(), outcome.line);
        }
    }
    let mut rows = Vec::new();
    let mut rejections = Vec::new();
    for outcome in outcomes {
        match outcome.result {
            Ok(row) => match last_line.get(row.email.as_str()) {
                Some(&last) if last != row.line => rejections.push(Rejection {
                    line: row.line,
                    reason: format!("duplicate of line {last}"),
                }),
                _ => rows.push(row),
            },
            Err(reason) => rejections.push(Rejection {
                line: outcome.line,
                reason,
            }),
        }
    }
    (rows, rejections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
    }

    fn now() -> DateTime<Utc> {
        time::parse("2026-11-23T12:00:00Z").unwrap_or_default()
    }

    fn import(format: ImportFormat, body: &str) -> (Vec<ImportRow>, Vec<Rejection>) {
        parse_import(format, body.as_bytes(), today(), now()).unwrap()
    }

    fn ndjson(body: &str) -> (Vec<ImportRow>, Vec<Rejection>) {
        import(ImportFormat::Ndjson, body)
    }

    fn csv(body: &str) -> (Vec<ImportRow>, Vec<Rejection>) {
        import(ImportFormat::Csv, body)
    }

    /// The reason a one-line NDJSON import was rejected with.
    fn ndjson_reason(object: Value) -> String {
        let (rows, rejections) = ndjson(&object.to_string());
        assert!(rows.is_empty(), "accepted {object}");
        assert_eq!(rejections.len(), 1);
        rejections[0].reason.clone()
    }

    fn reject(line: usize, reason: &str) -> Rejection {
        Rejection {
            line,
            reason: reason.to_string(),
        }
    }

    #[test]
    fn ndjson_rows_are_parsed_and_normalized() {
        let body = [
            json!({
                "email": " Ana@Example.COM ",
                "name": " Ana Souza ",
                "phone": "+55 (11) 91234-5678",
                "locale": "pt-BR",
                "country": "br",
                "city": "São Paulo",
                "birth_date": "1990-05-17",
                "gender": "female",
                "preferred_channel": "whatsapp",
                "attr.shoe_size": 38,
                "attr.vip": true,
                "attr.interests": ["shoes", "bags"],
                "attr.note": "first buyer",
                "attr.empty": null,
                "consents": ["sms", "marketing_email", "sms"],
                "consent_basis": "signup form on old shop, 2024",
                "consented_at": "2024-03-01T10:00:00-03:00",
                "policy_version": "2024-01"
            })
            .to_string(),
            String::new(),
            json!({"email": "bruno@example.com"}).to_string(),
        ]
        .join("\n");
        let (rows, rejections) = ndjson(&body);
        assert_eq!(rejections, vec![]);
        assert_eq!(rows.len(), 2);
        let ana = &rows[0];
        assert_eq!(ana.line, 1);
        assert_eq!(ana.email.as_str(), "ana@example.com");
        assert_eq!(
            ana.fields,
            ContactFields {
                name: Some("Ana Souza".into()),
                phone: Some("+5511912345678".into()),
                locale: Some("pt-BR".into()),
                country: Some("BR".into()),
                city: Some("São Paulo".into()),
                birth_date: Some("1990-05-17".into()),
                gender: Some("female".into()),
            }
        );
        assert_eq!(ana.preferred_channel.as_deref(), Some("whatsapp"));
        let expected_attributes: BTreeMap<String, Value> = [
            ("interests", json!(["shoes", "bags"])),
            ("note", json!("first buyer")),
            ("shoe_size", json!(38)),
            ("vip", json!(true)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(ana.attributes, expected_attributes);
        let purposes: Vec<&str> = ana.consents.iter().map(Purpose::as_str).collect();
        assert_eq!(purposes, ["marketing_email", "sms"]);
        assert_eq!(
            ana.consent_basis.as_deref(),
            Some("signup form on old shop, 2024")
        );
        assert_eq!(
            ana.consented_at.as_deref(),
            Some("2024-03-01T13:00:00.000Z")
        );
        assert_eq!(ana.policy_version.as_deref(), Some("2024-01"));

        let bruno = &rows[1];
        assert_eq!(bruno.line, 3);
        assert_eq!(bruno.fields, ContactFields::default());
        assert!(bruno.consents.is_empty() && bruno.attributes.is_empty());
        assert_eq!(bruno.consent_basis, None);
    }

    #[test]
    fn csv_rows_are_parsed_with_quoted_fields() {
        let body = "email,name,city,attr.note,consents,consent_basis,policy_version\n\
            ana@example.com,\"Souza, Ana\",Recife,\"said \"\"hi\"\"\nthen left\",marketing_email|sms,\"shop signup, 2024\",2024-01\n\
            bruno@example.com,Bruno,,,,,\n";
        let (rows, rejections) = csv(body);
        assert_eq!(rejections, vec![]);
        assert_eq!(rows.len(), 2);
        let ana = &rows[0];
        assert_eq!(ana.line, 2);
        assert_eq!(ana.fields.name.as_deref(), Some("Souza, Ana"));
        assert_eq!(ana.fields.city.as_deref(), Some("Recife"));
        assert_eq!(ana.attributes["note"], json!("said \"hi\"\nthen left"));
        let purposes: Vec<&str> = ana.consents.iter().map(Purpose::as_str).collect();
        assert_eq!(purposes, ["marketing_email", "sms"]);
        assert_eq!(ana.consent_basis.as_deref(), Some("shop signup, 2024"));
        assert_eq!(ana.consented_at, None);
        assert_eq!(ana.policy_version.as_deref(), Some("2024-01"));
        let bruno = &rows[1];
        assert_eq!(
            bruno.line, 4,
            "the quoted newline moved Bruno one line down"
        );
        assert_eq!(bruno.fields.city, None);
        assert!(bruno.attributes.is_empty() && bruno.consents.is_empty());
    }

    #[test]
    fn basis_without_consents_is_checked_then_dropped() {
        let (rows, rejections) = csv("email,consents,consent_basis,consented_at,policy_version\n\
             ana@example.com,,old shop,2024-01-01T00:00:00Z,v1\n\
             bruno@example.com,,old shop,yesterday,v1\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].consent_basis, None);
        assert_eq!(rows[0].consented_at, None);
        assert_eq!(rows[0].policy_version, None);
        assert_eq!(rejections, vec![reject(3, "invalid consented_at")]);
    }

    #[test]
    fn every_problem_has_its_own_reason() {
        let consent = |extra: Value| {
            let mut row = json!({"email": "ana@example.com", "consents": ["marketing_email"], "consent_basis": "old shop"});
            if let (Some(row), Some(extra)) = (row.as_object_mut(), extra.as_object()) {
                row.extend(extra.clone());
            }
            row
        };
        let cases = [
            (json!({"name": "Ana"}), "missing email"),
            (json!({"email": ""}), "missing email"),
            (json!({"email": null}), "missing email"),
            (json!({"email": "not-an-address"}), "invalid email"),
            (json!({"email": 42}), "invalid email"),
            (
                json!({"email": "a@example.com", "name": "x".repeat(101)}),
                "invalid name",
            ),
            (json!({"email": "a@example.com", "name": 5}), "invalid name"),
            (
                json!({"email": "a@example.com", "phone": "12"}),
                "invalid phone",
            ),
            (
                json!({"email": "a@example.com", "locale": "x"}),
                "invalid locale",
            ),
            (
                json!({"email": "a@example.com", "country": "BRA"}),
                "invalid country",
            ),
            (
                json!({"email": "a@example.com", "city": "a\u{7}b"}),
                "invalid city",
            ),
            (
                json!({"email": "a@example.com", "birth_date": "2999-01-01"}),
                "invalid birth_date",
            ),
            (
                json!({"email": "a@example.com", "gender": "g".repeat(41)}),
                "invalid gender",
            ),
            (
                json!({"email": "a@example.com", "preferred_channel": "pigeon"}),
                "invalid preferred_channel",
            ),
            (
                json!({"email": "a@example.com", "foo": "bar"}),
                "unknown column 'foo'",
            ),
            (
                json!({"email": "a@example.com", "attr.Shoe": "38"}),
                "invalid attribute name 'attr.Shoe'",
            ),
            (
                json!({"email": "a@example.com", "attr.": "38"}),
                "invalid attribute name 'attr.'",
            ),
            (
                json!({"email": "a@example.com", "attr.size": {"eu": 38}}),
                "invalid value for 'attr.size'",
            ),
            (
                json!({"email": "a@example.com", "attr.size": [38]}),
                "invalid value for 'attr.size'",
            ),
            (
                json!({"email": "a@example.com", "attr.note": "n".repeat(999)}),
                "invalid value for 'attr.note'",
            ),
            (
                json!({"email": "a@example.com", "consents": "marketing_email"}),
                "consents must be a list of purposes",
            ),
            (
                json!({"email": "a@example.com", "consents": [1]}),
                "consents must be a list of purposes",
            ),
            (
                consent(json!({"consents": ["Marketing"]})),
                "invalid purpose in consents",
            ),
            (
                json!({"email": "a@example.com", "consents": ["sms"]}),
                "consent_basis required with consents",
            ),
            (
                consent(json!({"consent_basis": "  "})),
                "consent_basis required with consents",
            ),
            (
                consent(json!({"consent_basis": "b".repeat(201)})),
                "invalid consent_basis",
            ),
            (
                consent(json!({"consented_at": "2024-13-01T00:00:00Z"})),
                "invalid consented_at",
            ),
            (
                consent(json!({"consented_at": "2026-11-24T00:00:00Z"})),
                "consented_at in the future",
            ),
            (
                consent(json!({"policy_version": "v".repeat(41)})),
                "invalid policy_version",
            ),
            (
                json!({"email": "bad", "phone": "12", "zip": "1"}),
                "unknown column 'zip'; invalid email; invalid phone",
            ),
        ];
        for (row, reason) in cases {
            assert_eq!(ndjson_reason(row.clone()), reason, "{row}");
        }
        let accepted =
            consent(json!({"attr.note": "n".repeat(998), "consented_at": "2026-11-23T12:00:00Z"}));
        assert_eq!(ndjson(&accepted.to_string()).0.len(), 1);
    }

    #[test]
    fn lines_that_are_not_objects_are_rejected_alone() {
        let body = "{\"email\":\"ana@example.com\"}\n{not json\n[1,2]\n\"text\"\n{\"email\":\"bia@example.com\"}";
        let (rows, rejections) = ndjson(body);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(
            rejections,
            vec![
                reject(2, "invalid JSON"),
                reject(3, "not a JSON object"),
                reject(4, "not a JSON object"),
            ]
        );
    }

    #[test]
    fn csv_column_problems_reject_rows() {
        let (rows, rejections) = csv("email,zip\nana@example.com,1\nbia@example.com,\n");
        assert!(rows.is_empty());
        assert_eq!(
            rejections,
            vec![
                reject(2, "unknown column 'zip'"),
                reject(3, "unknown column 'zip'")
            ]
        );

        let (_, rejections) = csv("email,name,name\nana@example.com,A,B\n");
        assert_eq!(rejections, vec![reject(2, "duplicate column 'name'")]);

        let (rows, rejections) =
            csv("email,name\nana@example.com\nbia@example.com,Bia,x\ncai@example.com,Cai\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rejections,
            vec![
                reject(2, "expected 2 fields, found 1"),
                reject(3, "expected 2 fields, found 3"),
            ]
        );

        let (rows, rejections) = csv("email,,\nana@example.com,,\nbia@example.com,x,\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rejections,
            vec![reject(3, "value in a column without a name")]
        );

        let (_, rejections) =
            csv("email,consents,consent_basis\nana@example.com,marketing_email|Bad,x\n");
        assert_eq!(rejections, vec![reject(2, "invalid purpose in consents")]);
    }

    #[test]
    fn reasons_never_quote_values() {
        let secret = "Zelda Quixote";
        let body = json!({"email": format!("{secret}@"), "name": format!("{secret}\u{1}"), "phone": secret, "attr.x": {"k": secret}, "consents": [secret]}).to_string();
        let (_, rejections) = ndjson(&body);
        assert_eq!(rejections.len(), 1);
        assert!(
            !rejections[0].reason.contains("Zelda"),
            "{}",
            rejections[0].reason
        );
        let long_column = format!("{}{}", "c".repeat(60), "\u{7}");
        let reason = ndjson_reason(json!({"email": "a@example.com", long_column: 1}));
        assert_eq!(reason, format!("unknown column '{}'", "c".repeat(40)));
    }

    #[test]
    fn the_last_row_of_an_email_wins() {
        let body = [
            json!({"email": "Ana@example.com", "name": "First"}),
            json!({"email": "bia@example.com"}),
            json!({"email": "ana@EXAMPLE.com", "name": "Second"}),
            json!({"email": "ana@example.com", "name": "Third"}),
            json!({"email": "cai@example.com", "phone": "12"}),
            json!({"email": "cai@example.com", "phone": "bad"}),
            json!({"email": "dan@example.com", "name": "Old"}),
            json!({"email": "dan@example.com", "phone": "12"}),
        ]
        .map(|v| v.to_string())
        .join("\n");
        let (rows, rejections) = ndjson(&body);
        let kept: Vec<(usize, Option<&str>)> = rows
            .iter()
            .map(|r| (r.line, r.fields.name.as_deref()))
            .collect();
        assert_eq!(kept, [(2, None), (4, Some("Third"))]);
        assert_eq!(
            rejections,
            vec![
                reject(1, "duplicate of line 4"),
                reject(3, "duplicate of line 4"),
                reject(5, "invalid phone"),
                reject(6, "invalid phone"),
                reject(7, "duplicate of line 8"),
                reject(8, "invalid phone"),
            ]
        );

        let (rows, rejections) = csv("name,email\nA,ana@example.com\nB,ANA@example.com\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].fields.name.as_deref(), Some("B"));
        assert_eq!(rejections, vec![reject(2, "duplicate of line 3")]);
    }

    #[test]
    fn a_csv_needs_an_email_column() {
        for body in [
            "name,city\nAna,Recife\n",
            "ana@example.com,Ana\n",
            "Email,name\nana@example.com,Ana\n",
            "",
            "\n\n",
        ] {
            assert_eq!(
                parse_import(ImportFormat::Csv, body.as_bytes(), today(), now()),
                Err(ImportError::NoEmailColumn),
                "{body:?}"
            );
        }
        assert_eq!(csv(" email ,name\n"), (vec![], vec![]));
        assert_eq!(ndjson(""), (vec![], vec![]));
    }

    #[test]
    fn crlf_line_endings() {
        let (rows, rejections) = csv("email,name,attr.note\r\nana@example.com,Ana,\r\n\"bia@example.com\",Bia,\"B\r\nB\"\r\ncai@example.com,Cai,\r\n");
        assert_eq!(rejections, vec![]);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 5]);
        assert_eq!(rows[0].fields.name.as_deref(), Some("Ana"));
        assert_eq!(rows[1].attributes["note"], json!("B\r\nB"));
        assert_eq!(rows[2].fields.name.as_deref(), Some("Cai"));

        let (rows, rejections) =
            ndjson("{\"email\":\"ana@example.com\"}\r\n\r\n{\"email\":\"bia@example.com\"}\r\n");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(rejections, vec![]);
    }

    #[test]
    fn crlf_inside_a_quoted_name_is_rejected_as_invalid_name() {
        let (_, rejections) = csv("email,name\r\nbia@example.com,\"B\r\nB\"\r\n");
        assert_eq!(rejections, vec![reject(2, "invalid name")]);
    }

    #[test]
    fn csv_lines_count_blank_lines_too() {
        let (rows, rejections) = csv("\nemail\n\nana@example.com\n\r\n\n,\r\nbia@example.com");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 8]);
        assert_eq!(rejections, vec![reject(7, "expected 1 fields, found 2")]);
    }

    /// Found by the `import` fuzz target: the reader splits records at a lone `\r`, but lines
    /// were counted at `\n` only, so every row of a CR-only file was reported as line 1.
    #[test]
    fn lone_carriage_returns_end_csv_lines() {
        let (rows, rejections) =
            csv("email,name\rbad,x,y\rana@example.com,Ana\r\r\nbia@example.com,\r");
        assert_eq!(rejections, vec![reject(2, "expected 2 fields, found 3")]);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 5]);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let (rows, rejections) = csv("\u{feff}email,name\nana@example.com,Ana\n");
        assert_eq!(rejections, vec![]);
        assert_eq!(rows[0].line, 2);
        let (rows, _) = ndjson("\u{feff}{\"email\":\"ana@example.com\"}\n");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn formula_looking_values_are_kept_as_written() {
        let (rows, rejections) = csv(
            "email,name,attr.note,attr.code\nana@example.com,=HYPERLINK(\"x\"),+1+1,\"@SUM(A1:A2)\"\n",
        );
        assert_eq!(rejections, vec![]);
        assert_eq!(rows[0].fields.name.as_deref(), Some("=HYPERLINK(\"x\")"));
        assert_eq!(rows[0].attributes["note"], json!("+1+1"));
        assert_eq!(rows[0].attributes["code"], json!("@SUM(A1:A2)"));
    }

    #[test]
    fn row_limit() {
        let csv_body = |n: usize| {
            let mut body = String::from("email\n");
            for i in 0..n {
                body.push_str(&format!("p{i}@example.com\n"));
            }
            body
        };
        let ndjson_body = |n: usize| {
            (0..n)
                .map(|i| format!("{{\"email\":\"p{i}@example.com\"}}\n\n"))
                .collect::<String>()
        };
        let too_many = Err(ImportError::TooManyRows { limit: MAX_ROWS });
        for (format, body) in [
            (ImportFormat::Csv, csv_body as fn(usize) -> String),
            (ImportFormat::Ndjson, ndjson_body),
        ] {
            let full = parse_import(format, body(MAX_ROWS).as_bytes(), today(), now());
            assert_eq!(full.map(|(rows, _)| rows.len()), Ok(MAX_ROWS));
            let over = parse_import(format, body(MAX_ROWS + 1).as_bytes(), today(), now());
            assert_eq!(over.map(|(rows, _)| rows.len()), too_many);
        }
    }

    #[test]
    fn a_body_must_be_utf8() {
        for format in [ImportFormat::Csv, ImportFormat::Ndjson] {
            assert_eq!(
                parse_import(format, b"email\n\xff@example.com\n", today(), now()),
                Err(ImportError::NotUtf8)
            );
        }
        assert_eq!(
            ImportError::TooManyRows { limit: 1000 }.message(),
            "at most 1000 rows per import"
        );
    }

    #[test]
    fn formats_from_content_types() {
        assert_eq!(
            ImportFormat::from_content_type("text/csv; charset=utf-8"),
            Some(ImportFormat::Csv)
        );
        assert_eq!(
            ImportFormat::from_content_type("Application/X-NDJSON"),
            Some(ImportFormat::Ndjson)
        );
        assert_eq!(ImportFormat::from_content_type("application/json"), None);
    }

    /// One NDJSON line: a valid row (from few emails, so duplicates happen), an invalid row,
    /// garbage or a blank line.
    fn ndjson_line() -> impl Strategy<Value = String> {
        prop_oneof![
            ("[abc]", "[A-Za-z ]{0,8}").prop_map(|(who, name)| {
                json!({"email": format!("{who}@example.com"), "name": name}).to_string()
            }),
            ("[abc]", "[0-9]{0,3}").prop_map(|(who, phone)| {
                json!({"email": format!("{who}@example.com"), "phone": phone}).to_string()
            }),
            "\\PC{0,30}",
            "[ \t]{0,3}",
        ]
    }

    /// One CSV line under an `email` header: a row, a row with a wrong field count, garbage
    /// without quotes, or an empty line.
    fn csv_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[abc]@example\\.com",
            "[abc]@example\\.com,x",
            "[a-z@. ,|]{1,20}",
            Just(String::new()),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            for format in [ImportFormat::Csv, ImportFormat::Ndjson] {
                let _ = parse_import(format, &body, today(), now());
            }
        }

        #[test]
        fn arbitrary_text_never_panics(body in "[a-z@.,\"|\\r\\n {}:\\[\\]]{0,200}") {
            let csv_body = format!("email,name,consents\n{body}");
            let _ = parse_import(ImportFormat::Csv, csv_body.as_bytes(), today(), now());
            let _ = parse_import(ImportFormat::Ndjson, body.as_bytes(), today(), now());
        }

        #[test]
        fn every_ndjson_line_is_accounted_for_once(
            lines in proptest::collection::vec(ndjson_line(), 0..40),
            crlf in any::<bool>(),
        ) {
            let body = lines.join(if crlf { "\r\n" } else { "\n" });
            let (rows, rejections) = parse_import(ImportFormat::Ndjson, body.as_bytes(), today(), now())
                .map_err(|e| TestCaseError::fail(e.message()))?;
            let expected: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, line)| !line.trim().is_empty())
                .map(|(index, _)| index + 1)
                .collect();
            let mut seen: Vec<usize> = rows.iter().map(|r| r.line).chain(rejections.iter().map(|r| r.line)).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, expected);
            let mut emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
            let count = emails.len();
            emails.sort_unstable();
            emails.dedup();
            prop_assert_eq!(emails.len(), count, "one row per email");
        }

        #[test]
        fn every_csv_line_is_accounted_for_once(
            lines in proptest::collection::vec(csv_line(), 0..40),
            crlf in any::<bool>(),
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let body = format!("email{newline}{}", lines.join(newline));
            let (rows, rejections) = parse_import(ImportFormat::Csv, body.as_bytes(), today(), now())
                .map_err(|e| TestCaseError::fail(e.message()))?;
            let expected: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, line)| !line.is_empty())
                .map(|(index, _)| index + 2)
                .collect();
            let mut seen: Vec<usize> = rows.iter().map(|r| r.line).chain(rejections.iter().map(|r| r.line)).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, expected);
        }
    }
}
