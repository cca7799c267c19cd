//! The edge binary end to end, natively: started on free ports with its embedded broker,
//! checked by real MQTT subscribers (TCP and WebSocket) that decode every JPEG.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, Transport};

/// A running edge process, killed on drop.
struct Edge {
    child: Child,
    tcp_port: u16,
    ws_url: String,
    topic: String,
    /// The external broker's URL, when the edge was pointed at one.
    external: Option<String>,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_edge(args: &[&str]) -> Edge {
    let edge = spawn_edge(args);
    assert!(edge.tcp_port != 0 && !edge.ws_url.is_empty(), "embedded broker addresses printed");
    edge
}

/// Starts the edge and reads its banner up to the topic line (the last one).
fn spawn_edge(args: &[&str]) -> Edge {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(["--bind", "127.0.0.1", "--http-port", "0", "--ws-port", "0", "--tcp-port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("edge starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut edge = Edge { child, tcp_port: 0, ws_url: String::new(), topic: String::new(), external: None };
    while edge.topic.is_empty() {
        let line = lines.next().expect("edge prints its addresses").unwrap();
        let mut words = line.split_whitespace();
        let (key, value) = (words.next().unwrap_or_default(), words.next().unwrap_or_default().to_string());
        match key {
            "mqtt-tcp:" => edge.tcp_port = value.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap(),
            "mqtt-ws:" => edge.ws_url = value,
            "broker:" => edge.external = Some(value),
            "topic:" => edge.topic = value,
            _ => {}
        }
    }
    edge
}

use edge::clock::now_us;

/// Subscribes and collects `n` frame payloads (with their receive times) within 15 s.
async fn collect(mut opts: MqttOptions, topic: &str, n: usize) -> Vec<(Vec<u8>, u64)> {
    opts.set_max_packet_size(16 << 20, 16 << 20);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client.subscribe(topic, QoS::AtMostOnce).await.unwrap();
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while frames.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} frames in 15 s", frames.len());
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            // Subscribing while a frame is published can bring it twice (the retained
            // copy and the live one); a viewer skips the repeat, and so does this one.
            Ok(Ok(Event::Incoming(Packet::Publish(p))))
                if frames.last().is_some_and(|(f, _): &(Vec<u8>, u64)| f[..] == p.payload[..]) => {}
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => frames.push((p.payload.to_vec(), now_us())),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("subscriber connection failed: {e}"),
            Err(_) => panic!("no MQTT event for 5 s"),
        }
    }
    frames
}

/// Checks every frame: header parses, JPEG decodes to the header's size, sequence
/// numbers increase, timestamps are ordered and recent.
fn check_frames(frames: &[(Vec<u8>, u64)], width: u32, height: u32) {
    let mut last_seq = None;
    for (payload, received_us) in frames {
        let (h, jpeg) = wire::parse(payload).expect("payload is a frame");
        assert_eq!((h.width, h.height), (width, height));
        let mut decoder = jpeg_decoder::Decoder::new(jpeg);
        let pixels = decoder.decode().expect("JPEG decodes");
        let info = decoder.info().unwrap();
        assert_eq!((info.width as u32, info.height as u32), (width, height));
        assert_eq!(pixels.len(), width as usize * height as usize * 3);
        assert!(h.capture_us <= h.encoded_us, "captured before encoded");
        assert!(h.encoded_us <= *received_us + 1000, "encoded before received");
        assert!(
            received_us - h.capture_us < 2_000_000,
            "frame is recent: {} µs old",
            received_us - h.capture_us
        );
        if let Some(last) = last_seq {
            assert!(h.sequence > last, "sequence increases: {} after {last}", h.sequence);
        }
        last_seq = Some(h.sequence);
    }
}

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
    let host = start_edge(&["--size", "160x120", "--fps", "10"]);
    let url = format!("mqtt://127.0.0.1:{}", host.tcp_port);
    let guest = spawn_edge(&["--broker", &url, "--camera", "guest", "--size", "320x240", "--fps", "20"]);
    assert_eq!(guest.external.as_deref(), Some(url.as_str()));
    assert_eq!((guest.tcp_port, guest.ws_url.as_str()), (0, ""), "no embedded broker");
    let opts = MqttOptions::new("it-ext", "127.0.0.1", host.tcp_port);
    let frames = collect(opts, "mqcam/guest/frame", 10).await;
    check_frames(&frames, 320, 240);

    // The same over MQTT-over-WebSocket, chosen by the URL's scheme.
    let ws_guest = spawn_edge(&["--broker", &host.ws_url, "--camera", "wsguest", "--size", "240x160"]);
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
        .args(["--bind", "127.0.0.1", "--http-port", "0", "--ws-port", "0", "--tcp-port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use") && err.contains("--tcp-port"), "{err}");
    assert!(!err.contains("panicked"));
}

/// A TCP proxy that forwards client→server bytes at `bytes_per_sec` (server→client
/// unthrottled): a slow uplink between the edge and its broker. Its receive buffer is
/// small, as a real slow link's would be, so the edge cannot hide megabytes in it.
async fn slow_uplink(to: u16, bytes_per_sec: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8).unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(("127.0.0.1", to)).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
            tokio::spawn(async move {
                let chunk = 4096;
                let pause = Duration::from_secs_f64(chunk as f64 / bytes_per_sec as f64);
                let mut buf = vec![0u8; chunk];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(pause.mul_f64(n as f64 / chunk as f64)).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn on_a_slow_uplink_frames_are_dropped_and_latency_stays_bounded() {
    // ~20 KB frames at 30 fps is ~600 KB/s; the uplink carries 200 KB/s. A queueing
    // publisher would fall behind by 3 s every second; this one must drop instead.
    let broker = start_edge(&["--size", "160x120", "--fps", "5", "--camera", "unused"]);
    let uplink = slow_uplink(broker.tcp_port, 200_000).await;
    let url = format!("mqtt://127.0.0.1:{uplink}");
    let edge = spawn_edge(&["--broker", &url, "--camera", "slow", "--size", "320x240", "--fps", "30"]);
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

/// Waits for the next retained-or-live message on `topic` whose payload contains `needle`.
async fn wait_for_message(opts: MqttOptions, topic: &str, needle: &str) -> String {
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) =
            tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await
        {
            let text = String::from_utf8_lossy(&p.payload).to_string();
            if text.contains(needle) {
                return text;
            }
            seen.push(text);
        }
    }
    panic!("no message containing {needle:?} on {topic}; saw {seen:?}");
}

#[tokio::test]
async fn the_camera_status_is_retained_online_and_says_offline_when_the_edge_stops() {
    let host = start_edge(&["--size", "160x120", "--fps", "5", "--camera", "host"]);
    let url = format!("mqtt://127.0.0.1:{}", host.tcp_port);
    let mut cam =
        spawn_edge(&["--broker", &url, "--camera", "door", "--source", "pattern", "--size", "160x120"]);
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
    let played: Vec<&[u8]> = frames.iter().map(|(p, _)| wire::parse(p).unwrap().1).collect();
    // Consecutive frames follow the directory order, looping.
    let index = |j: &[u8]| jpegs.iter().position(|x| x == j).expect("a recorded frame, unchanged");
    for w in played.windows(2) {
        assert_eq!((index(w[0]) + 1) % 3, index(w[1]), "in order, looping");
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
