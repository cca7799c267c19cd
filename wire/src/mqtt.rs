//! MQTT 3.1.1 as a client speaks it: builds the few packets a subscriber sends and
//! decodes what a broker sends back. The viewer's session runs on it, and so does the
//! edge's gate where it is a client itself (its own connection to the embedded broker,
//! the subscriptions it rewrites). No I/O: the callers feed bytes in and write the
//! encoded packets out.
//!
//! MQTT packets need not line up with WebSocket messages (a broker may pack several
//! packets into one message or split one across several), so [`Decoder`] keeps a
//! reassembly buffer: [`Decoder::push`] appends bytes, [`Decoder::next_packet`] returns
//! whole packets until it needs more.

use alloc::vec::Vec;
use core::fmt;

/// Packets a broker sends to a subscriber. `Publish` borrows its topic and payload from
/// the decoder's buffer: the caller copies the payload once, into JavaScript.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    ConnAck { session_present: bool, code: u8 },
    Publish { topic: &'a str, payload: &'a [u8], qos: u8, packet_id: Option<u16>, retain: bool },
    SubAck { packet_id: u16, codes: &'a [u8] },
    UnsubAck { packet_id: u16 },
    PingResp,
}

/// Why the byte stream is not valid MQTT from a broker. The connection cannot be
/// resynchronised after any of these: close it and reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttError {
    /// The remaining-length field ran over four bytes.
    BadRemainingLength,
    /// A packet larger than the decoder's limit.
    TooLarge { len: usize, max: usize },
    /// A packet type a broker never sends to a client (or reserved).
    UnexpectedType(u8),
    /// The fixed-header flags or the body do not fit the packet type.
    Malformed(&'static str),
}

impl fmt::Display for MqttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MqttError::BadRemainingLength => f.write_str("MQTT remaining length longer than 4 bytes"),
            MqttError::TooLarge { len, max } => {
                write!(f, "MQTT packet of {len} bytes exceeds the {max}-byte limit")
            }
            MqttError::UnexpectedType(t) => write!(f, "unexpected MQTT packet type {t}"),
            MqttError::Malformed(what) => write!(f, "malformed MQTT packet: {what}"),
        }
    }
}

/// CONNACK return codes, as text for the user.
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0 => "accepted",
        1 => "unacceptable protocol version",
        2 => "client identifier rejected",
        3 => "broker unavailable",
        4 => "bad user name or password",
        5 => "not authorised",
        _ => "unknown refusal",
    }
}

/// Reassembles and decodes packets from a broker.
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already returned as packets.
    consumed: usize,
    max_packet: usize,
}

impl Decoder {
    /// `max_packet` bounds memory: a larger packet is an error, not an allocation.
    pub fn new(max_packet: usize) -> Self {
        Decoder { buf: Vec::new(), consumed: 0, max_packet }
    }

    /// Appends bytes received from the broker.
    pub fn push(&mut self, bytes: &[u8]) {
        self.push_with(bytes.len(), |dst| dst.copy_from_slice(bytes));
    }

    /// Like [`push`](Self::push) for `len` bytes that `fill` writes in place: bytes
    /// from JavaScript land in the buffer with one copy instead of two.
    pub fn push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        // Drop what was already decoded before growing, so the buffer stays one packet big.
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        fill(&mut self.buf[start..]);
    }

    /// Bytes held that are not yet part of a returned packet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, MqttError> {
        let data = &self.buf[self.consumed..];
        let Some((body_len, header_len)) = remaining_length(data)? else {
            return Ok(None);
        };
        let total = header_len + body_len;
        if total > self.max_packet {
            return Err(MqttError::TooLarge { len: total, max: self.max_packet });
        }
        if data.len() < total {
            return Ok(None);
        }
        let start = self.consumed;
        self.consumed += total;
        let first = self.buf[start];
        let body = &self.buf[start + header_len..start + total];
        parse(first, body).map(Some)
    }
}

/// Decodes the fixed header's remaining length: `(length, bytes of fixed header)`,
/// `Ok(None)` until enough bytes are in.
pub fn remaining_length(data: &[u8]) -> Result<Option<(usize, usize)>, MqttError> {
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = data.get(1 + i) else {
            return Ok(None);
        };
        len |= ((b & 0x7F) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((len, 2 + i)));
        }
    }
    if data.len() >= 5 {
        Err(MqttError::BadRemainingLength)
    } else {
        Ok(None)
    }
}

fn parse(first: u8, body: &[u8]) -> Result<Packet<'_>, MqttError> {
    let (kind, flags) = (first >> 4, first & 0x0F);
    let u16_at = |i: usize| -> Result<u16, MqttError> {
        body.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(MqttError::Malformed("body too short"))
    };
    match kind {
        2 => {
            if flags != 0 || body.len() != 2 || body[0] > 1 {
                return Err(MqttError::Malformed("CONNACK"));
            }
            Ok(Packet::ConnAck { session_present: body[0] == 1, code: body[1] })
        }
        3 => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(MqttError::Malformed("PUBLISH with QoS 3"));
            }
            let topic_len = u16_at(0)? as usize;
            let topic = body.get(2..2 + topic_len).ok_or(MqttError::Malformed("PUBLISH topic past end"))?;
            let topic =
                core::str::from_utf8(topic).map_err(|_| MqttError::Malformed("PUBLISH topic not UTF-8"))?;
            let mut at = 2 + topic_len;
            let packet_id = if qos > 0 {
                let id = u16_at(at)?;
                at += 2;
                Some(id)
            } else {
                None
            };
            Ok(Packet::Publish { topic, payload: &body[at..], qos, packet_id, retain: flags & 1 == 1 })
        }
        9 => {
            if flags != 0 || body.len() < 3 {
                return Err(MqttError::Malformed("SUBACK"));
            }
            Ok(Packet::SubAck { packet_id: u16_at(0)?, codes: &body[2..] })
        }
        11 => {
            if flags != 0 || body.len() != 2 {
                return Err(MqttError::Malformed("UNSUBACK"));
            }
            Ok(Packet::UnsubAck { packet_id: u16_at(0)? })
        }
        13 => {
            if flags != 0 || !body.is_empty() {
                return Err(MqttError::Malformed("PINGRESP"));
            }
            Ok(Packet::PingResp)
        }
        other => Err(MqttError::UnexpectedType(other)),
    }
}

/// Appends a remaining-length field.
pub fn put_remaining_length(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
}

/// A length-prefixed MQTT string. MQTT strings hold at most 65,535 bytes: a longer one
/// (a huge `?topic=`) is cut there, so the packet stays well-formed instead of carrying a
/// wrapped length.
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let s = &s[..s.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A packet: `first` (type and flags), the remaining length, `body`.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    put_packet(&mut out, first, body);
    out
}

/// Appends a packet to `out` (see [`packet`]).
pub fn put_packet(out: &mut Vec<u8>, first: u8, body: &[u8]) {
    out.push(first);
    put_remaining_length(out, body.len());
    out.extend_from_slice(body);
}

/// A last will: published by the broker (QoS 0, not retained) when the connection drops
/// without a DISCONNECT.
#[derive(Debug, Clone, Copy)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
}

/// CONNECT with a clean session. `login` is (user name, password).
pub fn connect(
    client_id: &str,
    keep_alive_secs: u16,
    will: Option<Will<'_>>,
    login: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(32 + client_id.len());
    put_str(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    let mut flags = 0b0000_0010; // clean session
    if will.is_some() {
        flags |= 0b0000_0100; // will flag; will QoS 0, not retained
    }
    if login.is_some() {
        flags |= 0b1100_0000;
    }
    body.push(flags);
    body.extend_from_slice(&keep_alive_secs.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    if let Some(w) = will {
        put_str(&mut body, w.topic.as_bytes());
        put_str(&mut body, w.payload);
    }
    if let Some((user, pass)) = login {
        put_str(&mut body, user.as_bytes());
        put_str(&mut body, pass.as_bytes());
    }
    packet(0x10, &body)
}

/// SUBSCRIBE to one topic filter.
pub fn subscribe(packet_id: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut body = Vec::with_capacity(5 + filter.len());
    body.extend_from_slice(&packet_id.to_be_bytes());
    put_str(&mut body, filter.as_bytes());
    body.push(qos.min(2));
    packet(0x82, &body)
}

/// UNSUBSCRIBE from one topic filter.
pub fn unsubscribe(packet_id: u16, filter: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + filter.len());
    body.extend_from_slice(&packet_id.to_be_bytes());
    put_str(&mut body, filter.as_bytes());
    packet(0xA2, &body)
}

/// PUBLISH at QoS 0 (the viewer only publishes small requests).
pub fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + topic.len() + payload.len());
    put_str(&mut body, topic.as_bytes());
    body.extend_from_slice(payload);
    packet(0x30, &body)
}

/// PUBACK for a QoS 1 PUBLISH the broker sent.
pub fn puback(packet_id: u16) -> Vec<u8> {
    packet(0x40, &packet_id.to_be_bytes())
}

pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

#[cfg(test)]
mod tests {
    use super::*;

    fn publish_packet(topic: &str, payload: &[u8]) -> Vec<u8> {
        publish(topic, payload)
    }

    #[test]
    fn connect_matches_the_spec_bytes() {
        let p = connect("v1", 30, None, None);
        assert_eq!(p, [0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30, 0, 2, b'v', b'1']);
    }

    #[test]
    fn connect_with_login_sets_both_flags_and_appends_credentials() {
        let p = connect("c", 10, None, Some(("u", "pw")));
        assert_eq!(p[9], 0b1100_0010);
        assert_eq!(&p[p.len() - 7..], &[0, 1, b'u', 0, 2, b'p', b'w']);
    }

    #[test]
    fn connect_with_a_will_carries_its_topic_and_payload_after_the_client_id() {
        let p = connect("c", 10, Some(Will { topic: "a/b", payload: b"" }), None);
        assert_eq!(p[9], 0b0000_0110);
        assert_eq!(&p[12..], &[0, 1, b'c', 0, 3, b'a', b'/', b'b', 0, 0]);
        assert_eq!(p[1] as usize, p.len() - 2, "remaining length counts the will");
    }

    #[test]
    fn subscribe_has_the_reserved_flag_bits() {
        assert_eq!(subscribe(7, "a/b", 0), [0x82, 8, 0, 7, 0, 3, b'a', b'/', b'b', 0]);
        assert_eq!(unsubscribe(7, "a")[0], 0xA2);
    }

    #[test]
    fn remaining_length_uses_continuation_bytes() {
        for (len, bytes) in [
            (0usize, vec![0u8]),
            (127, vec![0x7F]),
            (128, vec![0x80, 1]),
            (16_383, vec![0xFF, 0x7F]),
            (2_097_152, vec![0x80, 0x80, 0x80, 1]),
        ] {
            let mut out = Vec::new();
            put_remaining_length(&mut out, len);
            assert_eq!(out, bytes, "{len}");
            let mut framed = vec![0x30];
            framed.extend_from_slice(&bytes);
            assert_eq!(remaining_length(&framed), Ok(Some((len, 1 + bytes.len()))));
        }
    }

    #[test]
    fn a_publish_decodes_with_topic_and_payload() {
        let mut d = Decoder::new(1 << 20);
        d.push(&publish_packet("cam/frame", &[1, 2, 3]));
        assert_eq!(
            d.next_packet().unwrap(),
            Some(Packet::Publish {
                topic: "cam/frame",
                payload: &[1, 2, 3],
                qos: 0,
                packet_id: None,
                retain: false
            })
        );
        assert_eq!(d.next_packet().unwrap(), None);
    }

    #[test]
    fn a_qos1_publish_carries_its_packet_id() {
        let mut d = Decoder::new(1024);
        d.push(&[0x32, 7, 0, 1, b't', 0, 9, 0xAA, 0xBB]);
        assert_eq!(
            d.next_packet().unwrap(),
            Some(Packet::Publish {
                topic: "t",
                payload: &[0xAA, 0xBB],
                qos: 1,
                packet_id: Some(9),
                retain: false
            })
        );
    }

    #[test]
    fn bytes_written_in_place_decode_like_pushed_ones() {
        let packet = publish_packet("cam/frame", &[1, 2, 3]);
        let mut d = Decoder::new(1024);
        let (a, b) = packet.split_at(4);
        d.push_with(a.len(), |dst| dst.copy_from_slice(a));
        assert!(matches!(d.next_packet(), Ok(None)));
        d.push_with(b.len(), |dst| dst.copy_from_slice(b));
        match d.next_packet() {
            Ok(Some(Packet::Publish { topic, payload, .. })) => {
                assert_eq!((topic, payload), ("cam/frame", &[1u8, 2, 3][..]))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn packets_split_across_messages_are_reassembled() {
        let big = vec![0x5A; 100_000];
        let bytes = publish_packet("t", &big);
        let mut d = Decoder::new(1 << 20);
        for chunk in bytes.chunks(777) {
            assert_eq!(d.next_packet().unwrap(), None);
            d.push(chunk);
        }
        match d.next_packet().unwrap() {
            Some(Packet::Publish { payload, .. }) => assert_eq!(payload, &big[..]),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn several_packets_in_one_message_all_come_out() {
        let mut bytes = vec![0x20, 2, 0, 0];
        bytes.extend(publish_packet("a", b"x"));
        bytes.extend([0x90, 3, 0, 1, 0]);
        bytes.extend([0xD0, 0]);
        let mut d = Decoder::new(1024);
        d.push(&bytes);
        assert_eq!(d.next_packet().unwrap(), Some(Packet::ConnAck { session_present: false, code: 0 }));
        assert!(matches!(d.next_packet().unwrap(), Some(Packet::Publish { topic: "a", .. })));
        assert_eq!(d.next_packet().unwrap(), Some(Packet::SubAck { packet_id: 1, codes: &[0] }));
        assert_eq!(d.next_packet().unwrap(), Some(Packet::PingResp));
        assert_eq!(d.next_packet().unwrap(), None);
    }

    #[test]
    fn a_five_byte_remaining_length_is_an_error() {
        let mut d = Decoder::new(usize::MAX);
        d.push(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        assert_eq!(d.next_packet(), Err(MqttError::BadRemainingLength));
    }

    #[test]
    fn a_packet_over_the_limit_is_refused_before_it_is_buffered() {
        let mut d = Decoder::new(1000);
        d.push(&[0x30, 0x80, 0x80, 0x01]); // announces 16 KiB
        assert_eq!(d.next_packet(), Err(MqttError::TooLarge { len: 16_388, max: 1000 }));
    }

    #[test]
    fn packet_types_a_broker_never_sends_are_errors() {
        for first in [0x00u8, 0x10, 0x82, 0xC0, 0xE0, 0xF0] {
            let mut d = Decoder::new(1024);
            d.push(&[first, 0]);
            assert!(d.next_packet().is_err(), "{first:#x}");
        }
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for bytes in [
            &[0x20, 1, 0][..],          // short CONNACK
            &[0x36, 2, 0, 1][..],       // QoS 3
            &[0x30, 2, 0, 9][..],       // topic past end
            &[0x30, 3, 0, 1, 0xFF][..], // topic not UTF-8
            &[0x32, 3, 0, 1, b't'][..], // QoS 1 without packet id
            &[0x90, 2, 0, 1][..],       // SUBACK without codes
            &[0xD0, 1, 0][..],          // PINGRESP with body
        ] {
            let mut d = Decoder::new(1024);
            d.push(bytes);
            assert!(d.next_packet().is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn random_streams_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut d = Decoder::new(4096);
            let len = (x % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_packet() {}
        }
    }

    #[test]
    fn connack_codes_read_as_reasons() {
        assert_eq!(connack_reason(4), "bad user name or password");
    }

    #[test]
    fn strings_longer_than_mqtt_allows_are_cut_not_wrapped() {
        let topic = "t".repeat(70_000);
        let p = publish(&topic, b"x");
        let mut d = Decoder::new(1 << 20);
        d.push(&p);
        match d.next_packet().unwrap() {
            Some(Packet::Publish { topic, payload, .. }) => {
                assert_eq!((topic.len(), payload), (65_535, &b"x"[..]))
            }
            other => panic!("{other:?}"),
        }
    }
}
