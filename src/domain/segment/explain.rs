//! "Why am I in this segment?": a member's reasons, rendered from the segment's rule and their
//! own facts in their locale. The evaluator decides every truth: the walk descends only into the
//! parts of the rule whose truth makes the person a member, and each condition it reaches says
//! the person's own value for its field, and what that value is not when the rule's test fails
//! for it. Nothing else is read: no other person's data, no SQL.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::facts::ContactFacts;
use super::rule::{Condition, Field, Op, Operand, Scalar, SegmentRule};
use super::Audience;
use crate::domain::i18n::{page_strings, reason_text, Locale, Page};
use crate::domain::time;

/// Most items (categories, products, segments) one sentence lists.
const MAX_LISTED: usize = 5;

/// One condition of the rule as the explanation renders it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub condition: Condition,
    /// Whether the condition as written holds for the person: false for one the explanation
    /// renders because a `not` (or a failing part of a negated `all`) needs it false.
    pub holds: bool,
    pub text: String,
}

/// The conditions that make the person a member of a segment with this rule and consent
/// `purpose` at `now`, each rendered in `locale`; `None` when [`is_member`](super::is_member)
/// does not hold. Under `all` every child is rendered, under `any` only the children that hold,
/// under `not` what is not the case. `segment_name` names a segment by id; a condition about
/// segments whose names are all unknown is left out (an id means nothing to a person).
pub fn explain(
    rule: &SegmentRule,
    audience: &Audience,
    facts: &ContactFacts,
    now: DateTime<Utc>,
    locale: Locale,
    segment_name: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<Reason>> {
    if !super::is_member(rule, audience, facts, now) {
        return None;
    }
    Some(reasons(rule, facts, now, locale, segment_name))
}

/// The walk of [`explain`] for any rule and person, member or not: the parts that make the rule
/// what it is for them (true or false), so the property test can check every rule it draws.
pub(super) fn reasons(
    rule: &SegmentRule,
    facts: &ContactFacts,
    now: DateTime<Utc>,
    locale: Locale,
    segment_name: &dyn Fn(&str) -> Option<String>,
) -> Vec<Reason> {
    let ctx = Ctx {
        facts,
        now,
        locale,
        segment_name,
    };
    let mut out = Vec::new();
    ctx.walk(rule, ctx.holds(rule), &mut out);
    out
}

/// The sentences a person reads about one segment: each reason once, then the subscription and
/// consent every member holds. A person who no longer meets the rule (the stored membership is
/// refreshed by the next rebuild) reads one sentence saying so.
pub fn explanation(
    rule: &SegmentRule,
    audience: &Audience,
    facts: &ContactFacts,
    now: DateTime<Utc>,
    locale: Locale,
    segment_name: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let Some(reasons) = explain(rule, audience, facts, now, locale, segment_name) else {
        return vec![reason_text(locale, "stale", None).to_string()];
    };
    let mut out: Vec<String> = Vec::with_capacity(reasons.len() + 1);
    for r in reasons {
        if !out.contains(&r.text) {
            out.push(r.text);
        }
    }
    out.push(fill(
        reason_text(locale, "eligible", None),
        &[("purpose", purpose_name(locale, &audience.purpose))],
    ));
    out
}

struct Ctx<'a> {
    facts: &'a ContactFacts,
    now: DateTime<Utc>,
    locale: Locale,
    segment_name: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    fn holds(&self, rule: &SegmentRule) -> bool {
        rule.eval(self.facts, self.now)
    }

    /// Renders the parts of `rule` that make it `want` (which it is, for the person): the
    /// children of `all` / `any` whose truth is `want` (all of them for `all` true and `any`
    /// false, the deciding ones otherwise), and the inside of `not` with the opposite wish.
    fn walk(&self, rule: &SegmentRule, want: bool, out: &mut Vec<Reason>) {
        match rule {
            SegmentRule::All(items) | SegmentRule::Any(items) => {
                for item in items {
                    if self.holds(item) == want {
                        self.walk(item, want, out);
                    }
                }
            }
            SegmentRule::Not(inner) => self.walk(inner, !want, out),
            SegmentRule::Condition(c) => {
                if let Some(text) = self.sentence(c) {
                    out.push(Reason {
                        condition: c.clone(),
                        holds: want,
                        text,
                    });
                }
            }
        }
    }

    fn t(&self, key: &str) -> &'static str {
        reason_text(self.locale, key, None)
    }

    /// The person's own value for the condition's field, and what it is not when the
    /// condition's positive form fails for them. The same words whatever the `not`s around it:
    /// the sentence is true of the person either way.
    fn sentence(&self, c: &Condition) -> Option<String> {
        let base = positive(c);
        let base_holds = self.holds(&SegmentRule::Condition(base.clone()));
        let label = field_label(self.locale, &c.field);
        let field = label.as_str();
        match &c.field {
            Field::Consent(purpose) => {
                let key = if base_holds {
                    "consentYes"
                } else {
                    "consentNo"
                };
                Some(fill(
                    self.t(key),
                    &[("purpose", purpose_name(self.locale, purpose))],
                ))
            }
            Field::BoughtCategory | Field::BoughtSku | Field::Segment => {
                self.set_sentence(&base, base_holds, field)
            }
            _ => {
                let value = self.own_value(&c.field);
                match value {
                    None => Some(fill(self.t("none"), &[("field", field.to_string())])),
                    Some(value) if base_holds => Some(fill(
                        self.t("fact"),
                        &[("field", field.to_string()), ("value", value)],
                    )),
                    Some(value) => Some(fill(
                        self.t("factNot"),
                        &[
                            ("field", field.to_string()),
                            ("value", value),
                            ("rule", self.requirement(&base)?),
                        ],
                    )),
                }
            }
        }
    }

    /// Items bought and segments: the person's elements that pass, or what none of theirs is.
    fn set_sentence(&self, base: &Condition, base_holds: bool, field: &str) -> Option<String> {
        let is_segment = base.field == Field::Segment;
        let elements: Vec<&String> = match &base.field {
            Field::BoughtCategory => self.facts.bought_categories.iter().collect(),
            Field::BoughtSku => self.facts.bought_skus.iter().collect(),
            _ => self.facts.segments.iter().collect(),
        };
        if !base_holds {
            if base.op == Op::Exists {
                return Some(fill(self.t("none"), &[("field", field.to_string())]));
            }
            return Some(fill(
                self.t("setNot"),
                &[
                    ("field", field.to_string()),
                    ("rule", self.requirement(base)?),
                ],
            ));
        }
        // The elements that pass the test on their own: the evaluator on the one element.
        let rule = SegmentRule::Condition(base.clone());
        let mut shown = Vec::new();
        for e in elements {
            let mut one = ContactFacts {
                bought_categories: Default::default(),
                bought_skus: Default::default(),
                segments: Default::default(),
                ..self.facts.clone()
            };
            match &base.field {
                Field::BoughtCategory => one.bought_categories.insert(e.clone()),
                Field::BoughtSku => one.bought_skus.insert(e.clone()),
                _ => one.segments.insert(e.clone()),
            };
            if !rule.eval(&one, self.now) {
                continue;
            }
            let name = if is_segment {
                (self.segment_name)(e)
            } else {
                Some(e.clone())
            };
            shown.extend(name);
            if shown.len() == MAX_LISTED {
                break;
            }
        }
        if shown.is_empty() {
            return None;
        }
        Some(fill(
            self.t("fact"),
            &[("field", field.to_string()), ("value", shown.join(", "))],
        ))
    }

    /// The person's value of a column or attribute field, as a person reads it.
    fn own_value(&self, field: &Field) -> Option<String> {
        let f = self.facts;
        let choice = |prefix: &str, v: &str| self.choice(prefix, v);
        match field {
            Field::Email => Some(f.email.clone()),
            Field::EmailDomain => Some(match f.email.find('@') {
                Some(at) => f.email[at + 1..].to_string(),
                None => f.email.clone(),
            }),
            Field::Name => f.name.clone(),
            Field::Locale => f.locale.clone(),
            Field::Country => f.country.clone(),
            Field::City => f.city.clone(),
            Field::Gender => f.gender.clone(),
            Field::Age => self.age().map(|a| a.to_string()),
            Field::BirthMonth => f.birth_date.as_ref().map(|d| {
                let month: String = d.chars().skip(5).take(2).collect();
                month
                    .parse::<u32>()
                    .map_or(month.clone(), |m| m.to_string())
            }),
            Field::CreatedAt => Some(self.when(&f.created_at)),
            Field::ConfirmedAt => f.confirmed_at.as_deref().map(|t| self.when(t)),
            Field::DataConfirmedAt => f.data_confirmed_at.as_deref().map(|t| self.when(t)),
            Field::Frequency(purpose) => f.frequencies.get(purpose).map(|v| choice("frequency", v)),
            Field::FirstOrderAt => f.first_order_at.as_deref().map(|t| self.when(t)),
            Field::LastOrderAt => f.last_order_at.as_deref().map(|t| self.when(t)),
            Field::Source => Some(f.source.clone()),
            Field::Status => Some(choice("status", &f.status)),
            Field::Temperature => Some(choice("temperature", &f.temperature)),
            Field::OrderCount => Some(f.order_count.to_string()),
            Field::TotalSpent => Some(money(f.total_spent_cents)),
            Field::AvgOrderValue => (f.order_count > 0)
                .then(|| money((f.total_spent_cents as f64 / f.order_count as f64).round() as i64)),
            Field::LastNps => f.last_nps.map(|score| match &f.nps_category {
                Some(group) => fill(
                    self.t("nps"),
                    &[
                        ("score", score.to_string()),
                        ("group", choice("nps", group)),
                    ],
                ),
                None => score.to_string(),
            }),
            Field::NpsCategory => f.nps_category.as_deref().map(|g| choice("nps", g)),
            Field::AvgCsat => f.avg_csat.map(real),
            Field::RfmR => f.rfm_r.map(|n| n.to_string()),
            Field::RfmF => f.rfm_f.map(|n| n.to_string()),
            Field::RfmM => f.rfm_m.map(|n| n.to_string()),
            Field::RfmSegment => f.rfm_segment.as_deref().map(|g| choice("rfm", g)),
            Field::Attr(key) => f.attributes.get(key).and_then(|v| self.json(v)),
            Field::Consent(_) | Field::BoughtCategory | Field::BoughtSku | Field::Segment => None,
        }
    }

    /// The age the evaluator gives the person: the `n` for which `age eq n` holds.
    fn age(&self) -> Option<i64> {
        (0..=super::rule::MAX_AGE).find(|n| {
            let c = Condition {
                field: Field::Age,
                op: Op::Eq,
                value: Operand::One(Scalar::Int(*n)),
            };
            self.holds(&SegmentRule::Condition(c))
        })
    }

    /// A stored time as days before `now` ("today", "12 days ago"), or its date if later.
    fn when(&self, stored: &str) -> String {
        let Some(at) = time::parse(stored) else {
            return stored.to_string();
        };
        let days = (self.now - at).num_days();
        if at > self.now {
            date(stored)
        } else if days == 0 {
            self.t("today").to_string()
        } else {
            fill(
                reason_text(self.locale, "daysAgo", Some(days)),
                &[("n", days.to_string())],
            )
        }
    }

    fn choice(&self, prefix: &str, value: &str) -> String {
        let word = self.t(&format!("{prefix}_{value}"));
        if word.is_empty() {
            value.to_string()
        } else {
            word.to_string()
        }
    }

    fn json(&self, v: &Value) -> Option<String> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => self.t(if *b { "yes" } else { "no" }).to_string(),
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => items
                .iter()
                .filter_map(|i| self.json(i))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(_) => v.to_string(),
        })
    }

    /// A rule value as a person reads it: choices in words, money with two decimals, dates as
    /// dates, segment ids as names (`None` when no name is known).
    fn scalar(&self, field: &Field, s: &Scalar) -> Option<String> {
        Some(match (field, s) {
            (Field::Segment, Scalar::Text(id)) => (self.segment_name)(id)?,
            (Field::Status, Scalar::Text(t)) => self.choice("status", t),
            (Field::Temperature, Scalar::Text(t)) => self.choice("temperature", t),
            (Field::NpsCategory, Scalar::Text(t)) => self.choice("nps", t),
            (Field::RfmSegment, Scalar::Text(t)) => self.choice("rfm", t),
            (f, Scalar::Text(t)) if is_date(f) => date(t),
            (_, Scalar::Text(t)) => t.clone(),
            (_, Scalar::Int(i)) => i.to_string(),
            (_, Scalar::Real(r)) => real(*r),
            (_, Scalar::Cents(c)) => money(*c),
            (_, Scalar::Bool(b)) => self.t(if *b { "yes" } else { "no" }).to_string(),
        })
    }

    /// What a positive condition asks ("30 or more", "in the last 30 days", "one of BR, PT").
    fn requirement(&self, c: &Condition) -> Option<String> {
        let field = &c.field;
        let one = |s: &Scalar| self.scalar(field, s);
        let key = |op: &str| {
            if is_date(field) && matches!(c.op, Op::Gt | Op::Gte | Op::Lt | Op::Lte) {
                format!("date_{op}")
            } else {
                format!("rule_{op}")
            }
        };
        Some(match &c.value {
            Operand::One(s) => fill(self.t(&key(c.op.as_str())), &[("value", one(s)?)]),
            Operand::List(items) => {
                let names: Vec<String> = items.iter().filter_map(one).take(MAX_LISTED).collect();
                if names.is_empty() {
                    return None;
                }
                let joined = names.join(", ");
                let key = if items.len() == 1 {
                    "rule_eq"
                } else {
                    "rule_in"
                };
                fill(self.t(key), &[("value", joined)])
            }
            Operand::Range(lo, hi) => fill(
                self.t("rule_between"),
                &[("low", one(lo)?), ("high", one(hi)?)],
            ),
            Operand::Days(n) => fill(
                reason_text(self.locale, "rule_within_days", Some(i64::from(*n))),
                &[("n", n.to_string())],
            ),
            Operand::Flag(_) => return None,
        })
    }
}

/// The condition's positive form: `neq` → `eq`, `not_in` → `in`, `not_within_days` →
/// `within_days`, `exists false` → `exists true`, a consent asked to be off → on. The sentence
/// says whether the person's value passes it.
fn positive(c: &Condition) -> Condition {
    let (op, value) = match (&c.field, c.op, &c.value) {
        (Field::Consent(_), _, _) => (Op::Eq, Operand::One(Scalar::Bool(true))),
        (_, Op::Neq, v) => (Op::Eq, v.clone()),
        (_, Op::NotIn, v) => (Op::In, v.clone()),
        (_, Op::NotWithinDays, v) => (Op::WithinDays, v.clone()),
        (_, Op::Exists, _) => (Op::Exists, Operand::Flag(true)),
        (_, op, v) => (op, v.clone()),
    };
    Condition {
        field: c.field.clone(),
        op,
        value,
    }
}

fn is_date(field: &Field) -> bool {
    matches!(
        field,
        Field::CreatedAt
            | Field::ConfirmedAt
            | Field::DataConfirmedAt
            | Field::FirstOrderAt
            | Field::LastOrderAt
    )
}

/// A field's label: the table's word for it, or for `attr.<key>` the key itself (a shop's own
/// name; consents are sentences of their own).
fn field_label(locale: Locale, field: &Field) -> String {
    match field {
        Field::Attr(key) => key.clone(),
        Field::Consent(purpose) => purpose_name(locale, purpose),
        Field::Frequency(purpose) => fill(
            reason_text(locale, "field_frequency", None),
            &[("purpose", purpose_name(locale, purpose))],
        ),
        other => reason_text(locale, &format!("field_{}", other.name()), None).to_string(),
    }
}

/// A stored time's date (`2026-03-01`), with the time when it is not midnight UTC.
fn date(stored: &str) -> String {
    match time::parse(stored) {
        Some(at) if at.time() == chrono::NaiveTime::MIN => at.format("%Y-%m-%d").to_string(),
        Some(at) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => stored.to_string(),
    }
}

/// Cents as currency units with two decimals.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A real with at most two decimals, trailing zeros dropped.
fn real(r: f64) -> String {
    let s = format!("{r:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The words the preference center shows for a purpose, or its name.
fn purpose_name(locale: Locale, purpose: &str) -> String {
    page_strings(locale, Page::Preferences)
        .get(&format!("purpose_{purpose}"))
        .cloned()
        .unwrap_or_else(|| purpose.to_string())
}

/// Replaces `{name}` placeholders in one pass, so a value that itself contains `{…}` (an
/// attribute, a city) is never expanded.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (close, v))
        }) {
            Some((close, v)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {

    /// The audience of a marketing segment with `rule` (no other segment profiles here).
    fn marketing(rule: &SegmentRule) -> Audience {
        Audience::of(rule, "marketing_email", &std::collections::BTreeSet::new())
    }

    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::property::{contact, load, now_of, pick, rule, store, NOWS, PURPOSES};
    use super::super::rule::{NPS_CATEGORIES, RFM_GROUPS, STATUSES, TEMPERATURES};
    use super::super::{is_member, parse_rule};
    use super::*;

    fn now() -> DateTime<Utc> {
        time::parse("2026-06-15T12:00:00Z").unwrap()
    }

    fn ana() -> ContactFacts {
        ContactFacts {
            id: "c1".into(),
            email: "ana.souza@gmail.com".into(),
            name: Some("Ana Souza".into()),
            locale: Some("pt-BR".into()),
            country: Some("BR".into()),
            city: Some("São Paulo".into()),
            birth_date: Some("1990-06-16".into()),
            status: "active".into(),
            source: "frm_123".into(),
            created_at: "2026-01-10T09:00:00.000Z".into(),
            confirmed_at: Some("2026-01-10T09:05:00.000Z".into()),
            order_count: 3,
            total_spent_cents: 30_050,
            first_order_at: Some("2026-02-01T00:00:00.000Z".into()),
            last_order_at: Some("2026-06-03T08:00:00.000Z".into()),
            last_nps: Some(9),
            nps_category: Some("promoter".into()),
            avg_csat: Some(4.5),
            temperature: "hot".into(),
            rfm_r: Some(5),
            rfm_f: Some(4),
            rfm_segment: Some("champions".into()),
            attributes: [("plan".to_string(), json!("gold"))].into_iter().collect(),
            consents: ["marketing_email".to_string()].into_iter().collect(),
            bought_categories: ["bags".to_string(), "shoes".to_string()]
                .into_iter()
                .collect(),
            bought_skus: ["SKU-1".to_string()].into_iter().collect(),
            segments: ["seg_vip".to_string(), "seg_secret".to_string()]
                .into_iter()
                .collect(),
            ..ContactFacts::default()
        }
    }

    fn names(id: &str) -> Option<String> {
        (id == "seg_vip").then(|| "VIP customers".to_string())
    }

    fn texts(rule: Value, facts: &ContactFacts, locale: Locale) -> Vec<String> {
        let rule = parse_rule(&rule).unwrap_or_else(|e| panic!("{e:?}"));
        explain(&rule, &marketing(&rule), facts, now(), locale, &names)
            .expect("a member")
            .into_iter()
            .map(|r| r.text)
            .collect()
    }

    fn cond(field: &str, op: &str, value: Value) -> Value {
        json!({"field": field, "op": op, "value": value})
    }

    #[test]
    fn each_field_family_says_the_persons_own_value() {
        let rule = json!({"all": [
            cond("order_count", "gte", json!(2)),
            cond("last_order_at", "within_days", json!(30)),
            cond("total_spent", "gt", json!("100")),
            cond("avg_order_value", "exists", json!(true)),
            cond("last_nps", "gte", json!(9)),
            cond("country", "eq", json!("br")),
            cond("temperature", "in", json!(["warm", "hot"])),
            cond("rfm_segment", "eq", json!("champions")),
            cond("segment", "in", json!(["seg_vip", "seg_secret"])),
            cond("bought_category", "starts_with", json!("ba")),
            cond("consent.marketing_email", "eq", json!(true)),
            cond("attr.plan", "eq", json!("gold")),
            cond("age", "lt", json!(40)),
            cond("avg_csat", "gt", json!(4)),
            cond("created_at", "lt", json!("2026-02-01")),
        ]});
        assert_eq!(
            texts(rule, &ana(), Locale::En),
            [
                "Orders: 3",
                "Last order: 12 days ago",
                "Total spent: 300.50",
                "Average order: 100.17",
                "Last recommendation score (NPS): 9 (promoter)",
                "Country: BR",
                "Temperature: hot",
                "Customer group (RFM): champions",
                // The other segment has no name to show: an id would mean nothing.
                "Member of: VIP customers",
                "Bought from category: bags",
                "You agreed to: Marketing emails",
                "plan: gold",
                "Age: 35",
                "Average satisfaction: 4.5",
                "Signed up: 156 days ago",
            ]
        );
    }

    #[test]
    fn not_says_what_is_not_the_case() {
        let rule = json!({"all": [
            {"not": cond("last_order_at", "within_days", json!(10))},
            {"not": cond("country", "in", json!(["PT", "US"]))},
            {"not": cond("bought_category", "eq", json!("hats"))},
            {"not": cond("order_count", "gte", json!(5))},
            {"not": cond("consent.sms", "eq", json!(true))},
            {"not": cond("gender", "exists", json!(true))},
            cond("city", "neq", json!("Lisboa")),
            {"not": {"not": cond("temperature", "eq", json!("hot"))}},
            {"not": cond("created_at", "gte", json!("2026-03-01"))},
        ]});
        assert_eq!(
            texts(rule, &ana(), Locale::En),
            [
                "Last order: 12 days ago (not in the last 10 days)",
                "Country: BR (not one of PT, US)",
                "Bought from category: not hats",
                "Orders: 3 (not 5 or more)",
                "You have not agreed to: Text messages (SMS)",
                "Gender: none on record",
                "City: São Paulo (not Lisboa)",
                "Temperature: hot",
                "Signed up: 156 days ago (not on or after 2026-03-01)",
            ]
        );
        let mut never = ana();
        never.order_count = 0;
        never.last_order_at = None;
        assert_eq!(
            texts(
                json!({"not": cond("last_order_at", "within_days", json!(30))}),
                &never,
                Locale::En
            ),
            ["Last order: none on record"]
        );
    }

    #[test]
    fn any_names_only_the_parts_that_hold_and_a_negated_all_only_those_that_fail() {
        let rule = json!({"any": [
            cond("country", "eq", json!("PT")),
            cond("order_count", "gte", json!(3)),
            cond("last_nps", "lt", json!(7)),
        ]});
        assert_eq!(texts(rule, &ana(), Locale::En), ["Orders: 3"]);
        let rule = json!({"not": {"all": [
            cond("country", "eq", json!("BR")),
            cond("order_count", "gt", json!(3)),
        ]}});
        assert_eq!(
            texts(rule, &ana(), Locale::En),
            ["Orders: 3 (not more than 3)"]
        );
    }

    #[test]
    fn a_non_member_gets_no_reasons_and_reads_that_the_group_is_being_updated() {
        let rule = parse_rule(&cond("country", "eq", json!("PT"))).unwrap();
        assert_eq!(
            explain(&rule, &marketing(&rule), &ana(), now(), Locale::En, &names),
            None
        );
        let mut unsubscribed = ana();
        unsubscribed.status = "unsubscribed".into();
        let everyone = parse_rule(&json!({"all": []})).unwrap();
        assert_eq!(
            explain(
                &everyone,
                &marketing(&everyone),
                &unsubscribed,
                now(),
                Locale::En,
                &names
            ),
            None
        );
        assert_eq!(
            explanation(
                &rule,
                &marketing(&rule),
                &ana(),
                now(),
                Locale::PtBr,
                &names
            ),
            ["Você não cumpre mais as condições deste grupo; ele será atualizado em breve."]
        );
        assert_eq!(
            explanation(
                &everyone,
                &marketing(&everyone),
                &ana(),
                now(),
                Locale::En,
                &names
            ),
            ["You are subscribed and agreed to: Marketing emails"]
        );
    }

    #[test]
    fn every_locale_speaks_its_own_words_with_its_plurals() {
        let rule = json!({"all": [
            cond("order_count", "gte", json!(2)),
            cond("last_order_at", "within_days", json!(30)),
            {"not": cond("last_order_at", "within_days", json!(2))},
        ]});
        let facts = ana();
        assert_eq!(
            texts(rule.clone(), &facts, Locale::PtBr),
            [
                "Pedidos: 3",
                "Último pedido: há 12 dias",
                "Último pedido: há 12 dias (não nos últimos 2 dias)"
            ]
        );
        assert_eq!(
            texts(rule.clone(), &facts, Locale::Ro),
            [
                "Comenzi: 3",
                "Ultima comandă: acum 12 zile",
                "Ultima comandă: acum 12 zile (nu în ultimele 2 zile)"
            ]
        );
        assert_eq!(
            texts(rule.clone(), &facts, Locale::Ru),
            [
                "Заказы: 3",
                "Последний заказ: 12 дней назад",
                "Последний заказ: 12 дней назад (не за последние 2 дня)"
            ]
        );
        let mut yesterday = ana();
        yesterday.last_order_at = Some("2026-06-14T08:00:00.000Z".into());
        assert_eq!(
            texts(
                json!(cond("last_order_at", "within_days", json!(21))),
                &yesterday,
                Locale::Ru
            ),
            ["Последний заказ: 1 день назад"]
        );
    }

    /// Every key the explanation can ask for, in every locale, and no English left in the
    /// others (the words that are the same in every language are listed).
    #[test]
    fn every_locale_has_every_key_the_explanation_uses() {
        let mut keys: Vec<String> = [
            "fact",
            "factNot",
            "none",
            "setNot",
            "consentYes",
            "consentNo",
            "eligible",
            "stale",
            "rule_eq",
            "rule_in",
            "rule_gt",
            "rule_gte",
            "rule_lt",
            "rule_lte",
            "rule_between",
            "rule_contains",
            "rule_starts_with",
            "rule_within_days",
            "date_gt",
            "date_gte",
            "date_lt",
            "date_lte",
            "daysAgo",
            "today",
            "nps",
            "yes",
            "no",
            "field_frequency",
            "frequency_all",
            "frequency_weekly",
            "frequency_monthly",
        ]
        .map(str::to_string)
        .to_vec();
        // Every plain field (the parser's own list; `attr.` and `consent.` are labelled apart).
        for name in [
            "email",
            "email_domain",
            "name",
            "locale",
            "country",
            "city",
            "gender",
            "age",
            "birth_month",
            "created_at",
            "confirmed_at",
            "data_confirmed_at",
            "source",
            "status",
            "temperature",
            "order_count",
            "total_spent",
            "avg_order_value",
            "first_order_at",
            "last_order_at",
            "bought_category",
            "bought_sku",
            "last_nps",
            "nps_category",
            "avg_csat",
            "rfm_r",
            "rfm_f",
            "rfm_m",
            "rfm_segment",
            "segment",
        ] {
            let field = Field::parse(name).unwrap();
            keys.push(format!("field_{}", field.name()));
        }
        for (prefix, pool) in [
            ("status", STATUSES),
            ("temperature", TEMPERATURES),
            ("nps", NPS_CATEGORIES),
            ("rfm", RFM_GROUPS),
        ] {
            keys.extend(pool.iter().map(|v| format!("{prefix}_{v}")));
        }
        let same_everywhere: BTreeSet<&str> = ["fact", "nps", "rule_eq"].into_iter().collect();
        // Words a language shares with English.
        let same_word: BTreeSet<(&str, &str)> = [("ro", "nps_detractor")].into_iter().collect();
        for key in &keys {
            let en = reason_text(Locale::En, key, None);
            assert!(!en.is_empty(), "en: {key}");
            for l in [Locale::PtBr, Locale::Ro, Locale::Ru] {
                let text = reason_text(l, key, None);
                assert!(!text.is_empty(), "{}: {key}", l.tag());
                if !same_everywhere.contains(key.as_str())
                    && !same_word.contains(&(l.tag(), key.as_str()))
                {
                    assert_ne!(text, en, "{}: {key} is still English", l.tag());
                }
            }
        }
    }

    #[test]
    fn placeholders_are_filled_once() {
        assert_eq!(
            fill(
                "{field}: {value}",
                &[("field", "{value}".into()), ("value", "x".into())]
            ),
            "{value}: x"
        );
        assert_eq!(fill("{unknown} {", &[]), "{unknown} {");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(real(4.25), "4.25");
        assert_eq!(real(5.0), "5");
    }

    fn case() -> impl Strategy<
        Value = (
            usize,
            Vec<super::super::property::GenContact>,
            Vec<Value>,
            String,
        ),
    > {
        (0..NOWS.len()).prop_flat_map(|i| {
            let now = now_of(i);
            (
                Just(i),
                prop::collection::vec(contact(now), 1..6),
                prop::collection::vec(rule(now), 1..4),
                pick(PURPOSES),
            )
        })
    }

    fn nodes(rule: &SegmentRule, out: &mut Vec<SegmentRule>) {
        out.push(rule.clone());
        if let SegmentRule::All(items) | SegmentRule::Any(items) = rule {
            items.iter().for_each(|item| nodes(item, out));
        }
        if let SegmentRule::Not(inner) = rule {
            nodes(inner, out);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// On the property test's own random rules and people (read back from SQLite), every
        /// condition the explanation renders has the truth it is rendered with, by the
        /// evaluator; a member always gets reasons and a non-member none.
        #[test]
        fn every_rendered_condition_has_the_truth_the_evaluator_gives(
            (now_index, contacts, rules, purpose) in case()
        ) {
            let now = now_of(now_index);
            let db = store(&contacts);
            let facts: Vec<ContactFacts> =
                (0..contacts.len()).map(|n| load(&db, &format!("c{n}"))).collect();
            let named = |id: &str| (id != "seg_b").then(|| format!("name of {id}"));
            for json in &rules {
                let rule = parse_rule(json).unwrap();
                let mut all = Vec::new();
                nodes(&rule, &mut all);
                for node in &all {
                    for f in &facts {
                        for locale in Locale::ALL {
                            for r in reasons(node, f, now, locale, &named) {
                                let truth = SegmentRule::Condition(r.condition.clone()).eval(f, now);
                                prop_assert_eq!(
                                    r.holds, truth,
                                    "{} in {}: {:?} on {:?}", r.text, node.to_json(), r.condition, f
                                );
                                for token in ["{field}", "{value}", "{rule}", "{n}", "{purpose}"] {
                                    prop_assert!(!r.text.contains(token), "{}", r.text);
                                }
                                prop_assert!(!r.text.contains("seg_b"), "{}", r.text);
                            }
                        }
                        let audience = Audience::of(node, &purpose, &super::super::property::PROFILING_SEGMENTS.iter().map(|s| s.to_string()).collect());
                        let member = is_member(node, &audience, f, now);
                        prop_assert_eq!(
                            explain(node, &audience, f, now, Locale::En, &named).is_some(),
                            member
                        );
                    }
                }
            }
        }
    }
}
