//! `PATCH /admin/v1/surveys/{id}`: a stored definition with some top-level keys replaced,
//! validated again as a whole.

use serde_json::{Map, Value};

use super::definition::{parse_definition, SurveyDefinition};
use crate::domain::validate::FieldErrors;

impl SurveyDefinition {
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
}
