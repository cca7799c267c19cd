//! Who is watching which camera, rendition by rendition: a camera's full stream is
//! captured and encoded only while someone watches it (the preview goes on), the request
//! that recurs most across ustreamer, mjpg-streamer and go2rtc users, and its half and
//! quarter renditions likewise. I/O-free; fed by three things:
//!
//! - the gate's view of subscriptions (embedded broker): any client subscribed to a
//!   rendition's topic (`<prefix>/<camera>/frame`, `…/half`, `…/quarter`, exactly or with
//!   `+` for the camera) watches that rendition of it, our page or `mosquitto_sub`, a
//!   Python consumer or Home Assistant;
//! - viewers' frame acknowledgements (any broker): a viewer that acknowledged a frame of
//!   a rendition within [`ACK_HOLD_US`] watches that rendition (an acknowledgement names
//!   its rendition, see `wire::ack`);
//! - the `watch` message, `<prefix>/<camera>/watch` (any payload), which any client can
//!   send on any broker: it watches the **full stream** for [`WATCH_HOLD_US`] after each.
//!   The smaller renditions are for viewers that adapt to their link, which acknowledge.
//!
//! On an external broker the edge cannot see subscriptions, so a consumer that sends
//! nothing would starve: there on-demand is opt-in per camera (for the full stream; the
//! smaller renditions are made only for viewers the edge knows of, everywhere).

use std::{collections::HashMap, sync::Mutex};

use wire::ack::Rendition;

use crate::sync::lock;

/// An acknowledgement keeps a camera watched this long (a viewer acks every frame).
pub const ACK_HOLD_US: u64 = 3_000_000;
/// A `watch` message keeps a camera watched this long; consumers repeat it sooner.
pub const WATCH_HOLD_US: u64 = 30_000_000;

/// Who watches one camera, as its log tells it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Audience {
    /// Subscriptions to any of its renditions seen by the gate (as `mqcam_viewers` counts
    /// them): 0 on an external broker, whose subscriptions the edge cannot see.
    pub viewers: usize,
    /// Whether any rendition is watched (subscriptions, acknowledgements, `watch`
    /// messages): on an external broker, all the edge knows.
    pub watched: bool,
}

/// Every camera's watchers, shared by the gate, the publishers and the capture threads.
#[derive(Debug)]
pub struct Watchers {
    prefix: String,
    state: Mutex<State>,
}

/// A camera name (`+` for all cameras) and one of its renditions.
type Key = (String, Rendition);

#[derive(Debug, Default)]
struct State {
    /// Subscriptions per camera and rendition, counted over connections.
    subscribed: HashMap<Key, usize>,
    /// Per camera and rendition: until when (µs) acknowledgements or watch messages keep
    /// it watched.
    until_us: HashMap<Key, u64>,
}

impl Watchers {
    pub fn new(prefix: &str) -> Watchers {
        Watchers { prefix: prefix.to_string(), state: Mutex::new(State::default()) }
    }

    /// The camera (`+`: every camera) and rendition a filter watches, if it does.
    fn watched_by<'a>(&self, filter: &'a str) -> Option<(&'a str, Rendition)> {
        let rest = filter.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?;
        let (camera, level) = rest.split_once('/')?;
        let rendition = Rendition::from_level(level)?;
        (!camera.is_empty()).then_some((camera, rendition))
    }

    /// A client subscribed to `filter` (the gate saw its SUBSCRIBE).
    pub fn subscribed(&self, filter: &str) {
        if let Some((camera, r)) = self.watched_by(filter) {
            *lock(&self.state).subscribed.entry((camera.to_string(), r)).or_default() += 1;
        }
    }

    /// A client unsubscribed from `filter`, or went away while subscribed.
    pub fn unsubscribed(&self, filter: &str) {
        if let Some((camera, r)) = self.watched_by(filter) {
            let mut state = lock(&self.state);
            let key = (camera.to_string(), r);
            if let Some(n) = state.subscribed.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.subscribed.remove(&key);
                }
            }
        }
    }

    /// Someone showed interest in `camera`'s full stream at `now_us`, for `hold_us` (a
    /// `watch` message, or an acknowledgement of a full-size frame).
    pub fn seen(&self, camera: &str, now_us: u64, hold_us: u64) {
        self.seen_rendition(camera, Rendition::Full, now_us, hold_us);
    }

    /// Someone showed interest in one rendition of `camera` at `now_us`, for `hold_us`.
    pub fn seen_rendition(&self, camera: &str, rendition: Rendition, now_us: u64, hold_us: u64) {
        let mut state = lock(&self.state);
        let until = state.until_us.entry((camera.to_string(), rendition)).or_default();
        *until = (*until).max(now_us + hold_us);
    }

    /// How many subscriptions seen by the gate take this rendition of `camera` (those to
    /// every camera, `+`, included).
    pub fn subscribers(&self, camera: &str, rendition: Rendition) -> usize {
        let state = lock(&self.state);
        let count = |c: &str| state.subscribed.get(&(c.to_string(), rendition)).copied().unwrap_or(0);
        count(camera) + if camera == "+" { 0 } else { count("+") }
    }

    /// Who watches `camera` at `now_us`, over every rendition: for the log's "watching"
    /// lines and summaries.
    pub fn audience(&self, camera: &str, now_us: u64) -> Audience {
        Audience {
            viewers: Rendition::ALL.iter().map(|&r| self.subscribers(camera, r)).sum(),
            watched: Rendition::ALL.iter().any(|&r| self.watches(camera, r, now_us)),
        }
    }

    /// Whether anyone watches `camera`'s full stream at `now_us`.
    pub fn watched(&self, camera: &str, now_us: u64) -> bool {
        self.watches(camera, Rendition::Full, now_us)
    }

    /// Whether anyone watches this rendition of `camera` at `now_us`.
    pub fn watches(&self, camera: &str, rendition: Rendition, now_us: u64) -> bool {
        let state = lock(&self.state);
        // Keys are owned strings; a lookup builds one per question (a few per frame).
        let key = |c: &str| (c.to_string(), rendition);
        state.subscribed.contains_key(&key(camera))
            || state.subscribed.contains_key(&key("+"))
            || state.until_us.get(&key(camera)).is_some_and(|&until| now_us < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_to_a_cameras_frames_watches_it_until_it_goes() {
        let w = Watchers::new("home");
        assert!(!w.watched("door", 0));
        w.subscribed("home/door/frame");
        w.subscribed("home/door/frame");
        assert!(w.watched("door", 0) && !w.watched("yard", 0));
        assert_eq!(w.subscribers("door", Rendition::Full), 2);
        w.unsubscribed("home/door/frame");
        assert!(w.watched("door", 0), "the second subscriber still watches");
        w.unsubscribed("home/door/frame");
        assert!(!w.watched("door", 0));
    }

    #[test]
    fn a_wildcard_watches_every_camera_and_other_topics_watch_none() {
        let w = Watchers::new("home");
        w.subscribed("home/door/preview");
        w.subscribed("home/+/status");
        w.subscribed("other/door/frame");
        w.subscribed("home/door/frame/x");
        assert!(!w.watched("door", 0), "previews and status are not the full stream");
        w.subscribed("home/+/frame");
        assert!(w.watched("door", 0) && w.watched("yard", 0));
        assert_eq!((w.subscribers("door", Rendition::Full), w.subscribers("door", Rendition::Half)), (1, 0));
        w.unsubscribed("home/+/frame");
        assert!(!w.watched("yard", 0));
        w.unsubscribed("home/never/frame");
        assert!(!w.watched("never", 0), "an unsubscribe without a subscribe is harmless");
    }

    #[test]
    fn each_rendition_is_watched_by_its_own_subscriptions() {
        let w = Watchers::new("home");
        w.subscribed("home/door/half");
        assert!(w.watches("door", Rendition::Half, 0));
        assert!(!w.watches("door", Rendition::Full, 0), "half is not the full stream");
        assert!(!w.watches("door", Rendition::Quarter, 0));
        w.subscribed("home/+/quarter");
        assert!(w.watches("yard", Rendition::Quarter, 0) && !w.watches("yard", Rendition::Half, 0));
        w.unsubscribed("home/door/half");
        w.unsubscribed("home/+/quarter");
        assert!(Rendition::ALL.iter().all(|&r| !w.watches("door", r, 0)));
    }

    #[test]
    fn acknowledgements_and_watch_messages_hold_for_a_while() {
        let w = Watchers::new("home");
        w.seen("door", 1_000_000, ACK_HOLD_US);
        assert!(w.watched("door", 1_000_000 + ACK_HOLD_US - 1));
        assert!(!w.watched("door", 1_000_000 + ACK_HOLD_US));
        w.seen("door", 10_000_000, WATCH_HOLD_US);
        w.seen("door", 10_000_001, ACK_HOLD_US);
        assert!(w.watched("door", 10_000_000 + WATCH_HOLD_US - 1), "a shorter hold never cuts a longer one");
    }

    #[test]
    fn the_audience_counts_every_renditions_subscribers_and_knows_of_acks() {
        let w = Watchers::new("home");
        assert_eq!(w.audience("door", 0), Audience { viewers: 0, watched: false });
        w.subscribed("home/door/frame");
        w.subscribed("home/+/quarter");
        assert_eq!(w.audience("door", 0), Audience { viewers: 2, watched: true });
        assert_eq!(w.audience("yard", 0), Audience { viewers: 1, watched: true });
        // An external broker's viewer: only its acknowledgements are seen.
        let w = Watchers::new("home");
        w.seen_rendition("shed", Rendition::Half, 0, ACK_HOLD_US);
        assert_eq!(w.audience("shed", 1), Audience { viewers: 0, watched: true });
    }

    #[test]
    fn an_acknowledgement_holds_only_its_rendition() {
        let w = Watchers::new("home");
        w.seen_rendition("door", Rendition::Quarter, 1_000_000, ACK_HOLD_US);
        assert!(w.watches("door", Rendition::Quarter, 2_000_000));
        assert!(
            !w.watches("door", Rendition::Full, 2_000_000) && !w.watches("door", Rendition::Half, 2_000_000)
        );
        assert!(!w.watches("door", Rendition::Quarter, 1_000_000 + ACK_HOLD_US));
    }
}
