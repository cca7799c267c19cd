//! Who is watching which camera: a camera's full stream is captured and encoded only
//! while someone watches it (the preview goes on), the request that recurs most across
//! ustreamer, mjpg-streamer and go2rtc users. I/O-free; fed by three things:
//!
//! - the gate's view of subscriptions (embedded broker): any client subscribed to a
//!   camera's frame topic (exactly or with `+`) watches it, our page or `mosquitto_sub`,
//!   a Python consumer or Home Assistant;
//! - viewers' frame acknowledgements (any broker): a viewer that acknowledged within
//!   [`ACK_HOLD_US`] watches;
//! - the `watch` message, `<prefix>/<camera>/watch` (any payload), which any client can
//!   send on any broker: it watches for [`WATCH_HOLD_US`] after each.
//!
//! On an external broker the edge cannot see subscriptions, so a consumer that sends
//! nothing would starve: there on-demand is opt-in per camera.

use std::{collections::HashMap, sync::Mutex};

use crate::slot::lock;

/// An acknowledgement keeps a camera watched this long (a viewer acks every frame).
pub const ACK_HOLD_US: u64 = 3_000_000;
/// A `watch` message keeps a camera watched this long; consumers repeat it sooner.
pub const WATCH_HOLD_US: u64 = 30_000_000;

/// Every camera's watchers, shared by the gate, the publishers and the capture threads.
#[derive(Debug)]
pub struct Watchers {
    prefix: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Subscriptions per camera name (`+` for all cameras), counted over connections.
    subscribed: HashMap<String, usize>,
    /// Per camera: until when (µs) acknowledgements or watch messages keep it watched.
    until_us: HashMap<String, u64>,
}

impl Watchers {
    pub fn new(prefix: &str) -> Watchers {
        Watchers { prefix: prefix.to_string(), state: Mutex::new(State::default()) }
    }

    /// The camera a filter watches the frames of (`+`: every camera), if it does.
    fn camera_of<'a>(&self, filter: &'a str) -> Option<&'a str> {
        let rest = filter.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?;
        rest.strip_suffix("/frame").filter(|c| !c.is_empty() && !c.contains('/'))
    }

    /// A client subscribed to `filter` (the gate saw its SUBSCRIBE).
    pub fn subscribed(&self, filter: &str) {
        if let Some(camera) = self.camera_of(filter) {
            *lock(&self.state).subscribed.entry(camera.to_string()).or_default() += 1;
        }
    }

    /// A client unsubscribed from `filter`, or went away while subscribed.
    pub fn unsubscribed(&self, filter: &str) {
        if let Some(camera) = self.camera_of(filter) {
            let mut state = lock(&self.state);
            if let Some(n) = state.subscribed.get_mut(camera) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.subscribed.remove(camera);
                }
            }
        }
    }

    /// Someone showed interest in `camera` at `now_us`, for `hold_us`.
    pub fn seen(&self, camera: &str, now_us: u64, hold_us: u64) {
        let mut state = lock(&self.state);
        let until = state.until_us.entry(camera.to_string()).or_default();
        *until = (*until).max(now_us + hold_us);
    }

    /// Whether anyone watches `camera` at `now_us`.
    pub fn watched(&self, camera: &str, now_us: u64) -> bool {
        let state = lock(&self.state);
        state.subscribed.contains_key(camera)
            || state.subscribed.contains_key("+")
            || state.until_us.get(camera).is_some_and(|&until| now_us < until)
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
        assert!(!w.watched("door", 0), "previews and status are not the full stream");
        w.subscribed("home/+/frame");
        assert!(w.watched("door", 0) && w.watched("yard", 0));
        w.unsubscribed("home/+/frame");
        assert!(!w.watched("yard", 0));
        w.unsubscribed("home/never/frame");
        assert!(!w.watched("never", 0), "an unsubscribe without a subscribe is harmless");
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
}
