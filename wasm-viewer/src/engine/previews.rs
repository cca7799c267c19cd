//! Every camera's preview: which previews are worth their bytes now (subscribed to or
//! left), and a decoded one into its camera's tile and kept for the next switch.

use web_sys::ImageBitmap;
use wire::topic;

use crate::{
    bus::cameras::Cam,
    net::session::{Purpose, Session},
};

/// The previews subscribed to.
#[derive(Default)]
pub struct Previews {
    subscribed: Option<String>,
}

impl Previews {
    /// The previews worth their bytes now: every camera's on the grid (its tiles); with a
    /// camera shown, its own until its first frame is drawn (`full`), then none. Eight
    /// cameras' previews are 100–200 KB/s: most of a phone's 2 Mbit/s link, taken from
    /// the picture watched. (The tiles keep their last picture; switching draws the one
    /// kept.)
    pub fn wanted(prefix: Option<&str>, shown: Option<&str>, full: bool) -> Option<String> {
        let prefix = prefix?;
        match shown {
            None => Some(topic::preview(prefix, "+")),
            Some(camera) if !full => Some(topic::preview(prefix, camera)),
            Some(_) => None,
        }
    }

    /// A new connection subscribes to `want` with its other subscriptions
    /// ([`Previews::subscribed`]).
    pub fn reset(&mut self, want: Option<String>) {
        self.subscribed = want;
    }

    /// What a new connection subscribes to.
    pub fn subscribed(&self) -> Option<&str> {
        self.subscribed.as_deref()
    }

    /// Subscribes to the previews wanted and leaves the others (`open`: on a connection).
    pub fn sync(&mut self, want: Option<String>, bus: &mut Session, open: bool) {
        if want == self.subscribed || !open {
            return;
        }
        if let Some(old) = self.subscribed.take() {
            bus.unsubscribe(&old);
        }
        if let Some(new) = &want {
            bus.subscribe(Purpose::Bus, new);
        }
        self.subscribed = want;
    }
}

/// A decoded preview of `cam`, captured at `capture_us` (`captured`: on this viewer's
/// clock): into its tile, counted, and kept for the next switch to it.
pub fn decoded(cam: &mut Cam, bitmap: ImageBitmap, capture_us: u64, captured: f64) {
    if let Some(tile) = &cam.tile {
        tile.draw(&bitmap);
    }
    cam.previews += 1;
    cam.seen(captured);
    if let Some((old, _)) = cam.preview.replace((bitmap, capture_us)) {
        old.close();
    }
}
