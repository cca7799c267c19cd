//! The recordings of the camera shown, on the page: the button that opens them, the
//! timeline (a canvas: drag to scrub, pinch or wheel to zoom), the play, step, speed and
//! event buttons, the event list, Export (the download is [`export`]'s) and "Live". The
//! geometry is [`Axis`]'s and the playback the engine's ([`Command`]s); this module turns
//! input into those and draws what they say. The picture itself comes through the
//! engine's presentation path, as live.

use std::cell::RefCell;

use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{CanvasRenderingContext2d, Event, HtmlCanvasElement, HtmlElement, PointerEvent, WheelEvent};
use wire::playback::{parse_reply, Reply, SpanKind, Timeline};

use crate::{
    page::{
        dom::{document, element, window},
        export,
        handle::EngineHandle,
    },
    playback::{
        clip,
        player::{Command, SPEEDS},
        timeline::{clock_text, event_colour, speed_text, Axis, Fill},
    },
};

/// The timeline's height in CSS pixels (the canvas's attribute is scaled by the
/// device's pixel ratio, so lines stay sharp on a phone).
const HEIGHT: f64 = 64.0;
/// "Record now" keeps the full-size frames this long (with the camera's pre-roll).
const MARK_S: u32 = 30;
/// Near an end of the timeline, a drag scrolls it (CSS px).
const EDGE_PX: f64 = 24.0;

/// What the fingers (or the mouse) on the timeline are doing.
#[derive(Clone, Copy)]
enum Touch {
    None,
    /// One down at this x, not moved yet: a tap so far.
    Down(f64),
    /// One moving: scrubbing.
    Drag,
    /// Two: zooming, keeping these times under them.
    Pinch(f64, f64),
}

struct Recordings {
    engine: EngineHandle,
    /// The camera shown, whose recordings these are.
    camera: Option<String>,
    open: bool,
    axis: Axis,
    timeline: Option<Timeline>,
    /// The recorded frame on screen, and the time under the finger while scrubbing.
    position: Option<u64>,
    target: Option<u64>,
    /// The start of the event picked from the event list, until the timeline is moved:
    /// Export downloads that event instead of the stretch shown.
    chosen: Option<u64>,
    /// The engine's word on the playback (`data-playback-state`), and the speed chosen.
    state: String,
    speed: i32,
    /// Pointers down on the timeline (id, x), and what they are doing.
    pointers: Vec<(i32, f64)>,
    touch: Touch,
    /// The browser's time zone, minutes east of UTC.
    tz: i32,
    /// The edge's clock minus this page's (µs), from the last timeline's "now".
    offset_us: f64,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    /// A redraw is asked for the next animation frame.
    redraw: bool,
}

thread_local! {
    static RECORDINGS: RefCell<Option<Recordings>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut Recordings) -> R) -> Option<R> {
    RECORDINGS.with(|r| r.try_borrow_mut().ok()?.as_mut().map(f))
}

fn now_ms() -> f64 {
    window().performance().map_or_else(js_sys::Date::now, |p| p.time_origin() + p.now())
}

fn event_ms(e: &Event) -> f64 {
    window().performance().map_or(0.0, |p| p.time_origin()) + e.time_stamp()
}

/// Sets up the buttons and the timeline; `exports`: the page came from the edge, whose
/// web port makes clips (else the Export button is hidden).
pub fn start(engine: EngineHandle, exports: bool) -> Result<(), JsValue> {
    let canvas = element::<HtmlCanvasElement>("timeline");
    let ctx = canvas.get_context("2d")?.ok_or("canvas 2d context unavailable")?.dyn_into()?;
    let tz = -(js_sys::Date::new_0().get_timezone_offset() as i32);
    let r = Recordings {
        engine,
        camera: None,
        open: false,
        axis: Axis::day(now_ms() * 1000.0, 300.0),
        timeline: None,
        position: None,
        target: None,
        chosen: None,
        state: String::new(),
        speed: 1000,
        pointers: Vec::new(),
        touch: Touch::None,
        tz,
        offset_us: 0.0,
        canvas,
        ctx,
        redraw: false,
    };
    RECORDINGS.with(|s| *s.borrow_mut() = Some(r));
    element::<HtmlElement>("pb-export").set_hidden(!exports);
    wire_buttons()?;
    wire_timeline()?;
    Ok(())
}

fn set_open_in(r: &mut Recordings, open: bool, at_ms: f64) {
    if r.open == open {
        return;
    }
    r.open = open;
    r.engine.recordings(open, at_ms);
    if open {
        r.timeline = None;
        r.position = None;
        r.target = None;
        r.chosen = None;
        r.state = "opening".to_string();
        r.axis = Axis::day(now_ms() * 1000.0 + r.offset_us, r.axis.width);
    }
    element::<HtmlElement>("event-list").set_hidden(true);
    export::say("", "");
    render_mode(r);
    ask_redraw(r);
}

/// The camera shown changed (the engine left its recordings): the page is live again.
pub fn camera_changed(camera: Option<String>) {
    with(|r| {
        r.camera = camera;
        if r.open {
            r.open = false;
            render_mode(r);
        }
    });
}

fn render_mode(r: &Recordings) {
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-mode", if r.open { "playback" } else { "live" });
    }
    let b = element::<HtmlElement>("btn-recordings");
    let _ = b.set_attribute("aria-pressed", if r.open { "true" } else { "false" });
    let _ = b.set_attribute("aria-label", if r.open { "Back to live" } else { "Recordings" });
}

/// A timeline from the engine (a reply's bytes).
pub fn timeline(bytes: Vec<u8>) {
    let Some((_, _, Reply::Timeline(t))) = parse_reply(&bytes) else { return };
    let apply = move |r: &mut Recordings| {
        if t.now_us > 0 {
            r.offset_us = t.now_us as f64 - now_ms() * 1000.0;
            r.axis.set_now(t.now_us as f64);
        }
        let same_events = r.timeline.as_ref().is_some_and(|old| old.events == t.events);
        // The first timeline since opening: the view fits the footage there is.
        if r.timeline.is_none() {
            if let Some(first) =
                t.spans.iter().filter(|s| matches!(s.kind, SpanKind::Recorded(_))).map(|s| s.start_us).min()
            {
                r.axis.fit(first as f64);
            }
        }
        r.timeline = Some(t);
        if !same_events {
            render_events(r);
        }
        ask_redraw(r);
    };
    // Queued when the page's own engine reports from inside a call made from here.
    if RECORDINGS.with(|s| s.try_borrow_mut().is_err()) {
        spawn_local(async move {
            with(apply);
        });
    } else {
        with(apply);
    }
}

/// A recorded frame was drawn: the playhead follows it.
pub fn position(us: u64) {
    with(|r| {
        r.position = Some(us);
        if r.pointers.is_empty() {
            r.target = None;
            // A play walking off the view brings it along; a scrub's frame just before
            // the view's start does not throw it away from the finger.
            if playing(r) {
                r.axis.follow(us as f64);
            }
        }
        ask_redraw(r);
    });
}

/// The engine's `#stats`: the playback's state, for the buttons and the time shown.
pub fn view(attrs: &[(String, String)]) {
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_default();
    with(|r| {
        if !r.open {
            return;
        }
        let state = get("data-playback-state");
        if state != r.state {
            r.state = state.to_string();
            render_buttons(r);
        }
        let text = get("data-state");
        let el = element::<HtmlElement>("pb-state");
        if el.text_content().as_deref() != Some(text) {
            el.set_text_content(Some(text));
        }
    });
}

fn playing(r: &Recordings) -> bool {
    r.state == "playing"
}

fn command(r: &mut Recordings, c: Command, at_ms: f64) {
    r.engine.playback(c, at_ms);
    match c {
        Command::Play(speed) => {
            r.speed = speed;
            r.state = "playing".to_string();
        }
        Command::Pause => r.state = "paused".to_string(),
        Command::Jump(_) => {
            // Another event: the one picked from the list is no longer what is looked at.
            r.chosen = None;
            r.state = "seeking".to_string();
        }
        Command::Seek(_) | Command::Step(_) => r.state = "seeking".to_string(),
        Command::Mark(_) => {}
    }
    render_buttons(r);
}

/// Play or pause; `backwards`: the reverse button.
fn toggle_play(r: &mut Recordings, backwards: bool, at_ms: f64) {
    let same_way = (r.speed < 0) == backwards;
    if playing(r) && same_way {
        command(r, Command::Pause, at_ms);
    } else {
        let speed = r.speed.abs() * if backwards { -1 } else { 1 };
        command(r, Command::Play(speed), at_ms);
    }
}

/// The next speed up (round to the slowest after the fastest); a play goes on at it.
fn next_speed(r: &mut Recordings, at_ms: f64) {
    let abs = r.speed.abs();
    let i = SPEEDS.iter().position(|s| *s == abs).map_or(2, |i| (i + 1) % SPEEDS.len());
    let speed = SPEEDS[i] * r.speed.signum();
    r.speed = speed;
    if playing(r) {
        command(r, Command::Play(speed), at_ms);
    }
    render_buttons(r);
}

fn render_buttons(r: &Recordings) {
    let play = element::<HtmlElement>("pb-play");
    let reverse = element::<HtmlElement>("pb-reverse");
    let forward = playing(r) && r.speed > 0;
    let backward = playing(r) && r.speed < 0;
    let _ = play.set_attribute("aria-pressed", if forward { "true" } else { "false" });
    let _ = play.set_attribute("aria-label", if forward { "Pause" } else { "Play" });
    let _ = reverse.set_attribute("aria-pressed", if backward { "true" } else { "false" });
    let _ = reverse.set_attribute("aria-label", if backward { "Pause" } else { "Play backwards" });
    let speed = speed_text(r.speed.abs());
    let el = element::<HtmlElement>("pb-speed");
    if el.text_content().as_deref() != Some(speed.as_str()) {
        el.set_text_content(Some(&speed));
    }
}

/// The event list: newest first, each a button that jumps to it.
fn render_events(r: &Recordings) {
    let list = element::<HtmlElement>("event-list");
    list.set_inner_html("");
    let Some(t) = &r.timeline else { return };
    let doc = document();
    if t.events.is_empty() {
        if let Ok(p) = doc.create_element("p") {
            p.set_text_content(Some("No events in the last day."));
            let _ = list.append_child(&p);
        }
    }
    for e in t.events.iter().rev() {
        let Ok(b) = doc.create_element("button") else { continue };
        let _ = b.set_attribute("type", "button");
        let _ = b.set_attribute("data-kind", e.kind.name());
        let _ = b.set_attribute("data-at-us", &e.start_us.to_string());
        let mut text = format!("{} · {}", clock_text(e.start_us, r.tz, true, false), e.kind.name());
        for part in [&e.reason, &e.source] {
            if !part.is_empty() {
                text += &format!(" · {part}");
            }
        }
        b.set_text_content(Some(&text));
        let _ = list.append_child(&b);
    }
}

fn on_click(id: &str, f: impl Fn(&mut Recordings, f64) + 'static) -> Result<(), JsValue> {
    let handler = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
        let at = event_ms(&e);
        with(|r| f(r, at));
    });
    element::<HtmlElement>(id).add_event_listener_with_callback("click", handler.as_ref().unchecked_ref())?;
    // Buttons live as long as the page.
    handler.forget();
    Ok(())
}

fn wire_buttons() -> Result<(), JsValue> {
    on_click("btn-recordings", |r, at| {
        let open = !r.open;
        set_open_in(r, open, at);
    })?;
    on_click("pb-live", |r, at| set_open_in(r, false, at))?;
    on_click("btn-mark", |r, at| {
        r.engine.playback(Command::Mark(MARK_S), at);
        let b = element::<HtmlElement>("btn-mark");
        let _ = b.set_attribute("aria-pressed", "true");
        // Pressed while the edge keeps the full frames (its post-roll follows).
        let off = Closure::once_into_js(move || {
            let _ = element::<HtmlElement>("btn-mark").set_attribute("aria-pressed", "false");
        });
        let ms = MARK_S as i32 * 1000;
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(off.unchecked_ref(), ms);
    })?;
    on_click("pb-play", |r, at| toggle_play(r, false, at))?;
    on_click("pb-reverse", |r, at| toggle_play(r, true, at))?;
    on_click("pb-step-back", |r, at| command(r, Command::Step(false), at))?;
    on_click("pb-step-forward", |r, at| command(r, Command::Step(true), at))?;
    on_click("pb-prev-event", |r, at| command(r, Command::Jump(false), at))?;
    on_click("pb-next-event", |r, at| command(r, Command::Jump(true), at))?;
    on_click("pb-speed", next_speed)?;
    on_click("pb-export", |r, _| {
        let Some(camera) = r.camera.clone() else { return };
        let Some(t) = &r.timeline else { return };
        // The event as the newest timeline has it (one going on has ended since, maybe).
        let event = r.chosen.and_then(|at| t.events.iter().find(|e| e.start_us == at));
        match clip::stretch(&r.axis, &t.spans, event) {
            Some(stretch) => export::download(&camera, stretch, r.tz),
            None => export::say(
                "failed",
                "Nothing recorded in the stretch shown: move the timeline to some footage",
            ),
        }
    })?;
    on_click("pb-events", |_, _| {
        let list = element::<HtmlElement>("event-list");
        list.set_hidden(!list.hidden());
    })?;
    // One listener for the list's buttons, which come and go with the timeline.
    let pick = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let at = event_ms(&e);
        let Some(b) = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let Some(at_us) = b.get_attribute("data-at-us").and_then(|v| v.parse::<u64>().ok()) else { return };
        with(|r| {
            element::<HtmlElement>("event-list").set_hidden(true);
            r.chosen = Some(at_us);
            r.target = Some(at_us);
            command(r, Command::Seek(at_us), at);
            ask_redraw(r);
        });
    });
    element::<HtmlElement>("event-list")
        .add_event_listener_with_callback("click", pick.as_ref().unchecked_ref())?;
    // The list lives as long as the page.
    pick.forget();
    Ok(())
}

/// A key while the recordings are open: space plays or pauses, arrows step, `[`/`]`
/// jump between events, `L` or Escape goes live. Whether it was one of those.
pub fn key(key: &str, at_ms: f64) -> bool {
    with(|r| {
        if !r.open {
            return false;
        }
        match key {
            " " | "p" | "k" => toggle_play(r, false, at_ms),
            "ArrowRight" | "." => command(r, Command::Step(true), at_ms),
            "ArrowLeft" | "," => command(r, Command::Step(false), at_ms),
            "]" => command(r, Command::Jump(true), at_ms),
            "[" => command(r, Command::Jump(false), at_ms),
            "l" | "Escape" => set_open_in(r, false, at_ms),
            _ => return false,
        }
        true
    })
    .unwrap_or(false)
}

/// The pointer's x on the timeline (CSS px from its left edge).
fn x_of(r: &Recordings, e: &PointerEvent) -> f64 {
    f64::from(e.client_x()) - r.canvas.get_bounding_client_rect().left()
}

/// Scrubs to the time under `x`; near an end, the timeline scrolls that way.
fn scrub(r: &mut Recordings, x: f64, at_ms: f64) {
    r.chosen = None;
    if x < EDGE_PX {
        r.axis.pan(EDGE_PX - x);
    } else if x > r.axis.width - EDGE_PX {
        r.axis.pan(r.axis.width - EDGE_PX - x);
    }
    let t = r.axis.t_of(x);
    r.target = Some(t);
    command(r, Command::Seek(t), at_ms);
    ask_redraw(r);
}

fn wire_timeline() -> Result<(), JsValue> {
    let canvas = element::<HtmlElement>("timeline");
    // One finger scrubs once it moves (or where it lifts, for a tap); a second finger
    // makes it a pinch, which never scrubs: the first finger of a pinch lands a moment
    // before the second.
    let down = Closure::<dyn FnMut(PointerEvent)>::new(|e: PointerEvent| {
        with(|r| {
            let _ = r.canvas.set_pointer_capture(e.pointer_id());
            let x = x_of(r, &e);
            r.pointers.retain(|p| p.0 != e.pointer_id());
            r.pointers.push((e.pointer_id(), x));
            match r.pointers[..] {
                [_] => r.touch = Touch::Down(x),
                [(_, xa), (_, xb), ..] => {
                    let (ta, tb) = (r.axis.time_at(xa), r.axis.time_at(xb));
                    r.touch = Touch::Pinch(ta, tb);
                }
                [] => {}
            }
        });
        e.prevent_default();
    });
    let moved = Closure::<dyn FnMut(PointerEvent)>::new(|e: PointerEvent| {
        let at = event_ms(&e);
        with(|r| {
            let x = x_of(r, &e);
            let Some(p) = r.pointers.iter_mut().find(|p| p.0 == e.pointer_id()) else { return };
            p.1 = x;
            match (&r.pointers[..], r.touch) {
                ([_], Touch::Down(x0)) if (x - x0).abs() < 4.0 => {}
                ([_], Touch::Down(_) | Touch::Drag) => {
                    r.touch = Touch::Drag;
                    scrub(r, x, at);
                }
                (&[(_, xa), (_, xb), ..], Touch::Pinch(ta, tb)) => {
                    r.axis.pinch(ta, tb, xa, xb);
                    r.chosen = None;
                    ask_redraw(r);
                }
                _ => {}
            }
        });
    });
    let up = Closure::<dyn FnMut(PointerEvent)>::new(|e: PointerEvent| {
        let at = event_ms(&e);
        with(|r| {
            let x = x_of(r, &e);
            r.pointers.retain(|p| p.0 != e.pointer_id());
            if r.pointers.is_empty() {
                if matches!(r.touch, Touch::Down(_)) && e.type_() == "pointerup" {
                    scrub(r, x, at);
                }
                r.touch = Touch::None;
            }
        });
    });
    let wheel = Closure::<dyn FnMut(WheelEvent)>::new(|e: WheelEvent| {
        e.prevent_default();
        with(|r| {
            r.chosen = None;
            let x = f64::from(e.client_x()) - r.canvas.get_bounding_client_rect().left();
            if e.delta_x().abs() > e.delta_y().abs() {
                r.axis.pan(-e.delta_x());
            } else {
                // A notch (~100) zooms by a fifth either way; a trackpad's small steps less.
                r.axis.zoom(1.0 / (1.0 + (e.delta_y() * 0.002).max(-0.5)), x);
            }
            ask_redraw(r);
        });
    });
    canvas.add_event_listener_with_callback("pointerdown", down.as_ref().unchecked_ref())?;
    canvas.add_event_listener_with_callback("pointermove", moved.as_ref().unchecked_ref())?;
    canvas.add_event_listener_with_callback("pointerup", up.as_ref().unchecked_ref())?;
    canvas.add_event_listener_with_callback("pointercancel", up.as_ref().unchecked_ref())?;
    canvas.add_event_listener_with_callback("wheel", wheel.as_ref().unchecked_ref())?;
    // The timeline lives as long as the page.
    down.forget();
    moved.forget();
    up.forget();
    wheel.forget();
    Ok(())
}

/// Draws at the next animation frame (many moves in one frame, one drawing).
fn ask_redraw(r: &mut Recordings) {
    if r.redraw || !r.open {
        return;
    }
    r.redraw = true;
    let f = Closure::once_into_js(|| {
        with(|r| {
            r.redraw = false;
            draw(r);
        });
    });
    let _ = window().request_animation_frame(f.unchecked_ref());
}

/// The timeline: footage kept (full-size bright, previews dim, offline and deleted in
/// their own colours, nothing where nothing was recorded), events as marks above it,
/// the time labels under it, "now", and the playhead.
fn draw(r: &mut Recordings) {
    let width = f64::from(r.canvas.client_width()).max(1.0);
    let ratio = window().device_pixel_ratio().max(1.0);
    let (pw, ph) = ((width * ratio) as u32, (HEIGHT * ratio) as u32);
    if r.canvas.width() != pw || r.canvas.height() != ph {
        r.canvas.set_width(pw);
        r.canvas.set_height(ph);
    }
    r.axis.set_width(width);
    r.axis.set_now(now_ms() * 1000.0 + r.offset_us);
    let a = r.axis;
    // The stretch shown, for tests and tools: time → x without reading pixels.
    for (k, v) in [("data-start-us", a.start_us), ("data-span-us", a.span_us), ("data-now-us", a.now_us)] {
        let v = (v as u64).to_string();
        if r.canvas.get_attribute(k).as_deref() != Some(v.as_str()) {
            let _ = r.canvas.set_attribute(k, &v);
        }
    }
    let ctx = &r.ctx;
    let _ = ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, width, HEIGHT);
    let (band_top, band_h) = (16.0, 24.0);
    ctx.set_fill_style_str("rgba(255,255,255,0.06)");
    ctx.fill_rect(0.0, band_top, width, band_h);
    if let Some(t) = &r.timeline {
        for run in a.runs(&t.spans) {
            let (colour, top, h) = match run.fill {
                Fill::Full => ("#37d67a", band_top, band_h),
                Fill::Preview => ("#2a7d55", band_top + 6.0, band_h - 12.0),
                Fill::Offline => ("#8a6d1f", band_top + 9.0, band_h - 18.0),
                Fill::Deleted => ("#7a2a2a", band_top + 9.0, band_h - 18.0),
            };
            ctx.set_fill_style_str(colour);
            ctx.fill_rect(run.x0, top, run.x1 - run.x0, h);
        }
        for (x, e) in a.events(&t.events) {
            ctx.set_fill_style_str(event_colour(e.kind));
            ctx.begin_path();
            ctx.move_to(x - 5.0, 2.0);
            ctx.line_to(x + 5.0, 2.0);
            ctx.line_to(x, 12.0);
            ctx.close_path();
            ctx.fill();
            ctx.fill_rect(x - 0.5, band_top, 1.0, band_h);
        }
    }
    // Time labels, far enough apart to read.
    ctx.set_font("11px system-ui, sans-serif");
    ctx.set_text_align("center");
    let (step_s, ticks) = a.ticks(64.0);
    for t in ticks {
        let x = a.x_of(t as f64);
        ctx.set_fill_style_str("rgba(255,255,255,0.35)");
        ctx.fill_rect(x - 0.5, band_top + band_h, 1.0, 4.0);
        ctx.set_fill_style_str("#bbb");
        let _ = ctx.fill_text(&clock_text(t, r.tz, step_s < 60, false), x, HEIGHT - 6.0);
    }
    // Now: where the footage can end.
    let x_now = a.x_of(a.now_us);
    ctx.set_fill_style_str("#e33");
    ctx.fill_rect(x_now - 1.0, band_top - 4.0, 2.0, band_h + 8.0);
    // The playhead: the finger's time while scrubbing, else the frame on screen.
    if let Some(t) = r.target.or(r.position) {
        let x = a.x_of(t as f64);
        ctx.set_fill_style_str("#fff");
        ctx.fill_rect(x - 1.0, 0.0, 2.0, band_top + band_h + 4.0);
    }
    let time = r.position.or(r.target).map_or_else(|| "–".to_string(), |t| clock_text(t, r.tz, true, true));
    let el = element::<HtmlElement>("pb-time");
    if el.text_content().as_deref() != Some(time.as_str()) {
        el.set_text_content(Some(&time));
    }
}
