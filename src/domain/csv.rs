//! CSV that leaves the service: RFC 4180 records and the neutralising of spreadsheet formulas.
//! Exports write through here; imports read with the `csv` crate and keep values as written
//! (neutralising is the export's job, see [`crate::domain::import`]).
//!
//! - [`csv_safe`]: a cell that a spreadsheet will show as text, never run as a formula.
//! - [`csv_record`]: one CRLF-terminated record from cells, quoted where RFC 4180 needs it.

/// Neutralises spreadsheet formula injection in an exported cell: a leading `=`, `+`, `-`, `@`,
/// tab or carriage return gets a `'` in front, which spreadsheets show as text. Quoting is the
/// CSV writer's job.
pub fn csv_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// RFC 4180: quote a field holding a comma, quote, CR or LF, doubling its quotes; CRLF ends it.
/// A record of one empty field is written `""`: a bare empty line is no record to a CSV reader.
pub fn csv_record(cells: &[String]) -> String {
    if let [only] = cells {
        if only.is_empty() {
            return "\"\"\r\n".to_string();
        }
    }
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&cell.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(cell);
        }
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn csv_safe_neutralises_formulas() {
        for (input, out) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("fine", "fine"),
            ("", ""),
            (" =1", " =1"),
            ("a=b", "a=b"),
            ("'quoted", "'quoted"),
            ("ótimo", "ótimo"),
        ] {
            assert_eq!(csv_safe(input), out, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn csv_safe_never_starts_with_a_trigger(text in any::<String>()) {
            let out = csv_safe(&text);
            prop_assert!(!out.starts_with(['=', '+', '-', '@', '\t', '\r']));
            prop_assert!(out.ends_with(&text));
        }
    }
}
