//! Integer columns as `i64`. D1 hands every number to the Worker as a JavaScript double, so a
//! row field reads through `#[serde(deserialize_with = "js_int::int")]` (or `opt_int` for a
//! nullable column) instead of being an `f64` that every caller casts. A fraction is an error
//! (an integer column cannot hold one). A whole number beyond JavaScript's safe range reads as
//! the nearest safe one: the column holds more than a double can say exactly, and refusing the
//! row would make whatever holds it (a person's own data) unreadable.

use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// 2^53 - 1: beyond it a double no longer holds every integer.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn whole<E: Error>(n: f64) -> Result<i64, E> {
    if n.is_finite() && n.fract() == 0.0 {
        Ok(n.clamp(-MAX_SAFE, MAX_SAFE) as i64)
    } else {
        Err(E::custom("an integer column held a fraction"))
    }
}

pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(f64::deserialize(d)?)
}

pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<f64>::deserialize(d)?.map(whole).transpose()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Row {
        #[serde(deserialize_with = "super::int")]
        n: i64,
        #[serde(deserialize_with = "super::opt_int", default)]
        m: Option<i64>,
    }

    fn row(json: &str) -> Result<Row, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_doubles_read_as_integers() {
        assert_eq!(
            row(r#"{"n": 3.0, "m": null}"#).ok(),
            Some(Row { n: 3, m: None })
        );
        assert_eq!(
            row(r#"{"n": -7, "m": 9007199254740991}"#).ok(),
            Some(Row {
                n: -7,
                m: Some(9_007_199_254_740_991)
            })
        );
        assert_eq!(row(r#"{"n": 0}"#).ok(), Some(Row { n: 0, m: None }));
    }

    #[test]
    fn fractions_are_refused() {
        assert!(row(r#"{"n": 2.5}"#).is_err());
        assert!(row(r#"{"n": 1, "m": 0.1}"#).is_err());
    }

    #[test]
    fn integers_beyond_a_double_read_as_the_largest_safe_one() {
        let max = 9_007_199_254_740_991;
        assert_eq!(
            row(r#"{"n": 9007199254740992}"#).ok(),
            Some(Row { n: max, m: None })
        );
        assert_eq!(
            row(r#"{"n": -1e300, "m": 1e20}"#).ok(),
            Some(Row {
                n: -max,
                m: Some(max)
            })
        );
    }
}
