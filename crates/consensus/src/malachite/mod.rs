//! The Tendermint BFT engine, on Malachite (`arc-malachitebft-*` 0.8.2).

pub mod codec;
pub mod context;
pub mod engine;
pub mod signing;
pub mod stash;

pub use engine::{BftConfig, Fault, MalachiteEngine};

#[cfg(test)]
mod tests;
