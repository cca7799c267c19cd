//! The viewer's page module: what the page runs (start-up, login, grid, controls,
//! recordings) and nothing of the engine, which is a module of its own
//! (`viewer-engine`) loaded in the worker at the same time. Everything is in the
//! `wasm-viewer` library; this crate only says what the page's module exports, so the
//! linker keeps only what those reach.

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated (Trunk's loader): starts the page.
#[wasm_bindgen(start)]
pub fn start() {
    wasm_viewer::start_page();
}

/// The picture on screen now, as a JPEG `Blob` (for a snapshot button, and tests).
#[wasm_bindgen]
pub fn snapshot() -> js_sys::Promise {
    wasm_viewer::snapshot()
}
