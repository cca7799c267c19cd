//! Home Assistant MQTT discovery: each camera appears in Home Assistant by itself, as a
//! device with a picture, its alarm, its motion, its frame rate and its latency.
//!
//! Home Assistant's MQTT integration reads JSON "discovery" messages from
//! `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config` (the prefix is
//! `homeassistant` unless its user changed it) and sets up one entity per message,
//! subscribed to the topics the message names. This module builds those messages from
//! the edge's topics; it publishes nothing ([`discovery`], [`removal`]).
//!
//! Per camera, one device (named after the camera) with:
//!
//! | entity | component | reads |
//! |---|---|---|
//! | the picture (the device's main entity) | `camera` | `<prefix>/<camera>/preview`: plain JPEG, at most 320 px wide, a few a second; only while the camera has a preview |
//! | Alarm | `binary_sensor`, class `safety` | `<prefix>/<camera>/alarm` (`value_json.active`; the alarm's JSON as attributes) |
//! | Motion | `binary_sensor`, class `motion` | `<prefix>/<camera>/motion` ([`motion_topic`]): `ON` / `OFF`, retained; only while the camera detects motion |
//! | Frame rate | `sensor`, fps, diagnostic | `<prefix>/<camera>/stats` (`value_json.fps`) |
//! | Latency | `sensor`, class `duration`, ms, diagnostic | `<prefix>/<camera>/stats` (`value_json.latency_ms`) |
//!
//! Every entity is available while `<prefix>/<camera>/status` says `online` and
//! unavailable when it says `offline` (which the edge's last will says for it).
//!
//! **Motion has its own topic** rather than being read from the alarm: the alarm topic
//! is shared (a door sensor, a person detector and motion detection may all raise it,
//! and the newest message wins), so "the alarm is on and its source is motion" would
//! turn motion off whenever another source spoke. `<prefix>/<camera>/motion` carries
//! exactly the motion state, in the payloads Home Assistant's binary sensor expects by
//! default, so it needs no template.
//!
//! **Stats** are a small retained JSON on `<prefix>/<camera>/stats`, defined here
//! ([`CameraStats`]), which the edge publishes about every [`STATS_EVERY`].
//!
//! **Identity.** A camera is known by the bus prefix and its name: that pair already
//! names its topics, so it is unique on a broker and the same after a restart. (The
//! directory's edge id holds the process id and changes with every start: it must not
//! go into an id here.) Its device's id, the discovery topic's `<node_id>`, is
//! `mqcam_<name>_<hash>` ([`node_id`]): the name with every character Home Assistant does
//! not allow there replaced by `_`, and 8 hex digits of a hash of prefix and name, so
//! that `front door` and `front_door`, or the same name under two prefixes, never
//! share an id. Entity `unique_id`s are `<node_id>_<object_id>`.
//!
//! **Publishing** (the edge's job): every message retained, QoS 1, after connecting and
//! again whenever Home Assistant announces itself on [`birth_topic`] with `online`;
//! [`removal`] when discovery is turned off or a camera goes away, because retained
//! discovery messages would otherwise bring the entities back forever.
//!
//! The Home Assistant documentation relied on is quoted where it is used
//! (home-assistant.io: `integrations/mqtt` "MQTT Discovery", and the MQTT camera, binary
//! sensor and sensor pages).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use wire::topic;

/// Home Assistant's discovery prefix unless its user changed it. Docs: "The Discovery
/// Prefix defaults to `homeassistant`".
pub const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";

/// How often the edge should publish each camera's [`CameraStats`].
pub const STATS_EVERY: Duration = Duration::from_secs(10);

/// The stats sensors become unavailable when no stats came for this long (six missed
/// reports): an edge that is online but no longer measuring shows no stale numbers.
/// Docs (sensor): "`expire_after`: If set, it defines the number of seconds after the
/// sensor's state expires, if it's not updated. After expiry, the sensor's state
/// becomes `unavailable`."
const STATS_EXPIRE: Duration = Duration::from_secs(6 * STATS_EVERY.as_secs());

/// The payloads of [`motion_topic`]: Home Assistant's binary sensor defaults. Docs:
/// "`payload_on` … default: "ON"", "`payload_off` … default: "OFF"".
pub const MOTION_ON: &str = "ON";
pub const MOTION_OFF: &str = "OFF";

/// The topic where the edge keeps a camera's motion state, [`MOTION_ON`] or
/// [`MOTION_OFF`], retained (so Home Assistant knows it at once after a restart).
pub fn motion_topic(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/motion")
}

/// The payload of [`motion_topic`] for a motion state.
pub fn motion_payload(active: bool) -> &'static str {
    if active {
        MOTION_ON
    } else {
        MOTION_OFF
    }
}

/// The topic where the edge keeps a camera's [`CameraStats`], retained.
pub fn stats_topic(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/stats")
}

/// Where Home Assistant announces that it (re)started: the edge publishes discovery
/// again when `online` arrives there. Docs: "When the MQTT integration starts, a birth
/// message is published at `homeassistant/status` by default. A device or service … can
/// subscribe to this topic and use an `online` message to trigger discovery messages."
pub fn birth_topic(opts: &Discovery) -> String {
    format!("{}/status", opts.discovery_prefix)
}

/// What Home Assistant learns about a camera's pipeline, published on [`stats_topic`]
/// every [`STATS_EVERY`]:
///
/// ```json
/// {"fps":14.97,"latency_ms":38.2,"at_us":1764460000123456}
/// ```
///
/// `fps`: frames published per second over the last interval (0 when stalled).
/// `latency_ms`: capture to publish, a typical (median) frame of the interval.
/// `at_us`: when measured (µs since the UNIX epoch, edge clock). A number that is not
/// finite is sent as `null`, which Home Assistant shows as unknown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CameraStats {
    pub fps: f64,
    pub latency_ms: f64,
    pub at_us: u64,
}

impl CameraStats {
    /// The retained message for [`stats_topic`]; rates to 0.01, milliseconds to 0.1
    /// (what is worth showing, and messages that do not change with noise).
    pub fn to_json(&self) -> String {
        let round = |v: f64, per_unit: f64| (v * per_unit).round() / per_unit;
        let rounded = CameraStats {
            fps: round(self.fps, 100.0),
            latency_ms: round(self.latency_ms, 10.0),
            at_us: self.at_us,
        };
        serde_json::to_string(&rounded).expect("numbers always serialise")
    }
}

/// What discovery needs to know about this edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// Home Assistant's discovery prefix ([`DEFAULT_DISCOVERY_PREFIX`]).
    pub discovery_prefix: String,
    /// The edge's topic prefix (`--topic-prefix`, `mqcam` by default).
    pub bus_prefix: String,
    /// The edge's version, shown on each device.
    pub sw_version: String,
    /// The viewer page's address as a browser elsewhere reaches it (e.g.
    /// `http://cam-host:8080/`): each device then links to its camera's live view.
    /// Ignored unless it starts with `http://` or `https://`, the schemes Home
    /// Assistant accepts there (docs: "`configuration_url`: A link to the webpage that can
    /// manage the configuration of this device. Can be either an `http://`, `https://`
    /// or an internal `homeassistant://` URL.").
    pub viewer_url: Option<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            discovery_prefix: DEFAULT_DISCOVERY_PREFIX.to_string(),
            bus_prefix: "mqcam".to_string(),
            sw_version: env!("CARGO_PKG_VERSION").to_string(),
            viewer_url: None,
        }
    }
}

impl Discovery {
    /// Whether the discovery prefix can head a topic, or what to change.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.discovery_prefix;
        if p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains(['+', '#', '\0']) {
            return Err(format!(
                "the Home Assistant discovery prefix {p:?} cannot head a topic: give the one set in \
                 Home Assistant's MQTT options (\"homeassistant\" unless changed), without '+', '#' \
                 or a leading or trailing '/'"
            ));
        }
        Ok(())
    }
}

/// One camera as discovery shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    /// Its name on the bus (the topic level).
    pub name: String,
    /// What it is, shown as the device's model (the source's description, e.g.
    /// `V4L2 /dev/video0 MJPEG 1280x720`); "mqcam camera" if `None`.
    pub model: Option<String>,
    /// Whether it has a preview: the picture entity reads the preview topic.
    pub preview: bool,
    /// Whether it detects motion: the motion entity reads [`motion_topic`].
    pub motion: bool,
    /// Whether it records: the recording switch reads and sets it.
    pub recording: bool,
}

/// The entities of a camera, in the order their messages are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Picture,
    Alarm,
    Motion,
    Fps,
    Latency,
    Recording,
}

const ENTITIES: [Entity; 6] =
    [Entity::Picture, Entity::Alarm, Entity::Motion, Entity::Fps, Entity::Latency, Entity::Recording];

impl Entity {
    /// The Home Assistant component (platform) of the entity.
    fn component(self) -> &'static str {
        match self {
            Entity::Picture => "camera",
            Entity::Alarm | Entity::Motion => "binary_sensor",
            Entity::Fps | Entity::Latency => "sensor",
            Entity::Recording => "switch",
        }
    }

    /// The discovery topic's `<object_id>`, and the end of the `unique_id`.
    fn object_id(self) -> &'static str {
        match self {
            Entity::Picture => "picture",
            Entity::Alarm => "alarm",
            Entity::Motion => "motion",
            Entity::Fps => "fps",
            Entity::Latency => "latency",
            Entity::Recording => "recording",
        }
    }
}

/// The discovery messages for `camera`: `(topic, payload)` pairs to publish retained.
///
/// Every entity a camera can have is listed. One it does not have now (the picture
/// without a preview, motion while it detects none) comes with an **empty payload**,
/// which removes one left from an earlier run (docs: "To remove the component, publish
/// an empty string to the discovery topic.").
pub fn discovery(opts: &Discovery, camera: &CameraInfo) -> Vec<(String, String)> {
    ENTITIES
        .iter()
        .map(|&entity| {
            let has = match entity {
                Entity::Picture => camera.preview,
                Entity::Motion => camera.motion,
                Entity::Recording => camera.recording,
                Entity::Alarm | Entity::Fps | Entity::Latency => true,
            };
            let payload = if has { config(opts, camera, entity).to_string() } else { String::new() };
            (config_topic(opts, &camera.name, entity), payload)
        })
        .collect()
}

/// The messages that remove every entity of the camera named `camera`: the topics of
/// [`discovery`], each with an empty payload (publish retained, which also clears the
/// retained discovery message).
pub fn removal(opts: &Discovery, camera: &str) -> Vec<(String, String)> {
    ENTITIES.iter().map(|&entity| (config_topic(opts, camera, entity), String::new())).collect()
}

/// `<discovery_prefix>/<component>/<node_id>/<object_id>/config`. Docs: "The discovery
/// topic needs to follow a specific format: `<discovery_prefix>/<component>/[<node_id>/]
/// <object_id>/config`". The node level groups a camera's entities, so one
/// subscription (`homeassistant/+/<node_id>/+/config`) shows all of them. (The docs'
/// "best practice" of `<object_id>` = `unique_id` without `<node_id>` is for entities
/// on their own; here Home Assistant's discovery id, "`<node_id> <object_id>`", is
/// just as unique.)
fn config_topic(opts: &Discovery, camera: &str, entity: Entity) -> String {
    format!(
        "{}/{}/{}/{}/config",
        opts.discovery_prefix,
        entity.component(),
        node_id(&opts.bus_prefix, camera),
        entity.object_id()
    )
}

/// The id of a camera's device, and the `<node_id>` of its discovery topics:
/// `mqcam_<name>_<hash>`. Docs: "The ID of the node must only consist of characters
/// from the character class `[a-zA-Z0-9_-]` (alphanumerics, underscore and hyphen)."
/// The name keeps what it can of the camera's name (readable in MQTT tools); the hash
/// of the prefix and the exact name keeps ids apart when the replacement made two
/// names alike. It is written out here (FNV-1a, 32 bits) because it must never change:
/// a new id would be a new device in Home Assistant.
pub fn node_id(prefix: &str, camera: &str) -> String {
    let readable: String =
        camera.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("mqcam_{readable}_{:08x}", fnv1a(format!("{prefix}/{camera}").as_bytes()))
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// One entity's discovery payload.
fn config(opts: &Discovery, camera: &CameraInfo, entity: Entity) -> Value {
    let prefix = &opts.bus_prefix;
    let name = &camera.name;
    let node = node_id(prefix, name);
    let mut device = json!({
        // Docs (device): "At least one of identifiers or connections must be present to
        // identify the device." Entities with the same identifiers share one device.
        "identifiers": [node],
        "name": name,
        "manufacturer": "mqcam",
        "model": camera.model.as_deref().unwrap_or("mqcam camera"),
        "sw_version": opts.sw_version,
    });
    if let Some(url) = viewer_link(opts, name) {
        device["configuration_url"] = url.into();
    }
    let mut payload = json!({
        // Docs (device): "Only works when `unique_id` is set." And: "When Home Assistant
        // is restarting, discovered MQTT items with a unique ID will be unavailable
        // until a new discovery message is received. MQTT items without a unique ID
        // will not be added at startup."
        "unique_id": format!("{node}_{}", entity.object_id()),
        "device": device,
        // Docs: "It is recommended to add information about the origin of MQTT entities
        // by including the `origin` option … The origin details will be logged in the
        // core event log when an item is discovered or updated."
        "origin": { "name": "mqcam", "sw_version": opts.sw_version },
        // Docs (availability): "`value_template`: Defines a template to extract
        // device's availability from the `topic`. To determine the devices's
        // availability result of this template will be compared to
        // `payload_available` and `payload_not_available`." The status JSON's `state`
        // is online, offline or starting; starting matches neither, so it changes
        // nothing.
        "availability": [{
            "topic": topic::status(prefix, name),
            "value_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
        }],
        "availability_mode": "latest",
    });
    let specific = match entity {
        // Docs (camera): "Messages received on `topic` should contain the full contents
        // of an image file, for example, a JPEG image, without any additional encoding
        // or metadata." and "`image_encoding`: … If not set, the image payload must be
        // raw binary data." The preview is exactly that: a JPEG file (the frame stamp
        // is an APP9 segment inside it, which decoders skip). The full stream would do
        // too, but Home Assistant would then take every full-size frame; the preview is
        // a few small pictures a second. `name: null`: docs "It's allowed to set an MQTT
        // entity's name to `None` … to mark it as the main feature of a device."
        Entity::Picture => json!({
            "name": null,
            "topic": topic::preview(prefix, name),
        }),
        // Docs (binary sensor): "`value_template`: Defines a template that returns a
        // string to be compared to `payload_on`/`payload_off` or an empty string";
        // defaults "ON" and "OFF". `value_json is defined` keeps an empty message
        // (a retained alarm cleared by deleting it) from being an error: it reads OFF.
        // Docs (device classes): "safety: `on` means unsafe, `off` means safe".
        Entity::Alarm => json!({
            "name": "Alarm",
            "device_class": "safety",
            "state_topic": topic::alarm(prefix, name),
            "value_template": "{{ 'ON' if value_json is defined and value_json.active else 'OFF' }}",
            "json_attributes_topic": topic::alarm(prefix, name),
            "qos": 1,
        }),
        // The payloads are the defaults ("ON"/"OFF"): no template.
        Entity::Motion => json!({
            "name": "Motion",
            "device_class": "motion",
            "state_topic": motion_topic(prefix, name),
            "qos": 1,
        }),
        // Frames per second has no sensor device class; the unit is shown as given.
        // Docs: "the entity category must be `diagnostic` for sensors".
        Entity::Fps => json!({
            "name": "Frame rate",
            "state_topic": stats_topic(prefix, name),
            "value_template": "{{ value_json.fps }}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "suggested_display_precision": 1,
            "entity_category": "diagnostic",
            "expire_after": STATS_EXPIRE.as_secs(),
        }),
        // Docs (sensor device classes): "duration: Duration in d, h, min, s, or ms".
        Entity::Latency => json!({
            "name": "Latency",
            "device_class": "duration",
            "state_topic": stats_topic(prefix, name),
            "value_template": "{{ value_json.latency_ms }}",
            "unit_of_measurement": "ms",
            "state_class": "measurement",
            "suggested_display_precision": 0,
            "entity_category": "diagnostic",
            "expire_after": STATS_EXPIRE.as_secs(),
        }),
        // Docs (switch): "In an ideal scenario, the MQTT device will have a
        // `state_topic` to publish state changes. If these messages are published with
        // a RETAIN flag, the MQTT switch will receive an instant state update after
        // subscription". The recording state is retained JSON: ON unless it says off.
        // Home Assistant needs the publisher login to send the command.
        Entity::Recording => json!({
            "name": "Recording",
            "command_topic": topic::recording_switch(prefix, name),
            "state_topic": topic::recording_state(prefix, name),
            "value_template": "{{ 'OFF' if value_json.state == 'off' else 'ON' }}",
            "qos": 1,
            "entity_category": "config",
        }),
    };
    if let (Value::Object(payload), Value::Object(specific)) = (&mut payload, specific) {
        payload.extend(specific);
    }
    payload
}

/// The viewer page showing `camera`: `<viewer_url>?camera=<name>`, the name
/// percent-encoded.
fn viewer_link(opts: &Discovery, camera: &str) -> Option<String> {
    let base = opts.viewer_url.as_deref()?;
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return None;
    }
    let mut name = String::new();
    for b in camera.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    let base = base.split(['?', '#']).next().unwrap_or(base);
    Some(format!("{base}?camera={name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Discovery {
        Discovery { sw_version: "1.2.3".into(), ..Discovery::default() }
    }

    fn camera(name: &str) -> CameraInfo {
        CameraInfo { name: name.into(), model: None, preview: true, motion: true, recording: true }
    }

    fn parsed(messages: &[(String, String)]) -> Vec<(String, Value)> {
        messages
            .iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(t, p)| (t.clone(), serde_json::from_str(p).unwrap_or_else(|e| panic!("{t}: {e}: {p}"))))
            .collect()
    }

    /// The `value_json.<field>` names a template reads.
    fn fields(template: &str) -> Vec<&str> {
        template
            .split("value_json.")
            .skip(1)
            .map(|rest| rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap())
            .collect()
    }

    fn allowed(level: &str) -> bool {
        !level.is_empty() && level.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn a_camera_has_a_picture_an_alarm_motion_two_stats_sensors_and_a_recording_switch() {
        let messages = discovery(&opts(), &camera("door"));
        let node = node_id("mqcam", "door");
        let topics: Vec<&str> = messages.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                format!("homeassistant/camera/{node}/picture/config"),
                format!("homeassistant/binary_sensor/{node}/alarm/config"),
                format!("homeassistant/binary_sensor/{node}/motion/config"),
                format!("homeassistant/sensor/{node}/fps/config"),
                format!("homeassistant/sensor/{node}/latency/config"),
                format!("homeassistant/switch/{node}/recording/config"),
            ]
        );
        assert!(messages.iter().all(|(_, p)| !p.is_empty()));
    }

    #[test]
    fn every_payload_has_the_keys_its_platform_requires() {
        for (topic, p) in parsed(&discovery(&opts(), &camera("door"))) {
            let component = topic.split('/').nth(1).unwrap();
            // Docs: camera "`topic` … required: true"; binary sensor and sensor
            // "`state_topic` … required: true".
            let required = if component == "camera" { "topic" } else { "state_topic" };
            assert!(p[required].as_str().is_some_and(|t| t.starts_with("mqcam/door/")), "{topic}: {p}");
            assert!(p["unique_id"].is_string(), "{topic}");
            assert!(p["device"]["identifiers"][0].is_string() && p["device"]["name"] == "door", "{topic}");
            assert_eq!(p["device"]["sw_version"], "1.2.3");
            assert_eq!(p["origin"]["name"], "mqcam");
            assert!(p.get("availability_topic").is_none(), "must not be used together with `availability`");
            let availability = &p["availability"][0];
            assert_eq!(availability["topic"], "mqcam/door/status");
            assert_eq!(availability["payload_available"], "online");
            assert_eq!(availability["payload_not_available"], "offline");
            assert_eq!(availability["value_template"], "{{ value_json.state }}");
            assert_eq!(p["availability_mode"], "latest");
            assert!(p.get("name").is_some(), "{topic}: every entity names itself (or is null)");
        }
    }

    #[test]
    fn entities_read_the_right_topics_with_the_right_classes() {
        let by_object: std::collections::HashMap<String, Value> =
            parsed(&discovery(&opts(), &camera("door")))
                .into_iter()
                .map(|(t, p)| (t.split('/').nth(3).unwrap().to_string(), p))
                .collect();
        let picture = &by_object["picture"];
        assert_eq!(picture["topic"], "mqcam/door/preview");
        assert!(picture["name"].is_null() && picture.get("image_encoding").is_none());
        let alarm = &by_object["alarm"];
        assert_eq!(
            (&alarm["state_topic"], &alarm["device_class"]),
            (&json!("mqcam/door/alarm"), &json!("safety"))
        );
        assert_eq!(alarm["json_attributes_topic"], "mqcam/door/alarm");
        let motion = &by_object["motion"];
        assert_eq!(motion["state_topic"], "mqcam/door/motion");
        assert_eq!(motion["device_class"], "motion");
        assert!(
            motion.get("value_template").is_none() && motion.get("payload_on").is_none(),
            "defaults ON/OFF"
        );
        for (object, unit) in [("fps", "fps"), ("latency", "ms")] {
            let s = &by_object[object];
            assert_eq!(s["state_topic"], "mqcam/door/stats");
            assert_eq!(s["unit_of_measurement"], unit);
            assert_eq!(s["state_class"], "measurement");
            assert_eq!(s["entity_category"], "diagnostic");
            assert_eq!(s["expire_after"], 60);
        }
        assert_eq!(by_object["latency"]["device_class"], "duration");
    }

    #[test]
    fn templates_read_fields_our_payloads_have() {
        let status: Value =
            serde_json::from_str(r#"{"state":"online","detail":"pattern","at_us":1}"#).unwrap();
        let alarm: Value = serde_json::from_str(&crate::motion::alarm_json(true, 1)).unwrap();
        let stats: Value =
            serde_json::from_str(&CameraStats { fps: 15.0, latency_ms: 40.0, at_us: 1 }.to_json()).unwrap();
        let recording: Value =
            serde_json::from_str(r#"{"state":"recording","bytes":1,"oldest_us":1}"#).unwrap();
        for (topic, p) in parsed(&discovery(&opts(), &camera("door"))) {
            let read = |t: &str| match t.rsplit('/').next() {
                Some("status") => &status,
                Some("alarm") => &alarm,
                Some("stats") => &stats,
                Some("state") if t.ends_with("/rec/state") => &recording,
                _ => panic!("{topic}: a template on {t}"),
            };
            let availability = &p["availability"][0];
            for field in fields(availability["value_template"].as_str().unwrap()) {
                assert!(
                    read(availability["topic"].as_str().unwrap()).get(field).is_some(),
                    "{topic}: {field}"
                );
            }
            if let Some(template) = p["value_template"].as_str() {
                let fields = fields(template);
                assert!(!fields.is_empty(), "{topic}: {template}");
                for field in fields {
                    assert!(
                        read(p["state_topic"].as_str().unwrap()).get(field).is_some(),
                        "{topic}: {field}"
                    );
                }
            }
        }
    }

    #[test]
    fn topics_and_ids_use_only_the_characters_home_assistant_allows() {
        for name in ["door", "Front door", "Küche", "cam.1", "ÿ", "a-b_c"] {
            for (topic, _) in discovery(&opts(), &camera(name)) {
                let levels: Vec<&str> = topic.split('/').collect();
                let [prefix, component, node, object, "config"] = levels[..] else { panic!("{topic}") };
                assert_eq!(prefix, "homeassistant");
                assert!(["camera", "binary_sensor", "sensor", "switch"].contains(&component), "{topic}");
                assert!(allowed(node) && allowed(object), "{topic}");
            }
            for (topic, p) in parsed(&discovery(&opts(), &camera(name))) {
                assert!(allowed(p["unique_id"].as_str().unwrap()), "{topic}");
                assert_eq!(p["device"]["name"], name, "the device keeps the name as written");
            }
        }
        assert!(node_id("mqcam", "Front door").starts_with("mqcam_Front_door_"));
        assert!(node_id("mqcam", "Küche").starts_with("mqcam_K_che_"));
    }

    #[test]
    fn unique_ids_are_distinct_even_when_names_sanitise_alike() {
        let mut ids = std::collections::HashSet::new();
        let mut topics = std::collections::HashSet::new();
        let names = ["front door", "front_door", "front+door", "door", "Door"];
        for name in names {
            for (topic, p) in parsed(&discovery(&opts(), &camera(name))) {
                assert!(ids.insert(p["unique_id"].as_str().unwrap().to_string()), "{name}: {p}");
                assert!(topics.insert(topic));
            }
        }
        assert_eq!(ids.len(), names.len() * 6);
        // The same name under another bus prefix is another device.
        let other = Discovery { bus_prefix: "home".into(), ..opts() };
        assert_ne!(node_id("home", "door"), node_id("mqcam", "door"));
        assert!(parsed(&discovery(&other, &camera("door"))).iter().all(|(t, _)| !topics.contains(t)));
    }

    #[test]
    fn ids_are_the_same_on_every_run() {
        // Written out: a changed id would be a new device in Home Assistant.
        assert_eq!(node_id("mqcam", "door"), format!("mqcam_door_{:08x}", fnv1a(b"mqcam/door")));
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
        let again = discovery(&opts(), &camera("door"));
        assert_eq!(discovery(&opts(), &camera("door")), again);
    }

    #[test]
    fn entities_a_camera_lacks_are_removed_not_left_behind() {
        let bare = CameraInfo { preview: false, motion: false, recording: false, ..camera("door") };
        let messages = discovery(&opts(), &bare);
        let empty: Vec<&str> = messages
            .iter()
            .filter(|(_, p)| p.is_empty())
            .map(|(t, _)| t.split('/').nth(3).unwrap())
            .collect();
        assert_eq!(empty, ["picture", "motion", "recording"]);
        assert_eq!(parsed(&messages).len(), 3);
    }

    #[test]
    fn removal_empties_every_topic_discovery_uses() {
        let removed = removal(&opts(), "door");
        assert!(removed.iter().all(|(_, p)| p.is_empty()));
        let topics = |m: &[(String, String)]| m.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
        assert_eq!(topics(&removed), topics(&discovery(&opts(), &camera("door"))));
    }

    #[test]
    fn a_custom_discovery_prefix_heads_every_topic() {
        let custom = Discovery { discovery_prefix: "ha".into(), ..opts() };
        assert!(discovery(&custom, &camera("door")).iter().all(|(t, _)| t.starts_with("ha/")));
        assert_eq!(birth_topic(&custom), "ha/status");
        assert_eq!(birth_topic(&opts()), "homeassistant/status");
        for bad in ["", "ha/", "/ha", "h+a", "#"] {
            let err = Discovery { discovery_prefix: bad.into(), ..opts() }.check().unwrap_err();
            assert!(err.contains("discovery prefix"), "{err}");
        }
        assert_eq!(opts().check(), Ok(()));
        assert_eq!(Discovery { discovery_prefix: "my/ha".into(), ..opts() }.check(), Ok(()));
    }

    #[test]
    fn devices_link_to_their_live_view_when_the_viewer_address_is_known() {
        let with = |url: &str| Discovery { viewer_url: Some(url.into()), ..opts() };
        let device = |o: &Discovery, name: &str| parsed(&discovery(o, &camera(name)))[0].1["device"].clone();
        assert_eq!(
            device(&with("http://cam-host:8080/"), "Front door")["configuration_url"],
            "http://cam-host:8080/?camera=Front%20door"
        );
        assert_eq!(
            device(&with("https://h/?camera=x"), "Küche")["configuration_url"],
            "https://h/?camera=K%C3%BCche"
        );
        assert!(device(&with("ftp://h/"), "door").get("configuration_url").is_none());
        assert!(device(&opts(), "door").get("configuration_url").is_none());
    }

    #[test]
    fn the_model_says_what_the_camera_is() {
        let described = CameraInfo { model: Some("V4L2 /dev/video0".into()), ..camera("door") };
        assert_eq!(parsed(&discovery(&opts(), &described))[0].1["device"]["model"], "V4L2 /dev/video0");
        assert_eq!(parsed(&discovery(&opts(), &camera("door")))[0].1["device"]["model"], "mqcam camera");
    }

    #[test]
    fn motion_and_stats_have_their_own_topics_and_payloads() {
        assert_eq!(motion_topic("mqcam", "door"), "mqcam/door/motion");
        assert_eq!((motion_payload(true), motion_payload(false)), ("ON", "OFF"));
        assert_eq!(stats_topic("mqcam", "door"), "mqcam/door/stats");
        let stats = CameraStats { fps: 14.96666, latency_ms: 38.249, at_us: 1_764_460_000_123_456 };
        assert_eq!(stats.to_json(), r#"{"fps":14.97,"latency_ms":38.2,"at_us":1764460000123456}"#);
        let back: CameraStats = serde_json::from_str(&stats.to_json()).unwrap();
        assert_eq!(back.at_us, stats.at_us);
        let unknown = CameraStats { fps: 0.0, latency_ms: f64::NAN, at_us: 1 };
        assert_eq!(unknown.to_json(), r#"{"fps":0.0,"latency_ms":null,"at_us":1}"#);
    }
}
