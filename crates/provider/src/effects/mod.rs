//! The provider's effects: the daemon's loop over the ledger, the gateway tenants call, TLS,
//! host detection.

pub mod daemon;
pub mod detect;
pub mod gateway;
pub mod store;
pub mod tls;
