//! What travels between the stages, below all of them: a source's [`Captured`] frame
//! (a [`Picture`]: planes in a [`Yuv420`], camera YUYV/NV12 in some [`Range`], or a
//! JPEG), the [`EncodedFrame`] the encoders hand to the publisher through the
//! newest-frame slot ([`newest`]: a [`FrameSender`] for the encoders, a [`FrameReceiver`]
//! for the publisher), and the source's [`SourceStatus`]. Nothing here imports a stage.

mod encoded;
mod newest;
mod picture;
mod status;
mod yuv;

pub use encoded::EncodedFrame;
pub use newest::{newest, FrameReceiver, FrameSender};
pub use picture::{Captured, Picture, Range};
pub use status::SourceStatus;
pub use yuv::Yuv420;
