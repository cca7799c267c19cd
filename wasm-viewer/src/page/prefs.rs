//! What this browser keeps of the user's choices: the picture quality pinned, whether
//! detections are shown, and how each camera's picture is turned. Stored in
//! `localStorage`, so they hold for every visit from this browser and no other.

use web_sys::HtmlElement;

use crate::page::dom::{document, element, window};

/// Where the pinned picture quality is kept (none: automatic), for every camera.
pub const QUALITY_KEY: &str = "mqcam-quality";

/// Where "hide the detections" is kept ("hidden"; none: shown).
const MARKS_KEY: &str = "mqcam-marks";

/// Shows or hides the detections drawn over the picture, and keeps the choice.
pub fn set_marks(shown: bool, keep: bool) {
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-marks", if shown { "shown" } else { "hidden" });
    }
    let button = element::<HtmlElement>("btn-marks");
    let _ = button.set_attribute("aria-pressed", if shown { "true" } else { "false" });
    let _ = button.set_attribute("aria-label", if shown { "Hide detections" } else { "Show detections" });
    if let (true, Ok(Some(store))) = (keep, window().local_storage()) {
        let _ = if shown { store.remove_item(MARKS_KEY) } else { store.set_item(MARKS_KEY, "hidden") };
    }
}

/// Whether the detections are shown, as this browser kept it (shown unless hidden).
pub fn marks_kept() -> bool {
    window().local_storage().ok().flatten().and_then(|s| s.get_item(MARKS_KEY).ok().flatten()).is_none()
}

pub fn marks_shown() -> bool {
    document().body().is_none_or(|b| b.get_attribute("data-marks").as_deref() != Some("hidden"))
}

fn load_quality() -> Option<String> {
    window().local_storage().ok()??.get_item(QUALITY_KEY).ok()?
}

/// The rendition pinned when the page opens: `?quality=full` (or half, quarter, auto) in
/// a link wins over what was kept.
pub fn initial_quality() -> Option<String> {
    let asked = web_sys::UrlSearchParams::new_with_str(&window().location().search().unwrap_or_default())
        .ok()
        .and_then(|p| p.get("quality"));
    choose_quality(asked.as_deref(), load_quality())
}

/// The rendition pinned: `asked` in the address (`auto`: none) wins over `kept`.
pub fn choose_quality(asked: Option<&str>, kept: Option<String>) -> Option<String> {
    match asked {
        Some(q @ ("full" | "half" | "quarter")) => Some(q.to_string()),
        Some("auto") => None,
        _ => kept,
    }
}

/// The quality button says what is pinned.
pub fn render_quality(pinned: Option<&str>) {
    let button = element::<HtmlElement>("btn-quality");
    let (label, said) = match pinned {
        Some("full") => ("Full", "full size"),
        Some("half") => ("Half", "half size"),
        Some("quarter") => ("¼", "quarter size"),
        _ => ("Auto", "automatic"),
    };
    let _ = button.set_attribute("data-quality", pinned.unwrap_or("auto"));
    let _ = button.set_attribute("aria-label", &format!("Picture quality: {said}"));
    if let Ok(Some(span)) = button.query_selector(".q-label") {
        span.set_text_content(Some(label));
    }
}

/// The quality button's next choice (automatic → full → half → quarter → automatic),
/// kept for every camera.
pub fn next_quality() -> Option<&'static str> {
    let next = match load_quality().as_deref() {
        None => Some("full"),
        Some("full") => Some("half"),
        Some("half") => Some("quarter"),
        _ => None,
    };
    if let Ok(Some(store)) = window().local_storage() {
        let _ = match next {
            Some(q) => store.set_item(QUALITY_KEY, q),
            None => store.remove_item(QUALITY_KEY),
        };
    }
    next
}

/// How the user turned the picture of one camera (remembered per camera).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Turn {
    pub degrees: u16,
    pub mirror: bool,
}

/// Loads how the user turned `camera` last time.
pub fn load_turn(camera: Option<&str>) -> Turn {
    let stored = camera.and_then(|c| {
        let store = window().local_storage().ok()??;
        store.get_item(&format!("mqcam-turn:{c}")).ok()?
    });
    let Some(stored) = stored else { return Turn::default() };
    let (degrees, mirror) = stored.split_once(',').unwrap_or((&stored, "0"));
    Turn { degrees: degrees.parse().unwrap_or(0) % 360 / 90 * 90, mirror: mirror == "1" }
}

/// Keeps how the user turned `camera`.
pub fn save_turn(camera: &str, turn: Turn) {
    if let Ok(Some(store)) = window().local_storage() {
        let value = format!("{},{}", turn.degrees, u8::from(turn.mirror));
        let _ = store.set_item(&format!("mqcam-turn:{camera}"), &value);
    }
}

#[cfg(test)]
mod tests {
    use super::choose_quality;

    #[test]
    fn the_address_wins_over_what_was_kept() {
        let kept = || Some("half".to_string());
        assert_eq!(choose_quality(Some("full"), kept()).as_deref(), Some("full"));
        assert_eq!(choose_quality(Some("quarter"), None).as_deref(), Some("quarter"));
        // `auto` unpins, whatever was kept.
        assert_eq!(choose_quality(Some("auto"), kept()), None);
        // Nothing asked, or something unknown: what this browser kept.
        assert_eq!(choose_quality(None, kept()).as_deref(), Some("half"));
        assert_eq!(choose_quality(Some("best"), kept()).as_deref(), Some("half"));
        assert_eq!(choose_quality(None, None), None);
    }
}
