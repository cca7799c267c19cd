//! The topic layout. One prefix per installation, one level per camera:
//!
//! ```text
//! <prefix>/<camera>/frame    one frame per message (wire format), QoS 0, not retained
//! <prefix>/<camera>/status   {"state":"online"|"offline"|"starting","detail":…,"at_us":…},
//!                            retained, QoS 1; the last will says offline
//! ```

/// The topic a camera's frames are published on.
pub fn frame(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/frame")
}

/// The retained status topic of a camera.
pub fn status(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/status")
}
