//! Recording: the frames the edge publishes, kept on disk per camera, and played back.
//!
//! # Layout
//! In the order a frame meets them:
//! - [`keep`]: what of the full stream is kept: events, pre-roll, post-roll (no I/O).
//! - [`log`]: the format on disk (no I/O): log entries with checksums, the index.
//! - [`store`]: one camera's track on disk: segments appended, synced, repaired, read.
//! - [`retention`]: which segments go, by age, bytes and free space (no I/O).
//! - [`query`]: a frame near a time, the timeline's spans (no I/O).
pub mod keep;
pub mod log;
pub mod query;
pub mod retention;
pub mod store;
