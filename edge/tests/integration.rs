//! The edge binary end to end, natively: started on free ports with its embedded broker,
//! checked by real MQTT subscribers (TCP and WebSocket) that decode every JPEG.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, Transport};

/// A running edge process, killed on drop.
struct Edge {
    child: Child,
    tcp_port: u16,
    ws_url: String,
    topic: String,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_edge(args: &[&str]) -> Edge {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args([
            "--bind",
            "127.0.0.1",
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--tcp-port",
            "0",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("edge starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut tcp_port, mut ws_url, mut topic) = (None, None, None);
    while tcp_port.is_none() || ws_url.is_none() || topic.is_none() {
        let line = lines.next().expect("edge prints its addresses").unwrap();
        let value = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        match line.split_whitespace().next() {
            Some("mqtt-tcp:") => tcp_port = value.rsplit(':').next().and_then(|p| p.parse().ok()),
            Some("mqtt-ws:") => ws_url = Some(value),
            Some("topic:") => topic = Some(value),
            _ => {}
        }
    }
    Edge {
        child,
        tcp_port: tcp_port.unwrap(),
        ws_url: ws_url.unwrap(),
        topic: topic.unwrap(),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Subscribes and collects `n` frame payloads (with their receive times) within 15 s.
async fn collect(mut opts: MqttOptions, topic: &str, n: usize) -> Vec<(Vec<u8>, u64)> {
    opts.set_max_packet_size(16 << 20, 16 << 20);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    client.subscribe(topic, QoS::AtMostOnce).await.unwrap();
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while frames.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} frames in 15 s",
            frames.len()
        );
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                frames.push((p.payload.to_vec(), now_us()))
            }
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
        assert!(
            h.encoded_us <= *received_us + 1000,
            "encoded before received"
        );
        assert!(
            received_us - h.capture_us < 2_000_000,
            "frame is recent: {} µs old",
            received_us - h.capture_us
        );
        if let Some(last) = last_seq {
            assert!(
                h.sequence > last,
                "sequence increases: {} after {last}",
                h.sequence
            );
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
    let (first, last) = (
        wire::parse(&frames[0].0).unwrap().0,
        wire::parse(&frames[44].0).unwrap().0,
    );
    let span_s = (last.capture_us - first.capture_us) as f64 / 1e6;
    let rate = (last.sequence - first.sequence) as f64 / span_s;
    assert!(
        (25.0..=35.0).contains(&rate),
        "capture rate {rate:.1} fps over {span_s:.2} s"
    );
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

#[test]
fn bad_options_exit_non_zero_with_one_clear_line() {
    for (args, expect) in [
        (&["--size", "641x480"][..], "even sides"),
        (&["--size", "big"][..], "640x480"),
        (&["--fps", "500"][..], "500"),
        (&["--broker", "http://x"][..], "mqtt://"),
        (&["--camera", "a/b"][..], "topic level"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_edge"))
            .args(args)
            .output()
            .unwrap();
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
    assert!(
        err.contains("already in use") && err.contains("--tcp-port"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}
