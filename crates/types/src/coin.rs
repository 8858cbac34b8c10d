//! Whole-unit amounts of a denomination (`5000000uact`). Balances and deposits are integers;
//! fractional amounts (prices per block, accrued payments) are [`crate::dec::Dec`].

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::group::is_valid_denom;

#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Coin {
    pub denom: String,
    /// Serialized as a decimal string in JSON: amounts exceed what JSON numbers carry exactly.
    #[serde(with = "u128_string")]
    pub amount: u128,
}

impl Coin {
    pub fn new(amount: u128, denom: impl Into<String>) -> Coin {
        Coin { denom: denom.into(), amount }
    }
}

impl fmt::Display for Coin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.denom)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoinError {
    #[error("{0:?} is not an amount like 5000000uact: digits first, then the denomination")]
    Format(String),
    #[error("{0:?} is not a valid denomination")]
    Denom(String),
}

impl FromStr for Coin {
    type Err = CoinError;

    /// `5000000uact`.
    fn from_str(s: &str) -> Result<Coin, CoinError> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(CoinError::Format(s.to_string()));
        }
        let amount = s[..digits].parse().map_err(|_| CoinError::Format(s.to_string()))?;
        let denom = &s[digits..];
        if !is_valid_denom(denom) {
            return Err(CoinError::Denom(denom.to_string()));
        }
        Ok(Coin::new(amount, denom))
    }
}

/// serde helper: `u128` as a decimal string.
pub mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        match Either::deserialize(d)? {
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Either::Number(n) => Ok(u128::from(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("5000000uact".parse::<Coin>(), Ok(Coin::new(5_000_000, "uact")));
        assert_eq!(Coin::new(12, "uakt").to_string(), "12uakt");
        assert!(matches!("uact".parse::<Coin>(), Err(CoinError::Format(_))));
        assert!(matches!("12u".parse::<Coin>(), Err(CoinError::Denom(_))));
        let json = serde_json::to_string(&Coin::new(u128::MAX, "uact")).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Coin>(&json).ok(), Some(Coin::new(u128::MAX, "uact")));
    }
}
