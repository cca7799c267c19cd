//! Wall-clock time as the wire format writes it: µs since the UNIX epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in µs since the UNIX epoch. A clock set before 1970 reads as 0.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// CLOCK_MONOTONIC in µs: the clock V4L2 stamps buffers with.
#[cfg(unix)]
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}
