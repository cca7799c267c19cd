//! The gate's sans-IO half: reads what a client sends, whole MQTT packets at a time,
//! and decides with the [`Policy`] whether it may go on to the broker: the login in
//! CONNECT decides the client's [`Role`]; a viewer may publish and subscribe only what
//! viewers do (see [`wire::topic`]); a publisher's bytes pass through, read only enough
//! to tell the watchers its subscriptions. Also the MQTT 3.1.1 field readers the rest of
//! the gate shares.

use std::sync::Arc;

use wire::{mqtt, topic};

pub use crate::doors::Login;

/// Who may do what through the gate.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The topic prefix: viewers read and write only below it (see `wire::topic`).
    pub prefix: String,
    /// The login viewers must give; `None` lets anyone view.
    pub viewer: Option<Login>,
    /// The login that may publish anything (another edge, a test tool); `None`: nobody
    /// but this edge publishes.
    pub publisher: Option<Login>,
    /// Told of every client's frame subscriptions: who watches which camera.
    pub watchers: Option<Arc<crate::watch::Watchers>>,
    /// What the gate counts (connections, refusals, bytes out), for `/metrics`.
    pub meter: Arc<crate::meter::BrokerMeter>,
    /// Whether viewers' streams go through the gate's fan-out (see `super::fanout`):
    /// their SUBSCRIBE and UNSUBSCRIBE to one stream then reach the broker for a topic
    /// nobody publishes on, and [`Inspector::take_streams`] says what they asked for.
    pub fan_out: bool,
}

/// A viewer's change to the streams it reads through the fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    Join(String),
    Leave(String),
}

/// What a client connected as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Publisher,
}

/// Why a connection was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The CONNACK return code to answer with, for a refused CONNECT.
    pub connack: Option<u8>,
    pub reason: String,
    /// What the client may not do, when that is why (for the gate's counters).
    pub denied: Option<Denied>,
}

/// A packet a client's login does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Publish,
    Subscribe,
}

impl Refusal {
    pub(super) fn close(reason: impl Into<String>) -> Self {
        Refusal { connack: None, reason: reason.into(), denied: None }
    }
    pub(super) fn connack(code: u8, reason: impl Into<String>) -> Self {
        Refusal { connack: Some(code), reason: reason.into(), denied: None }
    }
    fn denied(denied: Denied, reason: String) -> Self {
        Refusal { denied: Some(denied), ..Refusal::close(reason) }
    }
}

/// CONNACK return codes of MQTT 3.1.1.
const UNACCEPTABLE_PROTOCOL: u8 = 1;
pub(super) const BAD_LOGIN: u8 = 4;
pub(super) const NOT_AUTHORIZED: u8 = 5;

/// Largest packet a viewer may send (they send acks and clock requests of a few bytes).
pub(super) const VIEWER_MAX_PACKET: usize = 64 * 1024;

/// Checks one client's packets, whole packets at a time. I/O-free.
pub struct Inspector {
    policy: Arc<Policy>,
    role: Option<Role>,
    authenticated: bool,
    pending: Vec<u8>,
    /// The filters this client subscribed to, told to the watchers (and untold when it
    /// unsubscribes or goes).
    subscriptions: Vec<String>,
    /// A publisher's bytes of the current packet still to pass through unread.
    skip: usize,
    /// Streams joined and left since the last [`Inspector::take_streams`].
    streams: Vec<Stream>,
}

impl Drop for Inspector {
    fn drop(&mut self) {
        if let Some(w) = &self.policy.watchers {
            self.subscriptions.iter().for_each(|f| w.unsubscribed(f));
        }
    }
}

impl Inspector {
    pub fn new(policy: Arc<Policy>) -> Self {
        Inspector {
            policy,
            role: None,
            authenticated: false,
            pending: Vec::new(),
            subscriptions: Vec::new(),
            skip: 0,
            streams: Vec::new(),
        }
    }

    /// The role, once CONNECT has been accepted.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Whether the accepted CONNECT carried a configured login (not merely an
    /// anonymous viewer's made-up one, where anonymous viewers are welcome).
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// The streams this viewer joined or left in the packets fed since the last call,
    /// in order.
    pub fn take_streams(&mut self) -> Vec<Stream> {
        std::mem::take(&mut self.streams)
    }

    /// Takes bytes from the client and appends what may go on to the broker to `out`
    /// (whole packets only; the rest waits for more bytes).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Refusal> {
        if self.role == Some(Role::Publisher) {
            self.feed_publisher(input, out);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        // Out of `self` while packets in it are checked (which may note subscriptions).
        let mut pending = std::mem::take(&mut self.pending);
        let mut start = 0;
        let result = loop {
            let rest = &pending[start..];
            if self.role == Some(Role::Publisher) {
                break Ok(());
            }
            let (header_len, body_len) = match fixed_header(rest) {
                Ok(Some(h)) => h,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let total = header_len + body_len;
            if total > self.max_packet() {
                break Err(Refusal::close(format!("packet of {total} bytes is over the limit")));
            }
            if rest.len() < total {
                break Ok(());
            }
            let packet = &rest[..total];
            match self.check(packet[0], &packet[header_len..]) {
                Ok(Some((role, authenticated))) => {
                    self.role = Some(role);
                    self.authenticated = authenticated;
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            match self.role == Some(Role::Viewer) && self.policy.fan_out && matches!(packet[0] >> 4, 8 | 10) {
                true => self.streams_to_fanout(packet[0], &packet[header_len..], out),
                false => out.extend_from_slice(packet),
            }
            start += total;
        };
        pending.drain(..start);
        if self.role == Some(Role::Publisher) {
            // What followed the CONNECT in the same read.
            self.feed_publisher(&pending, out);
        } else {
            self.pending = pending;
        }
        result
    }

    /// A publisher's bytes: passed through as they come, a PUBLISH's body (a frame, maybe
    /// megabytes) without being held; only SUBSCRIBE and UNSUBSCRIBE (a few bytes) are
    /// gathered whole, to tell the watchers. Publishers may subscribe to anything.
    fn feed_publisher(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(input.len());
                out.extend_from_slice(&input[..n]);
                self.skip -= n;
                input = &input[n..];
            }
            match fixed_header(&self.pending) {
                Ok(Some((header_len, body_len))) => {
                    let kind = self.pending[0] >> 4;
                    let total = header_len + body_len;
                    if !matches!(kind, 8 | 10) || total > VIEWER_MAX_PACKET {
                        out.append(&mut self.pending);
                        self.skip = body_len;
                        continue;
                    }
                    let n = (total - self.pending.len()).min(input.len());
                    self.pending.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if self.pending.len() < total {
                        return;
                    }
                    let packet = std::mem::take(&mut self.pending);
                    // A malformed one goes on all the same: rumqttd closes the connection.
                    let _ = self.note_filters(kind, &packet[header_len..], false);
                    out.extend_from_slice(&packet);
                }
                Ok(None) if input.is_empty() => return,
                // The fixed header comes a byte at a time (at most five).
                Ok(None) => {
                    self.pending.push(input[0]);
                    input = &input[1..];
                }
                Err(_) => {
                    // Not MQTT any more: rumqttd closes the connection; pass the rest on.
                    out.append(&mut self.pending);
                    self.skip = usize::MAX;
                }
            }
        }
    }

    fn max_packet(&self) -> usize {
        match self.role {
            Some(Role::Publisher) => usize::MAX,
            _ => VIEWER_MAX_PACKET,
        }
    }

    /// Checks one whole packet; a CONNECT yields the client's role and whether it gave
    /// a configured login.
    fn check(&mut self, first: u8, body: &[u8]) -> Result<Option<(Role, bool)>, Refusal> {
        let kind = first >> 4;
        let Some(role) = self.role else {
            if kind != 1 {
                return Err(Refusal::close("the first packet must be CONNECT"));
            }
            return self.connect(body).map(Some);
        };
        debug_assert_eq!(role, Role::Viewer, "publishers are not parsed");
        match kind {
            1 => Err(Refusal::close("a second CONNECT")),
            3 => {
                let mut r = Reader(body);
                let topic = r.string().ok_or_else(|| Refusal::close("malformed PUBLISH"))?;
                let retained = first & 1 == 1;
                if retained || !topic::viewer_may_publish(&self.policy.prefix, topic) {
                    return Err(Refusal::denied(
                        Denied::Publish,
                        format!(
                            "viewers may not publish{} to {topic:?}",
                            if retained { " retained" } else { "" }
                        ),
                    ));
                }
                Ok(None)
            }
            8 | 10 => self.note_filters(kind, body, true).map(|()| None),
            _ => Ok(None),
        }
    }

    /// A viewer's checked SUBSCRIBE or UNSUBSCRIBE, with each filter of one stream
    /// taken by the fan-out: noted as a [`Stream`] change, and sent on to the broker as
    /// [`placeholder`] of it, so that the broker's SUBACK or UNSUBACK still answers
    /// every filter, in order.
    fn streams_to_fanout(&mut self, first: u8, body: &[u8], out: &mut Vec<u8>) {
        let subscribe = first >> 4 == 8;
        let mut r = Reader(body);
        let id = r.u16().expect("checked");
        let mut rewritten = id.to_be_bytes().to_vec();
        while !r.0.is_empty() {
            let filter = r.string().expect("checked");
            let one = topic::one_stream(&self.policy.prefix, filter);
            let sent = if one { placeholder(filter) } else { filter.to_string() };
            mqtt::put_str(&mut rewritten, sent.as_bytes());
            if subscribe {
                rewritten.push(r.u8().expect("checked"));
            }
            if one {
                self.streams.push(match subscribe {
                    true => Stream::Join(filter.to_string()),
                    false => Stream::Leave(filter.to_string()),
                });
            }
        }
        mqtt::put_packet(out, first, &rewritten);
    }

    /// Reads a SUBSCRIBE's (8) or UNSUBSCRIBE's (10) filters, checking them against the
    /// viewers' policy if `viewer`, and tells the watchers.
    fn note_filters(&mut self, kind: u8, body: &[u8], viewer: bool) -> Result<(), Refusal> {
        let what = if kind == 8 { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        let malformed = || Refusal::close(format!("malformed {what}"));
        let mut r = Reader(body);
        r.u16().ok_or_else(malformed)?;
        while !r.0.is_empty() {
            let filter = r.string().ok_or_else(malformed)?;
            if kind == 10 {
                if let Some(at) = self.subscriptions.iter().position(|f| f == filter) {
                    self.subscriptions.swap_remove(at);
                    if let Some(w) = &self.policy.watchers {
                        w.unsubscribed(filter);
                    }
                }
                continue;
            }
            r.u8().ok_or_else(malformed)?;
            if viewer && !topic::viewer_may_subscribe(&self.policy.prefix, filter) {
                return Err(Refusal::denied(
                    Denied::Subscribe,
                    format!(
                    "viewers may only subscribe to frames, status and their clock replies, not {filter:?}"
                ),
                ));
            }
            if let Some(w) = &self.policy.watchers {
                w.subscribed(filter);
                self.subscriptions.push(filter.to_string());
            }
        }
        Ok(())
    }

    /// Checks a CONNECT body and decides the role.
    fn connect(&self, body: &[u8]) -> Result<(Role, bool), Refusal> {
        let malformed = || Refusal::close("malformed CONNECT");
        let mut r = Reader(body);
        let protocol = r.string().ok_or_else(malformed)?;
        let level = r.u8().ok_or_else(malformed)?;
        if !matches!((protocol, level), ("MQTT", 4) | ("MQIsdp", 3)) {
            return Err(Refusal::connack(
                UNACCEPTABLE_PROTOCOL,
                format!("protocol {protocol:?} level {level}: only MQTT 3.1.1 and 3.1 are served"),
            ));
        }
        let flags = r.u8().ok_or_else(malformed)?;
        r.u16().ok_or_else(malformed)?; // keep-alive
        let client_id = r.string().ok_or_else(malformed)?.to_string();
        let will = if flags & 0x04 != 0 {
            let topic = r.string().ok_or_else(malformed)?.to_string();
            r.bytes().ok_or_else(malformed)?;
            Some((topic, flags & 0x20 != 0))
        } else {
            None
        };
        let username = if flags & 0x80 != 0 { Some(r.string().ok_or_else(malformed)?) } else { None };
        let password = if flags & 0x40 != 0 { Some(r.bytes().ok_or_else(malformed)?) } else { None };

        // The same constant-time comparison as every door's (`doors::keeper`).
        let matches = |login: &Option<Login>| {
            login.as_ref().is_some_and(|l| username.zip(password).is_some_and(|(u, p)| l.is(u.as_bytes(), p)))
        };
        // A known username with the wrong password is refused even where anonymous
        // viewers are welcome: a publisher with a typo must hear so, not be demoted.
        let known_user =
            |login: &Option<Login>| login.as_ref().is_some_and(|l| username == Some(&l.username));
        let authenticated = matches(&self.policy.publisher) || matches(&self.policy.viewer);
        let role = if matches(&self.policy.publisher) {
            Role::Publisher
        } else if known_user(&self.policy.publisher) && !known_user(&self.policy.viewer) {
            return Err(Refusal::connack(
                BAD_LOGIN,
                format!("client {client_id:?}: wrong publisher password"),
            ));
        } else if self.policy.viewer.is_none() || matches(&self.policy.viewer) {
            Role::Viewer
        } else if username.is_some() {
            return Err(Refusal::connack(
                BAD_LOGIN,
                format!("client {client_id:?}: wrong username or password"),
            ));
        } else {
            return Err(Refusal::connack(NOT_AUTHORIZED, format!("client {client_id:?}: no login given")));
        };
        if role == Role::Viewer {
            if let Some((topic, retained)) = will {
                if retained || !topic::viewer_may_publish(&self.policy.prefix, &topic) {
                    return Err(Refusal::connack(
                        NOT_AUTHORIZED,
                        format!("client {client_id:?}: viewers may not leave a last will on {topic:?}"),
                    ));
                }
            }
        }
        Ok((role, authenticated))
    }
}

/// Whether a whole CONNECT packet carries a password (a login attempt to hold back
/// when its address keeps failing). Malformed packets say no: the inspector refuses them.
pub(super) fn carries_password(packet: &[u8]) -> bool {
    let Ok(Some((header_len, _))) = fixed_header(packet) else { return false };
    let mut r = Reader(&packet[header_len..]);
    packet[0] >> 4 == 1
        && r.string().is_some()
        && r.u8().is_some()
        && r.u8().is_some_and(|flags| flags & 0x40 != 0)
}

/// The fixed header's length and the remaining length, once enough bytes are in.
pub(super) fn fixed_header(b: &[u8]) -> Result<Option<(usize, usize)>, Refusal> {
    match mqtt::remaining_length(b) {
        Ok(found) => Ok(found.map(|(len, header)| (header, len))),
        Err(_) => Err(Refusal::close("malformed remaining length")),
    }
}

/// Reads MQTT's big-endian integers and length-prefixed fields.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub(super) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    pub(super) fn string(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

/// What the broker is told a viewer subscribes to instead of a stream the fan-out serves:
/// a topic below `_fanout/` (outside every prefix, so no viewer may publish there, and
/// the edge never does), one per stream, so unsubscribing still matches.
pub(super) fn placeholder(filter: &str) -> String {
    format!("_fanout/{filter}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn policy(viewer: Option<(&str, &str)>, publisher: Option<(&str, &str)>) -> Arc<Policy> {
        let login = |(u, p): (&str, &str)| Login { username: u.into(), password: p.into() };
        Arc::new(Policy {
            watchers: None,
            meter: Default::default(),
            prefix: "mqcam".into(),
            fan_out: false,
            viewer: viewer.map(login),
            publisher: publisher.map(login),
        })
    }

    pub(crate) fn string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    pub(crate) fn packet(first: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128 * 128);
        let mut p = vec![first];
        if body.len() < 128 {
            p.push(body.len() as u8);
        } else {
            p.extend([(body.len() % 128) as u8 | 0x80, (body.len() / 128) as u8]);
        }
        p.extend_from_slice(body);
        p
    }

    fn connect(login: Option<(&str, &str)>, will: Option<(&str, bool)>) -> Vec<u8> {
        let mut flags = 0x02;
        let mut tail = string("viewer-1");
        if let Some((topic, retain)) = will {
            flags |= 0x04 | if retain { 0x20 } else { 0 };
            tail.extend(string(topic));
            tail.extend(string(""));
        }
        if let Some((u, p)) = login {
            flags |= 0xc0;
            tail.extend(string(u));
            tail.extend(string(p));
        }
        let mut body = string("MQTT");
        body.extend([4, flags, 0, 30]);
        body.extend(tail);
        packet(0x10, &body)
    }

    fn publish(topic: &str, retain: bool) -> Vec<u8> {
        let mut body = string(topic);
        body.extend(b"payload");
        packet(0x30 | u8::from(retain), &body)
    }

    fn subscribe(filter: &str) -> Vec<u8> {
        let mut body = vec![0, 1];
        body.extend(string(filter));
        body.push(0);
        packet(0x82, &body)
    }

    /// Feeds packets one byte at a time (the worst split) and returns what went through.
    fn run(policy: Arc<Policy>, packets: &[Vec<u8>]) -> (Vec<u8>, Result<(), Refusal>) {
        let mut inspector = Inspector::new(policy);
        let mut out = Vec::new();
        for byte in packets.concat() {
            if let Err(e) = inspector.feed(&[byte], &mut out) {
                return (out, Err(e));
            }
        }
        (out, Ok(()))
    }

    #[test]
    fn viewers_may_ack_ask_the_clock_and_subscribe_below_the_prefix() {
        let packets = [
            connect(None, Some(("mqcam/cam1/ack/viewer-1", false))),
            subscribe("mqcam/cam1/frame"),
            subscribe("mqcam/+/status"),
            subscribe("mqcam/cam1/clock/res/viewer-1"),
            publish("mqcam/cam1/clock/req/viewer-1", false),
            publish("mqcam/cam1/ack/viewer-1", false),
            vec![0xc0, 0x00],
        ];
        let (out, result) = run(policy(None, None), &packets);
        assert_eq!(result, Ok(()));
        assert_eq!(out, packets.concat(), "everything passes unchanged");
    }

    #[test]
    fn viewers_may_not_write_camera_topics() {
        for bad in [
            publish("mqcam/cam1/frame", false),
            publish("mqcam/cam1/status", false),
            publish("mqcam/cam1/clock/res/viewer-1", false),
            publish("mqcam/cam1/ack/viewer-1", true),
            publish("other/topic", false),
        ] {
            let (out, result) = run(policy(None, None), &[connect(None, None), bad.clone()]);
            let refusal = result.unwrap_err();
            assert_eq!(refusal.connack, None);
            assert!(refusal.reason.contains("may not publish"), "{}", refusal.reason);
            assert_eq!(out, connect(None, None), "the refused PUBLISH never reaches the broker");
        }
        for filter in ["#", "$SYS/#", "mqcam/#", "mqcam/cam1/ack/+", "mqcamx/cam1/frame", "+/cam1/frame"] {
            let (_, result) = run(policy(None, None), &[connect(None, None), subscribe(filter)]);
            assert!(result.unwrap_err().reason.contains("may only subscribe"), "{filter}");
        }
        let (out, result) = run(policy(None, None), &[connect(None, Some(("mqcam/cam1/frame", false)))]);
        assert_eq!(result.unwrap_err().connack, Some(NOT_AUTHORIZED), "a will on a camera topic");
        assert!(out.is_empty());
    }

    #[test]
    fn logins_are_checked() {
        let p = policy(Some(("view", "secret")), Some(("pub", "s3")));
        let (_, r) = run(p.clone(), &[connect(Some(("view", "secret")), None)]);
        assert_eq!(r, Ok(()));
        let (out, r) = run(p.clone(), &[connect(Some(("view", "wrong")), None)]);
        assert_eq!((out.len(), r.unwrap_err().connack), (0, Some(BAD_LOGIN)));
        let (_, r) = run(p.clone(), &[connect(Some(("view", "secretX")), None)]);
        assert_eq!(r.unwrap_err().connack, Some(BAD_LOGIN));
        let (_, r) = run(p.clone(), &[connect(None, None)]);
        assert_eq!(r.unwrap_err().connack, Some(NOT_AUTHORIZED));
        // Open to anonymous viewers, but a publisher's username with a wrong password
        // is refused rather than treated as a viewer.
        let open = policy(None, Some(("pub", "s3")));
        assert_eq!(
            run(open.clone(), &[connect(Some(("pub", "typo")), None)]).1.unwrap_err().connack,
            Some(BAD_LOGIN)
        );
        assert_eq!(run(open.clone(), &[connect(Some(("someone", "x")), None)]).1, Ok(()));
        assert_eq!(run(open, &[connect(None, None)]).1, Ok(()));
        // A publisher may write camera topics, in any split, and large packets.
        let big = {
            let mut body = string("mqcam/cam1/frame");
            body.extend(vec![7u8; 100_000]);
            let mut p = vec![0x31, 0xa0 | 0x80, 0x8d, 0x06];
            let len = body.len();
            p[1] = (len % 128) as u8 | 0x80;
            p[2] = ((len / 128) % 128) as u8 | 0x80;
            p[3] = (len / 128 / 128) as u8;
            p.extend(body);
            p
        };
        let packets = [connect(Some(("pub", "s3")), None), publish("mqcam/cam1/status", true), big];
        let (out, r) = run(p, &packets);
        assert_eq!(r, Ok(()));
        assert_eq!(out, packets.concat());
    }

    #[test]
    fn a_viewers_streams_go_to_the_fanout_and_the_broker_answers_for_placeholders() {
        let mut body = vec![0, 7];
        for (filter, qos) in [("mqcam/cam1/frame", 0), ("mqcam/+/status", 1), ("mqcam/cam2/preview", 0)] {
            body.extend(string(filter));
            body.push(qos);
        }
        let sub = packet(0x82, &body);
        let mut body = vec![0, 8];
        body.extend(string("mqcam/cam1/frame"));
        body.extend(string("mqcam/+/alarm"));
        let unsub = packet(0xa2, &body);

        let fan_out = Arc::new(Policy { fan_out: true, ..(*policy(None, None)).clone() });
        let mut inspector = Inspector::new(fan_out.clone());
        let mut out = Vec::new();
        for p in [connect(None, None), sub.clone(), unsub.clone()] {
            inspector.feed(&p, &mut out).unwrap();
        }
        let mut want = connect(None, None);
        let mut body = vec![0, 7];
        for (filter, qos) in
            [("_fanout/mqcam/cam1/frame", 0), ("mqcam/+/status", 1), ("_fanout/mqcam/cam2/preview", 0)]
        {
            body.extend(string(filter));
            body.push(qos);
        }
        want.extend(packet(0x82, &body));
        let mut body = vec![0, 8];
        body.extend(string("_fanout/mqcam/cam1/frame"));
        body.extend(string("mqcam/+/alarm"));
        want.extend(packet(0xa2, &body));
        assert_eq!(out, want, "same packet ids, same filters in order, streams as placeholders");
        assert_eq!(
            inspector.take_streams(),
            vec![
                Stream::Join("mqcam/cam1/frame".into()),
                Stream::Join("mqcam/cam2/preview".into()),
                Stream::Leave("mqcam/cam1/frame".into())
            ]
        );
        assert!(inspector.take_streams().is_empty());

        // Without the fan-out, and for publishers, packets pass as they are.
        let (out, r) = run(policy(None, None), &[connect(None, None), sub.clone()]);
        assert_eq!((out, r), ([connect(None, None), sub.clone()].concat(), Ok(())));
        let publisher = Arc::new(Policy { fan_out: true, ..(*policy(None, Some(("pub", "s3")))).clone() });
        let packets = [connect(Some(("pub", "s3")), None), sub];
        assert_eq!(run(publisher, &packets), (packets.concat(), Ok(())));
        // The gate's own packets read back as what they say.
        assert_eq!(
            mqtt::subscribe(7, "a/b", 0),
            subscribe("a/b")
                .into_iter()
                .enumerate()
                .map(|(i, b)| if i == 3 { 7 } else { b })
                .collect::<Vec<_>>()
        );
        let hello = mqtt::connect("gate", 60, None, None);
        assert_eq!(fixed_header(&hello), Ok(Some((2, hello.len() - 2))));
        assert_eq!(&hello[2..12], &[0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60]);
    }

    #[test]
    fn protocol_errors_close_the_connection() {
        let p = policy(None, None);
        assert!(run(p.clone(), &[subscribe("mqcam/c/frame")]).1.unwrap_err().reason.contains("first packet"));
        assert!(run(p.clone(), &[connect(None, None), connect(None, None)]).1.is_err());
        let bad_length = vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(run(p.clone(), &[bad_length]).1.unwrap_err().reason.contains("remaining length"));
        let mut v5 = string("MQTT");
        v5.extend([5, 2, 0, 30]);
        v5.extend(string("id"));
        let r = run(p.clone(), &[packet(0x10, &v5)]).1.unwrap_err();
        assert_eq!(r.connack, Some(UNACCEPTABLE_PROTOCOL));
        // A viewer cannot make the gate buffer without bound.
        let mut huge = vec![0x30, 0xff, 0xff, 0x7f];
        huge.extend(string("mqcam/cam1/ack/x"));
        let r = run(p.clone(), &[connect(None, None), huge]).1.unwrap_err();
        assert!(r.reason.contains("over the limit"), "{}", r.reason);
        // Truncated fields inside a packet.
        assert!(run(p, &[packet(0x10, &[0, 4, b'M'])]).1.unwrap_err().reason.contains("malformed"));
    }

    #[test]
    fn a_publishers_frame_subscriptions_watch_however_its_bytes_are_split() {
        let mut big = string("mqcam/cam1/frame");
        big.extend(vec![7u8; 16_000]);
        let unsubscribe = {
            let mut body = vec![0, 2];
            body.extend(string("mqcam/cam1/frame"));
            packet(0xa2, &body)
        };
        let packets = [
            connect(Some(("pub", "s3")), None),
            packet(0x30, &big),
            subscribe("mqcam/cam1/frame"),
            vec![0xc0, 0x00],
            packet(0x30, &big),
            subscribe("mqcam/cam2/preview"),
        ];
        let whole = packets.concat();
        for chunk in [1, 3, 7, 1000, whole.len()] {
            let watchers = Arc::new(crate::watch::Watchers::new("mqcam"));
            let p = Arc::new(Policy {
                watchers: Some(watchers.clone()),
                ..(*policy(None, Some(("pub", "s3")))).clone()
            });
            let mut inspector = Inspector::new(p);
            let mut out = Vec::new();
            for piece in whole.chunks(chunk) {
                inspector.feed(piece, &mut out).unwrap();
            }
            assert_eq!(out, whole, "everything passes unchanged, in pieces of {chunk}");
            assert_eq!(inspector.role(), Some(Role::Publisher));
            assert!(watchers.watched("cam1", 0), "in pieces of {chunk}");
            assert!(!watchers.watched("cam2", 0), "a preview is not the full stream");
            for piece in unsubscribe.chunks(chunk) {
                inspector.feed(piece, &mut out).unwrap();
            }
            assert!(!watchers.watched("cam1", 0), "unsubscribed, in pieces of {chunk}");
            inspector.feed(&subscribe("mqcam/cam1/frame"), &mut out).unwrap();
            drop(inspector);
            assert!(!watchers.watched("cam1", 0), "a publisher that goes stops watching");
        }
    }
}
