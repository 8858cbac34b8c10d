//! Ledger tests through the public API: random message sequences.

mod property;
