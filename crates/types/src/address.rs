//! Account addresses: the first 20 bytes of sha256(ed25519 public key), shown as bech32 `stratus1…`.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32, Hrp};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Human-readable part of every address.
pub const ADDRESS_HRP: &str = "stratus";

#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 20]);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} is not a bech32 address")]
    NotBech32(String),
    #[error("{0:?} has prefix {1:?}; Stratus addresses start with {ADDRESS_HRP}1")]
    WrongPrefix(String, String),
    #[error("{0:?} holds {1} bytes; an address holds 20")]
    WrongLength(String, usize),
}

impl Address {
    /// The address of an ed25519 public key.
    pub fn from_public_key(public_key: &[u8; 32]) -> Address {
        let digest = Sha256::digest(public_key);
        let mut out = [0u8; 20];
        out.copy_from_slice(&digest[..20]);
        Address(out)
    }

    /// A module account (escrow, community pool): derived from its name, with no private key.
    pub fn module(name: &str) -> Address {
        let digest = Sha256::digest(format!("stratus/module/{name}").as_bytes());
        let mut out = [0u8; 20];
        out.copy_from_slice(&digest[..20]);
        Address(out)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(ADDRESS_HRP);
        match bech32::encode::<Bech32>(hrp, &self.0) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Address, AddressError> {
        let (hrp, data) = bech32::decode(s).map_err(|_| AddressError::NotBech32(s.to_string()))?;
        if hrp.as_str() != ADDRESS_HRP {
            return Err(AddressError::WrongPrefix(s.to_string(), hrp.to_string()));
        }
        let bytes: [u8; 20] =
            data.as_slice().try_into().map_err(|_| AddressError::WrongLength(s.to_string(), data.len()))?;
        Ok(Address(bytes))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        <String as Deserialize>::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bech32() {
        let a = Address::from_public_key(&[7u8; 32]);
        let text = a.to_string();
        assert!(text.starts_with("stratus1"), "{text}");
        assert_eq!(text.parse::<Address>(), Ok(a));
    }

    #[test]
    fn refuses_other_prefixes_and_garbage() {
        let akash = bech32::encode::<Bech32>(Hrp::parse_unchecked("akash"), &[1u8; 20]).unwrap_or_default();
        assert!(matches!(akash.parse::<Address>(), Err(AddressError::WrongPrefix(..))));
        assert!(matches!("stratus1xyz".parse::<Address>(), Err(AddressError::NotBech32(_))));
    }

    #[test]
    fn module_addresses_are_distinct() {
        assert_ne!(Address::module("escrow"), Address::module("community-pool"));
    }
}
