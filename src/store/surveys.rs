//! `surveys`, `survey_invitations`, `survey_responses`, and the survey facts of `contact_stats`.

use crate::store::Db;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use crate::domain::survey::{
    ChoiceTally, QuestionType, ResultTotals, ScoreTally, StoredResponse, SurveyDefinition,
};
use crate::error::{AppError, AppResult};
use crate::store::{all, all_in, first, js_int, statement, Arg};

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
    /// When its one reminder is due (an emailed invitation to a survey with reminders).
    pub remind_at: Option<&'a str>,
}

pub fn insert_invitation_statement(
    db: &Db,
    i: &NewInvitation<'_>,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO survey_invitations (id, survey_id, contact_id, order_id, token_hash, created_at, expires_at, remind_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            Arg::Text(i.id),
            Arg::Text(i.survey_id),
            Arg::Text(i.contact_id),
            Arg::OptText(i.order_id),
            Arg::Text(i.token_hash),
            Arg::Text(i.created_at),
            Arg::Text(i.expires_at),
            Arg::OptText(i.remind_at),
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
/// The invitation behind a link and its survey, in one round trip (a batch of two look-ups).
pub async fn invitation_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> AppResult<Option<(InvitationRow, Option<SurveyRow>)>> {
    let results = crate::store::batch_results(
        db,
        vec![
            statement(
                db,
                "SELECT i.id, i.survey_id, i.contact_id, i.expires_at, i.answered_at, c.locale \
                 FROM survey_invitations i LEFT JOIN contacts c ON c.id = i.contact_id \
                 WHERE i.token_hash = ?1 OR i.reminder_token_hash = ?1",
                &[Arg::Text(token_hash)],
            )?,
            statement(
                db,
                &format!(
                    "SELECT {SURVEY_COLUMNS} FROM surveys WHERE id = \
                     (SELECT survey_id FROM survey_invitations \
                      WHERE token_hash = ?1 OR reminder_token_hash = ?1)"
                ),
                &[Arg::Text(token_hash)],
            )?,
        ],
    )
    .await?;
    let invitation = match results.first() {
        Some(r) => crate::store::decode_first::<InvitationRow>(r)?,
        None => None,
    };
    let survey = match results.get(1) {
        Some(r) => crate::store::decode_first::<SurveyRow>(r)?,
        None => None,
    };
    Ok(invitation.map(|i| (i, survey)))
}

/// An order an invitation may be about: its internal id by the shop's `external_id`.
#[derive(Debug, Deserialize)]
pub struct OrderRef {
    pub id: String,
    pub external_id: String,
}

/// The orders among these external ids (at most [`crate::store::LOOKUP_CHUNK`] per call).
pub async fn orders_by_external_id(db: &Db, external_ids: &[&str]) -> AppResult<Vec<OrderRef>> {
    all_in(
        db,
        "SELECT id, external_id FROM orders WHERE external_id IN ({})",
        external_ids,
    )
    .await
}

/// What an invitation needs of a known contact: where to write, the link epoch and the locale
/// of the email, and the hash it was found by.
#[derive(Debug, Clone, Deserialize)]
pub struct InviteeRow {
    pub id: String,
    pub email: String,
    pub email_hash: String,
    pub locale: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    pub link_epoch: i64,
}

const INVITEE_COLUMNS: &str = "id, email, email_hash, locale, link_epoch";

/// The contacts among these email hashes (at most [`crate::store::LOOKUP_CHUNK`] per call).
pub async fn invitees_by_email_hash(db: &Db, hashes: &[&str]) -> AppResult<Vec<InviteeRow>> {
    all_in(
        db,
        &format!("SELECT {INVITEE_COLUMNS} FROM contacts WHERE email_hash IN ({{}})"),
        hashes,
    )
    .await
}

/// The contacts among these ids (at most [`crate::store::LOOKUP_CHUNK`] per call).
pub async fn invitees_by_id(db: &Db, ids: &[&str]) -> AppResult<Vec<InviteeRow>> {
    all_in(
        db,
        &format!("SELECT {INVITEE_COLUMNS} FROM contacts WHERE id IN ({{}})"),
        ids,
    )
    .await
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
    /// The respondent's temperature after answering
    /// ([`temperature_on_activity`](crate::domain::segment::temperature_on_activity)).
    pub temperature: &'a str,
}

fn score(v: Option<u8>) -> Arg<'static> {
    v.map_or(Arg::Null, |n| Arg::Int(i64::from(n)))
}

/// The response and everything it moves, as one batch. The first statement marks the
/// invitation answered, by this response, only when it has no answer yet (two taps racing:
/// the first to commit wins); every later statement only acts when the invitation names this
/// response, so the loser of a race changes nothing. The caller reads the first statement's
/// `changes` to tell the two apart.
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
    // `?1` is always the invitation and `?2` the response in the guard of each statement.
    let mut plan = vec![
        (
            "UPDATE survey_invitations SET answered_at = ?3, response_id = ?2 \
             WHERE id = ?1 AND answered_at IS NULL",
            vec![Arg::Text(r.invitation_id), Arg::Text(r.id), Arg::Text(r.at)],
        ),
        (
            "INSERT INTO survey_responses (id, survey_id, invitation_id, contact_id, answers, nps, csat, ces, created_at) \
             SELECT ?2, ?3, ?1, ?4, ?5, ?6, ?7, ?8, ?9 \
             WHERE EXISTS (SELECT 1 FROM survey_invitations WHERE id = ?1 AND response_id = ?2)",
            vec![
                Arg::Text(r.invitation_id),
                Arg::Text(r.id),
                Arg::Text(r.survey_id),
                Arg::OptText(r.contact_id),
                Arg::Text(r.answers_json),
                score(r.nps),
                score(r.csat),
                score(r.ces),
                Arg::Text(r.at),
            ],
        ),
    ];
    if let Some(contact_id) = r.contact_id {
        plan.push((
            "INSERT INTO contact_stats (contact_id, last_nps, nps_category, avg_csat, csat_count, temperature, updated_at) \
             SELECT ?3, ?4, ?5, ?6, CASE WHEN ?6 IS NULL THEN 0 ELSE 1 END, ?8, ?7 \
             WHERE EXISTS (SELECT 1 FROM survey_invitations WHERE id = ?1 AND response_id = ?2) \
             ON CONFLICT (contact_id) DO UPDATE SET \
               temperature = excluded.temperature, \
               last_nps = COALESCE(excluded.last_nps, contact_stats.last_nps), \
               nps_category = COALESCE(excluded.nps_category, contact_stats.nps_category), \
               avg_csat = CASE WHEN excluded.avg_csat IS NULL THEN contact_stats.avg_csat \
                 ELSE (COALESCE(contact_stats.avg_csat, 0) * contact_stats.csat_count + excluded.avg_csat) \
                      / (contact_stats.csat_count + 1) END, \
               csat_count = contact_stats.csat_count + excluded.csat_count, \
               updated_at = excluded.updated_at",
            vec![
                Arg::Text(r.invitation_id),
                Arg::Text(r.id),
                Arg::Text(contact_id),
                score(r.nps),
                Arg::OptText(r.nps_category),
                score(r.csat),
                Arg::Text(r.at),
                Arg::Text(r.temperature),
            ],
        ));
        plan.push((
            "UPDATE contacts SET last_activity_at = ?4 WHERE id = ?3 \
             AND EXISTS (SELECT 1 FROM survey_invitations WHERE id = ?1 AND response_id = ?2)",
            vec![
                Arg::Text(r.invitation_id),
                Arg::Text(r.id),
                Arg::Text(contact_id),
                Arg::Text(r.at),
            ],
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

/// The results' counts over every response of a survey, in one pass of the survey's rows:
/// the twin of what [`SurveyDefinition::results`] counts in memory (scores out of range skipped).
const TOTALS_SQL: &str = "SELECT COUNT(*) AS responses, \
       COALESCE(SUM(nps BETWEEN 9 AND 10), 0) AS promoters, \
       COALESCE(SUM(nps BETWEEN 7 AND 8), 0) AS passives, \
       COALESCE(SUM(nps BETWEEN 0 AND 6), 0) AS detractors, \
       COALESCE(SUM(csat BETWEEN 1 AND 5), 0) AS csat_count, \
       COALESCE(SUM(CASE WHEN csat BETWEEN 1 AND 5 THEN csat END), 0) AS csat_sum, \
       COALESCE(SUM(csat BETWEEN 4 AND 5), 0) AS csat_satisfied, \
       COALESCE(SUM(ces BETWEEN 1 AND 7), 0) AS ces_count, \
       COALESCE(SUM(CASE WHEN ces BETWEEN 1 AND 7 THEN ces END), 0) AS ces_sum \
     FROM survey_responses WHERE survey_id = ?1";

/// Choice counts over every response: `?2` is `{question key: [option values]}`. An answer
/// counts when it is a string or an array (its string items) naming a current option, once per
/// option however often it repeats; a row whose `answers` is not JSON counts nowhere, as in
/// [`SurveyDefinition::choice_counts`]. Rows with a null `option` are each question's
/// `answered`: responses that picked at least one known option.
const CHOICES_SQL: &str = "WITH q AS (SELECT key AS qkey, '$.\"' || key || '\"' AS path, value AS options FROM json_each(?2)), \
     a AS (SELECT id, CASE WHEN json_valid(answers) THEN answers ELSE '{}' END AS doc \
       FROM survey_responses WHERE survey_id = ?1), \
     picks AS (SELECT DISTINCT a.id AS rid, q.qkey AS qkey, p.value AS v \
       FROM a CROSS JOIN q CROSS JOIN json_each(a.doc, q.path) AS p \
       WHERE json_type(a.doc, q.path) IN ('text', 'array') AND p.type = 'text' \
         AND p.value IN (SELECT o.value FROM json_each(q.options) AS o)) \
     SELECT qkey AS question, v AS option, COUNT(*) AS n FROM picks GROUP BY qkey, v \
     UNION ALL SELECT qkey, NULL, COUNT(DISTINCT rid) FROM picks GROUP BY qkey";

/// Each score column's answers by value, in one pass of the survey's rows: one row per
/// combination present (at most 11 × 5 × 7, and no more than the NPS scale when the survey scores
/// one thing); a value out of its scale reads as NULL, so it counts nowhere, as the in-memory
/// results skip it.
const SCORES_SQL: &str = "SELECT CASE WHEN nps BETWEEN 0 AND 10 THEN nps END AS nps, \
       CASE WHEN csat BETWEEN 1 AND 5 THEN csat END AS csat, \
       CASE WHEN ces BETWEEN 1 AND 7 THEN ces END AS ces, COUNT(*) AS n \
     FROM survey_responses WHERE survey_id = ?1 GROUP BY 1, 2, 3";

/// Answers per UTC day since `?3` (a `YYYY-MM-DD`). `?2` is the smallest response id of that
/// time (ids are UUID v7, so they sort by time): the read is a range of the primary key, the
/// last days' rows, however old the survey; `created_at` then picks the days exactly.
const DAYS_SQL: &str = "SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n \
     FROM survey_responses WHERE survey_id = ?1 AND id >= ?2 AND created_at >= ?3 \
     GROUP BY day";

/// The smallest UUID v7 (hyphenated, as response ids are written) minted at or after `at`,
/// less a minute: an id is minted just before its row's `created_at` is read, so the margin
/// keeps every answer of the first day inside the range.
fn v7_floor(at: chrono::DateTime<chrono::Utc>) -> String {
    let ms = u64::try_from((at - chrono::Duration::minutes(1)).timestamp_millis()).unwrap_or(0);
    format!("{:08x}-{:04x}", (ms >> 16) & 0xffff_ffff, ms & 0xffff)
}

/// `?2` of [`CHOICES_SQL`]: each choice question's key and option values.
fn choice_options(survey: &SurveyDefinition) -> String {
    let map: serde_json::Map<String, serde_json::Value> = survey
        .questions
        .iter()
        .filter(|q| q.kind.is_choice())
        .map(|q| {
            let values = q.options.iter().map(|o| o.value.clone().into()).collect();
            (q.key.clone(), serde_json::Value::Array(values))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[derive(Deserialize)]
struct TotalsRow {
    #[serde(deserialize_with = "js_int::int")]
    responses: i64,
    #[serde(deserialize_with = "js_int::int")]
    promoters: i64,
    #[serde(deserialize_with = "js_int::int")]
    passives: i64,
    #[serde(deserialize_with = "js_int::int")]
    detractors: i64,
    #[serde(deserialize_with = "js_int::int")]
    csat_count: i64,
    #[serde(deserialize_with = "js_int::int")]
    csat_sum: i64,
    #[serde(deserialize_with = "js_int::int")]
    csat_satisfied: i64,
    #[serde(deserialize_with = "js_int::int")]
    ces_count: i64,
    #[serde(deserialize_with = "js_int::int")]
    ces_sum: i64,
}

impl TotalsRow {
    fn totals(&self) -> ResultTotals {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        ResultTotals {
            responses: n(self.responses),
            promoters: n(self.promoters),
            passives: n(self.passives),
            detractors: n(self.detractors),
            csat_count: n(self.csat_count),
            csat_sum: n(self.csat_sum),
            csat_satisfied: n(self.csat_satisfied),
            ces_count: n(self.ces_count),
            ces_sum: n(self.ces_sum),
        }
    }
}

#[derive(Deserialize)]
struct TallyRow {
    question: String,
    option: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

#[derive(Deserialize)]
struct ScoreRow {
    #[serde(deserialize_with = "js_int::opt_int", default)]
    nps: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    csat: Option<i64>,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    ces: Option<i64>,
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

impl ScoreRow {
    /// The row's count under each score it holds (a combination row counts once per column).
    fn tallies(&self) -> impl Iterator<Item = ScoreTally> + '_ {
        let count = u64::try_from(self.n).unwrap_or(0);
        [
            (QuestionType::Nps, self.nps),
            (QuestionType::Csat, self.csat),
            (QuestionType::Ces, self.ces),
        ]
        .into_iter()
        .filter_map(move |(kind, v)| {
            let score = u8::try_from(v?).ok()?;
            Some(ScoreTally { kind, score, count })
        })
    }
}

#[derive(Deserialize)]
struct DayRow {
    day: String,
    #[serde(deserialize_with = "js_int::int")]
    n: i64,
}

impl TallyRow {
    fn tally(self) -> ChoiceTally {
        ChoiceTally {
            question: self.question,
            option: self.option,
            count: u64::try_from(self.n).unwrap_or(0),
        }
    }
}

/// What the results report counts, besides the days: totals, choice tallies, score tallies.
pub type Counted = (ResultTotals, Vec<ChoiceTally>, Vec<ScoreTally>);

/// Everything the results report counts, in three queries whatever the number of responses
/// (fewer when the survey has no choice or no score question, one before any answer).
pub async fn result_totals(
    db: &Db,
    survey_id: &str,
    survey: &SurveyDefinition,
) -> AppResult<Counted> {
    let totals: Option<TotalsRow> = first(db, TOTALS_SQL, &[Arg::Text(survey_id)]).await?;
    let totals = totals.map(|t| t.totals()).unwrap_or_default();
    if totals.responses == 0 {
        return Ok((totals, Vec::new(), Vec::new()));
    }
    let mut tallies = Vec::new();
    if survey.questions.iter().any(|q| q.kind.is_choice()) {
        let options = choice_options(survey);
        let rows: Vec<TallyRow> = all(
            db,
            CHOICES_SQL,
            &[Arg::Text(survey_id), Arg::Text(&options)],
        )
        .await?;
        tallies = rows.into_iter().map(TallyRow::tally).collect();
    }
    let mut scores = Vec::new();
    if survey.questions.iter().any(|q| q.kind.scale().is_some()) {
        let rows: Vec<ScoreRow> = all(db, SCORES_SQL, &[Arg::Text(survey_id)]).await?;
        scores = rows.iter().flat_map(ScoreRow::tallies).collect();
    }
    Ok((totals, tallies, scores))
}

/// Answers per UTC day from the day `since` (`YYYY-MM-DD` to count), reading only the rows
/// answered since then (a range of the survey's key).
pub async fn responses_per_day(
    db: &Db,
    survey_id: &str,
    since: chrono::NaiveDate,
) -> AppResult<std::collections::BTreeMap<String, u64>> {
    let start = since.and_time(chrono::NaiveTime::MIN).and_utc();
    let rows: Vec<DayRow> = all(
        db,
        DAYS_SQL,
        &[
            Arg::Text(survey_id),
            Arg::Text(&v7_floor(start)),
            Arg::Text(&since.format("%Y-%m-%d").to_string()),
        ],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.day, u64::try_from(r.n).unwrap_or(0)))
        .collect())
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
/// Every response of a survey, a keyset page per query, in at most `max_pages` queries: `None`
/// when there are more than that many pages can hold (the caller refuses rather than answer
/// part of them).
pub async fn all_responses(
    db: &Db,
    survey_id: &str,
    page_size: usize,
    max_pages: usize,
) -> AppResult<Option<Vec<ResponseRow>>> {
    let mut rows = Vec::new();
    let mut after = String::new();
    for _ in 0..max_pages {
        let page = responses_page(db, survey_id, &after, page_size as u32).await?;
        let done = page.len() < page_size;
        if let Some(last) = page.last() {
            after = last.id.clone();
        }
        rows.extend(page);
        if done {
            return Ok(Some(rows));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::survey::parse_definition;
    use crate::domain::time;
    use crate::store::sqlite::{fresh_database, run};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn survey() -> SurveyDefinition {
        parse_definition(&json!({
            "name": "After purchase",
            "questions": [
                {"key": "nps", "type": "nps", "text": {"en": "Recommend us?"}},
                {"key": "channel", "type": "single_choice", "text": {"en": "Where?"},
                 "options": [{"value": "web"}, {"value": "store"}]},
                {"key": "liked", "type": "multi_choice", "text": {"en": "Liked?"},
                 "options": [{"value": "price"}, {"value": "speed"}, {"value": "service"}]},
                {"key": "csat", "type": "csat", "text": {"en": "Satisfied?"}},
                {"key": "effort", "type": "ces", "text": {"en": "Easy?"}}
            ]
        }))
        .expect("survey")
    }

    /// A choice answer as stored, including what no longer parses as one: unknown options
    /// (removed by a PATCH), numbers, objects, repeats and nested arrays.
    fn choice_answer() -> impl Strategy<Value = Option<Value>> {
        let word = prop::sample::select(vec![
            "web", "store", "price", "speed", "service", "gone", "",
        ]);
        let item = prop_oneof![
            word.clone().prop_map(Value::from),
            (0i64..3).prop_map(Value::from),
            word.clone().prop_map(|w| json!([w])),
        ];
        prop_oneof![
            Just(None),
            word.prop_map(|w| Some(Value::from(w))),
            prop::collection::vec(item, 0..5).prop_map(|v| Some(Value::Array(v))),
            Just(Some(json!({"web": "web"}))),
            Just(Some(Value::Null)),
            (0i64..5).prop_map(|n| Some(Value::from(n))),
        ]
    }

    /// The `answers` text: an object of choice answers, or (rarely) what erasure or damage
    /// leaves: `{}`, a JSON value that is no object, text that is no JSON.
    fn answers_text() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (choice_answer(), choice_answer()).prop_map(|(channel, liked)| {
                let mut map = serde_json::Map::new();
                if let Some(v) = channel {
                    map.insert("channel".into(), v);
                }
                if let Some(v) = liked {
                    map.insert("liked".into(), v);
                }
                Value::Object(map).to_string()
            }),
            1 => prop::sample::select(vec!["{}", "[\"web\"]", "\"web\"", "{not json", ""])
                .prop_map(str::to_string),
        ]
    }

    fn score() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![Just(None), (-2i64..13).prop_map(Some), Just(Some(300))]
    }

    /// `answers` text and the nps, csat and ces columns of one response.
    type Row = (String, Option<i64>, Option<i64>, Option<i64>);

    fn response() -> impl Strategy<Value = Row> {
        (answers_text(), score(), score(), score())
    }

    /// Stores `rows` as responses of `srv_1` (and one of another survey, which must not count).
    fn stored(rows: &[Row]) -> rusqlite::Connection {
        let db = fresh_database();
        // The responses alone: surveys and invitations do not change what is counted.
        db.execute_batch("PRAGMA foreign_keys = OFF")
            .expect("pragma");
        let insert = |survey: &str, n: usize, answers: &str, scores: [Option<i64>; 3]| {
            db.execute(
                "INSERT INTO survey_responses (id, survey_id, invitation_id, answers, nps, csat, ces, created_at) \
                 VALUES (?1, ?2, ?1, ?3, ?4, ?5, ?6, '2026-01-01')",
                rusqlite::params![format!("r{n:04}"), survey, answers, scores[0], scores[1], scores[2]],
            )
            .expect("insert response");
        };
        for (n, (answers, nps, csat, ces)) in rows.iter().enumerate() {
            insert("srv_1", n, answers, [*nps, *csat, *ces]);
        }
        insert(
            "srv_2",
            rows.len(),
            r#"{"channel":"web"}"#,
            [Some(10), Some(5), Some(1)],
        );
        db
    }

    /// [`result_totals`] as D1 would answer it, run on SQLite.
    fn by_sql(db: &rusqlite::Connection, survey: &SurveyDefinition) -> Counted {
        let n = |v: i64| u64::try_from(v).expect("a count");
        let totals = db
            .query_row(TOTALS_SQL, ["srv_1"], |r| {
                Ok(ResultTotals {
                    responses: n(r.get(0)?),
                    promoters: n(r.get(1)?),
                    passives: n(r.get(2)?),
                    detractors: n(r.get(3)?),
                    csat_count: n(r.get(4)?),
                    csat_sum: n(r.get(5)?),
                    csat_satisfied: n(r.get(6)?),
                    ces_count: n(r.get(7)?),
                    ces_sum: n(r.get(8)?),
                })
            })
            .expect("totals");
        let mut query = db.prepare(CHOICES_SQL).expect("choices sql");
        let tallies = query
            .query_map(["srv_1".to_string(), choice_options(survey)], |r| {
                Ok(ChoiceTally {
                    question: r.get(0)?,
                    option: r.get(1)?,
                    count: n(r.get(2)?),
                })
            })
            .expect("choices")
            .collect::<Result<Vec<_>, _>>()
            .expect("choice rows");
        let mut query = db.prepare(SCORES_SQL).expect("scores sql");
        let scores = query
            .query_map(["srv_1"], |r| {
                Ok(ScoreRow {
                    nps: r.get(0)?,
                    csat: r.get(1)?,
                    ces: r.get(2)?,
                    n: r.get(3)?,
                })
            })
            .expect("scores")
            .collect::<Result<Vec<_>, _>>()
            .expect("score rows");
        (
            totals,
            tallies,
            scores.iter().flat_map(ScoreRow::tallies).collect(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The SQL aggregate behind the results endpoint says exactly what the in-memory
        /// results maths says over the same stored responses.
        #[test]
        fn sql_results_equal_the_in_memory_results(
            rows in prop::collection::vec(response(), 0..40),
            invited in 0u64..60,
        ) {
            let survey = survey();
            let db = stored(&rows);
            let (totals, tallies, scores) = by_sql(&db, &survey);
            let memory: Vec<StoredResponse> = rows
                .iter()
                .map(|(answers, nps, csat, ces)| ResponseRow {
                    id: String::new(),
                    answers: answers.clone(),
                    nps: *nps,
                    csat: *csat,
                    ces: *ces,
                    created_at: String::new(),
                }
                .to_stored())
                .collect();
            prop_assert_eq!(
                survey.results_from_totals(invited, &totals, &tallies, &scores),
                survey.results(invited, &memory),
                "rows {:?}", rows
            );
        }
    }

    /// The results read the survey's responses through their key, `(survey_id, id)`.
    #[test]
    fn results_queries_use_the_survey_index() {
        let db = stored(&[]);
        for sql in [TOTALS_SQL, CHOICES_SQL, SCORES_SQL] {
            let plan = crate::store::sqlite::query_plan(&db, sql);
            assert!(
                plan.contains("SEARCH survey_responses USING PRIMARY KEY (survey_id=?)")
                    && !plan.contains("SCAN survey_responses"),
                "{sql}\n{plan}"
            );
        }
    }

    /// The answers-per-day series reads only the survey's rows answered since its first day
    /// (a range of the key), and counts each answer on its own UTC day.
    #[test]
    fn answers_per_day_read_only_the_window() {
        let db = stored(&[]);
        let plan = crate::store::sqlite::query_plan(&db, DAYS_SQL);
        assert!(
            plan.contains("SEARCH survey_responses USING PRIMARY KEY (survey_id=? AND id>?)"),
            "{plan}"
        );
        let at = |s: &str| time::parse(s).expect("time");
        let insert = |n: usize, created: &str| {
            let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                u64::try_from(at(created).timestamp()).expect("after 1970"),
                0,
            ));
            db.execute(
                "INSERT INTO survey_responses (id, survey_id, invitation_id, answers, created_at) \
                 VALUES (?1, 'srv_9', ?2, '{}', ?3)",
                rusqlite::params![id.to_string(), format!("inv{n}"), created],
            )
            .expect("insert");
        };
        for (n, created) in [
            "2026-01-01T10:00:00.000Z",
            "2026-03-01T00:00:00.000Z",
            "2026-03-01T23:59:59.999Z",
            "2026-03-03T12:00:00.000Z",
        ]
        .iter()
        .enumerate()
        {
            insert(n, created);
        }
        let since = at("2026-03-01T00:00:00.000Z");
        let mut query = db.prepare(DAYS_SQL).expect("days sql");
        let days: Vec<(String, i64)> = query
            .query_map(
                rusqlite::params!["srv_9", v7_floor(since), "2026-03-01"],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("days")
            .collect::<Result<_, _>>()
            .expect("day rows");
        assert_eq!(
            days,
            vec![("2026-03-01".to_string(), 2), ("2026-03-03".to_string(), 1)]
        );
    }

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
            temperature: "hot",
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
        let (last_nps, avg_csat, count, activity, temperature): (i64, f64, i64, String, String) = db
            .query_row(
                "SELECT s.last_nps, s.avg_csat, s.csat_count, c.last_activity_at, s.temperature \
                 FROM contact_stats s JOIN contacts c ON c.id = s.contact_id WHERE s.contact_id = 'c1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .expect("stats");
        assert_eq!((last_nps, avg_csat, count), (10, 5.0, 1));
        assert_eq!(
            temperature, "hot",
            "the answer's temperature is written with it"
        );
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

/// An invitation whose reminder is due, with what deciding and sending it needs.
#[derive(Debug, Deserialize)]
pub struct DueReminder {
    pub id: String,
    pub contact_id: Option<String>,
    pub expires_at: String,
    pub answered_at: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
    /// The survey's own locale, for a person who has none on record.
    pub survey_locale: Option<String>,
    #[serde(default, deserialize_with = "crate::store::js_int::opt_int")]
    pub link_epoch: Option<i64>,
    /// Whether the person objected to survey emails (a `satisfaction_surveys` withdrawal).
    #[serde(deserialize_with = "crate::store::js_int::int")]
    pub objected: i64,
}

/// Up to `limit` invitations whose reminder is due at `now`, oldest first, by the partial index.
pub async fn due_reminders(db: &Db, now: &str, limit: u32) -> AppResult<Vec<DueReminder>> {
    crate::store::all(
        db,
        "SELECT i.id, i.contact_id, i.expires_at, i.answered_at, c.email, c.locale, c.link_epoch, \
           (SELECT json_extract(s.definition, '$.locale') FROM surveys s WHERE s.id = i.survey_id) \
             AS survey_locale, \
           EXISTS (SELECT 1 FROM consents k WHERE k.contact_id = i.contact_id \
                   AND k.purpose = 'satisfaction_surveys' AND k.granted = 0) AS objected \
         FROM survey_invitations i LEFT JOIN contacts c ON c.id = i.contact_id \
         WHERE i.remind_at IS NOT NULL AND i.remind_at <= ?1 ORDER BY i.remind_at LIMIT ?2",
        &[Arg::Text(now), Arg::Int(i64::from(limit))],
    )
    .await
}

/// The reminder is settled: sent now with a link of its own (`token_hash`), or not needed
/// (`None`: answered, expired, erased or objected). Either way it leaves the due list. A
/// reminder is only recorded for an invitation still unanswered.
pub fn settle_reminder_statement(
    db: &Db,
    id: &str,
    sent: Option<(&str, &str)>,
) -> AppResult<D1PreparedStatement> {
    match sent {
        None => statement(
            db,
            "UPDATE survey_invitations SET remind_at = NULL WHERE id = ?1",
            &[Arg::Text(id)],
        ),
        Some((token_hash, at)) => statement(
            db,
            "UPDATE survey_invitations SET remind_at = NULL, reminded_at = ?3, \
               reminder_token_hash = ?2 WHERE id = ?1 AND answered_at IS NULL",
            &[Arg::Text(id), Arg::Text(token_hash), Arg::Text(at)],
        ),
    }
}

/// Takes back reminder `message_id`, in the same batch as its insert, when its invitation did
/// not take the reminder's link (it was answered in between): no email goes out with a link
/// that opens nothing.
pub fn withdraw_unneeded_reminder_statement(
    db: &Db,
    message_id: &str,
    invitation_id: &str,
    token_hash: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "DELETE FROM outbox WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM survey_invitations \
           WHERE id = ?2 AND reminder_token_hash = ?3)",
        &[
            Arg::Text(message_id),
            Arg::Text(invitation_id),
            Arg::Text(token_hash),
        ],
    )
}
