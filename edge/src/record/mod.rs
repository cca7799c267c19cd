//! Recording: the frames the edge publishes, kept on disk per camera, and played back.
//!
//! # Layout
//! In the order a frame meets them:
//! - [`keep`]: what of the full stream is kept: events, pre-roll, post-roll (no I/O).
//! - [`log`]: the format on disk (no I/O): log entries with checksums, the index.
//! - [`store`]: one camera's track on disk: segments appended, synced, repaired, read.
//! - [`recorder`]: the thread that writes, syncs each second, keeps events, deletes.
//! - [`retention`]: which segments go, by age, bytes and free space (no I/O).
//! - [`query`]: a frame near a time, the timeline's spans (no I/O).
//! - [`serve`]: playback over the bus, and the bus's alarms and motion as events.
//! - [`avi`]: a clip exported as Motion-JPEG in AVI (no I/O).
//! - [`export`]: a stretch as a clip, a frame as a JPEG, for the site.
pub mod avi;
pub mod export;
pub mod keep;
pub mod log;
pub mod query;
pub mod recorder;
pub mod retention;
pub mod serve;
pub mod store;
