//! Segments: the rule language marketers write (`{"all":[…]}`, `{"any":[…]}`, `{"not":{…}}`,
//! `{"field","op","value"}`), its two backends — a SQL `WHERE` fragment for set-based
//! recomputation in D1 and an evaluator for one contact in Rust — which a property test holds
//! equal, and the derived facts segments read (temperature, RFM).
//!
//! Public API:
//! - [`parse_rule`]`(&Value) -> Result<SegmentRule, FieldErrors>`; [`SegmentRule`] serializes
//!   back to normalized JSON ([`SegmentRule::to_json`], serde both ways).
//! - [`SegmentRule::to_sql`]`(now) -> (String, Vec<SqlValue>)`, [`SegmentRule::eval`]`(facts,
//!   now) -> bool`, or [`SegmentRule::compile`]`(now)` once and run the [`CompiledRule`] on
//!   many contacts; [`member_sql`] / [`is_member`] add eligibility for an [`Audience`] (the
//!   purpose, and whether the rule profiles: see [`profiling_segments`]).
//! - [`SegmentRule::is_time_relative`], [`SegmentRule::referenced_segments`].
//! - [`ContactFacts`] and the queries that load it ([`facts`]).
//! - [`temperature`] with [`TemperatureThresholds`], [`rfm_scores`], [`rfm_group`].
//! - [`numbered`] to turn the fragment's `?` into `?N`.
//! - [`explain`]`(rule, purpose, facts, now, locale, segment_name) -> Option<Vec<Reason>>` (the
//!   conditions that make a member one, each with their own value, in their locale; `None` for
//!   a non-member) and [`explanation`] (the sentences a person reads): "why am I in this segment".
//! - [`fields::document`]: every field a rule may name, with its labels, type, operators and
//!   choices, for a rule builder; read from the parser's own definitions.
//!
//! SQL: the fragment runs over `contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id`
//! and uses plain `?` placeholders, to bind in order from the returned `Vec<SqlValue>`. Every
//! value a marketer wrote is bound, never spliced; so is every time derived from `now` (the
//! cut-off of a day window, the birth date of an age), so SQLite's own clock is never read and
//! both backends use the same instants. A list is one parameter (a JSON array), and a rule
//! binds at most [`MAX_PARAMS`] values, because D1 accepts at most 100 per statement.
//!
//! Missing values: a condition on a value that is absent (NULL column, no stats row for
//! nullable stats, no attribute, JSON `null`) is false, for every operator but `exists:false`
//! — `neq` and `not_in` included. Every condition compiles to SQL that is 0 or 1, never NULL,
//! so `not` is plain negation in both backends: `not {country eq BR}` holds for contacts with
//! no country. Sets (items bought, segments) are never missing: `neq`/`not_in` there mean
//! "none of them". A contact without a `contact_stats` row has 0 orders, 0 spent and is cold.
//!
//! Field semantics worth knowing (see `plan.rs` for all):
//! - Texts compare case-sensitively, byte by byte, after the value is normalized as the column
//!   is stored: emails and domains and categories lower-cased, countries upper-cased, other
//!   texts trimmed. `contains` / `starts_with` are `instr`, not `LIKE`.
//! - Times compare as stored RFC 3339 text; a date value means its midnight UTC. `within_days
//!   N` holds for times at or after `now - N days` (future ones too); `not_within_days N` for
//!   times before it.
//! - `age` is whole years at `now`'s UTC date; a 29 February birthday counts from 1 March in
//!   common years. `birth_month` reads characters 6–7 of `birth_date`.
//! - `total_spent` and `avg_order_value` take a decimal string or number in currency units and
//!   compare in cents; the average is `total_spent_cents / order_count` (absent with no orders).
//! - `attr.<key>` compares within the JSON type of the rule's value: a text only with texts, a
//!   number only with numbers (integers and reals exactly, as SQLite does), `true`/`false`
//!   only with themselves; `neq`/`not_in` hold for a stored value of another type. `contains`
//!   also finds a text element of an array (`multi_choice` answers). `exists` means stored and
//!   not JSON `null`.
//! - `consent.<purpose>` `eq true` means processing for the purpose is allowed now, by its basis:
//!   an opt-in purpose (`marketing_email`) granted, a legitimate-interest one (`profiling`,
//!   `satisfaction_surveys`) not objected to. `frequency.<purpose>` is the frequency chosen
//!   for a granted purpose (`all` when none was), absent otherwise. `segment` means a member now.
//!
//! Objection to profiling (GDPR Art. 21, LGPD Art. 18 §2): a rule that reads a derived or
//! behavioural field (temperature, RFM, order facts, items bought, survey scores), or names a
//! segment whose rule does, profiles; whatever operators surround the field (`not`, `any`,
//! `neq`), such a segment has no member with a `withdrawn` record on `profiling`. The guard is
//! part of the lowered plan, so both backends apply it and the property test holds it equal.
//! Segments on declared data (country, age, consents) keep objectors.

mod eval;
mod explain;
pub mod facts;
pub mod fields;
mod plan;
mod rule;
mod scores;
mod sql;

#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

pub use explain::{explain, explanation, Reason};
pub use facts::ContactFacts;
pub use plan::CompiledRule;
pub use rule::{
    parse_rule, Condition, Field, Op, Operand, Scalar, SegmentRule, MAX_CONDITIONS, MAX_DAYS,
    MAX_DEPTH, MAX_LIST, MAX_PARAMS,
};
pub use scores::{
    rfm_group, rfm_scores, temperature, temperature_on_activity, Temperature, TemperatureThresholds,
};
pub use sql::{numbered, SqlValue};

/// The consent purpose marketing segments require unless told otherwise.
pub const DEFAULT_PURPOSE: &str = crate::domain::consent::MARKETING_EMAIL;

impl SegmentRule {
    /// Lowers the rule at `now`, for running it on many contacts or rendering its SQL.
    pub fn compile(&self, now: DateTime<Utc>) -> CompiledRule {
        CompiledRule::new(self, now)
    }

    /// The `WHERE` fragment (plain `?` placeholders) and the values to bind, in order.
    pub fn to_sql(&self, now: DateTime<Utc>) -> (String, Vec<SqlValue>) {
        self.compile(now).to_sql()
    }

    /// Whether the contact matches: exactly what [`to_sql`](Self::to_sql) selects.
    pub fn eval(&self, facts: &ContactFacts, now: DateTime<Utc>) -> bool {
        self.compile(now).eval(facts)
    }
}

/// Who a segment is for: the purpose its members must allow (by its basis: an opt-in purpose
/// granted, a legitimate-interest one not objected to), and whether its rule profiles people,
/// so that those who objected to profiling are left out whatever the rule says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub purpose: String,
    pub profiling: bool,
}

impl Audience {
    /// The audience of a segment with `rule` and `purpose`, where `profiling_segments` are the
    /// live segments whose rules profile (see [`profiling_segments`]).
    pub fn of(
        rule: &SegmentRule,
        purpose: &str,
        profiling_segments: &BTreeSet<String>,
    ) -> Audience {
        Audience {
            purpose: purpose.to_string(),
            profiling: rule.profiles(&|id| profiling_segments.contains(id)),
        }
    }
}

/// The segments, among `rules` (id and rule of every live segment), whose rules profile: those
/// reading a derived or behavioural field, and, to a fixed point, those naming one of them.
pub fn profiling_segments<'a>(
    rules: impl IntoIterator<Item = (&'a str, &'a SegmentRule)>,
) -> BTreeSet<String> {
    let rules: Vec<(&str, &SegmentRule)> = rules.into_iter().collect();
    let mut found = BTreeSet::new();
    loop {
        let before = found.len();
        for (id, rule) in &rules {
            if !found.contains(*id) && rule.profiles(&|named| found.contains(named)) {
                found.insert((*id).to_string());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Membership in SQL: the rule, an `active` contact (confirmed, not unsubscribed) for whom the
/// audience's purpose is allowed now and, for a profiling rule, who has not objected to
/// profiling. Erased contacts are deleted rows and suppressed addresses have none, so neither
/// can appear. The purpose is bound first.
pub fn member_sql(
    rule: &SegmentRule,
    audience: &Audience,
    now: DateTime<Utc>,
) -> (String, Vec<SqlValue>) {
    rule.compile(now).membership(audience).to_sql()
}

/// Eligibility alone, without a rule: for readers that already hold the members (an export
/// page checks them again, so a withdrawal or objection a moment ago is honoured at once).
pub fn eligibility_sql(audience: &Audience) -> (String, Vec<SqlValue>) {
    CompiledRule {
        pred: plan::Pred::Const(true),
    }
    .membership(audience)
    .to_sql()
}

/// Membership for one contact: exactly what [`member_sql`] selects.
pub fn is_member(
    rule: &SegmentRule,
    audience: &Audience,
    facts: &ContactFacts,
    now: DateTime<Utc>,
) -> bool {
    rule.compile(now).is_member(audience, facts)
}

impl CompiledRule {
    /// The rule with the audience's eligibility around it, for either backend.
    pub fn membership(&self, audience: &Audience) -> CompiledRule {
        CompiledRule {
            pred: plan::eligible(self.pred.clone(), &audience.purpose, audience.profiling),
        }
    }

    /// [`is_member`] for a rule compiled once, when evaluating a batch of contacts.
    pub fn is_member(&self, audience: &Audience, facts: &ContactFacts) -> bool {
        self.membership(audience).eval(facts)
    }
}
