//! The property that makes two backends one: on random contacts stored in a real SQLite (the
//! project's `schema.sql`, JSON1 included) and random rules, the ids `to_sql` selects are
//! exactly the ids for which `eval` holds, on facts read back with the queries of `facts.rs`.
//! Value pools are small on purpose, so rules and contacts meet: equal values, values one
//! millisecond either side of a cut-off, birthdays today and tomorrow, mixed JSON types.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use rusqlite::types::Value as Db;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use super::facts::{
    ATTRIBUTES_SQL, CATEGORIES_SQL, CONSENTS_SQL, CONTACT_SQL, SEGMENTS_SQL, SKUS_SQL,
};
use super::rule::{NPS_CATEGORIES, RFM_GROUPS, STATUSES, TEMPERATURES};
use super::*;
use crate::domain::time;

pub(super) const NOWS: [&str; 3] = [
    "2026-03-01T12:34:56.789Z",
    // A leap day, so ages meet chrono's month clamping.
    "2028-02-29T00:00:00.000Z",
    "2026-12-31T23:59:59.999Z",
];

const EMAILS: &[&str] = &[
    "ana@gmail.com",
    "ana.souza@gmail.com",
    "bob@shop.example",
    "zoë@exämple.com",
    "no-at-sign",
    "x@y@z",
];
const NAMES: &[&str] = &["Ana", "ana", "Ana Souza", "Souza", "Zoë", "Bruno"];
const LOCALES: &[&str] = &["pt-BR", "pt", "en", "en-US"];
const COUNTRIES: &[&str] = &["BR", "PT", "US"];
const CITIES: &[&str] = &["São Paulo", "Lisboa", "Paulo", "São"];
const GENDERS: &[&str] = &["female", "male", "other"];
const SOURCES: &[&str] = &["frm_1", "frm_2", "import", "api"];
/// Opt-in purposes and legitimate-interest ones (profiling, surveys), so `consent.<purpose>`
/// and eligibility meet both bases, and the profiling objection is on record for some.
pub(super) const PURPOSES: &[&str] = &[
    "marketing_email",
    "sms",
    "profiling",
    "satisfaction_surveys",
];
/// Segments whose rules profile, as far as the audience is concerned: naming one profiles.
pub(super) const PROFILING_SEGMENTS: &[&str] = &["seg_a"];
/// Frequencies stored with a grant (NULL: none chosen, read as `all`).
const STORED_FREQUENCIES: &[&str] = &["all", "weekly", "monthly"];
const ATTR_KEYS: &[&str] = &["plan", "score", "tags"];
const ATTR_TEXTS: &[&str] = &["gold", "Gold", "7", "shoes", "ol"];
const ATTR_INTS: &[i64] = &[0, 2, 7];
const ATTR_REALS: &[f64] = &[0.5, 7.0, -0.0, 1e20, 2.000001];
const CATEGORIES: &[&str] = &["bags", "shoes", "bags & shoes", "ção"];
const SKUS: &[&str] = &["SKU-1", "sku-1", "SHOE-9", "GIFT"];
/// `seg_gone` is deleted (its memberships not yet purged): members of nothing, for SQL and eval.
const SEGMENT_IDS: &[&str] = &["seg_a", "seg_b", "seg_c", "seg_gone"];
const CENTS: &[i64] = &[0, 1, 999, 1000, 3333, 12990, 30000];
const CSATS: &[f64] = &[1.0, 2.5, 3.0, 4.2, 4.5, 5.0];
/// Ages of contacts, and the ages rules ask about: the same few, and their neighbours.
const AGES: &[i64] = &[0, 1, 17, 18, 30, 65];
const RULE_AGES: &[i64] = &[0, 1, 17, 18, 19, 29, 30, 65];

pub(super) fn now_of(i: usize) -> DateTime<Utc> {
    time::parse(NOWS[i]).unwrap()
}

/// A time some days before `now`, exactly on a day boundary or a millisecond either side, so
/// day windows are tested at their edges.
fn moment(now: DateTime<Utc>) -> impl Strategy<Value = String> {
    (0i64..120, select(vec![-1i64, 0, 1, 43_200_000])).prop_map(move |(days, jitter)| {
        time::format(now - Duration::days(days) - Duration::milliseconds(jitter))
    })
}

/// A birth date around an age boundary (today, the day before or after, n years back).
fn birth_date(now: DateTime<Utc>) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (select(AGES), -2i64..=2).prop_map(move |(years, days)| {
            let base = now
                .date_naive()
                .checked_sub_months(chrono::Months::new(years as u32 * 12))
                .unwrap();
            (base + Duration::days(days)).format("%Y-%m-%d").to_string()
        }),
        1 => Just("2000-02-29".to_string()),
        1 => Just("1990-12-31".to_string()),
    ]
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![1 => Just(None), 2 => s.prop_map(Some)].boxed()
}

pub(super) fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(pool).prop_map(str::to_string)
}

#[derive(Debug, Clone)]
struct GenStats {
    order_count: i64,
    total_spent_cents: i64,
    first_order_at: Option<String>,
    last_order_at: Option<String>,
    last_nps: Option<i64>,
    nps_category: Option<String>,
    avg_csat: Option<f64>,
    temperature: String,
    rfm: [Option<i64>; 3],
    rfm_segment: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct GenContact {
    email: String,
    name: Option<String>,
    locale: Option<String>,
    country: Option<String>,
    city: Option<String>,
    birth_date: Option<String>,
    gender: Option<String>,
    status: String,
    source: String,
    created_at: String,
    confirmed_at: Option<String>,
    data_confirmed_at: Option<String>,
    stats: Option<GenStats>,
    attributes: BTreeMap<String, Value>,
    /// Granted (with a frequency, or none chosen) or withdrawn.
    consents: BTreeMap<String, (bool, Option<String>)>,
    /// Orders, each a list of (sku, category) items.
    orders: Vec<Vec<(Option<String>, Option<String>)>>,
    segments: BTreeSet<String>,
}

fn attr_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::Bool),
        3 => select(ATTR_INTS).prop_map(|i| json!(i)),
        3 => select(ATTR_REALS).prop_map(|r| json!(r)),
        5 => select(ATTR_TEXTS).prop_map(|t| json!(t)),
        1 => Just(json!(["shoes", "bags"])),
        1 => Just(json!(["gold", 7, null])),
        1 => Just(json!([])),
        1 => Just(json!({"plan": "gold"})),
    ]
}

fn stats(now: DateTime<Utc>) -> impl Strategy<Value = GenStats> {
    (
        (0i64..4, select(CENTS), opt(moment(now)), opt(moment(now))),
        (
            opt(0i64..=10),
            opt(pick(NPS_CATEGORIES)),
            opt(select(CSATS)),
        ),
        (
            pick(TEMPERATURES),
            [opt(1i64..=5), opt(1i64..=5), opt(1i64..=5)],
            opt(pick(RFM_GROUPS)),
        ),
    )
        .prop_map(|(orders, surveys, scores)| GenStats {
            order_count: orders.0,
            total_spent_cents: orders.1,
            first_order_at: orders.2,
            last_order_at: orders.3,
            last_nps: surveys.0,
            nps_category: surveys.1,
            avg_csat: surveys.2,
            temperature: scores.0,
            rfm: scores.1,
            rfm_segment: scores.2,
        })
}

pub(super) fn contact(now: DateTime<Utc>) -> impl Strategy<Value = GenContact> {
    let profile = (
        pick(EMAILS),
        opt(pick(NAMES)),
        opt(pick(LOCALES)),
        opt(pick(COUNTRIES)),
        opt(pick(CITIES)),
        opt(birth_date(now)),
        opt(pick(GENDERS)),
        pick(STATUSES),
        pick(SOURCES),
        moment(now),
        opt(moment(now)),
        opt(moment(now)),
    );
    let item = (opt(pick(SKUS)), opt(pick(CATEGORIES)));
    let related = (
        opt(stats(now)),
        prop::collection::btree_map(pick(ATTR_KEYS), attr_value(), 0..=3),
        prop::collection::btree_map(
            pick(PURPOSES),
            (any::<bool>(), opt(pick(STORED_FREQUENCIES))),
            0..4,
        ),
        prop::collection::vec(prop::collection::vec(item, 0..3), 0..3),
        prop::collection::btree_set(pick(SEGMENT_IDS), 0..3),
    );
    (profile, related).prop_map(|(p, r)| GenContact {
        email: p.0,
        name: p.1,
        locale: p.2,
        country: p.3,
        city: p.4,
        birth_date: p.5,
        gender: p.6,
        status: p.7,
        source: p.8,
        created_at: p.9,
        confirmed_at: p.10,
        data_confirmed_at: p.11,
        stats: r.0,
        attributes: r.1,
        consents: r.2,
        orders: r.3,
        segments: r.4,
    })
}

// ---------------------------------------------------------------- rules

#[derive(Debug, Clone, Copy)]
enum Gen {
    Text(&'static [&'static str]),
    Int(i64, i64),
    Ints(&'static [i64]),
    Real(&'static [f64]),
    Money,
    Date,
    Bool,
    Attr,
}

const FIELDS: &[(&str, Gen)] = &[
    (
        "email",
        Gen::Text(&[
            "ana@gmail.com",
            "ANA@gmail.com",
            "@gmail",
            "ana",
            "x@y",
            "no-at",
        ]),
    ),
    (
        "email_domain",
        Gen::Text(&[
            "gmail.com",
            "GMAIL.com",
            "shop.example",
            "y@z",
            "no-at-sign",
            "exämple",
        ]),
    ),
    ("name", Gen::Text(NAMES)),
    ("locale", Gen::Text(&["pt-BR", "pt", "en"])),
    ("country", Gen::Text(&["BR", "pt", "us"])),
    ("city", Gen::Text(CITIES)),
    ("gender", Gen::Text(GENDERS)),
    ("age", Gen::Ints(RULE_AGES)),
    ("birth_month", Gen::Int(1, 12)),
    ("created_at", Gen::Date),
    ("confirmed_at", Gen::Date),
    ("data_confirmed_at", Gen::Date),
    ("source", Gen::Text(&["frm_1", "frm_", "import", "1"])),
    ("status", Gen::Text(STATUSES)),
    ("temperature", Gen::Text(TEMPERATURES)),
    ("consent.marketing_email", Gen::Bool),
    ("consent.sms", Gen::Bool),
    ("consent.profiling", Gen::Bool),
    ("consent.satisfaction_surveys", Gen::Bool),
    (
        "frequency.marketing_email",
        Gen::Text(&["all", "weekly", "monthly", "WEEKLY"]),
    ),
    ("attr.plan", Gen::Attr),
    ("attr.score", Gen::Attr),
    ("attr.tags", Gen::Attr),
    ("attr.none", Gen::Attr),
    ("order_count", Gen::Int(0, 4)),
    ("total_spent", Gen::Money),
    ("avg_order_value", Gen::Money),
    ("first_order_at", Gen::Date),
    ("last_order_at", Gen::Date),
    (
        "bought_category",
        Gen::Text(&["bags", "BAGS", "shoes", "ag", "bags & shoes", "ÇÃO"]),
    ),
    (
        "bought_sku",
        Gen::Text(&["SKU-1", "sku-1", "SKU", "SHOE-9", "-"]),
    ),
    ("last_nps", Gen::Int(0, 10)),
    ("nps_category", Gen::Text(NPS_CATEGORIES)),
    ("avg_csat", Gen::Real(CSATS)),
    ("rfm_r", Gen::Int(1, 5)),
    ("rfm_f", Gen::Int(1, 5)),
    ("rfm_m", Gen::Int(1, 5)),
    ("rfm_segment", Gen::Text(&["champions", "lost", "at_risk"])),
    ("segment", Gen::Text(SEGMENT_IDS)),
];

/// Which kind of attribute value an operator gets: a text, a number, or (eq/neq) a boolean.
fn attr_scalar(op: Op) -> BoxedStrategy<Value> {
    let text = select(ATTR_TEXTS).prop_map(|t| json!(t));
    let number = prop_oneof![
        select(ATTR_INTS).prop_map(|i| json!(i)),
        select(ATTR_REALS).prop_map(|r| json!(r)),
    ];
    match op {
        Op::Contains | Op::StartsWith => text.boxed(),
        Op::Eq | Op::Neq => prop_oneof![text, number, any::<bool>().prop_map(Value::Bool)].boxed(),
        _ => prop_oneof![text, number].boxed(),
    }
}

fn scalar(gen: Gen, now: DateTime<Utc>) -> BoxedStrategy<Value> {
    match gen {
        Gen::Text(pool) => select(pool).prop_map(|t| json!(t)).boxed(),
        Gen::Int(lo, hi) => (lo..=hi).prop_map(|i| json!(i)).boxed(),
        Gen::Ints(pool) => select(pool).prop_map(|i| json!(i)).boxed(),
        Gen::Real(pool) => select(pool).prop_map(|r| json!(r)).boxed(),
        Gen::Money => (select(CENTS), any::<bool>())
            .prop_map(|(c, as_text)| {
                if as_text {
                    json!(format!("{}.{:02}", c / 100, c % 100))
                } else {
                    json!(c as f64 / 100.0)
                }
            })
            .boxed(),
        Gen::Date => prop_oneof![
            moment(now).prop_map(|t| json!(t)),
            (0i64..120)
                .prop_map(move |d| json!((now - Duration::days(d)).format("%Y-%m-%d").to_string())),
        ]
        .boxed(),
        Gen::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Gen::Attr => unreachable!("attribute values depend on the operator"),
    }
}

/// Orders two values for `between`: numbers (and money strings) by value, texts as text. Two
/// values of different JSON types become the first one twice.
fn ordered(a: Value, b: Value) -> Value {
    let swap = match (&a, &b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() > y.as_f64(),
        (Value::String(x), Value::String(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => x > y,
            _ => x > y,
        },
        _ => return json!([a.clone(), a]),
    };
    if swap {
        json!([b, a])
    } else {
        json!([a, b])
    }
}

fn condition(now: DateTime<Utc>) -> BoxedStrategy<Value> {
    select(FIELDS)
        .prop_flat_map(move |(name, gen)| {
            let ops: Vec<Op> = Field::parse(name).unwrap().ops().to_vec();
            select(ops).prop_flat_map(move |op| {
                let one = move || match gen {
                    Gen::Attr => attr_scalar(op),
                    g => scalar(g, now),
                };
                let value: BoxedStrategy<Value> = match op {
                    Op::Exists => any::<bool>().prop_map(Value::Bool).boxed(),
                    Op::WithinDays | Op::NotWithinDays => {
                        (1u32..130).prop_map(|d| json!(d)).boxed()
                    }
                    Op::In | Op::NotIn => {
                        // Attribute lists keep to one JSON type; pick the first, keep its kind.
                        prop::collection::vec(one(), 1..4)
                            .prop_map(|items| {
                                let numeric = items[0].is_number();
                                Value::Array(
                                    items
                                        .into_iter()
                                        .filter(|v| v.is_number() == numeric)
                                        .collect(),
                                )
                            })
                            .boxed()
                    }
                    Op::Between => (one(), one()).prop_map(|(a, b)| ordered(a, b)).boxed(),
                    _ => one(),
                };
                value.prop_map(move |v| json!({"field": name, "op": op.as_str(), "value": v}))
            })
        })
        .boxed()
}

pub(super) fn rule(now: DateTime<Utc>) -> impl Strategy<Value = Value> {
    condition(now).prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"all": v})),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"any": v})),
            inner.prop_map(|v| json!({"not": v})),
        ]
    })
}

// ---------------------------------------------------------------- SQLite side

fn db_text(v: &Option<String>) -> Db {
    v.clone().map_or(Db::Null, Db::Text)
}

fn db_int(v: Option<i64>) -> Db {
    v.map_or(Db::Null, Db::Integer)
}

pub(super) fn store(contacts: &[GenContact]) -> Connection {
    // Today's schema: `schema.sql` and every migration (a test fails when one is not listed).
    let db = crate::store::sqlite::fresh_database();
    let at = "2026-01-01T00:00:00.000Z";
    for id in SEGMENT_IDS {
        db.execute(
            "INSERT INTO segments (id, name, rule, created_at, updated_at, deleted_at) \
             VALUES (?1, ?1, '{}', ?2, ?2, CASE WHEN ?1 = 'seg_gone' THEN ?2 END)",
            params![id, at],
        )
        .unwrap();
    }
    for (n, c) in contacts.iter().enumerate() {
        let id = format!("c{n}");
        db.execute(
            "INSERT INTO contacts (id, email, email_hash, name, locale, country, city, birth_date, \
             gender, status, source, created_at, updated_at, confirmed_at, data_confirmed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14)",
            params![
                id,
                c.email,
                format!("hash-{n}"),
                db_text(&c.name),
                db_text(&c.locale),
                db_text(&c.country),
                db_text(&c.city),
                db_text(&c.birth_date),
                db_text(&c.gender),
                c.status,
                c.source,
                c.created_at,
                db_text(&c.confirmed_at),
                db_text(&c.data_confirmed_at),
            ],
        )
        .unwrap();
        if let Some(s) = &c.stats {
            db.execute(
                "INSERT INTO contact_stats (contact_id, order_count, total_spent_cents, \
                 first_order_at, last_order_at, last_nps, nps_category, avg_csat, temperature, \
                 rfm_r, rfm_f, rfm_m, rfm_segment, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    id,
                    s.order_count,
                    s.total_spent_cents,
                    db_text(&s.first_order_at),
                    db_text(&s.last_order_at),
                    db_int(s.last_nps),
                    db_text(&s.nps_category),
                    s.avg_csat.map_or(Db::Null, Db::Real),
                    s.temperature,
                    db_int(s.rfm[0]),
                    db_int(s.rfm[1]),
                    db_int(s.rfm[2]),
                    db_text(&s.rfm_segment),
                    at,
                ],
            )
            .unwrap();
        }
        for (key, value) in &c.attributes {
            db.execute(
                "INSERT INTO contact_attributes (contact_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, key, value.to_string(), at],
            )
            .unwrap();
        }
        for (purpose, (granted, frequency)) in &c.consents {
            db.execute(
                "INSERT INTO consents (contact_id, purpose, granted, frequency, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, purpose, i64::from(*granted), db_text(frequency), at],
            )
            .unwrap();
        }
        for (o, items) in c.orders.iter().enumerate() {
            let items: Vec<Value> = items
                .iter()
                .map(|(sku, category)| {
                    json!({"sku": sku, "name": null, "category": category, "quantity": 1, "price_cents": 100})
                })
                .collect();
            db.execute(
                "INSERT INTO orders (id, external_id, contact_id, total_cents, currency, placed_at, \
                 items, created_at, updated_at) VALUES (?1, ?1, ?2, 100, 'BRL', ?3, ?4, ?3, ?3)",
                params![format!("o{n}-{o}"), id, at, Value::Array(items).to_string()],
            )
            .unwrap();
        }
        for segment in &c.segments {
            db.execute(
                "INSERT INTO segment_members (segment_id, contact_id, since) VALUES (?1, ?2, ?3)",
                params![segment, id, at],
            )
            .unwrap();
        }
    }
    db
}

fn strings(db: &Connection, sql: &str, id: &str) -> BTreeSet<String> {
    let mut stmt = db.prepare(sql).unwrap();
    let rows = stmt.query_map([id], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// Reads one contact back with the queries the store is meant to use.
pub(super) fn load(db: &Connection, id: &str) -> ContactFacts {
    let mut facts = db
        .query_row(CONTACT_SQL, [id], |r| {
            Ok(ContactFacts {
                id: r.get("id")?,
                email: r.get("email")?,
                name: r.get("name")?,
                locale: r.get("locale")?,
                country: r.get("country")?,
                city: r.get("city")?,
                birth_date: r.get("birth_date")?,
                gender: r.get("gender")?,
                status: r.get("status")?,
                source: r.get("source")?,
                created_at: r.get("created_at")?,
                confirmed_at: r.get("confirmed_at")?,
                last_activity_at: r.get("last_activity_at")?,
                data_confirmed_at: r.get("data_confirmed_at")?,
                order_count: r.get("order_count")?,
                total_spent_cents: r.get("total_spent_cents")?,
                first_order_at: r.get("first_order_at")?,
                last_order_at: r.get("last_order_at")?,
                last_nps: r.get("last_nps")?,
                nps_category: r.get("nps_category")?,
                avg_csat: r.get("avg_csat")?,
                temperature: r.get("temperature")?,
                rfm_r: r.get("rfm_r")?,
                rfm_f: r.get("rfm_f")?,
                rfm_m: r.get("rfm_m")?,
                rfm_segment: r.get("rfm_segment")?,
                last_response_at: r.get("last_response_at")?,
                ..ContactFacts::default()
            })
        })
        .unwrap();
    let mut stmt = db.prepare(ATTRIBUTES_SQL).unwrap();
    let rows = stmt
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .unwrap();
    for row in rows {
        let (key, value) = row.unwrap();
        facts
            .attributes
            .insert(key, serde_json::from_str(&value).unwrap());
    }
    let mut stmt = db.prepare(CONSENTS_SQL).unwrap();
    let rows = stmt
        .query_map([id], |r| {
            Ok((
                r.get::<_, String>("purpose")?,
                r.get::<_, i64>("granted")?,
                r.get::<_, String>("frequency")?,
            ))
        })
        .unwrap();
    for row in rows {
        let (purpose, granted, frequency) = row.unwrap();
        facts.record_consent(purpose, granted == 1, frequency);
    }
    facts.bought_categories = strings(db, CATEGORIES_SQL, id);
    facts.bought_skus = strings(db, SKUS_SQL, id);
    facts.segments = strings(db, SEGMENTS_SQL, id);
    facts
}

fn select_ids(db: &Connection, sql: &str, params: &[SqlValue]) -> BTreeSet<String> {
    let bound: Vec<Db> = params
        .iter()
        .map(|p| match p {
            SqlValue::Text(t) => Db::Text(t.clone()),
            SqlValue::Int(i) => Db::Integer(*i),
            SqlValue::Real(r) => Db::Real(*r),
            SqlValue::Null => Db::Null,
        })
        .collect();
    let query = format!(
        "SELECT c.id FROM contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id WHERE {sql}"
    );
    let mut stmt = db
        .prepare(&query)
        .unwrap_or_else(|e| panic!("{e}: {query}"));
    let rows = stmt
        .query_map(rusqlite::params_from_iter(bound), |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}: {query}"));
    rows.map(|r| r.unwrap_or_else(|e| panic!("{e}: {query}")))
        .collect()
}

fn nodes(rule: &SegmentRule, out: &mut Vec<SegmentRule>) {
    out.push(rule.clone());
    match rule {
        SegmentRule::All(items) | SegmentRule::Any(items) => {
            items.iter().for_each(|item| nodes(item, out))
        }
        SegmentRule::Not(inner) => nodes(inner, out),
        SegmentRule::Condition(_) => {}
    }
}

fn case() -> impl Strategy<Value = (usize, Vec<GenContact>, Vec<Value>, String)> {
    (0..NOWS.len()).prop_flat_map(|i| {
        let now = now_of(i);
        (
            Just(i),
            prop::collection::vec(contact(now), 1..16),
            prop::collection::vec(rule(now), 1..6),
            pick(PURPOSES),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn sql_and_eval_select_the_same_contacts((now_index, contacts, rules, purpose) in case()) {
        let now = now_of(now_index);
        let db = store(&contacts);
        let all: BTreeSet<String> = (0..contacts.len()).map(|n| format!("c{n}")).collect();
        let facts: Vec<ContactFacts> = all.iter().map(|id| load(&db, id)).collect();
        let mut checked = Vec::new();
        for json in &rules {
            let rule = parse_rule(json).unwrap_or_else(|e| panic!("generated {json}: {e:?}"));
            prop_assert_eq!(&parse_rule(&rule.to_json()).unwrap(), &rule, "round trip of {}", json);
            // Every node on its own, so a leaf's disagreement cannot hide behind an `any`.
            nodes(&rule, &mut checked);
        }
        for rule in &checked {
            let json = rule.to_json();

            let compiled = rule.compile(now);
            let (sql, params) = compiled.to_sql();
            prop_assert_eq!(sql.matches('?').count(), params.len());
            let by_sql = select_ids(&db, &sql, &params);
            let by_eval: BTreeSet<String> = facts
                .iter()
                .filter(|f| compiled.eval(f))
                .map(|f| f.id.clone())
                .collect();
            prop_assert_eq!(&by_sql, &by_eval, "rule {} sql {} params {:?}", json, sql, params);

            // Never NULL: the rows NOT selects are exactly the others.
            let negated = select_ids(&db, &format!("NOT {sql}"), &params);
            prop_assert_eq!(
                negated,
                all.difference(&by_sql).cloned().collect::<BTreeSet<_>>(),
                "NOT of {}", sql
            );

            let profiling: BTreeSet<String> =
                PROFILING_SEGMENTS.iter().map(|s| s.to_string()).collect();
            let audience = Audience::of(rule, &purpose, &profiling);
            let (member, member_params) = member_sql(rule, &audience, now);
            let members = select_ids(&db, &member, &member_params);
            let expected: BTreeSet<String> = facts
                .iter()
                .filter(|f| is_member(rule, &audience, f, now))
                .map(|f| f.id.clone())
                .collect();
            prop_assert_eq!(&members, &expected, "members of {}", json);

            // Eligibility and the objection, stated apart from the plan: an active contact for
            // whom the purpose is allowed by its basis; and when the rule reads derived data or
            // names a profiling segment, under whatever operators, one who has not objected.
            // Declared-data segments keep objectors.
            let reads_derived = rule.conditions().iter().any(|c| c.field.is_profiling())
                || rule.referenced_segments().iter().any(|id| profiling.contains(id));
            prop_assert_eq!(audience.profiling, reads_derived, "profiling of {}", json);
            let stated: BTreeSet<String> = facts
                .iter()
                .filter(|f| f.status == "active" && f.allows(&purpose) && compiled.eval(f))
                .filter(|f| !reads_derived || !f.withdrawn.contains("profiling"))
                .map(|f| f.id.clone())
                .collect();
            prop_assert_eq!(&members, &stated, "eligibility of {} for {}", json, purpose);
        }
    }
}
