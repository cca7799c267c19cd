//! A camera's smaller renditions through the real embedded broker: a subscriber to
//! `<prefix>/<cam>/half` or `…/quarter` gets frames at half or a quarter of the camera's
//! size (every JPEG decoded independently), from the test pattern's planes and from a
//! replayed camera's JPEGs; a rendition nobody watches is never made; a slow viewer on
//! the quarter stream does not slow a fast one on the full stream; the directory lists
//! each rendition with its size and typical frame size.

use std::{
    io::{Read, Write},
    time::{Duration, Instant},
};

use crate::util::{check_frames, collect, start_edge};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use wire::ack::{Ack, Rendition};

/// GET `path` from the edge's site; the body.
fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// A number field of one rendition of one camera in `/stats.json`.
fn rendition_counter(port: u16, camera: &str, rendition: &str, field: &str) -> u64 {
    let stats = get(port, "/stats.json");
    let at = stats.find(&format!(r#""{camera}":{{"#)).unwrap_or_else(|| panic!("{camera} in {stats}"));
    let at = at + stats[at..].find(&format!(r#""{rendition}":{{"#)).unwrap_or_else(|| panic!("{stats}"));
    stats[at..]
        .split(&format!(r#""{field}":"#))
        .nth(1)
        .and_then(|v| v.split([',', '}']).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} of {rendition} in {stats}"))
}

#[tokio::test]
async fn half_and_quarter_of_the_test_pattern_are_half_and_a_quarter_of_its_size() {
    let edge = start_edge(&["--camera", "door=pattern,size=640x480,fps=20"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    check_frames(&collect(opts("half"), "mqcam/door/half", 8).await, 320, 240);
    check_frames(&collect(opts("quarter"), "mqcam/+/quarter", 8).await, 160, 120);
    // The full stream is as it was.
    check_frames(&collect(opts("full"), "mqcam/door/frame", 4).await, 640, 480);
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

#[tokio::test]
async fn a_replayed_cameras_jpegs_make_renditions_without_a_full_decode() {
    let dir = std::env::temp_dir().join(format!("edge-it-renditions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    jpegs(&dir, 256, 192);
    let source = format!("porch={},fps=15", dir.display());
    let edge = start_edge(&["--camera", &source]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    check_frames(&collect(opts("half"), "mqcam/porch/half", 6).await, 128, 96);
    check_frames(&collect(opts("quarter"), "mqcam/porch/quarter", 6).await, 64, 48);
    // The full stream still passes the camera's JPEGs through byte for byte (behind the
    // stamp, which takes the place of their start marker).
    let served: Vec<Vec<u8>> = (0..3).map(|i| std::fs::read(dir.join(format!("{i}.jpg"))).unwrap()).collect();
    for (payload, _) in collect(opts("full"), "mqcam/porch/frame", 3).await {
        assert!(served.iter().any(|j| j[2..] == wire::parse(&payload).unwrap().1[wire::STAMP_LEN..]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_rendition_nobody_watches_is_never_made() {
    let edge = start_edge(&["--camera", "door=pattern,size=320x240,fps=20"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    // Someone watches the full stream, nobody the half.
    let full = tokio::spawn(collect(opts("full"), "mqcam/door/frame", 40));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rendition_counter(edge.http_port, "door", "half", "published");
    let encoded = rendition_counter(edge.http_port, "door", "half", "encoded");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rendition_counter(edge.http_port, "door", "half", "published"), before);
    assert_eq!(rendition_counter(edge.http_port, "door", "half", "encoded"), encoded, "not even encoded");
    assert!(rendition_counter(edge.http_port, "door", "full", "published") >= 10, "the full stream goes");
    // A subscriber to the half: it is made.
    check_frames(&collect(opts("half"), "mqcam/door/half", 5).await, 160, 120);
    assert!(rendition_counter(edge.http_port, "door", "half", "published") >= before + 5);
    full.await.unwrap();
}

/// What an acknowledging viewer got: frames, and how many said the way to the
/// viewers had been full before them (`wire::flags::HELD`) or said nothing about it.
#[derive(Debug, Default)]
struct Got {
    frames: usize,
    held: usize,
    unreported: usize,
    /// Frames that came after its first acknowledgement, and of those, held ones.
    after_ack: usize,
    held_after_ack: usize,
}

/// A viewer that acknowledges the frames of `topic` as `rendition`, each `delay` after
/// it arrived; counts the frames it got in `seconds`.
async fn acknowledging_viewer(
    port: u16,
    id: &str,
    topic: &str,
    rendition: Rendition,
    delay: Duration,
    seconds: u64,
) -> Got {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut events) = AsyncClient::new(opts, 10);
    client.subscribe(topic, QoS::AtMostOnce).await.unwrap();
    let ack_topic = format!("mqcam/door/ack/{id}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let (mut got, mut due): (Got, Option<(u64, Instant)>) = (Got::default(), None);
    let mut acked = None;
    while Instant::now() < end {
        let wake = due.map_or(end, |(_, at)| at.min(end));
        tokio::select! {
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let (h, _) = wire::parse(&p.payload).unwrap();
                    got.frames += 1;
                    match h.held() {
                        Some(true) => got.held += 1,
                        Some(false) => {}
                        None => got.unreported += 1,
                    }
                    if acked.is_some_and(|at: Instant| at.elapsed() > Duration::from_millis(50)) {
                        got.after_ack += 1;
                        got.held_after_ack += usize::from(h.held() == Some(true));
                    }
                    // The newest frame is the one acknowledged (as a viewer does).
                    let at = due.map_or(Instant::now() + delay, |(_, at)| at);
                    due = Some((h.sequence, at));
                }
                Ok(_) => {}
                Err(e) => panic!("{id}: {e}"),
            },
            _ = tokio::time::sleep_until(wake.into()) => {
                if let Some((sequence, at)) = due {
                    if Instant::now() >= at {
                        let ack = Ack { sequence, window: None, rendition };
                        client.try_publish(&ack_topic, QoS::AtMostOnce, false, ack.encode().to_vec()).unwrap();
                        acked.get_or_insert_with(Instant::now);
                        due = None;
                    }
                }
            }
        }
    }
    got
}

#[tokio::test]
async fn a_slow_viewer_on_the_quarter_stream_does_not_slow_a_fast_one_on_the_full_stream() {
    let edge = start_edge(&["--camera", "door=pattern,size=320x240,fps=30"]);
    let port = edge.tcp_port;
    let fast = |id: &'static str| {
        acknowledging_viewer(port, id, "mqcam/door/frame", Rendition::Full, Duration::ZERO, 3)
    };
    // Alone first, for the rate this machine manages.
    let alone = fast("fast-alone").await;
    // Then beside a viewer that takes 300 ms per quarter frame.
    let slow = tokio::spawn(acknowledging_viewer(
        port,
        "slow",
        "mqcam/door/quarter",
        Rendition::Quarter,
        Duration::from_millis(300),
        4,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let beside = fast("fast-beside").await;
    let slow = slow.await.unwrap();
    eprintln!(
        "full stream: {alone:?} in 3 s alone, {beside:?} beside; the slow quarter viewer {slow:?} in 4 s"
    );
    assert_eq!(alone.unreported + beside.unreported, 0);
    assert!(alone.held * 10 <= alone.frames, "the fast viewer's link had room: {alone:?}");
    let (alone, beside, slow_frames) = (alone.frames, beside.frames, slow.frames);
    assert!(alone >= 45, "the full stream alone: {alone} frames in 3 s");
    assert!(
        beside * 10 >= alone * 8,
        "the full stream beside a slow quarter viewer: {beside} frames, {alone} alone"
    );
    // The slow viewer got what it could take (one frame per acknowledgement, after the
    // frames sent before its first one), not the camera's 120 in 4 s: its own window.
    assert!((3..=40).contains(&slow_frames), "the slow viewer got {slow_frames} quarter frames in 4 s");
    // Each frame says whether the way was full before it: for the slow viewer it was
    // once the edge knew it (the frames before its first acknowledgement went
    // unasked), for the fast one it was not (a stray late acknowledgement aside), so
    // each can tell whether a larger picture has room.
    assert_eq!(slow.unreported, 0);
    assert!(slow.after_ack >= 3 && slow.held_after_ack * 10 >= slow.after_ack * 8, "slow viewer: {slow:?}");
    assert!(rendition_counter(edge.http_port, "door", "quarter", "published") <= 45);
}

/// Waits (10 s) for a retained-or-live message on `topic` that `ok` accepts.
async fn wait_until(opts: MqttOptions, topic: &str, ok: impl Fn(&str) -> bool) -> String {
    let (client, mut events) = AsyncClient::new(opts, 10);
    client.subscribe(topic, QoS::AtMostOnce).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) =
            tokio::time::timeout(Duration::from_millis(500), events.poll()).await
        {
            last = String::from_utf8_lossy(&p.payload).into_owned();
            if ok(&last) {
                return last;
            }
        }
    }
    panic!("nothing acceptable on {topic} in 10 s; last {last}");
}

#[tokio::test]
async fn the_directory_lists_each_rendition_with_its_size_and_typical_frame_size() {
    let edge = start_edge(&[
        "--camera",
        "door=pattern,size=320x240,fps=15",
        "--camera",
        "yard=pattern,renditions=full",
    ]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    let entry = wait_until(opts("dir"), "mqcam/_dir/edges/+", |t| t.contains(r#""name":"yard""#)).await;
    assert!(entry.contains(r#""renditions":[{"name":"full","topic":"mqcam/door/frame","width":320,"height":240,"fps":15,"frame_bytes":"#), "{entry}");
    assert!(
        entry.contains(
            r#"{"name":"half","topic":"mqcam/door/half","width":160,"height":120,"fps":15,"frame_bytes":0}"#
        ),
        "{entry}"
    );
    assert!(entry.contains(r#"{"name":"quarter","topic":"mqcam/door/quarter","width":80,"height":60,"fps":15,"frame_bytes":0}"#), "{entry}");
    assert!(entry.contains(r#""renditions":[{"name":"full","topic":"mqcam/yard/frame","width":640,"height":480,"fps":30,"frame_bytes":"#), "{entry}");
    assert!(!entry.contains("mqcam/yard/half"), "yard publishes the full stream only: {entry}");
    // Once the half has been watched, its typical frame size is known.
    collect(opts("half"), "mqcam/door/half", 5).await;
    let entry = wait_until(opts("dir2"), "mqcam/_dir/edges/+", |t| {
        !t.contains(
            r#""name":"half","topic":"mqcam/door/half","width":160,"height":120,"fps":15,"frame_bytes":0}"#,
        )
    })
    .await;
    let bytes: u64 = entry
        .split(r#""topic":"mqcam/door/half","width":160,"height":120,"fps":15,"frame_bytes":"#)
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((500..20_000).contains(&bytes), "a 160x120 JPEG: {bytes} bytes");
    // The page's edge.json names them too.
    let listed = get(edge.http_port, "/edge.json");
    assert!(
        listed.contains(r#""renditions":["full","half","quarter"]"#)
            && listed.contains(r#""renditions":["full"]"#),
        "{listed}"
    );
}
