//! A camera as a [`Source`]: opens the device, negotiates, turns buffers into frames, and
//! after a failure reopens the device on the next call (the pipeline paces the retries).

use super::{
    device::{choose, Buffer, Device, DeviceError, Fourcc, Granted, Opener, Want},
    seam::{Source, SourceError},
};
use crate::{
    clock,
    frame::{Captured, Picture},
};

pub struct CameraSource {
    opener: Box<dyn Opener>,
    want: Want,
    open: Option<(Box<dyn Device>, Granted)>,
    /// What was granted last, for `describe` while reopening.
    last_granted: Option<Granted>,
}

impl CameraSource {
    pub fn new(opener: Box<dyn Opener>, want: Want) -> Self {
        CameraSource { opener, want, open: None, last_granted: None }
    }

    /// Opens, negotiates and starts the device; logs what was granted.
    fn start(&mut self) -> Result<(), DeviceError> {
        let mut device = self.opener.open()?;
        let modes = device.modes()?;
        let choice = choose(&modes, &self.want).ok_or_else(|| {
            DeviceError::Unsupported(format!("{} offers no MJPEG, YUYV or NV12 mode", self.opener.name()))
        })?;
        let granted = device.start(&choice)?;
        let exact = granted.width == self.want.width
            && granted.height == self.want.height
            && (self.want.fps == 0 || (granted.fps - self.want.fps as f64).abs() < 0.5);
        let fps =
            if granted.fps > 0.0 { format!("{:.1} fps", granted.fps) } else { "driver's rate".to_string() };
        let message = format!(
            "{} streaming {} {}x{} @ {fps}",
            self.opener.name(),
            granted.fourcc,
            granted.width,
            granted.height
        );
        if exact {
            tracing::info!("{message}");
        } else {
            tracing::info!(
                wanted = format_args!("{}x{} @ {} fps", self.want.width, self.want.height, self.want.fps),
                "{message} (nearest the device offers)"
            );
        }
        self.last_granted = Some(granted);
        self.open = Some((device, granted));
        Ok(())
    }
}

impl Source for CameraSource {
    fn describe(&self) -> String {
        match self.last_granted {
            Some(g) => format!("camera {} {} {}x{}", self.opener.name(), g.fourcc, g.width, g.height),
            None => format!("camera {}", self.opener.name()),
        }
    }

    fn rest(&mut self) {
        if self.open.take().is_some() {
            tracing::info!(camera = %self.opener.name(), "nobody watching: device closed until someone does");
        }
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        if self.open.is_none() {
            self.start().map_err(|e| SourceError::Lost(format!("{}: {e}", self.opener.name())))?;
        }
        let (device, granted) = self.open.as_mut().expect("opened above");
        let granted = *granted;
        let result = device.dequeue().map(|buffer| to_frame(&buffer, &granted));
        match result {
            Ok(frame) => Ok(frame),
            Err(e) => {
                // Drop the device (stops streaming, unmaps buffers); reopen next time.
                self.open = None;
                Err(SourceError::Lost(format!("{}: {e}", self.opener.name())))
            }
        }
    }
}

/// Copies a driver buffer out (so it can be requeued at once) and dates it.
fn to_frame(buffer: &Buffer<'_>, g: &Granted) -> Captured {
    let capture_us = match buffer.monotonic_us {
        Some(ts) => monotonic_to_wall(ts, clock::monotonic_us(), clock::now_us()),
        None => clock::now_us(),
    };
    let (width, height, stride) = (g.width as usize, g.height as usize, g.stride as usize);
    let data = buffer.data.to_vec();
    let range = g.range;
    let picture = match g.fourcc {
        Fourcc::Mjpeg => Picture::Jpeg(data),
        Fourcc::Yuyv => Picture::Yuyv { data, width, height, stride, range },
        Fourcc::Nv12 => Picture::Nv12 { data, width, height, stride, range },
        // `choose` never picks one; treat a driver that switched formats as a bad frame.
        Fourcc::Other(_) => Picture::Jpeg(Vec::new()),
    };
    Captured { picture, capture_us }
}

/// Converts a CLOCK_MONOTONIC timestamp to wall-clock time, given both clocks read now.
/// V4L2 stamps buffers when the driver filled them, which is the moment that matters.
pub fn monotonic_to_wall(ts_us: u64, mono_now_us: u64, wall_now_us: u64) -> u64 {
    // A timestamp from the future (clock quirks) counts as now.
    wall_now_us.saturating_sub(mono_now_us.saturating_sub(ts_us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Range;
    use crate::source::{
        device::{FormatPreference, Mode},
        fake::{FakeCamera, FakeOpener, Step},
    };

    fn want() -> Want {
        Want { width: 4, height: 2, fps: 30, format: FormatPreference::Auto }
    }

    fn yuyv_modes() -> Vec<Mode> {
        vec![Mode { fourcc: Fourcc::Yuyv, width: 4, height: 2, fps: vec![30.0] }]
    }

    #[test]
    fn the_monotonic_timestamp_becomes_wall_time_of_capture() {
        // Captured 8 ms before "now" on the monotonic clock.
        assert_eq!(monotonic_to_wall(1_000, 9_000, 1_700_000_000_000_000), 1_699_999_999_992_000);
        assert_eq!(monotonic_to_wall(10_000, 9_000, 500), 500);
    }

    #[test]
    fn buffers_become_frames_of_the_granted_format() {
        let cam = FakeCamera::new(yuyv_modes(), vec![Step::Frame(vec![16; 16])]);
        let mut src = CameraSource::new(Box::new(FakeOpener::new(vec![Ok(cam)])), want());
        let f = src.next_frame().unwrap();
        match f.picture {
            Picture::Yuyv { data, width, height, stride, range } => {
                assert_eq!((data.len(), width, height, stride, range), (16, 4, 2, 8, Range::Limited));
            }
            other => panic!("got {}", other.kind()),
        }
        assert!(f.capture_us <= clock::now_us());
        assert!(src.describe().contains("YUYV 4x2"));
    }

    #[test]
    fn a_failing_device_is_reported_lost_and_reopened_on_the_next_call() {
        let first = FakeCamera::new(yuyv_modes(), vec![Step::Frame(vec![0; 16]), Step::Gone]);
        let second = FakeCamera::new(yuyv_modes(), vec![Step::Frame(vec![1; 16])]);
        let opener = FakeOpener::new(vec![Ok(first), Err("no such device".into()), Ok(second)]);
        let mut src = CameraSource::new(Box::new(opener), want());
        assert!(src.next_frame().is_ok());
        assert!(matches!(src.next_frame(), Err(SourceError::Lost(e)) if e.contains("No such device")));
        assert!(matches!(src.next_frame(), Err(SourceError::Lost(e)) if e.contains("no such device")));
        let f = src.next_frame().unwrap();
        assert!(matches!(f.picture, Picture::Yuyv { ref data, .. } if data[0] == 1));
    }

    #[test]
    fn a_device_without_usable_formats_says_so() {
        let modes = vec![Mode { fourcc: Fourcc::Other(*b"H264"), width: 4, height: 2, fps: vec![] }];
        let cam = FakeCamera::new(modes, vec![]);
        let mut src = CameraSource::new(Box::new(FakeOpener::new(vec![Ok(cam)])), want());
        let Err(SourceError::Lost(e)) = src.next_frame() else { panic!("must fail") };
        assert!(e.contains("offers no MJPEG, YUYV or NV12"), "{e}");
    }
}
