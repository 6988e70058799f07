//! The survey definition: its types (stored normalized in `surveys.definition`) and
//! [`parse_definition`], which validates what a marketer writes against the rules in the
//! module contract.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::i18n::Locale;
use crate::domain::validate::{reject_unknown, short_text, shown_key, valid_key, FieldErrors};

pub const MAX_QUESTIONS: usize = 30;
pub const MAX_OPTIONS: usize = 30;
pub const DEFAULT_EXPIRES_AFTER_DAYS: u32 = 30;
pub const MAX_EXPIRES_AFTER_DAYS: u32 = 365;
pub const DEFAULT_TEXT_LEN: u32 = 1000;
pub const MAX_TEXT_LEN: u32 = 5000;

const MAX_NAME_LEN: usize = 200;
const MAX_QUESTION_TEXT_LEN: usize = 500;
const MAX_LABEL_LEN: usize = 200;
const MAX_OPTION_VALUE_LEN: usize = 100;

const TOP_KEYS: [&str; 5] = [
    "name",
    "locale",
    "expires_after_days",
    "reminder_after_days",
    "questions",
];
const QUESTION_KEYS: [&str; 6] = ["key", "type", "required", "text", "max_len", "options"];
const OPTION_KEYS: [&str; 2] = ["value", "label"];
pub(super) const LOCALES_HINT: &str = "one of en, pt-BR, ro, ru";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    Nps,
    Csat,
    Ces,
    SingleChoice,
    MultiChoice,
    Text,
}

impl QuestionType {
    pub const ALL: [QuestionType; 6] = [
        QuestionType::Nps,
        QuestionType::Csat,
        QuestionType::Ces,
        QuestionType::SingleChoice,
        QuestionType::MultiChoice,
        QuestionType::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuestionType::Nps => "nps",
            QuestionType::Csat => "csat",
            QuestionType::Ces => "ces",
            QuestionType::SingleChoice => "single_choice",
            QuestionType::MultiChoice => "multi_choice",
            QuestionType::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<QuestionType> {
        QuestionType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The inclusive range of a score question; `None` for the others.
    pub fn scale(self) -> Option<(u8, u8)> {
        match self {
            QuestionType::Nps => Some((0, 10)),
            QuestionType::Csat => Some((1, 5)),
            QuestionType::Ces => Some((1, 7)),
            _ => None,
        }
    }

    pub fn is_choice(self) -> bool {
        matches!(self, QuestionType::SingleChoice | QuestionType::MultiChoice)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub value: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: QuestionType,
    #[serde(default)]
    pub required: bool,
    pub text: BTreeMap<String, String>,
    /// `Some` exactly for text questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u32>,
    /// Non-empty exactly for choice questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChoiceOption>,
}

/// A validated survey. Serializes to the normalized JSON kept in `surveys.definition`, which is
/// itself a valid input of [`parse_definition`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyDefinition {
    pub name: String,
    #[serde(with = "locale_tag")]
    pub locale: Locale,
    pub expires_after_days: u32,
    /// Days after an emailed invitation when one reminder goes to whoever has not answered;
    /// before the link expires. None: no reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_after_days: Option<u32>,
    pub questions: Vec<Question>,
}

/// `Locale` lives in `i18n` without serde support; its tag is the stored form.
mod locale_tag {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::domain::i18n::Locale;

    pub fn serialize<S: Serializer>(locale: &Locale, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(locale.tag())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Locale, D::Error> {
        let tag = String::deserialize(d)?;
        Locale::from_tag(&tag).ok_or_else(|| D::Error::custom("unsupported locale"))
    }
}

/// A submitted key as a path segment: bounded, so an error map cannot be inflated at will.
fn segment(key: &str) -> String {
    shown_key(key)
}

/// `null` counts as absent for optional keys.
fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn bounded_text(value: Option<&Value>, max: usize) -> Option<String> {
    short_text(value?.as_str()?, max)
}

/// Parses a map of locale tags to texts, normalizing tags. `survey_locale` is `None` when the
/// survey's own locale is invalid: that error is reported already, so the coverage check only
/// asks for some text then.
fn parse_texts(
    value: Option<&Value>,
    path: &str,
    max: usize,
    survey_locale: Option<Locale>,
    required: bool,
    errors: &mut FieldErrors,
) -> BTreeMap<String, String> {
    let mut texts = BTreeMap::new();
    let coverage = "needs an en text or one in the survey's locale";
    let map = match value {
        None => {
            if required {
                errors.insert(path.into(), coverage.into());
            }
            return texts;
        }
        Some(Value::Object(map)) => map,
        Some(_) => {
            errors.insert(path.into(), "an object of texts by locale".into());
            return texts;
        }
    };
    for (tag, text) in map {
        let Some(locale) = Locale::from_tag(tag) else {
            errors.insert(format!("{path}.{}", segment(tag)), LOCALES_HINT.into());
            continue;
        };
        let norm = locale.tag();
        let Some(text) = bounded_text(Some(text), max) else {
            errors.insert(
                format!("{path}.{norm}"),
                format!("1 to {max} printable characters"),
            );
            continue;
        };
        if texts.insert(norm.to_string(), text).is_some() {
            errors.insert(path.into(), "a locale is given twice".into());
        }
    }
    let covered = texts.contains_key(Locale::En.tag())
        || survey_locale.map_or(!texts.is_empty(), |l| texts.contains_key(l.tag()));
    if (required || !map.is_empty()) && !covered && !errors.contains_key(path) {
        errors.insert(path.into(), coverage.into());
    }
    texts
}

/// Validates a survey definition as `POST /admin/v1/surveys` receives it.
pub fn parse_definition(value: &Value) -> Result<SurveyDefinition, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(map) = value.as_object() else {
        errors.insert("body".into(), "a JSON object".into());
        return Err(errors);
    };
    reject_unknown(map, &TOP_KEYS, "", "unknown key", &mut errors);

    let name = bounded_text(map.get("name"), MAX_NAME_LEN);
    if name.is_none() {
        errors.insert(
            "name".into(),
            format!("1 to {MAX_NAME_LEN} printable characters"),
        );
    }
    let locale = match present(map, "locale") {
        None => Some(Locale::En),
        Some(v) => {
            let locale = v.as_str().and_then(Locale::from_tag);
            if locale.is_none() {
                errors.insert("locale".into(), LOCALES_HINT.into());
            }
            locale
        }
    };
    let expires_after_days = match present(map, "expires_after_days") {
        None => DEFAULT_EXPIRES_AFTER_DAYS,
        Some(v) => match v.as_u64().filter(|d| (1..=365).contains(d)) {
            Some(d) => d as u32,
            None => {
                errors.insert(
                    "expires_after_days".into(),
                    format!("a whole number from 1 to {MAX_EXPIRES_AFTER_DAYS}"),
                );
                DEFAULT_EXPIRES_AFTER_DAYS
            }
        },
    };
    // A reminder must come while the link still works, with a day to spare.
    let reminder_after_days = match present(map, "reminder_after_days") {
        None => None,
        Some(v) => match v
            .as_u64()
            .filter(|d| *d >= 1 && *d < u64::from(expires_after_days))
        {
            Some(d) => Some(d as u32),
            None => {
                errors.insert(
                    "reminder_after_days".into(),
                    "a whole number of days from 1 to one less than expires_after_days".into(),
                );
                None
            }
        },
    };
    let questions = match map.get("questions") {
        Some(Value::Array(items)) if (1..=MAX_QUESTIONS).contains(&items.len()) => {
            parse_questions(items, locale, &mut errors)
        }
        _ => {
            errors.insert(
                "questions".into(),
                format!("a list of 1 to {MAX_QUESTIONS} questions"),
            );
            Vec::new()
        }
    };
    match (name, locale, errors.is_empty()) {
        (Some(name), Some(locale), true) => Ok(SurveyDefinition {
            name,
            locale,
            expires_after_days,
            reminder_after_days,
            questions,
        }),
        _ => Err(errors),
    }
}

fn parse_questions(
    items: &[Value],
    locale: Option<Locale>,
    errors: &mut FieldErrors,
) -> Vec<Question> {
    let mut keys = BTreeSet::new();
    let mut scored = BTreeSet::new();
    let mut questions = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("questions[{i}]");
        let Some(map) = item.as_object() else {
            errors.insert(path, "a question object".into());
            continue;
        };
        reject_unknown(map, &QUESTION_KEYS, &path, "unknown key", errors);

        let key = map
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| valid_key(k));
        match key {
            None => {
                errors.insert(
                    format!("{path}.key"),
                    "1 to 40 lower-case letters, digits or underscores, starting with a letter"
                        .into(),
                );
            }
            Some(k) if !keys.insert(k) => {
                errors.insert(format!("{path}.key"), "duplicate key".into());
            }
            Some(_) => {}
        }
        let kind = map
            .get("type")
            .and_then(Value::as_str)
            .and_then(QuestionType::parse);
        match kind {
            None => {
                errors.insert(
                    format!("{path}.type"),
                    "one of nps, csat, ces, single_choice, multi_choice, text".into(),
                );
            }
            Some(t) if t.scale().is_some() && !scored.insert(t) => {
                errors.insert(
                    format!("{path}.type"),
                    "only one question of this type per survey".into(),
                );
            }
            Some(_) => {}
        }
        let required = match present(map, "required") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.insert(format!("{path}.required"), "true or false".into());
                false
            }
        };
        let text = parse_texts(
            present(map, "text"),
            &format!("{path}.text"),
            MAX_QUESTION_TEXT_LEN,
            locale,
            true,
            errors,
        );
        let max_len = match (present(map, "max_len"), kind) {
            (raw, Some(QuestionType::Text)) => match raw {
                None => Some(DEFAULT_TEXT_LEN),
                Some(v) => {
                    let len = v
                        .as_u64()
                        .filter(|n| (1..=u64::from(MAX_TEXT_LEN)).contains(n));
                    if len.is_none() {
                        errors.insert(
                            format!("{path}.max_len"),
                            format!("a whole number from 1 to {MAX_TEXT_LEN}"),
                        );
                    }
                    len.map(|n| n as u32)
                }
            },
            (Some(_), Some(_)) => {
                errors.insert(
                    format!("{path}.max_len"),
                    "only text questions have max_len".into(),
                );
                None
            }
            _ => None,
        };
        let options = match (present(map, "options"), kind.map(QuestionType::is_choice)) {
            (Some(raw), Some(true)) => {
                parse_options(raw, &format!("{path}.options"), locale, errors)
            }
            (None, Some(true)) => {
                errors.insert(
                    format!("{path}.options"),
                    "required for choice questions".into(),
                );
                Vec::new()
            }
            (Some(_), Some(false)) => {
                errors.insert(
                    format!("{path}.options"),
                    "only choice questions have options".into(),
                );
                Vec::new()
            }
            _ => Vec::new(),
        };
        if let (Some(key), Some(kind)) = (key, kind) {
            questions.push(Question {
                key: key.to_string(),
                kind,
                required,
                text,
                max_len,
                options,
            });
        }
    }
    questions
}

fn parse_options(
    raw: &Value,
    path: &str,
    locale: Option<Locale>,
    errors: &mut FieldErrors,
) -> Vec<ChoiceOption> {
    let items = match raw {
        Value::Array(items) if (1..=MAX_OPTIONS).contains(&items.len()) => items,
        _ => {
            errors.insert(path.into(), format!("a list of 1 to {MAX_OPTIONS} options"));
            return Vec::new();
        }
    };
    let mut values = BTreeSet::new();
    let mut options = Vec::new();
    for (j, item) in items.iter().enumerate() {
        let at = format!("{path}[{j}]");
        let Some(map) = item.as_object() else {
            errors.insert(at, "an object with a value and an optional label".into());
            continue;
        };
        reject_unknown(map, &OPTION_KEYS, &at, "unknown key", errors);
        let label = parse_texts(
            present(map, "label"),
            &format!("{at}.label"),
            MAX_LABEL_LEN,
            locale,
            false,
            errors,
        );
        match bounded_text(map.get("value"), MAX_OPTION_VALUE_LEN) {
            None => {
                errors.insert(
                    format!("{at}.value"),
                    format!("1 to {MAX_OPTION_VALUE_LEN} printable characters"),
                );
            }
            Some(value) if values.contains(&value) => {
                errors.insert(format!("{at}.value"), "duplicate value".into());
            }
            Some(value) => {
                values.insert(value.clone());
                options.push(ChoiceOption { value, label });
            }
        }
    }
    options
}

impl SurveyDefinition {
    pub fn question(&self, key: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.key == key)
    }
}
