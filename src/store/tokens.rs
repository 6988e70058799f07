//! `tokens`: link tokens and sessions, stored as SHA-256 hashes; single-use ones are consumed
//! atomically so that concurrent clicks yield exactly one success.

use crate::store::Db;
use serde::Deserialize;
use worker::D1PreparedStatement;

use crate::error::AppResult;
use crate::store::{first, statement, Arg};

/// What a token row is for: the `purpose` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// A double opt-in link (single use, a week).
    Confirm,
    /// A sign-in link (single use, 30 minutes).
    MagicLink,
    /// A self-service session.
    Session,
    /// The "keep me subscribed" button of a re-permission email (single use, until the
    /// consent would lapse). Payload: `{"purpose": …}`.
    RePermission,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::MagicLink => "magic_link",
            TokenPurpose::Session => "session",
            TokenPurpose::RePermission => "re_permission",
        }
    }
}

pub struct NewToken<'a> {
    pub hash: &'a str,
    pub purpose: TokenPurpose,
    pub contact_id: &'a str,
    pub payload: Option<&'a str>,
    pub created_at: &'a str,
    pub expires_at: &'a str,
}

pub fn insert_statement(db: &Db, t: &NewToken<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO tokens (hash, purpose, contact_id, payload, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Arg::Text(t.hash),
            Arg::Text(t.purpose.as_str()),
            Arg::Text(t.contact_id),
            Arg::OptText(t.payload),
            Arg::Text(t.created_at),
            Arg::Text(t.expires_at),
        ],
    )
}

/// A token for message `message_id`'s contact (`t.contact_id` is not used), written only if
/// that message was (a capped email that did not go out leaves no live link behind), in the
/// same batch.
pub fn insert_for_message_statement(
    db: &Db,
    t: &NewToken<'_>,
    message_id: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO tokens (hash, purpose, contact_id, payload, created_at, expires_at) \
         SELECT ?1, ?2, contact_id, ?3, ?4, ?5 FROM outbox WHERE id = ?6",
        &[
            Arg::Text(t.hash),
            Arg::Text(t.purpose.as_str()),
            Arg::OptText(t.payload),
            Arg::Text(t.created_at),
            Arg::Text(t.expires_at),
            Arg::Text(message_id),
        ],
    )
}

#[derive(Debug, Deserialize)]
pub struct ConsumedToken {
    pub contact_id: String,
    pub payload: Option<String>,
}

/// A live token (unused, unexpired) of a purpose, as it is: read before spending it in a batch,
/// or by a page that shows what a button will do before it is pressed.
const LIVE_SQL: &str = "SELECT contact_id, payload FROM tokens \
     WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3";

const CONSUME_SQL: &str = "UPDATE tokens SET used_at = ?3 WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 \
     RETURNING contact_id, payload";

/// A token consumed and emptied at once, for a batch: the first statement reads what it
/// carries, the second marks it used and drops the payload in the same write (one row written,
/// not two), and returns a row only if this batch took it. Read [`taken`] from the results.
pub fn take_statements(
    db: &Db,
    hash: &str,
    purpose: TokenPurpose,
    now: &str,
) -> AppResult<[D1PreparedStatement; 2]> {
    let args = [Arg::Text(hash), Arg::Text(purpose.as_str()), Arg::Text(now)];
    Ok([
        statement(db, LIVE_SQL, &args)?,
        statement(
            db,
            "UPDATE tokens SET used_at = ?3, payload = NULL \
             WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 \
             RETURNING contact_id",
            &args,
        )?,
    ])
}

/// What [`take_statements`] took: the token as it was, if the update took it.
pub fn taken(read: &worker::D1Result, took: &worker::D1Result) -> AppResult<Option<ConsumedToken>> {
    #[derive(Deserialize)]
    struct Took {
        #[allow(dead_code)]
        contact_id: String,
    }
    if crate::store::decode::<Took>(took)?.is_empty() {
        return Ok(None);
    }
    crate::store::decode_first(read)
}

/// The token as it is, if it is live (unused, unexpired), without spending it: for a page that
/// shows what a button will do before it is pressed.
pub async fn peek(
    db: &Db,
    hash: &str,
    purpose: TokenPurpose,
    now: &str,
) -> AppResult<Option<ConsumedToken>> {
    first(
        db,
        LIVE_SQL,
        &[Arg::Text(hash), Arg::Text(purpose.as_str()), Arg::Text(now)],
    )
    .await
}

/// Marks the token used if it exists, has this purpose, is unused and unexpired — in one
/// statement, so only one of many simultaneous requests gets it.
pub async fn consume(
    db: &Db,
    hash: &str,
    purpose: TokenPurpose,
    now: &str,
) -> AppResult<Option<ConsumedToken>> {
    first(
        db,
        CONSUME_SQL,
        &[Arg::Text(hash), Arg::Text(purpose.as_str()), Arg::Text(now)],
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct SessionRow {
    pub contact_id: String,
    pub expires_at: String,
    /// JSON `{"scope":"preferences"|"full"}`; sessions from before scopes existed have none.
    pub payload: Option<String>,
}

/// The contact behind a live (unexpired, not ended) session.
pub async fn session(db: &Db, hash: &str, now: &str) -> AppResult<Option<SessionRow>> {
    first(
        db,
        "SELECT contact_id, expires_at, payload FROM tokens WHERE hash = ?1 AND purpose = 'session' AND used_at IS NULL AND expires_at > ?2",
        &[Arg::Text(hash), Arg::Text(now)],
    )
    .await
}

/// Up to `limit` expired tokens and sessions (`expires_at` at or before `now`): retention, one
/// bounded chunk per call. No index: the table holds days of tokens, and one read a day of it
/// costs less than an index entry on every token written.
pub fn purge_expired_plan(now: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM tokens WHERE hash IN \
           (SELECT hash FROM tokens WHERE expires_at <= ?1 LIMIT ?2)",
        vec![Arg::Text(now), Arg::Int(limit)],
    )
}

/// Up to `limit` tokens used (a link clicked, a session ended) before `used_before`, expired or
/// not (read like [`purge_expired_plan`]).
pub fn purge_used_plan(used_before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM tokens WHERE hash IN \
           (SELECT hash FROM tokens WHERE used_at < ?1 LIMIT ?2)",
        vec![Arg::Text(used_before), Arg::Int(limit)],
    )
}
