//! The browser viewer: a Rust/WASM page that subscribes to cameras' topics over
//! MQTT-over-WebSocket, decodes each JPEG with `createImageBitmap`, draws it to a canvas
//! and shows frame rate and end-to-end latency from the timestamps in each frame. With
//! several cameras on the bus it shows a grid of live tiles (each camera's preview),
//! one camera full-size at a time, and lets an alarm take the screen.
//!
//! The page (`ui`, `screen`) keeps only the user interface; the engine (socket, MQTT,
//! decode, draw, stats) runs in a dedicated worker that owns the canvases (`worker`), or
//! on the page where a canvas cannot be handed to a worker.
//!
//! # Layout
//! The dataflow: socket → `mqtt` → `wire` (shared crate) → decode → draw → `stats`.
//! - `ui`: the page: target and login, `#stats`, the login form, tab visibility; starts
//!   the engine in a worker or, failing that, on the page.
//! - `screen`: the grid and the camera view, controls, gestures, keys, the alarm banner.
//! - [`deck`]: what is shown: the user's pick, alarms over it, next/previous.
//! - [`worker`]: the worker's entry point and the messages between page and worker.
//! - `engine`: WebSocket, MQTT session, decode, draw, acknowledgements, switching the
//!   camera shown, previews into tiles; no DOM.
//! - [`mqtt`]: MQTT 3.1.1 client codec, I/O-free: packet builders and a reassembling decoder.
//! - `scope` and `surface`: the globals and the canvas, page or worker.
//! - [`adapt`]: which rendition to watch, from what the link delivers.
//! - [`marks`]: detections from programs on the bus, matched to the frames they belong to
//!   (the engine draws them on the overlay canvas).
//! - [`flow`]: the flow-control window to ask the edge for, from the link's rate, the
//!   decoder's time and the smallest round trip.
//! - [`stats`]: frame rate over a short window; latency percentiles per stage.
//! - [`clock`]: NTP-style estimate of the offset between this viewer's and the edge's clocks.
//! - [`target`]: which broker URL and topic to use (query, `/edge.json`, defaults), and
//!   the bus's topics below the prefix.
//!
//! `mqtt`, `flow`, `adapt`, `marks`, `stats`, `clock`, `deck` and `target` are plain Rust and unit-tested
//! natively (`cargo test`). The HTML, CSS, the web app manifest and the worker's loader
//! live in `www/`.

pub mod adapt;
mod cameras;
pub mod clock;
pub mod deck;
mod decode;
mod draw;
mod engine;
pub mod flow;
mod json;
pub mod marks;
pub mod mqtt;
mod overlay;
pub mod pace;
mod scope;
mod screen;
pub mod session;
mod socket;
pub mod stats;
pub mod target;
mod ui;
pub mod view;
pub mod worker;

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated: on the page (Trunk's loader) it starts the
/// viewer; in the worker (loaded by `www/early.js`) it does nothing, and `worker_main` takes over.
#[wasm_bindgen(start)]
pub fn start() {
    if !scope::Scope::current().is_page() {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = ui::run().await {
            web_sys::console::error_2(&"mqcam viewer failed to start:".into(), &e);
        }
    });
}

/// The picture on screen now, as a JPEG `Blob` (for a snapshot button, and tests).
#[wasm_bindgen]
pub fn snapshot() -> js_sys::Promise {
    ui::snapshot()
}
