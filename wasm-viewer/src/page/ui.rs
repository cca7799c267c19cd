//! The page: works out what to watch and who we are (query, `/edge.json`, the URL
//! fragment's login), shows what the engine reports (`#stats`, the overlay, the login
//! form) and hands it the user's input (a login typed, the tab hidden or shown).
//!
//! The engine runs in a dedicated worker (started by `www/early.js`, inlined in the page → [`crate::page::worker`]) that owns
//! the canvas, transferred as an `OffscreenCanvas`, so socket, decode and draw never
//! take the main thread from taps, scrolling and layout. Where the browser cannot
//! transfer a canvas to a worker (or with `?worker=0`), the engine runs here instead.

use std::{cell::RefCell, rc::Rc};

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{HtmlCanvasElement, HtmlElement, MessageEvent, Worker};

use crate::{
    engine::{self, Init, Output, DEFAULT_USER},
    page::{
        badge,
        dom::{document, element, window},
        handle::{self, Engine},
        link, login, prefs, recordings, screen,
        target::{self, EdgeInfo, Query},
        worker::{dial, load, output_from_js, Start},
    },
    picture::{draw::Surface, startup::Step},
};

/// Entry point: finds the target and the login, then starts the engine.
pub async fn run() -> Result<(), JsValue> {
    // The module is compiled, instantiated and running: a step to the first picture,
    // kept with `www/early.js`'s (a page without that script starts the object).
    let boot = Reflect::get(&window(), &"mqcamBoot".into())
        .ok()
        .filter(JsValue::is_object)
        .unwrap_or_else(|| Object::new().into());
    let _ = Reflect::set(&boot, &Step::Page.name().into(), &crate::scope::now_ms().into());
    let canvas: HtmlCanvasElement = element("view");
    let params = web_sys::UrlSearchParams::new_with_str(&window().location().search()?)?;
    // The worker loads the module while the page finds the broker (edge.json).
    let worker = match params.get("worker").as_deref() != Some("0") && can_transfer(&canvas) {
        true => load_worker()?,
        false => None,
    };
    let login = initial_login();
    let location = window().location();
    let query = Query {
        brokers: params.get_all("broker").iter().filter_map(|b| b.as_string()).collect(),
        topic: params.get("topic"),
        camera: params.get("camera"),
    };
    // A page told both the broker and the camera needs nothing from `edge.json` (and a
    // static host has none: one request and a console error saved).
    let told = !query.brokers.is_empty() && (query.topic.is_some() || query.camera.is_some());
    let edge = if told { None } else { fetch_edge_info().await };
    let target = target::resolve(&query, edge.as_ref(), &location.protocol()?, &location.hostname()?);
    // The first broker: the engine's first connection goes there.
    if let (Some(worker), Some(first), false) =
        (&worker, target.as_ref().ok().and_then(|t| t.brokers.first()), document().hidden())
    {
        let _ = worker.post_message(&dial(first));
    }
    // Several cameras and none named: the grid. A topic of the page's own: that stream.
    let multi = target.as_ref().is_ok_and(|t| wire::topic::split_frame_topic(&t.topic).is_some());
    let cameras = edge.as_ref().map(|e| e.cameras.clone()).unwrap_or_default();
    let grid = multi && query.camera.is_none() && query.topic.is_none() && cameras.len() > 1;
    let open = match &target {
        Ok(t) if !grid => wire::topic::split_frame_topic(&t.topic).map(|(_, c)| c.to_string()),
        _ => None,
    };
    let camera_hint = open.as_ref().and_then(|name| {
        let c = edge.as_ref()?.details.iter().find(|c| &c.name == name)?;
        let offered = c.renditions.iter().filter_map(|r| wire::ack::Rendition::from_name(r)).collect();
        Some((offered, c.fps, crate::stream::adapt::frame_bytes_guess(c.width, c.height)))
    });
    let init = Init {
        target,
        link_bytes_per_s: link::estimate(),
        camera_hint,
        pinned: prefs::initial_quality().and_then(|q| wire::ack::Rendition::from_name(&q)),
        marks_max_age_ms: params
            .get("detections-age")
            // Whole ms: parsing an f64 would link the float parser (+20 KB of wasm).
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(crate::bus::marks::DEFAULT_MAX_AGE_MS, f64::from),
        client_id: format!("mqcam-view-{:08x}", (js_sys::Math::random() * 4e9) as u32),
        login,
        hidden: document().hidden(),
        page_time_origin: window().performance().map_or(0.0, |p| p.time_origin()),
        grid,
        boot: vec![boot],
    };
    let engine = match worker {
        Some(worker) => start_worker(worker, &init, &canvas)?,
        // Its reports wait for the call that caused them to return, as a worker's do.
        None => Engine::Page(engine::start(
            init,
            Surface::element(canvas)?,
            Box::new(|out| spawn_local(async move { show(out) })),
            None,
        )?),
    };
    if matches!(engine, Engine::Worker { .. }) {
        // The rest (the controls, the grid, the recordings) is the page's own business:
        // first the main thread is let go for a moment, which the worker's own start
        // and the messages just posted to it wait for in Chromium (traced: a worker
        // asked for at 30 ms ran at 95, after the page's long first tasks).
        let yielded = js_sys::Promise::new(&mut |resolve, _| {
            let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        });
        let _ = JsFuture::from(yielded).await;
    }
    let engine = Rc::new(engine);
    let _ = element::<HtmlElement>("stats").set_attribute(
        "data-engine",
        if matches!(*engine, Engine::Worker { .. }) { "worker" } else { "page" },
    );
    watch_login_form(&engine)?;
    watch_visibility(&engine)?;
    // Kept for the life of the page.
    handle::keep(engine.clone());
    // Exports come from the edge's web port, which only the edge's own page reaches (no
    // CORS): a page with no edge.json, or told another broker, has no edge to ask.
    let exports = edge.is_some() && query.brokers.is_empty();
    recordings::start(engine.clone(), exports)?;
    screen::start(engine, multi, &cameras, open)?;
    Ok(())
}

/// Whether this browser can hand the canvas to a worker (Chrome 69+, Firefox 105+,
/// Safari 16.4+), and this page knows where its own module is for the worker to load.
fn can_transfer(canvas: &HtmlCanvasElement) -> bool {
    let has = |o: &JsValue, k: &str| Reflect::has(o, &k.into()).unwrap_or(false);
    has(&window(), "OffscreenCanvas")
        && has(&window(), "Worker")
        && has(canvas, "transferControlToOffscreen")
        && glue_url().is_some()
}

/// The URL of this module's JavaScript glue (Trunk preloads it), for the worker.
fn glue_url() -> Option<String> {
    let link = document().query_selector("link[rel=modulepreload]").ok()??;
    Some(link.dyn_into::<web_sys::HtmlLinkElement>().ok()?.href())
}

/// The worker `www/early.js` started while the page was still loading (`None` where it
/// did not: `?worker=0`, or a browser that cannot hand a canvas to a worker), told where
/// this module is.
fn load_worker() -> Result<Option<Worker>, JsValue> {
    let Ok(worker) = Reflect::get(&window(), &"mqcamWorker".into())?.dyn_into::<Worker>() else {
        return Ok(None);
    };
    worker.post_message(&load(&glue_url().ok_or("no module URL for the worker")?))?;
    Ok(Some(worker))
}

/// Starts the engine in the worker and hands it the canvas.
fn start_worker(worker: Worker, init: &Init, canvas: &HtmlCanvasElement) -> Result<Engine, JsValue> {
    let offscreen = canvas.transfer_control_to_offscreen()?;
    let start = Start { canvas: &offscreen, init }.to_js();
    let on_message =
        Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| match output_from_js(&e.data()) {
            Some(Ok(out)) => show(out),
            Some(Err(blob)) => handle::snapshot_taken(&blob),
            None => {}
        });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(|e: web_sys::ErrorEvent| {
        let why = format!("the viewer's worker failed: {}", e.message());
        web_sys::console::error_1(&why.clone().into());
        let el = element::<HtmlElement>("stats");
        let _ = el.set_attribute("data-state", &why);
        el.set_text_content(Some(&why));
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // Both live as long as the worker, which lives as long as the page.
    on_message.forget();
    on_error.forget();
    if let Ok(boot) = Reflect::get(&start, &"boot".into()) {
        let _ = Reflect::set(&boot, &Step::Told.name().into(), &crate::scope::now_ms().into());
    }
    worker.post_message_with_transfer(&start, &Array::of1(&offscreen))?;
    Ok(Engine::Worker { worker, snapshot: RefCell::new(None) })
}

/// Shows what the engine reports: `#stats` and the overlay, or the login form.
fn show(out: Output) {
    match out {
        Output::Cameras(list) => screen::cameras(list),
        Output::Timeline(bytes) => recordings::timeline(bytes),
        Output::Position(us) => recordings::position(us),
        Output::View { attrs, text } => {
            badge::show(&attrs);
            recordings::view(&attrs);
            let el = element::<HtmlElement>("stats");
            for (k, v) in attrs {
                if el.get_attribute(&k).as_deref() != Some(v.as_str()) {
                    let _ = el.set_attribute(&k, &v);
                }
            }
            if el.text_content().as_deref() != Some(text.as_str()) {
                el.set_text_content(Some(&text));
            }
        }
        Output::AskLogin { why, user } => {
            element::<HtmlElement>("login-why").set_text_content(Some(&why));
            element::<web_sys::HtmlInputElement>("login-user").set_value(&user);
            element::<HtmlElement>("login").set_hidden(false);
        }
    }
}

/// A login from the URL fragment (`#password=…`, optionally `&username=…`: browsers
/// never send the fragment to a server), else one given earlier in this tab. One from
/// the fragment is kept for the tab and taken out of the address bar at once, so it
/// does not stay on screen, in the history or in a link shared from there.
fn initial_login() -> Option<(String, String)> {
    let location = window().location();
    let hash = location.hash().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(hash.trim_start_matches('#')).ok()?;
    if let Some(password) = params.get("password") {
        let user = params.get("username").unwrap_or_else(|| DEFAULT_USER.to_string());
        login::keep(&user, &password);
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
    login::kept()
}

/// The login form: shown when the broker refuses, it connects again with what is typed.
fn watch_login_form(engine: &Rc<Engine>) -> Result<(), JsValue> {
    let form: web_sys::HtmlFormElement = element("login");
    let engine = engine.clone();
    let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        e.prevent_default();
        let user = element::<web_sys::HtmlInputElement>("login-user").value();
        let password = element::<web_sys::HtmlInputElement>("login-password").value();
        login::keep(&user, &password);
        element::<HtmlElement>("login").set_hidden(true);
        engine.log_in(user, password);
    });
    form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref())?;
    // The form lives as long as the page.
    on_submit.forget();
    Ok(())
}

/// `edge.json` next to the page, if an edge served it; `None` on any static host.
/// An edge puts it in the page it serves (`#edge-json`, no request of its own); any other
/// server's page asks for it.
async fn fetch_edge_info() -> Option<EdgeInfo> {
    let inline = document().get_element_by_id("edge-json").and_then(|e| e.text_content());
    let json = match inline.and_then(|text| js_sys::JSON::parse(&text).ok()) {
        Some(json) => json,
        None => {
            let resp = JsFuture::from(window().fetch_with_str("edge.json")).await.ok()?;
            let resp: web_sys::Response = resp.dyn_into().ok()?;
            if !resp.ok() {
                return None;
            }
            JsFuture::from(resp.json().ok()?).await.ok()?
        }
    };
    let string = |k: &str| Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_string());
    let details = edge_cameras(&json);
    let number = |k: &str| Reflect::get(&json, &k.into()).ok().and_then(|v| v.as_f64());
    let brokers = Reflect::get(&json, &"brokers".into()).ok().and_then(|l| l.dyn_into::<Array>().ok());
    Some(EdgeInfo {
        // The strings of the list; anything else in it is skipped.
        brokers: brokers.map(|l| l.iter().filter_map(|b| b.as_string()).collect()).unwrap_or_default(),
        broker: string("broker"),
        ws_port: number("ws_port").map(|p| p as u16),
        ws_path: string("ws_path"),
        topic: string("topic"),
        prefix: string("prefix"),
        cameras: details.iter().map(|c| c.name.clone()).collect(),
        details,
    })
}

/// The cameras listed in `/edge.json`.
fn edge_cameras(json: &JsValue) -> Vec<target::EdgeCamera> {
    let Some(list) = Reflect::get(json, &"cameras".into()).ok().and_then(|l| l.dyn_into::<Array>().ok())
    else {
        return Vec::new();
    };
    let number =
        |c: &JsValue, k: &str| Reflect::get(c, &k.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    list.iter()
        .filter_map(|c| {
            let renditions =
                Reflect::get(&c, &"renditions".into()).ok().and_then(|l| l.dyn_into::<Array>().ok());
            Some(target::EdgeCamera {
                name: Reflect::get(&c, &"name".into()).ok()?.as_string()?,
                width: number(&c, "width") as u32,
                height: number(&c, "height") as u32,
                fps: number(&c, "fps"),
                renditions: renditions
                    .map(|l| l.iter().filter_map(|r| r.as_string()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The engine hears when the tab is hidden or shown (it disconnects while hidden).
fn watch_visibility(engine: &Rc<Engine>) -> Result<(), JsValue> {
    let engine = engine.clone();
    let on_change = Closure::<dyn FnMut()>::new(move || {
        engine.set_hidden(document().hidden());
        screen::visibility_changed();
    });
    document().add_event_listener_with_callback("visibilitychange", on_change.as_ref().unchecked_ref())?;
    // The listener lives as long as the page.
    on_change.forget();
    Ok(())
}
