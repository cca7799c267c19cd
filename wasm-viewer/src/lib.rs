//! The browser viewer: a Rust/WASM page that subscribes to a camera's frame topic over
//! MQTT-over-WebSocket, decodes each JPEG with `createImageBitmap`, draws it to a canvas
//! and shows frame rate and end-to-end latency from the timestamps in each frame.
//!
//! # Layout
//! The dataflow: socket → `mqtt` → `wire` (shared crate) → decode → draw → `stats`.
//! - [`mqtt`]: MQTT 3.1.1 client codec, I/O-free: packet builders and a reassembling decoder.
//! - [`stats`]: frame rate over a short window; latency percentiles per stage.
//! - [`clock`]: NTP-style estimate of the offset between this viewer's and the edge's clocks.
//! - [`target`]: which broker URL and topic to use (query, `/edge.json`, defaults).
//! - `app`: the only code that touches the browser: DOM, WebSocket, decode, canvas.
//!
//! Everything but `app` is plain Rust and unit-tested natively (`cargo test`).
//! The HTML and CSS live in `www/` at the repository root.

mod app;
pub mod clock;
pub mod mqtt;
pub mod stats;
pub mod target;

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated (Trunk's loader calls it).
#[wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = app::run().await {
            web_sys::console::error_2(&"mqcam viewer failed to start:".into(), &e);
        }
    });
}
