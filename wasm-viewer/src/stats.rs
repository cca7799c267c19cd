//! Frame rate and latency statistics. Pure arithmetic over timestamps the caller passes
//! in (milliseconds), so it is tested natively and the numbers on screen can be trusted.

use std::collections::VecDeque;

/// Window the frame rate is measured over. Short enough to react within two seconds,
/// long enough that 30 fps does not jitter by whole frames.
const FPS_WINDOW_MS: f64 = 2000.0;
/// How many recent latencies the percentiles are taken over.
const LATENCY_SAMPLES: usize = 120;

/// Everything the overlay and `#stats` show.
#[derive(Debug, Default)]
pub struct Stats {
    draws: VecDeque<f64>,
    latencies: VecDeque<f64>,
    /// Frames drawn since the page loaded.
    pub frames: u64,
    /// Frames received but replaced by a newer one before they could be decoded.
    pub dropped: u64,
    /// Payloads that were not frames, or not decodable JPEG.
    pub errors: u64,
    /// Size of the last frame drawn.
    pub width: u32,
    pub height: u32,
}

impl Stats {
    /// Records a frame drawn at `now_ms` that was captured `latency_ms` earlier.
    pub fn drawn(&mut self, now_ms: f64, latency_ms: f64, width: u32, height: u32) {
        self.frames += 1;
        self.width = width;
        self.height = height;
        self.draws.push_back(now_ms);
        self.expire(now_ms);
        if self.latencies.len() == LATENCY_SAMPLES {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency_ms);
    }

    fn expire(&mut self, now_ms: f64) {
        while self.draws.front().is_some_and(|&t| t <= now_ms - FPS_WINDOW_MS) {
            self.draws.pop_front();
        }
    }

    /// Frames per second over the last two seconds; 0 once frames stop.
    pub fn fps(&mut self, now_ms: f64) -> f64 {
        self.expire(now_ms);
        self.draws.len() as f64 * 1000.0 / FPS_WINDOW_MS
    }

    /// The `p`-th percentile (0–100) of recent latencies, nearest-rank; `None` before
    /// the first frame.
    pub fn latency_percentile(&self, p: f64) -> Option<f64> {
        percentile(self.latencies.iter().copied(), p)
    }
}

/// Nearest-rank percentile of `values`; `None` when empty.
pub fn percentile(values: impl Iterator<Item = f64>, p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_frames_a_second_read_thirty() {
        let mut s = Stats::default();
        let mut t = 0.0;
        for _ in 0..300 {
            t += 1000.0 / 30.0;
            s.drawn(t, 10.0, 640, 480);
        }
        assert!((s.fps(t) - 30.0).abs() <= 0.5, "{}", s.fps(t));
    }

    #[test]
    fn fps_reads_zero_when_frames_stop() {
        let mut s = Stats::default();
        for i in 0..60 {
            s.drawn(i as f64 * 33.3, 5.0, 1, 1);
        }
        let last = 59.0 * 33.3;
        assert!(s.fps(last) > 25.0);
        assert!(s.fps(last + 1000.0) < 16.0, "halves within a second");
        assert_eq!(s.fps(last + 2000.0), 0.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = (1..=100).map(f64::from);
        assert_eq!(percentile(v.clone(), 50.0), Some(50.0));
        assert_eq!(percentile(v.clone(), 95.0), Some(95.0));
        assert_eq!(percentile(v, 100.0), Some(100.0));
        assert_eq!(percentile([7.0].into_iter(), 95.0), Some(7.0));
        assert_eq!(percentile(std::iter::empty(), 50.0), None);
    }

    #[test]
    fn latency_covers_only_recent_frames() {
        let mut s = Stats::default();
        for i in 0..LATENCY_SAMPLES {
            s.drawn(i as f64, 1000.0, 1, 1);
        }
        for i in 0..LATENCY_SAMPLES {
            s.drawn(1000.0 + i as f64, 10.0, 1, 1);
        }
        assert_eq!(s.latency_percentile(95.0), Some(10.0));
        assert_eq!(s.frames, 2 * LATENCY_SAMPLES as u64);
    }
}
