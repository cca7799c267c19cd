//! The engine in a dedicated worker, and the messages between it and the page.
//!
//! The engine is a module of its own (`viewer-engine`, beside the page's `viewer-page`),
//! which `www/early.js` compiles as soon as the page's head is read and hands to the
//! worker (`{type: "module", module, resources}`, read by early.js's loader). The engine
//! is then started by one of two messages: `{type: "begin", canvas, inputs, boot}` from
//! early.js, which transferred the `<canvas>` and sends what the page starts from (the
//! engine works the plan out itself, `page::plan`: the first picture does not wait for
//! the page's module), or [`Start`] from the page's module, with what it worked out
//! (where early.js could not: a static host without `/edge.json` in the page). Where a
//! canvas cannot be handed to a worker, the page loads the engine's module itself and
//! [`page_engine`] takes the same messages as calls. After that:
//!
//! ```text
//! page → worker   {type: "dial", broker}            open the socket now (read by early.js)
//!                 {type: "login", user, password}   a login typed into the form
//!                 {type: "hidden", hidden}          the tab was hidden or shown
//!                 {type: "snapshot"}                asks for the picture on screen
//!                 {type: "show", camera, at}        show a camera (null: the grid), asked at `at`
//!                 {type: "pause", paused}           pause or go on
//!                 {type: "tile", camera, canvas}    a tile's OffscreenCanvas, transferred
//!                 {type: "quality", rendition}      pin a rendition (null: choose by itself)
//!                 {type: "marks", canvas}           the detections overlay's OffscreenCanvas
//!                 {type: "turn", degrees, mirror}   how the page turns the picture
//!                 {type: "recordings", open, at}    the camera's recordings (false: live)
//!                 {type: "rec", op, v, at}          seek/play/pause/step/jump/mark (`Command`)
//! worker → page   {type: "grid"}                            started by early.js on the grid
//!                 {type: "view", attrs: [k, v, …], text}   #stats and the overlay
//!                 {type: "login", why, user}                show the login form
//!                 {type: "cameras", list: [{name, state, detail, previews, age, alarm, recording}]}
//!                 {type: "snapshot", blob}                  the picture, a JPEG Blob
//!                 {type: "timeline", bytes}                 a timeline reply (Uint8Array)
//!                 {type: "position", us}                    a recorded frame drawn, its time
//! ```
//!
//! Both sides build and read them here, and nowhere else.

use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{prelude::*, JsCast};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, OffscreenCanvas};

use crate::{
    bus::cameras::CameraInfo,
    engine::{self, Init, Output},
    page::{
        plan::{field, Inputs, Plan},
        target::Target,
    },
    picture::draw::Surface,
    playback::player::Command,
};

/// Messages from the page to the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum ToWorker {
    LogIn {
        user: String,
        password: String,
    },
    Hidden(bool),
    Snapshot,
    Show {
        camera: Option<String>,
        at_ms: f64,
    },
    Pause(bool),
    /// A tile's canvas: an `OffscreenCanvas` transferred to a worker, or the `<canvas>`.
    Tile {
        camera: String,
        canvas: JsValue,
    },
    /// Pin a rendition by name (`full`, `half`, `quarter`), or `None`: automatic.
    Quality(Option<String>),
    /// The overlay canvas detections are drawn on, transferred.
    Marks(JsValue),
    /// How the page turns the picture (CSS), so labels are drawn to read upright.
    Turn {
        degrees: u32,
        mirror: bool,
    },
    /// The camera's recordings (`false`: back to live), asked at `at_ms`.
    Recordings {
        open: bool,
        at_ms: f64,
    },
    /// What the user asks of the playback, at `at_ms`.
    Playback {
        command: Command,
        at_ms: f64,
    },
}

/// Messages from the worker to the page, besides a snapshot's `Blob`.
pub type ToPage = Output;

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        let _ = Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

fn string(o: &JsValue, k: &str) -> String {
    field(o, k).as_string().unwrap_or_default()
}

impl ToWorker {
    pub fn to_js(&self) -> JsValue {
        match self {
            ToWorker::LogIn { user, password } => {
                object(&[("type", "login".into()), ("user", user.into()), ("password", password.into())])
            }
            ToWorker::Hidden(hidden) => object(&[("type", "hidden".into()), ("hidden", (*hidden).into())]),
            ToWorker::Snapshot => object(&[("type", "snapshot".into())]),
            ToWorker::Show { camera, at_ms } => object(&[
                ("type", "show".into()),
                ("camera", camera.as_deref().map_or(JsValue::NULL, JsValue::from)),
                ("at", (*at_ms).into()),
            ]),
            ToWorker::Pause(paused) => object(&[("type", "pause".into()), ("paused", (*paused).into())]),
            ToWorker::Tile { camera, canvas } => {
                object(&[("type", "tile".into()), ("camera", camera.into()), ("canvas", canvas.clone())])
            }
            ToWorker::Quality(r) => object(&[
                ("type", "quality".into()),
                ("rendition", r.as_deref().map_or(JsValue::NULL, JsValue::from)),
            ]),
            ToWorker::Marks(canvas) => object(&[("type", "marks".into()), ("canvas", canvas.clone())]),
            ToWorker::Turn { degrees, mirror } => object(&[
                ("type", "turn".into()),
                ("degrees", (*degrees).into()),
                ("mirror", (*mirror).into()),
            ]),
            ToWorker::Recordings { open, at_ms } => {
                object(&[("type", "recordings".into()), ("open", (*open).into()), ("at", (*at_ms).into())])
            }
            ToWorker::Playback { command, at_ms } => {
                let (op, v) = command.to_parts();
                object(&[("type", "rec".into()), ("op", op.into()), ("v", v.into()), ("at", (*at_ms).into())])
            }
        }
    }

    pub fn from_js(v: &JsValue) -> Option<ToWorker> {
        Some(match string(v, "type").as_str() {
            "login" => ToWorker::LogIn { user: string(v, "user"), password: string(v, "password") },
            "hidden" => ToWorker::Hidden(field(v, "hidden").as_bool()?),
            "snapshot" => ToWorker::Snapshot,
            "show" => {
                ToWorker::Show { camera: field(v, "camera").as_string(), at_ms: field(v, "at").as_f64()? }
            }
            "pause" => ToWorker::Pause(field(v, "paused").as_bool()?),
            "tile" => ToWorker::Tile { camera: string(v, "camera"), canvas: field(v, "canvas") },
            "quality" => ToWorker::Quality(field(v, "rendition").as_string()),
            "marks" => ToWorker::Marks(field(v, "canvas")),
            "turn" => ToWorker::Turn {
                degrees: field(v, "degrees").as_f64()? as u32,
                mirror: field(v, "mirror").as_bool()?,
            },
            "recordings" => {
                ToWorker::Recordings { open: field(v, "open").as_bool()?, at_ms: field(v, "at").as_f64()? }
            }
            "rec" => ToWorker::Playback {
                command: Command::from_parts(&string(v, "op"), field(v, "v").as_f64()?)?,
                at_ms: field(v, "at").as_f64()?,
            },
            _ => return None,
        })
    }
}

pub fn output_to_js(out: &ToPage) -> JsValue {
    match out {
        Output::View { attrs, text } => {
            let flat: Array = attrs.iter().flat_map(|(k, v)| [JsValue::from(k), JsValue::from(v)]).collect();
            object(&[("type", "view".into()), ("attrs", flat.into()), ("text", text.into())])
        }
        Output::AskLogin { why, user } => {
            object(&[("type", "login".into()), ("why", why.into()), ("user", user.into())])
        }
        Output::Cameras(list) => {
            let list: Array = list
                .iter()
                .map(|c| {
                    let alarm = match &c.alarm {
                        Some((reason, at_us, source)) => object(&[
                            ("reason", reason.into()),
                            ("at_us", (*at_us as f64).into()),
                            ("source", source.into()),
                        ]),
                        None => JsValue::NULL,
                    };
                    object(&[
                        ("name", (&c.name).into()),
                        ("state", (&c.state).into()),
                        ("detail", (&c.detail).into()),
                        ("previews", c.previews.into()),
                        ("age", c.age_s.map_or(JsValue::NULL, JsValue::from)),
                        ("alarm", alarm),
                        ("recording", c.recording.into()),
                    ])
                })
                .collect();
            object(&[("type", "cameras".into()), ("list", list.into())])
        }
        Output::Timeline(bytes) => {
            object(&[("type", "timeline".into()), ("bytes", js_sys::Uint8Array::from(&bytes[..]).into())])
        }
        Output::Position(us) => object(&[("type", "position".into()), ("us", (*us as f64).into())]),
    }
}

fn camera_from_js(c: &JsValue) -> CameraInfo {
    let alarm = field(c, "alarm");
    CameraInfo {
        name: string(c, "name"),
        state: string(c, "state"),
        detail: string(c, "detail"),
        previews: field(c, "previews").as_f64().unwrap_or(0.0) as u32,
        age_s: field(c, "age").as_f64(),
        recording: field(c, "recording").as_bool().unwrap_or(false),
        alarm: (!alarm.is_null() && !alarm.is_undefined()).then(|| {
            (
                string(&alarm, "reason"),
                field(&alarm, "at_us").as_f64().unwrap_or(0.0) as u64,
                string(&alarm, "source"),
            )
        }),
    }
}

/// A message from the worker: an [`Output`], or a snapshot's `Blob` (`Err`).
pub fn output_from_js(v: &JsValue) -> Option<Result<ToPage, JsValue>> {
    Some(Ok(match string(v, "type").as_str() {
        "view" => {
            let flat: Array = field(v, "attrs").dyn_into().ok()?;
            let items: Vec<String> = flat.iter().map(|x| x.as_string().unwrap_or_default()).collect();
            let attrs = items.chunks(2).map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()));
            Output::View { attrs: attrs.collect(), text: string(v, "text") }
        }
        "login" => Output::AskLogin { why: string(v, "why"), user: string(v, "user") },
        "cameras" => {
            let list: Array = field(v, "list").dyn_into().ok()?;
            Output::Cameras(list.iter().map(|c| camera_from_js(&c)).collect())
        }
        "timeline" => Output::Timeline(field(v, "bytes").dyn_into::<js_sys::Uint8Array>().ok()?.to_vec()),
        "position" => Output::Position(field(v, "us").as_f64()? as u64),
        "snapshot" => return Some(Err(field(v, "blob"))),
        _ => return None,
    }))
}

/// Tells the worker's loader the broker as soon as the page knows it: it opens the
/// socket while the module is still loading (`www/early.js`, which may have dialled
/// already from its own guess: a socket to another URL is dropped).
pub fn dial(broker: &str) -> JsValue {
    object(&[("type", "dial".into()), ("broker", broker.into())])
}

/// The page's second message, as the page builds it.
pub struct Start<'a> {
    /// The picture's canvas: an `OffscreenCanvas` for a worker, the `<canvas>` on the page.
    pub canvas: &'a JsValue,
    pub init: &'a Init,
}

impl Start<'_> {
    pub fn to_js(&self) -> JsValue {
        let i = self.init;
        let (brokers, topic, error) = match &i.target {
            Ok(t) => {
                let brokers: Array = t.brokers.iter().map(JsValue::from).collect();
                (brokers.into(), JsValue::from(&t.topic), JsValue::NULL)
            }
            Err(e) => (JsValue::NULL, JsValue::NULL, JsValue::from(e)),
        };
        let login = match &i.login {
            Some((u, p)) => Array::of2(&u.into(), &p.into()).into(),
            None => JsValue::NULL,
        };
        object(&[
            ("canvas", self.canvas.clone()),
            ("brokers", brokers),
            ("topic", topic),
            ("error", error),
            ("clientId", (&i.client_id).into()),
            ("login", login),
            ("hidden", i.hidden.into()),
            ("pageTimeOrigin", i.page_time_origin.into()),
            ("grid", i.grid.into()),
            ("link", i.link_bytes_per_s.map_or(JsValue::NULL, JsValue::from)),
            ("pinned", i.pinned.map_or(JsValue::NULL, |r| r.name().into())),
            ("marksMaxAgeMs", i.marks_max_age_ms.into()),
            // The page's steps (one object: the worker adds its own).
            ("boot", i.boot.first().cloned().unwrap_or_default()),
            (
                "hint",
                match &i.camera_hint {
                    Some((offered, fps, bytes)) => {
                        let names: Array = offered.iter().map(|r| JsValue::from(r.name())).collect();
                        object(&[
                            ("offered", names.into()),
                            ("fps", (*fps).into()),
                            ("bytes", (*bytes).into()),
                        ])
                    }
                    None => JsValue::NULL,
                },
            ),
        ])
    }
}

/// What the engine starts with: worked out here from what `www/early.js` gathered
/// (`{type: "begin", canvas, inputs, boot}`: the page's module is not here yet), or as the
/// page worked it out ([`Start`]).
fn init_of(start: &JsValue) -> Init {
    // The page's steps (or early.js's), then the worker loader's (`www/early.js`).
    let boot = vec![field(start, "boot"), field(&js_sys::global(), "mqcamBoot")];
    if string(start, "type") != "begin" {
        return init_from_js(start, boot);
    }
    let inputs = Inputs::from_js(&field(start, "inputs"));
    Plan::new(&inputs).init(&inputs, boot)
}

fn init_from_js(v: &JsValue, boot: Vec<JsValue>) -> Init {
    let target = match field(v, "error").as_string() {
        Some(e) => Err(e),
        None => {
            let brokers = field(v, "brokers").dyn_into::<Array>().ok();
            let brokers =
                brokers.map(|l| l.iter().filter_map(|b| b.as_string()).collect()).unwrap_or_default();
            Ok(Target { brokers, topic: string(v, "topic") })
        }
    };
    let login = field(v, "login")
        .dyn_into::<Array>()
        .ok()
        .map(|a| (a.get(0).as_string().unwrap_or_default(), a.get(1).as_string().unwrap_or_default()));
    Init {
        target,
        client_id: string(v, "clientId"),
        login,
        hidden: field(v, "hidden").as_bool().unwrap_or(false),
        page_time_origin: field(v, "pageTimeOrigin").as_f64().unwrap_or(0.0),
        grid: field(v, "grid").as_bool().unwrap_or(false),
        link_bytes_per_s: field(v, "link").as_f64(),
        pinned: field(v, "pinned").as_string().and_then(|n| wire::ack::Rendition::from_name(&n)),
        marks_max_age_ms: field(v, "marksMaxAgeMs").as_f64().unwrap_or(crate::bus::marks::DEFAULT_MAX_AGE_MS),
        boot,
        camera_hint: {
            let hint = field(v, "hint");
            let offered = field(&hint, "offered").dyn_into::<Array>().ok().map(|names| {
                names.iter().filter_map(|n| wire::ack::Rendition::from_name(&n.as_string()?)).collect()
            });
            offered.map(|o| {
                (
                    o,
                    field(&hint, "fps").as_f64().unwrap_or(0.0),
                    field(&hint, "bytes").as_f64().unwrap_or(0.0),
                )
            })
        },
    }
}

/// The worker's entry point (called by the loader in `www/early.js` through the engine's
/// module, `viewer-engine`): starts the engine on the transferred canvas, handles the
/// messages that came early, then listens.
pub fn worker_main(start: JsValue, early: Array, socket: JsValue) -> Result<(), JsValue> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().dyn_into()?;
    let post = scope.clone();
    let handle = run(
        &start,
        Rc::new(move |message: JsValue| {
            let _ = post.post_message(&message);
        }),
        socket.dyn_into().ok(),
    )?;
    for message in early.iter() {
        handle(message);
    }
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| handle(e.data()));
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler (and through it the engine) lives as long as the worker.
    on_message.forget();
    Ok(())
}

/// The engine on the page, where a canvas cannot be handed to a worker (`?worker=0`, an
/// old browser): the same messages as with a worker, as calls. `start` carries the
/// `<canvas>` itself; `to_page` is called with each message for the page; the function
/// returned takes the page's messages (their canvases are `<canvas>` elements).
pub fn page_engine(start: JsValue, to_page: js_sys::Function) -> Result<js_sys::Function, JsValue> {
    let handle = run(
        &start,
        Rc::new(move |message: JsValue| {
            let _ = to_page.call1(&JsValue::NULL, &message);
        }),
        None,
    )?;
    // Lives as long as the page.
    Ok(Closure::<dyn Fn(JsValue)>::new(move |message: JsValue| handle(message))
        .into_js_value()
        .unchecked_into())
}

/// A canvas handed to the engine: transferred to a worker, or a `<canvas>` on the page.
fn surface(canvas: &JsValue) -> Result<Surface, JsValue> {
    match canvas.clone().dyn_into::<OffscreenCanvas>() {
        Ok(offscreen) => Surface::offscreen(offscreen),
        Err(other) => Surface::element(other.dyn_into()?),
    }
}

/// Starts the engine from the page's start message; its reports go to `post`. Returns
/// what handles the page's messages from then on.
fn run(
    start: &JsValue,
    post: Rc<dyn Fn(JsValue)>,
    socket: Option<web_sys::WebSocket>,
) -> Result<Rc<dyn Fn(JsValue)>, JsValue> {
    let sink = {
        let post = post.clone();
        Box::new(move |out: Output| post(output_to_js(&out)))
    };
    let init = init_of(start);
    // Started by early.js, with the grid to show: the tiles are the page's, so its module
    // is wanted now rather than after a first picture (which a grid's canvas never gets).
    if init.grid && string(start, "type") == "begin" {
        post(object(&[("type", "grid".into())]));
    }
    let app = engine::start(init, surface(&field(start, "canvas"))?, sink, socket)?;
    Ok(Rc::new(move |data: JsValue| match ToWorker::from_js(&data) {
        Some(ToWorker::LogIn { user, password }) => engine::log_in(&app, user, password),
        Some(ToWorker::Hidden(hidden)) => engine::set_hidden(&app, hidden),
        Some(ToWorker::Show { camera, at_ms }) => engine::show(&app, camera, at_ms),
        Some(ToWorker::Pause(paused)) => engine::set_paused(&app, paused),
        Some(ToWorker::Quality(r)) => {
            engine::pin(&app, r.as_deref().and_then(wire::ack::Rendition::from_name))
        }
        Some(ToWorker::Marks(canvas)) => {
            if let Ok(surface) = surface(&canvas) {
                engine::set_marks(&app, surface);
            }
        }
        Some(ToWorker::Turn { degrees, mirror }) => engine::set_turn(&app, degrees, mirror),
        Some(ToWorker::Recordings { open, at_ms }) => engine::recordings(&app, open, at_ms),
        Some(ToWorker::Playback { command, at_ms }) => engine::playback(&app, command, at_ms),
        Some(ToWorker::Tile { camera, canvas }) => {
            if let Ok(surface) = surface(&canvas) {
                engine::add_tile(&app, &camera, surface);
            }
        }
        Some(ToWorker::Snapshot) => {
            let (promise, post) = (engine::snapshot(&app), post.clone());
            spawn_local(async move {
                let blob = match promise {
                    Ok(p) => JsFuture::from(p).await.unwrap_or(JsValue::NULL),
                    Err(_) => JsValue::NULL,
                };
                post(object(&[("type", "snapshot".into()), ("blob", blob)]));
            });
        }
        None => {}
    }))
}
