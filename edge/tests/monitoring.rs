//! Monitoring over HTTP, as a scraper and a snapshot tool see it: `/snapshot/<cam>.jpg`
//! decodes as a plain JPEG, and `/metrics` parses with Prometheus's own Python parser;
//! and the log, as a file or a pipe gets it: plain lines, only when something happens.

use std::{
    io::{Read, Write},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use base64::Engine;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::util::{spawn_edge_with_stderr, start_edge};

const LOGIN: &str = "viewer:s3cret";

/// One response: status, head (lowercase), body.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// `method path` on the edge's site, with `login` as HTTP Basic.
fn request(port: u16, method: &str, path: &str, login: Option<&str>) -> Response {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = login.map_or(String::new(), |l| {
        format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(l))
    });
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole response head");
    let head = String::from_utf8_lossy(&raw[..at]).to_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    Response { status, head, body: raw[at + 4..].to_vec() }
}

/// The Python with `prometheus_client` the project's setup installs.
fn python() -> PathBuf {
    let venv = std::env::var_os("MQCAM_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME or MQCAM_VENV")).join(".cache/mqcam/venv")
    });
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} missing: make the venv with prometheus-client (scripts/setup) or point MQCAM_VENV at one",
        python.display()
    );
    python
}

/// One sample as Prometheus's parser read it.
#[derive(Debug, serde::Deserialize)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: std::collections::HashMap<String, String>,
    value: f64,
}

/// `/metrics` text through `prometheus_client.parser.text_string_to_metric_families`.
fn parse_with_prometheus(text: &str) -> Vec<Sample> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "kind": f.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// The value of the sample `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| {
            s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .value
}

/// A raw MQTT 3.1.1 CONNECT with a wrong password; the CONNACK's return code.
fn bad_connect(port: u16) -> u8 {
    let string = |s: &str| [&(s.len() as u16).to_be_bytes()[..], s.as_bytes()].concat();
    let body = [string("MQTT"), vec![4, 0xC2, 0, 60], string("intruder"), string("viewer"), string("wrong")]
        .concat();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[&[0x10, body.len() as u8][..], &body].concat()).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack[..3], [0x20, 2, 0], "a CONNACK");
    connack[3]
}

#[tokio::test]
async fn snapshots_decode_and_metrics_parse_with_prometheus() {
    let edge = start_edge(&[
        "--camera",
        "cam1",
        "--source",
        "pattern",
        "--size",
        "160x120",
        "--fps",
        "15",
        "--username",
        "viewer",
        "--password",
        "s3cret",
        "--publisher-login",
        "sensor:pw",
    ]);
    let port = edge.http_port;

    // Nobody watches: the snapshot makes the camera encode a frame, and waits for it.
    let r = request(port, "GET", "/snapshot/cam1.jpg", Some(LOGIN));
    assert_eq!(r.status, 200, "{}{}", r.head, String::from_utf8_lossy(&r.body));
    assert!(
        r.head.contains("content-type: image/jpeg") && r.head.contains("cache-control: no-store"),
        "{}",
        r.head
    );
    let mut decoder = jpeg_decoder::Decoder::new(&r.body[..]);
    decoder.decode().expect("the snapshot decodes as a plain JPEG");
    let info = decoder.info().unwrap();
    assert_eq!((info.width, info.height), (160, 120));
    let head = request(port, "HEAD", "/snapshot/cam1.jpg", Some(LOGIN));
    // A newer frame may have come meanwhile: its length, whatever it is, but no body.
    assert!(
        head.status == 200 && head.body.is_empty() && head.head.contains("content-length: "),
        "{}",
        head.head
    );
    for path in
        ["/snapshot/nope.jpg", "/snapshot/../x", "/snapshot/..%2Fx.jpg", "/snapshot/cam1", "/snapshot/"]
    {
        assert_eq!(request(port, "GET", path, Some(LOGIN)).status, 404, "{path}");
    }
    let r = request(port, "GET", "/snapshot/cam1.jpg", None);
    assert!(r.status == 401 && r.head.contains("www-authenticate: basic"), "{}", r.head);
    assert_eq!(request(port, "GET", "/snapshot/cam1.jpg", Some("viewer:wrong")).status, 401);

    // A wrong login, and an alarm raised by a sensor with the publisher login.
    assert_eq!(bad_connect(edge.tcp_port), 4, "bad user name or password");
    let mut opts = MqttOptions::new("sensor", "127.0.0.1", edge.tcp_port);
    opts.set_credentials("sensor", "pw");
    let (client, mut events) = AsyncClient::new(opts, 8);
    client.publish("mqcam/cam1/alarm", QoS::AtLeastOnce, true, r#"{"active":true}"#).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.expect("the sensor connects") {
                break;
            }
        }
    })
    .await
    .expect("the alarm is acknowledged");

    // The alarm reaches the directory's connection a moment later.
    let mut samples = Vec::new();
    for _ in 0..50 {
        let r = request(port, "GET", "/metrics", Some(LOGIN));
        assert_eq!(r.status, 200);
        assert!(r.head.contains("content-type: text/plain; version=0.0.4"), "{}", r.head);
        samples = parse_with_prometheus(&String::from_utf8(r.body).unwrap());
        if value(&samples, "mqcam_alarm", &[("camera", "cam1")]) == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cam = [("camera", "cam1")];
    assert_eq!(value(&samples, "mqcam_alarm", &cam), 1.0, "the raised alarm is seen");
    assert!(value(&samples, "mqcam_frames_published_total", &cam) > 0.0);
    assert!(value(&samples, "mqcam_frames_captured_total", &cam) > 0.0);
    let count = value(&samples, "mqcam_encode_seconds_count", &cam);
    assert!(count > 0.0);
    assert_eq!(value(&samples, "mqcam_encode_seconds_bucket", &[("camera", "cam1"), ("le", "+Inf")]), count);
    let kind = |family: &str| samples.iter().find(|s| s.family == family).map(|s| s.kind.as_str());
    assert_eq!(kind("mqcam_encode_seconds"), Some("histogram"));
    assert_eq!(kind("mqcam_frames_published"), Some("counter"), "the parser names counters without _total");
    assert_eq!(kind("mqcam_viewers"), Some("gauge"));
    assert_eq!(kind("mqcam_broker_connections_open"), Some("gauge"));
    assert!(value(&samples, "mqcam_broker_refused_logins_total", &[]) >= 1.0);
    assert!(value(&samples, "mqcam_broker_connections_total", &[("transport", "tcp")]) >= 2.0);
    assert!(value(&samples, "mqcam_broker_connections_open", &[]) >= 1.0, "the sensor is connected");
    assert_eq!(value(&samples, "mqcam_viewers", &[("camera", "cam1"), ("rendition", "full")]), 0.0);
    assert!(value(&samples, "mqcam_broker_sent_bytes_total", &[]) > 0.0, "CONNACK and PUBACK went out");
    client.disconnect().await.ok();
}

/// The log sent to a pipe, for a few seconds with a viewer and an alarm: no colour codes,
/// no line a second, but the viewer and the alarm are told.
#[tokio::test]
async fn the_log_in_a_pipe_is_plain_and_says_only_what_changed() {
    let mut edge = spawn_edge_with_stderr(
        &[
            "--source",
            "pattern",
            "--size",
            "96x64",
            "--fps",
            "10",
            "--username",
            "viewer",
            "--password",
            "s3cret",
            "--publisher-login",
            "sensor:pw",
        ],
        std::process::Stdio::piped(),
    );
    let mut log = edge.child.stderr.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut all = Vec::new();
        log.read_to_end(&mut all).map(|_| all)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = |id: &str, user: &str, password: &str| {
        let mut opts = MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
        opts.set_credentials(user, password);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        AsyncClient::new(opts, 64)
    };
    let (viewer, mut viewing) = client("viewer", "viewer", "s3cret");
    viewer.subscribe(edge.topic.clone(), QoS::AtMostOnce).await.unwrap();
    let (sensor, mut sensing) = client("sensor", "sensor", "pw");
    sensor.publish("mqcam/cam1/alarm", QoS::AtLeastOnce, false, r#"{"active":true}"#).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            tokio::select! {
                e = viewing.poll() => { e.expect("the viewer connects"); }
                e = sensing.poll() => { e.expect("the sensor connects"); }
            }
        }
    })
    .await;
    edge.child.kill().unwrap();
    let log = reading.join().unwrap().unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(!log.contains(&0x1b), "no colour codes in a pipe: {text}");
    if std::env::var_os("RUST_LOG").is_none() {
        assert!(!text.contains("publishing"), "no line a second: {text}");
    }
    assert!(
        text.lines().any(|l| l.contains("watching") && !l.contains("nobody") && l.contains("camera=cam1")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains("alarm raised") && l.contains("camera=cam1")), "{text}");
}
