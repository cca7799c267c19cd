//! Finding recorded frames, without I/O: a frame near a time, the next one in either
//! direction, and what a stretch of time holds (the timeline's spans).

use wire::playback::Seek;

use super::{log::Entry, store::Segment};

/// A frame found: its segment's start (the file it is in) and its entry.
pub type Found = (u64, Entry);

/// The frame `seek` asks for relative to `at_us` among `segments` (in time order, each
/// in capture order).
pub fn find(segments: &[Segment], at_us: u64, seek: Seek) -> Option<Found> {
    match seek {
        Seek::AtOrBefore => last_where(segments, |t| t <= at_us),
        Seek::Before => last_where(segments, |t| t < at_us),
        Seek::After => first_where(segments, |t| t > at_us),
    }
}

/// The nearest frame to `at_us` either side within `within_us`.
pub fn nearest(segments: &[Segment], at_us: u64, within_us: u64) -> Option<Found> {
    let before = find(segments, at_us, Seek::AtOrBefore);
    let after = find(segments, at_us, Seek::After);
    let distance = |f: &Option<Found>| f.map(|(_, e)| e.capture_us.abs_diff(at_us));
    let best = match (distance(&before), distance(&after)) {
        (Some(b), Some(a)) if a < b => after,
        (Some(_), _) => before,
        _ => after,
    };
    best.filter(|(_, e)| e.capture_us.abs_diff(at_us) <= within_us)
}

fn last_where(segments: &[Segment], ok: impl Fn(u64) -> bool) -> Option<Found> {
    // Segments whose first frame is ok; the last of them holds the answer (or the one
    // before it, if its frames are all past: cannot be, its first is ok).
    let n = segments.partition_point(|s| s.entries.first().is_none_or(|e| ok(e.capture_us)));
    segments[..n].iter().rev().find_map(|s| {
        let k = s.entries.partition_point(|e| ok(e.capture_us));
        (k > 0).then(|| (s.start_us, s.entries[k - 1]))
    })
}

fn first_where(segments: &[Segment], ok: impl Fn(u64) -> bool) -> Option<Found> {
    let n = segments.partition_point(|s| s.entries.last().is_none_or(|e| !ok(e.capture_us)));
    segments[n..].iter().find_map(|s| {
        let k = s.entries.partition_point(|e| !ok(e.capture_us));
        s.entries.get(k).map(|e| (s.start_us, *e))
    })
}

/// The stretches between `from_us` and `to_us` with frames no further apart than
/// `gap_us`, in time order.
pub fn spans(segments: &[Segment], from_us: u64, to_us: u64, gap_us: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in segments {
        let (Some(first), Some(last)) = (s.entries.first(), s.entries.last()) else { continue };
        if last.capture_us < from_us || first.capture_us > to_us {
            continue;
        }
        let start = s.entries.partition_point(|e| e.capture_us < from_us);
        for e in &s.entries[start..] {
            if e.capture_us > to_us {
                break;
            }
            match out.last_mut() {
                Some(span) if e.capture_us >= span.1 && e.capture_us - span.1 <= gap_us => {
                    span.1 = e.capture_us
                }
                _ => out.push((e.capture_us, e.capture_us)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(times: &[u64]) -> Segment {
        let entries = times
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry { capture_us: t, offset: i as u32 * 100, len: 1 })
            .collect();
        Segment { start_us: times[0], entries, bytes: 0 }
    }

    #[test]
    fn frames_are_found_either_side_of_a_time_across_segments() {
        let segs = [segment(&[10, 20, 30]), segment(&[50, 60])];
        let t = |f: Option<Found>| f.map(|(_, e)| e.capture_us);
        assert_eq!(t(find(&segs, 35, Seek::AtOrBefore)), Some(30));
        assert_eq!(t(find(&segs, 50, Seek::AtOrBefore)), Some(50));
        assert_eq!(t(find(&segs, 50, Seek::Before)), Some(30));
        assert_eq!(t(find(&segs, 30, Seek::After)), Some(50));
        assert_eq!(t(find(&segs, 5, Seek::AtOrBefore)), None);
        assert_eq!(t(find(&segs, 60, Seek::After)), None);
        assert_eq!(find(&segs, 55, Seek::After).unwrap().0, 50, "and the segment it is in");
        assert_eq!(t(nearest(&segs, 44, 100)), Some(50));
        assert_eq!(t(nearest(&segs, 38, 100)), Some(30));
        assert_eq!(t(nearest(&segs, 40, 5)), None);
        assert_eq!(t(find(&[], 1, Seek::After)), None);
    }

    #[test]
    fn spans_break_at_gaps_and_stay_inside_the_window() {
        let segs = [segment(&[10, 20, 30, 100, 110]), segment(&[115, 300])];
        assert_eq!(spans(&segs, 0, 1000, 15), vec![(10, 30), (100, 115), (300, 300)]);
        assert_eq!(spans(&segs, 25, 105, 15), vec![(30, 30), (100, 100)]);
        assert!(spans(&segs, 400, 500, 15).is_empty());
    }
}
