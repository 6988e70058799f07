//! Unit and property tests of the survey stages: definition rules and their error paths,
//! patching, the public view, answers, and the results maths.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::definition::LOCALES_HINT;
use super::*;
use crate::domain::i18n::Locale;
use crate::domain::validate::FieldErrors;
use std::collections::BTreeMap;

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
    assert!(
        question_errors(json!({"key": "a", "text": {"en": "Q"}})).contains_key("questions[0].type")
    );
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
    let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": "Q", "de": "F"}}));
    assert_eq!(e["questions[0].text.de"], LOCALES_HINT);
    let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": " "}}));
    assert!(e.contains_key("questions[0].text.en"));
    let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": "a\u{0}"}}));
    assert!(e.contains_key("questions[0].text.en"));
    let e = question_errors(json!({"key": "a", "type": "text", "text": {"en": "a".repeat(501)}}));
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
    let e = question_errors(json!({"key": "a", "type": "nps", "max_len": 10, "text": {"en": "Q"}}));
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
        .patched(&json!({"questions": [{"key": "csat", "type": "csat", "text": {"en": "OK?"}}]}))
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
            "responses",
            "responses_by_day",
            "scores"
        ]
    );
    // Each score question's whole scale, in order; out-of-range columns count nowhere.
    let nps: Vec<u64> = r.scores["nps"].counts.iter().map(|c| c.count).collect();
    assert_eq!(nps, [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]);
    assert_eq!(
        v["scores"]["csat"]["counts"],
        json!([{"score": 1, "count": 0}, {"score": 2, "count": 0}, {"score": 3, "count": 1},
               {"score": 4, "count": 0}, {"score": 5, "count": 1}])
    );
    assert_eq!(v["scores"]["csat"]["type"], "csat");
    let effort: Vec<(u8, u64)> = r.scores["effort"]
        .counts
        .iter()
        .map(|c| (c.score, c.count))
        .collect();
    assert_eq!(
        effort,
        (1..=7).map(|s| (s, u64::from(s == 2))).collect::<Vec<_>>()
    );
}

/// The NPS split and the distribution tell the same story: promoters are the 9s and 10s,
/// passives the 7s and 8s, detractors 0 to 6, each answer counted once.
#[test]
fn the_nps_distribution_adds_up_to_the_split() {
    let s = survey();
    let rows: Vec<StoredResponse> = (0..=10)
        .flat_map(|n| std::iter::repeat_n(n, usize::try_from(n + 1).unwrap()))
        .map(|n| StoredResponse {
            nps: Some(n),
            ..StoredResponse::default()
        })
        .collect();
    let r = s.results(100, &rows);
    let counts: Vec<u64> = r.scores["nps"].counts.iter().map(|c| c.count).collect();
    assert_eq!(counts, (1..=11).collect::<Vec<u64>>());
    assert_eq!(counts.iter().sum::<u64>(), r.nps.total());
    assert_eq!(
        (r.nps.detractors, r.nps.passives, r.nps.promoters),
        (
            counts[..7].iter().sum(),
            counts[7..9].iter().sum(),
            counts[9..].iter().sum()
        )
    );
}

/// The answers-per-day series covers the 90 days up to today, oldest first, with no gaps,
/// and leaves out counts of days outside it.
#[test]
fn answers_per_day_cover_ninety_days_without_gaps() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    assert_eq!(
        first_result_day(today),
        chrono::NaiveDate::from_ymd_opt(2025, 12, 2).unwrap()
    );
    let counted: BTreeMap<String, u64> = [
        ("2025-12-01", 7),
        ("2025-12-02", 1),
        ("2026-02-28", 3),
        ("2026-03-01", 2),
        ("2026-03-02", 5),
    ]
    .into_iter()
    .map(|(d, n)| (d.to_string(), n))
    .collect();
    let days = responses_by_day(today, &counted);
    assert_eq!(days.len(), 90);
    assert_eq!((days[0].date.as_str(), days[0].count), ("2025-12-02", 1));
    assert_eq!((days[88].date.as_str(), days[88].count), ("2026-02-28", 3));
    assert_eq!((days[89].date.as_str(), days[89].count), ("2026-03-01", 2));
    assert_eq!(days.iter().map(|d| d.count).sum::<u64>(), 6);
    assert!(days.windows(2).all(|w| w[0].date < w[1].date));
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
}

#[test]
fn a_reminder_comes_before_the_link_expires() {
    let with = |reminder: Value, expires: Value| {
        parse_definition(&json!({"name": "S", "expires_after_days": expires,
            "reminder_after_days": reminder,
            "questions": [{"key": "nps", "type": "nps", "text": {"en": "Q"}}]}))
    };
    assert_eq!(
        with(json!(3), json!(14)).unwrap().reminder_after_days,
        Some(3)
    );
    assert_eq!(
        with(Value::Null, json!(14)).unwrap().reminder_after_days,
        None
    );
    for (reminder, expires) in [(14, 14), (15, 14), (0, 14), (1, 1)] {
        let errors = with(json!(reminder), json!(expires)).unwrap_err();
        assert!(
            errors.contains_key("reminder_after_days"),
            "{reminder} days with {expires}: {errors:?}"
        );
    }
    assert!(with(json!("3"), json!(14)).is_err());
    // Stored definitions from before reminders read back as having none.
    let old: SurveyDefinition = serde_json::from_value(json!({"name": "S", "locale": "en",
        "expires_after_days": 30, "questions": []}))
    .unwrap();
    assert_eq!(old.reminder_after_days, None);
}
