//! The derived facts `contact_stats` keeps for segments: temperature (how recently a person
//! did something) and RFM scores (recency, frequency, monetary value, against the whole base).

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::facts::ContactFacts;
use crate::domain::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Temperature {
    Cold,
    Warm,
    Hot,
}

impl Temperature {
    /// The value of `contact_stats.temperature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Temperature::Cold => "cold",
            Temperature::Warm => "warm",
            Temperature::Hot => "hot",
        }
    }

    pub fn parse(s: &str) -> Option<Temperature> {
        [Temperature::Cold, Temperature::Warm, Temperature::Hot]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Temperature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Windows, in days back from now, for [`temperature`].
///
/// Defaults: **hot** = ordered or answered a survey in the last 30 days, or any activity
/// (`last_activity_at`: confirm, order, answer, preference change) in the last 7; **warm** =
/// any of those in the last 90; otherwise **cold**.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemperatureThresholds {
    pub hot_order_days: u32,
    pub hot_response_days: u32,
    pub hot_activity_days: u32,
    pub warm_days: u32,
}

impl Default for TemperatureThresholds {
    fn default() -> TemperatureThresholds {
        TemperatureThresholds {
            hot_order_days: 30,
            hot_response_days: 30,
            hot_activity_days: 7,
            warm_days: 90,
        }
    }
}

/// How warm a contact is at `now`. "Within N days" means at or after `now - N days`, as the
/// rule operator `within_days` does; times in the future count as recent (shop clocks drift);
/// a time that does not parse counts as never.
pub fn temperature(
    facts: &ContactFacts,
    now: DateTime<Utc>,
    thresholds: &TemperatureThresholds,
) -> Temperature {
    let within = |at: &Option<String>, days: u32| {
        at.as_deref()
            .and_then(time::parse)
            .is_some_and(|t| t >= now - Duration::days(i64::from(days)))
    };
    let (order, response, activity) = (
        &facts.last_order_at,
        &facts.last_response_at,
        &facts.last_activity_at,
    );
    if within(order, thresholds.hot_order_days)
        || within(response, thresholds.hot_response_days)
        || within(activity, thresholds.hot_activity_days)
    {
        Temperature::Hot
    } else if [order, response, activity]
        .into_iter()
        .any(|at| within(at, thresholds.warm_days))
    {
        Temperature::Warm
    } else {
        Temperature::Cold
    }
}

/// The temperature of someone active at `now` (a survey answer, a first order): the same for
/// everyone, since one recent sign is enough to be hot and nothing else lowers it. The writes
/// that record such activity set it with the activity, so the queued refresh that follows has
/// nothing to change.
pub fn temperature_on_activity(
    now: DateTime<Utc>,
    thresholds: &TemperatureThresholds,
) -> Temperature {
    let facts = ContactFacts {
        last_activity_at: Some(time::format(now)),
        ..ContactFacts::default()
    };
    temperature(&facts, now, thresholds)
}

/// RFM quintile scores, 1 (worst) to 5 (best), for every `(id, recency_days, frequency,
/// monetary_cents)`, in input order. Fewer days since the last order is better; more orders and
/// more money are better.
///
/// A value's score is `1 + ⌊5 · p⌋` with `p = (worse + ties / 2) / n` the midpoint of the
/// share of the base it spans, counting the values strictly worse and those equal to it
/// (itself included). So equal values always get equal scores, whatever the input order, and
/// a base where everyone is equal sits in the middle (3) rather than at an end.
pub fn rfm_scores<I: Clone>(values: &[(I, i64, i64, i64)]) -> Vec<(I, u8, u8, u8)> {
    // Recency is negated (in i128, so i64::MIN cannot overflow) to make "bigger is better".
    let r = quintiles(values.iter().map(|v| -i128::from(v.1)).collect());
    let f = quintiles(values.iter().map(|v| i128::from(v.2)).collect());
    let m = quintiles(values.iter().map(|v| i128::from(v.3)).collect());
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.0.clone(), r[i], f[i], m[i]))
        .collect()
}

fn quintiles(keys: Vec<i128>) -> Vec<u8> {
    let n = keys.len() as u128;
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    keys.iter()
        .map(|k| {
            let worse = sorted.partition_point(|x| x < k) as u128;
            let ties = sorted.partition_point(|x| x <= k) as u128 - worse;
            // 5 · (worse + ties/2) / n in integers; below 5 since worse + ties ≤ n.
            let score = 1 + 5 * (2 * worse + ties) / (2 * n);
            score.min(5) as u8
        })
        .collect()
}

/// The named RFM group of scores `r`, `f`, `m` (each 1–5), on the common R × FM grid, where
/// `fm` is the mean of F and M rounded half up:
///
/// | R \ FM | 1              | 2                  | 3                  | 4                | 5                |
/// |--------|----------------|--------------------|--------------------|------------------|------------------|
/// | 5      | new_customers  | potential_loyalist | potential_loyalist | champions        | champions        |
/// | 4      | promising      | potential_loyalist | potential_loyalist | loyal            | loyal            |
/// | 3      | about_to_sleep | about_to_sleep     | need_attention     | loyal            | loyal            |
/// | 2      | hibernating    | hibernating        | at_risk            | at_risk          | cannot_lose_them |
/// | 1      | lost           | hibernating        | at_risk            | at_risk          | cannot_lose_them |
///
/// Scores outside 1–5 are clamped into it.
pub fn rfm_group(r: u8, f: u8, m: u8) -> &'static str {
    let r = usize::from(r.clamp(1, 5));
    let fm = (usize::from(f.clamp(1, 5)) + usize::from(m.clamp(1, 5))).div_ceil(2);
    RFM_GRID[5 - r][fm - 1]
}

/// The table above, row by row from R = 5.
const RFM_GRID: [[&str; 5]; 5] = [
    [
        "new_customers",
        "potential_loyalist",
        "potential_loyalist",
        "champions",
        "champions",
    ],
    [
        "promising",
        "potential_loyalist",
        "potential_loyalist",
        "loyal",
        "loyal",
    ],
    [
        "about_to_sleep",
        "about_to_sleep",
        "need_attention",
        "loyal",
        "loyal",
    ],
    [
        "hibernating",
        "hibernating",
        "at_risk",
        "at_risk",
        "cannot_lose_them",
    ],
    [
        "lost",
        "hibernating",
        "at_risk",
        "at_risk",
        "cannot_lose_them",
    ],
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::segment::rule::RFM_GROUPS;

    fn at(s: &str) -> DateTime<Utc> {
        time::parse(s).unwrap()
    }

    #[test]
    fn temperature_follows_the_documented_defaults() {
        let now = at("2026-06-30T12:00:00Z");
        let t = |facts: &ContactFacts| temperature(facts, now, &TemperatureThresholds::default());
        let mut f = ContactFacts::default();
        assert_eq!(t(&f), Temperature::Cold);
        f.last_activity_at = Some("2026-06-23T12:00:00.000Z".into());
        assert_eq!(t(&f), Temperature::Hot, "activity exactly 7 days ago");
        f.last_activity_at = Some("2026-06-23T11:59:59.999Z".into());
        assert_eq!(t(&f), Temperature::Warm);
        f.last_order_at = Some("2026-06-01T00:00:00.000Z".into());
        assert_eq!(t(&f), Temperature::Hot, "ordered 29 days ago");
        f.last_order_at = None;
        f.last_response_at = Some("2026-05-20T00:00:00.000Z".into());
        assert_eq!(t(&f), Temperature::Warm, "answered 41 days ago");
        f.last_activity_at = Some("2026-03-01T00:00:00.000Z".into());
        f.last_response_at = Some("not a time".into());
        assert_eq!(t(&f), Temperature::Cold);
        f.last_activity_at = Some("2026-07-02T00:00:00.000Z".into());
        assert_eq!(
            t(&f),
            Temperature::Hot,
            "a clock ahead of ours still counts"
        );
        let strict = TemperatureThresholds {
            hot_activity_days: 0,
            warm_days: 0,
            ..TemperatureThresholds::default()
        };
        f.last_activity_at = Some("2026-06-30T11:00:00.000Z".into());
        assert_eq!(temperature(&f, now, &strict), Temperature::Cold);
        assert_eq!(Temperature::parse("warm"), Some(Temperature::Warm));
        assert_eq!(Temperature::parse("Warm"), None);
    }

    proptest::proptest! {
        /// Whatever else is known about a person, activity at `now` gives them the temperature
        /// `temperature_on_activity` writes with it (so the refresh after it writes nothing).
        #[test]
        fn activity_now_decides_the_temperature_whatever_else_is_known(
            order in proptest::option::of(0i64..400),
            response in proptest::option::of(0i64..400),
            hot_activity_days in 0u32..10,
            warm_days in 0u32..120,
        ) {
            let now = at("2026-06-30T12:00:00Z");
            let days_ago = |d: i64| time::format(now - Duration::days(d));
            let thresholds = TemperatureThresholds {
                hot_activity_days,
                warm_days,
                ..TemperatureThresholds::default()
            };
            let facts = ContactFacts {
                last_order_at: order.map(days_ago),
                last_response_at: response.map(days_ago),
                last_activity_at: Some(time::format(now)),
                ..ContactFacts::default()
            };
            proptest::prop_assert_eq!(
                temperature(&facts, now, &thresholds),
                temperature_on_activity(now, &thresholds)
            );
        }
    }

    #[test]
    fn rfm_quintiles_spread_over_one_to_five() {
        let values: Vec<(u32, i64, i64, i64)> = (0..10)
            .map(|i| (i, 100 - i64::from(i) * 10, i64::from(i), i64::from(i) * 100))
            .collect();
        let scores = rfm_scores(&values);
        let r: Vec<u8> = scores.iter().map(|s| s.1).collect();
        assert_eq!(r, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert!(scores.iter().all(|s| s.1 == s.2 && s.2 == s.3));
        assert_eq!(scores[3].0, 3, "input order is kept");
    }

    #[test]
    fn rfm_ties_score_alike_and_sit_in_the_middle() {
        let same: Vec<(&str, i64, i64, i64)> = vec![("a", 5, 1, 100); 7];
        assert!(rfm_scores(&same)
            .iter()
            .all(|s| (s.1, s.2, s.3) == (3, 3, 3)));
        let one = rfm_scores(&[("x", 0, 0, 0)]);
        assert_eq!((one[0].1, one[0].2, one[0].3), (3, 3, 3));
        assert!(rfm_scores::<u8>(&[]).is_empty());
        let mixed = rfm_scores(&[
            ("a", 10, 1, 0),
            ("b", 10, 1, 0),
            ("c", 1, 9, 900),
            ("d", 99, 0, 0),
        ]);
        assert_eq!(mixed[0].1, mixed[1].1);
        assert!(mixed[2].1 > mixed[0].1 && mixed[0].1 > mixed[3].1);
        assert_eq!(mixed[2].1, 5);
        assert_eq!(mixed[3].1, 1);
        let extremes = rfm_scores(&[
            ("a", i64::MIN, i64::MIN, i64::MAX),
            ("b", i64::MAX, i64::MAX, i64::MIN),
        ]);
        assert_eq!((extremes[0].1, extremes[1].1), (4, 2));
    }

    #[test]
    fn rfm_scores_do_not_depend_on_input_order() {
        let values = vec![
            ("a", 3, 2, 50),
            ("b", 30, 1, 10),
            ("c", 3, 2, 50),
            ("d", 300, 7, 999),
            ("e", 1, 1, 0),
        ];
        let mut reversed = values.clone();
        reversed.reverse();
        let mut forward = rfm_scores(&values);
        let mut backward = rfm_scores(&reversed);
        forward.sort();
        backward.sort();
        assert_eq!(forward, backward);
    }

    #[test]
    fn rfm_grid_names_every_cell_and_the_corners() {
        assert_eq!(rfm_group(5, 5, 5), "champions");
        assert_eq!(rfm_group(5, 4, 3), "champions");
        assert_eq!(rfm_group(4, 5, 5), "loyal");
        assert_eq!(rfm_group(3, 4, 4), "loyal");
        assert_eq!(rfm_group(5, 1, 1), "new_customers");
        assert_eq!(rfm_group(4, 1, 1), "promising");
        assert_eq!(rfm_group(5, 2, 3), "potential_loyalist");
        assert_eq!(rfm_group(3, 3, 3), "need_attention");
        assert_eq!(rfm_group(3, 1, 2), "about_to_sleep");
        assert_eq!(rfm_group(2, 3, 4), "at_risk");
        assert_eq!(rfm_group(1, 5, 5), "cannot_lose_them");
        assert_eq!(rfm_group(2, 1, 2), "hibernating");
        assert_eq!(rfm_group(1, 1, 1), "lost");
        assert_eq!(rfm_group(0, 9, 9), "cannot_lose_them", "clamped");
        let mut seen = std::collections::BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let g = rfm_group(r, f, m);
                    assert!(RFM_GROUPS.contains(&g), "{g}");
                    seen.insert(g);
                }
            }
        }
        assert_eq!(seen.len(), RFM_GROUPS.len(), "every group is reachable");
    }
}
