//! Retry delays: doubling from a first step up to a cap, with jitter so many clients
//! restarted together (a broker reboot, a power cut) do not retry in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A jitter seed that differs between processes, even between edges that all run as
/// PID 1 in their containers (with the PID alone they would retry in lockstep): the
/// process id mixed with the clock's nanoseconds.
pub fn seed() -> u32 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::process::id().rotate_left(16) ^ nanos
}

pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
    seed: u32,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration, seed: u32) -> Self {
        Backoff { first, cap, next: first, seed: seed | 1 }
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// The next delay: the current step ± 25 %.
    pub fn next_delay(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let jitter = 0.75 + (self.seed % 1000) as f64 / 2000.0;
        let d = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(self.cap);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 42);
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(75) && delays[0] <= Duration::from_millis(125));
        assert!(delays[1] >= Duration::from_millis(150) && delays[1] <= Duration::from_millis(250));
        for d in &delays[7..] {
            assert!(*d >= Duration::from_millis(3750) && *d <= Duration::from_millis(6250), "{d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(125));
    }

    #[test]
    fn two_processes_with_the_same_pid_still_retry_at_different_times() {
        let delays = |seed| {
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), seed);
            (0..10).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        let first = seed();
        std::thread::sleep(Duration::from_millis(2));
        let second = seed();
        assert_ne!(first | 1, second | 1, "same PID, started apart: different seeds");
        assert_ne!(delays(first), delays(second));
    }
}
