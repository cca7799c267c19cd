//! Flow control towards viewers: do not publish faster than the viewers can take.
//!
//! MQTT brokers queue QoS 0 messages for a slow subscriber in their per-connection buffers
//! and the socket's, so a viewer that reads slower than the camera publishes sees its
//! latency grow without bound. Viewers therefore acknowledge each frame they draw (a few
//! bytes on `<prefix>/<camera>/ack/<viewer>`), and the publisher keeps at most a window
//! of frames unacknowledged per viewer: when a viewer falls behind, frames are dropped at
//! the edge (the newest still wins) instead of queueing on the way.
//!
//! The window is the viewer's to choose (one byte after the sequence number): one frame
//! keeps latency lowest on a LAN, while a viewer far away or a busy decoder needs a few
//! frames on the way to keep its frame rate (the viewer works it out from the link's
//! rate, its decode time and the smallest round trip). Viewers that do not say get the
//! edge's `--viewer-window`.
//!
//! A viewer that leaves says so through its MQTT last will (an empty acknowledgement the
//! broker publishes when its connection drops), and one that stops acknowledging for
//! [`Viewers::STALL`] (stalled phone) stops counting, so neither freezes the stream for
//! everyone else. Subscribers that
//! never acknowledge (other MQTT tools) are not flow-controlled at all.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use wire::ack::{Ack as Acknowledgement, Rendition};

/// Published sequence numbers remembered to count what is in flight.
const REMEMBERED: usize = 256;

#[derive(Debug)]
pub struct Viewers {
    window: usize,
    /// Per viewer: last acknowledged sequence, its own window (0 = the default), when.
    acks: HashMap<String, Ack>,
    published: VecDeque<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    sequence: u64,
    window: usize,
    at: Instant,
    /// The usual time between this viewer's acknowledgements (a moving average).
    gap: Duration,
}

impl Ack {
    /// When this viewer counts as stalled: [`Viewers::STALL`] after its last word, or
    /// four of its usual gaps if longer. On a slow link acknowledgements come ~0.45 s
    /// apart (2 Mbit/s, 72 KB frames): a fixed 0.5 s counted such a viewer as gone
    /// whenever one frame took a little longer, and the frame then sent unasked queued
    /// behind the one on its way (latency spikes of 1.3 s, measured).
    fn stalls_at(&self) -> Instant {
        self.at + (self.gap * 4).clamp(Viewers::STALL, Viewers::MAX_STALL)
    }
}

/// Whether the next frame may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Blocked by a viewer that is behind; re-check at this time at the latest (when
    /// that viewer would count as stalled).
    Wait(Instant),
}

impl Viewers {
    /// A viewer silent this long no longer holds the stream back (longer for a viewer
    /// whose acknowledgements come further apart; see `Ack::stalls_at`).
    pub const STALL: Duration = Duration::from_millis(500);
    /// The longest a silent viewer holds the stream back.
    pub const MAX_STALL: Duration = Duration::from_secs(5);

    /// `window` frames may be unacknowledged per viewer; 0 turns flow control off.
    pub fn new(window: usize) -> Self {
        Viewers { window, acks: HashMap::new(), published: VecDeque::new() }
    }

    /// A viewer drew the frame with this sequence number; `window` is what it asks for.
    pub fn ack(&mut self, viewer: &str, sequence: u64, window: Option<usize>, now: Instant) {
        self.ack_with_gap(viewer, sequence, window, now, Duration::ZERO);
    }

    /// As [`Viewers::ack`]; a viewer new here starts with `gap` as its usual time between
    /// acknowledgements (what it showed elsewhere), instead of none.
    fn ack_with_gap(
        &mut self,
        viewer: &str,
        sequence: u64,
        window: Option<usize>,
        now: Instant,
        gap: Duration,
    ) {
        // Forget viewers gone for long, so the map stays the size of the audience.
        self.acks.retain(|_, a| now.duration_since(a.at) < Self::STALL * 20);
        // The latest, not the largest: after an edge restart sequences start at 0.
        let mut ack = Ack { sequence, window: window.unwrap_or(0).min(64), at: now, gap };
        if let Some(a) = self.acks.get_mut(viewer) {
            ack.gap = (a.gap * 3 + now.saturating_duration_since(a.at)) / 4;
            *a = ack;
        } else if self.acks.len() < 10_000 {
            // New here (its hello): until its acknowledgements show their pace, give its
            // first frame 4 × STALL to arrive. A 720p frame takes 0.8 s over 2 Mbit/s, and
            // the broker's stored frame goes first: counted as stalled after 0.5 s, such a
            // viewer let frames flood its link (6 s of queue, measured).
            ack.gap = ack.gap.max(Self::STALL);
            self.acks.insert(viewer.to_string(), ack);
        }
    }

    /// A viewer said goodbye (its last will: an empty acknowledgement).
    pub fn leave(&mut self, viewer: &str) {
        self.acks.remove(viewer);
    }

    /// A frame went out.
    pub fn published(&mut self, sequence: u64) {
        if self.published.len() == REMEMBERED {
            self.published.pop_front();
        }
        self.published.push_back(sequence);
    }

    /// The sequence after which `on_the_way` of the frames published are (0 when fewer
    /// were published): what a viewer that has none of them yet has acknowledged.
    fn newest(&self, on_the_way: usize) -> u64 {
        self.published.iter().rev().nth(on_the_way).copied().unwrap_or(0)
    }

    /// Frames published after the viewer's last acknowledged one.
    fn in_flight(&self, acked: u64) -> usize {
        self.published.iter().rev().take_while(|&&s| s > acked).count()
    }

    /// May the next frame be published now?
    pub fn gate(&self, now: Instant) -> Gate {
        if self.window == 0 {
            return Gate::Open;
        }
        let mut until: Option<Instant> = None;
        for a in self.acks.values() {
            let stalls_at = a.stalls_at();
            let window = if a.window > 0 { a.window } else { self.window };
            if now < stalls_at && self.in_flight(a.sequence) >= window {
                until = Some(until.map_or(stalls_at, |u| u.min(stalls_at)));
            }
        }
        until.map_or(Gate::Open, Gate::Wait)
    }

    /// The usual time between `viewer`'s acknowledgements here, if it is known here.
    fn gap_of(&self, viewer: &str) -> Option<Duration> {
        self.acks.get(viewer).map(|a| a.gap)
    }

    /// Viewers that acknowledged recently.
    pub fn active(&self, now: Instant) -> usize {
        self.acks.values().filter(|a| now < a.stalls_at()).count()
    }
}

/// One [`Viewers`] per rendition of a camera.
#[derive(Debug)]
pub struct ByRendition {
    each: [Viewers; 3],
    /// Whether the broker surely hands a new subscriber the retained full frame (see
    /// [`ByRendition::ack`]).
    retained_arrives: bool,
}

impl ByRendition {
    /// `window` as in [`Viewers::new`], for every rendition.
    pub fn new(window: usize) -> Self {
        ByRendition { each: Rendition::ALL.map(|_| Viewers::new(window)), retained_arrives: true }
    }

    /// `false` for a broker that may not hand a new subscriber the retained frame:
    /// RabbitMQ keeps retained messages on the node that received them, so a viewer on
    /// another node of the cluster gets none; counted as on its way, that frame held the
    /// stream until the viewer counted as stalled (its first frame 2.26 s after page load,
    /// measured). Where it does arrive, the next frame may follow it at once: one extra
    /// frame on the link at the start, which the first acknowledgements then bound.
    pub fn retained_arrives(mut self, arrives: bool) -> Self {
        self.retained_arrives = arrives;
        self
    }

    /// A viewer drew a frame of the rendition its acknowledgement names: it counts for
    /// that one only. While it moves to another rendition it draws (and acknowledges) both,
    /// and each must stay flow-controlled meanwhile, or the link fills with the one whose
    /// acknowledgements stopped counting (latency grew to 6 s at 2 Mbit/s, measured). When
    /// it is done with one it says so ([`Acknowledgement::is_leave`]), so that one does
    /// not wait for it to count as stalled (up to [`Viewers::MAX_STALL`]).
    pub fn ack(&mut self, viewer: &str, ack: &Acknowledgement, now: Instant) {
        if ack.is_leave() {
            self.get_mut(ack.rendition).leave(viewer);
            return;
        }
        // A hello: nothing of this rendition is on its way to the viewer yet but, for the
        // retained full stream, the newest frame (the broker hands it over on subscribing;
        // not every broker does, see `retained_arrives`). Counted from sequence 0
        // instead, a rendition this viewer watched before (its numbers remembered) held
        // its first frame until the viewer counted as stalled: 2 s of a frozen picture on
        // every move up (measured).
        let retained = ack.rendition == Rendition::Full && self.retained_arrives;
        let sequence = match ack.is_hello() {
            true => self.get(ack.rendition).newest(usize::from(retained)),
            false => ack.sequence,
        };
        // A viewer arriving on a rendition from another (moving down on a slow link) has
        // shown how far apart its acknowledgements come: its first frame here queues
        // behind the last ones of the other, and with no such gap it would count as
        // stalled after 0.5 s and let frames flood the link (6 s of queue, measured at
        // 2 Mbit/s with 190 KB frames).
        let elsewhere = self.each.iter().filter_map(|v| v.gap_of(viewer)).max().unwrap_or(Duration::ZERO);
        self.get_mut(ack.rendition).ack_with_gap(
            viewer,
            sequence,
            ack.window.map(usize::from),
            now,
            elsewhere,
        );
    }

    /// A viewer said goodbye: it leaves every rendition.
    pub fn leave(&mut self, viewer: &str) {
        self.each.iter_mut().for_each(|v| v.leave(viewer));
    }

    pub fn get(&self, rendition: Rendition) -> &Viewers {
        &self.each[usize::from(rendition.id())]
    }

    pub fn get_mut(&mut self, rendition: Rendition) -> &mut Viewers {
        &mut self.each[usize::from(rendition.id())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_acknowledging_viewers_frames_flow_freely() {
        let mut v = Viewers::new(2);
        let now = Instant::now();
        for s in 0..10 {
            assert_eq!(v.gate(now), Gate::Open);
            v.published(s);
        }
    }

    #[test]
    fn a_viewer_behind_by_the_window_holds_the_next_frame() {
        let mut v = Viewers::new(2);
        let t = Instant::now();
        v.ack("phone", 0, None, t);
        v.published(1);
        assert_eq!(v.gate(t), Gate::Open, "one in flight");
        v.published(2);
        // A viewer new here: its first frame gets 4 × STALL to arrive.
        assert_eq!(v.gate(t), Gate::Wait(t + 4 * Viewers::STALL), "two in flight");
        v.ack("phone", 1, None, t);
        assert_eq!(v.gate(t), Gate::Open);
    }

    #[test]
    fn the_slowest_active_viewer_decides_but_a_stalled_one_does_not() {
        let mut v = Viewers::new(1);
        let t = Instant::now();
        v.ack("fast", 0, None, t);
        v.ack("slow", 0, None, t);
        v.published(1);
        v.ack("fast", 1, None, t);
        assert!(matches!(v.gate(t), Gate::Wait(_)), "slow still has frame 1 in flight");
        let later = t + 4 * Viewers::STALL + Duration::from_millis(1);
        v.ack("fast", 1, None, later);
        assert_eq!(v.gate(later), Gate::Open, "slow went quiet: it no longer counts");
        assert_eq!(v.active(later), 1);
    }

    #[test]
    fn a_viewer_on_a_slow_link_is_not_taken_for_stalled_between_its_frames() {
        let mut v = Viewers::new(1);
        let t = Instant::now();
        // Acknowledgements 450 ms apart: one frame across a 2 Mbit/s link each.
        for i in 0..10u64 {
            v.ack("phone", i, None, t + Duration::from_millis(450 * i));
            v.published(i + 1);
        }
        let last = t + Duration::from_millis(450 * 9);
        // 600 ms after its last word (one frame was slow) it still holds the next frame.
        let slow_frame = last + Duration::from_millis(600);
        assert!(matches!(v.gate(slow_frame), Gate::Wait(_)));
        // Four of its gaps later it counts as stalled.
        assert_eq!(v.gate(last + Duration::from_millis(1900)), Gate::Open);
        assert_eq!(v.active(last + Duration::from_millis(1900)), 0);
    }

    #[test]
    fn a_viewer_that_leaves_stops_counting_at_once() {
        let mut v = Viewers::new(1);
        let t = Instant::now();
        v.ack("gone", 0, None, t);
        v.published(1);
        assert!(matches!(v.gate(t), Gate::Wait(_)));
        v.leave("gone");
        assert_eq!(v.gate(t), Gate::Open);
    }

    #[test]
    fn acks_from_before_a_restart_do_not_block() {
        let mut v = Viewers::new(2);
        let t = Instant::now();
        v.ack("old", 90_000, None, t); // sequence of the previous edge process
        for s in 0..5 {
            v.published(s);
        }
        assert_eq!(v.gate(t), Gate::Open);
    }

    #[test]
    fn a_viewer_far_away_gets_the_window_it_asks_for() {
        let mut v = Viewers::new(1);
        let t = Instant::now();
        v.ack("remote", 0, Some(3), t);
        v.published(1);
        v.published(2);
        assert_eq!(v.gate(t), Gate::Open, "2 in flight, window 3");
        v.published(3);
        assert!(matches!(v.gate(t), Gate::Wait(_)));
    }

    fn ack(sequence: u64, rendition: Rendition) -> Acknowledgement {
        Acknowledgement { sequence, window: None, rendition }
    }

    #[test]
    fn an_acknowledgement_counts_only_for_its_rendition() {
        let mut v = ByRendition::new(1);
        let t = Instant::now();
        v.ack("phone", &ack(0, Rendition::Quarter), t);
        v.get_mut(Rendition::Quarter).published(1);
        v.get_mut(Rendition::Full).published(1);
        assert!(matches!(v.get(Rendition::Quarter).gate(t), Gate::Wait(_)), "quarter's viewer is behind");
        assert_eq!(v.get(Rendition::Full).gate(t), Gate::Open, "nobody acknowledges the full stream");
        assert_eq!(v.get(Rendition::Half).gate(t), Gate::Open);
        v.ack("phone", &ack(1, Rendition::Quarter), t);
        assert_eq!(v.get(Rendition::Quarter).gate(t), Gate::Open);
    }

    #[test]
    fn a_slow_viewer_of_one_rendition_never_holds_back_a_fast_one_of_another() {
        let mut v = ByRendition::new(1);
        let t = Instant::now();
        v.ack("slow", &ack(0, Rendition::Quarter), t);
        v.ack("fast", &ack(0, Rendition::Full), t);
        for s in 1..20u64 {
            // The fast viewer acknowledges every full frame; the slow one none.
            assert_eq!(v.get(Rendition::Full).gate(t), Gate::Open, "frame {s}");
            v.get_mut(Rendition::Full).published(s);
            v.ack("fast", &ack(s, Rendition::Full), t);
        }
        v.get_mut(Rendition::Quarter).published(1);
        assert!(matches!(v.get(Rendition::Quarter).gate(t), Gate::Wait(_)));
    }

    #[test]
    fn a_viewer_moving_to_another_rendition_is_flow_controlled_in_both_until_it_leaves_one() {
        let mut v = ByRendition::new(1);
        let t = Instant::now();
        v.ack("phone", &ack(0, Rendition::Full), t);
        v.get_mut(Rendition::Full).published(1);
        assert!(matches!(v.get(Rendition::Full).gate(t), Gate::Wait(_)));
        v.ack("phone", &ack(0, Rendition::Half), t);
        v.get_mut(Rendition::Half).published(1);
        assert!(matches!(v.get(Rendition::Full).gate(t), Gate::Wait(_)), "still drawing full frames");
        assert!(matches!(v.get(Rendition::Half).gate(t), Gate::Wait(_)), "and half ones");
        v.ack("phone", &Acknowledgement::leaving(Rendition::Full), t);
        assert_eq!(v.get(Rendition::Full).gate(t), Gate::Open, "done with full");
        assert_eq!((v.get(Rendition::Full).active(t), v.get(Rendition::Half).active(t)), (0, 1));
    }

    #[test]
    fn a_viewer_new_on_a_rendition_is_given_the_time_its_acknowledgements_took_elsewhere() {
        let mut v = ByRendition::new(1);
        let t = Instant::now();
        for i in 0..8u32 {
            v.ack("phone", &ack(u64::from(i), Rendition::Full), t + Duration::from_millis(800) * i);
        }
        let now = t + Duration::from_millis(800) * 8;
        v.ack("phone", &ack(0, Rendition::Quarter), now);
        v.get_mut(Rendition::Quarter).published(1);
        // Its first quarter frame waits behind a full one on the link: not stalled yet.
        let later = now + Duration::from_millis(1500);
        assert!(
            matches!(v.get(Rendition::Quarter).gate(later), Gate::Wait(_)),
            "still flow-controlled after 1.5 s"
        );
    }

    #[test]
    fn a_hello_counts_the_retained_frame_on_its_way_only_where_the_broker_surely_delivers_it() {
        let t = Instant::now();
        for (by, held) in [(ByRendition::new(1), true), (ByRendition::new(1).retained_arrives(false), false)]
        {
            let mut by = by;
            by.get_mut(Rendition::Full).published(7);
            by.ack("phone", &ack(0, Rendition::Full), t);
            // Embedded broker: frame 7 is on its way (retained), so the next one waits.
            // A RabbitMQ cluster: maybe nothing is; the next frame goes at once.
            assert_eq!(matches!(by.get(Rendition::Full).gate(t), Gate::Wait(_)), held);
            // Smaller renditions are not retained: nothing on the way either way.
            by.get_mut(Rendition::Half).published(3);
            by.ack("phone", &ack(0, Rendition::Half), t);
            assert_eq!(by.get(Rendition::Half).gate(t), Gate::Open);
        }
    }

    #[test]
    fn viewers_that_leave_stop_counting_in_every_rendition() {
        let mut v = ByRendition::new(1);
        let t = Instant::now();
        for (i, r) in Rendition::ALL.into_iter().enumerate() {
            v.ack(&format!("gone{i}"), &ack(0, r), t);
            v.get_mut(r).published(1);
            assert!(matches!(v.get(r).gate(t), Gate::Wait(_)));
        }
        for i in 0..3 {
            v.leave(&format!("gone{i}"));
        }
        assert!(Rendition::ALL.iter().all(|&r| v.get(r).gate(t) == Gate::Open));
    }

    #[test]
    fn acknowledgements_are_read_by_the_wire_crate_in_all_their_forms() {
        // The forms viewers sent before renditions still count, for the full stream.
        let mut p = 7u64.to_le_bytes().to_vec();
        assert_eq!(Acknowledgement::parse(&p), Some(ack(7, Rendition::Full)));
        p.push(4);
        let a = Acknowledgement::parse(&p).unwrap();
        assert_eq!((a.sequence, a.window, a.rendition), (7, Some(4), Rendition::Full));
        p.push(1);
        assert_eq!(Acknowledgement::parse(&p).unwrap().rendition, Rendition::Half);
        assert_eq!(Acknowledgement::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn zero_window_turns_flow_control_off() {
        let mut v = Viewers::new(0);
        let t = Instant::now();
        v.ack("x", 0, None, t);
        for s in 1..10 {
            v.published(s);
        }
        assert_eq!(v.gate(t), Gate::Open);
    }

    #[test]
    fn a_hello_on_a_rendition_watched_before_lets_its_next_frame_go_at_once() {
        let mut by = ByRendition::new(1);
        let t = Instant::now();
        let ack = |sequence, rendition| Acknowledgement { sequence, window: Some(1), rendition };
        // The phone watched half size (frames 1..=20), moved to quarter, and moves back.
        by.ack("phone", &ack(5, Rendition::Half), t);
        for s in 1..=20 {
            by.get_mut(Rendition::Half).published(s);
        }
        by.ack("phone", &Acknowledgement::leaving(Rendition::Half), t);
        by.ack("phone", &Acknowledgement::hello(Rendition::Half, 1), t);
        assert_eq!(by.get(Rendition::Half).gate(t), Gate::Open, "nothing of half on its way");
        by.get_mut(Rendition::Half).published(30);
        assert!(matches!(by.get(Rendition::Half).gate(t), Gate::Wait(_)), "then one: the window");
        // The full stream is retained: the broker hands its newest frame to a subscriber,
        // so that one is on its way until acknowledged.
        for s in 1..=20 {
            by.get_mut(Rendition::Full).published(s);
        }
        by.ack("phone", &Acknowledgement::hello(Rendition::Full, 1), t);
        assert!(matches!(by.get(Rendition::Full).gate(t), Gate::Wait(_)), "the stored frame");
        by.ack("phone", &ack(20, Rendition::Full), t);
        assert_eq!(by.get(Rendition::Full).gate(t), Gate::Open);
    }
}
