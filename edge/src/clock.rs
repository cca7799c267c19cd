//! Wall-clock time as the wire format writes it: µs since the UNIX epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in µs since the UNIX epoch. A clock set before 1970 reads as 0.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
