//! The rumqttc event loop of a camera's connection, driven on a task of its own:
//! reconnects (to the next broker at once when there are several, with backoff once
//! all have failed: [`Failover`]), subscribes again on every connection, hands what viewers
//! send to the [`Inbox`], and reports the session and every PUBLISH written to the
//! socket, which the frame loop waits on through its [`Link`].

use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS, SubscribeFilter};
use tokio::sync::watch;

use super::{client::address, failover::Failover, inbox::Inbox};
use crate::{backoff::Backoff, clock};

/// How waiting for a packet to be written ended.
pub(super) enum Sent {
    Written,
    /// The connection dropped first; the packet may or may not have gone out.
    Disconnected,
    Shutdown,
}

/// The publisher's view of the connection: which session is up (`None` = down) and how
/// many PUBLISH packets rumqttc has written so far.
pub(super) struct Link {
    pub(super) session: watch::Receiver<Option<u64>>,
    pub(super) written: watch::Receiver<u64>,
}

impl Link {
    /// Publishes and waits until rumqttc has written the packet to the socket.
    pub(super) async fn send(
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

/// Polls the rumqttc event loop until our DISCONNECT: reconnects (see [`Failover`]) and
/// reports the session and how many PUBLISH packets have been written. `brokers` are
/// the options for each broker URL, in failover order; the event loop starts on the
/// first.
pub(super) async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    inbox: Inbox,
    brokers: Vec<rumqttc::MqttOptions>,
    session: watch::Sender<Option<u64>>,
    written: watch::Sender<u64>,
) {
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), crate::backoff::seed());
    let mut failover = Failover::new(brokers.len(), 0, backoff);
    let mut broker = address(&eventloop.mqtt_options);
    let (mut failures, mut sessions) = (0u32, 0u64);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(%broker, "connected to broker");
                failover.connected();
                failures = 0;
                sessions += 1;
                session.send_replace(Some(sessions));
                // rumqttc does not resubscribe after a reconnect.
                let filters = inbox.filters().map(|f| SubscribeFilter::new(f, QoS::AtMostOnce));
                let _ = client.try_subscribe_many(filters);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Some((topic, reply)) = inbox.receive(&p.topic, &p.payload, clock::now_us()) {
                    // Never waits: a reply that finds the queue full is dropped and the
                    // viewer asks again.
                    let _ = client.try_publish(topic, QoS::AtMostOnce, false, reply);
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
                let next = failover.failed();
                let delay = next.wait;
                failures += 1;
                let failed = std::mem::replace(&mut broker, address(&brokers[next.broker]));
                // One line per outage at warn, then quieter while it lasts.
                if was_connected || failures == 1 {
                    tracing::warn!(broker = %failed, error = %e, next = %broker, "broker connection failed; retrying");
                } else {
                    tracing::debug!(broker = %failed, error = %e, next = %broker, retry_in_ms = delay.as_millis() as u64, "still no broker");
                }
                if brokers.len() > 1 {
                    // The client, its last will and login stay; only the address changes.
                    eventloop.mqtt_options = brokers[next.broker].clone();
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
    use rumqttc::MqttOptions;

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
}
