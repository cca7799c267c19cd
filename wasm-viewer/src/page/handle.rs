//! The page's handle on the engine, wherever it runs: in the worker (each call becomes
//! a message to it) or here on the page (each call is a call). The page's parts (the
//! start-up, the screen's controls) hold this, never each other.

use std::{cell::RefCell, rc::Rc};

use js_sys::{Array, Promise};
use wasm_bindgen::JsValue;
use web_sys::{HtmlCanvasElement, Worker};

use crate::{
    engine::{self, Shared},
    page::worker::ToWorker,
    picture::draw::Surface,
    playback::player::Command,
};

/// Where the engine runs.
pub enum Engine {
    /// Here, on the page's main thread.
    Page(Shared),
    /// In a worker; a snapshot asked for and not yet answered waits in `snapshot`.
    Worker { worker: Worker, snapshot: RefCell<Option<js_sys::Function>> },
}

impl Engine {
    pub fn log_in(&self, user: String, password: String) {
        match self {
            Engine::Page(app) => engine::log_in(app, user, password),
            Engine::Worker { worker, .. } => {
                let _ = worker.post_message(&ToWorker::LogIn { user, password }.to_js());
            }
        }
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
        match self {
            Engine::Page(app) => {
                if let Ok(surface) = Surface::element(canvas) {
                    engine::add_tile(app, camera, surface);
                }
            }
            Engine::Worker { worker, .. } => {
                let Ok(offscreen) = canvas.transfer_control_to_offscreen() else { return };
                let message = ToWorker::Tile { camera: camera.to_string(), canvas: offscreen.clone() };
                let _ = worker.post_message_with_transfer(&message.to_js(), &Array::of1(&offscreen));
            }
        }
    }

    /// The overlay canvas for detections, handed to the engine like a tile's.
    pub fn add_marks(&self, canvas: HtmlCanvasElement) {
        match self {
            Engine::Page(app) => {
                if let Ok(surface) = Surface::element(canvas) {
                    engine::set_marks(app, surface);
                }
            }
            Engine::Worker { worker, .. } => {
                let Ok(offscreen) = canvas.transfer_control_to_offscreen() else { return };
                let message = ToWorker::Marks(offscreen.clone());
                let _ = worker.post_message_with_transfer(&message.to_js(), &Array::of1(&offscreen));
            }
        }
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

    /// One message to the engine, wherever it runs.
    fn tell(&self, message: ToWorker) {
        match self {
            Engine::Page(app) => match message {
                ToWorker::Hidden(hidden) => engine::set_hidden(app, hidden),
                ToWorker::Show { camera, at_ms } => engine::show(app, camera, at_ms),
                ToWorker::Pause(paused) => engine::set_paused(app, paused),
                ToWorker::Quality(r) => {
                    engine::pin(app, r.as_deref().and_then(wire::ack::Rendition::from_name))
                }
                ToWorker::LogIn { user, password } => engine::log_in(app, user, password),
                ToWorker::Turn { degrees, mirror } => engine::set_turn(app, degrees, mirror),
                ToWorker::Recordings { open, at_ms } => engine::recordings(app, open, at_ms),
                ToWorker::Playback { command, at_ms } => engine::playback(app, command, at_ms),
                ToWorker::Snapshot | ToWorker::Tile { .. } | ToWorker::Marks(_) => {}
            },
            Engine::Worker { worker, .. } => {
                let _ = worker.post_message(&message.to_js());
            }
        }
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

/// The worker's answer to a snapshot asked for: resolves the promise [`snapshot`] made.
pub fn snapshot_taken(blob: &JsValue) {
    ENGINE.with(|engine| {
        if let Some(Engine::Worker { snapshot, .. }) = engine.borrow().as_deref() {
            if let Some(resolve) = snapshot.borrow_mut().take() {
                let _ = resolve.call1(&JsValue::NULL, blob);
            }
        }
    })
}

/// The picture on screen now, as a JPEG `Blob`.
pub fn snapshot() -> Promise {
    ENGINE.with(|engine| match engine.borrow().as_deref() {
        Some(Engine::Page(app)) => engine::snapshot(app).unwrap_or_else(|e| Promise::reject(&e)),
        Some(Engine::Worker { worker, snapshot }) => Promise::new(&mut |resolve, _| {
            *snapshot.borrow_mut() = Some(resolve);
            let _ = worker.post_message(&ToWorker::Snapshot.to_js());
        }),
        None => Promise::reject(&"the viewer has not started".into()),
    })
}
