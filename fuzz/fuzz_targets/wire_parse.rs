//! `wire::parse` sees every MQTT payload on a frame topic, from any publisher that can
//! reach the broker, so it must never panic, and what it accepts must be a real frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{FrameHeader, WireError, MAGIC, RESERVED, STAMP_LEN, V1_HEADER_LEN, V1_MIN_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let (header, jpeg) = match wire::parse(data) {
        Ok(ok) => ok,
        Err(e) => {
            // The error must describe the input truthfully: logs and counters rely on it.
            let _ = e.to_string();
            match e {
                WireError::TooShort { len } => assert!(len == data.len() && len < STAMP_LEN),
                WireError::BadMagic => assert!(!data.starts_with(&MAGIC) && !data.starts_with(&[0xFF, 0xD8])),
                WireError::NoStamp => assert!(data.starts_with(&[0xFF, 0xD8])),
                WireError::UnknownVersion(v) => assert!(v != wire::VERSION || data.starts_with(&MAGIC)),
                WireError::BadHeaderLength { header_len, payload_len } => {
                    assert!(data.starts_with(&MAGIC) && payload_len == data.len());
                    assert!(header_len < V1_MIN_HEADER_LEN || header_len > payload_len);
                }
                WireError::NotJpeg => panic!("parse never says NotJpeg"),
            }
            return;
        }
    };

    if data.starts_with(&MAGIC) {
        // Version 1: the JPEG is the tail of the input, starting exactly at the declared
        // header length: a reader that skips unknown fields skips neither more nor less.
        let header_len = data.len() - jpeg.len();
        assert!((V1_MIN_HEADER_LEN..=data.len()).contains(&header_len));
        assert_eq!(header_len, u16::from_le_bytes([data[6], data[7]]) as usize);
        assert_eq!(jpeg.as_ptr(), data[header_len..].as_ptr());
        // A field beyond a shorter (older) header reads as 0, never as JPEG bytes.
        if header_len < V1_HEADER_LEN {
            assert_eq!(header.published_us, 0);
        }
    } else {
        // Version 2: the payload is the JPEG.
        assert_eq!(jpeg, data);
        assert!(data.starts_with(&[0xFF, 0xD8]));
    }

    // What the edge would write for this frame must read back identically: the writer
    // and the reader agree on every offset.
    if jpeg.starts_with(&[0xFF, 0xD8]) {
        let again = header.encode(jpeg).expect("a JPEG can be stamped");
        assert_eq!(again.len(), RESERVED + jpeg.len());
        assert_eq!(wire::parse(&again).map(|(h, _)| h), Ok(header));
        // The publisher stamps the published time in place, after encoding: it must
        // touch that field only.
        let mut stamped = again;
        let published_us = header.sequence ^ header.capture_us;
        FrameHeader::stamp_published(&mut stamped, published_us);
        assert_eq!(wire::parse(&stamped).map(|(h, _)| h), Ok(FrameHeader { published_us, ..header }));
    }
});
