//! What two buttons do that needs nothing of the screen's state: save the picture on
//! screen as a file, and fullscreen (or filling the viewport where there is none).

use js_sys::Reflect;
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
        let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
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
        let Ok(a) = document().create_element("a") else { return };
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", &name);
        if let Ok(a) = a.dyn_into::<HtmlElement>() {
            a.click();
        }
        // The download has its own copy once it started.
        let revoke = Closure::once_into_js(move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        });
        let _ =
            window().set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    });
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
