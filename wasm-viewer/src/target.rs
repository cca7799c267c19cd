//! Which broker and topic the page connects to, and the topics of the bus below the
//! prefix (every camera's previews, status and alarms, and the camera directory).
//!
//! In order: the page's query parameters (`?broker=ws://…&topic=…` or `?camera=…`), then
//! what the edge that served the page says in `/edge.json`, then defaults. When the edge
//! gives only its WebSocket port, the URL is built from the page's own host name, so a
//! phone that opened the site by LAN address reaches the broker by that address too.

/// What to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub broker: String,
    pub topic: String,
}

/// The fields of `/edge.json` the viewer uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeInfo {
    pub broker: Option<String>,
    pub ws_port: Option<u16>,
    pub ws_path: Option<String>,
    pub topic: Option<String>,
    /// The edge's topic prefix, for `?camera=` (edges before it had none: `mqcam`).
    pub prefix: Option<String>,
    /// The edge's cameras, by name: tiles before the broker is even reached.
    pub cameras: Vec<String>,
    /// What `/edge.json` says of each: picture size, frame rate, renditions offered.
    pub details: Vec<EdgeCamera>,
}

/// A camera as `/edge.json` lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeCamera {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub renditions: Vec<String>,
}

/// The page's query parameters that matter here.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub broker: Option<String>,
    pub topic: Option<String>,
    pub camera: Option<String>,
}

pub const DEFAULT_PREFIX: &str = "mqcam";
pub const DEFAULT_CAMERA: &str = "cam1";

/// Works out the target; the error says what the user can do.
pub fn resolve(
    query: &Query,
    edge: Option<&EdgeInfo>,
    page_protocol: &str,
    page_host: &str,
) -> Result<Target, String> {
    let nonempty = |s: &Option<String>| s.as_ref().filter(|v| !v.is_empty()).cloned();
    let broker = nonempty(&query.broker)
        .or_else(|| edge.and_then(|e| nonempty(&e.broker)))
        .or_else(|| {
            let e = edge?;
            let port = e.ws_port?;
            // A page over https may only open wss:// sockets.
            let scheme = if page_protocol == "https:" { "wss" } else { "ws" };
            let path = e.ws_path.as_deref().unwrap_or("/mqtt");
            Some(format!("{scheme}://{page_host}:{port}{path}"))
        })
        .ok_or_else(|| "no broker known: open the page with ?broker=ws://HOST:9001/mqtt".to_string())?;
    if !(broker.starts_with("ws://") || broker.starts_with("wss://")) {
        return Err(format!(
            "broker {broker:?} is not a ws:// or wss:// URL; browsers speak MQTT only over WebSocket"
        ));
    }
    let topic = nonempty(&query.topic)
        .or_else(|| {
            let prefix = edge.and_then(|e| nonempty(&e.prefix)).unwrap_or_else(|| DEFAULT_PREFIX.to_string());
            nonempty(&query.camera).map(|c| format!("{prefix}/{c}/frame"))
        })
        .or_else(|| edge.and_then(|e| nonempty(&e.topic)))
        .unwrap_or_else(|| format!("{DEFAULT_PREFIX}/{DEFAULT_CAMERA}/frame"));
    Ok(Target { broker, topic })
}

/// `<prefix>/<camera>/frame` split into prefix and camera; `None` for other topics (a
/// page told a topic of its own shows that one stream, with no grid).
pub fn split_frame_topic(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_suffix("/frame")?;
    let (prefix, camera) = rest.rsplit_once('/')?;
    let name = |s: &str| !s.is_empty() && !s.contains(['+', '#']);
    (name(prefix) && name(camera) && !camera.starts_with('_')).then_some((prefix, camera))
}

/// A camera's topic of `kind` (`frame`, `preview`, `status`, `alarm`).
pub fn camera_topic(prefix: &str, camera: &str, kind: &str) -> String {
    format!("{prefix}/{camera}/{kind}")
}

/// What a message on the bus (below the prefix) is about, besides the frames watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus<'a> {
    Preview(&'a str),
    Status(&'a str),
    Alarm(&'a str),
    /// An edge's camera list: its retained entry or its answer to our request.
    Directory,
}

/// The filters that bring every camera's status and alarms, and the camera directory
/// (retained entries, and the answers to this viewer's request). Previews are asked for
/// apart: only while they are on screen (`engine`).
pub fn bus_filters(prefix: &str, client_id: &str) -> Vec<String> {
    vec![
        format!("{prefix}/+/status"),
        format!("{prefix}/+/alarm"),
        format!("{prefix}/_dir/edges/+"),
        format!("{prefix}/_dir/res/{client_id}"),
    ]
}

/// Where this viewer asks every edge for its cameras.
pub fn directory_request(prefix: &str, client_id: &str) -> String {
    format!("{prefix}/_dir/req/{client_id}")
}

/// Sorts a message on the bus; `None` for anything else.
pub fn bus_topic<'a>(prefix: &str, topic: &'a str) -> Option<Bus<'a>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["_dir", "edges" | "res", _] => Some(Bus::Directory),
        [camera, kind] if !camera.is_empty() && !camera.starts_with('_') => match *kind {
            "preview" => Some(Bus::Preview(camera)),
            "status" => Some(Bus::Status(camera)),
            "alarm" => Some(Bus::Alarm(camera)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(port: u16) -> EdgeInfo {
        EdgeInfo {
            ws_port: Some(port),
            ws_path: Some("/mqtt".into()),
            topic: Some("mqcam/door/frame".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_edge_port_is_combined_with_the_page_host() {
        let t = resolve(&Query::default(), Some(&edge(9001)), "http:", "192.168.1.20").unwrap();
        assert_eq!(
            t,
            Target { broker: "ws://192.168.1.20:9001/mqtt".into(), topic: "mqcam/door/frame".into() }
        );
    }

    #[test]
    fn a_camera_in_the_url_is_found_under_the_edges_prefix() {
        let query = Query { camera: Some("yard".into()), ..Default::default() };
        let home = EdgeInfo { prefix: Some("home".into()), ..edge(9001) };
        assert_eq!(resolve(&query, Some(&home), "http:", "h").unwrap().topic, "home/yard/frame");
        assert_eq!(resolve(&query, Some(&edge(9001)), "http:", "h").unwrap().topic, "mqcam/yard/frame");
    }

    #[test]
    fn frame_topics_name_their_prefix_and_camera() {
        assert_eq!(split_frame_topic("home/door/frame"), Some(("home", "door")));
        assert_eq!(split_frame_topic("site/a/home/door/frame"), Some(("site/a/home", "door")));
        for other in
            ["door/frame", "home/door/preview", "x/y", "home/_dir/frame", "home/+/frame", "/door/frame"]
        {
            assert_eq!(split_frame_topic(other), None, "{other}");
        }
        assert_eq!(camera_topic("home", "door", "preview"), "home/door/preview");
    }

    #[test]
    fn bus_topics_are_sorted_by_kind() {
        assert_eq!(bus_topic("home", "home/door/preview"), Some(Bus::Preview("door")));
        assert_eq!(bus_topic("home", "home/door/status"), Some(Bus::Status("door")));
        assert_eq!(bus_topic("home", "home/door/alarm"), Some(Bus::Alarm("door")));
        assert_eq!(bus_topic("home", "home/_dir/edges/pi-1"), Some(Bus::Directory));
        assert_eq!(bus_topic("home", "home/_dir/res/v1"), Some(Bus::Directory));
        for other in [
            "home/door/frame",
            "homeX/door/alarm",
            "home/door/clock/res/v1",
            "other/door/alarm",
            "home/_x/alarm",
        ] {
            assert_eq!(bus_topic("home", other), None, "{other}");
        }
        assert!(bus_filters("home", "v1").contains(&"home/_dir/res/v1".to_string()));
    }

    #[test]
    fn https_pages_use_wss() {
        let t = resolve(&Query::default(), Some(&edge(9001)), "https:", "cam.example").unwrap();
        assert_eq!(t.broker, "wss://cam.example:9001/mqtt");
    }

    #[test]
    fn query_parameters_override_the_edge() {
        let q = Query {
            broker: Some("ws://other:8083/mqtt".into()),
            camera: Some("garage".into()),
            ..Default::default()
        };
        let t = resolve(&q, Some(&edge(9001)), "http:", "h").unwrap();
        assert_eq!(t, Target { broker: "ws://other:8083/mqtt".into(), topic: "mqcam/garage/frame".into() });
        let q = Query { topic: Some("x/y".into()), camera: Some("ignored".into()), ..Default::default() };
        assert_eq!(resolve(&q, Some(&edge(1)), "http:", "h").unwrap().topic, "x/y");
    }

    #[test]
    fn an_external_broker_named_by_the_edge_is_used_as_is() {
        let e = EdgeInfo { broker: Some("ws://b:8083/mqtt".into()), ..Default::default() };
        let t = resolve(&Query::default(), Some(&e), "http:", "h").unwrap();
        assert_eq!(t, Target { broker: "ws://b:8083/mqtt".into(), topic: "mqcam/cam1/frame".into() });
    }

    #[test]
    fn without_any_broker_the_error_says_what_to_do() {
        let err = resolve(&Query::default(), None, "http:", "h").unwrap_err();
        assert!(err.contains("?broker="), "{err}");
        let q = Query { broker: Some("mqtt://b:1883".into()), ..Default::default() };
        assert!(resolve(&q, None, "http:", "h").unwrap_err().contains("WebSocket"));
    }
}
