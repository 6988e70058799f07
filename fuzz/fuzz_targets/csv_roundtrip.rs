//! Fuzzes the segment export writer: arbitrary rows and column choices through `csv_header` /
//! `csv_line`, read back with the `csv` crate (what a spreadsheet or a mail tool's importer
//! does). Every cell must come back as written: text cells after the formula neutralisation
//! `csv_safe` documents, so none starts a formula; number cells as plain integers (a negative
//! number is no formula). NDJSON lines must come back unmodified.
#![no_main]

use arbitrary::Arbitrary;
use clientela::domain::csv::csv_safe;
use clientela::domain::export::{csv_header, csv_line, ndjson_line, ExportColumn, ExportRow};
use clientela::domain::order::Money;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(Debug, Arbitrary)]
struct Case {
    /// Indexes into `ExportColumn::ALL`; repeats are dropped, as `parse_columns` refuses them.
    columns: Vec<u8>,
    rows: Vec<Row>,
}

#[derive(Debug, Arbitrary)]
struct Row {
    contact_id: String,
    email: String,
    name: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    country: Option<String>,
    city: Option<String>,
    gender: Option<String>,
    birth_date: Option<String>,
    preferred_channel: String,
    created_at: String,
    temperature: String,
    order_count: i64,
    total_spent_cents: i64,
    last_order_at: Option<String>,
    last_nps: Option<i64>,
    nps_category: Option<String>,
    preferences_url: String,
    unsubscribe_url: String,
    frequency: Option<String>,
    objects_to_profiling: bool,
}

impl From<Row> for ExportRow {
    fn from(r: Row) -> ExportRow {
        ExportRow {
            contact_id: r.contact_id,
            email: r.email,
            name: r.name,
            phone: r.phone,
            locale: r.locale,
            country: r.country,
            city: r.city,
            gender: r.gender,
            birth_date: r.birth_date,
            preferred_channel: r.preferred_channel,
            created_at: r.created_at,
            temperature: r.temperature,
            order_count: r.order_count,
            total_spent_cents: r.total_spent_cents,
            last_order_at: r.last_order_at,
            last_nps: r.last_nps,
            nps_category: r.nps_category,
            preferences_url: r.preferences_url,
            unsubscribe_url: r.unsubscribe_url,
            frequency: r.frequency,
            objects_to_profiling: r.objects_to_profiling,
        }
    }
}

/// A cell as the export means it, before neutralising: `None` for an empty cell.
enum Raw {
    Text(Option<String>),
    Integer(Option<i64>),
}

fn raw_cell(column: ExportColumn, row: &ExportRow) -> Raw {
    // A member who objected to profiling is exported without the derived columns.
    if row.objects_to_profiling && column.is_profiling() {
        return Raw::Text(None);
    }
    match column {
        ExportColumn::ContactId => Raw::Text(Some(row.contact_id.clone())),
        ExportColumn::Email => Raw::Text(Some(row.email.clone())),
        ExportColumn::Name => Raw::Text(row.name.clone()),
        ExportColumn::Phone => Raw::Text(row.phone.clone()),
        ExportColumn::Locale => Raw::Text(row.locale.clone()),
        ExportColumn::Country => Raw::Text(row.country.clone()),
        ExportColumn::City => Raw::Text(row.city.clone()),
        ExportColumn::Gender => Raw::Text(row.gender.clone()),
        ExportColumn::BirthDate => Raw::Text(row.birth_date.clone()),
        ExportColumn::PreferredChannel => Raw::Text(Some(row.preferred_channel.clone())),
        ExportColumn::CreatedAt => Raw::Text(Some(row.created_at.clone())),
        ExportColumn::Temperature => Raw::Text(Some(row.temperature.clone())),
        ExportColumn::OrderCount => Raw::Integer(Some(row.order_count)),
        // An impossible total (negative, or beyond what `Money::parse` accepts) exports as zero.
        ExportColumn::TotalSpent => Raw::Text(Some(
            Money::from_cents(row.total_spent_cents)
                .map_or_else(|| "0.00".to_string(), |m| m.to_string()),
        )),
        ExportColumn::LastOrderAt => Raw::Text(row.last_order_at.clone()),
        ExportColumn::LastNps => Raw::Integer(row.last_nps),
        ExportColumn::NpsCategory => Raw::Text(row.nps_category.clone()),
        ExportColumn::PreferencesUrl => Raw::Text(Some(row.preferences_url.clone())),
        ExportColumn::UnsubscribeUrl => Raw::Text(Some(row.unsubscribe_url.clone())),
        ExportColumn::Frequency => Raw::Text(row.frequency.clone()),
    }
}

/// The CSV cell the export must write for a raw value.
fn csv_cell(raw: &Raw) -> String {
    match raw {
        Raw::Text(text) => text.as_deref().map_or_else(String::new, csv_safe),
        Raw::Integer(n) => n.map_or_else(String::new, |n| n.to_string()),
    }
}

/// The value an NDJSON line must carry, as text for comparing.
fn json_text(raw: Raw) -> Option<String> {
    match raw {
        Raw::Text(text) => text,
        Raw::Integer(n) => n.map(|n| n.to_string()),
    }
}

fuzz_target!(|case: Case| {
    let mut columns: Vec<ExportColumn> = Vec::new();
    for i in case.columns {
        let column = ExportColumn::ALL[usize::from(i) % ExportColumn::ALL.len()];
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    if columns.is_empty() {
        return;
    }
    let rows: Vec<ExportRow> = case.rows.into_iter().map(ExportRow::from).collect();

    let mut file = csv_header(&columns);
    for row in &rows {
        let line = csv_line(&columns, row);
        assert!(line.ends_with("\r\n"));
        file.push_str(&line);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file.as_bytes());
    let header = reader.headers().expect("the header reads").clone();
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    assert_eq!(header.iter().collect::<Vec<_>>(), names);
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("the export reads back as CSV");
    assert_eq!(records.len(), rows.len(), "rows lost or gained:\n{file:?}");
    for (record, row) in records.iter().zip(&rows) {
        assert_eq!(record.len(), columns.len(), "{file:?}");
        for (cell, column) in record.iter().zip(&columns) {
            let raw = raw_cell(*column, row);
            assert_eq!(cell, csv_cell(&raw), "column {}", column.name());
            if let Raw::Text(_) = raw {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "formula cell {cell:?}"
                );
            }
        }
    }

    // NDJSON is JSON: values come back typed and untouched.
    for row in &rows {
        let line = ndjson_line(&columns, row);
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let object: serde_json::Map<String, Value> =
            serde_json::from_str(&line).expect("an NDJSON line is a JSON object");
        assert_eq!(object.keys().collect::<Vec<_>>().len(), columns.len());
        for column in &columns {
            let value = &object[column.name()];
            let text = match value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            assert_eq!(
                text,
                json_text(raw_cell(*column, row)),
                "column {}",
                column.name()
            );
        }
    }
});
