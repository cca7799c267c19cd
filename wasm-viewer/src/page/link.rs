//! What the link carries, kept between visits: the next visit starts on the rendition
//! the link carried last time rather than finding out again.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use crate::{page::dom::window, picture::view::fixed};

/// Where the last link estimate is kept: bytes a second and when (ms since the epoch).
const LINK_KEY: &str = "mqcam-link";
/// An estimate older than this says nothing about the link now.
const LINK_FRESH_MS: f64 = 30.0 * 60.0 * 1000.0;

/// What the link carries, bytes a second, if known: from how fast the page's
/// WebAssembly came (`resources`: its resource timings; a download of tens of KB, not
/// one from the cache), else what the last visit measured (kept in `local`,
/// `localStorage`'s entries), if recent.
pub fn estimate(resources: &JsValue, local: &JsValue) -> Option<f64> {
    let entries = resources.clone().dyn_into::<js_sys::Array>().ok();
    for entry in entries.iter().flat_map(|l| l.iter()) {
        let get = |k: &str| Reflect::get(&entry, &k.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let name = Reflect::get(&entry, &"name".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
        let (bytes, ms) = (get("transferSize"), get("responseEnd") - get("responseStart"));
        if name.ends_with(".wasm") && bytes > 20_000.0 && ms > 0.0 {
            return Some(bytes * 1000.0 / ms);
        }
    }
    let stored = Reflect::get(local, &LINK_KEY.into()).ok()?.as_string()?;
    let (rate, at) = stored.split_once(',')?;
    let (rate, at) = (js_sys::Number::parse_float(rate), js_sys::Number::parse_float(at));
    (rate > 0.0 && js_sys::Date::now() - at < LINK_FRESH_MS).then_some(rate)
}

/// Keeps the link's measured rate (`#stats`'s `data-link-estimate-kbps`) for the next
/// visit's first choice of rendition; none (the link had room) forgets it.
pub fn remember(estimate_kbps: &str) {
    let Ok(Some(store)) = window().local_storage() else { return };
    let _ = match js_sys::Number::parse_float(estimate_kbps) {
        kbps if kbps > 0.0 => store.set_item(
            LINK_KEY,
            &format!("{},{}", fixed(kbps * 1000.0 / 8.0, 1), fixed(js_sys::Date::now(), 0)),
        ),
        // The link had room: nothing to hold the next visit back.
        _ => store.remove_item(LINK_KEY),
    };
}
