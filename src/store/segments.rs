//! `segments` and `segment_members`: saved rules and who matches them right now.

use std::collections::BTreeSet;

use crate::store::Db;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::cursor::Cursor;
use crate::domain::form::ContactFields;
use crate::domain::segment::{
    eligibility_sql, facts, member_sql, numbered, parse_rule, profiling_segments, Audience,
    ContactFacts, SegmentRule,
};
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

/// How many of `ids` (a JSON array) name live segments, in one query.
pub async fn count_existing(db: &Db, ids_json: &str) -> AppResult<i64> {
    #[derive(Deserialize)]
    struct N {
        #[serde(deserialize_with = "js_int::int")]
        n: i64,
    }
    Ok(crate::store::first::<N>(
        db,
        "SELECT COUNT(*) AS n FROM segments \
         WHERE id IN (SELECT value FROM json_each(?1)) AND deleted_at IS NULL",
        &[Arg::Text(ids_json)],
    )
    .await?
    .map_or(0, |r| r.n))
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
    let list = crate::store::placeholders_after(1, contact_ids.len());
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
    /// The frequency chosen for the segment's purpose (`all` when none was).
    pub frequency: Option<String>,
    /// 1 when the member objected to profiling.
    #[serde(deserialize_with = "js_int::int")]
    pub objects_to_profiling: i64,
}

/// One keyset page of members after `after_id`. Eligibility is checked again here, so a consent
/// withdrawn a moment ago never reaches an export even before the queue has caught up; a
/// segment deleted mid-export has no members from then on.
pub async fn export_page(
    db: &Db,
    segment_id: &str,
    audience: &Audience,
    after_id: &str,
    limit: u32,
) -> AppResult<Vec<ExportMember>> {
    let (eligible, values) = eligibility_sql(audience);
    let mut args = vec![
        Arg::Text(segment_id),
        Arg::Text(after_id),
        Arg::Int(i64::from(limit)),
        Arg::Text(&audience.purpose),
    ];
    args.extend(rule_args(&values));
    all(
        db,
        &format!(
            "SELECT c.id AS contact_id, c.email, c.name, c.phone, c.locale, c.country, c.city, c.gender, c.birth_date, \
               c.preferred_channel, c.created_at, COALESCE(s.temperature, 'cold') AS temperature, \
               COALESCE(s.order_count, 0) AS order_count, COALESCE(s.total_spent_cents, 0) AS total_spent_cents, \
               s.last_order_at, s.last_nps, s.nps_category, c.link_epoch, \
               (SELECT COALESCE(k.frequency, 'all') FROM consents k \
                 WHERE k.contact_id = c.id AND k.purpose = ?4 AND k.granted = 1) AS frequency, \
               EXISTS (SELECT 1 FROM consents k WHERE k.contact_id = c.id \
                 AND k.purpose = 'profiling' AND k.granted = 0) AS objects_to_profiling \
             FROM segment_members m JOIN contacts c ON c.id = m.contact_id \
               LEFT JOIN contact_stats s ON s.contact_id = c.id \
             WHERE m.segment_id = ?1 AND m.contact_id > ?2 \
               AND EXISTS (SELECT 1 FROM segments g WHERE g.id = ?1 AND g.deleted_at IS NULL) \
               AND {} \
             ORDER BY m.contact_id LIMIT ?3",
            numbered(&eligible, 5)
        ),
        &args,
    )
    .await
}

/// Which live segments profile (their rules read derived data, or name segments that do):
/// their members must not have objected to profiling.
pub fn profiling_among(rows: &[SegmentRow]) -> BTreeSet<String> {
    let rules: Vec<(&str, SegmentRule)> = rows
        .iter()
        .filter_map(|row| row.rule().ok().map(|rule| (row.id.as_str(), rule)))
        .collect();
    profiling_segments(rules.iter().map(|(id, rule)| (*id, rule)))
}

/// The audience of a segment with `rule` and `purpose` as the live segments stand now (one
/// paged read of every live segment, to know which of those it names profile).
pub async fn audience(db: &Db, rule: &SegmentRule, purpose: &str) -> AppResult<Audience> {
    let live = list(db).await?;
    Ok(Audience::of(rule, purpose, &profiling_among(&live)))
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
    audience: &Audience,
    now: DateTime<Utc>,
    cap: u64,
) -> AppResult<(u64, bool)> {
    // D1 binds numbers as doubles: a cap past 2^53 would not arrive as an integer.
    let cap = cap.min(MAX_EXACT_CAP);
    let (sql, values) = member_sql(rule, audience, now);
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
    audience: &Audience,
    now: DateTime<Utc>,
    limit: u32,
) -> AppResult<Vec<SampleRow>> {
    let (sql, values) = member_sql(rule, audience, now);
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
    audience: &Audience,
    cursor: &str,
    end: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<Vec<D1PreparedStatement>> {
    let (sql, values) = member_sql(rule, audience, now);
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
    let leaving = format!(
        "segment_id = ?3 AND contact_id > ?1 AND (?2 IS NULL OR contact_id <= ?2) \
         AND ?4 IS NOT NULL AND {current} \
         AND contact_id NOT IN ({chunk} SELECT c.id {from} WHERE {matching})"
    );
    // The first build of a new segment announces its members only to subscriptions that ask
    // for it (`include_rebuilds`): a new segment of a million must not flood a receiver by
    // accident. Every later build (a new rule version, the daily refresh) is a real change.
    let first_build = segment.computed_at.is_none();
    let announce = if first_build {
        "EXISTS (SELECT 1 FROM webhooks WHERE include_rebuilds = 1 AND disabled_at IS NULL \
           AND deleted_at IS NULL)"
    } else {
        "1"
    };
    let range = [
        Arg::Text(cursor),
        Arg::OptText(end),
        Arg::Text(&segment.id),
        Arg::Text(&at),
    ];
    Ok(vec![
        // Who leaves, announced before they go (the same condition as the delete).
        statement(
            db,
            &format!(
                "INSERT INTO events (type, at, contact_id, segment_id) \
                 SELECT 'segment.exited', ?4, contact_id, ?3 FROM segment_members \
                 WHERE {leaving} ORDER BY contact_id"
            ),
            &args,
        )?,
        statement(
            db,
            &format!("DELETE FROM segment_members WHERE {leaving}"),
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
        // Who joined: the rows this chunk's insert wrote (stamped with its time), read by key.
        statement(
            db,
            &format!(
                "INSERT INTO events (type, at, contact_id, segment_id, rebuild) \
                 SELECT 'segment.entered', ?4, contact_id, ?3, {} FROM segment_members \
                 WHERE segment_id = ?3 AND contact_id > ?1 AND (?2 IS NULL OR contact_id <= ?2) \
                   AND since = ?4 AND {announce} ORDER BY contact_id",
                i64::from(first_build)
            ),
            &range,
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
        for r in consents.results::<ConsentRow>().map_err(decode)? {
            f.record_consent(r.purpose, r.granted == 1, r.frequency);
        }
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
    data_confirmed_at: Option<String>,
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
            data_confirmed_at: self.data_confirmed_at,
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
struct ConsentRow {
    purpose: String,
    #[serde(deserialize_with = "js_int::int")]
    granted: i64,
    frequency: String,
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

// ---------------------------------------------------------------------------------------------
// The daily run's derived facts: set-based SQL over one chunk of `contact_stats` (by contact id)
// per statement, so no statement holds the only writer for long and no buyer is loaded.
// ---------------------------------------------------------------------------------------------

/// SQL and arguments, so unit tests can run them on SQLite.
pub type Plan<'a> = (String, Vec<Arg<'a>>);

/// The statement that ends a chunk: the id of the `limit`-th stats row after `after` (among
/// buyers when `buyers`), or none when fewer remain and this chunk is the last.
fn chunk_end_plan(after: &str, limit: i64, buyers: bool) -> Plan<'_> {
    let filter = if buyers { "order_count > 0 AND " } else { "" };
    (
        format!(
            "SELECT contact_id AS id FROM contact_stats WHERE {filter}contact_id > ?1 \
             ORDER BY contact_id LIMIT 1 OFFSET ?2"
        ),
        vec![Arg::Text(after), Arg::Int(limit - 1)],
    )
}

/// The instants temperatures are compared with: `now` minus each window of the thresholds.
pub struct TemperatureCuts {
    order: String,
    response: String,
    activity: String,
    warm: String,
    at: String,
}

impl TemperatureCuts {
    pub fn new(now: DateTime<Utc>, t: &crate::domain::segment::TemperatureThresholds) -> Self {
        let cut =
            |days: u32| crate::domain::time::format(now - chrono::Duration::days(i64::from(days)));
        TemperatureCuts {
            order: cut(t.hot_order_days),
            response: cut(t.hot_response_days),
            activity: cut(t.hot_activity_days),
            warm: cut(t.warm_days),
            at: crate::domain::time::format(now),
        }
    }
}

/// The SQL twin of `domain::segment::temperature` for the `limit` stats rows after `after`,
/// writing changed rows only; then the chunk's end ([`chunk_end_plan`]).
fn cool_down_plan<'a>(cuts: &'a TemperatureCuts, after: &'a str, limit: i64) -> [Plan<'a>; 2] {
    [
        (
            "UPDATE contact_stats AS s SET temperature = t.v, updated_at = ?5 FROM ( \
               SELECT x.contact_id AS id, CASE \
                 WHEN x.last_order_at >= ?1 OR x.last_response >= ?2 OR c.last_activity_at >= ?3 THEN 'hot' \
                 WHEN x.last_order_at >= ?4 OR x.last_response >= ?4 OR c.last_activity_at >= ?4 THEN 'warm' \
                 ELSE 'cold' END AS v \
               FROM (SELECT k.contact_id, k.last_order_at, \
                       (SELECT MAX(i.answered_at) FROM survey_invitations i WHERE i.contact_id = k.contact_id) \
                         AS last_response \
                     FROM contact_stats k WHERE k.contact_id > ?6 ORDER BY k.contact_id LIMIT ?7) AS x \
               JOIN contacts c ON c.id = x.contact_id) AS t \
             WHERE t.id = s.contact_id AND s.temperature <> t.v"
                .to_string(),
            vec![
                Arg::Text(&cuts.order),
                Arg::Text(&cuts.response),
                Arg::Text(&cuts.activity),
                Arg::Text(&cuts.warm),
                Arg::Text(&cuts.at),
                Arg::Text(after),
                Arg::Int(limit),
            ],
        ),
        chunk_end_plan(after, limit, false),
    ]
}

#[derive(Deserialize)]
struct EndRow {
    id: String,
}

/// Runs a chunk's write and its end query as one batch (one D1 call, one transaction): the rows
/// written, and where the next chunk starts (none: this was the last).
async fn chunk(db: &Db, [write, end]: [Plan<'_>; 2]) -> AppResult<(usize, Option<String>)> {
    let statements = vec![
        statement(db, &write.0, &write.1)?,
        statement(db, &end.0, &end.1)?,
    ];
    let results = crate::store::batch_results(db, statements).await?;
    let changed = results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0);
    let next = match results.get(1) {
        Some(r) => r
            .results::<EndRow>()
            .map_err(|e| AppError::internal("d1 decode", e))?
            .into_iter()
            .next()
            .map(|r| r.id),
        None => None,
    };
    Ok((changed, next))
}

/// Temperatures of the `limit` stats rows after `after` cool down (or warm up) to what the
/// clock says: (rows changed, the next chunk's cursor or none when done).
pub async fn cool_down_chunk(
    db: &Db,
    cuts: &TemperatureCuts,
    after: &str,
    limit: u32,
) -> AppResult<(usize, Option<String>)> {
    chunk(db, cool_down_plan(cuts, after, i64::from(limit))).await
}

/// Days since the last order as `domain::segment::rfm_scores` counts them (whole days, none
/// below 0), negated so that bigger is better, from `?{now}` (milliseconds since the epoch).
/// Times are read to the millisecond in integers (`%s` and `%f`), never through a floating
/// `julianday`, so a day boundary falls where chrono puts it; D1 binds every JavaScript number
/// as a REAL, hence the `CAST` of `now`. A time SQLite cannot read counts
/// as [`NEVER_DAYS`] ago.
fn recency_key(now: usize) -> String {
    let ms = "(CAST(strftime('%s', last_order_at) AS INTEGER) * 1000 \
              + CAST(substr(strftime('%f', last_order_at), 4) AS INTEGER))";
    format!(
        "(-CASE WHEN strftime('%s', last_order_at) IS NULL THEN {NEVER_DAYS} \
           ELSE MAX(0, (CAST(?{now} AS INTEGER) - {ms}) / 86400000) END)"
    )
}

/// Days since an order that never happened (or whose time does not parse): later than any real
/// one. The domain uses `i64::MAX / 4`; only the order matters, and this stays exact through a
/// JavaScript number.
const NEVER_DAYS: i64 = 1_000_000_000_000;

/// RFM cut-offs over every buyer: per dimension, the smallest key (recency negated, orders,
/// cents) that scores 2, 3, 4 and 5 (none when no buyer scores that much).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmCuts {
    pub r: [Option<i64>; 4],
    pub f: [Option<i64>; 4],
    pub m: [Option<i64>; 4],
}

/// The cut-offs of [`RfmCuts`] in one statement. Each buyer's score is the domain's
/// `1 + ⌊5 · (2·worse + ties) / (2n)⌋`: with the buyers ordered by key, `RANK() - 1` counts the
/// keys strictly worse and `COUNT(*)` over the default frame (up to the last peer) counts those
/// worse or equal, so the sum is `2·worse + ties` exactly, in integers. Scores grow with the key,
/// so each score's smallest key is its cut-off.
fn rfm_cuts_plan(now_ms: i64) -> Plan<'static> {
    let dimension = |name: &str, key: &str| {
        format!(
            "SELECT '{name}' AS dim, score, MIN(k) AS cut FROM ( \
               SELECT {key} AS k, 1 + 5 * (RANK() OVER w - 1 + COUNT(*) OVER w) / (SELECT n FROM n) AS score \
               FROM b WINDOW w AS (ORDER BY {key})) GROUP BY score"
        )
    };
    (
        format!(
            "WITH b AS MATERIALIZED (SELECT {} AS rk, order_count AS fk, total_spent_cents AS mk \
               FROM contact_stats WHERE order_count > 0), \
             n(n) AS (SELECT 2 * COUNT(*) FROM b) \
             {} UNION ALL {} UNION ALL {}",
            recency_key(1),
            dimension("r", "rk"),
            dimension("f", "fk"),
            dimension("m", "mk")
        ),
        vec![Arg::Int(now_ms)],
    )
}

#[derive(Debug, Deserialize)]
struct CutRow {
    dim: String,
    #[serde(deserialize_with = "js_int::int")]
    score: i64,
    #[serde(deserialize_with = "js_int::int")]
    cut: i64,
}

impl RfmCuts {
    /// From the rows of [`rfm_cuts_plan`]: a score no buyer has takes the next score's cut-off.
    fn from_rows(rows: &[CutRow]) -> RfmCuts {
        let cuts = |dim: &str| {
            let mut out = [None; 4];
            for (i, slot) in out.iter_mut().enumerate() {
                let score = i as i64 + 2;
                *slot = rows
                    .iter()
                    .filter(|r| r.dim == dim && r.score >= score)
                    .map(|r| r.cut)
                    .min();
            }
            out
        };
        RfmCuts {
            r: cuts("r"),
            f: cuts("f"),
            m: cuts("m"),
        }
    }
}

/// The RFM cut-offs of every buyer at `now_ms`: one query (three window sorts), nothing loaded
/// but the at most fifteen (dimension, score) rows.
pub async fn rfm_cuts(db: &Db, now_ms: i64) -> AppResult<RfmCuts> {
    let (sql, args) = rfm_cuts_plan(now_ms);
    let rows: Vec<CutRow> = all(db, &sql, &args).await?;
    Ok(RfmCuts::from_rows(&rows))
}

/// `domain::segment::rfm_group` as a SQL `CASE` over `r` and `fm = (f + m + 1) / 2`, built from
/// the function itself, so the grid has one definition.
fn rfm_group_sql() -> String {
    let mut cases = String::from("CASE r * 10 + (f + m + 1) / 2");
    for r in 1..=5u8 {
        for fm in 1..=5u8 {
            cases.push_str(&format!(
                " WHEN {} THEN '{}'",
                u16::from(r) * 10 + u16::from(fm),
                crate::domain::segment::rfm_group(r, fm, fm)
            ));
        }
    }
    cases.push_str(" END");
    cases
}

/// Scores and groups of the `limit` buyers after `after` from the cut-offs, written where they
/// changed; then the chunk's end among buyers.
fn rfm_chunk_plan<'a>(
    cuts: &RfmCuts,
    now_ms: i64,
    (after, limit): (&'a str, i64),
    at: &'a str,
) -> [Plan<'a>; 2] {
    let score = |key: &str, first: usize| {
        (first..first + 4)
            .map(|i| format!(" + COALESCE({key} >= ?{i}, 0)"))
            .collect::<String>()
    };
    let mut args: Vec<Arg<'a>> = [cuts.r, cuts.f, cuts.m]
        .iter()
        .flatten()
        .map(|cut| cut.map_or(Arg::Null, Arg::Int))
        .collect();
    args.extend([
        Arg::Int(now_ms),
        Arg::Text(after),
        Arg::Int(limit),
        Arg::Text(at),
    ]);
    [
        (
            format!(
                "UPDATE contact_stats AS s SET rfm_r = t.r, rfm_f = t.f, rfm_m = t.m, rfm_segment = t.g, \
                   updated_at = ?16 FROM ( \
                   SELECT id, r, f, m, {group} AS g FROM ( \
                     SELECT contact_id AS id, 1{r} AS r, 1{f} AS f, 1{m} AS m FROM ( \
                       SELECT contact_id, {recency} AS rk, order_count AS fk, total_spent_cents AS mk \
                       FROM contact_stats WHERE order_count > 0 AND contact_id > ?14 \
                       ORDER BY contact_id LIMIT ?15))) AS t \
                 WHERE t.id = s.contact_id AND (s.rfm_r IS NOT t.r OR s.rfm_f IS NOT t.f \
                   OR s.rfm_m IS NOT t.m OR s.rfm_segment IS NOT t.g)",
                group = rfm_group_sql(),
                r = score("rk", 1),
                f = score("fk", 5),
                m = score("mk", 9),
                recency = recency_key(13),
            ),
            args,
        ),
        chunk_end_plan(after, limit, true),
    ]
}

/// RFM scores of the `limit` buyers after `after` against `cuts` (recency counted to `now_ms`),
/// written with `updated_at` = `at`: (rows changed, the next chunk's cursor or none when done).
pub async fn rfm_chunk(
    db: &Db,
    (cuts, now_ms): (&RfmCuts, i64),
    after: &str,
    limit: u32,
    at: &str,
) -> AppResult<(usize, Option<String>)> {
    chunk(
        db,
        rfm_chunk_plan(cuts, now_ms, (after, i64::from(limit)), at),
    )
    .await
}

/// Live segments after `after` in id order, `limit` at a time: the daily refresh pages through
/// all of them.
pub async fn live_after(db: &Db, after: &str, limit: u32) -> AppResult<Vec<SegmentRow>> {
    all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM segments WHERE deleted_at IS NULL AND id > ?1 ORDER BY id LIMIT ?2"
        ),
        &[Arg::Text(after), Arg::Int(i64::from(limit))],
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

#[cfg(test)]
mod daily_tests {
    //! The daily run's SQL on SQLite, held to the domain functions it twins.

    use super::*;
    use crate::domain::segment::{rfm_group, rfm_scores, temperature, TemperatureThresholds};
    use crate::store::sqlite::fresh_database;
    use proptest::prelude::*;
    use rusqlite::{types::Value, Connection};

    /// Bound as D1 binds them: every number is a JavaScript number, which D1 binds as a REAL.
    fn values(args: &[Arg<'_>]) -> Vec<Value> {
        args.iter()
            .map(|a| match a {
                Arg::Text(s) | Arg::OptText(Some(s)) => Value::Text((*s).to_string()),
                Arg::OptText(None) | Arg::Null => Value::Null,
                Arg::Int(i) => Value::Real(*i as f64),
                Arg::Real(r) => Value::Real(*r),
            })
            .collect()
    }

    /// Runs a chunk's two statements as D1 would (one transaction): rows changed, next cursor.
    fn run_chunk(db: &Connection, [write, end]: [Plan<'_>; 2]) -> (usize, Option<String>) {
        db.execute_batch("BEGIN").unwrap();
        let changed = db
            .execute(&write.0, rusqlite::params_from_iter(values(&write.1)))
            .unwrap_or_else(|e| panic!("{}: {e}", write.0));
        let next = db
            .query_row(&end.0, rusqlite::params_from_iter(values(&end.1)), |r| {
                r.get::<_, String>(0)
            })
            .ok();
        db.execute_batch("COMMIT").unwrap();
        (changed, next)
    }

    fn cuts_of(db: &Connection, now_ms: i64) -> RfmCuts {
        let (sql, args) = rfm_cuts_plan(now_ms);
        let mut stmt = db.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let rows: Vec<CutRow> = stmt
            .query_map(rusqlite::params_from_iter(values(&args)), |r| {
                Ok(CutRow {
                    dim: r.get(0)?,
                    score: r.get(1)?,
                    cut: r.get(2)?,
                })
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        RfmCuts::from_rows(&rows)
    }

    /// Every chunk of `limit` buyers until the end; how many chunks it took.
    fn rfm_run(db: &Connection, now_ms: i64, limit: i64) -> (usize, usize) {
        let cuts = cuts_of(db, now_ms);
        let (mut after, mut chunks, mut changed) = (String::new(), 0, 0);
        loop {
            chunks += 1;
            let (n, next) = run_chunk(
                db,
                rfm_chunk_plan(&cuts, now_ms, (&after, limit), "2026-06-30T12:00:00.000Z"),
            );
            changed += n;
            match next {
                Some(end) => after = end,
                None => return (chunks, changed),
            }
        }
    }

    const NOW: &str = "2026-06-30T12:00:00.000Z";

    /// A buyer's last order: days back (with a millisecond either side of the day boundary), or
    /// no order time at all, or one that does not parse.
    fn last_order(now: DateTime<Utc>, choice: (u8, i64, i64)) -> Option<String> {
        match choice.0 {
            0 => None,
            1 => Some("not a time".into()),
            _ => Some(crate::domain::time::format(
                now - chrono::Duration::days(choice.1) + chrono::Duration::milliseconds(choice.2),
            )),
        }
    }

    /// Scores in SQL equal the domain's `rfm_scores` and `rfm_group` over the same buyers,
    /// ties included, chunked or not; buyers-to-be (no orders) are left unscored.
    fn assert_rfm_matches_the_domain(buyers: &[(Option<String>, i64, i64)], limit: i64) {
        let db = fresh_database();
        let now = crate::domain::time::parse(NOW).unwrap();
        for (i, (last, count, cents)) in buyers.iter().enumerate() {
            db.execute(
                "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
                 VALUES (?1, ?1, ?1, 'active', 'import', ?2, ?2)",
                rusqlite::params![format!("c{i:03}"), NOW],
            )
            .unwrap();
            db.execute(
                "INSERT INTO contact_stats (contact_id, order_count, total_spent_cents, last_order_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![format!("c{i:03}"), count, cents, last, NOW],
            )
            .unwrap();
        }
        let (chunks, _) = rfm_run(&db, now.timestamp_millis(), limit);
        let paying: Vec<(String, i64, i64, i64)> = buyers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.1 > 0)
            .map(|(i, (last, count, cents))| {
                let recency = last
                    .as_deref()
                    .and_then(crate::domain::time::parse)
                    .map_or(i64::MAX / 4, |at| (now - at).num_days().max(0));
                (format!("c{i:03}"), recency, *count, *cents)
            })
            .collect();
        let expected: std::collections::BTreeMap<String, (i64, i64, i64, String)> =
            rfm_scores(&paying)
                .into_iter()
                .map(|(id, r, f, m)| {
                    let g = rfm_group(r, f, m).to_string();
                    (id, (i64::from(r), i64::from(f), i64::from(m), g))
                })
                .collect();
        let mut stmt = db
            .prepare("SELECT contact_id, order_count, rfm_r, rfm_f, rfm_m, rfm_segment FROM contact_stats")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap);
        for (id, count, r, f, m, g) in rows {
            match expected.get(&id) {
                Some((er, ef, em, eg)) => assert_eq!(
                    (r, f, m, g.as_deref()),
                    (Some(*er), Some(*ef), Some(*em), Some(eg.as_str())),
                    "{id} of {buyers:?}"
                ),
                None => {
                    assert_eq!(count, 0);
                    assert_eq!((r, f, m, g), (None, None, None, None), "{id}");
                }
            }
        }
        let paying = i64::try_from(paying.len()).unwrap();
        assert!(
            i64::try_from(chunks).unwrap() >= paying / limit,
            "{chunks} chunks"
        );
        // The same day again writes nothing: the daily run is idempotent.
        assert_eq!(rfm_run(&db, now.timestamp_millis(), limit).1, 0);
    }

    #[test]
    fn rfm_in_sql_is_the_domains_rfm_on_its_own_examples() {
        let now = crate::domain::time::parse(NOW).unwrap();
        let days = |d: i64| last_order(now, (2, d, 0));
        // rfm_quintiles_spread_over_one_to_five, as buyers.
        let spread: Vec<_> = (1..=10).map(|i| (days(100 - i * 10), i, i * 100)).collect();
        assert_rfm_matches_the_domain(&spread, 3);
        // Everyone alike sits in the middle; a base of one too.
        assert_rfm_matches_the_domain(&vec![(days(5), 1, 100); 7], 3);
        assert_rfm_matches_the_domain(&[(days(0), 1, 0)], 3);
        // Ties among others, never-parsed times, and contacts who never bought.
        assert_rfm_matches_the_domain(
            &[
                (days(10), 1, 0),
                (days(10), 1, 0),
                (days(1), 9, 900),
                (days(99), 1, 0),
                (None, 2, 5),
                (Some("not a time".into()), 2, 5),
                (None, 0, 0),
            ],
            2,
        );
        // Exactly seven days, and a millisecond short of it.
        assert_rfm_matches_the_domain(
            &[
                (last_order(now, (2, 7, 0)), 1, 1),
                (last_order(now, (2, 7, 1)), 1, 1),
                (last_order(now, (2, 6, -1)), 1, 1),
                (last_order(now, (2, 0, 5)), 1, 1),
            ],
            1,
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn rfm_in_sql_is_the_domains_rfm(
            buyers in proptest::collection::vec(
                ((0u8..6, 0i64..400, -1i64..2), 0i64..6, prop_oneof![Just(0i64), Just(999), 0i64..100_000]),
                1..40,
            ),
            limit in 1i64..7,
        ) {
            let now = crate::domain::time::parse(NOW).unwrap();
            let buyers: Vec<_> = buyers
                .into_iter()
                .map(|(last, count, cents)| (last_order(now, last), count, cents))
                .collect();
            assert_rfm_matches_the_domain(&buyers, limit);
        }
    }

    #[test]
    fn temperatures_cool_down_chunk_by_chunk_as_the_domain_says() {
        let db = fresh_database();
        let now = crate::domain::time::parse(NOW).unwrap();
        let ago = |d: i64| crate::domain::time::format(now - chrono::Duration::days(d));
        // (order, response, activity, stored temperature)
        type Person = (Option<String>, Option<String>, Option<String>, &'static str);
        let people: Vec<Person> = vec![
            (None, None, None, "hot"),
            (Some(ago(2)), None, None, "cold"),
            (Some(ago(40)), None, None, "hot"),
            (None, Some(ago(10)), None, "cold"),
            (None, None, Some(ago(6)), "warm"),
            (None, None, Some(ago(8)), "hot"),
            (Some(ago(200)), Some(ago(95)), Some(ago(91)), "warm"),
            (None, None, None, "cold"),
        ];
        db.execute_batch(
            "INSERT INTO surveys (id, name, definition, created_at, updated_at) \
             VALUES ('srv', 'S', '{}', '2026-01-01', '2026-01-01')",
        )
        .unwrap();
        for (i, (order, response, activity, stored)) in people.iter().enumerate() {
            let id = format!("c{i}");
            db.execute(
                "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at, last_activity_at) \
                 VALUES (?1, ?1, ?1, 'active', 'import', ?2, ?2, ?3)",
                rusqlite::params![id, NOW, activity],
            )
            .unwrap();
            db.execute(
                "INSERT INTO contact_stats (contact_id, last_order_at, temperature, updated_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![id, order, stored, NOW],
            )
            .unwrap();
            if let Some(at) = response {
                db.execute_batch(&format!(
                    "INSERT INTO survey_invitations (id, survey_id, contact_id, token_hash, created_at, expires_at, answered_at, response_id) \
                       VALUES ('inv{i}', 'srv', '{id}', 't{i}', '{at}', '2099-01-01', '{at}', 'r{i}'); \
                     INSERT INTO survey_responses (id, survey_id, invitation_id, contact_id, answers, created_at) \
                       VALUES ('r{i}', 'srv', 'inv{i}', '{id}', '{{}}', '{at}');"
                ))
                .unwrap();
            }
        }
        let cuts = TemperatureCuts::new(now, &TemperatureThresholds::default());
        let run = || {
            let (mut after, mut changed, mut chunks) = (String::new(), 0, 0);
            loop {
                chunks += 1;
                let (n, next) = run_chunk(&db, cool_down_plan(&cuts, &after, 3));
                changed += n;
                match next {
                    Some(end) => after = end,
                    None => return (changed, chunks),
                }
            }
        };
        assert_eq!(run(), (7, 3), "every row but the last changed, in 3 chunks");
        for (i, (order, response, activity, _)) in people.iter().enumerate() {
            let facts = ContactFacts {
                last_order_at: order.clone(),
                last_response_at: response.clone(),
                last_activity_at: activity.clone(),
                ..ContactFacts::default()
            };
            let want = temperature(&facts, now, &TemperatureThresholds::default());
            let got: String = db
                .query_row(
                    "SELECT temperature FROM contact_stats WHERE contact_id = ?1",
                    [format!("c{i}")],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(got, want.as_str(), "c{i}");
        }
        assert_eq!(run().0, 0, "a second run writes nothing");
    }

    #[test]
    fn each_chunk_reads_its_range_by_primary_key() {
        let db = fresh_database();
        let now = crate::domain::time::parse(NOW).unwrap();
        let cuts = TemperatureCuts::new(now, &TemperatureThresholds::default());
        let rfm = RfmCuts::default();
        let plans = [
            cool_down_plan(&cuts, "c1", 3),
            rfm_chunk_plan(&rfm, 0, ("c1", 3), NOW),
        ];
        for [write, end] in plans {
            for (sql, args) in [write, end] {
                let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                let plan: Vec<String> = stmt
                    .query_map(rusqlite::params_from_iter(values(&args)), |r| r.get(3))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let text = plan.join("\n");
                assert!(
                    !text.contains("SCAN k")
                        && !text.contains("SCAN contact_stats\n")
                        && !text.ends_with("SCAN contact_stats"),
                    "{sql}\n{text}"
                );
            }
        }
    }
}
