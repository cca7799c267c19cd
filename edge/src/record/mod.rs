//! Recording: the frames the edge publishes, kept on disk per camera, and played back.
//!
//! # Layout
//! In the order a frame meets them:
//! - [`log`]: the format on disk (no I/O): log entries with checksums, the index.
//! - [`store`]: one camera's track on disk: segments appended, synced, repaired, read.
pub mod log;
pub mod store;
