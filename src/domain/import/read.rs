//! Reading an upload into rows: NDJSON line by line, CSV with its header (through the `csv`
//! crate), each row handed to [`parse_row`] with the line it starts on.

use serde_json::Value;

use super::row::{parse_row, Cell, Clock, RowOutcome, EMAIL};
use super::{ImportError, MAX_ROWS};

pub(super) fn parse_ndjson(text: &str, clock: Clock) -> Result<Vec<RowOutcome>, ImportError> {
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

pub(super) fn parse_csv(text: &str, clock: Clock) -> Result<Vec<RowOutcome>, ImportError> {
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
