//! What viewers send a camera's publisher, and what becomes of it:
//! - frame acknowledgements (`…/ack/<viewer>`): flow control per rendition ([`flow`]),
//!   and the viewer watches that rendition ([`crate::watch`]); an empty one is the
//!   viewer's last will: it left;
//! - `watch` messages (`…/watch`): someone watches the full stream;
//! - clock requests (`…/clock/req/<viewer>`): answered at once ([`wire::clock`]), with the
//!   edge's receive and send times.
//!
//! No I/O: the driver hands each message in, and publishes the reply that comes back.
//!
//! [`flow`]: super::flow

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::sync::Notify;
use wire::{ack::Ack, topic};

use super::{client::Topics, flow::ByRendition};
use crate::{
    clock,
    sync::lock,
    watch::{Watchers, ACK_HOLD_US, WATCH_HOLD_US},
};

/// A camera publisher's inbox.
pub(super) struct Inbox {
    prefix: String,
    camera: String,
    watchers: Option<Arc<Watchers>>,
    /// The viewers' flow control, which the frame loop reads.
    viewers: Arc<Mutex<ByRendition>>,
    /// Told of every acknowledgement and departure: a held frame may go now.
    acked: Arc<Notify>,
}

impl Inbox {
    pub(super) fn new(
        topics: &Topics,
        watchers: Option<Arc<Watchers>>,
        viewers: Arc<Mutex<ByRendition>>,
        acked: Arc<Notify>,
    ) -> Inbox {
        Inbox { prefix: topics.prefix.clone(), camera: topics.camera.clone(), watchers, viewers, acked }
    }

    /// What to subscribe to, on every connection.
    pub(super) fn filters(&self) -> [String; 3] {
        let (prefix, camera) = (&self.prefix, &self.camera);
        [topic::clock_requests(prefix, camera), topic::acks(prefix, camera), topic::watch(prefix, camera)]
    }

    /// Takes one message, received at `received_us`; returns the reply to publish at
    /// once (topic, payload), if it asks for one.
    pub(super) fn receive(&self, topic: &str, payload: &[u8], received_us: u64) -> Option<(String, Vec<u8>)> {
        let (prefix, camera) = (&self.prefix, &self.camera);
        if let Some(viewer) = topic::ack_viewer(topic, prefix, camera) {
            if payload.is_empty() {
                // The viewer's last will: it is gone.
                lock(&self.viewers).leave(viewer);
                self.acked.notify_one();
            } else if let Some(ack) = Ack::parse(payload) {
                tracing::trace!(target: "edge::frame", viewer, seq = ack.sequence, window = ?ack.window, rendition = ack.rendition.name(), "ack");
                // One that says it left the rendition no longer watches it.
                if let Some(w) = self.watchers.as_ref().filter(|_| !ack.is_leave()) {
                    w.seen_rendition(camera, ack.rendition, received_us, ACK_HOLD_US);
                }
                lock(&self.viewers).ack(viewer, &ack, Instant::now());
                self.acked.notify_one();
            }
        } else if topic == topic::watch(prefix, camera) {
            if let Some(w) = &self.watchers {
                w.seen(camera, received_us, WATCH_HOLD_US);
            }
        } else if let Some(reply_to) = topic::clock_reply_to(topic, prefix, camera) {
            // A clock-offset request: answered at once, stamping receive and send time.
            return wire::clock::reply(payload, received_us, clock::now_us()).map(|r| (reply_to, r));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(watchers: Option<Arc<Watchers>>) -> Inbox {
        let viewers = Arc::new(Mutex::new(ByRendition::new(1)));
        Inbox::new(&Topics::new("home", "door"), watchers, viewers, Arc::new(Notify::new()))
    }

    #[test]
    fn a_clock_request_is_answered_on_the_viewers_reply_topic() {
        let request = wire::clock::request(1234.5);
        let (to, reply) = inbox(None).receive("home/door/clock/req/v-1", &request, 7).unwrap();
        assert_eq!(to, "home/door/clock/res/v-1");
        let (t1, t2, t3) = wire::clock::parse_reply(&reply).unwrap();
        assert_eq!((t1, t2), (1234.5, 7));
        assert!(t3 >= 7);
        assert_eq!(inbox(None).receive("home/door/clock/req/v-1", &[0; 65], 7), None, "not a request");
    }

    #[test]
    fn acks_and_watch_messages_mark_the_camera_watched() {
        let watchers = Arc::new(Watchers::new("home"));
        let inbox = inbox(Some(watchers.clone()));
        assert!(!watchers.watched("door", 10));
        assert_eq!(inbox.receive("home/door/watch", b"", 10), None);
        assert!(watchers.watched("door", 11));
        let ack = Ack { sequence: 5, window: None, rendition: wire::ack::Rendition::Half };
        inbox.receive("home/door/ack/v-1", &ack.encode(), 20);
        assert!(watchers.watches("door", wire::ack::Rendition::Half, 21));
        assert!(inbox.filters().contains(&"home/door/ack/+".to_string()));
    }
}
