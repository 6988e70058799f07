//! The rule tree a marketer writes, parsed once into a typed AST whose every condition is known
//! to make sense (a field, an operator that field allows, a value of the field's type, already
//! normalized), and serialized back to the normalized JSON kept in `segments.rule`.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Number, Value};

use crate::domain::consent::{Frequency, Purpose};
use crate::domain::contact;
use crate::domain::order::Money;
use crate::domain::time;
use crate::domain::validate::{printable, shown_key, valid_key, FieldErrors};

/// Deepest nesting of combinators and conditions; the root is level 1.
pub const MAX_DEPTH: usize = 6;
/// Most conditions in one rule.
pub const MAX_CONDITIONS: usize = 100;
/// Most values in one `in` / `not_in` list.
pub const MAX_LIST: usize = 500;
/// Most values one compiled rule may bind. D1 refuses statements with more than 100 bound
/// parameters; the rest is left for eligibility (`member_sql`) and the store's own paging.
pub const MAX_PARAMS: usize = 90;
/// Longest `within_days` / `not_within_days` window: a century.
pub const MAX_DAYS: u32 = 36_500;
/// Oldest age a rule may name.
pub const MAX_AGE: i64 = 150;

const MAX_TEXT_LEN: usize = 254;

/// A parsed segment rule. Build one with [`parse_rule`]; the JSON it serializes to parses back
/// to the same rule.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentRule {
    /// Every child holds (`{"all":[]}` is everyone).
    All(Vec<SegmentRule>),
    /// Some child holds (`{"any":[]}` is no one).
    Any(Vec<SegmentRule>),
    Not(Box<SegmentRule>),
    Condition(Condition),
}

/// One `{"field","op","value"}` test. Fields are private: only the parser makes one, so the
/// operator always suits the field and the value always suits both.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(super) field: Field,
    pub(super) op: Op,
    pub(super) value: Operand,
}

impl Condition {
    pub fn field(&self) -> &Field {
        &self.field
    }

    pub fn op(&self) -> Op {
        self.op
    }

    pub fn value(&self) -> &Operand {
        &self.value
    }
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Email,
    EmailDomain,
    Name,
    Locale,
    Country,
    City,
    Gender,
    Age,
    BirthMonth,
    CreatedAt,
    ConfirmedAt,
    Source,
    Status,
    Temperature,
    /// `consent.<purpose>`: processing for the purpose is allowed now (by its basis: an opt-in
    /// purpose granted, a legitimate-interest one not objected to).
    Consent(String),
    /// `frequency.<purpose>`: how often the person wants messages of a granted purpose that
    /// offers a choice (`all` when they made none); absent while it is not granted.
    Frequency(String),
    /// When the person last confirmed or edited their profile.
    DataConfirmedAt,
    /// `attr.<key>`: a custom attribute.
    Attr(String),
    OrderCount,
    TotalSpent,
    AvgOrderValue,
    FirstOrderAt,
    LastOrderAt,
    BoughtCategory,
    BoughtSku,
    LastNps,
    NpsCategory,
    AvgCsat,
    RfmR,
    RfmF,
    RfmM,
    RfmSegment,
    /// Member of another segment.
    Segment,
}

/// Operators, as spelled in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Eq,
    Neq,
    In,
    NotIn,
    Gt,
    Gte,
    Lt,
    Lte,
    Between,
    Contains,
    StartsWith,
    Exists,
    WithinDays,
    NotWithinDays,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::Eq,
        Op::Neq,
        Op::In,
        Op::NotIn,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::Between,
        Op::Contains,
        Op::StartsWith,
        Op::Exists,
        Op::WithinDays,
        Op::NotWithinDays,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Between => "between",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::Exists => "exists",
            Op::WithinDays => "within_days",
            Op::NotWithinDays => "not_within_days",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's value, shaped by its operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `contains`, `starts_with`.
    One(Scalar),
    /// `in`, `not_in`: 1 to [`MAX_LIST`] values of one type.
    List(Vec<Scalar>),
    /// `between`: inclusive, low not above high.
    Range(Scalar, Scalar),
    /// `exists`.
    Flag(bool),
    /// `within_days`, `not_within_days`.
    Days(u32),
}

/// One normalized value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// Texts, choices, dates (RFC 3339 as [`time::format`] writes it) and segment ids.
    Text(String),
    Int(i64),
    /// `avg_csat` and non-integer attribute values.
    Real(f64),
    /// Money, in cents; written back as a decimal string.
    Cents(i64),
    Bool(bool),
}

impl Scalar {
    fn to_json(&self) -> Value {
        match self {
            Scalar::Text(t) => Value::String(t.clone()),
            Scalar::Int(i) => json!(i),
            Scalar::Real(r) => Number::from_f64(*r).map_or(Value::Null, Value::Number),
            Scalar::Cents(c) => {
                Value::String(Money::from_cents(*c).map_or_else(String::new, |m| m.to_string()))
            }
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }

    /// Orders two values of the same type, as `between` needs; `None` across types.
    fn partial_cmp_same(&self, other: &Scalar) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Scalar::Text(a), Scalar::Text(b)) => Some(a.cmp(b)),
            (Scalar::Int(a), Scalar::Int(b)) | (Scalar::Cents(a), Scalar::Cents(b)) => {
                Some(a.cmp(b))
            }
            (Scalar::Real(a), Scalar::Real(b)) => a.partial_cmp(b),
            (Scalar::Int(a), Scalar::Real(b)) => (*a as f64).partial_cmp(b),
            (Scalar::Real(a), Scalar::Int(b)) => a.partial_cmp(&(*b as f64)),
            _ => None,
        }
    }
}

/// How a text value is normalized, the same way the stored column was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Norm {
    /// Trimmed.
    Plain,
    /// Trimmed and lower-cased, as emails and order categories are stored.
    Lower,
    /// A two-letter country code, upper-cased.
    Country,
}

/// The type of a field, which decides the values it takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Text(Norm),
    Choice(&'static [&'static str]),
    Int(i64, i64),
    Real(f64, f64),
    Money,
    Date,
    Consent,
    Attr,
    /// A set of texts per contact (order items).
    Items(Norm),
    SegmentId,
}

use Op::*;

const TEXT_OPS: &[Op] = &[Eq, Neq, In, NotIn, Contains, StartsWith, Exists];
const REQUIRED_TEXT_OPS: &[Op] = &[Eq, Neq, In, NotIn, Contains, StartsWith];
const LOCALE_OPS: &[Op] = &[Eq, Neq, In, NotIn, StartsWith, Exists];
const CODE_OPS: &[Op] = &[Eq, Neq, In, NotIn, Exists];
const REQUIRED_CHOICE_OPS: &[Op] = &[Eq, Neq, In, NotIn];
const NUMBER_OPS: &[Op] = &[Eq, Neq, In, NotIn, Gt, Gte, Lt, Lte, Between, Exists];
const COUNT_OPS: &[Op] = &[Eq, Neq, In, NotIn, Gt, Gte, Lt, Lte, Between];
const AGE_OPS: &[Op] = &[Eq, Neq, Gt, Gte, Lt, Lte, Between, Exists];
const AVERAGE_OPS: &[Op] = &[Gt, Gte, Lt, Lte, Between, Exists];
const MONEY_OPS: &[Op] = &[Eq, Neq, Gt, Gte, Lt, Lte, Between];
const AVG_MONEY_OPS: &[Op] = &[Eq, Neq, Gt, Gte, Lt, Lte, Between, Exists];
const DATE_OPS: &[Op] = &[Gt, Gte, Lt, Lte, Between, WithinDays, NotWithinDays, Exists];
const REQUIRED_DATE_OPS: &[Op] = &[Gt, Gte, Lt, Lte, Between, WithinDays, NotWithinDays];
const BOOL_OPS: &[Op] = &[Eq, Neq];
const ATTR_OPS: &[Op] = &[
    Eq, Neq, In, NotIn, Gt, Gte, Lt, Lte, Between, Contains, StartsWith, Exists,
];
const ITEM_OPS: &[Op] = &[Eq, Neq, In, NotIn, Contains, StartsWith, Exists];
const SEGMENT_OPS: &[Op] = &[Eq, Neq, In, NotIn];

pub(super) const STATUSES: &[&str] = &["pending", "active", "unsubscribed"];
pub(super) const FREQUENCIES: &[&str] = &["all", "weekly", "monthly"];
pub(super) const TEMPERATURES: &[&str] = &["cold", "warm", "hot"];
pub(super) const NPS_CATEGORIES: &[&str] = &["promoter", "passive", "detractor"];
pub(super) const RFM_GROUPS: &[&str] = &[
    "champions",
    "loyal",
    "potential_loyalist",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose_them",
    "hibernating",
    "lost",
];

/// The plain field names, for parsing and error hints; `consent.` and `attr.` are prefixes.
pub(super) const NAMED: [(&str, Field); 30] = [
    ("email", Field::Email),
    ("email_domain", Field::EmailDomain),
    ("name", Field::Name),
    ("locale", Field::Locale),
    ("country", Field::Country),
    ("city", Field::City),
    ("gender", Field::Gender),
    ("age", Field::Age),
    ("birth_month", Field::BirthMonth),
    ("created_at", Field::CreatedAt),
    ("confirmed_at", Field::ConfirmedAt),
    ("data_confirmed_at", Field::DataConfirmedAt),
    ("source", Field::Source),
    ("status", Field::Status),
    ("temperature", Field::Temperature),
    ("order_count", Field::OrderCount),
    ("total_spent", Field::TotalSpent),
    ("avg_order_value", Field::AvgOrderValue),
    ("first_order_at", Field::FirstOrderAt),
    ("last_order_at", Field::LastOrderAt),
    ("bought_category", Field::BoughtCategory),
    ("bought_sku", Field::BoughtSku),
    ("last_nps", Field::LastNps),
    ("nps_category", Field::NpsCategory),
    ("avg_csat", Field::AvgCsat),
    ("rfm_r", Field::RfmR),
    ("rfm_f", Field::RfmF),
    ("rfm_m", Field::RfmM),
    ("rfm_segment", Field::RfmSegment),
    ("segment", Field::Segment),
];

impl Field {
    /// Parses a field name; the error says what was wrong without repeating it.
    pub fn parse(name: &str) -> Result<Field, &'static str> {
        if let Some(purpose) = name.strip_prefix("consent.") {
            return Purpose::parse(purpose)
                .map(|p| Field::Consent(p.as_str().to_string()))
                .map_err(|_| "consent.<purpose> with a purpose of 2 to 40 lower-case letters, digits or underscores");
        }
        if let Some(purpose) = name.strip_prefix("frequency.") {
            return Purpose::parse(purpose)
                .ok()
                .filter(|p| !Frequency::offered(p.as_str()).is_empty())
                .map(|p| Field::Frequency(p.as_str().to_string()))
                .ok_or(
                    "frequency.<purpose> of a purpose that offers frequencies (marketing_email)",
                );
        }
        if let Some(key) = name.strip_prefix("attr.") {
            return if valid_key(key) {
                Ok(Field::Attr(key.to_string()))
            } else {
                Err("attr.<key> with a key of 1 to 40 lower-case letters, digits or underscores, starting with a letter")
            };
        }
        NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.clone())
            .ok_or("unknown field")
    }

    /// The name as written in JSON.
    pub fn name(&self) -> String {
        match self {
            Field::Consent(p) => format!("consent.{p}"),
            Field::Frequency(p) => format!("frequency.{p}"),
            Field::Attr(k) => format!("attr.{k}"),
            other => NAMED
                .iter()
                .find(|(_, f)| f == other)
                .map_or_else(String::new, |(n, _)| (*n).to_string()),
        }
    }

    pub(super) fn kind(&self) -> Kind {
        match self {
            Field::Email | Field::EmailDomain => Kind::Text(Norm::Lower),
            Field::Name | Field::City | Field::Gender | Field::Source | Field::Locale => {
                Kind::Text(Norm::Plain)
            }
            Field::Country => Kind::Text(Norm::Country),
            Field::Status => Kind::Choice(STATUSES),
            Field::Temperature => Kind::Choice(TEMPERATURES),
            Field::NpsCategory => Kind::Choice(NPS_CATEGORIES),
            Field::RfmSegment => Kind::Choice(RFM_GROUPS),
            Field::Frequency(_) => Kind::Choice(FREQUENCIES),
            Field::Age => Kind::Int(0, MAX_AGE),
            Field::BirthMonth => Kind::Int(1, 12),
            Field::OrderCount => Kind::Int(0, i64::from(u32::MAX)),
            Field::LastNps => Kind::Int(0, 10),
            Field::RfmR | Field::RfmF | Field::RfmM => Kind::Int(1, 5),
            Field::AvgCsat => Kind::Real(1.0, 5.0),
            Field::TotalSpent | Field::AvgOrderValue => Kind::Money,
            Field::CreatedAt
            | Field::ConfirmedAt
            | Field::DataConfirmedAt
            | Field::FirstOrderAt
            | Field::LastOrderAt => Kind::Date,
            Field::Consent(_) => Kind::Consent,
            Field::Attr(_) => Kind::Attr,
            Field::BoughtCategory => Kind::Items(Norm::Lower),
            Field::BoughtSku => Kind::Items(Norm::Plain),
            Field::Segment => Kind::SegmentId,
        }
    }

    /// Whether the field is derived from behaviour (orders, items bought, survey scores) or
    /// computed about the person (temperature, RFM): reading it is profiling, which a person
    /// may object to. Declared data (profile fields, consents, dates of their own acts) is not.
    pub fn is_profiling(&self) -> bool {
        matches!(
            self,
            Field::Temperature
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
        )
    }

    /// The operators that make sense for the field. `exists` only where the value can be
    /// missing: on a column that is never NULL it would be a constant.
    pub fn ops(&self) -> &'static [Op] {
        match self {
            Field::Email | Field::EmailDomain | Field::Source => REQUIRED_TEXT_OPS,
            Field::Name | Field::City => TEXT_OPS,
            Field::Locale => LOCALE_OPS,
            Field::Country | Field::Gender | Field::NpsCategory | Field::RfmSegment => CODE_OPS,
            Field::Status | Field::Temperature | Field::Frequency(_) => REQUIRED_CHOICE_OPS,
            Field::Age => AGE_OPS,
            Field::BirthMonth | Field::LastNps | Field::RfmR | Field::RfmF | Field::RfmM => {
                NUMBER_OPS
            }
            Field::OrderCount => COUNT_OPS,
            Field::AvgCsat => AVERAGE_OPS,
            Field::TotalSpent => MONEY_OPS,
            Field::AvgOrderValue => AVG_MONEY_OPS,
            Field::CreatedAt => REQUIRED_DATE_OPS,
            Field::ConfirmedAt
            | Field::DataConfirmedAt
            | Field::FirstOrderAt
            | Field::LastOrderAt => DATE_OPS,
            Field::Consent(_) => BOOL_OPS,
            Field::Attr(_) => ATTR_OPS,
            Field::BoughtCategory | Field::BoughtSku => ITEM_OPS,
            Field::Segment => SEGMENT_OPS,
        }
    }
}

fn valid_segment_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses and normalizes a rule as `POST /admin/v1/segments` receives it. Errors are keyed by
/// path from `rule` (`rule.all[2].op`, `rule.not.value[3]`) and never quote a value.
pub fn parse_rule(value: &Value) -> Result<SegmentRule, FieldErrors> {
    let mut parser = Parser {
        errors: FieldErrors::new(),
        conditions: 0,
    };
    let rule = parser.node(value, "rule", 1);
    if parser.conditions > MAX_CONDITIONS {
        parser.errors.insert(
            "rule".into(),
            format!("at most {MAX_CONDITIONS} conditions"),
        );
    }
    match rule {
        Some(rule) if parser.errors.is_empty() => {
            // Any fixed instant will do: how many values are bound does not depend on it.
            let params = rule.to_sql(DateTime::<Utc>::UNIX_EPOCH).1.len();
            if params > MAX_PARAMS {
                parser.errors.insert(
                    "rule".into(),
                    format!("too many values for one query: at most {MAX_PARAMS}"),
                );
                return Err(parser.errors);
            }
            Ok(rule)
        }
        _ => Err(parser.errors),
    }
}

struct Parser {
    errors: FieldErrors,
    conditions: usize,
}

impl Parser {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.insert(path.into(), message.into());
    }

    fn node(&mut self, value: &Value, path: &str, depth: usize) -> Option<SegmentRule> {
        if depth > MAX_DEPTH {
            self.error(
                path,
                format!("nested too deeply: at most {MAX_DEPTH} levels"),
            );
            return None;
        }
        let Some(map) = value.as_object() else {
            self.error(path, "an object: all, any, not or a condition");
            return None;
        };
        for combinator in ["all", "any", "not"] {
            if let Some(inner) = map.get(combinator) {
                if map.len() != 1 {
                    self.reject_others(map, combinator, path);
                    return None;
                }
                let at = format!("{path}.{combinator}");
                return self.combinator(combinator, inner, &at, depth);
            }
        }
        self.condition(map, path)
    }

    fn reject_others(&mut self, map: &Map<String, Value>, kept: &str, path: &str) {
        for key in map.keys().filter(|k| k.as_str() != kept) {
            self.error(
                format!("{path}.{}", shown_key(key)),
                format!("not allowed beside {kept}"),
            );
        }
    }

    fn combinator(
        &mut self,
        which: &str,
        inner: &Value,
        path: &str,
        depth: usize,
    ) -> Option<SegmentRule> {
        if which == "not" {
            return self
                .node(inner, path, depth + 1)
                .map(|r| SegmentRule::Not(Box::new(r)));
        }
        let Some(items) = inner.as_array() else {
            self.error(path, "a list of rules");
            return None;
        };
        // Every child is parsed, even after a failure, so one answer names every problem; but
        // not past the size limit, so a huge rule cannot buy a huge error map.
        let mut children = Vec::with_capacity(items.len());
        let mut complete = true;
        for (i, item) in items.iter().enumerate() {
            if self.conditions > MAX_CONDITIONS {
                complete = false;
                break;
            }
            match self.node(item, &format!("{path}[{i}]"), depth + 1) {
                Some(child) => children.push(child),
                None => complete = false,
            }
        }
        if !complete {
            return None;
        }
        Some(if which == "all" {
            SegmentRule::All(children)
        } else {
            SegmentRule::Any(children)
        })
    }

    fn condition(&mut self, map: &Map<String, Value>, path: &str) -> Option<SegmentRule> {
        self.conditions += 1;
        let mut ok = true;
        for key in map.keys() {
            if !["field", "op", "value"].contains(&key.as_str()) {
                self.error(format!("{path}.{}", shown_key(key)), "unknown key");
                ok = false;
            }
        }
        let field = match map.get("field") {
            None => {
                self.error(format!("{path}.field"), "required (or use all, any or not)");
                None
            }
            Some(Value::String(name)) => match Field::parse(name) {
                Ok(field) => Some(field),
                Err(message) => {
                    self.error(format!("{path}.field"), message);
                    None
                }
            },
            Some(_) => {
                self.error(format!("{path}.field"), "a field name");
                None
            }
        };
        let op = match map.get("op") {
            None => {
                self.error(format!("{path}.op"), "required");
                None
            }
            Some(Value::String(name)) => match Op::parse(name) {
                Some(op) => Some(op),
                None => {
                    self.error(format!("{path}.op"), "unknown operator");
                    None
                }
            },
            Some(_) => {
                self.error(format!("{path}.op"), "an operator name");
                None
            }
        };
        let (field, op) = (field?, op?);
        if !field.ops().contains(&op) {
            let allowed: Vec<&str> = field.ops().iter().map(|o| o.as_str()).collect();
            self.error(
                format!("{path}.op"),
                format!("not for this field; one of {}", allowed.join(", ")),
            );
            return None;
        }
        let value_path = format!("{path}.value");
        let Some(value) = map.get("value") else {
            self.error(value_path, "required");
            return None;
        };
        let operand = self.operand(&field, op, value, &value_path)?;
        ok.then_some(SegmentRule::Condition(Condition {
            field,
            op,
            value: operand,
        }))
    }

    fn operand(&mut self, field: &Field, op: Op, value: &Value, path: &str) -> Option<Operand> {
        let kind = field.kind();
        match op {
            Exists => match value {
                Value::Bool(b) => Some(Operand::Flag(*b)),
                _ => {
                    self.error(path, "true or false");
                    None
                }
            },
            WithinDays | NotWithinDays => {
                match value
                    .as_u64()
                    .filter(|d| (1..=u64::from(MAX_DAYS)).contains(d))
                {
                    Some(days) => Some(Operand::Days(days as u32)),
                    None => {
                        self.error(path, format!("a whole number of days from 1 to {MAX_DAYS}"));
                        None
                    }
                }
            }
            In | NotIn => {
                let items = match value.as_array() {
                    Some(items) if (1..=MAX_LIST).contains(&items.len()) => items,
                    _ => {
                        self.error(path, format!("a list of 1 to {MAX_LIST} values"));
                        return None;
                    }
                };
                let mut scalars = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match scalar(kind, op, item) {
                        Ok(s) => scalars.push(s),
                        Err(message) => self.error(format!("{path}[{i}]"), message),
                    }
                }
                if scalars.len() != items.len() {
                    return None;
                }
                // Attributes are compared within one JSON type, so a list must keep to one.
                let texts = scalars
                    .iter()
                    .filter(|s| matches!(s, Scalar::Text(_)))
                    .count();
                if texts != 0 && texts != scalars.len() {
                    self.error(path, "all texts or all numbers");
                    return None;
                }
                Some(Operand::List(scalars))
            }
            Between => {
                let pair = match value.as_array() {
                    Some(pair) if pair.len() == 2 => pair,
                    _ => {
                        self.error(path, "a list of two values: [low, high]");
                        return None;
                    }
                };
                let lo =
                    scalar(kind, op, &pair[0]).map_err(|m| self.error(format!("{path}[0]"), m));
                let hi =
                    scalar(kind, op, &pair[1]).map_err(|m| self.error(format!("{path}[1]"), m));
                let (lo, hi) = (lo.ok()?, hi.ok()?);
                match lo.partial_cmp_same(&hi) {
                    Some(std::cmp::Ordering::Greater) => {
                        self.error(path, "the low bound is above the high bound");
                        None
                    }
                    Some(_) => Some(Operand::Range(lo, hi)),
                    None => {
                        self.error(path, "two values of the same type");
                        None
                    }
                }
            }
            _ => match scalar(kind, op, value) {
                Ok(s) => Some(Operand::One(s)),
                Err(message) => {
                    self.error(path, message);
                    None
                }
            },
        }
    }
}

/// Parses one value for a field of `kind` under `op` (never `exists` or the day windows).
fn scalar(kind: Kind, op: Op, value: &Value) -> Result<Scalar, String> {
    match kind {
        Kind::Text(norm) | Kind::Items(norm) => text(value, norm).map(Scalar::Text),
        Kind::Choice(options) => value
            .as_str()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| options.contains(&s.as_str()))
            .map(Scalar::Text)
            .ok_or_else(|| format!("one of {}", options.join(", "))),
        Kind::Int(lo, hi) => value
            .as_i64()
            .filter(|n| (lo..=hi).contains(n))
            .map(Scalar::Int)
            .ok_or_else(|| format!("a whole number from {lo} to {hi}")),
        Kind::Real(lo, hi) => value
            .as_f64()
            .filter(|n| (lo..=hi).contains(n))
            .map(Scalar::Real)
            .ok_or_else(|| format!("a number from {lo} to {hi}")),
        Kind::Money => {
            let decimal = match value {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return Err("a decimal amount such as \"129.90\"".into()),
            };
            Money::parse(&decimal)
                .map(|m| Scalar::Cents(m.cents()))
                .map_err(str::to_string)
        }
        Kind::Date => value
            .as_str()
            .and_then(parse_date)
            .map(Scalar::Text)
            .ok_or_else(|| "an RFC 3339 time or a YYYY-MM-DD date".into()),
        Kind::Consent => value
            .as_bool()
            .map(Scalar::Bool)
            .ok_or_else(|| "true or false".into()),
        Kind::SegmentId => value
            .as_str()
            .filter(|id| valid_segment_id(id))
            .map(|id| Scalar::Text(id.to_string()))
            .ok_or_else(|| "a segment id".into()),
        Kind::Attr => attribute_scalar(op, value),
    }
}

/// Attribute values keep their JSON type, because the stored value is compared within it.
/// Texts are not trimmed: they are compared with what was stored, exactly.
fn attribute_scalar(op: Op, value: &Value) -> Result<Scalar, String> {
    let texts_only = matches!(op, Contains | StartsWith);
    let ordered = matches!(op, Gt | Gte | Lt | Lte | Between | In | NotIn);
    match value {
        Value::String(s) if (1..=MAX_TEXT_LEN).contains(&s.chars().count()) && printable(s) => {
            Ok(Scalar::Text(s.clone()))
        }
        Value::String(_) => Err(format!(
            "a text of 1 to {MAX_TEXT_LEN} printable characters"
        )),
        Value::Number(n) if !texts_only => Ok(n
            .as_i64()
            .map(Scalar::Int)
            .unwrap_or_else(|| Scalar::Real(n.as_f64().unwrap_or(0.0)))),
        Value::Bool(b) if !texts_only && !ordered => Ok(Scalar::Bool(*b)),
        _ if texts_only => Err("a text".into()),
        _ if ordered => Err("a text or a number".into()),
        _ => Err("a text, a number, true or false".into()),
    }
}

fn text(value: &Value, norm: Norm) -> Result<String, String> {
    let bad = || format!("a text of 1 to {MAX_TEXT_LEN} printable characters");
    let raw = value.as_str().ok_or_else(bad)?.trim();
    if norm == Norm::Country {
        return contact::country_code(raw).ok_or_else(|| "a two-letter country code".into());
    }
    let normalized = match norm {
        Norm::Lower => raw.to_lowercase(),
        _ => raw.to_string(),
    };
    let ok = (1..=MAX_TEXT_LEN).contains(&normalized.chars().count()) && printable(&normalized);
    ok.then_some(normalized).ok_or_else(bad)
}

/// An RFC 3339 time, or a date meaning its midnight UTC, in the stored format.
fn parse_date(input: &str) -> Option<String> {
    let input = input.trim();
    if let Some(at) = time::parse(input) {
        return Some(time::format(at));
    }
    let date = NaiveDate::parse_from_str(input, "%Y-%m-%d").ok()?;
    Some(time::format(date.and_hms_opt(0, 0, 0)?.and_utc()))
}

impl SegmentRule {
    /// The normalized JSON, as stored in `segments.rule`.
    pub fn to_json(&self) -> Value {
        match self {
            SegmentRule::All(items) => {
                json!({"all": items.iter().map(SegmentRule::to_json).collect::<Vec<_>>()})
            }
            SegmentRule::Any(items) => {
                json!({"any": items.iter().map(SegmentRule::to_json).collect::<Vec<_>>()})
            }
            SegmentRule::Not(inner) => json!({"not": inner.to_json()}),
            SegmentRule::Condition(c) => {
                let value = match &c.value {
                    Operand::One(s) => s.to_json(),
                    Operand::List(items) => {
                        Value::Array(items.iter().map(Scalar::to_json).collect())
                    }
                    Operand::Range(lo, hi) => json!([lo.to_json(), hi.to_json()]),
                    Operand::Flag(b) => json!(b),
                    Operand::Days(d) => json!(d),
                };
                json!({"field": c.field.name(), "op": c.op.as_str(), "value": value})
            }
        }
    }

    /// Every condition, depth first.
    pub fn conditions(&self) -> Vec<&Condition> {
        let mut out = Vec::new();
        self.walk(&mut |c| out.push(c));
        out
    }

    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Condition)) {
        match self {
            SegmentRule::All(items) | SegmentRule::Any(items) => {
                items.iter().for_each(|item| item.walk(f))
            }
            SegmentRule::Not(inner) => inner.walk(f),
            SegmentRule::Condition(c) => f(c),
        }
    }

    /// Whether membership can change with the passing of time alone, so the daily cron must
    /// re-evaluate the segment: day windows and ages move with the clock, and temperature and
    /// RFM scores are recomputed by the cron from the clock too.
    pub fn is_time_relative(&self) -> bool {
        self.conditions().into_iter().any(|c| {
            matches!(c.op, WithinDays | NotWithinDays)
                || matches!(
                    c.field,
                    Field::Age
                        | Field::Temperature
                        | Field::RfmR
                        | Field::RfmF
                        | Field::RfmM
                        | Field::RfmSegment
                )
        })
    }

    /// Whether the rule reads a field that can single a person out on its own: the email
    /// address, the name, or a custom attribute (which may hold anything a form asked). A count
    /// over such a rule is an oracle (`email starts_with "a"`, then `"ab"`, …), so only a key
    /// that may read contacts may evaluate one.
    pub fn reads_identifying_fields(&self) -> bool {
        self.conditions()
            .into_iter()
            .any(|c| matches!(c.field, Field::Email | Field::Name | Field::Attr(_)))
    }

    /// Whether evaluating the rule profiles a person: it reads a derived or behavioural field
    /// ([`Field::is_profiling`]) or names a segment that does (`profiling_segment`), under any
    /// operator (`not`, `any`, `neq` included: being placed by the absence of a trait is
    /// profiling too). Members of such a segment must not have objected to profiling.
    pub fn profiles(&self, profiling_segment: &dyn Fn(&str) -> bool) -> bool {
        self.conditions()
            .into_iter()
            .any(|c| c.field.is_profiling())
            || self
                .referenced_segments()
                .iter()
                .any(|id| profiling_segment(id))
    }

    /// Ids of the segments this rule's `segment` conditions name, sorted and without repeats,
    /// so the caller can refuse cycles and order recomputations. (A rule naming a
    /// time-relative segment changes with it: [`is_time_relative`](Self::is_time_relative)
    /// looks at this rule alone.)
    pub fn referenced_segments(&self) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for c in self.conditions() {
            if c.field != Field::Segment {
                continue;
            }
            let scalars: &[Scalar] = match &c.value {
                Operand::One(s) => std::slice::from_ref(s),
                Operand::List(items) => items,
                _ => &[],
            };
            for s in scalars {
                if let Scalar::Text(id) = s {
                    ids.insert(id.clone());
                }
            }
        }
        ids.into_iter().collect()
    }
}

impl Serialize for SegmentRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Reads a stored rule back; errors name every problem by path, as [`parse_rule`] does.
impl<'de> Deserialize<'de> for SegmentRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SegmentRule, D::Error> {
        let value = Value::deserialize(d)?;
        parse_rule(&value).map_err(|errors| {
            let listed: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            D::Error::custom(format!("invalid segment rule ({})", listed.join("; ")))
        })
    }
}
