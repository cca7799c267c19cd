//! The viewer's engine, which wires the parts together: the socket's bytes go to the
//! MQTT session; its frames to the live stream, from there to the presentation
//! (decoder, canvas, stats) and, once drawn, back to the live stream to be
//! acknowledged; the bus's other messages to the camera list, the overlay and the clock.
//! It also decides what is watched: the camera shown, its rendition, the previews.
//!
//! It runs in a dedicated worker drawing into the `OffscreenCanvas` the page handed it,
//! or, where browsers have no `OffscreenCanvas`, on the page itself (`scope`, `draw`).
//! It never touches the DOM: what the page shows (the overlay, `#stats`, the login
//! form) goes out through a [`Sink`], and the page's input (a login typed, the tab
//! hidden or shown) comes in through [`log_in`] and [`set_hidden`].
//!
//! This module is what the page can ask of the engine (start, show a camera, pause, a
//! login…). Each part owns its state; `app` holds them in one `App` and routes between
//! them. In the order a frame meets them:
//! - `connection`: the broker, the socket, the MQTT session, the link as the user sees it.
//! - `live`: the camera shown's stream: subscriptions, hellos, renditions, clock,
//!   acknowledgements. The [`Source`] of live frames.
//! - `playback`: the camera shown's recordings, while they are played back: requests,
//!   replies, acknowledgements. The [`Source`] of recorded frames.
//! - `cameras` and `previews`: every camera's status, alarm and directory entry; which
//!   previews are subscribed to, and a decoded one into its tile.
//! - `present`: the decoder, the canvas and the animation frames, driven by
//!   [`Presentation`](crate::picture::present::Presentation).
//! - `output`: what goes to the page, when it changed.
//! - `app`: the parts together, and the routing between them.
//!
//! The `App` lives behind `Rc<RefCell<_>>` and holds a weak handle to itself for the
//! callbacks it makes: every entry point borrows it once and works on `&mut App`. The
//! socket's callbacks are owned by the socket and go when it is dropped, so a reconnect
//! leaves nothing behind. The page-lifetime timers are `forget()`-ed on purpose: they
//! live as long as the page does.

mod app;
mod cameras;
mod connection;
mod live;
mod output;
mod playback;
mod present;
mod previews;

use wasm_bindgen::JsValue;
use web_sys::WebSocket;
use wire::{ack::Rendition, topic};

pub use self::{
    app::Shared,
    connection::DEFAULT_USER,
    output::{Output, Sink},
};
use self::{
    app::{join_stream, leave_stream, open, render, start_timers, sync_previews, App},
    connection::Connection,
    playback::Playback,
    present::Picture,
};
use crate::{
    bus::cameras::{self as cams, Cam},
    page::target::Target,
    picture::{draw::Surface, overlay::Overlay, startup::Step, view::Link},
    playback::player::Command,
    scope::now_ms,
};

/// What the engine starts from: all the page worked out (where to connect, who we are).
pub struct Init {
    pub target: Result<Target, String>,
    pub client_id: String,
    pub login: Option<(String, String)>,
    pub hidden: bool,
    /// The page's `performance.timeOrigin`, for "navigation → first picture".
    pub page_time_origin: f64,
    /// Start on the grid: no camera's full stream until the page shows one.
    pub grid: bool,
    /// What the link carries (bytes a second), as the page saw its own code download
    /// or the last visit measured; `None`: unknown.
    pub link_bytes_per_s: Option<f64>,
    /// The first camera as `/edge.json` describes it: renditions offered, frame rate and
    /// a guess of its full frames' size.
    pub camera_hint: Option<(Vec<Rendition>, f64, f64)>,
    /// The rendition the user pinned (`?quality=`, or kept from last time).
    pub pinned: Option<Rendition>,
    /// How old a detection may be, relative to the frame shown, and still be drawn over
    /// it (`?detections-age=` ms).
    pub marks_max_age_ms: f64,
    /// Steps to the first picture timed before the engine started: objects of
    /// `{step name: absolute ms}`, the page's and the worker loader's (`www/early.js`).
    pub boot: Vec<JsValue>,
}

/// Starts the engine: connects (unless the page is hidden) and starts its timers. The
/// returned handle is the only strong reference: callbacks and timers hold weak ones,
/// so the viewer lives exactly as long as the caller keeps it.
/// `early`: a socket to the broker already opening (the worker's loader dialled it while
/// this module loaded: its handshake overlaps the load, a round trip sooner).
pub fn start(init: Init, surface: Surface, sink: Sink, early: Option<WebSocket>) -> Result<Shared, JsValue> {
    let app = App::shared(
        Connection::new(init.client_id, init.login, early),
        Picture::new(surface, init.page_time_origin, Overlay::new(init.marks_max_age_ms)),
        sink,
    );
    start_timers(&app)?;
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    for marks in &init.boot {
        for step in Step::ALL {
            if let Some(at) = js_sys::Reflect::get(marks, &step.name().into()).ok().and_then(|v| v.as_f64()) {
                a.picture.core.startup.mark(step, at);
            }
        }
    }
    a.picture.core.startup.mark(Step::Engine, now_ms());
    let weak = a.me.clone();
    a.picture.on_animation_frame(move |_: f64| {
        if let Some(app) = weak.upgrade() {
            let mut a = app.borrow_mut();
            let now = now_ms();
            a.picture.presented(Some(now));
            if let Some(p) = &mut a.playback {
                p.player.presented(now);
            }
        }
    });
    match init.target {
        Ok(t) => {
            let client_id = a.conn.session.client_id().to_string();
            match topic::split_frame_topic(&t.topic) {
                Some((prefix, camera)) => {
                    a.prefix = Some(prefix.to_string());
                    if let Some(link) = init.link_bytes_per_s {
                        a.live.adapt.assume_link(link);
                    }
                    a.live.adapt.pin(init.pinned);
                    if !init.grid {
                        a.shown = Some(camera.to_string());
                        let mut cam = Cam::new(camera);
                        if let Some((offered, fps, bytes)) = init.camera_hint {
                            a.live.adapt.camera(&offered, fps, Some(bytes));
                            (cam.offered, cam.fps) = (offered, fps);
                        }
                        a.cams.push(cam);
                        a.live.open(prefix, camera, &t.topic, &client_id);
                    }
                }
                // A topic of the page's own: that one stream, no grid.
                None => a.live.own_topic(&t.topic, &client_id),
            }
            if !a.conn.set_brokers(t.brokers) {
                a.conn.link = Link::Stopped("no broker known".to_string());
            } else if init.hidden {
                a.conn.link = Link::Paused;
            } else {
                open(a);
            }
        }
        Err(e) => a.conn.link = Link::Stopped(e),
    }
    render(a);
    drop(guard);
    Ok(app)
}

/// A login typed into the page's form: connect again with it.
pub fn log_in(app: &Shared, user: String, password: String) {
    let mut a = app.borrow_mut();
    a.conn.log_in(user, password);
    open(&mut a);
    render(&mut a);
}

/// A hidden tab disconnects and a shown one reconnects: a phone in a pocket should not
/// spend its data plan and battery on frames nobody sees, and background tabs' throttled
/// timers would miss keep-alives anyway.
pub fn set_hidden(app: &Shared, hidden: bool) {
    let mut a = app.borrow_mut();
    if hidden {
        a.conn.hide();
    } else if a.conn.unhide() {
        open(&mut a);
    }
    render(&mut a);
}

/// The picture on screen now, as a JPEG `Blob` (a promise of one).
pub fn snapshot(app: &Shared) -> Result<js_sys::Promise, JsValue> {
    app.borrow().picture.surface.snapshot()
}

/// The page shows `camera` full-size (`None`: the grid, no full stream), because of the
/// user's input (or an alarm's arrival) at `at_ms`: leave the camera shown, put the new
/// one's newest preview on screen at once, and subscribe to its frames.
pub fn show(app: &Shared, camera: Option<String>, at_ms: f64) {
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    if a.prefix.is_none() || a.shown == camera {
        return; // one stream of the page's own topic, or no change
    }
    if let Some(p) = a.playback.take() {
        p.close(&mut a.conn.session);
    }
    leave_stream(a);
    a.picture.overlay.clear();
    a.picture.draw_marks();
    a.picture.core.switched(camera.as_ref().map(|_| at_ms));
    a.live.resume();
    a.conn.session.forget_last_frame();
    a.shown = camera.clone();
    if let Some(name) = &camera {
        let i = cams::index(&mut a.cams, name);
        a.live.camera = a.cams[i].status.clone();
        back_to_live(a, i);
    }
    sync_previews(a);
    render(a);
}

/// Camera `i`'s live picture again: its kept preview on screen at once, its stream
/// joined (unless paused).
fn back_to_live(a: &mut App, i: usize) {
    if let Some((bitmap, capture_us)) = &a.cams[i].preview {
        a.picture.surface.draw_stretched(bitmap);
        a.picture.core.kept_preview_shown(*capture_us);
        a.picture.request_present();
    }
    if !a.paused {
        join_stream(a);
    }
}

/// Opens the shown camera's recordings (`true`: its live stream is left, the newest
/// recorded frame shown) or goes back to live (`false`, asked at `at_ms`: timed as a
/// switch, the kept preview on screen at once).
pub fn recordings(app: &Shared, open: bool, at_ms: f64) {
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    let (Some(prefix), Some(camera)) = (a.prefix.clone(), a.shown.clone()) else { return };
    if open == a.playback.is_some() {
        return;
    }
    if open {
        let offset = a.live.clock.offset_ms();
        leave_stream(a);
        a.picture.overlay.clear();
        a.picture.draw_marks();
        a.picture.core.switched(None);
        a.playback = Some(Playback::open(&prefix, &camera, &mut a.conn.session, offset, now_ms()));
        a.conn.flush();
    } else if let Some(p) = a.playback.take() {
        p.close(&mut a.conn.session);
        a.picture.core.switched(Some(at_ms));
        a.live.resume();
        a.conn.session.forget_last_frame();
        let i = cams::index(&mut a.cams, &camera);
        back_to_live(a, i);
    }
    sync_previews(a);
    render(a);
}

/// What the user asks of the playback under way, at `at_ms`.
pub fn playback(app: &Shared, command: Command, at_ms: f64) {
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    let Some(p) = &mut a.playback else {
        // "Record now" from the live view: a request of its own (no reply waited for).
        if let (Command::Mark(seconds), Some(prefix), Some(camera)) = (command, &a.prefix, &a.shown) {
            let s = &mut a.conn.session;
            let topic = topic::playback_request(prefix, camera, s.client_id());
            s.publish(&topic, &wire::playback::Request::Mark { seconds }.encode(0));
            a.conn.flush();
        }
        return;
    };
    p.command(command, at_ms, now_ms(), &mut a.conn.session);
    a.conn.flush();
    render(a);
}

/// Pauses the camera shown (its last picture stays) or goes on with it.
pub fn set_paused(app: &Shared, paused: bool) {
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    if a.paused == paused || a.prefix.is_none() {
        return;
    }
    a.paused = paused;
    if a.playback.is_some() {
        // Left already; back to live it stays paused, or joins.
        render(a);
        return;
    }
    if paused {
        leave_stream(a);
    } else if a.shown.is_some() {
        a.picture.core.resumed();
        a.live.resume();
        a.conn.session.forget_last_frame();
        join_stream(a);
    }
    render(a);
}

/// The tile of `camera`: its previews are drawn there from now on.
pub fn add_tile(app: &Shared, camera: &str, surface: Surface) {
    let mut a = app.borrow_mut();
    let i = cams::index(&mut a.cams, camera);
    if let Some((bitmap, _)) = &a.cams[i].preview {
        surface.draw(bitmap);
    }
    a.cams[i].tile = Some(surface);
}

/// The canvas detections are drawn on (over the picture).
pub fn set_marks(app: &Shared, surface: Surface) {
    let mut a = app.borrow_mut();
    a.picture.overlay.set_surface(surface);
    a.picture.draw_marks();
}

/// How the page turns the picture: labels are drawn to read upright.
pub fn set_turn(app: &Shared, degrees: u32, mirror: bool) {
    let mut a = app.borrow_mut();
    a.picture.overlay.set_turn(degrees, mirror);
    a.picture.draw_marks();
}

/// The user pins a rendition (`None`: the viewer chooses again).
pub fn pin(app: &Shared, rendition: Option<Rendition>) {
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    let want = a.live.adapt.pin(rendition);
    if let (Some(prefix), Some(camera)) = (&a.prefix, &a.shown) {
        a.live.switch(prefix, camera, want, &mut a.conn.session);
        a.conn.flush();
    }
    render(a);
}
