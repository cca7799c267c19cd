//! How many frames to let the edge have on their way to this viewer (the flow-control
//! window the acknowledgements ask for): enough that neither the link nor the decoder
//! sits idle, and no more, because a frame that waits in a queue (link, broker, kernel,
//! behind the decoder) is latency.
//!
//! With `W` frames in flight and one frame's full cycle `C` (publish → across the link →
//! decoded and drawn → acknowledgement back at the edge), the rate is `W / C`, and the
//! pipeline can go no faster than its slowest part, the period `P` = the largest of the
//! camera's frame interval, one frame's transfer time and one decode. So
//! `W = ⌈C / P⌉`, between 1 and [`MAX_WINDOW`]; a quarter frame more where the camera or
//! the decoder sets the pace (jitter), 10 % less where the link does (a frame too many
//! waits a whole transfer there).
//!
//! Every input is measured without the queue's own feedback, so a big window cannot
//! talk itself into a bigger one:
//! - the round trip is the *smallest* seen by the clock exchanges (the caller's
//!   [`crate::clock::ClockSync::best`]), not the current one, which grows with the queue;
//! - the link's rate comes from each frame's one-way time (published → received, on
//!   the corrected clock) less half that round trip, over its size; the fastest frames
//!   of the last seconds count (queued ones read slower), and a queue inflates `C` and
//!   `P` alike, so the ratio stays put;
//! - decode and draw are the decoder's service times (decode start → decoded), not the
//!   time a frame waited behind another.
//!
//! Measured before (2 Mbit/s, 80 ms, 72 KB frames): the old rule, 1 + current round trip
//! / decode time, asked for 8 frames and queued 2.7 s of video; this one asks for 2.

use std::collections::VecDeque;

/// The most frames a viewer lets the edge have on their way.
pub const MAX_WINDOW: u8 = 8;
/// Frames looked at: the last [`RECENT_MS`], at most this many.
const RECENT: usize = 60;
/// How far back the estimates look: short, so a link that slows down is noticed within
/// a couple of seconds.
const RECENT_MS: f64 = 2000.0;
/// Frames needed before the window grows beyond 1.
const ENOUGH: usize = 4;
/// Decode and draw times vary most (another tab, the edge encoding on the same cores):
/// they count a quarter more than measured, so a slow frame does not starve the next.
const DECODE_MARGIN: f64 = 1.25;
/// Headroom, in frames, where the camera or the decoder sets the pace: a cycle that just
/// fits one period on average overruns it half the time, and each overrun makes the next
/// frame wait at the edge (or be dropped), while a frame too many only waits behind the
/// decoder for a few milliseconds.
const HEADROOM: f64 = 0.25;
/// Where the link sets the pace, a frame too many waits a whole transfer in it: the
/// window is the smallest that carries this share of what the link can.
const LINK_SHARE: f64 = 0.9;

/// What the viewer saw of one frame, in ms on its own clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub sequence: u64,
    pub captured: f64,
    /// When the edge handed it to MQTT (offset-corrected); `None` from old edges.
    pub published: Option<f64>,
    pub received: f64,
    pub bytes: usize,
    /// Decode start → decoded: the decoder's own time for it.
    pub decode_ms: f64,
    /// Decoded → drawn.
    pub draw_ms: f64,
}

/// The estimates behind a window, for the overlay and `#stats`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The camera's frame interval (capture to capture, gaps divided out).
    pub frame_interval_ms: f64,
    /// What the link carries, bytes per second; `None` when it is too fast to time.
    pub link_bytes_per_s: Option<f64>,
    /// One frame's cycle, publish to acknowledgement (with margins).
    pub cycle_ms: f64,
    /// The slowest part's period.
    pub period_ms: f64,
    pub window: u8,
}

/// Recent frames, to estimate the window from.
#[derive(Debug, Default)]
pub struct Flow {
    frames: VecDeque<Observed>,
}

impl Flow {
    pub fn observe(&mut self, frame: Observed) {
        if self.frames.len() == RECENT {
            self.frames.pop_front();
        }
        self.frames.push_back(frame);
        while self.frames.front().is_some_and(|f| f.received < frame.received - RECENT_MS)
            && self.frames.len() > ENOUGH
        {
            self.frames.pop_front();
        }
    }

    /// Forgets everything (a new connection, another camera).
    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// The window to ask for, given the smallest round trip seen (ms).
    pub fn window(&self, rtt_min_ms: Option<f64>) -> u8 {
        self.estimate(rtt_min_ms).map_or(1, |e| e.window)
    }

    pub fn estimate(&self, rtt_min_ms: Option<f64>) -> Option<Estimate> {
        if self.frames.len() < ENOUGH {
            return None;
        }
        let rtt = rtt_min_ms.filter(|r| r.is_finite() && *r >= 0.0)?;
        let intervals = self.frames.iter().zip(self.frames.iter().skip(1)).filter_map(|(a, b)| {
            let frames = b.sequence.checked_sub(a.sequence).filter(|n| *n > 0)? as f64;
            Some((b.captured - a.captured) / frames).filter(|i| *i > 0.0)
        });
        let frame_interval_ms = percentile(intervals, 50.0)?;

        // Per frame: bytes over (one way − half the round trip). The fast end is the
        // link's rate; the frames that waited behind another are the slow end.
        let rates = self.frames.iter().filter_map(|f| {
            let one_way = f.received - f.published?;
            let transfer = one_way - rtt / 2.0;
            Some(f.bytes as f64 / transfer.max(0.5) * 1000.0)
        });
        let link_bytes_per_s = percentile(rates, 75.0);
        let bytes = |p| percentile(self.frames.iter().map(|f| f.bytes as f64), p).unwrap_or(0.0);
        let transfer = |p| link_bytes_per_s.map_or(0.0, |rate| bytes(p) / rate * 1000.0);
        let service = |p| {
            percentile(self.frames.iter().map(|f| f.decode_ms.max(0.0) + f.draw_ms.max(0.0)), p)
                .unwrap_or(0.0)
        };

        let period_ms = frame_interval_ms.max(transfer(50.0)).max(service(50.0));
        let cycle_ms = rtt + transfer(95.0) + DECODE_MARGIN * service(95.0);
        let link_bound = transfer(50.0) >= frame_interval_ms.max(service(50.0));
        let frames = match link_bound {
            true => LINK_SHARE * cycle_ms / period_ms,
            false => cycle_ms / period_ms + HEADROOM,
        };
        let window = frames.ceil().clamp(1.0, MAX_WINDOW as f64) as u8;
        // Under a millisecond per frame the link is not what limits: no rate to show.
        let link_bytes_per_s = link_bytes_per_s.filter(|_| transfer(50.0) >= 1.0);
        Some(Estimate { frame_interval_ms, link_bytes_per_s, cycle_ms, period_ms, window })
    }
}

/// Nearest-rank percentile; `None` when there are no values.
fn percentile(values: impl Iterator<Item = f64>, p: f64) -> Option<f64> {
    crate::stats::percentile(values.filter(|v| v.is_finite()), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady stream: a frame every `interval` ms of `bytes`, crossing a link of
    /// `rate` bytes/s with `rtt` ms round trip, each waiting `queued` ms in the link,
    /// decoded in `decode` ms. The clock offset is assumed corrected.
    fn stream(interval: f64, bytes: usize, rate: f64, rtt: f64, queued: f64, decode: f64) -> Flow {
        let mut flow = Flow::default();
        for i in 0..40u64 {
            let captured = i as f64 * interval;
            let published = captured + 2.0;
            let received = published + rtt / 2.0 + queued + bytes as f64 / rate * 1000.0;
            flow.observe(Observed {
                sequence: i,
                captured,
                published: Some(published),
                received,
                bytes,
                decode_ms: decode,
                draw_ms: 0.3,
            });
        }
        flow
    }

    const MBIT: f64 = 1e6 / 8.0;

    #[test]
    fn a_lan_with_time_to_spare_keeps_one_frame_in_flight() {
        // 640x480@30: 72 KB in a fraction of a millisecond, decoded in 5 ms.
        let f = stream(33.3, 72_000, 1e9, 0.4, 0.0, 5.0);
        assert_eq!(f.window(Some(0.4)), 1);
        assert_eq!(f.estimate(Some(0.4)).unwrap().link_bytes_per_s, None, "too fast to time");
    }

    #[test]
    fn a_busy_decoder_gets_the_next_frame_waiting() {
        // 1080p30: decode ~25 ms of the 33 ms interval; a frame that has to wait for
        // the acknowledgement before it is even sent would leave the decoder idle.
        let f = stream(33.3, 434_000, 1e9, 0.4, 0.0, 25.0);
        assert_eq!(f.window(Some(0.4)), 2);
        // Unthrottled camera at 640x480: the decoder is the bottleneck.
        let f = stream(4.0, 72_000, 1e9, 0.4, 0.0, 5.0);
        assert_eq!(f.window(Some(0.4)), 2);
    }

    #[test]
    fn a_slow_link_keeps_it_busy_without_a_queue() {
        // 2 Mbit/s, 80 ms: 72 KB take 288 ms. Two in flight keep the link busy.
        let f = stream(33.3, 72_000, 2.0 * MBIT, 80.0, 0.0, 5.0);
        let e = f.estimate(Some(80.0)).unwrap();
        assert_eq!(e.window, 2, "{e:?}");
        let kbit = e.link_bytes_per_s.unwrap() * 8.0 / 1000.0;
        assert!((1900.0..2100.0).contains(&kbit), "{kbit} kbit/s");
        // 8 Mbit/s, 40 ms: 72 ms per frame.
        assert_eq!(stream(33.3, 72_000, 8.0 * MBIT, 40.0, 0.0, 5.0).window(Some(40.0)), 2);
        // Chromium's "2 Mbit/s, 80 ms" as measured: 1.3 Mbit/s of frames, 10 ms round
        // trip. One frame in flight carries 95 % of what the link can, at half the
        // latency of two.
        let f = stream(33.3, 72_000, 1.3 * MBIT, 10.0, 0.0, 10.0);
        assert_eq!(f.window(Some(10.0)), 1);
        // And two frames queueing behind each other do not keep it at two.
        let f = stream(33.3, 72_000, 1.3 * MBIT, 10.0, 444.0, 10.0);
        assert_eq!(f.window(Some(10.0)), 1);
    }

    #[test]
    fn the_queue_a_window_makes_does_not_grow_the_window() {
        // With two in flight on a link-bound path every frame waits ~one transfer behind
        // the other; the old rule read that as a longer round trip and asked for 8.
        let f = stream(33.3, 72_000, 2.0 * MBIT, 80.0, 250.0, 5.0);
        assert_eq!(f.window(Some(80.0)), 2);
        // Far away on a fast link: the round trip itself needs frames in flight.
        assert_eq!(stream(33.3, 72_000, 100.0 * MBIT, 150.0, 0.0, 5.0).window(Some(150.0)), 6);
        // Capped.
        assert_eq!(stream(5.0, 10_000, 1e9, 2000.0, 0.0, 1.0).window(Some(2000.0)), MAX_WINDOW);
    }

    #[test]
    fn a_link_that_slows_down_is_noticed_within_seconds() {
        let mut f = stream(33.3, 72_000, 20.0 * MBIT, 80.0, 0.0, 5.0);
        assert!(f.window(Some(80.0)) >= 3);
        let last = f.frames.back().copied().unwrap();
        // Now 2 Mbit/s: frames arrive every ~290 ms.
        for i in 1..=8u64 {
            let received = last.received + i as f64 * 290.0;
            f.observe(Observed {
                sequence: last.sequence + i * 9,
                captured: received - 330.0,
                published: Some(received - 328.0),
                received,
                ..last
            });
        }
        assert_eq!(f.window(Some(80.0)), 2, "{:?}", f.estimate(Some(80.0)));
    }

    #[test]
    fn without_enough_to_go_on_the_window_is_one() {
        let mut f = Flow::default();
        assert_eq!(f.window(Some(1.0)), 1);
        f.observe(Observed {
            sequence: 1,
            captured: 0.0,
            published: None,
            received: 5.0,
            bytes: 1000,
            decode_ms: 1.0,
            draw_ms: 0.1,
        });
        assert_eq!(f.window(Some(1.0)), 1);
        assert_eq!(stream(33.3, 72_000, 1e9, 0.4, 0.0, 5.0).window(None), 1, "no round trip yet");
    }
}
