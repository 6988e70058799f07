//! `privacy_requests`: the register of data-subject requests. Each insert goes in the same batch
//! as the change it records (like `audit::record`), so recording costs no round trip and a
//! request is on the register exactly when it was carried out. It names the contact by id only
//! and outlives their erasure: it is the proof the request was honoured.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use crate::domain::cursor::Cursor;
use crate::domain::privacy_request::{Channel, Deadline, Kind, Reason};
use crate::domain::{secret, time};
use crate::error::AppResult;
use crate::store::{all, statement, Arg, Db};

/// A request as the register holds it and the API shows it (with `overdue`, worked out when
/// shown). The actor who recorded it is in the table and the audit log, not in the listing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestRow {
    pub id: String,
    pub contact_id: String,
    pub kind: String,
    pub channel: String,
    pub reason: Option<String>,
    pub received_at: String,
    pub due_at: String,
    pub completed_at: Option<String>,
}

impl RequestRow {
    /// A request received at `received_at`, due by `deadline` from then, and done at
    /// `completed_at` if it is already.
    pub fn new(
        contact_id: &str,
        kind: Kind,
        channel: Channel,
        reason: Option<&Reason>,
        received_at: DateTime<Utc>,
        deadline: Deadline,
        completed_at: Option<DateTime<Utc>>,
    ) -> RequestRow {
        RequestRow {
            id: secret::new_id("req"),
            contact_id: contact_id.to_string(),
            kind: kind.as_str().to_string(),
            channel: channel.as_str().to_string(),
            reason: reason.map(|r| r.as_str().to_string()),
            received_at: time::format(received_at),
            due_at: time::format(deadline.due(received_at)),
            completed_at: completed_at.map(time::format),
        }
    }

    /// A request the person made themselves and that was done as they made it.
    pub fn done_at_once(
        contact_id: &str,
        kind: Kind,
        channel: Channel,
        deadline: Deadline,
        at: &str,
    ) -> RequestRow {
        let now = time::parse(at).unwrap_or_else(time::now);
        RequestRow::new(contact_id, kind, channel, None, now, deadline, Some(now))
    }

    /// Late: done after its due date, or still open past it at `now`.
    pub fn overdue(&self, now: &str) -> bool {
        self.completed_at.as_deref().unwrap_or(now) > self.due_at.as_str()
    }

    pub fn to_json(&self, now: &str) -> Value {
        json!({
            "id": self.id,
            "contact_id": self.contact_id,
            "kind": self.kind,
            "channel": self.channel,
            "reason": self.reason,
            "received_at": self.received_at,
            "due_at": self.due_at,
            "completed_at": self.completed_at,
            "overdue": self.overdue(now),
        })
    }
}

const COLUMNS: &str =
    "id, contact_id, kind, channel, reason, received_at, due_at, completed_at, actor";

fn row_args<'a>(r: &'a RequestRow, actor: &'a str) -> Vec<Arg<'a>> {
    vec![
        Arg::Text(&r.id),
        Arg::Text(&r.contact_id),
        Arg::Text(&r.kind),
        Arg::Text(&r.channel),
        Arg::OptText(r.reason.as_deref()),
        Arg::Text(&r.received_at),
        Arg::Text(&r.due_at),
        Arg::OptText(r.completed_at.as_deref()),
        Arg::Text(actor),
    ]
}

/// The request, recorded by `actor` (an API key id, or `self`), whatever else the batch does.
pub fn record(db: &Db, r: &RequestRow, actor: &str) -> AppResult<D1PreparedStatement> {
    let (sql, args) = record_plan(r, actor);
    statement(db, &sql, &args)
}

pub(crate) fn record_plan<'a>(r: &'a RequestRow, actor: &'a str) -> (String, Vec<Arg<'a>>) {
    (
        format!(
            "INSERT INTO privacy_requests ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        row_args(r, actor),
    )
}

/// The request to withdraw `purpose` (or object to it), recorded only if the person's decision
/// on record is not already a withdrawal: a second unsubscribe is not a new request. It must go
/// before the consent's own upsert in the batch, which it reads (as
/// `webhooks::consent_changed_statement` does).
pub fn record_withdrawal(
    db: &Db,
    r: &RequestRow,
    actor: &str,
    purpose: &str,
) -> AppResult<D1PreparedStatement> {
    let (sql, args) = record_withdrawal_plan(r, actor, purpose);
    statement(db, &sql, &args)
}

/// The objection a Global Privacy Control signal records, on the register only when nothing is
/// on record for `purpose` (as the objection itself: see `consents::gpc_objection_statements`).
/// It goes before those statements in the batch, which it reads.
pub fn record_first_decision(
    db: &Db,
    r: &RequestRow,
    actor: &str,
    purpose: &str,
) -> AppResult<D1PreparedStatement> {
    let mut args = row_args(r, actor);
    args.push(Arg::Text(purpose));
    statement(
        db,
        &format!(
            "INSERT INTO privacy_requests ({COLUMNS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE NOT EXISTS \
               (SELECT 1 FROM consents WHERE contact_id = ?2 AND purpose = ?10)"
        ),
        &args,
    )
}

pub(crate) fn record_withdrawal_plan<'a>(
    r: &'a RequestRow,
    actor: &'a str,
    purpose: &'a str,
) -> (String, Vec<Arg<'a>>) {
    let mut args = row_args(r, actor);
    args.push(Arg::Text(purpose));
    (
        format!(
            "INSERT INTO privacy_requests ({COLUMNS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE NOT EXISTS \
               (SELECT 1 FROM consents WHERE contact_id = ?2 AND purpose = ?10 AND granted = 0)"
        ),
        args,
    )
}

/// The request to correct the person's data, recorded only if some of `changes` (columns of
/// `domain::contact::EDITABLE`, never input, with their new values) differs from what is stored:
/// saving the same form twice is not a rectification. It goes before the updates it reads.
pub fn record_rectification(
    db: &Db,
    r: &RequestRow,
    actor: &str,
    changes: &[(&'static str, Option<&str>)],
) -> AppResult<D1PreparedStatement> {
    let (sql, args) = record_rectification_plan(r, actor, changes);
    statement(db, &sql, &args)
}

pub(crate) fn record_rectification_plan<'a>(
    r: &'a RequestRow,
    actor: &'a str,
    changes: &[(&'static str, Option<&'a str>)],
) -> (String, Vec<Arg<'a>>) {
    let mut args = row_args(r, actor);
    let differs: Vec<String> = changes
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} IS NOT ?{}", i + 10))
        .collect();
    args.extend(changes.iter().map(|(_, value)| Arg::OptText(*value)));
    // No change at all (not reachable: a patch names at least one field) records nothing.
    let differs = if differs.is_empty() {
        "0".to_string()
    } else {
        differs.join(" OR ")
    };
    (
        format!(
            "INSERT INTO privacy_requests ({COLUMNS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS \
               (SELECT 1 FROM contacts WHERE id = ?2 AND ({differs}))"
        ),
        args,
    )
}

/// The register newest first, strictly after the cursor `(?1, ?2)` = `(received_at, id)`,
/// through `privacy_requests_received`; `?4` keeps one kind (NULL: every kind), `?5` = 1 only
/// requests not yet completed.
pub(crate) const LIST_SQL: &str =
    "SELECT id, contact_id, kind, channel, reason, received_at, due_at, completed_at \
     FROM privacy_requests WHERE (received_at, id) < (?1, ?2) \
       AND (?4 IS NULL OR kind = ?4) AND (?5 = 0 OR completed_at IS NULL) \
     ORDER BY received_at DESC, id DESC LIMIT ?3";

/// The cursor of the first page: after no request.
const BEFORE_ALL: (&str, &str) = ("9999-12-31T23:59:59.999Z", "~");

/// What the listing keeps.
pub struct Filter {
    pub kind: Option<Kind>,
    pub open_only: bool,
}

pub async fn list(
    db: &Db,
    filter: &Filter,
    after: Option<&Cursor>,
    limit: u32,
) -> AppResult<Vec<RequestRow>> {
    let (at, id) = after.map_or(BEFORE_ALL, |c| (c.at.as_str(), c.id.as_str()));
    all(
        db,
        LIST_SQL,
        &[
            Arg::Text(at),
            Arg::Text(id),
            Arg::Int(i64::from(limit)),
            Arg::OptText(filter.kind.map(Kind::as_str)),
            Arg::Int(i64::from(filter.open_only)),
        ],
    )
    .await
}

/// Most of one person's requests an export lists (a person makes a handful in five years).
const OF_CONTACT_CAP: i64 = 1000;

/// One person's requests, oldest first, through `privacy_requests_contact`.
pub(crate) const OF_CONTACT_SQL: &str =
    "SELECT id, contact_id, kind, channel, reason, received_at, due_at, completed_at \
     FROM privacy_requests WHERE contact_id = ?1 ORDER BY received_at, id LIMIT ?2";

pub async fn of_contact(db: &Db, contact_id: &str) -> AppResult<Vec<RequestRow>> {
    all(
        db,
        OF_CONTACT_SQL,
        &[Arg::Text(contact_id), Arg::Int(OF_CONTACT_CAP)],
    )
    .await
}

/// Completed requests received before `before` (their retention is over), at most `limit`,
/// oldest first through `privacy_requests_received`. A request still open is kept: it is owed.
pub fn purge_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM privacy_requests WHERE id IN (SELECT id FROM privacy_requests \
           WHERE received_at < ?1 AND completed_at IS NOT NULL LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{fresh_database, query_plan, run};
    use rusqlite::Connection;

    fn ids(db: &Connection, sql: &str, args: &[Arg<'_>]) -> Vec<String> {
        let values: Vec<rusqlite::types::Value> = args
            .iter()
            .map(|a| match a {
                Arg::Text(s) | Arg::OptText(Some(s)) => {
                    rusqlite::types::Value::Text((*s).to_string())
                }
                Arg::Int(i) => rusqlite::types::Value::Integer(*i),
                _ => rusqlite::types::Value::Null,
            })
            .collect();
        db.prepare(sql)
            .unwrap()
            .query_map(rusqlite::params_from_iter(values), |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn register(db: &Connection) -> Vec<String> {
        ids(
            db,
            "SELECT kind || ' ' || channel || ' ' || contact_id FROM privacy_requests ORDER BY id",
            &[],
        )
    }

    fn with_contact() -> Connection {
        let db = fresh_database();
        db.execute_batch(
            "INSERT INTO contacts (id, email, email_hash, status, source, name, city, created_at, updated_at) \
               VALUES ('c1', 'ana@example.com', 'h1', 'active', 'import', 'Ana', 'Recife', 't', 't');",
        )
        .unwrap();
        db
    }

    fn request(kind: Kind, channel: Channel) -> RequestRow {
        RequestRow::done_at_once(
            "c1",
            kind,
            channel,
            Deadline::default(),
            "2026-11-30T10:00:00.000Z",
        )
    }

    /// A withdrawal is on the register when it changes the decision on record: the first
    /// unsubscribe is one, the second (already withdrawn) is not; withdrawing another purpose
    /// is one again.
    #[test]
    fn a_withdrawal_is_recorded_once_while_the_decision_stays_withdrawn() {
        let db = with_contact();
        db.execute_batch(
            "INSERT INTO consents (contact_id, purpose, granted, updated_at) VALUES ('c1', 'marketing_email', 1, 't');",
        )
        .unwrap();
        for _ in 0..2 {
            let r = request(Kind::Withdrawal, Channel::OneClick);
            let (sql, args) = record_withdrawal_plan(&r, "self", "marketing_email");
            run(
                &db,
                &[
                    (sql.as_str(), args),
                    (
                        "INSERT INTO consents (contact_id, purpose, granted, updated_at) VALUES ('c1', 'marketing_email', 0, 't') \
                         ON CONFLICT (contact_id, purpose) DO UPDATE SET granted = 0",
                        vec![],
                    ),
                ],
            );
        }
        assert_eq!(register(&db), ["withdrawal one_click c1"]);
        let r = request(Kind::Objection, Channel::SelfService);
        let (sql, args) = record_withdrawal_plan(&r, "self", "satisfaction_surveys");
        run(&db, &[(sql.as_str(), args)]);
        assert_eq!(
            register(&db),
            ["withdrawal one_click c1", "objection self_service c1"]
        );
    }

    /// An edit is a rectification only when some value differs from the stored one; a cleared
    /// field counts as a change, and so does a value set where there was none.
    #[test]
    fn a_rectification_is_recorded_only_when_a_value_changes() {
        let db = with_contact();
        let record = |changes: &[(&'static str, Option<&str>)]| {
            let r = request(Kind::Rectification, Channel::SelfService);
            let (sql, args) = record_rectification_plan(&r, "self", changes);
            run(&db, &[(sql.as_str(), args)])[0]
        };
        assert_eq!(
            record(&[("name", Some("Ana")), ("city", Some("Recife"))]),
            0
        );
        assert_eq!(record(&[("phone", None)]), 0, "still empty");
        assert_eq!(
            record(&[("name", Some("Ana")), ("city", Some("Olinda"))]),
            1
        );
        assert_eq!(record(&[("city", None)]), 1, "cleared");
        assert_eq!(record(&[("phone", Some("+5581999990000"))]), 1, "set");
        assert_eq!(record(&[]), 0);
    }

    /// The listing walks its index newest first, without sorting the table, whatever the
    /// filters; the purge finds its rows through the same index and deletes by key; a person's
    /// own requests are read through theirs.
    #[test]
    fn the_register_is_listed_and_purged_through_its_index() {
        let db = fresh_database();
        let plan = query_plan(&db, LIST_SQL);
        assert!(
            plan.contains("privacy_requests_received") && !plan.contains("TEMP B-TREE"),
            "{plan}"
        );
        let plan = query_plan(&db, OF_CONTACT_SQL);
        assert!(plan.contains("privacy_requests_contact"), "{plan}");
        let (sql, _) = purge_plan("t", 3);
        let plan = query_plan(&db, sql);
        assert!(
            plan.contains("privacy_requests_received")
                && !plan.lines().any(|l| l.starts_with("SCAN")),
            "{plan}"
        );
    }

    #[test]
    fn the_register_pages_newest_first_with_its_filters_and_keeps_open_requests_past_retention() {
        let db = fresh_database();
        let at = |s: &str| time::parse(s).unwrap();
        let rows = [
            RequestRow::new(
                "c1",
                Kind::Erasure,
                Channel::Offline(crate::domain::privacy_request::OfflineChannel::Phone),
                Some(&Reason::parse("ticket 1").unwrap()),
                at("2020-01-01T00:00:00Z"),
                Deadline::default(),
                Some(at("2020-01-02T00:00:00Z")),
            ),
            RequestRow::new(
                "c2",
                Kind::Access,
                Channel::SelfService,
                None,
                at("2020-02-01T00:00:00Z"),
                Deadline::default(),
                None,
            ),
            RequestRow::new(
                "c3",
                Kind::Access,
                Channel::SelfService,
                None,
                at("2026-11-01T00:00:00Z"),
                Deadline::default(),
                Some(at("2026-11-01T00:00:00Z")),
            ),
        ];
        for r in &rows {
            let (sql, args) = record_plan(r, "self");
            run(&db, &[(sql.as_str(), args)]);
        }
        let page = |after: (&str, &str), kind: Option<&str>, open: i64, limit: i64| {
            ids(
                &db,
                LIST_SQL,
                &[
                    Arg::Text(after.0),
                    Arg::Text(after.1),
                    Arg::Int(limit),
                    Arg::OptText(kind),
                    Arg::Int(open),
                ],
            )
        };
        let id = |i: usize| rows[i].id.clone();
        assert_eq!(page(BEFORE_ALL, None, 0, 2), [id(2), id(1)]);
        assert_eq!(
            page((&rows[1].received_at, &rows[1].id), None, 0, 2),
            [id(0)]
        );
        assert_eq!(page(BEFORE_ALL, Some("access"), 0, 5), [id(2), id(1)]);
        assert_eq!(page(BEFORE_ALL, None, 1, 5), [id(1)]);
        assert!(rows[1].overdue("2026-01-01T00:00:00.000Z"), "open past due");
        assert!(!rows[2].overdue("2026-12-01T00:00:00.000Z"), "done in time");
        let (sql, args) = purge_plan("2021-11-30T00:00:00.000Z", 10);
        assert_eq!(run(&db, &[(sql, args)]), [1]);
        assert_eq!(
            page(BEFORE_ALL, None, 0, 5),
            [id(2), id(1)],
            "the open one stays"
        );
    }
}
