//! What the viewer starts from — the page's address, `/edge.json`, what this browser
//! kept — and what it works out from that: brokers and topic, the grid or one camera,
//! the rendition pinned, the login. The inputs are gathered on the page
//! ([`Inputs::here`]) or, before the page's module is here, by `www/early.js`, which
//! posts them to the engine's worker with the canvas ([`Inputs::from_js`]); both sides
//! work the [`Plan`] out with this code, so the page and the engine agree.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wire::ack::Rendition;

use crate::{
    engine::{Init, DEFAULT_USER},
    page::{
        dom::{document, window},
        link, login, prefs,
        target::{self, EdgeCamera, EdgeInfo, Query, Target},
    },
};

/// What the viewer starts from, as plain values.
pub struct Inputs {
    /// `location.search` and `location.hash`, each with its `?` or `#`.
    pub search: String,
    pub hash: String,
    pub protocol: String,
    pub hostname: String,
    /// `/edge.json`, parsed; `null` where there is none or it was not needed.
    pub edge: JsValue,
    /// `localStorage` and `sessionStorage` as plain objects (key → value).
    pub local: JsValue,
    pub session: JsValue,
    pub hidden: bool,
    /// The page's `performance.timeOrigin`.
    pub time_origin: f64,
    /// The page's resource timings (how fast its files came: `link::estimate`).
    pub resources: JsValue,
}

/// A property of a JS object (`undefined` where it has none); the messages' reader too.
pub(crate) fn field(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

fn string(o: &JsValue, k: &str) -> Option<String> {
    field(o, k).as_string()
}

/// A storage's entries as a plain object, as `www/early.js` sends them (`{...localStorage}`).
fn entries(store: Option<web_sys::Storage>) -> JsValue {
    let object = js_sys::Object::new();
    if let Some(store) = store {
        for i in 0..store.length().unwrap_or(0) {
            if let Some(key) = store.key(i).ok().flatten() {
                if let Some(value) = store.get_item(&key).ok().flatten() {
                    let _ = Reflect::set(&object, &key.into(), &value.into());
                }
            }
        }
    }
    object.into()
}

impl Inputs {
    /// As `www/early.js` posts them (`inputs` in its message to the worker).
    pub fn from_js(v: &JsValue) -> Inputs {
        Inputs {
            search: string(v, "search").unwrap_or_default(),
            hash: string(v, "hash").unwrap_or_default(),
            protocol: string(v, "protocol").unwrap_or_default(),
            hostname: string(v, "hostname").unwrap_or_default(),
            edge: field(v, "edge"),
            local: field(v, "local"),
            session: field(v, "session"),
            hidden: field(v, "hidden").as_bool().unwrap_or(false),
            time_origin: field(v, "timeOrigin").as_f64().unwrap_or(0.0),
            resources: field(v, "resources"),
        }
    }

    /// Gathered on the page. `/edge.json` is the one the edge put in the page (no request
    /// of its own), else asked for, unless the address names both broker and camera (a
    /// static host has none: one request and a console error saved).
    pub async fn here() -> Inputs {
        let location = window().location();
        let mut inputs = Inputs {
            search: location.search().unwrap_or_default(),
            hash: location.hash().unwrap_or_default(),
            protocol: location.protocol().unwrap_or_default(),
            hostname: location.hostname().unwrap_or_default(),
            edge: JsValue::NULL,
            local: entries(window().local_storage().ok().flatten()),
            session: entries(window().session_storage().ok().flatten()),
            hidden: document().hidden(),
            time_origin: window().performance().map_or(0.0, |p| p.time_origin()),
            resources: window()
                .performance()
                .map_or(JsValue::NULL, |p| p.get_entries_by_type("resource").into()),
        };
        if !told(&query(&inputs.search)) {
            inputs.edge = edge_json().await.unwrap_or(JsValue::NULL);
        }
        inputs
    }
}

/// `/edge.json`: the copy in the page (`#edge-json`), else the edge's answer.
async fn edge_json() -> Option<JsValue> {
    let inline = document().get_element_by_id("edge-json").and_then(|e| e.text_content());
    if let Some(json) = inline.and_then(|text| js_sys::JSON::parse(&text).ok()) {
        return Some(json);
    }
    let resp = JsFuture::from(window().fetch_with_str("edge.json")).await.ok()?;
    let resp: web_sys::Response = resp.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    JsFuture::from(resp.json().ok()?).await.ok()
}

fn params(s: &str) -> Option<web_sys::UrlSearchParams> {
    web_sys::UrlSearchParams::new_with_str(s).ok()
}

fn query(search: &str) -> Query {
    let Some(p) = params(search) else { return Query::default() };
    Query {
        brokers: p.get_all("broker").iter().filter_map(|b| b.as_string()).collect(),
        topic: p.get("topic"),
        camera: p.get("camera"),
    }
}

/// A page told both the broker and the camera needs nothing from `/edge.json`.
pub fn told(query: &Query) -> bool {
    !query.brokers.is_empty() && (query.topic.is_some() || query.camera.is_some())
}

/// The fields of a parsed `/edge.json` the viewer uses; `None` for anything but an object.
fn edge_info(json: &JsValue) -> Option<EdgeInfo> {
    if !json.is_object() {
        return None;
    }
    let number = |o: &JsValue, k: &str| field(o, k).as_f64();
    let strings = |o: &JsValue, k: &str| -> Vec<String> {
        field(o, k)
            .dyn_into::<Array>()
            .map(|l| l.iter().filter_map(|v| v.as_string()).collect())
            .unwrap_or_default()
    };
    let details: Vec<EdgeCamera> = field(json, "cameras")
        .dyn_into::<Array>()
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some(EdgeCamera {
                        name: string(&c, "name")?,
                        width: number(&c, "width").unwrap_or(0.0) as u32,
                        height: number(&c, "height").unwrap_or(0.0) as u32,
                        fps: number(&c, "fps").unwrap_or(0.0),
                        renditions: strings(&c, "renditions"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(EdgeInfo {
        // The strings of the list; anything else in it is skipped.
        brokers: strings(json, "brokers"),
        broker: string(json, "broker"),
        ws_port: number(json, "ws_port").map(|p| p as u16),
        ws_path: string(json, "ws_path"),
        topic: string(json, "topic"),
        prefix: string(json, "prefix"),
        cameras: details.iter().map(|c| c.name.clone()).collect(),
        details,
    })
}

/// What the viewer works out from its [`Inputs`].
pub struct Plan {
    pub query: Query,
    pub edge: Option<EdgeInfo>,
    pub target: Result<Target, String>,
    /// The target is one of several cameras under a prefix (the grid is possible).
    pub multi: bool,
    /// Start on the grid: several cameras and none named.
    pub grid: bool,
    /// The camera shown first (none: the grid, or a topic of the page's own).
    pub open: Option<String>,
    pub cameras: Vec<String>,
    /// The first camera as `/edge.json` describes it: renditions, frame rate, frame bytes.
    pub camera_hint: Option<(Vec<Rendition>, f64, f64)>,
    pub pinned: Option<Rendition>,
    pub marks_max_age_ms: f64,
    pub login: Option<(String, String)>,
    /// The login came in the URL fragment (`#password=…`, optionally `&username=…`).
    pub login_in_fragment: bool,
}

impl Plan {
    pub fn new(inputs: &Inputs) -> Plan {
        let query = query(&inputs.search);
        let edge = if told(&query) { None } else { edge_info(&inputs.edge) };
        let target = target::resolve(&query, edge.as_ref(), &inputs.protocol, &inputs.hostname);
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
            let offered = c.renditions.iter().filter_map(|r| Rendition::from_name(r)).collect();
            Some((offered, c.fps, crate::stream::adapt::frame_bytes_guess(c.width, c.height)))
        });
        let search = params(&inputs.search);
        let asked = |k: &str| search.as_ref().and_then(|p| p.get(k));
        let pinned =
            prefs::choose_quality(asked("quality").as_deref(), string(&inputs.local, prefs::QUALITY_KEY))
                .and_then(|q| Rendition::from_name(&q));
        let marks_max_age_ms = asked("detections-age")
            // Whole ms: parsing an f64 would link the float parser (+20 KB of wasm).
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(crate::bus::marks::DEFAULT_MAX_AGE_MS, f64::from);
        let fragment = params(inputs.hash.trim_start_matches('#'));
        let from_fragment = fragment.as_ref().and_then(|p| {
            let password = p.get("password")?;
            Some((p.get("username").unwrap_or_else(|| DEFAULT_USER.to_string()), password))
        });
        let login_in_fragment = from_fragment.is_some();
        let login = from_fragment.or_else(|| login::kept_in(&inputs.session));
        Plan {
            query,
            edge,
            target,
            multi,
            grid,
            open,
            cameras,
            camera_hint,
            pinned,
            marks_max_age_ms,
            login,
            login_in_fragment,
        }
    }

    /// What the engine starts with.
    pub fn init(&self, inputs: &Inputs, boot: Vec<JsValue>) -> Init {
        Init {
            target: self.target.clone(),
            link_bytes_per_s: link::estimate(&inputs.resources, &inputs.local),
            camera_hint: self.camera_hint.clone(),
            pinned: self.pinned,
            marks_max_age_ms: self.marks_max_age_ms,
            client_id: format!("mqcam-view-{:08x}", (js_sys::Math::random() * 4e9) as u32),
            login: self.login.clone(),
            hidden: inputs.hidden,
            page_time_origin: inputs.time_origin,
            grid: self.grid,
            boot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(brokers: &[&str], topic: Option<&str>, camera: Option<&str>) -> Query {
        Query {
            brokers: brokers.iter().map(|b| b.to_string()).collect(),
            topic: topic.map(str::to_string),
            camera: camera.map(str::to_string),
        }
    }

    #[test]
    fn told_needs_a_broker_and_a_camera_or_topic() {
        assert!(told(&q(&["ws://h:9001/mqtt"], None, Some("door"))));
        assert!(told(&q(&["ws://h:9001/mqtt"], Some("a/b/frame"), None)));
        // Either alone leaves the rest to `/edge.json`.
        assert!(!told(&q(&["ws://h:9001/mqtt"], None, None)));
        assert!(!told(&q(&[], None, Some("door"))));
    }
}
