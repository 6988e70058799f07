//! Contact columns a person may see and change, and how each value is parsed. Forms and the
//! self-service API share these rules, so a value that one accepts the other accepts too.

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

use crate::domain::validate::{short_text, FieldErrors};

/// Two ASCII letters, upper-cased: ISO 3166-1 alpha-2.
pub fn country_code(input: &str) -> Option<String> {
    let upper = input.trim().to_ascii_uppercase();
    (upper.len() == 2 && upper.chars().all(|c| c.is_ascii_uppercase())).then_some(upper)
}

pub fn locale_tag(input: &str) -> Option<String> {
    let t = input.trim();
    ((2..=35).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then(|| t.to_string())
}

/// Digits with an optional leading `+`, from what people type (`+55 (11) 91234-5678`).
pub fn phone(input: &str) -> Option<String> {
    let s = input.trim();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let ok = s
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && (6..=15).contains(&digits)
        && s.len() <= 25
        && !s.get(1..).unwrap_or("").contains('+');
    ok.then(|| {
        s.chars()
            .enumerate()
            .filter(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '+'))
            .map(|(_, c)| c)
            .collect()
    })
}

/// A birth date in the past, at most 130 years ago.
pub fn birth_date(input: &str, today: NaiveDate) -> Option<String> {
    let date = NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d").ok()?;
    (date <= today && today.year() - date.year() <= 130)
        .then(|| date.format("%Y-%m-%d").to_string())
}

pub fn channel(input: &str) -> Option<String> {
    matches!(input, "email" | "sms" | "whatsapp").then(|| input.to_string())
}

/// The columns `PATCH /v1/me` may change. Email, status and everything derived are not here:
/// an email change needs its own confirmation, and status follows consent.
pub const EDITABLE: [&str; 8] = [
    "name",
    "phone",
    "locale",
    "country",
    "city",
    "birth_date",
    "gender",
    "preferred_channel",
];

/// A validated self-service change: (column, new value or `None` to clear).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilePatch(pub Vec<(&'static str, Option<String>)>);

impl ProfilePatch {
    pub fn parse(body: &Map<String, Value>, today: NaiveDate) -> Result<ProfilePatch, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut changes = Vec::new();
        if body.is_empty() {
            errors.insert("body".into(), "nothing to change".into());
        }
        for (key, value) in body {
            let Some(column) = EDITABLE.iter().find(|c| **c == key.as_str()) else {
                errors.insert(key.chars().take(40).collect(), "not editable".into());
                continue;
            };
            let text = match value {
                Value::Null if *column != "preferred_channel" => {
                    changes.push((*column, None));
                    continue;
                }
                Value::String(s) => s.as_str(),
                _ => {
                    errors.insert(key.clone(), "must be text or null".into());
                    continue;
                }
            };
            let parsed = match *column {
                "name" | "city" => short_text(text, 100),
                "gender" => short_text(text, 40),
                "phone" => phone(text),
                "country" => country_code(text),
                "locale" => locale_tag(text),
                "birth_date" => birth_date(text, today),
                "preferred_channel" => channel(text),
                _ => None,
            };
            match parsed {
                Some(v) => changes.push((*column, Some(v))),
                None => {
                    errors.insert(key.clone(), problem(column).into());
                }
            }
        }
        if errors.is_empty() {
            Ok(ProfilePatch(changes))
        } else {
            Err(errors)
        }
    }
}

fn problem(column: &str) -> &'static str {
    match column {
        "phone" => "a phone number such as +55 11 91234-5678",
        "country" => "a two-letter country code",
        "locale" => "a language tag such as pt-BR",
        "birth_date" => "a birth date in the past, as YYYY-MM-DD",
        "preferred_channel" => "one of email, sms, whatsapp",
        _ => "1 to 100 printable characters",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
    }

    fn parse(v: Value) -> Result<ProfilePatch, FieldErrors> {
        ProfilePatch::parse(v.as_object().unwrap_or(&Map::new()), today())
    }

    #[test]
    fn editable_fields_are_parsed_and_normalized() {
        let p = parse(
            json!({"name": " Ana ", "country": "br", "phone": "+55 (11) 91234-5678", "city": null}),
        )
        .unwrap_or(ProfilePatch(vec![]));
        assert_eq!(
            p.0,
            vec![
                ("city", None),
                ("country", Some("BR".into())),
                ("name", Some("Ana".into())),
                ("phone", Some("+5511912345678".into())),
            ]
        );
    }

    #[test]
    fn mass_assignment_is_refused_by_name() {
        let errors = parse(json!({"email": "x@y.z", "status": "active", "id": "1", "name": "A"}))
            .unwrap_err();
        assert_eq!(errors.len(), 3);
        assert_eq!(errors["status"], "not editable");
        assert_eq!(errors["email"], "not editable");
    }

    #[test]
    fn bad_values_are_named() {
        let errors = parse(json!({"birth_date": "2999-01-01", "preferred_channel": "pigeon", "phone": "12", "name": 5})).unwrap_err();
        assert_eq!(errors.len(), 4);
        assert!(parse(json!({})).is_err());
    }
}
