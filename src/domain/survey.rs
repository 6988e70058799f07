//! Satisfaction surveys: the definition a marketer writes (validated once, stored normalized in
//! `surveys.definition`), the public view the hosted `/s/{token}` page renders, a buyer's answers
//! parsed against the definition, and the arithmetic behind `GET /admin/v1/surveys/{id}/results`.
//!
//! Public API:
//! - [`parse_definition`]`(&Value) -> Result<SurveyDefinition, FieldErrors>`, and on
//!   [`SurveyDefinition`]: [`patched`](SurveyDefinition::patched),
//!   [`public_view`](SurveyDefinition::public_view), [`parse_answers`](SurveyDefinition::parse_answers),
//!   [`choice_counts`](SurveyDefinition::choice_counts), [`results`](SurveyDefinition::results).
//! - [`Answers`] (`nps()`, `csat()`, `ces()`, `get()`, `to_json()`).
//! - [`nps_category`], [`NpsSummary`], [`CsatSummary`], [`CesSummary`], [`ChoiceCounts`],
//!   [`response_rate`], [`next_avg`], [`csv_safe`].
//!
//! Definition rules:
//! - Top-level keys `name` (1–200 printable characters, trimmed), `locale` (en, pt-BR, ro, ru via
//!   [`Locale::from_tag`]; default en), `expires_after_days` (a JSON integer 1–365; default 30) and
//!   `questions` (1–30). Any other key is rejected, at every level. `null` for an optional key
//!   means "absent", so a PATCH can reset it to its default.
//! - A question has `key` (1–40 of `[a-z0-9_]`, starting with a letter, unique), `type`,
//!   `required` (default false), `text` (texts by locale), `max_len` (text questions only,
//!   1–5000, default 1000) and `options` (choice questions only, 1–30 with unique values).
//! - At most one question each of `nps`, `csat`, `ces`: each feeds its own column of
//!   `survey_responses` and of `contact_stats`.
//! - Texts and option labels are maps of locale tag to text; tags must name a supported locale and
//!   are normalized (`pt` becomes `pt-BR`). A question text needs an `en` entry or one in the
//!   survey's locale, so the page can always show something; an option label is optional (the
//!   value is shown instead) but, when given, obeys the same rule.
//!
//! Errors are [`FieldErrors`] keyed by JSON path (`questions[2].options[0].value`,
//! `answers.why`); messages never quote what was submitted, path segments naming an unknown key
//! are truncated to 40 characters.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::form::FieldErrors;
use crate::domain::i18n::Locale;

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

const TOP_KEYS: [&str; 4] = ["name", "locale", "expires_after_days", "questions"];
const QUESTION_KEYS: [&str; 6] = ["key", "type", "required", "text", "max_len", "options"];
const OPTION_KEYS: [&str; 2] = ["value", "label"];
const LOCALES_HINT: &str = "one of en, pt-BR, ro, ru";

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

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

fn valid_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A submitted key as a path segment: bounded, so an error map cannot be inflated at will.
fn segment(key: &str) -> String {
    key.chars().take(40).collect()
}

fn reject_unknown(map: &Map<String, Value>, known: &[&str], path: &str, errors: &mut FieldErrors) {
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        let at = if path.is_empty() {
            segment(key)
        } else {
            format!("{path}.{}", segment(key))
        };
        errors.insert(at, "unknown key".into());
    }
}

/// `null` counts as absent for optional keys.
fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn bounded_text(value: Option<&Value>, max: usize) -> Option<String> {
    let text = value?.as_str()?.trim();
    (!text.is_empty() && text.chars().count() <= max && printable(text)).then(|| text.to_string())
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
    reject_unknown(map, &TOP_KEYS, "", &mut errors);

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
        reject_unknown(map, &QUESTION_KEYS, &path, errors);

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
        reject_unknown(map, &OPTION_KEYS, &at, errors);
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

fn resolve(texts: &BTreeMap<String, String>, wanted: Locale, survey: Locale) -> Option<&str> {
    [wanted, survey, Locale::En]
        .iter()
        .find_map(|l| texts.get(l.tag()))
        .map(String::as_str)
}

impl SurveyDefinition {
    pub fn question(&self, key: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.key == key)
    }

    /// `PATCH /admin/v1/surveys/{id}`: top-level keys of `patch` replace those of the stored
    /// definition (`null` resets one to its default), then the whole is validated again, so a
    /// PATCH can never leave a survey invalid.
    pub fn patched(&self, patch: &Value) -> Result<SurveyDefinition, FieldErrors> {
        let Some(changes) = patch.as_object() else {
            let mut errors = FieldErrors::new();
            errors.insert("body".into(), "a JSON object".into());
            return Err(errors);
        };
        let mut merged = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (k, v) in changes {
            if v.is_null() {
                merged.remove(k);
            } else {
                merged.insert(k.clone(), v.clone());
            }
        }
        parse_definition(&Value::Object(merged))
    }

    /// What the hosted survey page may see, texts resolved to `locale` (falling back to the
    /// survey's locale, then en). Nothing internal: no expiry.
    pub fn public_view(&self, locale: Locale) -> Value {
        let questions: Vec<Value> = self
            .questions
            .iter()
            .map(|q| {
                let mut view = json!({
                    "key": q.key,
                    "type": q.kind,
                    "required": q.required,
                    "text": resolve(&q.text, locale, self.locale).unwrap_or(""),
                });
                if let Some((min, max)) = q.kind.scale() {
                    view["min"] = json!(min);
                    view["max"] = json!(max);
                }
                if let Some(max_len) = q.max_len {
                    view["max_len"] = json!(max_len);
                }
                if q.kind.is_choice() {
                    view["options"] = q
                        .options
                        .iter()
                        .map(|o| {
                            json!({
                                "value": o.value,
                                "label": resolve(&o.label, locale, self.locale).unwrap_or(&o.value),
                            })
                        })
                        .collect();
                }
                view
            })
            .collect();
        json!({ "name": self.name, "locale": locale.tag(), "questions": questions })
    }

    /// Checks the `answers` object of `POST /v1/surveys/responses`. Only a missing key or `null`
    /// leaves a question unanswered, plus a blank text and an empty multiple choice; every other
    /// value must fit its question exactly (no numeric strings, no `9.0` for a score). A response
    /// with no answer at all is refused: it would spend the single-use invitation for nothing.
    pub fn parse_answers(&self, answers: &Value) -> Result<Answers, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(map) = answers.as_object() else {
            errors.insert(
                "answers".into(),
                "an object of answers by question key".into(),
            );
            return Err(errors);
        };
        for key in map.keys().filter(|k| self.question(k).is_none()) {
            errors.insert(
                format!("answers.{}", segment(key)),
                "unknown question".into(),
            );
        }
        let mut parsed = Answers::default();
        for q in &self.questions {
            let path = format!("answers.{}", q.key);
            match map.get(&q.key).map_or(Ok(None), |raw| answer(q, raw)) {
                Err(problem) => {
                    errors.insert(path, problem);
                }
                Ok(None) if q.required => {
                    errors.insert(path, "required".into());
                }
                Ok(None) => {}
                Ok(Some(value)) => {
                    let score = value.as_u64().and_then(|n| u8::try_from(n).ok());
                    match q.kind {
                        QuestionType::Nps => parsed.nps = score,
                        QuestionType::Csat => parsed.csat = score,
                        QuestionType::Ces => parsed.ces = score,
                        _ => {}
                    }
                    parsed.values.insert(q.key.clone(), value);
                }
            }
        }
        if errors.is_empty() && parsed.values.is_empty() {
            errors.insert("answers".into(), "answer at least one question".into());
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }

    /// Per choice question, how often each option was picked, from stored `answers` JSON. Values
    /// that are no longer options (a PATCH removed them) and malformed rows are skipped rather
    /// than failing the whole report.
    pub fn choice_counts<'a, I>(&self, answers: I) -> BTreeMap<String, ChoiceCounts>
    where
        I: IntoIterator<Item = &'a Value>,
    {
        let choice: Vec<&Question> = self
            .questions
            .iter()
            .filter(|q| q.kind.is_choice())
            .collect();
        let mut tallies: Vec<(u64, Vec<u64>)> = choice
            .iter()
            .map(|q| (0, vec![0; q.options.len()]))
            .collect();
        for row in answers {
            for (q, (answered, counts)) in choice.iter().zip(tallies.iter_mut()) {
                let picked: Vec<&str> = match row.get(&q.key) {
                    Some(Value::String(s)) => vec![s.as_str()],
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    _ => continue,
                };
                let mut any = false;
                for (option, count) in q.options.iter().zip(counts.iter_mut()) {
                    if picked.contains(&option.value.as_str()) {
                        *count += 1;
                        any = true;
                    }
                }
                *answered += u64::from(any);
            }
        }
        choice
            .into_iter()
            .zip(tallies)
            .map(|(q, (answered, counts))| {
                let options = q
                    .options
                    .iter()
                    .zip(counts)
                    .map(|(o, count)| OptionCount {
                        value: o.value.clone(),
                        count,
                    })
                    .collect();
                (q.key.clone(), ChoiceCounts { answered, options })
            })
            .collect()
    }

    /// The body of `GET /admin/v1/surveys/{id}/results`. Scores come from the response columns,
    /// not from `answers`, because erasure empties `answers` but keeps the scores for aggregates.
    pub fn results(&self, invited: u64, rows: &[StoredResponse]) -> SurveyResults {
        let score = |v: Option<i64>| v.and_then(|n| u8::try_from(n).ok());
        let responses = rows.len() as u64;
        SurveyResults {
            invited,
            responses,
            response_rate: response_rate(invited, responses),
            nps: NpsSummary::from_scores(rows.iter().filter_map(|r| score(r.nps))),
            csat: CsatSummary::from_scores(rows.iter().filter_map(|r| score(r.csat))),
            ces: CesSummary::from_scores(rows.iter().filter_map(|r| score(r.ces))),
            choices: self.choice_counts(rows.iter().map(|r| &r.answers)),
        }
    }
}

/// One answer checked against its question: `Ok(None)` when unanswered.
fn answer(q: &Question, raw: &Value) -> Result<Option<Value>, String> {
    if raw.is_null() {
        return Ok(None);
    }
    let known = |s: &str| q.options.iter().any(|o| o.value == s);
    match q.kind {
        QuestionType::Nps | QuestionType::Csat | QuestionType::Ces => {
            let (min, max) = q.kind.scale().unwrap_or((0, 0));
            // `as_u64` is `None` for floats (`9.5`, `9.0`, `1e3`) and for integers that overflow
            // into floats, so only a JSON integer literal gets through.
            match raw.as_u64() {
                Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(Some(json!(n))),
                _ => Err(format!("a whole number from {min} to {max}")),
            }
        }
        QuestionType::SingleChoice => match raw.as_str() {
            Some(s) if known(s) => Ok(Some(json!(s))),
            _ => Err("one of the options".into()),
        },
        QuestionType::MultiChoice => {
            let Value::Array(items) = raw else {
                return Err("a list of options".into());
            };
            let mut chosen = BTreeSet::new();
            for item in items {
                match item.as_str() {
                    Some(s) if !known(s) => return Err("not one of the options".into()),
                    Some(s) if !chosen.insert(s) => {
                        return Err("each option at most once".into());
                    }
                    Some(_) => {}
                    None => return Err("not one of the options".into()),
                }
            }
            // Stored in the survey's option order, so equal choices store equal JSON.
            let ordered: Vec<&str> = q
                .options
                .iter()
                .map(|o| o.value.as_str())
                .filter(|v| chosen.contains(v))
                .collect();
            Ok((!ordered.is_empty()).then(|| json!(ordered)))
        }
        QuestionType::Text => {
            let Some(s) = raw.as_str() else {
                return Err("must be text".into());
            };
            // Form posts send textarea line breaks as CRLF; a lone CR stays a control character.
            let s = s.replace("\r\n", "\n");
            let s = s.trim();
            let max = q.max_len.unwrap_or(DEFAULT_TEXT_LEN) as usize;
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                Err("contains invalid characters".into())
            } else if s.chars().count() > max {
                Err(format!("at most {max} characters"))
            } else {
                Ok((!s.is_empty()).then(|| json!(s)))
            }
        }
    }
}

/// A response that passed every check of its survey.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    values: BTreeMap<String, Value>,
    nps: Option<u8>,
    csat: Option<u8>,
    ces: Option<u8>,
}

impl Answers {
    /// The answer to the survey's nps question, for `survey_responses.nps` and `contact_stats`.
    pub fn nps(&self) -> Option<u8> {
        self.nps
    }

    pub fn csat(&self) -> Option<u8> {
        self.csat
    }

    pub fn ces(&self) -> Option<u8> {
        self.ces
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// `{"<key>": 9 | "text" | "option" | ["option", …]}` for `survey_responses.answers`;
    /// unanswered questions are left out.
    pub fn to_json(&self) -> Value {
        Value::Object(self.values.clone().into_iter().collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NpsCategory {
    Promoter,
    Passive,
    Detractor,
}

impl NpsCategory {
    /// The value of `contact_stats.nps_category`.
    pub fn as_str(self) -> &'static str {
        match self {
            NpsCategory::Promoter => "promoter",
            NpsCategory::Passive => "passive",
            NpsCategory::Detractor => "detractor",
        }
    }
}

/// 9–10 promoter, 7–8 passive, 0–6 detractor. Scores are validated to 0–10 before they get here;
/// anything above 10 would count as a promoter.
pub fn nps_category(score: u8) -> NpsCategory {
    match score {
        9.. => NpsCategory::Promoter,
        7 | 8 => NpsCategory::Passive,
        _ => NpsCategory::Detractor,
    }
}

/// `num / den` rounded half away from zero, in integers so that a result like 12.5 never
/// becomes 12.4999… on its way to one decimal. `den` must be positive.
fn div_round(num: i128, den: i128) -> i128 {
    let (q, r) = (num / den, num % den);
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// `num / den` with `decimals` decimals (0 to 3).
fn ratio(num: u64, den: u64, decimals: u32) -> f64 {
    let scale = 10i128.pow(decimals);
    div_round(i128::from(num) * scale, i128::from(den)) as f64 / scale as f64
}

/// `{"score","promoters","passives","detractors"}`. `score` is % promoters − % detractors
/// (−100 to 100, one decimal) and `None` (JSON `null`) without any response, because 0 would
/// read as a real, neutral result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NpsSummary {
    pub score: Option<f64>,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsSummary {
    /// Scores above 10 are not NPS answers and are skipped.
    pub fn from_scores<I: IntoIterator<Item = u8>>(scores: I) -> NpsSummary {
        let (mut promoters, mut passives, mut detractors) = (0u64, 0u64, 0u64);
        for score in scores.into_iter().filter(|s| *s <= 10) {
            match nps_category(score) {
                NpsCategory::Promoter => promoters += 1,
                NpsCategory::Passive => passives += 1,
                NpsCategory::Detractor => detractors += 1,
            }
        }
        let total = promoters + passives + detractors;
        let score = (total > 0).then(|| {
            let diff = i128::from(promoters) - i128::from(detractors);
            div_round(diff * 1000, i128::from(total)) as f64 / 10.0
        });
        NpsSummary {
            score,
            promoters,
            passives,
            detractors,
        }
    }

    pub fn total(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }
}

/// `{"average","satisfied_pct"}`: the mean of 1–5 scores (two decimals) and the share of 4s and
/// 5s in percent (one decimal), both `null` without any response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CsatSummary {
    pub average: Option<f64>,
    pub satisfied_pct: Option<f64>,
    #[serde(skip)]
    pub count: u64,
}

impl CsatSummary {
    /// Scores outside 1–5 are not CSAT answers and are skipped.
    pub fn from_scores<I: IntoIterator<Item = u8>>(scores: I) -> CsatSummary {
        let (mut count, mut sum, mut satisfied) = (0u64, 0u64, 0u64);
        for score in scores.into_iter().filter(|s| (1..=5).contains(s)) {
            count += 1;
            sum += u64::from(score);
            satisfied += u64::from(score >= 4);
        }
        CsatSummary {
            average: (count > 0).then(|| ratio(sum, count, 2)),
            satisfied_pct: (count > 0).then(|| ratio(satisfied * 100, count, 1)),
            count,
        }
    }
}

/// `{"average"}`: the mean of 1–7 effort scores (two decimals), `null` without any response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CesSummary {
    pub average: Option<f64>,
    #[serde(skip)]
    pub count: u64,
}

impl CesSummary {
    /// Scores outside 1–7 are not CES answers and are skipped.
    pub fn from_scores<I: IntoIterator<Item = u8>>(scores: I) -> CesSummary {
        let (mut count, mut sum) = (0u64, 0u64);
        for score in scores.into_iter().filter(|s| (1..=7).contains(s)) {
            count += 1;
            sum += u64::from(score);
        }
        CesSummary {
            average: (count > 0).then(|| ratio(sum, count, 2)),
            count,
        }
    }
}

/// `{"answered": n, "options": [{"value","count"}, …]}` in the survey's option order. `answered`
/// counts responses that picked at least one known option: the shares of a multiple choice do
/// not add up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChoiceCounts {
    pub answered: u64,
    pub options: Vec<OptionCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionCount {
    pub value: String,
    pub count: u64,
}

/// Responses per invitation as a fraction from 0 to 1 (three decimals), `None` before any
/// invitation. More responses than invitations cannot happen (one per invitation); it is
/// capped at 1 all the same.
pub fn response_rate(invited: u64, responses: u64) -> Option<f64> {
    (invited > 0).then(|| ratio(responses.min(invited), invited, 3))
}

/// One `survey_responses` row as the results query reads it (columns are D1 integers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredResponse {
    pub answers: Value,
    pub nps: Option<i64>,
    pub csat: Option<i64>,
    pub ces: Option<i64>,
}

/// The whole results document; serializes to the shape of the API contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyResults {
    pub invited: u64,
    pub responses: u64,
    pub response_rate: Option<f64>,
    pub nps: NpsSummary,
    pub csat: CsatSummary,
    pub ces: CesSummary,
    pub choices: BTreeMap<String, ChoiceCounts>,
}

/// The running mean kept in `contact_stats` (`avg_csat`, `csat_count`) after one more score.
/// No previous mean, a count below 1 or a non-finite mean start over at `new`: a broken stats
/// row heals itself instead of poisoning every later average.
pub fn next_avg(avg: Option<f64>, count: i64, new: u8) -> (f64, i64) {
    match avg.filter(|a| a.is_finite()) {
        Some(avg) if count > 0 => {
            let next = count.saturating_add(1);
            // The incremental form avoids the `avg * count` product losing precision.
            (avg + (f64::from(new) - avg) / next as f64, next)
        }
        _ => (f64::from(new), 1),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn example() -> Value {
        json!({
            "name": "After purchase",
            "locale": "pt-BR",
            "expires_after_days": 14,
            "questions": [
                {"key": "nps", "type": "nps", "required": true,
                 "text": {"en": "How likely are you to recommend us?", "pt-BR": "Qual a chance de nos recomendar?"}},
                {"key": "why", "type": "text", "max_len": 20, "text": {"en": "Why?"}},
                {"key": "channel", "type": "single_choice",
                 "text": {"pt-BR": "Onde comprou?"},
                 "options": [{"value": "web", "label": {"en": "Web", "pt": "Site"}}, {"value": "store"}]},
                {"key": "liked", "type": "multi_choice", "text": {"en": "What did you like?"},
                 "options": [{"value": "price"}, {"value": "speed"}, {"value": "service"}]},
                {"key": "csat", "type": "csat", "text": {"en": "Satisfied?"}},
                {"key": "effort", "type": "ces", "text": {"en": "Easy?"}}
            ]
        })
    }

    fn survey() -> SurveyDefinition {
        parse_definition(&example()).unwrap()
    }

    fn errors_of(value: Value) -> FieldErrors {
        parse_definition(&value).unwrap_err()
    }

    fn with_question(q: Value) -> Value {
        json!({"name": "S", "questions": [q]})
    }

    fn question_errors(q: Value) -> FieldErrors {
        errors_of(with_question(q))
    }

    fn answer_errors(answers: Value) -> FieldErrors {
        survey().parse_answers(&answers).unwrap_err()
    }

    // ---- definition ----

    #[test]
    fn definition_is_normalized() {
        let s = survey();
        assert_eq!(s.name, "After purchase");
        assert_eq!(s.locale, Locale::PtBr);
        assert_eq!(s.expires_after_days, 14);
        assert_eq!(s.questions.len(), 6);
        assert!(s.questions[0].required);
        assert!(!s.questions[1].required);
        assert_eq!(s.questions[1].max_len, Some(20));
        assert_eq!(s.questions[0].max_len, None);
        let web = &s.questions[2].options[0];
        assert_eq!(web.label.get("pt-BR").map(String::as_str), Some("Site"));
        assert!(s.questions[2].options[1].label.is_empty());
    }

    #[test]
    fn definition_defaults() {
        let s = parse_definition(&json!({
            "name": "  Quick  ",
            "questions": [{"key": "why", "type": "text", "text": {"en": "Why?"}}]
        }))
        .unwrap();
        assert_eq!(s.name, "Quick");
        assert_eq!(s.locale, Locale::En);
        assert_eq!(s.expires_after_days, DEFAULT_EXPIRES_AFTER_DAYS);
        assert_eq!(s.questions[0].max_len, Some(DEFAULT_TEXT_LEN));
        assert!(!s.questions[0].required);
    }

    #[test]
    fn nulls_mean_absent_for_optional_keys() {
        let s = parse_definition(&json!({
            "name": "S", "locale": null, "expires_after_days": null,
            "questions": [{"key": "why", "type": "text", "required": null, "max_len": null,
                           "text": {"en": "Why?"}}]
        }))
        .unwrap();
        assert_eq!(s.locale, Locale::En);
        assert_eq!(s.expires_after_days, 30);
        assert_eq!(s.questions[0].max_len, Some(DEFAULT_TEXT_LEN));
    }

    #[test]
    fn definition_round_trips_through_storage() {
        let s = survey();
        let stored = serde_json::to_string(&s).unwrap();
        let back: SurveyDefinition = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, s);
        let reparsed = parse_definition(&serde_json::from_str(&stored).unwrap()).unwrap();
        assert_eq!(reparsed, s);
    }

    #[test]
    fn stored_json_shape() {
        let v = serde_json::to_value(survey()).unwrap();
        assert_eq!(v["locale"], "pt-BR");
        assert_eq!(v["expires_after_days"], 14);
        assert_eq!(v["questions"][0]["type"], "nps");
        assert!(v["questions"][0].get("max_len").is_none());
        assert!(v["questions"][0].get("options").is_none());
        assert_eq!(v["questions"][1]["max_len"], 20);
        assert_eq!(v["questions"][2]["options"][1], json!({"value": "store"}));
        assert_eq!(v["questions"][2]["options"][0]["label"]["pt-BR"], "Site");
    }

    #[test]
    fn stored_json_with_unknown_locale_does_not_deserialize() {
        let mut v = serde_json::to_value(survey()).unwrap();
        v["locale"] = json!("de");
        assert!(serde_json::from_value::<SurveyDefinition>(v).is_err());
    }

    #[test]
    fn body_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            assert!(errors_of(body).contains_key("body"));
        }
    }

    #[test]
    fn top_level_problems_are_named() {
        let e = errors_of(json!({
            "name": "", "locale": "de", "expires_after_days": 0, "questions": [], "colour": 1
        }));
        for key in [
            "name",
            "locale",
            "expires_after_days",
            "questions",
            "colour",
        ] {
            assert!(e.contains_key(key), "{key} missing from {e:?}");
        }
        assert_eq!(e["colour"], "unknown key");
    }

    #[test]
    fn unknown_key_paths_are_truncated() {
        let long = "x".repeat(100);
        let e = errors_of(json!({"name": "S", long.clone(): 1,
            "questions": [{"key": "a", "type": "text", "text": {"en": "A"}}]}));
        assert!(e.contains_key(&"x".repeat(40)));
    }

    #[test]
    fn name_limits() {
        let ok = |name: Value| {
            parse_definition(&json!({"name": name,
                "questions": [{"key": "a", "type": "text", "text": {"en": "A"}}]}))
            .is_ok()
        };
        assert!(ok(json!("a".repeat(200))));
        assert!(!ok(json!("a".repeat(201))));
        assert!(!ok(json!("   ")));
        assert!(!ok(json!("a\u{7}b")));
        assert!(!ok(json!(5)));
        assert!(!ok(json!(null)));
        assert!(ok(json!("Pesquisa pós-compra ✓")));
    }

    #[test]
    fn locale_is_normalized_and_checked() {
        let with = |locale: Value| {
            parse_definition(&json!({"name": "S", "locale": locale,
                "questions": [{"key": "a", "type": "text", "text": {"en": "A"}}]}))
        };
        assert_eq!(with(json!("pt")).unwrap().locale, Locale::PtBr);
        assert_eq!(with(json!("RU")).unwrap().locale, Locale::Ru);
        assert!(with(json!("de")).unwrap_err().contains_key("locale"));
        assert!(with(json!(1)).unwrap_err().contains_key("locale"));
        assert!(with(json!("")).unwrap_err().contains_key("locale"));
    }

    #[test]
    fn expiry_must_be_an_integer_in_range() {
        let with = |days: Value| {
            parse_definition(&json!({"name": "S", "expires_after_days": days,
                "questions": [{"key": "a", "type": "text", "text": {"en": "A"}}]}))
        };
        assert_eq!(with(json!(1)).unwrap().expires_after_days, 1);
        assert_eq!(with(json!(365)).unwrap().expires_after_days, 365);
        for bad in [
            json!(0),
            json!(366),
            json!(-1),
            json!(30.5),
            json!(30.0),
            json!("30"),
            json!(true),
            json!(1e3),
        ] {
            assert!(
                with(bad.clone())
                    .unwrap_err()
                    .contains_key("expires_after_days"),
                "{bad}"
            );
        }
    }

    #[test]
    fn questions_count_limits() {
        let q = |i: usize| json!({"key": format!("q{i}"), "type": "text", "text": {"en": "Q"}});
        let many: Vec<Value> = (0..MAX_QUESTIONS).map(q).collect();
        assert!(parse_definition(&json!({"name": "S", "questions": many})).is_ok());
        let too_many: Vec<Value> = (0..=MAX_QUESTIONS).map(q).collect();
        assert!(errors_of(json!({"name": "S", "questions": too_many})).contains_key("questions"));
        assert!(errors_of(json!({"name": "S", "questions": []})).contains_key("questions"));
        assert!(errors_of(json!({"name": "S"})).contains_key("questions"));
        assert!(errors_of(json!({"name": "S", "questions": {}})).contains_key("questions"));
        assert!(errors_of(json!({"name": "S", "questions": [1]})).contains_key("questions[0]"));
    }

    #[test]
    fn question_keys_are_checked() {
        for bad in [
            json!(""),
            json!("Nps"),
            json!("1st"),
            json!("_x"),
            json!("with space"),
            json!("ção"),
            json!("a".repeat(41)),
            json!(7),
            json!(null),
        ] {
            let e = question_errors(json!({"key": bad, "type": "text", "text": {"en": "Q"}}));
            assert!(e.contains_key("questions[0].key"), "{bad}");
        }
        assert!(parse_definition(&with_question(
            json!({"key": "a".repeat(40), "type": "text", "text": {"en": "Q"}})
        ))
        .is_ok());
        assert!(parse_definition(&with_question(
            json!({"key": "q_2", "type": "text", "text": {"en": "Q"}})
        ))
        .is_ok());
    }

    #[test]
    fn duplicate_question_keys_are_rejected() {
        let e = errors_of(json!({"name": "S", "questions": [
            {"key": "a", "type": "text", "text": {"en": "A"}},
            {"key": "a", "type": "text", "text": {"en": "B"}}
        ]}));
        assert_eq!(e["questions[1].key"], "duplicate key");
        assert!(!e.contains_key("questions[0].key"));
    }

    #[test]
    fn question_types_are_checked() {
        for bad in [json!("rating"), json!("NPS"), json!(1), json!(null)] {
            let e = question_errors(json!({"key": "a", "type": bad, "text": {"en": "Q"}}));
            assert!(e.contains_key("questions[0].type"), "{bad}");
        }
        assert!(question_errors(json!({"key": "a", "text": {"en": "Q"}}))
            .contains_key("questions[0].type"));
    }

    #[test]
    fn at_most_one_score_question_of_each_type() {
        for kind in ["nps", "csat", "ces"] {
            let e = errors_of(json!({"name": "S", "questions": [
                {"key": "a", "type": kind, "text": {"en": "A"}},
                {"key": "b", "type": kind, "text": {"en": "B"}}
            ]}));
            assert!(e.contains_key("questions[1].type"), "{kind}");
        }
        assert!(parse_definition(&json!({"name": "S", "questions": [
            {"key": "a", "type": "nps", "text": {"en": "A"}},
            {"key": "b", "type": "csat", "text": {"en": "B"}},
            {"key": "c", "type": "ces", "text": {"en": "C"}},
            {"key": "d", "type": "text", "text": {"en": "D"}},
            {"key": "e", "type": "text", "text": {"en": "E"}}
        ]}))
        .is_ok());
    }

    #[test]
    fn unknown_question_and_option_keys_are_rejected() {
        let e = question_errors(
            json!({"key": "a", "type": "single_choice", "text": {"en": "Q"},
            "label": {"en": "x"}, "options": [{"value": "x", "colour": "red"}]}),
        );
        assert_eq!(e["questions[0].label"], "unknown key");
        assert_eq!(e["questions[0].options[0].colour"], "unknown key");
    }

    #[test]
    fn required_must_be_boolean() {
        let e = question_errors(
            json!({"key": "a", "type": "text", "required": "yes", "text": {"en": "Q"}}),
        );
        assert!(e.contains_key("questions[0].required"));
    }

    #[test]
    fn question_text_needs_en_or_survey_locale() {
        let e = question_errors(json!({"key": "a", "type": "text"}));
        assert!(e.contains_key("questions[0].text"));
        let e = question_errors(json!({"key": "a", "type": "text", "text": {}}));
        assert!(e.contains_key("questions[0].text"));
        let e = question_errors(json!({"key": "a", "type": "text", "text": {"ro": "Q"}}));
        assert!(e.contains_key("questions[0].text"));
        let ok = json!({"name": "S", "locale": "ro",
            "questions": [{"key": "a", "type": "text", "text": {"ro": "Q"}}]});
        assert!(parse_definition(&ok).is_ok());
    }

    #[test]
    fn question_text_entries_are_checked() {
        let e =
            question_errors(json!({"key": "a", "type": "text", "text": {"en": "Q", "de": "F"}}));
        assert_eq!(e["questions[0].text.de"], LOCALES_HINT);
        let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": " "}}));
        assert!(e.contains_key("questions[0].text.en"));
        let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": "a\u{0}"}}));
        assert!(e.contains_key("questions[0].text.en"));
        let e =
            question_errors(json!({"key": "a", "type": "text", "text": {"en": "a".repeat(501)}}));
        assert!(e.contains_key("questions[0].text.en"));
        let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": 5}}));
        assert!(e.contains_key("questions[0].text.en"));
        let e = question_errors(json!({"key": "a", "type": "text", "text": "Q"}));
        assert!(e.contains_key("questions[0].text"));
        let e = question_errors(
            json!({"key": "a", "type": "text", "text": {"en": "Q", "pt": "P", "pt-BR": "P"}}),
        );
        assert_eq!(e["questions[0].text"], "a locale is given twice");
    }

    #[test]
    fn text_tags_are_normalized() {
        let s = parse_definition(&with_question(
            json!({"key": "a", "type": "text", "text": {"EN": " Q ", "pt_br": "P"}}),
        ))
        .unwrap();
        let tags: Vec<&str> = s.questions[0].text.keys().map(String::as_str).collect();
        assert_eq!(tags, ["en", "pt-BR"]);
        assert_eq!(s.questions[0].text["en"], "Q");
    }

    #[test]
    fn max_len_only_for_text_and_in_range() {
        for bad in [json!(0), json!(5001), json!(-1), json!(10.5), json!("10")] {
            let e = question_errors(
                json!({"key": "a", "type": "text", "max_len": bad, "text": {"en": "Q"}}),
            );
            assert!(e.contains_key("questions[0].max_len"), "{bad}");
        }
        let s = parse_definition(&with_question(
            json!({"key": "a", "type": "text", "max_len": 5000, "text": {"en": "Q"}}),
        ))
        .unwrap();
        assert_eq!(s.questions[0].max_len, Some(5000));
        let e =
            question_errors(json!({"key": "a", "type": "nps", "max_len": 10, "text": {"en": "Q"}}));
        assert_eq!(
            e["questions[0].max_len"],
            "only text questions have max_len"
        );
    }

    #[test]
    fn options_only_on_choice_questions() {
        for kind in ["nps", "csat", "ces", "text"] {
            let e = question_errors(json!({"key": "a", "type": kind, "text": {"en": "Q"},
                "options": [{"value": "x"}]}));
            assert_eq!(
                e["questions[0].options"],
                "only choice questions have options"
            );
        }
        for kind in ["single_choice", "multi_choice"] {
            let e = question_errors(json!({"key": "a", "type": kind, "text": {"en": "Q"}}));
            assert_eq!(e["questions[0].options"], "required for choice questions");
        }
    }

    #[test]
    fn option_lists_are_checked() {
        let q = |options: Value| {
            question_errors(
                json!({"key": "a", "type": "multi_choice", "text": {"en": "Q"}, "options": options}),
            )
        };
        assert!(q(json!([])).contains_key("questions[0].options"));
        assert!(q(json!({"value": "x"})).contains_key("questions[0].options"));
        let many: Vec<Value> = (0..=MAX_OPTIONS)
            .map(|i| json!({"value": format!("v{i}")}))
            .collect();
        assert!(q(json!(many)).contains_key("questions[0].options"));
        let e = q(json!([{"value": "x"}, {"value": " x "}]));
        assert_eq!(e["questions[0].options[1].value"], "duplicate value");
        assert!(q(json!(["x"])).contains_key("questions[0].options[0]"));
        for bad in [
            json!(""),
            json!(" "),
            json!(3),
            json!("a\nb"),
            json!("v".repeat(101)),
        ] {
            assert!(
                q(json!([{"value": bad}])).contains_key("questions[0].options[0].value"),
                "{bad}"
            );
        }
        assert!(q(json!([{"label": {"en": "X"}}])).contains_key("questions[0].options[0].value"));
        let ok: Vec<Value> = (0..MAX_OPTIONS)
            .map(|i| json!({"value": format!("v{i}")}))
            .collect();
        assert!(parse_definition(&with_question(
            json!({"key": "a", "type": "multi_choice", "text": {"en": "Q"}, "options": ok})
        ))
        .is_ok());
    }

    #[test]
    fn option_labels_are_checked() {
        let q = |label: Value| {
            question_errors(
                json!({"key": "a", "type": "single_choice", "text": {"en": "Q"},
                "options": [{"value": "x", "label": label}]}),
            )
        };
        assert!(q(json!({"ro": "X"})).contains_key("questions[0].options[0].label"));
        assert!(q(json!({"xx": "X"})).contains_key("questions[0].options[0].label.xx"));
        assert!(q(json!({"en": ""})).contains_key("questions[0].options[0].label.en"));
        assert!(q(json!("X")).contains_key("questions[0].options[0].label"));
        assert!(q(json!({"en": "X".repeat(201)})).contains_key("questions[0].options[0].label.en"));
    }

    #[test]
    fn messages_never_quote_submitted_values() {
        let secret = "SECRET-VALUE";
        let e = errors_of(json!({
            "name": secret.repeat(50), "locale": secret, "expires_after_days": secret,
            "questions": [
                {"key": secret, "type": secret, "required": secret, "text": {"en": secret.repeat(100)}},
                {"key": "b", "type": "single_choice", "text": {"en": "B"},
                 "options": [{"value": secret}, {"value": secret}]}
            ]
        }));
        assert!(!e.is_empty());
        assert!(e.values().all(|m| !m.contains(secret)), "{e:?}");
        let s = survey();
        let e = s
            .parse_answers(
                &json!({"nps": secret, "why": secret.repeat(10), "channel": secret,
                                   "liked": [secret], secret: 1}),
            )
            .unwrap_err();
        assert!(e.values().all(|m| !m.contains(secret)), "{e:?}");
    }

    // ---- patch ----

    #[test]
    fn patch_replaces_top_level_keys_and_revalidates() {
        let s = survey();
        let p = s
            .patched(&json!({"name": "Renamed", "expires_after_days": 60}))
            .unwrap();
        assert_eq!(p.name, "Renamed");
        assert_eq!(p.expires_after_days, 60);
        assert_eq!(p.questions, s.questions);

        let p = s
            .patched(
                &json!({"questions": [{"key": "csat", "type": "csat", "text": {"en": "OK?"}}]}),
            )
            .unwrap();
        assert_eq!(p.questions.len(), 1);
        assert_eq!(p.locale, Locale::PtBr);

        let e = s.patched(&json!({"expires_after_days": 0})).unwrap_err();
        assert!(e.contains_key("expires_after_days"));
        let e = s.patched(&json!({"owner": "me"})).unwrap_err();
        assert!(e.contains_key("owner"));
        let e = s.patched(&json!({"questions": []})).unwrap_err();
        assert!(e.contains_key("questions"));
        assert!(s.patched(&json!([])).unwrap_err().contains_key("body"));
    }

    #[test]
    fn patch_null_resets_to_default() {
        let s = survey();
        let p = s.patched(&json!({"expires_after_days": null})).unwrap();
        assert_eq!(p.expires_after_days, DEFAULT_EXPIRES_AFTER_DAYS);
        // Dropping pt-BR as the survey locale leaves the channel question without en text.
        let e = s.patched(&json!({"locale": null})).unwrap_err();
        assert!(e.contains_key("questions[2].text"));
        assert!(s
            .patched(&json!({"name": null}))
            .unwrap_err()
            .contains_key("name"));
    }

    #[test]
    fn empty_patch_is_identity() {
        let s = survey();
        assert_eq!(s.patched(&json!({})).unwrap(), s);
    }

    // ---- public view ----

    #[test]
    fn public_view_resolves_texts() {
        let v = survey().public_view(Locale::En);
        assert_eq!(v["name"], "After purchase");
        assert_eq!(v["locale"], "en");
        assert!(v.get("expires_after_days").is_none());
        let q = &v["questions"];
        assert_eq!(
            q[0],
            json!({"key": "nps", "type": "nps", "required": true,
                   "text": "How likely are you to recommend us?", "min": 0, "max": 10})
        );
        assert_eq!(
            q[1],
            json!({"key": "why", "type": "text", "required": false, "text": "Why?", "max_len": 20})
        );
        // Falls back to the survey's locale when en is missing.
        assert_eq!(q[2]["text"], "Onde comprou?");
        assert_eq!(
            q[2]["options"],
            json!([{"value": "web", "label": "Web"}, {"value": "store", "label": "store"}])
        );
        assert_eq!(q[4]["min"], 1);
        assert_eq!(q[4]["max"], 5);
        assert_eq!(q[5]["min"], 1);
        assert_eq!(q[5]["max"], 7);
        assert_eq!(q[3]["type"], "multi_choice");
        assert!(q[3].get("min").is_none());
    }

    #[test]
    fn public_view_prefers_requested_then_survey_locale_then_en() {
        let s = survey();
        let pt = s.public_view(Locale::PtBr);
        assert_eq!(
            pt["questions"][0]["text"],
            "Qual a chance de nos recomendar?"
        );
        assert_eq!(pt["questions"][2]["options"][0]["label"], "Site");
        // ro is missing everywhere: survey locale (pt-BR) before en.
        let ro = s.public_view(Locale::Ro);
        assert_eq!(ro["locale"], "ro");
        assert_eq!(
            ro["questions"][0]["text"],
            "Qual a chance de nos recomendar?"
        );
        assert_eq!(ro["questions"][1]["text"], "Why?");
        assert_eq!(ro["questions"][2]["options"][0]["label"], "Site");
    }

    // ---- answers ----

    #[test]
    fn answers_are_parsed_and_normalized() {
        let a = survey()
            .parse_answers(&json!({
                "nps": 9, "why": "  fast\r\ndelivery\t!  ", "channel": "web",
                "liked": ["service", "price"], "csat": 4, "effort": 2
            }))
            .unwrap();
        assert_eq!(a.nps(), Some(9));
        assert_eq!(a.csat(), Some(4));
        assert_eq!(a.ces(), Some(2));
        assert_eq!(
            a.to_json(),
            json!({"nps": 9, "why": "fast\ndelivery\t!", "channel": "web",
                   "liked": ["price", "service"], "csat": 4, "effort": 2})
        );
        assert_eq!(a.get("channel"), Some(&json!("web")));
    }

    #[test]
    fn optional_answers_may_be_missing_or_blank() {
        let a = survey()
            .parse_answers(&json!({"nps": 0, "why": "   ", "channel": null, "liked": []}))
            .unwrap();
        assert_eq!(a.nps(), Some(0));
        assert_eq!(a.csat(), None);
        assert_eq!(a.ces(), None);
        assert_eq!(a.to_json(), json!({"nps": 0}));
    }

    #[test]
    fn required_answers_must_be_present() {
        assert_eq!(
            answer_errors(json!({"why": "x"}))["answers.nps"],
            "required"
        );
        assert_eq!(
            answer_errors(json!({"nps": null}))["answers.nps"],
            "required"
        );
        let s = parse_definition(&json!({"name": "S", "questions": [
            {"key": "why", "type": "text", "required": true, "text": {"en": "Why?"}},
            {"key": "m", "type": "multi_choice", "required": true, "text": {"en": "M"},
             "options": [{"value": "a"}]}
        ]}))
        .unwrap();
        let e = s
            .parse_answers(&json!({"why": " \n ", "m": []}))
            .unwrap_err();
        assert_eq!(e["answers.why"], "required");
        assert_eq!(e["answers.m"], "required");
    }

    #[test]
    fn answers_must_be_an_object() {
        for bad in [json!([]), json!(null), json!("nps=9"), json!(9)] {
            assert!(answer_errors(bad).contains_key("answers"));
        }
    }

    #[test]
    fn unknown_answer_keys_are_rejected() {
        let e = answer_errors(json!({"nps": 9, "extra": 1, "y".repeat(60): 2}));
        assert_eq!(e["answers.extra"], "unknown question");
        assert!(e.contains_key(&format!("answers.{}", "y".repeat(40))));
    }

    #[test]
    fn an_empty_response_is_refused() {
        let s = parse_definition(&with_question(
            json!({"key": "why", "type": "text", "text": {"en": "W"}}),
        ))
        .unwrap();
        let e = s.parse_answers(&json!({})).unwrap_err();
        assert_eq!(e["answers"], "answer at least one question");
        assert!(s.parse_answers(&json!({"why": "  "})).is_err());
        assert!(s.parse_answers(&json!({"why": "ok"})).is_ok());
    }

    #[test]
    fn scores_must_be_json_integers_in_range() {
        let big = serde_json::from_str::<Value>("18446744073709551616").unwrap();
        let huge = serde_json::from_str::<Value>("1e400").ok();
        let mut bad = vec![
            json!(11),
            json!(-1),
            json!(9.5),
            json!(9.0),
            json!("9"),
            json!(1e3),
            json!(true),
            json!(false),
            json!([9]),
            json!({"score": 9}),
            json!(u64::MAX),
            json!(i64::MIN),
            big,
        ];
        bad.extend(huge);
        for value in bad {
            let e = answer_errors(json!({ "nps": value.clone() }));
            assert_eq!(e["answers.nps"], "a whole number from 0 to 10", "{value}");
        }
        for n in 0..=10 {
            assert_eq!(
                survey().parse_answers(&json!({"nps": n})).unwrap().nps(),
                Some(n)
            );
        }
    }

    #[test]
    fn csat_and_ces_ranges() {
        let s = survey();
        for (key, lo, hi) in [("csat", 1, 5), ("effort", 1, 7)] {
            for n in lo..=hi {
                assert!(s.parse_answers(&json!({"nps": 5, key: n})).is_ok());
            }
            for n in [lo - 1, hi + 1] {
                let e = s.parse_answers(&json!({"nps": 5, key: n})).unwrap_err();
                assert_eq!(
                    e[&format!("answers.{key}")],
                    format!("a whole number from {lo} to {hi}")
                );
            }
        }
        let a = s.parse_answers(&json!({"nps": 5, "effort": 7})).unwrap();
        assert_eq!(a.ces(), Some(7));
        assert_eq!(a.csat(), None);
    }

    #[test]
    fn single_choice_must_be_a_known_value() {
        for bad in [
            json!("Web"),
            json!(""),
            json!(["web"]),
            json!(1),
            json!(true),
        ] {
            let e = answer_errors(json!({"nps": 1, "channel": bad.clone()}));
            assert_eq!(e["answers.channel"], "one of the options", "{bad}");
        }
    }

    #[test]
    fn multi_choice_must_be_unique_known_values() {
        let e = answer_errors(json!({"nps": 1, "liked": "price"}));
        assert_eq!(e["answers.liked"], "a list of options");
        let e = answer_errors(json!({"nps": 1, "liked": ["price", "price"]}));
        assert_eq!(e["answers.liked"], "each option at most once");
        let e = answer_errors(json!({"nps": 1, "liked": ["price", "cost"]}));
        assert_eq!(e["answers.liked"], "not one of the options");
        let e = answer_errors(json!({"nps": 1, "liked": ["price", 1]}));
        assert_eq!(e["answers.liked"], "not one of the options");
    }

    #[test]
    fn text_answers_are_checked() {
        let e = answer_errors(json!({"nps": 1, "why": 5}));
        assert_eq!(e["answers.why"], "must be text");
        let e = answer_errors(json!({"nps": 1, "why": "a".repeat(21)}));
        assert_eq!(e["answers.why"], "at most 20 characters");
        for ctrl in ["a\u{0}b", "a\rb", "a\u{1b}[31m", "a\u{7f}", "a\u{85}b"] {
            let e = answer_errors(json!({"nps": 1, "why": ctrl}));
            assert_eq!(e["answers.why"], "contains invalid characters", "{ctrl:?}");
        }
        // Characters, not bytes; surrounding blanks do not count.
        let a = survey()
            .parse_answers(&json!({"nps": 1, "why": format!("  {}  ", "é".repeat(20))}))
            .unwrap();
        assert_eq!(a.get("why"), Some(&json!("é".repeat(20))));
    }

    #[test]
    fn text_max_len_defaults_to_1000() {
        let s = parse_definition(&with_question(
            json!({"key": "why", "type": "text", "text": {"en": "W"}}),
        ))
        .unwrap();
        assert!(s.parse_answers(&json!({"why": "a".repeat(1000)})).is_ok());
        assert!(s.parse_answers(&json!({"why": "a".repeat(1001)})).is_err());
    }

    #[test]
    fn all_problems_are_reported_together() {
        let e = answer_errors(
            json!({"nps": "x", "why": 1, "channel": 2, "liked": 3, "csat": 9, "effort": 0}),
        );
        assert_eq!(e.len(), 6, "{e:?}");
    }

    // ---- arithmetic ----

    #[test]
    fn nps_categories() {
        for s in 0..=6 {
            assert_eq!(nps_category(s), NpsCategory::Detractor);
        }
        assert_eq!(nps_category(7), NpsCategory::Passive);
        assert_eq!(nps_category(8), NpsCategory::Passive);
        assert_eq!(nps_category(9), NpsCategory::Promoter);
        assert_eq!(nps_category(10), NpsCategory::Promoter);
        assert_eq!(NpsCategory::Promoter.as_str(), "promoter");
        assert_eq!(NpsCategory::Passive.as_str(), "passive");
        assert_eq!(NpsCategory::Detractor.as_str(), "detractor");
        assert_eq!(
            serde_json::to_value(NpsCategory::Passive).unwrap(),
            json!("passive")
        );
    }

    #[test]
    fn nps_summary_arithmetic() {
        let s = NpsSummary::from_scores([10, 9, 8, 7, 6, 0, 10, 9]);
        assert_eq!((s.promoters, s.passives, s.detractors), (4, 2, 2));
        assert_eq!(s.score, Some(25.0));
        assert_eq!(s.total(), 8);

        assert_eq!(NpsSummary::from_scores([10]).score, Some(100.0));
        assert_eq!(NpsSummary::from_scores([0, 6]).score, Some(-100.0));
        assert_eq!(NpsSummary::from_scores([7, 8]).score, Some(0.0));
        // 1/3 → 33.3, −2/3 → −66.7, 1/8 → 12.5 (half away from zero), −1/16 → −6.3.
        assert_eq!(NpsSummary::from_scores([9, 7, 8]).score, Some(33.3));
        assert_eq!(NpsSummary::from_scores([0, 0, 8]).score, Some(-66.7));
        assert_eq!(
            NpsSummary::from_scores([9, 7, 7, 7, 7, 7, 7, 7]).score,
            Some(12.5)
        );
        let mut sixteen = vec![7u8; 15];
        sixteen.push(0);
        assert_eq!(NpsSummary::from_scores(sixteen).score, Some(-6.3));
    }

    /// The total is the sum of the three groups, whatever their sizes.
    #[test]
    fn nps_total_counts_every_group() {
        let s = NpsSummary::from_scores([10, 8, 0, 0, 3]);
        assert_eq!((s.promoters, s.passives, s.detractors), (1, 1, 3));
        assert_eq!(s.total(), 5);
    }

    #[test]
    fn nps_summary_without_responses_has_no_score() {
        let s = NpsSummary::from_scores([]);
        assert_eq!(s.score, None);
        assert_eq!(s.total(), 0);
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"score": null, "promoters": 0, "passives": 0, "detractors": 0})
        );
        assert_eq!(NpsSummary::from_scores([11, 200]).total(), 0);
    }

    #[test]
    fn nps_zero_is_never_negative_zero() {
        let v = serde_json::to_string(&NpsSummary::from_scores([9, 0])).unwrap();
        assert!(v.contains("\"score\":0.0"), "{v}");
    }

    #[test]
    fn csat_summary_arithmetic() {
        let s = CsatSummary::from_scores([5, 4, 3, 1]);
        assert_eq!(s.average, Some(3.25));
        assert_eq!(s.satisfied_pct, Some(50.0));
        assert_eq!(s.count, 4);
        let s = CsatSummary::from_scores([5, 4, 4]);
        assert_eq!(s.average, Some(4.33));
        assert_eq!(s.satisfied_pct, Some(100.0));
        let s = CsatSummary::from_scores([5, 5, 2]);
        assert_eq!(s.average, Some(4.0));
        assert_eq!(s.satisfied_pct, Some(66.7));
        let s = CsatSummary::from_scores([0, 6, 3]);
        assert_eq!(s.count, 1);
        assert_eq!(s.average, Some(3.0));
        assert_eq!(s.satisfied_pct, Some(0.0));
        let empty = CsatSummary::from_scores([]);
        assert_eq!(
            serde_json::to_value(empty).unwrap(),
            json!({"average": null, "satisfied_pct": null})
        );
    }

    #[test]
    fn ces_summary_arithmetic() {
        let s = CesSummary::from_scores([1, 2, 2]);
        assert_eq!(s.average, Some(1.67));
        assert_eq!(CesSummary::from_scores([7, 0, 8]).average, Some(7.0));
        assert_eq!(
            serde_json::to_value(CesSummary::from_scores([])).unwrap(),
            json!({"average": null})
        );
    }

    #[test]
    fn response_rates() {
        assert_eq!(response_rate(0, 0), None);
        assert_eq!(response_rate(0, 3), None);
        assert_eq!(response_rate(8, 0), Some(0.0));
        assert_eq!(response_rate(8, 3), Some(0.375));
        assert_eq!(response_rate(3, 1), Some(0.333));
        assert_eq!(response_rate(3, 2), Some(0.667));
        assert_eq!(response_rate(4, 4), Some(1.0));
        assert_eq!(response_rate(4, 9), Some(1.0));
    }

    #[test]
    fn choice_counts_per_option() {
        let s = survey();
        let rows = [
            json!({"channel": "web", "liked": ["price", "speed"]}),
            json!({"channel": "store", "liked": ["price"]}),
            json!({"channel": "web"}),
            json!({"channel": "gone", "liked": ["gone"]}),
            json!({}),
            json!("garbage"),
            json!({"channel": 5, "liked": "price"}),
        ];
        let counts = s.choice_counts(rows.iter());
        assert_eq!(counts.len(), 2);
        assert_eq!(
            serde_json::to_value(&counts).unwrap(),
            json!({
                "channel": {"answered": 3, "options": [
                    {"value": "web", "count": 2}, {"value": "store", "count": 1}]},
                "liked": {"answered": 3, "options": [
                    {"value": "price", "count": 3}, {"value": "speed", "count": 1},
                    {"value": "service", "count": 0}]}
            })
        );
    }

    #[test]
    fn results_document() {
        let s = survey();
        let rows = vec![
            StoredResponse {
                answers: json!({"nps": 10, "channel": "web", "csat": 5}),
                nps: Some(10),
                csat: Some(5),
                ces: None,
            },
            StoredResponse {
                answers: json!({"nps": 3, "effort": 2}),
                nps: Some(3),
                csat: None,
                ces: Some(2),
            },
            // Erased: answers emptied, scores kept.
            StoredResponse {
                answers: json!({}),
                nps: Some(9),
                csat: Some(3),
                ces: None,
            },
            // Out-of-range columns are ignored rather than skewing the aggregates.
            StoredResponse {
                answers: json!({}),
                nps: Some(-1),
                csat: Some(300),
                ces: Some(9),
            },
        ];
        let r = s.results(10, &rows);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["invited"], 10);
        assert_eq!(v["responses"], 4);
        assert_eq!(v["response_rate"], 0.4);
        assert_eq!(
            v["nps"],
            json!({"score": 33.3, "promoters": 2, "passives": 0, "detractors": 1})
        );
        assert_eq!(v["csat"], json!({"average": 4.0, "satisfied_pct": 50.0}));
        assert_eq!(v["ces"], json!({"average": 2.0}));
        assert_eq!(v["choices"]["channel"]["answered"], 1);
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "ces",
                "choices",
                "csat",
                "invited",
                "nps",
                "response_rate",
                "responses"
            ]
        );
    }

    #[test]
    fn results_with_nothing_yet() {
        let v = serde_json::to_value(survey().results(0, &[])).unwrap();
        assert_eq!(v["response_rate"], Value::Null);
        assert_eq!(v["nps"]["score"], Value::Null);
        assert_eq!(v["choices"]["liked"]["options"][0]["count"], 0);
    }

    #[test]
    fn running_average() {
        assert_eq!(next_avg(None, 0, 4), (4.0, 1));
        assert_eq!(next_avg(Some(4.0), 1, 2), (3.0, 2));
        assert_eq!(next_avg(Some(3.0), 2, 5), (11.0 / 3.0, 3));
        // Inconsistent stats rows start over instead of propagating garbage.
        assert_eq!(next_avg(Some(4.0), 0, 1), (1.0, 1));
        assert_eq!(next_avg(Some(4.0), -3, 1), (1.0, 1));
        assert_eq!(next_avg(None, 7, 5), (5.0, 1));
        assert_eq!(next_avg(Some(f64::NAN), 7, 5), (5.0, 1));
        assert_eq!(next_avg(Some(5.0), i64::MAX, 5).1, i64::MAX);
        // A count of 0 starts over at the new score whatever mean the row held, even one
        // too large for `avg + (new - avg)` to come back to `new`.
        assert_eq!(next_avg(Some(1e300), 0, 5), (5.0, 1));
    }

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

    // ---- properties ----

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..=12).prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(vec!["web", "store", "price", "speed", "service", "9", ""])
                .prop_map(|s| json!(s)),
            any::<String>().prop_map(Value::String),
            "[ \\t\\r\\n=a-z]{0,30}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            let key = prop_oneof![
                prop::sample::select(vec!["nps", "why", "channel", "liked", "csat", "effort"])
                    .prop_map(str::to_string),
                ".{0,50}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..7)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn nps_score_is_bounded_and_exact(scores in prop::collection::vec(0u8..=10, 0..300)) {
            let s = NpsSummary::from_scores(scores.iter().copied());
            let total = scores.len() as u64;
            prop_assert_eq!(s.promoters + s.passives + s.detractors, total);
            prop_assert_eq!(s.promoters, scores.iter().filter(|x| **x >= 9).count() as u64);
            prop_assert_eq!(s.detractors, scores.iter().filter(|x| **x <= 6).count() as u64);
            match s.score {
                None => prop_assert_eq!(total, 0),
                Some(score) => {
                    prop_assert!((-100.0..=100.0).contains(&score));
                    let exact = (s.promoters as f64 - s.detractors as f64) * 100.0 / total as f64;
                    prop_assert!((score - exact).abs() <= 0.05 + 1e-9, "{} vs {}", score, exact);
                    prop_assert!(((score * 10.0).round() - score * 10.0).abs() < 1e-6);
                }
            }
        }

        #[test]
        fn csat_is_bounded(scores in prop::collection::vec(1u8..=5, 0..300)) {
            let s = CsatSummary::from_scores(scores.iter().copied());
            prop_assert_eq!(s.count, scores.len() as u64);
            match (s.average, s.satisfied_pct) {
                (Some(avg), Some(pct)) => {
                    prop_assert!((1.0..=5.0).contains(&avg));
                    prop_assert!((0.0..=100.0).contains(&pct));
                    let exact = scores.iter().map(|x| f64::from(*x)).sum::<f64>() / scores.len() as f64;
                    prop_assert!((avg - exact).abs() <= 0.005 + 1e-9);
                }
                (None, None) => prop_assert!(scores.is_empty()),
                other => prop_assert!(false, "inconsistent {:?}", other),
            }
        }

        #[test]
        fn ces_is_bounded(scores in prop::collection::vec(1u8..=7, 1..300)) {
            let avg = CesSummary::from_scores(scores.iter().copied()).average.unwrap();
            prop_assert!((1.0..=7.0).contains(&avg));
        }

        #[test]
        fn running_average_matches_the_mean(scores in prop::collection::vec(1u8..=5, 1..200)) {
            let (mut avg, mut count) = (None, 0i64);
            for s in &scores {
                let (a, c) = next_avg(avg, count, *s);
                avg = Some(a);
                count = c;
            }
            let exact = scores.iter().map(|x| f64::from(*x)).sum::<f64>() / scores.len() as f64;
            prop_assert_eq!(count, scores.len() as i64);
            prop_assert!((avg.unwrap() - exact).abs() < 1e-9);
        }

        #[test]
        fn response_rate_is_a_fraction(invited in 0u64..1_000_000, responses in 0u64..1_000_000) {
            match response_rate(invited, responses) {
                None => prop_assert_eq!(invited, 0),
                Some(r) => prop_assert!((0.0..=1.0).contains(&r)),
            }
        }

        #[test]
        fn parse_answers_never_panics(answers in arb_json()) {
            let s = survey();
            if let Ok(a) = s.parse_answers(&answers) {
                // Accepted answers are in range and stable under a second pass.
                prop_assert!(a.nps().is_none_or(|n| n <= 10));
                prop_assert!(a.csat().is_none_or(|n| (1..=5).contains(&n)));
                prop_assert!(a.ces().is_none_or(|n| (1..=7).contains(&n)));
                prop_assert_eq!(s.parse_answers(&a.to_json()).unwrap(), a);
            }
        }

        #[test]
        fn parse_definition_never_panics(value in arb_json()) {
            if let Ok(def) = parse_definition(&value) {
                let stored = serde_json::to_value(&def).unwrap();
                prop_assert_eq!(parse_definition(&stored).unwrap(), def);
            }
        }

        #[test]
        fn a_mutated_definition_never_panics(
            i in 0usize..6,
            field in prop::sample::select(vec!["key", "type", "required", "text", "max_len", "options", "extra"]),
            value in arb_json(),
            top in prop::sample::select(vec!["name", "locale", "expires_after_days", "questions"]),
            top_value in prop::option::of(arb_json()),
        ) {
            let mut def = example();
            def["questions"][i][field] = value;
            if let Some(v) = top_value {
                def[top] = v;
            }
            if let Ok(parsed) = parse_definition(&def) {
                prop_assert_eq!(survey().patched(&def).unwrap(), parsed.clone());
                let _ = parsed.public_view(Locale::Ru);
                let _ = parsed.parse_answers(&json!({"nps": 5}));
            }
        }

        #[test]
        fn csv_safe_never_starts_with_a_trigger(text in any::<String>()) {
            let out = csv_safe(&text);
            prop_assert!(!out.starts_with(['=', '+', '-', '@', '\t', '\r']));
            prop_assert!(out.ends_with(&text));
        }
    }
}
