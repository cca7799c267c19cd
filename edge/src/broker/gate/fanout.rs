//! The fan-out: every stream of pictures viewers watch is read from rumqttd once, over
//! one connection of the gate's own, and each message, as one shared buffer, is put in
//! the outbox of every viewer of its topic. Without it rumqttd would copy each frame
//! into every viewer's connection, and the gate read each copy back from loopback.
//!
//! A viewer's SUBSCRIBE to one camera's rendition or preview (no wildcard, see
//! `wire::topic::one_stream`) still goes to rumqttd, so that its SUBACK comes from there
//! in order with everything else, but for a topic nobody publishes on (see
//! [`super::inspect`]); the viewer joins the fan-out here instead. What a new
//! subscriber gets first from a broker, the retained copy, is asked of rumqttd by a short
//! connection of its own (a probe), since rumqttd does not send it again to a connection
//! that already subscribed.
//!
//! - [`Streams`]: who watches which topic and who still waits for its retained copy,
//!   sans I/O.
//! - [`Fanout`]: the connection to rumqttd, the probes, and the delivery.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{atomic::Ordering::Relaxed, Arc, Mutex, Weak},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};

use super::{
    inspect::{fixed_header, Reader},
    outbox::{Kind, Mailbox},
};
use wire::mqtt;

use crate::{meter::BrokerMeter, sync::lock};

/// How long a probe waits for rumqttd's retained copy: it comes right after the SUBACK,
/// so this only bounds a broker that has none and a stream that has stopped.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The keep-alive the gate's connection asks for, and pings at half of.
const KEEP_ALIVE: Duration = Duration::from_secs(KEEP_ALIVE_S as u64);
const KEEP_ALIVE_S: u16 = 60;

/// One viewer in a topic's list.
struct Member<M> {
    viewer: u64,
    mailbox: M,
    /// It has had nothing yet: the retained copy, if one comes, is for it.
    waiting: bool,
}

/// What a join needs done upstream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Joined {
    /// The topic's first viewer: subscribe (rumqttd sends the retained copy with it).
    First,
    /// The topic is read already: probe for its retained copy, unless a probe is out.
    Probe,
    /// Nothing to do: a probe is out already, or the viewer was in.
    Nothing,
}

/// Who watches which topic, sans I/O (`M` is what a viewer's packets go into).
pub(super) struct Streams<M> {
    topics: HashMap<String, Vec<Member<M>>>,
    /// Topics a probe is out for.
    probing: HashSet<String>,
}

impl<M> Default for Streams<M> {
    fn default() -> Self {
        Streams { topics: HashMap::new(), probing: HashSet::new() }
    }
}

impl<M: Clone> Streams<M> {
    pub(super) fn join(&mut self, topic: &str, viewer: u64, mailbox: &M) -> Joined {
        let members = self.topics.entry(topic.to_string()).or_default();
        if members.iter().any(|m| m.viewer == viewer) {
            return Joined::Nothing;
        }
        let first = members.is_empty();
        members.push(Member { viewer, mailbox: mailbox.clone(), waiting: true });
        if first {
            Joined::First
        } else if self.probing.insert(topic.to_string()) {
            Joined::Probe
        } else {
            Joined::Nothing
        }
    }

    /// Takes `viewer` off `topic`; true when nobody is left on it (unsubscribe).
    pub(super) fn leave(&mut self, topic: &str, viewer: u64) -> bool {
        let Some(members) = self.topics.get_mut(topic) else { return false };
        let before = members.len();
        members.retain(|m| m.viewer != viewer);
        if members.is_empty() && before > 0 {
            self.topics.remove(topic);
            return true;
        }
        false
    }

    /// Takes `viewer` off every topic; the topics nobody is left on.
    pub(super) fn leave_all(&mut self, viewer: u64) -> Vec<String> {
        let topics: Vec<String> = self.topics.keys().cloned().collect();
        topics.into_iter().filter(|t| self.leave(t, viewer)).collect()
    }

    /// A live message on `topic`: every member gets it, and none waits any more (an
    /// older retained copy must not follow a newer frame).
    pub(super) fn live(&mut self, topic: &str, mut give: impl FnMut(&M)) {
        for m in self.topics.get_mut(topic).into_iter().flatten() {
            m.waiting = false;
            give(&m.mailbox);
        }
    }

    /// The retained copy of `topic`: for the members still waiting for it.
    pub(super) fn retained(&mut self, topic: &str, mut give: impl FnMut(&M)) {
        for m in self.topics.get_mut(topic).into_iter().flatten().filter(|m| m.waiting) {
            m.waiting = false;
            give(&m.mailbox);
        }
    }

    /// A probe for `topic` is back.
    pub(super) fn probed(&mut self, topic: &str) {
        self.probing.remove(topic);
    }

    /// Every topic read now (to subscribe again after a reconnect).
    pub(super) fn topics(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }
}

/// A request to the connection's writer.
enum Upstream {
    Subscribe(String),
    Unsubscribe(String),
}

/// The fan-out of one gate.
pub struct Fanout {
    upstream: SocketAddr,
    streams: Mutex<Streams<Arc<Mailbox>>>,
    requests: mpsc::UnboundedSender<Upstream>,
    meter: Arc<BrokerMeter>,
}

impl Fanout {
    /// Starts the fan-out's connection to rumqttd at `upstream` (on the current tokio
    /// runtime; it connects when the first viewer joins and again whenever it is lost).
    pub fn start(upstream: SocketAddr, meter: Arc<BrokerMeter>) -> Arc<Fanout> {
        let (requests, rx) = mpsc::unbounded_channel();
        let fanout = Arc::new(Fanout { upstream, streams: Default::default(), requests, meter });
        tokio::spawn(read_upstream(Arc::downgrade(&fanout), rx));
        fanout
    }

    /// `viewer` (its packets go to `mailbox`) watches `topic` from now on.
    pub(super) fn join(self: &Arc<Self>, topic: &str, viewer: u64, mailbox: &Arc<Mailbox>) {
        match lock(&self.streams).join(topic, viewer, mailbox) {
            Joined::First => {
                let _ = self.requests.send(Upstream::Subscribe(topic.to_string()));
            }
            Joined::Probe => {
                let (fanout, topic) = (self.clone(), topic.to_string());
                tokio::spawn(async move {
                    let copy = match tokio::time::timeout(PROBE_TIMEOUT, probe(fanout.upstream, &topic)).await
                    {
                        Ok(Ok(copy)) => copy,
                        Ok(Err(e)) => {
                            tracing::debug!(topic, error = %e, "gate: no retained frame from the broker");
                            None
                        }
                        Err(_) => None,
                    };
                    let mut streams = lock(&fanout.streams);
                    streams.probed(&topic);
                    if let Some(copy) = copy {
                        streams.retained(&topic, |m| m.post(Kind::Frame, copy.clone()));
                    }
                });
            }
            Joined::Nothing => {}
        }
    }

    /// `viewer` no longer watches `topic`.
    pub(super) fn leave(&self, topic: &str, viewer: u64) {
        if lock(&self.streams).leave(topic, viewer) {
            let _ = self.requests.send(Upstream::Unsubscribe(topic.to_string()));
        }
    }

    /// `viewer` is gone.
    pub(super) fn leave_all(&self, viewer: u64) {
        for topic in lock(&self.streams).leave_all(viewer) {
            let _ = self.requests.send(Upstream::Unsubscribe(topic));
        }
    }

    /// A message read from rumqttd: to every viewer of its topic.
    fn deliver(&self, packet: Bytes) {
        if packet[0] >> 4 != 3 {
            return; // CONNACK, SUBACK, UNSUBACK, PINGRESP
        }
        let Ok(Some((header_len, _))) = fixed_header(&packet) else { return };
        let Some(topic) = Reader(&packet[header_len..]).string() else { return };
        let mut streams = lock(&self.streams);
        if packet[0] & 1 == 1 {
            streams.retained(topic, |m| m.post(Kind::Frame, packet.clone()));
        } else {
            self.meter.fanout_frames.fetch_add(1, Relaxed);
            streams.live(topic, |m| m.post(Kind::Frame, packet.clone()));
        }
    }
}

/// The fan-out's connection to rumqttd: connects when there is something to read,
/// subscribes to what viewers watch, and hands every message on. It holds the fan-out
/// only while handing on, so it ends when the gate drops the fan-out.
async fn read_upstream(fanout: Weak<Fanout>, mut requests: mpsc::UnboundedReceiver<Upstream>) {
    if requests.recv().await.is_none() {
        return; // nobody ever watched
    }
    let mut attempt = 0u32;
    loop {
        let Some(upstream) = fanout.upgrade().map(|f| f.upstream) else { return };
        match connection(&fanout, upstream, &mut requests).await {
            Ok(()) => return,
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, "gate: lost the fan-out's connection to the broker; connecting again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(10)))).await;
            }
        }
    }
}

/// One connection: subscribes to every topic watched now (the request that woke it up
/// among them), then serves requests and hands on messages until it fails (`Err`) or
/// the fan-out is gone (`Ok`).
async fn connection(
    fanout: &Weak<Fanout>,
    upstream: SocketAddr,
    requests: &mut mpsc::UnboundedReceiver<Upstream>,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let (mut from_broker, mut to_broker) = stream.into_split();
    let mut hello =
        mqtt::connect(&format!("mqcam-gate-fanout-{}", std::process::id()), KEEP_ALIVE_S, None, None);
    let mut id = 0u16;
    let mut next_id = || {
        id = id.wrapping_add(1).max(1);
        id
    };
    let Some(topics) = fanout.upgrade().map(|f| lock(&f.streams).topics()) else { return Ok(()) };
    for topic in topics {
        hello.extend(mqtt::subscribe(next_id(), &topic, 0));
    }
    to_broker.write_all(&hello).await?;
    let write = async {
        let mut ping = tokio::time::interval(KEEP_ALIVE / 2);
        ping.tick().await;
        loop {
            let packet = tokio::select! {
                r = requests.recv() => match r {
                    Some(Upstream::Subscribe(t)) => mqtt::subscribe(next_id(), &t, 0),
                    Some(Upstream::Unsubscribe(t)) => mqtt::unsubscribe(next_id(), &t),
                    None => return Ok(()), // the fan-out is gone
                },
                _ = ping.tick() => mqtt::PINGREQ.to_vec(),
            };
            to_broker.write_all(&packet).await?;
        }
    };
    let read = async {
        let mut buf = BytesMut::with_capacity(256 * 1024);
        loop {
            let whole = packets(&mut from_broker, &mut buf, 256 * 1024).await?;
            let Some(fanout) = fanout.upgrade() else { return Ok(()) };
            for packet in whole {
                fanout.deliver(packet);
            }
        }
    };
    tokio::select! {
        r = write => r,
        r = read => r,
    }
}

/// Reads from `stream` into `buf` (making `room` bytes of room when little is left) and
/// splits off the whole packets in it (as shared buffers, without a copy); an error when
/// the stream ends or is not MQTT.
pub(super) async fn packets<R: AsyncReadExt + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    room: usize,
) -> std::io::Result<Vec<Bytes>> {
    if buf.capacity() - buf.len() < room / 4 {
        buf.reserve(room);
    }
    if stream.read_buf(buf).await? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the broker closed the connection",
        ));
    }
    let mut whole = Vec::new();
    loop {
        let (header_len, body_len) = match fixed_header(buf) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => return Err(std::io::Error::other(e.reason)),
        };
        let total = header_len + body_len;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            break;
        }
        whole.push(buf.split_to(total).freeze());
    }
    Ok(whole)
}

/// Asks rumqttd for `topic`'s retained copy the way a new subscriber gets it: a
/// connection of its own that subscribes and takes the first message, if it is the
/// retained one.
async fn probe(upstream: SocketAddr, topic: &str) -> std::io::Result<Option<Bytes>> {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let n = PROBES.fetch_add(1, Relaxed);
    let mut hello =
        mqtt::connect(&format!("mqcam-gate-probe-{}-{n}", std::process::id()), KEEP_ALIVE_S, None, None);
    hello.extend(mqtt::subscribe(1, topic, 0));
    stream.write_all(&hello).await?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        for packet in packets(&mut stream, &mut buf, 64 * 1024).await? {
            if packet[0] >> 4 == 3 {
                // rumqttd sends the retained copy first, flagged; a live one means none.
                return Ok((packet[0] & 1 == 1).then_some(packet));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_viewer_subscribes_later_ones_probe_once_and_the_last_unsubscribes() {
        let mut s = Streams::<u32>::default();
        assert_eq!(s.join("c/a/frame", 1, &10), Joined::First);
        assert_eq!(s.join("c/a/frame", 1, &10), Joined::Nothing, "joining twice is once");
        assert_eq!(s.join("c/a/frame", 2, &20), Joined::Probe);
        assert_eq!(s.join("c/a/frame", 3, &30), Joined::Nothing, "the probe out serves it too");
        s.probed("c/a/frame");
        assert_eq!(s.join("c/a/frame", 4, &40), Joined::Probe);
        assert_eq!(s.join("c/b/preview", 1, &10), Joined::First);
        assert!(!s.leave("c/a/frame", 1));
        assert!(!s.leave("c/a/frame", 9), "not a member");
        assert_eq!(s.leave_all(1), vec!["c/b/preview".to_string()]);
        assert!(!s.leave("c/a/frame", 2) && !s.leave("c/a/frame", 3));
        assert!(s.leave("c/a/frame", 4), "the last one out");
        assert!(s.topics().is_empty());
    }

    #[test]
    fn the_retained_copy_goes_only_to_viewers_that_have_had_nothing() {
        let mut s = Streams::<u32>::default();
        s.join("t", 1, &10);
        let got = |s: &mut Streams<u32>, live: bool| {
            let mut v = Vec::new();
            match live {
                true => s.live("t", |m| v.push(*m)),
                false => s.retained("t", |m| v.push(*m)),
            }
            v
        };
        assert_eq!(got(&mut s, false), vec![10], "the first subscription's retained copy");
        assert_eq!(got(&mut s, false), Vec::<u32>::new(), "once");
        s.join("t", 2, &20);
        assert_eq!(got(&mut s, true), vec![10, 20], "a live frame to everyone");
        assert_eq!(got(&mut s, false), Vec::<u32>::new(), "no older copy after a live frame");
        s.join("t", 3, &30);
        assert_eq!(got(&mut s, false), vec![30]);
        let mut other = Vec::new();
        s.live("nobody/watches", |m| other.push(*m));
        assert!(other.is_empty());
    }
}
