//! Which backup runs are kept: the newest ready run of each of the last 30 days and of each of
//! the last 12 months, the newest ready run whatever its age (backups that stopped must not
//! prune the last good one away), failed runs for 7 days (to read why), and every running one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Utc};

pub const DAILY: i64 = 30;
pub const MONTHLY: i32 = 12;
pub const FAILED_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Ready,
    Failed,
}

#[derive(Debug, Clone)]
pub struct RunAge {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub state: RunState,
}

/// The ids of `runs` to keep at `now`; every other run is pruned.
pub fn keep(runs: &[RunAge], now: DateTime<Utc>) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    let first_day = (now - Duration::days(DAILY - 1)).date_naive();
    let month = |at: DateTime<Utc>| at.year() * 12 + at.month0() as i32;
    let first_month = month(now) - (MONTHLY - 1);
    // The newest ready run per day and per month, among those in their windows.
    let mut daily: BTreeMap<chrono::NaiveDate, &RunAge> = BTreeMap::new();
    let mut monthly: BTreeMap<i32, &RunAge> = BTreeMap::new();
    let mut newest: Option<&RunAge> = None;
    for run in runs {
        match run.state {
            RunState::Running => {
                kept.insert(run.id.clone());
            }
            RunState::Failed => {
                if now - run.started_at < Duration::days(FAILED_DAYS) {
                    kept.insert(run.id.clone());
                }
            }
            RunState::Ready => {
                let newer = |other: &&RunAge| run.started_at > other.started_at;
                if newest.as_ref().is_none_or(newer) {
                    newest = Some(run);
                }
                let day = run.started_at.date_naive();
                if day >= first_day {
                    let slot = daily.entry(day).or_insert(run);
                    if newer(slot) {
                        *slot = run;
                    }
                }
                let m = month(run.started_at);
                if m >= first_month {
                    let slot = monthly.entry(m).or_insert(run);
                    if newer(slot) {
                        *slot = run;
                    }
                }
            }
        }
    }
    kept.extend(daily.values().map(|r| r.id.clone()));
    kept.extend(monthly.values().map(|r| r.id.clone()));
    kept.extend(newest.map(|r| r.id.clone()));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn run(id: &str, started_at: DateTime<Utc>, state: RunState) -> RunAge {
        RunAge {
            id: id.into(),
            started_at,
            state,
        }
    }

    /// A year and a half of nightly runs at 03:17, two on some days.
    fn nightly(until: DateTime<Utc>, days: i64) -> Vec<RunAge> {
        let mut runs = Vec::new();
        for n in 0..days {
            let t = until - Duration::days(n);
            runs.push(run(&format!("d{n}"), t, RunState::Ready));
            if n % 10 == 0 {
                runs.push(run(
                    &format!("d{n}-early"),
                    t - Duration::hours(2),
                    RunState::Ready,
                ));
            }
        }
        runs
    }

    #[test]
    fn a_year_and_a_half_of_nightly_runs_keeps_30_days_and_12_months() {
        let now = at(2026, 12, 2, 4);
        let runs = nightly(at(2026, 12, 2, 3), 540);
        let kept = keep(&runs, now);
        // The 30 newest days, one run each (the later of a day's two).
        for n in 0..30 {
            assert!(kept.contains(&format!("d{n}")), "day {n}");
            assert!(
                !kept.contains(&format!("d{n}-early")),
                "day {n}'s earlier run"
            );
        }
        assert!(!kept.contains("d30"));
        // Months: December 2026 back to January 2026, each by its newest run; December's and
        // November's newest (d0, d2) are already dailies, so ten more.
        assert_eq!(kept.len(), 30 + 10, "{kept:?}");
        let jan_31 = (at(2026, 12, 2, 3) - at(2026, 1, 31, 3)).num_days();
        assert!(kept.contains(&format!("d{jan_31}")));
        assert!(
            !kept.contains(&format!("d{}", jan_31 + 1)),
            "Dec 31 2025 is 13 months back"
        );
    }

    #[test]
    fn backups_that_stopped_keep_their_last_good_run() {
        let now = at(2026, 12, 2, 4);
        let runs = vec![
            run("old", at(2024, 1, 5, 3), RunState::Ready),
            run("older", at(2024, 1, 4, 3), RunState::Ready),
        ];
        assert_eq!(keep(&runs, now), BTreeSet::from(["old".to_string()]));
    }

    #[test]
    fn failed_runs_go_after_a_week_and_running_ones_stay() {
        let now = at(2026, 12, 10, 4);
        let runs = vec![
            run("failed-new", at(2026, 12, 5, 3), RunState::Failed),
            run("failed-old", at(2026, 12, 2, 3), RunState::Failed),
            run("running-old", at(2026, 1, 1, 3), RunState::Running),
            run("ready", at(2026, 12, 9, 3), RunState::Ready),
        ];
        let kept = keep(&runs, now);
        assert!(kept.contains("failed-new") && kept.contains("running-old"));
        assert!(!kept.contains("failed-old"));
        // A failed run is never the day's keeper: the day's ready run is.
        let runs = vec![
            run("ready", at(2026, 12, 9, 3), RunState::Ready),
            run("failed-later", at(2026, 12, 9, 5), RunState::Failed),
        ];
        assert!(keep(&runs, now).contains("ready"));
    }
}
