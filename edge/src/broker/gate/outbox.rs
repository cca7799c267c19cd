//! A slow viewer's queue, where frames give way: what the broker and the fan-out send a
//! client waits here until the client reads it, and a client that reads slower than the
//! camera publishes loses old frames instead of queueing them (the newest wins). The
//! queue holds shared buffers: a frame the fan-out gives every viewer is one buffer,
//! counted here by reference.

use std::sync::atomic::Ordering::Relaxed;

use super::inspect::{fixed_header, Reader};
use crate::{meter::BrokerMeter, sync::lock};

/// Most a client's outbox holds before old frames give way to newer ones (but see
/// [`Outbox::push`]: the newest two frames stay, so the bound is two frames' size when
/// frames are bigger than this).
const OUTBOX_BUDGET: usize = 1024 * 1024;

/// What a queued buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A QoS 0 PUBLISH of pictures: may give way to a newer one.
    Frame,
    /// Any other MQTT packet: never dropped.
    Packet,
    /// A WebSocket control frame's payload (a pong, a close), with its opcode.
    Control(u8),
}

impl Kind {
    /// A packet from the broker: a frame if it is a QoS 0 PUBLISH of pictures.
    fn of(packet: &[u8]) -> Kind {
        if is_frame(packet) {
            Kind::Frame
        } else {
            Kind::Packet
        }
    }
}

/// Whole broker-to-client packets waiting for the client to read them, each marked
/// once, as it comes in, as a frame or not.
#[derive(Default)]
pub(super) struct Outbox {
    packets: std::collections::VecDeque<(bytes::Bytes, Kind)>,
    bytes: usize,
    frames: usize,
    /// The broker's CONNACK is in: until then nothing goes out, since the fan-out may
    /// have a frame for the client before the broker has answered its CONNECT, and
    /// MQTT's first packet to a client is the CONNACK.
    connected: bool,
}

impl Outbox {
    /// Queues a packet from the broker, telling frames from the rest by their topic.
    /// Returns how many frames gave way (see [`Outbox::push_kind`]).
    #[cfg(test)]
    fn push(&mut self, packet: bytes::Bytes) -> usize {
        let kind = Kind::of(&packet);
        self.push_kind(packet, kind)
    }

    /// Queues a buffer; over the budget, drops the oldest frames, but keeps the newest
    /// two (so one big frame, a 4K picture or a bad one, is not lost to the next
    /// straight away) and never drops anything else. Returns how many were dropped.
    pub(super) fn push_kind(&mut self, packet: bytes::Bytes, kind: Kind) -> usize {
        let frame = kind == Kind::Frame;
        self.bytes += packet.len();
        self.frames += usize::from(frame);
        if kind == Kind::Packet && !self.connected && packet[0] >> 4 == 2 {
            // Ahead of what the fan-out queued early.
            self.connected = true;
            self.packets.push_front((packet, kind));
        } else {
            self.packets.push_back((packet, kind));
        }
        let mut dropped = 0;
        while self.bytes > OUTBOX_BUDGET && self.frames > 2 {
            let i = self.packets.iter().position(|(_, k)| *k == Kind::Frame).expect("frames counted");
            let (gone, _) = self.packets.remove(i).expect("index from position");
            self.bytes -= gone.len();
            self.frames -= 1;
            dropped += 1;
        }
        dropped
    }

    /// Takes queued buffers, at least one if any, up to about `max` bytes.
    pub(super) fn take(&mut self, max: usize) -> Vec<(bytes::Bytes, Kind)> {
        let mut out = Vec::new();
        let mut size = 0;
        while let Some((p, _)) = self.packets.front().filter(|_| self.connected) {
            if !out.is_empty() && size + p.len() > max {
                break;
            }
            size += p.len();
            let (p, kind) = self.packets.pop_front().expect("front exists");
            self.bytes -= p.len();
            self.frames -= usize::from(kind == Kind::Frame);
            out.push((p, kind));
        }
        out
    }
}

/// A client's outbox and the bell its writer waits on: what the relay from the broker
/// and the fan-out put packets into, from other tasks.
pub(super) struct Mailbox {
    outbox: std::sync::Mutex<Outbox>,
    ready: tokio::sync::Notify,
    /// Where the frames that gave way are counted (the gate's `slow_drops`).
    meter: std::sync::Arc<BrokerMeter>,
}

impl Mailbox {
    pub(super) fn new(meter: std::sync::Arc<BrokerMeter>) -> Self {
        Mailbox { outbox: Default::default(), ready: Default::default(), meter }
    }

    /// Queues a buffer and wakes the writer; counts the frames that gave way.
    pub(super) fn post(&self, kind: Kind, packet: bytes::Bytes) {
        let dropped = lock(&self.outbox).push_kind(packet, kind);
        if dropped > 0 {
            self.meter.slow_drops.fetch_add(dropped as u64, Relaxed);
        }
        self.ready.notify_one();
    }

    /// Queues a packet from the broker (see [`Outbox::push`]).
    pub(super) fn post_from_broker(&self, packet: bytes::Bytes) {
        self.post(Kind::of(&packet), packet);
    }

    /// What is queued, up to about `max` bytes, waiting until there is something.
    pub(super) async fn take(&self, max: usize) -> Vec<(bytes::Bytes, Kind)> {
        loop {
            let batch = lock(&self.outbox).take(max);
            if !batch.is_empty() {
                return batch;
            }
            // A post between the take and here left a permit: no wake-up is lost.
            self.ready.notified().await;
        }
    }
}

/// A QoS 0 PUBLISH to a topic of pictures: safe to drop for a newer one.
fn is_frame(packet: &[u8]) -> bool {
    if packet[0] >> 4 != 3 || (packet[0] >> 1) & 3 != 0 {
        return false;
    }
    let Ok(Some((header_len, _))) = fixed_header(packet) else { return false };
    let mut r = Reader(&packet[header_len..]);
    r.string().is_some_and(wire::topic::carries_pictures)
}

#[cfg(test)]
mod tests {
    use super::*;

    // MQTT packets built as the inspector's tests build them.
    use crate::broker::gate::inspect::tests::{packet, string};

    fn publish(topic: &str, retain: bool) -> Vec<u8> {
        let mut body = string(topic);
        body.extend(b"payload");
        packet(0x30 | u8::from(retain), &body)
    }

    #[test]
    fn a_full_outbox_drops_old_frames_and_keeps_everything_else() {
        let frame = |n: u8| bytes::Bytes::from(publish_sized("mqcam/cam1/frame", n, 300 * 1024));
        let status = bytes::Bytes::from(publish("mqcam/cam1/status", false));
        let qos1 = {
            let mut p = publish_sized("mqcam/cam1/frame", 9, 300 * 1024);
            p[0] |= 0x02;
            bytes::Bytes::from(p)
        };
        let connack = bytes::Bytes::from_static(&[0x20, 2, 0, 0]);
        let mut o = Outbox::default();
        assert_eq!(o.push(frame(0)), 0);
        assert!(o.take(usize::MAX).is_empty(), "nothing before the broker's CONNACK");
        assert_eq!(o.push(connack.clone()), 0);
        assert_eq!(
            o.take(usize::MAX),
            vec![(connack.clone(), Kind::Packet), (frame(0), Kind::Frame)],
            "CONNACK first"
        );
        assert_eq!(o.push(frame(1)) + o.push(status.clone()) + o.push(frame(2)) + o.push(frame(3)), 0);
        assert_eq!(o.push(frame(4)), 1, "the fourth 300 KB frame pushes the first out");
        assert_eq!(o.push(qos1.clone()), 1, "a QoS 1 packet is never dropped; a frame gives way");
        let left: Vec<_> = o.take(usize::MAX).into_iter().map(|(p, _)| p).collect();
        assert_eq!(left, vec![status, frame(3), frame(4), qos1], "oldest frames went first");
        assert_eq!(o.bytes, 0);
        // Frames bigger than the budget: the newest two stay, older ones go.
        let mut o = Outbox::default();
        o.push(connack.clone());
        o.take(usize::MAX);
        let big = |n| bytes::Bytes::from(publish_sized("mqcam/c/frame", n, 3 << 20));
        assert_eq!(o.push(big(1)) + o.push(big(2)), 0);
        assert_eq!(o.push(big(3)), 1);
        assert_eq!(o.take(1024), vec![(big(2), Kind::Frame)], "at least one packet per take");
        assert_eq!(o.take(usize::MAX), vec![(big(3), Kind::Frame)]);
        // Previews and the smaller renditions give way too; a control frame never does.
        let mut o = Outbox::default();
        o.push(connack.clone());
        o.take(usize::MAX);
        let preview = |n| bytes::Bytes::from(publish_sized("mqcam/c/preview", n, 600 * 1024));
        let pong = bytes::Bytes::from_static(b"pong");
        o.push_kind(pong.clone(), Kind::Control(0xA));
        assert_eq!(o.push(preview(1)) + o.push(preview(2)) + o.push(preview(3)), 1);
        assert_eq!(o.take(0), vec![(pong, Kind::Control(0xA))]);
    }

    fn publish_sized(topic: &str, tag: u8, size: usize) -> Vec<u8> {
        let mut body = string(topic);
        body.extend(vec![tag; size]);
        wire::mqtt::packet(0x30, &body)
    }
}
