//! What the presentation path is handed: a stamped JPEG, with its stamp (capture,
//! encode and publish times, sequence), when it arrived, the rendition it belongs to and
//! whether it counts for latency. Where it came from (the live subscription, a preview,
//! a recording) is the [`Source`](crate::picture::present::Source)'s business.

use wire::{ack::Rendition, FrameHeader};

use crate::{net::session, playback::player::Recorded};

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
    /// Played back from a recording: which request it answered. Its age says when it
    /// was recorded, not how fast the system is: no latency sample.
    pub recorded: Option<Recorded>,
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
            .field("recorded", &self.recorded)
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
            recorded: None,
        }
    }

    /// A preview's payload, if it is a frame.
    pub fn preview(payload: Vec<u8>, received_ms: f64, stored: bool, generation: u32) -> Option<Frame> {
        let (header, jpeg_at) = session::frame(&payload)?;
        Some(Frame {
            header,
            payload,
            jpeg_at,
            received_ms,
            stored,
            generation,
            rendition: Rendition::Full,
            recorded: None,
        })
    }

    /// A recorded frame's payload (the stamped JPEG as it was published), if it is a frame.
    pub fn recorded(payload: &[u8], received_ms: f64, generation: u32, r: Recorded) -> Option<Frame> {
        let mut f = Frame::preview(payload.to_vec(), received_ms, false, generation)?;
        f.recorded = Some(r);
        Some(f)
    }

    /// Whether it counts for latency, the frame rate and the link: a live frame does,
    /// the broker's stored one and a recorded one do not.
    pub fn counts(&self) -> bool {
        !self.stored && self.recorded.is_none()
    }

    pub fn jpeg(&self) -> &[u8] {
        &self.payload[self.jpeg_at..]
    }

    /// The whole payload's size, for the link's rate.
    pub fn bytes(&self) -> usize {
        self.payload.len()
    }
}
