//! The viewer's engine module: socket, MQTT session, decode, draw, stats and playback,
//! without the page's user interface. `www/early.js` starts it in a worker while the
//! page's head is read, so the first picture waits for this module alone; where a
//! canvas cannot be handed to a worker, the page loads it itself. Everything is in the
//! `wasm-viewer` library (`page::worker` has both entry points); this crate only says
//! what the engine's module exports.

use wasm_bindgen::prelude::*;

/// The worker's entry point, called by the loader in `www/early.js`.
#[wasm_bindgen]
pub fn worker_main(start: JsValue, early: js_sys::Array, socket: JsValue) -> Result<(), JsValue> {
    wasm_viewer::page::worker::worker_main(start, early, socket)
}

/// The engine on the page (no worker): returns the function that takes the page's messages.
#[wasm_bindgen]
pub fn page_engine(start: JsValue, to_page: js_sys::Function) -> Result<js_sys::Function, JsValue> {
    wasm_viewer::page::worker::page_engine(start, to_page)
}
