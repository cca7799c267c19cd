//! The browser viewer: a Rust/WASM page that subscribes to cameras' topics over
//! MQTT-over-WebSocket, decodes each JPEG with `createImageBitmap`, draws it to a canvas
//! and shows frame rate and end-to-end latency from the timestamps in each frame. With
//! several cameras on the bus it shows a grid of live tiles (each camera's preview),
//! one camera full-size at a time, and lets an alarm take the screen.
//!
//! The page (`ui`, `screen`) keeps only the user interface; the engine (socket, MQTT
//! session, decode, draw, stats) runs in a dedicated worker that owns the canvases
//! (`worker`), or on the page where a canvas cannot be handed to a worker.
//!
//! # Layout
//! In the order a frame meets them: socket → session → mqtt → wire → engine → decode →
//! draw → stats → view, and the acknowledgement back (flow, pace, clock, adapt).
//! - `socket`: the WebSocket to the broker, the only code that touches it: one event
//!   sink for its callbacks, bytes out, closed on drop.
//! - [`session`]: the MQTT session without I/O, fed bytes and time: CONNECT, what CONNACK,
//!   SUBACK and a socket's close mean, frames told from other messages and given once,
//!   keep-alive, backoff.
//! - [`brokers`]: which of several brokers (a cluster's nodes) to connect to next: the
//!   next one at once after a failure, the backoff once all failed in a row.
//! - [`mqtt`]: MQTT 3.1.1 client codec, I/O-free: packet builders and a reassembling decoder.
//! - `wire` (the crate shared with the edge): the frame's stamp, the topic layout, the
//!   acknowledgement, the clock exchange, the status and detections.
//! - `engine`: wires the rest: what the session's events mean for the camera shown, its
//!   rendition, the previews and tiles, the acknowledgements; no DOM.
//! - `decode`: the newest frame waiting for the decoder, and `createImageBitmap`.
//! - `draw`: the canvases (the picture, the tiles, the detections' boxes), page or worker.
//! - [`stats`]: frame rate over a short window; latency percentiles per stage.
//! - [`view`]: `#stats`'s data attributes and the overlay text, from the engine's state.
//! - [`flow`]: the flow-control window to ask the edge for, from the link's rate, the
//!   decoder's time and the smallest round trip.
//! - [`pace`]: the window each acknowledgement asks for, and when clock requests go out.
//! - [`clock`]: NTP-style estimate of the offset between this viewer's and the edge's clocks.
//! - [`adapt`]: which rendition to watch, from what the link delivers.
//!
//! Beside the frames, the bus's other messages:
//! - `json`: status, alarms, the camera directory and detections, read with `JSON.parse`.
//! - `cameras`: every camera on the bus as its tile shows it (status, alarm, preview).
//! - [`marks`]: detections matched to the frames they belong to.
//! - `overlay`: those drawn over the picture, on a canvas of their own.
//!
//! And the page:
//! - `scope`: the globals (clock, timers, decoder, animation frames), page or worker.
//! - [`worker`]: the worker's entry point and the messages between page and worker.
//! - `ui`: the page: target and login, `#stats`, the login form, tab visibility; starts
//!   the engine in a worker or, failing that, on the page.
//! - `screen`: the grid and the camera view, controls, gestures, keys, the alarm banner.
//! - [`deck`]: what is shown: the user's pick, alarms over it, next/previous.
//! - [`target`]: which broker URLs and topic to use (query, `/edge.json`, defaults).
//!
//! `session`, `brokers`, `mqtt`, `stats`, `view`, `flow`, `pace`, `clock`, `adapt`, `marks`, `deck`
//! and `target` are plain Rust and unit-tested natively (`cargo test -p wasm-viewer`).
//! The HTML, CSS, the web app manifest and the worker's loader live in `www/`.

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
