//! Frame rate, end-to-end latency and where the time goes. Pure arithmetic over times
//! the caller passes in (milliseconds on the viewer's clock), so it is tested natively
//! and the numbers on screen can be trusted.

use std::collections::VecDeque;

/// Window the frame rate is measured over. Short enough to react within two seconds,
/// long enough that 30 fps does not jitter by whole frames.
const FPS_WINDOW_MS: f64 = 2000.0;
/// How many recent frames the percentiles are taken over.
const SAMPLES: usize = 120;

/// The stages a frame goes through, in order. The first two are measured on the edge's
/// clock alone; the third crosses clocks and is corrected by the estimated offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    CaptureEncoded,
    EncodedPublished,
    PublishedReceived,
    ReceivedDecoded,
    DecodedDrawn,
    /// Drawn into the canvas → on screen: the next animation frame after the draw, when
    /// the compositor takes the canvas.
    DrawnPresented,
    /// Capture to presented (to drawn where the browser gave no animation frame): the
    /// end-to-end latency.
    Total,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::CaptureEncoded,
        Stage::EncodedPublished,
        Stage::PublishedReceived,
        Stage::ReceivedDecoded,
        Stage::DecodedDrawn,
        Stage::DrawnPresented,
        Stage::Total,
    ];

    /// The name used in `#stats` attributes (`data-stage-<name>-p50-ms`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::CaptureEncoded => "capture-encoded",
            Stage::EncodedPublished => "encoded-published",
            Stage::PublishedReceived => "published-received",
            Stage::ReceivedDecoded => "received-decoded",
            Stage::DecodedDrawn => "decoded-drawn",
            Stage::DrawnPresented => "drawn-presented",
            Stage::Total => "total",
        }
    }

    /// A short label for the overlay.
    pub fn label(self) -> &'static str {
        match self {
            Stage::CaptureEncoded => "encode",
            Stage::EncodedPublished => "publish",
            Stage::PublishedReceived => "network",
            Stage::ReceivedDecoded => "decode",
            Stage::DecodedDrawn => "draw",
            Stage::DrawnPresented => "present",
            Stage::Total => "total",
        }
    }
}

/// When one frame passed each point. Edge times are already on the viewer's clock
/// (offset applied); `published` is `None` from edges that do not stamp it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTimes {
    pub captured: f64,
    pub encoded: f64,
    pub published: Option<f64>,
    pub received: f64,
    pub decoded: f64,
    pub drawn: f64,
    /// The animation frame after the draw; `None` if the browser gave none in time.
    pub presented: Option<f64>,
}

impl FrameTimes {
    fn stage(&self, stage: Stage) -> Option<f64> {
        Some(match stage {
            Stage::CaptureEncoded => self.encoded - self.captured,
            Stage::EncodedPublished => self.published? - self.encoded,
            Stage::PublishedReceived => self.received - self.published?,
            Stage::ReceivedDecoded => self.decoded - self.received,
            Stage::DecodedDrawn => self.drawn - self.decoded,
            Stage::DrawnPresented => self.presented? - self.drawn,
            Stage::Total => self.presented.unwrap_or(self.drawn) - self.captured,
        })
    }
}

/// Recent values of one quantity.
#[derive(Debug, Default)]
struct Window(VecDeque<f64>);

impl Window {
    fn push(&mut self, v: f64) {
        if self.0.len() == SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back(v);
    }
}

/// Everything the overlay and `#stats` show.
#[derive(Debug, Default)]
pub struct Stats {
    draws: VecDeque<f64>,
    stages: [Window; 7],
    /// Frames drawn since the page loaded.
    pub frames: u64,
    /// Frames received but replaced by a newer one before they could be decoded.
    pub dropped: u64,
    /// Payloads that were not frames, or not decodable JPEG.
    pub errors: u64,
    /// Frames drawn, then drawn over before the screen showed them (more frames than
    /// the display's refresh, or a busy compositor). Counted in `frames`, never in the
    /// latency: they did not reach the screen.
    pub overdrawn: u64,
    /// The newest frame's end-to-end latency.
    pub last_latency: Option<f64>,
    /// Size of the last frame drawn.
    pub width: u32,
    pub height: u32,
}

impl Stats {
    /// Records a frame drawn at `t.drawn` (and on screen at `t.presented`).
    pub fn drawn(&mut self, t: &FrameTimes, width: u32, height: u32) {
        self.last_latency = t.stage(Stage::Total);
        self.record(t, width, height, &Stage::ALL);
    }

    /// Records a frame drawn at `t.drawn` and drawn over by a newer one before the
    /// screen showed it: its stages up to the draw, no latency.
    pub fn drawn_over(&mut self, t: &FrameTimes, width: u32, height: u32) {
        self.overdrawn += 1;
        self.record(t, width, height, &Stage::ALL[..5]);
    }

    /// Records a recorded frame drawn at `drawn_ms`: the frame rate and size, no
    /// latency (its age says when it was recorded, not how fast the system is).
    pub fn shown(&mut self, drawn_ms: f64, width: u32, height: u32) {
        self.frames += 1;
        self.width = width;
        self.height = height;
        self.draws.push_back(drawn_ms);
        self.expire(drawn_ms);
    }

    fn record(&mut self, t: &FrameTimes, width: u32, height: u32, stages: &[Stage]) {
        self.frames += 1;
        self.width = width;
        self.height = height;
        self.draws.push_back(t.drawn);
        self.expire(t.drawn);
        for (i, stage) in stages.iter().enumerate() {
            if let Some(v) = t.stage(*stage) {
                self.stages[i].push(v);
            }
        }
    }

    fn expire(&mut self, now_ms: f64) {
        while self.draws.front().is_some_and(|&t| t <= now_ms - FPS_WINDOW_MS) {
            self.draws.pop_front();
        }
    }

    /// Forgets the stage samples, e.g. once the clock offset is first known: the ones
    /// before were computed assuming no offset.
    pub fn clear_stages(&mut self) {
        self.stages.iter_mut().for_each(|w| w.0.clear());
    }

    /// Frames per second over the last two seconds; 0 once frames stop.
    pub fn fps(&mut self, now_ms: f64) -> f64 {
        self.expire(now_ms);
        self.draws.len() as f64 * 1000.0 / FPS_WINDOW_MS
    }

    /// The `p`-th percentile (0–100) of a stage over recent frames, nearest-rank;
    /// `None` before the first frame.
    pub fn percentile(&self, stage: Stage, p: f64) -> Option<f64> {
        let i = Stage::ALL.iter().position(|s| *s == stage).expect("every stage is listed");
        percentile(self.stages[i].0.iter().copied(), p)
    }

    /// End-to-end latency percentile (capture → presented).
    pub fn latency_percentile(&self, p: f64) -> Option<f64> {
        self.percentile(Stage::Total, p)
    }
}

/// Nearest-rank percentile of `values`; `None` when empty.
pub fn percentile(values: impl Iterator<Item = f64>, p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame on screen at `presented`, `total` ms after its capture.
    fn times(presented: f64, total: f64) -> FrameTimes {
        let captured = presented - total;
        FrameTimes {
            captured,
            encoded: captured + total * 0.2,
            published: Some(captured + total * 0.3),
            received: captured + total * 0.6,
            decoded: captured + total * 0.9,
            drawn: captured + total * 0.95,
            presented: Some(presented),
        }
    }

    #[test]
    fn thirty_frames_a_second_read_thirty() {
        let mut s = Stats::default();
        let mut t = 0.0;
        for _ in 0..300 {
            t += 1000.0 / 30.0;
            s.drawn(&times(t, 10.0), 640, 480);
        }
        assert!((s.fps(t) - 30.0).abs() <= 0.5, "{}", s.fps(t));
    }

    #[test]
    fn fps_reads_zero_when_frames_stop() {
        let mut s = Stats::default();
        for i in 0..60 {
            s.drawn(&times(i as f64 * 33.3, 5.0), 1, 1);
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
        for i in 0..SAMPLES {
            s.drawn(&times(i as f64, 1000.0), 1, 1);
        }
        for i in 0..SAMPLES {
            s.drawn(&times(2000.0 + i as f64, 10.0), 1, 1);
        }
        assert_eq!(s.latency_percentile(95.0), Some(10.0));
        assert_eq!(s.frames, 2 * SAMPLES as u64);
    }

    #[test]
    fn stages_add_up_to_the_total() {
        let mut s = Stats::default();
        s.drawn(&times(100.0, 20.0), 1, 1);
        let parts: f64 = Stage::ALL[..6].iter().map(|st| s.percentile(*st, 50.0).unwrap()).sum();
        assert!((parts - 20.0).abs() < 1e-9, "{parts}");
        assert!((s.percentile(Stage::CaptureEncoded, 50.0).unwrap() - 4.0).abs() < 1e-9);
        assert!((s.percentile(Stage::DrawnPresented, 50.0).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn without_an_animation_frame_the_total_ends_at_the_draw() {
        let mut s = Stats::default();
        s.drawn(&FrameTimes { presented: None, ..times(100.0, 20.0) }, 1, 1);
        assert_eq!(s.percentile(Stage::DrawnPresented, 50.0), None);
        assert!((s.latency_percentile(50.0).unwrap() - 19.0).abs() < 1e-9);
    }

    #[test]
    fn a_frame_drawn_over_counts_as_drawn_but_not_in_the_latency() {
        let mut s = Stats::default();
        s.drawn(&times(100.0, 20.0), 1, 1);
        s.drawn_over(&FrameTimes { presented: None, ..times(300.0, 250.0) }, 1, 1);
        assert_eq!((s.frames, s.overdrawn), (2, 1));
        assert_eq!(s.latency_percentile(99.0), Some(20.0), "it never reached the screen");
        assert_eq!(s.percentile(Stage::DrawnPresented, 99.0), Some(1.0));
        assert_eq!(s.percentile(Stage::ReceivedDecoded, 99.0), Some(75.0), "its earlier stages count");
        assert_eq!(s.last_latency, Some(20.0));
    }

    #[test]
    fn clearing_stages_keeps_the_counts() {
        let mut s = Stats::default();
        s.drawn(&times(100.0, 5000.0), 1, 1);
        s.clear_stages();
        assert_eq!(s.latency_percentile(50.0), None);
        assert_eq!(s.frames, 1);
    }

    #[test]
    fn frames_without_a_published_time_skip_those_two_stages() {
        let mut s = Stats::default();
        s.drawn(&FrameTimes { published: None, ..times(100.0, 20.0) }, 1, 1);
        assert_eq!(s.percentile(Stage::EncodedPublished, 50.0), None);
        assert_eq!(s.percentile(Stage::PublishedReceived, 50.0), None);
        assert_eq!(s.latency_percentile(50.0), Some(20.0));
    }
}
