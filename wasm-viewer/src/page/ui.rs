//! The page: works out what to watch and who we are (`plan`: query, `/edge.json`, the
//! URL fragment's login), shows what the engine reports (`#stats`, the overlay, the
//! login form) and hands it the user's input (a login typed, the tab hidden or shown).
//!
//! The engine runs in a dedicated worker (started by `www/early.js`, inlined in the page
//! → [`crate::page::worker`]) that owns the canvas, transferred as an `OffscreenCanvas`,
//! so socket, decode and draw never take the main thread from taps, scrolling and
//! layout. Where early.js has all it needs (the edge put `/edge.json` in the page, or
//! the address names broker and camera), it starts the engine itself and this module
//! comes after the first picture; else this module starts it. Where the browser cannot
//! transfer a canvas to a worker (or with `?worker=0`), the engine's module runs here.

use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{HtmlCanvasElement, HtmlElement, MessageEvent, Worker};

use crate::{
    engine::{Init, Output},
    page::{
        badge,
        dom::{document, element, window},
        handle::{self, Engine, To},
        login,
        plan::{Inputs, Plan},
        recordings, screen,
        worker::{dial, output_from_js, Start},
    },
    picture::startup::Step,
};

/// Entry point: finds the target and the login, then starts the engine, unless
/// `www/early.js` started it already.
pub async fn run() -> Result<(), JsValue> {
    // The module is compiled, instantiated and running: a step to the first picture,
    // kept with `www/early.js`'s (a page without that script starts the object).
    let boot = Reflect::get(&window(), &"mqcamBoot".into())
        .ok()
        .filter(JsValue::is_object)
        .unwrap_or_else(|| Object::new().into());
    let _ = Reflect::set(&boot, &Step::Page.name().into(), &crate::scope::now_ms().into());
    let canvas: HtmlCanvasElement = element("view");
    let inputs = Inputs::here().await;
    let plan = Plan::new(&inputs);
    if plan.login_in_fragment {
        keep_fragment_login(plan.login.as_ref());
    }
    let params = web_sys::UrlSearchParams::new_with_str(&inputs.search)?;
    // The worker early.js started: it loads the engine's module meanwhile.
    let worker = match params.get("worker").as_deref() != Some("0") && can_transfer(&canvas) {
        true => Reflect::get(&window(), &"mqcamWorker".into())?.dyn_into::<Worker>().ok(),
        false => None,
    };
    // Whether early.js started the engine itself, with the canvas and these inputs.
    let begun = Reflect::get(&window(), &"mqcamBegun".into()).is_ok_and(|v| v.is_truthy());
    let engine = match worker {
        Some(worker) if begun => attach(worker),
        Some(worker) => {
            // The first broker: the engine's first connection goes there.
            if let (Some(first), false) =
                (plan.target.as_ref().ok().and_then(|t| t.brokers.first()), inputs.hidden)
            {
                let _ = worker.post_message(&dial(first));
            }
            let init = plan.init(&inputs, vec![boot]);
            let engine = start_worker(worker, &init, &canvas)?;
            // The rest (the controls, the grid, the recordings) is the page's own business:
            // first the main thread is let go for a moment, which the worker's own start
            // and the messages just posted to it wait for in Chromium (traced: a worker
            // asked for at 30 ms ran at 95, after the page's long first tasks).
            let yielded = js_sys::Promise::new(&mut |resolve, _| {
                let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
            });
            let _ = JsFuture::from(yielded).await;
            engine
        }
        None => start_here(&plan.init(&inputs, vec![boot]), canvas).await?,
    };
    let engine = Rc::new(engine);
    let _ = element::<HtmlElement>("stats")
        .set_attribute("data-engine", if matches!(engine.to, To::Worker(_)) { "worker" } else { "page" });
    watch_login_form(&engine)?;
    watch_visibility(&engine)?;
    // Kept for the life of the page.
    handle::keep(engine.clone());
    // Exports come from the edge's web port, which only the edge's own page reaches (no
    // CORS): a page with no edge.json, or told another broker, has no edge to ask.
    let exports = plan.edge.is_some() && plan.query.brokers.is_empty();
    recordings::start(engine.clone(), exports)?;
    screen::start(engine, plan.multi, &plan.cameras, plan.open)?;
    Ok(())
}

/// Whether this browser can hand the canvas to a worker (Chrome 69+, Firefox 105+,
/// Safari 16.4+).
fn can_transfer(canvas: &HtmlCanvasElement) -> bool {
    let has = |o: &JsValue, k: &str| Reflect::has(o, &k.into()).unwrap_or(false);
    has(&window(), "OffscreenCanvas") && has(&window(), "Worker") && has(canvas, "transferControlToOffscreen")
}

/// What the engine says, from the worker or from its module on this page.
fn heard(data: &JsValue) {
    match output_from_js(data) {
        Some(Ok(out)) => show(out),
        Some(Err(blob)) => handle::snapshot_taken(&blob),
        None => {}
    }
}

/// Hears the worker from now on.
fn listen(worker: &Worker) {
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| heard(&e.data()));
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(|e: web_sys::ErrorEvent| {
        failed(&format!("the viewer's worker failed: {}", e.message()))
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // Both live as long as the worker, which lives as long as the page.
    on_message.forget();
    on_error.forget();
}

/// Starts the engine in the worker and hands it the canvas.
fn start_worker(worker: Worker, init: &Init, canvas: &HtmlCanvasElement) -> Result<Engine, JsValue> {
    let offscreen: JsValue = canvas.transfer_control_to_offscreen()?.into();
    let start = Start { canvas: &offscreen, init }.to_js();
    listen(&worker);
    if let Ok(boot) = Reflect::get(&start, &"boot".into()) {
        let _ = Reflect::set(&boot, &Step::Told.name().into(), &crate::scope::now_ms().into());
    }
    worker.post_message_with_transfer(&start, &Array::of1(&offscreen))?;
    Ok(Engine::new(To::Worker(worker)))
}

/// The engine `www/early.js` started in the worker before this module was here: what it
/// said meanwhile (kept by early.js) is shown first, then the page hears it itself.
fn attach(worker: Worker) -> Engine {
    let said = Reflect::get(&window(), &"mqcamHeard".into()).ok().and_then(|l| l.dyn_into::<Array>().ok());
    for data in said.iter().flat_map(|l| l.iter()) {
        heard(&data);
    }
    if let Some(why) = Reflect::get(&window(), &"mqcamFailed".into()).ok().and_then(|v| v.as_string()) {
        failed(&format!("the viewer's worker failed: {why}"));
    }
    listen(&worker);
    Engine::new(To::Worker(worker))
}

/// Starts the engine here, on the page: its module is loaded by `www/early.js`'s
/// `mqcamEngine()`, and takes the same messages as calls.
async fn start_here(init: &Init, canvas: HtmlCanvasElement) -> Result<Engine, JsValue> {
    let load: js_sys::Function = Reflect::get(&window(), &"mqcamEngine".into())?
        .dyn_into()
        .map_err(|_| JsValue::from("the page has no engine loader (www/early.js)"))?;
    let module =
        JsFuture::from(js_sys::Promise::from(load.call0(&JsValue::NULL)?)).await.inspect_err(|e| {
            failed(&format!("the viewer's engine did not load: {}", e.as_string().unwrap_or_default()))
        })?;
    let page_engine: js_sys::Function = Reflect::get(&module, &"page_engine".into())?.dyn_into()?;
    let canvas: JsValue = canvas.into();
    let start = Start { canvas: &canvas, init }.to_js();
    // Its reports wait for the call that caused them to return, as a worker's do.
    let to_page = Closure::<dyn Fn(JsValue)>::new(|data: JsValue| spawn_local(async move { heard(&data) }));
    let post = page_engine.call2(&JsValue::NULL, &start, &to_page.into_js_value())?;
    Ok(Engine::new(To::Page(post.dyn_into()?)))
}

/// Says on the page (and in the console) that the engine could not start or stopped.
fn failed(why: &str) {
    web_sys::console::error_1(&why.into());
    let el = element::<HtmlElement>("stats");
    let _ = el.set_attribute("data-state", why);
    el.set_text_content(Some(why));
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
/// never send the fragment to a server) is kept for the tab and taken out of the address
/// bar at once, so it does not stay on screen, in the history or in a link shared from there.
fn keep_fragment_login(login: Option<&(String, String)>) {
    if let Some((user, password)) = login {
        login::keep(user, password);
    }
    let location = window().location();
    let (Ok(hash), Ok(path), Ok(search)) = (location.hash(), location.pathname(), location.search()) else {
        return;
    };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(hash.trim_start_matches('#')) else { return };
    params.delete("password");
    params.delete("username");
    let rest = String::from(params.to_string());
    let rest = if rest.is_empty() { rest } else { format!("#{rest}") };
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{search}{rest}")));
    }
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
