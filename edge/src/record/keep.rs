//! What of the full-size stream is kept, without I/O: around each event, with a
//! **pre-roll** from memory (the seconds before the event, which no one could have
//! asked for in time) and a **post-roll** after it ends.
//!
//! Events begin and end by triggers (the edge's motion, an alarm on the bus, each
//! named by kind and source, so two alarms from two sources are two events) or last a
//! given time ("record now" from a page). While any is on, or until the post-roll after
//! the last one is over, every full frame is kept; otherwise it waits in the ring, which
//! holds the last pre-roll's worth (and at most [`RING_BYTES`]).

use std::collections::VecDeque;

use wire::playback::{Event, EventKind};

/// Most bytes a camera's pre-roll holds in memory (60 s of 720p30 is ~180 MB: the
/// longest pre-roll is then shorter on a big stream).
pub const RING_BYTES: usize = 64 << 20;

/// One camera's keeping of its full stream.
pub struct Keep {
    pre_roll_us: u64,
    post_roll_us: u64,
    ring: VecDeque<(u64, Vec<u8>)>,
    ring_bytes: usize,
    /// Triggers that are on, as events begun.
    on: Vec<Event>,
    /// Keep every frame captured up to this time (post-roll, a mark).
    until_us: u64,
    /// The start of the event that began keeping: the ring's frames from its pre-roll
    /// on are written first.
    since_us: Option<u64>,
    /// The last "record now", while it runs: another one extends it.
    marked: Option<Event>,
}

impl Keep {
    pub fn new(pre_roll_s: u32, post_roll_s: u32) -> Keep {
        Keep {
            pre_roll_us: u64::from(pre_roll_s) * 1_000_000,
            post_roll_us: u64::from(post_roll_s) * 1_000_000,
            ring: VecDeque::new(),
            ring_bytes: 0,
            on: Vec::new(),
            until_us: 0,
            since_us: None,
            marked: None,
        }
    }

    /// Whether full frames are wanted now: always with a pre-roll (the ring needs
    /// them), else while something is kept.
    pub fn wants_frames(&self, now_us: u64) -> bool {
        self.pre_roll_us > 0 || self.keeping(now_us)
    }

    fn keeping(&self, at_us: u64) -> bool {
        !self.on.is_empty() || (self.until_us > 0 && at_us <= self.until_us)
    }

    /// A trigger went on at `at_us`: the event begun, or `None` if it was on already.
    pub fn on(&mut self, kind: EventKind, source: &str, reason: &str, at_us: u64) -> Option<Event> {
        if self.on.iter().any(|e| e.kind == kind && e.source == source) {
            return None;
        }
        self.begin(at_us);
        let event = Event {
            start_us: at_us,
            end_us: 0,
            kind,
            reason: reason.to_string(),
            source: source.to_string(),
        };
        self.on.push(event.clone());
        Some(event)
    }

    /// A trigger went off at `at_us`: the event ended, or `None` if it was not on.
    pub fn off(&mut self, kind: EventKind, source: &str, at_us: u64) -> Option<Event> {
        let i = self.on.iter().position(|e| e.kind == kind && e.source == source)?;
        let mut event = self.on.remove(i);
        event.end_us = at_us.max(event.start_us);
        self.until_us = self.until_us.max(event.end_us + self.post_roll_us);
        Some(event)
    }

    /// Keep the next `seconds` from `at_us` (and the pre-roll before it): the event. A
    /// "record now" while the last one still runs extends that one: one event, however
    /// often a page asks.
    pub fn mark(&mut self, seconds: u32, source: &str, at_us: u64) -> Event {
        self.begin(at_us);
        let end_us = at_us + u64::from(seconds) * 1_000_000;
        self.until_us = self.until_us.max(end_us + self.post_roll_us);
        let event = match self.marked.take().filter(|m| m.end_us >= at_us && m.source == source) {
            Some(m) => Event { end_us: end_us.max(m.end_us), ..m },
            None => Event {
                start_us: at_us,
                end_us,
                kind: EventKind::Manual,
                reason: "record now".to_string(),
                source: source.to_string(),
            },
        };
        self.marked = Some(event.clone());
        event
    }

    fn begin(&mut self, at_us: u64) {
        if !self.keeping(at_us) && self.since_us.is_none() {
            self.since_us = Some(at_us);
        }
    }

    /// A full frame: the frames to write now, oldest first (the pre-roll's, then this
    /// one), or none while nothing is kept (it waits in the ring).
    pub fn frame(&mut self, capture_us: u64, payload: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
        if let Some(since) = self.since_us.take() {
            let from = since.saturating_sub(self.pre_roll_us);
            let mut out: Vec<_> = self.ring.drain(..).filter(|(t, _)| *t >= from).collect();
            self.ring_bytes = 0;
            out.push((capture_us, payload));
            return out;
        }
        if self.keeping(capture_us) {
            return vec![(capture_us, payload)];
        }
        if self.pre_roll_us > 0 {
            self.ring_bytes += payload.len();
            self.ring.push_back((capture_us, payload));
            let oldest = capture_us.saturating_sub(self.pre_roll_us);
            while let Some((t, p)) = self.ring.front() {
                if *t >= oldest && self.ring_bytes <= RING_BYTES {
                    break;
                }
                self.ring_bytes -= p.len();
                self.ring.pop_front();
            }
        }
        Vec::new()
    }

    /// Bytes waiting in the pre-roll.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// The events still on (ended when the edge stops).
    pub fn still_on(&self) -> &[Event] {
        &self.on
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    /// Frames at 10 fps from `from` s to `to` s: the capture times of those written.
    fn feed(keep: &mut Keep, from: u64, to: u64) -> Vec<u64> {
        (from * 10..to * 10).flat_map(|i| keep.frame(i * S / 10, vec![0; 10])).map(|(t, _)| t).collect()
    }

    #[test]
    fn an_event_keeps_its_pre_roll_and_post_roll_and_nothing_else() {
        let mut keep = Keep::new(5, 10);
        assert!(keep.wants_frames(0));
        assert!(feed(&mut keep, 0, 100).is_empty(), "nothing kept before an event");
        let e = keep.on(EventKind::Alarm, "door", "opened", 100 * S).unwrap();
        assert_eq!((e.start_us, e.end_us), (100 * S, 0));
        assert!(keep.on(EventKind::Alarm, "door", "again", 101 * S).is_none(), "one event per trigger");
        let written = feed(&mut keep, 100, 120);
        assert_eq!(written.first(), Some(&(95 * S)), "the pre-roll from memory");
        assert_eq!(written.len(), 250);
        let e = keep.off(EventKind::Alarm, "door", 120 * S).unwrap();
        assert_eq!(e.end_us, 120 * S);
        let after = feed(&mut keep, 120, 200);
        assert_eq!(after.last(), Some(&(130 * S)), "post-roll to 10 s after the end");
        assert_eq!(keep.ring_bytes(), 51 * 10, "and the ring fills again: 5 s and its last frame");
    }

    #[test]
    fn a_mark_keeps_its_seconds_and_overlapping_events_keep_until_the_last_ends() {
        let mut keep = Keep::new(0, 2);
        assert!(!keep.wants_frames(0), "no pre-roll: no frames needed while nothing is kept");
        feed(&mut keep, 0, 10);
        let m = keep.mark(5, "page", 10 * S);
        assert_eq!((m.start_us, m.end_us, m.kind), (10 * S, 15 * S, EventKind::Manual));
        keep.on(EventKind::Motion, "motion", "motion", 12 * S);
        let written = feed(&mut keep, 10, 40);
        assert_eq!(written.first(), Some(&(10 * S)));
        assert_eq!(written.len(), 300, "the motion is still on");
        keep.off(EventKind::Motion, "motion", 40 * S);
        assert_eq!(feed(&mut keep, 40, 60).last(), Some(&(42 * S)));
        assert!(!keep.wants_frames(60 * S));
        // Asked again and again while it runs: one event, longer.
        let a = keep.mark(5, "page", 100 * S);
        let b = keep.mark(5, "page", 103 * S);
        assert_eq!((b.start_us, b.end_us), (a.start_us, 108 * S));
        assert_ne!(keep.mark(5, "page", 200 * S).start_us, a.start_us, "a new one once it ended");
    }
}
