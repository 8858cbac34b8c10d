//! Pure provider logic: plain data in, decisions out. Nothing here does I/O or reads a clock.

pub mod bidengine;
pub mod decisions;
pub mod inventory;
pub mod manifest_check;
pub mod pricing;
pub mod reconcile;
pub mod restart;
