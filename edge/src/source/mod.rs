//! Frame sources: where pictures come from before they are encoded.
//!
//! A [`Source`] is the seam where cameras plug in. It blocks until its next frame is
//! ready (a camera blocks on its driver; the test pattern sleeps to its schedule) and
//! hands back the frame's planes together with the wall-clock time it was captured.
//! Sources run on a plain thread, never on the async runtime.

pub mod pace;
pub mod pattern;

use crate::yuv::Yuv420;

/// One captured picture, borrowed from the source until the next call.
pub struct Frame<'a> {
    pub image: &'a Yuv420,
    /// When the picture was taken: µs since the UNIX epoch.
    pub capture_us: u64,
}

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Failed(String),
}

/// Something that produces frames at its own pace.
pub trait Source: Send {
    /// A short human description for logs ("test pattern 640x480 @ 30 fps").
    fn describe(&self) -> String;
    /// Blocks until the next frame and returns it.
    fn next_frame(&mut self) -> Result<Frame<'_>, SourceError>;
}
