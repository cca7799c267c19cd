//! The gate: what the network sees of the embedded broker.
//!
//! rumqttd has no per-topic permissions, so it listens on loopback only and every outside
//! connection (MQTT over TCP or WebSocket, either one optionally over TLS) goes through
//! this small MQTT-aware proxy. It reads what clients send, a whole packet at a time, and:
//! - checks the login in CONNECT (`--username`/`--password` for viewers,
//!   `--publisher-login` for other publishers) and answers a bad one with CONNACK 4 or 5;
//! - lets viewers subscribe only to frames, status and their own clock replies, and
//!   publish only what viewers publish (clock requests and frame acknowledgements, never
//!   retained, also as their last will): anything else closes the connection (MQTT
//!   3.1.1 has no way to refuse one PUBLISH or SUBSCRIBE), and is logged;
//! - passes a publisher's traffic through after its CONNECT, reading only packet headers
//!   and its subscriptions (a detector with the publisher login watches cameras too);
//! - refuses WebSocket upgrades from other websites' pages (`super::origin`) with HTTP 403,
//!   and holds back login attempts from an address that keeps failing, with the same
//!   throttle as the web port's logins (`crate::doors`), which also caps the connections
//!   per address and drops a client that sends no CONNECT in time.
//!
//! Broker-to-client packets pass through untouched, through a small outbox per client
//! where a client that reads too slowly loses old frames rather than queueing them. The
//! pictures viewers watch (one camera's rendition or preview) do not come through their
//! own connection to rumqttd: the gate's fan-out reads each such stream once and puts the
//! same buffer in every viewer's outbox, so a viewer costs about one write per frame
//! (the kernel's copy into its socket). The edge's own publisher connects to rumqttd
//! directly, as the trusted party.
//!
//! In the order a client's connection meets them:
//! - `websocket`: the WebSocket handshake (origin check, `mqtt` subprotocol) and the
//!   framing both ways, sans I/O but for the handshake.
//! - `inspect`: the decisions, sans I/O and unit-tested: packet framing, logins, topic
//!   permissions, telling the watchers what clients subscribe to, and which of a
//!   viewer's subscriptions the fan-out serves.
//! - `fanout`: the streams read once, and who gets them.
//! - `outbox`: the slow client's queue, where frames give way.
//! - this module: the listeners, TLS, and the relay between a client and rumqttd, which
//!   only moves bytes.

mod fanout;
mod inspect;
mod outbox;
mod websocket;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use bytes::{Buf, Bytes};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::TlsAcceptor;

use super::origin::Origins;
use crate::{
    doors::{self, limit::ConnLimit, Door, Doorkeeper, Reason},
    meter::BrokerMeter,
    sync::lock,
};
use fanout::Fanout;
use inspect::{
    carries_password, fixed_header, Inspector, Refusal, Stream, BAD_LOGIN, NOT_AUTHORIZED, VIEWER_MAX_PACKET,
};
pub use inspect::{Denied, Login, Policy, Role};
use outbox::{Kind, Mailbox};

/// A client must finish its TLS and WebSocket handshakes and its CONNECT within this
/// long, each (as the web port its request head).
const CONNECT_TIMEOUT: Duration = doors::HEADER_TIMEOUT;

/// Where the gate forwards to and what it enforces.
pub struct Gate {
    pub policy: Arc<Policy>,
    /// Which web pages may open the WebSocket listener.
    pub origins: Origins,
    /// rumqttd's loopback listener.
    pub upstream: SocketAddr,
    pub tls: Option<TlsAcceptor>,
    /// Failed logins per address, over TCP, WebSocket and the web port alike, and what
    /// the doors refused.
    pub keeper: Arc<Doorkeeper>,
    /// Origins refused so far: each is logged once, however often its pages retry.
    pub refused_origins: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Viewers' streams, read once from rumqttd (if `policy.fan_out`).
    fanout: Option<Arc<Fanout>>,
}

impl Gate {
    pub fn new(
        policy: Policy,
        origins: Origins,
        upstream: SocketAddr,
        tls: Option<TlsAcceptor>,
        keeper: Arc<Doorkeeper>,
    ) -> Self {
        // On the caller's tokio runtime: the fan-out's connection is a task of it.
        let fanout = policy.fan_out.then(|| Fanout::start(upstream, policy.meter.clone()));
        Gate {
            policy: Arc::new(policy),
            origins,
            upstream,
            tls,
            keeper,
            refused_origins: Default::default(),
            fanout,
        }
    }

    /// Logs a refused origin the first time it is seen (at most a few hundred).
    fn refused_origin(&self, origin: &str, peer: SocketAddr) {
        let mut seen = lock(&self.refused_origins);
        if seen.len() < 256 && seen.insert(origin.to_string()) {
            tracing::warn!(
                %peer,
                origin,
                "gate: refused a WebSocket from another website's page (allow it with --allow-origin)"
            );
        }
    }
}

/// Which protocol a listener speaks to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Tcp,
    WebSocket,
}

impl Flavour {
    fn door(self) -> Door {
        match self {
            Flavour::Tcp => Door::MqttTcp,
            Flavour::WebSocket => Door::MqttWs,
        }
    }
}

/// Accepts connections on `listener` until the task is dropped, at most as many at once
/// as `limit` allows (`doors::listen`).
pub async fn serve(listener: TcpListener, gate: Arc<Gate>, flavour: Flavour, limit: ConnLimit) {
    let keeper = gate.keeper.clone();
    doors::listen::serve(listener, flavour.door(), limit, keeper, move |stream, peer| {
        let gate = gate.clone();
        let meter = &gate.policy.meter;
        match flavour {
            Flavour::Tcp => &meter.accepted_tcp,
            Flavour::WebSocket => &meter.accepted_ws,
        }
        .fetch_add(1, Relaxed);
        async move {
            if let Err(e) = accept(stream, &gate, flavour).await {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    gate.keeper.refused.count(flavour.door(), Reason::HeaderTimeout);
                }
                tracing::debug!(%peer, error = %e, "gate: connection ended");
            }
            gate.policy.meter.closed.fetch_add(1, Relaxed);
        }
    })
    .await
}

async fn accept(stream: TcpStream, gate: &Gate, flavour: Flavour) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_nodelay(true)?;
    match &gate.tls {
        None => framed(stream, gate, peer, flavour).await,
        Some(tls) => {
            let secure =
                tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await.map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            framed(secure, gate, peer, flavour).await
        }
    }
}

/// Relays `stream` as plain MQTT, or after the WebSocket handshake as MQTT over
/// WebSocket.
async fn framed<S>(stream: S, gate: &Gate, peer: SocketAddr, flavour: Flavour) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let door = flavour.door();
    match flavour {
        Flavour::Tcp => relay(stream, Framing::raw(), gate, peer, door).await,
        Flavour::WebSocket => {
            let refused = |origin: &str| gate.refused_origin(origin, peer);
            let (stream, early) = websocket::accept(stream, &gate.origins, &refused, CONNECT_TIMEOUT).await?;
            relay(stream, Framing::websocket(early), gate, peer, door).await
        }
    }
}

/// How a client's bytes are framed, and what of them is read but not taken yet.
struct Framing {
    /// `None` for plain MQTT.
    websocket: Option<websocket::Decoder>,
    /// Bytes read before the relay began (after the WebSocket handshake's head).
    early: Vec<u8>,
    /// Raw bytes read from the socket.
    raw: Vec<u8>,
    /// The client sent a WebSocket close: the answer is queued.
    closing: bool,
}

impl Framing {
    fn raw() -> Self {
        Framing { websocket: None, early: Vec::new(), raw: vec![0; 8192], closing: false }
    }

    fn websocket(early: Vec<u8>) -> Self {
        Framing { websocket: Some(Default::default()), early, raw: vec![0; 8192], closing: false }
    }

    /// Reads the client's next MQTT bytes into `data` (replacing what was there); queues
    /// the answers to WebSocket pings and close in `mailbox`. `Ok(false)` when the
    /// client is done.
    async fn read<R: AsyncRead + Unpin>(
        &mut self,
        from: &mut R,
        data: &mut Vec<u8>,
        mailbox: &Mailbox,
    ) -> std::io::Result<bool> {
        data.clear();
        loop {
            let early = std::mem::take(&mut self.early);
            let input = match early.is_empty() {
                false => &early[..],
                true => match from.read(&mut self.raw).await? {
                    0 => return Ok(false),
                    n => &self.raw[..n],
                },
            };
            let Some(decoder) = &mut self.websocket else {
                data.extend_from_slice(input);
                return Ok(true);
            };
            for control in decoder.feed(input, data).map_err(std::io::Error::other)? {
                match control {
                    websocket::Control::Ping(payload) => {
                        mailbox.post(Kind::Control(websocket::PONG), payload.into())
                    }
                    websocket::Control::Close => {
                        mailbox.post(Kind::Control(websocket::CLOSE), Bytes::new());
                        self.closing = true;
                        return Ok(false);
                    }
                }
            }
            if !data.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Writes `packet` now, framed for this client (the CONNACK of a refusal).
    async fn send_now<W: AsyncWrite + Unpin>(&self, to: &mut W, packet: &[u8]) -> std::io::Result<()> {
        if self.websocket.is_some() {
            let (header, n) = websocket::header(websocket::BINARY, packet.len());
            to.write_all(&header[..n]).await?;
        }
        to.write_all(packet).await?;
        to.flush().await
    }
}

/// Writes what the client's mailbox holds, in order, until a close frame or an error:
/// plain MQTT as it is; over WebSocket each packet as one binary message, its few header
/// bytes and the (shared) packet in one vectored write.
async fn write_out<W: AsyncWrite + Unpin>(
    to: &mut W,
    mailbox: &Mailbox,
    websocket: bool,
    meter: &BrokerMeter,
) -> std::io::Result<()> {
    loop {
        for (packet, kind) in mailbox.take(256 * 1024).await {
            let len = packet.len();
            match (websocket, kind) {
                (false, Kind::Control(_)) => continue,
                (false, _) => to.write_all(&packet).await?,
                (true, kind) => {
                    let opcode = match kind {
                        Kind::Control(opcode) => opcode,
                        _ => websocket::BINARY,
                    };
                    let (header, n) = websocket::header(opcode, len);
                    to.write_all_buf(&mut Buf::chain(&header[..n], packet)).await?;
                    if opcode == websocket::CLOSE {
                        to.flush().await?;
                        return Ok(());
                    }
                }
            }
            meter.bytes_out.fetch_add(len as u64, Relaxed);
        }
        to.flush().await?;
    }
}

/// Checks the client's CONNECT, then relays both ways until either side closes.
async fn relay<S>(
    client: S,
    mut framing: Framing,
    gate: &Gate,
    peer: SocketAddr,
    door: Door,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let websocket = framing.websocket.is_some();
    let meter = &gate.policy.meter;
    let mailbox = Arc::new(Mailbox::new(meter.clone()));
    let mut inspector = Inspector::new(gate.policy.clone());
    let mut data = Vec::new();
    let mut out = Vec::new();

    // Nothing reaches the broker before the login is checked; an address that keeps
    // giving wrong passwords (at any door) waits before its next one is even looked at.
    let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut head = Vec::new();
        while !whole_first_packet(&head) {
            if !framing.read(&mut from_client, &mut data, &mailbox).await? {
                break;
            }
            head.extend_from_slice(&data);
        }
        Ok::<_, std::io::Error>(head)
    })
    .await
    .map_err(|_| no_connect())??;
    let guessed = carries_password(&first);
    let mut throttled = false;
    let admitted = match guessed {
        true => gate.keeper.admit(door, peer).await,
        false => Ok(()),
    };
    let outcome = match admitted {
        Err(refused) => {
            throttled = true;
            Err(Refusal::connack(NOT_AUTHORIZED, refused.to_string()))
        }
        Ok(()) => {
            let mut decided = inspector.feed(&first, &mut out);
            while decided.is_ok() && inspector.role().is_none() {
                let read = framing.read(&mut from_client, &mut data, &mailbox);
                decided =
                    match tokio::time::timeout(CONNECT_TIMEOUT, read).await.map_err(|_| no_connect())?? {
                        false => Err(Refusal::close("closed before CONNECT")),
                        true => inspector.feed(&data, &mut out),
                    };
            }
            decided
        }
    };
    if let Err(refusal) = outcome {
        match refusal.connack {
            // Logins refused: the line and counters every door shares.
            Some(BAD_LOGIN | NOT_AUTHORIZED) => {
                let reason = match (throttled, refusal.connack) {
                    (true, _) => Some(Reason::ThrottledLogin),
                    (false, Some(BAD_LOGIN)) => Some(Reason::WrongLogin),
                    _ => None,
                };
                gate.keeper.refused_login(door, peer, reason, &refusal.reason);
            }
            _ => tracing::warn!(%peer, reason = %refusal.reason, "gate: refused"),
        }
        count_refusal(gate, &refusal);
        if let Some(code) = refusal.connack {
            framing.send_now(&mut to_client, &[0x20, 0x02, 0x00, code]).await?;
        }
        let _ = to_client.shutdown().await;
        // What the client sent after its CONNECT is still unread (a viewer subscribes
        // before the answer comes): closed with it, the socket sends a reset, and a
        // browser that had not read the CONNACK yet loses it ("connection closed (1006)"
        // instead of "refused", seen once in CI). Read it away first, briefly.
        let mut sink = [0u8; 4096];
        let drain = async { while matches!(from_client.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), drain).await;
        return Ok(());
    }
    if guessed && inspector.authenticated() {
        gate.keeper.succeeded(peer.ip());
    }

    let upstream = TcpStream::connect(gate.upstream).await?;
    upstream.set_nodelay(true)?;
    let (from_broker, mut to_broker) = upstream.into_split();
    // Off the fan-out's lists however the relay ends.
    let member = Member { fanout: gate.fanout.as_ref(), viewer: NEXT_VIEWER.fetch_add(1, Relaxed) };
    member.apply(inspector.take_streams(), &mailbox);
    to_broker.write_all(&out).await?;

    let up = async {
        while framing.read(&mut from_client, &mut data, &mailbox).await? {
            out.clear();
            if let Err(refusal) = inspector.feed(&data, &mut out) {
                tracing::warn!(%peer, reason = %refusal.reason, "gate: closed a connection");
                count_refusal(gate, &refusal);
                return Ok(());
            }
            member.apply(inspector.take_streams(), &mailbox);
            to_broker.write_all(&out).await?;
        }
        if framing.closing {
            // The writer ends the relay once the answer to the close is out.
            std::future::pending::<()>().await;
        }
        Ok(())
    };
    // Broker to client through the outbox, which never holds more than a frame or two:
    // a client that stops reading loses old frames there, instead of rumqttd queueing
    // up to 200 of them for it (tens of MB per stalled client at 720p). The fan-out
    // puts the frames of the streams it serves in the same outbox.
    let from_broker_to_outbox = async {
        let mut from_broker = from_broker;
        let mut buf = bytes::BytesMut::new();
        loop {
            for packet in fanout::packets(&mut from_broker, &mut buf, 8 * 1024).await? {
                mailbox.post_from_broker(packet);
            }
        }
    };
    let outbox_to_client = write_out(&mut to_client, &mailbox, websocket, meter);
    tokio::select! {
        r = up => r,
        r = from_broker_to_outbox => r,
        r = outbox_to_client => r,
    }
}

/// Numbers the viewers for the fan-out's lists.
static NEXT_VIEWER: AtomicU64 = AtomicU64::new(1);

/// A viewer's place in the fan-out (if the gate has one): joins and leaves as its
/// packets ask, and leaves everything when dropped.
struct Member<'a> {
    fanout: Option<&'a Arc<Fanout>>,
    viewer: u64,
}

impl Member<'_> {
    fn apply(&self, changes: Vec<Stream>, mailbox: &Arc<Mailbox>) {
        let Some(fanout) = self.fanout else { return };
        for change in changes {
            match change {
                Stream::Join(topic) => fanout.join(&topic, self.viewer, mailbox),
                Stream::Leave(topic) => fanout.leave(&topic, self.viewer),
            }
        }
    }
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        if let Some(fanout) = self.fanout {
            fanout.leave_all(self.viewer);
        }
    }
}

/// Counts a refused CONNECT, or a connection closed for a packet its login may not send.
fn count_refusal(gate: &Gate, refusal: &Refusal) {
    let meter = &gate.policy.meter;
    let counter = match (refusal.connack, refusal.denied) {
        (Some(_), _) => &meter.refused_logins,
        (None, Some(Denied::Publish)) => &meter.refused_publishes,
        (None, Some(Denied::Subscribe)) => &meter.refused_subscribes,
        (None, None) => return,
    };
    counter.fetch_add(1, Relaxed);
}

/// A client that has not finished its CONNECT within [`CONNECT_TIMEOUT`].
fn no_connect() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "no CONNECT within 10 s")
}

/// Whether `head` holds the client's whole first packet (or clearly too big or
/// malformed a one, for the inspector to refuse).
fn whole_first_packet(head: &[u8]) -> bool {
    match fixed_header(head) {
        Ok(Some((h, b))) => head.len() >= h + b || h + b > VIEWER_MAX_PACKET,
        Err(_) => true,
        Ok(None) => false,
    }
}
