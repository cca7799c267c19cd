//! The topic layout. One prefix per installation, one level per camera:
//!
//! ```text
//! <prefix>/<camera>/frame    one frame per message (wire format), QoS 0, not retained
//! ```

/// The topic a camera's frames are published on.
pub fn frame(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/frame")
}
