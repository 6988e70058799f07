//! Segment exports: which columns a marketer may download, and rows as RFC 4180 CSV (with
//! spreadsheet formulas neutralised) or NDJSON.

use serde_json::{Map, Value};

use crate::domain::csv::{csv_record, csv_safe};
use crate::domain::order::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportColumn {
    ContactId,
    Email,
    Name,
    Phone,
    Locale,
    Country,
    City,
    Gender,
    BirthDate,
    PreferredChannel,
    CreatedAt,
    Temperature,
    OrderCount,
    TotalSpent,
    LastOrderAt,
    LastNps,
    NpsCategory,
    PreferencesUrl,
    UnsubscribeUrl,
    /// How often the member wants messages of the segment's purpose (`all`, `weekly`,
    /// `monthly`), for splitting a mailing by it.
    Frequency,
}

impl ExportColumn {
    pub const ALL: [ExportColumn; 20] = [
        ExportColumn::ContactId,
        ExportColumn::Email,
        ExportColumn::Name,
        ExportColumn::Phone,
        ExportColumn::Locale,
        ExportColumn::Country,
        ExportColumn::City,
        ExportColumn::Gender,
        ExportColumn::BirthDate,
        ExportColumn::PreferredChannel,
        ExportColumn::CreatedAt,
        ExportColumn::Temperature,
        ExportColumn::OrderCount,
        ExportColumn::TotalSpent,
        ExportColumn::LastOrderAt,
        ExportColumn::LastNps,
        ExportColumn::NpsCategory,
        ExportColumn::PreferencesUrl,
        ExportColumn::UnsubscribeUrl,
        ExportColumn::Frequency,
    ];

    /// What an export has when the marketer names no columns. The signed links are not among
    /// them: whoever holds a CSV should not hold a link per person by default.
    pub const DEFAULT: [ExportColumn; 10] = [
        ExportColumn::ContactId,
        ExportColumn::Email,
        ExportColumn::Name,
        ExportColumn::Locale,
        ExportColumn::Country,
        ExportColumn::City,
        ExportColumn::Temperature,
        ExportColumn::OrderCount,
        ExportColumn::TotalSpent,
        ExportColumn::LastOrderAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExportColumn::ContactId => "contact_id",
            ExportColumn::Email => "email",
            ExportColumn::Name => "name",
            ExportColumn::Phone => "phone",
            ExportColumn::Locale => "locale",
            ExportColumn::Country => "country",
            ExportColumn::City => "city",
            ExportColumn::Gender => "gender",
            ExportColumn::BirthDate => "birth_date",
            ExportColumn::PreferredChannel => "preferred_channel",
            ExportColumn::CreatedAt => "created_at",
            ExportColumn::Temperature => "temperature",
            ExportColumn::OrderCount => "order_count",
            ExportColumn::TotalSpent => "total_spent",
            ExportColumn::LastOrderAt => "last_order_at",
            ExportColumn::LastNps => "last_nps",
            ExportColumn::NpsCategory => "nps_category",
            ExportColumn::PreferencesUrl => "preferences_url",
            ExportColumn::UnsubscribeUrl => "unsubscribe_url",
            ExportColumn::Frequency => "frequency",
        }
    }

    /// Whether the column is derived from behaviour (orders, scores, temperature): left empty
    /// for a member who objected to profiling, whatever segment they are exported from.
    pub fn is_profiling(self) -> bool {
        matches!(
            self,
            ExportColumn::Temperature
                | ExportColumn::OrderCount
                | ExportColumn::TotalSpent
                | ExportColumn::LastOrderAt
                | ExportColumn::LastNps
                | ExportColumn::NpsCategory
        )
    }

    fn value(self, row: &ExportRow) -> Value {
        let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::String);
        if row.objects_to_profiling && self.is_profiling() {
            return Value::Null;
        }
        match self {
            ExportColumn::ContactId => Value::String(row.contact_id.clone()),
            ExportColumn::Email => Value::String(row.email.clone()),
            ExportColumn::Name => text(&row.name),
            ExportColumn::Phone => text(&row.phone),
            ExportColumn::Locale => text(&row.locale),
            ExportColumn::Country => text(&row.country),
            ExportColumn::City => text(&row.city),
            ExportColumn::Gender => text(&row.gender),
            ExportColumn::BirthDate => text(&row.birth_date),
            ExportColumn::PreferredChannel => Value::String(row.preferred_channel.clone()),
            ExportColumn::CreatedAt => Value::String(row.created_at.clone()),
            ExportColumn::Temperature => Value::String(row.temperature.clone()),
            ExportColumn::OrderCount => Value::from(row.order_count),
            ExportColumn::TotalSpent => Value::String(
                Money::from_cents(row.total_spent_cents)
                    .map_or_else(|| "0.00".to_string(), |m| m.to_string()),
            ),
            ExportColumn::LastOrderAt => text(&row.last_order_at),
            ExportColumn::LastNps => row.last_nps.map_or(Value::Null, Value::from),
            ExportColumn::NpsCategory => text(&row.nps_category),
            ExportColumn::PreferencesUrl => Value::String(row.preferences_url.clone()),
            ExportColumn::UnsubscribeUrl => Value::String(row.unsubscribe_url.clone()),
            ExportColumn::Frequency => text(&row.frequency),
        }
    }
}

/// `columns=email,name`: known names only, each once; none means [`ExportColumn::DEFAULT`].
/// The error names the offending column (cut short: it is the caller's text).
pub fn parse_columns(raw: Option<&str>) -> Result<Vec<ExportColumn>, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(ExportColumn::DEFAULT.to_vec());
    };
    let mut columns = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let shown: String = name.chars().take(40).collect();
        let column = ExportColumn::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| format!("unknown column '{shown}'"))?;
        if columns.contains(&column) {
            return Err(format!("column '{shown}' is listed twice"));
        }
        columns.push(column);
    }
    Ok(columns)
}

/// One member as the export sees them; the two URLs are already signed for this contact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportRow {
    pub contact_id: String,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub preferred_channel: String,
    pub created_at: String,
    pub temperature: String,
    pub order_count: i64,
    pub total_spent_cents: i64,
    pub last_order_at: Option<String>,
    pub last_nps: Option<i64>,
    pub nps_category: Option<String>,
    pub preferences_url: String,
    pub unsubscribe_url: String,
    /// The frequency chosen for the segment's purpose (`all` when none was).
    pub frequency: Option<String>,
    /// The member objected to profiling: derived columns stay empty.
    pub objects_to_profiling: bool,
}

/// The CSV header line, CRLF-terminated.
pub fn csv_header(columns: &[ExportColumn]) -> String {
    let names: Vec<String> = columns.iter().map(|c| c.name().to_string()).collect();
    csv_record(&names)
}

/// One CSV line. Text cells are neutralised against formula injection before quoting.
pub fn csv_line(columns: &[ExportColumn], row: &ExportRow) -> String {
    let cells: Vec<String> = columns
        .iter()
        .map(|c| match c.value(row) {
            Value::Null => String::new(),
            Value::String(s) => csv_safe(&s),
            other => other.to_string(),
        })
        .collect();
    csv_record(&cells)
}

/// One NDJSON line with the same columns; JSON needs no neutralising.
pub fn ndjson_line(columns: &[ExportColumn], row: &ExportRow) -> String {
    let object: Map<String, Value> = columns
        .iter()
        .map(|c| (c.name().to_string(), c.value(row)))
        .collect();
    let mut line = Value::Object(object).to_string();
    line.push('\n');
    line
}

/// Members one invocation can stream whole with `queries` D1 calls left, reading pages of
/// `page` rows: `n` members take `n / page + 1` queries (the last page, short or empty, ends
/// the stream), so at most `queries × page − 1` fit. A larger segment must be refused up front:
/// once the 200 is sent, running out of queries can only cut the file short.
pub fn streamable_members(queries: u32, page: usize) -> u64 {
    (u64::from(queries) * page as u64).saturating_sub(1)
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_objector_to_profiling_is_exported_without_derived_columns() {
        let row = ExportRow {
            contact_id: "c1".into(),
            email: "ana@example.com".into(),
            country: Some("BR".into()),
            temperature: "hot".into(),
            order_count: 4,
            total_spent_cents: 12_990,
            last_nps: Some(9),
            frequency: Some("weekly".into()),
            objects_to_profiling: true,
            ..ExportRow::default()
        };
        let columns = [
            ExportColumn::Email,
            ExportColumn::Country,
            ExportColumn::Temperature,
            ExportColumn::OrderCount,
            ExportColumn::TotalSpent,
            ExportColumn::LastNps,
            ExportColumn::Frequency,
        ];
        assert_eq!(
            csv_line(&columns, &row),
            "ana@example.com,BR,,,,,weekly\r\n"
        );
        let kept = ExportRow {
            objects_to_profiling: false,
            ..row
        };
        assert_eq!(
            csv_line(&columns, &kept),
            "ana@example.com,BR,hot,4,129.90,9,weekly\r\n"
        );
    }

    use super::*;
    use proptest::prelude::*;

    fn row() -> ExportRow {
        ExportRow {
            contact_id: "c1".into(),
            email: "ana@example.com".into(),
            name: Some("=HYPERLINK(\"http://x\",\"y\")".into()),
            city: Some("São Paulo, SP".into()),
            preferred_channel: "email".into(),
            temperature: "hot".into(),
            order_count: 2,
            total_spent_cents: 12990,
            preferences_url: "https://x/me?p=a".into(),
            unsubscribe_url: "https://x/unsubscribe?t=b".into(),
            ..ExportRow::default()
        }
    }

    /// A leaked CSV must not carry a link per person unless the marketer asked for links.
    #[test]
    fn default_columns_match_the_contract_and_carry_no_links() {
        let header = csv_header(&parse_columns(None).unwrap());
        assert_eq!(
            header,
            "contact_id,email,name,locale,country,city,temperature,order_count,total_spent,last_order_at\r\n"
        );
        assert_eq!(
            parse_columns(Some("email,preferences_url,unsubscribe_url")).unwrap(),
            vec![
                ExportColumn::Email,
                ExportColumn::PreferencesUrl,
                ExportColumn::UnsubscribeUrl
            ]
        );
    }

    #[test]
    fn a_stream_fits_its_members_and_the_page_that_ends_it() {
        // Every page count a segment of n members needs stays within the queries left.
        for (queries, page) in [(1u32, 3usize), (44, 3), (44, 500), (1000, 500)] {
            let fits = streamable_members(queries, page);
            let needed = |n: u64| n / page as u64 + 1;
            assert!(needed(fits) <= u64::from(queries), "{queries} {page}");
            assert!(needed(fits + 1) > u64::from(queries), "{queries} {page}");
        }
        assert_eq!(streamable_members(0, 500), 0);
    }

    #[test]
    fn columns_are_chosen_by_name_and_checked() {
        assert_eq!(
            parse_columns(Some("email, total_spent")).unwrap(),
            vec![ExportColumn::Email, ExportColumn::TotalSpent]
        );
        assert_eq!(
            parse_columns(Some("email,password")).unwrap_err(),
            "unknown column 'password'"
        );
        assert!(parse_columns(Some("email,email")).is_err());
        assert_eq!(parse_columns(Some(" ")).unwrap().len(), 10);
    }

    #[test]
    fn formulas_are_neutralised_and_fields_quoted() {
        let cols = [
            ExportColumn::Name,
            ExportColumn::City,
            ExportColumn::TotalSpent,
            ExportColumn::OrderCount,
            ExportColumn::LastNps,
        ];
        assert_eq!(
            csv_line(&cols, &row()),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"São Paulo, SP\",129.90,2,\r\n"
        );
    }

    /// Found by the `csv_roundtrip` fuzz target: with one column, a contact without that value
    /// was an empty line, which CSV readers skip, so the export lost rows.
    #[test]
    fn a_lone_empty_cell_still_makes_a_row() {
        let cols = [ExportColumn::Phone];
        let file = csv_header(&cols) + &csv_line(&cols, &row()) + &csv_line(&cols, &row());
        let mut reader = csv::ReaderBuilder::new().from_reader(file.as_bytes());
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.len() == 1 && r[0].is_empty()));
    }

    #[test]
    fn ndjson_keeps_values_typed_and_unmodified() {
        let line = ndjson_line(&[ExportColumn::Name, ExportColumn::OrderCount], &row());
        assert_eq!(
            line,
            "{\"name\":\"=HYPERLINK(\\\"http://x\\\",\\\"y\\\")\",\"order_count\":2}\n"
        );
    }

    proptest! {
        /// Whatever a name holds, the csv crate reads the line back as the same cells, and no
        /// cell starts with a character a spreadsheet takes for a formula.
        #[test]
        fn csv_lines_round_trip_and_never_start_a_formula(name in ".{0,40}", city in "[ -~]{0,20}") {
            let r = ExportRow { name: Some(name.clone()), city: Some(city.clone()), ..row() };
            // Email first: the csv reader drops a byte order mark at the very start of its input.
            let cols = [ExportColumn::Email, ExportColumn::Name, ExportColumn::City];
            let line = csv_line(&cols, &r);
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
            let record = reader.records().next().unwrap().unwrap();
            prop_assert_eq!(record.len(), 3);
            let (safe_name, safe_city) = (csv_safe(&name), csv_safe(&city));
            prop_assert_eq!(&record[1], safe_name.as_str());
            prop_assert_eq!(&record[2], safe_city.as_str());
            for cell in record.iter() {
                prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
            }
        }
    }
}
