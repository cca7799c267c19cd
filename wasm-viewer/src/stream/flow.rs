//! How many frames to let the edge have on their way to this viewer (the flow-control
//! window the acknowledgements ask for): enough that neither the link nor the decoder
//! sits idle, and no more, because a frame that waits in a queue (link, broker, kernel,
//! behind the decoder) is latency.
//!
//! With `W` frames in flight and one frame's full cycle `C` (publish → across the link →
//! decoded and drawn → acknowledgement back at the edge), the rate is `W / C`, and the
//! pipeline can go no faster than its slowest part: the camera's frame interval, one
//! frame's transfer time or one decode.
//! - Where the camera sets the pace, a frame in flight beyond the first waits for
//!   nothing, so the window covers the slow cycles too: `W = ⌈C₉₅ / interval⌉` (a 1080p
//!   decode of 25 ms that sometimes takes 35 leaves a 33 ms interval short; one more
//!   frame in flight keeps the camera's rate).
//! - Where the link or the decoder sets the pace, a frame too many waits a whole transfer
//!   or decode in a queue, so the window is the smallest that carries [`SHARE`] of what
//!   that part can: `W = ⌈0.85 · C / P⌉`, `P` its time per frame. On a LAN the decoder
//!   then gets the next frame a fraction of a millisecond after asking for it.
//!
//! `W` is between 1 and [`MAX_WINDOW`].
//!
//! Every input is measured without the queue's own feedback, so a big window cannot
//! talk itself into a bigger one:
//! - the round trip is the *smallest* seen by the clock exchanges (the caller's
//!   [`crate::stream::clock::ClockSync::best`]), not the current one, which grows with the queue;
//! - the link's rate comes from each frame's size over the time its bytes took to arrive:
//!   from its publication plus half that round trip (on the corrected clock), or, if it
//!   queued behind the frame before, from that one's arrival;
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
/// Where the link or the decoder sets the pace, the window is the smallest that carries
/// this share of what it can: above the 80 % a viewer should get of a slow link, and
/// each frame more would wait a whole transfer or decode.
const SHARE: f64 = 0.85;

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
    /// One frame's cycle, publish to acknowledgement (its p95 where the camera sets the
    /// pace).
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

        // Per frame: bytes over the time its bytes took to arrive, which began when it
        // was published plus half the round trip, or, when it queued behind the frame
        // before, when that one had arrived. Queueing therefore never reads as a slow link.
        let previous = std::iter::once(None).chain(self.frames.iter().map(|f| Some(f.received)));
        let rates = self.frames.iter().zip(previous).filter_map(|(f, before)| {
            let start = (f.published? + rtt / 2.0).max(before.unwrap_or(f64::NEG_INFINITY));
            Some(f.bytes as f64 / (f.received - start).max(0.5) * 1000.0)
        });
        let link_bytes_per_s = percentile(rates, 75.0);
        let bytes = |p| percentile(self.frames.iter().map(|f| f.bytes as f64), p).unwrap_or(0.0);
        let transfer = |p| link_bytes_per_s.map_or(0.0, |rate| bytes(p) / rate * 1000.0);
        let service = |p| {
            percentile(self.frames.iter().map(|f| f.decode_ms.max(0.0) + f.draw_ms.max(0.0)), p)
                .unwrap_or(0.0)
        };

        let period_ms = frame_interval_ms.max(transfer(50.0)).max(service(50.0));
        let camera_paced = frame_interval_ms >= transfer(50.0).max(service(50.0));
        let (cycle_ms, frames) = if camera_paced {
            let cycle = rtt + transfer(95.0) + service(95.0);
            (cycle, cycle / frame_interval_ms)
        } else {
            let cycle = rtt + transfer(50.0) + service(50.0);
            (cycle, SHARE * cycle / period_ms)
        };
        let window = frames.ceil().clamp(1.0, MAX_WINDOW as f64) as u8;
        // Under a millisecond per frame the link is not what limits: no rate to show.
        let link_bytes_per_s = link_bytes_per_s.filter(|_| transfer(50.0) >= 1.0);
        Some(Estimate { frame_interval_ms, link_bytes_per_s, cycle_ms, period_ms, window })
    }
}

/// Nearest-rank percentile; `None` when there are no values.
fn percentile(values: impl Iterator<Item = f64>, p: f64) -> Option<f64> {
    crate::picture::stats::percentile(values.filter(|v| v.is_finite()), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBIT: f64 = 1e6 / 8.0;

    /// A camera, an edge that keeps at most `window` frames unacknowledged, one link
    /// (one frame at a time, `rate` bytes/s, `rtt` ms round trip) and one decoder, in
    /// viewer ms with the clock offset corrected: what a viewer would observe.
    struct Sim {
        flow: Flow,
        interval: f64,
        bytes: usize,
        rtt: f64,
        decode: fn(u64) -> f64,
        captured: u64,
        link_free: f64,
        decoder_free: f64,
        /// When the edge hears each unacknowledged frame's acknowledgement.
        acks: std::collections::VecDeque<f64>,
        n: u64,
    }

    impl Sim {
        fn new(interval: f64, bytes: usize, rtt: f64, decode: fn(u64) -> f64) -> Sim {
            Sim {
                flow: Flow::default(),
                interval,
                bytes,
                rtt,
                decode,
                captured: 0,
                link_free: 0.0,
                decoder_free: 0.0,
                acks: Default::default(),
                n: 0,
            }
        }

        /// Sends `frames` more frames over a link of `rate` with `window` in flight.
        fn run(mut self, frames: u64, rate: f64, window: usize) -> Sim {
            for _ in 0..frames {
                let free_at = if self.acks.len() < window { 0.0 } else { self.acks.pop_front().unwrap() };
                // The newest frame captured by then (or the next one), as the edge's slot does.
                let c = (self.captured + 1).max((free_at / self.interval).floor() as u64);
                let captured = c as f64 * self.interval;
                let published = (captured + 2.0).max(free_at);
                let received =
                    (published + self.rtt / 2.0).max(self.link_free) + self.bytes as f64 / rate * 1000.0;
                let decode_ms = (self.decode)(self.n);
                let decoded = received.max(self.decoder_free) + decode_ms;
                self.decoder_free = decoded + 0.3;
                self.link_free = received;
                self.acks.push_back(decoded + 0.3 + self.rtt / 2.0);
                self.flow.observe(Observed {
                    sequence: c,
                    captured,
                    published: Some(published),
                    received,
                    bytes: self.bytes,
                    decode_ms,
                    draw_ms: 0.3,
                });
                self.captured = c;
                self.n += 1;
            }
            self
        }

        fn window(&self) -> u8 {
            self.flow.window(Some(self.rtt))
        }
    }

    #[test]
    fn a_lan_with_time_to_spare_keeps_one_frame_in_flight() {
        // 640x480@30: 72 KB in a fraction of a millisecond, decoded in 5 ms.
        let s = Sim::new(33.3, 72_000, 0.4, |_| 5.0).run(40, 1e9, 1);
        assert_eq!(s.window(), 1);
        assert_eq!(s.flow.estimate(Some(0.4)).unwrap().link_bytes_per_s, None, "too fast to time");
    }

    #[test]
    fn slow_decodes_get_a_second_frame_in_flight_where_the_camera_sets_the_pace() {
        // 1080p30: decode ~25 ms of the 33 ms interval, one in five 34 ms: with one frame
        // in flight those would make the next frame wait at the edge, or be dropped.
        let s = Sim::new(33.3, 434_000, 0.4, |i| if i % 5 == 0 { 34.0 } else { 25.0 }).run(40, 1e9, 1);
        assert_eq!(s.window(), 2);
        // Steady 25 ms decodes fit the interval: one is enough.
        assert_eq!(Sim::new(33.3, 434_000, 0.4, |_| 25.0).run(40, 1e9, 1).window(), 1);
    }

    #[test]
    fn a_decoder_that_sets_the_pace_on_a_lan_gets_no_queue() {
        // Unthrottled camera at 640x480: the decoder is the bottleneck, and the next
        // frame reaches it within a millisecond of its acknowledgement: a second one in
        // flight would only wait behind the decoder (latency) or be replaced (waste).
        let s = Sim::new(4.0, 72_000, 0.4, |_| 5.0).run(40, 1e9, 1);
        assert_eq!(s.window(), 1);
        // Far from the edge, the same decoder would sit idle for the round trip.
        assert_eq!(Sim::new(4.0, 72_000, 5.0, |_| 5.0).run(40, 1e9, 1).window(), 2);
    }

    #[test]
    fn a_slow_link_keeps_it_busy_without_a_queue() {
        // 2 Mbit/s, 80 ms: 72 KB take 288 ms; one frame in flight would leave the link
        // idle for the round trip (77 % of its rate), two keep it busy.
        let s = Sim::new(33.3, 72_000, 80.0, |_| 5.0).run(30, 2.0 * MBIT, 1);
        let e = s.flow.estimate(Some(80.0)).unwrap();
        assert_eq!(e.window, 2, "{e:?}");
        let kbit = e.link_bytes_per_s.unwrap() * 8.0 / 1000.0;
        assert!((1900.0..2100.0).contains(&kbit), "{kbit} kbit/s");
        // 8 Mbit/s, 40 ms: 72 ms per frame.
        assert_eq!(Sim::new(33.3, 72_000, 40.0, |_| 5.0).run(30, 8.0 * MBIT, 1).window(), 2);
        // Chromium's "2 Mbit/s, 80 ms" as measured: 1.3 Mbit/s of frames, 10 ms round
        // trip. One frame in flight carries 95 % of what the link can, at half the
        // latency of two.
        assert_eq!(Sim::new(33.3, 72_000, 10.0, |_| 10.0).run(30, 1.3 * MBIT, 1).window(), 1);
    }

    #[test]
    fn the_queue_a_window_makes_does_not_change_the_window() {
        // With two in flight on a link-bound path every frame waits a transfer behind
        // the other; the old rule read that as a longer round trip and asked for 8.
        assert_eq!(Sim::new(33.3, 72_000, 80.0, |_| 5.0).run(30, 2.0 * MBIT, 2).window(), 2);
        assert_eq!(Sim::new(33.3, 72_000, 80.0, |_| 5.0).run(30, 2.0 * MBIT, 6).window(), 2);
        assert_eq!(Sim::new(33.3, 72_000, 10.0, |_| 10.0).run(30, 1.3 * MBIT, 2).window(), 1);
    }

    #[test]
    fn far_away_the_round_trip_needs_frames_in_flight_up_to_a_cap() {
        let s = Sim::new(33.3, 72_000, 150.0, |_| 5.0).run(40, 100.0 * MBIT, 5);
        assert_eq!(s.window(), 5);
        assert_eq!(Sim::new(5.0, 10_000, 2000.0, |_| 1.0).run(40, 1e9, 8).window(), MAX_WINDOW);
    }

    #[test]
    fn a_link_that_slows_down_is_noticed_within_seconds() {
        let s = Sim::new(33.3, 72_000, 80.0, |_| 5.0).run(60, 20.0 * MBIT, 4);
        assert!(s.window() >= 3, "{}", s.window());
        // Now 2 Mbit/s, still four in flight: within eight frames (2.3 s) it asks for 2.
        let s = s.run(8, 2.0 * MBIT, 4);
        assert_eq!(s.window(), 2, "{:?}", s.flow.estimate(Some(80.0)));
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
        let s = Sim::new(33.3, 72_000, 0.4, |_| 5.0).run(40, 1e9, 1);
        assert_eq!(s.flow.window(None), 1, "no round trip yet");
    }
}
