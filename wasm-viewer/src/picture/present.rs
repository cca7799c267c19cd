//! The presentation path without I/O: which frame the decoder gets, whether a decoded
//! picture goes on the canvas, when it reached the screen, and the numbers about it.
//! The engine does the decoding and drawing (`createImageBitmap`, the canvas, animation
//! frames) and asks this what to do; a native test drives it the same way.
//!
//! Frames come from a [`Source`]: the live subscription, or a camera's recordings. A
//! source hands over stamped JPEGs ([`Frame`]) and hears which of them reached the
//! canvas; what it does then (the live stream acknowledges, times the link, adapts) is
//! its own business. Everything from "a frame is here" to `#stats` is the same for all.
//!
//! Latency stays bounded here: at most one decode runs, and only the newest frame waits
//! behind it; a frame replaced while waiting is counted as dropped. A slow phone shows
//! fewer frames, never older ones, and never an older picture over a newer one.

use crate::{
    net::session::Session,
    picture::{
        frame::Frame,
        startup::{Startup, Step},
        stats::{FrameTimes, Stats},
    },
};

/// Where the frames shown come from.
pub trait Source {
    /// The frames it has for the picture since it was last asked, oldest first: only
    /// the newest is decoded, the others count as dropped.
    fn take(&mut self) -> Vec<Frame>;

    /// One of its frames was decoded and drawn (or, behind a newer picture, timed and
    /// not drawn) at `now_ms`. `bus` is the session, for what the source says back.
    fn drawn(&mut self, frame: &Frame, drawn: &Drawn, bus: &mut Session, now_ms: f64);

    /// The offset of the frames' clock from this viewer's (ms): an edge time minus this
    /// is a time on this viewer's clock.
    fn offset_ms(&self) -> f64;
}

/// What the presentation made of a frame the decoder finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Of a camera left behind (or from before a pause): nothing to do with it.
    Stale,
    /// Put it on the canvas.
    Draw,
    /// Older than the picture on the canvas (the broker's stored frame after a newer
    /// preview, a rendition left behind): timed and acknowledged, not drawn.
    Behind,
}

/// A frame done with: its times, and what follows from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    pub times: FrameTimes,
    /// The decoder's own time (from the start of its decode) and the draw's.
    pub decode_ms: f64,
    pub draw_ms: f64,
    /// Whether it went on the canvas.
    pub on_canvas: bool,
    /// The first live frame since the switch: the camera's previews are not needed now.
    pub first_full: bool,
    /// Something is on the canvas that the screen has not shown yet: ask for an
    /// animation frame.
    pub present: bool,
}

/// The time of the last switch, from the user's input to the first picture on screen.
#[derive(Debug, Default)]
pub struct Switch {
    pub count: u32,
    /// The input event (viewer ms) of the switch under way.
    at_ms: f64,
    /// A picture of the new camera was drawn and is waiting for the screen; a full frame.
    first_drawn: bool,
    full_drawn: bool,
    pub first_ms: Option<f64>,
    pub full_ms: Option<f64>,
}

/// The main picture: the frame waiting for the decoder, the decode running, what is on
/// the canvas and when it got there, and the numbers.
#[derive(Debug, Default)]
pub struct Presentation {
    pending: Option<Frame>,
    decoding: bool,
    /// When the running decode started: the decoder's own time, without waiting.
    decode_started_ms: f64,
    /// Counts switches, so decodes started before one are not drawn after it.
    generation: u32,
    /// Capture time (edge µs) and sequence of the picture on the canvas, and whether it
    /// is a live frame: a preview or stored frame never replaces a newer picture.
    capture_us: u64,
    sequence: u64,
    full: bool,
    /// The request and frame number of the recorded picture on the canvas: played back,
    /// time may run backwards, but an older request's frame never covers a newer one's.
    recorded: (u32, u32),
    /// Frames drawn but not yet on screen (the next animation frame puts them there).
    unpresented: Vec<(FrameTimes, u32, u32)>,
    /// When the last frame was drawn (viewer ms).
    last_frame_ms: Option<f64>,
    /// The page's `performance.timeOrigin`, for "navigation → first picture".
    time_origin: f64,
    /// Navigation → first frame (ms), once there is one.
    first_frame_ms: Option<f64>,
    /// The steps to the first picture, timed; its `Drawn` is navigation → first picture
    /// of any kind (a preview comes first on a slow link: a few KB against a frame's tens).
    pub startup: Startup,
    pub stats: Stats,
    pub switch: Switch,
}

impl Presentation {
    pub fn new(time_origin: f64) -> Presentation {
        Presentation { time_origin, startup: Startup::new(time_origin), ..Presentation::default() }
    }

    /// The switch frames must belong to now ([`Frame::generation`]).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Capture time (edge µs) and sequence of the picture on the canvas.
    pub fn on_canvas(&self) -> (u64, u64) {
        (self.capture_us, self.sequence)
    }

    /// Whether a live frame is on the canvas since the last switch.
    pub fn full(&self) -> bool {
        self.full
    }

    pub fn last_frame_ms(&self) -> Option<f64> {
        self.last_frame_ms
    }

    /// Navigation → first frame, and → first picture of any kind (ms).
    pub fn first_ms(&self) -> (Option<f64>, Option<f64>) {
        (self.first_frame_ms, self.startup.since_navigation(Step::Drawn))
    }

    /// Takes what `source` has: the newest waits for the decoder, the rest are dropped.
    pub fn offer(&mut self, source: &mut dyn Source) {
        let mut frames = source.take();
        let Some(newest) = frames.pop() else { return };
        self.stats.dropped += frames.len() as u64;
        if self.pending.replace(newest).is_some() {
            self.stats.dropped += 1;
        }
    }

    /// Forgets a waiting frame that is not of `keep` (a rendition switched to: from its
    /// first frame on, only its own count).
    pub fn keep_only(&mut self, keep: Option<wire::ack::Rendition>) {
        if self.pending.as_ref().is_some_and(|p| Some(p.rendition) != keep) {
            self.pending = None;
        }
    }

    /// The frame to decode now, if the decoder is free and one waits.
    pub fn next_decode(&mut self, now_ms: f64) -> Option<Frame> {
        if self.decoding {
            return None;
        }
        let frame = self.pending.take()?;
        self.decoding = true;
        self.decode_started_ms = now_ms;
        Some(frame)
    }

    /// The decoder could not make a picture of its frame.
    pub fn decode_failed(&mut self) {
        self.decoding = false;
        self.stats.errors += 1;
    }

    /// The decoder made a picture of `frame`: whether it goes on the canvas.
    pub fn decoded(&mut self, frame: &Frame) -> Decoded {
        self.decoding = false;
        let capture_us = frame.header.capture_us;
        if frame.generation != self.generation {
            Decoded::Stale
        } else if let Some(r) = frame.recorded {
            if (r.id, r.n) < self.recorded {
                return Decoded::Behind;
            }
            self.recorded = (r.id, r.n);
            self.capture_us = capture_us;
            self.sequence = frame.header.sequence;
            Decoded::Draw
        // The broker's stored frame can be older than the preview already on screen (a
        // camera nobody watched kept making previews): never a step back in time. Nor a
        // frame of the rendition left behind that is older than the new one's.
        } else if capture_us < self.capture_us || (frame.stored && capture_us == self.capture_us) {
            Decoded::Behind
        } else {
            self.capture_us = capture_us;
            self.sequence = frame.header.sequence;
            Decoded::Draw
        }
    }

    /// `frame`'s `width`×`height` picture was decoded at `decoded_ms` and drawn (if
    /// [`Decoded::Draw`]) by `drawn_ms`: its times, with edge times moved onto this
    /// viewer's clock by `offset_ms`.
    #[allow(clippy::too_many_arguments)]
    pub fn drawn(
        &mut self,
        frame: &Frame,
        on_canvas: bool,
        width: u32,
        height: u32,
        decoded_ms: f64,
        drawn_ms: f64,
        offset_ms: f64,
    ) -> Drawn {
        let edge = |us: u64| us as f64 / 1000.0 - offset_ms;
        let hdr = &frame.header;
        let times = FrameTimes {
            captured: edge(hdr.capture_us),
            encoded: edge(hdr.encoded_us),
            published: (hdr.published_us != 0).then(|| edge(hdr.published_us)),
            received: frame.received_ms,
            decoded: decoded_ms,
            drawn: drawn_ms,
            presented: None,
        };
        if self.first_frame_ms.is_none() {
            self.first_frame_ms = Some(drawn_ms - self.time_origin);
        }
        if !self.startup.done() && on_canvas {
            for (step, at) in [
                (Step::Message, frame.received_ms),
                (Step::Decode, self.decode_started_ms),
                (Step::Decoded, decoded_ms),
                (Step::Drawn, drawn_ms),
            ] {
                self.startup.mark(step, at);
            }
        }
        self.last_frame_ms = Some(drawn_ms);
        if on_canvas && self.switch.first_ms.is_none() {
            self.switch.first_drawn = true;
        }
        let mut drawn = Drawn {
            times,
            decode_ms: decoded_ms - self.decode_started_ms,
            draw_ms: drawn_ms - decoded_ms,
            on_canvas,
            first_full: false,
            present: false,
        };
        if frame.recorded.is_some() {
            // Counted as shown (the frame rate), timed at the screen by its source.
            if on_canvas {
                self.stats.shown(drawn_ms, width, height);
            }
            drawn.present = on_canvas;
            return drawn;
        }
        if !frame.counts() {
            // The last picture, kept by the broker: on screen until the live ones come.
            self.stats.width = width;
            self.stats.height = height;
            drawn.present = self.switch.first_drawn;
            return drawn;
        }
        if !self.full {
            self.full = true;
            drawn.first_full = true;
        }
        if self.switch.full_ms.is_none() {
            self.switch.full_drawn = true;
        }
        // On screen at the next animation frame, when the compositor takes the canvas.
        self.unpresented.push((times, width, height));
        drawn.present = true;
        drawn
    }

    /// Whether a preview captured at `capture_us` belongs on the canvas (its camera is
    /// shown): only before the first live frame, and only if newer than what is there.
    pub fn wants_preview(&self, capture_us: u64) -> bool {
        !self.full && capture_us > self.capture_us
    }

    /// A preview captured at `capture_us` went on the canvas at `now_ms` (the first
    /// picture of a switch, or a kept one shown at once): whether to ask for an
    /// animation frame to time it.
    pub fn preview_drawn(&mut self, capture_us: u64, now_ms: f64) -> bool {
        self.capture_us = capture_us;
        self.startup.mark(Step::Drawn, now_ms);
        let first = self.switch.first_ms.is_none();
        if first {
            self.switch.first_drawn = true;
        }
        first
    }

    /// The preview kept for the camera switched to went on the canvas at once: the
    /// switch's first picture, timed by the next animation frame.
    pub fn kept_preview_shown(&mut self, capture_us: u64) {
        self.capture_us = capture_us;
        self.switch.first_drawn = true;
    }

    /// The picture left for another camera (`at_ms`: the user's input; `None`: the
    /// grid): nothing of the old one is decoded, drawn or counted after this.
    pub fn switched(&mut self, at_ms: Option<f64>) {
        self.generation = self.generation.wrapping_add(1);
        self.stats = Stats::default();
        self.pending = None;
        self.unpresented.clear();
        self.last_frame_ms = None;
        self.capture_us = 0;
        self.full = false;
        self.recorded = (0, 0);
        if let Some(at_ms) = at_ms {
            self.switch = Switch { count: self.switch.count + 1, at_ms, ..Switch::default() };
        }
    }

    /// The same camera goes on after a pause: frames from before it are not drawn.
    pub fn resumed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Whether frames drawn half a second ago still wait for an animation frame (a
    /// browser that throttles them): they are then counted as of their draw.
    pub fn overdue(&self, now_ms: f64) -> bool {
        self.unpresented.first().is_some_and(|(t, ..)| now_ms - t.drawn > 500.0)
    }

    /// Frames drawn since the last animation frame reached the screen at `at` (or, with
    /// `None`, the browser gave no animation frame in time: counted as of their draw,
    /// `now_ms`).
    ///
    /// With an animation frame, only the newest of them is on screen: the others were
    /// drawn over first and count as drawn, not in the latency (counting them, a
    /// compositor that skipped a beat read as 300 ms at p95 for frames nobody saw).
    pub fn presented(&mut self, at: Option<f64>, now_ms: f64) {
        // A switch's first picture, and its first full frame, are on screen now.
        let on_screen = at.unwrap_or(now_ms);
        let sw = &mut self.switch;
        if sw.first_drawn && sw.first_ms.is_none() && sw.count > 0 {
            sw.first_ms = Some(on_screen - sw.at_ms);
        }
        if sw.full_drawn && sw.full_ms.is_none() && sw.count > 0 {
            sw.full_ms = Some(on_screen - sw.at_ms);
        }
        let mut frames = std::mem::take(&mut self.unpresented);
        let newest = frames.pop();
        for (times, w, h) in frames {
            match at {
                Some(_) => self.stats.drawn_over(&times, w, h),
                None => self.stats.drawn(&times, w, h),
            }
        }
        if let Some((mut times, w, h)) = newest {
            times.presented = at;
            self.stats.drawn(&times, w, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use wire::{ack::Rendition, FrameHeader};

    use super::*;
    use crate::picture::stats::Stage;

    /// Frames made on a script: each with its capture time and arrival; the clocks
    /// `offset` apart. Records which frames it heard were drawn.
    struct Scripted {
        due: Vec<Frame>,
        offset: f64,
        drawn: Vec<(u64, bool, f64)>,
    }

    impl Source for Scripted {
        fn take(&mut self) -> Vec<Frame> {
            std::mem::take(&mut self.due)
        }
        fn drawn(&mut self, frame: &Frame, drawn: &Drawn, _bus: &mut Session, _now_ms: f64) {
            self.drawn.push((frame.header.sequence, drawn.on_canvas, drawn.times.captured));
        }
        fn offset_ms(&self) -> f64 {
            self.offset
        }
    }

    fn scripted(offset: f64) -> Scripted {
        Scripted { due: Vec::new(), offset, drawn: Vec::new() }
    }

    /// A stamped JPEG as an edge makes it: captured at `captured_ms` (edge clock),
    /// encoded 2 ms and published 3 ms later, received at `received_ms` (viewer clock).
    fn frame(sequence: u64, captured_ms: f64, received_ms: f64, stored: bool, generation: u32) -> Frame {
        let us = (captured_ms * 1000.0) as u64;
        let header = FrameHeader {
            sequence,
            capture_us: us,
            encoded_us: us + 2000,
            published_us: us + 3000,
            ..FrameHeader::default()
        };
        let payload = header.encode(&[0xFF, 0xD8, 0xFF, 0xD9]).expect("a JPEG to stamp");
        let mut f = Frame::preview(payload, received_ms, stored, generation).expect("a stamped JPEG");
        f.rendition = Rendition::Full;
        f
    }

    /// Plays the browser: decodes (4 ms), draws (1 ms) and presents (next animation
    /// frame, 8 ms later) whatever the presentation picks, with `bus` for the source.
    fn play(p: &mut Presentation, source: &mut Scripted, now: f64) -> Option<Decoded> {
        let mut bus = Session::new("test".into(), None);
        p.offer(source);
        let f = p.next_decode(now)?;
        let verdict = p.decoded(&f);
        if verdict == Decoded::Stale {
            return Some(verdict);
        }
        let drawn = p.drawn(&f, verdict == Decoded::Draw, 640, 480, now + 4.0, now + 5.0, source.offset_ms());
        source.drawn(&f, &drawn, &mut bus, now + 5.0);
        if drawn.present {
            p.presented(Some(now + 13.0), now + 13.0);
        }
        Some(verdict)
    }

    #[test]
    fn a_live_frame_is_decoded_drawn_and_timed_on_one_clock() {
        // The edge's clock runs 1000 ms ahead of the viewer's.
        let mut p = Presentation::new(0.0);
        let mut source = scripted(1000.0);
        source.due.push(frame(1, 2000.0, 1010.0, false, 0));
        assert_eq!(play(&mut p, &mut source, 1010.0), Some(Decoded::Draw));
        assert_eq!(source.drawn, vec![(1, true, 1000.0)]);
        assert_eq!(p.stats.frames, 1);
        // Captured at 1000 on the viewer's clock, presented at 1023.
        assert_eq!(p.stats.latency_percentile(50.0), Some(23.0));
        assert_eq!(p.stats.percentile(Stage::PublishedReceived, 50.0), Some(7.0));
        assert_eq!(p.stats.percentile(Stage::ReceivedDecoded, 50.0), Some(4.0));
        assert_eq!(p.on_canvas(), (2_000_000, 1));
        assert!(p.full());
    }

    #[test]
    fn only_the_newest_of_a_batch_is_decoded_and_the_rest_count_as_dropped() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.extend((1..=4).map(|s| frame(s, s as f64 * 33.0, 200.0, false, 0)));
        play(&mut p, &mut source, 200.0);
        assert_eq!(source.drawn.iter().map(|d| d.0).collect::<Vec<_>>(), vec![4]);
        assert_eq!(p.stats.dropped, 3);
    }

    #[test]
    fn a_frame_waiting_behind_a_running_decode_is_replaced_by_a_newer_one() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.push(frame(1, 0.0, 10.0, false, 0));
        p.offer(&mut source);
        let first = p.next_decode(10.0).expect("the decoder is free");
        source.due.push(frame(2, 33.0, 40.0, false, 0));
        p.offer(&mut source);
        source.due.push(frame(3, 66.0, 70.0, false, 0));
        p.offer(&mut source);
        // One decode at a time.
        assert!(p.next_decode(70.0).is_none());
        assert_eq!(p.decoded(&first), Decoded::Draw);
        let next = p.next_decode(75.0).expect("the newest waited");
        assert_eq!(next.header.sequence, 3);
        assert_eq!(p.stats.dropped, 1);
    }

    #[test]
    fn an_older_picture_never_replaces_a_newer_one_but_is_still_heard_of() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.push(frame(5, 500.0, 510.0, false, 0));
        play(&mut p, &mut source, 510.0);
        // The broker's stored frame, older, arrives late.
        source.due.push(frame(2, 200.0, 520.0, true, 0));
        assert_eq!(play(&mut p, &mut source, 520.0), Some(Decoded::Behind));
        assert_eq!(p.on_canvas(), (500_000, 5));
        // The source hears of it (the live stream acknowledges it), the stats do not count it.
        assert_eq!(source.drawn.len(), 2);
        assert_eq!(p.stats.frames, 1);
    }

    #[test]
    fn a_stored_frame_is_shown_but_no_sample() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.push(frame(9, 1000.0, 61_000.0, true, 0));
        assert_eq!(play(&mut p, &mut source, 61_000.0), Some(Decoded::Draw));
        // A minute old: it says how long the camera was idle, not how fast we are.
        assert_eq!(p.stats.frames, 0);
        assert_eq!(p.stats.latency_percentile(50.0), None);
        assert_eq!((p.stats.width, p.stats.height), (640, 480));
        assert!(!p.full(), "previews are still wanted");
    }

    #[test]
    fn a_decode_from_before_a_switch_is_never_drawn_after_it() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.push(frame(1, 0.0, 10.0, false, p.generation()));
        p.offer(&mut source);
        let old = p.next_decode(10.0).expect("the decoder is free");
        p.switched(Some(20.0));
        assert_eq!(p.decoded(&old), Decoded::Stale);
        assert_eq!(p.stats.frames, 0);
        // The new camera's frames go on.
        source.due.push(frame(1, 30.0, 40.0, false, p.generation()));
        assert_eq!(play(&mut p, &mut source, 40.0), Some(Decoded::Draw));
        assert_eq!(p.switch.count, 1);
        assert_eq!(p.switch.first_ms, Some(33.0));
        assert_eq!(p.switch.full_ms, Some(33.0));
    }

    #[test]
    fn a_preview_is_the_switch_s_first_picture_and_a_live_frame_its_first_full_one() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        p.switched(Some(100.0));
        assert!(p.wants_preview(50_000));
        assert!(p.preview_drawn(50_000, 110.0));
        p.presented(Some(116.0), 116.0);
        assert_eq!(p.switch.first_ms, Some(16.0));
        assert_eq!(p.switch.full_ms, None);
        source.due.push(frame(1, 60.0, 200.0, false, p.generation()));
        play(&mut p, &mut source, 200.0);
        assert_eq!(p.switch.full_ms, Some(113.0));
        // From the first live frame on, previews stay off the canvas.
        assert!(!p.wants_preview(90_000));
    }

    #[test]
    fn frames_drawn_over_before_the_screen_showed_them_count_as_drawn_not_in_latency() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        let mut bus = Session::new("test".into(), None);
        for s in 1..=3u64 {
            source.due.push(frame(s, s as f64, s as f64 + 10.0, false, 0));
            p.offer(&mut source);
            let f = p.next_decode(20.0).expect("the decoder is free");
            p.decoded(&f);
            let d = p.drawn(&f, true, 640, 480, 21.0, 22.0, 0.0);
            source.drawn(&f, &d, &mut bus, 22.0);
        }
        p.presented(Some(30.0), 30.0);
        assert_eq!((p.stats.frames, p.stats.overdrawn), (3, 2));
        assert_eq!(p.stats.latency_percentile(100.0), Some(27.0));
    }

    #[test]
    fn without_animation_frames_drawn_frames_count_as_of_their_draw() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.push(frame(1, 0.0, 10.0, false, 0));
        p.offer(&mut source);
        let f = p.next_decode(10.0).expect("the decoder is free");
        p.decoded(&f);
        p.drawn(&f, true, 640, 480, 14.0, 15.0, 0.0);
        assert!(!p.overdue(400.0));
        assert!(p.overdue(600.0));
        p.presented(None, 600.0);
        assert_eq!(p.stats.latency_percentile(50.0), Some(15.0));
        assert_eq!(p.stats.overdrawn, 0);
    }

    #[test]
    fn recorded_frames_go_back_in_time_but_never_behind_a_newer_request_and_make_no_latency() {
        use crate::playback::player::Recorded;
        use wire::playback::Track;
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        let recorded = |id, n, captured_ms| {
            let mut f = frame(n as u64, captured_ms, 100.0, false, 0);
            f.recorded = Some(Recorded { id, n, track: Track::Preview });
            f
        };
        source.due.push(recorded(3, 0, 50_000.0));
        assert_eq!(play(&mut p, &mut source, 100.0), Some(Decoded::Draw));
        // Played backwards: earlier captures, later frames of the request.
        source.due.push(recorded(3, 1, 40_000.0));
        assert_eq!(play(&mut p, &mut source, 200.0), Some(Decoded::Draw));
        assert_eq!(p.on_canvas().0, 40_000_000);
        // A scrub's older request, late: not over the newer one's picture.
        source.due.push(recorded(2, 7, 10_000.0));
        assert_eq!(play(&mut p, &mut source, 300.0), Some(Decoded::Behind));
        assert_eq!(p.stats.frames, 2);
        assert_eq!(p.stats.latency_percentile(50.0), None);
        assert_eq!(p.stats.percentile(Stage::ReceivedDecoded, 50.0), None);
    }

    #[test]
    fn a_failed_decode_is_an_error_and_frees_the_decoder() {
        let mut p = Presentation::new(0.0);
        let mut source = scripted(0.0);
        source.due.push(frame(1, 0.0, 10.0, false, 0));
        p.offer(&mut source);
        assert!(p.next_decode(10.0).is_some());
        p.decode_failed();
        assert_eq!(p.stats.errors, 1);
        source.due.push(frame(2, 33.0, 40.0, false, 0));
        assert_eq!(play(&mut p, &mut source, 40.0), Some(Decoded::Draw));
    }
}
