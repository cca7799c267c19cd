//! Which rendition of the camera to watch: the best picture the link carries at a
//! useful frame rate, chosen by the viewer itself. I/O-free.
//!
//! A camera comes in three sizes (`wire::ack::Rendition`: full, half, quarter). The rules:
//! - **Down quickly.** After [`WINDOW_MS`] on a rendition, if it delivers fewer than a
//!   useful rate (10 fps, or 90 % of the camera's rate if that is lower), the link is
//!   full: what it delivered (bytes a second) is what it carries. Go straight to the
//!   largest rendition whose frames would come at a useful rate at that speed (its frame
//!   size measured when it was watched, else estimated from this one's), or the smallest.
//! - **Up cautiously.** Only from a rendition that leaves the link room, held for the
//!   probe interval: try the next larger one. The edge says whether it has: it marks a
//!   frame when it held one back for this rendition's viewers since the last
//!   (`wire::flags::HELD`); room is at most [`ROOM_HELD_SHARE`] of the last
//!   [`RECENT_MS`] of frames so marked. The frame rate alone cannot tell: half size at
//!   24 of 30 fps may be a full link (a try of full size then costs a latency spike) or
//!   an edge that makes no more (where full size is worth having). From an edge that
//!   does not say, room is keeping up with the camera (≥ 80 % of its rate over
//!   [`WINDOW_MS`]: over a second, a link just short of it now and then reads as
//!   keeping up). If a try does not keep a useful rate over [`RECENT_MS`], come back and
//!   wait twice as long before the next try (up to [`PROBE_MAX_MS`]). A try that has
//!   room for [`RECENT_MS`] has worked (no need to wait out the window): the link had
//!   room for a step and likely for more (it came back), so the next step is tried at
//!   once. A link that came back: from quarter to full size in ~4 s. A link that cannot
//!   carry more is probed less and less often: no flapping.
//! - **Start where the link is.** A camera is first watched in the largest rendition the
//!   link is known to carry at a useful rate: known from the last down-switch (another
//!   camera, this page), or, on a page just opened, from how fast the page's own code
//!   came (or the last visit's estimate). Unknown: full size. On a slow link starting
//!   full-size costs seconds: the broker's stored full frame and the first live ones are
//!   on their way before the first judgement.
//! - **Pinned**: the user chose one; nothing changes.

use std::collections::VecDeque;

use wire::ack::Rendition;

/// Frames over this long make a rate; a rendition is judged after this long on it.
pub const WINDOW_MS: f64 = 2000.0;
/// A try of a larger rendition that keeps up with the camera this long has worked.
pub const RECENT_MS: f64 = 1000.0;
/// First wait before trying a larger rendition, and the longest.
pub const PROBE_FIRST_MS: f64 = 2000.0;
pub const PROBE_MAX_MS: f64 = 30000.0;
/// A useful frame rate, whatever the link.
pub const USEFUL_FPS: f64 = 10.0;
/// From an edge that does not mark held frames: a rendition keeps up with the camera at
/// this share of its rate: a few frames a second go to the round trip while the window
/// grows. Quarter size behind Chromium's 2 Mbit/s makes 16–22 of 30 fps: at 70 % it now
/// and then looked like room, and each try up cost latency (p95 200 → 420 ms, measured).
const KEEPS_UP: f64 = 0.8;
/// The link has room while at most this share of the frames are marked held: a late
/// acknowledgement now and then (a busy moment of the page) marks one.
pub const ROOM_HELD_SHARE: f64 = 0.05;
/// Frame size of a rendition relative to the next larger one, until measured: a
/// quarter of the pixels, but JPEG's fixed costs and detail make it ~1/3 (measured on
/// the test pattern: 193 KB at 1280x720, 55 at 640x360, 13 at 320x180 … ).
const SMALLER_RATIO: f64 = 1.0 / 3.2;

/// The viewer's choice of rendition for the camera shown.
#[derive(Debug)]
pub struct Adapt {
    pinned: Option<Rendition>,
    /// The renditions the camera offers (from the directory); `[Full]` when unknown.
    offered: Vec<Rendition>,
    current: Rendition,
    /// When frames of `current` began to arrive (viewer ms).
    since_ms: Option<f64>,
    /// Frames of `current` drawn: when, bytes, and whether the edge held one back for
    /// this rendition before it (`None`: the edge does not say).
    frames: VecDeque<(f64, usize, Option<bool>)>,
    /// Mean bytes per frame measured per rendition (full, half, quarter).
    sizes: [Option<f64>; 3],
    camera_fps: f64,
    probe_wait_ms: f64,
    /// Since when `current` has kept up with the camera.
    keeping_up_since: Option<f64>,
    /// A try of a larger rendition under way: the one to come back to.
    probing_from: Option<Rendition>,
    /// What the link was last measured to carry (bytes a second), when it was full;
    /// `None` when it had room, or nothing is known. Kept across cameras.
    link: Option<f64>,
    /// What the link carries (bytes a second) as timed frame by frame (`crate::stream::flow`),
    /// full or not; `None` when too fast to time.
    rate: Option<f64>,
}

impl Default for Adapt {
    fn default() -> Self {
        Adapt {
            pinned: None,
            offered: vec![Rendition::Full],
            current: Rendition::Full,
            since_ms: None,
            frames: VecDeque::new(),
            sizes: [None; 3],
            camera_fps: 30.0,
            probe_wait_ms: PROBE_FIRST_MS,
            keeping_up_since: None,
            probing_from: None,
            link: None,
            rate: None,
        }
    }
}

/// The largest of `offered` whose frames a link of `bytes_per_s` brings at a useful
/// rate, given the full picture's frame size; full size when the link is not known.
pub fn start_on(
    offered: &[Rendition],
    bytes_per_s: Option<f64>,
    full_frame_bytes: f64,
    camera_fps: f64,
) -> Rendition {
    let Some(rate) = bytes_per_s.filter(|r| *r > 0.0) else { return Rendition::Full };
    let useful = USEFUL_FPS.min(0.9 * camera_fps.max(1.0));
    let mut sorted = offered.to_vec();
    sorted.sort_unstable();
    let fits = sorted.iter().copied().find(|r| {
        let size = full_frame_bytes * SMALLER_RATIO.powi(i32::from(r.id()));
        rate / size >= useful
    });
    fits.or_else(|| sorted.last().copied()).unwrap_or(Rendition::Full)
}

/// A full frame's size before any is seen, from the picture's size: ~0.2 byte a pixel
/// (the test pattern at quality 75: 193 KB at 1280x720; real scenes are smaller).
pub fn frame_bytes_guess(width: u32, height: u32) -> f64 {
    f64::from(width) * f64::from(height) * 0.2
}

impl Adapt {
    /// The camera shown changed: what it offers, at what rate, how big its full frames
    /// are (if known); start on the pinned rendition, else where the link is.
    pub fn camera(&mut self, offered: &[Rendition], camera_fps: f64, full_frame_bytes: Option<f64>) {
        let (pinned, link) = (self.pinned, self.link);
        *self = Adapt { pinned, link, ..Adapt::default() };
        if !offered.is_empty() {
            self.offered = offered.to_vec();
        }
        if camera_fps > 0.0 {
            self.camera_fps = camera_fps;
        }
        self.current = match (self.start(), full_frame_bytes) {
            (Rendition::Full, Some(bytes)) if self.pinned.is_none() => {
                start_on(&self.offered, self.link, bytes, self.camera_fps)
            }
            (start, _) => start,
        };
    }

    /// What the link carries (bytes a second), from elsewhere: the page's own download,
    /// or the last visit.
    pub fn assume_link(&mut self, bytes_per_s: f64) {
        self.link = Some(bytes_per_s).filter(|b| *b > 0.0);
    }

    /// What the link was last measured to carry, if it was full.
    pub fn link(&self) -> Option<f64> {
        self.link
    }

    /// What the link carries as timed frame by frame (bytes a second), full or not:
    /// `None` when too fast to time.
    pub fn timed_rate(&mut self, bytes_per_s: Option<f64>) {
        self.rate = bytes_per_s.filter(|b| *b > 0.0);
    }

    /// What the camera offers, learnt later (the directory came after the first frames).
    pub fn offer(&mut self, offered: &[Rendition], camera_fps: f64) {
        if !offered.is_empty() {
            self.offered = offered.to_vec();
        }
        if camera_fps > 0.0 {
            self.camera_fps = camera_fps;
        }
    }

    /// The rendition to subscribe to first.
    pub fn start(&self) -> Rendition {
        match self.pinned {
            Some(r) if self.offered.contains(&r) => r,
            _ => Rendition::Full,
        }
    }

    pub fn current(&self) -> Rendition {
        self.current
    }

    pub fn pinned(&self) -> Option<Rendition> {
        self.pinned
    }

    /// The user pins a rendition (`None`: automatic again); returns the one to watch.
    pub fn pin(&mut self, pinned: Option<Rendition>) -> Rendition {
        self.pinned = pinned;
        self.probing_from = None;
        self.probe_wait_ms = PROBE_FIRST_MS;
        match pinned {
            Some(r) if self.offered.contains(&r) => r,
            _ => self.current,
        }
    }

    /// Frames of `rendition` come from now on: it is judged from its first frame (frames
    /// of the one left may still be on their way ahead of it).
    pub fn switched(&mut self, rendition: Rendition) {
        self.current = rendition;
        self.since_ms = None;
        self.frames.clear();
        self.keeping_up_since = None;
    }

    /// A live frame of `rendition` was drawn at `now_ms`; `held` as its stamp says
    /// (`wire::FrameHeader::held`).
    pub fn frame(&mut self, rendition: Rendition, bytes: usize, held: Option<bool>, now_ms: f64) {
        let i = usize::from(rendition.id());
        self.sizes[i] = Some(match self.sizes[i] {
            Some(mean) => mean * 0.9 + bytes as f64 * 0.1,
            None => bytes as f64,
        });
        if rendition != self.current {
            return;
        }
        self.since_ms.get_or_insert(now_ms);
        self.frames.push_back((now_ms, bytes, held));
        while self.frames.front().is_some_and(|&(t, ..)| now_ms - t > WINDOW_MS) {
            self.frames.pop_front();
        }
    }

    /// Frames a second and bytes a second of the current rendition over the last `span_ms`.
    fn rates(&self, now_ms: f64, span_ms: f64) -> (f64, f64) {
        let recent = self.frames.iter().filter(|&&(t, ..)| now_ms - t <= span_ms);
        let (n, bytes) = recent.fold((0usize, 0usize), |(n, b), &(_, size, _)| (n + 1, b + size));
        (n as f64 * 1000.0 / span_ms, bytes as f64 * 1000.0 / span_ms)
    }

    /// The share of the current rendition's frames over the window that the edge
    /// held one back before; `None` before any, or when the edge does not say.
    pub fn held_share(&self, now_ms: f64) -> Option<f64> {
        self.held_over(now_ms, WINDOW_MS)
    }

    fn held_over(&self, now_ms: f64, span_ms: f64) -> Option<f64> {
        let recent = self.frames.iter().filter(|&&(t, ..)| now_ms - t <= span_ms);
        let (n, held) = recent
            .map(|f| f.2)
            .try_fold((0usize, 0usize), |(n, held), h| Some((n + 1, held + usize::from(h?))))?;
        (n > 0).then(|| held as f64 / n as f64)
    }

    /// Whether the current rendition left the link room over the last `span_ms`: as
    /// the edge says (few frames held back, at a useful rate), else by keeping up with
    /// the camera.
    fn has_room(&self, now_ms: f64, span_ms: f64) -> bool {
        let (fps, _) = self.rates(now_ms, span_ms);
        match self.held_over(now_ms, span_ms) {
            Some(held) => fps >= self.useful_fps() && held <= ROOM_HELD_SHARE,
            None => fps >= KEEPS_UP * self.camera_fps,
        }
    }

    fn useful_fps(&self) -> f64 {
        USEFUL_FPS.min(0.9 * self.camera_fps)
    }

    /// The size of a frame of `r`: measured, else estimated from a measured neighbour.
    fn size(&self, r: Rendition) -> Option<f64> {
        if let Some(s) = self.sizes[usize::from(r.id())] {
            return Some(s);
        }
        let known = Rendition::ALL.into_iter().find_map(|k| Some((k, self.sizes[usize::from(k.id())]?)))?;
        let steps = f64::from(r.id()) - f64::from(known.0.id());
        Some(known.1 * SMALLER_RATIO.powf(steps))
    }

    /// What to watch now, if it should change (called a few times a second).
    pub fn decide(&mut self, now_ms: f64) -> Option<Rendition> {
        if let Some(pinned) = self.pinned {
            // Pinned before the camera said what it offers: as soon as it does.
            return (pinned != self.current && self.offered.contains(&pinned)).then_some(pinned);
        }
        let on_it = now_ms - self.since_ms?;
        let (recent_fps, recent_bytes) = self.rates(now_ms, RECENT_MS);
        // A try is judged a success on the last second, so the next step comes sooner.
        // A step up needs the whole window when judged by the rate alone: over one
        // second the rate of a link just short of the camera's now and then reads as
        // keeping up, and each try on such a link costs latency (p95 200 → 420 ms at
        // 2 Mbit/s, measured). The edge's marks need no such wait: a link just short
        // marks a frame at every one it holds back, a few a second.
        let room_span = if self.held_over(now_ms, WINDOW_MS).is_some() { RECENT_MS } else { WINDOW_MS };
        let keeps_up_now = on_it >= RECENT_MS && self.has_room(now_ms, RECENT_MS);
        let keeps_up = on_it >= room_span && self.has_room(now_ms, room_span);
        if keeps_up_now && self.probing_from.take().is_some() {
            self.tried_well();
        }
        // A try that cannot make a useful rate shows it within a second; every second
        // more on it is latency (its frames queue on the link).
        let failing = on_it >= RECENT_MS && recent_fps < self.useful_fps();
        if let Some(from) = self.probing_from.filter(|_| failing) {
            self.probing_from = None;
            return Some(self.tried_badly(from, recent_bytes));
        }
        if on_it >= WINDOW_MS {
            let (fps, bytes_per_s) = self.rates(now_ms, WINDOW_MS);
            if fps < self.useful_fps() {
                if let Some(from) = self.probing_from.take() {
                    return Some(self.tried_badly(from, bytes_per_s));
                }
                self.link = Some(bytes_per_s);
                self.probe_wait_ms = PROBE_FIRST_MS;
                let smaller: Vec<Rendition> =
                    self.offered.iter().copied().filter(|r| r.id() > self.current.id()).collect();
                let fits = smaller.iter().copied().find(|&r| {
                    self.size(r).is_some_and(|size| size > 0.0 && bytes_per_s / size >= self.useful_fps())
                });
                return fits.or_else(|| smaller.last().copied());
            }
            // A useful rate, if not all of the camera's: the try worked too.
            if self.probing_from.take().is_some() {
                self.tried_well();
            }
        }
        if keeps_up {
            let since = *self.keeping_up_since.get_or_insert(now_ms);
            let larger =
                self.offered.iter().copied().filter(|r| r.id() < self.current.id()).max_by_key(|r| r.id());
            if let Some(larger) = larger {
                if now_ms - since >= self.probe_wait_ms {
                    // A try the link's timed rate says cannot make a useful rate is not
                    // made: it would cost seconds of latency and a dip after it (measured
                    // through a relay at 8 Mbit/s: full size at 4 fps, then half at 4–8
                    // fps for 2 s). Counted as failed, so the wait grows; at the longest
                    // wait it is made anyway, in case the timing is wrong.
                    let useful = self.useful_fps();
                    let hopeless =
                        self.size(larger).zip(self.rate).is_some_and(|(size, rate)| rate / size < useful);
                    if hopeless && self.probe_wait_ms < PROBE_MAX_MS {
                        self.wait_longer();
                        self.keeping_up_since = Some(now_ms);
                        return None;
                    }
                    self.probing_from = Some(self.current);
                    return Some(larger);
                }
            }
        } else if on_it >= room_span {
            self.keeping_up_since = None;
        }
        None
    }

    /// A larger rendition was tried and gave no useful rate (the link carried
    /// `bytes_per_s`): back to where it came from, and wait longer before the next try.
    fn tried_badly(&mut self, from: Rendition, bytes_per_s: f64) -> Rendition {
        self.link = Some(bytes_per_s);
        self.wait_longer();
        from
    }

    /// The next try waits twice as long (up to [`PROBE_MAX_MS`]).
    fn wait_longer(&mut self) {
        self.probe_wait_ms = (self.probe_wait_ms.max(PROBE_FIRST_MS) * 2.0).min(PROBE_MAX_MS);
    }

    /// A larger rendition was tried and gave a useful rate: the link had room for one
    /// step, likely for more (it came back); the next step is tried as soon as this one
    /// keeps up.
    fn tried_well(&mut self) {
        self.probe_wait_ms = 0.0;
        self.link = None; // more than it was
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Rendition::*;

    /// Bytes per frame of each rendition, as the edge makes them for a 720p test pattern.
    fn size(r: Rendition) -> usize {
        match r {
            Full => 193_000,
            Half => 55_000,
            Quarter => 13_000,
        }
    }

    /// The edge in a run: how many frames a second it makes, and whether it marks
    /// those it held back for a full link.
    #[derive(Clone, Copy)]
    struct Edge {
        fps: f64,
        says: bool,
        /// The viewer times the link's rate (`Adapt::timed_rate`).
        timed: bool,
    }

    /// Runs the viewer over a link of `kbps` for `ms`, from `t`: frames come at the
    /// camera's 30 fps or as fast as the link carries them, whichever is slower; a switch
    /// takes effect at once. Returns the time and the renditions it moved through.
    fn run(a: &mut Adapt, kbps: f64, t: &mut f64, ms: f64, path: &mut Vec<(f64, Rendition)>) {
        let edge = Edge { fps: a.camera_fps, says: true, timed: false };
        run_on(a, kbps, edge, t, ms, path)
    }

    /// As [`run`], from an edge that makes `edge.fps`; a frame is marked held when the
    /// link is slower than that.
    fn run_on(a: &mut Adapt, kbps: f64, edge: Edge, t: &mut f64, ms: f64, path: &mut Vec<(f64, Rendition)>) {
        let end = *t + ms;
        let mut next_frame = *t;
        let mut next_decide = *t;
        a.timed_rate(edge.timed.then_some(kbps * 1000.0 / 8.0));
        while *t < end {
            let r = a.current();
            let transfer = size(r) as f64 * 8.0 / kbps; // ms
            if *t >= next_frame {
                let made = 1000.0 / edge.fps;
                a.frame(r, size(r), edge.says.then_some(transfer > made), *t);
                next_frame = *t + transfer.max(made);
            }
            if *t >= next_decide {
                if let Some(n) = a.decide(*t) {
                    a.switched(n);
                    path.push((*t, n));
                }
                next_decide = *t + 250.0;
            }
            *t += 1.0;
        }
    }

    fn adapt() -> Adapt {
        let mut a = Adapt::default();
        a.camera(&[Full, Half, Quarter], 30.0, None);
        a.switched(Full);
        a
    }

    #[test]
    fn a_slow_link_settles_quickly_on_a_rendition_with_a_useful_rate_and_stays() {
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 2000.0, &mut t, 60_000.0, &mut path);
        assert_eq!(path.first().map(|p| p.1), Some(Quarter), "straight to quarter, not via half: {path:?}");
        assert!(path[0].0 <= 3000.0, "within 3 s: {path:?}");
        assert_eq!(a.current(), Quarter);
        assert_eq!(path.len(), 1, "quarter does not keep up with 30 fps, so no tries up: {path:?}");
    }

    #[test]
    fn a_medium_link_keeps_the_largest_rendition_with_a_useful_rate() {
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 8000.0, &mut t, 60_000.0, &mut path);
        assert_eq!(a.current(), Half, "{path:?}");
        assert_eq!(path.len(), 1, "{path:?}");
        // 20 Mbit/s carries full at 13 fps: useful, so full stays.
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 20_000.0, &mut t, 30_000.0, &mut path);
        assert_eq!((a.current(), path.len()), (Full, 0), "{path:?}");
    }

    #[test]
    fn when_the_link_comes_back_the_full_stream_returns_within_five_seconds() {
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 2000.0, &mut t, 20_000.0, &mut path);
        assert_eq!(a.current(), Quarter);
        let back = t;
        run(&mut a, 50_000.0, &mut t, 15_000.0, &mut path);
        let full_at = path.iter().find(|p| p.1 == Full && p.0 > back).expect("back on full").0;
        // A second to see it has room (the edge's marks say so), the first wait (2 s),
        // a second on half: ~4.3 s (and the 10 s for a real browser's switches).
        assert!(
            full_at - back <= 5_000.0,
            "full again {} ms after the link came back: {path:?}",
            full_at - back
        );
    }

    #[test]
    fn a_link_just_short_of_the_next_rendition_is_tried_less_and_less_often() {
        // 4 Mbit/s: half (55 KB) at 9 fps is not useful; quarter keeps up with 30 fps
        // (3.1 Mbit/s), so half is tried now and then, with growing waits.
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 4000.0, &mut t, 120_000.0, &mut path);
        let tries: Vec<f64> = path.iter().filter(|p| p.1 == Half).map(|p| p.0).collect();
        assert!(tries.len() >= 2 && tries.len() <= 6, "{path:?}");
        let gaps: Vec<f64> = tries.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.windows(2).all(|g| g[1] >= g[0]) && gaps[0] < gaps[gaps.len() - 1],
            "waits grow: {gaps:?}"
        );
        assert_eq!(a.current(), Quarter);
        // Then the link comes back: found at the next try, however long the wait has
        // grown (at most PROBE_MAX_MS; docs/renditions.md says so).
        let back = t;
        run(&mut a, 50_000.0, &mut t, PROBE_MAX_MS + 10_000.0, &mut path);
        let full_at = path.iter().find(|p| p.1 == Full && p.0 > back).expect("back on full").0;
        assert!(full_at - back <= PROBE_MAX_MS + 5_000.0, "{} ms: {path:?}", full_at - back);
    }

    #[test]
    fn a_pinned_rendition_never_changes_and_unknown_renditions_are_not_asked_for() {
        let mut a = adapt();
        assert_eq!(a.pin(Some(Full)), Full);
        let (mut t, mut path) = (0.0, Vec::new());
        run(&mut a, 2000.0, &mut t, 20_000.0, &mut path);
        assert!(path.is_empty() && a.current() == Full);
        let mut only_full = Adapt::default();
        only_full.camera(&[], 30.0, None);
        assert_eq!(only_full.pin(Some(Half)), Full, "the camera offers no half");
        assert_eq!(only_full.decide(0.0), None);
        let mut later = Adapt::default();
        later.camera(&[], 30.0, None);
        later.pin(Some(Half));
        later.offer(&[Full, Half, Quarter], 30.0);
        assert_eq!(later.decide(0.0), Some(Half), "pinned before the directory came");
        let (mut t, mut path) = (0.0, Vec::new());
        only_full.pin(None);
        only_full.switched(Full);
        run(&mut only_full, 2000.0, &mut t, 10_000.0, &mut path);
        assert!(path.is_empty(), "nothing smaller to go to: {path:?}");
    }

    #[test]
    fn the_next_camera_starts_where_the_link_was_measured() {
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 2000.0, &mut t, 6000.0, &mut path);
        let link = a.link().expect("measured when it went down");
        assert!((link - 250_000.0).abs() < 50_000.0, "2 Mbit/s is ~250 KB/s: {link}");
        a.camera(&[Full, Half, Quarter], 30.0, Some(193_000.0));
        assert_eq!(a.current(), Quarter, "the next camera starts small");
        // A page that knows nothing starts full-size; one told the link by its own load
        // starts where that link is.
        assert_eq!(start_on(&[Full, Half, Quarter], None, 193_000.0, 30.0), Full);
        assert_eq!(start_on(&[Full, Half, Quarter], Some(1_000_000.0), 193_000.0, 30.0), Half);
        assert_eq!(start_on(&[Full, Half, Quarter], Some(12_500_000.0), 193_000.0, 30.0), Full);
        assert_eq!(start_on(&[Full], Some(1000.0), 193_000.0, 30.0), Full, "nothing smaller offered");
        assert_eq!(frame_bytes_guess(1280, 720).round(), 184_320.0);
    }

    #[test]
    fn a_slow_camera_is_useful_at_its_own_rate() {
        let mut a = Adapt::default();
        a.camera(&[Full, Half, Quarter], 5.0, None);
        a.switched(Full);
        let (mut t, mut path) = (0.0, Vec::new());
        // 8 Mbit/s carries 193 KB frames at 5 fps: the camera's whole rate.
        run(&mut a, 8000.0, &mut t, 20_000.0, &mut path);
        assert!(path.is_empty(), "{path:?}");
    }

    #[test]
    fn a_link_the_edge_says_is_full_is_not_tried_up_though_it_carries_most_frames() {
        // 12 Mbit/s: half (55 KB) at 27 fps, full (193 KB) at 7.8: not useful. Half comes
        // at 90 % of the camera's rate, so by the rate alone the link looks roomy and
        // full is tried again and again, each try a latency spike; the edge's marks say
        // the link is full, so it is not.
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run(&mut a, 12_000.0, &mut t, 60_000.0, &mut path);
        assert_eq!((a.current(), path.len()), (Half, 1), "down once, never tried up: {path:?}");
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run_on(&mut a, 12_000.0, Edge { fps: 30.0, says: false, timed: false }, &mut t, 60_000.0, &mut path);
        let tries = path.iter().filter(|p| p.1 == Full).count();
        assert!(tries >= 3, "an edge that does not say: tried by the rate alone: {path:?}");
    }

    #[test]
    fn an_edge_that_makes_fewer_frames_than_the_camera_rate_is_still_tried_up() {
        // A busy edge makes 22 of 30 fps (a 1080p camera on a small machine), a LAN
        // carries all of them: the link has room, and the full stream is worth having.
        let slow = Edge { fps: 22.0, says: true, timed: false };
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run_on(&mut a, 2000.0, slow, &mut t, 10_000.0, &mut path);
        assert_eq!(a.current(), Quarter);
        let back = t;
        run_on(&mut a, 100_000.0, slow, &mut t, 10_000.0, &mut path);
        let full_at = path.iter().find(|p| p.1 == Full && p.0 > back).map(|p| p.0 - back);
        assert!(full_at.is_some_and(|ms| ms <= 5_000.0), "back on full: {full_at:?} {path:?}");
        // By the rate alone it would stay on quarter: 22 fps is under 80 % of 30.
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        let silent = Edge { says: false, ..slow };
        run_on(&mut a, 2000.0, silent, &mut t, 10_000.0, &mut path);
        run_on(&mut a, 100_000.0, silent, &mut t, 10_000.0, &mut path);
        assert_eq!(a.current(), Quarter, "{path:?}");
    }

    #[test]
    fn a_try_the_timed_link_rate_says_is_hopeless_is_made_only_at_the_longest_wait() {
        // 4 Mbit/s: quarter keeps up with room, half would come at 9 fps. Timed, the
        // link says so before a try: one try in two minutes, at the longest wait,
        // instead of one at each doubling (see the test above).
        let timed = Edge { fps: 30.0, says: true, timed: true };
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run_on(&mut a, 4000.0, timed, &mut t, 120_000.0, &mut path);
        let tries: Vec<f64> = path.iter().filter(|p| p.1 == Half).map(|p| p.0).collect();
        assert!(!tries.is_empty() && tries.len() <= 3, "{path:?}");
        assert!(tries[0] >= 2.0 * PROBE_MAX_MS, "the first try waits for the longest wait: {path:?}");
        assert_eq!(a.current(), Quarter);
        // A link with room for the next size is tried as before: 20 Mbit/s times full
        // size at 13 fps.
        let (mut a, mut t, mut path) = (adapt(), 0.0, Vec::new());
        run_on(&mut a, 2000.0, timed, &mut t, 10_000.0, &mut path);
        let back = t;
        run_on(&mut a, 20_000.0, timed, &mut t, 10_000.0, &mut path);
        let full_at = path.iter().find(|p| p.1 == Full && p.0 > back).map(|p| p.0 - back);
        assert!(full_at.is_some_and(|ms| ms <= 5_000.0), "back on full: {full_at:?} {path:?}");
    }
}
