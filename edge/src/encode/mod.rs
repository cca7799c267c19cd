//! From a captured frame to the JPEG payloads the publisher sends.
//!
//! - [`process`]: one captured frame → its stamped payloads (full, smaller renditions,
//!   preview), using the rest:
//! - [`convert`]: camera YUYV/NV12 and decoded H.264's I420 to planar 4:2:0, limited to
//!   full range.
//! - [`mozjpeg`](Encoder): mozjpeg with fast settings, panics contained.
//! - [`passthrough`]: cheap validation of camera JPEGs; standard Huffman tables when
//!   missing.
//! - [`preview`]: each camera's small picture for grid tiles and its half and quarter
//!   renditions, from the encoder's planes or a reduced-scale decode of the camera's JPEG.

pub mod convert;
mod mozjpeg;
pub mod passthrough;
pub mod preview;
pub mod process;

pub(crate) use mozjpeg::panic_message;
pub use mozjpeg::{EncodeError, Encoder};
