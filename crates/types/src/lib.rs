//! Plain data shared by every Stratus crate.
//!
//! Nothing here does I/O or knows about the ledger, the network or YAML. The JSON shapes of
//! [`group::GroupSpec`] and [`manifest::Manifest`] are Akash's wire formats, so they derive serde.

pub mod attributes;
pub mod dec;
pub mod gojson;
pub mod group;
pub mod manifest;
pub mod resources;
