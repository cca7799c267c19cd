//! The viewer's engine, which wires the adapters together: the socket's bytes go to the
//! MQTT session; its frames to the decoder, then to the canvas, the acknowledgement and
//! the stats; the bus's other messages to the camera list, the overlay and the clock.
//! It also decides what is watched: the camera shown, its rendition, the previews.
//!
//! It runs in a dedicated worker drawing into the `OffscreenCanvas` the page handed it,
//! or, where browsers have no `OffscreenCanvas`, on the page itself (`scope`, `draw`).
//! It never touches the DOM: what the page shows (the overlay, `#stats`, the login
//! form) goes out through a [`Sink`], and the page's input (a login typed, the tab
//! hidden or shown) comes in through [`log_in`] and [`set_hidden`].
//!
//! All state lives in one [`App`] behind `Rc<RefCell<_>>`, which holds a weak handle to
//! itself for the callbacks it makes: every entry point borrows it once and works on
//! `&mut App`. The socket's callbacks are owned by the [`Socket`] and go when it is
//! dropped, so a reconnect leaves nothing behind. The page-lifetime timers are
//! `forget()`-ed on purpose: they live as long as the page does.

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
};

use js_sys::Uint8Array;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{ImageBitmap, WebSocket};
use wire::{
    ack::{Ack, Rendition},
    clock,
    topic::{self, Bus},
};

use crate::{
    bus::cameras::{self, Cam, CameraInfo},
    bus::json,
    net::brokers::{Brokers, Retry},
    net::session::{Event, Purpose, Session},
    net::socket::{Socket, SocketEvent},
    page::target::Target,
    picture::decode::{decode, Pending},
    picture::draw::Surface,
    picture::overlay::Overlay,
    picture::stats::{FrameTimes, Stats},
    picture::view::{self, Link, Readout},
    scope::{now_ms, scope},
    stream::adapt::Adapt,
    stream::clock::ClockSync,
    stream::flow::{Flow, Observed},
    stream::pace::Pace,
};

/// What the engine tells the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `#stats`'s data attributes and the overlay's text, 4 times a second.
    View { attrs: Vec<(String, String)>, text: String },
    /// Show the login form: why, and the username to suggest.
    AskLogin { why: String, user: String },
    /// Every camera on the bus and how it is (tiles, alarms): at once when an alarm or a
    /// camera's state changes, else with the view.
    Cameras(Vec<CameraInfo>),
}

/// Where the engine's [`Output`] goes: the page's DOM, or a message to the page.
pub type Sink = Box<dyn Fn(Output)>;

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
}

/// The username suggested when none was given (the edge's generated login's).
pub const DEFAULT_USER: &str = "viewer";

/// The time of the last switch, from the user's input to the first picture on screen.
#[derive(Debug, Default)]
struct Switch {
    count: u32,
    /// The input event (viewer ms) of the switch under way.
    at_ms: f64,
    /// A picture of the new camera was drawn and is waiting for the screen; a full frame.
    first_drawn: bool,
    full_drawn: bool,
    first_ms: Option<f64>,
    full_ms: Option<f64>,
}

/// This viewer's own topics at the camera being watched: clock-offset requests and
/// replies, and frame acknowledgements (the edge's flow control).
#[derive(Clone)]
struct ViewerTopics {
    request: String,
    reply: String,
    ack: String,
    /// The camera's retained online/offline status.
    status: String,
    /// What programs on the bus found in its frames.
    detections: String,
}

impl ViewerTopics {
    /// This viewer's topics at `camera` under `prefix`.
    fn at(prefix: &str, camera: &str, client_id: &str) -> Self {
        ViewerTopics {
            request: topic::clock_request(prefix, camera, client_id),
            reply: topic::clock_reply(prefix, camera, client_id),
            ack: topic::ack(prefix, camera, client_id),
            status: topic::status(prefix, camera),
            detections: topic::detections(prefix, camera),
        }
    }

    /// For a page's own frame topic `…/<level>/frame`, which `wire::topic` may not take
    /// for a camera's (`home/_x/frame`, a wildcard): the levels before `/frame` all the
    /// same, as an edge under that prefix would answer. None for other topics.
    fn for_frames(frame_topic: &str, client_id: &str) -> Option<Self> {
        let (prefix, camera) = frame_topic.strip_suffix("/frame")?.rsplit_once('/')?;
        Some(ViewerTopics::at(prefix, camera, client_id))
    }
}

/// The connection to the broker.
struct Net {
    /// The brokers to connect to, and which one now.
    brokers: Option<Brokers>,
    /// A socket opened before the engine started, for its first connection.
    early: Option<WebSocket>,
    socket: Option<Socket>,
    /// The MQTT session: who we are, the login, what the broker's bytes mean.
    session: Session,
    /// The connection as the user is told about it.
    link: Link,
}

impl Net {
    fn is_open(&self) -> bool {
        self.socket.as_ref().is_some_and(Socket::is_open)
    }

    /// Sends what the session has to send, as one WebSocket message.
    fn flush(&mut self) {
        let out = self.session.take_outgoing();
        if let (Some(socket), false) = (&self.socket, out.is_empty()) {
            socket.send(&out);
        }
    }

    /// Closes the socket (its handlers go with it: no close event, no retry).
    fn close(&mut self) {
        self.socket = None;
        self.session.close();
    }
}

/// The main canvas: the newest frame waiting for the decoder, the decode running, what
/// is on screen and when it got there.
struct Picture {
    surface: Surface,
    pending: Option<Pending>,
    decoding: bool,
    /// When the running decode started: the decoder's own time, without waiting.
    decode_started_ms: f64,
    /// Capture time (edge µs) and sequence of the picture on it, and whether it is a full
    /// frame: a preview or stored frame never replaces a newer picture.
    capture_us: u64,
    sequence: u64,
    full: bool,
    /// Frames drawn but not yet on screen (the next animation frame puts them there).
    unpresented: Vec<(FrameTimes, u32, u32)>,
    /// The animation-frame callback, made once; whether it is requested.
    on_animation_frame: Option<Closure<dyn FnMut(f64)>>,
    presenting: bool,
    /// When the last frame was drawn (viewer ms).
    last_frame_ms: Option<f64>,
    /// Navigation → first frame (ms), once there is one.
    first_frame_ms: Option<f64>,
    /// Navigation → first picture of any kind (a preview comes first on a slow link: a
    /// few KB against a frame's tens).
    first_picture_ms: Option<f64>,
}

/// What goes to the page, and what went last (only changes go again).
struct Page {
    sink: Sink,
    /// The page's `performance.timeOrigin`.
    time_origin: f64,
    last_view: Option<(Vec<(String, String)>, String)>,
    last_cameras: Option<Vec<CameraInfo>>,
    last_warning_ms: f64,
}

pub struct App {
    /// This app, for the callbacks and timers it makes (they must not keep it alive).
    me: Weak<RefCell<App>>,
    net: Net,
    picture: Picture,
    page: Page,
    /// The bus's topic prefix when the frame topic is `<prefix>/<camera>/frame`: then
    /// the page has every camera's previews, status and alarms, and can switch.
    prefix: Option<String>,
    /// The frame topic subscribed to: the camera shown (none in the grid or paused).
    frames: Option<String>,
    /// The camera shown, by name (multi-camera), even while paused.
    shown: Option<String>,
    paused: bool,
    /// Counts switches, so decodes started before one are not drawn after it.
    generation: u32,
    cams: Vec<Cam>,
    switch: Switch,
    /// The previews subscribed to (`sync_previews`).
    previews: Option<String>,
    /// The rendition of `frames`, and the one being switched to (subscribed to; it
    /// replaces the current one when its first frame arrives: no gap, no black frame).
    rendition: Rendition,
    next: Option<(String, Rendition)>,
    adapt: Adapt,
    viewer_topics: Option<ViewerTopics>,
    clock: ClockSync,
    /// The windows the acknowledgements ask for, and when to ask for the clock.
    pace: Pace,
    /// What the flow-control window is worked out from.
    flow: Flow,
    /// What the shown camera's retained status says.
    camera: Option<wire::status::Status>,
    stats: Stats,
    /// Detections for the camera shown, drawn over the picture.
    overlay: Overlay,
}

pub type Shared = Rc<RefCell<App>>;

/// Starts the engine: connects (unless the page is hidden) and starts its timers. The
/// returned handle is the only strong reference: callbacks and timers hold weak ones,
/// so the viewer lives exactly as long as the caller keeps it.
/// `early`: a socket to the broker already opening (the worker's loader dialled it while
/// this module loaded: its handshake overlaps the load, a round trip sooner).
pub fn start(init: Init, surface: Surface, sink: Sink, early: Option<WebSocket>) -> Result<Shared, JsValue> {
    let app = Rc::new_cyclic(|me| {
        RefCell::new(App {
            me: me.clone(),
            net: Net {
                brokers: None,
                early,
                socket: None,
                session: Session::new(init.client_id, init.login),
                link: Link::Connecting,
            },
            picture: Picture {
                surface,
                pending: None,
                decoding: false,
                decode_started_ms: 0.0,
                capture_us: 0,
                sequence: 0,
                full: false,
                unpresented: Vec::new(),
                on_animation_frame: None,
                presenting: false,
                last_frame_ms: None,
                first_frame_ms: None,
                first_picture_ms: None,
            },
            page: Page {
                sink,
                time_origin: init.page_time_origin,
                last_view: None,
                last_cameras: None,
                last_warning_ms: f64::NEG_INFINITY,
            },
            prefix: None,
            frames: None,
            shown: None,
            paused: false,
            generation: 0,
            cams: Vec::new(),
            switch: Switch::default(),
            previews: None,
            rendition: Rendition::Full,
            next: None,
            adapt: Adapt::default(),
            viewer_topics: None,
            clock: ClockSync::default(),
            pace: Pace::default(),
            flow: Flow::default(),
            camera: None,
            stats: Stats::default(),
            overlay: Overlay::new(init.marks_max_age_ms),
        })
    });
    start_timers(&app)?;
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    let weak = a.me.clone();
    a.picture.on_animation_frame = Some(Closure::new(move |_: f64| {
        if let Some(app) = weak.upgrade() {
            presented(&mut app.borrow_mut(), Some(now_ms()));
        }
    }));
    match init.target {
        Ok(t) => {
            match topic::split_frame_topic(&t.topic) {
                Some((prefix, camera)) => {
                    a.prefix = Some(prefix.to_string());
                    if let Some(link) = init.link_bytes_per_s {
                        a.adapt.assume_link(link);
                    }
                    a.adapt.pin(init.pinned);
                    if !init.grid {
                        a.shown = Some(camera.to_string());
                        let mut cam = Cam::new(camera);
                        if let Some((offered, fps, bytes)) = init.camera_hint {
                            a.adapt.camera(&offered, fps, Some(bytes));
                            (cam.offered, cam.fps) = (offered, fps);
                        }
                        a.cams.push(cam);
                        a.rendition = a.adapt.current();
                        a.frames = Some(topic::rendition(prefix, camera, a.rendition));
                    }
                }
                // A topic of the page's own: that one stream, no grid.
                None => a.frames = Some(t.topic.clone()),
            }
            // From the camera's full frame topic, whichever rendition is watched.
            if a.frames.is_some() {
                a.viewer_topics = ViewerTopics::for_frames(&t.topic, a.net.session.client_id());
            }
            a.net.brokers = Brokers::new(t.brokers);
            if a.net.brokers.is_none() {
                a.net.link = Link::Stopped("no broker known".to_string());
            } else if init.hidden {
                a.net.link = Link::Paused;
            } else {
                open(a);
            }
        }
        Err(e) => a.net.link = Link::Stopped(e),
    }
    render(a);
    drop(guard);
    Ok(app)
}

/// A login typed into the page's form: connect again with it.
pub fn log_in(app: &Shared, user: String, password: String) {
    let mut a = app.borrow_mut();
    a.net.session.log_in(user, password);
    if let Some(brokers) = &mut a.net.brokers {
        brokers.start_over();
    }
    a.net.link = Link::Connecting;
    open(&mut a);
    render(&mut a);
}

/// A hidden tab disconnects and a shown one reconnects: a phone in a pocket should not
/// spend its data plan and battery on frames nobody sees, and background tabs' throttled
/// timers would miss keep-alives anyway.
pub fn set_hidden(app: &Shared, hidden: bool) {
    let mut a = app.borrow_mut();
    if hidden {
        if matches!(a.net.link, Link::NeedLogin(_) | Link::Stopped(_)) {
            return; // nothing is connected or retrying
        }
        a.net.link = Link::Paused;
        // Dropping the socket closes it; its close handler is gone, so no retry.
        a.net.close();
    } else if a.net.link == Link::Paused {
        a.net.link = Link::Connecting;
        a.net.session.reset_backoff();
        if let Some(brokers) = &mut a.net.brokers {
            brokers.start_over();
        }
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
    leave_stream(a);
    a.overlay.clear();
    draw_marks(a);
    a.generation = a.generation.wrapping_add(1);
    a.stats = Stats::default();
    a.flow.clear();
    a.picture.pending = None;
    a.picture.unpresented.clear();
    a.net.session.forget_last_frame();
    a.picture.last_frame_ms = None;
    a.picture.capture_us = 0;
    a.picture.full = false;
    a.shown = camera.clone();
    if let Some(name) = &camera {
        let i = cameras::index(&mut a.cams, name);
        a.camera = a.cams[i].status.clone();
        a.switch = Switch { count: a.switch.count + 1, at_ms, ..Switch::default() };
        if let Some((bitmap, capture_us)) = &a.cams[i].preview {
            a.picture.surface.draw_stretched(bitmap);
            a.picture.capture_us = *capture_us;
            a.switch.first_drawn = true;
            request_present(a);
        }
        if !a.paused {
            join_stream(a);
        }
    }
    sync_previews(a);
    render(a);
}

/// The previews worth their bytes now: every camera's on the grid (its tiles); with a
/// camera shown, its own until its first frame is drawn, then none. Eight cameras'
/// previews are 100–200 KB/s: most of a phone's 2 Mbit/s link, taken from the picture
/// watched. (The tiles keep their last picture; switching draws the one kept.)
fn wanted_previews(a: &App) -> Option<String> {
    let prefix = a.prefix.as_ref()?;
    match &a.shown {
        None => Some(topic::preview(prefix, "+")),
        Some(camera) if !a.picture.full => Some(topic::preview(prefix, camera)),
        Some(_) => None,
    }
}

/// Subscribes to the previews wanted and leaves the others.
fn sync_previews(a: &mut App) {
    let want = wanted_previews(a);
    if want == a.previews || !a.net.is_open() {
        return;
    }
    if let Some(old) = a.previews.take() {
        a.net.session.unsubscribe(&old);
    }
    if let Some(new) = &want {
        a.net.session.subscribe(Purpose::Bus, new);
    }
    a.net.flush();
    a.previews = want;
}

/// Pauses the camera shown (its last picture stays) or goes on with it.
pub fn set_paused(app: &Shared, paused: bool) {
    let mut guard = app.borrow_mut();
    let a = &mut *guard;
    if a.paused == paused || a.prefix.is_none() {
        return;
    }
    a.paused = paused;
    if paused {
        leave_stream(a);
    } else if a.shown.is_some() {
        a.generation = a.generation.wrapping_add(1);
        a.flow.clear();
        a.net.session.forget_last_frame();
        join_stream(a);
    }
    render(a);
}

/// The tile of `camera`: its previews are drawn there from now on.
pub fn add_tile(app: &Shared, camera: &str, surface: Surface) {
    let mut a = app.borrow_mut();
    let i = cameras::index(&mut a.cams, camera);
    if let Some((bitmap, _)) = &a.cams[i].preview {
        surface.draw(bitmap);
    }
    a.cams[i].tile = Some(surface);
}

/// The canvas detections are drawn on (over the picture).
pub fn set_marks(app: &Shared, surface: Surface) {
    let mut a = app.borrow_mut();
    a.overlay.set_surface(surface);
    draw_marks(&mut a);
}

/// How the page turns the picture: labels are drawn to read upright.
pub fn set_turn(app: &Shared, degrees: u32, mirror: bool) {
    let mut a = app.borrow_mut();
    a.overlay.set_turn(degrees, mirror);
    draw_marks(&mut a);
}

/// The user pins a rendition (`None`: the viewer chooses again).
pub fn pin(app: &Shared, rendition: Option<Rendition>) {
    let mut a = app.borrow_mut();
    let want = a.adapt.pin(rendition);
    switch_rendition(&mut a, want);
    render(&mut a);
}

/// Subscribes to the frames of the camera shown and says hello to its edge.
fn join_stream(a: &mut App) {
    let (Some(prefix), Some(camera)) = (&a.prefix, &a.shown) else { return };
    a.viewer_topics = Some(ViewerTopics::at(prefix, camera, a.net.session.client_id()));
    let (offered, fps, bytes) = match a.cams.iter().find(|c| &c.name == camera) {
        Some(c) => (c.offered.clone(), c.fps, c.full_bytes),
        None => (Vec::new(), 0.0, None),
    };
    a.adapt.camera(&offered, fps, bytes);
    a.rendition = a.adapt.current();
    a.next = None;
    a.frames = Some(topic::rendition(prefix, camera, a.rendition));
    if let Some(clock) = a.cams.iter_mut().find(|c| &c.name == camera).and_then(|c| c.clock.take()) {
        a.clock = clock;
    }
    a.pace.restart_clock();
    a.pace.restart();
    if a.net.is_open() {
        say_hello(a);
        subscribe(a, false);
    }
}

/// Unsubscribes from the frames shown, and tells their edge this viewer has gone (an
/// empty acknowledgement, as its last will would), so it stops waiting for it.
fn leave_stream(a: &mut App) {
    if let Some(topic) = a.frames.take() {
        let session = &mut a.net.session;
        session.unsubscribe(&topic);
        if let Some((next, _)) = a.next.take() {
            session.unsubscribe(&next);
        }
        if let Some(c) = a.viewer_topics.take() {
            session.unsubscribe(&c.reply);
            session.unsubscribe(&c.detections);
            session.publish(&c.ack, b"");
        }
        a.net.flush();
    }
    if let Some(camera) = a.shown.clone() {
        let clock = std::mem::take(&mut a.clock);
        if !clock.is_empty() {
            let i = cameras::index(&mut a.cams, &camera);
            a.cams[i].clock = Some(clock);
        }
    }
}

/// Tells the edge this viewer has nothing yet and wants one frame in flight: until its
/// first acknowledgement it would otherwise not be flow-controlled, and on a slow link
/// the frames sent meanwhile queued 4 s of video in front of the live picture (measured
/// at 2 Mbit/s).
fn say_hello(a: &mut App) {
    say_hello_for(a, a.rendition, 1);
}

fn say_hello_for(a: &mut App, rendition: Rendition, window: u8) {
    if let Some(c) = &a.viewer_topics {
        a.net.session.publish(&c.ack, &Ack::hello(rendition, window).encode());
        a.net.flush();
    }
}

/// Moves to another rendition of the camera shown.
///
/// Up (the link has room), it subscribes to the larger one and keeps drawing the current
/// one until the new one's first frame is here ([`next_arrived`]). Down (the link is
/// full), it leaves the current one at once: its frames would only queue in front of the
/// smaller ones on the link. Either way the picture on screen stays until a newer one
/// replaces it: no black frame.
fn switch_rendition(a: &mut App, rendition: Rendition) {
    let (Some(prefix), Some(camera)) = (&a.prefix, &a.shown) else { return };
    if a.frames.is_none() || rendition == a.rendition || a.next.as_ref().is_some_and(|n| n.1 == rendition) {
        return;
    }
    let topic = topic::rendition(prefix, camera, rendition);
    if let Some((old_next, _)) = a.next.take() {
        a.net.session.unsubscribe(&old_next);
    }
    a.net.session.subscribe(Purpose::Next, &topic);
    a.net.flush();
    say_hello_for(a, rendition, 1);
    a.next = Some((topic, rendition));
    if rendition > a.rendition {
        next_arrived(a);
    }
}

/// The rendition switched to becomes the one watched (its first frame is here, or the
/// switch is down and need not wait).
fn next_arrived(a: &mut App) {
    let Some((topic, rendition)) = a.next.take() else { return };
    if let Some(old) = a.frames.replace(topic) {
        a.net.session.unsubscribe(&old);
        a.net.flush();
    }
    // Done with the one left: its flow control need not wait for this viewer any more.
    if let Some(c) = &a.viewer_topics {
        a.net.session.publish(&c.ack, &Ack::leaving(a.rendition).encode());
        a.net.flush();
    }
    let up = rendition < a.rendition;
    a.rendition = rendition;
    a.adapt.switched(rendition);
    // Either way one frame in flight to begin with (a try up on a link that cannot
    // carry it must not queue), growing as before. Up, the link's estimates (its rate,
    // the round trip) hold, so they stay: the window grows from the first
    // acknowledgements instead of after four frames. Down, the link is full: start over.
    if !up {
        a.flow.clear();
    }
    a.pace.restart();
}

/// Draws what the bus found in the frame on screen over it.
fn draw_marks(a: &mut App) {
    a.overlay.draw(a.stats.width, a.stats.height, a.picture.sequence, a.picture.capture_us);
}

/// Stops retrying and asks for a login, saying why.
fn ask_login(a: &mut App, why: String) {
    a.net.close();
    let user = a.net.session.user().unwrap_or(DEFAULT_USER).to_string();
    (a.page.sink)(Output::AskLogin { why: why.clone(), user });
    a.net.link = Link::NeedLogin(why);
}

/// Opens a socket to the current broker; MQTT CONNECT goes out when it opens.
fn open(a: &mut App) {
    if a.net.link == Link::Paused {
        return; // a retry timer that fired after the tab was hidden
    }
    let Some(brokers) = &a.net.brokers else { return };
    let me = a.me.clone();
    // The socket the worker's loader opened to the first broker while this module loaded,
    // if still usable (taken by the first connection, which is to the first broker).
    let socket = Socket::open(brokers.current(), a.net.early.take(), move |event| {
        let Some(app) = me.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        match event {
            SocketEvent::Open => opened(a),
            SocketEvent::Message { bytes, at_ms } => received(a, &bytes, at_ms),
            // Before the CONNACK, a close can refuse the login (RabbitMQ's Web MQTT does).
            SocketEvent::Closed(close) => match a.net.session.closed(&close) {
                Event::LoginRefused(why) => {
                    ask_login(a, why);
                    render(a);
                }
                Event::Lost(why) => lost(a, why),
                _ => {}
            },
        }
    });
    let socket = match socket {
        Ok(socket) => socket,
        Err(why) => {
            a.net.link = Link::Stopped(why);
            return;
        }
    };
    // The socket replaced (if any) says nothing more: its session is over.
    a.net.close();
    a.previews = wanted_previews(a);
    a.flow.clear();
    a.pace.restart();
    // A retry goes on saying why the last attempt failed until this one gets somewhere:
    // set to "connecting…" here, a page that cannot reach its broker (another site's
    // page, refused for its origin) said so most of the time and the reason only for
    // the moment between two attempts.
    if !matches!(a.net.link, Link::Down(_)) {
        a.net.link = Link::Connecting;
    }
    // Opened before its handlers were here: it will not say so again.
    let open_now = socket.is_open();
    a.net.socket = Some(socket);
    if open_now {
        opened(a);
    }
}

/// The socket is open: CONNECT, and everything this viewer asks for, at once.
fn opened(a: &mut App) {
    // If this page goes away without a word (tab closed, phone asleep), the broker tells
    // the edge at once with an empty acknowledgement, so the edge stops waiting for this
    // viewer straight away.
    a.net.session.connect(now_ms(), a.viewer_topics.as_ref().map(|c| c.ack.as_str()));
    a.net.flush();
    // Before subscribing (`say_hello`).
    say_hello(a);
    // MQTT lets a client send more before the CONNACK: subscribing now saves a round
    // trip before the first frame.
    subscribe(a, true);
    if let Some(prefix) = &a.prefix {
        let request = topic::directory_request(prefix, a.net.session.client_id());
        a.net.session.publish(&request, b"");
        a.net.flush();
    }
}

/// Subscribes to the frames shown and this viewer's clock replies, and (`bus`, once per
/// connection) to the camera's status or, with a prefix, the whole bus's previews,
/// status, alarms and directory: one message.
fn subscribe(a: &mut App, bus: bool) {
    let s = &mut a.net.session;
    // Previews first: on the grid, every camera's; for a camera, its own until its first
    // frame is on screen (the broker keeps the newest, a few KB that come before the
    // stored full frame: tens of KB, 0.8 s at 2 Mbit/s for 720p).
    if let (true, Some(filter)) = (bus, &a.previews) {
        s.subscribe(Purpose::Bus, filter);
    }
    if let Some(topic) = &a.frames {
        s.subscribe(Purpose::Frames, topic);
    }
    if let Some((topic, _)) = &a.next {
        s.subscribe(Purpose::Next, topic);
    }
    if let Some(c) = &a.viewer_topics {
        s.subscribe(Purpose::Clock, &c.reply);
        s.subscribe(Purpose::Marks, &c.detections);
    }
    if bus {
        match (&a.prefix, &a.viewer_topics) {
            (Some(prefix), _) => {
                for filter in topic::bus_filters(prefix, s.client_id()) {
                    s.subscribe(Purpose::Bus, &filter);
                }
            }
            (None, Some(c)) => s.subscribe(Purpose::Status, &c.status),
            (None, None) => {}
        }
    }
    a.net.flush();
}

/// Drops the socket and schedules a reconnect: to the next broker at once, or, once every
/// broker failed in a row, after the session's backoff (`brokers`).
fn lost(a: &mut App, reason: String) {
    a.net.close();
    if matches!(a.net.link, Link::Stopped(_) | Link::Paused | Link::NeedLogin(_)) {
        return;
    }
    let Some(brokers) = &mut a.net.brokers else { return };
    a.net.link = Link::Down(reason);
    let delay = match brokers.failed() {
        Retry::Now => 0.0,
        Retry::AfterBackoff => a.net.session.retry_delay(js_sys::Math::random()),
    };
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
    let events = a.net.session.received_with(bytes.length() as usize, |dst| bytes.copy_to(dst));
    // Acknowledgements of QoS 1 messages.
    a.net.flush();
    let mut ended = false;
    let mut cameras_changed = false;
    let mut previews: Vec<String> = Vec::new();
    let mut bus_bad = None;
    let mut next_here = false;
    let mut frames: Vec<Pending> = Vec::new();
    let mut bad = 0u64;
    for event in events {
        let is_next = |topic: &str| a.next.as_ref().is_some_and(|n| n.0 == topic);
        match event {
            Event::Live => {
                a.net.link = Link::Live;
                if let Some(brokers) = &mut a.net.brokers {
                    brokers.works();
                }
            }
            // The hello before subscribing may reach the edge before the subscription
            // is in place (a cluster sets it up across nodes), and the frame the edge then
            // sends is lost to this viewer but counted on its way: the stream held until
            // the viewer counted as stalled (2.2 s to the first frame on RabbitMQ,
            // measured). A second hello once it is in place counts from then.
            Event::Subscribed(purpose) => match (purpose, a.next.as_ref().map(|n| n.1)) {
                (Purpose::Next, Some(next)) => say_hello_for(a, next, 1),
                // A move down takes the next rendition's topic as the one shown at once.
                _ => say_hello(a),
            },
            // Without clock replies latency assumes one clock (offset 0).
            Event::ClockRefused => a.viewer_topics = None,
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
                next_here |= is_next(&topic);
                bad += 1;
            }
            Event::Repeated { topic } => next_here |= is_next(&topic),
            Event::Frame(f) => {
                let next = a.next.as_ref().filter(|n| n.0 == f.topic).map(|n| n.1);
                next_here |= next.is_some();
                let rendition = match (a.frames.as_deref() == Some(f.topic.as_str()), next) {
                    (true, _) => a.rendition,
                    (false, Some(next)) => next,
                    (false, None) => continue,
                };
                frames.push(Pending::frame(f, at, a.generation, rendition));
            }
            Event::Message { topic, payload, retained } => {
                match a.prefix.as_deref().and_then(|p| topic::bus_topic(p, &topic)) {
                    Some(Bus::Preview(camera)) => match Pending::preview(payload, at, retained, a.generation)
                    {
                        Some(f) => {
                            let known = a.cams.len();
                            let i = cameras::index(&mut a.cams, camera);
                            cameras_changed |= a.cams.len() > known;
                            a.cams[i].pending = Some(f);
                            if !previews.iter().any(|c| c == camera) {
                                previews.push(camera.to_string());
                            }
                        }
                        None => bus_bad = Some("a preview is not a frame"),
                    },
                    Some(Bus::Status(camera)) => {
                        let status = json::status(&payload);
                        let i = cameras::index(&mut a.cams, camera);
                        if a.shown.as_deref() == Some(camera) {
                            a.camera = status.clone();
                        }
                        a.cams[i].status = status;
                        cameras_changed = true;
                    }
                    Some(Bus::Alarm(camera)) => {
                        let i = cameras::index(&mut a.cams, camera);
                        match json::alarm(&payload) {
                            Ok(alarm) => a.cams[i].alarm = alarm,
                            Err(()) => bus_bad = Some("an alarm message is not the alarm JSON"),
                        }
                        cameras_changed = true;
                    }
                    Some(Bus::Directory) => {
                        for listed in json::directory(&payload) {
                            let i = cameras::index(&mut a.cams, &listed.name);
                            if a.shown.as_deref() == Some(listed.name.as_str()) {
                                a.adapt.offer(&listed.offered, listed.fps);
                            }
                            let cam = &mut a.cams[i];
                            (cam.offered, cam.fps, cam.full_bytes) =
                                (listed.offered, listed.fps, listed.full_bytes);
                        }
                        cameras_changed = true;
                    }
                    None => viewer_message(a, &topic, &payload, at, &mut bus_bad),
                }
            }
        }
    }
    if next_here {
        // From here on only the new rendition's frames count: one of the old, still on
        // its way, must not take the place of the new one's first frame, which would
        // then never be acknowledged (its edge would hold the new stream until this
        // viewer counted as stalled: a 2 s freeze, measured).
        let new = a.next.as_ref().map(|n| n.1);
        frames.retain(|f| Some(f.rendition) == new);
        if a.picture.pending.as_ref().is_some_and(|p| Some(p.rendition) != new) {
            a.picture.pending = None;
        }
        next_arrived(a);
    }
    if let Some(what) = bus_bad {
        // Something on the bus that is not what its topic says: warned, never fatal.
        warn_throttled(a, what);
    }
    if bad > 0 {
        a.stats.errors += bad;
        warn_throttled(a, "payload on the frame topic is not a frame");
    }
    // Only the newest frame is worth decoding; older ones in the same batch are dropped.
    let n = frames.len() as u64;
    if let Some(newest) = frames.pop() {
        a.stats.dropped += n - 1;
        if a.picture.pending.replace(newest).is_some() {
            a.stats.dropped += 1;
        }
    }
    if ended {
        return;
    }
    if cameras_changed {
        send_cameras(a);
    }
    for camera in previews {
        decode_preview(a, camera);
    }
    decode_next(a);
}

/// A message on one of this viewer's topics at the camera watched: its status, its
/// detections, a clock reply.
fn viewer_message(a: &mut App, topic: &str, payload: &[u8], at: f64, bus_bad: &mut Option<&'static str>) {
    let Some(c) = &a.viewer_topics else { return };
    if c.status == topic {
        a.camera = json::status(payload);
    } else if c.detections == topic {
        match json::detections(payload) {
            Ok(d) => {
                let lag = at - (d.capture_us as f64 / 1000.0 - a.clock.offset_ms());
                let on_screen = d.sequence == a.picture.sequence;
                a.overlay.add(d, lag);
                // Late for its frame, which is on screen: drawn now.
                if on_screen {
                    draw_marks(a);
                }
            }
            Err(why) => *bus_bad = Some(why),
        }
    } else if c.reply == topic {
        if let Some((t1, t2, t3)) = clock::parse_reply(payload) {
            let first = a.clock.is_empty();
            if a.clock.add(t1, t2, t3, at).is_some() && first {
                // Latencies so far assumed one clock; drop them.
                a.stats.clear_stages();
            }
        }
    }
}

/// The camera list to the page, if anything in it changed.
fn send_cameras(a: &mut App) {
    let now = now_ms();
    let list: Vec<CameraInfo> = a.cams.iter().map(|c| c.info(now)).collect();
    if a.page.last_cameras.as_ref() != Some(&list) {
        (a.page.sink)(Output::Cameras(list.clone()));
        a.page.last_cameras = Some(list);
    }
}

/// Starts decoding `camera`'s newest preview unless one of its decodes is running.
fn decode_preview(a: &mut App, camera: String) {
    let Some(cam) = a.cams.iter_mut().find(|c| c.name == camera) else { return };
    if cam.decoding {
        return;
    }
    let Some(pending) = cam.pending.take() else { return };
    cam.decoding = true;
    let decoded = decode(pending.jpeg());
    let me = a.me.clone();
    spawn_local(async move {
        let result = decoded.await;
        let Some(app) = me.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        let Some(i) = a.cams.iter().position(|c| c.name == camera) else { return };
        a.cams[i].decoding = false;
        match result {
            Ok(bitmap) => preview_drawn(a, i, bitmap, &pending),
            Err(_) => warn_throttled(a, "a preview's JPEG could not be decoded"),
        }
        decode_preview(a, camera);
    });
}

/// A decoded preview: into its tile, onto the main canvas if its camera is shown and no
/// newer picture is there (the first picture of a switch), and kept for the next switch.
fn preview_drawn(a: &mut App, i: usize, bitmap: ImageBitmap, frame: &Pending) {
    let capture_us = frame.header.capture_us;
    let offset = a.clock.offset_ms();
    let cam = &mut a.cams[i];
    if let Some(tile) = &cam.tile {
        tile.draw(&bitmap);
    }
    cam.previews += 1;
    cam.seen(capture_us as f64 / 1000.0 - offset);
    if let Some((old, _)) = cam.preview.replace((bitmap, capture_us)) {
        old.close();
    }
    let shown = a.shown.as_deref() == Some(a.cams[i].name.as_str());
    let p = &mut a.picture;
    if shown && !p.full && capture_us > p.capture_us {
        if let Some((bitmap, _)) = &a.cams[i].preview {
            p.surface.draw_stretched(bitmap);
        }
        p.capture_us = capture_us;
        if p.first_picture_ms.is_none() {
            p.first_picture_ms = Some(now_ms() - a.page.time_origin);
        }
        if a.switch.first_ms.is_none() {
            a.switch.first_drawn = true;
            request_present(a);
        }
    }
}

/// Asks for the next animation frame, when the pictures drawn reach the screen.
fn request_present(a: &mut App) {
    let p = &mut a.picture;
    if !p.presenting {
        if let Some(cb) = &p.on_animation_frame {
            p.presenting = scope().request_animation_frame(cb.as_ref().unchecked_ref());
        }
        if !p.presenting {
            // No animation frames here (a worker in an older browser): as of the draw.
            presented(a, None);
        }
    }
}

/// Starts decoding the pending frame unless a decode is already running.
fn decode_next(a: &mut App) {
    let p = &mut a.picture;
    if p.decoding {
        return;
    }
    let Some(pending) = p.pending.take() else { return };
    p.decoding = true;
    p.decode_started_ms = now_ms();
    let decoded = decode(pending.jpeg());
    let me = a.me.clone();
    spawn_local(async move {
        let result = decoded.await;
        let Some(app) = me.upgrade() else { return };
        let mut a = app.borrow_mut();
        a.picture.decoding = false;
        match result {
            // A frame of the camera left behind (or from before a pause).
            Ok(bitmap) if pending.generation != a.generation => bitmap.close(),
            Ok(bitmap) => draw(&mut a, &bitmap, &pending),
            Err(_) => {
                a.stats.errors += 1;
                warn_throttled(&mut a, "a frame's JPEG could not be decoded");
            }
        }
        decode_next(&mut a);
    });
}

/// A decoded frame: onto the main canvas unless a newer picture is there, then timed,
/// acknowledged and counted.
fn draw(a: &mut App, bitmap: &ImageBitmap, frame: &Pending) {
    let decoded = now_ms();
    let (w, h) = (bitmap.width(), bitmap.height());
    let capture_us = frame.header.capture_us;
    // The broker's stored frame can be older than the preview already on screen (a camera
    // nobody watched kept making previews): never a step back in time.
    // Nor a frame of the rendition left behind that is older than the new one's.
    let p = &mut a.picture;
    let older = capture_us < p.capture_us || (frame.stored && capture_us == p.capture_us);
    if !older {
        p.surface.draw(bitmap);
        p.capture_us = p.capture_us.max(capture_us);
        p.sequence = frame.header.sequence;
        draw_marks(a);
    }
    // Free the decoded pixels now rather than whenever the GC runs: at 30 fps of 720p
    // that is 100 MB a second.
    bitmap.close();
    let drawn = now_ms();
    // Edge times onto the viewer's clock.
    let offset = a.clock.offset_ms();
    let edge = |us: u64| us as f64 / 1000.0 - offset;
    let hdr = &frame.header;
    let times = FrameTimes {
        captured: edge(hdr.capture_us),
        encoded: edge(hdr.encoded_us),
        published: (hdr.published_us != 0).then(|| edge(hdr.published_us)),
        received: frame.received_ms,
        decoded,
        drawn,
        presented: None,
    };
    let p = &mut a.picture;
    if p.first_frame_ms.is_none() {
        // Time from navigation start to the first picture, for page-load measurements.
        p.first_frame_ms = Some(drawn - a.page.time_origin);
    }
    if p.first_picture_ms.is_none() && !older {
        p.first_picture_ms = Some(drawn - a.page.time_origin);
    }
    p.last_frame_ms = Some(drawn);
    if let Some(i) = a.shown.as_deref().and_then(|s| a.cams.iter().position(|c| c.name == s)) {
        a.cams[i].seen(times.captured);
    }
    if !older && a.switch.first_ms.is_none() {
        a.switch.first_drawn = true;
    }
    if !frame.stored {
        observe(a, &times, frame, decoded, drawn);
        a.adapt.frame(frame.rendition, frame.bytes(), hdr.held(), drawn);
    }
    ack(a, hdr.sequence, frame.rendition);
    if frame.stored {
        // The last picture, kept by the broker: on screen until the live ones come.
        a.stats.width = w;
        a.stats.height = h;
        if a.switch.first_drawn {
            request_present(a);
        }
        return;
    }
    if !a.picture.full {
        a.picture.full = true;
        sync_previews(a);
    }
    if a.switch.full_ms.is_none() {
        a.switch.full_drawn = true;
    }

    // On screen at the next animation frame, when the compositor takes the canvas.
    a.picture.unpresented.push((times, w, h));
    request_present(a);
}

/// Frames drawn since the last animation frame reached the screen at `at` (or, with
/// `None`, the browser gave no animation frame in time: counted as of their draw).
///
/// With an animation frame, only the newest of them is on screen: the others were drawn
/// over first and count as drawn, not in the latency (counting them, a compositor that
/// skipped a beat read as 300 ms at p95 for frames nobody saw).
fn presented(a: &mut App, at: Option<f64>) {
    a.picture.presenting = false;
    // A switch's first picture, and its first full frame, are on screen now.
    let on_screen = at.unwrap_or_else(now_ms);
    let sw = &mut a.switch;
    if sw.first_drawn && sw.first_ms.is_none() && sw.count > 0 {
        sw.first_ms = Some(on_screen - sw.at_ms);
    }
    if sw.full_drawn && sw.full_ms.is_none() && sw.count > 0 {
        sw.full_ms = Some(on_screen - sw.at_ms);
    }
    let mut frames = std::mem::take(&mut a.picture.unpresented);
    let newest = frames.pop();
    for (times, w, h) in frames {
        match at {
            Some(_) => a.stats.drawn_over(&times, w, h),
            None => a.stats.drawn(&times, w, h),
        }
    }
    if let Some((mut times, w, h)) = newest {
        times.presented = at;
        a.stats.drawn(&times, w, h);
    }
}

/// What the flow window is worked out from: this live frame's times and sizes.
fn observe(a: &mut App, times: &FrameTimes, frame: &Pending, decoded: f64, drawn: f64) {
    a.flow.observe(Observed {
        sequence: frame.header.sequence,
        captured: times.captured,
        published: times.published,
        received: times.received,
        bytes: frame.bytes(),
        decode_ms: decoded - a.picture.decode_started_ms,
        draw_ms: drawn - decoded,
    });
}

/// Tells the edge how far we got: it holds frames back (instead of letting them queue in
/// the broker) while we are behind, and lets as many be on their way as the link and the
/// decoder need (`flow`, `pace`). Acknowledging drawn rather than received frames covers
/// a slow decoder too; waiting for the screen would cost a display frame.
fn ack(a: &mut App, sequence: u64, rendition: Rendition) {
    let Some(topic) = a.viewer_topics.as_ref().map(|c| c.ack.clone()) else { return };
    let estimate = a.flow.window(a.clock.best().map(|c| c.rtt_ms));
    let plan = a.pace.ack(estimate, now_ms(), a.clock.len());
    if plan.clock_request {
        send_clock_request(a);
    }
    let ack = Ack { sequence, window: Some(plan.window), rendition };
    a.net.session.publish(&topic, &ack.encode());
    a.net.flush();
}

fn warn_throttled(a: &mut App, what: &str) {
    let now = now_ms();
    if now - a.page.last_warning_ms > 5000.0 {
        a.page.last_warning_ms = now;
        web_sys::console::warn_1(&format!("mqcam viewer: {what} (counted in errors)").into());
    }
}

/// Stats refresh (4× a second), MQTT keep-alive, clock requests while no frames flow,
/// and the rendition decision.
fn start_timers(app: &Shared) -> Result<(), JsValue> {
    let weak = Rc::downgrade(app);
    let tick = Closure::<dyn FnMut()>::new(move || {
        let Some(app) = weak.upgrade() else { return };
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        // MQTT keep-alive: PINGREQ now and then, dead when one goes unanswered.
        let dead = a.net.session.tick(now_ms());
        a.net.flush();
        request_clock(a);
        if a.frames.is_some() && a.next.is_none() {
            let rtt = a.clock.best().map(|c| c.rtt_ms);
            a.adapt.timed_rate(a.flow.estimate(rtt).and_then(|e| e.link_bytes_per_s));
            if let Some(r) = a.adapt.decide(now_ms()) {
                switch_rendition(a, r);
            }
        }
        // No animation frame for half a second (a browser that throttles them): count
        // those frames as of their draw rather than not at all.
        if a.picture.unpresented.first().is_some_and(|(t, ..)| now_ms() - t.drawn > 500.0) {
            presented(a, None);
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

/// Asks the edge for its time from the timer, while no frames flow: quickly until a few
/// samples are in, then now and then to follow drift and catch a faster exchange. While
/// frames flow the requests go with the acknowledgements instead, when the link is
/// quiet (`pace`).
fn request_clock(a: &mut App) {
    if a.net.link != Link::Live || a.picture.last_frame_ms.is_some_and(|t| now_ms() - t < 1000.0) {
        return;
    }
    if a.pace.clock_due(now_ms(), a.clock.len()) {
        send_clock_request(a);
    }
}

fn send_clock_request(a: &mut App) {
    let Some(topics) = &a.viewer_topics else { return };
    let now = now_ms();
    a.pace.clock_sent(now);
    a.net.session.publish(&topics.request, &clock::request(now));
    a.net.flush();
}

/// Sends the page what it shows (`view`), if it changed, and the camera list.
fn render(a: &mut App) {
    let now = now_ms();
    let clock_rtt = a.clock.best().map(|c| c.rtt_ms);
    let fps = a.stats.fps(now);
    let view = view::readout(&Readout {
        now_ms: now,
        link: &a.net.link,
        broker: a.net.brokers.as_ref().map(Brokers::current),
        stats: &a.stats,
        fps,
        clock: &a.clock,
        flow: a.flow.estimate(clock_rtt),
        shown: a.shown.as_deref(),
        frames: a.frames.as_deref(),
        cameras: a.cams.len(),
        camera: a.camera.as_ref(),
        paused: a.paused,
        last_frame_ms: a.picture.last_frame_ms,
        first_frame_ms: a.picture.first_frame_ms,
        first_picture_ms: a.picture.first_picture_ms,
        switches: a.switch.count,
        switch_ms: a.switch.first_ms,
        switch_full_ms: a.switch.full_ms,
        rendition: a.rendition,
        next: a.next.as_ref().map(|n| n.1),
        pinned: a.adapt.pinned(),
        link_estimate: a.adapt.link(),
        link_held: a.adapt.held_share(now),
        frame_sequence: a.picture.sequence,
        detections: a.overlay.drawn(),
        producers: a.overlay.producers(),
        detections_lag_ms: a.overlay.lag_ms(),
    });
    if a.prefix.is_some() {
        send_cameras(a);
    }
    // Only what changed goes out (4 times a second, even with nothing new).
    if a.page.last_view.as_ref() != Some(&view) {
        (a.page.sink)(Output::View { attrs: view.0.clone(), text: view.1.clone() });
        a.page.last_view = Some(view);
    }
}
