//! The presentation path's I/O: the browser's decoder, the main canvas and the
//! detections over it, and the animation frame that tells when a picture reached the
//! screen. What to decode, draw and count is decided by
//! [`Presentation`](crate::picture::present::Presentation), which this drives.

use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::ImageBitmap;

use crate::{
    picture::{
        decode::decode,
        draw::Surface,
        frame::Frame,
        overlay::Overlay,
        present::{Decoded, Drawn, Presentation},
    },
    scope::{now_ms, scope},
};

/// The main canvas and what is on it.
pub struct Picture {
    pub surface: Surface,
    pub core: Presentation,
    /// Detections for the camera shown, drawn over the picture.
    pub overlay: Overlay,
    /// The animation-frame callback, made once; whether it is requested.
    on_animation_frame: Option<Closure<dyn FnMut(f64)>>,
    presenting: bool,
}

impl Picture {
    pub fn new(surface: Surface, time_origin: f64, overlay: Overlay) -> Picture {
        Picture {
            surface,
            core: Presentation::new(time_origin),
            overlay,
            on_animation_frame: None,
            presenting: false,
        }
    }

    /// What runs at the animation frame asked for ([`Picture::request_present`]).
    pub fn on_animation_frame(&mut self, f: impl FnMut(f64) + 'static) {
        self.on_animation_frame = Some(Closure::new(f));
    }

    /// Asks for the next animation frame, when the pictures drawn reach the screen.
    pub fn request_present(&mut self) {
        if self.presenting {
            return;
        }
        if let Some(cb) = &self.on_animation_frame {
            self.presenting = scope().request_animation_frame(cb.as_ref().unchecked_ref());
        }
        if !self.presenting {
            // No animation frames here (a worker in an older browser): as of the draw.
            self.presented(None);
        }
    }

    /// The pictures drawn reached the screen at `at` (`None`: as of their draw).
    pub fn presented(&mut self, at: Option<f64>) {
        self.presenting = false;
        self.core.presented(at, now_ms());
    }

    /// Starts decoding the frame waiting, unless a decode is running; `done` gets the
    /// frame and the picture.
    pub fn decode_next(&mut self, done: impl FnOnce(Frame, Result<ImageBitmap, JsValue>) + 'static) {
        let Some(frame) = self.core.next_decode(now_ms()) else { return };
        decode_then(frame, done);
    }

    /// A decoded frame: onto the canvas unless a newer picture is there, then timed.
    /// `None`: of a camera left behind, nothing more to do.
    pub fn decoded(&mut self, frame: &Frame, bitmap: ImageBitmap, offset_ms: f64) -> Option<Drawn> {
        let decoded = now_ms();
        let (w, h) = (bitmap.width(), bitmap.height());
        let verdict = self.core.decoded(frame);
        if verdict == Decoded::Draw {
            // A recorded preview is the same scene, smaller: stretched over the canvas so
            // that the full-size frame after it needs no resize.
            match frame.recorded {
                Some(r) if r.track == wire::playback::Track::Preview => self.surface.draw_stretched(&bitmap),
                _ => self.surface.draw(&bitmap),
            }
            self.draw_marks();
        }
        // Free the decoded pixels now rather than whenever the GC runs: at 30 fps of
        // 720p that is 100 MB a second.
        bitmap.close();
        if verdict == Decoded::Stale {
            return None;
        }
        Some(self.core.drawn(frame, verdict == Decoded::Draw, w, h, decoded, now_ms(), offset_ms))
    }

    /// Draws what the bus found in the frame on the canvas over it.
    pub fn draw_marks(&mut self) {
        let (capture_us, sequence) = self.core.on_canvas();
        self.overlay.draw(self.core.stats.width, self.core.stats.height, sequence, capture_us);
    }
}

/// Decodes `frame`'s JPEG (off this thread) and gives `done` the frame and the picture.
pub fn decode_then(frame: Frame, done: impl FnOnce(Frame, Result<ImageBitmap, JsValue>) + 'static) {
    let decoded = decode(frame.jpeg());
    spawn_local(async move {
        let result = decoded.await;
        done(frame, result);
    });
}
