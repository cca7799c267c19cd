//! Which brokers and topic the page connects to. (The topics below the prefix are
//! `wire::topic`'s, shared with the edge.)
//!
//! In order: the page's query parameters (`?broker=ws://…&topic=…` or `?camera=…`;
//! `broker` may be repeated), then what the edge that served the page says in
//! `/edge.json` (a `brokers` list, else one `broker`, else its `ws_port`), then defaults.
//! When the edge gives only its WebSocket port, the URL is built from the page's own host
//! name, so a phone that opened the site by LAN address reaches the broker by that
//! address too. Several brokers are the nodes of one cluster: the viewer connects to
//! the first and moves on to the next when one fails (`brokers`).
//!
//! `www/early.js` dials the first broker before this module is loaded, from the same
//! inputs in the same order: keep the two in step.

/// What to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// At least one, each a `ws://` or `wss://` URL, no two the same; the first is tried first.
    pub brokers: Vec<String>,
    pub topic: String,
}

/// The fields of `/edge.json` the viewer uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeInfo {
    /// The brokers viewers may use, in order (a cluster's nodes); before it, `broker`.
    pub brokers: Vec<String>,
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
    /// Every `broker` parameter, in order.
    pub brokers: Vec<String>,
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
    // The first source that names any broker gives them all: the page's own, else the edge's.
    let mut brokers = distinct(&query.brokers);
    if let (true, Some(e)) = (brokers.is_empty(), edge) {
        brokers = distinct(&e.brokers);
        if brokers.is_empty() {
            brokers.extend(nonempty(&e.broker).or_else(|| {
                let port = e.ws_port?;
                // A page over https may only open wss:// sockets.
                let scheme = if page_protocol == "https:" { "wss" } else { "ws" };
                let path = e.ws_path.as_deref().unwrap_or("/mqtt");
                Some(format!("{scheme}://{page_host}:{port}{path}"))
            }));
        }
    }
    if brokers.is_empty() {
        return Err("no broker known: open the page with ?broker=ws://HOST:9001/mqtt".to_string());
    }
    if let Some(broker) = brokers.iter().find(|b| !(b.starts_with("ws://") || b.starts_with("wss://"))) {
        // Quoted by hand: `{:?}` would link Debug's escaping and Unicode tables (wasm
        // bytes every page load pays for) for an error message.
        return Err(format!(
            "broker \"{broker}\" is not a ws:// or wss:// URL; browsers speak MQTT only over WebSocket"
        ));
    }
    let topic = nonempty(&query.topic)
        .or_else(|| {
            let prefix = edge.and_then(|e| nonempty(&e.prefix)).unwrap_or_else(|| DEFAULT_PREFIX.to_string());
            nonempty(&query.camera).map(|c| wire::topic::frame(&prefix, &c))
        })
        .or_else(|| edge.and_then(|e| nonempty(&e.topic)))
        .unwrap_or_else(|| wire::topic::frame(DEFAULT_PREFIX, DEFAULT_CAMERA));
    Ok(Target { brokers, topic })
}

/// The URLs in `list` that are not empty, each once, in order.
fn distinct(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in list.iter().filter(|u| !u.is_empty()) {
        if !out.contains(url) {
            out.push(url.clone());
        }
    }
    out
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
            Target { brokers: vec!["ws://192.168.1.20:9001/mqtt".into()], topic: "mqcam/door/frame".into() }
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
        assert_eq!(t.brokers, ["wss://cam.example:9001/mqtt"]);
    }

    #[test]
    fn query_parameters_override_the_edge() {
        let q = Query {
            brokers: vec!["ws://other:8083/mqtt".into()],
            camera: Some("garage".into()),
            ..Default::default()
        };
        let t = resolve(&q, Some(&edge(9001)), "http:", "h").unwrap();
        assert_eq!(
            t,
            Target { brokers: vec!["ws://other:8083/mqtt".into()], topic: "mqcam/garage/frame".into() }
        );
        let q = Query { topic: Some("x/y".into()), camera: Some("ignored".into()), ..Default::default() };
        assert_eq!(resolve(&q, Some(&edge(1)), "http:", "h").unwrap().topic, "x/y");
    }

    #[test]
    fn an_external_broker_named_by_the_edge_is_used_as_is() {
        let e = EdgeInfo { broker: Some("ws://b:8083/mqtt".into()), ..Default::default() };
        let t = resolve(&Query::default(), Some(&e), "http:", "h").unwrap();
        assert_eq!(t, Target { brokers: vec!["ws://b:8083/mqtt".into()], topic: "mqcam/cam1/frame".into() });
    }

    #[test]
    fn without_any_broker_the_error_says_what_to_do() {
        let err = resolve(&Query::default(), None, "http:", "h").unwrap_err();
        assert!(err.contains("?broker="), "{err}");
        let q = Query { brokers: vec!["mqtt://b:1883".into()], ..Default::default() };
        assert!(resolve(&q, None, "http:", "h").unwrap_err().contains("WebSocket"));
    }

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn a_repeated_broker_parameter_gives_every_broker_in_order_each_once() {
        let q = Query {
            brokers: urls(&["ws://b:15675/ws", "", "ws://a:15675/ws", "ws://b:15675/ws"]),
            ..Default::default()
        };
        let t = resolve(&q, Some(&edge(9001)), "http:", "h").unwrap();
        assert_eq!(t.brokers, ["ws://b:15675/ws", "ws://a:15675/ws"]);
    }

    #[test]
    fn the_edges_list_of_brokers_comes_before_its_single_broker_and_port() {
        let e = EdgeInfo {
            brokers: urls(&["wss://a/ws", "wss://b/ws"]),
            broker: Some("wss://b/ws".into()),
            ..edge(9001)
        };
        let t = resolve(&Query::default(), Some(&e), "https:", "h").unwrap();
        assert_eq!(t.brokers, ["wss://a/ws", "wss://b/ws"]);
        // An empty list is no list.
        let e = EdgeInfo { brokers: urls(&[""]), broker: Some("ws://b:8083/mqtt".into()), ..edge(9001) };
        assert_eq!(resolve(&Query::default(), Some(&e), "http:", "h").unwrap().brokers, ["ws://b:8083/mqtt"]);
    }

    #[test]
    fn the_pages_brokers_replace_the_edges_rather_than_join_them() {
        let q = Query { brokers: urls(&["ws://mine/ws"]), ..Default::default() };
        let e = EdgeInfo { brokers: urls(&["ws://a/ws", "ws://b/ws"]), ..edge(9001) };
        assert_eq!(resolve(&q, Some(&e), "http:", "h").unwrap().brokers, ["ws://mine/ws"]);
    }

    #[test]
    fn one_broker_in_a_list_that_is_not_a_websocket_url_is_named() {
        let q = Query { brokers: urls(&["ws://a/ws", "tcp://b:1883"]), ..Default::default() };
        let err = resolve(&q, None, "http:", "h").unwrap_err();
        assert!(err.contains("\"tcp://b:1883\"") && err.contains("WebSocket"), "{err}");
    }
}
