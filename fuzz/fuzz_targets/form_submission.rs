//! Fuzzes visitor submissions (`POST /v1/forms/{id}/submissions`) from the raw body, down the
//! route's own path: urlencoded pairs or `decode_json::<SubmissionJson>`, the honeypot check,
//! then `Submission::parse` against a form. The first byte picks the form, encoding and locale.
#![no_main]

use std::sync::LazyLock;

use chrono::NaiveDate;
use clientela::domain::email::EmailAddress;
use clientela::domain::form::{
    FormDefinition, FormInput, Submission, SubmissionInput, SubmissionJson,
};
use clientela::domain::i18n::Locale;
use clientela::http::body::decode_json;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// One form with every field type and consent shape, and one that takes the honeypot's usual
/// name for itself, so the fallback trap names are reached too.
static FORMS: LazyLock<Vec<FormDefinition>> = LazyLock::new(|| {
    let every_type = json!({
        "name": "Everything",
        "allowed_origins": ["https://shop.example"],
        "locale": "pt-BR",
        "fields": [
            {"key": "email", "type": "email", "label": {"en": "Email"}},
            {"key": "name", "type": "text", "max_len": 10},
            {"key": "phone", "type": "phone"},
            {"key": "locale", "type": "text"},
            {"key": "country", "type": "single_choice", "options": ["BR", "RO", "br"]},
            {"key": "city", "type": "text"},
            {"key": "gender", "type": "text"},
            {"key": "birth_date", "type": "date"},
            {"key": "visit", "type": "date"},
            {"key": "interests", "type": "multi_choice", "options": ["shoes", "bags", "á"]},
            {"key": "size", "type": "number", "min": 30, "max": 50},
            {"key": "score", "type": "number"},
            {"key": "vip", "type": "checkbox", "required": true},
            {"key": "news", "type": "checkbox"}
        ],
        "consents": [
            {"purpose": "marketing_email", "required": true, "policy_version": "2026-01",
             "text": {"en": "Offers by email", "pt-BR": "Ofertas por e-mail"}},
            {"purpose": "sms", "policy_version": "v2", "text": {"ro": "SMS"}}
        ]
    });
    let traps_taken = json!({
        "name": "Traps",
        "fields": [
            {"key": "email", "type": "email"},
            {"key": "website", "type": "text"},
            {"key": "homepage", "type": "text", "required": true},
            {"key": "company_url", "type": "multi_choice", "options": ["a", "b"]}
        ]
    });
    [every_type, traps_taken]
        .into_iter()
        .map(|v| {
            let input: FormInput = serde_json::from_value(v).expect("fixture decodes");
            FormDefinition::parse(input).expect("fixture is valid")
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let form = &FORMS[usize::from(mode & 1)];
    let locale = Locale::ALL[usize::from(mode >> 1) % Locale::ALL.len()];
    let plain_form_post = mode & 0x80 != 0;
    let input: SubmissionInput = if plain_form_post {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        SubmissionInput::from_pairs(&pairs, form)
    } else {
        match decode_json::<SubmissionJson>(body) {
            Ok(json) => json.into(),
            Err(_) => return,
        }
    };
    if input.trips_honeypot(form) {
        return;
    }
    let today = NaiveDate::from_ymd_opt(2026, 5, 17).expect("a date");
    let Ok(submission) = Submission::parse(form, &input, locale, today) else {
        return;
    };
    // What is accepted is what gets stored: it must satisfy the checks it passed.
    assert_eq!(
        EmailAddress::parse(submission.email.as_str()).as_ref(),
        Ok(&submission.email)
    );
    if let Some(country) = &submission.contact.country {
        assert!(country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()));
    }
    for key in submission.attributes.keys() {
        assert!(
            form.field(key).is_some(),
            "attribute {key:?} is not a field"
        );
    }
    for consent in &submission.consents {
        assert!(form
            .consents
            .iter()
            .any(|c| c.purpose.as_str() == consent.purpose));
    }
});
