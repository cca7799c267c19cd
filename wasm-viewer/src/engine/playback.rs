//! The recordings of the camera shown: this viewer's request and reply topics at the
//! edge that records it, the [`Player`] deciding what to ask, and the frames it hands
//! the presentation. It is the [`Source`] of recorded frames, as `live` is of live ones:
//! the same decoder, canvas, rotation, snapshot and `#stats` show them.
//!
//! No I/O: what it says on the bus goes into the [`Session`], which the engine flushes.

use wire::topic;

use crate::{
    net::session::{Purpose, Session},
    picture::{
        frame::Frame,
        present::{Drawn, Source},
    },
    playback::player::{Command, Heard, Player},
};

/// What a reply meant to the engine.
pub enum Got {
    Nothing,
    /// A recorded frame went into the inbox.
    Frame,
    /// A new timeline: its reply's bytes, for the page.
    Timeline(Vec<u8>),
    Bad,
}

/// The recordings of the camera shown, while the page plays them back.
pub struct Playback {
    pub player: Player,
    requests: String,
    replies: String,
    inbox: Vec<Frame>,
    offset_ms: f64,
}

impl Playback {
    /// Opens `camera`'s recordings: subscribes to this viewer's replies and asks for the
    /// day's timeline and the newest frame. `offset_ms`: the edge's clock ahead of ours.
    pub fn open(prefix: &str, camera: &str, bus: &mut Session, offset_ms: f64, now_ms: f64) -> Playback {
        let viewer = bus.client_id().to_string();
        let mut p = Playback {
            player: Player::open(now_ms, offset_ms),
            requests: topic::playback_request(prefix, camera, &viewer),
            replies: topic::playback_reply(prefix, camera, &viewer),
            inbox: Vec::new(),
            offset_ms,
        };
        // Subscribed before the first request goes: the broker handles one client's
        // packets in order, so the replies find the subscription in place.
        p.subscribe(bus);
        p.flush(bus);
        p
    }

    /// Subscribes to the replies (again, on a new connection).
    pub fn subscribe(&self, bus: &mut Session) {
        bus.subscribe(Purpose::Playback, &self.replies);
    }

    /// Back to live: what plays stops, the replies are left.
    pub fn close(mut self, bus: &mut Session) {
        self.player.pause();
        self.flush(bus);
        bus.unsubscribe(&self.replies);
    }

    /// Sends the requests the player made.
    pub fn flush(&mut self, bus: &mut Session) {
        for (id, request) in self.player.take_requests() {
            bus.publish(&self.requests, &request.encode(id));
        }
    }

    pub fn is_reply(&self, topic: &str) -> bool {
        self.replies == topic
    }

    /// Does what the user asked at `input_ms`.
    pub fn command(&mut self, c: Command, input_ms: f64, now_ms: f64, bus: &mut Session) {
        self.player.command(c, input_ms, now_ms);
        self.flush(bus);
    }

    /// A reply, arrived at `at` (`generation`: the presentation's, for its frames).
    pub fn reply(&mut self, payload: &[u8], at: f64, generation: u32, bus: &mut Session) -> Got {
        let got = match self.player.reply(payload, at) {
            Heard::Nothing => Got::Nothing,
            Heard::Bad => Got::Bad,
            Heard::Timeline => Got::Timeline(payload.to_vec()),
            Heard::Frame(r, jpeg) => match Frame::recorded(jpeg, at, generation, r) {
                Some(f) if self.player.keeps(r, f.header.capture_us) => {
                    self.inbox.push(f);
                    Got::Frame
                }
                Some(_) => Got::Nothing,
                None => Got::Bad,
            },
        };
        // A scrub's wish waiting behind this answer goes now.
        self.flush(bus);
        got
    }

    /// A few times a second.
    pub fn tick(&mut self, bus: &mut Session, now_ms: f64) {
        self.player.tick(now_ms);
        self.flush(bus);
    }
}

impl Source for Playback {
    fn take(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.inbox)
    }

    /// A play's frame drawn is acknowledged (the edge sends the next ones as we keep
    /// up); the position moves to the frame on the canvas.
    fn drawn(&mut self, frame: &Frame, drawn: &Drawn, bus: &mut Session, now_ms: f64) {
        if let Some(r) = frame.recorded {
            self.player.drawn(r, frame.header.capture_us, drawn.on_canvas, now_ms);
            self.flush(bus);
        }
    }

    fn offset_ms(&self) -> f64 {
        self.offset_ms
    }
}
