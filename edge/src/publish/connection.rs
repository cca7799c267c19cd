//! A connection of its own to the bus for a task that is not a camera's frame loop (the
//! directory, the events): rumqttc's client and event loop, reconnecting with the
//! [`Failover`] policy over every broker given, as the frame connections do.
//!
//! The task drives it from its own `select!` with [`Connection::next`], which hands out
//! only what such a task acts on (connected, a message, our own disconnect) and deals
//! with failures itself. It is cancel-safe: the wait before the next attempt is kept as
//! a deadline here, so a timer of the task firing meanwhile neither shortens the backoff
//! nor delays the task's own work (or its shutdown) until the wait is over.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish};
use tokio::time::Instant;

use super::{client::address, failover::Failover};
use crate::backoff::Backoff;

/// What happened on the connection, for the task that owns it.
#[derive(Debug)]
pub enum Happened {
    /// The broker accepted the connection (the first, or again after a failure):
    /// subscribe and publish the retained state again, the new broker may have none.
    Connected,
    /// A message on a subscribed topic.
    Message(Publish),
    /// Our own DISCONNECT went out: the task is stopping.
    Closed,
}

/// A client connected, or trying to connect, to one of several brokers.
pub struct Connection {
    /// For the log lines: which task's connection this is.
    name: &'static str,
    client: AsyncClient,
    eventloop: EventLoop,
    /// One per broker URL, in failover order; the first is tried first.
    brokers: Vec<MqttOptions>,
    failover: Failover,
    connected: bool,
    /// When to try the next broker, after a failure.
    retry_at: Option<Instant>,
}

impl Connection {
    /// A connection to the first of `brokers` (at least one), with room for `capacity`
    /// requests queued before `try_publish` refuses. Nothing is sent until
    /// [`Connection::next`] is polled.
    pub fn new(name: &'static str, brokers: Vec<MqttOptions>, capacity: usize) -> Self {
        assert!(!brokers.is_empty(), "a connection needs a broker");
        let (client, eventloop) = AsyncClient::new(brokers[0].clone(), capacity);
        let backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(5), crate::backoff::seed());
        let failover = Failover::new(brokers.len(), 0, backoff);
        Connection { name, client, eventloop, brokers, failover, connected: false, retry_at: None }
    }

    /// The client, to publish and subscribe with (a clone stays usable while
    /// [`Connection::next`] is being polled).
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// Whether the broker has accepted the connection and it has not failed since.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Drives the connection until something happens that the task acts on. A lost or
    /// refused connection moves on to the next broker ([`Failover`]): at once while
    /// some broker of this round is untried, after the backoff once all have failed.
    pub async fn next(&mut self) -> Happened {
        loop {
            if let Some(at) = self.retry_at {
                tokio::time::sleep_until(at).await;
                self.retry_at = None;
            }
            match self.eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.connected = true;
                    self.failover.connected();
                    return Happened::Connected;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => return Happened::Message(p),
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return Happened::Closed,
                Ok(_) => {}
                Err(e) => {
                    let failed = address(&self.eventloop.mqtt_options);
                    let next = self.failover.failed();
                    let to = &self.brokers[next.broker];
                    if self.connected {
                        tracing::debug!(connection = self.name, broker = %failed, error = %e,
                            next = %address(to), "broker connection lost; retrying");
                    }
                    self.connected = false;
                    // The client, its last will and login stay; only the address changes.
                    self.eventloop.mqtt_options = to.clone();
                    self.retry_at = Some(Instant::now() + next.wait);
                }
            }
        }
    }

    /// Sends DISCONNECT and drives the connection until it is written (the broker then
    /// drops the session without the last will). Put a timeout around it: a broker that
    /// went away meanwhile would keep it waiting.
    pub async fn disconnect(&mut self) {
        let _ = self.client.disconnect().await;
        while let Ok(e) = self.eventloop.poll().await {
            if matches!(e, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Options for a loopback port where nothing listens (bound, then closed).
    fn nobody(id: &str) -> MqttOptions {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        MqttOptions::new(id, "127.0.0.1", port)
    }

    /// A broker that accepts one connection: it reads the CONNECT and answers with an
    /// MQTT 3.1.1 CONNACK (accepted), then holds the socket.
    async fn accepting_broker() -> (u16, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut connect = [0u8; 256];
            let _ = socket.read(&mut connect).await.unwrap();
            socket.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap();
            std::future::pending::<()>().await;
        });
        (port, task)
    }

    #[tokio::test]
    async fn a_refused_broker_is_left_for_the_next_one() {
        let (port, broker) = accepting_broker().await;
        let second = MqttOptions::new("b", "127.0.0.1", port);
        let mut c = Connection::new("test", vec![nobody("a"), second], 4);
        let happened = tokio::time::timeout(Duration::from_secs(5), c.next()).await;
        assert!(matches!(happened, Ok(Happened::Connected)), "{happened:?}");
        assert!(c.is_connected());
        assert_eq!(c.eventloop.mqtt_options.broker_address(), ("127.0.0.1".to_string(), port));
        broker.abort();
    }

    #[tokio::test]
    async fn the_wait_before_the_next_attempt_outlives_the_tasks_other_branches() {
        let mut c = Connection::new("test", vec![nobody("only")], 4);
        let due = Instant::now() + Duration::from_secs(30);
        c.retry_at = Some(due);
        // The task's own timer wins twice: its `select!` drops `next` each time.
        for _ in 0..2 {
            tokio::select! {
                _ = c.next() => panic!("nothing can happen before the wait is over"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        assert_eq!(c.retry_at, Some(due), "still due when it was, not started again by the timer");
    }
}
