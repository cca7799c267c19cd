//! The live stream of the camera shown: its frame topic and rendition, the rendition
//! being switched to, this viewer's topics at the camera (acknowledgements, clock
//! requests and replies, status, detections), and the flow control and clock that go
//! with them. It is the [`Source`] of live frames: the session's frames go into it, the
//! presentation takes them out, and each one drawn is acknowledged here.
//!
//! No I/O: what it says on the bus goes into the [`Session`], which the engine flushes
//! to the socket.

use wire::{
    ack::{Ack, Rendition},
    clock,
    status::Status,
    topic,
};

use crate::{
    bus::{cameras::Cam, json},
    net::session::{self, Purpose, Session},
    picture::{
        frame::Frame,
        present::{Drawn, Source},
    },
    stream::{
        adapt::Adapt,
        clock::ClockSync,
        flow::{Estimate, Flow, Observed},
        pace::Pace,
    },
};

/// This viewer's own topics at the camera being watched: clock-offset requests and
/// replies, and frame acknowledgements (the edge's flow control).
#[derive(Clone)]
struct ViewerTopics {
    request: String,
    reply: String,
    ack: String,
    /// The camera's retained online/offline status.
    status: String,
    /// What programs on the bus found in its frames.
    detections: String,
}

impl ViewerTopics {
    /// This viewer's topics at `camera` under `prefix`.
    fn at(prefix: &str, camera: &str, client_id: &str) -> Self {
        ViewerTopics {
            request: topic::clock_request(prefix, camera, client_id),
            reply: topic::clock_reply(prefix, camera, client_id),
            ack: topic::ack(prefix, camera, client_id),
            status: topic::status(prefix, camera),
            detections: topic::detections(prefix, camera),
        }
    }

    /// For a page's own frame topic `…/<level>/frame`, which `wire::topic` may not take
    /// for a camera's (`home/_x/frame`, a wildcard): the levels before `/frame` all the
    /// same, as an edge under that prefix would answer. None for other topics.
    fn for_frames(frame_topic: &str, client_id: &str) -> Option<Self> {
        let (prefix, camera) = frame_topic.strip_suffix("/frame")?.rsplit_once('/')?;
        Some(ViewerTopics::at(prefix, camera, client_id))
    }
}

/// A message on one of this viewer's topics at the camera, as far as the engine cares.
pub enum Heard {
    Nothing,
    /// The first clock reply: latencies so far assumed one clock.
    FirstClock,
    /// What a program found in a frame, and how late (ms) it came after its frame.
    Detections(wire::detections::Detections, f64),
    /// Something that is not what its topic says.
    Bad(&'static str),
}

/// The live stream of the camera shown.
pub struct Live {
    /// The frame topic subscribed to: the camera shown (none in the grid or paused).
    frames: Option<String>,
    /// The rendition of `frames`, and the one being switched to (subscribed to; it
    /// replaces the current one when its first frame arrives: no gap, no black frame).
    rendition: Rendition,
    next: Option<(String, Rendition)>,
    pub adapt: Adapt,
    topics: Option<ViewerTopics>,
    pub clock: ClockSync,
    /// The windows the acknowledgements ask for, and when to ask for the clock.
    pace: Pace,
    /// What the flow-control window is worked out from.
    flow: Flow,
    /// What the shown camera's retained status says.
    pub camera: Option<Status>,
    /// Frames received since the presentation last took them.
    inbox: Vec<Frame>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            frames: None,
            rendition: Rendition::Full,
            next: None,
            adapt: Adapt::default(),
            topics: None,
            clock: ClockSync::default(),
            pace: Pace::default(),
            flow: Flow::default(),
            camera: None,
            inbox: Vec::new(),
        }
    }
}

impl Live {
    /// Watches one stream of the page's own topic (no prefix, no cameras).
    pub fn own_topic(&mut self, frame_topic: &str, client_id: &str) {
        self.frames = Some(frame_topic.to_string());
        self.topics = ViewerTopics::for_frames(frame_topic, client_id);
    }

    /// Watches `camera` from the start, at the rendition the link is assumed to carry.
    /// `full_topic`: the camera's full frame topic, whichever rendition is watched.
    pub fn open(&mut self, prefix: &str, camera: &str, full_topic: &str, client_id: &str) {
        self.rendition = self.adapt.current();
        self.frames = Some(topic::rendition(prefix, camera, self.rendition));
        self.topics = ViewerTopics::for_frames(full_topic, client_id);
    }

    /// The frame topic watched, if any.
    pub fn frames(&self) -> Option<&str> {
        self.frames.as_deref()
    }

    pub fn rendition(&self) -> Rendition {
        self.rendition
    }

    /// The rendition being switched to.
    pub fn next(&self) -> Option<Rendition> {
        self.next.as_ref().map(|n| n.1)
    }

    /// The acknowledgement topic: the session's last will, which tells the edge at once
    /// when this page goes away without a word.
    pub fn will(&self) -> Option<&str> {
        self.topics.as_ref().map(|c| c.ack.as_str())
    }

    /// The camera's status topic (a page of its own topic subscribes to it alone).
    pub fn status_topic(&self) -> Option<&str> {
        self.topics.as_ref().map(|c| c.status.as_str())
    }

    /// The flow-control estimate, for the readout.
    pub fn estimate(&self) -> Option<Estimate> {
        self.flow.estimate(self.clock.best().map(|c| c.rtt_ms))
    }

    /// A new connection, or a switch: the flow control and the pace start over.
    pub fn restart(&mut self) {
        self.flow.clear();
        self.pace.restart();
    }

    /// Subscribes to the frames of `camera` and says hello to its edge (if `open`),
    /// with the clock kept from the last time it was watched.
    pub fn join(&mut self, prefix: &str, camera: &str, cam: Option<&mut Cam>, bus: &mut Session, open: bool) {
        self.topics = Some(ViewerTopics::at(prefix, camera, bus.client_id()));
        let (offered, fps, bytes) = match &cam {
            Some(c) => (c.offered.clone(), c.fps, c.full_bytes),
            None => (Vec::new(), 0.0, None),
        };
        self.adapt.camera(&offered, fps, bytes);
        self.rendition = self.adapt.current();
        self.next = None;
        self.frames = Some(topic::rendition(prefix, camera, self.rendition));
        if let Some(clock) = cam.and_then(|c| c.clock.take()) {
            self.clock = clock;
        }
        self.pace.restart_clock();
        self.pace.restart();
        if open {
            self.hello(bus);
            self.subscribe(bus);
        }
    }

    /// Unsubscribes from the frames shown, and tells their edge this viewer has gone (an
    /// empty acknowledgement, as its last will would), so it stops waiting for it.
    /// Gives back the clock measured, to keep for the next time (none if nothing was).
    pub fn leave(&mut self, bus: &mut Session) -> Option<ClockSync> {
        if let Some(topic) = self.frames.take() {
            bus.unsubscribe(&topic);
            if let Some((next, _)) = self.next.take() {
                bus.unsubscribe(&next);
            }
            if let Some(c) = self.topics.take() {
                bus.unsubscribe(&c.reply);
                bus.unsubscribe(&c.detections);
                bus.publish(&c.ack, b"");
            }
        }
        let clock = std::mem::take(&mut self.clock);
        (!clock.is_empty()).then_some(clock)
    }

    /// Another camera, or the same after a pause: the flow control starts over.
    pub fn resume(&mut self) {
        self.flow.clear();
    }

    /// Tells the edge this viewer has nothing yet and wants one frame in flight: until
    /// its first acknowledgement it would otherwise not be flow-controlled, and on a slow
    /// link the frames sent meanwhile queued 4 s of video in front of the live picture
    /// (measured at 2 Mbit/s).
    pub fn hello(&mut self, bus: &mut Session) {
        self.hello_for(bus, self.rendition, 1);
    }

    fn hello_for(&self, bus: &mut Session, rendition: Rendition, window: u8) {
        if let Some(c) = &self.topics {
            bus.publish(&c.ack, &Ack::hello(rendition, window).encode());
        }
    }

    /// A subscription is in place. The hello before subscribing may reach the edge
    /// before the subscription is (a cluster sets it up across nodes), and the frame the
    /// edge then sends is lost to this viewer but counted on its way: the stream held
    /// until the viewer counted as stalled (2.2 s to the first frame on RabbitMQ,
    /// measured). A second hello once it is in place counts from then.
    pub fn subscribed(&mut self, purpose: Purpose, bus: &mut Session) {
        match (purpose, self.next()) {
            (Purpose::Next, Some(next)) => self.hello_for(bus, next, 1),
            // A move down takes the next rendition's topic as the one shown at once.
            _ => self.hello(bus),
        }
    }

    /// Subscribes to the frames shown (and the rendition coming) and this viewer's clock
    /// replies and detections.
    pub fn subscribe(&self, bus: &mut Session) {
        if let Some(topic) = &self.frames {
            bus.subscribe(Purpose::Frames, topic);
        }
        if let Some((topic, _)) = &self.next {
            bus.subscribe(Purpose::Next, topic);
        }
        if let Some(c) = &self.topics {
            bus.subscribe(Purpose::Clock, &c.reply);
            bus.subscribe(Purpose::Marks, &c.detections);
        }
    }

    /// The broker refused this viewer's clock topics: latency then assumes one clock.
    pub fn clock_refused(&mut self) {
        self.topics = None;
    }

    /// Moves `camera` to another rendition.
    ///
    /// Up (the link has room), it subscribes to the larger one and keeps drawing the
    /// current one until the new one's first frame is here ([`Live::arrived`]). Down (the
    /// link is full), it leaves the current one at once: its frames would only queue in
    /// front of the smaller ones on the link. Either way the picture on screen stays
    /// until a newer one replaces it: no black frame.
    pub fn switch(&mut self, prefix: &str, camera: &str, rendition: Rendition, bus: &mut Session) {
        if self.frames.is_none() || rendition == self.rendition || self.next() == Some(rendition) {
            return;
        }
        let topic = topic::rendition(prefix, camera, rendition);
        if let Some((old_next, _)) = self.next.take() {
            bus.unsubscribe(&old_next);
        }
        bus.subscribe(Purpose::Next, &topic);
        self.hello_for(bus, rendition, 1);
        self.next = Some((topic, rendition));
        if rendition > self.rendition {
            self.switched(bus);
        }
    }

    /// The rendition switched to becomes the one watched (its first frame is here, or
    /// the switch is down and need not wait).
    fn switched(&mut self, bus: &mut Session) {
        let Some((topic, rendition)) = self.next.take() else { return };
        if let Some(old) = self.frames.replace(topic) {
            bus.unsubscribe(&old);
        }
        // Done with the one left: its flow control need not wait for this viewer any more.
        if let Some(c) = &self.topics {
            bus.publish(&c.ack, &Ack::leaving(self.rendition).encode());
        }
        let up = rendition < self.rendition;
        self.rendition = rendition;
        self.adapt.switched(rendition);
        // Either way one frame in flight to begin with (a try up on a link that cannot
        // carry it must not queue), growing as before. Up, the link's estimates (its
        // rate, the round trip) hold, so they stay: the window grows from the first
        // acknowledgements instead of after four frames. Down, the link is full: start over.
        if !up {
            self.flow.clear();
        }
        self.pace.restart();
    }

    /// Whether `topic` is the rendition being switched to.
    pub fn is_next(&self, topic: &str) -> bool {
        self.next.as_ref().is_some_and(|n| n.0 == topic)
    }

    /// A frame the session gave, arrived at `at`: into the inbox if it is of the
    /// rendition watched or the one coming. Whether it is the one coming.
    pub fn frame(&mut self, f: session::Frame, at: f64, generation: u32) -> bool {
        let next = self.next.as_ref().filter(|n| n.0 == f.topic).map(|n| n.1);
        let rendition = match (self.frames.as_deref() == Some(f.topic.as_str()), next) {
            (true, _) => self.rendition,
            (false, Some(next)) => next,
            (false, None) => return false,
        };
        self.inbox.push(Frame::live(f, at, generation, rendition));
        next.is_some()
    }

    /// The rendition switched to sent its first frame: from here on only its frames
    /// count. One of the old, still on its way, must not take the place of the new one's
    /// first frame, which would then never be acknowledged (its edge would hold the new
    /// stream until this viewer counted as stalled: a 2 s freeze, measured). Gives the
    /// rendition now watched.
    pub fn arrived(&mut self, bus: &mut Session) -> Option<Rendition> {
        let new = self.next();
        self.inbox.retain(|f| Some(f.rendition) == new);
        self.switched(bus);
        new
    }

    /// Every 250 ms: which rendition the link carries now, and moving `shown` (prefix
    /// and camera; none for a page's own topic) to it.
    pub fn decide(&mut self, shown: Option<(&str, &str)>, bus: &mut Session, now_ms: f64) {
        if self.frames.is_none() || self.next.is_some() {
            return;
        }
        let rtt = self.clock.best().map(|c| c.rtt_ms);
        self.adapt.timed_rate(self.flow.estimate(rtt).and_then(|e| e.link_bytes_per_s));
        if let (Some(r), Some((prefix, camera))) = (self.adapt.decide(now_ms), shown) {
            self.switch(prefix, camera, r, bus);
        }
    }

    /// Asks the edge for its time, while no frames flow (`flowing`: one drawn within the
    /// last second): quickly until a few samples are in, then now and then to follow
    /// drift and catch a faster exchange. While frames flow the requests go with the
    /// acknowledgements instead, when the link is quiet (`pace`).
    pub fn request_clock(&mut self, bus: &mut Session, flowing: bool, now_ms: f64) {
        if !flowing && self.pace.clock_due(now_ms, self.clock.len()) {
            self.send_clock_request(bus, now_ms);
        }
    }

    fn send_clock_request(&mut self, bus: &mut Session, now_ms: f64) {
        let Some(topics) = &self.topics else { return };
        self.pace.clock_sent(now_ms);
        bus.publish(&topics.request, &clock::request(now_ms));
    }

    /// A message on one of this viewer's topics at the camera watched, at `at`: its
    /// status, its detections (`offset_ms` and `on_canvas`: the picture's capture time),
    /// a clock reply.
    pub fn message(&mut self, topic: &str, payload: &[u8], at: f64) -> Heard {
        let Some(c) = &self.topics else { return Heard::Nothing };
        if c.status == topic {
            self.camera = json::status(payload);
        } else if c.detections == topic {
            return match json::detections(payload) {
                Ok(d) => {
                    let lag = at - (d.capture_us as f64 / 1000.0 - self.clock.offset_ms());
                    Heard::Detections(d, lag)
                }
                Err(why) => Heard::Bad(why),
            };
        } else if c.reply == topic {
            if let Some((t1, t2, t3)) = clock::parse_reply(payload) {
                let first = self.clock.is_empty();
                if self.clock.add(t1, t2, t3, at).is_some() && first {
                    return Heard::FirstClock;
                }
            }
        }
        Heard::Nothing
    }
}

impl Source for Live {
    fn take(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.inbox)
    }

    /// Times the link and the decoder from a live frame, and tells the edge how far we
    /// got: it holds frames back (instead of letting them queue in the broker) while we
    /// are behind, and lets as many be on their way as the link and the decoder need
    /// (`flow`, `pace`). Acknowledging drawn rather than received frames covers a slow
    /// decoder too; waiting for the screen would cost a display frame.
    fn drawn(&mut self, frame: &Frame, drawn: &Drawn, bus: &mut Session, now_ms: f64) {
        let hdr = &frame.header;
        if frame.counts() {
            let t = &drawn.times;
            self.flow.observe(Observed {
                sequence: hdr.sequence,
                captured: t.captured,
                published: t.published,
                received: t.received,
                bytes: frame.bytes(),
                decode_ms: drawn.decode_ms,
                draw_ms: drawn.draw_ms,
            });
            self.adapt.frame(frame.rendition, frame.bytes(), hdr.held(), t.drawn);
        }
        let Some(topic) = self.topics.as_ref().map(|c| c.ack.clone()) else { return };
        let estimate = self.flow.window(self.clock.best().map(|c| c.rtt_ms));
        let plan = self.pace.ack(estimate, now_ms, self.clock.len());
        if plan.clock_request {
            self.send_clock_request(bus, now_ms);
        }
        let ack = Ack { sequence: hdr.sequence, window: Some(plan.window), rendition: frame.rendition };
        bus.publish(&topic, &ack.encode());
    }

    fn offset_ms(&self) -> f64 {
        self.clock.offset_ms()
    }
}
