//! The camera seam: what the capture code needs from a video device, and the choice of
//! format, size and frame rate among what a device offers.
//!
//! [`Device`] is deliberately small (list modes, start streaming, dequeue a buffer) so
//! the real V4L2 implementation is a thin ioctl wrapper and everything else — the
//! negotiation here, buffer conversion, validation, recovery — runs against a fake
//! device in tests.

use std::fmt;

use crate::frame::Range;

/// Pixel formats, by V4L2 four-character code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fourcc {
    Mjpeg,
    Yuyv,
    Nv12,
    /// Anything else a device lists; shown, never chosen.
    Other([u8; 4]),
}

impl Fourcc {
    pub fn from_bytes(b: [u8; 4]) -> Fourcc {
        match &b {
            b"MJPG" | b"JPEG" => Fourcc::Mjpeg,
            b"YUYV" => Fourcc::Yuyv,
            b"NV12" => Fourcc::Nv12,
            _ => Fourcc::Other(b),
        }
    }

    pub fn to_bytes(self) -> [u8; 4] {
        match self {
            Fourcc::Mjpeg => *b"MJPG",
            Fourcc::Yuyv => *b"YUYV",
            Fourcc::Nv12 => *b"NV12",
            Fourcc::Other(b) => b,
        }
    }

    /// Formats the edge can publish.
    pub fn usable(self) -> bool {
        !matches!(self, Fourcc::Other(_))
    }
}

impl fmt::Display for Fourcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// One format at one size, with the frame rates offered for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    pub fourcc: Fourcc,
    pub width: u32,
    pub height: u32,
    /// Frames per second, highest first; empty when the driver does not say.
    pub fps: Vec<f64>,
}

/// What the capture settings ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Want {
    pub width: u32,
    pub height: u32,
    /// 0 = the highest the mode offers.
    pub fps: u32,
    pub format: FormatPreference,
}

/// Which pixel format to ask a camera for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatPreference {
    /// MJPEG when offered at the wanted size (published as is: no encoding cost),
    /// else raw YUYV/NV12 (encoded here).
    Auto,
    /// The camera's own JPEG, passed through.
    Mjpeg,
    /// Raw frames, JPEG-encoded here at --quality.
    Yuyv,
    Nv12,
}

/// What to ask the device for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub fourcc: Fourcc,
    pub width: u32,
    pub height: u32,
    /// 0 = leave the device's rate alone.
    pub fps: f64,
}

/// What the device granted once streaming.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Granted {
    pub fourcc: Fourcc,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the first plane.
    pub stride: u32,
    pub fps: f64,
    /// Sample range of raw formats.
    pub range: Range,
}

/// One dequeued buffer, valid until the next call.
pub struct Buffer<'a> {
    /// The bytes the driver filled (`bytesused`), not the whole mapping.
    pub data: &'a [u8],
    /// Driver timestamp on CLOCK_MONOTONIC in µs, if it gave one.
    pub monotonic_us: Option<u64>,
}

/// Why a device operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no frame within {0} ms")]
    Timeout(u64),
    #[error("{0}")]
    Unsupported(String),
}

/// A video capture device.
pub trait Device: Send {
    /// Every format/size/rate combination the device offers.
    fn modes(&mut self) -> Result<Vec<Mode>, DeviceError>;
    /// Sets the format and rate and starts streaming.
    fn start(&mut self, choice: &Choice) -> Result<Granted, DeviceError>;
    /// Waits for the next filled buffer.
    fn dequeue(&mut self) -> Result<Buffer<'_>, DeviceError>;
}

/// Opens (and reopens, after a failure) one device.
pub trait Opener: Send {
    /// Where the device is, for logs ("/dev/video0").
    fn name(&self) -> String;
    fn open(&mut self) -> Result<Box<dyn Device>, DeviceError>;
}

/// Picks the mode closest to `want`, or `None` if the device offers nothing usable.
///
/// Size decides first (exact, else the smallest difference in pixel count, aspect ratio
/// breaking ties), then format (the preference, MJPEG first for `Auto` because
/// passthrough costs no CPU), then the frame rate nearest to the wanted one.
pub fn choose(modes: &[Mode], want: &Want) -> Option<Choice> {
    let allowed = |f: Fourcc| match want.format {
        FormatPreference::Auto => f.usable(),
        FormatPreference::Mjpeg => f == Fourcc::Mjpeg,
        FormatPreference::Yuyv => f == Fourcc::Yuyv,
        FormatPreference::Nv12 => f == Fourcc::Nv12,
    };
    let format_rank = |f: Fourcc| match f {
        Fourcc::Mjpeg => 0,
        Fourcc::Yuyv => 1,
        Fourcc::Nv12 => 2,
        Fourcc::Other(_) => 3,
    };
    let wanted_px = want.width as f64 * want.height as f64;
    let wanted_aspect = want.width as f64 / want.height.max(1) as f64;
    let size_cost = |m: &Mode| {
        let px = m.width as f64 * m.height as f64;
        let aspect = m.width as f64 / m.height.max(1) as f64;
        ((px - wanted_px).abs() / wanted_px, (aspect - wanted_aspect).abs())
    };
    // A mode that cannot reach the wanted rate loses to one that can, at the same size.
    let rate_short = |m: &Mode| {
        let best = m.fps.iter().cloned().fold(0.0, f64::max);
        want.fps > 0 && !m.fps.is_empty() && best + 0.5 < want.fps as f64
    };
    let best = modes.iter().filter(|m| allowed(m.fourcc)).min_by(|a, b| {
        let (ca, cb) = (size_cost(a), size_cost(b));
        ca.0.total_cmp(&cb.0)
            .then(ca.1.total_cmp(&cb.1))
            .then(rate_short(a).cmp(&rate_short(b)))
            .then(format_rank(a.fourcc).cmp(&format_rank(b.fourcc)))
    })?;
    let fps = match (want.fps, best.fps.is_empty()) {
        (_, true) => 0.0,
        (0, false) => best.fps.iter().cloned().fold(0.0, f64::max),
        (f, false) => best
            .fps
            .iter()
            .cloned()
            .min_by(|a, b| (a - f as f64).abs().total_cmp(&(b - f as f64).abs()))
            .unwrap_or(0.0),
    };
    Some(Choice { fourcc: best.fourcc, width: best.width, height: best.height, fps })
}

/// Lists modes for people: one line per format and size with its rates.
pub fn describe_modes(modes: &[Mode]) -> String {
    let mut out = String::new();
    for m in modes {
        let rates = if m.fps.is_empty() {
            "rate not listed".to_string()
        } else {
            m.fps
                .iter()
                .map(|f| format!("{f:.4}").trim_end_matches('0').trim_end_matches('.').to_string())
                .collect::<Vec<_>>()
                .join(", ")
                + " fps"
        };
        let note = if m.fourcc.usable() { "" } else { "  (not supported here)" };
        out += &format!("    {} {}x{}: {rates}{note}\n", m.fourcc, m.width, m.height);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(f: Fourcc, w: u32, h: u32, fps: &[f64]) -> Mode {
        Mode { fourcc: f, width: w, height: h, fps: fps.to_vec() }
    }

    /// A typical UVC webcam: MJPEG up to 1080p30, YUYV fast only when small.
    fn webcam() -> Vec<Mode> {
        vec![
            mode(Fourcc::Yuyv, 640, 480, &[30.0, 15.0]),
            mode(Fourcc::Yuyv, 1280, 720, &[10.0, 5.0]),
            mode(Fourcc::Yuyv, 1920, 1080, &[5.0]),
            mode(Fourcc::Mjpeg, 640, 480, &[30.0, 15.0]),
            mode(Fourcc::Mjpeg, 1280, 720, &[30.0, 15.0]),
            mode(Fourcc::Mjpeg, 1920, 1080, &[30.0]),
            mode(Fourcc::Other(*b"H264"), 1920, 1080, &[30.0]),
        ]
    }

    fn want(w: u32, h: u32, fps: u32, format: FormatPreference) -> Want {
        Want { width: w, height: h, fps, format }
    }

    #[test]
    fn an_exact_match_is_taken_with_mjpeg_preferred() {
        let c = choose(&webcam(), &want(1280, 720, 30, FormatPreference::Auto)).unwrap();
        assert_eq!(c, Choice { fourcc: Fourcc::Mjpeg, width: 1280, height: 720, fps: 30.0 });
    }

    #[test]
    fn a_format_preference_is_honoured_and_the_nearest_rate_granted() {
        let c = choose(&webcam(), &want(1280, 720, 30, FormatPreference::Yuyv)).unwrap();
        assert_eq!(c, Choice { fourcc: Fourcc::Yuyv, width: 1280, height: 720, fps: 10.0 });
    }

    #[test]
    fn an_unoffered_size_gets_the_nearest_one() {
        let c = choose(&webcam(), &want(1024, 768, 30, FormatPreference::Auto)).unwrap();
        assert_eq!((c.width, c.height), (1280, 720));
        let c = choose(&webcam(), &want(320, 240, 30, FormatPreference::Auto)).unwrap();
        assert_eq!((c.width, c.height), (640, 480));
    }

    #[test]
    fn a_mode_that_reaches_the_rate_beats_one_that_does_not() {
        let modes = vec![mode(Fourcc::Yuyv, 640, 480, &[30.0]), mode(Fourcc::Mjpeg, 640, 480, &[15.0])];
        let c = choose(&modes, &want(640, 480, 30, FormatPreference::Auto)).unwrap();
        assert_eq!(c.fourcc, Fourcc::Yuyv);
    }

    #[test]
    fn zero_fps_asks_for_the_fastest() {
        let c = choose(&webcam(), &want(640, 480, 0, FormatPreference::Yuyv)).unwrap();
        assert_eq!(c.fps, 30.0);
    }

    #[test]
    fn nothing_usable_is_none() {
        let modes = vec![mode(Fourcc::Other(*b"H264"), 640, 480, &[30.0])];
        assert_eq!(choose(&modes, &want(640, 480, 30, FormatPreference::Auto)), None);
        assert_eq!(choose(&webcam(), &want(640, 480, 30, FormatPreference::Nv12)), None);
    }

    #[test]
    fn modes_are_listed_for_people() {
        let text = describe_modes(&webcam()[..1]);
        assert_eq!(text, "    YUYV 640x480: 30, 15 fps\n");
        assert!(describe_modes(&webcam()[6..]).contains("not supported"));
        assert!(describe_modes(&[mode(Fourcc::Nv12, 2, 2, &[29.97])]).contains("29.97 fps"));
    }
}
