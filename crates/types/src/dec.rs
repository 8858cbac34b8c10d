//! Fixed-point decimals with 18 fractional digits, stored as integers.
//!
//! Prices on the ledger are "per block" and usually fractional (Akash's `DecCoin`), but money must be
//! exact: a [`Dec`] is a `u128` count of 10^-18 units, so addition and multiplication by integers are
//! exact, and every rounding step is explicit ([`Dec::floor`], [`Dec::mul_u64`]).

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of fractional decimal digits (Cosmos `LegacyPrecision`).
pub const DEC_PRECISION: u32 = 18;
/// 10^18: the raw value of `Dec::ONE`.
pub const DEC_SCALE: u128 = 1_000_000_000_000_000_000;

/// A non-negative decimal with exactly 18 fractional digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Dec(u128);

/// Why a decimal string was refused. Messages follow Cosmos' `LegacyNewDecFromStr` wording where it
/// has one, so that users comparing with Akash see familiar text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecError {
    #[error("decimal string is empty")]
    Empty,
    #[error("invalid decimal string {0:?}")]
    Invalid(String),
    #[error("invalid decimal length in {0:?}: a '.' needs digits on both sides")]
    InvalidLength(String),
    #[error("value {value:?} exceeds max precision by {excess} decimal places: max precision 18")]
    TooPrecise { value: String, excess: usize },
    #[error("decimal {0:?} is out of range")]
    OutOfRange(String),
    #[error("amount {0:?} is negative")]
    Negative(String),
}

/// The result of parsing a decimal the way Cosmos does: sign kept separately, because Go accepts
/// negative decimals at parse time and rejects them later with a different message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedDec {
    pub negative: bool,
    pub magnitude: Dec,
}

impl Dec {
    pub const ZERO: Dec = Dec(0);
    pub const ONE: Dec = Dec(DEC_SCALE);

    /// The raw value, in units of 10^-18.
    pub const fn raw(self) -> u128 {
        self.0
    }

    pub const fn from_raw(raw: u128) -> Dec {
        Dec(raw)
    }

    /// `n` whole units. Returns `None` on overflow.
    pub fn from_int(n: u128) -> Option<Dec> {
        n.checked_mul(DEC_SCALE).map(Dec)
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, rhs: Dec) -> Option<Dec> {
        self.0.checked_add(rhs.0).map(Dec)
    }

    pub fn checked_sub(self, rhs: Dec) -> Option<Dec> {
        self.0.checked_sub(rhs.0).map(Dec)
    }

    /// Exact multiplication by an integer (e.g. a price per block times a number of blocks).
    pub fn mul_u64(self, n: u64) -> Option<Dec> {
        self.0.checked_mul(u128::from(n)).map(Dec)
    }

    /// The whole part, rounding towards zero; the fraction is what [`Dec::fract`] returns.
    pub const fn floor(self) -> u128 {
        self.0 / DEC_SCALE
    }

    /// The fractional part that [`Dec::floor`] drops.
    pub const fn fract(self) -> Dec {
        Dec(self.0 % DEC_SCALE)
    }

    /// Parses a decimal with Cosmos' `LegacyNewDecFromStr` rules: optional leading `-`, digits, an
    /// optional `.` followed by 1..=18 digits. A `+` sign is accepted after a `-` is stripped because
    /// Go's `big.Int.SetString` accepts one; we mirror that so verdicts match Akash.
    pub fn parse_signed(input: &str) -> Result<SignedDec, DecError> {
        let mut s = input;
        let mut negative = false;
        if let Some(rest) = s.strip_prefix('-') {
            negative = true;
            s = rest;
        }
        if s.is_empty() {
            return Err(DecError::Empty);
        }
        let mut parts = s.split('.');
        let int_part = parts.next().unwrap_or_default();
        let frac_part = parts.next();
        if parts.next().is_some() {
            return Err(DecError::Invalid(input.to_string()));
        }
        let frac = match frac_part {
            Some(f) => {
                if f.is_empty() || int_part.is_empty() {
                    return Err(DecError::InvalidLength(input.to_string()));
                }
                f
            }
            None => "",
        };
        if frac.len() > DEC_PRECISION as usize {
            return Err(DecError::TooPrecise { value: s.to_string(), excess: frac.len() - DEC_PRECISION as usize });
        }
        // big.Int.SetString accepts one sign character in front of the combined digits.
        let mut digits = int_part;
        if let Some(rest) = digits.strip_prefix('+') {
            digits = rest;
        } else if let Some(rest) = digits.strip_prefix('-') {
            digits = rest;
            negative = !negative;
        }
        if digits.is_empty() && frac.is_empty() {
            return Err(DecError::Invalid(input.to_string()));
        }
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(digits) || !all_digits(frac) || (digits.is_empty() && !frac.is_empty()) {
            return Err(DecError::Invalid(input.to_string()));
        }
        let mut raw: u128 = 0;
        for b in digits.bytes().chain(frac.bytes()) {
            raw = raw
                .checked_mul(10)
                .and_then(|r| r.checked_add(u128::from(b - b'0')))
                .ok_or_else(|| DecError::OutOfRange(input.to_string()))?;
        }
        let pad = 10u128.pow(DEC_PRECISION - frac.len() as u32);
        let raw = raw.checked_mul(pad).ok_or_else(|| DecError::OutOfRange(input.to_string()))?;
        Ok(SignedDec { negative: negative && raw != 0, magnitude: Dec(raw) })
    }
}

impl FromStr for Dec {
    type Err = DecError;

    fn from_str(s: &str) -> Result<Dec, DecError> {
        let parsed = Dec::parse_signed(s)?;
        if parsed.negative {
            return Err(DecError::Negative(s.to_string()));
        }
        Ok(parsed.magnitude)
    }
}

impl fmt::Display for Dec {
    /// Always 18 fractional digits, like Cosmos' `LegacyDec.String()` (`"200.000000000000000000"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:018}", self.0 / DEC_SCALE, self.0 % DEC_SCALE)
    }
}

impl Dec {
    /// For people: no trailing zeros (`200`, `0.5`).
    pub fn short(&self) -> String {
        let s = self.to_string();
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dec, D::Error> {
        let s = <String as Deserialize>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SignedDec, DecError> {
        Dec::parse_signed(s)
    }

    #[test]
    fn formats_with_18_digits() {
        assert_eq!(Dec::from_int(200).map(|d| d.to_string()).as_deref(), Some("200.000000000000000000"));
        assert_eq!("0.5".parse::<Dec>().map(|d| d.to_string()), Ok("0.500000000000000000".into()));
        assert_eq!(Dec::from_raw(1).to_string(), "0.000000000000000001");
        assert_eq!(Dec::from_int(200).map(|d| d.short()).as_deref(), Some("200"));
        assert_eq!("0.50".parse::<Dec>().map(|d| d.short()), Ok("0.5".into()));
        assert_eq!(Dec::ZERO.short(), "0");
    }

    #[test]
    fn parses_like_cosmos() {
        assert_eq!(parse("1000").map(|d| d.magnitude), Ok(Dec(1000 * DEC_SCALE)));
        assert_eq!(parse("+5").map(|d| d.magnitude), Ok(Dec(5 * DEC_SCALE)));
        assert!(parse("-5").is_ok_and(|d| d.negative));
        assert!(parse("--5").is_ok_and(|d| !d.negative));
        assert!(parse("-0").is_ok_and(|d| !d.negative && d.magnitude.is_zero()));
        assert_eq!(parse(""), Err(DecError::Empty));
        assert!(matches!(parse("1."), Err(DecError::InvalidLength(_))));
        assert!(matches!(parse(".5"), Err(DecError::InvalidLength(_))));
        assert!(matches!(parse("1.2.3"), Err(DecError::Invalid(_))));
        assert!(matches!(parse("1e3"), Err(DecError::Invalid(_))));
        assert!(matches!(parse("1_000"), Err(DecError::Invalid(_))));
        assert!(matches!(parse("0.0000000000000000001"), Err(DecError::TooPrecise { excess: 1, .. })));
        assert!(matches!(parse("9".repeat(40).as_str()), Err(DecError::OutOfRange(_))));
    }

    #[test]
    fn integer_arithmetic_is_exact() {
        let price: Dec = "0.333333333333333333".parse().unwrap_or_default();
        let total = price.mul_u64(3).unwrap_or_default();
        assert_eq!(total.to_string(), "0.999999999999999999");
        assert_eq!(total.floor(), 0);
        assert_eq!(total.fract(), total);
    }
}
