//! A scripted video device: the stand-in for a camera in tests and benchmarks.
//!
//! It serves the buffers its script lists, in order, with monotonic timestamps, and
//! fails the way real devices do (ENODEV on unplug, timeouts) where the script says so.

use std::{collections::VecDeque, time::Duration};

use super::device::{Buffer, Choice, Device, DeviceError, Granted, Mode, Opener};
use crate::clock;

/// One thing the fake device does when dequeued.
#[derive(Debug, Clone)]
pub enum Step {
    /// A filled buffer.
    Frame(Vec<u8>),
    /// The same buffer, `n` times (for long runs and benchmarks).
    Repeat(Vec<u8>, usize),
    /// A dequeue that times out.
    Timeout,
    /// The device disappears (ENODEV), as on unplug.
    Gone,
    /// Wait before the next step, like a camera between frames.
    Sleep(Duration),
}

pub struct FakeCamera {
    modes: Vec<Mode>,
    script: VecDeque<Step>,
    current: Vec<u8>,
    started: Option<Granted>,
}

impl FakeCamera {
    pub fn new(modes: Vec<Mode>, script: Vec<Step>) -> Self {
        FakeCamera { modes, script: script.into(), current: Vec::new(), started: None }
    }
}

impl Device for FakeCamera {
    fn modes(&mut self) -> Result<Vec<Mode>, DeviceError> {
        Ok(self.modes.clone())
    }

    fn start(&mut self, choice: &Choice) -> Result<Granted, DeviceError> {
        let bpp = match choice.fourcc {
            super::device::Fourcc::Yuyv => 2,
            _ => 1,
        };
        let granted = Granted {
            fourcc: choice.fourcc,
            width: choice.width,
            height: choice.height,
            stride: choice.width * bpp,
            fps: choice.fps,
            range: crate::frame::Range::Limited,
        };
        self.started = Some(granted);
        Ok(granted)
    }

    fn dequeue(&mut self) -> Result<Buffer<'_>, DeviceError> {
        if self.started.is_none() {
            return Err(DeviceError::Unsupported("dequeue before start".into()));
        }
        loop {
            match self.script.pop_front() {
                Some(Step::Frame(data)) => {
                    self.current = data;
                    break;
                }
                Some(Step::Repeat(data, n)) => {
                    if n > 1 {
                        self.script.push_front(Step::Repeat(data.clone(), n - 1));
                    }
                    self.current = data;
                    break;
                }
                Some(Step::Sleep(d)) => std::thread::sleep(d),
                Some(Step::Timeout) => return Err(DeviceError::Timeout(1000)),
                Some(Step::Gone) | None => return Err(std::io::Error::from_raw_os_error(19).into()),
            }
        }
        Ok(Buffer { data: &self.current, monotonic_us: Some(clock::monotonic_us()) })
    }
}

/// Hands out the prepared devices (or errors) one per `open`, then fails.
pub struct FakeOpener {
    devices: VecDeque<Result<FakeCamera, String>>,
}

impl FakeOpener {
    pub fn new(devices: Vec<Result<FakeCamera, String>>) -> Self {
        FakeOpener { devices: devices.into() }
    }
}

impl Opener for FakeOpener {
    fn name(&self) -> String {
        "fake0".to_string()
    }

    fn open(&mut self) -> Result<Box<dyn Device>, DeviceError> {
        match self.devices.pop_front() {
            Some(Ok(cam)) => Ok(Box::new(cam)),
            Some(Err(e)) => Err(DeviceError::Unsupported(e)),
            None => Err(std::io::Error::from_raw_os_error(2).into()),
        }
    }
}
