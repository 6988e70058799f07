//! The last row of each email wins: earlier valid rows of that email become rejections.

use std::collections::HashMap;

use super::row::RowOutcome;
use super::{ImportRow, Rejection};

/// Keeps the last row of each email and splits the outcomes, both in line order.
pub(super) fn settle_duplicates(outcomes: Vec<RowOutcome>) -> (Vec<ImportRow>, Vec<Rejection>) {
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
