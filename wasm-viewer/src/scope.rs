//! Where the viewer's engine runs: the page's main thread (the fallback) or a dedicated
//! worker. The few global functions it needs (clock, timers, decode, animation frames)
//! exist in both, on different objects; this is the one place that tells them apart.

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, DedicatedWorkerGlobalScope, Window};

#[derive(Clone)]
pub enum Scope {
    Page(Window),
    Worker(DedicatedWorkerGlobalScope),
}

impl Scope {
    /// The global scope this code runs in.
    pub fn current() -> Scope {
        let global = js_sys::global();
        match global.dyn_into::<Window>() {
            Ok(window) => Scope::Page(window),
            Err(global) => Scope::Worker(global.unchecked_into()),
        }
    }

    pub fn performance(&self) -> Option<web_sys::Performance> {
        match self {
            Scope::Page(w) => w.performance(),
            Scope::Worker(w) => w.performance(),
        }
    }

    /// Wall-clock now in ms since the epoch, with sub-ms precision (frames carry µs).
    /// The same clock on the page and in its worker.
    pub fn now_ms(&self) -> f64 {
        let performance = self.performance();
        match performance {
            Some(p) => p.time_origin() + p.now(),
            None => js_sys::Date::now(),
        }
    }

    pub fn set_timeout(&self, f: &Function, ms: i32) {
        let _ = match self {
            Scope::Page(w) => w.set_timeout_with_callback_and_timeout_and_arguments_0(f, ms),
            Scope::Worker(w) => w.set_timeout_with_callback_and_timeout_and_arguments_0(f, ms),
        };
    }

    pub fn set_interval(&self, f: &Function, ms: i32) -> Result<i32, JsValue> {
        match self {
            Scope::Page(w) => w.set_interval_with_callback_and_timeout_and_arguments_0(f, ms),
            Scope::Worker(w) => w.set_interval_with_callback_and_timeout_and_arguments_0(f, ms),
        }
    }

    /// Starts decoding an image; resolves to an `ImageBitmap`.
    pub fn create_image_bitmap(&self, blob: &Blob) -> Result<Promise, JsValue> {
        match self {
            Scope::Page(w) => w.create_image_bitmap_with_blob(blob),
            Scope::Worker(w) => w.create_image_bitmap_with_blob(blob),
        }
    }

    /// Asks for `f` at the next animation frame; false where there are none (a worker
    /// in a browser without them).
    pub fn request_animation_frame(&self, f: &Function) -> bool {
        match self {
            Scope::Page(w) => w.request_animation_frame(f).is_ok(),
            Scope::Worker(w) => {
                let has = js_sys::Reflect::has(w, &"requestAnimationFrame".into()).unwrap_or(false);
                has && w.request_animation_frame(f).is_ok()
            }
        }
    }
}

thread_local! {
    static SCOPE: Scope = Scope::current();
}

/// The scope this thread runs in (looked up once).
pub fn scope() -> Scope {
    SCOPE.with(Scope::clone)
}

/// Wall-clock now in ms since the epoch, with sub-ms precision (frames carry µs).
pub fn now_ms() -> f64 {
    SCOPE.with(Scope::now_ms)
}
