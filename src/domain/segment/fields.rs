//! The fields a segment rule may name, described for a rule builder (`GET
//! /admin/v1/segments/fields`): name or name pattern, labels in the workspace's languages, value
//! type, operators, choices and bounds, and whether reading it profiles. Read from the parser's
//! own definitions (`Field::kind`, `Field::ops`, `Field::is_profiling`, the list of names), so a
//! builder fed by it offers exactly what `parse_rule` accepts.

use serde_json::{json, Map, Value};

use super::rule::{Field, Kind, Norm, Op, MAX_CONDITIONS, MAX_DAYS, MAX_DEPTH, MAX_LIST, NAMED};
use crate::domain::consent::{Frequency, KNOWN_PURPOSES};
use crate::domain::i18n::{self, Locale};

/// Prefix of every label key in the workspace's string table (`admin` in the locale files).
const LABELS: &str = "fields.";

/// What a builder shows for a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Free text, compared after the field's own normalization.
    Text,
    /// A two-letter country code.
    Country,
    /// One of `values`.
    Enum,
    /// A whole number between `min` and `max`.
    Integer,
    /// A number between `min` and `max`.
    Number,
    /// A decimal amount in currency units (`"129.90"`).
    Money,
    /// A `YYYY-MM-DD` date (its midnight UTC) or an RFC 3339 time.
    Date,
    /// `true` or `false`.
    Boolean,
    /// The id of another segment.
    Segment,
    /// A custom attribute: a text, number or `true`/`false`, compared within its JSON type.
    Attribute,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Country => "country",
            ValueType::Enum => "enum",
            ValueType::Integer => "integer",
            ValueType::Number => "number",
            ValueType::Money => "money",
            ValueType::Date => "date",
            ValueType::Boolean => "boolean",
            ValueType::Segment => "segment",
            ValueType::Attribute => "attribute",
        }
    }

    pub const ALL: [ValueType; 10] = [
        ValueType::Text,
        ValueType::Country,
        ValueType::Enum,
        ValueType::Integer,
        ValueType::Number,
        ValueType::Money,
        ValueType::Date,
        ValueType::Boolean,
        ValueType::Segment,
        ValueType::Attribute,
    ];
}

/// The shape of a condition's `value` under an operator, whatever the field.
pub fn operand_shape(op: Op) -> &'static str {
    match op {
        Op::Eq | Op::Neq | Op::Gt | Op::Gte | Op::Lt | Op::Lte | Op::Contains | Op::StartsWith => {
            "one"
        }
        Op::In | Op::NotIn => "list",
        Op::Between => "range",
        Op::Exists => "flag",
        Op::WithinDays | Op::NotWithinDays => "days",
    }
}

/// The value shapes of [`operand_shape`], for the contract's enum.
pub const OPERAND_SHAPES: [&str; 5] = ["one", "list", "range", "flag", "days"];

/// A family of fields named by a parameter (`consent.<purpose>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// As written before the parameter, dot included.
    pub prefix: &'static str,
    /// What the parameter is (`purpose`, `key`).
    pub parameter: &'static str,
    /// A regular expression for the parameter, as the parser checks it.
    pub pattern: &'static str,
    /// The parameters known to mean something here (`None`: any that fits the pattern).
    pub known: Option<Vec<&'static str>>,
}

const PURPOSE_PATTERN: &str = "^[a-z][a-z0-9_]{1,39}$";
const KEY_PATTERN: &str = "^[a-z][a-z0-9_]{0,39}$";

/// The family a field belongs to, if its name carries a parameter. Every variant is listed: a new
/// field must say here whether it is a family before it compiles.
fn family(field: &Field) -> Option<Family> {
    match field {
        Field::Consent(_) => Some(Family {
            prefix: "consent.",
            parameter: "purpose",
            pattern: PURPOSE_PATTERN,
            known: Some(KNOWN_PURPOSES.to_vec()),
        }),
        Field::Frequency(_) => Some(Family {
            prefix: "frequency.",
            parameter: "purpose",
            pattern: PURPOSE_PATTERN,
            known: Some(
                KNOWN_PURPOSES
                    .into_iter()
                    .filter(|p| !Frequency::offered(p).is_empty())
                    .collect(),
            ),
        }),
        Field::Attr(_) => Some(Family {
            prefix: "attr.",
            parameter: "key",
            pattern: KEY_PATTERN,
            known: None,
        }),
        Field::Email
        | Field::EmailDomain
        | Field::Name
        | Field::Locale
        | Field::Country
        | Field::City
        | Field::Gender
        | Field::Age
        | Field::BirthMonth
        | Field::CreatedAt
        | Field::ConfirmedAt
        | Field::Source
        | Field::Status
        | Field::Temperature
        | Field::DataConfirmedAt
        | Field::OrderCount
        | Field::TotalSpent
        | Field::AvgOrderValue
        | Field::FirstOrderAt
        | Field::LastOrderAt
        | Field::BoughtCategory
        | Field::BoughtSku
        | Field::LastNps
        | Field::NpsCategory
        | Field::AvgCsat
        | Field::RfmR
        | Field::RfmF
        | Field::RfmM
        | Field::RfmSegment
        | Field::Segment => None,
    }
}

/// A field's value type, choices and bounds, from the kind the parser checks values against.
fn value_of(kind: Kind) -> (ValueType, &'static [&'static str], Option<(f64, f64)>) {
    match kind {
        Kind::Text(Norm::Country) => (ValueType::Country, &[], None),
        Kind::Text(_) | Kind::Items(_) => (ValueType::Text, &[], None),
        Kind::Choice(options) => (ValueType::Enum, options, None),
        Kind::Int(lo, hi) => (ValueType::Integer, &[], Some((lo as f64, hi as f64))),
        Kind::Real(lo, hi) => (ValueType::Number, &[], Some((lo, hi))),
        Kind::Money => (ValueType::Money, &[], None),
        Kind::Date => (ValueType::Date, &[], None),
        Kind::Consent => (ValueType::Boolean, &[], None),
        Kind::SegmentId => (ValueType::Segment, &[], None),
        Kind::Attr => (ValueType::Attribute, &[], None),
    }
}

/// One field as a builder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDoc {
    /// The field itself; for a family, one member (its first known parameter, or `example`).
    pub field: Field,
    /// As written in a rule; for a family, with the parameter in angle brackets.
    pub name: String,
    pub family: Option<Family>,
    pub value_type: ValueType,
    pub values: &'static [&'static str],
    pub range: Option<(f64, f64)>,
    pub operators: &'static [Op],
    /// Derived or behavioural data: reading it is profiling ([`Field::is_profiling`]).
    pub derived: bool,
    /// Can single a person out ([`SegmentRule::reads_identifying_fields`]): only a key that
    /// may read contacts may use it.
    ///
    /// [`SegmentRule::reads_identifying_fields`]: super::SegmentRule::reads_identifying_fields
    pub identifying: bool,
    /// The key of its label in the workspace's strings (`fields.name.<name or family>`).
    pub label_key: String,
}

/// Every field a rule may name, in the order a builder lists them: the named fields, then the
/// families (`consent.`, `frequency.`, `attr.`).
pub fn catalog() -> Vec<FieldDoc> {
    let families = [
        Field::Consent(crate::domain::consent::MARKETING_EMAIL.to_string()),
        Field::Frequency(crate::domain::consent::MARKETING_EMAIL.to_string()),
        Field::Attr("example".to_string()),
    ];
    NAMED
        .iter()
        .map(|(_, f)| f.clone())
        .chain(families)
        .map(|field| {
            let family = family(&field);
            let (value_type, values, range) = value_of(field.kind());
            let (name, label) = match &family {
                Some(f) => (
                    format!("{}<{}>", f.prefix, f.parameter),
                    f.prefix.trim_end_matches('.').to_string(),
                ),
                None => (field.name(), field.name()),
            };
            let identifying = super::SegmentRule::Condition(super::Condition {
                field: field.clone(),
                op: Op::Exists,
                value: super::Operand::Flag(true),
            })
            .reads_identifying_fields();
            FieldDoc {
                derived: field.is_profiling(),
                operators: field.ops(),
                label_key: format!("{LABELS}name.{label}"),
                field,
                name,
                family,
                value_type,
                values,
                range,
                identifying,
            }
        })
        .collect()
}

/// The locales the workspace speaks, whose labels every description carries.
pub fn label_locales() -> Vec<Locale> {
    Locale::ALL
        .into_iter()
        .filter(|l| i18n::workspace_locale(*l) == *l)
        .collect()
}

/// `{"en": …, "pt-BR": …}` for a key of the workspace's table; a missing string (a test keeps
/// there from being any) falls back to `fallback`, so a description is never empty.
fn labels(key: &str, fallback: &str) -> Value {
    let mut out = Map::new();
    for locale in label_locales() {
        let text = i18n::page_strings(locale, i18n::Page::Admin)
            .get(key)
            .map_or(fallback, String::as_str);
        out.insert(locale.tag().to_string(), Value::String(text.to_string()));
    }
    Value::Object(out)
}

fn choices(key_prefix: &str, values: &[&str]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| json!({ "value": v, "labels": labels(&format!("{key_prefix}{v}"), v) }))
            .collect(),
    )
}

/// A bound as JSON: a whole number for an integer field (`150`, not `150.0`).
fn bound(value_type: ValueType, n: f64) -> Value {
    if value_type == ValueType::Integer {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// The document `GET /admin/v1/segments/fields` answers: every field, every operator with the
/// shape of its value, and the rule's limits.
pub fn document() -> Value {
    let fields: Vec<Value> = catalog()
        .into_iter()
        .map(|doc| {
            let family_name = doc
                .family
                .as_ref()
                .map_or_else(|| doc.name.clone(), |f| f.prefix.trim_end_matches('.').into());
            let parameter = doc.family.as_ref().map(|f| {
                json!({
                    "name": f.parameter,
                    "prefix": f.prefix,
                    "pattern": f.pattern,
                    "values": f.known.as_ref().map(|known| choices(&format!("{LABELS}{}.", f.parameter), known)),
                })
            });
            let values = (doc.value_type == ValueType::Enum)
                .then(|| choices(&format!("{LABELS}value.{family_name}."), doc.values));
            json!({
                "name": doc.name,
                "labels": labels(&doc.label_key, &doc.name),
                "type": doc.value_type.as_str(),
                "operators": doc.operators.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
                "values": values,
                "min": doc.range.map(|r| bound(doc.value_type, r.0)),
                "max": doc.range.map(|r| bound(doc.value_type, r.1)),
                "parameter": parameter,
                "derived": doc.derived,
                "requires_scope": doc.identifying.then_some("contacts:read"),
            })
        })
        .collect();
    let operators: Vec<Value> = Op::ALL
        .into_iter()
        .map(|op| {
            json!({
                "name": op.as_str(),
                "value": operand_shape(op),
                "labels": labels(&format!("{LABELS}op.{}", op.as_str()), op.as_str()),
            })
        })
        .collect();
    json!({
        "fields": fields,
        "operators": operators,
        "limits": {
            "max_depth": MAX_DEPTH,
            "max_conditions": MAX_CONDITIONS,
            "max_list": MAX_LIST,
            "max_days": MAX_DAYS,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;
    use crate::domain::segment::parse_rule;

    fn described() -> Vec<Value> {
        document()["fields"].as_array().cloned().unwrap_or_default()
    }

    /// A name a rule may use for the described field: a family's first known parameter (or any
    /// that fits its pattern).
    fn usable_name(f: &Value) -> String {
        match f["parameter"].as_object() {
            None => f["name"].as_str().unwrap().to_string(),
            Some(p) => {
                let first = p["values"]
                    .as_array()
                    .and_then(|v| v.first())
                    .map_or("size", |v| v["value"].as_str().unwrap());
                format!("{}{first}", p["prefix"].as_str().unwrap())
            }
        }
    }

    /// A value of the described type, as a builder would send it: `high` for the top of a range.
    fn sample(f: &Value, high: bool) -> Value {
        let bound = |k: &str| f[k].clone();
        match f["type"].as_str().unwrap() {
            "text" => json!(if high { "shoes" } else { "bags" }),
            "attribute" => json!(if high { "m" } else { "l" }),
            "country" => json!("BR"),
            "enum" => f["values"][0]["value"].clone(),
            "integer" | "number" => bound(if high { "max" } else { "min" }),
            "money" => json!(if high { "200.00" } else { "129.90" }),
            "date" => json!(if high { "2026-02-01" } else { "2026-01-15" }),
            "boolean" => json!(true),
            "segment" => json!("seg_example"),
            other => panic!("a type the builder does not know: {other}"),
        }
    }

    fn value_for(f: &Value, shape: &str) -> Value {
        match shape {
            "one" => sample(f, false),
            "list" => json!([sample(f, false)]),
            "range" => json!([sample(f, false), sample(f, true)]),
            "flag" => json!(true),
            "days" => json!(30),
            other => panic!("unknown operand shape {other}"),
        }
    }

    #[test]
    fn every_field_the_parser_knows_is_described_once() {
        let fields = described();
        let names: Vec<&str> = fields.iter().filter_map(|f| f["name"].as_str()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "a field is described twice: {names:?}"
        );
        for (name, _) in NAMED {
            assert!(unique.contains(name), "{name} is not described");
        }
        for family in ["consent.<purpose>", "frequency.<purpose>", "attr.<key>"] {
            assert!(unique.contains(family), "{family} is not described");
        }
        // Every variant of `Field`, named or a family, and nothing else.
        let variants: std::collections::HashSet<_> = catalog()
            .iter()
            .map(|d| std::mem::discriminant(&d.field))
            .collect();
        assert_eq!(variants.len(), NAMED.len() + 3);
        assert_eq!(fields.len(), NAMED.len() + 3);
        // What the description says a rule may name, the parser takes, and means that field.
        for doc in catalog() {
            let f = described()
                .into_iter()
                .find(|f| f["name"] == doc.name.as_str());
            let name = usable_name(&f.unwrap());
            let parsed = Field::parse(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                std::mem::discriminant(&parsed),
                std::mem::discriminant(&doc.field),
                "{name}"
            );
        }
    }

    #[test]
    fn the_parser_accepts_every_operator_listed_for_a_field_and_refuses_every_other() {
        let shapes: BTreeSet<&str> = OPERAND_SHAPES.into_iter().collect();
        for f in described() {
            let name = usable_name(&f);
            let listed: BTreeSet<&str> = f["operators"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(!listed.is_empty(), "{name}: no operator");
            for op in Op::ALL {
                let shape = operand_shape(op);
                assert!(shapes.contains(shape));
                let rule = json!({"all": [{"field": name, "op": op.as_str(), "value": value_for(&f, shape)}]});
                let parsed = parse_rule(&rule);
                if listed.contains(op.as_str()) {
                    assert!(
                        parsed.is_ok(),
                        "{name} {op}: listed but refused: {parsed:?}"
                    );
                } else {
                    let errors = parsed.expect_err("an operator not listed should be refused");
                    assert!(
                        errors.contains_key("rule.all[0].op"),
                        "{name} {op}: not listed, yet not refused as an operator: {errors:?}"
                    );
                }
            }
            // Every choice of an enum is a value the parser takes; so is every known parameter.
            for v in f["values"].as_array().into_iter().flatten() {
                let rule = json!({"field": name, "op": "eq", "value": v["value"]});
                assert!(parse_rule(&rule).is_ok(), "{name} = {v}");
            }
            for p in f["parameter"]["values"].as_array().into_iter().flatten() {
                let field = format!(
                    "{}{}",
                    f["parameter"]["prefix"].as_str().unwrap(),
                    p["value"].as_str().unwrap()
                );
                assert!(Field::parse(&field).is_ok(), "{field}");
            }
        }
    }

    #[test]
    fn derived_fields_are_the_profiling_ones_and_identifying_ones_need_contacts_read() {
        let by_name = |n: &str| described().into_iter().find(|f| f["name"] == n).unwrap();
        for (name, derived) in [
            ("temperature", true),
            ("bought_category", true),
            ("last_nps", true),
            ("rfm_segment", true),
            ("country", false),
            ("consent.<purpose>", false),
            ("created_at", false),
        ] {
            assert_eq!(by_name(name)["derived"], derived, "{name}");
        }
        for name in ["email", "name", "attr.<key>"] {
            assert_eq!(by_name(name)["requires_scope"], "contacts:read", "{name}");
        }
        assert_eq!(by_name("country")["requires_scope"], Value::Null);
        assert_eq!(by_name("temperature")["values"][2]["value"], "hot");
        assert_eq!(by_name("last_nps")["min"], 0);
        assert_eq!(by_name("last_nps")["max"], 10);
        let purposes = &by_name("frequency.<purpose>")["parameter"]["values"];
        assert_eq!(purposes.as_array().map(Vec::len), Some(1), "{purposes}");
        assert_eq!(by_name("attr.<key>")["parameter"]["values"], Value::Null);
    }

    /// Every key the description reads, in the workspace's strings.
    fn keys_read() -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for doc in catalog() {
            keys.insert(doc.label_key.clone());
        }
        let doc = document();
        let mut walk = vec![&doc];
        let mut labels = 0;
        while let Some(v) = walk.pop() {
            match v {
                Value::Object(map) => {
                    if map.contains_key("labels") {
                        labels += 1;
                    }
                    walk.extend(map.values());
                }
                Value::Array(items) => walk.extend(items),
                _ => {}
            }
        }
        assert!(labels > 50, "{labels} labelled things");
        for op in Op::ALL {
            keys.insert(format!("{LABELS}op.{}", op.as_str()));
        }
        for f in described() {
            let family = f["name"]
                .as_str()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_string();
            for v in f["values"].as_array().into_iter().flatten() {
                keys.insert(format!(
                    "{LABELS}value.{family}.{}",
                    v["value"].as_str().unwrap()
                ));
            }
            let p = &f["parameter"];
            for v in p["values"].as_array().into_iter().flatten() {
                keys.insert(format!(
                    "{LABELS}{}.{}",
                    p["name"].as_str().unwrap(),
                    v["value"].as_str().unwrap()
                ));
            }
        }
        keys
    }

    #[test]
    fn every_label_is_written_in_every_workspace_language_and_none_is_left_over() {
        let locales = label_locales();
        assert_eq!(
            locales.iter().map(|l| l.tag()).collect::<Vec<_>>(),
            ["en", "pt-BR"]
        );
        let read = keys_read();
        for locale in locales {
            let table = i18n::page_strings(locale, i18n::Page::Admin);
            for key in &read {
                let text = table.get(key).map(String::as_str).unwrap_or("");
                assert!(
                    !text.trim().is_empty(),
                    "{}: {key} has no label",
                    locale.tag()
                );
            }
            let written: BTreeSet<&String> =
                table.keys().filter(|k| k.starts_with(LABELS)).collect();
            let unused: Vec<_> = written.iter().filter(|k| !read.contains(**k)).collect();
            assert!(
                unused.is_empty(),
                "{}: labels nothing reads: {unused:?}",
                locale.tag()
            );
        }
    }
}
