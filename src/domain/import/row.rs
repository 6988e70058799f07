//! One row of an import: its cells sorted into known columns, `attr.<key>` attributes and
//! problems, then parsed by the contact rules into an [`ImportRow`] or a reason.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::{ImportRow, MAX_ATTRIBUTE_LEN};
use crate::domain::consent::Purpose;
use crate::domain::contact;
use crate::domain::email::EmailAddress;
use crate::domain::form::ContactFields;
use crate::domain::time;
use crate::domain::validate::{short_text, shown_key, valid_key};

const ATTRIBUTE_PREFIX: &str = "attr.";

pub(super) const EMAIL: &str = "email";
const CONSENTS: &str = "consents";
const CONSENT_BASIS: &str = "consent_basis";
const CONSENTED_AT: &str = "consented_at";
const POLICY_VERSION: &str = "policy_version";

/// Every column an import row may have, besides `attr.<key>`: the address, the profile columns
/// a person may edit themselves (`contact::EDITABLE`, one list for both), and the consent columns.
fn known_column(column: &str) -> Option<&'static str> {
    [EMAIL, CONSENTS, CONSENT_BASIS, CONSENTED_AT, POLICY_VERSION]
        .iter()
        .chain(contact::EDITABLE.iter())
        .find(|known| **known == column)
        .copied()
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub(super) today: NaiveDate,
    pub(super) now: DateTime<Utc>,
}

/// What one row became, with its email when that parsed (duplicates are found on it even when
/// the row failed for another reason).
pub(super) struct RowOutcome {
    pub(super) line: usize,
    pub(super) email: Option<EmailAddress>,
    pub(super) result: Result<ImportRow, String>,
}

impl RowOutcome {
    pub(super) fn rejected(line: usize, reason: impl Into<String>) -> RowOutcome {
        RowOutcome {
            line,
            email: None,
            result: Err(reason.into()),
        }
    }
}

/// One value of a row, as the format carries it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cell<'a> {
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
                    .push(format!("duplicate column '{}'", shown_key(column)));
            } else if let Some(key) = column.strip_prefix(ATTRIBUTE_PREFIX) {
                if !valid_key(key) {
                    columns
                        .problems
                        .push(format!("invalid attribute name '{}'", shown_key(column)));
                    continue;
                }
                match cell.attribute_value() {
                    Ok(Some(value)) => {
                        columns.attributes.insert(key.to_string(), value);
                    }
                    Ok(None) => {}
                    Err(WrongType) => columns
                        .problems
                        .push(format!("invalid value for '{}'", shown_key(column))),
                }
            } else if let Some(known) = known_column(column) {
                columns.known.insert(known, cell);
            } else {
                columns
                    .problems
                    .push(format!("unknown column '{}'", shown_key(column)));
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

pub(super) fn parse_row<'a>(
    line: usize,
    cells: impl IntoIterator<Item = (&'a str, Cell<'a>)>,
    clock: Clock,
) -> RowOutcome {
    let mut columns = Columns::from_cells(cells);
    let email = columns.email();
    let fields = ContactFields {
        name: columns.optional("name", |s| short_text(s, 100)),
        phone: columns.optional("phone", contact::phone),
        locale: columns.optional("locale", contact::locale_tag),
        country: columns.optional("country", contact::country_code),
        city: columns.optional("city", |s| short_text(s, 100)),
        birth_date: columns.optional("birth_date", |s| contact::birth_date(s, clock.today)),
        gender: columns.optional("gender", |s| short_text(s, 40)),
    };
    let preferred_channel = columns.optional("preferred_channel", |s| contact::channel(s.trim()));
    let consents = columns.consents();
    let consent_basis = columns.optional(CONSENT_BASIS, |s| short_text(s, 200));
    let consented_at = columns.consented_at(clock.now);
    let policy_version = columns.optional(POLICY_VERSION, |s| short_text(s, 40));
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
