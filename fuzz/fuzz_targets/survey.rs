//! Fuzzes surveys: definitions as `POST`/`PATCH /admin/v1/surveys` receive them
//! (`parse_definition`, `patched`) and buyers' answers (`parse_answers`), plus the public view
//! and results built from what was accepted. Input: a definition (or patch) as JSON, then
//! optionally a NUL byte and the answers object as JSON.
#![no_main]

use std::sync::LazyLock;

use clientela::domain::i18n::Locale;
use clientela::domain::survey::{parse_definition, StoredResponse, SurveyDefinition};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// A survey with every question type, for answers when the fuzzed definition is not valid.
static EXAMPLE: LazyLock<SurveyDefinition> = LazyLock::new(|| {
    parse_definition(&json!({
        "name": "After purchase",
        "locale": "pt-BR",
        "expires_after_days": 14,
        "questions": [
            {"key": "nps", "type": "nps", "required": true, "text": {"en": "Recommend us?"}},
            {"key": "why", "type": "text", "max_len": 20, "text": {"en": "Why?"}},
            {"key": "channel", "type": "single_choice", "text": {"pt-BR": "Onde?"},
             "options": [{"value": "web", "label": {"en": "Web"}}, {"value": "store"}]},
            {"key": "liked", "type": "multi_choice", "text": {"en": "Liked?"},
             "options": [{"value": "price"}, {"value": "speed"}]},
            {"key": "csat", "type": "csat", "text": {"en": "Satisfied?"}},
            {"key": "effort", "type": "ces", "text": {"en": "Easy?"}}
        ]
    }))
    .expect("the example survey is valid")
});

fn check_definition(survey: &SurveyDefinition) {
    // `surveys.definition` holds the serde JSON; it is read back with serde and must still
    // be a valid input of `parse_definition` (a PATCH merges into it).
    let stored = serde_json::to_string(survey).expect("a survey serializes");
    let reloaded: SurveyDefinition = serde_json::from_str(&stored).expect("stored survey reads");
    assert_eq!(&reloaded, survey);
    let value: Value = serde_json::from_str(&stored).expect("stored survey is JSON");
    assert_eq!(parse_definition(&value).as_ref(), Ok(survey));
    assert_eq!(survey.patched(&json!({})).as_ref(), Ok(survey));
    for locale in Locale::ALL {
        let _ = survey.public_view(locale);
    }
}

fn check_answers(survey: &SurveyDefinition, raw: &Value) {
    let _ = survey.choice_counts([raw]);
    let Ok(answers) = survey.parse_answers(raw) else {
        return;
    };
    // The stored `answers` column must parse again the same way.
    let stored = answers.to_json();
    assert_eq!(survey.parse_answers(&stored).as_ref(), Ok(&answers));
    assert!(answers.nps().is_none_or(|n| n <= 10));
    assert!(answers.csat().is_none_or(|n| (1..=5).contains(&n)));
    assert!(answers.ces().is_none_or(|n| (1..=7).contains(&n)));
    let row = StoredResponse {
        answers: stored,
        nps: answers.nps().map(i64::from),
        csat: answers.csat().map(i64::from),
        ces: answers.ces().map(i64::from),
    };
    let results = survey.results(1, &[row.clone(), row]);
    serde_json::to_string(&results).expect("results serialize");
}

fuzz_target!(|data: &[u8]| {
    let (definition_bytes, answer_bytes) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(definition) = serde_json::from_slice::<Value>(definition_bytes) else {
        return;
    };
    let parsed = parse_definition(&definition).ok();
    if let Some(survey) = &parsed {
        check_definition(survey);
    }
    if let Ok(survey) = EXAMPLE.patched(&definition) {
        check_definition(&survey);
    }
    let Some(answers) = answer_bytes.and_then(|b| serde_json::from_slice::<Value>(b).ok()) else {
        return;
    };
    check_answers(parsed.as_ref().unwrap_or(&EXAMPLE), &answers);
});
