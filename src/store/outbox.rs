//! `outbox`: emails waiting to be (or already) delivered to the email webhook.

use crate::store::Db;
use serde::Deserialize;
use worker::D1PreparedStatement;

use crate::domain::cursor::Cursor;
use crate::domain::outbox::{relay_headers, OutboxMessage};
use crate::error::AppResult;
use crate::store::{all, js_int, placeholders_after, statement, Arg};

#[derive(Debug, Deserialize)]
struct OutboxRow {
    id: String,
    to_email: String,
    kind: String,
    subject: String,
    body_text: String,
    url: Option<String>,
    unsubscribe_url: Option<String>,
    preferences_url: Option<String>,
    created_at: String,
    sent_at: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    attempts: i64,
}

impl From<OutboxRow> for OutboxMessage {
    fn from(r: OutboxRow) -> Self {
        OutboxMessage {
            id: r.id,
            to: r.to_email,
            kind: r.kind,
            subject: r.subject,
            text: Some(r.body_text),
            url: r.url,
            headers: relay_headers(r.unsubscribe_url.as_deref()),
            unsubscribe_url: r.unsubscribe_url,
            preferences_url: r.preferences_url,
            created_at: r.created_at,
            sent_at: r.sent_at,
            redacted: false,
        }
    }
}

const COLUMNS: &str =
    "id, to_email, kind, subject, body_text, url, unsubscribe_url, preferences_url, created_at, sent_at, attempts";

pub struct NewMessage<'a> {
    pub id: &'a str,
    pub contact_id: Option<&'a str>,
    pub to: &'a str,
    pub kind: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub url: Option<&'a str>,
    pub unsubscribe_url: Option<&'a str>,
    pub preferences_url: Option<&'a str>,
    pub created_at: &'a str,
    /// HMAC of the folded mailbox ([`EmailAddress::mailbox_hash`]), on every message: the caps
    /// count by it, so `+tag` spellings cannot dodge them, and the `outbox_mailbox` index finds
    /// a recipient's and a person's messages by it.
    ///
    /// [`EmailAddress::mailbox_hash`]: crate::domain::email::EmailAddress::mailbox_hash
    pub mailbox_hash: &'a str,
}

/// The columns a [`NewMessage`] writes, bound `?1` to `?11` in this order by [`message_args`].
const NEW_COLUMNS: &str =
    "id, contact_id, to_email, kind, subject, body_text, url, unsubscribe_url, \
     preferences_url, created_at, mailbox_hash";

fn message_args<'a>(m: &NewMessage<'a>) -> [Arg<'a>; 11] {
    [
        Arg::Text(m.id),
        Arg::OptText(m.contact_id),
        Arg::Text(m.to),
        Arg::Text(m.kind),
        Arg::Text(m.subject),
        Arg::Text(m.text),
        Arg::OptText(m.url),
        Arg::OptText(m.unsubscribe_url),
        Arg::OptText(m.preferences_url),
        Arg::Text(m.created_at),
        Arg::Text(m.mailbox_hash),
    ]
}

pub fn insert_statement(db: &Db, m: &NewMessage<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        &format!(
            "INSERT INTO outbox ({NEW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        &message_args(m),
    )
}

/// How many messages of a kind may go out, counted over the rolling window since `since`.
pub struct Cap<'a> {
    pub since: &'a str,
    /// Messages of this kind to one mailbox (`NewMessage::mailbox_hash`).
    pub per_mailbox: u32,
    /// At most one of this kind to the message's contact.
    pub once_per_contact: bool,
}

/// Inserts the message only while it stays within `cap`. The count and the insert are one
/// statement, and D1 runs statements one at a time, so simultaneous requests cannot all pass
/// the count: a form or a sign-in page cannot be turned into a way to flood an inbox. How many
/// rows it changed (0 or 1) says whether the message is there.
pub fn insert_capped_statement(
    db: &Db,
    m: &NewMessage<'_>,
    cap: &Cap<'_>,
) -> AppResult<D1PreparedStatement> {
    let mut args = Vec::from(message_args(m));
    args.extend([
        Arg::Text(cap.since),
        Arg::Int(i64::from(cap.per_mailbox)),
        Arg::Int(i64::from(cap.once_per_contact)),
    ]);
    statement(
        db,
        &format!(
            "INSERT INTO outbox ({NEW_COLUMNS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
             WHERE (SELECT COUNT(*) FROM outbox WHERE mailbox_hash = ?11 AND kind = ?4 AND created_at > ?12) < ?13 \
               AND (?14 = 0 OR NOT EXISTS (SELECT 1 FROM outbox \
                 WHERE mailbox_hash = ?11 AND kind = ?4 AND created_at > ?12 AND contact_id = ?2))"
        ),
        &args,
    )
}

/// [`insert_capped_statement`] for whoever holds the address `hashes` name, if anyone: the
/// message goes to the contact's stored address and id (`m.to` and `m.contact_id` are not
/// used), and nothing is written for an address nobody holds. The look-up and the write are one
/// statement, so work done after an answer needs no read of its own.
pub fn insert_capped_to_holder_statement(
    db: &Db,
    m: &NewMessage<'_>,
    cap: &Cap<'_>,
    hashes: &crate::domain::email::EmailHashes,
) -> AppResult<D1PreparedStatement> {
    let mut args = Vec::from(message_args(m));
    args.extend([
        Arg::Text(cap.since),
        Arg::Int(i64::from(cap.per_mailbox)),
        Arg::Text(&hashes.current),
        Arg::Text(hashes.legacy.as_deref().unwrap_or(&hashes.current)),
    ]);
    statement(
        db,
        &format!(
            "INSERT INTO outbox ({NEW_COLUMNS}) \
             SELECT ?1, c.id, c.email, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM contacts c \
             WHERE c.email_hash IN (?14, ?15) AND ?2 IS ?2 AND ?3 IS ?3 \
               AND (SELECT COUNT(*) FROM outbox WHERE mailbox_hash = ?11 AND kind = ?4 AND created_at > ?12) < ?13 \
             ORDER BY c.email_hash = ?14 DESC LIMIT 1"
        ),
        &args,
    )
}

/// The outbox newest first, strictly after the cursor `(?1, ?2)` = `(created_at, id)`, through
/// the `outbox_created` index: a page costs its own rows, never a sort of the whole table.
pub(crate) const LIST_SQL: &str =
    "SELECT id, to_email, kind, subject, body_text, url, unsubscribe_url, \
     preferences_url, created_at, sent_at, attempts FROM outbox \
     WHERE (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3";

/// [`LIST_SQL`] for one recipient `?4` whose mailbox HMAC is `?5`: the few messages of that
/// mailbox (`outbox_mailbox`), and those written before every message carried the HMAC
/// (`outbox_legacy_to`).
pub(crate) const LIST_TO_SQL: &str =
    "SELECT id, to_email, kind, subject, body_text, url, unsubscribe_url, \
     preferences_url, created_at, sent_at, attempts FROM outbox \
     WHERE ((mailbox_hash = ?5 AND to_email = ?4) OR (mailbox_hash IS NULL AND to_email = ?4)) \
       AND (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3";

/// The cursor of the first page: after no message.
const BEFORE_ALL: (&str, &str) = ("9999-12-31T23:59:59.999Z", "~");

/// A recipient to list the messages of: the normalized address and its mailbox HMAC.
pub struct Recipient<'a> {
    pub address: &'a str,
    pub mailbox_hash: &'a str,
}

/// Newest first, a page of `limit` after `after` (none: from the newest); `to` is one recipient
/// or none for every recipient.
pub async fn list(
    db: &Db,
    to: Option<&Recipient<'_>>,
    after: Option<&Cursor>,
    limit: u32,
) -> AppResult<Vec<OutboxMessage>> {
    let (at, id) = after.map_or(BEFORE_ALL, |c| (c.at.as_str(), c.id.as_str()));
    let mut args = vec![Arg::Text(at), Arg::Text(id), Arg::Int(i64::from(limit))];
    let sql = match to {
        Some(to) => {
            args.push(Arg::Text(to.address));
            args.push(Arg::Text(to.mailbox_hash));
            LIST_TO_SQL
        }
        None => LIST_SQL,
    };
    let rows: Vec<OutboxRow> = all(db, sql, &args).await?;
    Ok(rows.into_iter().map(OutboxMessage::from).collect())
}

/// Why a delivery claim did not return a message.
pub enum Claim {
    /// Ours to deliver now; `attempts` counts this try.
    Claimed {
        message: Box<OutboxMessage>,
        attempts: u32,
    },
    /// Sent already or gone (erased): nothing to do.
    Settled,
    /// Another attempt holds it, or its backoff has not elapsed: try again at `not_before`.
    Busy { not_before: String },
}

#[derive(Deserialize)]
struct StateRow {
    id: String,
    sent_at: Option<String>,
    next_attempt_at: Option<String>,
}

/// Takes a lease on each unsent message of `ids` (at most [`crate::store::LOOKUP_CHUNK`]) so
/// that concurrent deliveries (queue redelivery, the sweeper) cannot both send one. The lease
/// lasts until `lease_until`. One statement for all of them, and one more only when some were
/// not claimed (to tell a busy message from a settled one): a batch of 25 emails costs the
/// queue's invocation two queries, not fifty. The claims come back in the order of `ids`.
pub async fn claim_all(
    db: &Db,
    ids: &[&str],
    now: &str,
    lease_until: &str,
) -> AppResult<Vec<Claim>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders_after(2, ids.len());
    let mut args = vec![Arg::Text(now), Arg::Text(lease_until)];
    args.extend(ids.iter().map(|id| Arg::Text(id)));
    let claimed: Vec<OutboxRow> = all(
        db,
        &format!(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2 \
             WHERE id IN ({list}) AND sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
             RETURNING {COLUMNS}"
        ),
        &args,
    )
    .await?;
    let mut claimed: std::collections::HashMap<String, OutboxRow> =
        claimed.into_iter().map(|r| (r.id.clone(), r)).collect();
    let missing: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !claimed.contains_key(*id))
        .collect();
    let states: std::collections::HashMap<String, StateRow> = if missing.is_empty() {
        std::collections::HashMap::new()
    } else {
        crate::store::all_in::<StateRow>(
            db,
            "SELECT id, sent_at, next_attempt_at FROM outbox WHERE id IN ({})",
            &missing,
        )
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect()
    };
    Ok(ids
        .iter()
        .map(|id| match claimed.remove(*id) {
            Some(row) => {
                let attempts = u32::try_from(row.attempts.max(0)).unwrap_or(u32::MAX);
                Claim::Claimed {
                    message: Box::new(row.into()),
                    attempts,
                }
            }
            None => match states.get(*id) {
                Some(StateRow {
                    sent_at: None,
                    next_attempt_at: Some(t),
                    ..
                }) => Claim::Busy {
                    not_before: t.clone(),
                },
                _ => Claim::Settled,
            },
        })
        .collect())
}

/// Delivered: the body and every live link are dropped, the metadata stays for the audit. One
/// statement for every message of a delivery chunk that went out (at most
/// [`LOOKUP_CHUNK`](super::LOOKUP_CHUNK) ids), so a busy queue batch costs one write, not one
/// per email.
pub fn mark_sent_statement(db: &Db, ids: &[&str], at: &str) -> AppResult<D1PreparedStatement> {
    let (sql, args) = mark_sent_plan(ids, at);
    statement(db, &sql, &args)
}

/// [`mark_sent_statement`] as SQL and arguments, run on SQLite by a unit test.
fn mark_sent_plan<'a>(ids: &[&'a str], at: &'a str) -> (String, Vec<Arg<'a>>) {
    let list = placeholders_after(1, ids.len());
    let mut args = vec![Arg::Text(at)];
    args.extend(ids.iter().map(|id| Arg::Text(id)));
    (
        format!(
            "UPDATE outbox SET sent_at = ?1, next_attempt_at = NULL, last_error = NULL, \
               body_text = '', url = NULL, unsubscribe_url = NULL, preferences_url = NULL \
             WHERE id IN ({list}) AND sent_at IS NULL"
        ),
        args,
    )
}

/// A failed attempt (a status code or transport error, never the payload) and when the next one
/// may start.
pub fn mark_failed_statement(
    db: &Db,
    id: &str,
    error: &str,
    next_attempt_at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE outbox SET last_error = ?2, next_attempt_at = ?3 WHERE id = ?1 AND sent_at IS NULL",
        &[Arg::Text(id), Arg::Text(error), Arg::Text(next_attempt_at)],
    )
}

/// Where the retry sweep stands: the last message it handed back, in `outbox_created` order.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SweepCursor {
    pub created_at: String,
    pub id: String,
}

impl SweepCursor {
    /// `created_at id`, as a daily job's cursor carries it (neither holds a space).
    pub fn encode(&self) -> String {
        format!("{} {}", self.created_at, self.id)
    }

    /// A cursor from [`Self::encode`]; anything else starts from the oldest message.
    pub fn decode(raw: &str) -> SweepCursor {
        raw.split_once(' ')
            .map(|(created_at, id)| SweepCursor {
                created_at: created_at.to_string(),
                id: id.to_string(),
            })
            .unwrap_or_default()
    }
}

/// Unsent messages whose lease or backoff has run out, after `after` in (created_at, id)
/// order (a keyset page over `outbox_created`, which spans the 30 days of mail the outbox
/// keeps): the sweeper hands them back to the queue.
pub async fn stragglers(
    db: &Db,
    now: &str,
    created_before: &str,
    after: &SweepCursor,
    limit: u32,
) -> AppResult<Vec<SweepCursor>> {
    all(
        db,
        "SELECT created_at, id FROM outbox WHERE sent_at IS NULL AND created_at < ?2 \
         AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) AND (created_at, id) > (?3, ?4) \
         ORDER BY created_at, id LIMIT ?5",
        &[
            Arg::Text(now),
            Arg::Text(created_before),
            Arg::Text(&after.created_at),
            Arg::Text(&after.id),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

/// Up to `limit` messages never delivered and created before `before`: their links expired long
/// ago, and the address (an erased person's, for an erasure notice) must not stay for ever
/// (index `outbox_created`: what is older than 30 days is at most a day's mail).
pub fn purge_undelivered_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
           WHERE sent_at IS NULL AND created_at < ?1 LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}

/// Up to `limit` delivered messages created before `before`: the delivery record (metadata only;
/// body and links went at delivery) is kept 30 days. Counted from creation, through
/// `outbox_created`: an index on the delivery time would cost every delivery one more row
/// written, and a message is delivered within its backoff of being written.
pub fn purge_delivered_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
           WHERE created_at < ?1 AND sent_at IS NOT NULL LIMIT ?2)",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{fresh_database, run};

    /// A delivery chunk's sent emails are marked in one statement: every one named, none other,
    /// and one already marked keeps the time it was first sent.
    #[test]
    fn one_statement_marks_every_sent_email_of_a_chunk_and_only_those() {
        let db = fresh_database();
        for (id, sent) in [
            ("m1", None),
            ("m2", None),
            ("m3", None),
            ("m4", Some("2026-01-01")),
        ] {
            db.execute(
                "INSERT INTO outbox (id, to_email, kind, subject, body_text, url, created_at, sent_at, mailbox_hash) \
                 VALUES (?1, 'a@example.com', 'confirm', 'S', 'open https://x/c?t=LIVE', 'https://x/c?t=LIVE', '2026-01-01', ?2, 'mb')",
                rusqlite::params![id, sent],
            )
            .expect("seed");
        }
        let (sql, args) = mark_sent_plan(&["m1", "m3", "m4"], "2026-02-01");
        assert_eq!(run(&db, &[(sql.as_str(), args)]), vec![2]);
        let rows: Vec<(String, Option<String>, String)> = db
            .prepare("SELECT id, sent_at, body_text FROM outbox ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let sent = |s: &str| Some(s.to_string());
        assert_eq!(
            rows,
            vec![
                ("m1".into(), sent("2026-02-01"), String::new()),
                ("m2".into(), None, "open https://x/c?t=LIVE".into()),
                ("m3".into(), sent("2026-02-01"), String::new()),
                (
                    "m4".into(),
                    sent("2026-01-01"),
                    "open https://x/c?t=LIVE".into()
                ),
            ]
        );
    }
}
