//! Satisfaction surveys: the definition a marketer writes (validated once, stored normalized in
//! `surveys.definition`), the public view the hosted `/s/{token}` page renders, a buyer's answers
//! parsed against the definition, and the arithmetic behind `GET /admin/v1/surveys/{id}/results`.
//!
//! Public API:
//! - [`parse_definition`]`(&Value) -> Result<SurveyDefinition, FieldErrors>`, and on
//!   [`SurveyDefinition`]: [`patched`](SurveyDefinition::patched),
//!   [`public_view`](SurveyDefinition::public_view), [`parse_answers`](SurveyDefinition::parse_answers),
//!   [`choice_counts`](SurveyDefinition::choice_counts), [`results`](SurveyDefinition::results),
//!   [`results_from_totals`](SurveyDefinition::results_from_totals) (with [`ResultTotals`] and
//!   [`ChoiceTally`] and [`ScoreTally`], what the SQL aggregate counts), and
//!   [`responses_by_day`] (with [`first_result_day`]) for the answers-per-day series.
//! - [`Answers`] (`nps()`, `csat()`, `ces()`, `get()`, `to_json()`).
//! - [`nps_category`], [`NpsSummary`], [`CsatSummary`], [`CesSummary`], [`ChoiceCounts`],
//!   [`response_rate`], [`next_avg`]. (Formula neutralising for the CSV export is
//!   [`csv_safe`](crate::domain::csv::csv_safe).)
//!
//! Definition rules:
//! - Top-level keys `name` (1–200 printable characters, trimmed), `locale` (en, pt-BR, ro, ru via
//!   [`Locale::from_tag`](crate::domain::i18n::Locale::from_tag); default en),
//!   `expires_after_days` (a JSON integer 1–365; default 30) and `questions` (1–30). Any other key is rejected, at every level. `null` for an optional key
//!   means "absent", so a PATCH can reset it to its default.
//! - A question has `key` (1–40 of `[a-z0-9_]`, starting with a letter, unique), `type`,
//!   `required` (default false), `text` (texts by locale), `max_len` (text questions only,
//!   1–5000, default 1000) and `options` (choice questions only, 1–30 with unique values).
//! - At most one question each of `nps`, `csat`, `ces`: each feeds its own column of
//!   `survey_responses` and of `contact_stats`.
//! - Texts and option labels are maps of locale tag to text; tags must name a supported locale and
//!   are normalized (`pt` becomes `pt-BR`). A question text needs an `en` entry or one in the
//!   survey's locale, so the page can always show something; an option label is optional (the
//!   value is shown instead) but, when given, obeys the same rule.
//!
//! Errors are [`FieldErrors`](crate::domain::validate::FieldErrors) keyed by JSON path
//! (`questions[2].options[0].value`, `answers.why`); messages never quote what was submitted,
//! path segments naming an unknown key are truncated to 40 characters, control characters
//! dropped ([`shown_key`](crate::domain::validate::shown_key)).
//!
//! Stages, one file each: `definition.rs` (the types and [`parse_definition`]), `patch.rs`
//! ([`SurveyDefinition::patched`]), `view.rs` ([`SurveyDefinition::public_view`]), `answers.rs`
//! ([`SurveyDefinition::parse_answers`], [`Answers`]) and `results.rs` (the results maths);
//! their tests are in `tests.rs`.

mod answers;
mod definition;
mod patch;
mod results;
mod view;

#[cfg(test)]
mod tests;

pub use answers::Answers;
pub use definition::{
    parse_definition, ChoiceOption, Question, QuestionType, SurveyDefinition,
    DEFAULT_EXPIRES_AFTER_DAYS, DEFAULT_TEXT_LEN, MAX_EXPIRES_AFTER_DAYS, MAX_OPTIONS,
    MAX_QUESTIONS, MAX_TEXT_LEN,
};
pub use results::{
    first_result_day, next_avg, nps_category, response_rate, responses_by_day, CesSummary,
    ChoiceCounts, ChoiceTally, CsatSummary, DayCount, NpsCategory, NpsSummary, OptionCount,
    ResultTotals, ScoreCount, ScoreDistribution, ScoreTally, StoredResponse, SurveyResults,
    RESULT_DAYS,
};
