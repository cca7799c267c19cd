//! Publishing a camera's frames to the broker with rumqttc, newest frame first.
//!
//! Flow control is what keeps latency bounded. The encoders put each frame in the
//! camera's newest-frame slot ([`crate::frame::newest`]), replacing one not taken yet; this
//! task takes the newest frame from it, hands it to rumqttc (a short request queue) and
//! then waits until rumqttc reports the PUBLISH written to the socket before taking the
//! next. So at most one frame is on its way at any time;
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
//!
//! - [`client`]: connection options from the broker URL and login; the startup probe;
//!   the camera's topics.
//! - `driver`: the rumqttc event loop on its own task: reconnects, subscriptions, and
//!   what has been written to the socket.
//! - [`failover`]: which broker next, when there are several, and when to back off.
//! - [`connection`]: the same failover for the edge's other connections (the directory,
//!   the events), driven from their own loops.
//! - `inbox`: what viewers send (acknowledgements, `watch`, clock requests).
//! - [`flow`]: flow control towards viewers, a window per rendition.
//! - this module: the frame loop: status, then frames as flow control lets them go.

pub mod client;
pub mod connection;
mod driver;
pub mod failover;
pub mod flow;
mod inbox;

pub use client::{options, probe, probe_each, Topics};

use std::{
    sync::{atomic::Ordering::Relaxed, Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS};
use tokio::sync::{watch, Notify};
use wire::ack::Rendition;

use crate::{
    clock,
    frame::{EncodedFrame, FrameReceiver, SourceStatus},
    meter::Meter,
    sync::lock,
};
use driver::{drive, Link, Sent};
use flow::{ByRendition, Gate};
use inbox::Inbox;

/// How the publisher connects and behaves.
pub struct Settings {
    /// One per broker URL, in failover order: the first is connected to first.
    pub brokers: Vec<MqttOptions>,
    /// Socket send buffer in bytes (bounds what waits in the kernel).
    pub send_buffer: u32,
    pub topics: Topics,
    /// Frames each acknowledging viewer may have unacknowledged (0 = no flow control).
    pub viewer_window: usize,
    /// Whether the broker surely hands a new subscriber the retained frame (ours does;
    /// a cluster may not: see `flow::ByRendition::retained_arrives`).
    pub retained_arrives: bool,
    /// Told of acknowledgements and `watch` messages: who watches this camera.
    pub watchers: Option<Arc<crate::watch::Watchers>>,
    /// The smaller renditions' slots (half, quarter), those this camera makes.
    pub smaller: Vec<(Rendition, FrameReceiver)>,
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
    /// Since this stream's last frame went out, one waited for its viewers: the next
    /// one says so (`wire::flags::HELD`).
    waited: bool,
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
    Settings { mut brokers, send_buffer, topics, viewer_window, retained_arrives, watchers, smaller }: Settings,
    slot: FrameReceiver,
    previews: FrameReceiver,
    mut status: watch::Receiver<SourceStatus>,
    meter: Arc<Meter>,
    mut shutdown: watch::Receiver<bool>,
) {
    let gone = SourceStatus::Offline("edge disconnected".into()).payload(clock::now_us());
    for opts in &mut brokers {
        opts.set_last_will(LastWill::new(topics.status.clone(), gone.clone(), QoS::AtLeastOnce, true));
    }
    // A short request queue: frames wait in the slot, not in rumqttc (the publisher
    // sends one and waits for it to be written); the spare places are for clock replies.
    let (client, mut eventloop) = AsyncClient::new(brokers[0].clone(), 4);
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
    let viewers = Arc::new(Mutex::new(ByRendition::new(viewer_window).retained_arrives(retained_arrives)));
    let acked = Arc::new(Notify::new());
    let inbox = Inbox::new(&topics, watchers, viewers.clone(), acked.clone());
    let driver = tokio::spawn(drive(eventloop, client.clone(), inbox, brokers, session_tx, written_tx));
    let mut link = Link { session, written };

    // The full stream first, then the smaller ones, largest first.
    let mut streams: Vec<Stream> = std::iter::once((Rendition::Full, slot))
        .chain(smaller)
        .map(|(rendition, slot)| Stream { rendition, slot, held: None, last_sequence: None, waited: false })
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
        for (s, c) in streams.iter_mut().zip(&closed) {
            s.waited |= c.is_some() && s.held.is_some();
        }
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
            let published_us = clock::now_us();
            let captured_us = wire::parse(&frame.payload).map(|(h, _)| h.capture_us).ok();
            wire::FrameHeader::stamp_published(&mut frame.payload, published_us);
            // Whether the way to this stream's viewers was full since its last frame (a
            // frame waited, was replaced, or was not made): viewers tell a full link
            // from a slow camera by it, and move up only when it has room.
            let held = std::mem::take(&mut stream.waited) | stream.slot.take_skipped();
            let flags = wire::flags::HOLDS_REPORTED | if held { wire::flags::HELD } else { 0 };
            wire::FrameHeader::stamp_flags(&mut frame.payload, flags);
            let (bytes, payload) = (frame.payload.len() as u64, Bytes::from(frame.payload));
            // Waiting until this frame is on the socket before taking the next one is the
            // "at most one frame in flight" rule.
            // The full stream is retained, so a viewer that opens the page gets a picture
            // at once instead of waiting for the next capture (the broker keeps only the
            // newest). The smaller ones are watched only by viewers already receiving.
            let retain = rendition == Rendition::Full;
            // For `/snapshot`: the same buffer, by reference count.
            let kept = retain.then(|| payload.clone());
            match link
                .send(&client, topics.of(rendition), QoS::AtMostOnce, retain, payload, &mut shutdown)
                .await
            {
                Sent::Written => {
                    if let Some(kept) = kept {
                        meter.newest.keep(kept);
                    }
                    if rendition == Rendition::Full {
                        meter.published.fetch_add(1, Relaxed);
                        meter.published_bytes.fetch_add(bytes, Relaxed);
                        if let Some(captured_us) = captured_us {
                            meter.note_publish_latency(published_us.saturating_sub(captured_us));
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameSender;
    use rumqttc::Packet;

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
                brokers: vec![opts],
                send_buffer: 64 * 1024,
                topics: Topics::new("mqcam", "t"),
                viewer_window: 0,
                retained_arrives: true,
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
