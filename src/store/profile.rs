//! What a person can read about themselves beyond the contact row: orders, survey answers,
//! segment memberships; and the self-service writes to the contact row.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::signup::ContactStatus;
use crate::error::AppResult;
use crate::store::{all, first, js_int, statement, Arg};

#[derive(Debug, Deserialize, Serialize)]
pub struct OrderRow {
    pub external_id: String,
    #[serde(deserialize_with = "js_int::int")]
    pub total_cents: i64,
    pub currency: String,
    pub placed_at: String,
    pub items: String,
}

pub async fn orders(db: &Db, contact_id: &str) -> AppResult<Vec<OrderRow>> {
    all(
        db,
        "SELECT external_id, total_cents, currency, placed_at, items FROM orders WHERE contact_id = ?1 ORDER BY placed_at",
        &[Arg::Text(contact_id)],
    )
    .await
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ResponseRow {
    pub survey_id: String,
    pub answers: String,
    pub created_at: String,
}

pub async fn survey_responses(db: &Db, contact_id: &str) -> AppResult<Vec<ResponseRow>> {
    all(
        db,
        "SELECT r.survey_id, r.answers, r.created_at FROM survey_invitations i \
         JOIN survey_responses r ON r.survey_id = i.survey_id AND r.id = i.response_id \
         WHERE i.contact_id = ?1 ORDER BY r.created_at",
        &[Arg::Text(contact_id)],
    )
    .await
}

/// Most orders and survey answers the admin's contact document shows, newest first, each list
/// with its total.
pub const LATEST_SHOWN: u32 = 10;

/// `?1` the contact, `?2` the most rows: their latest orders, walking `orders_contact` backwards.
pub(crate) const LATEST_ORDERS_SQL: &str =
    "SELECT external_id, total_cents, currency, placed_at, items FROM orders \
     WHERE contact_id = ?1 ORDER BY placed_at DESC LIMIT ?2";
pub(crate) const ORDER_COUNT_SQL: &str = "SELECT COUNT(*) AS n FROM orders WHERE contact_id = ?1";
/// `?1` the contact, `?2` the most rows: their latest answers with the survey's name, found
/// through their invitations (a person answers a few surveys: the sort is of theirs only).
pub(crate) const LATEST_ANSWERS_SQL: &str =
    "SELECT r.survey_id, s.name AS survey_name, r.answers, r.nps, r.csat, r.ces, r.created_at \
     FROM survey_invitations i \
     JOIN survey_responses r ON r.survey_id = i.survey_id AND r.id = i.response_id \
     JOIN surveys s ON s.id = r.survey_id \
     WHERE i.contact_id = ?1 ORDER BY r.created_at DESC, r.id DESC LIMIT ?2";
pub(crate) const ANSWER_COUNT_SQL: &str =
    "SELECT COUNT(*) AS n FROM survey_invitations WHERE contact_id = ?1 AND response_id IS NOT NULL";

#[derive(Debug, Deserialize)]
pub struct AnswerRow {
    pub survey_id: String,
    pub survey_name: String,
    pub answers: String,
    #[serde(default, deserialize_with = "js_int::opt_int")]
    pub nps: Option<i64>,
    #[serde(default, deserialize_with = "js_int::opt_int")]
    pub csat: Option<i64>,
    #[serde(default, deserialize_with = "js_int::opt_int")]
    pub ces: Option<i64>,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
struct CountRow {
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

/// A person's latest orders and survey answers (at most [`LATEST_SHOWN`] each) with how many
/// there are in all. D1 cost: one batch of four statements over the person's own rows, by
/// `orders_contact` and `survey_invitations_contact`.
pub struct Latest {
    pub order_total: i64,
    pub orders: Vec<OrderRow>,
    pub answer_total: i64,
    pub answers: Vec<AnswerRow>,
}

pub async fn latest(db: &Db, contact_id: &str) -> AppResult<Latest> {
    let shown = || Arg::Int(i64::from(LATEST_SHOWN));
    let results = crate::store::batch_results(
        db,
        vec![
            statement(db, LATEST_ORDERS_SQL, &[Arg::Text(contact_id), shown()])?,
            statement(db, ORDER_COUNT_SQL, &[Arg::Text(contact_id)])?,
            statement(db, LATEST_ANSWERS_SQL, &[Arg::Text(contact_id), shown()])?,
            statement(db, ANSWER_COUNT_SQL, &[Arg::Text(contact_id)])?,
        ],
    )
    .await?;
    let count = |at: usize| -> AppResult<i64> {
        Ok(match results.get(at) {
            Some(r) => crate::store::decode_first::<CountRow>(r)?.map_or(0, |c| c.n),
            None => 0,
        })
    };
    Ok(Latest {
        orders: crate::store::rows(&results, Some(0))?,
        order_total: count(1)?,
        answers: crate::store::rows(&results, Some(2))?,
        answer_total: count(3)?,
    })
}

/// Most segments a person's document lists (with their explanations); more are left out, and
/// the OpenAPI description says so.
pub const MAX_SEGMENTS_SHOWN: u32 = 50;

/// `?1` the contact, `?2` the most rows.
const MEMBERSHIPS_SQL: &str = "SELECT g.id, g.name, g.rule, g.purpose FROM segment_members m \
     JOIN segments g ON g.id = m.segment_id \
     WHERE m.contact_id = ?1 AND g.deleted_at IS NULL AND g.state = 'ready' \
     ORDER BY g.name, g.id LIMIT ?2";

/// A segment the person is a member of, with what explaining it needs.
#[derive(Debug, Deserialize)]
pub struct MembershipRow {
    pub id: String,
    pub name: String,
    /// Normalized JSON, as `segments.rule` stores it.
    pub rule: String,
    pub purpose: String,
}

/// The live, `ready` segments the person is a member of, by name, at most
/// [`MAX_SEGMENTS_SHOWN`]; a segment still building is left out until its members are known.
/// D1 cost: one statement, reading the person's `segment_members` rows by
/// `segment_members_contact` and one `segments` row each by key (rows read ≈ 2 × memberships,
/// sorted in memory), nothing written.
pub async fn memberships(db: &Db, contact_id: &str) -> AppResult<Vec<MembershipRow>> {
    all(
        db,
        MEMBERSHIPS_SQL,
        &[
            Arg::Text(contact_id),
            Arg::Int(i64::from(MAX_SEGMENTS_SHOWN)),
        ],
    )
    .await
}

/// Sets one whitelisted column. `column` comes from `domain::contact::EDITABLE`, never from input.
pub fn set_column_statement(
    db: &Db,
    id: &str,
    column: &'static str,
    value: Option<&str>,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        &format!("UPDATE contacts SET {column} = ?2, updated_at = ?3, last_activity_at = ?3, data_confirmed_at = ?3, freshness_asked_at = NULL WHERE id = ?1"),
        &[Arg::Text(id), Arg::OptText(value), Arg::Text(at)],
    )
}

/// Status follows the marketing consent: withdrawn → `unsubscribed`, granted again → `active`.
/// A pending contact stays pending: only its confirmation activates it.
pub fn marketing_status_statement(
    db: &Db,
    id: &str,
    granted: bool,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let (from, to) = if granted {
        (ContactStatus::Unsubscribed, ContactStatus::Active)
    } else {
        (ContactStatus::Active, ContactStatus::Unsubscribed)
    };
    statement(
        db,
        "UPDATE contacts SET status = ?3, updated_at = ?4, last_activity_at = ?4 WHERE id = ?1 AND status = ?2",
        &[
            Arg::Text(id),
            Arg::Text(from.as_str()),
            Arg::Text(to.as_str()),
            Arg::Text(at),
        ],
    )
}

/// A pending contact past retention.
#[derive(Deserialize)]
pub struct ExpiredPending {
    pub id: String,
    pub email: String,
}

/// Pending contacts older than `created_before` with no confirmation: retention. No index:
/// once a day it reads the table (a status index would cost every signup and confirmation a
/// row written, for one daily read).
pub async fn expired_pending(
    db: &Db,
    created_before: &str,
    limit: u32,
) -> AppResult<Vec<ExpiredPending>> {
    all(
        db,
        "SELECT id, email FROM contacts WHERE status = 'pending' AND confirmed_at IS NULL AND created_at < ?1 LIMIT ?2",
        &[Arg::Text(created_before), Arg::Int(i64::from(limit))],
    )
    .await
}

/// A contact's derived facts, as segments see them.
#[derive(Debug, Deserialize, Serialize)]
pub struct StatsRow {
    #[serde(deserialize_with = "js_int::int")]
    pub order_count: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub total_spent_cents: i64,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
    #[serde(deserialize_with = "js_int::opt_int")]
    pub last_nps: Option<i64>,
    pub nps_category: Option<String>,
    pub avg_csat: Option<f64>,
    #[serde(deserialize_with = "js_int::int")]
    pub csat_count: i64,
    pub temperature: String,
    #[serde(deserialize_with = "js_int::opt_int")]
    pub rfm_r: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int")]
    pub rfm_f: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int")]
    pub rfm_m: Option<i64>,
    pub rfm_segment: Option<String>,
}

pub async fn stats(db: &Db, contact_id: &str) -> AppResult<Option<StatsRow>> {
    first(
        db,
        "SELECT order_count, total_spent_cents, first_order_at, last_order_at, last_nps, nps_category, \
           avg_csat, csat_count, temperature, rfm_r, rfm_f, rfm_m, rfm_segment FROM contact_stats WHERE contact_id = ?1",
        &[Arg::Text(contact_id)],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{fresh_database, query_plan};

    /// A person's latest orders walk their index entries newest first (no sort); their answers
    /// and both totals are found through their own rows by index, never by a scan.
    #[test]
    fn latest_orders_and_answers_read_the_persons_own_rows_by_index() {
        let db = fresh_database();
        let orders = query_plan(&db, LATEST_ORDERS_SQL);
        assert!(
            orders.contains("SEARCH orders USING INDEX orders_contact (contact_id=?)")
                && !orders.contains("TEMP B-TREE"),
            "{orders}"
        );
        for sql in [ORDER_COUNT_SQL, LATEST_ANSWERS_SQL, ANSWER_COUNT_SQL] {
            let plan = query_plan(&db, sql);
            assert!(
                plan.contains("INDEX orders_contact (contact_id=?)")
                    || plan.contains("INDEX survey_invitations_contact (contact_id=?)"),
                "{sql}\n{plan}"
            );
            assert!(!plan.contains("SCAN"), "{sql}\n{plan}");
        }
    }

    /// The person's ready, live segments by name, at most the cap, found through the person's
    /// own membership rows (never a scan of every membership).
    #[test]
    fn memberships_are_the_ready_live_segments_by_name_at_most_fifty() {
        let db = fresh_database();
        let at = "2026-01-01T00:00:00.000Z";
        for id in ["c1", "c2"] {
            db.execute(
                "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
                 VALUES (?1, ?1 || '@example.com', ?1, 'active', 'api', ?2, ?2)",
                rusqlite::params![id, at],
            )
            .unwrap();
        }
        let segment = |id: &str, name: &str, state: &str, deleted: bool| {
            db.execute(
                "INSERT INTO segments (id, name, rule, state, created_at, updated_at, deleted_at) \
                 VALUES (?1, ?2, '{\"all\":[]}', ?3, ?4, ?4, CASE WHEN ?5 THEN ?4 END)",
                rusqlite::params![id, name, state, at, deleted],
            )
            .unwrap();
            db.execute(
                "INSERT INTO segment_members (segment_id, contact_id, since) VALUES (?1, 'c1', ?2)",
                rusqlite::params![id, at],
            )
            .unwrap();
        };
        segment("seg_building", "A building", "building", false);
        segment("seg_deleted", "A deleted", "ready", true);
        for n in 0..55 {
            segment(
                &format!("seg_{n:02}"),
                &format!("Group {:02}", 54 - n),
                "ready",
                false,
            );
        }
        db.execute(
            "INSERT INTO segment_members (segment_id, contact_id, since) VALUES ('seg_00', 'c2', ?1)",
            [at],
        )
        .unwrap();
        let names = |contact: &str| -> Vec<String> {
            let mut stmt = db.prepare(MEMBERSHIPS_SQL).unwrap();
            stmt.query_map(
                rusqlite::params![contact, i64::from(MAX_SEGMENTS_SHOWN)],
                |r| r.get::<_, String>("name"),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let shown = names("c1");
        let expected: Vec<String> = (0..50).map(|n| format!("Group {n:02}")).collect();
        assert_eq!(shown, expected);
        assert_eq!(names("c2"), ["Group 54"]);
        let plan = query_plan(&db, MEMBERSHIPS_SQL);
        assert!(
            plan.contains("segment_members_contact") && !plan.contains("SCAN"),
            "{plan}"
        );
    }
}
