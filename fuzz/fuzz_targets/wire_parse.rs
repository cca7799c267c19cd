//! `wire::parse` sees every MQTT payload on a frame topic, from any publisher that can
//! reach the broker, so it must never panic, and what it accepts must be a real frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{FrameHeader, WireError, HEADER_LEN, MAGIC, MIN_HEADER_LEN, VERSION};

fuzz_target!(|data: &[u8]| {
    let (header, jpeg) = match wire::parse(data) {
        Ok(ok) => ok,
        Err(e) => {
            // The error must describe the input truthfully: logs and counters rely on it.
            let _ = e.to_string();
            match e {
                WireError::TooShort { len } => assert!(len == data.len() && len < MIN_HEADER_LEN),
                WireError::BadMagic => assert!(data[..4] != MAGIC),
                WireError::UnknownVersion(v) => assert!(v == data[4] && v != VERSION),
                WireError::BadHeaderLength { header_len, payload_len } => {
                    assert_eq!(payload_len, data.len());
                    assert!(header_len < MIN_HEADER_LEN || header_len > payload_len);
                }
            }
            return;
        }
    };

    // The JPEG must be the tail of the input, starting exactly at the declared header
    // length: a reader that skips unknown fields must skip neither more nor less.
    let header_len = data.len() - jpeg.len();
    assert!((MIN_HEADER_LEN..=data.len()).contains(&header_len));
    assert_eq!(header_len, u16::from_le_bytes([data[6], data[7]]) as usize);
    assert_eq!(jpeg.as_ptr(), data[header_len..].as_ptr());
    assert!(data.starts_with(&MAGIC) && data[4] == VERSION);
    // A field beyond a shorter (older) header reads as 0, never as JPEG bytes.
    if header_len < HEADER_LEN {
        assert_eq!(header.published_us, 0);
    }

    // What the edge would write for this frame must read back identically: the writer
    // and the reader agree on every offset.
    let again = header.encode(jpeg);
    assert_eq!(again.len(), HEADER_LEN + jpeg.len());
    assert_eq!(wire::parse(&again), Ok((header, jpeg)));
    // An input already in this crate's own layout must re-encode byte for byte.
    if header_len == HEADER_LEN && data[5] == 0 {
        assert_eq!(again, data);
    }

    // The publisher stamps the published time in place, after encoding: it must touch
    // that field only.
    let mut stamped = again;
    let published_us = header.sequence ^ header.capture_us;
    FrameHeader::stamp_published(&mut stamped, published_us);
    assert_eq!(wire::parse(&stamped), Ok((FrameHeader { published_us, ..header }, jpeg)));
});
