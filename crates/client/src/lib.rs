//! What a user or a provider needs to talk to Stratus: keys and signing ([`keys`]), and typed
//! clients for the node's HTTP API ([`node`]).

mod answer;
pub mod keys;
pub mod node;
pub mod provider;

pub use node::{ClientError, Filter, NodeClient};

/// reqwest is built without a default TLS crypto provider (to keep one crypto stack, ring);
/// anything that makes HTTPS requests calls this first. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Milliseconds since the Unix epoch by this machine's clock (never the ledger's: the ledger's
/// clock is block heights and the block times its engine stamps).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
