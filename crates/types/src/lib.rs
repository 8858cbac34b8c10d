//! Plain data shared by every Stratus crate.
//!
//! Nothing here does I/O or knows about storage, the network or YAML. Types carry two encodings:
//! serde JSON for the API and files (and, for `GroupSpec` and `Manifest`, Akash's exact wire
//! format), and borsh for ledger state and transactions (canonical, so hashes are stable).

pub mod address;
pub mod api;
pub mod arena;
pub mod attributes;
pub mod auth;
pub mod benchmark;
pub mod block;
pub mod clock;
pub mod coin;
pub mod dec;
pub mod event;
pub mod gateway;
pub mod gojson;
pub mod gpu;
pub mod group;
pub mod keys;
pub mod manifest;
pub mod market;
pub mod params;
pub mod placement;
pub mod resources;
pub mod telemetry;
pub mod tx;
pub mod units;
