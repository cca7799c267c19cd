//! The real camera: V4L2 through the `v4l` crate. Only ioctls live here; everything
//! that can be decided without a device (negotiation, conversion, validation, recovery)
//! is in `device`, `camera` and the pipeline, and is tested with the fake device.
//!
//! Not covered by tests on machines without `/dev/video*` (CI has none).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use v4l::{
    buffer::Type,
    format::{FourCC, Quantization},
    frameinterval::FrameIntervalEnum,
    framesize::FrameSizeEnum,
    io::traits::{CaptureStream, Stream as _},
    prelude::MmapStream,
    video::{capture::Parameters, Capture},
};

use super::device::{Buffer, Choice, Device, DeviceError, Fourcc, Granted, Mode, Opener, Want};
use crate::frame::Range;

/// Buffers the driver fills in turn: enough to capture while one is being copied out,
/// few enough that none sits around getting stale.
const BUFFERS: u32 = 4;
/// A camera that sends nothing for this long is treated as gone.
const DEQUEUE_TIMEOUT: Duration = Duration::from_secs(3);

/// A video capture node, e.g. `/dev/video0`.
pub struct V4l2Opener {
    path: PathBuf,
}

impl V4l2Opener {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        V4l2Opener { path: path.into() }
    }
}

impl Opener for V4l2Opener {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn open(&mut self) -> Result<Box<dyn Device>, DeviceError> {
        Ok(Box::new(V4l2Device::open(&self.path)?))
    }
}

pub struct V4l2Device {
    // Field order matters: the stream (which unmaps the buffers) drops before the device.
    stream: Option<MmapStream<'static>>,
    device: v4l::Device,
}

impl V4l2Device {
    fn open(path: &Path) -> Result<Self, DeviceError> {
        let device = v4l::Device::with_path(path)?;
        let caps = device.query_caps()?;
        if !caps.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE) {
            return Err(DeviceError::Unsupported(format!(
                "{} ({}) cannot capture video",
                path.display(),
                caps.card
            )));
        }
        Ok(V4l2Device { stream: None, device })
    }

    /// The card name the driver reports.
    pub fn card(&self) -> String {
        self.device.query_caps().map(|c| c.card).unwrap_or_default()
    }
}

impl Drop for V4l2Device {
    fn drop(&mut self) {
        // v4l's stream panics in drop when STREAMOFF fails with anything but ENODEV,
        // which a flaky camera can do; contain it so a bad unplug costs a reopen only.
        if let Some(stream) = self.stream.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(stream)));
        }
    }
}

/// Sizes to offer from a stepwise range: its ends and the common sizes inside it
/// (listing every step would be millions of modes).
fn sizes(size: FrameSizeEnum) -> Vec<(u32, u32)> {
    match size {
        FrameSizeEnum::Discrete(d) => vec![(d.width, d.height)],
        FrameSizeEnum::Stepwise(s) => {
            let common =
                [(320, 240), (640, 480), (800, 600), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160)];
            let mut out = vec![(s.min_width, s.min_height)];
            out.extend(common.iter().copied().filter(|&(w, h)| {
                (s.min_width..=s.max_width).contains(&w) && (s.min_height..=s.max_height).contains(&h)
            }));
            out.push((s.max_width, s.max_height));
            out.dedup();
            out
        }
    }
}

fn fps_of(numerator: u32, denominator: u32) -> f64 {
    if numerator == 0 {
        0.0
    } else {
        denominator as f64 / numerator as f64
    }
}

impl Device for V4l2Device {
    fn modes(&mut self) -> Result<Vec<Mode>, DeviceError> {
        let mut modes = Vec::new();
        for format in self.device.enum_formats()? {
            let fourcc = Fourcc::from_bytes(format.fourcc.repr);
            for size in self.device.enum_framesizes(format.fourcc)? {
                for (width, height) in sizes(size.size) {
                    let mut fps: Vec<f64> = self
                        .device
                        .enum_frameintervals(format.fourcc, width, height)
                        .unwrap_or_default()
                        .into_iter()
                        .flat_map(|i| match i.interval {
                            FrameIntervalEnum::Discrete(f) => {
                                vec![fps_of(f.numerator, f.denominator)]
                            }
                            // Fastest and slowest of a continuous range.
                            FrameIntervalEnum::Stepwise(s) => {
                                vec![
                                    fps_of(s.min.numerator, s.min.denominator),
                                    fps_of(s.max.numerator, s.max.denominator),
                                ]
                            }
                        })
                        .filter(|f| *f > 0.0)
                        .collect();
                    fps.sort_by(|a, b| b.total_cmp(a));
                    fps.dedup();
                    modes.push(Mode { fourcc, width, height, fps });
                }
            }
        }
        Ok(modes)
    }

    fn start(&mut self, choice: &Choice) -> Result<Granted, DeviceError> {
        self.stream = None;
        let mut format = self.device.format()?;
        format.width = choice.width;
        format.height = choice.height;
        format.fourcc = FourCC::new(&choice.fourcc.to_bytes());
        let got = self.device.set_format(&format)?;
        let mut fps = 0.0;
        if choice.fps > 0.0 {
            let params = self.device.set_params(&Parameters::with_fps(choice.fps.round() as u32))?;
            fps = fps_of(params.interval.numerator, params.interval.denominator);
        }
        let mut stream = MmapStream::with_buffers(&self.device, Type::VideoCapture, BUFFERS)?;
        stream.set_timeout(DEQUEUE_TIMEOUT);
        stream.start()?;
        self.stream = Some(stream);
        Ok(Granted {
            fourcc: Fourcc::from_bytes(got.fourcc.repr),
            width: got.width,
            height: got.height,
            stride: got.stride,
            fps,
            range: if matches!(got.quantization, Quantization::FullRange) {
                Range::Full
            } else {
                Range::Limited
            },
        })
    }

    fn dequeue(&mut self) -> Result<Buffer<'_>, DeviceError> {
        let stream = self.stream.as_mut().ok_or_else(|| DeviceError::Unsupported("not streaming".into()))?;
        let (data, meta) = match stream.next() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(DeviceError::Timeout(DEQUEUE_TIMEOUT.as_millis() as u64))
            }
            Err(e) => return Err(e.into()),
        };
        // The mapping is the whole buffer; only `bytesused` of it is this frame.
        let used = (meta.bytesused as usize).min(data.len());
        let (sec, usec) = (meta.timestamp.sec, meta.timestamp.usec);
        let monotonic_us = (sec > 0 || usec > 0).then(|| sec as u64 * 1_000_000 + usec as u64);
        Ok(Buffer { data: &data[..used], monotonic_us })
    }
}

/// A video device as listed by `--list-devices`.
pub struct Listed {
    pub path: PathBuf,
    pub card: String,
    pub modes: Result<Vec<Mode>, String>,
}

/// Every `/dev/video*` node that can capture, with its modes.
pub fn list() -> Vec<Listed> {
    let mut nodes: Vec<PathBuf> =
        v4l::context::enum_devices().into_iter().map(|n| n.path().to_path_buf()).collect();
    nodes.sort();
    nodes
        .into_iter()
        .filter_map(|path| {
            let mut dev = V4l2Device::open(&path).ok()?;
            let card = dev.card();
            let modes = dev.modes().map_err(|e| e.to_string());
            Some(Listed { path, card, modes })
        })
        .collect()
}

/// The first camera that offers something usable for `want`.
pub fn first_usable(want: &Want) -> Option<V4l2Opener> {
    list().into_iter().find_map(|d| {
        let modes = d.modes.ok()?;
        super::device::choose(&modes, want)?;
        Some(V4l2Opener::new(d.path))
    })
}
