//! Every camera on the bus, as its tile shows it: its status and alarm, its newest
//! preview (kept decoded, so a switch to it puts a picture on screen at once), and what
//! its edge's directory entry says it offers.

use web_sys::ImageBitmap;
use wire::{
    ack::Rendition,
    status::{State, Status},
};

use crate::{bus::json::Alarm, picture::draw::Surface, picture::frame::Frame, stream::clock::ClockSync};

/// One camera as a tile shows it (what goes to the page).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    pub name: String,
    /// `live`, `idle`, `offline` or `starting`.
    pub state: String,
    pub detail: String,
    /// Preview pictures drawn into its tile so far.
    pub previews: u32,
    /// Seconds since its newest picture was taken (preview or frame), if there is one.
    pub age_s: Option<f64>,
    /// Its active alarm: reason, raised at (edge µs), by whom.
    pub alarm: Option<Alarm>,
    /// Its edge records it: it has recordings to play back.
    pub recording: bool,
}

/// A camera on the bus.
pub struct Cam {
    pub name: String,
    pub status: Option<Status>,
    pub alarm: Option<Alarm>,
    pub tile: Option<Surface>,
    /// The newest preview, decoded, and when it was captured (edge µs).
    pub preview: Option<(ImageBitmap, u64)>,
    /// Its newest preview received, waiting for the decoder, and whether one is decoding.
    pub pending: Option<Frame>,
    pub decoding: bool,
    pub previews: u32,
    /// Capture time (viewer ms) of its newest picture, preview or frame.
    pub newest_ms: Option<f64>,
    /// The renditions it offers, its frame rate and its full frames' size (its edge's
    /// directory entry).
    pub offered: Vec<Rendition>,
    pub fps: f64,
    pub full_bytes: Option<f64>,
    /// Its edge records it (the directory says so).
    pub recording: bool,
    /// Its edge's clock offset, measured while it was watched (cameras on other edges
    /// have other clocks), kept for the next time.
    pub clock: Option<ClockSync>,
}

impl Cam {
    pub fn new(name: &str) -> Cam {
        Cam {
            name: name.to_string(),
            status: None,
            alarm: None,
            tile: None,
            preview: None,
            pending: None,
            decoding: false,
            previews: 0,
            newest_ms: None,
            offered: Vec::new(),
            fps: 0.0,
            full_bytes: None,
            recording: false,
            clock: None,
        }
    }

    /// A picture captured at `captured` (viewer ms) arrived.
    pub fn seen(&mut self, captured: f64) {
        self.newest_ms = Some(self.newest_ms.map_or(captured, |t| t.max(captured)));
    }

    pub fn info(&self, now_ms: f64) -> CameraInfo {
        let (state, detail) = match &self.status {
            Some(s) if s.state == State::Online && s.detail.contains("idle") => ("idle", s.detail.clone()),
            Some(s) if s.state == State::Online => ("live", s.detail.clone()),
            Some(s) if s.state == State::Offline => ("offline", s.detail.clone()),
            Some(s) => ("starting", s.detail.clone()),
            None => ("starting", String::new()),
        };
        CameraInfo {
            name: self.name.clone(),
            state: state.to_string(),
            detail,
            previews: self.previews,
            // Whole seconds: the list goes to the page only when something in it changed.
            age_s: self.newest_ms.map(|t| ((now_ms - t) / 1000.0).max(0.0).floor()),
            alarm: self.alarm.clone(),
            recording: self.recording,
        }
    }
}

/// The index of `name` in the camera list, added if new.
pub fn index(cams: &mut Vec<Cam>, name: &str) -> usize {
    match cams.iter().position(|c| c.name == name) {
        Some(i) => i,
        None => {
            cams.push(Cam::new(name));
            cams.len() - 1
        }
    }
}
