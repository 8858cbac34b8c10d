//! The provider's effects: the daemon's loop over the ledger, the gateway tenants call, TLS,
//! host detection, GPU telemetry.

pub mod daemon;
pub mod detect;
pub mod gateway;
pub mod store;
pub mod telemetry;
pub mod tls;
