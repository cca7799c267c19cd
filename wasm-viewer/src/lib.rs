//! The browser viewer: a Rust/WASM page that subscribes to cameras' topics over
//! MQTT-over-WebSocket, decodes each JPEG with `createImageBitmap`, draws it to a canvas
//! and shows frame rate and end-to-end latency from the timestamps in each frame. With
//! several cameras on the bus it shows a grid of live tiles (each camera's preview),
//! one camera full-size at a time, and lets an alarm take the screen. A camera's
//! recordings play back through the same picture, with a timeline to scrub.
//!
//! The page keeps only the user interface; the engine (socket, MQTT session, decode,
//! draw, stats) runs in a dedicated worker that owns the canvases, or on the page where
//! a canvas cannot be handed to a worker. This crate is the library both are built
//! from: the browser loads two modules, `viewer-engine` (the crate in `wasm-viewer/engine`:
//! the engine, which the first picture waits for alone) and `viewer-page` (in
//! `wasm-viewer/page`: the page, which never contains the engine), each only what its
//! side reaches (docs/viewer.md).
//!
//! # Layout
//! In the order a frame meets them, then the page around them; each folder's doc lists its files.
//! - [`net`]: the WebSocket, the MQTT session fed its bytes (no I/O), the broker to dial, the codec.
//! - `engine`: the parts at work: connection, live stream and playback (the frames' sources), previews, presenting.
//! - [`picture`]: a source's frame → what is decoded, drawn, counted (no I/O) → canvas → `#stats`.
//! - [`stream`]: the way back, plain Rust: rendition, flow-control window, pace, clock offset.
//! - [`playback`]: recorded footage, plain Rust: what to ask the recording edge, the timeline's geometry.
//! - [`bus`]: the bus's other messages: status, alarms, the directory, detections.
//! - [`page`]: start-up and login (the plan, worked out by the engine's worker too), grid and camera view, what is shown, the worker's messages.
//! - `scope`: the globals (clock, timers, decoder, animation frames), page or worker.
//!
//! `wire` (the crate shared with the edge) has the frame's stamp, the topic layout, the
//! acknowledgement, the clock exchange, the status, detections and playback messages. Everything but the
//! adapters (`net::socket`, `engine`, `picture::{decode, draw}`, `page`'s DOM code) is
//! plain Rust and unit-tested natively (`cargo test -p wasm-viewer`). The HTML, CSS,
//! the web app manifest and the worker's loader live in `www/`.

pub mod bus;
mod engine;
pub mod net;
pub mod page;
pub mod picture;
pub mod playback;
mod scope;
pub mod stream;

/// Starts the viewer's page (the page's module, `viewer-page`, calls this when it is
/// instantiated).
pub fn start_page() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = page::ui::run().await {
            web_sys::console::error_2(&"mqcam viewer failed to start:".into(), &e);
        }
    });
}

/// The picture on screen now, as a JPEG `Blob` (for a snapshot button, and tests).
pub fn snapshot() -> js_sys::Promise {
    page::handle::snapshot()
}
