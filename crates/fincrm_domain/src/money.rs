//! Money as integer minor units plus an ISO 4217 currency, with checked arithmetic.
//!
//! Amounts never pass through a float: "1,234.56" yuan becomes 123456 fen by
//! [`parse_decimal_minor`], and sums that would overflow are errors, not wrap-arounds.

use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency fincrm knows, with its number of minor-unit digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Currency {
    /// Chinese yuan renminbi (156), 2 decimals (fen).
    Cny,
    /// US dollar (840).
    Usd,
    /// Euro (978).
    Eur,
    /// Hong Kong dollar (344).
    Hkd,
    /// Pound sterling (826).
    Gbp,
    /// Japanese yen (392), no minor unit.
    Jpy,
    /// Macanese pataca (446).
    Mop,
    /// Singapore dollar (702).
    Sgd,
    /// Australian dollar (036).
    Aud,
    /// Canadian dollar (124).
    Cad,
}

impl Currency {
    const ALL: [(Currency, &'static str, u16, u8); 10] = [
        (Currency::Cny, "CNY", 156, 2),
        (Currency::Usd, "USD", 840, 2),
        (Currency::Eur, "EUR", 978, 2),
        (Currency::Hkd, "HKD", 344, 2),
        (Currency::Gbp, "GBP", 826, 2),
        (Currency::Jpy, "JPY", 392, 0),
        (Currency::Mop, "MOP", 446, 2),
        (Currency::Sgd, "SGD", 702, 2),
        (Currency::Aud, "AUD", 36, 2),
        (Currency::Cad, "CAD", 124, 2),
    ];

    fn row(self) -> (Currency, &'static str, u16, u8) {
        Self::ALL
            .into_iter()
            .find(|r| r.0 == self)
            .unwrap_or(Self::ALL[0])
    }

    /// The three-letter ISO code, e.g. `CNY`.
    pub fn code(self) -> &'static str {
        self.row().1
    }

    /// The ISO numeric code, e.g. 156 for CNY.
    pub fn numeric(self) -> u16 {
        self.row().2
    }

    /// Digits after the decimal point: 2 for CNY (fen), 0 for JPY.
    pub fn exponent(self) -> u8 {
        self.row().3
    }

    /// Parses an alphabetic (`CNY`, case-insensitive) or numeric (`156`) ISO 4217 code.
    ///
    /// Local names such as 人民币 are a source's own codes; the import mapping translates them.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new("currency", "is missing"));
        }
        let found = if let Ok(n) = s.parse::<u16>() {
            Self::ALL.into_iter().find(|r| r.2 == n)
        } else {
            Self::ALL.into_iter().find(|r| r.1.eq_ignore_ascii_case(s))
        };
        found
            .map(|r| r.0)
            .ok_or_else(|| ValidationError::new("currency", format!("unknown currency code {s:?}")))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

/// An amount in minor units (fen for CNY) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units; may be negative (an overdrawn balance, a loan).
    pub minor: i64,
    /// The currency the amount is in.
    pub currency: Currency,
}

impl Money {
    /// An amount of `minor` units of `currency`.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// Adds two amounts of the same currency; `None` on overflow or a currency mismatch.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_add(other.minor))
            .flatten()
            .map(|minor| Money::new(minor, self.currency))
    }

    /// Subtracts `other`; `None` on overflow or a currency mismatch.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_sub(other.minor))
            .flatten()
            .map(|minor| Money::new(minor, self.currency))
    }

    /// Parses a decimal amount in major units (e.g. `"1,234.56"`) into this currency's minor units.
    pub fn parse_major(raw: &str, currency: Currency) -> Result<Self, ValidationError> {
        parse_decimal_minor(raw, currency.exponent()).map(|minor| Money::new(minor, currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let scale = 10_u64.pow(exp);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = exp as usize
        )
    }
}

/// Parses a decimal string in major units into an exact integer count of minor units.
///
/// Accepts an optional sign, ASCII digits with optional `,` thousands separators (only between
/// digits of the integer part), and at most `exponent` decimals; rejects anything else, including
/// values outside `i64`. `"1,234.5"` with exponent 2 is `123450`.
pub fn parse_decimal_minor(raw: &str, exponent: u8) -> Result<i64, ValidationError> {
    let err = |reason: &'static str| ValidationError::new("amount", reason);
    let s = raw.trim();
    if s.is_empty() {
        return Err(err("is missing"));
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(err("is not a number"));
    }
    if frac_part.len() > usize::from(exponent) {
        return Err(err("has more decimals than the currency allows"));
    }
    let mut value: i64 = 0;
    let overflow = || err("is too large");
    let mut digits_since_sep: Option<usize> = None;
    let mut leading_digits = 0usize;
    for b in int_part.bytes() {
        match b {
            b'0'..=b'9' => {
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(i64::from(b - b'0')))
                    .ok_or_else(overflow)?;
                match digits_since_sep.as_mut() {
                    Some(n) => *n += 1,
                    None => leading_digits += 1,
                }
            }
            b',' => {
                // Thousands separators: 1–3 digits before the first, exactly 3 between.
                let ok = match digits_since_sep {
                    None => (1..=3).contains(&leading_digits),
                    Some(n) => n == 3,
                };
                if !ok {
                    return Err(err("has misplaced thousands separators"));
                }
                digits_since_sep = Some(0);
            }
            _ => return Err(err("is not a number")),
        }
    }
    if digits_since_sep.is_some_and(|n| n != 3) {
        return Err(err("has misplaced thousands separators"));
    }
    for b in frac_part.bytes() {
        if !b.is_ascii_digit() {
            return Err(err("is not a number"));
        }
    }
    for i in 0..exponent {
        let digit = frac_part
            .as_bytes()
            .get(usize::from(i))
            .map_or(0, |b| i64::from(b - b'0'));
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_become_exact_minor_units() {
        assert_eq!(parse_decimal_minor("2988208.16", 2), Ok(298_820_816));
        assert_eq!(parse_decimal_minor("1,234,567.8", 2), Ok(123_456_780));
        assert_eq!(parse_decimal_minor("-0.05", 2), Ok(-5));
        assert_eq!(parse_decimal_minor(".5", 2), Ok(50));
        assert_eq!(parse_decimal_minor("12", 0), Ok(12));
        assert_eq!(parse_decimal_minor(" 7 ", 2), Ok(700));
    }

    #[test]
    fn malformed_amounts_are_rejected_with_a_reason() {
        for bad in [
            "", "abc", "1.234", "12,34.00", "1,,000", ",100", "1e5", "--1", "1.2.3", ".",
        ] {
            assert!(
                parse_decimal_minor(bad, 2).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            parse_decimal_minor("99999999999999999999", 2)
                .unwrap_err()
                .reason,
            "is too large"
        );
        assert!(parse_decimal_minor("92233720368547758.07", 2).is_ok());
        assert!(parse_decimal_minor("92233720368547758.08", 2).is_err());
    }

    #[test]
    fn currencies_parse_from_alpha_and_numeric_codes() {
        assert_eq!(Currency::parse("cny"), Ok(Currency::Cny));
        assert_eq!(Currency::parse("156"), Ok(Currency::Cny));
        assert_eq!(Currency::parse("392").map(Currency::exponent), Ok(0));
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("人民币").is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(i64::MAX, Currency::Cny);
        assert_eq!(a.checked_add(Money::new(1, Currency::Cny)), None);
        assert_eq!(
            Money::new(1, Currency::Cny).checked_add(Money::new(1, Currency::Usd)),
            None
        );
        assert_eq!(
            Money::new(150, Currency::Cny).checked_sub(Money::new(200, Currency::Cny)),
            Some(Money::new(-50, Currency::Cny))
        );
        assert_eq!(
            Money::new(-123_456, Currency::Cny).to_string(),
            "-1234.56 CNY"
        );
    }
}
