//! The consensus boundary lives in its own crate (`stratus-consensus`): the node implements its
//! [`BlockApp`] and runs one of its engines.

pub use stratus_consensus::*;
