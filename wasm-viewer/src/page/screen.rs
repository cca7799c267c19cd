//! The page's two views, the grid of live tiles and one camera full-size, and the
//! controls around them: tap, swipe, keys, the alarm banner, the URL.
//!
//! What is shown is decided by [`Deck`] (the user's pick, alarm over user); this module
//! only turns input into [`Deck`] calls and [`Deck::shown`] into the DOM and into
//! `show` messages to the engine, which switches streams and times the switch from the
//! input event's own time stamp.

use std::cell::RefCell;

use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Event, HtmlCanvasElement, HtmlElement, KeyboardEvent, PointerEvent};

use crate::{
    bus::cameras::CameraInfo,
    page::deck::{Deck, Shown},
    page::{
        actions,
        dom::{document, element, window},
        handle::EngineHandle,
        prefs, recordings,
    },
    picture::view::fixed,
};

/// Controls fade this long after the last touch.
const CONTROLS_MS: i32 = 4000;
/// A horizontal move this long (CSS px) is a swipe, not a tap.
const SWIPE_PX: f64 = 50.0;

struct Screen {
    engine: EngineHandle,
    deck: Deck,
    /// Several cameras on a bus (else one stream of a topic of the page's own: no grid).
    multi: bool,
    /// Each camera's tile, in the grid's order.
    tiles: Vec<(String, HtmlElement)>,
    /// The camera the engine was last told to show.
    shown: Option<String>,
    turn: prefs::Turn,
    paused: bool,
    /// Counts taps, so an old fade timer does not hide controls shown since.
    controls_epoch: u32,
    /// Where a pointer went down on the picture (x, y).
    press: Option<(f64, f64)>,
    wake_lock: Option<JsValue>,
}

thread_local! {
    static SCREEN: RefCell<Option<Screen>> = const { RefCell::new(None) };
}

/// Runs `f` on the screen, if it is set up (and not already in use higher up the stack).
fn with<R>(f: impl FnOnce(&mut Screen) -> R) -> Option<R> {
    SCREEN.with(|s| s.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Input time (ms since the epoch, as the engine's clock) from an event's time stamp.
fn event_ms(e: &Event) -> f64 {
    let origin = window().performance().map_or(0.0, |p| p.time_origin());
    origin + e.time_stamp()
}

fn now_ms() -> f64 {
    window().performance().map_or_else(js_sys::Date::now, |p| p.time_origin() + p.now())
}

/// Sets up the views: `cameras` known so far (from `/edge.json`), the camera to open
/// (`None`: the grid).
pub fn start(
    engine: EngineHandle,
    multi: bool,
    cameras: &[String],
    open: Option<String>,
) -> Result<(), JsValue> {
    let mut deck = Deck::default();
    deck.learn(cameras.iter().map(String::as_str));
    deck.choose(open.as_deref());
    let screen = Screen {
        engine,
        deck,
        multi,
        tiles: Vec::new(),
        // Nothing yet, so that the first `apply` sets up the camera view (the engine
        // already streams `open`: telling it again changes nothing).
        shown: None,
        turn: prefs::Turn::default(),
        paused: false,
        controls_epoch: 0,
        press: None,
        wake_lock: None,
    };
    SCREEN.with(|s| *s.borrow_mut() = Some(screen));
    let body = document().body().ok_or("the page has a body")?;
    let _ = body.set_attribute("data-multi", if multi { "true" } else { "false" });
    wire_controls()?;
    // The engine started with it (`Init::pinned`).
    prefs::render_quality(prefs::initial_quality().as_deref());
    prefs::set_marks(prefs::marks_kept(), false);
    with(|s| s.engine.add_marks(element("marks")));
    with(|s| {
        if multi {
            for name in s.deck.cameras().to_vec() {
                add_tile(s, &name);
            }
        }
        apply(s, now_ms());
        render_turn(s);
    });
    Ok(())
}

/// The engine's camera list: new tiles, their states, alarms taking the screen.
pub fn cameras(list: Vec<CameraInfo>) {
    // Queued, not dropped, when the screen is busy: the engine on the page reports from
    // inside calls the screen made.
    if with(|s| update(s, &list)).is_none() {
        spawn_local(async move {
            with(|s| update(s, &list));
        });
    }
}

fn update(s: &mut Screen, list: &[CameraInfo]) {
    if !s.multi {
        return;
    }
    let arrived = now_ms();
    for c in list {
        s.deck.learn([c.name.as_str()]);
        if !s.tiles.iter().any(|(n, _)| n == &c.name) {
            add_tile(s, &c.name);
        }
        s.deck.alarm(&c.name, c.alarm.as_ref().map(|(reason, at_us, _)| (reason.as_str(), *at_us)));
        let Some((_, tile)) = s.tiles.iter().find(|(n, _)| n == &c.name) else { continue };
        let set = |k: &str, v: &str| {
            if tile.get_attribute(k).as_deref() != Some(v) {
                let _ = tile.set_attribute(k, v);
            }
        };
        set("data-state", &c.state);
        set("data-previews", &c.previews.to_string());
        let label = match (c.state.as_str(), c.age_s) {
            ("offline", Some(age)) => format!("offline · {}", ago(age)),
            ("idle", _) => "idle".to_string(),
            (state, _) => state.to_string(),
        };
        if let Ok(Some(el)) = tile.query_selector(".tile-state") {
            if el.text_content().as_deref() != Some(label.as_str()) {
                el.set_text_content(Some(&label));
            }
        }
        let _ = tile.set_attribute("title", &format!("{} · {}", c.name, c.detail));
        set("data-recording", if c.recording { "true" } else { "false" });
    }
    apply(s, arrived);
}

/// "12 s ago", "3 min ago", "2.0 h ago".
fn ago(s: f64) -> String {
    match s {
        s if s < 90.0 => format!("{} s ago", fixed(s, 0)),
        s if s < 5400.0 => format!("{} min ago", fixed(s / 60.0, 0)),
        s => format!("{} h ago", fixed(s / 3600.0, 1)),
    }
}

/// A tile for `name`: a button with the camera's preview canvas (drawn by the engine),
/// its name and its state.
fn add_tile(s: &mut Screen, name: &str) {
    let doc = document();
    let Ok(tile) = doc.create_element("button") else { return };
    let Ok(tile) = tile.dyn_into::<HtmlElement>() else { return };
    tile.set_class_name("tile");
    let _ = tile.set_attribute("type", "button");
    let _ = tile.set_attribute("data-camera", name);
    let _ = tile.set_attribute("data-state", "starting");
    let _ = tile.set_attribute("data-alarm", "false");
    let _ = tile.set_attribute("data-previews", "0");
    let _ = tile.set_attribute("aria-label", &format!("Watch {name}"));
    let Ok(canvas) = doc.create_element("canvas") else { return };
    let Ok(canvas) = canvas.dyn_into::<HtmlCanvasElement>() else { return };
    canvas.set_width(320);
    canvas.set_height(180);
    let _ = tile.append_child(&canvas);
    for (class, text) in [("tile-name", name), ("tile-state", "starting"), ("tile-alarm", "alarm")] {
        if let Ok(span) = doc.create_element("span") {
            span.set_class_name(class);
            span.set_text_content(Some(text));
            let _ = tile.append_child(&span);
        }
    }
    let camera = name.to_string();
    let on_click = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
        let at = event_ms(&e);
        with(|s| {
            s.deck.choose(Some(&camera));
            apply(s, at);
        });
    });
    let _ = tile.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    // The tile lives as long as the page.
    on_click.forget();
    let _ = element::<HtmlElement>("tiles").append_child(&tile);
    s.engine.add_tile(name, canvas);
    s.tiles.push((name.to_string(), tile));
}

/// Makes the page show what the deck says: view, camera, banner, URL, tiles' marks.
fn apply(s: &mut Screen, at_ms: f64) {
    let shown = s.deck.shown();
    let camera = shown.camera().map(str::to_string);
    let alarm = match &shown {
        Shown::Alarm(a) => Some((a.camera.clone(), a.reason.clone())),
        _ => None,
    };
    let stats = element::<HtmlElement>("stats");
    let banner = element::<HtmlElement>("alarm");
    match &alarm {
        Some((camera, reason)) => {
            let text = if reason.is_empty() {
                format!("Alarm: {camera}")
            } else {
                format!("Alarm: {camera} — {reason}")
            };
            element::<HtmlElement>("alarm-text").set_text_content(Some(&text));
            banner.set_hidden(false);
        }
        None => banner.set_hidden(true),
    }
    let _ = stats.set_attribute("data-alarm", alarm.as_ref().map_or("", |(c, _)| c.as_str()));
    for (name, tile) in &s.tiles {
        let marked = if s.deck.alarmed(name) { "true" } else { "false" };
        if tile.get_attribute("data-alarm").as_deref() != Some(marked) {
            let _ = tile.set_attribute("data-alarm", marked);
        }
    }
    let view = if camera.is_some() || !s.multi { "camera" } else { "grid" };
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-view", view);
        let many = s.deck.cameras().len() > 1;
        let _ = body.set_attribute("data-many", if many { "true" } else { "false" });
    }
    let _ = stats.set_attribute("data-view", view);
    // The recordings button, for a camera its edge records.
    let recorded = s.tiles.iter().any(|(n, t)| {
        Some(n) == camera.as_ref() && t.get_attribute("data-recording").as_deref() == Some("true")
    });
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-recorded", if recorded { "true" } else { "false" });
    }
    if camera == s.shown {
        return;
    }
    s.shown = camera.clone();
    // The engine leaves the recordings of the camera left behind.
    recordings::camera_changed(camera.clone());
    s.engine.show(camera.clone(), at_ms);
    element::<HtmlElement>("cam-name").set_text_content(camera.as_deref());
    s.turn = prefs::load_turn(camera.as_deref());
    render_turn(s);
    actions::set_url(camera.as_deref());
    wake_lock(s);
}

/// Keeps the screen on while a camera is watched (where the browser can).
fn wake_lock(s: &mut Screen) {
    if let Some(lock) = s.wake_lock.take() {
        actions::release_wake_lock(&lock);
    }
    if s.shown.is_none() || document().hidden() {
        return;
    }
    let Some(promise) = actions::request_wake_lock() else { return };
    spawn_local(async move {
        // Refused without a user gesture or on battery saver: the screen may dim, no more.
        if let Ok(lock) = JsFuture::from(promise).await {
            with(|s| s.wake_lock = Some(lock));
        }
    });
}

/// The tab was hidden or shown: the screen lock goes and comes with it.
pub fn visibility_changed() {
    with(wake_lock);
}

/// Rotation and mirroring, as a CSS transform of the picture (the pixels stay as sent).
fn render_turn(s: &Screen) {
    let mut transform = String::new();
    if s.turn.degrees != 0 {
        transform += &format!("rotate({}deg) ", s.turn.degrees);
    }
    if s.turn.mirror {
        transform += "scaleX(-1)";
    }
    // The detections turn with the picture; their labels are drawn to read upright.
    for id in ["view", "marks"] {
        let canvas = element::<HtmlElement>(id);
        let _ = canvas.style().set_property("transform", transform.trim());
        let _ = canvas.class_list().toggle_with_force("sideways", s.turn.degrees % 180 == 90);
    }
    s.engine.turn(s.turn.degrees.into(), s.turn.mirror);
    let stats = element::<HtmlElement>("stats");
    let _ = stats.set_attribute("data-rotate", &s.turn.degrees.to_string());
    let _ = stats.set_attribute("data-mirror", if s.turn.mirror { "true" } else { "false" });
    let _ = stats.set_attribute("data-paused", if s.paused { "true" } else { "false" });
    let pause = element::<HtmlElement>("btn-pause");
    let _ = pause.set_attribute("aria-label", if s.paused { "Play" } else { "Pause" });
    let _ = pause.set_attribute("aria-pressed", if s.paused { "true" } else { "false" });
}

/// Shows the controls and fades them after a while.
fn show_controls(s: &mut Screen) {
    s.controls_epoch = s.controls_epoch.wrapping_add(1);
    let epoch = s.controls_epoch;
    if let Some(body) = document().body() {
        let _ = body.class_list().add_1("controls");
    }
    let fade = Closure::once_into_js(move || {
        with(|s| {
            if s.controls_epoch == epoch {
                if let Some(body) = document().body() {
                    let _ = body.class_list().remove_1("controls");
                }
            }
        });
    });
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(fade.unchecked_ref(), CONTROLS_MS);
}

fn hide_controls() {
    if let Some(body) = document().body() {
        let _ = body.class_list().remove_1("controls");
    }
}

/// Pauses the camera shown, or goes on with it.
fn toggle_pause(s: &mut Screen) {
    s.paused = !s.paused;
    s.engine.pause(s.paused);
    render_turn(s);
}

/// Next (1) or previous (-1) camera.
fn step(s: &mut Screen, by: isize, at: f64) {
    if let Some(next) = s.deck.neighbour(by).map(str::to_string) {
        s.deck.choose(Some(&next));
        apply(s, at);
    }
}

fn to_grid(s: &mut Screen, at: f64) {
    if s.multi {
        s.deck.choose(None);
        apply(s, at);
    }
}

/// A button's click calls `f` with the screen and the click's time.
fn on_click(id: &str, f: impl Fn(&mut Screen, f64) + 'static) -> Result<(), JsValue> {
    let handler = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
        let at = event_ms(&e);
        with(|s| {
            f(s, at);
            show_controls(s);
        });
    });
    element::<HtmlElement>(id).add_event_listener_with_callback("click", handler.as_ref().unchecked_ref())?;
    // Buttons live as long as the page.
    handler.forget();
    Ok(())
}

fn wire_controls() -> Result<(), JsValue> {
    on_click("btn-grid", to_grid)?;
    on_click("btn-prev", |s, at| step(s, -1, at))?;
    on_click("btn-next", |s, at| step(s, 1, at))?;
    on_click("btn-fullscreen", |_, _| actions::toggle_fullscreen())?;
    on_click("btn-snapshot", |s, _| actions::save_snapshot(s.shown.clone()))?;
    on_click("btn-rotate", |s, _| {
        s.turn.degrees = (s.turn.degrees + 90) % 360;
        if let Some(camera) = &s.shown {
            prefs::save_turn(camera, s.turn);
        }
        render_turn(s);
    })?;
    on_click("btn-mirror", |s, _| {
        s.turn.mirror = !s.turn.mirror;
        if let Some(camera) = &s.shown {
            prefs::save_turn(camera, s.turn);
        }
        render_turn(s);
    })?;
    on_click("btn-pause", |s, _| toggle_pause(s))?;
    on_click("btn-quality", |s, _| {
        let next = prefs::next_quality();
        s.engine.quality(next.map(str::to_string));
        prefs::render_quality(next);
    })?;
    on_click("btn-marks", |_, _| prefs::set_marks(!prefs::marks_shown(), true))?;
    on_click("btn-stats", |_, _| {
        if let Some(body) = document().body() {
            let on = !body.class_list().contains("stats");
            let _ = body.class_list().toggle_with_force("stats", on);
            let _ = element::<HtmlElement>("btn-stats")
                .set_attribute("aria-pressed", if on { "true" } else { "false" });
        }
    })?;
    on_click("alarm-dismiss", |s, at| {
        s.deck.dismiss();
        apply(s, at);
    })?;

    // The picture: a tap shows or hides the controls, a sideways swipe changes camera.
    let stage = element::<HtmlElement>("stage");
    let down = Closure::<dyn FnMut(PointerEvent)>::new(|e: PointerEvent| {
        with(|s| s.press = Some((f64::from(e.client_x()), f64::from(e.client_y()))));
    });
    stage.add_event_listener_with_callback("pointerdown", down.as_ref().unchecked_ref())?;
    let up = Closure::<dyn FnMut(PointerEvent)>::new(|e: PointerEvent| {
        let on_control = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("button, form, #alarm, #playback").ok().flatten())
            .is_some();
        let at = event_ms(&e);
        with(|s| {
            let Some((x0, y0)) = s.press.take() else { return };
            if on_control {
                return;
            }
            let (dx, dy) = (f64::from(e.client_x()) - x0, f64::from(e.client_y()) - y0);
            if dx.abs() >= SWIPE_PX && dx.abs() > 1.5 * dy.abs() {
                // Swipe left: the next camera comes in from the right.
                step(s, if dx < 0.0 { 1 } else { -1 }, at);
            } else if dx.abs() < 10.0 && dy.abs() < 10.0 {
                let shown = document().body().is_some_and(|b| b.class_list().contains("controls"));
                if shown {
                    hide_controls();
                } else {
                    show_controls(s);
                }
            }
        });
    });
    stage.add_event_listener_with_callback("pointerup", up.as_ref().unchecked_ref())?;

    // Keys, on a desktop: arrows change camera, Escape goes back, the rest as labelled.
    let key = Closure::<dyn FnMut(KeyboardEvent)>::new(|e: KeyboardEvent| {
        if e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA"));
        if typing {
            return;
        }
        let at = event_ms(&e);
        // With the recordings open, the keys play them.
        if recordings::key(&e.key(), at) {
            e.prevent_default();
            return;
        }
        let handled = with(|s| {
            let camera_view = s.shown.is_some();
            match e.key().as_str() {
                "ArrowRight" => step(s, 1, at),
                "ArrowLeft" => step(s, -1, at),
                "Escape" if matches!(s.deck.shown(), Shown::Alarm(_)) => {
                    s.deck.dismiss();
                    apply(s, at);
                }
                "Escape" => to_grid(s, at),
                "f" if camera_view => actions::toggle_fullscreen(),
                "p" | " " if camera_view => toggle_pause(s),
                "d" if camera_view => prefs::set_marks(!prefs::marks_shown(), true),
                _ => return false,
            }
            show_controls(s);
            true
        });
        if handled == Some(true) {
            e.prevent_default();
        }
    });
    document().add_event_listener_with_callback("keydown", key.as_ref().unchecked_ref())?;
    // The listeners live as long as the page.
    down.forget();
    up.forget();
    key.forget();
    Ok(())
}
