//! The bus's JSON messages as the viewer reads them: a camera's status, an alarm, an
//! edge's directory entry, detections.
//!
//! They are parsed with the browser's `JSON.parse` (through `js-sys`), not `serde_json`:
//! reading only the status with `serde_json` into `wire::status::Status` (its `serde`
//! feature) made the release wasm 28.7 KB bigger, 11.9 KB with brotli and 14.5 KB with
//! gzip (measured), and the viewer is already over its download budget. The field
//! names, what they mean and the state names are `wire`'s ([`wire::status`],
//! [`wire::detections`]); this module only reads them.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wire::{
    ack::Rendition,
    detections::{Detections, Object},
    status::{State, Status},
};

/// Parses `payload` as JSON text; `None` if it is not UTF-8 or not JSON.
fn parse(payload: &[u8]) -> Option<JsValue> {
    std::str::from_utf8(payload).ok().and_then(|t| js_sys::JSON::parse(t).ok())
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A camera's status (`wire::status`); `None` if it is not that (no `state`).
pub fn status(payload: &[u8]) -> Option<Status> {
    let json = parse(payload)?;
    Some(Status {
        state: State::from_name(&get(&json, "state").as_string()?),
        detail: get(&json, "detail").as_string().unwrap_or_default(),
        at_us: get(&json, "at_us").as_f64().unwrap_or(0.0) as u64,
    })
}

/// An active alarm: why, when it was raised (edge µs), by whom.
pub type Alarm = (String, u64, String);

/// An alarm message: `Some` when active, `None` when cleared (also an empty payload: a
/// retained alarm taken back); `Err` if it is not the alarm JSON.
pub fn alarm(payload: &[u8]) -> Result<Option<Alarm>, ()> {
    if payload.is_empty() {
        return Ok(None);
    }
    let json = parse(payload).ok_or(())?;
    let active = get(&json, "active").as_bool().ok_or(())?;
    Ok(active.then(|| {
        (
            get(&json, "reason").as_string().unwrap_or_default(),
            get(&json, "at_us").as_f64().unwrap_or(0.0) as u64,
            get(&json, "source").as_string().unwrap_or_default(),
        )
    }))
}

/// A camera in an edge's directory entry.
pub struct Listed {
    pub name: String,
    /// The renditions offered, largest first (none listed: an edge from before renditions).
    pub offered: Vec<Rendition>,
    pub fps: f64,
    /// Its full frames' size: measured, else guessed from the picture's.
    pub full_bytes: Option<f64>,
    /// Its edge records it (`recording`: `continuous` or `events`): it can be played back.
    pub recording: bool,
}

/// The cameras in an edge's directory entry (none when it is cleared or bad).
pub fn directory(payload: &[u8]) -> Vec<Listed> {
    let Some(json) = parse(payload) else { return Vec::new() };
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
            offered.sort_unstable();
            let full_bytes = renditions.iter().find(|r| name_of(r) == Some(Rendition::Full)).and_then(|r| {
                let measured = number(r, "frame_bytes").filter(|b| *b > 0.0);
                let (w, h) = (number(r, "width")?, number(r, "height")?);
                measured.or(Some(crate::stream::adapt::frame_bytes_guess(w as u32, h as u32)))
            });
            let recording = Reflect::get(&c, &"recording".into()).ok().and_then(|r| r.as_string());
            let recording = recording.is_some_and(|r| !r.is_empty());
            Some(Listed { name, offered, fps, full_bytes, recording })
        })
        .collect()
}

/// A message on a camera's detections topic (`wire::detections`), or why it is not one.
pub fn detections(payload: &[u8]) -> Result<Detections, &'static str> {
    const BAD: &str = "a detections message is not the detections JSON";
    let json = parse(payload).ok_or(BAD)?;
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
