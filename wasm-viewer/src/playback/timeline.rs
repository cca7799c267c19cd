//! The timeline's geometry, without I/O: which stretch of the last day is visible, time
//! ↔ x, zooming (pinch, wheel) down to a minute across the screen, what the edge's spans
//! and events look like at that scale, and the time labels. The page draws what this
//! works out on a canvas and feeds it the pointer's moves.

use wire::playback::{Event, EventKind, Span, SpanKind, Track};

/// The narrowest stretch shown across the timeline: a minute.
pub const MIN_SPAN_US: f64 = 60e6;
/// The widest: the last day, as far as the edge keeps footage for playback.
pub const MAX_SPAN_US: f64 = 86_400e6;
/// Room left after "now", so the newest footage is not under the screen's edge.
const AHEAD: f64 = 0.03;

/// What a stretch of the timeline shows, as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Full-size frames kept (around events).
    Full,
    /// The small frames kept all the time.
    Preview,
    /// The camera was offline.
    Offline,
    /// Kept once, deleted since.
    Deleted,
}

impl Fill {
    fn of(kind: SpanKind) -> Fill {
        match kind {
            SpanKind::Recorded(Track::Full) => Fill::Full,
            SpanKind::Recorded(_) => Fill::Preview,
            SpanKind::Offline => Fill::Offline,
            SpanKind::Deleted => Fill::Deleted,
        }
    }
}

/// A run of pixels `[x0, x1)` of one fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub x0: f64,
    pub x1: f64,
    pub fill: Fill,
}

/// The visible stretch of time across `width` CSS pixels, within the last day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// Start of the visible stretch and its length (µs on the edge's clock).
    pub start_us: f64,
    pub span_us: f64,
    pub width: f64,
    /// The edge's "now": the newest time there can be footage of.
    pub now_us: f64,
}

impl Axis {
    /// The whole last day up to `now_us`, across `width` pixels.
    pub fn day(now_us: f64, width: f64) -> Axis {
        let mut a = Axis { start_us: 0.0, span_us: MAX_SPAN_US, width: width.max(1.0), now_us };
        a.start_us = a.hi() - a.span_us;
        a
    }

    /// The latest a visible stretch may end: now, and a little room.
    fn hi(&self) -> f64 {
        self.now_us + self.span_us * AHEAD
    }

    /// The earliest it may start: a day before now.
    fn lo(&self) -> f64 {
        self.now_us - MAX_SPAN_US
    }

    fn clamp(&mut self) {
        self.span_us = self.span_us.clamp(MIN_SPAN_US, MAX_SPAN_US);
        self.start_us = self.start_us.min(self.hi() - self.span_us).max(self.lo());
    }

    pub fn x_of(&self, t_us: f64) -> f64 {
        (t_us - self.start_us) / self.span_us * self.width
    }

    /// The time under `x`, wherever it is (a pinch's fingers keep theirs, even past now).
    pub fn time_at(&self, x: f64) -> f64 {
        self.start_us + x / self.width * self.span_us
    }

    /// The time under `x`, within the day and not after now.
    pub fn t_of(&self, x: f64) -> u64 {
        let t = self.time_at(x);
        // Not `f64::clamp`: its check of the bounds formats floats when it fails, which
        // brings Rust's float formatting (~17 KB) into the viewer.
        t.min(self.now_us).max(self.lo()).max(0.0) as u64
    }

    /// Shows from `from_us` to now (the footage there is, when it is recent: a day's
    /// width would make the last minutes a sliver), at least a minute.
    pub fn fit(&mut self, from_us: f64) {
        self.span_us = (self.now_us - from_us) / (1.0 - AHEAD - 0.05);
        self.start_us = self.now_us - self.span_us;
        self.clamp();
        self.start_us = self.hi() - self.span_us;
    }

    /// The edge's clock moved on to `now_us`: a view that showed now keeps showing it.
    pub fn set_now(&mut self, now_us: f64) {
        let at_now = self.start_us + self.span_us >= self.hi() - 1.0;
        self.now_us = now_us;
        if at_now {
            self.start_us = self.hi() - self.span_us;
        }
        self.clamp();
    }

    pub fn set_width(&mut self, width: f64) {
        self.width = width.max(1.0);
    }

    /// Zooms by `factor` (above 1: in) keeping the time under `x` where it is (a wheel
    /// turned, or a button).
    pub fn zoom(&mut self, factor: f64, x: f64) {
        let t = self.time_at(x);
        self.span_us = (self.span_us / factor).clamp(MIN_SPAN_US, MAX_SPAN_US);
        self.start_us = t - x / self.width * self.span_us;
        self.clamp();
    }

    /// Moves the view by `dx` pixels (positive: back in time, as a drag to the right).
    pub fn pan(&mut self, dx: f64) {
        self.start_us -= dx / self.width * self.span_us;
        self.clamp();
    }

    /// Two fingers: the times that were under them (`t_a`, `t_b`) go under where they
    /// are now (`x_a`, `x_b`), which zooms and pans at once.
    pub fn pinch(&mut self, t_a: f64, t_b: f64, x_a: f64, x_b: f64) {
        if (x_b - x_a).abs() < 8.0 || (t_b - t_a).abs() < 1.0 {
            return;
        }
        self.span_us = ((t_b - t_a) / (x_b - x_a) * self.width).abs().clamp(MIN_SPAN_US, MAX_SPAN_US);
        // The time between the fingers stays between them: both stay under theirs unless
        // the zoom is at a limit, and then neither runs away.
        let (t_mid, x_mid) = ((t_a + t_b) / 2.0, (x_a + x_b) / 2.0);
        self.start_us = t_mid - x_mid / self.width * self.span_us;
        self.clamp();
    }

    /// Keeps `t_us` in view (a play reaching an edge of it): the view moves on by most
    /// of its width.
    pub fn follow(&mut self, t_us: f64) {
        let x = self.x_of(t_us);
        if x < 0.0 || x > self.width {
            self.start_us = t_us - self.span_us * if x > self.width { 0.1 } else { 0.9 };
            self.clamp();
        }
    }

    /// The spans as runs of pixels, clipped to the view; a run shorter than a pixel is
    /// widened to one so a short event's footage still shows. Full-size footage is
    /// drawn over the preview it lies in (the runs come in that order).
    pub fn runs(&self, spans: &[Span]) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for pass in [[Fill::Offline, Fill::Deleted], [Fill::Preview, Fill::Preview], [Fill::Full, Fill::Full]]
        {
            for s in spans.iter().filter(|s| pass.contains(&Fill::of(s.kind))) {
                let x0 = self.x_of(s.start_us as f64).max(0.0);
                let x1 = self.x_of(s.end_us as f64).min(self.width);
                if x1 < 0.0 || x0 > self.width || s.end_us < s.start_us {
                    continue;
                }
                let x1 = x1.max(x0 + 1.0);
                let fill = Fill::of(s.kind);
                match runs.last_mut() {
                    // Touching runs of one fill are drawn as one.
                    Some(last) if last.fill == fill && x0 <= last.x1 + 0.5 => last.x1 = last.x1.max(x1),
                    _ => runs.push(Run { x0, x1, fill }),
                }
            }
        }
        runs
    }

    /// The events in view: x of each start, and its kind.
    pub fn events<'a>(&self, events: &'a [Event]) -> impl Iterator<Item = (f64, &'a Event)> + 'a {
        let a = *self;
        events
            .iter()
            .map(move |e| (a.x_of(e.start_us as f64), e))
            .filter(move |(x, _)| (-4.0..=a.width + 4.0).contains(x))
    }

    /// Time labels: a round step that leaves at least `min_px` between them, and the
    /// labels' times in view.
    pub fn ticks(&self, min_px: f64) -> (u64, Vec<u64>) {
        const STEPS_S: [u64; 14] = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 10_800, 21_600];
        let per_px = self.span_us / self.width;
        let step_s = STEPS_S.iter().copied().find(|s| *s as f64 * 1e6 / per_px >= min_px).unwrap_or(43_200);
        let step = step_s * 1_000_000;
        let first = (self.start_us.max(0.0) as u64).div_ceil(step) * step;
        let end = (self.start_us + self.span_us) as u64;
        (step_s, (0..).map(|i| first + i * step).take_while(|t| *t <= end).collect())
    }
}

/// The colour an event is marked with.
pub fn event_colour(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Motion => "#f5c542",
        EventKind::Alarm => "#ff4d4d",
        EventKind::Manual => "#5aa9ff",
    }
}

/// `HH:MM` (or `HH:MM:SS` for steps under a minute, `HH:MM:SS.mmm` with `millis`) of a
/// time on the edge's clock, shown `tz_offset_min` east of UTC (the browser's zone).
pub fn clock_text(t_us: u64, tz_offset_min: i32, seconds: bool, millis: bool) -> String {
    let local_ms = t_us as i64 / 1000 + i64::from(tz_offset_min) * 60_000;
    let day_ms = local_ms.rem_euclid(86_400_000);
    let (h, m, s, ms) = (day_ms / 3_600_000, day_ms / 60_000 % 60, day_ms / 1000 % 60, day_ms % 1000);
    match (seconds, millis) {
        (_, true) => format!("{h:02}:{m:02}:{s:02}.{ms:03}"),
        (true, false) => format!("{h:02}:{m:02}:{s:02}"),
        _ => format!("{h:02}:{m:02}"),
    }
}

/// A speed in thousandths as the button says it: `0.25×`, `1×`, `−4×` (integer
/// arithmetic: the speeds are round thousandths).
pub fn speed_text(speed_milli: i32) -> String {
    let abs = speed_milli.unsigned_abs();
    let sign = if speed_milli < 0 { "−" } else { "" };
    let fraction = format!("{:03}", abs % 1000);
    match fraction.trim_end_matches('0') {
        "" => format!("{sign}{}×", abs / 1000),
        f => format!("{sign}{}.{f}×", abs / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 100.0 * 86_400e6;

    fn span(start_s: f64, end_s: f64, kind: SpanKind) -> Span {
        Span { start_us: (NOW - start_s * 1e6) as u64, end_us: (NOW - end_s * 1e6) as u64, kind }
    }

    #[test]
    fn the_day_fits_the_width_with_now_near_the_right_edge() {
        let a = Axis::day(NOW, 400.0);
        let x_now = a.x_of(NOW);
        assert!(x_now > 380.0 && x_now < 400.0, "{x_now}");
        assert!((a.x_of(NOW - MAX_SPAN_US) - (x_now - 400.0)).abs() < 1e-6);
        // Time ↔ x round trip, and never after now nor before the day.
        assert_eq!(a.t_of(a.x_of(NOW - 3600e6)), (NOW - 3600e6) as u64);
        assert_eq!(a.t_of(1000.0), NOW as u64);
        assert_eq!(a.t_of(-1000.0), (NOW - MAX_SPAN_US) as u64);
    }

    #[test]
    fn zoom_keeps_the_time_under_the_pointer_and_stops_at_a_minute() {
        let mut a = Axis::day(NOW, 400.0);
        let t = a.t_of(200.0) as f64;
        a.zoom(10.0, 200.0);
        assert!((a.x_of(t) - 200.0).abs() < 1e-3);
        assert!((a.span_us - MAX_SPAN_US / 10.0).abs() < 1.0);
        for _ in 0..20 {
            a.zoom(4.0, 200.0);
        }
        assert_eq!(a.span_us, MIN_SPAN_US);
        for _ in 0..20 {
            a.zoom(0.25, 10.0);
        }
        assert_eq!(a.span_us, MAX_SPAN_US);
    }

    #[test]
    fn a_pinch_keeps_both_fingers_on_their_times_and_pans_stay_within_the_day() {
        let mut a = Axis::day(NOW, 400.0);
        a.zoom(24.0, 390.0);
        let (ta, tb) = (a.time_at(100.0), a.time_at(200.0));
        // The fingers spread to twice their distance: twice the zoom.
        a.pinch(ta, tb, 50.0, 250.0);
        assert!((a.x_of(ta) - 50.0).abs() < 1e-3 && (a.x_of(tb) - 250.0).abs() < 1e-3);
        // A finger past now keeps its own time: the pinch stays centred where it began.
        let mut b = Axis::day(NOW, 400.0);
        let (x_now, ta, tb) = (b.x_of(NOW), b.time_at(b.x_of(NOW) - 5.0), b.time_at(b.x_of(NOW) + 5.0));
        b.pinch(ta, tb, x_now - 100.0, x_now + 100.0);
        assert!((b.x_of(NOW) - x_now).abs() < 1.0, "{} vs {x_now}", b.x_of(NOW));
        // Fingers too close to tell apart: nothing changes.
        let before = a;
        a.pinch(ta, tb, 100.0, 104.0);
        assert_eq!(a, before);
        a.pan(-1e9);
        assert!(a.x_of(NOW) > 380.0, "not past now");
        a.pan(1e9);
        assert!((a.start_us - (NOW - MAX_SPAN_US)).abs() < 1.0, "not before the day");
    }

    #[test]
    fn a_view_fitted_to_recent_footage_shows_it_whole_up_to_now() {
        let mut a = Axis::day(NOW, 400.0);
        a.fit(NOW - 600e6);
        assert!(a.x_of(NOW - 600e6) > 10.0 && a.x_of(NOW - 600e6) < 30.0, "{}", a.x_of(NOW - 600e6));
        assert!(a.x_of(NOW) > 380.0 && a.x_of(NOW) < 400.0);
        // A few seconds of footage: a minute across.
        a.fit(NOW - 5e6);
        assert_eq!(a.span_us, MIN_SPAN_US);
        assert!(a.x_of(NOW) > 380.0 && a.x_of(NOW) < 400.0);
    }

    #[test]
    fn a_view_at_now_follows_now_and_one_looking_back_stays() {
        let mut a = Axis::day(NOW, 400.0);
        a.zoom(24.0, 399.0);
        a.set_now(NOW + 60e6);
        assert!(a.x_of(NOW + 60e6) > 380.0);
        a.pan(200.0);
        let start = a.start_us;
        a.set_now(NOW + 120e6);
        assert_eq!(a.start_us, start);
        // A play walking off the view brings it along.
        a.follow(a.start_us + a.span_us * 1.2);
        assert!(a.x_of(a.start_us + a.span_us * 0.1) >= 0.0);
    }

    #[test]
    fn spans_become_runs_with_full_footage_over_preview_and_gaps_left_empty() {
        let a = Axis { start_us: NOW - 100e6, span_us: 100e6, width: 100.0, now_us: NOW };
        let spans = [
            span(100.0, 60.0, SpanKind::Recorded(Track::Preview)),
            span(60.0, 40.0, SpanKind::Recorded(Track::Preview)),
            span(50.0, 49.9, SpanKind::Recorded(Track::Full)),
            span(30.0, 20.0, SpanKind::Offline),
            span(300.0, 100.0, SpanKind::Deleted),
        ];
        let runs = a.runs(&spans);
        assert_eq!(
            runs,
            [
                Run { x0: 70.0, x1: 80.0, fill: Fill::Offline },
                Run { x0: 0.0, x1: 1.0, fill: Fill::Deleted },
                // Two touching preview spans, one run; 60–70 not recorded: nothing.
                Run { x0: 0.0, x1: 60.0, fill: Fill::Preview },
                // 0.1 px of full footage still shows, a pixel wide.
                Run { x0: 50.0, x1: 51.0, fill: Fill::Full },
            ]
        );
    }

    #[test]
    fn ticks_are_round_and_far_enough_apart() {
        let a = Axis { start_us: 3600e6 * 10.0 + 1.0, span_us: 3600e6, width: 400.0, now_us: NOW };
        let (step, ticks) = a.ticks(60.0);
        assert_eq!(step, 600);
        assert_eq!(ticks.first(), Some(&(36_600_000_000)));
        assert_eq!(ticks.len(), 6);
        assert!(ticks.windows(2).all(|w| w[1] - w[0] == 600_000_000));
    }

    #[test]
    fn times_and_speeds_read_as_people_write_them() {
        let t = (13 * 3600 + 5 * 60 + 9) * 1_000_000 + 42_000;
        assert_eq!(clock_text(t, 0, false, false), "13:05");
        assert_eq!(clock_text(t, 60, true, false), "14:05:09");
        assert_eq!(clock_text(t, -14 * 60, true, true), "23:05:09.042");
        assert_eq!(speed_text(250), "0.25×");
        assert_eq!(speed_text(500), "0.5×");
        assert_eq!(speed_text(-4000), "−4×");
        assert_eq!(speed_text(64_000), "64×");
    }
}
