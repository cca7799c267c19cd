//! The seam every frame source plugs into: the [`Source`] trait, and [`SourceError`]
//! when a source cannot deliver.
//!
//! In a file of its own, below the sources: each of them implements it, and `mod.rs`
//! (which names their errors in `OpenError` and lists the devices) sits above them. With
//! the trait in `mod.rs`, every source and `mod.rs` would depend on each other.

use std::sync::Arc;

use crate::frame::Captured;

/// Something that produces frames at its own pace.
pub trait Source: Send {
    /// A short human description for logs ("test pattern 640x480 @ 30 fps").
    fn describe(&self) -> String;
    /// Blocks until the next frame and returns it.
    fn next_frame(&mut self) -> Result<Captured, SourceError>;
    /// Whether it makes a frame the moment it is asked, with no clock of its own (the
    /// test pattern unthrottled): then it is asked only when a frame can go out. A
    /// camera is never asked to wait: its driver would hand over stale frames after.
    fn on_request(&self) -> bool {
        false
    }
    /// Nobody needs frames for a while: let go of the device or the connection (a
    /// camera's LED goes off, a network camera stops sending). The next `next_frame`
    /// opens it again.
    fn rest(&mut self) {}
    /// Where to ask, whenever it likes, how many of its frames are needed now. A source
    /// that must decode to make a picture (H.264) decodes only what is needed: with
    /// [`Demand::Sparse`], its keyframes. The others make every frame anyway.
    fn wanted(&mut self, _wanted: Wanted) {}
    /// Whether the frame `next_frame` just returned is fit only for previews (a camera's
    /// substream, taken while nobody watched): never published as one of its streams,
    /// even if someone started watching while it was on its way.
    fn previews_only(&self) -> bool {
        false
    }
    /// For a source that decodes (H.264): frames decoded and the time it took, since it
    /// was made (catching up and keyframes for previews included). Read after each frame.
    fn decoded(&self) -> Decoded {
        Decoded::default()
    }
}

/// Decoding done by a source so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoded {
    pub frames: u64,
    pub us: u64,
}

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The device failed or went away; the next call tries to reopen it.
    #[error("{0}")]
    Lost(String),
}

/// How many of a source's frames the pipeline needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demand {
    /// Every frame: someone watches one of the camera's streams.
    Every,
    /// A frame now and then: nobody watches; frames only make previews (a few a second
    /// at most) and feed motion detection.
    Sparse,
    /// None: the edge is stopping; return from `next_frame` soon.
    Stop,
}

/// Asked by a source whenever it likes: how many of its frames are needed now (the
/// pipeline's watchers and stop flag, behind a function).
#[derive(Clone)]
pub struct Wanted(Arc<dyn Fn() -> Demand + Send + Sync>);

impl Wanted {
    pub fn new(now: impl Fn() -> Demand + Send + Sync + 'static) -> Wanted {
        Wanted(Arc::new(now))
    }

    /// Every frame, always: until the pipeline says otherwise.
    pub fn every() -> Wanted {
        Wanted::new(|| Demand::Every)
    }

    pub fn now(&self) -> Demand {
        (self.0)()
    }
}
