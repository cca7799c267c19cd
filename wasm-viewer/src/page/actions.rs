//! What the page asks of the browser, needing nothing of the screen's state: save the
//! picture on screen (or any blob) as a file, fullscreen (or filling the viewport where
//! there is none), the address that opens the camera shown, and the screen kept on.

use js_sys::{Promise, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::HtmlElement;

use crate::page::{
    dom::{document, window},
    handle,
};

/// The picture on screen, saved as `CAMERA-YYYYMMDD-HHMMSS.jpg`.
pub fn save_snapshot(camera: Option<String>) {
    spawn_local(async move {
        let Ok(blob) = JsFuture::from(handle::snapshot()).await else { return };
        let Ok(blob) = blob.dyn_into::<web_sys::Blob>() else { return };
        let d = js_sys::Date::new_0();
        let name = format!(
            "{}-{:04}{:02}{:02}-{:02}{:02}{:02}.jpg",
            camera.as_deref().unwrap_or("camera"),
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date(),
            d.get_hours(),
            d.get_minutes(),
            d.get_seconds()
        );
        save_file(&blob, &name);
    });
}

/// Hands `blob` to the browser as a download named `name` (an `<a download>` clicked).
pub fn save_file(blob: &web_sys::Blob, name: &str) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else { return };
    let Ok(a) = document().create_element("a") else { return };
    let _ = a.set_attribute("href", &url);
    let _ = a.set_attribute("download", name);
    if let Ok(a) = a.dyn_into::<HtmlElement>() {
        a.click();
    }
    // The download has its own copy once it started.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
}

/// Element fullscreen where the browser has it; elsewhere (iPhone Safari: only `<video>`
/// goes fullscreen) the picture fills the viewport instead.
pub fn toggle_fullscreen() {
    let doc = document();
    let call = |target: &JsValue, names: &[&str]| {
        names.iter().any(|n| {
            Reflect::get(target, &(*n).into())
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
                .is_some_and(|f| f.call0(target).is_ok())
        })
    };
    let current = Reflect::get(&doc, &"fullscreenElement".into())
        .ok()
        .or_else(|| Reflect::get(&doc, &"webkitFullscreenElement".into()).ok())
        .filter(|v| !v.is_null() && !v.is_undefined());
    let body = doc.body().expect("the page has a body");
    if current.is_some() {
        call(&doc, &["exitFullscreen", "webkitExitFullscreen"]);
        return;
    }
    if body.class_list().contains("fill") {
        let _ = body.class_list().remove_1("fill");
        return;
    }
    let root: JsValue = doc.document_element().map_or(JsValue::NULL, Into::into);
    if !call(&root, &["requestFullscreen", "webkitRequestFullscreen"]) {
        let _ = body.class_list().add_1("fill");
    }
}

/// `?camera=NAME` while one is shown, so the address opens it; the other parameters
/// (broker, worker…) stay.
pub fn set_url(camera: Option<&str>) {
    let location = window().location();
    let Ok(search) = location.search() else { return };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else { return };
    match camera {
        Some(c) => params.set("camera", c),
        None => params.delete("camera"),
    }
    let query = String::from(params.to_string());
    let query = if query.is_empty() { query } else { format!("?{query}") };
    let url =
        format!("{}{query}{}", location.pathname().unwrap_or_default(), location.hash().unwrap_or_default());
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
    }
}

/// Asks the browser to keep the screen on: the lock, when granted (`None`: no Screen
/// Wake Lock API here).
pub fn request_wake_lock() -> Option<Promise> {
    let wl = Reflect::get(&window().navigator(), &"wakeLock".into()).ok().filter(|w| !w.is_undefined())?;
    let request = Reflect::get(&wl, &"request".into()).and_then(|f| f.dyn_into::<js_sys::Function>()).ok()?;
    request.call1(&wl, &"screen".into()).and_then(|p| p.dyn_into::<Promise>()).ok()
}

/// Lets the screen dim again.
pub fn release_wake_lock(lock: &JsValue) {
    if let Ok(release) = Reflect::get(lock, &"release".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
    {
        let _ = release.call0(lock);
    }
}
