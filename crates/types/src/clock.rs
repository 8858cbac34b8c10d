//! The machine's clock, in one place. The ledger never reads it (its clock is block heights and
//! the times its engine stamps on blocks); engines stamp blocks with it and clients time with it.

/// Milliseconds since the Unix epoch by this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
