//! The edge binary end to end, natively: started on free ports with its embedded broker,
//! checked by real MQTT subscribers (TCP and WebSocket) that decode every JPEG.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use crate::util::{check_frames, collect, slow_uplink, spawn_edge, start_edge, wait_for_message};
use edge::clock::now_us;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, Transport};

/// An edge used as another's broker lets that one publish with this login (its gate
/// refuses camera topics from everyone else).
const PUBLISHER: &str = "it-pub:it-secret";
const LOGIN: [&str; 4] = ["--username", "it-pub", "--password", "it-secret"];

#[tokio::test]
async fn frames_reach_a_tcp_subscriber_as_decodable_jpeg_with_sane_timestamps() {
    let edge = start_edge(&["--size", "320x240", "--fps", "30", "--camera", "it"]);
    assert_eq!(edge.topic, "mqcam/it/frame");
    let opts = MqttOptions::new("it-tcp", "127.0.0.1", edge.tcp_port);
    let started = Instant::now();
    let frames = collect(opts, &edge.topic, 45).await;
    check_frames(&frames, 320, 240);
    // 45 frames at 30 fps: about 1.5 s, not much less (no burst) and not much more.
    let (first, last) = (wire::parse(&frames[0].0).unwrap().0, wire::parse(&frames[44].0).unwrap().0);
    let span_s = (last.capture_us - first.capture_us) as f64 / 1e6;
    let rate = (last.sequence - first.sequence) as f64 / span_s;
    assert!((25.0..=35.0).contains(&rate), "capture rate {rate:.1} fps over {span_s:.2} s");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn frames_reach_a_websocket_subscriber_too() {
    let edge = start_edge(&["--size", "640x480", "--fps", "20"]);
    let mut opts = MqttOptions::new("it-ws", edge.ws_url.clone(), 0);
    opts.set_transport(Transport::Ws);
    let frames = collect(opts, &edge.topic, 10).await;
    check_frames(&frames, 640, 480);
}

#[tokio::test]
async fn an_external_broker_replaces_the_embedded_one() {
    // One edge provides the broker; the second publishes to it and runs none itself.
    let host = start_edge(&["--size", "160x120", "--fps", "10", "--publisher-login", PUBLISHER]);
    let url = format!("mqtt://127.0.0.1:{}", host.tcp_port);
    let guest = spawn_edge(&[
        "--broker", &url, "--camera", "guest", "--size", "320x240", "--fps", "20", LOGIN[0], LOGIN[1],
        LOGIN[2], LOGIN[3],
    ]);
    assert_eq!(guest.external.as_deref(), Some(url.as_str()));
    assert_eq!((guest.tcp_port, guest.ws_url.as_str()), (0, ""), "no embedded broker");
    let opts = MqttOptions::new("it-ext", "127.0.0.1", host.tcp_port);
    let frames = collect(opts, "mqcam/guest/frame", 10).await;
    check_frames(&frames, 320, 240);

    // The same over MQTT-over-WebSocket, chosen by the URL's scheme.
    let ws_guest = spawn_edge(&[
        "--broker",
        &host.ws_url,
        "--camera",
        "wsguest",
        "--size",
        "240x160",
        LOGIN[0],
        LOGIN[1],
        LOGIN[2],
        LOGIN[3],
    ]);
    assert_eq!(ws_guest.external.as_deref(), Some(host.ws_url.as_str()));
    let opts = MqttOptions::new("it-ext-ws", "127.0.0.1", host.tcp_port);
    let frames = collect(opts, "mqcam/wsguest/frame", 10).await;
    check_frames(&frames, 240, 160);
}

#[test]
fn bad_options_exit_non_zero_with_one_clear_line() {
    for (args, expect) in [
        (&["--size", "641x480"][..], "even sides"),
        (&["--size", "big"][..], "640x480"),
        (&["--fps", "500"][..], "500"),
        (&["--broker", "http://x"][..], "mqtt://"),
        (&["--camera", "a/b"][..], "topic level"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_edge")).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_port_in_use_is_a_clear_error_not_a_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args([
            "--no-login",
            "--bind",
            "127.0.0.1",
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--tcp-port",
            &port,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use") && err.contains("--tcp-port"), "{err}");
    assert!(!err.contains("panicked"));
}

// Multi-threaded: the throttling proxy must run while this thread blocks reading the
// edge's banner (the edge checks the broker before printing it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_slow_uplink_frames_are_dropped_and_latency_stays_bounded() {
    // ~20 KB frames at 30 fps is ~600 KB/s; the uplink carries 200 KB/s. A queueing
    // publisher would fall behind by 3 s every second; this one must drop instead.
    let broker = start_edge(&[
        "--size",
        "160x120",
        "--fps",
        "5",
        "--camera",
        "unused",
        "--publisher-login",
        PUBLISHER,
    ]);
    let uplink = slow_uplink(broker.tcp_port, 200_000).await;
    let url = format!("mqtt://127.0.0.1:{uplink}");
    let edge = spawn_edge(&[
        "--broker", &url, "--camera", "slow", "--size", "320x240", "--fps", "30", LOGIN[0], LOGIN[1],
        LOGIN[2], LOGIN[3],
    ]);
    let opts = MqttOptions::new("it-slow", "127.0.0.1", broker.tcp_port);
    // About 8 s of stream at the throttled rate.
    let frames = collect(opts, "mqcam/slow/frame", 40).await;
    let headers: Vec<(wire::FrameHeader, u64)> =
        frames.iter().map(|(p, at)| (wire::parse(p).unwrap().0, *at)).collect();
    let span = headers.last().unwrap().0.sequence - headers[0].0.sequence + 1;
    let dropped = span - headers.len() as u64;
    assert!(dropped > span / 2, "most frames must be dropped: {dropped} of {span}");
    let latency_ms = |(h, at): &(wire::FrameHeader, u64)| (at - h.capture_us) as f64 / 1000.0;
    let last: Vec<f64> = headers[headers.len() - 10..].iter().map(latency_ms).collect();
    let worst = last.iter().cloned().fold(0.0, f64::max);
    eprintln!("slow uplink: {dropped} of {span} dropped; last latencies {last:.0?} ms");
    // What remains is the kernel's send buffer draining at 200 KB/s (~0.7 s); a queueing
    // publisher would be several seconds behind by now and falling further.
    assert!(worst < 1500.0, "latency must not grow: last 10 frames {last:?} ms");
    drop(edge);
}

#[tokio::test]
async fn the_camera_status_is_retained_online_and_says_offline_when_the_edge_stops() {
    let host =
        start_edge(&["--size", "160x120", "--fps", "5", "--camera", "host", "--publisher-login", PUBLISHER]);
    let url = format!("mqtt://127.0.0.1:{}", host.tcp_port);
    let mut cam = spawn_edge(&[
        "--broker", &url, "--camera", "door", "--source", "pattern", "--size", "160x120", LOGIN[0], LOGIN[1],
        LOGIN[2], LOGIN[3],
    ]);
    // A subscriber that arrives later still learns the state: the message is retained.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let online = wait_for_message(
        MqttOptions::new("it-st1", "127.0.0.1", host.tcp_port),
        "mqcam/door/status",
        "online",
    )
    .await;
    assert!(online.contains("test pattern 160x120"), "{online}");

    // SIGTERM: a clean stop publishes offline before disconnecting.
    let pid = cam.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = cam.child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let offline = wait_for_message(
        MqttOptions::new("it-st2", "127.0.0.1", host.tcp_port),
        "mqcam/door/status",
        "offline",
    )
    .await;
    assert!(offline.contains("edge stopped"), "{offline}");
}

#[test]
fn listing_devices_without_any_says_so_and_succeeds() {
    // These machines have no /dev/video*: the listing must say so plainly.
    if std::path::Path::new("/dev/video0").exists() {
        return; // a machine with a camera lists it instead
    }
    let out = Command::new(env!("CARGO_BIN_EXE_edge")).arg("--list-devices").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no video capture devices found (looked for /dev/video*)\n"
    );
}

#[tokio::test]
async fn a_directory_of_jpegs_is_replayed_byte_for_byte_in_order() {
    // Record three frames of a running edge, then replay them: the replay must pass
    // them through untouched (the browser test replays JPEGs from another encoder).
    let dir = std::env::temp_dir().join(format!("edge-it-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = start_edge(&["--size", "96x64", "--fps", "30", "--camera", "rec"]);
    let opts = MqttOptions::new("it-rec", "127.0.0.1", source.tcp_port);
    let recorded = collect(opts, "mqcam/rec/frame", 3).await;
    let jpegs: Vec<Vec<u8>> = recorded.iter().map(|(p, _)| wire::parse(p).unwrap().1.to_vec()).collect();
    for (i, j) in jpegs.iter().enumerate() {
        std::fs::write(dir.join(format!("frame{i}.jpg")), j).unwrap();
    }
    drop(source);

    let replay = start_edge(&["--source", dir.to_str().unwrap(), "--fps", "20", "--camera", "play"]);
    let opts = MqttOptions::new("it-play", "127.0.0.1", replay.tcp_port);
    let frames = collect(opts, "mqcam/play/frame", 7).await;
    check_frames(&frames, 96, 64);
    // Stamped afresh (one stamp, this edge's), the image bytes behind it unchanged.
    let image = |p: &[u8]| p[wire::STAMP_LEN..].to_vec();
    let played: Vec<Vec<u8>> = frames.iter().map(|(p, _)| wire::parse(p).unwrap().1.to_vec()).collect();
    assert!(played.iter().all(|p| !p[wire::STAMP_LEN..].starts_with(&[0xFF, wire::APP9])), "one stamp");
    // Consecutive frames follow the directory order, looping.
    let index =
        |j: &[u8]| jpegs.iter().position(|x| image(x) == image(j)).expect("a recorded frame, unchanged");
    for w in played.windows(2) {
        assert_eq!((index(&w[0]) + 1) % 3, index(&w[1]), "in order, looping");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_slow_acknowledging_viewer_gets_fresh_frames_not_a_queue() {
    // The camera runs at 60 fps; this viewer takes 100 ms per frame and acknowledges
    // each one it draws, as the browser viewer does. The edge must send it only about
    // what it can draw (dropping the rest at the edge), so nothing queues on the way and
    // every frame it draws is fresh.
    let edge = start_edge(&["--size", "320x240", "--fps", "60", "--camera", "slowview"]);
    let mut opts = MqttOptions::new("it-slowview", "127.0.0.1", edge.tcp_port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client.subscribe("mqcam/slowview/frame", QoS::AtMostOnce).await.unwrap();
    // The network side reads eagerly and keeps only the newest frame, like the browser.
    let (latest_tx, mut latest) = tokio::sync::watch::channel(None);
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    latest_tx.send_replace(Some(p.payload));
                }
                Ok(_) => {}
                Err(e) => panic!("subscriber failed: {e}"),
            }
        }
    });
    let mut ages_ms = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        tokio::time::timeout(Duration::from_secs(2), latest.changed())
            .await
            .expect("a frame within 2 s: the edge must not wait forever for acks")
            .unwrap();
        let payload = latest.borrow_and_update().clone().unwrap();
        let (h, _) = wire::parse(&payload).unwrap();
        ages_ms.push((now_us() - h.capture_us) as f64 / 1000.0);
        tokio::time::sleep(Duration::from_millis(100)).await; // decoding and drawing
        let ack = h.sequence.to_le_bytes().to_vec();
        client.publish("mqcam/slowview/ack/it", QoS::AtMostOnce, false, ack).await.unwrap();
    }
    let received = received.load(std::sync::atomic::Ordering::Relaxed);
    let last: Vec<f64> = ages_ms.iter().rev().take(10).copied().collect();
    eprintln!(
        "slow viewer: drew {}, received {received} frames in 4 s (60 fps camera); last ages {last:.0?} ms",
        ages_ms.len()
    );
    // Without flow control it would receive all ~240 frames of the 4 s.
    assert!(
        received <= 2 * ages_ms.len() + 10,
        "the edge sent {received} frames for {} drawn",
        ages_ms.len()
    );
    assert!(last.iter().all(|&a| a < 150.0), "drawn frames are fresh: {last:?}");
}
