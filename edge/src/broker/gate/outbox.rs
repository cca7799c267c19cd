//! A slow viewer's queue, where frames give way: what the broker sends a client waits
//! here until the client reads it, and a client that reads slower than the camera
//! publishes loses old frames instead of queueing them (the newest wins).

use super::inspect::{fixed_header, Reader};

/// Most a client's outbox holds before old frames give way to newer ones (but see
/// [`Outbox::push`]: the newest two frames stay, so the bound is two frames' size when
/// frames are bigger than this).
const OUTBOX_BUDGET: usize = 1024 * 1024;

/// Whole broker-to-client packets waiting for the client to read them, each marked
/// once, as it comes in, as a frame or not.
#[derive(Default)]
pub(super) struct Outbox {
    packets: std::collections::VecDeque<(bytes::Bytes, bool)>,
    bytes: usize,
    frames: usize,
}

impl Outbox {
    /// Queues a packet; over the budget, drops the oldest frames (QoS 0 PUBLISH to a
    /// `…/frame` topic), but keeps the newest two frames (so one big frame, a 4K picture
    /// or a bad one, is not lost to the next straight away) and never drops anything
    /// else. Returns how many were dropped.
    pub(super) fn push(&mut self, packet: bytes::Bytes) -> usize {
        let frame = is_frame(&packet);
        self.bytes += packet.len();
        self.frames += usize::from(frame);
        self.packets.push_back((packet, frame));
        let mut dropped = 0;
        while self.bytes > OUTBOX_BUDGET && self.frames > 2 {
            let i = self.packets.iter().position(|(_, frame)| *frame).expect("frames counted");
            let (gone, _) = self.packets.remove(i).expect("index from position");
            self.bytes -= gone.len();
            self.frames -= 1;
            dropped += 1;
        }
        dropped
    }

    /// Takes queued packets, at least one if any, up to about `max` bytes.
    pub(super) fn take(&mut self, max: usize) -> Vec<bytes::Bytes> {
        let mut out = Vec::new();
        let mut size = 0;
        while let Some((p, _)) = self.packets.front() {
            if !out.is_empty() && size + p.len() > max {
                break;
            }
            size += p.len();
            let (p, frame) = self.packets.pop_front().expect("front exists");
            self.bytes -= p.len();
            self.frames -= usize::from(frame);
            out.push(p);
        }
        out
    }
}

/// A QoS 0 PUBLISH to a frame topic: safe to drop for a newer one.
fn is_frame(packet: &[u8]) -> bool {
    if packet[0] >> 4 != 3 || (packet[0] >> 1) & 3 != 0 {
        return false;
    }
    let Ok(Some((header_len, _))) = fixed_header(packet) else { return false };
    let mut r = Reader(&packet[header_len..]);
    r.string().is_some_and(|topic| topic.ends_with("/frame"))
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
        let mut o = Outbox::default();
        assert_eq!(o.push(frame(1)) + o.push(status.clone()) + o.push(frame(2)) + o.push(frame(3)), 0);
        assert_eq!(o.push(frame(4)), 1, "the fourth 300 KB frame pushes the first out");
        assert_eq!(o.push(qos1.clone()), 1, "a QoS 1 packet is never dropped; a frame gives way");
        let left: Vec<_> = o.take(usize::MAX);
        assert_eq!(left, vec![status, frame(3), frame(4), qos1], "oldest frames went first");
        assert_eq!(o.bytes, 0);
        // Frames bigger than the budget: the newest two stay, older ones go.
        let mut o = Outbox::default();
        let big = |n| bytes::Bytes::from(publish_sized("mqcam/c/frame", n, 3 << 20));
        assert_eq!(o.push(big(1)) + o.push(big(2)), 0);
        assert_eq!(o.push(big(3)), 1);
        assert_eq!(o.take(1024), vec![big(2)], "at least one packet per take");
        assert_eq!(o.take(usize::MAX), vec![big(3)]);
    }

    fn publish_sized(topic: &str, tag: u8, size: usize) -> Vec<u8> {
        let mut body = string(topic);
        body.extend(vec![tag; size]);
        let mut p = vec![0x30];
        let mut n = body.len();
        loop {
            let byte = (n % 128) as u8;
            n /= 128;
            p.push(if n > 0 { byte | 0x80 } else { byte });
            if n == 0 {
                break;
            }
        }
        p.extend(body);
        p
    }
}
