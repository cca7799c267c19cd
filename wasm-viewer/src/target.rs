//! Which broker and topic the page connects to. (The topics below the prefix are
//! `wire::topic`'s, shared with the edge.)
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
            nonempty(&query.camera).map(|c| wire::topic::frame(&prefix, &c))
        })
        .or_else(|| edge.and_then(|e| nonempty(&e.topic)))
        .unwrap_or_else(|| wire::topic::frame(DEFAULT_PREFIX, DEFAULT_CAMERA));
    Ok(Target { broker, topic })
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
