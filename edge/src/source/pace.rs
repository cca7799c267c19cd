//! Frame pacing on an absolute schedule.
//!
//! Deadlines are `start + n * period`, so small sleep overshoots do not accumulate into
//! a lower frame rate. When the consumer falls more than a frame behind, the schedule
//! restarts from now instead of bursting to catch up: a burst of old frames is exactly
//! the latency this project exists to avoid.

use std::time::{Duration, Instant};

pub struct Pacer {
    period: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// `fps == 0` means "as fast as the consumer takes frames".
    pub fn new(fps: u32) -> Self {
        let period = (fps > 0).then(|| Duration::from_secs_f64(1.0 / fps as f64));
        Pacer { period, next: None }
    }

    /// How long to sleep before the next frame, and advances the schedule.
    pub fn delay(&mut self, now: Instant) -> Duration {
        let Some(period) = self.period else {
            return Duration::ZERO;
        };
        let deadline = match self.next {
            Some(next) if now <= next + period => next,
            // First frame, or more than a whole period late: start again from now.
            _ => now,
        };
        self.next = Some(deadline + period);
        deadline.saturating_duration_since(now)
    }

    /// Sleeps until the next frame is due.
    pub fn wait(&mut self) {
        let d = self.delay(Instant::now());
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_frame_is_immediate_and_later_ones_follow_the_period() {
        let mut p = Pacer::new(10);
        let t0 = Instant::now();
        assert_eq!(p.delay(t0), Duration::ZERO);
        assert_eq!(p.delay(t0 + Duration::from_millis(30)), Duration::from_millis(70));
    }

    #[test]
    fn overshoot_does_not_accumulate() {
        let mut p = Pacer::new(10);
        let t0 = Instant::now();
        p.delay(t0);
        // Woke up 5 ms late for frame 1: frame 2 is still due at 200 ms.
        p.delay(t0 + Duration::from_millis(105));
        assert_eq!(p.delay(t0 + Duration::from_millis(110)), Duration::from_millis(90));
    }

    #[test]
    fn falling_far_behind_restarts_the_schedule_instead_of_bursting() {
        let mut p = Pacer::new(10);
        let t0 = Instant::now();
        p.delay(t0);
        let late = t0 + Duration::from_millis(550);
        assert_eq!(p.delay(late), Duration::ZERO);
        assert_eq!(p.delay(late), Duration::from_millis(100));
    }

    #[test]
    fn zero_fps_never_waits() {
        let mut p = Pacer::new(0);
        let t0 = Instant::now();
        assert!((0..5).all(|_| p.delay(t0).is_zero()));
    }
}
