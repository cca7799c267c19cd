//! What the engine tells the page, and what it told it last: only changes go again
//! (the view is worked out 4 times a second, mostly the same).

use crate::bus::cameras::CameraInfo;

/// What the engine tells the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `#stats`'s data attributes and the overlay's text, 4 times a second.
    View { attrs: Vec<(String, String)>, text: String },
    /// Show the login form: why, and the username to suggest.
    AskLogin { why: String, user: String },
    /// Every camera on the bus and how it is (tiles, alarms): at once when an alarm or a
    /// camera's state changes, else with the view.
    Cameras(Vec<CameraInfo>),
    /// The shown camera's recordings: a timeline reply's bytes (`wire::playback`).
    Timeline(Vec<u8>),
    /// The capture time (µs, the edge's clock) of the recorded frame just drawn.
    Position(u64),
}

/// Where the engine's [`Output`] goes: the page's DOM, or a message to the page.
pub type Sink = Box<dyn Fn(Output)>;

/// The page, as the engine reaches it.
pub struct Page {
    sink: Sink,
    last_view: Option<(Vec<(String, String)>, String)>,
    last_cameras: Option<Vec<CameraInfo>>,
    last_warning_ms: f64,
}

impl Page {
    pub fn new(sink: Sink) -> Page {
        Page { sink, last_view: None, last_cameras: None, last_warning_ms: f64::NEG_INFINITY }
    }

    /// The camera list, if anything in it changed.
    pub fn cameras(&mut self, list: Vec<CameraInfo>) {
        if self.last_cameras.as_ref() != Some(&list) {
            (self.sink)(Output::Cameras(list.clone()));
            self.last_cameras = Some(list);
        }
    }

    /// `#stats` and the overlay text, if they changed.
    pub fn view(&mut self, view: (Vec<(String, String)>, String)) {
        if self.last_view.as_ref() != Some(&view) {
            (self.sink)(Output::View { attrs: view.0.clone(), text: view.1.clone() });
            self.last_view = Some(view);
        }
    }

    /// A new timeline of the recordings played back.
    pub fn timeline(&self, bytes: Vec<u8>) {
        (self.sink)(Output::Timeline(bytes));
    }

    /// Where the playback stands: the recorded frame on the canvas.
    pub fn position(&self, capture_us: u64) {
        (self.sink)(Output::Position(capture_us));
    }

    /// Show the login form.
    pub fn ask_login(&self, why: String, user: String) {
        (self.sink)(Output::AskLogin { why, user });
    }

    /// A warning in the console, at most one in 5 s (what it counts is in `#stats`).
    pub fn warn(&mut self, what: &str, now_ms: f64) {
        if now_ms - self.last_warning_ms > 5000.0 {
            self.last_warning_ms = now_ms;
            web_sys::console::warn_1(&format!("mqcam viewer: {what} (counted in errors)").into());
        }
    }
}
