//! Frame sources: where pictures come from before they are encoded.
//!
//! A [`Source`] is the seam where cameras plug in. It blocks until its next frame is
//! ready (a camera blocks on its driver; the test pattern and replay sleep to their
//! schedule) and hands back an owned [`Captured`](crate::frame::Captured) frame with the
//! wall-clock time it was captured. Sources run on the capture thread, never on the
//! async runtime. Failing sources return [`SourceError::Lost`]; the pipeline reports the
//! camera offline, waits and asks again, and the source reopens its device on that next
//! call.
//!
//! - [`pattern`]: the moving test pattern (no hardware).
//! - [`replay`]: a directory of JPEG files or one MJPEG file, looped.
//! - [`camera`]: a V4L2-style camera behind the [`device::Device`] trait: negotiation,
//!   buffers → frames, reopening after a failure. [`v4l2`] implements the trait with
//!   real ioctls, `fake` with scripted buffers for tests.
//! - [`http`]: network cameras, in the order a frame meets the files: `http/url.rs` (the
//!   camera's URL, checked when the source is made, and the request made from it),
//!   `http/connection.rs` (the socket: the request out, the response's head and body
//!   in), [`multipart`] (a stream's body split into JPEGs, without I/O), and
//!   `http/mod.rs`: the two sources, an MJPEG stream ([`http::HttpMjpeg`]) and a JPEG
//!   snapshot URL polled at the camera's rate ([`http::HttpSnapshot`]).
//! - [`rtsp`]: RTSP cameras: H.264 decoded (only as much as is needed) or MJPEG passed
//!   through.
//! - [`split`]: a camera's previews from a cheaper source of its own (its substream or
//!   snapshot URL) while nobody watches its main stream.
//!
//! Every source hands its frames on through `seam.rs`: the [`Source`] trait and
//! [`SourceError`], below the sources that implement them, so that no source and this
//! file depend on each other. [`pace`] keeps the sources with no clock of their own
//! (pattern, replay, snapshots) to their frame rate.

pub mod camera;
pub mod device;
#[cfg(test)]
pub mod fake;
pub mod http;
pub mod multipart;
pub mod pace;
pub mod pattern;
pub mod replay;
pub mod rtsp;
mod seam;
pub mod split;
#[cfg(target_os = "linux")]
pub mod v4l2;

pub use seam::{Decoded, Demand, Source, SourceError, Wanted};

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

/// Why a camera's source could not be opened at startup.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Replay(#[from] replay::ReplayError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("{0}")]
    Rtsp(String),
    #[error("{}: V4L2 cameras need Linux", .0.display())]
    NeedsLinux(std::path::PathBuf),
}
