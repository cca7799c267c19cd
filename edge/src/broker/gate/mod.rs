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
//! edge's own publisher connects to rumqttd directly, as the trusted party.
//!
//! - `inspect`: the decisions, sans I/O and unit-tested: packet framing, logins, topic
//!   permissions, and telling the watchers what clients subscribe to.
//! - `outbox`: the slow client's queue, where frames give way.
//! - `websocket`: the WebSocket handshake (origin check, `mqtt` subprotocol).
//! - this module: the listeners, TLS, and the relay between a client and rumqttd, which
//!   only moves bytes.

mod inspect;
mod outbox;
mod websocket;

use std::{
    net::SocketAddr,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::TlsAcceptor;

use super::origin::Origins;
use crate::{
    doors::{self, limit::ConnLimit, Door, Doorkeeper, Reason},
    sync::lock,
};
use inspect::{
    carries_password, fixed_header, Inspector, Refusal, BAD_LOGIN, NOT_AUTHORIZED, VIEWER_MAX_PACKET,
};
pub use inspect::{Denied, Login, Policy, Role};
use outbox::Outbox;

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
}

impl Gate {
    pub fn new(
        policy: Policy,
        origins: Origins,
        upstream: SocketAddr,
        tls: Option<TlsAcceptor>,
        keeper: Arc<Doorkeeper>,
    ) -> Self {
        Gate { policy: Arc::new(policy), origins, upstream, tls, keeper, refused_origins: Default::default() }
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
    let door = flavour.door();
    match (&gate.tls, flavour) {
        (None, Flavour::Tcp) => relay(stream, gate, peer, door).await,
        (None, Flavour::WebSocket) => relay(websocket(stream, gate, peer).await?, gate, peer, door).await,
        (Some(tls), flavour) => {
            let secure =
                tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await.map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            match flavour {
                Flavour::Tcp => relay(secure, gate, peer, door).await,
                Flavour::WebSocket => relay(websocket(secure, gate, peer).await?, gate, peer, door).await,
            }
        }
    }
}

/// The WebSocket handshake for `gate`'s listener (see [`websocket::accept`]).
async fn websocket<S>(
    stream: S,
    gate: &Gate,
    peer: SocketAddr,
) -> std::io::Result<impl AsyncRead + AsyncWrite + Unpin + Send>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    websocket::accept(stream, &gate.origins, &|origin| gate.refused_origin(origin, peer), CONNECT_TIMEOUT)
        .await
}

/// Checks the client's CONNECT, then relays both ways until either side closes.
async fn relay<S>(client: S, gate: &Gate, peer: SocketAddr, door: Door) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let mut inspector = Inspector::new(gate.policy.clone());
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();

    // Nothing reaches the broker before the login is checked; an address that keeps
    // giving wrong passwords (at any door) waits before its next one is even looked at.
    let first = tokio::time::timeout(CONNECT_TIMEOUT, first_packet(&mut from_client, &mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no CONNECT within 10 s"))??;
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
        Ok(()) => check_connect(&mut inspector, &first, &mut from_client, &mut buf, &mut out).await?,
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
            to_client.write_all(&[0x20, 0x02, 0x00, code]).await?;
            to_client.flush().await?;
        }
        let _ = to_client.shutdown().await;
        // What the client sent after its CONNECT is still unread (a viewer subscribes
        // before the answer comes): closed with it, the socket sends a reset, and a
        // browser that had not read the CONNACK yet loses it ("connection closed (1006)"
        // instead of "refused", seen once in CI). Read it away first, briefly.
        let drain = async { while matches!(from_client.read(&mut buf).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), drain).await;
        return Ok(());
    }
    if guessed && inspector.authenticated() {
        gate.keeper.succeeded(peer.ip());
    }

    let upstream = TcpStream::connect(gate.upstream).await?;
    upstream.set_nodelay(true)?;
    let (from_broker, mut to_broker) = upstream.into_split();
    to_broker.write_all(&out).await?;

    let up = async {
        loop {
            let n = from_client.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            out.clear();
            if let Err(refusal) = inspector.feed(&buf[..n], &mut out) {
                tracing::warn!(%peer, reason = %refusal.reason, "gate: closed a connection");
                count_refusal(gate, &refusal);
                return Ok(());
            }
            to_broker.write_all(&out).await?;
        }
    };
    // Broker to client through an outbox that never holds more than a frame or two: a
    // client that stops reading loses old frames here, instead of rumqttd queueing up
    // to 200 of them for it (tens of MB per stalled client at 720p).
    let outbox = std::sync::Mutex::new(Outbox::default());
    let ready = tokio::sync::Notify::new();
    let from_broker_to_outbox = async {
        let mut from_broker = from_broker;
        let mut buf = bytes::BytesMut::with_capacity(64 * 1024);
        loop {
            let n = from_broker.read_buf(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            let mut pushed = false;
            loop {
                let (header_len, body_len) = match fixed_header(&buf) {
                    Ok(Some(h)) => h,
                    Ok(None) => break,
                    Err(e) => return Err(std::io::Error::other(e.reason)),
                };
                let total = header_len + body_len;
                if buf.len() < total {
                    buf.reserve(total - buf.len());
                    break;
                }
                let dropped = lock(&outbox).push(buf.split_to(total).freeze());
                if dropped > 0 {
                    tracing::debug!(%peer, dropped, "gate: a slow client missed frames");
                }
                pushed = true;
            }
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(64 * 1024);
            }
            if pushed {
                ready.notify_one();
            }
        }
    };
    let outbox_to_client = async {
        loop {
            let batch = lock(&outbox).take(256 * 1024);
            if batch.is_empty() {
                ready.notified().await;
                continue;
            }
            // One write per packet: over WebSocket, one message per MQTT packet.
            for packet in batch {
                to_client.write_all(&packet).await?;
                gate.policy.meter.bytes_out.fetch_add(packet.len() as u64, Relaxed);
            }
            to_client.flush().await?;
        }
    };
    tokio::select! {
        r = up => r,
        r = from_broker_to_outbox => r,
        r = outbox_to_client => r,
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

/// Reads until the client's first packet is whole (or clearly too big or malformed, for
/// the inspector to refuse); returns every byte read.
async fn first_packet<R: AsyncRead + Unpin>(from_client: &mut R, buf: &mut [u8]) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        match fixed_header(&head) {
            Ok(Some((h, b))) if head.len() >= h + b || h + b > VIEWER_MAX_PACKET => return Ok(head),
            Err(_) => return Ok(head),
            _ => {}
        }
        let n = from_client.read(buf).await?;
        if n == 0 {
            return Ok(head);
        }
        head.extend_from_slice(&buf[..n]);
    }
}

/// Feeds the first bytes to the inspector, reading more until it decides on the CONNECT.
async fn check_connect<R: AsyncRead + Unpin>(
    inspector: &mut Inspector,
    first: &[u8],
    from_client: &mut R,
    buf: &mut [u8],
    out: &mut Vec<u8>,
) -> std::io::Result<Result<(), Refusal>> {
    if let Err(refusal) = inspector.feed(first, out) {
        return Ok(Err(refusal));
    }
    while inspector.role().is_none() {
        let n = tokio::time::timeout(CONNECT_TIMEOUT, from_client.read(buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no CONNECT within 10 s"))??;
        if n == 0 {
            return Ok(Err(Refusal::close("closed before CONNECT")));
        }
        if let Err(refusal) = inspector.feed(&buf[..n], out) {
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(()))
}
