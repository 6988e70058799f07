//! `notices`: every notice text a person may be shown, word for word, keyed by the SHA-256 that
//! consent events record. Append-only: a text once archived is never changed or removed.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::consent::notice_hash;
use crate::error::AppResult;
use crate::store::{first, statement, Arg};

pub struct NewNotice<'a> {
    pub text: &'a str,
    pub locale: &'a str,
    pub purpose: Option<&'a str>,
    pub policy_version: Option<&'a str>,
    /// Where it is shown: a form id, a survey id, `preference_center`.
    pub source: &'a str,
    pub at: &'a str,
}

/// Archives the text unless it is there already; returns the statement and the hash.
pub fn archive_statement(db: &Db, n: &NewNotice<'_>) -> AppResult<(D1PreparedStatement, String)> {
    let sha256 = notice_hash(n.text);
    let insert = statement(
        db,
        "INSERT INTO notices (sha256, text, locale, purpose, policy_version, source, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (sha256) DO NOTHING",
        &[
            Arg::Text(&sha256),
            Arg::Text(n.text),
            Arg::Text(n.locale),
            Arg::OptText(n.purpose),
            Arg::OptText(n.policy_version),
            Arg::Text(n.source),
            Arg::Text(n.at),
        ],
    )?;
    Ok((insert, sha256))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct NoticeRow {
    pub sha256: String,
    pub text: String,
    pub locale: String,
    pub purpose: Option<String>,
    pub policy_version: Option<String>,
    pub source: String,
    pub created_at: String,
}

pub async fn find(db: &Db, sha256: &str) -> AppResult<Option<NoticeRow>> {
    first(
        db,
        "SELECT sha256, text, locale, purpose, policy_version, source, created_at FROM notices WHERE sha256 = ?1",
        &[Arg::Text(sha256)],
    )
    .await
}
