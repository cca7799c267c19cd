//! Several cameras in one edge, configured by a TOML file: every camera's frames reach a
//! subscriber (each JPEG decoded at its camera's size), the counters and the page's
//! `edge.json` list them, the encoders are shared, and a bad file stops the edge with
//! the file, line and key.

use std::{
    io::{Read, Write},
    path::PathBuf,
    process::Command,
};

use crate::util::{check_frames, collect, start_edge, CameraServer, LOOPBACK_ANY_PORTS};
use rumqttc::MqttOptions;

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("edge-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Three JPEGs of `w`×`h` made with the edge's own encoder, for a replay camera.
fn jpegs(dir: &std::path::Path, w: usize, h: usize) {
    for i in 0..3u8 {
        let mut img = edge::frame::Yuv420::new(w, h);
        img.y.iter_mut().enumerate().for_each(|(k, p)| *p = (k as u8).wrapping_mul(i + 1));
        let jpeg = edge::encode::Encoder::new(80).encode_into(&img, Vec::new()).unwrap();
        std::fs::write(dir.join(format!("{i}.jpg")), jpeg).unwrap();
    }
}

/// GET `path` from the edge's site; the body.
fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn one_edge_runs_the_cameras_of_its_config_file() {
    let scratch = Scratch::new("cameras");
    let replay = scratch.0.join("replay");
    std::fs::create_dir_all(&replay).unwrap();
    jpegs(&replay, 96, 64);
    // Two network cameras, each its own process: an MJPEG stream and a snapshot URL.
    let served = scratch.0.join("served");
    std::fs::create_dir_all(&served).unwrap();
    jpegs(&served, 128, 96);
    let stream = CameraServer::start_on(0, &served, &["--fps", "15", "--style", "nolength"]);
    let snapshots = CameraServer::start_on(0, &served, &["--style", "chunked"]);
    let file = scratch.0.join("edge.toml");
    std::fs::write(
        &file,
        format!(
            r#"topic_prefix = "home"
fps = 15

[[camera]]
name = "porch"
source = "{}"

[[camera]]
name = "gate"
source = "snapshot:{}"
fps = 5

[[camera]]
name = "door"
source = "pattern"
size = "640x480"

[[camera]]
name = "yard"
source = "pattern"
size = "160x120"
fps = 10
quality = 40

[[camera]]
name = "shed"
source = "{}"
"#,
            stream.url("/stream"),
            snapshots.url("/snapshot"),
            replay.display()
        ),
    )
    .unwrap();
    let edge = start_edge(&["--config", file.to_str().unwrap()]);
    assert_eq!(edge.topic, "home/porch/frame", "the first camera is the page's default");
    let all =
        [("porch", 128, 96), ("gate", 128, 96), ("door", 640, 480), ("yard", 160, 120), ("shed", 96, 64)];
    for (camera, w, h) in all {
        let opts = MqttOptions::new(format!("it-{camera}"), "127.0.0.1", edge.tcp_port);
        let frames = collect(opts, &format!("home/{camera}/frame"), 8).await;
        check_frames(&frames, w, h);
    }

    // Every camera has a preview for grid tiles: at most 320 wide (never enlarged), made
    // from the planes (the pattern) or from the camera's JPEG (the network camera).
    for (camera, w, h) in [("door", 320, 240), ("porch", 128, 96)] {
        let opts = MqttOptions::new(format!("it-{camera}-preview"), "127.0.0.1", edge.tcp_port);
        check_frames(&collect(opts, &format!("home/{camera}/preview"), 2).await, w, h);
    }

    // The network cameras' JPEGs are passed through untouched.
    let served_jpegs: Vec<Vec<u8>> =
        (0..3).map(|i| std::fs::read(served.join(format!("{i}.jpg"))).unwrap()).collect();
    for camera in ["porch", "gate"] {
        let opts = MqttOptions::new(format!("it-{camera}-bytes"), "127.0.0.1", edge.tcp_port);
        for (payload, _) in collect(opts, &format!("home/{camera}/frame"), 3).await {
            let jpeg = &wire::parse(&payload).unwrap().1[wire::STAMP_LEN..];
            assert!(served_jpegs.iter().any(|j| j[2..] == *jpeg), "{camera}: a served JPEG, byte for byte");
        }
    }

    let listed = get(edge.http_port, "/edge.json");
    for name in ["porch", "gate", "door", "yard", "shed"] {
        assert!(listed.contains(&format!(r#""name":"{name}","topic":"home/{name}/frame""#)), "{listed}");
    }
    let stats = get(edge.http_port, "/stats.json");
    for name in ["porch", "gate", "door", "yard", "shed"] {
        let at = stats.find(&format!(r#""{name}":{{"#)).unwrap_or_else(|| panic!("{name} in {stats}"));
        let published: u64 =
            stats[at..].split(r#""published":"#).nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
        assert!(published >= 8, "{name} published {published}: {stats}");
    }

    // One pool of encoders for all the cameras, no bigger than the machine.
    let cores = std::thread::available_parallelism().unwrap().get();
    let threads = std::fs::read_dir(format!("/proc/{}/task", edge.child.id())).unwrap();
    let encoders = threads
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("encode-"))
        .count();
    assert!((1..=cores).contains(&encoders), "{encoders} encoder threads on {cores} cores");
}

#[test]
fn a_bad_config_file_names_the_file_line_and_key_and_exits_2() {
    let scratch = Scratch::new("bad-config");
    let file = scratch.0.join("edge.toml");
    std::fs::write(&file, "fps = 15\n\n[[camera]]\nname = \"door\"\nsource = \"pattern\"\nquality = 0\n")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(LOOPBACK_ANY_PORTS)
        .args(["--no-login", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "edge: error: {}:6: quality: quality must be a whole number from 1 to 100, got \"0\"",
            file.display()
        )
    );
}

#[tokio::test]
async fn the_directory_answers_a_request_with_every_camera_and_keeps_a_retained_entry() {
    let edge =
        start_edge(&["--camera", "door=pattern,size=160x120,fps=10", "--camera", "yard=pattern,fps=5"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);

    // Request/response, without any retained message: what works on every broker.
    let (viewer, mut events) = rumqttc::AsyncClient::new(opts("dir-viewer"), 10);
    viewer.subscribe("mqcam/_dir/res/dir-viewer", rumqttc::QoS::AtMostOnce).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut asked = false;
    let answer = loop {
        assert!(std::time::Instant::now() < deadline, "no directory answer in 10 s");
        match tokio::time::timeout(std::time::Duration::from_millis(500), events.poll()).await {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) if !asked => {
                viewer
                    .publish("mqcam/_dir/req/dir-viewer", rumqttc::QoS::AtMostOnce, false, Vec::new())
                    .await
                    .unwrap();
                asked = true;
            }
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                let text = String::from_utf8(p.payload.to_vec()).unwrap();
                // Both cameras listed; asked again until both are online.
                if text.matches(r#""state":"online""#).count() == 2 {
                    break text;
                }
                viewer
                    .publish("mqcam/_dir/req/dir-viewer", rumqttc::QoS::AtMostOnce, false, Vec::new())
                    .await
                    .unwrap();
            }
            // Asked before the edge was listening (it has just started): ask again, as a
            // page does.
            Err(_) if asked => {
                viewer
                    .publish("mqcam/_dir/req/dir-viewer", rumqttc::QoS::AtMostOnce, false, Vec::new())
                    .await
                    .unwrap();
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => panic!("viewer connection failed: {e}"),
        }
    };
    assert!(answer.contains(r#""name":"door","frame":"mqcam/door/frame""#), "{answer}");
    assert!(answer.contains(r#""width":160,"height":120,"fps":10"#), "{answer}");
    assert!(answer.contains(r#""name":"yard""#) && answer.contains(r#""fps":5"#), "{answer}");

    // The fast path: the retained entry, for a subscriber to every edge's.
    let entry =
        crate::util::wait_for_message(opts("dir-retained"), "mqcam/_dir/edges/+", r#""name":"yard""#).await;
    assert!(entry.contains(r#""name":"door""#), "{entry}");
}

#[tokio::test]
async fn alarms_come_from_publishers_and_reach_viewers_but_viewers_cannot_raise_them() {
    let edge =
        start_edge(&["--camera", "door=pattern,size=160x120,fps=5", "--publisher-login", "sensor:s3cret"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);

    // A viewer cannot raise one: the gate cuts it off and nothing reaches the topic.
    let (rogue, mut events) = rumqttc::AsyncClient::new(opts("rogue"), 10);
    rogue
        .publish(
            "mqcam/door/alarm",
            rumqttc::QoS::AtMostOnce,
            true,
            br#"{"active":true,"reason":"fake"}"#.to_vec(),
        )
        .await
        .unwrap();
    let cut_off = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while events.poll().await.is_ok() {}
    })
    .await;
    assert!(cut_off.is_ok(), "the gate closes a viewer that raises an alarm");

    // A door sensor with the publisher login can, retained; a viewer sees it.
    let mut sensor_opts = opts("door-sensor");
    sensor_opts.set_credentials("sensor", "s3cret");
    let (sensor, mut sensor_events) = rumqttc::AsyncClient::new(sensor_opts, 10);
    let alarm = r#"{"active":true,"reason":"door opened","at_us":1,"source":"door-sensor"}"#;
    sensor
        .publish("mqcam/door/alarm", rumqttc::QoS::AtLeastOnce, true, alarm.as_bytes().to_vec())
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) = sensor_events.poll().await {
                return;
            }
        }
    })
    .await
    .expect("the alarm is accepted");
    let seen = crate::util::wait_for_message(opts("alarm-viewer"), "mqcam/+/alarm", "door opened").await;
    assert_eq!(seen, alarm);
}

#[tokio::test]
async fn a_network_camera_that_goes_away_is_published_offline_and_comes_back_by_itself() {
    let scratch = Scratch::new("camera-away");
    jpegs(&scratch.0, 64, 48);
    let mut camera = CameraServer::start_on(0, &scratch.0, &["--fps", "10"]);
    let port = camera.port;
    let source = format!("porch={},fps=10", camera.url("/stream"));
    let edge = start_edge(&["--camera", &source]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    check_frames(&collect(opts("before"), "mqcam/porch/frame", 3).await, 64, 48);

    camera.stop();
    let status =
        crate::util::wait_for_message(opts("offline"), "mqcam/porch/status", r#""state":"offline""#).await;
    assert!(status.contains("127.0.0.1"), "says which camera: {status}");

    let _back = CameraServer::start_on(port, &scratch.0, &["--fps", "10"]);
    crate::util::wait_for_message(opts("online"), "mqcam/porch/status", r#""state":"online""#).await;
    check_frames(&collect(opts("after"), "mqcam/porch/frame", 3).await, 64, 48);
}

/// A camera's counters from `/stats.json`: (encoded full frames, previews, unwatched).
fn counters(port: u16, camera: &str) -> (u64, u64, u64) {
    let stats = get(port, "/stats.json");
    let at = stats.find(&format!(r#""{camera}":{{"#)).unwrap_or_else(|| panic!("{camera} in {stats}"));
    let field = |k: &str| -> u64 {
        stats[at..]
            .split(&format!(r#""{k}":"#))
            .nth(1)
            .unwrap()
            .split([',', '}'])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (field("encoded"), field("previews"), field("unwatched"))
}

#[tokio::test]
async fn a_camera_nobody_watches_makes_only_its_preview_and_wakes_for_a_subscriber_or_a_watch_message() {
    let edge = start_edge(&["--camera", "door=pattern,size=320x240,fps=20"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    let second = std::time::Duration::from_secs(1);

    // Nobody watches: no full frames, the preview goes on.
    tokio::time::sleep(second).await;
    let (e0, p0, u0) = counters(edge.http_port, "door");
    tokio::time::sleep(second).await;
    let (e1, p1, u1) = counters(edge.http_port, "door");
    assert_eq!(e1, e0, "no full frame encoded while nobody watches");
    assert!(p1 > p0, "the preview goes on");
    assert!(u1 - u0 >= 10, "frames captured and skipped: {}", u1 - u0);

    // A subscriber to the frames wakes it: fresh frames within a frame interval or so.
    let asked = edge::clock::now_us();
    let frames = collect(opts("watcher"), "mqcam/door/frame", 10).await;
    let fresh =
        frames.iter().find(|(p, _)| wire::parse(p).unwrap().0.capture_us > asked).expect("a fresh frame");
    let woke_ms = (fresh.1 - asked) as f64 / 1000.0;
    assert!(woke_ms < 1000.0, "first fresh frame {woke_ms:.0} ms after subscribing");
    check_frames(&frames[frames.len() - 5..], 320, 240);

    // Gone again (the subscriber disconnected): the full stream stops.
    tokio::time::sleep(second).await;
    let (e2, ..) = counters(edge.http_port, "door");
    tokio::time::sleep(second).await;
    assert_eq!(counters(edge.http_port, "door").0, e2, "stopped once the watcher left");

    // A `watch` message, as any consumer on any broker can send, wakes it too.
    let (client, mut events) = rumqttc::AsyncClient::new(opts("consumer"), 10);
    client.publish("mqcam/door/watch", rumqttc::QoS::AtMostOnce, false, Vec::new()).await.unwrap();
    let _ = tokio::time::timeout(second, async { while events.poll().await.is_ok() {} }).await;
    let (e3, ..) = counters(edge.http_port, "door");
    tokio::time::sleep(second).await;
    assert!(counters(edge.http_port, "door").0 - e3 >= 10, "encoding for the watch message");
}
