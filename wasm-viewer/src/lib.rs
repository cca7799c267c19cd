//! The browser viewer: a Rust/WASM page that subscribes to cameras' topics over
//! MQTT-over-WebSocket, decodes each JPEG with `createImageBitmap`, draws it to a canvas
//! and shows frame rate and end-to-end latency from the timestamps in each frame. With
//! several cameras on the bus it shows a grid of live tiles (each camera's preview),
//! one camera full-size at a time, and lets an alarm take the screen.
//!
//! The page keeps only the user interface; the engine (socket, MQTT session, decode,
//! draw, stats) runs in a dedicated worker that owns the canvases, or on the page where
//! a canvas cannot be handed to a worker.
//!
//! # Layout
//! In the order a frame meets them, then the page around them:
//! - [`net`]: the WebSocket, the MQTT session fed its bytes (no I/O), which of a
//!   cluster's brokers to dial, the MQTT 3.1.1 codec.
//! - `engine`: the parts put to work, each owning its state: the connection, the live
//!   stream of the camera shown (the source of live frames: subscriptions, renditions,
//!   acknowledgements), every camera's previews, the presentation's I/O; no DOM.
//! - [`picture`]: from a stamped JPEG to the screen: the frame a source hands over,
//!   what is decoded, drawn and counted (no I/O), the decoder, the canvases, the
//!   detections drawn over the picture, the stats and `#stats`.
//! - [`stream`]: what is watched and how fast it may come: the rendition, the
//!   flow-control window, the pace of acknowledgements and clock requests, the clock
//!   offset. Plain Rust.
//! - [`bus`]: the bus's other messages: status, alarms, the directory, detections.
//! - [`page`]: the page: start-up and login, the grid and camera view, what is shown,
//!   which broker, the kept choices, the messages to and from the worker.
//! - `scope`: the globals (clock, timers, decoder, animation frames), page or worker.
//!
//! `wire` (the crate shared with the edge) has the frame's stamp, the topic layout, the
//! acknowledgement, the clock exchange, the status and detections. Everything but the
//! adapters (`net::socket`, `engine`, `picture::{decode, draw}`, `page`'s DOM code) is
//! plain Rust and unit-tested natively (`cargo test -p wasm-viewer`). The HTML, CSS,
//! the web app manifest and the worker's loader live in `www/`.

pub mod bus;
mod engine;
pub mod net;
pub mod page;
pub mod picture;
mod scope;
pub mod stream;

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated: on the page (Trunk's loader) it starts the
/// viewer; in the worker (loaded by `www/early.js`) it does nothing, and `worker_main` takes over.
#[wasm_bindgen(start)]
pub fn start() {
    if !scope::Scope::current().is_page() {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = page::ui::run().await {
            web_sys::console::error_2(&"mqcam viewer failed to start:".into(), &e);
        }
    });
}

/// The picture on screen now, as a JPEG `Blob` (for a snapshot button, and tests).
#[wasm_bindgen]
pub fn snapshot() -> js_sys::Promise {
    page::handle::snapshot()
}
