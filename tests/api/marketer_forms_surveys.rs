//! The marketer's form builder and survey charts in the browser (issue 18): the live preview is
//! the real widget following what is typed, and the survey charts read the results API's numbers.

use std::sync::Arc;

use crate::browser::run_script;
use crate::harness::{TestApp, TestFn};

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::tests![
        browser_marketer_builds_a_form_and_sees_the_preview_follow_a_label,
        browser_marketer_reads_a_survey_as_charts,
    ]
}

/// `tests/browser/form_builder.mjs`: a form built in the page, its preview following a label
/// change, server errors beside the input, the snippet copied, a signup from the allowed origin.
async fn browser_marketer_builds_a_form_and_sees_the_preview_follow_a_label(
    app: Arc<TestApp>,
) -> Result<(), String> {
    run_script(app, "form_builder.mjs").await
}

/// `tests/browser/survey_charts.mjs`: a survey created in the page, answers seeded through the
/// API, and the charts' NPS split, distributions and answers per day equal to the API's.
async fn browser_marketer_reads_a_survey_as_charts(app: Arc<TestApp>) -> Result<(), String> {
    run_script(app, "survey_charts.mjs").await
}
