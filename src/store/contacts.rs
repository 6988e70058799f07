//! `contacts`, `contact_attributes` and `suppressions`: the people in the base.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::email::EmailHashes;
use crate::domain::form::ContactFields;
use crate::domain::signup::ContactStatus;
use crate::error::AppResult;
use crate::store::{all, all_in, first, js_int, statement, Arg};

/// One `contacts` row as documents and flows read it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContactRow {
    pub id: String,
    pub email: String,
    /// The profile columns, the same ones a form or an import writes.
    #[serde(flatten)]
    pub fields: ContactFields,
    pub preferred_channel: String,
    pub status: ContactStatus,
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    pub last_activity_at: Option<String>,
    /// When the person last confirmed or edited their profile (a freshness request goes out
    /// when this grows old).
    #[serde(default)]
    pub data_confirmed_at: Option<String>,
    /// Signed links carry it; moving it on revokes them all. Internal: never in a document.
    #[serde(default, skip_serializing, deserialize_with = "js_int::int")]
    pub link_epoch: i64,
}

const COLUMNS: &str =
    "id, email, name, phone, locale, country, city, birth_date, gender, preferred_channel, \
                       status, source, created_at, updated_at, confirmed_at, last_activity_at, data_confirmed_at, link_epoch";

#[derive(Debug, Deserialize)]
pub struct ContactState {
    pub id: String,
    pub status: ContactStatus,
}

/// The current hash first, then the one an earlier release may have stored (IDN domains).
fn hash_args(hashes: &EmailHashes) -> [Arg<'_>; 2] {
    [
        Arg::Text(&hashes.current),
        Arg::Text(hashes.legacy.as_deref().unwrap_or(&hashes.current)),
    ]
}

/// The contact of the token `?1` that this batch consumed at `?2` (none if it was not).
pub fn of_consumed_token_statement(
    db: &Db,
    token_hash: &str,
    used_at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        &format!(
            "SELECT {COLUMNS} FROM contacts WHERE id = \
             (SELECT contact_id FROM tokens WHERE hash = ?1 AND used_at = ?2)"
        ),
        &[Arg::Text(token_hash), Arg::Text(used_at)],
    )
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<ContactRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM contacts WHERE id = ?1"),
        &[Arg::Text(id)],
    )
    .await
}

pub async fn find_by_email_hash(db: &Db, hashes: &EmailHashes) -> AppResult<Option<ContactRow>> {
    first(db, &by_email_hash_sql(), &hash_args(hashes)).await
}

fn by_email_hash_sql() -> String {
    format!("SELECT {COLUMNS} FROM contacts WHERE email_hash IN (?1, ?2) ORDER BY email_hash = ?1 DESC LIMIT 1")
}

/// [`find_by_email_hash`] as a statement, for a batch; [`found`] reads its result.
pub fn find_by_email_hash_statement(
    db: &Db,
    hashes: &EmailHashes,
) -> AppResult<D1PreparedStatement> {
    statement(db, &by_email_hash_sql(), &hash_args(hashes))
}

/// The contact in a result of [`find_by_email_hash_statement`].
pub fn found(result: &worker::D1Result) -> AppResult<Option<ContactRow>> {
    crate::store::decode_first(result)
}

/// What the base knows about an address: its contact (if any) and whether it is suppressed.
#[derive(Debug)]
pub struct Known {
    pub contact: Option<ContactState>,
    pub suppressed: bool,
}

#[derive(Deserialize)]
struct KnownRow {
    id: Option<String>,
    status: Option<ContactStatus>,
    #[serde(deserialize_with = "js_int::int")]
    suppressed: i64,
}

impl KnownRow {
    fn into_known(self) -> Known {
        Known {
            contact: self
                .id
                .zip(self.status)
                .map(|(id, status)| ContactState { id, status }),
            suppressed: self.suppressed != 0,
        }
    }
}

/// [`Known`] about an address in one statement, for a read batch: always one row, so a known
/// and an unknown address cost the same reads.
pub fn known_statement(db: &Db, hashes: &EmailHashes) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "SELECT c.id, c.status, \
           EXISTS (SELECT 1 FROM suppressions WHERE email_hash IN (?1, ?2)) AS suppressed \
         FROM (SELECT 1) LEFT JOIN (SELECT id, status FROM contacts WHERE email_hash IN (?1, ?2) \
           ORDER BY email_hash = ?1 DESC LIMIT 1) AS c",
        &hash_args(hashes),
    )
}

/// The [`Known`] in a result of [`known_statement`].
pub fn known_from(result: &worker::D1Result) -> AppResult<Known> {
    Ok(crate::store::decode_first::<KnownRow>(result)?.map_or(
        Known {
            contact: None,
            suppressed: false,
        },
        KnownRow::into_known,
    ))
}

/// Whether a D1 error is an insert losing the race for an address to another one (the unique
/// `contacts_email_hash`).
pub fn is_duplicate_address(error: &crate::error::AppError) -> bool {
    matches!(error, crate::error::AppError::Internal(detail)
        if detail.contains("UNIQUE constraint failed: contacts.email_hash"))
}

/// [`Known`] about an address, on its own.
pub async fn known(db: &Db, hashes: &EmailHashes) -> AppResult<Known> {
    let result = crate::store::batch_results(db, vec![known_statement(db, hashes)?]).await?;
    match result.first() {
        Some(r) => known_from(r),
        None => Err(crate::error::AppError::internal("known", "no result")),
    }
}

/// The profile columns of [`ContactFields`] as bindings, in the order every statement here
/// lists them: name, phone, locale, country, city, birth_date, gender.
fn field_args(f: &ContactFields) -> [Arg<'_>; 7] {
    [
        Arg::OptText(f.name.as_deref()),
        Arg::OptText(f.phone.as_deref()),
        Arg::OptText(f.locale.as_deref()),
        Arg::OptText(f.country.as_deref()),
        Arg::OptText(f.city.as_deref()),
        Arg::OptText(f.birth_date.as_deref()),
        Arg::OptText(f.gender.as_deref()),
    ]
}

/// `SET` clauses that overwrite the profile columns a statement carries (`?2` to `?8`, in the
/// order of [`field_args`]) and keep the others.
const SET_FIELDS: &str = "name = COALESCE(?2, name), phone = COALESCE(?3, phone), locale = COALESCE(?4, locale), \
     country = COALESCE(?5, country), city = COALESCE(?6, city), birth_date = COALESCE(?7, birth_date), \
     gender = COALESCE(?8, gender)";

pub struct NewContact<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub email_hash: &'a str,
    pub fields: &'a ContactFields,
    pub status: ContactStatus,
    pub source: &'a str,
    pub at: &'a str,
    /// The person's last known act when it is older than the insert itself (an import knows
    /// when they consented): the clock a lapsing consent and a freshness request run on.
    pub active_at: Option<&'a str>,
}

pub fn insert_statement(db: &Db, c: &NewContact<'_>) -> AppResult<D1PreparedStatement> {
    let active = c.status == ContactStatus::Active;
    statement(
        db,
        "INSERT INTO contacts (id, email, email_hash, name, phone, locale, country, city, birth_date, gender, \
           status, source, created_at, updated_at, confirmed_at, last_activity_at, data_confirmed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, COALESCE(?15, ?13), \
           CASE WHEN ?14 IS NULL THEN NULL ELSE COALESCE(?15, ?14) END)",
        &[Arg::Text(c.id), Arg::Text(c.email), Arg::Text(c.email_hash)]
            .into_iter()
            .chain(field_args(c.fields))
            .chain([
                Arg::Text(c.status.as_str()),
                Arg::Text(c.source),
                Arg::Text(c.at),
                Arg::OptText(active.then_some(c.at)),
                Arg::OptText(c.active_at),
            ])
            .collect::<Vec<_>>(),
    )
}

/// Overwrites the columns the submission carries, leaving the others as they are.
pub fn update_fields_statement(
    db: &Db,
    id: &str,
    f: &ContactFields,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        &format!("UPDATE contacts SET {SET_FIELDS}, updated_at = ?9 WHERE id = ?1"),
        &std::iter::once(Arg::Text(id))
            .chain(field_args(f))
            .chain([Arg::Text(at)])
            .collect::<Vec<_>>(),
    )
}

/// Double opt-in confirmed: the contact becomes active (an unsubscribed one re-subscribes).
pub fn activate_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET status = 'active', confirmed_at = COALESCE(confirmed_at, ?2), data_confirmed_at = ?2, \
           freshness_asked_at = NULL, last_activity_at = ?2, updated_at = ?2 WHERE id = ?1",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

pub fn upsert_attribute_statement(
    db: &Db,
    contact_id: &str,
    key: &str,
    value_json: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO contact_attributes (contact_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (contact_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[Arg::Text(contact_id), Arg::Text(key), Arg::Text(value_json), Arg::Text(at)],
    )
}

#[derive(Debug, Deserialize, Serialize)]
pub struct AttributeRow {
    pub key: String,
    pub value: String,
    pub updated_at: String,
}

pub async fn attributes(db: &Db, contact_id: &str) -> AppResult<Vec<AttributeRow>> {
    all(
        db,
        "SELECT key, value, updated_at FROM contact_attributes WHERE contact_id = ?1 ORDER BY key",
        &[Arg::Text(contact_id)],
    )
    .await
}

/// A person who erased their data and then confirmed a new signup is a member again (under
/// either hash of their address).
pub fn lift_suppression_statement(db: &Db, hashes: &EmailHashes) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "DELETE FROM suppressions WHERE email_hash IN (?1, ?2)",
        &hash_args(hashes),
    )
}

#[derive(Debug, Clone, Deserialize)]
pub struct KnownContact {
    pub id: String,
    pub email_hash: String,
    pub status: ContactStatus,
}

/// The contacts among these email hashes (at most [`crate::store::LOOKUP_CHUNK`] per call).
pub async fn known_by_email_hashes(db: &Db, hashes: &[&str]) -> AppResult<Vec<KnownContact>> {
    all_in(db, KNOWN_BY_EMAIL_HASHES_SQL, hashes).await
}

/// [`known_by_email_hashes`] for [`crate::store::Reads::add_in`].
pub const KNOWN_BY_EMAIL_HASHES_SQL: &str =
    "SELECT id, email_hash, status FROM contacts WHERE email_hash IN ({})";

/// [`suppressed_among`] for [`crate::store::Reads::add_in`]; rows decode as [`SuppressedHash`].
pub const SUPPRESSED_AMONG_SQL: &str =
    "SELECT email_hash FROM suppressions WHERE email_hash IN ({})";

#[derive(Deserialize)]
pub struct SuppressedHash {
    pub email_hash: String,
}

/// Which of these email hashes are suppressed (at most [`crate::store::LOOKUP_CHUNK`] per call).
pub async fn suppressed_among(db: &Db, hashes: &[&str]) -> AppResult<Vec<String>> {
    let rows: Vec<SuppressedHash> = all_in(db, SUPPRESSED_AMONG_SQL, hashes).await?;
    Ok(rows.into_iter().map(|r| r.email_hash).collect())
}

/// An imported row for a known contact: fills the columns it carries. It never changes the
/// status: a pending contact stays pending until its owner confirms (a shop's file is no proof
/// that the person asked to join), and an unsubscribed one stays unsubscribed.
pub fn import_update_statement(
    db: &Db,
    id: &str,
    f: &ContactFields,
    preferred_channel: Option<&str>,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        &format!(
            "UPDATE contacts SET {SET_FIELDS}, preferred_channel = COALESCE(?9, preferred_channel), \
             updated_at = ?10 WHERE id = ?1"
        ),
        &std::iter::once(Arg::Text(id))
            .chain(field_args(f))
            .chain([Arg::OptText(preferred_channel), Arg::Text(at)])
            .collect::<Vec<_>>(),
    )
}

/// A new contact's preferred channel, when the import names one (the insert takes the default).
pub fn preferred_channel_statement(
    db: &Db,
    id: &str,
    channel: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET preferred_channel = ?2 WHERE id = ?1",
        &[Arg::Text(id), Arg::Text(channel)],
    )
}

/// "Sign out everywhere": every signed link of the contact stops verifying, every session ends,
/// and so does every sign-in link not used yet.
pub fn revoke_links_statements(
    db: &Db,
    contact_id: &str,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        statement(
            db,
            "UPDATE contacts SET link_epoch = link_epoch + 1, updated_at = ?2 WHERE id = ?1",
            &[Arg::Text(contact_id), Arg::Text(at)],
        )?,
        statement(
            db,
            "DELETE FROM tokens WHERE contact_id = ?1 AND purpose IN ('session', 'magic_link')",
            &[Arg::Text(contact_id)],
        )?,
    ])
}

/// An active profile nobody has confirmed for a long time, to be asked about once.
#[derive(Debug, Deserialize)]
pub struct StaleProfile {
    pub id: String,
    pub email: String,
    pub locale: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    pub link_epoch: i64,
}

/// Up to `limit` active profiles last confirmed before `before` and not yet asked whether they
/// are still right, oldest first (partial index `contacts_stale`: asking takes a row out).
pub async fn stale_profiles(db: &Db, before: &str, limit: u32) -> AppResult<Vec<StaleProfile>> {
    all(
        db,
        "SELECT id, email, locale, link_epoch FROM contacts \
         WHERE status = 'active' AND freshness_asked_at IS NULL AND data_confirmed_at IS NOT NULL \
           AND data_confirmed_at < ?1 \
         ORDER BY data_confirmed_at, id LIMIT ?2",
        &[Arg::Text(before), Arg::Int(i64::from(limit))],
    )
    .await
}

/// The one freshness email for the profile as it stands went out at `at`.
pub fn freshness_asked_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET freshness_asked_at = ?2 WHERE id = ?1 AND freshness_asked_at IS NULL",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

/// The person says their data is still right: the profile counts as confirmed now, and a
/// self-service act is engagement.
pub fn data_confirmed_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET data_confirmed_at = ?2, freshness_asked_at = NULL, last_activity_at = ?2, \
           updated_at = ?2 WHERE id = ?1",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

/// Something the person did themselves (a choice in the preference center, a renewal) is a
/// sign of engagement: it moves the clock a lapsing consent runs on.
pub fn visited_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET last_activity_at = ?2 \
         WHERE id = ?1 AND (last_activity_at IS NULL OR last_activity_at < ?2)",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

/// A lapsed marketing consent leaves the person `unsubscribed` (as a withdrawal in the
/// preference center does), without counting as activity.
pub fn lapse_marketing_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contacts SET status = 'unsubscribed', updated_at = ?2 WHERE id = ?1 AND status = 'active'",
        &[Arg::Text(id), Arg::Text(at)],
    )
}
