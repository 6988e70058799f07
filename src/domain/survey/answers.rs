//! A buyer's answers (`POST /v1/surveys/responses`) checked against the survey they answer.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::definition::{Question, QuestionType, SurveyDefinition, DEFAULT_TEXT_LEN};
use crate::domain::validate::{shown_key, FieldErrors};

impl SurveyDefinition {
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
                format!("answers.{}", shown_key(key)),
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
