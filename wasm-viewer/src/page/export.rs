//! The Export button's download: `GET /export/<camera>.avi?from&to` from the edge that
//! served the page (same origin: an edge sends no CORS headers), with the tab's viewer
//! login as HTTP Basic, the body saved as a file. What it is doing, and what went wrong,
//! goes to `#pb-export-state` (its `data-state`: `exporting`, `saved`, `failed`).
//! Which stretch and the file's name are [`clip`]'s.

use std::cell::Cell;

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{HtmlElement, RequestInit, Response};

use crate::{
    page::{
        actions,
        dom::{element, window},
        login,
    },
    playback::{clip, timeline::clock_text},
};

thread_local! {
    /// One export at a time from this page (the edge makes one at a time anyway).
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Says `text` in the playback panel, `state` as its `data-state` ("" hides it).
pub fn say(state: &str, text: &str) {
    let el = element::<HtmlElement>("pb-export-state");
    let _ = el.set_attribute("data-state", state);
    el.set_text_content(Some(text));
    el.set_hidden(state.is_empty());
}

/// Downloads `camera`'s footage from `from_us` to `to_us` (the edge's clock) as an AVI
/// named for its start in the browser's zone (`tz`, minutes east of UTC).
pub fn download(camera: &str, (from_us, to_us): (u64, u64), tz: i32) {
    if BUSY.replace(true) {
        return;
    }
    let name = clip::file_name(camera, from_us, tz);
    say(
        "exporting",
        &format!(
            "Exporting {}–{}…",
            clock_text(from_us, tz, true, false),
            clock_text(to_us, tz, true, false)
        ),
    );
    let url = format!(
        "export/{}.avi?from={from_us}&to={to_us}",
        String::from(js_sys::encode_uri_component(camera))
    );
    spawn_local(async move {
        match fetch(&url).await {
            Ok(blob) => {
                let kb = blob.size() as u64 / 1024;
                actions::save_file(&blob, &name);
                say("saved", &format!("Saved {name} ({}.{} MB)", kb / 1024, kb % 1024 * 10 / 1024));
            }
            Err(why) => say("failed", &why),
        }
        BUSY.set(false);
    });
}

/// The clip's body, or what to tell the user.
async fn fetch(url: &str) -> Result<web_sys::Blob, String> {
    let init = RequestInit::new();
    // With `--no-login` the edge asks for none, and this tab has none to send.
    if let Some((user, password)) = login::kept() {
        let headers = Object::new();
        let _ = Reflect::set(&headers, &"Authorization".into(), &basic(&user, &password).into());
        init.set_headers(&headers);
    }
    let failed = |_| "Not exported: the edge did not answer".to_string();
    let resp = JsFuture::from(window().fetch_with_str_and_init(url, &init)).await.map_err(failed)?;
    let resp: Response = resp.dyn_into().map_err(failed)?;
    if !resp.ok() {
        let body = match resp.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        return Err(clip::refused(resp.status(), &body));
    }
    let blob = JsFuture::from(resp.blob().map_err(failed)?).await.map_err(failed)?;
    blob.dyn_into().map_err(|_: JsValue| "Not exported: the clip was cut off".to_string())
}

/// `Basic base64(user:password)`, the password's UTF-8 bytes as they are (`btoa` takes
/// one byte per character).
fn basic(user: &str, password: &str) -> String {
    let bytes: String = format!("{user}:{password}").bytes().map(char::from).collect();
    format!("Basic {}", window().btoa(&bytes).unwrap_or_default())
}
