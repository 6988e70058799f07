//! A rule lowered, at one `now`, to a few primitive predicates. Every field's meaning (which
//! column, which default, how an age or a day window becomes a comparison) is decided here
//! once; the SQL compiler (`sql.rs`) and the evaluator (`eval.rs`) only run the primitives, so
//! the two backends cannot drift apart field by field.
//!
//! Every primitive is two-valued: a comparison is guarded by `IS NOT NULL`, lists never hold
//! NULL, and subqueries are `EXISTS`. So `NOT` in SQL is plain negation, as in Rust.

use chrono::{DateTime, Duration, Months, Utc};

use super::facts::ContactFacts;
use super::rule::{Condition, Field, Op, Operand, Scalar, SegmentRule};
use super::sql::SqlValue;
use crate::domain::consent::{Basis, PROFILING};
use crate::domain::time;

/// A rule ready to run at a fixed `now`: compile once, then evaluate many contacts or render
/// the SQL, with the same cut-off times in both.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRule {
    pub(super) pred: Pred,
}

impl CompiledRule {
    pub fn new(rule: &SegmentRule, now: DateTime<Utc>) -> CompiledRule {
        CompiledRule {
            pred: lower(rule, now),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Pred {
    Const(bool),
    All(Vec<Pred>),
    Any(Vec<Pred>),
    Not(Box<Pred>),
    /// The column is not NULL.
    Present(Column),
    /// The column is not NULL and passes the test.
    Column(Column, Test),
    /// The contact has attribute `key` and its value passes.
    Attr(String, AttrPred),
    /// The contact is `active` (confirmed, not unsubscribed).
    Active,
    /// Consent for the purpose is currently granted.
    Consent(String),
    /// The purpose has a `withdrawn` record (for a legitimate-interest purpose: an objection).
    Withdrawn(String),
    /// The purpose is granted and its frequency (`all` when none was chosen) passes the test.
    Frequency(String, Test),
    /// Some order item has a text under this key (that passes the test, when given).
    Bought(Item, Option<Test>),
    /// The contact is a member of a segment whose id passes the test.
    Member(Test),
}

/// A test of one non-NULL value against bound values.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Test {
    Cmp(Cmp, SqlValue),
    In(Vec<SqlValue>),
    NotIn(Vec<SqlValue>),
    Contains(String),
    StartsWith(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A test of one stored attribute value (JSON).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AttrPred {
    /// Any value but JSON `null`.
    NotNull,
    /// Exactly JSON `true` / `false`.
    Bool(bool),
    /// A value of this JSON class whose SQL value passes the test.
    Typed(JsonClass, Test),
    /// A text containing the needle, or an array with the needle as an element.
    Contains(String),
    /// Not `null` and not passing the inner test: `neq` and `not_in`.
    NotNullAndNot(Box<AttrPred>),
}

/// Attributes compare only within a class: `5` is not "less than" `"abc"`, whatever SQLite's
/// cross-type ordering says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonClass {
    Text,
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Item {
    Category,
    Sku,
}

impl Item {
    /// Path inside one element of `orders.items`.
    pub(super) fn json_path(self) -> &'static str {
        match self {
            Item::Category => "$.category",
            Item::Sku => "$.sku",
        }
    }

    pub(super) fn of(self, facts: &ContactFacts) -> &std::collections::BTreeSet<String> {
        match self {
            Item::Category => &facts.bought_categories,
            Item::Sku => &facts.bought_skus,
        }
    }
}

/// One value per contact, from `contacts c LEFT JOIN contact_stats s`. The SQL expression and
/// the Rust value sit side by side so they can be checked against each other at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Email,
    EmailDomain,
    Name,
    Locale,
    Country,
    City,
    Gender,
    BirthDate,
    BirthMonth,
    CreatedAt,
    ConfirmedAt,
    DataConfirmedAt,
    Source,
    Status,
    Temperature,
    OrderCount,
    TotalSpentCents,
    AvgOrderValue,
    FirstOrderAt,
    LastOrderAt,
    LastNps,
    NpsCategory,
    AvgCsat,
    RfmR,
    RfmF,
    RfmM,
    RfmSegment,
}

impl Column {
    /// A contact without a `contact_stats` row reads as the row's defaults: no orders, cold.
    pub(super) fn sql(self) -> &'static str {
        match self {
            Column::Email => "c.email",
            // Text after the first `@`; the whole address if there is none (instr gives 0).
            Column::EmailDomain => "substr(c.email, instr(c.email, '@') + 1)",
            Column::Name => "c.name",
            Column::Locale => "c.locale",
            Column::Country => "c.country",
            Column::City => "c.city",
            Column::Gender => "c.gender",
            Column::BirthDate => "c.birth_date",
            Column::BirthMonth => "substr(c.birth_date, 6, 2)",
            Column::CreatedAt => "c.created_at",
            Column::ConfirmedAt => "c.confirmed_at",
            Column::DataConfirmedAt => "c.data_confirmed_at",
            Column::Source => "c.source",
            Column::Status => "c.status",
            Column::Temperature => "COALESCE(s.temperature, 'cold')",
            Column::OrderCount => "COALESCE(s.order_count, 0)",
            Column::TotalSpentCents => "COALESCE(s.total_spent_cents, 0)",
            Column::AvgOrderValue => {
                "(CASE WHEN COALESCE(s.order_count, 0) > 0 \
                 THEN COALESCE(s.total_spent_cents, 0) * 1.0 / s.order_count END)"
            }
            Column::FirstOrderAt => "s.first_order_at",
            Column::LastOrderAt => "s.last_order_at",
            Column::LastNps => "s.last_nps",
            Column::NpsCategory => "s.nps_category",
            Column::AvgCsat => "s.avg_csat",
            Column::RfmR => "s.rfm_r",
            Column::RfmF => "s.rfm_f",
            Column::RfmM => "s.rfm_m",
            Column::RfmSegment => "s.rfm_segment",
        }
    }

    pub(super) fn value(self, f: &ContactFacts) -> Option<SqlValue> {
        let text = |s: &Option<String>| s.clone().map(SqlValue::Text);
        let int = |i: Option<i64>| i.map(SqlValue::Int);
        match self {
            Column::Email => Some(SqlValue::Text(f.email.clone())),
            Column::EmailDomain => {
                let domain = match f.email.find('@') {
                    Some(at) => &f.email[at + 1..],
                    None => f.email.as_str(),
                };
                Some(SqlValue::Text(domain.to_string()))
            }
            Column::Name => text(&f.name),
            Column::Locale => text(&f.locale),
            Column::Country => text(&f.country),
            Column::City => text(&f.city),
            Column::Gender => text(&f.gender),
            Column::BirthDate => text(&f.birth_date),
            // substr counts characters, from 1.
            Column::BirthMonth => f
                .birth_date
                .as_ref()
                .map(|d| SqlValue::Text(d.chars().skip(5).take(2).collect())),
            Column::CreatedAt => Some(SqlValue::Text(f.created_at.clone())),
            Column::ConfirmedAt => text(&f.confirmed_at),
            Column::DataConfirmedAt => text(&f.data_confirmed_at),
            Column::Source => Some(SqlValue::Text(f.source.clone())),
            Column::Status => Some(SqlValue::Text(f.status.clone())),
            Column::Temperature => Some(SqlValue::Text(f.temperature.clone())),
            Column::OrderCount => Some(SqlValue::Int(f.order_count)),
            Column::TotalSpentCents => Some(SqlValue::Int(f.total_spent_cents)),
            // The same IEEE division SQLite does: integer to double, then divide.
            Column::AvgOrderValue => (f.order_count > 0)
                .then(|| SqlValue::Real(f.total_spent_cents as f64 / f.order_count as f64)),
            Column::FirstOrderAt => text(&f.first_order_at),
            Column::LastOrderAt => text(&f.last_order_at),
            Column::LastNps => int(f.last_nps),
            Column::NpsCategory => text(&f.nps_category),
            Column::AvgCsat => f.avg_csat.map(SqlValue::Real),
            Column::RfmR => int(f.rfm_r),
            Column::RfmF => int(f.rfm_f),
            Column::RfmM => int(f.rfm_m),
            Column::RfmSegment => text(&f.rfm_segment),
        }
    }
}

pub(super) fn lower(rule: &SegmentRule, now: DateTime<Utc>) -> Pred {
    match rule {
        SegmentRule::All(items) => Pred::All(items.iter().map(|r| lower(r, now)).collect()),
        SegmentRule::Any(items) => Pred::Any(items.iter().map(|r| lower(r, now)).collect()),
        SegmentRule::Not(inner) => Pred::Not(Box::new(lower(inner, now))),
        SegmentRule::Condition(c) => lower_condition(c, now),
    }
}

fn sql(s: &Scalar) -> SqlValue {
    match s {
        Scalar::Text(t) => SqlValue::Text(t.clone()),
        Scalar::Int(i) | Scalar::Cents(i) => SqlValue::Int(*i),
        Scalar::Real(r) => SqlValue::Real(*r),
        // Booleans only reach consent and attribute conditions, which handle them apart.
        Scalar::Bool(b) => SqlValue::Int(i64::from(*b)),
    }
}

fn not(p: Pred) -> Pred {
    Pred::Not(Box::new(p))
}

fn cmp_of(op: Op) -> Option<Cmp> {
    Some(match op {
        Op::Eq => Cmp::Eq,
        Op::Neq => Cmp::Ne,
        Op::Gt => Cmp::Gt,
        Op::Gte => Cmp::Ge,
        Op::Lt => Cmp::Lt,
        Op::Lte => Cmp::Le,
        _ => return None,
    })
}

/// The test a value-comparing operator makes. `between` becomes two tests, so it is returned
/// as a list; `exists` and the day windows are handled by the callers.
fn tests(op: Op, value: &Operand) -> Vec<Test> {
    match (op, value) {
        (Op::In, Operand::List(items)) => vec![Test::In(items.iter().map(sql).collect())],
        (Op::NotIn, Operand::List(items)) => vec![Test::NotIn(items.iter().map(sql).collect())],
        (Op::Between, Operand::Range(lo, hi)) => {
            vec![Test::Cmp(Cmp::Ge, sql(lo)), Test::Cmp(Cmp::Le, sql(hi))]
        }
        (Op::Contains, Operand::One(Scalar::Text(t))) => vec![Test::Contains(t.clone())],
        (Op::StartsWith, Operand::One(Scalar::Text(t))) => vec![Test::StartsWith(t.clone())],
        (op, Operand::One(s)) => cmp_of(op)
            .map(|c| Test::Cmp(c, sql(s)))
            .into_iter()
            .collect(),
        // The parser pairs every operator with its shape of value.
        _ => Vec::new(),
    }
}

fn all_or_one(mut preds: Vec<Pred>) -> Pred {
    if preds.len() == 1 {
        preds.remove(0)
    } else {
        Pred::All(preds)
    }
}

fn lower_condition(c: &Condition, now: DateTime<Utc>) -> Pred {
    let (op, value) = (c.op, &c.value);
    match &c.field {
        Field::Age => lower_age(op, value, now),
        Field::BirthMonth => lower_birth_month(op, value),
        Field::Consent(purpose) => {
            let wanted = matches!(value, Operand::One(Scalar::Bool(true))) == (op == Op::Eq);
            let allowed = allows(purpose);
            if wanted {
                allowed
            } else {
                not(allowed)
            }
        }
        Field::Frequency(purpose) => all_or_one(
            tests(op, value)
                .into_iter()
                .map(|t| Pred::Frequency(purpose.clone(), t))
                .collect(),
        ),
        Field::Attr(key) => lower_attr(key, op, value),
        Field::BoughtCategory => lower_set(op, value, |t| Pred::Bought(Item::Category, t)),
        Field::BoughtSku => lower_set(op, value, |t| Pred::Bought(Item::Sku, t)),
        Field::Segment => lower_set(op, value, |t| match t {
            Some(t) => Pred::Member(t),
            // `exists` is not offered on segments.
            None => Pred::Const(false),
        }),
        field => lower_column(column_of(field), op, value, now),
    }
}

fn column_of(field: &Field) -> Column {
    match field {
        Field::Email => Column::Email,
        Field::EmailDomain => Column::EmailDomain,
        Field::Name => Column::Name,
        Field::Locale => Column::Locale,
        Field::Country => Column::Country,
        Field::City => Column::City,
        Field::Gender => Column::Gender,
        Field::CreatedAt => Column::CreatedAt,
        Field::ConfirmedAt => Column::ConfirmedAt,
        Field::DataConfirmedAt => Column::DataConfirmedAt,
        Field::Source => Column::Source,
        Field::Status => Column::Status,
        Field::Temperature => Column::Temperature,
        Field::OrderCount => Column::OrderCount,
        Field::TotalSpent => Column::TotalSpentCents,
        Field::AvgOrderValue => Column::AvgOrderValue,
        Field::FirstOrderAt => Column::FirstOrderAt,
        Field::LastOrderAt => Column::LastOrderAt,
        Field::LastNps => Column::LastNps,
        Field::NpsCategory => Column::NpsCategory,
        Field::AvgCsat => Column::AvgCsat,
        Field::RfmR => Column::RfmR,
        Field::RfmF => Column::RfmF,
        Field::RfmM => Column::RfmM,
        Field::RfmSegment => Column::RfmSegment,
        // Handled by `lower_condition` before it gets here.
        Field::Age => Column::BirthDate,
        Field::BirthMonth => Column::BirthMonth,
        Field::Consent(_)
        | Field::Frequency(_)
        | Field::Attr(_)
        | Field::BoughtCategory
        | Field::BoughtSku
        | Field::Segment => Column::Email,
    }
}

/// Processing for `purpose` is allowed now, by its basis: an opt-in purpose needs a grant on
/// record, a legitimate-interest one only the absence of an objection.
pub(super) fn allows(purpose: &str) -> Pred {
    match Basis::of(purpose) {
        Basis::Consent => Pred::Consent(purpose.to_string()),
        Basis::LegitimateInterest => not(Pred::Withdrawn(purpose.to_string())),
    }
}

/// Who may be a member: the rule, an `active` contact for whom `purpose` is allowed, and, when
/// the rule profiles (see [`SegmentRule::profiles`]), one who has not objected to profiling.
pub(super) fn eligible(rule: Pred, purpose: &str, profiling: bool) -> Pred {
    let mut all = vec![Pred::Active, allows(purpose)];
    if profiling {
        all.push(not(Pred::Withdrawn(PROFILING.to_string())));
    }
    all.push(rule);
    Pred::All(all)
}

/// The start of the last `days` days: stored times at or after it are "within".
fn cutoff(now: DateTime<Utc>, days: u32) -> SqlValue {
    SqlValue::Text(time::format(now - Duration::days(i64::from(days))))
}

fn lower_column(col: Column, op: Op, value: &Operand, now: DateTime<Utc>) -> Pred {
    match (op, value) {
        (Op::Exists, Operand::Flag(true)) => Pred::Present(col),
        (Op::Exists, _) => not(Pred::Present(col)),
        (Op::WithinDays, Operand::Days(d)) => {
            Pred::Column(col, Test::Cmp(Cmp::Ge, cutoff(now, *d)))
        }
        (Op::NotWithinDays, Operand::Days(d)) => {
            Pred::Column(col, Test::Cmp(Cmp::Lt, cutoff(now, *d)))
        }
        _ => all_or_one(
            tests(op, value)
                .into_iter()
                .map(|t| Pred::Column(col, t))
                .collect(),
        ),
    }
}

/// Ages become comparisons of `birth_date` (`YYYY-MM-DD` text) with the date `n` years before
/// today, so no backend computes an age: "age ≥ n" is "born on or before today minus n years".
/// A 29 February birthday counts from 1 March in common years (chrono clamps 29 Feb to 28 Feb,
/// and a person born on 29 Feb is not on or before 28 Feb).
fn lower_age(op: Op, value: &Operand, now: DateTime<Utc>) -> Pred {
    let today = now.date_naive();
    let born_by = |years: i64| {
        let date = u32::try_from(years.clamp(0, MAX_YEARS) * 12)
            .ok()
            .and_then(|months| today.checked_sub_months(Months::new(months)))
            .unwrap_or(today);
        SqlValue::Text(date.format("%Y-%m-%d").to_string())
    };
    let bd = |cmp, years| Pred::Column(Column::BirthDate, Test::Cmp(cmp, born_by(years)));
    let aged = |n: i64| Pred::All(vec![bd(Cmp::Gt, n + 1), bd(Cmp::Le, n)]);
    let int = |s: &Scalar| match s {
        Scalar::Int(n) => *n,
        _ => 0,
    };
    match (op, value) {
        (Op::Exists, Operand::Flag(true)) => Pred::Present(Column::BirthDate),
        (Op::Exists, _) => not(Pred::Present(Column::BirthDate)),
        (Op::Eq, Operand::One(n)) => aged(int(n)),
        (Op::Neq, Operand::One(n)) => {
            Pred::All(vec![Pred::Present(Column::BirthDate), not(aged(int(n)))])
        }
        (Op::Gt, Operand::One(n)) => bd(Cmp::Le, int(n) + 1),
        (Op::Gte, Operand::One(n)) => bd(Cmp::Le, int(n)),
        (Op::Lt, Operand::One(n)) => bd(Cmp::Gt, int(n)),
        (Op::Lte, Operand::One(n)) => bd(Cmp::Gt, int(n) + 1),
        (Op::Between, Operand::Range(lo, hi)) => {
            Pred::All(vec![bd(Cmp::Gt, int(hi) + 1), bd(Cmp::Le, int(lo))])
        }
        _ => Pred::Const(false),
    }
}

/// Enough years back for any age a rule may name, plus one.
const MAX_YEARS: i64 = super::rule::MAX_AGE + 1;

/// A birth month test becomes the set of months (`"01"`…`"12"`) that pass it, matched against
/// characters 6–7 of `birth_date`: a value that is not a month never matches, in both backends.
fn lower_birth_month(op: Op, value: &Operand) -> Pred {
    if op == Op::Exists {
        let present = Pred::Present(Column::BirthMonth);
        return if value == &Operand::Flag(true) {
            present
        } else {
            not(present)
        };
    }
    let holds = |m: i64| -> bool {
        let int = |s: &Scalar| match s {
            Scalar::Int(n) => *n,
            _ => 0,
        };
        match (op, value) {
            (Op::Eq, Operand::One(n)) => m == int(n),
            (Op::Neq, Operand::One(n)) => m != int(n),
            (Op::Gt, Operand::One(n)) => m > int(n),
            (Op::Gte, Operand::One(n)) => m >= int(n),
            (Op::Lt, Operand::One(n)) => m < int(n),
            (Op::Lte, Operand::One(n)) => m <= int(n),
            (Op::In, Operand::List(items)) => items.iter().any(|n| m == int(n)),
            (Op::NotIn, Operand::List(items)) => !items.iter().any(|n| m == int(n)),
            (Op::Between, Operand::Range(lo, hi)) => (int(lo)..=int(hi)).contains(&m),
            _ => false,
        }
    };
    let months: Vec<SqlValue> = (1..=12)
        .filter(|m| holds(*m))
        .map(|m| SqlValue::Text(format!("{m:02}")))
        .collect();
    if months.is_empty() {
        Pred::Const(false)
    } else {
        Pred::Column(Column::BirthMonth, Test::In(months))
    }
}

/// Attribute conditions compare within the value's JSON class (see [`JsonClass`]); `neq` and
/// `not_in` hold for any other present, non-null value, including one of another type.
fn lower_attr(key: &str, op: Op, value: &Operand) -> Pred {
    let attr = |p: AttrPred| Pred::Attr(key.to_string(), p);
    let class = |s: &Scalar| match s {
        Scalar::Text(_) => JsonClass::Text,
        _ => JsonClass::Number,
    };
    match (op, value) {
        (Op::Exists, Operand::Flag(true)) => attr(AttrPred::NotNull),
        (Op::Exists, _) => not(attr(AttrPred::NotNull)),
        (Op::Eq, Operand::One(Scalar::Bool(b))) => attr(AttrPred::Bool(*b)),
        (Op::Neq, Operand::One(Scalar::Bool(b))) => {
            attr(AttrPred::NotNullAndNot(Box::new(AttrPred::Bool(*b))))
        }
        (Op::Contains, Operand::One(Scalar::Text(t))) => attr(AttrPred::Contains(t.clone())),
        (Op::Neq, Operand::One(s)) => attr(AttrPred::NotNullAndNot(Box::new(AttrPred::Typed(
            class(s),
            Test::Cmp(Cmp::Eq, sql(s)),
        )))),
        (Op::NotIn, Operand::List(items)) => {
            let class = items.first().map_or(JsonClass::Text, class);
            attr(AttrPred::NotNullAndNot(Box::new(AttrPred::Typed(
                class,
                Test::In(items.iter().map(sql).collect()),
            ))))
        }
        (_, Operand::List(items)) => {
            let class = items.first().map_or(JsonClass::Text, class);
            all_or_one(
                tests(op, value)
                    .into_iter()
                    .map(|t| attr(AttrPred::Typed(class, t)))
                    .collect(),
            )
        }
        (_, Operand::One(s)) | (_, Operand::Range(s, _)) => {
            let class = class(s);
            all_or_one(
                tests(op, value)
                    .into_iter()
                    .map(|t| attr(AttrPred::Typed(class, t)))
                    .collect(),
            )
        }
        _ => Pred::Const(false),
    }
}

/// Sets (items bought, segments): `eq`/`in`/`contains`/`starts_with` hold when some element
/// passes; `neq`/`not_in` when none does (so "never bought bags" includes people who never
/// ordered); `exists` when there is any element.
fn lower_set(op: Op, value: &Operand, make: impl Fn(Option<Test>) -> Pred) -> Pred {
    match (op, value) {
        (Op::Exists, Operand::Flag(true)) => make(None),
        (Op::Exists, _) => not(make(None)),
        (Op::Neq, Operand::One(s)) => not(make(Some(Test::Cmp(Cmp::Eq, sql(s))))),
        (Op::NotIn, Operand::List(items)) => {
            not(make(Some(Test::In(items.iter().map(sql).collect()))))
        }
        _ => all_or_one(
            tests(op, value)
                .into_iter()
                .map(|t| make(Some(t)))
                .collect(),
        ),
    }
}
