//! The browser side: WebSocket ⇢ MQTT ⇢ wire ⇢ `createImageBitmap` ⇢ canvas ⇢ stats.
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
use web_sys::{
    BinaryType, Blob, BlobPropertyBag, CanvasRenderingContext2d, CloseEvent, HtmlCanvasElement, HtmlElement,
    ImageBitmap, MessageEvent, WebSocket,
};

use crate::{
    clock::{self, ClockSync},
    mqtt::{self, Packet},
    stats::{flow_window, FrameTimes, Stage, Stats},
    target::{self, EdgeInfo, Query, Target},
};

/// MQTT keep-alive the viewer asks for; PINGREQ goes out at half of it.
const KEEP_ALIVE_S: u16 = 30;
/// Largest MQTT packet accepted from the broker (the edge's payload limit + headers).
const MAX_PACKET: usize = 9 * 1024 * 1024;
/// Clock-offset requests: a quick burst first (the more exchanges, the likelier one
/// was not delayed by a busy CPU or network), then a refresh now and then.
const CLOCK_FIRST_SAMPLES: usize = 20;
const CLOCK_FAST_MS: f64 = 100.0;
const CLOCK_REFRESH_MS: f64 = 2000.0;
/// MQTT packet ids of our two subscriptions.
const SUB_FRAMES: u16 = 1;
const SUB_CLOCK: u16 = 2;
const SUB_STATUS: u16 = 3;
/// Reconnect backoff bounds.
const RETRY_FIRST_MS: f64 = 250.0;
const RETRY_CAP_MS: f64 = 5000.0;

fn window() -> web_sys::Window {
    web_sys::window().expect("the viewer runs in a page with a window")
}

fn document() -> web_sys::Document {
    window().document().expect("the page has a document")
}

/// Wall-clock now in ms since the epoch, with sub-ms precision (frames carry µs).
fn now_ms() -> f64 {
    match window().performance() {
        Some(p) => p.time_origin() + p.now(),
        None => js_sys::Date::now(),
    }
}

fn element<T: JsCast>(id: &str) -> T {
    document()
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("index.html has an element #{id}"))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("#{id} has the expected element type"))
}

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
    jpeg: Uint8Array,
    /// When its last bytes arrived (viewer ms).
    received_ms: f64,
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
        })
    }
}

struct App {
    target: Option<Target>,
    client_id: String,
    /// Username and password for the broker, from the URL fragment or the form.
    login: Option<(String, String)>,
    viewer_topics: Option<ViewerTopics>,
    clock: ClockSync,
    last_clock_request_ms: f64,
    camera: Option<CameraStatus>,
    last_frame_ms: Option<f64>,
    /// (sequence, capture time) of the last frame received, to skip a duplicate.
    last_received: Option<(u64, u64)>,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    stats_el: HtmlElement,
    stats: Stats,
    link: Link,
    socket: Option<Socket>,
    decoder: mqtt::Decoder,
    pending: Option<Pending>,
    decoding: bool,
    retry_ms: f64,
    last_ping_ms: f64,
    ping_outstanding: bool,
    last_warning_ms: f64,
}

type Shared = Rc<RefCell<App>>;

/// Entry point: finds the target, connects, and starts the stats timer.
pub async fn run() -> Result<(), JsValue> {
    let canvas: HtmlCanvasElement = element("view");
    let ctx = canvas
        .get_context("2d")?
        .ok_or("canvas 2d context unavailable")?
        .dyn_into::<CanvasRenderingContext2d>()?;
    let client_id = format!("mqcam-view-{:08x}", (js_sys::Math::random() * 4e9) as u32);
    let app = Rc::new(RefCell::new(App {
        target: None,
        client_id,
        login: initial_login(),
        viewer_topics: None,
        clock: ClockSync::default(),
        last_clock_request_ms: f64::NEG_INFINITY,
        camera: None,
        last_frame_ms: None,
        last_received: None,
        canvas,
        ctx,
        stats_el: element("stats"),
        stats: Stats::default(),
        link: Link::Connecting,
        socket: None,
        decoder: mqtt::Decoder::new(MAX_PACKET),
        pending: None,
        decoding: false,
        retry_ms: RETRY_FIRST_MS,
        last_ping_ms: 0.0,
        ping_outstanding: false,
        last_warning_ms: f64::NEG_INFINITY,
    }));
    start_timers(&app)?;
    watch_login_form(&app)?;

    let location = window().location();
    let query = read_query(&location.search()?)?;
    // A page told both the broker and the camera needs nothing from `edge.json` (and a
    // static host has none: one request and a console error saved).
    let told = query.broker.is_some() && (query.topic.is_some() || query.camera.is_some());
    let edge = if told { None } else { fetch_edge_info().await };
    match target::resolve(&query, edge.as_ref(), &location.protocol()?, &location.hostname()?) {
        Ok(t) => {
            {
                let mut a = app.borrow_mut();
                a.viewer_topics = ViewerTopics::for_frames(&t.topic, &a.client_id);
                a.target = Some(t);
            }
            watch_visibility(&app)?;
            if document().hidden() {
                app.borrow_mut().link = Link::Paused;
            } else {
                open(&app);
            }
        }
        Err(e) => app.borrow_mut().link = Link::Stopped(e),
    }
    render(&mut app.borrow_mut());
    // Callbacks and timers hold only weak references, so this one keeps the viewer
    // alive: it lives exactly as long as the page.
    std::mem::forget(app);
    Ok(())
}

/// Session-storage keys of the login typed into the form: kept for this tab only.
const STORED_USER: &str = "mqcam-username";
const STORED_PASSWORD: &str = "mqcam-password";

/// The username when a link gives only a password (the edge's generated login).
const DEFAULT_USER: &str = "viewer";

/// A login from the URL fragment (`#password=…`, optionally `&username=…`: browsers
/// never send the fragment to a server), else one given earlier in this tab. One from
/// the fragment is kept for the tab and taken out of the address bar at once, so it
/// does not stay on screen, in the history or in a link shared from there.
fn initial_login() -> Option<(String, String)> {
    let location = window().location();
    let hash = location.hash().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(hash.trim_start_matches('#')).ok()?;
    let store = window().session_storage().ok().flatten();
    if let Some(password) = params.get("password") {
        let user = params.get("username").unwrap_or_else(|| DEFAULT_USER.to_string());
        if let Some(store) = &store {
            let _ = store.set_item(STORED_USER, &user);
            let _ = store.set_item(STORED_PASSWORD, &password);
        }
        params.delete("password");
        params.delete("username");
        let rest = String::from(params.to_string());
        let rest = if rest.is_empty() { rest } else { format!("#{rest}") };
        let url = format!("{}{}{rest}", location.pathname().ok()?, location.search().ok()?);
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
        }
        return Some((user, password));
    }
    let store = store?;
    Some((store.get_item(STORED_USER).ok()??, store.get_item(STORED_PASSWORD).ok()??))
}

/// The login form: shown when the broker refuses, it connects again with what is typed.
fn watch_login_form(app: &Shared) -> Result<(), JsValue> {
    let form: web_sys::HtmlFormElement = element("login");
    let weak = Rc::downgrade(app);
    let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        e.prevent_default();
        let Some(app) = weak.upgrade() else { return };
        let user = element::<web_sys::HtmlInputElement>("login-user").value();
        let password = element::<web_sys::HtmlInputElement>("login-password").value();
        if let Ok(Some(store)) = window().session_storage() {
            let _ = store.set_item(STORED_USER, &user);
            let _ = store.set_item(STORED_PASSWORD, &password);
        }
        element::<HtmlElement>("login").set_hidden(true);
        {
            let mut a = app.borrow_mut();
            a.login = Some((user, password));
            a.link = Link::Connecting;
            a.retry_ms = RETRY_FIRST_MS;
        }
        open(&app);
        render(&mut app.borrow_mut());
    });
    form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref())?;
    on_submit.forget();
    Ok(())
}

/// Stops retrying and asks for a login, saying why.
fn ask_login(app: &Shared, why: String) {
    let mut a = app.borrow_mut();
    a.socket = None;
    element::<HtmlElement>("login-why").set_text_content(Some(&why));
    let user = a.login.as_ref().map_or(DEFAULT_USER, |(user, _)| user.as_str());
    element::<web_sys::HtmlInputElement>("login-user").set_value(user);
    element::<HtmlElement>("login").set_hidden(false);
    a.link = Link::NeedLogin(why);
}

fn read_query(search: &str) -> Result<Query, JsValue> {
    let p = web_sys::UrlSearchParams::new_with_str(search)?;
    Ok(Query { broker: p.get("broker"), topic: p.get("topic"), camera: p.get("camera") })
}

/// `edge.json` next to the page, if an edge served it; `None` on any static host.
async fn fetch_edge_info() -> Option<EdgeInfo> {
    let resp = JsFuture::from(window().fetch_with_str("edge.json")).await.ok()?;
    let resp: web_sys::Response = resp.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    let json = JsFuture::from(resp.json().ok()?).await.ok()?;
    let string = |k: &str| Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_string());
    let number = |k: &str| Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_f64());
    Some(EdgeInfo {
        broker: string("broker"),
        ws_port: number("ws_port").map(|p| p as u16),
        ws_path: string("ws_path"),
        topic: string("topic"),
    })
}

/// A hidden tab disconnects and a shown one reconnects: a phone in a pocket should not
/// spend its data plan and battery on frames nobody sees, and background tabs' throttled
/// timers would miss keep-alives anyway. The listener lives as long as the page.
fn watch_visibility(app: &Shared) -> Result<(), JsValue> {
    let weak = Rc::downgrade(app);
    let on_change = Closure::<dyn FnMut()>::new(move || {
        let Some(app) = weak.upgrade() else { return };
        if document().hidden() {
            let mut a = app.borrow_mut();
            if matches!(a.link, Link::NeedLogin(_) | Link::Stopped(_)) {
                return; // nothing is connected or retrying
            }
            a.link = Link::Paused;
            // Dropping the socket closes it; its close handler is gone, so no retry.
            a.socket = None;
        } else if app.borrow().link == Link::Paused {
            {
                let mut a = app.borrow_mut();
                a.link = Link::Connecting;
                a.retry_ms = RETRY_FIRST_MS;
            }
            open(&app);
        }
        render(&mut app.borrow_mut());
    });
    document().add_event_listener_with_callback("visibilitychange", on_change.as_ref().unchecked_ref())?;
    on_change.forget();
    Ok(())
}

/// Opens a socket to the target broker; MQTT CONNECT goes out when it opens.
fn open(app: &Shared) {
    if app.borrow().link == Link::Paused {
        return; // a retry timer that fired after the tab was hidden
    }
    let Some(target) = app.borrow().target.clone() else {
        return;
    };
    let ws = match WebSocket::new_with_str(&target.broker, "mqtt") {
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
            let a = app.borrow();
            // If this page goes away without a word (tab closed, phone asleep), the broker
            // tells the edge at once with an empty acknowledgement, so the edge stops
            // waiting for this viewer straight away.
            let will = a.viewer_topics.as_ref().map(|c| mqtt::Will { topic: &c.ack, payload: b"" });
            let login = a.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            send(&a, &mqtt::connect(&a.client_id, KEEP_ALIVE_S, will, login));
            // MQTT lets a client send more before the CONNACK: subscribing now saves a
            // round trip before the first frame.
            send(&a, &subscriptions(&a));
        }
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let weak = weak.clone();
        move |e: MessageEvent| {
            // First thing: this is the "received" time of whatever the message completes.
            let at = now_ms();
            let Some(app) = weak.upgrade() else { return };
            if let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() {
                received(&app, &Uint8Array::new(&buf).to_vec(), at);
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
    a.decoder = mqtt::Decoder::new(MAX_PACKET);
    a.ping_outstanding = false;
    a.last_ping_ms = now_ms();
    a.link = Link::Connecting;
    a.socket = Some(Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close });
}

/// The SUBSCRIBE packets for the frame topic and this viewer's clock replies.
fn subscriptions(a: &App) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(t) = &a.target {
        out.extend(mqtt::subscribe(SUB_FRAMES, &t.topic, 0));
    }
    if let Some(c) = &a.viewer_topics {
        out.extend(mqtt::subscribe(SUB_CLOCK, &c.reply, 0));
        out.extend(mqtt::subscribe(SUB_STATUS, &c.status, 0));
    }
    out
}

fn send(app: &App, bytes: &[u8]) {
    if let Some(s) = &app.socket {
        // A send on a closing socket throws; the close handler deals with the outcome.
        let _ = s.ws.send_with_u8_array(bytes);
    }
}

/// Drops the socket and schedules a reconnect with exponential backoff and jitter.
fn lost(app: &Shared, reason: String) {
    let delay = {
        let mut a = app.borrow_mut();
        a.socket = None;
        if matches!(a.link, Link::Stopped(_) | Link::Paused | Link::NeedLogin(_)) {
            return;
        }
        a.link = Link::Down(reason);
        let d = a.retry_ms * (0.75 + js_sys::Math::random() * 0.5);
        a.retry_ms = (a.retry_ms * 2.0).min(RETRY_CAP_MS);
        d
    };
    let weak = Rc::downgrade(app);
    let retry = Closure::once_into_js(move || {
        if let Some(app) = weak.upgrade() {
            open(&app);
        }
    });
    let _ =
        window().set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay as i32);
}

/// Bytes from the socket (arrived at `at`): decode every whole MQTT packet in them.
fn received(app: &Shared, bytes: &[u8], at: f64) {
    let mut failure = None;
    let mut refused_login = None;
    {
        let mut guard = app.borrow_mut();
        let a = &mut *guard;
        a.decoder.push(bytes);
        let topic = a.target.as_ref().map(|t| t.topic.clone()).unwrap_or_default();
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut frames: Vec<Pending> = Vec::new();
        let mut bad = 0u64;
        loop {
            match a.decoder.next_packet() {
                Ok(None) => break,
                Ok(Some(Packet::ConnAck { code: 0, .. })) => {}
                // Bad username or password, or not authorized: retrying cannot help.
                Ok(Some(Packet::ConnAck { code: code @ (4 | 5), .. })) => {
                    refused_login = Some(match a.login {
                        Some(_) => format!("The broker refused the login ({}).", mqtt::connack_reason(code)),
                        None => "This camera needs a login.".to_string(),
                    });
                    break;
                }
                Ok(Some(Packet::ConnAck { code, .. })) => {
                    failure = Some(format!("broker refused the connection: {}", mqtt::connack_reason(code)));
                    break;
                }
                Ok(Some(Packet::SubAck { packet_id: SUB_CLOCK, codes })) => {
                    // Without clock replies latency assumes one clock (offset 0).
                    if codes.first() == Some(&0x80) {
                        a.viewer_topics = None;
                    }
                }
                Ok(Some(Packet::SubAck { codes, .. })) => {
                    if codes.first() == Some(&0x80) {
                        failure = Some(format!("broker refused the subscription to {topic}"));
                        break;
                    }
                    a.link = Link::Live;
                    a.retry_ms = RETRY_FIRST_MS;
                }
                Ok(Some(Packet::Publish { topic: t, payload, packet_id, .. })) => {
                    if let Some(id) = packet_id {
                        replies.push(mqtt::puback(id));
                    }
                    if t == topic && payload.is_empty() {
                        // The edge cleared its retained frame as it stopped: no picture.
                    } else if t == topic {
                        match frame(payload, at) {
                            // Subscribing while a frame is published can bring it twice:
                            // the broker's retained copy and the live one.
                            Some(f) if a.last_received == Some((f.header.sequence, f.header.capture_us)) => {}
                            Some(f) => {
                                a.last_received = Some((f.header.sequence, f.header.capture_us));
                                frames.push(f);
                            }
                            None => bad += 1,
                        }
                    } else if a.viewer_topics.as_ref().is_some_and(|c| c.status == t) {
                        a.camera = parse_status(payload);
                    } else if a.viewer_topics.as_ref().is_some_and(|c| c.reply == t) {
                        if let Some((t1, t2, t3)) = clock::parse_reply(payload) {
                            let first = a.clock.is_empty();
                            if a.clock.add(t1, t2, t3, at).is_some() && first {
                                // Latencies so far assumed one clock; drop them.
                                a.stats.clear_stages();
                            }
                        }
                    }
                }
                Ok(Some(Packet::PingResp)) => a.ping_outstanding = false,
                Ok(Some(Packet::UnsubAck { .. })) => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        for r in replies {
            send(a, &r);
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
    decode_next(app);
}

/// The camera status JSON (`{"state":…,"detail":…}`); `None` if it is not that.
fn parse_status(payload: &[u8]) -> Option<CameraStatus> {
    let text = std::str::from_utf8(payload).ok()?;
    let json = js_sys::JSON::parse(text).ok()?;
    let field = |k: &str| Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_string());
    Some(CameraStatus { state: field("state")?, detail: field("detail").unwrap_or_default() })
}

/// Checks a payload cheaply and copies the JPEG into JavaScript memory once.
fn frame(payload: &[u8], received_ms: f64) -> Option<Pending> {
    let (header, jpeg) = wire::parse(payload).ok()?;
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return None;
    }
    Some(Pending { header, jpeg: Uint8Array::from(jpeg), received_ms })
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
        p
    };
    let promise = (|| -> Result<js_sys::Promise, JsValue> {
        let options = BlobPropertyBag::new();
        options.set_type("image/jpeg");
        let blob = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&pending.jpeg), &options)?;
        window().create_image_bitmap_with_blob(&blob)
    })();
    let app = app.clone();
    spawn_local(async move {
        let result = match promise {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        {
            let mut a = app.borrow_mut();
            a.decoding = false;
            match result.and_then(|b| b.dyn_into::<ImageBitmap>()) {
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
    if a.canvas.width() != w || a.canvas.height() != h {
        a.canvas.set_width(w);
        a.canvas.set_height(h);
    }
    let _ = a.ctx.draw_image_with_image_bitmap(bitmap, 0.0, 0.0);
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
    };
    a.last_frame_ms = Some(drawn);
    if a.stats.frames == 0 {
        // Time from navigation start to the first picture, for page-load measurements.
        if let Some(p) = window().performance() {
            let _ = a.stats_el.set_attribute("data-first-frame-ms", &format!("{:.1}", p.now()));
        }
    }
    a.stats.drawn(&times, w, h);
    // Tell the edge how far we got: it holds frames back (instead of letting them queue
    // in the broker) while we are behind. Acknowledging drawn rather than received frames
    // covers a slow decoder too; the edge's window keeps the next frame already on its way.
    if let Some(c) = &a.viewer_topics {
        let per_frame = a
            .stats
            .percentile(Stage::ReceivedDecoded, 50.0)
            .map(|d| d + a.stats.percentile(Stage::DecodedDrawn, 50.0).unwrap_or(0.0));
        let window = flow_window(a.clock.best().map(|c| c.rtt_ms), per_frame);
        let mut ack = [0u8; 9];
        ack[..8].copy_from_slice(&hdr.sequence.to_le_bytes());
        ack[8] = window;
        send(a, &mqtt::publish(&c.ack, &ack));
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
            let dead = keep_alive(&mut a);
            request_clock(&mut a);
            render(&mut a);
            dead
        };
        if dead {
            lost(&app, "broker stopped answering pings".into());
        }
    });
    window().set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), 250)?;
    // The timer runs for the life of the page.
    tick.forget();
    Ok(())
}

/// Asks the edge for its time: quickly until a few samples are in, then now and then
/// to follow drift and catch a faster exchange.
fn request_clock(a: &mut App) {
    let Some(topics) = &a.viewer_topics else { return };
    if a.link != Link::Live {
        return;
    }
    let now = now_ms();
    let every = if a.clock.len() < CLOCK_FIRST_SAMPLES { CLOCK_FAST_MS } else { CLOCK_REFRESH_MS };
    if now - a.last_clock_request_ms < every {
        return;
    }
    a.last_clock_request_ms = now;
    let packet = mqtt::publish(&topics.request, &clock::request(now_ms()));
    send(a, &packet);
}

/// Sends PINGREQ at half the keep-alive; true when the last one went unanswered.
fn keep_alive(a: &mut App) -> bool {
    if a.link != Link::Live {
        return false;
    }
    let now = now_ms();
    if now - a.last_ping_ms < f64::from(KEEP_ALIVE_S) * 500.0 {
        return false;
    }
    if a.ping_outstanding {
        return true;
    }
    a.last_ping_ms = now;
    a.ping_outstanding = true;
    send(a, &mqtt::PINGREQ);
    false
}

/// Writes the numbers to the overlay text and to `#stats`' data attributes.
fn render(a: &mut App) {
    let now = now_ms();
    let fps = a.stats.fps(now);
    let p50 = a.stats.latency_percentile(50.0);
    let p95 = a.stats.latency_percentile(95.0);
    let el = &a.stats_el;
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    let set = |k: &str, v: &str| {
        let _ = el.set_attribute(k, v);
    };
    set("data-connected", if a.link == Link::Live { "true" } else { "false" });
    set("data-frames", &a.stats.frames.to_string());
    set("data-fps", &format!("{fps:.1}"));
    set("data-latency-p50-ms", &fmt(p50));
    set("data-latency-p95-ms", &fmt(p95));
    set("data-latency-p99-ms", &fmt(a.stats.latency_percentile(99.0)));
    set("data-dropped", &a.stats.dropped.to_string());
    set("data-errors", &a.stats.errors.to_string());
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
    let topic = a.target.as_ref().map(|t| t.topic.as_str()).unwrap_or_default();
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
    set("data-camera", a.camera.as_ref().map_or("unknown", |c| c.state.as_str()));
    set("data-last-frame-age-s", &fmt(age));
    set("data-state", &state);
    let latency = match (p50, p95) {
        (Some(p50), Some(p95)) => format!("{p50:.0} ms (p95 {p95:.0})"),
        _ => "–".to_string(),
    };
    let clock_line = match clock {
        Some(c) => format!("clock offset {:+.1} ms ± {:.1}", c.offset_ms, c.rtt_ms / 2.0),
        None => "clock offset: not measured (same clock assumed)".to_string(),
    };
    let stages = |p: f64| {
        let parts: Vec<String> = Stage::ALL[..5]
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
    if el.text_content().as_deref() != Some(text.as_str()) {
        el.set_text_content(Some(&text));
    }
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| format!("{v:?}"))
}
