//! The page's handle on the engine, wherever it runs: in the worker (each call becomes
//! a message to it) or here on the page (each call is a call). The page's parts (the
//! start-up, the screen's controls) hold this, never each other.

use std::{cell::RefCell, rc::Rc};

use js_sys::{Array, Function, Promise};
use wasm_bindgen::JsValue;
use web_sys::{HtmlCanvasElement, Worker};

use crate::{page::worker::ToWorker, playback::player::Command};

/// Where the engine runs; a snapshot asked for and not yet answered waits in `snapshot`.
pub struct Engine {
    pub to: To,
    snapshot: RefCell<Option<Function>>,
}

/// How the page's messages reach the engine.
pub enum To {
    /// A worker: each message posted, canvases transferred.
    Worker(Worker),
    /// The engine's module on this page (`page_engine`): each message a call, canvases
    /// handed over as they are.
    Page(Function),
}

impl Engine {
    pub fn new(to: To) -> Self {
        Engine { to, snapshot: RefCell::new(None) }
    }

    pub fn log_in(&self, user: String, password: String) {
        self.tell(ToWorker::LogIn { user, password });
    }

    pub fn set_hidden(&self, hidden: bool) {
        self.tell(ToWorker::Hidden(hidden));
    }

    /// Shows `camera` full-size (`None`: the grid), asked for at `at_ms`.
    pub fn show(&self, camera: Option<String>, at_ms: f64) {
        self.tell(ToWorker::Show { camera, at_ms });
    }

    pub fn pause(&self, paused: bool) {
        self.tell(ToWorker::Pause(paused));
    }

    /// Pins a rendition by name, or lets the viewer choose (`None`).
    pub fn quality(&self, rendition: Option<String>) {
        self.tell(ToWorker::Quality(rendition));
    }

    /// A tile's canvas for `camera`'s previews: handed to the engine (transferred to the
    /// worker, which draws into it from then on).
    pub fn add_tile(&self, camera: &str, canvas: HtmlCanvasElement) {
        let Some(canvas) = self.hand_over(canvas) else { return };
        self.send(
            &ToWorker::Tile { camera: camera.to_string(), canvas: canvas.clone() }.to_js(),
            Some(canvas),
        );
    }

    /// The overlay canvas for detections, handed to the engine like a tile's.
    pub fn add_marks(&self, canvas: HtmlCanvasElement) {
        let Some(canvas) = self.hand_over(canvas) else { return };
        self.send(&ToWorker::Marks(canvas.clone()).to_js(), Some(canvas));
    }

    /// How the page turns the picture, for the labels drawn over it.
    pub fn turn(&self, degrees: u32, mirror: bool) {
        self.tell(ToWorker::Turn { degrees, mirror });
    }

    /// Opens the camera's recordings (`false`: back to live), asked at `at_ms`.
    pub fn recordings(&self, open: bool, at_ms: f64) {
        self.tell(ToWorker::Recordings { open, at_ms });
    }

    /// What the user asks of the playback, at `at_ms`.
    pub fn playback(&self, command: Command, at_ms: f64) {
        self.tell(ToWorker::Playback { command, at_ms });
    }

    /// A canvas as the engine takes it: a worker draws into its `OffscreenCanvas`
    /// (`None` if it cannot be had), the page's engine into the element.
    fn hand_over(&self, canvas: HtmlCanvasElement) -> Option<JsValue> {
        match self.to {
            To::Worker(_) => canvas.transfer_control_to_offscreen().ok().map(JsValue::from),
            To::Page(_) => Some(canvas.into()),
        }
    }

    /// One message to the engine, wherever it runs.
    fn tell(&self, message: ToWorker) {
        self.send(&message.to_js(), None);
    }

    fn send(&self, message: &JsValue, transfer: Option<JsValue>) {
        let _ = match (&self.to, transfer) {
            (To::Worker(worker), Some(t)) => worker.post_message_with_transfer(message, &Array::of1(&t)),
            (To::Worker(worker), None) => worker.post_message(message),
            (To::Page(post), _) => post.call1(&JsValue::NULL, message).map(drop),
        };
    }
}

/// The engine, as the page's parts hold it.
pub type EngineHandle = Rc<Engine>;

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
}

/// Keeps the engine for the life of the page (snapshots reach it from here).
pub fn keep(engine: EngineHandle) {
    ENGINE.with(|e| *e.borrow_mut() = Some(engine));
}

/// The engine's answer to a snapshot asked for: resolves the promise [`snapshot`] made.
pub fn snapshot_taken(blob: &JsValue) {
    ENGINE.with(|engine| {
        let resolve = engine.borrow().as_ref().and_then(|e| e.snapshot.borrow_mut().take());
        if let Some(resolve) = resolve {
            let _ = resolve.call1(&JsValue::NULL, blob);
        }
    })
}

/// The picture on screen now, as a JPEG `Blob`.
pub fn snapshot() -> Promise {
    ENGINE.with(|engine| match engine.borrow().as_deref() {
        Some(engine) => Promise::new(&mut |resolve, _| {
            *engine.snapshot.borrow_mut() = Some(resolve);
            engine.tell(ToWorker::Snapshot);
        }),
        None => Promise::reject(&"the viewer has not started".into()),
    })
}
