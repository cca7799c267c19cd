//! The engine's parts in one [`App`], and how the messages flow between them: the
//! socket's events through the session to the live stream and the camera list, frames
//! through the presentation and back to their source, and what the page is told. The
//! page's own requests come in through the engine's entry points (the parent module).

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
};

use js_sys::Uint8Array;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::ImageBitmap;
use wire::topic;

use crate::{
    bus::cameras::{self as cams, Cam, CameraInfo},
    engine::{
        cameras,
        connection::Connection,
        live::{Heard, Live},
        output::{Page, Sink},
        playback::{Got, Playback},
        present::{self, Picture},
        previews::{self, Previews},
    },
    net::{
        session::{Event, Purpose},
        socket::SocketEvent,
    },
    picture::{
        frame::Frame,
        present::{Drawn, Source},
        startup::Step,
        view::{self, Link, Readout},
    },
    scope::{now_ms, scope},
};

/// Every part of the engine, and the handle to itself its callbacks hold.
pub struct App {
    /// This app, for the callbacks and timers it makes (they must not keep it alive).
    pub(super) me: Weak<RefCell<App>>,
    pub(super) conn: Connection,
    pub(super) live: Live,
    pub(super) previews: Previews,
    pub(super) picture: Picture,
    pub(super) page: Page,
    /// The bus's topic prefix when the frame topic is `<prefix>/<camera>/frame`: then
    /// the page has every camera's previews, status and alarms, and can switch.
    pub(super) prefix: Option<String>,
    /// The camera shown, by name (multi-camera), even while paused.
    pub(super) shown: Option<String>,
    pub(super) paused: bool,
    pub(super) cams: Vec<Cam>,
    /// The shown camera's recordings, while they are played back (its live stream is
    /// left meanwhile).
    pub(super) playback: Option<Playback>,
}

/// The engine, as its owner holds it.
pub type Shared = Rc<RefCell<App>>;

impl App {
    /// A new engine, connected to nothing yet.
    pub(super) fn shared(conn: Connection, picture: Picture, sink: Sink) -> Shared {
        Rc::new_cyclic(|me| {
            RefCell::new(App {
                me: me.clone(),
                conn,
                live: Live::default(),
                previews: Previews::default(),
                picture,
                page: Page::new(sink),
                prefix: None,
                shown: None,
                paused: false,
                cams: Vec::new(),
                playback: None,
            })
        })
    }
}

/// Subscribes to the previews wanted and leaves the others.
pub(super) fn sync_previews(a: &mut App) {
    // Played back, the camera's own previews would only be drawn over.
    let full = a.picture.core.full() || a.playback.is_some();
    let want = Previews::wanted(a.prefix.as_deref(), a.shown.as_deref(), full);
    let open = a.conn.is_open();
    a.previews.sync(want, &mut a.conn.session, open);
    a.conn.flush();
}

/// Subscribes to the frames of the camera shown and says hello to its edge.
pub(super) fn join_stream(a: &mut App) {
    let (Some(prefix), Some(camera)) = (&a.prefix, &a.shown) else { return };
    let cam = a.cams.iter_mut().find(|c| &c.name == camera);
    let open = a.conn.is_open();
    a.live.join(prefix, camera, cam, &mut a.conn.session, open);
    a.conn.flush();
}

/// Leaves the frames shown; the clock measured is kept with its camera for next time.
pub(super) fn leave_stream(a: &mut App) {
    let clock = a.live.leave(&mut a.conn.session);
    a.conn.flush();
    if let (Some(camera), Some(clock)) = (a.shown.clone(), clock) {
        let i = cams::index(&mut a.cams, &camera);
        a.cams[i].clock = Some(clock);
    }
}

/// Stops retrying and asks for a login, saying why.
fn ask_login(a: &mut App, why: String) {
    let user = a.conn.need_login(why.clone());
    a.page.ask_login(why, user);
}

/// Opens a socket to the current broker; MQTT CONNECT goes out when it opens.
pub(super) fn open(a: &mut App) {
    let me = a.me.clone();
    let opened_now = a.conn.open(move |event| {
        let Some(app) = me.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        match event {
            SocketEvent::Open => {
                a.picture.core.startup.mark(Step::Open, now_ms());
                opened(a);
            }
            SocketEvent::Message { bytes, at_ms } => received(a, &bytes, at_ms),
            // Before the CONNACK, a close can refuse the login (RabbitMQ's Web MQTT does).
            SocketEvent::Closed(close) => match a.conn.session.closed(&close) {
                Event::LoginRefused(why) => {
                    ask_login(a, why);
                    render(a);
                }
                Event::Lost(why) => lost(a, why),
                _ => {}
            },
        }
    });
    let Some(open_now) = opened_now else { return };
    a.previews.reset(Previews::wanted(a.prefix.as_deref(), a.shown.as_deref(), a.picture.core.full()));
    a.live.restart();
    if open_now {
        opened(a);
    }
}

/// The socket is open: CONNECT, and everything this viewer asks for, at once.
fn opened(a: &mut App) {
    // If this page goes away without a word (tab closed, phone asleep), the broker tells
    // the edge at once with an empty acknowledgement, so the edge stops waiting for this
    // viewer straight away.
    let will = a.live.will().map(str::to_string);
    a.conn.session.connect(now_ms(), will.as_deref());
    a.conn.flush();
    // Before subscribing (`Live::subscribed`).
    a.live.hello(&mut a.conn.session);
    a.conn.flush();
    // MQTT lets a client send more before the CONNACK: subscribing now saves a round
    // trip before the first frame.
    subscribe(a);
    if let Some(prefix) = &a.prefix {
        let request = topic::directory_request(prefix, a.conn.session.client_id());
        a.conn.session.publish(&request, b"");
        a.conn.flush();
    }
}

/// Subscribes, in one message, to the previews wanted, the frames shown and this
/// viewer's topics at the camera, and to the camera's status or, with a prefix, the
/// whole bus's status, alarms and directory.
fn subscribe(a: &mut App) {
    let s = &mut a.conn.session;
    // Previews first: on the grid, every camera's; for a camera, its own until its first
    // frame is on screen (the broker keeps the newest, a few KB that come before the
    // stored full frame: tens of KB, 0.8 s at 2 Mbit/s for 720p).
    if let Some(filter) = a.previews.subscribed() {
        s.subscribe(Purpose::Bus, filter);
    }
    a.live.subscribe(s);
    if let Some(p) = &a.playback {
        p.subscribe(s);
    }
    match (&a.prefix, a.live.status_topic()) {
        (Some(prefix), _) => {
            for filter in topic::bus_filters(prefix, s.client_id()) {
                s.subscribe(Purpose::Bus, &filter);
            }
        }
        (None, Some(status)) => s.subscribe(Purpose::Status, status),
        (None, None) => {}
    }
    a.conn.flush();
}

/// Drops the socket and schedules a reconnect: to the next broker at once, or, once every
/// broker failed in a row, after the session's backoff (`brokers`).
fn lost(a: &mut App, reason: String) {
    let Some(delay) = a.conn.lost(reason, js_sys::Math::random()) else { return };
    let me = a.me.clone();
    let retry = Closure::once_into_js(move || {
        if let Some(app) = me.upgrade() {
            open(&mut app.borrow_mut());
        }
    });
    scope().set_timeout(retry.unchecked_ref(), delay as i32);
}

/// Bytes from the socket (arrived at `at`): what the session makes of them.
fn received(a: &mut App, bytes: &Uint8Array, at: f64) {
    let events = a.conn.session.received_with(bytes.length() as usize, |dst| bytes.copy_to(dst));
    if !a.picture.core.startup.done() && a.conn.session.connected() {
        a.picture.core.startup.mark(Step::ConnAck, at);
    }
    // Acknowledgements of QoS 1 messages.
    a.conn.flush();
    let mut ended = false;
    let mut heard = cameras::Heard::default();
    let mut next_here = false;
    let mut bad = 0u64;
    let generation = a.picture.core.generation();
    for event in events {
        match event {
            Event::Live => {
                a.picture.core.startup.mark(Step::SubAck, at);
                a.conn.live();
            }
            Event::Subscribed(purpose) => a.live.subscribed(purpose, &mut a.conn.session),
            // Without clock replies latency assumes one clock (offset 0).
            Event::ClockRefused => a.live.clock_refused(),
            Event::LoginRefused(why) => {
                ask_login(a, why);
                render(a);
                ended = true;
            }
            Event::Lost(why) => {
                lost(a, why);
                ended = true;
            }
            // The rendition switched to: from its first frame on, the one watched.
            Event::NotAFrame { topic } => {
                next_here |= a.live.is_next(&topic);
                bad += 1;
            }
            Event::Repeated { topic } => next_here |= a.live.is_next(&topic),
            Event::Frame(f) => next_here |= a.live.frame(f, at, generation),
            Event::Message { topic, payload, .. }
                if a.playback.as_ref().is_some_and(|p| p.is_reply(&topic)) =>
            {
                let Some(p) = &mut a.playback else { continue };
                match p.reply(&payload, at, generation, &mut a.conn.session) {
                    Got::Timeline(bytes) => a.page.timeline(bytes),
                    Got::Bad => heard.bad = Some("a playback reply that is not one"),
                    Got::Frame | Got::Nothing => {}
                }
            }
            Event::Message { topic, payload, retained } => {
                match a.prefix.as_deref().and_then(|p| topic::bus_topic(p, &topic)) {
                    Some(bus) => cameras::message(
                        bus,
                        payload,
                        retained,
                        at,
                        generation,
                        &mut a.cams,
                        a.shown.as_deref(),
                        &mut a.live,
                        &mut heard,
                    ),
                    None => viewer_message(a, &topic, &payload, at, &mut heard.bad),
                }
            }
        }
        a.conn.flush();
    }
    if next_here {
        let now_watched = a.live.arrived(&mut a.conn.session);
        a.picture.core.keep_only(now_watched);
        a.conn.flush();
    }
    if let Some(what) = heard.bad {
        // Something on the bus that is not what its topic says: warned, never fatal.
        a.page.warn(what, now_ms());
    }
    if bad > 0 {
        a.picture.core.stats.errors += bad;
        a.page.warn("payload on the frame topic is not a frame", now_ms());
    }
    // Only the newest frame is worth decoding; older ones in the same batch are dropped.
    a.picture.core.offer(&mut a.live);
    if let Some(p) = &mut a.playback {
        a.picture.core.offer(p);
    }
    if ended {
        return;
    }
    if heard.cameras_changed {
        send_cameras(a);
    }
    for camera in heard.previews {
        decode_preview(a, camera);
    }
    decode_next(a);
}

/// A message on one of this viewer's topics at the camera watched.
fn viewer_message(a: &mut App, topic: &str, payload: &[u8], at: f64, bad: &mut Option<&'static str>) {
    match a.live.message(topic, payload, at) {
        Heard::Nothing => {}
        // Latencies so far assumed one clock; drop them.
        Heard::FirstClock => a.picture.core.stats.clear_stages(),
        Heard::Detections(d, lag) => {
            let on_screen = d.sequence == a.picture.core.on_canvas().1;
            a.picture.overlay.add(d, lag);
            // Late for its frame, which is on screen: drawn now.
            if on_screen {
                a.picture.draw_marks();
            }
        }
        Heard::Bad(why) => *bad = Some(why),
    }
}

/// The camera list to the page, if anything in it changed.
fn send_cameras(a: &mut App) {
    let now = now_ms();
    let list: Vec<CameraInfo> = a.cams.iter().map(|c| c.info(now)).collect();
    a.page.cameras(list);
}

/// Starts decoding `camera`'s newest preview unless one of its decodes is running.
fn decode_preview(a: &mut App, camera: String) {
    let Some(cam) = a.cams.iter_mut().find(|c| c.name == camera) else { return };
    if cam.decoding {
        return;
    }
    let Some(pending) = cam.pending.take() else { return };
    cam.decoding = true;
    let me = a.me.clone();
    present::decode_then(pending, move |frame, result| {
        let Some(app) = me.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        let Some(i) = a.cams.iter().position(|c| c.name == camera) else { return };
        a.cams[i].decoding = false;
        match result {
            Ok(bitmap) => preview_drawn(a, i, bitmap, &frame),
            Err(_) => a.page.warn("a preview's JPEG could not be decoded", now_ms()),
        }
        decode_preview(a, camera);
    });
}

/// A decoded preview: into its tile, onto the main canvas if its camera is shown and no
/// newer picture is there (the first picture of a switch), and kept for the next switch.
fn preview_drawn(a: &mut App, i: usize, bitmap: ImageBitmap, frame: &Frame) {
    let capture_us = frame.header.capture_us;
    let captured = capture_us as f64 / 1000.0 - a.live.offset_ms();
    previews::decoded(&mut a.cams[i], bitmap, capture_us, captured);
    let shown = a.shown.as_deref() == Some(a.cams[i].name.as_str()) && a.playback.is_none();
    if shown && a.picture.core.wants_preview(capture_us) {
        let startup = &mut a.picture.core.startup;
        startup.mark(Step::Message, frame.received_ms);
        startup.mark(Step::Decoded, now_ms());
        if let Some((bitmap, _)) = &a.cams[i].preview {
            a.picture.surface.draw_stretched(bitmap);
        }
        if a.picture.core.preview_drawn(capture_us, now_ms()) {
            a.picture.request_present();
        }
    }
}

/// Starts decoding the frame waiting unless a decode is already running.
fn decode_next(a: &mut App) {
    let me = a.me.clone();
    a.picture.decode_next(move |frame, result| {
        let Some(app) = me.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        match result {
            Ok(bitmap) => {
                if let Some(drawn) = a.picture.decoded(&frame, bitmap, a.live.offset_ms()) {
                    frame_drawn(a, &frame, &drawn);
                }
            }
            Err(_) => {
                a.picture.core.decode_failed();
                a.page.warn("a frame's JPEG could not be decoded", now_ms());
            }
        }
        decode_next(a);
    });
}

/// A frame done with: its source told (the live stream acknowledges and its camera is
/// seen; a play is acknowledged and the page shown where it stands), the previews left
/// once a live frame is on screen.
fn frame_drawn(a: &mut App, frame: &Frame, drawn: &Drawn) {
    match (&mut a.playback, frame.recorded) {
        (Some(p), Some(_)) => {
            Source::drawn(p, frame, drawn, &mut a.conn.session, now_ms());
            if drawn.on_canvas {
                a.page.position(frame.header.capture_us);
            }
        }
        (None, Some(_)) => {}
        (_, None) => {
            if let Some(i) = a.shown.as_deref().and_then(|s| a.cams.iter().position(|c| c.name == s)) {
                a.cams[i].seen(drawn.times.captured);
            }
            Source::drawn(&mut a.live, frame, drawn, &mut a.conn.session, now_ms());
        }
    }
    a.conn.flush();
    if drawn.first_full {
        sync_previews(a);
    }
    if drawn.present {
        a.picture.request_present();
    }
}

/// Stats refresh (4× a second), MQTT keep-alive, clock requests while no frames flow,
/// and the rendition decision.
pub(super) fn start_timers(app: &Shared) -> Result<(), JsValue> {
    let weak = Rc::downgrade(app);
    let tick = Closure::<dyn FnMut()>::new(move || {
        let Some(app) = weak.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        let now = now_ms();
        // MQTT keep-alive: PINGREQ now and then, dead when one goes unanswered.
        let dead = a.conn.session.tick(now);
        a.conn.flush();
        if a.conn.link == Link::Live {
            let flowing = a.picture.core.last_frame_ms().is_some_and(|t| now - t < 1000.0);
            a.live.request_clock(&mut a.conn.session, flowing, now);
            a.conn.flush();
        }
        let shown = a.prefix.as_deref().zip(a.shown.as_deref());
        a.live.decide(shown, &mut a.conn.session, now);
        if let Some(p) = &mut a.playback {
            p.tick(&mut a.conn.session, now);
        }
        a.conn.flush();
        // No animation frame for half a second (a browser that throttles them): count
        // those frames as of their draw rather than not at all.
        if a.picture.core.overdue(now_ms()) {
            a.picture.presented(None);
        }
        render(a);
        if let Some(why) = dead {
            lost(a, why);
        }
    });
    scope().set_interval(tick.as_ref().unchecked_ref(), 250)?;
    // The timer runs for the life of the page.
    tick.forget();
    Ok(())
}

/// Sends the page what it shows (`view`), if it changed, and the camera list.
pub(super) fn render(a: &mut App) {
    let now = now_ms();
    let fps = a.picture.core.stats.fps(now);
    let (first_frame_ms, first_picture_ms) = a.picture.core.first_ms();
    let core = &a.picture.core;
    let overlay = &a.picture.overlay;
    let view = view::readout(&Readout {
        now_ms: now,
        link: &a.conn.link,
        broker: a.conn.broker(),
        stats: &core.stats,
        fps,
        clock: &a.live.clock,
        flow: a.live.estimate(),
        shown: a.shown.as_deref(),
        frames: a.live.frames(),
        cameras: a.cams.len(),
        camera: a.live.camera.as_ref(),
        paused: a.paused,
        last_frame_ms: core.last_frame_ms(),
        first_frame_ms,
        first_picture_ms,
        startup: &core.startup,
        switches: core.switch.count,
        switch_ms: core.switch.first_ms,
        switch_full_ms: core.switch.full_ms,
        rendition: a.live.rendition(),
        next: a.live.next(),
        pinned: a.live.adapt.pinned(),
        link_estimate: a.live.adapt.link(),
        link_held: a.live.adapt.held_share(now),
        frame_sequence: core.on_canvas().1,
        detections: overlay.drawn(),
        producers: overlay.producers(),
        detections_lag_ms: overlay.lag_ms(),
        playback: a.playback.as_ref().map(|p| &p.player),
        tz_offset_min: -(js_sys::Date::new_0().get_timezone_offset() as i32),
    });
    if a.prefix.is_some() {
        send_cameras(a);
    }
    // Only what changed goes out (4 times a second, even with nothing new).
    a.page.view(view);
}
