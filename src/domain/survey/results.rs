//! The results maths behind `GET /admin/v1/surveys/{id}/results`: choice counts, NPS, CSAT and
//! CES summaries (rounded in integers), the response rate, each score question's distribution
//! and the answers per day that the admin page charts, and the running mean kept in
//! `contact_stats`.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use super::definition::{Question, QuestionType, SurveyDefinition};

impl SurveyDefinition {
    /// Per choice question, how often each option was picked, from stored `answers` JSON. Values
    /// that are no longer options (a PATCH removed them) and malformed rows are skipped rather
    /// than failing the whole report.
    pub fn choice_counts<'a, I>(&self, answers: I) -> BTreeMap<String, ChoiceCounts>
    where
        I: IntoIterator<Item = &'a Value>,
    {
        let choice: Vec<&Question> = self
            .questions
            .iter()
            .filter(|q| q.kind.is_choice())
            .collect();
        let mut tallies: Vec<(u64, Vec<u64>)> = choice
            .iter()
            .map(|q| (0, vec![0; q.options.len()]))
            .collect();
        for row in answers {
            for (q, (answered, counts)) in choice.iter().zip(tallies.iter_mut()) {
                let picked: Vec<&str> = match row.get(&q.key) {
                    Some(Value::String(s)) => vec![s.as_str()],
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    _ => continue,
                };
                let mut any = false;
                for (option, count) in q.options.iter().zip(counts.iter_mut()) {
                    if picked.contains(&option.value.as_str()) {
                        *count += 1;
                        any = true;
                    }
                }
                *answered += u64::from(any);
            }
        }
        choice
            .into_iter()
            .zip(tallies)
            .map(|(q, (answered, counts))| {
                let options = q
                    .options
                    .iter()
                    .zip(counts)
                    .map(|(o, count)| OptionCount {
                        value: o.value.clone(),
                        count,
                    })
                    .collect();
                (q.key.clone(), ChoiceCounts { answered, options })
            })
            .collect()
    }

    /// The body of `GET /admin/v1/surveys/{id}/results`. Scores come from the response columns,
    /// not from `answers`, because erasure empties `answers` but keeps the scores for aggregates.
    pub fn results(&self, invited: u64, rows: &[StoredResponse]) -> SurveyResults {
        let score = |v: Option<i64>| v.and_then(|n| u8::try_from(n).ok());
        let responses = rows.len() as u64;
        let mut counted: BTreeMap<(QuestionType, u8), u64> = BTreeMap::new();
        for r in rows {
            for (kind, value) in [
                (QuestionType::Nps, r.nps),
                (QuestionType::Csat, r.csat),
                (QuestionType::Ces, r.ces),
            ] {
                if let Some(v) = score(value) {
                    *counted.entry((kind, v)).or_default() += 1;
                }
            }
        }
        SurveyResults {
            invited,
            responses,
            response_rate: response_rate(invited, responses),
            nps: NpsSummary::from_scores(rows.iter().filter_map(|r| score(r.nps))),
            csat: CsatSummary::from_scores(rows.iter().filter_map(|r| score(r.csat))),
            ces: CesSummary::from_scores(rows.iter().filter_map(|r| score(r.ces))),
            choices: self.choice_counts(rows.iter().map(|r| &r.answers)),
            scores: self.score_distributions(&counted),
            responses_by_day: Vec::new(),
        }
    }

    /// Per score question (keyed by its key), how many answers gave each value of its scale,
    /// every value listed, in order, zeros included, so a chart shows the whole scale. Values
    /// outside the scale are no answers to it and are not listed.
    fn score_distributions(
        &self,
        counted: &BTreeMap<(QuestionType, u8), u64>,
    ) -> BTreeMap<String, ScoreDistribution> {
        self.questions
            .iter()
            .filter_map(|q| {
                let (low, high) = q.kind.scale()?;
                let counts = (low..=high)
                    .map(|score| ScoreCount {
                        score,
                        count: counted.get(&(q.kind, score)).copied().unwrap_or(0),
                    })
                    .collect();
                Some((
                    q.key.clone(),
                    ScoreDistribution {
                        kind: q.kind,
                        counts,
                    },
                ))
            })
            .collect()
    }

    /// The same document as [`results`](Self::results) from what SQL counted over the stored
    /// responses, so the report costs a constant number of queries whatever their number. The
    /// SQL twin must count exactly what `results` counts (a unit test in `store::surveys`
    /// holds the two equal on generated responses).
    pub fn results_from_totals(
        &self,
        invited: u64,
        totals: &ResultTotals,
        tallies: &[ChoiceTally],
        scores: &[ScoreTally],
    ) -> SurveyResults {
        let mut scored: BTreeMap<(QuestionType, u8), u64> = BTreeMap::new();
        for t in scores {
            *scored.entry((t.kind, t.score)).or_default() += t.count;
        }
        let mut counted: BTreeMap<(&str, Option<&str>), u64> = BTreeMap::new();
        for t in tallies {
            *counted
                .entry((t.question.as_str(), t.option.as_deref()))
                .or_default() += t.count;
        }
        let choices = self
            .questions
            .iter()
            .filter(|q| q.kind.is_choice())
            .map(|q| {
                let tally = |option: Option<&str>| {
                    counted.get(&(q.key.as_str(), option)).copied().unwrap_or(0)
                };
                let options = q
                    .options
                    .iter()
                    .map(|o| OptionCount {
                        value: o.value.clone(),
                        count: tally(Some(&o.value)),
                    })
                    .collect();
                let counts = ChoiceCounts {
                    answered: tally(None),
                    options,
                };
                (q.key.clone(), counts)
            })
            .collect();
        SurveyResults {
            invited,
            responses: totals.responses,
            response_rate: response_rate(invited, totals.responses),
            nps: NpsSummary::from_counts(totals.promoters, totals.passives, totals.detractors),
            csat: CsatSummary::from_totals(
                totals.csat_count,
                totals.csat_sum,
                totals.csat_satisfied,
            ),
            ces: CesSummary::from_totals(totals.ces_count, totals.ces_sum),
            choices,
            scores: self.score_distributions(&scored),
            responses_by_day: Vec::new(),
        }
    }
}

/// One count of the score query: responses whose `kind` column (`nps`, `csat` or `ces`) holds
/// `score`, a value of that question's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreTally {
    pub kind: QuestionType,
    pub score: u8,
    pub count: u64,
}

/// `{"type": "nps", "counts": [{"score": 0, "count": 3}, …]}`: one score question's answers by
/// value, the whole scale in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoreDistribution {
    #[serde(rename = "type")]
    pub kind: QuestionType,
    pub counts: Vec<ScoreCount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScoreCount {
    pub score: u8,
    pub count: u64,
}

/// How many days of answers `responses_by_day` covers, today (UTC) included.
pub const RESULT_DAYS: u64 = 90;

/// `{"date": "2026-03-01", "count": 4}`: the answers of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub date: String,
    pub count: u64,
}

/// The first day of the [`RESULT_DAYS`] that end with `today`.
pub fn first_result_day(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_days(Days::new(RESULT_DAYS - 1))
        .unwrap_or(NaiveDate::MIN)
}

/// Every day of the window ending `today`, oldest first, with the answers `counted` holds for
/// it (`YYYY-MM-DD` to count) and zero for the others, so a chart's time axis has no gaps.
/// Days outside the window are ignored.
pub fn responses_by_day(today: NaiveDate, counted: &BTreeMap<String, u64>) -> Vec<DayCount> {
    first_result_day(today)
        .iter_days()
        .take_while(|d| *d <= today)
        .map(|d| {
            let date = d.format("%Y-%m-%d").to_string();
            let count = counted.get(&date).copied().unwrap_or(0);
            DayCount { date, count }
        })
        .collect()
}

/// What the results query counts over a survey's responses: every response, the NPS split
/// (0–10 only), and count and sum of CSAT (1–5) and CES (1–7) scores; scores out of range are
/// skipped, as [`SurveyDefinition::results`] skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResultTotals {
    pub responses: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    pub csat_count: u64,
    pub csat_sum: u64,
    pub csat_satisfied: u64,
    pub ces_count: u64,
    pub ces_sum: u64,
}

/// One count of the choice query: responses whose answer to `question` picked `option`, or,
/// with `option` none, that picked at least one known option (`answered`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceTally {
    pub question: String,
    pub option: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NpsCategory {
    Promoter,
    Passive,
    Detractor,
}

impl NpsCategory {
    /// The value of `contact_stats.nps_category`.
    pub fn as_str(self) -> &'static str {
        match self {
            NpsCategory::Promoter => "promoter",
            NpsCategory::Passive => "passive",
            NpsCategory::Detractor => "detractor",
        }
    }
}

/// 9–10 promoter, 7–8 passive, 0–6 detractor. Scores are validated to 0–10 before they get here;
/// anything above 10 would count as a promoter.
pub fn nps_category(score: u8) -> NpsCategory {
    match score {
        9.. => NpsCategory::Promoter,
        7 | 8 => NpsCategory::Passive,
        _ => NpsCategory::Detractor,
    }
}

/// `num / den` rounded half away from zero, in integers so that a result like 12.5 never
/// becomes 12.4999… on its way to one decimal. `den` must be positive.
fn div_round(num: i128, den: i128) -> i128 {
    let (q, r) = (num / den, num % den);
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// `num / den` with `decimals` decimals (0 to 3).
fn ratio(num: u64, den: u64, decimals: u32) -> f64 {
    let scale = 10i128.pow(decimals);
    div_round(i128::from(num) * scale, i128::from(den)) as f64 / scale as f64
}

/// `{"score","promoters","passives","detractors"}`. `score` is % promoters − % detractors
/// (−100 to 100, one decimal) and `None` (JSON `null`) without any response, because 0 would
/// read as a real, neutral result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NpsSummary {
    pub score: Option<f64>,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsSummary {
    /// Scores above 10 are not NPS answers and are skipped.
    pub fn from_scores<I: IntoIterator<Item = u8>>(scores: I) -> NpsSummary {
        let (mut promoters, mut passives, mut detractors) = (0u64, 0u64, 0u64);
        for score in scores.into_iter().filter(|s| *s <= 10) {
            match nps_category(score) {
                NpsCategory::Promoter => promoters += 1,
                NpsCategory::Passive => passives += 1,
                NpsCategory::Detractor => detractors += 1,
            }
        }
        NpsSummary::from_counts(promoters, passives, detractors)
    }

    /// The summary of answers already counted by category (the SQL aggregate's split).
    pub fn from_counts(promoters: u64, passives: u64, detractors: u64) -> NpsSummary {
        let total = promoters + passives + detractors;
        let score = (total > 0).then(|| {
            let diff = i128::from(promoters) - i128::from(detractors);
            div_round(diff * 1000, i128::from(total)) as f64 / 10.0
        });
        NpsSummary {
            score,
            promoters,
            passives,
            detractors,
        }
    }

    pub fn total(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }
}

/// `{"average","satisfied_pct"}`: the mean of 1–5 scores (two decimals) and the share of 4s and
/// 5s in percent (one decimal), both `null` without any response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CsatSummary {
    pub average: Option<f64>,
    pub satisfied_pct: Option<f64>,
    #[serde(skip)]
    pub count: u64,
}

impl CsatSummary {
    /// Scores outside 1–5 are not CSAT answers and are skipped.
    pub fn from_scores<I: IntoIterator<Item = u8>>(scores: I) -> CsatSummary {
        let (mut count, mut sum, mut satisfied) = (0u64, 0u64, 0u64);
        for score in scores.into_iter().filter(|s| (1..=5).contains(s)) {
            count += 1;
            sum += u64::from(score);
            satisfied += u64::from(score >= 4);
        }
        CsatSummary::from_totals(count, sum, satisfied)
    }

    /// The summary of `count` scores of 1–5 adding up to `sum`, `satisfied` of them 4 or 5.
    pub fn from_totals(count: u64, sum: u64, satisfied: u64) -> CsatSummary {
        CsatSummary {
            average: (count > 0).then(|| ratio(sum, count, 2)),
            satisfied_pct: (count > 0).then(|| ratio(satisfied * 100, count, 1)),
            count,
        }
    }
}

/// `{"average"}`: the mean of 1–7 effort scores (two decimals), `null` without any response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CesSummary {
    pub average: Option<f64>,
    #[serde(skip)]
    pub count: u64,
}

impl CesSummary {
    /// Scores outside 1–7 are not CES answers and are skipped.
    pub fn from_scores<I: IntoIterator<Item = u8>>(scores: I) -> CesSummary {
        let (mut count, mut sum) = (0u64, 0u64);
        for score in scores.into_iter().filter(|s| (1..=7).contains(s)) {
            count += 1;
            sum += u64::from(score);
        }
        CesSummary::from_totals(count, sum)
    }

    /// The summary of `count` scores of 1–7 adding up to `sum`.
    pub fn from_totals(count: u64, sum: u64) -> CesSummary {
        CesSummary {
            average: (count > 0).then(|| ratio(sum, count, 2)),
            count,
        }
    }
}

/// `{"answered": n, "options": [{"value","count"}, …]}` in the survey's option order. `answered`
/// counts responses that picked at least one known option: the shares of a multiple choice do
/// not add up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChoiceCounts {
    pub answered: u64,
    pub options: Vec<OptionCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionCount {
    pub value: String,
    pub count: u64,
}

/// Responses per invitation as a fraction from 0 to 1 (three decimals), `None` before any
/// invitation. More responses than invitations cannot happen (one per invitation); it is
/// capped at 1 all the same.
pub fn response_rate(invited: u64, responses: u64) -> Option<f64> {
    (invited > 0).then(|| ratio(responses.min(invited), invited, 3))
}

/// One `survey_responses` row as the results query reads it (columns are D1 integers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredResponse {
    pub answers: Value,
    pub nps: Option<i64>,
    pub csat: Option<i64>,
    pub ces: Option<i64>,
}

/// The whole results document; serializes to the shape of the API contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyResults {
    pub invited: u64,
    pub responses: u64,
    pub response_rate: Option<f64>,
    pub nps: NpsSummary,
    pub csat: CsatSummary,
    pub ces: CesSummary,
    pub choices: BTreeMap<String, ChoiceCounts>,
    /// Per score question (NPS, CSAT, CES), its answers by value.
    pub scores: BTreeMap<String, ScoreDistribution>,
    /// Answers per UTC day over the last [`RESULT_DAYS`]: filled by
    /// [`responses_by_day`] from what the day query counted (empty until then).
    pub responses_by_day: Vec<DayCount>,
}

/// The running mean kept in `contact_stats` (`avg_csat`, `csat_count`) after one more score.
/// No previous mean, a count below 1 or a non-finite mean start over at `new`: a broken stats
/// row heals itself instead of poisoning every later average.
pub fn next_avg(avg: Option<f64>, count: i64, new: u8) -> (f64, i64) {
    match avg.filter(|a| a.is_finite()) {
        Some(avg) if count > 0 => {
            let next = count.saturating_add(1);
            // The incremental form avoids the `avg * count` product losing precision.
            (avg + (f64::from(new) - avg) / next as f64, next)
        }
        _ => (f64::from(new), 1),
    }
}
