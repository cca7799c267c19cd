//! Publishing frames to the broker with rumqttc, newest frame first.
//!
//! Flow control is what keeps latency bounded. The capture thread overwrites a one-frame
//! slot (a `watch` channel); this task takes the newest frame from it, hands it to
//! rumqttc (request queue of 1) and then waits until rumqttc reports the PUBLISH written
//! to the socket before taking the next. So at most one frame is on its way at any time;
//! while the network is busy, newer frames replace older ones in the slot and the
//! replaced ones are counted as dropped (the gap in sequence numbers). Nothing queues.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, Transport};
use tokio::sync::watch;

use crate::{broker::MAX_PAYLOAD, config::BrokerUrl, meter::Meter};

/// An encoded frame ready to publish: header + JPEG in one buffer.
#[derive(Debug)]
pub struct EncodedFrame {
    pub sequence: u64,
    pub payload: Bytes,
}

/// The newest encoded frame, written by the capture thread, read by the publisher.
pub type FrameSlot = watch::Receiver<Option<Arc<EncodedFrame>>>;

/// Reconnect delays: doubling from 100 ms up to 5 s, with jitter so many edges restarted
/// together do not hit the broker in lockstep.
pub struct Backoff {
    next: Duration,
    seed: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(5);

    pub fn new(seed: u32) -> Self {
        Backoff {
            next: Self::FIRST,
            seed: seed | 1,
        }
    }
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
    /// The next delay: the current step ± 25 %.
    pub fn next_delay(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let jitter = 0.75 + (self.seed % 1000) as f64 / 2000.0;
        let d = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(Self::CAP);
        d
    }
}

/// rumqttc options for a broker URL.
pub fn options(url: &BrokerUrl, client_id: &str) -> MqttOptions {
    let mut opts = match url {
        BrokerUrl::Tcp { host, port } => MqttOptions::new(client_id, host.clone(), *port),
        BrokerUrl::Ws { url } => {
            // rumqttc takes the whole URL as the host for WebSocket and ignores the port.
            let mut o = MqttOptions::new(client_id, url.clone(), 0);
            o.set_transport(Transport::Ws);
            o
        }
    };
    // rumqttd's WebSocket listener refuses keep-alive 0; 15 s notices a dead broker soon.
    opts.set_keep_alive(Duration::from_secs(15));
    // rumqttc's default limit is 10 KiB: a frame is 100× that.
    opts.set_max_packet_size(MAX_PAYLOAD + 1024, MAX_PAYLOAD + 1024);
    opts
}

/// Publishes frames from `slot` on `topic` until `shutdown` turns true.
pub async fn run(
    opts: MqttOptions,
    send_buffer: u32,
    topic: String,
    mut slot: FrameSlot,
    meter: Arc<Meter>,
    mut shutdown: watch::Receiver<bool>,
) {
    let broker = format!("{}:{}", opts.broker_address().0, opts.broker_address().1);
    // Request queue of 1: the slot, not rumqttc, is where frames wait.
    let (client, mut eventloop) = AsyncClient::new(opts, 1);
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
    let (connected_tx, mut connected) = watch::channel(false);
    let (written_tx, mut written) = watch::channel(0u64);
    let driver = tokio::spawn(drive(eventloop, broker, connected_tx, written_tx));

    let mut last_sequence: Option<u64> = None;
    'frames: loop {
        if !*connected.borrow_and_update() {
            tokio::select! {
                _ = connected.changed() => continue,
                _ = shutdown.changed() => break,
            }
        }
        tokio::select! {
            r = slot.changed() => if r.is_err() { break },
            _ = shutdown.changed() => break,
            // Re-check the connection if it drops while no frame comes.
            _ = connected.changed() => continue,
        }
        let Some(frame) = slot.borrow_and_update().clone() else {
            continue;
        };
        if let Some(last) = last_sequence {
            meter.dropped.fetch_add(
                frame.sequence.saturating_sub(last + 1),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        last_sequence = Some(frame.sequence);

        let before = *written.borrow_and_update();
        if client
            .publish_bytes(
                topic.as_str(),
                QoS::AtMostOnce,
                false,
                frame.payload.clone(),
            )
            .await
            .is_err()
        {
            break; // the event loop is gone
        }
        // Wait until this frame is on the socket (or the connection dropped) before
        // taking the next one: this is the "at most one frame in flight" rule.
        loop {
            tokio::select! {
                _ = written.changed() => if *written.borrow_and_update() > before { break },
                _ = connected.changed() => if !*connected.borrow_and_update() { continue 'frames },
                _ = shutdown.changed() => break 'frames,
            }
        }
        meter
            .published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        meter.published_bytes.fetch_add(
            frame.payload.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    let _ = client.try_disconnect();
    // Give the DISCONNECT a moment to go out, then stop the event loop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    driver.abort();
}

/// Polls the rumqttc event loop forever: reconnects with backoff and reports the
/// connection state and how many PUBLISH packets have been written.
async fn drive(
    mut eventloop: EventLoop,
    broker: String,
    connected: watch::Sender<bool>,
    written: watch::Sender<u64>,
) {
    let mut backoff = Backoff::new(std::process::id());
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(%broker, "connected to broker");
                backoff.reset();
                failures = 0;
                connected.send_replace(true);
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                written.send_modify(|n| *n += 1);
            }
            // Our own DISCONNECT at shutdown: the broker closing next is not an outage.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                let was_connected = connected.send_replace(false);
                let delay = backoff.next_delay();
                failures += 1;
                // One line per outage at warn, then quieter while it lasts.
                if was_connected || failures == 1 {
                    tracing::warn!(%broker, error = %e, "broker connection failed; retrying");
                } else {
                    tracing::debug!(%broker, error = %e, retry_in_ms = delay.as_millis() as u64, "still no broker");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(42);
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(75) && delays[0] <= Duration::from_millis(125));
        assert!(delays[1] >= Duration::from_millis(150) && delays[1] <= Duration::from_millis(250));
        for d in &delays[7..] {
            assert!(
                *d >= Duration::from_millis(3750) && *d <= Duration::from_millis(6250),
                "{d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(125));
    }

    #[test]
    fn websocket_urls_become_ws_transport() {
        let o = options(
            &BrokerUrl::Ws {
                url: "ws://h:9001/mqtt".into(),
            },
            "id",
        );
        assert!(matches!(o.transport(), Transport::Ws));
        assert_eq!(o.broker_address().0, "ws://h:9001/mqtt");
        let o = options(
            &BrokerUrl::Tcp {
                host: "h".into(),
                port: 1884,
            },
            "id",
        );
        assert_eq!(o.broker_address(), ("h".to_string(), 1884));
    }
}
