//! The frame wire format: what one MQTT payload on a camera's frame topic holds.
//!
//! Shared by the edge (which writes it) and the browser viewer (which reads it), so it
//! has no dependencies and builds for native targets and `wasm32-unknown-unknown` alike.
//!
//! # Format (version 1)
//!
//! A payload is a fixed-layout header followed directly by the bytes of one baseline
//! JPEG image. All integers are **little-endian**. Times are wall-clock microseconds
//! since the UNIX epoch, on the edge's clock.
//!
//! | offset | size | field          | meaning                                                |
//! |-------:|-----:|----------------|--------------------------------------------------------|
//! | 0      | 4    | magic          | the ASCII bytes `MQCF`                                 |
//! | 4      | 1    | version        | `1`                                                    |
//! | 5      | 1    | flags          | reserved, written as `0`, ignored by readers           |
//! | 6      | 2    | header length  | bytes from offset 0 to the first JPEG byte; `>= 40`    |
//! | 8      | 8    | sequence       | frame number, +1 per captured frame, from 0 at start  |
//! | 16     | 8    | capture time   | when the frame was captured (µs since epoch)          |
//! | 24     | 8    | encoded time   | when JPEG encoding finished (µs since epoch)          |
//! | 32     | 4    | width          | image width in pixels (u32)                           |
//! | 36     | 4    | height         | image height in pixels (u32)                          |
//! | 40     | 8    | published time | when the edge handed the frame to MQTT (µs since epoch); |
//! |        |      |                | present when header length `>= 48`, else read as 0    |
//! | 48     | n    | (future)       | fields added later; readers skip to `header length`   |
//! | hlen   | rest | JPEG           | the image, `FF D8` ... `FF D9`                          |
//!
//! This crate writes 48-byte headers. Growth rule: new fields are appended and the
//! header length grows; a version-1 reader skips what it does not know, and reads a
//! field beyond a shorter header as 0 (the 40-byte header of the first writers had no
//! published time). The version changes only when an
//! existing field changes meaning. Sequence numbers are per edge process: gaps mean
//! frames the edge dropped (it never queues stale frames), a restart starts again at 0.
//!
//! # Layout
//! - [`FrameHeader`]: the typed header, [`FrameHeader::encode`] / [`FrameHeader::write_to`].
//! - [`parse`]: payload → ([`FrameHeader`], JPEG slice), never panics, typed [`WireError`].
//! - [`ack`]: the renditions of a camera, and the acknowledgement viewers send back.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod ack;

use alloc::vec::Vec;
use core::fmt;

/// The four bytes every payload starts with.
pub const MAGIC: [u8; 4] = *b"MQCF";
/// The version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Length of the version-1 header this crate writes.
pub const HEADER_LEN: usize = 48;
/// The smallest valid header: the first version-1 writers' 40 bytes.
pub const MIN_HEADER_LEN: usize = 40;
/// Offset of the published time, which the publisher writes last, in place.
pub const PUBLISHED_AT: usize = 40;

/// The metadata carried in front of every JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader {
    /// Frame number, +1 per captured frame.
    pub sequence: u64,
    /// Capture time, µs since the UNIX epoch (edge clock).
    pub capture_us: u64,
    /// Encode-done time, µs since the UNIX epoch (edge clock).
    pub encoded_us: u64,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Handed to MQTT, µs since the UNIX epoch (edge clock); 0 when not recorded.
    pub published_us: u64,
}

/// Why a payload is not a frame. Each variant says what was wrong, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the fixed part of the header.
    TooShort { len: usize },
    /// The first four bytes are not `MQCF`.
    BadMagic,
    /// A version this reader does not know.
    UnknownVersion(u8),
    /// The header length field is below the minimum or beyond the payload.
    BadHeaderLength { header_len: usize, payload_len: usize },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort { len } => {
                write!(f, "payload of {len} bytes is shorter than a frame header ({HEADER_LEN})")
            }
            WireError::BadMagic => write!(f, "payload does not start with the frame magic MQCF"),
            WireError::UnknownVersion(v) => write!(f, "unknown frame format version {v}"),
            WireError::BadHeaderLength { header_len, payload_len } => {
                write!(f, "header length {header_len} is impossible for a {payload_len}-byte payload")
            }
        }
    }
}

#[cfg(test)]
impl std::error::Error for WireError {}

impl FrameHeader {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    ///
    /// Panics if `out` is shorter than [`HEADER_LEN`]; callers size it with the constant.
    pub fn write_to(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = 0;
        out[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out[8..16].copy_from_slice(&self.sequence.to_le_bytes());
        out[16..24].copy_from_slice(&self.capture_us.to_le_bytes());
        out[24..32].copy_from_slice(&self.encoded_us.to_le_bytes());
        out[32..36].copy_from_slice(&self.width.to_le_bytes());
        out[36..40].copy_from_slice(&self.height.to_le_bytes());
        out[40..48].copy_from_slice(&self.published_us.to_le_bytes());
    }

    /// Sets the published time of an already written payload, in place.
    ///
    /// Panics if `payload` is shorter than [`HEADER_LEN`].
    pub fn stamp_published(payload: &mut [u8], published_us: u64) {
        payload[PUBLISHED_AT..PUBLISHED_AT + 8].copy_from_slice(&published_us.to_le_bytes());
    }

    /// Returns a whole payload: this header followed by `jpeg`.
    pub fn encode(&self, jpeg: &[u8]) -> Vec<u8> {
        let mut out = alloc::vec![0u8; HEADER_LEN + jpeg.len()];
        self.write_to(&mut out);
        out[HEADER_LEN..].copy_from_slice(jpeg);
        out
    }
}

/// Splits a payload into its header and JPEG bytes.
///
/// Accepts headers longer than [`HEADER_LEN`] (fields from a newer writer are skipped).
/// Does not look inside the JPEG: decoding it is the reader's job.
pub fn parse(payload: &[u8]) -> Result<(FrameHeader, &[u8]), WireError> {
    if payload.len() < MIN_HEADER_LEN {
        return Err(WireError::TooShort { len: payload.len() });
    }
    if payload[0..4] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if payload[4] != VERSION {
        return Err(WireError::UnknownVersion(payload[4]));
    }
    let header_len = u16::from_le_bytes([payload[6], payload[7]]) as usize;
    if header_len < MIN_HEADER_LEN || header_len > payload.len() {
        return Err(WireError::BadHeaderLength { header_len, payload_len: payload.len() });
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&payload[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let u32_at = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&payload[i..i + 4]);
        u32::from_le_bytes(b)
    };
    let header = FrameHeader {
        sequence: u64_at(8),
        capture_us: u64_at(16),
        encoded_us: u64_at(24),
        width: u32_at(32),
        height: u32_at(36),
        published_us: if header_len >= PUBLISHED_AT + 8 { u64_at(PUBLISHED_AT) } else { 0 },
    };
    Ok((header, &payload[header_len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FrameHeader {
        FrameHeader {
            sequence: 0x0102_0304_0506_0708,
            capture_us: 1_763_715_600_000_000,
            encoded_us: 1_763_715_600_004_321,
            width: 1280,
            height: 720,
            published_us: 1_763_715_600_004_999,
        }
    }

    #[test]
    fn a_payload_round_trips() {
        let jpeg = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        let payload = sample().encode(&jpeg);
        assert_eq!(payload.len(), HEADER_LEN + jpeg.len());
        let (h, body) = parse(&payload).unwrap();
        assert_eq!(h, sample());
        assert_eq!(body, jpeg);
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let p = sample().encode(&[]);
        assert_eq!(&p[0..4], b"MQCF");
        assert_eq!(p[4], 1);
        assert_eq!(p[5], 0);
        assert_eq!(&p[6..8], &[48, 0]);
        assert_eq!(&p[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&p[32..36], &1280u32.to_le_bytes());
        assert_eq!(&p[36..40], &720u32.to_le_bytes());
        assert_eq!(&p[40..48], &1_763_715_600_004_999u64.to_le_bytes());
    }

    #[test]
    fn a_40_byte_header_from_the_first_writers_reads_published_as_zero() {
        let mut p = sample().encode(&[0xFF, 0xD8]);
        p.drain(40..48);
        p[6..8].copy_from_slice(&40u16.to_le_bytes());
        let (h, body) = parse(&p).unwrap();
        assert_eq!(h, FrameHeader { published_us: 0, ..sample() });
        assert_eq!(body, [0xFF, 0xD8]);
    }

    #[test]
    fn the_published_time_is_stamped_in_place() {
        let mut p = sample().encode(&[1]);
        FrameHeader::stamp_published(&mut p, 42);
        assert_eq!(parse(&p).unwrap().0.published_us, 42);
    }

    #[test]
    fn a_longer_header_from_a_newer_writer_is_skipped() {
        let mut p = sample().encode(&[]);
        p[6..8].copy_from_slice(&56u16.to_le_bytes());
        p.extend_from_slice(&[0xAA; 8]); // the unknown new field
        p.extend_from_slice(&[0xFF, 0xD8]);
        let (h, body) = parse(&p).unwrap();
        assert_eq!(h, sample());
        assert_eq!(body, [0xFF, 0xD8]);
    }

    #[test]
    fn short_payloads_are_too_short() {
        assert_eq!(parse(&[]), Err(WireError::TooShort { len: 0 }));
        assert_eq!(parse(b"MQCF\x01"), Err(WireError::TooShort { len: 5 }));
    }

    #[test]
    fn a_wrong_magic_is_rejected() {
        let mut p = sample().encode(&[1]);
        p[0] = b'X';
        assert_eq!(parse(&p), Err(WireError::BadMagic));
    }

    #[test]
    fn an_unknown_version_is_rejected() {
        let mut p = sample().encode(&[1]);
        p[4] = 2;
        assert_eq!(parse(&p), Err(WireError::UnknownVersion(2)));
    }

    #[test]
    fn a_header_length_beyond_the_payload_is_rejected() {
        let mut p = sample().encode(&[]);
        p[6..8].copy_from_slice(&49u16.to_le_bytes());
        assert_eq!(parse(&p), Err(WireError::BadHeaderLength { header_len: 49, payload_len: 48 }));
    }

    #[test]
    fn a_header_length_below_the_minimum_is_rejected() {
        let mut p = sample().encode(&[0; 16]);
        p[6..8].copy_from_slice(&8u16.to_le_bytes());
        assert!(matches!(parse(&p), Err(WireError::BadHeaderLength { header_len: 8, .. })));
    }

    #[test]
    fn a_truncated_header_with_valid_prefix_is_rejected_not_panicking() {
        let p = sample().encode(&[]);
        for n in 0..MIN_HEADER_LEN {
            assert!(parse(&p[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: every length up to 64 with varied contents,
        // including ones that start with the magic so the deeper checks run.
        let mut x: u32 = 0x1234_5678;
        for len in 0..64usize {
            for _ in 0..200 {
                let mut v: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect();
                if len >= 5 && x.is_multiple_of(2) {
                    v[..4].copy_from_slice(&MAGIC);
                    v[4] = VERSION;
                }
                let _ = parse(&v);
            }
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = WireError::BadHeaderLength { header_len: 99, payload_len: 50 };
        assert_eq!(e.to_string(), "header length 99 is impossible for a 50-byte payload");
    }
}
