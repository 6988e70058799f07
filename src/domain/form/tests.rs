use super::*;
use proptest::prelude::*;

fn newsletter() -> FormDefinition {
    let input: FormInput = serde_json::from_value(json!({
        "name": "Newsletter",
        "allowed_origins": ["https://Shop.example", "http://127.0.0.1:9000/"],
        "locale": "pt-BR",
        "redirect_url": "https://shop.example/thanks",
        "fields": [
            {"key": "email", "type": "email", "label": {"en": "Email", "pt-BR": "E-mail"}},
            {"key": "name", "type": "text", "max_len": 10},
            {"key": "country", "type": "text"},
            {"key": "birth_date", "type": "date"},
            {"key": "interests", "type": "multi_choice", "options": ["shoes", "bags"]},
            {"key": "size", "type": "number", "min": 30, "max": 50},
            {"key": "vip", "type": "checkbox"}
        ],
        "consents": [
            {"purpose": "marketing_email", "required": true, "policy_version": "2026-01",
             "text": {"en": "I agree to receive offers by email", "pt-BR": "Aceito receber ofertas por e-mail"}},
            {"purpose": "sms", "policy_version": "2026-01", "text": {"en": "Texts too"}}
        ]
    }))
    .unwrap();
    FormDefinition::parse(input).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn submit(form: &FormDefinition, body: Value) -> Result<Submission, FieldErrors> {
    let json: SubmissionJson = serde_json::from_value(body).unwrap();
    Submission::parse(form, &json.into(), Locale::PtBr, today())
}

#[test]
fn definition_normalizes_origins_and_forces_email_required() {
    let form = newsletter();
    assert_eq!(
        form.allowed_origins,
        vec!["https://shop.example", "http://127.0.0.1:9000"]
    );
    assert!(form.allows_origin("https://shop.example"));
    assert!(!form.allows_origin("https://evil.example"));
    assert!(form.field("email").unwrap().required);
    assert_eq!(form.honeypot_field(), "website");
}

#[test]
fn definition_errors_name_each_problem() {
    let input: FormInput = serde_json::from_value(json!({
        "name": "",
        "allowed_origins": ["shop.example"],
        "locale": "de",
        "redirect_url": "javascript:alert(1)",
        "fields": [
            {"key": "Email", "type": "email"},
            {"key": "birth_date", "type": "text"},
            {"key": "colour", "type": "single_choice"},
            {"key": "colour", "type": "text", "options": ["a"]}
        ],
        "consents": [{"purpose": "Marketing", "policy_version": "", "text": {}}]
    }))
    .unwrap();
    let errors = FormDefinition::parse(input).unwrap_err();
    for key in [
        "name",
        "allowed_origins[0]",
        "locale",
        "redirect_url",
        "fields[0].key",
        "fields[1].type",
        "fields[2].options",
        "fields[3].key",
        "fields[3].options",
        "consents[0].purpose",
        "fields",
    ] {
        assert!(errors.contains_key(key), "missing {key}: {errors:?}");
    }
}

#[test]
fn public_view_hides_origins() {
    let view = newsletter().public_view("frm_1", "https://c.example");
    assert!(view.get("allowed_origins").is_none());
    assert_eq!(
        view["submit_url"],
        "https://c.example/v1/forms/frm_1/submissions"
    );
    assert_eq!(view["fields"][0]["label"]["pt-BR"], "E-mail");
    assert_eq!(view["consents"][0]["purpose"], "marketing_email");
}

#[test]
fn valid_submission_fills_columns_attributes_and_consent_proof() {
    let s = submit(
        &newsletter(),
        json!({
            "fields": {"email": " Ana@Example.com ", "name": "Ana", "country": "br",
                        "birth_date": "1990-05-01", "interests": ["bags", "shoes", "bags"], "size": 38, "vip": true},
            "consents": {"marketing_email": true, "sms": false}
        }),
    )
    .unwrap();
    assert_eq!(s.email.as_str(), "ana@example.com");
    assert_eq!(s.contact.name.as_deref(), Some("Ana"));
    assert_eq!(s.contact.country.as_deref(), Some("BR"));
    assert_eq!(s.attributes["interests"], json!(["shoes", "bags"]));
    assert_eq!(s.attributes["size"], json!(38.0));
    assert_eq!(s.consents.len(), 1);
    assert_eq!(
        s.consents[0].notice_text_hash,
        notice_hash("Aceito receber ofertas por e-mail")
    );
}

#[test]
fn bad_submissions_name_their_fields() {
    let errors = submit(
        &newsletter(),
        json!({
            "fields": {"email": "ana@example.com\r\nBcc: x@y.z", "name": "far too long a name",
                        "birth_date": "2030-01-01", "interests": ["hats"], "size": 99, "admin": true},
            "consents": {"sms": "yes", "newsletter": true}
        }),
    )
    .unwrap_err();
    for key in [
        "email",
        "name",
        "birth_date",
        "interests",
        "size",
        "admin",
        "consent.marketing_email",
        "consent.sms",
        "consent.newsletter",
    ] {
        assert!(errors.contains_key(key), "missing {key}: {errors:?}");
    }
    assert!(!errors.values().any(|m| m.contains("ana@example.com")));
}

#[test]
fn wrong_types_are_refused() {
    let errors = submit(&newsletter(), json!({"fields": {"email": 5, "size": "NaN", "vip": 3}, "consents": {"marketing_email": true}})).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn urlencoded_posts_map_to_the_same_input() {
    let form = newsletter();
    let pairs: Vec<(String, String)> = [
        ("email", "ana@example.com"),
        ("interests", "shoes"),
        ("interests", "bags"),
        ("vip", "on"),
        ("consent.marketing_email", "on"),
        ("cf-turnstile-response", "tok"),
        ("website", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let input = SubmissionInput::from_pairs(&pairs, &form);
    assert!(!input.trips_honeypot(&form));
    assert_eq!(input.turnstile_token.as_deref(), Some("tok"));
    let s = Submission::parse(&form, &input, Locale::En, today()).unwrap();
    assert_eq!(s.attributes["interests"], json!(["shoes", "bags"]));
    assert_eq!(s.attributes["vip"], json!(true));
    assert_eq!(
        s.consents[0].notice_text_hash,
        notice_hash("I agree to receive offers by email")
    );
}

#[test]
fn honeypot_is_detected() {
    let form = newsletter();
    let pairs = vec![("website".to_string(), "http://spam.example".to_string())];
    assert!(SubmissionInput::from_pairs(&pairs, &form).trips_honeypot(&form));
}

#[test]
fn origins() {
    assert_eq!(
        parse_origin("https://shop.example:8443"),
        Some("https://shop.example:8443".into())
    );
    assert_eq!(
        parse_origin("HTTP://LOCALHOST:3000/"),
        Some("http://localhost:3000".into())
    );
    for bad in [
        "shop.example",
        "ftp://x.y",
        "https://",
        "https://a.b/path",
        "https://a.b:99999",
        "https://a b",
    ] {
        assert_eq!(parse_origin(bad), None, "{bad}");
    }
}

/// One generated field: the JSON sent and whether the form must accept it.
type Gen<T> = BoxedStrategy<(T, bool)>;

/// A field that is valid in most cases (`valid` from its own strategy, `invalid` otherwise), so
/// that most submissions are accepted and every field's refusal is still seen.
fn mostly_valid<T: std::fmt::Debug + Clone + 'static>(
    valid: impl Strategy<Value = T> + 'static,
    invalid: impl Strategy<Value = T> + 'static,
) -> Gen<T> {
    prop_oneof![
        6 => valid.prop_map(|v| (v, true)),
        1 => invalid.prop_map(|v| (v, false)),
    ]
    .boxed()
}

/// Well-formed addresses in mixed case with stray spaces around them, or one of the shapes
/// the parser must refuse (blank counts as missing, and email is required).
fn email_field() -> Gen<String> {
    let valid = (
        " {0,2}",
        "[A-Za-z0-9_+-]{1,12}(\\.[A-Za-z0-9_+-]{1,8})?",
        "[A-Za-z0-9]{1,10}(-[A-Za-z0-9]{1,5})?\\.[A-Za-z]{2,6}",
        " {0,2}",
    )
        .prop_map(|(pre, local, domain, post)| format!("{pre}{local}@{domain}{post}"));
    let invalid = prop::sample::select(vec![
        "",
        "   ",
        "plain",
        "ana@",
        "@example.com",
        "ana@localhost",
        "an..a@example.com",
        ".ana@example.com",
        "ana@example.c",
        "ana@exa mple.com",
        "ana@@example.com",
        "ana@example.com\r\nBcc: x@evil.test",
    ])
    .prop_map(str::to_string);
    mostly_valid(valid, invalid)
}

proptest! {
    /// The oracle is the form itself: a submission is accepted exactly when every field and the
    /// required consent are valid, and then it holds what was sent, normalised; otherwise the
    /// errors name exactly the fields at fault.
    #[test]
    fn a_submission_is_accepted_exactly_when_every_field_is_valid(
        (email, email_ok) in email_field(),
        (name, name_ok) in mostly_valid("[A-Za-zÀ-ÿ' ]{0,10}", prop_oneof!["[a-z]{11,20}", "[a-z]{1,4}\\x07[a-z]{0,4}"]),
        (size, size_ok) in mostly_valid(30.0f64..=50.0, prop_oneof![-1e6f64..29.99, 50.01f64..1e6]),
        (interests, interests_ok) in mostly_valid(
            prop::collection::vec(prop::sample::select(vec!["shoes", "bags"]), 0..4),
            prop::collection::vec(prop::sample::select(vec!["shoes", "bags", "hats", ""]), 1..4)
                .prop_filter("holds a value that is not an option", |v| v.iter().any(|i| *i == "hats" || i.is_empty())),
        ),
        marketing in proptest::bool::weighted(0.85),
        sms in proptest::bool::ANY,
    ) {
        let form = newsletter();
        let body = json!({"fields": {"email": email, "name": name, "size": size, "interests": interests},
                          "consents": {"marketing_email": marketing, "sms": sms}});
        let result = submit(&form, body);
        let all_ok = email_ok && name_ok && size_ok && interests_ok && marketing;
        match result {
            Ok(s) => {
                prop_assert!(all_ok, "accepted an invalid submission");
                prop_assert_eq!(s.email.as_str(), email.trim().to_lowercase());
                let name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
                prop_assert_eq!(s.contact.name, name);
                prop_assert_eq!(s.attributes.get("size").and_then(Value::as_f64), Some(size));
                let wanted: Vec<&str> = ["shoes", "bags"].into_iter().filter(|o| interests.contains(o)).collect();
                let wanted = (!wanted.is_empty()).then(|| json!(wanted));
                prop_assert_eq!(s.attributes.get("interests"), wanted.as_ref());
                let purposes: Vec<&str> = s.consents.iter().map(|c| c.purpose.as_str()).collect();
                prop_assert_eq!(purposes, if sms { vec!["marketing_email", "sms"] } else { vec!["marketing_email"] });
            }
            Err(errors) => {
                prop_assert!(!all_ok, "refused a valid submission: {:?}", errors);
                prop_assert_eq!(errors.contains_key("email"), !email_ok, "{:?}", errors);
                prop_assert_eq!(errors.contains_key("name"), !name_ok, "{:?}", errors);
                prop_assert_eq!(errors.contains_key("size"), !size_ok, "{:?}", errors);
                prop_assert_eq!(errors.contains_key("interests"), !interests_ok, "{:?}", errors);
                prop_assert_eq!(errors.contains_key("consent.marketing_email"), !marketing, "{:?}", errors);
            }
        }
    }

    /// Arbitrary text in every field never panics, and whatever is accepted is clean.
    #[test]
    fn submissions_never_panic_and_accepted_ones_are_clean(
        email in "\\PC{0,40}", name in "\\PC{0,20}", size in proptest::num::f64::ANY,
        interests in proptest::collection::vec("\\PC{0,8}", 0..4), consent in proptest::bool::ANY
    ) {
        let form = newsletter();
        let body = json!({"fields": {"email": email, "name": name, "size": size, "interests": interests},
                          "consents": {"marketing_email": consent}});
        if let Ok(json) = serde_json::from_value::<SubmissionJson>(body) {
            if let Ok(s) = Submission::parse(&form, &json.into(), Locale::En, today()) {
                prop_assert!(consent);
                prop_assert!(s.contact.name.as_deref().is_none_or(|n| n.chars().count() <= 10));
                prop_assert!(!s.email.as_str().chars().any(char::is_control));
            }
        }
    }
}

#[test]
fn the_address_a_raw_body_names_is_the_one_its_form_would_parse() {
    let json = br#"{"fields": {"email": " Ana@Example.com ", "name": "Ana"}}"#;
    assert_eq!(
        named_email(json, false).map(|e| e.as_str().to_string()),
        Some("ana@example.com".to_string())
    );
    // A plain form post: the last `email` wins, as `SubmissionInput::from_pairs` takes it.
    let pairs = b"email=first%40example.com&name=A&email=second%40example.com";
    assert_eq!(
        named_email(pairs, true).map(|e| e.as_str().to_string()),
        Some("second@example.com".to_string())
    );
    // Nothing usable names no address: the look-up is skipped, the form's checks answer.
    assert!(named_email(br#"{"fields": {"email": 5}}"#, false).is_none());
    assert!(named_email(b"not json", false).is_none());
    assert!(named_email(b"name=A", true).is_none());
    assert!(named_email(br#"{"fields": {"email": "no-at-sign"}}"#, false).is_none());
}

#[test]
fn a_change_names_the_fields_it_sets_and_only_those() {
    let fields = ContactFields {
        name: Some("Ana".into()),
        city: Some("Recife".into()),
        ..ContactFields::default()
    };
    assert_eq!(fields.names(), vec!["name", "city"]);
    assert!(ContactFields::default().names().is_empty());
}
