//! `segments` and `segment_members`: saved rules and who matches them right now.

use crate::store::Db;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::cursor::Cursor;
use crate::domain::form::ContactFields;
use crate::domain::segment::{facts, member_sql, numbered, parse_rule, ContactFacts, SegmentRule};
use crate::error::{AppError, AppResult};
use crate::store::js_int;
use crate::store::{all, first, rule_args, statement, Arg};

/// Where a segment's members stand: being (re)computed after a new rule, or current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentState {
    /// A rebuild is under way (or was lost: the daily run restarts it).
    Building,
    /// Every member was computed under the current rule.
    Ready,
}

impl SegmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentState::Building => "building",
            SegmentState::Ready => "ready",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SegmentRow {
    pub id: String,
    pub name: String,
    pub rule: String,
    pub purpose: String,
    #[serde(deserialize_with = "js_int::int")]
    pub version: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub size: i64,
    pub state: SegmentState,
    pub computed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl SegmentRow {
    /// The stored rule, parsed again: it was valid when saved, so failing here is a fault.
    pub fn rule(&self) -> AppResult<SegmentRule> {
        let value: serde_json::Value =
            serde_json::from_str(&self.rule).map_err(|e| AppError::internal("stored rule", e))?;
        parse_rule(&value).map_err(|_| AppError::internal("stored rule", "no longer parses"))
    }
}

const COLUMNS: &str =
    "id, name, rule, purpose, version, size, state, computed_at, created_at, updated_at";

pub fn insert_statement(
    db: &Db,
    id: &str,
    name: &str,
    rule_json: &str,
    purpose: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO segments (id, name, rule, purpose, version, size, state, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 1, 0, ?5, ?6, ?6)",
        &[
            Arg::Text(id),
            Arg::Text(name),
            Arg::Text(rule_json),
            Arg::Text(purpose),
            Arg::Text(SegmentState::Building.as_str()),
            Arg::Text(at),
        ],
    )
}

/// A new rule is a new version: members are rebuilt from scratch, older rebuilds stop.
pub fn replace_statement(
    db: &Db,
    id: &str,
    name: &str,
    rule_json: &str,
    purpose: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE segments SET name = ?2, rule = ?3, purpose = ?4, version = version + 1, state = ?5, updated_at = ?6 \
         WHERE id = ?1 AND deleted_at IS NULL",
        &[
            Arg::Text(id),
            Arg::Text(name),
            Arg::Text(rule_json),
            Arg::Text(purpose),
            Arg::Text(SegmentState::Building.as_str()),
            Arg::Text(at),
        ],
    )
}

/// Deletes a live segment at once: every reader filters on `deleted_at`, so from this statement
/// on it has no rows and no members anywhere. Its membership rows are purged afterwards in
/// chunks ([`purge_members`]), so deleting a segment of a million never holds the writer for
/// the whole of it. Changes one row, or none when the segment was not live.
pub fn soft_delete_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE segments SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

/// Removes up to `rows` membership rows of a deleted segment through its primary key, and
/// nothing of a live one; how many it removed (fewer than `rows`: the purge is done).
pub async fn purge_members(db: &Db, id: &str, rows: u32) -> AppResult<usize> {
    crate::store::run(db, PURGE_SQL, &[Arg::Text(id), Arg::Int(i64::from(rows))]).await
}

const PURGE_SQL: &str = "DELETE FROM segment_members WHERE segment_id = ?1 AND contact_id IN \
       (SELECT contact_id FROM segment_members WHERE segment_id = ?1 ORDER BY contact_id LIMIT ?2) \
     AND EXISTS (SELECT 1 FROM segments WHERE id = ?1 AND deleted_at IS NOT NULL)";

/// Deleted segments whose memberships are still there (a purge message was lost): the daily
/// run may start their purge again. At most `limit`, oldest deletions first.
pub async fn unpurged(db: &Db, limit: u32) -> AppResult<Vec<String>> {
    let rows: Vec<IdRow> = all(
        db,
        "SELECT g.id FROM segments g WHERE g.deleted_at IS NOT NULL \
         AND EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = g.id) \
         ORDER BY g.deleted_at LIMIT ?1",
        &[Arg::Int(i64::from(limit))],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<SegmentRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM segments WHERE id = ?1 AND deleted_at IS NULL"),
        &[Arg::Text(id)],
    )
    .await
}

/// Live segments per page of [`list_all_live`], when the caller has no reason to read fewer.
pub const LIVE_PAGE: usize = 500;

/// One page of live segments, newest first, strictly after `after` (none: from the newest),
/// through the `segments_live` index.
pub async fn page(db: &Db, after: Option<&Cursor>, limit: u32) -> AppResult<Vec<SegmentRow>> {
    let (at, id) = after.map_or((BEFORE_ALL.0, BEFORE_ALL.1), |c| {
        (c.at.as_str(), c.id.as_str())
    });
    all(
        db,
        PAGE_SQL,
        &[Arg::Text(at), Arg::Text(id), Arg::Int(i64::from(limit))],
    )
    .await
}

/// The cursor of the first page: after no row, so every row sorts below it.
const BEFORE_ALL: (&str, &str) = ("9999-12-31T23:59:59.999Z", "~");

/// `?1`/`?2`: the cursor's `(created_at, id)`; `?3`: the page size. A row-value comparison, so
/// SQLite seeks the index to the cursor instead of walking past the pages before it.
pub(crate) const PAGE_SQL: &str =
    "SELECT id, name, rule, purpose, version, size, state, computed_at, \
     created_at, updated_at FROM segments WHERE deleted_at IS NULL AND (created_at, id) < (?1, ?2) \
     ORDER BY created_at DESC, id DESC LIMIT ?3";

/// Every live segment, read `page_size` at a time (one query per page): for the readers that
/// must see them all (contact changes, the daily refresh), however many there are. Callers
/// size the page with `config::chunk_rows(env, LIVE_PAGE)`.
pub async fn list_all_live(db: &Db, page_size: usize) -> AppResult<Vec<SegmentRow>> {
    let page_size = page_size.max(1);
    let mut rows: Vec<SegmentRow> = Vec::new();
    loop {
        let after = rows.last().map(|r| Cursor::new(&r.created_at, &r.id));
        let next = page(db, after.as_ref(), page_size as u32).await?;
        let done = next.len() < page_size;
        rows.extend(next);
        if done {
            return Ok(rows);
        }
    }
}

/// Every live segment ([`list_all_live`] with [`LIVE_PAGE`]): kept for callers written before
/// segments were paged; it no longer stops at 500.
pub async fn list(db: &Db) -> AppResult<Vec<SegmentRow>> {
    list_all_live(db, LIVE_PAGE).await
}

/// Adds `contact_ids` to the segment (already members stay as they were).
pub fn add_members_statement(
    db: &Db,
    segment_id: &str,
    contact_ids: &[&str],
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let rows = (0..contact_ids.len())
        .map(|i| format!("(?1, ?{}, ?2)", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args = vec![Arg::Text(segment_id), Arg::Text(at)];
    args.extend(contact_ids.iter().map(|id| Arg::Text(id)));
    statement(
        db,
        &format!(
            "INSERT INTO segment_members (segment_id, contact_id, since) VALUES {rows} \
             ON CONFLICT (segment_id, contact_id) DO NOTHING"
        ),
        &args,
    )
}

pub fn remove_members_statement(
    db: &Db,
    segment_id: &str,
    contact_ids: &[&str],
) -> AppResult<D1PreparedStatement> {
    let list = (0..contact_ids.len())
        .map(|i| format!("?{}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args = vec![Arg::Text(segment_id)];
    args.extend(contact_ids.iter().map(|id| Arg::Text(id)));
    statement(
        db,
        &format!("DELETE FROM segment_members WHERE segment_id = ?1 AND contact_id IN ({list})"),
        &args,
    )
}

/// Size and state after a change; `version` guards against a newer rule having replaced this one.
pub fn refresh_size_statement(
    db: &Db,
    segment_id: &str,
    version: i64,
    ready: bool,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE segments SET size = (SELECT COUNT(*) FROM segment_members WHERE segment_id = ?1), \
           state = CASE WHEN ?3 = 1 THEN ?4 ELSE state END, \
           computed_at = CASE WHEN ?3 = 1 THEN ?5 ELSE computed_at END \
         WHERE id = ?1 AND version = ?2",
        &[
            Arg::Text(segment_id),
            Arg::Int(version),
            Arg::Int(i64::from(ready)),
            Arg::Text(SegmentState::Ready.as_str()),
            Arg::Text(at),
        ],
    )
}

#[derive(Debug, Deserialize)]
pub struct ExportMember {
    pub contact_id: String,
    pub email: String,
    /// The profile columns, the same ones a form or an import writes.
    #[serde(flatten)]
    pub fields: ContactFields,
    pub preferred_channel: String,
    pub created_at: String,
    pub temperature: String,
    #[serde(deserialize_with = "js_int::int")]
    pub order_count: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub total_spent_cents: i64,
    pub last_order_at: Option<String>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub last_nps: Option<i64>,
    pub nps_category: Option<String>,
    /// For signing the links a marketer asks for by name.
    #[serde(deserialize_with = "js_int::int")]
    pub link_epoch: i64,
}

/// One keyset page of members after `after_id`. Eligibility is checked again here, so a consent
/// withdrawn a moment ago never reaches an export even before the queue has caught up; a
/// segment deleted mid-export has no members from then on.
pub async fn export_page(
    db: &Db,
    segment_id: &str,
    purpose: &str,
    after_id: &str,
    limit: u32,
) -> AppResult<Vec<ExportMember>> {
    all(
        db,
        "SELECT c.id AS contact_id, c.email, c.name, c.phone, c.locale, c.country, c.city, c.gender, c.birth_date, \
           c.preferred_channel, c.created_at, COALESCE(s.temperature, 'cold') AS temperature, \
           COALESCE(s.order_count, 0) AS order_count, COALESCE(s.total_spent_cents, 0) AS total_spent_cents, \
           s.last_order_at, s.last_nps, s.nps_category, c.link_epoch \
         FROM segment_members m JOIN contacts c ON c.id = m.contact_id \
           LEFT JOIN contact_stats s ON s.contact_id = c.id \
         WHERE m.segment_id = ?1 AND m.contact_id > ?2 AND c.status = 'active' \
           AND EXISTS (SELECT 1 FROM segments g WHERE g.id = ?1 AND g.deleted_at IS NULL) \
           AND EXISTS (SELECT 1 FROM consents k WHERE k.contact_id = c.id AND k.purpose = ?3 AND k.granted = 1) \
         ORDER BY m.contact_id LIMIT ?4",
        &[
            Arg::Text(segment_id),
            Arg::Text(after_id),
            Arg::Text(purpose),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Evaluation: rules run as SQL over `contacts c LEFT JOIN contact_stats s`.
// ---------------------------------------------------------------------------------------------

const MATCH_FROM: &str = "FROM contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id";

/// The largest count cap D1 receives exactly (the cap + 1 is bound).
const MAX_EXACT_CAP: u64 = (1 << 53) - 2;

#[derive(Deserialize)]
struct CountRow {
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

/// How many contacts match, counting no further than `cap`: `(count, capped)`, where `capped`
/// says the true number is larger than `cap` (the count is then `cap`). At 1M contacts an
/// uncapped count reads every row on the database's only writer for seconds per click.
pub async fn count_matching(
    db: &Db,
    rule: &SegmentRule,
    purpose: &str,
    now: DateTime<Utc>,
    cap: u64,
) -> AppResult<(u64, bool)> {
    // D1 binds numbers as doubles: a cap past 2^53 would not arrive as an integer.
    let cap = cap.min(MAX_EXACT_CAP);
    let (sql, values) = member_sql(rule, purpose, now);
    let mut args = vec![Arg::Int(i64::try_from(cap + 1).unwrap_or(i64::MAX))];
    args.extend(rule_args(&values));
    let row: Option<CountRow> = first(
        db,
        &format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 {MATCH_FROM} WHERE {} LIMIT ?1)",
            numbered(&sql, 2)
        ),
        &args,
    )
    .await?;
    let n = row.map_or(0, |r| u64::try_from(r.n).unwrap_or(0));
    Ok((n.min(cap), n > cap))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct SampleRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub country: Option<String>,
}

pub async fn sample_matching(
    db: &Db,
    rule: &SegmentRule,
    purpose: &str,
    now: DateTime<Utc>,
    limit: u32,
) -> AppResult<Vec<SampleRow>> {
    let (sql, values) = member_sql(rule, purpose, now);
    let mut args = vec![Arg::Int(i64::from(limit))];
    args.extend(rule_args(&values));
    all(
        db,
        &format!(
            "SELECT c.id, c.email, c.name, c.country {MATCH_FROM} WHERE {} ORDER BY c.id LIMIT ?1",
            numbered(&sql, 2)
        ),
        &args,
    )
    .await
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// The id that ends the chunk of `size` contacts after `cursor`, or none when fewer remain.
pub async fn chunk_end(db: &Db, cursor: &str, size: u32) -> AppResult<Option<String>> {
    let row: Option<IdRow> = first(
        db,
        "SELECT id FROM contacts WHERE id > ?1 ORDER BY id LIMIT 1 OFFSET ?2",
        &[Arg::Text(cursor), Arg::Int(i64::from(size) - 1)],
    )
    .await?;
    Ok(row.map(|r| r.id))
}

/// Set-based recompute of one chunk (`cursor` < id ≤ `end`, or to the end): members who no
/// longer match leave, new matches join, everyone else is not written. Both statements only act
/// while the segment is still at `version`, so a rebuild overtaken by a new rule writes nothing.
pub fn rebuild_chunk_statements(
    db: &Db,
    segment: &SegmentRow,
    rule: &SegmentRule,
    cursor: &str,
    end: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<Vec<D1PreparedStatement>> {
    let (sql, values) = member_sql(rule, &segment.purpose, now);
    let matching = numbered(&sql, 6);
    let at = crate::domain::time::format(now);
    let mut args = vec![
        Arg::Text(cursor),
        Arg::OptText(end),
        Arg::Text(&segment.id),
        Arg::Text(&at),
        Arg::Int(segment.version),
    ];
    args.extend(rule_args(&values));
    // The chunk's ids first, then each contact by primary key: without the forced order the
    // planner may walk an index the rule uses (say, country) across the whole base per chunk.
    let chunk = "WITH chunk(id) AS MATERIALIZED (SELECT id FROM contacts WHERE id > ?1 AND (?2 IS NULL OR id <= ?2))";
    let from = "FROM chunk CROSS JOIN contacts c ON c.id = chunk.id LEFT JOIN contact_stats s ON s.contact_id = c.id";
    let current = "EXISTS (SELECT 1 FROM segments g WHERE g.id = ?3 AND g.version = ?5 AND g.deleted_at IS NULL)";
    Ok(vec![
        statement(
            db,
            &format!(
                "DELETE FROM segment_members WHERE segment_id = ?3 AND contact_id > ?1 \
                 AND (?2 IS NULL OR contact_id <= ?2) AND ?4 IS NOT NULL AND {current} \
                 AND contact_id NOT IN ({chunk} SELECT c.id {from} WHERE {matching})"
            ),
            &args,
        )?,
        statement(
            db,
            &format!(
                "{chunk} INSERT INTO segment_members (segment_id, contact_id, since) \
                 SELECT ?3, c.id, ?4 {from} WHERE {current} AND {matching} \
                 ON CONFLICT (segment_id, contact_id) DO NOTHING"
            ),
            &args,
        )?,
    ])
}

/// Everything segments need to know about these contacts, in one D1 round trip.
pub async fn facts_for(db: &Db, ids: &[String]) -> AppResult<Vec<ContactFacts>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let queries = [
        facts::CONTACT_SQL,
        facts::ATTRIBUTES_SQL,
        facts::CONSENTS_SQL,
        facts::CATEGORIES_SQL,
        facts::SKUS_SQL,
        facts::SEGMENTS_SQL,
    ];
    let mut statements = Vec::with_capacity(ids.len() * queries.len());
    for id in ids {
        for sql in queries {
            statements.push(statement(db, sql, &[Arg::Text(id)])?);
        }
    }
    let results = crate::store::batch_results(db, statements).await?;
    let mut out = Vec::new();
    for chunk in results.chunks(queries.len()) {
        let decode = |e| crate::error::AppError::internal("d1 facts decode", e);
        let [contact, attributes, consents, categories, skus, segments] = chunk else {
            continue;
        };
        let Some(row) = contact
            .results::<FactsRow>()
            .map_err(decode)?
            .into_iter()
            .next()
        else {
            continue; // erased since the message was sent
        };
        let mut f = row.into_facts();
        for a in attributes.results::<KeyValue>().map_err(decode)? {
            let value =
                serde_json::from_str(&a.value).unwrap_or(serde_json::Value::String(a.value));
            f.attributes.insert(a.key, value);
        }
        f.consents = consents
            .results::<PurposeRow>()
            .map_err(decode)?
            .into_iter()
            .map(|r| r.purpose)
            .collect();
        f.bought_categories = categories
            .results::<CategoryRow>()
            .map_err(decode)?
            .into_iter()
            .map(|r| r.category)
            .collect();
        f.bought_skus = skus
            .results::<SkuRow>()
            .map_err(decode)?
            .into_iter()
            .map(|r| r.sku)
            .collect();
        f.segments = segments
            .results::<SegmentIdRow>()
            .map_err(decode)?
            .into_iter()
            .map(|r| r.segment_id)
            .collect();
        out.push(f);
    }
    Ok(out)
}

/// `facts::CONTACT_SQL` as D1 returns it: every number a JavaScript number.
#[derive(Deserialize)]
struct FactsRow {
    id: String,
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
    last_activity_at: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    order_count: i64,
    #[serde(deserialize_with = "js_int::int")]
    total_spent_cents: i64,
    first_order_at: Option<String>,
    last_order_at: Option<String>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    last_nps: Option<i64>,
    nps_category: Option<String>,
    avg_csat: Option<f64>,
    temperature: String,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    rfm_r: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    rfm_f: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    rfm_m: Option<i64>,
    rfm_segment: Option<String>,
    last_response_at: Option<String>,
}

impl FactsRow {
    fn into_facts(self) -> ContactFacts {
        ContactFacts {
            id: self.id,
            email: self.email,
            name: self.name,
            locale: self.locale,
            country: self.country,
            city: self.city,
            birth_date: self.birth_date,
            gender: self.gender,
            status: self.status,
            source: self.source,
            created_at: self.created_at,
            confirmed_at: self.confirmed_at,
            last_activity_at: self.last_activity_at,
            order_count: self.order_count,
            total_spent_cents: self.total_spent_cents,
            first_order_at: self.first_order_at,
            last_order_at: self.last_order_at,
            last_nps: self.last_nps,
            nps_category: self.nps_category,
            avg_csat: self.avg_csat,
            temperature: self.temperature,
            rfm_r: self.rfm_r,
            rfm_f: self.rfm_f,
            rfm_m: self.rfm_m,
            rfm_segment: self.rfm_segment,
            last_response_at: self.last_response_at,
            ..ContactFacts::default()
        }
    }
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: String,
}

#[derive(Deserialize)]
struct PurposeRow {
    purpose: String,
}

#[derive(Deserialize)]
struct CategoryRow {
    category: String,
}

#[derive(Deserialize)]
struct SkuRow {
    sku: String,
}

#[derive(Deserialize)]
struct SegmentIdRow {
    segment_id: String,
}

/// The contact's temperature as the queue last computed it (creates the stats row if needed).
pub fn set_temperature_statement(
    db: &Db,
    contact_id: &str,
    temperature: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO contact_stats (contact_id, temperature, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (contact_id) DO UPDATE SET temperature = excluded.temperature, updated_at = excluded.updated_at",
        &[Arg::Text(contact_id), Arg::Text(temperature), Arg::Text(at)],
    )
}

#[derive(Debug, Deserialize)]
pub struct BuyerRow {
    pub contact_id: String,
    pub last_order_at: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    pub order_count: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub total_spent_cents: i64,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub rfm_r: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub rfm_f: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub rfm_m: Option<i64>,
    pub rfm_segment: Option<String>,
}

/// Contacts with at least one order, keyset-paged by id.
pub async fn buyers_page(db: &Db, after: &str, limit: u32) -> AppResult<Vec<BuyerRow>> {
    all(
        db,
        "SELECT contact_id, last_order_at, order_count, total_spent_cents, rfm_r, rfm_f, rfm_m, rfm_segment \
         FROM contact_stats WHERE order_count > 0 AND contact_id > ?1 ORDER BY contact_id LIMIT ?2",
        &[Arg::Text(after), Arg::Int(i64::from(limit))],
    )
    .await
}

pub fn set_rfm_statement(
    db: &Db,
    contact_id: &str,
    (r, f, m): (u8, u8, u8),
    group: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contact_stats SET rfm_r = ?2, rfm_f = ?3, rfm_m = ?4, rfm_segment = ?5, updated_at = ?6 \
         WHERE contact_id = ?1",
        &[
            Arg::Text(contact_id),
            Arg::Int(i64::from(r)),
            Arg::Int(i64::from(f)),
            Arg::Int(i64::from(m)),
            Arg::Text(group),
            Arg::Text(at),
        ],
    )
}

/// The SQL twin of `domain::segment::temperature` for every stats row, writing changed rows.
pub async fn cool_down(
    db: &Db,
    now: DateTime<Utc>,
    t: &crate::domain::segment::TemperatureThresholds,
) -> AppResult<usize> {
    let cut =
        |days: u32| crate::domain::time::format(now - chrono::Duration::days(i64::from(days)));
    let (order, response, activity, warm, at) = (
        cut(t.hot_order_days),
        cut(t.hot_response_days),
        cut(t.hot_activity_days),
        cut(t.warm_days),
        crate::domain::time::format(now),
    );
    crate::store::run(
        db,
        "UPDATE contact_stats AS s SET temperature = t.v, updated_at = ?5 FROM ( \
           SELECT x.contact_id AS id, CASE \
             WHEN x.last_order_at >= ?1 OR r.last >= ?2 OR c.last_activity_at >= ?3 THEN 'hot' \
             WHEN x.last_order_at >= ?4 OR r.last >= ?4 OR c.last_activity_at >= ?4 THEN 'warm' \
             ELSE 'cold' END AS v \
           FROM contact_stats x JOIN contacts c ON c.id = x.contact_id \
           LEFT JOIN (SELECT contact_id, MAX(created_at) AS last FROM survey_responses GROUP BY contact_id) r \
             ON r.contact_id = x.contact_id) AS t \
         WHERE t.id = s.contact_id AND s.temperature <> t.v",
        &[
            Arg::Text(&order),
            Arg::Text(&response),
            Arg::Text(&activity),
            Arg::Text(&warm),
            Arg::Text(&at),
        ],
    )
    .await
}

/// Moves the segment's size by the rows the statement just before it in the same batch inserted
/// (`joined`) or deleted: SQLite's `changes()`, so the size stays exact without recounting
/// every member on each update.
pub fn follow_size_statement(
    db: &Db,
    segment_id: &str,
    joined: bool,
) -> AppResult<D1PreparedStatement> {
    let sql = if joined {
        "UPDATE segments SET size = size + changes() WHERE id = ?1"
    } else {
        "UPDATE segments SET size = size - changes() WHERE id = ?1"
    };
    statement(db, sql, &[Arg::Text(segment_id)])
}

#[cfg(test)]
mod tests {
    use super::PURGE_SQL;
    use crate::store::sqlite::{fresh_database, query_plan};
    use rusqlite::{params, Connection};

    fn members(db: &Connection, segment: &str) -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM segment_members WHERE segment_id = ?1",
            [segment],
            |r| r.get(0),
        )
        .expect("count")
    }

    /// A deleted segment's rows go `rows` at a time, a live segment's never, and the purge
    /// reads them through the primary key rather than scanning every membership.
    #[test]
    fn a_purge_removes_a_bounded_chunk_of_a_deleted_segment_only() {
        let db = fresh_database();
        db.execute_batch(
            "INSERT INTO segments (id, name, rule, created_at, updated_at, deleted_at) VALUES \
               ('seg_gone', 'G', '{}', '2026-01-01', '2026-01-01', '2026-02-01'), \
               ('seg_live', 'L', '{}', '2026-01-01', '2026-01-01', NULL);",
        )
        .expect("segments");
        for n in 0..5 {
            db.execute(
                "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
                 VALUES (?1, ?1, ?1, 'active', 'import', '2026-01-01', '2026-01-01')",
                [format!("c{n}")],
            )
            .expect("contact");
            for segment in ["seg_gone", "seg_live"] {
                db.execute(
                    "INSERT INTO segment_members (segment_id, contact_id, since) VALUES (?1, ?2, '2026-01-01')",
                    params![segment, format!("c{n}")],
                )
                .expect("member");
            }
        }
        let purge = |segment: &str| db.execute(PURGE_SQL, params![segment, 2]).expect("purge");
        assert_eq!(purge("seg_live"), 0, "a live segment lost members");
        assert_eq!(
            [purge("seg_gone"), purge("seg_gone"), purge("seg_gone")],
            [2, 2, 1]
        );
        assert_eq!(members(&db, "seg_gone"), 0);
        assert_eq!(members(&db, "seg_live"), 5);
        let plan = query_plan(&db, PURGE_SQL);
        assert!(
            !plan.contains("SCAN segment_members") && !plan.contains("TEMP B-TREE"),
            "{plan}"
        );
    }
}
