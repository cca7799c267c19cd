//! The viewer's MQTT decoder reads whatever a broker (or anything posing as one on the
//! WebSocket) sends, in WebSocket messages that need not line up with MQTT packets.
//! It must never panic, must stay within its memory limit, and must decode the same
//! packets however the stream is split. The encoders must frame what they build so
//! that a peer reads exactly one packet back.
//!
//! Input layout: [limit selector, split count n, n chunk lengths..., stream...].
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::mqtt::{self, Decoder, MqttError, Packet, Will};

/// The limit the viewer uses (app.rs); small limits reach the `TooLarge` path often.
const VIEWER_MAX_PACKET: usize = 9 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let [sel, splits, rest @ ..] = data else { return };
    let max_packet = if sel & 3 == 0 { VIEWER_MAX_PACKET } else { 5 + (*sel as usize >> 2) * 4 };
    let n = (*splits as usize % 16).min(rest.len());
    let (lens, stream) = rest.split_at(n);

    // Feed the stream as the WebSocket would: arbitrary chunks, then the remainder.
    let mut chunks = Vec::with_capacity(n + 1);
    let mut left = stream;
    for &l in lens {
        let (c, r) = left.split_at((l as usize).min(left.len()));
        chunks.push(c);
        left = r;
    }
    chunks.push(left);

    let split = decode(max_packet, &chunks);
    let whole = decode(max_packet, &[stream]);
    assert_eq!(split, whole, "reassembly depends on how the stream was split");

    round_trip_encoders(stream);
});

/// Decodes `chunks` like the viewer's message handler (push, then drain every packet;
/// stop at the first error, which closes the connection) and returns what came out.
fn decode(max_packet: usize, chunks: &[&[u8]]) -> Vec<String> {
    let mut d = Decoder::new(max_packet);
    let mut out = Vec::new();
    for chunk in chunks {
        d.push(chunk);
        loop {
            let before = d.buffered();
            match d.next_packet() {
                Ok(Some(p)) => {
                    check_packet(&p);
                    out.push(format!("{p:?}"));
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    out.push(format!("{e:?}"));
                    return out;
                }
            }
            // A returned packet is whole (at least a 2-byte fixed header) and within the limit.
            let used = before - d.buffered();
            assert!((2..=max_packet).contains(&used), "packet of {used} bytes, limit {max_packet}");
        }
        // Waiting for more bytes never holds more than one partial packet: the limit
        // is what bounds the viewer's memory against a hostile broker.
        assert!(d.buffered() < max_packet.max(5), "{} bytes buffered, limit {max_packet}", d.buffered());
    }
    out
}

fn check_packet(p: &Packet<'_>) {
    match *p {
        Packet::Publish { qos, packet_id, .. } => {
            assert!(qos <= 2);
            // The viewer acknowledges QoS 1 by this id: it must exist exactly then.
            assert_eq!(packet_id.is_some(), qos > 0);
        }
        Packet::SubAck { codes, .. } => assert!(!codes.is_empty()),
        Packet::ConnAck { .. } | Packet::UnsubAck { .. } | Packet::PingResp => {}
    }
}

fn round_trip_encoders(stream: &[u8]) {
    let cut = stream.first().map_or(0, |&b| b as usize).min(stream.len());
    let text = String::from_utf8_lossy(&stream[..cut]);
    let payload = &stream[cut..];
    let id = u16::from_le_bytes([stream.get(1).copied().unwrap_or(0), stream.get(2).copied().unwrap_or(7)]);

    // A PUBLISH is the one packet both sides speak: it must decode to what was encoded.
    let mut d = Decoder::new(usize::MAX);
    d.push(&mqtt::publish(&text, payload));
    let want = Packet::Publish { topic: &text, payload, qos: 0, packet_id: None, retain: false };
    assert_eq!(d.next_packet(), Ok(Some(want)));
    assert_eq!(d.buffered(), 0);

    // The rest go to the broker only, so the decoder refuses their types; it still
    // checks their framing: the remaining length must cover exactly the bytes written.
    let will = Will { topic: &text, payload };
    for (bytes, kind) in [
        (mqtt::connect(&text, id, Some(will), Some((&text, &text))), 1),
        (mqtt::connect(&text, id, None, None), 1),
        (mqtt::subscribe(id, &text, payload.first().copied().unwrap_or(0)), 8),
        (mqtt::unsubscribe(id, &text), 10),
        (mqtt::puback(id), 4),
        (mqtt::PINGREQ.to_vec(), 12),
        (mqtt::DISCONNECT.to_vec(), 14),
    ] {
        let mut d = Decoder::new(usize::MAX);
        let (head, last) = bytes.split_at(bytes.len() - 1);
        d.push(head);
        assert_eq!(d.next_packet(), Ok(None), "packet complete before its last byte");
        d.push(last);
        assert_eq!(d.next_packet(), Err(MqttError::UnexpectedType(kind)));
        assert_eq!(d.buffered(), 0);
    }
}
