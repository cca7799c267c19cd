//! What the presentation path is handed: a stamped JPEG, with its stamp (capture,
//! encode and publish times, sequence), when it arrived, the rendition it belongs to and
//! whether it counts for latency. Where it came from (the live subscription, a preview,
//! later a recording) is the [`Source`](crate::picture::present::Source)'s business.

use wire::{ack::Rendition, FrameHeader};

use crate::net::session;

/// A stamped JPEG for the picture: its stamp, its bytes, where it came from.
pub struct Frame {
    pub header: FrameHeader,
    /// Kept in WASM memory: the browser copies its JPEG once more, into the `Blob`.
    payload: Vec<u8>,
    /// Where the JPEG starts in `payload`.
    jpeg_at: usize,
    /// When its last bytes arrived (viewer ms).
    pub received_ms: f64,
    /// The broker's stored copy (retained), not a live frame: shown, but its age says
    /// how long the camera was idle, not how fast the system is, so it is no sample
    /// (it does not count for latency, the frame rate or the link).
    pub stored: bool,
    /// The switch it arrived in (the engine's generation): a frame of the camera left
    /// behind is never drawn.
    pub generation: u32,
    /// The rendition it belongs to (acknowledged as such).
    pub rendition: Rendition,
}

/// The stamp and sizes, not the bytes.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("header", &self.header)
            .field("bytes", &self.payload.len())
            .field("received_ms", &self.received_ms)
            .field("stored", &self.stored)
            .field("generation", &self.generation)
            .field("rendition", &self.rendition)
            .finish()
    }
}

impl Frame {
    /// A frame the session gave, arrived at `received_ms`.
    pub fn live(f: session::Frame, received_ms: f64, generation: u32, rendition: Rendition) -> Frame {
        let stored = f.retained;
        Frame {
            header: f.header,
            payload: f.payload,
            jpeg_at: f.jpeg_at,
            received_ms,
            stored,
            generation,
            rendition,
        }
    }

    /// A preview's payload, if it is a frame.
    pub fn preview(payload: Vec<u8>, received_ms: f64, stored: bool, generation: u32) -> Option<Frame> {
        let (header, jpeg_at) = session::frame(&payload)?;
        Some(Frame { header, payload, jpeg_at, received_ms, stored, generation, rendition: Rendition::Full })
    }

    /// Whether it counts for latency, the frame rate and the link: a live frame does,
    /// the broker's stored one does not.
    pub fn counts(&self) -> bool {
        !self.stored
    }

    pub fn jpeg(&self) -> &[u8] {
        &self.payload[self.jpeg_at..]
    }

    /// The whole payload's size, for the link's rate.
    pub fn bytes(&self) -> usize {
        self.payload.len()
    }
}
