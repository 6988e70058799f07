//! [`Money`]: exact decimal amounts in cents, parsed from the strings shops send.

use std::fmt;

const MAX_MONEY_DIGITS: usize = 12;

pub(super) const NOT_DECIMAL: &str = "a decimal string such as \"129.90\"";
pub(super) const NEGATIVE: &str = "must not be negative";
pub(super) const TOO_PRECISE: &str = "at most 2 decimal places";
pub(super) const TOO_LARGE: &str = "at most 12 digits before the decimal point";

/// A non-negative amount in the currency's minor unit, parsed from a decimal string without ever
/// passing through a float (`0.1 + 0.2` must be 30 cents, not 30.000000000000004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money {
    cents: i64,
}

/// The largest amount [`Money::parse`] accepts: twelve nines, then `.99`.
pub(super) const MAX_CENTS: i64 = 99_999_999_999_999;

impl Money {
    /// Accepts `129.90`, `129.9`, `129`, `0.00`: ASCII digits, then optionally `.` and one or two
    /// digits. No sign, exponent, spaces or grouping: shops send what their database prints, and
    /// anything looser invites misreading `1,234` or `1e3`.
    pub fn parse(input: &str) -> Result<Money, &'static str> {
        match input.strip_prefix('-') {
            Some(rest) if parse_unsigned(rest).is_ok() => Err(NEGATIVE),
            Some(_) => Err(NOT_DECIMAL),
            None => parse_unsigned(input),
        }
    }

    /// `None` for amounts [`Money::parse`] could not have produced.
    pub fn from_cents(cents: i64) -> Option<Money> {
        (0..=MAX_CENTS).contains(&cents).then_some(Money { cents })
    }

    pub fn cents(self) -> i64 {
        self.cents
    }
}

/// Not recursive through [`Money::parse`]: a body of a million `-` must not exhaust the stack.
fn parse_unsigned(input: &str) -> Result<Money, &'static str> {
    let (whole, fraction) = match input.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (input, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(NOT_DECIMAL);
    }
    let fraction = fraction.unwrap_or("");
    if fraction.len() > 2 {
        return Err(TOO_PRECISE);
    }
    if whole.len() > MAX_MONEY_DIGITS {
        return Err(TOO_LARGE);
    }
    let units: i64 = whole.parse().map_err(|_| NOT_DECIMAL)?;
    let hundredths: i64 = format!("{fraction:0<2}").parse().map_err(|_| NOT_DECIMAL)?;
    Ok(Money {
        cents: units * 100 + hundredths,
    })
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}
