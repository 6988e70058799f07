//! The public view of a survey: what the hosted `/s/{token}` page may see, texts resolved to
//! one locale.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::definition::SurveyDefinition;
use crate::domain::i18n::Locale;

fn resolve(texts: &BTreeMap<String, String>, wanted: Locale, survey: Locale) -> Option<&str> {
    [wanted, survey, Locale::En]
        .iter()
        .find_map(|l| texts.get(l.tag()))
        .map(String::as_str)
}

impl SurveyDefinition {
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
}
