//! The overview's shape: counts of the base folded into the series and grids the marketer reads
//! (every day and week of the window present, zeros included), with nobody in it.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

/// Days in the signups and confirmations series, today included.
pub const DAYS: i64 = 90;
/// Weeks (Monday to Sunday, UTC) in the withdrawals series, the current one included.
pub const WEEKS: i64 = 26;
/// RFM quintile scores run 1 (worst) to 5 (best).
pub const RFM_SCORES: [u8; 5] = [1, 2, 3, 4, 5];
pub const STATUSES: [&str; 3] = ["pending", "active", "unsubscribed"];
pub const TEMPERATURES: [&str; 3] = ["cold", "warm", "hot"];

/// The first day of the daily series: `today` and the 89 days before it.
pub fn first_day(today: NaiveDate) -> NaiveDate {
    today - Duration::days(DAYS - 1)
}

/// The Monday that starts the week of `day`.
pub fn week_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The Monday that starts the withdrawals series: 25 weeks before the current one.
pub fn first_week(today: NaiveDate) -> NaiveDate {
    week_of(today) - Duration::weeks(WEEKS - 1)
}

/// One group of the base as the store counts it: contacts with this status, temperature and
/// RFM recency and frequency scores (none before the daily run scores a buyer).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseGroup {
    pub status: String,
    pub temperature: String,
    pub r: Option<i64>,
    pub f: Option<i64>,
    pub count: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Named {
    pub key: &'static str,
    pub count: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Contacts {
    pub total: i64,
    pub by_status: Vec<Named>,
    pub by_temperature: Vec<Named>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RfmCell {
    pub r: u8,
    pub f: u8,
    pub count: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Rfm {
    /// Contacts with both scores (buyers scored by the daily run).
    pub scored: i64,
    /// All 25 cells, recency 5 to 1 then frequency 1 to 5, empty ones as zeros.
    pub cells: Vec<RfmCell>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Day {
    pub day: String,
    pub signups: i64,
    pub confirmations: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Week {
    /// The week's Monday.
    pub week: String,
    pub withdrawals: i64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Overview {
    pub today: String,
    pub contacts: Contacts,
    pub rfm: Rfm,
    pub days: Vec<Day>,
    pub weeks: Vec<Week>,
}

/// Counts per `YYYY-MM-DD` day, as the store groups them.
pub type DayCounts = [(String, i64)];

fn on(counts: &DayCounts, day: &str) -> i64 {
    counts
        .iter()
        .filter(|(d, _)| d == day)
        .map(|(_, n)| n)
        .sum()
}

/// The answer of `GET /admin/v1/overview` from the store's groups: every status, temperature,
/// RFM cell, day and week is present, a zero where nobody is counted, oldest day first.
pub fn shape(
    today: NaiveDate,
    base: &[BaseGroup],
    signups: &DayCounts,
    confirmations: &DayCounts,
    withdrawals: &DayCounts,
) -> Overview {
    let sum = |keep: &dyn Fn(&BaseGroup) -> bool| -> i64 {
        base.iter().filter(|g| keep(g)).map(|g| g.count).sum()
    };
    let contacts = Contacts {
        total: sum(&|_| true),
        by_status: STATUSES
            .iter()
            .map(|&key| Named {
                key,
                count: sum(&|g| g.status == key),
            })
            .collect(),
        by_temperature: TEMPERATURES
            .iter()
            .map(|&key| Named {
                key,
                count: sum(&|g| g.temperature == key),
            })
            .collect(),
    };
    let cells: Vec<RfmCell> = RFM_SCORES
        .iter()
        .rev()
        .flat_map(|&r| {
            RFM_SCORES.iter().map(move |&f| RfmCell {
                r,
                f,
                count: sum(&|g| g.r == Some(i64::from(r)) && g.f == Some(i64::from(f))),
            })
        })
        .collect();
    let rfm = Rfm {
        scored: cells.iter().map(|c| c.count).sum(),
        cells,
    };
    let first = first_day(today);
    let days = (0..DAYS)
        .map(|i| {
            let day = (first + Duration::days(i)).format("%Y-%m-%d").to_string();
            Day {
                signups: on(signups, &day),
                confirmations: on(confirmations, &day),
                day,
            }
        })
        .collect();
    let first_week = first_week(today);
    let weeks = (0..WEEKS)
        .map(|i| {
            let monday = first_week + Duration::weeks(i);
            Week {
                week: monday.format("%Y-%m-%d").to_string(),
                withdrawals: withdrawals
                    .iter()
                    .filter(|(d, _)| {
                        NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok_and(|d| week_of(d) == monday)
                    })
                    .map(|(_, n)| n)
                    .sum(),
            }
        })
        .collect();
    Overview {
        today: today.format("%Y-%m-%d").to_string(),
        contacts,
        rfm,
        days,
        weeks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    fn group(status: &str, temperature: &str, rf: Option<(i64, i64)>, count: i64) -> BaseGroup {
        BaseGroup {
            status: status.into(),
            temperature: temperature.into(),
            r: rf.map(|p| p.0),
            f: rf.map(|p| p.1),
            count,
        }
    }

    #[test]
    fn every_day_of_the_ninety_is_present_with_zeros_where_nobody_signed_up() {
        let today = date("2026-12-01");
        let signups = [("2026-12-01".to_string(), 2), ("2026-09-03".to_string(), 1)];
        let confirmations = [("2026-11-30".to_string(), 4)];
        let o = shape(today, &[], &signups, &confirmations, &[]);
        assert_eq!(o.days.len(), 90);
        assert_eq!(o.days[0].day, "2026-09-03", "the oldest day first");
        assert_eq!(o.days[0].signups, 1);
        assert_eq!(o.days[89].day, "2026-12-01", "today last");
        assert_eq!((o.days[89].signups, o.days[89].confirmations), (2, 0));
        assert_eq!((o.days[88].signups, o.days[88].confirmations), (0, 4));
        assert!(o
            .days
            .windows(2)
            .all(|w| date(&w[0].day) + Duration::days(1) == date(&w[1].day)));
        assert_eq!(o.days.iter().map(|d| d.signups).sum::<i64>(), 3);
    }

    #[test]
    fn withdrawals_fold_into_weeks_starting_on_monday() {
        // 2026-12-01 is a Tuesday: the current week began on Monday 2026-11-30.
        let today = date("2026-12-01");
        let withdrawals = [
            ("2026-11-30".to_string(), 1),
            ("2026-12-01".to_string(), 2),
            ("2026-11-29".to_string(), 5),
            ("2026-06-08".to_string(), 7),
        ];
        let o = shape(today, &[], &[], &[], &withdrawals);
        assert_eq!(o.weeks.len(), 26);
        assert_eq!(o.weeks[25].week, "2026-11-30");
        assert_eq!(o.weeks[25].withdrawals, 3);
        assert_eq!(
            o.weeks[24].withdrawals, 5,
            "Sunday belongs to the week before"
        );
        assert_eq!(o.weeks[0].week, "2026-06-08");
        assert_eq!(o.weeks[0].withdrawals, 7);
        assert_eq!(first_week(today), date("2026-06-08"));
    }

    #[test]
    fn statuses_temperatures_and_the_rfm_grid_are_all_listed() {
        let base = [
            group("active", "hot", Some((5, 1)), 3),
            group("active", "cold", None, 10),
            group("unsubscribed", "cold", Some((1, 5)), 2),
            group("pending", "warm", None, 1),
        ];
        let o = shape(date("2026-12-01"), &base, &[], &[], &[]);
        assert_eq!(o.contacts.total, 16);
        let counts = |v: &[Named]| v.iter().map(|n| (n.key, n.count)).collect::<Vec<_>>();
        assert_eq!(
            counts(&o.contacts.by_status),
            [("pending", 1), ("active", 13), ("unsubscribed", 2)]
        );
        assert_eq!(
            counts(&o.contacts.by_temperature),
            [("cold", 12), ("warm", 1), ("hot", 3)]
        );
        assert_eq!(o.rfm.cells.len(), 25);
        assert_eq!(o.rfm.scored, 5);
        assert_eq!(
            o.rfm.cells[0],
            RfmCell {
                r: 5,
                f: 1,
                count: 3
            }
        );
        assert_eq!(
            o.rfm.cells[24],
            RfmCell {
                r: 1,
                f: 5,
                count: 2
            }
        );
    }
}
