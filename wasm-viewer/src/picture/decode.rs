//! The browser's JPEG decoder (`createImageBitmap`, off this thread), and the newest
//! received frame waiting for it.
//!
//! Decoding keeps latency bounded: at most one decode is in flight per picture (the
//! engine's main canvas, each tile) and only the newest received frame waits behind it
//! ([`Pending`]); a frame replaced while waiting is counted as dropped. A slow phone
//! therefore shows fewer frames, never older ones.

use std::future::Future;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, ImageBitmap};
use wire::{ack::Rendition, FrameHeader};

use crate::{net::session, scope::scope};

/// A received frame, waiting for the decoder.
pub struct Pending {
    pub header: FrameHeader,
    /// Kept in WASM memory: the browser copies its JPEG once more, into the `Blob`.
    payload: Vec<u8>,
    /// Where the JPEG starts in `payload`.
    jpeg_at: usize,
    /// When its last bytes arrived (viewer ms).
    pub received_ms: f64,
    /// The broker's stored copy (retained), not a live frame: shown, but its age says
    /// how long the camera was idle, not how fast the system is, so it is no sample.
    pub stored: bool,
    /// The switch it arrived in (the engine's generation): a frame of the camera left
    /// behind is never drawn.
    pub generation: u32,
    /// The rendition it belongs to (acknowledged as such).
    pub rendition: Rendition,
}

impl Pending {
    /// A frame the session gave, arrived at `received_ms`.
    pub fn frame(f: session::Frame, received_ms: f64, generation: u32, rendition: Rendition) -> Pending {
        let stored = f.retained;
        Pending {
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
    pub fn preview(payload: Vec<u8>, received_ms: f64, stored: bool, generation: u32) -> Option<Pending> {
        let (header, jpeg_at) = session::frame(&payload)?;
        Some(Pending {
            header,
            payload,
            jpeg_at,
            received_ms,
            stored,
            generation,
            rendition: Rendition::Full,
        })
    }

    pub fn jpeg(&self) -> &[u8] {
        &self.payload[self.jpeg_at..]
    }

    /// The whole payload's size, for the link's rate.
    pub fn bytes(&self) -> usize {
        self.payload.len()
    }
}

/// A JPEG `Blob` of `jpeg`, copied straight out of WASM memory.
fn jpeg_blob(jpeg: &[u8]) -> Result<Blob, JsValue> {
    let options = BlobPropertyBag::new();
    options.set_type("image/jpeg");
    // SAFETY: the view is only read by the `Blob` constructor, which copies it before
    // returning; nothing allocates in WASM memory (which could move it) in between.
    let view = unsafe { Uint8Array::view(jpeg) };
    Blob::new_with_u8_array_sequence_and_options(&Array::of1(&view), &options)
}

/// Starts the browser's decoder on a JPEG (off this thread); the future gives the picture.
pub fn decode(jpeg: &[u8]) -> impl Future<Output = Result<ImageBitmap, JsValue>> {
    let promise = jpeg_blob(jpeg).and_then(|blob| scope().create_image_bitmap(&blob));
    async move { JsFuture::from(promise?).await?.dyn_into::<ImageBitmap>() }
}
