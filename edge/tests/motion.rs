//! Motion detection and Home Assistant discovery, end to end: the real edge on the test
//! pattern, an MQTT client with the publisher login on its embedded broker.
//!
//! The pattern at 640x480 and 10 fps: a white square 80 px high at y 160..240 (a third
//! of the height down) moves right 7 px a frame, from x = 0 to 560 and back to 0 (an
//! 8 s round); the texture behind it scrolls 4 px a frame (slowly enough, from one
//! preview to the next at 5 previews a second, not to count as motion); the frame number
//! is printed in the bottom-left corner.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

use crate::util::start_edge;

const PUBLISHER: &str = "pub:motion-secret";

/// The square's band, and the left quarter of it: the square is inside for the first
/// 2.3 s of each 8 s round.
const ZONE: [f64; 4] = [0.0, 0.3, 0.25, 0.25];

fn pattern_with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "--source",
        "pattern",
        "--size",
        "640x480",
        "--fps",
        "10",
        "--preview-fps",
        "5",
        "--publisher-login",
        PUBLISHER,
    ];
    args.extend(extra);
    args
}

fn publisher(id: &str, port: u16) -> MqttOptions {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    let (user, password) = PUBLISHER.split_once(':').unwrap();
    opts.set_credentials(user, password);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    opts
}

/// Every message on `filters` for `secs` seconds, or until `done` says so: (topic,
/// payload, retained, when received).
async fn listen(
    opts: MqttOptions,
    filters: &[&str],
    secs: u64,
    mut done: impl FnMut(&[(String, String, bool, Instant)]) -> bool,
) -> Vec<(String, String, bool, Instant)> {
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while Instant::now() < deadline && !done(&seen) {
        match tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                let text = String::from_utf8_lossy(&p.payload).to_string();
                seen.push((p.topic.clone(), text, p.retain, Instant::now()));
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => panic!("subscriber connection failed: {e}"),
        }
    }
    seen
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn motion_in_a_zone_raises_the_alarm_and_clears_it_after_the_square_leaves() {
    let zone = "0,0.3,0.25,0.25";
    let edge = start_edge(&pattern_with(&["--motion", "--motion-zone", zone, "--motion-hold", "1"]));
    let alarms = |seen: &[(String, String, bool, Instant)]| -> Vec<(bool, Instant)> {
        seen.iter()
            .filter(|(t, p, _, _)| t == "mqcam/cam1/alarm" && !p.is_empty())
            .map(|(_, p, _, at)| (json(p)["active"] == true, *at))
            .collect()
    };
    // A raise, then a clear: within two rounds of the square.
    let seen = listen(
        publisher("it-motion", edge.tcp_port),
        &["mqcam/cam1/alarm", "mqcam/cam1/detections", "mqcam/cam1/motion"],
        20,
        |seen| {
            let a = alarms(seen);
            let cleared = a.iter().position(|(on, _)| *on).is_some_and(|i| a[i..].iter().any(|(on, _)| !on));
            // The motion state follows the alarm.
            cleared && seen.last().is_some_and(|(t, p, ..)| t == "mqcam/cam1/motion" && p == "OFF")
        },
    )
    .await;
    let a = alarms(&seen);
    let raised = a.iter().position(|(on, _)| *on).unwrap_or_else(|| panic!("no alarm raised: {seen:?}"));
    let cleared = a[raised..].iter().find(|(on, _)| !on).unwrap_or_else(|| panic!("never cleared: {a:?}"));
    let raised_at = a[raised].1;
    // Between them the square was in the zone (~2.3 s) and then the hold (1 s).
    let on_for = cleared.1 - raised_at;
    assert!(on_for >= Duration::from_millis(1500) && on_for <= Duration::from_secs(5), "{on_for:?}");

    // The alarm is the motion one, retained; the motion state follows.
    let alarm = seen.iter().find(|(t, p, _, _)| t == "mqcam/cam1/alarm" && p.contains("true")).unwrap();
    assert_eq!(
        (json(&alarm.1)["source"].as_str(), json(&alarm.1)["reason"].as_str()),
        (Some("motion"), Some("motion"))
    );
    let states: Vec<&str> =
        seen.iter().filter(|(t, ..)| t == "mqcam/cam1/motion").map(|(_, p, ..)| p.as_str()).collect();
    assert!(states.windows(2).any(|w| w == ["ON", "OFF"]), "{states:?}");

    // Every box lies in the zone (cells whose centre is inside it: half a cell of 8
    // preview pixels beyond it at most), and the boxes end with an empty one.
    let detections: Vec<Value> =
        seen.iter().filter(|(t, ..)| t == "mqcam/cam1/detections").map(|(_, p, ..)| json(p)).collect();
    let boxes: Vec<&Value> = detections.iter().flat_map(|d| d["objects"].as_array().unwrap()).collect();
    assert!(!boxes.is_empty(), "boxes while moving");
    let slack = 0.02;
    for object in &boxes {
        assert_eq!(object["label"], "motion");
        let b: Vec<f64> = object["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let [zx, zy, zw, zh] = ZONE;
        assert!(b[0] >= zx - slack && b[1] >= zy - slack, "{b:?} starts inside {ZONE:?}");
        assert!(
            b[0] + b[2] <= zx + zw + slack && b[1] + b[3] <= zy + zh + slack,
            "{b:?} ends inside {ZONE:?}"
        );
    }
    let last_before_clear =
        seen.iter().rfind(|(t, _, _, at)| t == "mqcam/cam1/detections" && *at <= cleared.1);
    let still = json(&last_before_clear.expect("detections before the clear").1);
    assert_eq!(still["objects"].as_array().map(Vec::len), Some(0), "an empty box after the motion: {still}");
    assert!(detections.iter().all(|d| d["producer"] == "motion" && d["sequence"].is_u64()));

    // A subscriber arriving now finds the cleared alarm retained.
    let later =
        listen(publisher("it-motion-late", edge.tcp_port), &["mqcam/cam1/alarm"], 2, |s| !s.is_empty()).await;
    assert!(
        later.first().is_some_and(|(_, p, retained, _)| *retained && json(p)["active"] == false),
        "{later:?}"
    );
}

#[tokio::test]
async fn motion_only_in_ignored_zones_raises_nothing() {
    // The square's band and the frame number's corner ignored; the rest watched.
    let edge = start_edge(&pattern_with(&[
        "--motion",
        "--motion-ignore",
        "0,0.28,1,0.3",
        "--motion-ignore",
        "0,0.85,1,0.15",
        "--motion-hold",
        "1",
    ]));
    // A whole round of the square (8 s) and some.
    let seen = listen(
        publisher("it-ignore", edge.tcp_port),
        &["mqcam/cam1/alarm", "mqcam/cam1/detections", "mqcam/cam1/motion"],
        10,
        |_| false,
    )
    .await;
    assert!(!seen.iter().any(|(t, ..)| t == "mqcam/cam1/alarm"), "no alarm: {seen:?}");
    assert!(!seen.iter().any(|(t, ..)| t == "mqcam/cam1/detections"), "no boxes: {seen:?}");
    let states: Vec<&str> =
        seen.iter().filter(|(t, ..)| t == "mqcam/cam1/motion").map(|(_, p, ..)| p.as_str()).collect();
    assert_eq!(states, ["OFF"], "the motion state, retained, and never ON");
}

#[tokio::test]
async fn home_assistant_finds_each_camera_retained_with_the_documented_keys_and_stats() {
    let edge = start_edge(&pattern_with(&[
        "--camera",
        "door",
        "--motion",
        "--ha-discovery",
        "--public-url",
        "https://cams.example/",
    ]));
    // Arriving after the edge published: only retained messages can be here.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = listen(
        publisher("it-ha", edge.tcp_port),
        &["homeassistant/+/+/+/config", "mqcam/door/stats"],
        10,
        |seen| seen.len() >= 6,
    )
    .await;
    let configs: Vec<&(String, String, bool, Instant)> =
        seen.iter().filter(|(t, ..)| t.ends_with("/config")).collect();
    let mut objects: Vec<&str> = configs.iter().map(|(t, ..)| t.split('/').nth(3).unwrap()).collect();
    objects.sort();
    assert_eq!(objects, ["alarm", "fps", "latency", "motion", "picture"], "{seen:?}");
    for (topic, payload, retained, _) in &configs {
        assert!(*retained, "{topic} is retained");
        let p = json(payload);
        let component = topic.split('/').nth(1).unwrap();
        let state = if component == "camera" { "topic" } else { "state_topic" };
        assert!(p[state].as_str().is_some_and(|t| t.starts_with("mqcam/door/")), "{topic}: {p}");
        assert!(p["unique_id"].is_string(), "{topic}");
        assert!(p["device"]["identifiers"][0].is_string() && p["device"]["name"] == "door", "{topic}");
        assert_eq!(p["availability"][0]["topic"], "mqcam/door/status", "{topic}");
        assert_eq!(p["origin"]["name"], "mqcam");
        // The device links to its live view, at the address given.
        assert_eq!(p["device"]["configuration_url"], "https://cams.example/?camera=door", "{topic}");
    }
    let stats = seen.iter().find(|(t, ..)| t == "mqcam/door/stats").expect("stats published");
    let stats = json(&stats.1);
    assert!(stats["fps"].is_number() && stats["at_us"].is_u64(), "{stats}");
    assert!(stats.get("latency_ms").is_some(), "{stats}");
}

#[tokio::test]
async fn without_discovery_nothing_goes_to_home_assistant() {
    let edge = start_edge(&pattern_with(&["--camera", "door"]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = listen(
        publisher("it-no-ha", edge.tcp_port),
        &["homeassistant/#", "mqcam/+/stats", "mqcam/+/motion"],
        2,
        |_| false,
    )
    .await;
    assert!(seen.is_empty(), "{seen:?}");
}
