//! The capture thread: source → encode → newest-frame slot.
//!
//! It runs on a plain OS thread because sources block (camera dequeue, pacing sleeps)
//! and encoding is CPU work; neither belongs on the async runtime. Each encoded frame
//! replaces whatever the publisher has not taken yet (see `publish`).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::sync::watch;
use wire::{FrameHeader, HEADER_LEN};

use crate::{clock, encode::Encoder, meter::Meter, publish::EncodedFrame, source::Source};

/// Runs until `stop` is set or the slot has no reader left.
pub fn run(
    mut source: Box<dyn Source>,
    encoder: Encoder,
    slot: watch::Sender<Option<Arc<EncodedFrame>>>,
    meter: Arc<Meter>,
    stop: Arc<AtomicBool>,
) {
    let mut sequence = 0u64;
    let mut size_hint = 64 * 1024;
    let mut last_warning: Option<Instant> = None;
    while !stop.load(Relaxed) && !slot.is_closed() {
        let frame = match source.next_frame() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "source failed; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        meter.captured.fetch_add(1, Relaxed);
        let this = sequence;
        sequence += 1;
        let (capture_us, width, height) = (
            frame.capture_us,
            frame.image.width() as u32,
            frame.image.height() as u32,
        );

        let started = Instant::now();
        // Reserve the header's bytes in front so the JPEG lands where the payload wants it.
        let mut buf = Vec::with_capacity(HEADER_LEN + size_hint);
        buf.resize(HEADER_LEN, 0);
        let mut payload = match encoder.encode_into(frame.image, buf) {
            Ok(p) => p,
            Err(e) => {
                meter.encode_errors.fetch_add(1, Relaxed);
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    tracing::warn!(sequence = this, error = %e, "frame not encoded");
                    last_warning = Some(Instant::now());
                }
                continue;
            }
        };
        let encoded_us = clock::now_us();
        let header = FrameHeader {
            sequence: this,
            capture_us,
            encoded_us,
            width,
            height,
        };
        header.write_to(&mut payload);
        let encode_us = started.elapsed().as_micros() as u64;
        meter.encoded.fetch_add(1, Relaxed);
        meter.encode_us.fetch_add(encode_us, Relaxed);
        size_hint = payload.len() + payload.len() / 4;
        tracing::debug!(
            target: "edge::frame",
            sequence = this,
            capture_us,
            encode_us,
            bytes = payload.len(),
            "encoded"
        );
        slot.send_replace(Some(Arc::new(EncodedFrame {
            sequence: this,
            payload: Bytes::from(payload),
        })));
    }
}
