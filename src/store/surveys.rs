//! `surveys`, `survey_invitations`, `survey_responses`, and the survey facts of `contact_stats`.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::survey::{StoredResponse, SurveyDefinition};
use crate::error::{AppError, AppResult};
use crate::store::{all, first, js_int, statement, Arg};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SurveyRow {
    pub id: String,
    pub name: String,
    pub definition: String,
    pub created_at: String,
    pub updated_at: String,
}

impl SurveyRow {
    /// The stored definition: it was valid when saved, so failing to read it is a fault.
    pub fn definition(&self) -> AppResult<SurveyDefinition> {
        serde_json::from_str(&self.definition).map_err(|e| AppError::internal("stored survey", e))
    }
}

const SURVEY_COLUMNS: &str = "id, name, definition, created_at, updated_at";

pub fn insert_statement(
    db: &Db,
    id: &str,
    name: &str,
    definition_json: &str,
    expires_after_days: u32,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO surveys (id, name, definition, expires_after_days, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        &[
            Arg::Text(id),
            Arg::Text(name),
            Arg::Text(definition_json),
            Arg::Int(i64::from(expires_after_days)),
            Arg::Text(at),
        ],
    )
}

pub fn update_statement(
    db: &Db,
    id: &str,
    name: &str,
    definition_json: &str,
    expires_after_days: u32,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE surveys SET name = ?2, definition = ?3, expires_after_days = ?4, updated_at = ?5 WHERE id = ?1",
        &[
            Arg::Text(id),
            Arg::Text(name),
            Arg::Text(definition_json),
            Arg::Int(i64::from(expires_after_days)),
            Arg::Text(at),
        ],
    )
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<SurveyRow>> {
    first(
        db,
        &format!("SELECT {SURVEY_COLUMNS} FROM surveys WHERE id = ?1"),
        &[Arg::Text(id)],
    )
    .await
}

pub async fn list(db: &Db) -> AppResult<Vec<SurveyRow>> {
    all(
        db,
        &format!("SELECT {SURVEY_COLUMNS} FROM surveys ORDER BY created_at DESC LIMIT 500"),
        &[],
    )
    .await
}

pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub survey_id: &'a str,
    pub contact_id: &'a str,
    pub order_id: Option<&'a str>,
    pub token_hash: &'a str,
    pub created_at: &'a str,
    pub expires_at: &'a str,
}

pub fn insert_invitation_statement(
    db: &Db,
    i: &NewInvitation<'_>,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO survey_invitations (id, survey_id, contact_id, order_id, token_hash, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            Arg::Text(i.id),
            Arg::Text(i.survey_id),
            Arg::Text(i.contact_id),
            Arg::OptText(i.order_id),
            Arg::Text(i.token_hash),
            Arg::Text(i.created_at),
            Arg::Text(i.expires_at),
        ],
    )
}

#[derive(Debug, Deserialize)]
pub struct InvitationRow {
    pub id: String,
    pub survey_id: String,
    pub contact_id: Option<String>,
    pub expires_at: String,
    pub answered_at: Option<String>,
    pub locale: Option<String>,
}

/// The invitation a link token belongs to, with its contact's locale for the page.
pub async fn invitation_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> AppResult<Option<InvitationRow>> {
    first(
        db,
        "SELECT i.id, i.survey_id, i.contact_id, i.expires_at, i.answered_at, c.locale \
         FROM survey_invitations i LEFT JOIN contacts c ON c.id = i.contact_id WHERE i.token_hash = ?1",
        &[Arg::Text(token_hash)],
    )
    .await
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// The internal id of the shop's order `external_id`, if it exists.
pub async fn order_id_by_external_id(db: &Db, external_id: &str) -> AppResult<Option<String>> {
    let row: Option<IdRow> = first(
        db,
        "SELECT id FROM orders WHERE external_id = ?1",
        &[Arg::Text(external_id)],
    )
    .await?;
    Ok(row.map(|r| r.id))
}

pub struct NewResponse<'a> {
    pub id: &'a str,
    pub survey_id: &'a str,
    pub invitation_id: &'a str,
    pub contact_id: Option<&'a str>,
    pub answers_json: &'a str,
    pub nps: Option<u8>,
    pub nps_category: Option<&'a str>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub at: &'a str,
}

fn score(v: Option<u8>) -> Arg<'static> {
    v.map_or(Arg::Null, |n| Arg::Int(i64::from(n)))
}

/// The response and everything it moves, as one batch. The first statement inserts nothing
/// when the invitation already has an answer (two taps racing); every later statement only acts
/// when this response is the one stored, so the loser of a race changes nothing. The caller
/// reads the first statement's `changes` to tell the two apart.
pub fn record_response_statements(
    db: &Db,
    r: &NewResponse<'_>,
) -> AppResult<Vec<D1PreparedStatement>> {
    response_plan(r)
        .iter()
        .map(|(sql, args)| statement(db, sql, args))
        .collect()
}

/// [`record_response_statements`] as SQL and arguments, so the race it settles can be run on
/// SQLite in a unit test.
fn response_plan<'a>(r: &NewResponse<'a>) -> Vec<(&'static str, Vec<Arg<'a>>)> {
    let mut plan = vec![
        (
            "INSERT INTO survey_responses (id, survey_id, invitation_id, contact_id, answers, nps, csat, ces, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (invitation_id) DO NOTHING",
            vec![
                Arg::Text(r.id),
                Arg::Text(r.survey_id),
                Arg::Text(r.invitation_id),
                Arg::OptText(r.contact_id),
                Arg::Text(r.answers_json),
                score(r.nps),
                score(r.csat),
                score(r.ces),
                Arg::Text(r.at),
            ],
        ),
        (
            "UPDATE survey_invitations SET answered_at = ?2 WHERE id = ?1 AND answered_at IS NULL \
             AND EXISTS (SELECT 1 FROM survey_responses WHERE id = ?3)",
            vec![Arg::Text(r.invitation_id), Arg::Text(r.at), Arg::Text(r.id)],
        ),
    ];
    if let Some(contact_id) = r.contact_id {
        plan.push((
            "INSERT INTO contact_stats (contact_id, last_nps, nps_category, avg_csat, csat_count, updated_at) \
             SELECT ?1, ?2, ?3, ?4, CASE WHEN ?4 IS NULL THEN 0 ELSE 1 END, ?5 \
             WHERE EXISTS (SELECT 1 FROM survey_responses WHERE id = ?6) \
             ON CONFLICT (contact_id) DO UPDATE SET \
               last_nps = COALESCE(excluded.last_nps, contact_stats.last_nps), \
               nps_category = COALESCE(excluded.nps_category, contact_stats.nps_category), \
               avg_csat = CASE WHEN excluded.avg_csat IS NULL THEN contact_stats.avg_csat \
                 ELSE (COALESCE(contact_stats.avg_csat, 0) * contact_stats.csat_count + excluded.avg_csat) \
                      / (contact_stats.csat_count + 1) END, \
               csat_count = contact_stats.csat_count + excluded.csat_count, \
               updated_at = excluded.updated_at",
            vec![
                Arg::Text(contact_id),
                score(r.nps),
                Arg::OptText(r.nps_category),
                score(r.csat),
                Arg::Text(r.at),
                Arg::Text(r.id),
            ],
        ));
        plan.push((
            "UPDATE contacts SET last_activity_at = ?2 WHERE id = ?1 \
             AND EXISTS (SELECT 1 FROM survey_responses WHERE id = ?3)",
            vec![Arg::Text(contact_id), Arg::Text(r.at), Arg::Text(r.id)],
        ));
    }
    plan
}

#[derive(Deserialize)]
struct CountRow {
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

pub async fn invited_count(db: &Db, survey_id: &str) -> AppResult<u64> {
    let row: Option<CountRow> = first(
        db,
        "SELECT COUNT(*) AS n FROM survey_invitations WHERE survey_id = ?1",
        &[Arg::Text(survey_id)],
    )
    .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
}

#[derive(Debug, Deserialize)]
pub struct ResponseRow {
    pub id: String,
    pub answers: String,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub nps: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub csat: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub ces: Option<i64>,
    pub created_at: String,
}

impl ResponseRow {
    /// The answer as the results maths reads it (a stored answer that no longer parses is null).
    pub fn to_stored(&self) -> StoredResponse {
        StoredResponse {
            answers: serde_json::from_str(&self.answers).unwrap_or(serde_json::Value::Null),
            nps: self.nps,
            csat: self.csat,
            ces: self.ces,
        }
    }
}

/// Responses of a survey in answer order, after `after_id` (keyset paging for exports).
pub async fn responses_page(
    db: &Db,
    survey_id: &str,
    after_id: &str,
    limit: u32,
) -> AppResult<Vec<ResponseRow>> {
    all(
        db,
        "SELECT id, answers, nps, csat, ces, created_at FROM survey_responses \
         WHERE survey_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        &[
            Arg::Text(survey_id),
            Arg::Text(after_id),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

/// Every response of a survey in answer order, read `page_size` at a time.
pub async fn all_responses(
    db: &Db,
    survey_id: &str,
    page_size: usize,
) -> AppResult<Vec<ResponseRow>> {
    let mut rows = Vec::new();
    let mut after = String::new();
    loop {
        let page = responses_page(db, survey_id, &after, page_size as u32).await?;
        let done = page.len() < page_size;
        if let Some(last) = page.last() {
            after = last.id.clone();
        }
        rows.extend(page);
        if done {
            return Ok(rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{fresh_database, run};

    fn tap<'a>(id: &'a str, nps: u8, csat: u8, at: &'a str) -> NewResponse<'a> {
        NewResponse {
            id,
            survey_id: "srv_1",
            invitation_id: "inv_1",
            contact_id: Some("c1"),
            answers_json: "{}",
            nps: Some(nps),
            nps_category: Some(if nps >= 9 { "promoter" } else { "detractor" }),
            csat: Some(csat),
            ces: None,
            at,
        }
    }

    /// Two taps on one link whose look-ups both found it open: the batch that comes second
    /// stores nothing and moves no score, so the person's stats are the first answer's.
    #[test]
    fn the_losing_tap_of_a_race_changes_nothing() {
        let db = fresh_database();
        db.execute_batch(
            "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
               VALUES ('c1', 'a@example.com', 'h1', 'active', 'import', '2026-01-01', '2026-01-01'); \
             INSERT INTO surveys (id, name, definition, created_at, updated_at) \
               VALUES ('srv_1', 'S', '{}', '2026-01-01', '2026-01-01'); \
             INSERT INTO survey_invitations (id, survey_id, contact_id, token_hash, created_at, expires_at) \
               VALUES ('inv_1', 'srv_1', 'c1', 't1', '2026-01-01', '2099-01-01');",
        )
        .expect("seed");
        let first = run(&db, &response_plan(&tap("r1", 10, 5, "2026-02-01")));
        let second = run(&db, &response_plan(&tap("r2", 0, 1, "2026-02-02")));
        assert_eq!(first[0], 1, "the first tap is stored");
        assert_eq!(second, vec![0, 0, 0, 0], "the second tap changed rows");
        let (last_nps, avg_csat, count, activity): (i64, f64, i64, String) = db
            .query_row(
                "SELECT s.last_nps, s.avg_csat, s.csat_count, c.last_activity_at \
                 FROM contact_stats s JOIN contacts c ON c.id = s.contact_id WHERE s.contact_id = 'c1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("stats");
        assert_eq!((last_nps, avg_csat, count), (10, 5.0, 1));
        assert_eq!(activity, "2026-02-01");
        let answered: String = db
            .query_row(
                "SELECT answered_at FROM survey_invitations WHERE id = 'inv_1'",
                [],
                |r| r.get(0),
            )
            .expect("invitation");
        assert_eq!(answered, "2026-02-01");
    }
}
