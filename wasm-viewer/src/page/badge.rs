//! The compact badge over the picture (frame rate, latency, rendition) and the notice
//! that says anything but a live camera, from the engine's `#stats` attributes.

use std::cell::RefCell;

use web_sys::HtmlElement;

use crate::page::{dom::element, link};

/// What the engine says about the camera shown: the compact badge and the notice.
pub fn show(attrs: &[(String, String)]) {
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_default();
    let latency = get("data-latency-p50-ms");
    let mut badge = match latency.split_once('.').map_or(latency, |(whole, _)| whole) {
        "" => format!("{} fps", get("data-fps")),
        ms => format!("{} fps · {ms} ms", get("data-fps")),
    };
    // The rendition, when it is not the camera's full picture.
    match get("data-rendition") {
        "" | "full" => {}
        r => badge += &format!(" · {r}"),
    }
    // Played back: when the picture was recorded, not how late it is.
    let playback = get("data-mode") == "playback";
    if playback {
        badge = match get("data-playback-clock") {
            "" => "recordings".to_string(),
            clock => format!("rec {clock}"),
        };
    }
    let el = element::<HtmlElement>("badge");
    if el.text_content().as_deref() != Some(badge.as_str()) {
        el.set_text_content(Some(&badge));
    }
    // Anything but a live camera is said over the picture, without a tap.
    let offline = wire::status::State::Offline.name();
    // Played back, an offline camera's footage still plays; no footage at all is said.
    let fine = get("data-connected") == "true"
        && match playback {
            true => !matches!(get("data-playback-state"), "empty" | "unavailable"),
            false => get("data-camera-state") != offline,
        };
    let notice = element::<HtmlElement>("notice");
    let text = if fine { "" } else { get("data-state") };
    if notice.text_content().as_deref() != Some(text) {
        notice.set_text_content(Some(text));
    }
    notice.set_hidden(fine);
    // The link's measured rate, for the next visit's first choice of rendition.
    let estimate = get("data-link-estimate-kbps");
    LAST_ESTIMATE.with(|last| {
        if *last.borrow() != estimate {
            *last.borrow_mut() = estimate.to_string();
            link::remember(estimate);
        }
    });
}

thread_local! {
    static LAST_ESTIMATE: RefCell<String> = const { RefCell::new(String::new()) };
}
