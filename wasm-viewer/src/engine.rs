//! The viewer's engine: WebSocket ⇢ MQTT ⇢ wire ⇢ `createImageBitmap` ⇢ canvas ⇢ stats.
//!
//! It runs in a dedicated worker drawing into the `OffscreenCanvas` the page handed it,
//! or, where browsers have no `OffscreenCanvas`, on the page itself (`scope`,
//! `surface`). It never touches the DOM: what the page shows (the overlay, `#stats`,
//! the login form) goes out through a [`Sink`], and the page's input (a login typed,
//! the tab hidden or shown) comes in through [`log_in`] and [`set_hidden`].
//!
//! All state lives in one [`App`] behind `Rc<RefCell<_>>`. Socket callbacks are owned
//! by the [`Socket`] that registered them and are unregistered when it is dropped, so a
//! reconnect leaves nothing behind. The page-lifetime timers are `forget()`-ed on
//! purpose: they live as long as the page does.
//!
//! Decoding keeps latency bounded: at most one `createImageBitmap` is in flight and only
//! the newest received frame waits behind it; a frame replaced while waiting is counted
//! as dropped. A slow phone therefore shows fewer frames, never older ones.

use std::{cell::RefCell, rc::Rc};

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{BinaryType, Blob, BlobPropertyBag, CloseEvent, ImageBitmap, MessageEvent, WebSocket};

use wire::{
    ack::{Ack, Rendition},
    detections::{Detections, Object},
};

use crate::{
    adapt::Adapt,
    clock::{self, ClockSync},
    flow::{Flow, Observed},
    marks::Marks,
    scope::Scope,
    session::{self, Event, Purpose, Session},
    stats::{FrameTimes, Stage, Stats},
    surface::{Mark, Surface},
    target::{self, Bus, Target},
};

/// Clock-offset requests: a quick burst first (the more exchanges, the likelier one
/// was not delayed by a busy CPU or network), then a refresh now and then.
const CLOCK_FIRST_SAMPLES: usize = 20;
const CLOCK_FAST_MS: f64 = 100.0;
const CLOCK_REFRESH_MS: f64 = 2000.0;

thread_local! {
    static SCOPE: Scope = Scope::current();
}

fn scope() -> Scope {
    SCOPE.with(Scope::clone)
}

/// Wall-clock now in ms since the epoch, with sub-ms precision (frames carry µs).
fn now_ms() -> f64 {
    SCOPE.with(Scope::now_ms)
}

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

/// One camera as a tile shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    pub name: String,
    /// `live`, `idle`, `offline` or `starting`.
    pub state: String,
    pub detail: String,
    /// Preview pictures drawn into its tile so far.
    pub previews: u32,
    /// Seconds since its newest picture was taken (preview or frame), if there is one.
    pub age_s: Option<f64>,
    /// Its active alarm: reason, raised at (edge µs), by whom.
    pub alarm: Option<(String, u64, String)>,
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

/// Connection state shown to the user.
#[derive(Debug, Clone, PartialEq)]
enum Link {
    Connecting,
    Live,
    /// Waiting to retry; the reason is shown.
    Down(String),
    /// Nothing to retry: a configuration problem the user must fix.
    Stopped(String),
    /// The tab is hidden: disconnected on purpose until it is shown again.
    Paused,
    /// The broker refused the login (or wants one): waiting for the form.
    NeedLogin(String),
}

/// What the camera's retained status message says.
#[derive(Debug, Clone, PartialEq)]
struct CameraStatus {
    state: String,
    detail: String,
}

/// A WebSocket and the callbacks it calls; dropping it closes the socket.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// The newest received frame, waiting for the decoder.
struct Pending {
    header: wire::FrameHeader,
    /// Kept in WASM memory: the browser copies its JPEG once more, into the `Blob`.
    payload: Vec<u8>,
    /// Where the JPEG starts in `payload`.
    jpeg_at: usize,
    /// When its last bytes arrived (viewer ms).
    received_ms: f64,
    /// The broker's stored copy (retained), not a live frame: shown, but its age says
    /// how long the camera was idle, not how fast the system is, so it is no sample.
    stored: bool,
    /// The switch it arrived in ([`App::generation`]): a frame of the camera left
    /// behind is never drawn.
    generation: u32,
    /// The rendition it belongs to (acknowledged as such).
    rendition: Rendition,
}

impl Pending {
    /// A frame the session gave, arrived at `received_ms`.
    fn new(f: session::Frame, received_ms: f64, generation: u32, rendition: Rendition) -> Pending {
        let stored = f.retained;
        Pending {
            header: f.header,
            payload: f.payload,
            jpeg_at: f.jpeg_at,
            received_ms,
            stored,
            generation,
            rendition,
        }
    }

    /// A preview's payload, if it is a frame.
    fn preview(payload: Vec<u8>, received_ms: f64, stored: bool, generation: u32) -> Option<Pending> {
        let (header, jpeg_at) = session::frame(&payload)?;
        Some(Pending {
            header,
            payload,
            jpeg_at,
            received_ms,
            stored,
            generation,
            rendition: Rendition::Full,
        })
    }

    fn jpeg(&self) -> &[u8] {
        &self.payload[self.jpeg_at..]
    }

    /// The whole payload's size, for the link's rate.
    fn bytes(&self) -> usize {
        self.payload.len()
    }
}

/// A camera on the bus: what its tile shows, and its newest preview, kept decoded so a
/// switch to it puts a picture on screen at once.
struct Cam {
    name: String,
    status: Option<CameraStatus>,
    alarm: Option<(String, u64, String)>,
    tile: Option<Surface>,
    /// The newest preview, decoded, and when it was captured (edge µs).
    preview: Option<(ImageBitmap, u64)>,
    pending: Option<Pending>,
    decoding: bool,
    previews: u32,
    /// Capture time (viewer ms) of its newest picture, preview or frame.
    newest_ms: Option<f64>,
    /// The renditions it offers, its frame rate and its full frames' size (its edge's
    /// directory entry).
    offered: Vec<Rendition>,
    fps: f64,
    full_bytes: Option<f64>,
    /// Its edge's clock offset, measured while it was watched (cameras on other edges
    /// have other clocks), kept for the next time.
    clock: Option<ClockSync>,
}

impl Cam {
    fn new(name: &str) -> Cam {
        Cam {
            name: name.to_string(),
            status: None,
            alarm: None,
            tile: None,
            preview: None,
            pending: None,
            decoding: false,
            previews: 0,
            newest_ms: None,
            offered: Vec::new(),
            fps: 0.0,
            full_bytes: None,
            clock: None,
        }
    }

    fn info(&self, now: f64) -> CameraInfo {
        let (state, detail) = match &self.status {
            Some(s) if s.state == "online" && s.detail.contains("idle") => ("idle", s.detail.clone()),
            Some(s) if s.state == "online" => ("live", s.detail.clone()),
            Some(s) if s.state == "offline" => ("offline", s.detail.clone()),
            Some(s) => ("starting", s.detail.clone()),
            None => ("starting", String::new()),
        };
        CameraInfo {
            name: self.name.clone(),
            state: state.to_string(),
            detail,
            previews: self.previews,
            // Whole seconds: the list goes to the page only when something in it changed.
            age_s: self.newest_ms.map(|t| ((now - t) / 1000.0).max(0.0).floor()),
            alarm: self.alarm.clone(),
        }
    }
}

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
    /// Derived from the frame topic `<prefix>/<camera>/frame`; none for other topics.
    fn for_frames(frame_topic: &str, client_id: &str) -> Option<Self> {
        let base = frame_topic.strip_suffix("/frame")?;
        Some(ViewerTopics {
            request: format!("{base}/clock/req/{client_id}"),
            reply: format!("{base}/clock/res/{client_id}"),
            ack: format!("{base}/ack/{client_id}"),
            status: format!("{base}/status"),
            detections: format!("{base}/detections"),
        })
    }
}

pub struct App {
    target: Option<Target>,
    /// A socket opened before the engine started, for its first connection.
    early_socket: Option<WebSocket>,
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
    /// Capture time (edge µs) of the picture on the main canvas, and whether it is a
    /// full frame: a preview or stored frame never replaces a newer picture.
    main_capture_us: u64,
    main_full: bool,
    last_cameras: Option<Vec<CameraInfo>>,
    /// The previews subscribed to (`sync_previews`).
    previews: Option<String>,
    /// The rendition of `frames`, and the one being switched to (subscribed to; it
    /// replaces the current one when its first frame arrives: no gap, no black frame).
    rendition: Rendition,
    next: Option<(String, Rendition)>,
    adapt: Adapt,
    /// The MQTT session: who we are, the login, what the broker's bytes mean.
    session: Session,
    viewer_topics: Option<ViewerTopics>,
    clock: ClockSync,
    last_clock_request_ms: f64,
    camera: Option<CameraStatus>,
    last_frame_ms: Option<f64>,
    /// Navigation → first frame (ms), once there is one.
    first_frame_ms: Option<f64>,
    /// Navigation → first picture of any kind on the main canvas (a preview comes
    /// first on a slow link: a few KB against a frame's tens).
    first_picture_ms: Option<f64>,
    surface: Surface,
    sink: Sink,
    page_time_origin: f64,
    /// The last view sent, so an unchanged one is not sent again.
    last_view: Option<(Vec<(String, String)>, String)>,
    stats: Stats,
    link: Link,
    socket: Option<Socket>,
    pending: Option<Pending>,
    decoding: bool,
    /// When the running decode started: the decoder's own time, without waiting.
    decode_started_ms: f64,
    /// What the flow-control window is worked out from.
    flow: Flow,
    /// Frames drawn but not yet on screen (the next animation frame puts them there).
    unpresented: Vec<(FrameTimes, u32, u32)>,
    /// Acknowledgements still to send with window 1 before a clock request (`ack_window`).
    probing: Option<u8>,
    /// The window last asked for, and how many acknowledgements asked for it (`paced`).
    window_asked: u8,
    acks_at_window: u32,
    /// The animation-frame callback, made once; whether it is requested.
    on_animation_frame: Option<Closure<dyn FnMut(f64)>>,
    presenting: bool,
    last_warning_ms: f64,
    /// Detections for the camera shown, the overlay they are drawn on, how the page
    /// turns the picture (degrees, mirrored), and the frame on screen (sequence).
    marks: Marks,
    marks_surface: Option<Surface>,
    turn: (u32, bool),
    main_sequence: u64,
    /// Drawn over the frame on screen: objects, and the sequence of the result they came
    /// with (per producer; the first's).
    marks_drawn: (usize, Option<u64>),
    /// Whether the overlay holds anything: an empty one is not cleared again per frame.
    marks_painted: bool,
}

pub type Shared = Rc<RefCell<App>>;

/// Starts the engine: connects (unless the page is hidden) and starts its timers. The
/// returned handle is the only strong reference: callbacks and timers hold weak ones,
/// so the viewer lives exactly as long as the caller keeps it.
/// `early`: a socket to the broker already opening (the worker's loader dialled it while
/// this module loaded: its handshake overlaps the load, a round trip sooner).
pub fn start(init: Init, surface: Surface, sink: Sink, early: Option<WebSocket>) -> Result<Shared, JsValue> {
    let app = Rc::new(RefCell::new(App {
        target: None,
        early_socket: early,
        prefix: None,
        frames: None,
        shown: None,
        paused: false,
        generation: 0,
        cams: Vec::new(),
        switch: Switch::default(),
        main_capture_us: 0,
        main_full: false,
        last_cameras: None,
        previews: None,
        rendition: Rendition::Full,
        next: None,
        adapt: Adapt::default(),
        session: Session::new(init.client_id, init.login),
        viewer_topics: None,
        clock: ClockSync::default(),
        last_clock_request_ms: f64::NEG_INFINITY,
        camera: None,
        last_frame_ms: None,
        first_frame_ms: None,
        first_picture_ms: None,
        surface,
        sink,
        page_time_origin: init.page_time_origin,
        last_view: None,
        stats: Stats::default(),
        link: Link::Connecting,
        socket: None,
        pending: None,
        decoding: false,
        decode_started_ms: 0.0,
        flow: Flow::default(),
        unpresented: Vec::new(),
        on_animation_frame: None,
        probing: None,
        window_asked: 1,
        acks_at_window: 0,
        presenting: false,
        last_warning_ms: f64::NEG_INFINITY,
        marks: Marks::new(init.marks_max_age_ms),
        marks_surface: None,
        turn: (0, false),
        main_sequence: 0,
        marks_drawn: (0, None),
        marks_painted: false,
    }));
    start_timers(&app)?;
    let weak = Rc::downgrade(&app);
    app.borrow_mut().on_animation_frame = Some(Closure::new(move |_: f64| {
        if let Some(app) = weak.upgrade() {
            presented(&mut app.borrow_mut(), Some(now_ms()));
        }
    }));
    match init.target {
        Ok(t) => {
            {
                let mut a = app.borrow_mut();
                match target::split_frame_topic(&t.topic) {
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
                            a.frames = Some(target::camera_topic(prefix, camera, a.rendition.level()));
                        }
                    }
                    // A topic of the page's own: that one stream, no grid.
                    None => a.frames = Some(t.topic.clone()),
                }
                // From the camera's full frame topic, whichever rendition is watched.
                if a.frames.is_some() {
                    a.viewer_topics = ViewerTopics::for_frames(&t.topic, a.session.client_id());
                }
                a.target = Some(t);
            }
            if init.hidden {
                app.borrow_mut().link = Link::Paused;
            } else {
                open(&app);
            }
        }
        Err(e) => app.borrow_mut().link = Link::Stopped(e),
    }
    render(&mut app.borrow_mut());
    Ok(app)
}

/// A login typed into the page's form: connect again with it.
pub fn log_in(app: &Shared, user: String, password: String) {
    {
        let mut a = app.borrow_mut();
        a.session.log_in(user, password);
        a.link = Link::Connecting;
    }
    open(app);
    render(&mut app.borrow_mut());
}

/// A hidden tab disconnects and a shown one reconnects: a phone in a pocket should not
/// spend its data plan and battery on frames nobody sees, and background tabs' throttled
/// timers would miss keep-alives anyway.
pub fn set_hidden(app: &Shared, hidden: bool) {
    if hidden {
        let mut a = app.borrow_mut();
        if matches!(a.link, Link::NeedLogin(_) | Link::Stopped(_)) {
            return; // nothing is connected or retrying
        }
        a.link = Link::Paused;
        // Dropping the socket closes it; its close handler is gone, so no retry.
        drop_socket(&mut a);
    } else if app.borrow().link == Link::Paused {
        {
            let mut a = app.borrow_mut();
            a.link = Link::Connecting;
            a.session.reset_backoff();
        }
        open(app);
    }
    render(&mut app.borrow_mut());
}

/// The picture on screen now, as a JPEG `Blob` (a promise of one).
pub fn snapshot(app: &Shared) -> Result<js_sys::Promise, JsValue> {
    app.borrow().surface.snapshot()
}

/// The page shows `camera` full-size (`None`: the grid, no full stream), because of the
/// user's input (or an alarm's arrival) at `at_ms`: leave the camera shown, put the new
/// one's newest preview on screen at once, and subscribe to its frames.
pub fn show(app: &Shared, camera: Option<String>, at_ms: f64) {
    let mut a = app.borrow_mut();
    if a.prefix.is_none() || a.shown == camera {
        return; // one stream of the page's own topic, or no change
    }
    leave_stream(&mut a);
    a.marks.clear();
    draw_marks(&mut a);
    a.generation = a.generation.wrapping_add(1);
    a.stats = Stats::default();
    a.flow.clear();
    a.pending = None;
    a.unpresented.clear();
    a.session.forget_last_frame();
    a.last_frame_ms = None;
    a.main_capture_us = 0;
    a.main_full = false;
    a.shown = camera.clone();
    if let Some(name) = &camera {
        let i = cam_index(&mut a.cams, name);
        a.camera = a.cams[i].status.clone();
        a.switch = Switch { count: a.switch.count + 1, at_ms, ..Switch::default() };
        let a = &mut *a;
        if let Some((bitmap, capture_us)) = &a.cams[i].preview {
            a.surface.draw_stretched(bitmap);
            a.main_capture_us = *capture_us;
            a.switch.first_drawn = true;
            request_present(a);
        }
        if !a.paused {
            join_stream(a);
        }
    }
    sync_previews(&mut a);
    render(&mut a);
}

/// The previews worth their bytes now: every camera's on the grid (its tiles); with a
/// camera shown, its own until its first frame is drawn, then none. Eight cameras'
/// previews are 100–200 KB/s: most of a phone's 2 Mbit/s link, taken from the picture
/// watched. (The tiles keep their last picture; switching draws the one kept.)
fn wanted_previews(a: &App) -> Option<String> {
    let prefix = a.prefix.as_ref()?;
    match &a.shown {
        None => Some(format!("{prefix}/+/preview")),
        Some(camera) if !a.main_full => Some(target::camera_topic(prefix, camera, "preview")),
        Some(_) => None,
    }
}

/// Subscribes to the previews wanted and leaves the others.
fn sync_previews(a: &mut App) {
    let want = wanted_previews(a);
    let open = a.socket.as_ref().is_some_and(|s| s.ws.ready_state() == WebSocket::OPEN);
    if want == a.previews || !open {
        return;
    }
    if let Some(old) = a.previews.take() {
        a.session.unsubscribe(&old);
    }
    if let Some(new) = &want {
        a.session.subscribe(Purpose::Bus, new);
    }
    flush(a);
    a.previews = want;
}

/// Pauses the camera shown (its last picture stays) or goes on with it.
pub fn set_paused(app: &Shared, paused: bool) {
    let mut a = app.borrow_mut();
    if a.paused == paused || a.prefix.is_none() {
        return;
    }
    a.paused = paused;
    if paused {
        leave_stream(&mut a);
    } else if a.shown.is_some() {
        a.generation = a.generation.wrapping_add(1);
        a.flow.clear();
        a.session.forget_last_frame();
        join_stream(&mut a);
    }
    render(&mut a);
}

/// The tile of `camera`: its previews are drawn there from now on.
pub fn add_tile(app: &Shared, camera: &str, surface: Surface) {
    let mut a = app.borrow_mut();
    let i = cam_index(&mut a.cams, camera);
    if let Some((bitmap, _)) = &a.cams[i].preview {
        surface.draw(bitmap);
    }
    a.cams[i].tile = Some(surface);
}

/// The index of `name` in the camera list, added if new.
fn cam_index(cams: &mut Vec<Cam>, name: &str) -> usize {
    match cams.iter().position(|c| c.name == name) {
        Some(i) => i,
        None => {
            cams.push(Cam::new(name));
            cams.len() - 1
        }
    }
}

/// Subscribes to the frames of the camera shown and says hello to its edge.
fn join_stream(a: &mut App) {
    let (Some(prefix), Some(camera)) = (&a.prefix, &a.shown) else { return };
    let full = target::camera_topic(prefix, camera, "frame");
    a.viewer_topics = ViewerTopics::for_frames(&full, a.session.client_id());
    let (offered, fps, bytes) = match a.cams.iter().find(|c| &c.name == camera) {
        Some(c) => (c.offered.clone(), c.fps, c.full_bytes),
        None => (Vec::new(), 0.0, None),
    };
    a.adapt.camera(&offered, fps, bytes);
    a.rendition = a.adapt.current();
    a.next = None;
    a.frames = Some(target::camera_topic(prefix, camera, a.rendition.level()));
    if let Some(clock) = a.cams.iter_mut().find(|c| &c.name == camera).and_then(|c| c.clock.take()) {
        a.clock = clock;
    }
    a.last_clock_request_ms = f64::NEG_INFINITY;
    a.probing = None;
    a.window_asked = 1;
    a.acks_at_window = 0;
    if a.socket.as_ref().is_some_and(|s| s.ws.ready_state() == WebSocket::OPEN) {
        say_hello(a);
        subscribe(a, false);
    }
}

/// Unsubscribes from the frames shown, and tells their edge this viewer has gone (an
/// empty acknowledgement, as its last will would), so it stops waiting for it.
fn leave_stream(a: &mut App) {
    if let Some(topic) = a.frames.take() {
        a.session.unsubscribe(&topic);
        if let Some((next, _)) = a.next.take() {
            a.session.unsubscribe(&next);
        }
        if let Some(c) = a.viewer_topics.take() {
            a.session.unsubscribe(&c.reply);
            a.session.unsubscribe(&c.detections);
            a.session.publish(&c.ack, b"");
        }
        flush(a);
    }
    if let Some(camera) = a.shown.clone() {
        let clock = std::mem::take(&mut a.clock);
        if !clock.is_empty() {
            let i = cam_index(&mut a.cams, &camera);
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
        a.session.publish(&c.ack, &Ack::hello(rendition, window).encode());
        flush(a);
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
    let topic = target::camera_topic(prefix, camera, rendition.level());
    if let Some((old_next, _)) = a.next.take() {
        a.session.unsubscribe(&old_next);
    }
    a.session.subscribe(Purpose::Next, &topic);
    flush(a);
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
        a.session.unsubscribe(&old);
        flush(a);
    }
    // Done with the one left: its flow control need not wait for this viewer any more.
    if let Some(c) = &a.viewer_topics {
        a.session.publish(&c.ack, &Ack::leaving(a.rendition).encode());
        flush(a);
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
    a.probing = None;
    a.window_asked = 1;
    a.acks_at_window = 0;
}

/// The canvas detections are drawn on (over the picture).
pub fn set_marks(app: &Shared, surface: Surface) {
    let mut a = app.borrow_mut();
    a.marks_surface = Some(surface);
    draw_marks(&mut a);
}

/// How the page turns the picture: labels are drawn to read upright.
pub fn set_turn(app: &Shared, degrees: u32, mirror: bool) {
    let mut a = app.borrow_mut();
    a.turn = (degrees % 360, mirror);
    draw_marks(&mut a);
}

/// Draws what the bus found in the frame on screen (nothing, if nothing applies).
fn draw_marks(a: &mut App) {
    let (w, h) = (a.stats.width, a.stats.height);
    let found = a.marks.for_frame(a.main_sequence, a.main_capture_us);
    a.marks_drawn = (found.iter().map(|d| d.objects.len()).sum(), found.first().map(|d| d.sequence));
    let Some(surface) = &a.marks_surface else { return };
    let marks: Vec<Mark> = found
        .iter()
        .flat_map(|d| {
            let colour = producer_colour(&d.producer);
            d.objects.iter().map(move |o| Mark {
                bbox: o.bbox,
                label: format!("{} {}%", o.label, (o.score * 100.0).round() as u32),
                colour,
            })
        })
        .collect();
    if marks.is_empty() && !a.marks_painted {
        return;
    }
    surface.draw_marks(w.max(1), h.max(1), &marks, a.turn.0, a.turn.1);
    a.marks_painted = !marks.is_empty();
}

/// A producer's colour: the same on every page, distinct for a few producers.
fn producer_colour(producer: &str) -> &'static str {
    const COLOURS: [&str; 6] = ["#ffd400", "#00e5ff", "#ff4fd8", "#7cff4f", "#ff8a00", "#b28cff"];
    let hash = producer.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    COLOURS[hash as usize % COLOURS.len()]
}

/// A message on a camera's detections topic (`wire::detections`), or why it is not one.
fn parse_detections(payload: &[u8]) -> Result<Detections, &'static str> {
    const BAD: &str = "a detections message is not the detections JSON";
    let json = std::str::from_utf8(payload).ok().and_then(|t| js_sys::JSON::parse(t).ok()).ok_or(BAD)?;
    let get = |v: &JsValue, k: &str| Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let objects: Array = get(&json, "objects").dyn_into().map_err(|_| BAD)?;
    let objects = objects
        .iter()
        .map(|o| {
            let bbox: Array = get(&o, "box").dyn_into().ok()?;
            let n = |i: u32| bbox.get(i).as_f64();
            Some(Object {
                label: get(&o, "label").as_string().unwrap_or_default(),
                score: get(&o, "score").as_f64().unwrap_or(1.0),
                bbox: [n(0)?, n(1)?, n(2)?, n(3)?],
            })
        })
        .collect::<Option<Vec<Object>>>()
        .ok_or(BAD)?;
    Detections {
        sequence: get(&json, "sequence").as_f64().ok_or(BAD)? as u64,
        capture_us: get(&json, "capture_us").as_f64().ok_or(BAD)? as u64,
        producer: get(&json, "producer").as_string().unwrap_or_default(),
        objects,
    }
    .checked()
}

/// The user pins a rendition (`None`: the viewer chooses again).
pub fn pin(app: &Shared, rendition: Option<Rendition>) {
    let mut a = app.borrow_mut();
    let want = a.adapt.pin(rendition);
    switch_rendition(&mut a, want);
    render(&mut a);
}

/// Stops retrying and asks for a login, saying why.
fn ask_login(app: &Shared, why: String) {
    let mut a = app.borrow_mut();
    drop_socket(&mut a);
    let user = a.session.user().unwrap_or(DEFAULT_USER).to_string();
    (a.sink)(Output::AskLogin { why: why.clone(), user });
    a.link = Link::NeedLogin(why);
}

/// Opens a socket to the target broker; MQTT CONNECT goes out when it opens.
fn open(app: &Shared) {
    if app.borrow().link == Link::Paused {
        return; // a retry timer that fired after the tab was hidden
    }
    let Some(target) = app.borrow().target.clone() else {
        return;
    };
    // The socket the worker's loader opened while this module loaded, if still usable.
    let early = app.borrow_mut().early_socket.take().filter(|ws| ws.ready_state() <= WebSocket::OPEN);
    let ws = match early.map_or_else(|| WebSocket::new_with_str(&target.broker, "mqtt"), Ok) {
        Ok(ws) => ws,
        Err(e) => {
            app.borrow_mut().link = Link::Stopped(format!("cannot open {}: {}", target.broker, js_text(&e)));
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let weak = Rc::downgrade(app);
    // A socket closed before it ever opened never reached MQTT: say what can cause that.
    let opened = Rc::new(std::cell::Cell::new(false));
    let on_open = Closure::<dyn FnMut()>::new({
        let (weak, opened) = (weak.clone(), opened.clone());
        move || {
            opened.set(true);
            let Some(app) = weak.upgrade() else { return };
            let mut guard = app.borrow_mut();
            let a = &mut *guard;
            // If this page goes away without a word (tab closed, phone asleep), the broker
            // tells the edge at once with an empty acknowledgement, so the edge stops
            // waiting for this viewer straight away.
            a.session.connect(now_ms(), a.viewer_topics.as_ref().map(|c| c.ack.as_str()));
            flush(a);
            // Before subscribing (`say_hello`).
            say_hello(a);
            // MQTT lets a client send more before the CONNACK: subscribing now saves a
            // round trip before the first frame.
            subscribe(a, true);
            if let Some(prefix) = &a.prefix {
                let request = target::directory_request(prefix, a.session.client_id());
                a.session.publish(&request, b"");
                flush(a);
            }
        }
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let weak = weak.clone();
        move |e: MessageEvent| {
            // First thing: this is the "received" time of whatever the message completes.
            let at = now_ms();
            let Some(app) = weak.upgrade() else { return };
            if let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() {
                received(&app, &Uint8Array::new(&buf), at);
            }
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        let Some(app) = weak.upgrade() else { return };
        let reason = match (opened.get(), e.reason()) {
            // The browser hides why (a refused origin, a closed port, a bad certificate).
            (false, _) => "cannot open the broker's WebSocket (down, unreachable, or it does not \
                           accept pages from this site: see --allow-origin)"
                .to_string(),
            (true, r) if r.is_empty() => format!("connection closed ({})", e.code()),
            (true, r) => r,
        };
        lost(&app, reason);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut a = app.borrow_mut();
    // The socket replaced (if any) says nothing more: its session is over.
    a.session.close();
    a.previews = wanted_previews(&a);
    a.flow.clear();
    a.probing = None;
    a.window_asked = 1;
    a.acks_at_window = 0;
    a.link = Link::Connecting;
    // Opened before its handlers were here: it will not say so again.
    let open_now = (ws.ready_state() == WebSocket::OPEN).then(|| on_open.as_ref().clone());
    a.socket = Some(Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close });
    drop(a);
    if let Some(on_open) = open_now {
        let _ = on_open.unchecked_ref::<js_sys::Function>().call0(&JsValue::NULL);
    }
}

/// Subscribes to the frames shown and this viewer's clock replies, and (`bus`, once per
/// connection) to the camera's status or, with a prefix, the whole bus's previews,
/// status, alarms and directory: one message.
fn subscribe(a: &mut App, bus: bool) {
    let s = &mut a.session;
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
                for filter in target::bus_filters(prefix, s.client_id()) {
                    s.subscribe(Purpose::Bus, &filter);
                }
            }
            (None, Some(c)) => s.subscribe(Purpose::Status, &c.status),
            (None, None) => {}
        }
    }
    flush(a);
}

/// Sends what the session has to send, as one WebSocket message.
fn flush(a: &mut App) {
    let out = a.session.take_outgoing();
    if let (Some(s), false) = (&a.socket, out.is_empty()) {
        // A send on a closing socket throws; the close handler deals with the outcome.
        let _ = s.ws.send_with_u8_array(&out);
    }
}

/// Closes the socket (its handlers go with it: no close event, no retry).
fn drop_socket(a: &mut App) {
    a.socket = None;
    a.session.close();
}

/// Drops the socket and schedules a reconnect with exponential backoff and jitter.
fn lost(app: &Shared, reason: String) {
    let delay = {
        let mut a = app.borrow_mut();
        drop_socket(&mut a);
        if matches!(a.link, Link::Stopped(_) | Link::Paused | Link::NeedLogin(_)) {
            return;
        }
        a.link = Link::Down(reason);
        a.session.retry_delay(js_sys::Math::random())
    };
    let weak = Rc::downgrade(app);
    let retry = Closure::once_into_js(move || {
        if let Some(app) = weak.upgrade() {
            open(&app);
        }
    });
    scope().set_timeout(retry.unchecked_ref(), delay as i32);
}

/// Bytes from the socket (arrived at `at`): decode every whole MQTT packet in them.
fn received(app: &Shared, bytes: &Uint8Array, at: f64) {
    let mut failure = None;
    let mut refused_login = None;
    let mut cameras_changed = false;
    let mut previews: Vec<String> = Vec::new();
    let mut bus_bad = None;
    {
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        let events = a.session.received_with(bytes.length() as usize, |dst| bytes.copy_to(dst));
        // Acknowledgements of QoS 1 messages.
        flush(a);
        let mut next_here = false;
        let mut frames: Vec<Pending> = Vec::new();
        let mut bad = 0u64;
        for event in events {
            match event {
                Event::Live => a.link = Link::Live,
                // Without clock replies latency assumes one clock (offset 0).
                Event::ClockRefused => a.viewer_topics = None,
                Event::LoginRefused(why) => {
                    refused_login = Some(why);
                    break;
                }
                Event::Lost(why) => {
                    failure = Some(why);
                    break;
                }
                // The rendition switched to: from its first frame on, the one watched.
                Event::NotAFrame { topic } => {
                    next_here |= a.next.as_ref().is_some_and(|n| n.0 == topic);
                    bad += 1;
                }
                Event::Repeated { topic } => next_here |= a.next.as_ref().is_some_and(|n| n.0 == topic),
                Event::Frame(f) => {
                    let next = a.next.as_ref().filter(|n| n.0 == f.topic).map(|n| n.1);
                    next_here |= next.is_some();
                    let rendition = match a.frames.as_deref() == Some(f.topic.as_str()) {
                        true => a.rendition,
                        false => match next {
                            Some(r) => r,
                            None => continue,
                        },
                    };
                    frames.push(Pending::new(f, at, a.generation, rendition));
                }
                Event::Message { topic: t, payload, retained } => {
                    let bus = a.prefix.as_deref().and_then(|p| target::bus_topic(p, &t));
                    if let Some(bus) = bus {
                        match bus {
                            Bus::Preview(camera) => {
                                match Pending::preview(payload, at, retained, a.generation) {
                                    Some(f) => {
                                        let known = a.cams.len();
                                        let i = cam_index(&mut a.cams, camera);
                                        cameras_changed |= a.cams.len() > known;
                                        a.cams[i].pending = Some(f);
                                        if !previews.iter().any(|c| c == camera) {
                                            previews.push(camera.to_string());
                                        }
                                    }
                                    None => bus_bad = Some("a preview is not a frame"),
                                }
                            }
                            Bus::Status(camera) => {
                                let status = parse_status(&payload);
                                let i = cam_index(&mut a.cams, camera);
                                if a.shown.as_deref() == Some(camera) {
                                    a.camera = status.clone();
                                }
                                a.cams[i].status = status;
                                cameras_changed = true;
                            }
                            Bus::Alarm(camera) => {
                                let i = cam_index(&mut a.cams, camera);
                                match parse_alarm(&payload) {
                                    Ok(alarm) => a.cams[i].alarm = alarm,
                                    Err(()) => bus_bad = Some("an alarm message is not the alarm JSON"),
                                }
                                cameras_changed = true;
                            }
                            Bus::Directory => {
                                for (name, offered, fps, full_bytes) in parse_directory(&payload) {
                                    let i = cam_index(&mut a.cams, &name);
                                    if a.shown.as_deref() == Some(name.as_str()) {
                                        a.adapt.offer(&offered, fps);
                                    }
                                    a.cams[i].offered = offered;
                                    a.cams[i].fps = fps;
                                    a.cams[i].full_bytes = full_bytes;
                                }
                                cameras_changed = true;
                            }
                        }
                    } else if a.viewer_topics.as_ref().is_some_and(|c| c.status == t) {
                        a.camera = parse_status(&payload);
                    } else if a.viewer_topics.as_ref().is_some_and(|c| c.detections == t) {
                        match parse_detections(&payload) {
                            Ok(d) => {
                                let lag = at - (d.capture_us as f64 / 1000.0 - a.clock.offset_ms());
                                let on_screen = d.sequence == a.main_sequence;
                                a.marks.add(d, lag);
                                // Late for its frame, which is on screen: drawn now.
                                if on_screen {
                                    draw_marks(a);
                                }
                            }
                            Err(why) => bus_bad = Some(why),
                        }
                    } else if a.viewer_topics.as_ref().is_some_and(|c| c.reply == t) {
                        if let Some((t1, t2, t3)) = clock::parse_reply(&payload) {
                            let first = a.clock.is_empty();
                            if a.clock.add(t1, t2, t3, at).is_some() && first {
                                // Latencies so far assumed one clock; drop them.
                                a.stats.clear_stages();
                            }
                        }
                    }
                }
            }
        }
        if next_here {
            // From here on only the new rendition's frames count: one of the old, still
            // on its way, must not take the place of the new one's first frame, which
            // would then never be acknowledged (its edge would hold the new stream until
            // this viewer counted as stalled: a 2 s freeze, measured).
            let new = a.next.as_ref().map(|n| n.1);
            frames.retain(|f| Some(f.rendition) == new);
            if a.pending.as_ref().is_some_and(|p| Some(p.rendition) != new) {
                a.pending = None;
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
            if a.pending.replace(newest).is_some() {
                a.stats.dropped += 1;
            }
        }
    }
    if let Some(why) = refused_login {
        ask_login(app, why);
        render(&mut app.borrow_mut());
        return;
    }
    if let Some(reason) = failure {
        lost(app, reason);
        return;
    }
    if cameras_changed {
        send_cameras(&mut app.borrow_mut());
    }
    for camera in previews {
        decode_preview(app, camera);
    }
    decode_next(app);
}

/// An alarm message: `Some((reason, at_us, source))` when active, `None` when cleared
/// (also an empty payload: a retained alarm taken back).
fn parse_alarm(payload: &[u8]) -> Result<Option<(String, u64, String)>, ()> {
    if payload.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(payload).map_err(|_| ())?;
    let json = js_sys::JSON::parse(text).map_err(|_| ())?;
    let field = |k: &str| Reflect::get(&json, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let active = field("active").as_bool().ok_or(())?;
    Ok(active.then(|| {
        (
            field("reason").as_string().unwrap_or_default(),
            field("at_us").as_f64().unwrap_or(0.0) as u64,
            field("source").as_string().unwrap_or_default(),
        )
    }))
}

/// The cameras in an edge's directory entry (none when it is cleared or bad): name, the
/// renditions offered (largest first; none listed: an edge from before renditions), the
/// frame rate and the full frames' size (measured, else guessed from the picture's).
fn parse_directory(payload: &[u8]) -> Vec<(String, Vec<Rendition>, f64, Option<f64>)> {
    let Some(json) = std::str::from_utf8(payload).ok().and_then(|t| js_sys::JSON::parse(t).ok()) else {
        return Vec::new();
    };
    let list =
        |v: &JsValue, k: &str| Reflect::get(v, &k.into()).ok().and_then(|l| l.dyn_into::<Array>().ok());
    let Some(cameras) = list(&json, "cameras") else { return Vec::new() };
    cameras
        .iter()
        .filter_map(|c| {
            let name = Reflect::get(&c, &"name".into()).ok()?.as_string()?;
            let number = |v: &JsValue, k: &str| Reflect::get(v, &k.into()).ok().and_then(|f| f.as_f64());
            let fps = number(&c, "fps").unwrap_or(0.0);
            let renditions: Vec<JsValue> =
                list(&c, "renditions").map(|l| l.iter().collect()).unwrap_or_default();
            let name_of =
                |r: &JsValue| Rendition::from_name(&Reflect::get(r, &"name".into()).ok()?.as_string()?);
            let mut offered: Vec<Rendition> = renditions.iter().filter_map(name_of).collect();
            offered.sort();
            let full_bytes = renditions.iter().find(|r| name_of(r) == Some(Rendition::Full)).and_then(|r| {
                let measured = number(r, "frame_bytes").filter(|b| *b > 0.0);
                let (w, h) = (number(r, "width")?, number(r, "height")?);
                measured.or(Some(crate::adapt::frame_bytes_guess(w as u32, h as u32)))
            });
            Some((name, offered, fps, full_bytes))
        })
        .collect()
}

/// The camera list to the page, if anything in it changed.
fn send_cameras(a: &mut App) {
    let now = now_ms();
    let list: Vec<CameraInfo> = a.cams.iter().map(|c| c.info(now)).collect();
    if a.last_cameras.as_ref() != Some(&list) {
        (a.sink)(Output::Cameras(list.clone()));
        a.last_cameras = Some(list);
    }
}

/// Starts decoding `camera`'s newest preview unless one of its decodes is running.
fn decode_preview(app: &Shared, camera: String) {
    let pending = {
        let mut a = app.borrow_mut();
        let Some(cam) = a.cams.iter_mut().find(|c| c.name == camera) else { return };
        if cam.decoding {
            return;
        }
        let Some(p) = cam.pending.take() else { return };
        cam.decoding = true;
        p
    };
    let decoded = decode(pending.jpeg());
    let app = app.clone();
    spawn_local(async move {
        let result = decoded.await;
        {
            let mut a = app.borrow_mut();
            let a = &mut *a;
            let Some(i) = a.cams.iter().position(|c| c.name == camera) else { return };
            a.cams[i].decoding = false;
            match result {
                Ok(bitmap) => preview_drawn(a, i, bitmap, &pending),
                Err(_) => warn_throttled(a, "a preview's JPEG could not be decoded"),
            }
        }
        decode_preview(&app, camera);
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
    let captured = capture_us as f64 / 1000.0 - offset;
    cam.newest_ms = Some(cam.newest_ms.map_or(captured, |t| t.max(captured)));
    if let Some((old, _)) = cam.preview.replace((bitmap, capture_us)) {
        old.close();
    }
    let shown = a.shown.as_deref() == Some(a.cams[i].name.as_str());
    if shown && !a.main_full && capture_us > a.main_capture_us {
        if let Some((bitmap, _)) = &a.cams[i].preview {
            a.surface.draw_stretched(bitmap);
        }
        a.main_capture_us = capture_us;
        if a.first_picture_ms.is_none() {
            a.first_picture_ms = Some(now_ms() - a.page_time_origin);
        }
        if a.switch.first_ms.is_none() {
            a.switch.first_drawn = true;
            request_present(a);
        }
    }
}

/// Asks for the next animation frame, when the pictures drawn reach the screen.
fn request_present(a: &mut App) {
    if !a.presenting {
        if let Some(cb) = &a.on_animation_frame {
            a.presenting = scope().request_animation_frame(cb.as_ref().unchecked_ref());
        }
        if !a.presenting {
            // No animation frames here (a worker in an older browser): as of the draw.
            presented(a, None);
        }
    }
}

/// The camera status JSON (`{"state":…,"detail":…}`); `None` if it is not that.
fn parse_status(payload: &[u8]) -> Option<CameraStatus> {
    let text = std::str::from_utf8(payload).ok()?;
    let json = js_sys::JSON::parse(text).ok()?;
    let field = |k: &str| Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_string());
    Some(CameraStatus { state: field("state")?, detail: field("detail").unwrap_or_default() })
}

/// A JPEG `Blob` of `jpeg`, copied straight out of WASM memory.
fn jpeg_blob(jpeg: &[u8]) -> Result<Blob, JsValue> {
    let options = BlobPropertyBag::new();
    options.set_type("image/jpeg");
    // SAFETY: the view is only read by the `Blob` constructor, which copies it before
    // returning; nothing allocates in WASM memory (which could move it) in between.
    let view = unsafe { Uint8Array::view(jpeg) };
    Blob::new_with_u8_array_sequence_and_options(&Array::of1(&view), &options)
}

/// Starts the browser's decoder on a JPEG (off this thread); the future gives the picture.
fn decode(jpeg: &[u8]) -> impl std::future::Future<Output = Result<ImageBitmap, JsValue>> {
    let promise = jpeg_blob(jpeg).and_then(|blob| scope().create_image_bitmap(&blob));
    async move { JsFuture::from(promise?).await?.dyn_into::<ImageBitmap>() }
}

/// Starts decoding the pending frame unless a decode is already running.
fn decode_next(app: &Shared) {
    let pending = {
        let mut a = app.borrow_mut();
        if a.decoding {
            return;
        }
        let Some(p) = a.pending.take() else { return };
        a.decoding = true;
        a.decode_started_ms = now_ms();
        p
    };
    let decoded = decode(pending.jpeg());
    let app = app.clone();
    spawn_local(async move {
        let result = decoded.await;
        {
            let mut a = app.borrow_mut();
            a.decoding = false;
            match result {
                // A frame of the camera left behind (or from before a pause).
                Ok(bitmap) if pending.generation != a.generation => bitmap.close(),
                Ok(bitmap) => draw(&mut a, &bitmap, &pending),
                Err(_) => {
                    a.stats.errors += 1;
                    warn_throttled(&mut a, "a frame's JPEG could not be decoded");
                }
            }
        }
        decode_next(&app);
    });
}

fn draw(a: &mut App, bitmap: &ImageBitmap, frame: &Pending) {
    let decoded = now_ms();
    let (w, h) = (bitmap.width(), bitmap.height());
    let capture_us = frame.header.capture_us;
    // The broker's stored frame can be older than the preview already on screen (a camera
    // nobody watched kept making previews): never a step back in time.
    // Nor a frame of the rendition left behind that is older than the new one's.
    let older = capture_us < a.main_capture_us || (frame.stored && capture_us == a.main_capture_us);
    if !older {
        a.surface.draw(bitmap);
        a.main_capture_us = a.main_capture_us.max(capture_us);
        a.main_sequence = frame.header.sequence;
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
    if a.first_frame_ms.is_none() {
        // Time from navigation start to the first picture, for page-load measurements.
        a.first_frame_ms = Some(drawn - a.page_time_origin);
    }
    if a.first_picture_ms.is_none() && !older {
        a.first_picture_ms = Some(drawn - a.page_time_origin);
    }
    a.last_frame_ms = Some(drawn);
    if let Some(i) = a.shown.as_deref().and_then(|s| a.cams.iter().position(|c| c.name == s)) {
        let captured = times.captured;
        a.cams[i].newest_ms = Some(a.cams[i].newest_ms.map_or(captured, |t| t.max(captured)));
    }
    if !older && a.switch.first_ms.is_none() {
        a.switch.first_drawn = true;
    }
    if !frame.stored {
        observe(a, &times, frame, decoded, drawn);
        a.adapt.frame(frame.rendition, frame.bytes(), drawn);
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
    if !a.main_full {
        a.main_full = true;
        sync_previews(a);
    }
    if a.switch.full_ms.is_none() {
        a.switch.full_drawn = true;
    }

    // On screen at the next animation frame, when the compositor takes the canvas.
    a.unpresented.push((times, w, h));
    request_present(a);
}

/// The window for the next acknowledgement, and a clock exchange when one is due.
///
/// A clock reply that queues behind frames on a slow link makes the round trip look
/// long and the offset wrong (±0.45 s at 2 Mbit/s, measured), and the flow window is
/// worked out from the smallest round trip. So clock requests go out only when the link
/// is quiet: just before the acknowledgement of a frame when no other frame can be on
/// its way. With one frame in flight that is every frame; with more, the window is
/// first asked down to 1 for as many frames as were in flight (a brief probe every
/// couple of seconds, as BBR probes for the round trip).
fn ack_window(a: &mut App) -> u8 {
    let computed = paced(a, a.flow.window(a.clock.best().map(|c| c.rtt_ms)));
    let due = now_ms() - a.last_clock_request_ms >= clock_every(a);
    match a.probing {
        None if due && computed > 1 => {
            a.probing = Some(computed - 2);
            1
        }
        Some(left) if left > 0 => {
            a.probing = Some(left - 1);
            1
        }
        Some(_) => {
            a.probing = None;
            send_clock_request(a);
            computed
        }
        None => {
            if due {
                send_clock_request(a);
            }
            computed
        }
    }
}

/// The window to ask for given the estimate: down at once, up by one only after two
/// rounds at the current one. Before a quiet-link clock exchange, the round trip can
/// read seconds (replies queued behind a frame on a slow link) and the estimate with it
/// 7 frames: asked for at once, those queued 6 s of video at 2 Mbit/s (measured).
fn paced(a: &mut App, estimate: u8) -> u8 {
    let asked = a.window_asked;
    let window = match estimate > asked {
        true if a.acks_at_window >= 2 * u32::from(asked) => asked + 1,
        true => asked,
        false => estimate,
    };
    if window != asked {
        a.window_asked = window;
        a.acks_at_window = 0;
    }
    a.acks_at_window += 1;
    window
}

/// Frames drawn since the last animation frame reached the screen at `at` (or, with
/// `None`, the browser gave no animation frame in time: counted as of their draw).
///
/// With an animation frame, only the newest of them is on screen: the others were drawn
/// over first and count as drawn, not in the latency (counting them, a compositor that
/// skipped a beat read as 300 ms at p95 for frames nobody saw).
fn presented(a: &mut App, at: Option<f64>) {
    a.presenting = false;
    // A switch's first picture, and its first full frame, are on screen now.
    let on_screen = at.unwrap_or_else(now_ms);
    let sw = &mut a.switch;
    if sw.first_drawn && sw.first_ms.is_none() && sw.count > 0 {
        sw.first_ms = Some(on_screen - sw.at_ms);
    }
    if sw.full_drawn && sw.full_ms.is_none() && sw.count > 0 {
        sw.full_ms = Some(on_screen - sw.at_ms);
    }
    let mut frames = std::mem::take(&mut a.unpresented);
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
    let hdr = &frame.header;
    a.flow.observe(Observed {
        sequence: hdr.sequence,
        captured: times.captured,
        published: times.published,
        received: times.received,
        bytes: frame.bytes(),
        decode_ms: decoded - a.decode_started_ms,
        draw_ms: drawn - decoded,
    });
}

/// Tells the edge how far we got: it holds frames back (instead of letting them queue in
/// the broker) while we are behind, and lets as many be on their way as the link and the
/// decoder need (`flow`). Acknowledging drawn rather than received frames covers a slow
/// decoder too; waiting for the screen would cost a display frame.
fn ack(a: &mut App, sequence: u64, rendition: Rendition) {
    if let Some(c) = a.viewer_topics.clone() {
        let window = ack_window(a);
        let ack = Ack { sequence, window: Some(window), rendition };
        a.session.publish(&c.ack, &ack.encode());
        flush(a);
    }
}

fn warn_throttled(a: &mut App, what: &str) {
    let now = now_ms();
    if now - a.last_warning_ms > 5000.0 {
        a.last_warning_ms = now;
        web_sys::console::warn_1(&format!("mqcam viewer: {what} (counted in errors)").into());
    }
}

/// Stats refresh (4× a second) and MQTT keep-alive.
fn start_timers(app: &Shared) -> Result<(), JsValue> {
    let weak = Rc::downgrade(app);
    let tick = Closure::<dyn FnMut()>::new(move || {
        let Some(app) = weak.upgrade() else { return };
        let dead = {
            let mut a = app.borrow_mut();
            // MQTT keep-alive: PINGREQ now and then, dead when one goes unanswered.
            let dead = a.session.tick(now_ms());
            flush(&mut a);
            request_clock(&mut a);
            if a.frames.is_some() && a.next.is_none() {
                if let Some(r) = a.adapt.decide(now_ms()) {
                    switch_rendition(&mut a, r);
                }
            }
            // No animation frame for half a second (a browser that throttles them):
            // count those frames as of their draw rather than not at all.
            if a.unpresented.first().is_some_and(|(t, ..)| now_ms() - t.drawn > 500.0) {
                presented(&mut a, None);
            }
            render(&mut a);
            dead
        };
        if let Some(why) = dead {
            lost(&app, why);
        }
    });
    scope().set_interval(tick.as_ref().unchecked_ref(), 250)?;
    // The timer runs for the life of the page.
    tick.forget();
    Ok(())
}

/// Asks the edge for its time: quickly until a few samples are in, then now and then
/// to follow drift and catch a faster exchange.
/// Clock requests from the timer: while frames flow they go with the acknowledgements
/// instead (see [`ack_window`]), when the link is quiet.
fn request_clock(a: &mut App) {
    if a.link != Link::Live || a.last_frame_ms.is_some_and(|t| now_ms() - t < 1000.0) {
        return;
    }
    if now_ms() - a.last_clock_request_ms >= clock_every(a) {
        send_clock_request(a);
    }
}

/// How often to refresh the clock offset: fast until it is known well.
fn clock_every(a: &App) -> f64 {
    if a.clock.len() < CLOCK_FIRST_SAMPLES {
        CLOCK_FAST_MS
    } else {
        CLOCK_REFRESH_MS
    }
}

fn send_clock_request(a: &mut App) {
    let Some(topics) = &a.viewer_topics else { return };
    a.last_clock_request_ms = now_ms();
    a.session.publish(&topics.request, &clock::request(now_ms()));
    flush(a);
}

/// Writes the numbers to the overlay text and to `#stats`' data attributes.
fn render(a: &mut App) {
    let now = now_ms();
    let fps = a.stats.fps(now);
    let p50 = a.stats.latency_percentile(50.0);
    let p95 = a.stats.latency_percentile(95.0);
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    let mut attrs: Vec<(String, String)> = Vec::with_capacity(48);
    let mut set = |k: &str, v: &str| attrs.push((k.to_string(), v.to_string()));
    set("data-connected", if a.link == Link::Live { "true" } else { "false" });
    set("data-frames", &a.stats.frames.to_string());
    set("data-fps", &format!("{fps:.1}"));
    set("data-latency-p50-ms", &fmt(p50));
    set("data-latency-p95-ms", &fmt(p95));
    set("data-latency-p99-ms", &fmt(a.stats.latency_percentile(99.0)));
    set("data-latency-last-ms", &fmt(a.stats.last_latency));
    set("data-dropped", &a.stats.dropped.to_string());
    set("data-errors", &a.stats.errors.to_string());
    set("data-overdrawn", &a.stats.overdrawn.to_string());
    set("data-width", &a.stats.width.to_string());
    set("data-height", &a.stats.height.to_string());
    let clock = a.clock.best();
    set("data-clock-synced", if clock.is_some() { "true" } else { "false" });
    set("data-clock-samples", &a.clock.len().to_string());
    set("data-clock-offset-ms", &fmt(clock.map(|c| c.offset_ms)));
    set("data-clock-uncertainty-ms", &fmt(clock.map(|c| c.rtt_ms / 2.0)));
    for stage in Stage::ALL {
        for p in [50, 95, 99] {
            let v = a.stats.percentile(stage, p as f64);
            set(&format!("data-stage-{}-p{p}-ms", stage.name()), &fmt(v));
        }
    }
    let flow = a.flow.estimate(clock.map(|c| c.rtt_ms));
    set("data-flow-window", &flow.map_or(1, |f| f.window).to_string());
    set("data-frame-interval-ms", &fmt(flow.map(|f| f.frame_interval_ms)));
    set("data-link-kbps", &fmt(flow.and_then(|f| f.link_bytes_per_s).map(|b| b * 8.0 / 1000.0)));
    let topic = match (&a.shown, &a.frames) {
        (Some(camera), _) => camera.clone(),
        (None, Some(topic)) => topic.clone(),
        (None, None) => format!("{} cameras", a.cams.len()),
    };
    let age = a.last_frame_ms.map(|t| (now - t) / 1000.0);
    let ago = match age {
        Some(s) if s < 90.0 => format!("last frame {s:.0} s ago"),
        Some(s) if s < 5400.0 => format!("last frame {:.0} min ago", s / 60.0),
        Some(s) => format!("last frame {:.1} h ago", s / 3600.0),
        None => "no frame yet".to_string(),
    };
    let camera_offline = a.camera.as_ref().filter(|c| c.state == "offline");
    let state = match (&a.link, camera_offline) {
        (Link::Live, Some(c)) => format!("camera offline ({}) · {ago}", c.detail),
        (Link::Live, None) => format!("● live · {topic}"),
        (Link::Connecting, _) => "connecting…".to_string(),
        (Link::Down(r), _) => format!("reconnecting: {r} · {ago}"),
        (Link::Stopped(r), _) => r.clone(),
        (Link::Paused, _) => "paused while the tab is hidden".to_string(),
        (Link::NeedLogin(why), _) => format!("login needed: {why}"),
    };
    set("data-camera-state", a.camera.as_ref().map_or("unknown", |c| c.state.as_str()));
    set("data-camera", a.shown.as_deref().unwrap_or_default());
    set("data-paused", if a.paused { "true" } else { "false" });
    set("data-switches", &a.switch.count.to_string());
    set("data-switch-ms", &fmt(a.switch.first_ms));
    set("data-switch-full-ms", &fmt(a.switch.full_ms));
    set("data-rendition", a.rendition.name());
    set("data-frame-seq", &a.main_sequence.to_string());
    set("data-detections", &a.marks_drawn.0.to_string());
    set("data-detections-seq", &a.marks_drawn.1.map(|s| s.to_string()).unwrap_or_default());
    set("data-detections-producers", &a.marks.producers());
    set("data-detections-lag-ms", &fmt(a.marks.lag_ms()));
    set("data-rendition-pinned", a.adapt.pinned().map_or("", Rendition::name));
    set("data-rendition-next", a.next.as_ref().map_or("", |n| n.1.name()));
    set("data-link-estimate-kbps", &fmt(a.adapt.link().map(|b| b * 8.0 / 1000.0)));
    set("data-last-frame-age-s", &fmt(age));
    set("data-state", &state);
    if let Some(ms) = a.first_frame_ms {
        set("data-first-frame-ms", &format!("{ms:.1}"));
    }
    if let Some(ms) = a.first_picture_ms {
        set("data-first-picture-ms", &format!("{ms:.1}"));
    }
    let latency = match (p50, p95) {
        (Some(p50), Some(p95)) => format!("{p50:.0} ms (p95 {p95:.0})"),
        _ => "–".to_string(),
    };
    let mut clock_line = match clock {
        Some(c) => format!("clock offset {:+.1} ms ± {:.1}", c.offset_ms, c.rtt_ms / 2.0),
        None => "clock offset: not measured (same clock assumed)".to_string(),
    };
    if let Some(f) = flow {
        clock_line += &format!(" · {} in flight", f.window);
        if let Some(b) = f.link_bytes_per_s {
            clock_line += &format!(" · link {:.1} Mbit/s", b * 8.0 / 1e6);
        }
    }
    let stages = |p: f64| {
        let parts: Vec<String> = Stage::ALL[..6]
            .iter()
            .filter_map(|st| a.stats.percentile(*st, p).map(|v| format!("{} {v:.1}", st.label())))
            .collect();
        if parts.is_empty() {
            "–".to_string()
        } else {
            parts.join(" · ")
        }
    };
    let text = format!(
        "{state}\n{fps:.1} fps · latency {latency}\np50 ms: {}\np95 ms: {}\n{clock_line}\n{}×{} · {} frames · {} dropped · {} errors",
        stages(50.0),
        stages(95.0),
        a.stats.width,
        a.stats.height,
        a.stats.frames,
        a.stats.dropped,
        a.stats.errors
    );
    if a.prefix.is_some() {
        send_cameras(a);
    }
    // Only what changed goes out (4 times a second, even with nothing new).
    let view = (attrs, text);
    if a.last_view.as_ref() != Some(&view) {
        (a.sink)(Output::View { attrs: view.0.clone(), text: view.1.clone() });
        a.last_view = Some(view);
    }
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| format!("{v:?}"))
}
