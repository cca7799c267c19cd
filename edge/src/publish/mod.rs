//! Publishing frames to the broker with rumqttc, newest frame first.
//!
//! Flow control is what keeps latency bounded. The capture thread overwrites a one-frame
//! slot (a `watch` channel); this task takes the newest frame from it, hands it to
//! rumqttc (request queue of 1) and then waits until rumqttc reports the PUBLISH written
//! to the socket before taking the next. So at most one frame is on its way at any time;
//! while the network is busy, newer frames replace older ones in the slot and the
//! replaced ones are counted as dropped (the gap in sequence numbers). Nothing queues.
//!
//! A camera's smaller renditions (`half`, `quarter`) go out on the same connection, each
//! from its own slot under its own flow control (`flow::ByRendition`), not retained: one
//! frame on the way at a time over all of them, the smallest first when several are
//! ready, and a rendition whose viewers are behind holds its newest frame without
//! holding back the others.
//!
//! The camera's status (online, offline and why) is a retained message on its status
//! topic, re-sent on every reconnect, with an "edge disconnected" last will, so a viewer
//! can tell a stopped camera from a frozen picture.

pub mod flow;

use std::{
    sync::{atomic::Ordering::Relaxed, Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter,
    TlsConfiguration, Transport,
};
use tokio::sync::{watch, Notify};
use wire::ack::{Ack, Rendition};

use crate::{
    backoff::Backoff,
    broker::MAX_PAYLOAD,
    clock,
    config::BrokerUrl,
    frame::{EncodedFrame, FrameReceiver, SourceStatus},
    meter::Meter,
    sync::lock,
};
use flow::{ByRendition, Gate};

/// rumqttc options for a broker URL, a login and, for mqtts:// and wss://, the TLS
/// client settings (required for those).
pub fn options(
    url: &BrokerUrl,
    client_id: &str,
    login: Option<(String, String)>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> MqttOptions {
    let tls = || TlsConfiguration::Rustls(tls.clone().expect("TLS settings for a TLS broker URL"));
    let mut opts = match url {
        BrokerUrl::Tcp { host, port, tls: secure } => {
            let mut o = MqttOptions::new(client_id, host.clone(), *port);
            if *secure {
                o.set_transport(Transport::Tls(tls()));
            }
            o
        }
        BrokerUrl::Ws { url, tls: secure } => {
            // rumqttc takes the whole URL as the host for WebSocket and ignores the port.
            let mut o = MqttOptions::new(client_id, url.clone(), 0);
            o.set_transport(if *secure { Transport::Wss(tls()) } else { Transport::Ws });
            o
        }
    };
    if let Some((username, password)) = login {
        opts.set_credentials(username, password);
    }
    // rumqttd's WebSocket listener refuses keep-alive 0; 15 s notices a dead broker soon.
    opts.set_keep_alive(Duration::from_secs(15));
    // rumqttc's default limit is 10 KiB: a frame is 100× that.
    opts.set_max_packet_size(MAX_PAYLOAD + 1024, MAX_PAYLOAD + 1024);
    opts
}

/// Connects to an external broker once, with the edge's settings, and says in one line
/// why that failed: unreachable, TLS, or a refused login.
pub async fn probe(opts: &MqttOptions) -> Result<(), crate::EdgeError> {
    let mut opts = opts.clone();
    opts.set_client_id(format!("{}-probe", opts.client_id()));
    opts.set_clean_session(true);
    let (host, port) = opts.broker_address();
    let (client, mut eventloop) = AsyncClient::new(opts, 1);
    let broker = if port == 0 { host } else { format!("{host}:{port}") };
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let reason = match outcome {
        Ok(Ok(())) => {
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
            return Ok(());
        }
        Err(_) => "no answer within 10 s".to_string(),
        Ok(Err(rumqttc::ConnectionError::ConnectionRefused(code))) => match code {
            rumqttc::ConnectReturnCode::BadUserNamePassword => {
                "it refused the login: wrong --username or --password".to_string()
            }
            rumqttc::ConnectReturnCode::NotAuthorized => {
                "it refused the connection: not authorized (a login needed? --username/--password)"
                    .to_string()
            }
            other => format!("it refused the connection: {other:?}"),
        },
        Ok(Err(e)) => e.to_string(),
    };
    Err(crate::EdgeError::Config(format!("cannot connect to broker {broker}: {reason}")))
}

/// Topics one edge publishes on.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
    pub camera: String,
    pub frame: String,
    /// The smaller renditions' topics.
    pub half: String,
    pub quarter: String,
    /// The small, slow rendition for grid tiles.
    pub preview: String,
    /// Retained online/offline status; also the last will.
    pub status: String,
}

impl Topics {
    /// A rendition's topic.
    pub fn of(&self, rendition: Rendition) -> &str {
        match rendition {
            Rendition::Full => &self.frame,
            Rendition::Half => &self.half,
            Rendition::Quarter => &self.quarter,
        }
    }

    pub fn new(prefix: &str, camera: &str) -> Self {
        Topics {
            prefix: prefix.to_string(),
            camera: camera.to_string(),
            frame: wire::topic::frame(prefix, camera),
            half: wire::topic::rendition(prefix, camera, Rendition::Half),
            quarter: wire::topic::rendition(prefix, camera, Rendition::Quarter),
            preview: wire::topic::preview(prefix, camera),
            status: wire::topic::status(prefix, camera),
        }
    }
}

/// How the publisher connects and behaves.
pub struct Settings {
    pub opts: MqttOptions,
    /// Socket send buffer in bytes (bounds what waits in the kernel).
    pub send_buffer: u32,
    pub topics: Topics,
    /// Frames each acknowledging viewer may have unacknowledged (0 = no flow control).
    pub viewer_window: usize,
    /// Told of acknowledgements and `watch` messages: who watches this camera.
    pub watchers: Option<Arc<crate::watch::Watchers>>,
    /// The smaller renditions' slots (half, quarter), those this camera makes.
    pub smaller: Vec<(Rendition, FrameReceiver)>,
}

/// How waiting for a packet to be written ended.
enum Sent {
    Written,
    /// The connection dropped first; the packet may or may not have gone out.
    Disconnected,
    Shutdown,
}

/// The publisher's view of the connection: which session is up (`None` = down) and how
/// many PUBLISH packets rumqttc has written so far.
struct Link {
    session: watch::Receiver<Option<u64>>,
    written: watch::Receiver<u64>,
}

impl Link {
    /// Publishes and waits until rumqttc has written the packet to the socket.
    async fn send(
        &mut self,
        client: &AsyncClient,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Sent {
        let before = *self.written.borrow_and_update();
        if client.publish_bytes(topic, qos, retain, payload).await.is_err() {
            return Sent::Shutdown; // the event loop is gone
        }
        loop {
            tokio::select! {
                _ = self.written.changed() => if *self.written.borrow_and_update() > before { return Sent::Written },
                _ = self.session.changed() => if self.session.borrow_and_update().is_none() { return Sent::Disconnected },
                _ = shutdown.changed() => return Sent::Shutdown,
            }
        }
    }
}

/// One rendition's way out: its slot, and the frame taken from it but not sent yet.
struct Stream {
    rendition: Rendition,
    slot: FrameReceiver,
    /// Taken, but its viewers are behind: held until they catch up, replaced by newer
    /// frames meanwhile (taking them keeps the slot free, so the encoders go on making
    /// the newest).
    held: Option<EncodedFrame>,
    last_sequence: Option<u64>,
}

/// Waits for a frame in `slot`, or forever without one.
async fn take(slot: Option<&FrameReceiver>) -> EncodedFrame {
    match slot {
        Some(s) => s.take().await,
        None => std::future::pending().await,
    }
}

/// Publishes frames from `slot` (and the smaller renditions' slots in the settings),
/// previews from `previews` and the source's status until `shutdown` turns true.
pub async fn run(
    Settings { mut opts, send_buffer, topics, viewer_window, watchers, smaller }: Settings,
    slot: FrameReceiver,
    previews: FrameReceiver,
    mut status: watch::Receiver<SourceStatus>,
    meter: Arc<Meter>,
    mut shutdown: watch::Receiver<bool>,
) {
    let gone = SourceStatus::Offline("edge disconnected".into()).payload(clock::now_us());
    opts.set_last_will(LastWill::new(topics.status.clone(), gone, QoS::AtLeastOnce, true));
    let broker = format!("{}:{}", opts.broker_address().0, opts.broker_address().1);
    // A short request queue: frames wait in the slot, not in rumqttc (the publisher
    // sends one and waits for it to be written); the spare places are for clock replies.
    let (client, mut eventloop) = AsyncClient::new(opts, 4);
    // Nagle would hold each frame's last partial segment until the previous one is
    // acknowledged (up to a delayed-ACK timeout): latency for nothing.
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    // rumqttc reports a PUBLISH as written once the kernel has taken it. Left to
    // autotuning, the kernel would take megabytes, i.e. seconds of video on a slow
    // uplink, and dropping stale frames here would achieve nothing. A small send buffer
    // keeps that backlog to a fraction of a second (Linux doubles the value given).
    network.set_tcp_send_buffer_size(send_buffer);
    eventloop.set_network_options(network);
    let (session_tx, session) = watch::channel(None);
    let (written_tx, written) = watch::channel(0u64);
    let viewers = Arc::new(Mutex::new(ByRendition::new(viewer_window)));
    let acked = Arc::new(Notify::new());
    let driver = tokio::spawn(drive(
        eventloop,
        client.clone(),
        topics.clone(),
        watchers,
        viewers.clone(),
        acked.clone(),
        broker,
        session_tx,
        written_tx,
    ));
    let mut link = Link { session, written };

    // The full stream first, then the smaller ones, largest first.
    let mut streams: Vec<Stream> = std::iter::once((Rendition::Full, slot))
        .chain(smaller)
        .map(|(rendition, slot)| Stream { rendition, slot, held: None, last_sequence: None })
        .collect();
    // The session the retained status was last published in; a new session (reconnect)
    // publishes it again, since the last will may have replaced it meanwhile.
    let mut status_session: Option<u64> = None;
    // The session whose frames are being published; see below.
    let mut frames_session: Option<u64> = None;
    'frames: loop {
        let Some(session) = *link.session.borrow_and_update() else {
            tokio::select! {
                _ = link.session.changed() => continue,
                _ = shutdown.changed() => break,
            }
        };
        if frames_session != Some(session) {
            // A frame waiting in a slot now was put there before this connection
            // began: while the broker was away nobody took it, and the pipeline encodes
            // nothing new while one waits, so it is as old as the outage (seconds).
            // Drop it; the next one is fresh.
            for s in &mut streams {
                s.slot.try_take();
                s.held = None;
            }
            frames_session = Some(session);
        }
        if status_session != Some(session) || status.has_changed().unwrap_or(false) {
            let payload = status.borrow_and_update().payload(clock::now_us());
            match link
                .send(&client, &topics.status, QoS::AtLeastOnce, true, payload.into(), &mut shutdown)
                .await
            {
                Sent::Written => status_session = Some(session),
                Sent::Disconnected => continue,
                Sent::Shutdown => break,
            }
            continue;
        }
        // Flow control, per rendition: while one of its viewers is `viewer_window`
        // frames behind, a rendition holds its newest frame.
        let now = Instant::now();
        let closed: Vec<Option<Instant>> = {
            let viewers = lock(&viewers);
            streams
                .iter()
                .map(|s| match viewers.get(s.rendition).gate(now) {
                    Gate::Wait(until) => Some(until),
                    Gate::Open => None,
                })
                .collect()
        };
        // A frame that may go now goes, the smallest rendition's first: it delays a
        // larger one least.
        if let Some(i) = (0..streams.len()).rev().find(|&i| streams[i].held.is_some() && closed[i].is_none())
        {
            let stream = &mut streams[i];
            let Some(mut frame) = stream.held.take() else { continue };
            if stream.rendition == Rendition::Full {
                if let Some(last) = stream.last_sequence {
                    meter.dropped.fetch_add(frame.sequence.saturating_sub(last + 1), Relaxed);
                }
            }
            stream.last_sequence = Some(frame.sequence);
            let (sequence, rendition) = (frame.sequence, stream.rendition);
            wire::FrameHeader::stamp_published(&mut frame.payload, clock::now_us());
            let (bytes, payload) = (frame.payload.len() as u64, Bytes::from(frame.payload));
            // Waiting until this frame is on the socket before taking the next one is the
            // "at most one frame in flight" rule.
            // The full stream is retained, so a viewer that opens the page gets a picture
            // at once instead of waiting for the next capture (the broker keeps only the
            // newest). The smaller ones are watched only by viewers already receiving.
            let retain = rendition == Rendition::Full;
            match link
                .send(&client, topics.of(rendition), QoS::AtMostOnce, retain, payload, &mut shutdown)
                .await
            {
                Sent::Written => {
                    if rendition == Rendition::Full {
                        meter.published.fetch_add(1, Relaxed);
                        meter.published_bytes.fetch_add(bytes, Relaxed);
                    }
                    meter.rendition(rendition).published(bytes);
                    lock(&viewers).get_mut(rendition).published(sequence);
                }
                Sent::Disconnected => continue 'frames,
                Sent::Shutdown => break 'frames,
            }
            continue;
        }
        // While a rendition's viewer is behind (or it holds a frame), it wants none yet:
        // a source that makes frames on request makes the next when it can go out, not
        // to wait here getting older.
        for (s, c) in streams.iter().zip(&closed) {
            s.slot.set_holding(c.is_some() || s.held.is_some());
        }
        let until = closed.iter().flatten().min().copied();
        let taken = tokio::select! {
            f = take(streams.first().map(|s| &s.slot)) => Some((0, f)),
            f = take(streams.get(1).map(|s| &s.slot)) => Some((1, f)),
            f = take(streams.get(2).map(|s| &s.slot)) => Some((2, f)),
            // Previews are small and few (a grid's tiles): no flow control, retained so
            // a grid fills at once.
            p = previews.take() => {
                let mut payload = p.payload;
                wire::FrameHeader::stamp_published(&mut payload, clock::now_us());
                let payload = Bytes::from(payload);
                match link.send(&client, &topics.preview, QoS::AtMostOnce, true, payload, &mut shutdown).await {
                    Sent::Written => meter.previews.fetch_add(1, Relaxed),
                    Sent::Disconnected => continue 'frames,
                    Sent::Shutdown => break 'frames,
                };
                None
            }
            _ = acked.notified(), if until.is_some() => None,
            _ = tokio::time::sleep_until(until.unwrap_or(now).into()), if until.is_some() => None,
            // `changed()` marks the new status seen: mark it unseen again, or the check
            // above would never publish it.
            _ = status.changed() => {
                status.mark_changed();
                None
            }
            _ = shutdown.changed() => break,
            // Re-check the connection if it drops while no frame comes.
            _ = link.session.changed() => None,
        };
        // The newest wins: a frame held for slow viewers is replaced (counted as dropped
        // by the gap in sequence numbers when the next one goes).
        if let Some((i, frame)) = taken {
            streams[i].held = Some(frame);
        }
    }
    // Say goodbye properly: viewers learn the camera stopped, rather than waiting for
    // the will (which a clean DISCONNECT cancels). Bounded: a dead broker cannot hold
    // up the exit.
    let goodbye = async {
        if link.session.borrow().is_some() {
            let stopped = SourceStatus::Offline("edge stopped".into()).payload(clock::now_us());
            let (_keep, mut never) = watch::channel(false);
            // Clear the retained frame: a stopped camera should not greet new viewers
            // with an old picture.
            link.send(&client, &topics.frame, QoS::AtMostOnce, true, Bytes::new(), &mut never).await;
            link.send(&client, &topics.preview, QoS::AtMostOnce, true, Bytes::new(), &mut never).await;
            link.send(&client, &topics.status, QoS::AtLeastOnce, true, stopped.into(), &mut never).await;
        }
        let _ = client.disconnect().await;
        let _ = driver.await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), goodbye).await;
}

/// Polls the rumqttc event loop until our DISCONNECT: reconnects with backoff and
/// reports the session and how many PUBLISH packets have been written.
#[allow(clippy::too_many_arguments)]
async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    topics: Topics,
    watchers: Option<Arc<crate::watch::Watchers>>,
    viewers: Arc<Mutex<ByRendition>>,
    acked: Arc<Notify>,
    broker: String,
    session: watch::Sender<Option<u64>>,
    written: watch::Sender<u64>,
) {
    let mut backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5), crate::backoff::seed());
    let (mut failures, mut sessions) = (0u32, 0u64);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(%broker, "connected to broker");
                backoff.reset();
                failures = 0;
                sessions += 1;
                session.send_replace(Some(sessions));
                // rumqttc does not resubscribe after a reconnect.
                let filters = [
                    wire::topic::clock_requests(&topics.prefix, &topics.camera),
                    wire::topic::acks(&topics.prefix, &topics.camera),
                    wire::topic::watch(&topics.prefix, &topics.camera),
                ];
                let _ = client.try_subscribe_many(filters.map(|f| SubscribeFilter::new(f, QoS::AtMostOnce)));
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let received_us = clock::now_us();
                if let Some(viewer) = wire::topic::ack_viewer(&p.topic, &topics.prefix, &topics.camera) {
                    if p.payload.is_empty() {
                        // The viewer's last will: it is gone.
                        lock(&viewers).leave(viewer);
                        acked.notify_one();
                    } else if let Some(ack) = Ack::parse(&p.payload) {
                        tracing::trace!(target: "edge::frame", viewer, seq = ack.sequence, window = ?ack.window, rendition = ack.rendition.name(), "ack");
                        // One that says it left the rendition no longer watches it.
                        if let Some(w) = watchers.as_ref().filter(|_| !ack.is_leave()) {
                            let hold = crate::watch::ACK_HOLD_US;
                            w.seen_rendition(&topics.camera, ack.rendition, received_us, hold);
                        }
                        lock(&viewers).ack(viewer, &ack, Instant::now());
                        acked.notify_one();
                    }
                } else if p.topic == wire::topic::watch(&topics.prefix, &topics.camera) {
                    if let Some(w) = &watchers {
                        w.seen(&topics.camera, received_us, crate::watch::WATCH_HOLD_US);
                    }
                } else if let Some(reply_to) =
                    wire::topic::clock_reply_to(&p.topic, &topics.prefix, &topics.camera)
                {
                    // A clock-offset request: answer at once, stamping receive and send time.
                    if let Some(reply) = wire::clock::reply(&p.payload, received_us, clock::now_us()) {
                        // Never waits: a reply that finds the queue full is dropped and
                        // the viewer asks again.
                        let _ = client.try_publish(reply_to, QoS::AtMostOnce, false, reply);
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                written.send_modify(|n| *n += 1);
            }
            // Our own DISCONNECT at shutdown: the broker closing next is not an outage.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                let was_connected = session.send_replace(None).is_some();
                let delay = backoff.next_delay();
                failures += 1;
                // One line per outage at warn, then quieter while it lasts.
                if was_connected || failures == 1 {
                    tracing::warn!(%broker, error = %e, "broker connection failed; retrying");
                } else {
                    tracing::debug!(%broker, error = %e, retry_in_ms = delay.as_millis() as u64, "still no broker");
                }
                tokio::time::sleep(delay).await;
                forget_queued(&mut eventloop);
            }
        }
    }
}

/// Forgets the requests queued for the broker while it was away, before connecting
/// again. rumqttc would send them first on the next connection: a frame the publisher
/// handed over just as the connection failed would arrive seconds late (the status is
/// published again, and the subscriptions made again, on every new connection).
fn forget_queued(eventloop: &mut EventLoop) {
    // Moves what waits in the request channel to `pending`, then drops it all.
    eventloop.clean();
    eventloop.pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameSender;

    #[test]
    fn websocket_urls_become_ws_transport() {
        let o = options(&BrokerUrl::Ws { url: "ws://h:9001/mqtt".into(), tls: false }, "id", None, None);
        assert!(matches!(o.transport(), Transport::Ws));
        assert_eq!(o.broker_address().0, "ws://h:9001/mqtt");
        let o = options(&BrokerUrl::Tcp { host: "h".into(), port: 1884, tls: false }, "id", None, None);
        assert_eq!(o.broker_address(), ("h".to_string(), 1884));
        assert!(o.credentials().is_none());
    }

    #[test]
    fn tls_urls_and_logins_reach_rumqttc() {
        let tls = Some(crate::tls::client_config(None).unwrap_or_else(|_| {
            // No system roots on this machine: any CA file will do for this check.
            let key = rcgen::KeyPair::generate().unwrap();
            let ca = rcgen::CertificateParams::new(vec!["x".into()]).unwrap().self_signed(&key).unwrap();
            let path = std::env::temp_dir().join(format!("edge-publish-test-ca-{}.pem", std::process::id()));
            std::fs::write(&path, ca.pem()).unwrap();
            crate::tls::client_config(Some(&path)).unwrap()
        }));
        let login = Some(("u".to_string(), "p".to_string()));
        let o =
            options(&BrokerUrl::Tcp { host: "h".into(), port: 8883, tls: true }, "id", login, tls.clone());
        assert!(matches!(o.transport(), Transport::Tls(TlsConfiguration::Rustls(_))));
        assert_eq!(o.credentials().map(|l| (l.username, l.password)), Some(("u".into(), "p".into())));
        let o = options(&BrokerUrl::Ws { url: "wss://h/mqtt".into(), tls: true }, "id", None, tls);
        assert!(matches!(o.transport(), Transport::Wss(TlsConfiguration::Rustls(_))));
    }

    /// A minimal MQTT 3.1.1 broker for the publisher's tests: answers CONNECT, SUBSCRIBE,
    /// PINGREQ and QoS 1 PUBLISH, and reports every PUBLISH it gets. While `up` is false
    /// it closes every connection at once (an outage).
    struct FakeBroker {
        port: u16,
        up: watch::Sender<bool>,
        published: tokio::sync::mpsc::UnboundedReceiver<rumqttc::Publish>,
    }

    impl FakeBroker {
        async fn start() -> Self {
            use rumqttc::{
                mqttbytes::Error as WireError, ConnAck, ConnectReturnCode, PingResp, PubAck, SubAck,
            };
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let (up, up_rx) = watch::channel(true);
            let (tx, published) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let (mut up, tx) = (up_rx.clone(), tx.clone());
                    if !*up.borrow_and_update() {
                        continue; // dropped: closed before any CONNACK
                    }
                    tokio::spawn(async move {
                        let (mut inbox, mut out) = (bytes::BytesMut::new(), bytes::BytesMut::new());
                        loop {
                            loop {
                                let reply = match Packet::read(&mut inbox, 1 << 24) {
                                    Ok(Packet::Connect(_)) => {
                                        ConnAck::new(ConnectReturnCode::Success, false).write(&mut out)
                                    }
                                    Ok(Packet::Subscribe(s)) => {
                                        let ok = rumqttc::SubscribeReasonCode::Success(QoS::AtMostOnce);
                                        SubAck::new(s.pkid, s.filters.iter().map(|_| ok).collect())
                                            .write(&mut out)
                                    }
                                    Ok(Packet::Publish(p)) => {
                                        let ack = (p.qos == QoS::AtLeastOnce).then(|| PubAck::new(p.pkid));
                                        let _ = tx.send(p);
                                        match ack {
                                            Some(a) => a.write(&mut out),
                                            None => continue,
                                        }
                                    }
                                    Ok(Packet::PingReq) => PingResp.write(&mut out),
                                    Ok(_) => continue,
                                    Err(WireError::InsufficientBytes(_)) => break,
                                    Err(_) => return,
                                };
                                reply.unwrap();
                            }
                            if !out.is_empty() && socket.write_all(&out.split()).await.is_err() {
                                return;
                            }
                            tokio::select! {
                                n = socket.read_buf(&mut inbox) => if !matches!(n, Ok(n) if n > 0) { return },
                                _ = up.changed() => return, // an outage: drop the connection
                            }
                        }
                    });
                }
            });
            FakeBroker { port, up, published }
        }

        /// The next PUBLISH on `topic` within 5 s.
        async fn next_on(&mut self, topic: &str) -> rumqttc::Publish {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                match tokio::time::timeout_at(deadline, self.published.recv()).await {
                    Ok(Some(p)) if p.topic == topic => return p,
                    Ok(Some(_)) => {}
                    _ => panic!("nothing published on {topic} within 5 s"),
                }
            }
        }

        fn forget_published(&mut self) {
            while self.published.try_recv().is_ok() {}
        }
    }

    /// A publisher for camera `t` connected to a [`FakeBroker`], and what drives it.
    struct Publisher {
        slot: Arc<FrameSender>,
        status: watch::Sender<SourceStatus>,
        shutdown: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Publisher {
        fn start(broker: &FakeBroker) -> Self {
            let mut opts = MqttOptions::new("t", "127.0.0.1", broker.port);
            opts.set_max_packet_size(1 << 20, 1 << 20);
            let settings = Settings {
                opts,
                send_buffer: 64 * 1024,
                topics: Topics::new("mqcam", "t"),
                viewer_window: 0,
                watchers: None,
                smaller: Vec::new(),
            };
            let (slot, frames) = crate::frame::newest();
            let (status, status_rx) = watch::channel(SourceStatus::Starting);
            let (shutdown, shutdown_rx) = watch::channel(false);
            let meter = Arc::new(Meter::default());
            let task =
                tokio::spawn(run(settings, frames, crate::frame::newest().1, status_rx, meter, shutdown_rx));
            Publisher { slot: Arc::new(slot), status, shutdown, task }
        }

        async fn stop(self) {
            self.shutdown.send_replace(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        }
    }

    #[test]
    fn requests_queued_while_the_broker_is_away_are_forgotten() {
        let (client, mut eventloop) = AsyncClient::new(MqttOptions::new("t", "127.0.0.1", 1), 2);
        let frame = |n: u8| client.try_publish("mqcam/t/frame", QoS::AtMostOnce, true, vec![n]);
        frame(1).unwrap();
        frame(2).unwrap();
        assert!(frame(3).is_err(), "the request queue is full");
        forget_queued(&mut eventloop);
        assert!(eventloop.pending.is_empty(), "nothing left to send on reconnecting");
        frame(4).unwrap();
        frame(5).unwrap();
    }

    #[tokio::test]
    async fn a_status_change_while_no_frame_comes_is_published() {
        let mut broker = FakeBroker::start().await;
        let publisher = Publisher::start(&broker);
        let first = broker.next_on("mqcam/t/status").await;
        assert!(String::from_utf8_lossy(&first.payload).contains("\"starting\""));
        // Let the publisher settle into waiting for a frame; then the source comes up,
        // before its first frame is ready (as a camera or the test pattern does).
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.status.send_replace(SourceStatus::Online("test".into()));
        let next = broker.next_on("mqcam/t/status").await;
        let text = String::from_utf8_lossy(&next.payload).into_owned();
        assert!(text.contains("\"online\"") && next.retain, "{text}");
        publisher.stop().await;
    }

    #[tokio::test]
    async fn after_an_outage_no_frame_from_before_it_is_published() {
        let mut broker = FakeBroker::start().await;
        let publisher = Publisher::start(&broker);
        // A 100 fps camera that, like the pipeline, encodes a new frame only once the
        // publisher has taken the last one.
        let slot = publisher.slot.clone();
        let camera = tokio::spawn(async move {
            for sequence in 0.. {
                if !slot.is_full() {
                    let header =
                        wire::FrameHeader { sequence, capture_us: clock::now_us(), ..Default::default() };
                    slot.put(EncodedFrame {
                        sequence,
                        payload: header.encode(&[0xff, 0xd8, 0xff, 0xd9]).unwrap(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        broker.next_on("mqcam/t/frame").await;
        broker.next_on("mqcam/t/frame").await;

        broker.up.send_replace(false);
        tokio::time::sleep(Duration::from_secs(1)).await;
        broker.forget_published();
        let back_us = clock::now_us();
        broker.up.send_replace(true);
        let status = broker.next_on("mqcam/t/status").await;
        assert!(status.retain, "the retained status is published again on reconnecting");
        let frame = broker.next_on("mqcam/t/frame").await;
        let (header, _) = wire::parse(&frame.payload).unwrap();
        assert!(
            header.capture_us >= back_us,
            "the first frame after the outage was captured {} ms before it ended",
            (back_us - header.capture_us) / 1000
        );
        camera.abort();
        publisher.stop().await;
    }
}
