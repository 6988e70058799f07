//! The overview's reads: counts of the whole base (by status, temperature and RFM scores), new
//! contacts and confirmations per day and consent withdrawals per day, in one D1 batch. Only
//! counts leave SQL; nobody's row does.
//!
//! D1 cost, one round trip of four statements, each a GROUP BY with a bounded answer (at most
//! 3 × 3 × 6 × 6 groups, 90 days, 182 days): the base and the confirmations each read the
//! contacts once (there is no status or confirmation index on purpose: an index would cost every
//! signup and confirmation a row written, for a page read a few times a day; at a million
//! contacts a view reads about two million rows, well under a second); the signups read only the
//! contacts created in the window, by the primary key (ids are UUID v7, which sort by creation
//! time); the withdrawals read the consent events once and look each withdrawal of the window up
//! in `contacts` by key, so an erased person's kept proof is not counted.

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::domain::overview::{first_day, first_week, BaseGroup};
use crate::domain::time;
use crate::error::AppResult;
use crate::store::{batch_results, decode, js_int, statement, Arg, Db};

/// Contacts per status, temperature (none yet: `cold`, the column's default) and RFM scores.
pub(crate) const BASE_SQL: &str =
    "SELECT c.status AS status, COALESCE(s.temperature, 'cold') AS temperature, \
       s.rfm_r AS r, s.rfm_f AS f, COUNT(*) AS n \
     FROM contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id \
     GROUP BY c.status, COALESCE(s.temperature, 'cold'), s.rfm_r, s.rfm_f";

/// `?1` the smallest UUID v7 of the window's first millisecond, `?2` that instant: contacts
/// created in the window, per day, found by key range (the time test guards the odd id that is
/// not a UUID v7).
pub(crate) const SIGNUPS_SQL: &str = "SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n \
     FROM contacts WHERE id >= ?1 AND created_at >= ?2 GROUP BY substr(created_at, 1, 10)";

/// `?1` the window's first instant: first confirmations per day (a person confirms once;
/// `confirmed_at` keeps the first).
pub(crate) const CONFIRMATIONS_SQL: &str =
    "SELECT substr(confirmed_at, 1, 10) AS day, COUNT(*) AS n \
     FROM contacts WHERE confirmed_at >= ?1 GROUP BY substr(confirmed_at, 1, 10)";

/// `?1` the window's first instant: withdrawals per day by people still in the base. A lapse
/// (`expired`) is recorded as a withdrawal but nobody withdrew, so it is left out.
pub(crate) const WITHDRAWALS_SQL: &str = "SELECT substr(e.at, 1, 10) AS day, COUNT(*) AS n \
     FROM consent_events e \
     WHERE e.action = 'withdrawn' AND e.method <> 'expired' AND e.at >= ?1 \
       AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = e.contact_id) \
     GROUP BY substr(e.at, 1, 10)";

#[derive(Debug, Deserialize)]
struct BaseRow {
    status: String,
    temperature: String,
    #[serde(default, deserialize_with = "js_int::opt_int")]
    r: Option<i64>,
    #[serde(default, deserialize_with = "js_int::opt_int")]
    f: Option<i64>,
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

#[derive(Debug, Deserialize)]
struct DayRow {
    day: String,
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

/// What the overview counts, grouped as SQL gives it.
pub struct Counts {
    pub base: Vec<BaseGroup>,
    pub signups: Vec<(String, i64)>,
    pub confirmations: Vec<(String, i64)>,
    pub withdrawals: Vec<(String, i64)>,
}

/// The first instant of `day`, as stored times spell it.
fn start_of(day: NaiveDate) -> String {
    time::format(day.and_time(NaiveTime::MIN).and_utc())
}

/// The smallest UUID v7 (as text) minted at or after the first instant of `day`: its first 48
/// bits are the Unix time in milliseconds, written as 8 and 4 hex digits.
pub(crate) fn first_id_on(day: NaiveDate) -> String {
    let ms = day
        .and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
        .max(0) as u64;
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// The four counts for the overview as of `today` (UTC), in one batch.
pub async fn counts(db: &Db, today: NaiveDate) -> AppResult<Counts> {
    let days_from = start_of(first_day(today));
    let first_id = first_id_on(first_day(today));
    let weeks_from = start_of(first_week(today));
    let results = batch_results(
        db,
        vec![
            statement(db, BASE_SQL, &[])?,
            statement(
                db,
                SIGNUPS_SQL,
                &[Arg::Text(&first_id), Arg::Text(&days_from)],
            )?,
            statement(db, CONFIRMATIONS_SQL, &[Arg::Text(&days_from)])?,
            statement(db, WITHDRAWALS_SQL, &[Arg::Text(&weeks_from)])?,
        ],
    )
    .await?;
    let days = |at: usize| -> AppResult<Vec<(String, i64)>> {
        match results.get(at) {
            Some(r) => Ok(decode::<DayRow>(r)?
                .into_iter()
                .map(|d| (d.day, d.n))
                .collect()),
            None => Ok(Vec::new()),
        }
    };
    let base = match results.first() {
        Some(r) => decode::<BaseRow>(r)?
            .into_iter()
            .map(|b| BaseGroup {
                status: b.status,
                temperature: b.temperature,
                r: b.r,
                f: b.f,
                count: b.n,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Counts {
        base,
        signups: days(1)?,
        confirmations: days(2)?,
        withdrawals: days(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{fresh_database, query_plan};
    use rusqlite::Connection;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date")
    }

    fn day_counts(db: &Connection, sql: &str, args: &[&str]) -> Vec<(String, i64)> {
        db.prepare(sql)
            .expect("prepare")
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// A UUID v7 minted at `at` (as the signup flow mints ids), for seeding.
    fn v7(at: &str) -> String {
        let ms = time::parse(at).expect("a time").timestamp_millis() as u64;
        format!(
            "{:08x}-{:04x}-7000-8000-{:012x}",
            ms >> 16,
            ms & 0xffff,
            rand_tail(at)
        )
    }

    fn rand_tail(at: &str) -> u64 {
        at.bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            & 0xffff_ffff_ffff
    }

    fn seeded() -> Connection {
        let db = fresh_database();
        let contact = |id: &str, status: &str, created: &str, confirmed: Option<&str>| {
            db.execute(
                "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at, confirmed_at) \
                 VALUES (?1, ?1 || '@example.com', ?1, ?2, 'frm_1', ?3, ?3, ?4)",
                rusqlite::params![id, status, created, confirmed],
            )
            .expect("contact");
        };
        let today_signup = v7("2026-12-01T09:00:00.000Z");
        contact(
            &today_signup,
            "active",
            "2026-12-01T09:00:00.000Z",
            Some("2026-12-01T09:05:00.000Z"),
        );
        // Signed up long ago as a buyer, confirmed yesterday: a confirmation in the window.
        let old = v7("2025-01-01T00:00:00.000Z");
        contact(
            &old,
            "active",
            "2025-01-01T00:00:00.000Z",
            Some("2026-11-30T10:00:00.000Z"),
        );
        // Just before the window's first day: not a signup of the series.
        let before = v7("2026-09-02T23:59:59.999Z");
        contact(&before, "pending", "2026-09-02T23:59:59.999Z", None);
        let first = v7("2026-09-03T00:00:00.000Z");
        contact(
            &first,
            "unsubscribed",
            "2026-09-03T00:00:00.000Z",
            Some("2026-09-03T00:10:00.000Z"),
        );
        db.execute_batch(&format!(
            "INSERT INTO contact_stats (contact_id, temperature, rfm_r, rfm_f, updated_at) VALUES \
               ('{old}', 'hot', 5, 2, 't'), ('{first}', 'warm', NULL, NULL, 't'); \
             INSERT INTO consent_events (id, contact_id, purpose, action, source, method, at, email_hash) VALUES \
               ('e1', '{first}', 'marketing_email', 'withdrawn', 'me', 'self_service', '2026-11-30T08:00:00.000Z', NULL), \
               ('e2', '{first}', 'marketing_email', 'granted', 'frm_1', 'double_opt_in', '2026-09-03T00:10:00.000Z', NULL), \
               ('e3', '{old}', 'marketing_email', 'withdrawn', 'system', 'expired', '2026-11-30T03:00:00.000Z', NULL), \
               ('e4', 'gone', 'marketing_email', 'withdrawn', 'me', 'self_service', '2026-11-30T09:00:00.000Z', 'h-erased'), \
               ('e5', '{old}', 'profiling', 'withdrawn', 'me', 'gpc', '2026-06-08T00:00:00.000Z', NULL), \
               ('e6', '{old}', 'profiling', 'withdrawn', 'me', 'self_service', '2026-06-07T23:59:59.999Z', NULL);"
        ))
        .expect("stats and events");
        db
    }

    #[test]
    fn the_counts_are_of_people_in_the_base_inside_the_window() {
        let db = seeded();
        let from = start_of(first_day(today()));
        let id_from = first_id_on(first_day(today()));
        assert_eq!(
            day_counts(&db, SIGNUPS_SQL, &[&id_from, &from]),
            [("2026-09-03".to_string(), 1), ("2026-12-01".to_string(), 1)],
            "the first day of the window counts, the day before does not"
        );
        assert_eq!(
            day_counts(&db, CONFIRMATIONS_SQL, &[&from]),
            [
                ("2026-09-03".to_string(), 1),
                ("2026-11-30".to_string(), 1),
                ("2026-12-01".to_string(), 1)
            ],
            "an old contact confirming now counts on the day they confirmed"
        );
        assert_eq!(
            day_counts(&db, WITHDRAWALS_SQL, &[&start_of(first_week(today()))]),
            [("2026-06-08".to_string(), 1), ("2026-11-30".to_string(), 1)],
            "no lapse, no erased person's kept proof, nothing before the first week"
        );
        type Group = (String, String, Option<i64>, Option<i64>, i64);
        let base: Vec<Group> = db
            .prepare(&format!("{BASE_SQL} ORDER BY 1, 2"))
            .expect("prepare")
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            base,
            [
                ("active".into(), "cold".into(), None, None, 1),
                ("active".into(), "hot".into(), Some(5), Some(2), 1),
                ("pending".into(), "cold".into(), None, None, 1),
                ("unsubscribed".into(), "warm".into(), None, None, 1),
            ],
            "a contact without stats is cold and unscored"
        );
    }

    /// The smallest id of a day sorts after every UUID v7 minted the day before and not after
    /// any minted on it.
    #[test]
    fn the_first_id_of_a_day_bounds_uuid_v7_ids_by_time() {
        let day = NaiveDate::from_ymd_opt(2026, 9, 3).expect("a date");
        let bound = first_id_on(day);
        assert!(v7("2026-09-02T23:59:59.999Z") < bound);
        assert!(v7("2026-09-03T00:00:00.000Z") >= bound);
        let minted = uuid::Uuid::now_v7().to_string();
        assert!(minted >= first_id_on(today() - chrono::Duration::days(400)));
    }

    /// The signups walk the primary key's range instead of reading every contact; each
    /// counted event's person is looked up by key; the base looks stats up by key.
    #[test]
    fn the_overview_reads_ranges_and_keys_where_it_can() {
        let db = fresh_database();
        let signups = query_plan(&db, SIGNUPS_SQL);
        assert!(
            signups.contains("SEARCH contacts USING INDEX sqlite_autoindex_contacts_1 (id>?)"),
            "{signups}"
        );
        let base = query_plan(&db, BASE_SQL);
        assert!(
            base.contains("SEARCH s USING PRIMARY KEY (contact_id=?)"),
            "{base}"
        );
        let withdrawals = query_plan(&db, WITHDRAWALS_SQL);
        assert!(
            withdrawals.contains("SEARCH c USING") && withdrawals.contains("(id=?)"),
            "{withdrawals}"
        );
    }
}
