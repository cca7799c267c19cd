//! The viewer login this tab was given (the URL fragment or the login form), kept in
//! `sessionStorage`: for this tab only, gone with it. The engine logs in to the broker
//! with it; an export sends it to the edge's web port, which takes the same login.

use crate::page::dom::window;

const USER_KEY: &str = "mqcam-username";
const PASSWORD_KEY: &str = "mqcam-password";

/// Keeps a login for this tab.
pub fn keep(user: &str, password: &str) {
    if let Ok(Some(store)) = window().session_storage() {
        let _ = store.set_item(USER_KEY, user);
        let _ = store.set_item(PASSWORD_KEY, password);
    }
}

/// The login kept for this tab, if any.
pub fn kept() -> Option<(String, String)> {
    let store = window().session_storage().ok()??;
    Some((store.get_item(USER_KEY).ok()??, store.get_item(PASSWORD_KEY).ok()??))
}

/// The login kept for this tab, from `sessionStorage`'s entries as a plain object.
pub fn kept_in(session: &wasm_bindgen::JsValue) -> Option<(String, String)> {
    let get = |k: &str| js_sys::Reflect::get(session, &k.into()).ok()?.as_string();
    Some((get(USER_KEY)?, get(PASSWORD_KEY)?))
}
