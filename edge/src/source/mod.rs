//! Frame sources: where pictures come from before they are encoded.
//!
//! A [`Source`] is the seam where cameras plug in. It blocks until its next frame is
//! ready (a camera blocks on its driver; the test pattern and replay sleep to their
//! schedule) and hands back an owned [`Captured`] frame with the wall-clock time it was
//! captured. Sources run on the capture thread, never on the async runtime. Failing
//! sources return [`SourceError::Lost`]; the pipeline reports the camera offline, waits
//! and asks again, and the source reopens its device on that next call.
//!
//! - [`pattern`]: the moving test pattern (no hardware).
//! - [`replay`]: a directory of JPEG files or one MJPEG file, looped.
//! - [`camera`]: a V4L2-style camera behind the [`device::Device`] trait: negotiation,
//!   buffers → frames, reopening after a failure. [`v4l2`] implements the trait with
//!   real ioctls, `fake` with scripted buffers for tests.
//! - [`http`]: network cameras: an HTTP MJPEG stream or a JPEG snapshot URL ([`multipart`]
//!   splits the stream without I/O).

pub mod camera;
pub mod device;
#[cfg(test)]
pub mod fake;
pub mod http;
pub mod multipart;
pub mod pace;
pub mod pattern;
pub mod replay;
#[cfg(target_os = "linux")]
pub mod v4l2;

use crate::frame::Captured;

/// `--list-devices`: every capture device with its formats, sizes and frame rates.
pub fn list_devices() -> String {
    #[cfg(target_os = "linux")]
    {
        let devices = v4l2::list();
        if devices.is_empty() {
            return "no video capture devices found (looked for /dev/video*)\n".to_string();
        }
        let mut out = String::new();
        for d in devices {
            out += &format!("{} ({})\n", d.path.display(), d.card);
            match d.modes {
                Ok(modes) => out += &device::describe_modes(&modes),
                Err(e) => out += &format!("    cannot list formats: {e}\n"),
            }
        }
        out
    }
    #[cfg(not(target_os = "linux"))]
    "video devices are listed on Linux only (V4L2)\n".to_string()
}

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The device failed or went away; the next call tries to reopen it.
    #[error("{0}")]
    Lost(String),
}

/// Why a camera's source could not be opened at startup.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("{}: V4L2 cameras need Linux", .0.display())]
    NeedsLinux(std::path::PathBuf),
}

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
}
