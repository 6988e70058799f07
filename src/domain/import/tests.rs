//! Unit and property tests of an import: both formats, every rule and reason, line numbers,
//! duplicates and the whole-file errors.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::domain::time;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
}

fn now() -> DateTime<Utc> {
    time::parse("2026-11-23T12:00:00Z").unwrap_or_default()
}

fn import(format: ImportFormat, body: &str) -> (Vec<ImportRow>, Vec<Rejection>) {
    parse_import(format, body.as_bytes(), today(), now()).unwrap()
}

fn ndjson(body: &str) -> (Vec<ImportRow>, Vec<Rejection>) {
    import(ImportFormat::Ndjson, body)
}

fn csv(body: &str) -> (Vec<ImportRow>, Vec<Rejection>) {
    import(ImportFormat::Csv, body)
}

/// The reason a one-line NDJSON import was rejected with.
fn ndjson_reason(object: Value) -> String {
    let (rows, rejections) = ndjson(&object.to_string());
    assert!(rows.is_empty(), "accepted {object}");
    assert_eq!(rejections.len(), 1);
    rejections[0].reason.clone()
}

fn reject(line: usize, reason: &str) -> Rejection {
    Rejection {
        line,
        reason: reason.to_string(),
    }
}

#[test]
fn ndjson_rows_are_parsed_and_normalized() {
    let body = [
        json!({
            "email": " Ana@Example.COM ",
            "name": " Ana Souza ",
            "phone": "+55 (11) 91234-5678",
            "locale": "pt-BR",
            "country": "br",
            "city": "São Paulo",
            "birth_date": "1990-05-17",
            "gender": "female",
            "preferred_channel": "whatsapp",
            "attr.shoe_size": 38,
            "attr.vip": true,
            "attr.interests": ["shoes", "bags"],
            "attr.note": "first buyer",
            "attr.empty": null,
            "consents": ["sms", "marketing_email", "sms"],
            "consent_basis": "signup form on old shop, 2024",
            "consented_at": "2024-03-01T10:00:00-03:00",
            "policy_version": "2024-01"
        })
        .to_string(),
        String::new(),
        json!({"email": "bruno@example.com"}).to_string(),
    ]
    .join("\n");
    let (rows, rejections) = ndjson(&body);
    assert_eq!(rejections, vec![]);
    assert_eq!(rows.len(), 2);
    let ana = &rows[0];
    assert_eq!(ana.line, 1);
    assert_eq!(ana.email.as_str(), "ana@example.com");
    assert_eq!(
        ana.fields,
        ContactFields {
            name: Some("Ana Souza".into()),
            phone: Some("+5511912345678".into()),
            locale: Some("pt-BR".into()),
            country: Some("BR".into()),
            city: Some("São Paulo".into()),
            birth_date: Some("1990-05-17".into()),
            gender: Some("female".into()),
        }
    );
    assert_eq!(ana.preferred_channel.as_deref(), Some("whatsapp"));
    let expected_attributes: BTreeMap<String, Value> = [
        ("interests", json!(["shoes", "bags"])),
        ("note", json!("first buyer")),
        ("shoe_size", json!(38)),
        ("vip", json!(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(ana.attributes, expected_attributes);
    let purposes: Vec<&str> = ana.consents.iter().map(Purpose::as_str).collect();
    assert_eq!(purposes, ["marketing_email", "sms"]);
    assert_eq!(
        ana.consent_basis.as_deref(),
        Some("signup form on old shop, 2024")
    );
    assert_eq!(
        ana.consented_at.as_deref(),
        Some("2024-03-01T13:00:00.000Z")
    );
    assert_eq!(ana.policy_version.as_deref(), Some("2024-01"));

    let bruno = &rows[1];
    assert_eq!(bruno.line, 3);
    assert_eq!(bruno.fields, ContactFields::default());
    assert!(bruno.consents.is_empty() && bruno.attributes.is_empty());
    assert_eq!(bruno.consent_basis, None);
}

#[test]
fn csv_rows_are_parsed_with_quoted_fields() {
    let body = "email,name,city,attr.note,consents,consent_basis,policy_version\n\
            ana@example.com,\"Souza, Ana\",Recife,\"said \"\"hi\"\"\nthen left\",marketing_email|sms,\"shop signup, 2024\",2024-01\n\
            bruno@example.com,Bruno,,,,,\n";
    let (rows, rejections) = csv(body);
    assert_eq!(rejections, vec![]);
    assert_eq!(rows.len(), 2);
    let ana = &rows[0];
    assert_eq!(ana.line, 2);
    assert_eq!(ana.fields.name.as_deref(), Some("Souza, Ana"));
    assert_eq!(ana.fields.city.as_deref(), Some("Recife"));
    assert_eq!(ana.attributes["note"], json!("said \"hi\"\nthen left"));
    let purposes: Vec<&str> = ana.consents.iter().map(Purpose::as_str).collect();
    assert_eq!(purposes, ["marketing_email", "sms"]);
    assert_eq!(ana.consent_basis.as_deref(), Some("shop signup, 2024"));
    assert_eq!(ana.consented_at, None);
    assert_eq!(ana.policy_version.as_deref(), Some("2024-01"));
    let bruno = &rows[1];
    assert_eq!(
        bruno.line, 4,
        "the quoted newline moved Bruno one line down"
    );
    assert_eq!(bruno.fields.city, None);
    assert!(bruno.attributes.is_empty() && bruno.consents.is_empty());
}

#[test]
fn basis_without_consents_is_checked_then_dropped() {
    let (rows, rejections) = csv("email,consents,consent_basis,consented_at,policy_version\n\
             ana@example.com,,old shop,2024-01-01T00:00:00Z,v1\n\
             bruno@example.com,,old shop,yesterday,v1\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].consent_basis, None);
    assert_eq!(rows[0].consented_at, None);
    assert_eq!(rows[0].policy_version, None);
    assert_eq!(rejections, vec![reject(3, "invalid consented_at")]);
}

#[test]
fn every_problem_has_its_own_reason() {
    let consent = |extra: Value| {
        let mut row = json!({"email": "ana@example.com", "consents": ["marketing_email"], "consent_basis": "old shop"});
        if let (Some(row), Some(extra)) = (row.as_object_mut(), extra.as_object()) {
            row.extend(extra.clone());
        }
        row
    };
    let cases = [
        (json!({"name": "Ana"}), "missing email"),
        (json!({"email": ""}), "missing email"),
        (json!({"email": null}), "missing email"),
        (json!({"email": "not-an-address"}), "invalid email"),
        (json!({"email": 42}), "invalid email"),
        (
            json!({"email": "a@example.com", "name": "x".repeat(101)}),
            "invalid name",
        ),
        (json!({"email": "a@example.com", "name": 5}), "invalid name"),
        (
            json!({"email": "a@example.com", "phone": "12"}),
            "invalid phone",
        ),
        (
            json!({"email": "a@example.com", "locale": "x"}),
            "invalid locale",
        ),
        (
            json!({"email": "a@example.com", "country": "BRA"}),
            "invalid country",
        ),
        (
            json!({"email": "a@example.com", "city": "a\u{7}b"}),
            "invalid city",
        ),
        (
            json!({"email": "a@example.com", "birth_date": "2999-01-01"}),
            "invalid birth_date",
        ),
        (
            json!({"email": "a@example.com", "gender": "g".repeat(41)}),
            "invalid gender",
        ),
        (
            json!({"email": "a@example.com", "preferred_channel": "pigeon"}),
            "invalid preferred_channel",
        ),
        (
            json!({"email": "a@example.com", "foo": "bar"}),
            "unknown column 'foo'",
        ),
        (
            json!({"email": "a@example.com", "attr.Shoe": "38"}),
            "invalid attribute name 'attr.Shoe'",
        ),
        (
            json!({"email": "a@example.com", "attr.": "38"}),
            "invalid attribute name 'attr.'",
        ),
        (
            json!({"email": "a@example.com", "attr.size": {"eu": 38}}),
            "invalid value for 'attr.size'",
        ),
        (
            json!({"email": "a@example.com", "attr.size": [38]}),
            "invalid value for 'attr.size'",
        ),
        (
            json!({"email": "a@example.com", "attr.note": "n".repeat(999)}),
            "invalid value for 'attr.note'",
        ),
        (
            json!({"email": "a@example.com", "consents": "marketing_email"}),
            "consents must be a list of purposes",
        ),
        (
            json!({"email": "a@example.com", "consents": [1]}),
            "consents must be a list of purposes",
        ),
        (
            consent(json!({"consents": ["Marketing"]})),
            "invalid purpose in consents",
        ),
        (
            json!({"email": "a@example.com", "consents": ["sms"]}),
            "consent_basis required with consents",
        ),
        (
            consent(json!({"consent_basis": "  "})),
            "consent_basis required with consents",
        ),
        (
            consent(json!({"consent_basis": "b".repeat(201)})),
            "invalid consent_basis",
        ),
        (
            consent(json!({"consented_at": "2024-13-01T00:00:00Z"})),
            "invalid consented_at",
        ),
        (
            consent(json!({"consented_at": "2026-11-24T00:00:00Z"})),
            "consented_at in the future",
        ),
        (
            consent(json!({"policy_version": "v".repeat(41)})),
            "invalid policy_version",
        ),
        (
            json!({"email": "bad", "phone": "12", "zip": "1"}),
            "unknown column 'zip'; invalid email; invalid phone",
        ),
    ];
    for (row, reason) in cases {
        assert_eq!(ndjson_reason(row.clone()), reason, "{row}");
    }
    let accepted =
        consent(json!({"attr.note": "n".repeat(998), "consented_at": "2026-11-23T12:00:00Z"}));
    assert_eq!(ndjson(&accepted.to_string()).0.len(), 1);
}

#[test]
fn lines_that_are_not_objects_are_rejected_alone() {
    let body = "{\"email\":\"ana@example.com\"}\n{not json\n[1,2]\n\"text\"\n{\"email\":\"bia@example.com\"}";
    let (rows, rejections) = ndjson(body);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 5]);
    assert_eq!(
        rejections,
        vec![
            reject(2, "invalid JSON"),
            reject(3, "not a JSON object"),
            reject(4, "not a JSON object"),
        ]
    );
}

#[test]
fn csv_column_problems_reject_rows() {
    let (rows, rejections) = csv("email,zip\nana@example.com,1\nbia@example.com,\n");
    assert!(rows.is_empty());
    assert_eq!(
        rejections,
        vec![
            reject(2, "unknown column 'zip'"),
            reject(3, "unknown column 'zip'")
        ]
    );

    let (_, rejections) = csv("email,name,name\nana@example.com,A,B\n");
    assert_eq!(rejections, vec![reject(2, "duplicate column 'name'")]);

    let (rows, rejections) =
        csv("email,name\nana@example.com\nbia@example.com,Bia,x\ncai@example.com,Cai\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rejections,
        vec![
            reject(2, "expected 2 fields, found 1"),
            reject(3, "expected 2 fields, found 3"),
        ]
    );

    let (rows, rejections) = csv("email,,\nana@example.com,,\nbia@example.com,x,\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rejections,
        vec![reject(3, "value in a column without a name")]
    );

    let (_, rejections) =
        csv("email,consents,consent_basis\nana@example.com,marketing_email|Bad,x\n");
    assert_eq!(rejections, vec![reject(2, "invalid purpose in consents")]);
}

#[test]
fn reasons_never_quote_values() {
    let secret = "Zelda Quixote";
    let body = json!({"email": format!("{secret}@"), "name": format!("{secret}\u{1}"), "phone": secret, "attr.x": {"k": secret}, "consents": [secret]}).to_string();
    let (_, rejections) = ndjson(&body);
    assert_eq!(rejections.len(), 1);
    assert!(
        !rejections[0].reason.contains("Zelda"),
        "{}",
        rejections[0].reason
    );
    let long_column = format!("{}{}", "c".repeat(60), "\u{7}");
    let reason = ndjson_reason(json!({"email": "a@example.com", long_column: 1}));
    assert_eq!(reason, format!("unknown column '{}'", "c".repeat(40)));
}

#[test]
fn the_last_row_of_an_email_wins() {
    let body = [
        json!({"email": "Ana@example.com", "name": "First"}),
        json!({"email": "bia@example.com"}),
        json!({"email": "ana@EXAMPLE.com", "name": "Second"}),
        json!({"email": "ana@example.com", "name": "Third"}),
        json!({"email": "cai@example.com", "phone": "12"}),
        json!({"email": "cai@example.com", "phone": "bad"}),
        json!({"email": "dan@example.com", "name": "Old"}),
        json!({"email": "dan@example.com", "phone": "12"}),
    ]
    .map(|v| v.to_string())
    .join("\n");
    let (rows, rejections) = ndjson(&body);
    let kept: Vec<(usize, Option<&str>)> = rows
        .iter()
        .map(|r| (r.line, r.fields.name.as_deref()))
        .collect();
    assert_eq!(kept, [(2, None), (4, Some("Third"))]);
    assert_eq!(
        rejections,
        vec![
            reject(1, "duplicate of line 4"),
            reject(3, "duplicate of line 4"),
            reject(5, "invalid phone"),
            reject(6, "invalid phone"),
            reject(7, "duplicate of line 8"),
            reject(8, "invalid phone"),
        ]
    );

    let (rows, rejections) = csv("name,email\nA,ana@example.com\nB,ANA@example.com\n");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].fields.name.as_deref(), Some("B"));
    assert_eq!(rejections, vec![reject(2, "duplicate of line 3")]);
}

#[test]
fn a_csv_needs_an_email_column() {
    for body in [
        "name,city\nAna,Recife\n",
        "ana@example.com,Ana\n",
        "Email,name\nana@example.com,Ana\n",
        "",
        "\n\n",
    ] {
        assert_eq!(
            parse_import(ImportFormat::Csv, body.as_bytes(), today(), now()),
            Err(ImportError::NoEmailColumn),
            "{body:?}"
        );
    }
    assert_eq!(csv(" email ,name\n"), (vec![], vec![]));
    assert_eq!(ndjson(""), (vec![], vec![]));
}

#[test]
fn crlf_line_endings() {
    let (rows, rejections) = csv("email,name,attr.note\r\nana@example.com,Ana,\r\n\"bia@example.com\",Bia,\"B\r\nB\"\r\ncai@example.com,Cai,\r\n");
    assert_eq!(rejections, vec![]);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 5]);
    assert_eq!(rows[0].fields.name.as_deref(), Some("Ana"));
    assert_eq!(rows[1].attributes["note"], json!("B\r\nB"));
    assert_eq!(rows[2].fields.name.as_deref(), Some("Cai"));

    let (rows, rejections) =
        ndjson("{\"email\":\"ana@example.com\"}\r\n\r\n{\"email\":\"bia@example.com\"}\r\n");
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(rejections, vec![]);
}

#[test]
fn crlf_inside_a_quoted_name_is_rejected_as_invalid_name() {
    let (_, rejections) = csv("email,name\r\nbia@example.com,\"B\r\nB\"\r\n");
    assert_eq!(rejections, vec![reject(2, "invalid name")]);
}

#[test]
fn csv_lines_count_blank_lines_too() {
    let (rows, rejections) = csv("\nemail\n\nana@example.com\n\r\n\n,\r\nbia@example.com");
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 8]);
    assert_eq!(rejections, vec![reject(7, "expected 1 fields, found 2")]);
}

/// Found by the `import` fuzz target: the reader splits records at a lone `\r`, but lines
/// were counted at `\n` only, so every row of a CR-only file was reported as line 1.
#[test]
fn lone_carriage_returns_end_csv_lines() {
    let (rows, rejections) =
        csv("email,name\rbad,x,y\rana@example.com,Ana\r\r\nbia@example.com,\r");
    assert_eq!(rejections, vec![reject(2, "expected 2 fields, found 3")]);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 5]);
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let (rows, rejections) = csv("\u{feff}email,name\nana@example.com,Ana\n");
    assert_eq!(rejections, vec![]);
    assert_eq!(rows[0].line, 2);
    let (rows, _) = ndjson("\u{feff}{\"email\":\"ana@example.com\"}\n");
    assert_eq!(rows.len(), 1);
}

#[test]
fn formula_looking_values_are_kept_as_written() {
    let (rows, rejections) = csv(
        "email,name,attr.note,attr.code\nana@example.com,=HYPERLINK(\"x\"),+1+1,\"@SUM(A1:A2)\"\n",
    );
    assert_eq!(rejections, vec![]);
    assert_eq!(rows[0].fields.name.as_deref(), Some("=HYPERLINK(\"x\")"));
    assert_eq!(rows[0].attributes["note"], json!("+1+1"));
    assert_eq!(rows[0].attributes["code"], json!("@SUM(A1:A2)"));
}

#[test]
fn row_limit() {
    let csv_body = |n: usize| {
        let mut body = String::from("email\n");
        for i in 0..n {
            body.push_str(&format!("p{i}@example.com\n"));
        }
        body
    };
    let ndjson_body = |n: usize| {
        (0..n)
            .map(|i| format!("{{\"email\":\"p{i}@example.com\"}}\n\n"))
            .collect::<String>()
    };
    let too_many = Err(ImportError::TooManyRows { limit: MAX_ROWS });
    for (format, body) in [
        (ImportFormat::Csv, csv_body as fn(usize) -> String),
        (ImportFormat::Ndjson, ndjson_body),
    ] {
        let full = parse_import(format, body(MAX_ROWS).as_bytes(), today(), now());
        assert_eq!(full.map(|(rows, _)| rows.len()), Ok(MAX_ROWS));
        let over = parse_import(format, body(MAX_ROWS + 1).as_bytes(), today(), now());
        assert_eq!(over.map(|(rows, _)| rows.len()), too_many);
    }
}

#[test]
fn a_body_must_be_utf8() {
    for format in [ImportFormat::Csv, ImportFormat::Ndjson] {
        assert_eq!(
            parse_import(format, b"email\n\xff@example.com\n", today(), now()),
            Err(ImportError::NotUtf8)
        );
    }
    assert_eq!(
        ImportError::TooManyRows { limit: 1000 }.message(),
        "at most 1000 rows per import"
    );
}

#[test]
fn formats_from_content_types() {
    assert_eq!(
        ImportFormat::from_content_type("text/csv; charset=utf-8"),
        Some(ImportFormat::Csv)
    );
    assert_eq!(
        ImportFormat::from_content_type("Application/X-NDJSON"),
        Some(ImportFormat::Ndjson)
    );
    assert_eq!(ImportFormat::from_content_type("application/json"), None);
}

/// One NDJSON line: a valid row (from few emails, so duplicates happen), an invalid row,
/// garbage or a blank line.
fn ndjson_line() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[abc]", "[A-Za-z ]{0,8}").prop_map(|(who, name)| {
            json!({"email": format!("{who}@example.com"), "name": name}).to_string()
        }),
        ("[abc]", "[0-9]{0,3}").prop_map(|(who, phone)| {
            json!({"email": format!("{who}@example.com"), "phone": phone}).to_string()
        }),
        "\\PC{0,30}",
        "[ \t]{0,3}",
    ]
}

/// One CSV line under an `email` header: a row, a row with a wrong field count, garbage
/// without quotes, or an empty line.
fn csv_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[abc]@example\\.com",
        "[abc]@example\\.com,x",
        "[a-z@. ,|]{1,20}",
        Just(String::new()),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        for format in [ImportFormat::Csv, ImportFormat::Ndjson] {
            let _ = parse_import(format, &body, today(), now());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(body in "[a-z@.,\"|\\r\\n {}:\\[\\]]{0,200}") {
        let csv_body = format!("email,name,consents\n{body}");
        let _ = parse_import(ImportFormat::Csv, csv_body.as_bytes(), today(), now());
        let _ = parse_import(ImportFormat::Ndjson, body.as_bytes(), today(), now());
    }

    #[test]
    fn every_ndjson_line_is_accounted_for_once(
        lines in proptest::collection::vec(ndjson_line(), 0..40),
        crlf in any::<bool>(),
    ) {
        let body = lines.join(if crlf { "\r\n" } else { "\n" });
        let (rows, rejections) = parse_import(ImportFormat::Ndjson, body.as_bytes(), today(), now())
            .map_err(|e| TestCaseError::fail(e.message()))?;
        let expected: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, _)| index + 1)
            .collect();
        let mut seen: Vec<usize> = rows.iter().map(|r| r.line).chain(rejections.iter().map(|r| r.line)).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, expected);
        let mut emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
        let count = emails.len();
        emails.sort_unstable();
        emails.dedup();
        prop_assert_eq!(emails.len(), count, "one row per email");
    }

    #[test]
    fn every_csv_line_is_accounted_for_once(
        lines in proptest::collection::vec(csv_line(), 0..40),
        crlf in any::<bool>(),
    ) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let body = format!("email{newline}{}", lines.join(newline));
        let (rows, rejections) = parse_import(ImportFormat::Csv, body.as_bytes(), today(), now())
            .map_err(|e| TestCaseError::fail(e.message()))?;
        let expected: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(index, _)| index + 2)
            .collect();
        let mut seen: Vec<usize> = rows.iter().map(|r| r.line).chain(rejections.iter().map(|r| r.line)).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, expected);
    }
}
