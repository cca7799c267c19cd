//! What the page's Export button downloads, without I/O: the stretch of footage (the
//! event chosen, else what the timeline shows, narrowed to what was recorded there), the
//! file's name, and what to tell the user when the edge refuses. The page fetches
//! `/export/<camera>.avi?from&to` from the edge that served it and saves the body.

use wire::playback::{Event, Span, SpanKind};

use crate::playback::timeline::Axis;

/// The stretch to export (µs on the edge's clock, `from < to`): the `event` chosen from
/// the event list, from its start to its end (now while it goes on); else the timeline's
/// visible stretch from its first recorded frame to its last. `None`: nothing recorded
/// there, so nothing to ask for.
pub fn stretch(axis: &Axis, spans: &[Span], event: Option<&Event>) -> Option<(u64, u64)> {
    let now = axis.now_us.max(0.0) as u64;
    let (from, to) = match event {
        Some(e) => (e.start_us, if e.end_us == 0 { now } else { e.end_us }),
        None => {
            let (start, end) =
                (axis.start_us.max(0.0) as u64, (axis.start_us + axis.span_us).max(0.0) as u64);
            let recorded = spans
                .iter()
                .filter(|s| matches!(s.kind, SpanKind::Recorded(_)) && s.start_us < end && s.end_us > start);
            let (first, last) =
                recorded.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s.start_us), hi.max(s.end_us)));
            (first.max(start), last.min(end).min(now.max(start)))
        }
    };
    (from < to).then_some((from, to))
}

/// `<camera>-YYYYMMDD-HHMMSS.avi`: the clip's start, `tz_offset_min` east of UTC (the
/// browser's zone), as the snapshot names its file.
pub fn file_name(camera: &str, from_us: u64, tz_offset_min: i32) -> String {
    let local_s = (from_us / 1_000_000) as i64 + i64::from(tz_offset_min) * 60;
    let (days, secs) = (local_s.div_euclid(86_400), local_s.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{camera}-{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}.avi")
}

/// The calendar date of a day since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`, integer only).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// What the status line says when the edge did not send the clip: its own words (a
/// clip too long says how big it would be) or, without any, what the status means.
pub fn refused(status: u16, body: &str) -> String {
    let body = body.trim();
    let meaning = match status {
        401 | 403 => "the edge refused the login",
        404 => "nothing was recorded then",
        413 => "the clip is too long",
        429 => "another export is running; try again when it is done",
        _ => "the edge could not make the clip",
    };
    format!("Not exported: {}", if body.is_empty() { meaning } else { body })
}

#[cfg(test)]
mod tests {
    use wire::playback::{EventKind, Track};

    use super::*;

    const NOW: u64 = 1_800_000_000_000_000;

    fn span(start_s: u64, end_s: u64, kind: SpanKind) -> Span {
        Span { start_us: NOW - start_s * 1_000_000, end_us: NOW - end_s * 1_000_000, kind }
    }

    /// The timeline showing from `start_s` to `end_s` seconds before now.
    fn axis(start_s: u64, end_s: u64) -> Axis {
        let start_us = (NOW - start_s * 1_000_000) as f64;
        Axis { start_us, span_us: (start_s - end_s) as f64 * 1e6, width: 390.0, now_us: NOW as f64 }
    }

    fn event(start_s: u64, end_s: Option<u64>) -> Event {
        Event {
            start_us: NOW - start_s * 1_000_000,
            end_us: end_s.map_or(0, |e| NOW - e * 1_000_000),
            kind: EventKind::Alarm,
            reason: String::new(),
            source: String::new(),
        }
    }

    #[test]
    fn the_view_is_narrowed_to_the_footage_recorded_in_it() {
        let spans = [
            span(600, 300, SpanKind::Recorded(Track::Preview)),
            span(300, 200, SpanKind::Offline),
            span(200, 10, SpanKind::Recorded(Track::Full)),
        ];
        // Footage from 600 s ago to 10 s ago; the view from 900 s ago to now and a bit.
        let a = Axis { span_us: 920e6, ..axis(900, 0) };
        assert_eq!(stretch(&a, &spans, None), Some((NOW - 600_000_000, NOW - 10_000_000)));
        // A view inside the footage is taken as it is, offline stretches and all.
        assert_eq!(stretch(&axis(400, 100), &spans, None), Some((NOW - 400_000_000, NOW - 100_000_000)));
    }

    #[test]
    fn a_view_without_footage_has_nothing_to_export() {
        let spans = [span(600, 300, SpanKind::Recorded(Track::Preview)), span(300, 0, SpanKind::Deleted)];
        assert_eq!(stretch(&axis(200, 100), &spans, None), None);
        assert_eq!(stretch(&axis(200, 100), &[], None), None);
        // Offline and deleted are not footage.
        assert_eq!(stretch(&axis(900, 0), &[span(600, 300, SpanKind::Offline)], None), None);
    }

    #[test]
    fn footage_still_being_recorded_ends_at_now() {
        let spans = [span(60, 0, SpanKind::Recorded(Track::Preview))];
        let ahead = Axis { span_us: 70e6, ..axis(60, 0) };
        assert_eq!(stretch(&ahead, &spans, None), Some((NOW - 60_000_000, NOW)));
    }

    #[test]
    fn an_event_chosen_is_exported_from_its_start_to_its_end_whatever_the_view() {
        let spans = [span(600, 0, SpanKind::Recorded(Track::Preview))];
        let e = event(500, Some(470));
        assert_eq!(stretch(&axis(100, 0), &spans, Some(&e)), Some((e.start_us, e.end_us)));
        // One still going on ends now.
        let e = event(30, None);
        assert_eq!(stretch(&axis(600, 0), &spans, Some(&e)), Some((e.start_us, NOW)));
    }

    #[test]
    fn the_file_is_named_for_the_camera_and_the_clip_s_local_start() {
        // 2027-01-15 12:30:05 UTC.
        let t = 1_800_016_205_000_000;
        assert_eq!(file_name("door", t, 0), "door-20270115-123005.avi");
        assert_eq!(file_name("door", t, 120), "door-20270115-143005.avi");
        assert_eq!(file_name("door", t, -13 * 60), "door-20270114-233005.avi");
        assert_eq!(file_name("yard", 0, 0), "yard-19700101-000000.avi");
        // A leap day.
        assert_eq!(file_name("c", 951_782_400_000_000, 0), "c-20000229-000000.avi");
    }

    #[test]
    fn a_refusal_shows_the_edge_s_words_else_what_the_status_means() {
        let too_long = "that clip would be 300 MB; export at most 256 MB at a time\n";
        assert_eq!(
            refused(413, too_long),
            "Not exported: that clip would be 300 MB; export at most 256 MB at a time"
        );
        assert_eq!(refused(429, ""), "Not exported: another export is running; try again when it is done");
        assert_eq!(refused(404, " "), "Not exported: nothing was recorded then");
    }
}
