//! The viewer's MQTT session, without I/O: what to send when the socket opens, what the
//! broker's answers mean, which messages are frames, when to ping and when to give up,
//! and how long to wait before trying again. Like rumqttc's `MqttState`, it is fed
//! bytes and the time (ms) and hands back bytes to send ([`Session::take_outgoing`])
//! and [`Event`]s; the WebSocket adapter (`socket`) moves the bytes, the engine acts on
//! the events. Packets are built and read by the codec in [`crate::net::mqtt`].
//!
//! The broker's answers, as the user sees them:
//! - CONNACK 0: nothing yet; the first accepted SUBACK makes the connection [`Event::Live`].
//! - CONNACK 4 or 5 (bad login, not authorised): [`Event::LoginRefused`], since retrying
//!   the same login cannot help; any other refusal: [`Event::Lost`], retried after
//!   [`Backoff`].
//! - The socket closed before any CONNACK, its close frame saying the login was refused
//!   (RabbitMQ's Web MQTT answers a bad password so, with code 1002 and the reason
//!   `unauthenticated`, and sends no CONNACK): refused as by CONNACK 4 ([`Session::closed`]).
//!   Any other close: lost.
//! - SUBACK refusing the frames (or the camera's status, or the next rendition's frames):
//!   lost, there is nothing to show; refusing the clock replies: [`Event::ClockRefused`]
//!   (latency assumes one clock); refusing the bus's wildcards or the detections: done
//!   without (no grid, no boxes), the picture still plays.
//! - No PINGRESP by the next ping: lost.

use wire::FrameHeader;

use crate::net::mqtt::{self, Decoder, Packet};

/// MQTT keep-alive the viewer asks for; PINGREQ goes out at half of it.
pub const KEEP_ALIVE_S: u16 = 30;
/// Largest MQTT packet accepted from the broker (the edge's payload limit + headers).
pub const MAX_PACKET: usize = 9 * 1024 * 1024;

/// What a subscription is for, which decides what a refusal of it means. Each has its
/// own packet id, so the SUBACK says which one it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The frames watched: refused, there is nothing to show.
    Frames,
    /// This viewer's clock replies: refused, one clock is assumed.
    Clock,
    /// The camera's status (a page's own topic, without the bus): refused, as frames.
    Status,
    /// The bus's wildcards (previews, status, alarms, the directory): refused, no grid.
    Bus,
    /// The next rendition's frames, subscribed to while the current one still plays.
    Next,
    /// The shown camera's detections: a broker's ACL may refuse them; the picture plays.
    Marks,
    /// This viewer's playback replies: refused, the recordings do not answer (said so).
    Playback,
}

impl Purpose {
    fn packet_id(self) -> u16 {
        match self {
            Purpose::Frames => 1,
            Purpose::Clock => 2,
            Purpose::Status => 3,
            Purpose::Bus => 4,
            Purpose::Next => 6,
            Purpose::Marks => 7,
            Purpose::Playback => 8,
        }
    }

    fn of(packet_id: u16) -> Option<Purpose> {
        [
            Purpose::Frames,
            Purpose::Clock,
            Purpose::Status,
            Purpose::Bus,
            Purpose::Next,
            Purpose::Marks,
            Purpose::Playback,
        ]
        .into_iter()
        .find(|p| p.packet_id() == packet_id)
    }
}

/// The packet id of every UNSUBSCRIBE (their answers need no telling apart).
const UNSUBSCRIBE_ID: u16 = 5;

/// A SUBACK code that refuses the subscription.
const REFUSED: u8 = 0x80;

/// How the WebSocket closed, as the socket saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Close {
    /// Whether it had opened: one that never did never reached MQTT.
    pub opened: bool,
    /// The close frame's code (1006: the connection dropped without one).
    pub code: u16,
    /// The close frame's reason (empty without one).
    pub reason: String,
}

/// Whether a close frame's reason says the broker refused the login. Brokers that refuse a
/// login by closing the WebSocket, without a CONNACK, say so in the reason: RabbitMQ 3.10's
/// Web MQTT `unauthenticated` (measured), others in CONNACK's words or their own.
fn refuses_login(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    ["unauthenticated", "not_authorized", "not authorized", "not authorised", "bad user name or password"]
        .iter()
        .any(|words| reason.contains(words))
}

/// What the broker's bytes (or the time passing) mean to the viewer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The broker accepted a subscription: the connection carries what was asked for.
    Live,
    /// The broker accepted a frames subscription ([`Purpose::Frames`] or
    /// [`Purpose::Next`]): from now on it delivers them (after [`Event::Live`]).
    Subscribed(Purpose),
    /// The broker refused this viewer's clock replies: latency assumes one clock.
    ClockRefused,
    /// A frame on a frames subscription, checked and not seen just before.
    Frame(Frame),
    /// A payload on a frames subscription that is not a frame (counted as an error).
    NotAFrame { topic: String },
    /// The frame given last, delivered again (the broker's stored copy and the live one):
    /// nothing to draw, but its topic did deliver.
    Repeated { topic: String },
    /// Any other message on a subscription.
    Message { topic: String, payload: Vec<u8>, retained: bool },
    /// The broker refused the login (or wants one): retrying cannot help, ask the user why.
    LoginRefused(String),
    /// The connection cannot go on; the text says why. Try again after [`Session::retry_delay`].
    Lost(String),
}

/// A frame as it arrived: its stamp, and its payload (copied once, out of the socket's
/// bytes), of which the JPEG is the tail.
#[derive(Clone, PartialEq)]
pub struct Frame {
    pub topic: String,
    pub header: FrameHeader,
    pub payload: Vec<u8>,
    /// Where the JPEG starts in `payload` (0 for a stamped JPEG; a version-1 header's length).
    pub jpeg_at: usize,
    /// The broker's stored copy (retained), not a live frame.
    pub retained: bool,
}

impl Frame {
    /// The JPEG to decode.
    pub fn jpeg(&self) -> &[u8] {
        &self.payload[self.jpeg_at..]
    }
}

impl std::fmt::Debug for Frame {
    /// The size of the payload, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("topic", &self.topic)
            .field("header", &self.header)
            .field("bytes", &self.payload.len())
            .field("retained", &self.retained)
            .finish()
    }
}

/// A payload's stamp and where its JPEG starts, if it is a frame: a stamp that parses
/// and a JPEG after it that at least starts like one.
pub fn frame(payload: &[u8]) -> Option<(FrameHeader, usize)> {
    let (header, jpeg) = wire::parse(payload).ok()?;
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return None;
    }
    Some((header, payload.len() - jpeg.len()))
}

/// How long to wait before reconnecting: doubling from [`Backoff::FIRST_MS`] up to
/// [`Backoff::CAP_MS`], each wait jittered by ±25 % (so viewers that lost the same broker
/// do not all come back in the same instant), and back to the first after a good session.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    next_ms: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next_ms: Self::FIRST_MS }
    }
}

impl Backoff {
    pub const FIRST_MS: f64 = 250.0;
    pub const CAP_MS: f64 = 5000.0;

    /// The next wait; `jitter` is a random number in 0..1 (the caller has the randomness).
    pub fn delay(&mut self, jitter: f64) -> f64 {
        let delay = self.next_ms * (0.75 + jitter * 0.5);
        self.next_ms = (self.next_ms * 2.0).min(Self::CAP_MS);
        delay
    }

    pub fn reset(&mut self) {
        self.next_ms = Self::FIRST_MS;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection (none yet, or it ended).
    Closed,
    /// CONNECT sent; no CONNACK yet.
    Connecting,
    /// CONNACK accepted the connection; no subscription accepted yet.
    Connected,
    /// A subscription was accepted.
    Live,
}

/// One viewer's MQTT session, across its connections (see the module doc).
pub struct Session {
    client_id: String,
    /// Username and password for the broker.
    login: Option<(String, String)>,
    decoder: Decoder,
    state: State,
    outgoing: Vec<u8>,
    /// The topics subscribed to for frames (the stream watched, then the next rendition).
    frame_topics: Vec<String>,
    /// (sequence, capture time) of the last frame given, to skip it coming again.
    last_frame: Option<(u64, u64)>,
    last_ping_ms: f64,
    ping_outstanding: bool,
    backoff: Backoff,
}

impl Session {
    pub fn new(client_id: String, login: Option<(String, String)>) -> Session {
        Session {
            client_id,
            login,
            decoder: Decoder::new(MAX_PACKET),
            state: State::Closed,
            outgoing: Vec::new(),
            frame_topics: Vec::new(),
            last_frame: None,
            last_ping_ms: 0.0,
            ping_outstanding: false,
            backoff: Backoff::default(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the broker accepted this connection (CONNACK 0).
    pub fn connected(&self) -> bool {
        matches!(self.state, State::Connected | State::Live)
    }

    /// The username the next connection logs in with, if any.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|(user, _)| user.as_str())
    }

    /// A login typed by the user: the next connection uses it, tried at once.
    pub fn log_in(&mut self, user: String, password: String) {
        self.login = Some((user, password));
        self.backoff.reset();
    }

    /// The socket opened at `now_ms`: a new connection starts with CONNECT. `will`: a
    /// topic the broker publishes an empty message to if this connection drops without
    /// a word (the viewer's acknowledgement topic: its edge stops waiting for it at once).
    pub fn connect(&mut self, now_ms: f64, will: Option<&str>) {
        self.decoder = Decoder::new(MAX_PACKET);
        self.state = State::Connecting;
        self.frame_topics.clear();
        self.last_ping_ms = now_ms;
        self.ping_outstanding = false;
        let will = will.map(|topic| mqtt::Will { topic, payload: b"" });
        let login = self.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        self.outgoing.extend(mqtt::connect(&self.client_id, KEEP_ALIVE_S, will, login));
    }

    /// The connection ended (or was ended): no pings, and what was not sent is dropped.
    pub fn close(&mut self) {
        self.state = State::Closed;
        self.outgoing.clear();
    }

    /// The wait before the next connection after a lost one (`jitter`: random, 0..1).
    pub fn retry_delay(&mut self, jitter: f64) -> f64 {
        self.backoff.delay(jitter)
    }

    /// Starts the backoff over (the user asked for a connection: no reason to wait).
    pub fn reset_backoff(&mut self) {
        self.backoff.reset();
    }

    /// Forgets the last frame: after a switch or a pause, the same frame is news again.
    pub fn forget_last_frame(&mut self) {
        self.last_frame = None;
    }

    pub fn subscribe(&mut self, purpose: Purpose, filter: &str) {
        if matches!(purpose, Purpose::Frames | Purpose::Next) {
            self.frame_topics.push(filter.to_string());
        }
        self.outgoing.extend(mqtt::subscribe(purpose.packet_id(), filter, 0));
    }

    pub fn unsubscribe(&mut self, filter: &str) {
        if let Some(i) = self.frame_topics.iter().position(|t| t == filter) {
            self.frame_topics.remove(i);
        }
        self.outgoing.extend(mqtt::unsubscribe(UNSUBSCRIBE_ID, filter));
    }

    /// PUBLISH at QoS 0, not retained.
    pub fn publish(&mut self, topic: &str, payload: &[u8]) {
        self.outgoing.extend(mqtt::publish(topic, payload));
    }

    /// The bytes to send now (empty when there are none).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    /// Bytes from the broker: the events in them, in order. Nothing after a fatal one.
    pub fn received(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.received_with(bytes.len(), |dst| dst.copy_from_slice(bytes))
    }

    /// Like [`received`](Self::received) for `len` bytes that `fill` writes in place
    /// (bytes from JavaScript land in the buffer with one copy instead of two).
    pub fn received_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<Event> {
        self.decoder.push_with(len, fill);
        let mut events = Vec::new();
        while self.state != State::Closed {
            let event = match self.decoder.next_packet() {
                Ok(None) => break,
                Ok(Some(Packet::ConnAck { code: 0, .. })) => {
                    if self.state == State::Connecting {
                        self.state = State::Connected;
                    }
                    None
                }
                // Bad username or password, or not authorised: retrying cannot help.
                Ok(Some(Packet::ConnAck { code: code @ (4 | 5), .. })) => {
                    Some(self.login_refused(mqtt::connack_reason(code)))
                }
                Ok(Some(Packet::ConnAck { code, .. })) => Some(Event::Lost(format!(
                    "broker refused the connection: {}",
                    mqtt::connack_reason(code)
                ))),
                Ok(Some(Packet::SubAck { packet_id, codes })) => {
                    let refused = codes.first() == Some(&REFUSED);
                    match Purpose::of(packet_id) {
                        Some(Purpose::Clock) => refused.then_some(Event::ClockRefused),
                        // Without the bus's wildcards (a broker's ACL) there is no grid, and
                        // without detections no boxes, but the camera asked for still plays.
                        // Nor without playback replies (the player says the edge is silent).
                        Some(Purpose::Bus | Purpose::Marks | Purpose::Playback) => self.accepted(),
                        _ if refused => Some(Event::Lost(format!(
                            "broker refused the subscription to {}",
                            self.frame_topics.first().map_or("", String::as_str)
                        ))),
                        Some(purpose @ (Purpose::Frames | Purpose::Next)) => {
                            events.extend(self.accepted());
                            Some(Event::Subscribed(purpose))
                        }
                        _ => self.accepted(),
                    }
                }
                Ok(Some(Packet::Publish { topic, payload, packet_id, retain, .. })) => {
                    if let Some(id) = packet_id {
                        self.outgoing.extend(mqtt::puback(id));
                    }
                    if !self.frame_topics.iter().any(|t| t == topic) {
                        Some(Event::Message {
                            topic: topic.to_string(),
                            payload: payload.to_vec(),
                            retained: retain,
                        })
                    } else if payload.is_empty() {
                        None // the edge cleared its retained frame as it stopped: no picture
                    } else {
                        match frame(payload) {
                            // Subscribing while a frame is published can bring it twice: the
                            // broker's retained copy and the live one.
                            Some((header, _))
                                if self.last_frame == Some((header.sequence, header.capture_us)) =>
                            {
                                Some(Event::Repeated { topic: topic.to_string() })
                            }
                            Some((header, jpeg_at)) => {
                                self.last_frame = Some((header.sequence, header.capture_us));
                                Some(Event::Frame(Frame {
                                    topic: topic.to_string(),
                                    header,
                                    payload: payload.to_vec(),
                                    jpeg_at,
                                    retained: retain,
                                }))
                            }
                            None => Some(Event::NotAFrame { topic: topic.to_string() }),
                        }
                    }
                }
                Ok(Some(Packet::PingResp)) => {
                    self.ping_outstanding = false;
                    None
                }
                Ok(Some(Packet::UnsubAck { .. })) => None,
                // The stream cannot be resynchronised: reconnect.
                Err(e) => Some(Event::Lost(e.to_string())),
            };
            if let Some(event) = event {
                if matches!(event, Event::LoginRefused(_) | Event::Lost(_)) {
                    self.close();
                }
                events.push(event);
            }
        }
        events
    }

    /// A subscription was accepted: live (said once per connection), and the next
    /// connection lost will be retried quickly again.
    fn accepted(&mut self) -> Option<Event> {
        self.backoff.reset();
        matches!(self.state, State::Connecting | State::Connected).then(|| {
            self.state = State::Live;
            Event::Live
        })
    }

    /// The broker refused the login, saying `why`: ask for one (another one, if it had one).
    fn login_refused(&self, why: &str) -> Event {
        Event::LoginRefused(match self.login {
            Some(_) => format!("The broker refused the login ({why})."),
            None => "This camera needs a login.".to_string(),
        })
    }

    /// The socket closed (`close`: as the socket saw it): what that means. Before any
    /// CONNACK, a close whose reason refuses the login is a refused login, as CONNACK 4
    /// or 5 would be; anything else loses the connection, and the text says why.
    pub fn closed(&mut self, close: &Close) -> Event {
        let before_connack = self.state == State::Connecting;
        self.close();
        if !close.opened {
            // The browser hides why (a refused origin, a closed port, a bad certificate).
            return Event::Lost(
                "cannot open the broker's WebSocket (down, unreachable, or it does not accept pages \
                 from this site: see --allow-origin)"
                    .to_string(),
            );
        }
        if before_connack && refuses_login(&close.reason) {
            return self.login_refused(&close.reason);
        }
        Event::Lost(match close.reason.as_str() {
            "" => format!("connection closed ({})", close.code),
            reason => reason.to_string(),
        })
    }

    /// Time passed (call it a few times a second): sends PINGREQ at half the keep-alive,
    /// and says why the connection is dead when the last one went unanswered.
    pub fn tick(&mut self, now_ms: f64) -> Option<String> {
        if self.state != State::Live || now_ms - self.last_ping_ms < f64::from(KEEP_ALIVE_S) * 500.0 {
            return None;
        }
        if self.ping_outstanding {
            self.close();
            return Some("broker stopped answering pings".to_string());
        }
        self.last_ping_ms = now_ms;
        self.ping_outstanding = true;
        self.outgoing.extend(mqtt::PINGREQ);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];

    fn connack(code: u8) -> [u8; 4] {
        [0x20, 2, 0, code]
    }

    fn suback(purpose: Purpose, code: u8) -> Vec<u8> {
        let [hi, lo] = purpose.packet_id().to_be_bytes();
        vec![0x90, 3, hi, lo, code]
    }

    /// A PUBLISH as a broker sends it (QoS 0, retained or not).
    fn publish(topic: &str, payload: &[u8], retained: bool) -> Vec<u8> {
        let mut p = mqtt::publish(topic, payload);
        p[0] |= u8::from(retained);
        p
    }

    fn stamped(sequence: u64, capture_us: u64) -> Vec<u8> {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
        FrameHeader { sequence, capture_us, ..Default::default() }.encode(&jpeg).unwrap()
    }

    /// Connected (at 0 ms) and subscribed to `home/door/frame`, nothing answered yet.
    fn connected(login: Option<(&str, &str)>) -> Session {
        let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
        let mut s = Session::new("v1".into(), login);
        s.connect(0.0, Some("home/door/ack/v1"));
        s.subscribe(Purpose::Frames, "home/door/frame");
        s.subscribe(Purpose::Clock, "home/door/clock/res/v1");
        s.take_outgoing();
        s
    }

    /// Connected, and the frames subscription accepted.
    fn live() -> Session {
        let mut s = connected(None);
        let events = s.received(&[&CONNACK_OK[..], &suback(Purpose::Frames, 0)].concat());
        assert_eq!(events, [Event::Live, Event::Subscribed(Purpose::Frames)]);
        s
    }

    #[test]
    fn the_first_bytes_are_a_connect_with_the_login_and_the_will() {
        let mut s = Session::new("v1".into(), Some(("u".into(), "pw".into())));
        s.connect(0.0, Some("a/b"));
        let will = mqtt::Will { topic: "a/b", payload: b"" };
        assert_eq!(s.take_outgoing(), mqtt::connect("v1", KEEP_ALIVE_S, Some(will), Some(("u", "pw"))));
        assert!(s.take_outgoing().is_empty());
    }

    #[test]
    fn an_accepted_subscription_makes_the_connection_live_once() {
        let mut s = connected(None);
        assert_eq!(s.received(&CONNACK_OK), []);
        assert_eq!(
            s.received(&suback(Purpose::Frames, 0)),
            [Event::Live, Event::Subscribed(Purpose::Frames)]
        );
        assert_eq!(s.received(&suback(Purpose::Bus, 0)), []);
    }

    #[test]
    fn each_accepted_frames_subscription_is_told_so_the_edge_can_hear_it_is_in_place() {
        let mut s = live();
        assert_eq!(s.received(&suback(Purpose::Next, 0)), [Event::Subscribed(Purpose::Next)]);
        assert_eq!(s.received(&suback(Purpose::Frames, 0)), [Event::Subscribed(Purpose::Frames)]);
        assert_eq!(s.received(&suback(Purpose::Clock, 0)), []);
    }

    #[test]
    fn a_connack_refusing_a_bad_login_asks_for_another() {
        let mut s = connected(Some(("viewer", "wrong")));
        assert_eq!(
            s.received(&connack(4)),
            [Event::LoginRefused("The broker refused the login (bad user name or password).".into())]
        );
    }

    #[test]
    fn a_connack_saying_not_authorised_without_a_login_asks_for_one() {
        let mut s = connected(None);
        assert_eq!(s.received(&connack(5)), [Event::LoginRefused("This camera needs a login.".into())]);
        let mut s = connected(Some(("viewer", "pw")));
        assert_eq!(
            s.received(&connack(5)),
            [Event::LoginRefused("The broker refused the login (not authorised).".into())]
        );
    }

    fn closed_with(code: u16, reason: &str) -> Close {
        Close { opened: true, code, reason: reason.into() }
    }

    #[test]
    fn a_close_before_the_connack_saying_unauthenticated_refuses_the_login() {
        // RabbitMQ 3.10's Web MQTT on a wrong password: no CONNACK, close 1002 "unauthenticated".
        let mut s = connected(Some(("viewer", "guess")));
        assert_eq!(
            s.closed(&closed_with(1002, "unauthenticated")),
            Event::LoginRefused("The broker refused the login (unauthenticated).".into())
        );
        assert_eq!(s.tick(100_000.0), None, "nothing more on a refused login");
    }

    #[test]
    fn a_close_refusing_the_login_in_other_words_does_so_too_whatever_the_case() {
        for reason in
            ["not_authorized", "Not Authorized", "client not authorised", "Bad user name or password"]
        {
            let mut s = connected(Some(("viewer", "guess")));
            assert!(matches!(s.closed(&closed_with(1008, reason)), Event::LoginRefused(_)), "{reason}");
        }
        let mut s = connected(None);
        assert_eq!(
            s.closed(&closed_with(1002, "unauthenticated")),
            Event::LoginRefused("This camera needs a login.".into())
        );
    }

    #[test]
    fn a_close_after_the_connack_is_a_lost_connection_whatever_it_says() {
        let mut s = connected(Some(("viewer", "pw")));
        assert_eq!(s.received(&CONNACK_OK), []);
        assert_eq!(s.closed(&closed_with(1002, "unauthenticated")), Event::Lost("unauthenticated".into()));
        let mut s = live();
        assert_eq!(s.closed(&closed_with(1000, "not_authorized")), Event::Lost("not_authorized".into()));
    }

    #[test]
    fn a_close_for_another_reason_or_none_loses_the_connection_saying_so() {
        let mut s = connected(None);
        assert_eq!(s.closed(&closed_with(1011, "internal error")), Event::Lost("internal error".into()));
        let mut s = live();
        assert_eq!(s.closed(&closed_with(1006, "")), Event::Lost("connection closed (1006)".into()));
        let mut s = connected(None);
        let never = Close { opened: false, code: 1006, reason: String::new() };
        assert!(
            matches!(s.closed(&never), Event::Lost(why) if why.contains("cannot open the broker's WebSocket"))
        );
    }

    #[test]
    fn a_reconnect_subscribes_again_and_is_live_again() {
        let mut s = live();
        assert!(matches!(s.closed(&closed_with(1006, "")), Event::Lost(_)));
        s.connect(5_000.0, None);
        s.subscribe(Purpose::Frames, "home/door/frame");
        let out = s.take_outgoing();
        let subscribe = mqtt::subscribe(Purpose::Frames.packet_id(), "home/door/frame", 0);
        assert!(out.ends_with(&subscribe), "CONNECT then SUBSCRIBE");
        let bytes = [&CONNACK_OK[..], &suback(Purpose::Frames, 0)].concat();
        assert_eq!(s.received(&bytes), [Event::Live, Event::Subscribed(Purpose::Frames)]);
        assert!(matches!(
            &s.received(&publish("home/door/frame", &stamped(9, 1), false))[..],
            [Event::Frame(_)]
        ));
    }

    #[test]
    fn a_connack_refusing_for_another_reason_loses_the_connection() {
        let mut s = connected(None);
        assert_eq!(
            s.received(&connack(3)),
            [Event::Lost("broker refused the connection: broker unavailable".into())]
        );
    }

    #[test]
    fn nothing_is_read_after_a_refusal() {
        let mut s = connected(None);
        let bytes = [&connack(4)[..], &suback(Purpose::Frames, 0)].concat();
        assert!(matches!(s.received(&bytes)[..], [Event::LoginRefused(_)]));
        assert!(s.take_outgoing().is_empty());
    }

    #[test]
    fn a_suback_refusing_the_frames_loses_the_connection_naming_them() {
        let mut s = connected(None);
        let bytes = [&CONNACK_OK[..], &suback(Purpose::Frames, REFUSED)].concat();
        assert_eq!(
            s.received(&bytes),
            [Event::Lost("broker refused the subscription to home/door/frame".into())]
        );
    }

    #[test]
    fn a_suback_refusing_the_clock_replies_assumes_one_clock_and_plays_on() {
        let mut s = connected(None);
        let bytes = [&CONNACK_OK[..], &suback(Purpose::Clock, REFUSED), &suback(Purpose::Frames, 0)].concat();
        assert_eq!(
            s.received(&bytes),
            [Event::ClockRefused, Event::Live, Event::Subscribed(Purpose::Frames)]
        );
    }

    #[test]
    fn a_suback_refusing_the_bus_or_the_detections_still_plays() {
        let mut s = connected(None);
        let bytes = [&suback(Purpose::Bus, REFUSED), &suback(Purpose::Marks, REFUSED)[..]].concat();
        assert_eq!(s.received(&bytes), [Event::Live]);
    }

    #[test]
    fn a_frame_delivered_twice_retained_and_live_is_given_once() {
        let mut s = live();
        let bytes = [
            publish("home/door/frame", &stamped(7, 1_000), true),
            publish("home/door/frame", &stamped(7, 1_000), false),
            publish("home/door/frame", &stamped(8, 1_033), false),
        ]
        .concat();
        let events = s.received(&bytes);
        let frames: Vec<(u64, bool)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some((f.header.sequence, f.retained)),
                _ => None,
            })
            .collect();
        assert_eq!(frames, [(7, true), (8, false)]);
        assert_eq!(events[1], Event::Repeated { topic: "home/door/frame".into() });
    }

    #[test]
    fn after_a_switch_the_same_frame_is_news_again() {
        let mut s = live();
        assert_eq!(s.received(&publish("home/door/frame", &stamped(7, 1_000), true)).len(), 1);
        s.forget_last_frame();
        assert_eq!(s.received(&publish("home/door/frame", &stamped(7, 1_000), true)).len(), 1);
    }

    #[test]
    fn what_is_not_a_frame_on_a_frame_topic_is_said_and_an_empty_one_is_not() {
        let mut s = live();
        let bytes =
            [publish("home/door/frame", b"hello", false), publish("home/door/frame", b"", true)].concat();
        assert_eq!(s.received(&bytes), [Event::NotAFrame { topic: "home/door/frame".into() }]);
    }

    #[test]
    fn other_messages_come_out_as_they_are_and_qos1_ones_are_acknowledged() {
        let mut s = live();
        // A QoS 1 PUBLISH (packet id 9) on the camera's status topic.
        let topic = b"home/door/status";
        let mut body = vec![0, topic.len() as u8];
        body.extend_from_slice(topic);
        body.extend_from_slice(&[0, 9, b'{', b'}']);
        let bytes = [&[0x32, body.len() as u8][..], &body].concat();
        assert_eq!(
            s.received(&bytes),
            [Event::Message { topic: "home/door/status".into(), payload: b"{}".to_vec(), retained: false }]
        );
        assert_eq!(s.take_outgoing(), mqtt::puback(9));
    }

    #[test]
    fn frames_of_the_next_rendition_are_frames_and_an_unsubscribed_topic_is_not() {
        let mut s = live();
        s.subscribe(Purpose::Next, "home/door/half");
        s.unsubscribe("home/door/frame");
        let bytes =
            [publish("home/door/half", &stamped(9, 2_000), false), publish("home/door/frame", b"x", false)]
                .concat();
        let events = s.received(&bytes);
        assert!(matches!(&events[0], Event::Frame(f) if f.topic == "home/door/half"), "{events:?}");
        assert!(
            matches!(&events[1], Event::Message { topic, .. } if topic == "home/door/frame"),
            "{events:?}"
        );
    }

    #[test]
    fn bytes_that_are_not_mqtt_lose_the_connection() {
        let mut s = live();
        assert_eq!(s.received(&[0xF0, 0]), [Event::Lost("unexpected MQTT packet type 15".into())]);
    }

    #[test]
    fn a_ping_goes_out_at_half_the_keep_alive_and_its_answer_keeps_the_connection() {
        let mut s = live();
        assert_eq!(s.tick(14_999.0), None);
        assert!(s.take_outgoing().is_empty());
        assert_eq!(s.tick(15_000.0), None);
        assert_eq!(s.take_outgoing(), mqtt::PINGREQ);
        assert_eq!(s.received(&[0xD0, 0]), []);
        assert_eq!(s.tick(30_000.0), None);
        assert_eq!(s.take_outgoing(), mqtt::PINGREQ);
    }

    #[test]
    fn a_ping_unanswered_by_the_next_one_is_a_keep_alive_timeout() {
        let mut s = live();
        assert_eq!(s.tick(15_000.0), None);
        assert_eq!(s.tick(29_999.0), None);
        assert_eq!(s.tick(30_000.0).as_deref(), Some("broker stopped answering pings"));
        assert_eq!(s.tick(60_000.0), None, "a closed connection is not pinged");
    }

    #[test]
    fn a_connection_not_yet_live_is_not_pinged() {
        let mut s = connected(None);
        assert_eq!(s.tick(100_000.0), None);
        assert!(s.take_outgoing().is_empty());
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_with_the_jitter_given() {
        let mut b = Backoff::default();
        let waits: Vec<f64> = (0..7).map(|_| b.delay(0.5)).collect();
        assert_eq!(waits, [250.0, 500.0, 1000.0, 2000.0, 4000.0, 5000.0, 5000.0]);
        b.reset();
        assert_eq!(b.delay(0.0), 187.5);
        assert_eq!(b.delay(1.0), 625.0);
    }

    #[test]
    fn the_backoff_starts_over_after_a_good_session() {
        let mut s = connected(None);
        for _ in 0..4 {
            s.retry_delay(0.5);
        }
        assert_eq!(s.retry_delay(0.5), 4000.0);
        s.connect(10_000.0, None);
        s.received(&[&CONNACK_OK[..], &suback(Purpose::Frames, 0)].concat());
        assert_eq!(s.retry_delay(0.5), 250.0);
    }

    #[test]
    fn a_refused_connection_does_not_reset_the_backoff() {
        let mut s = connected(None);
        s.retry_delay(0.5);
        s.connect(1_000.0, None);
        s.received(&connack(3));
        assert_eq!(s.retry_delay(0.5), 500.0);
    }

    #[test]
    fn a_login_typed_is_used_at_once_and_by_the_next_connect() {
        let mut s = connected(None);
        s.retry_delay(0.5);
        s.log_in("ann".into(), "pw".into());
        assert_eq!(s.retry_delay(0.5), 250.0);
        assert_eq!(s.user(), Some("ann"));
        s.connect(0.0, None);
        assert_eq!(s.take_outgoing(), mqtt::connect("v1", KEEP_ALIVE_S, None, Some(("ann", "pw"))));
    }
}
