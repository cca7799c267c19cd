//! Wall-clock time as the wire format writes it: µs since the UNIX epoch.
//!
//! Every timestamp the edge writes (frames, clock-offset replies, status) comes from
//! [`now_us`], so a test can skew the edge's clock as a whole with [`set_skew_ms`] and
//! check that viewers correct for it.

use std::{
    sync::atomic::{AtomicI64, Ordering::Relaxed},
    time::{SystemTime, UNIX_EPOCH},
};

static SKEW_US: AtomicI64 = AtomicI64::new(0);

/// Shifts every timestamp the edge writes by `ms` (tests of clock-offset correction).
pub fn set_skew_ms(ms: i64) {
    SKEW_US.store(ms.saturating_mul(1000), Relaxed);
}

/// Now, in µs since the UNIX epoch. A clock set before 1970 reads as 0.
pub fn now_us() -> u64 {
    let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    real.saturating_add(SKEW_US.load(Relaxed)).max(0) as u64
}

/// CLOCK_MONOTONIC in µs: the clock V4L2 stamps buffers with.
#[cfg(unix)]
pub fn monotonic_us() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// The CPU time this thread has used, µs: what a step costs, without the time it
/// waited for a core (the browser and the other threads share this machine's).
#[cfg(unix)]
pub fn thread_cpu_us() -> u64 {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[cfg(unix)]
fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// Elsewhere: wall-clock time, which includes waiting.
#[cfg(not(unix))]
pub fn thread_cpu_us() -> u64 {
    now_us()
}
