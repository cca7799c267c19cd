//! Finding recorded frames, without I/O: a frame near a time, the next one in either
//! direction, and what a stretch of time holds (the timeline's spans).

use wire::playback::Seek;

use super::{log::Entry, store::Segment};

/// A frame found: its segment's start (the file it is in) and its entry.
pub type Found = (u64, Entry);

/// The frame `seek` asks for relative to `at_us` among `segments`, each in capture
/// order. Segments are looked at one by one rather than bisected: after the clock was
/// set back, a later segment holds earlier times (and segments are few: one per 15
/// minutes of a track).
pub fn find(segments: &[Segment], at_us: u64, seek: Seek) -> Option<Found> {
    let mut best: Option<Found> = None;
    for s in segments {
        let (Some(first), Some(last)) = (s.entries.first(), s.entries.last()) else { continue };
        let candidate = match seek {
            Seek::AtOrBefore | Seek::Before if first.capture_us > at_us => None,
            Seek::After if last.capture_us <= at_us => None,
            Seek::AtOrBefore => {
                let k = s.entries.partition_point(|e| e.capture_us <= at_us);
                k.checked_sub(1).map(|k| s.entries[k])
            }
            Seek::Before => {
                let k = s.entries.partition_point(|e| e.capture_us < at_us);
                k.checked_sub(1).map(|k| s.entries[k])
            }
            Seek::After => s.entries.get(s.entries.partition_point(|e| e.capture_us <= at_us)).copied(),
        };
        let Some(e) = candidate else { continue };
        let better = match (&best, seek) {
            (None, _) => true,
            (Some((_, b)), Seek::After) => e.capture_us < b.capture_us,
            (Some((_, b)), _) => e.capture_us > b.capture_us,
        };
        if better {
            best = Some((s.start_us, e));
        }
    }
    best
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

/// The stretches between `from_us` and `to_us` with frames no further apart than
/// `gap_us`, in time order (merged across segments, whatever their order).
pub fn spans(segments: &[Segment], from_us: u64, to_us: u64, gap_us: u64) -> Vec<(u64, u64)> {
    let mut found: Vec<(u64, u64)> = Vec::new();
    for s in segments {
        let (Some(first), Some(last)) = (s.entries.first(), s.entries.last()) else { continue };
        if last.capture_us < from_us || first.capture_us > to_us {
            continue;
        }
        let start = s.entries.partition_point(|e| e.capture_us < from_us);
        let mut span: Option<(u64, u64)> = None;
        for e in s.entries[start..].iter().take_while(|e| e.capture_us <= to_us) {
            span = match span {
                Some((a, b)) if e.capture_us - b <= gap_us => Some((a, e.capture_us)),
                Some(done) => {
                    found.push(done);
                    Some((e.capture_us, e.capture_us))
                }
                None => Some((e.capture_us, e.capture_us)),
            };
        }
        found.extend(span);
    }
    found.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(found.len());
    for (a, b) in found {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(gap_us) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
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

    #[test]
    fn a_clock_set_back_leaves_segments_out_of_order_and_frames_are_still_found() {
        // Recorded 100..130, then the clock went back to 50 (a new segment), on to 80.
        let segs = [segment(&[100, 110, 120, 130]), segment(&[50, 60, 70, 80])];
        let t = |f: Option<Found>| f.map(|(_, e)| e.capture_us);
        assert_eq!(t(find(&segs, 75, Seek::AtOrBefore)), Some(70));
        assert_eq!(t(find(&segs, 115, Seek::AtOrBefore)), Some(110));
        assert_eq!(t(find(&segs, 80, Seek::After)), Some(100));
        assert_eq!(t(find(&segs, 100, Seek::Before)), Some(80));
        assert_eq!(spans(&segs, 0, 1000, 15), vec![(50, 80), (100, 130)]);
        assert_eq!(spans(&segs, 0, 1000, 25), vec![(50, 130)]);
    }
}
