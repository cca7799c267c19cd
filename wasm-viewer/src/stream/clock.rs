//! Clock offset between this viewer and the edge, estimated NTP-style over MQTT.
//!
//! The viewer sends its time t1 on the camera's clock request topic; the edge replies
//! with its receive time t2 and send time t3 (the messages are `wire::clock`'s); the
//! reply arrives at viewer time t4. Then
//!
//! ```text
//! offset = ((t2 − t1) + (t3 − t4)) / 2      (edge clock − viewer clock)
//! round trip = (t4 − t1) − (t3 − t2)
//! ```
//!
//! and the true offset lies within ± round trip / 2 of the estimate. Of the recent
//! samples the one with the shortest round trip is used: queueing delay is what makes
//! the two directions unequal, and the fastest exchange had the least of it.

use std::collections::VecDeque;

/// Samples kept: the best of the last minute or so (one refresh every 2 s), which
/// follows slow drift and forgets a lucky outlier eventually.
const SAMPLES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub offset_ms: f64,
    pub rtt_ms: f64,
}

#[derive(Debug, Default)]
pub struct ClockSync {
    samples: VecDeque<Sample>,
}

impl ClockSync {
    /// Adds an exchange: `t1`, `t4` viewer ms; `t2_us`, `t3_us` edge µs. Exchanges with
    /// a negative round trip (impossible unless a clock jumped) are ignored.
    pub fn add(&mut self, t1: f64, t2_us: u64, t3_us: u64, t4: f64) -> Option<Sample> {
        let (t2, t3) = (t2_us as f64 / 1000.0, t3_us as f64 / 1000.0);
        let rtt_ms = (t4 - t1) - (t3 - t2);
        if !(rtt_ms >= 0.0 && rtt_ms.is_finite()) {
            return None;
        }
        let sample = Sample { offset_ms: ((t2 - t1) + (t3 - t4)) / 2.0, rtt_ms };
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        Some(sample)
    }

    /// The best estimate: the sample with the shortest round trip.
    pub fn best(&self) -> Option<Sample> {
        self.samples.iter().copied().min_by(|a, b| a.rtt_ms.total_cmp(&b.rtt_ms))
    }

    /// How many samples are held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Offset to subtract from edge times to get viewer times (0 before any sample:
    /// the same-machine assumption).
    pub fn offset_ms(&self) -> f64 {
        self.best().map_or(0.0, |s| s.offset_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symmetric_exchange_gives_the_exact_offset() {
        let mut c = ClockSync::default();
        // Edge 5 s ahead; 2 ms each way; edge takes 0.1 ms to answer.
        let (t1, t4) = (1000.0, 1004.1);
        let (t2, t3) = ((1002.0 + 5000.0) * 1000.0, (1002.1 + 5000.0) * 1000.0);
        let s = c.add(t1, t2 as u64, t3 as u64, t4).unwrap();
        assert!((s.offset_ms - 5000.0).abs() < 1e-6, "{s:?}");
        assert!((s.rtt_ms - 4.0).abs() < 1e-6);
        assert!((c.offset_ms() - 5000.0).abs() < 1e-6);
    }

    #[test]
    fn the_shortest_round_trip_wins() {
        let mut c = ClockSync::default();
        // Edge 2 s behind. A slow, lopsided exchange (10 ms out, 1 ms back) and a fast
        // symmetric one (0.5 ms each way).
        c.add(10_000.0, 8_010_000, 8_010_000, 10_011.0);
        c.add(20_000.0, 18_000_500, 18_000_500, 20_001.0);
        let best = c.best().unwrap();
        assert_eq!(best.rtt_ms, 1.0);
        assert!((best.offset_ms + 2000.0).abs() < 1e-6, "{best:?}");
    }

    #[test]
    fn impossible_exchanges_are_ignored_and_old_samples_expire() {
        let mut c = ClockSync::default();
        assert!(c.add(10.0, 0, 50_000, 11.0).is_none(), "edge took longer than the round trip");
        assert!(c.is_empty());
        for i in 0..40 {
            c.add(i as f64, 0, 0, i as f64 + 1.0);
        }
        assert_eq!(c.len(), SAMPLES);
    }
}
