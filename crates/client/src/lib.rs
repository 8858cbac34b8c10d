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

pub use stratus_types::clock::now_ms;
