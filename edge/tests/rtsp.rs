//! RTSP cameras end to end: `examples/rtsp-camera` (our own RTSP/H.264 camera, a separate
//! process, faults on command) serves H.264 made on the spot, and [`RtspSource`] reads
//! it as it would a camera on the LAN. Every picture is checked: its black and white
//! strips at JPEG's levels, and the frame index the camera drew in it, so a smeared or
//! grey frame, or one out of order, cannot pass. One test runs the edge binary and
//! reads what it publishes.

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        atomic::{AtomicU8, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use edge::{
    frame::{Captured, Picture, Yuv420},
    source::{
        rtsp::{RtpTransport, RtspSource, RtspUrl},
        Demand, Source, SourceError, Wanted,
    },
};

#[path = "rtsp_picture.rs"]
mod rtsp_picture;

/// The test camera, running; killed when dropped.
struct Camera {
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
}

/// Where cargo put the example: `target/<profile>/examples/rtsp-camera`, beside the
/// directory of this test binary (`target/<profile>/deps`). `cargo test` builds it.
fn camera_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let bin = profile.join("examples").join("rtsp-camera");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test -p edge` builds it (or `cargo build -p edge --example rtsp-camera`)",
        bin.display()
    );
    bin
}

impl Camera {
    fn start(args: &[&str]) -> Camera {
        let mut child = Command::new(camera_binary())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the test camera");
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(20)).expect("the camera says where it listens");
        let port = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Camera { child, stdin, lines, port }
    }

    fn url(&self, login: &str) -> RtspUrl {
        RtspUrl::parse(&format!("rtsp://{login}127.0.0.1:{}/cam", self.port)).unwrap()
    }

    /// Sends a command and waits for its `ok`.
    fn command(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let reply = self.lines.recv_timeout(Duration::from_secs(60)).expect("the camera answers");
        // A password is answered without itself.
        let verb = command.split_whitespace().next().unwrap_or_default();
        assert!(reply.starts_with(&format!("ok {verb}")), "the camera refused {command:?}: {reply}");
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A picture's planes, or a panic saying what came instead.
fn planes(c: Captured) -> Yuv420 {
    match c.picture {
        Picture::Planar(p) => p,
        other => panic!("expected decoded planes, got {}", other.kind()),
    }
}

/// The frame index drawn in a picture; checks the strips came out at JPEG's full-range
/// black and white (the camera sends limited range: 16 and 235).
fn index(p: &Yuv420) -> u16 {
    let (w, h, s) = (p.width(), p.height(), p.y_stride());
    let l = rtsp_picture::layout(w, h);
    let row = &p.y[(h / 2) * s..(h / 2) * s + w];
    let (black, white) = (row[l.edge / 2], row[w - l.edge / 2]);
    assert!(black <= 6, "black is {black}: limited range not mapped to JPEG's");
    assert!(white >= 249, "white is {white}: limited range not mapped to JPEG's");
    rtsp_picture::read_index(&p.y, s, w, h).expect("a whole picture of the camera")
}

fn next_picture(source: &mut RtspSource) -> Yuv420 {
    planes(source.next_frame().unwrap_or_else(|e| panic!("{e}")))
}

/// A GET on the edge's site (no login: the tests run it with --no-login); the body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a whole response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// MQTT options for a subscriber of the edge's embedded broker, room for whole frames.
fn mqtt(port: u16, id: &str) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
    o.set_max_packet_size(4 << 20, 4 << 20);
    o
}

/// A demand a test can change while the source runs.
fn demand() -> (Arc<AtomicU8>, Wanted) {
    let now = Arc::new(AtomicU8::new(0));
    let n = now.clone();
    let wanted = Wanted::new(move || match n.load(Relaxed) {
        0 => Demand::Every,
        1 => Demand::Sparse,
        _ => Demand::Stop,
    });
    (now, wanted)
}

#[test]
fn h264_pictures_arrive_whole_in_order_at_true_levels_over_tcp_and_udp() {
    let camera = Camera::start(&["--size", "320x240", "--fps", "30", "--gop", "15", "--audio"]);
    for transport in [RtpTransport::Tcp, RtpTransport::Udp] {
        let mut source = RtspSource::new(camera.url(""), transport).unwrap();
        let first = next_picture(&mut source);
        assert_eq!((first.width(), first.height()), (320, 240));
        let mut last = index(&first);
        for _ in 0..40 {
            let i = index(&next_picture(&mut source));
            match transport {
                RtpTransport::Tcp => assert_eq!(i, last.wrapping_add(1), "TCP: every frame, in order"),
                // UDP may lose a datagram on a busy machine (then frames wait for a
                // keyframe): in order, never the same twice.
                RtpTransport::Udp => {
                    assert!(i.wrapping_sub(last) as i16 > 0, "UDP: in order: {last} then {i}")
                }
            }
            last = i;
        }
        assert_eq!(source.describe(), format!("RTSP camera 127.0.0.1:{}/cam (H.264 320x240)", camera.port));
    }
}

#[test]
fn the_capture_time_is_when_the_frame_arrived_here() {
    let camera = Camera::start(&["--size", "160x120", "--fps", "30"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    for _ in 0..10 {
        let before = edge::clock::now_us();
        let frame = source.next_frame().unwrap();
        let after = edge::clock::now_us();
        // Taken from this machine's clock when the frame arrived: never after it was
        // handed over, and close before it was asked for (the camera's RTP clock starts
        // at a random value, so a time from it would be nowhere near). The slack is for
        // a test machine busy with other tests.
        assert!(frame.capture_us <= after && frame.capture_us + 1_000_000 >= before, "{}", frame.capture_us);
    }
}

#[test]
fn a_wrong_password_is_a_401_retried_slowly_and_a_fixed_one_gets_in() {
    let mut camera = Camera::start(&["--size", "160x120", "--user", "admin", "--password", "right"]);
    let mut source = RtspSource::new(camera.url("admin:wrong@"), RtpTransport::Tcp)
        .unwrap()
        .retry_login_after(Duration::from_secs(2));
    let Err(SourceError::Lost(why)) = source.next_frame() else { panic!("a wrong password gets in") };
    assert!(why.contains("401") && why.contains("password"), "{why}");
    assert!(!why.contains("wrong"), "the password is never shown: {why}");
    // Asked again at once: the same answer without knocking again.
    let asked = Instant::now();
    let Err(SourceError::Lost(again)) = source.next_frame() else { panic!("still refused") };
    assert_eq!(again, why);
    assert!(asked.elapsed() < Duration::from_millis(500), "it knocked again: {:?}", asked.elapsed());
    // The camera's password is changed to the one configured: in after the hold.
    camera.command("password wrong");
    std::thread::sleep(Duration::from_secs(2));
    index(&next_picture(&mut source));
}

#[test]
fn digest_and_basic_logins_both_work() {
    for auth in ["digest", "basic"] {
        let camera =
            Camera::start(&["--size", "160x120", "--user", "u", "--password", "p@ss", "--auth", auth]);
        let mut source = RtspSource::new(camera.url("u:p%40ss@"), RtpTransport::Tcp).unwrap();
        index(&next_picture(&mut source));
    }
}

#[test]
fn a_dropped_connection_mid_gop_reconnects_and_only_whole_pictures_follow() {
    let mut camera = Camera::start(&["--size", "320x240", "--fps", "30", "--gop", "60"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    for _ in 0..10 {
        index(&next_picture(&mut source));
    }
    camera.command("drop");
    let mut lost = 0;
    let mut pictures = 0;
    let until = Instant::now() + Duration::from_secs(20);
    while pictures < 10 && Instant::now() < until {
        match source.next_frame() {
            Ok(frame) => {
                index(&planes(frame));
                pictures += 1;
            }
            Err(SourceError::Lost(why)) => {
                lost += 1;
                assert!(why.starts_with(&format!("127.0.0.1:{}/cam: ", camera.port)), "{why}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert!(lost >= 1, "the drop was noticed");
    assert_eq!(pictures, 10, "pictures again after the reconnect");
}

#[test]
fn a_stalled_camera_times_out_and_is_connected_again() {
    let mut camera = Camera::start(&["--size", "160x120", "--fps", "30"]);
    let mut source =
        RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap().frame_timeout(Duration::from_secs(1));
    index(&next_picture(&mut source));
    camera.command("stall 3");
    let stalled = Instant::now();
    let error = loop {
        match source.next_frame() {
            // Frames already on their way when the stall began may still come.
            Ok(_) => assert!(stalled.elapsed() < Duration::from_millis(1000), "frames during the stall"),
            Err(SourceError::Lost(why)) => break why,
        }
    };
    assert!(error.contains("no frame for 1 s"), "{error}");
    let back = loop {
        match source.next_frame() {
            Ok(frame) => break planes(frame),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    index(&back);
    assert!(stalled.elapsed() < Duration::from_secs(10));
}

#[test]
fn after_lost_packets_nothing_shows_until_the_next_keyframe() {
    let gop = 10u16;
    let mut camera = Camera::start(&["--size", "320x240", "--fps", "30", "--gop", "10"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    // The first picture is an IDR (a PLAY starts a GOP): the keyframes are at first + k*gop.
    let first = index(&next_picture(&mut source));
    let mut last = first;
    for _ in 0..3 {
        last = index(&next_picture(&mut source));
    }
    camera.command("lose 2");
    let mut gap = None;
    for _ in 0..30 {
        let i = index(&next_picture(&mut source));
        if i != last.wrapping_add(1) {
            assert!(gap.is_none(), "one gap: {last} → {i}");
            gap = Some((last, i));
        }
        last = i;
    }
    let (before, after) = gap.expect("the frames hit by the loss were not shown");
    assert_eq!(after.wrapping_sub(first) % gop, 0, "resumed at a keyframe: {before} → {after}");
}

#[test]
fn a_resolution_change_mid_stream_is_followed() {
    let mut camera = Camera::start(&["--size", "320x240", "--fps", "30", "--gop", "30"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    let mut last = index(&next_picture(&mut source));
    camera.command("size 480x272");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let p = next_picture(&mut source);
        let i = index(&p);
        assert!(i > last, "in order across the change");
        last = i;
        if (p.width(), p.height()) == (480, 272) {
            break;
        }
        assert_eq!((p.width(), p.height()), (320, 240));
        assert!(Instant::now() < until, "the new size never came");
    }
    assert_eq!(source.describe(), format!("RTSP camera 127.0.0.1:{}/cam (H.264 480x272)", camera.port));
    index(&next_picture(&mut source));
}

#[test]
fn an_h265_camera_is_refused_with_what_to_do() {
    let camera = Camera::start(&["--codec", "h265"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    let Err(SourceError::Lost(why)) = source.next_frame() else { panic!("H.265 is not decoded here") };
    assert!(why.contains("H.265") && why.contains("H.264") && why.contains("substream"), "{why}");
}

#[test]
fn mjpeg_over_rtsp_is_passed_through_as_jpeg() {
    let camera = Camera::start(&["--codec", "jpeg", "--size", "320x240", "--fps", "15"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    let mut last = None;
    for _ in 0..5 {
        let Picture::Jpeg(jpeg) = source.next_frame().unwrap().picture else { panic!("not passed through") };
        let mut decoder = jpeg_decoder::Decoder::new(&jpeg[..]);
        let pixels = decoder.decode().expect("a JPEG an independent decoder reads");
        let info = decoder.info().unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        // The index from the decoded luma: RGB's green tracks it closely enough.
        let luma: Vec<u8> = pixels.chunks(3).map(|p| p[1]).collect();
        let i = rtsp_picture::read_index(&luma, 320, 320, 240).expect("the camera's picture");
        assert!(last.is_none_or(|l: u16| i > l), "in order");
        last = Some(i);
    }
}

#[test]
fn unwatched_only_keyframes_are_decoded_and_watching_again_catches_up_at_once() {
    let gop = 15u16;
    let camera = Camera::start(&["--size", "320x240", "--fps", "30", "--gop", "15"]);
    let mut source = RtspSource::new(camera.url(""), RtpTransport::Tcp).unwrap();
    let (now, wanted) = demand();
    source.wanted(wanted);
    let first = index(&next_picture(&mut source));
    now.store(1, Relaxed);
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(index(&next_picture(&mut source)));
    }
    for k in &keys {
        assert_eq!(k.wrapping_sub(first) % gop, 0, "only keyframes: {first} then {keys:?}");
    }
    // Someone starts watching mid-GOP, while the source waits (unwatched) for the next
    // keyframe: told from another thread, as the pipeline's watchers do.
    let before = source.decoded().frames;
    let flip = {
        let now = now.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(250));
            now.store(0, Relaxed);
        })
    };
    let caught_up = index(&next_picture(&mut source));
    flip.join().unwrap();
    // The picture is a frame between keyframes, reached by decoding the frames kept since
    // the last keyframe, not the next keyframe waited for.
    assert_ne!(caught_up.wrapping_sub(first) % gop, 0, "a frame between keyframes: {caught_up}");
    let decoded = source.decoded().frames - before;
    assert!(decoded >= 3, "{decoded} frames decoded to catch up");
    assert_eq!(index(&next_picture(&mut source)), caught_up + 1);
    // Stopping: the source returns at once.
    now.store(2, Relaxed);
    assert!(source.next_frame().is_err());
}

#[test]
fn an_edge_that_cannot_start_says_why_with_rtsp_cameras_and_does_not_panic() {
    // Its RTSP source (and the source's runtime) is already made when the port turns
    // out to be taken: dropped inside the edge's runtime, it must not panic.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(["--no-login", "--bind", "127.0.0.1", "--ws-port", "0", "--tcp-port", "0", "--http-port", &port])
        .args(["--camera", "door=rtsp://127.0.0.1:9/cam;yard=rtsp://127.0.0.1:9/cam2,preview=snapshot:http://127.0.0.1:9/s.jpg"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn the_edge_publishes_an_rtsp_camera_and_says_why_another_is_offline() {
    use crate::util::{collect, spawn_edge, wait_for_message};
    let camera = Camera::start(&["--size", "320x240", "--fps", "15", "--user", "u", "--password", "pw"]);
    let good = format!("door=rtsp://u:pw@127.0.0.1:{}/cam,on_demand=no", camera.port);
    let bad = format!("yard=rtsp://u:nope@127.0.0.1:{}/cam", camera.port);
    let mut edge = spawn_edge(&["--no-login", "--camera", &format!("{good};{bad}")]);
    let port = edge.tcp_port;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let opts = |id: &str| mqtt(port, id);
        let frames = collect(opts("rtsp-frames"), "mqcam/door/frame", 10).await;
        crate::util::check_frames(&frames, 320, 240);
        let status = wait_for_message(opts("rtsp-status"), "mqcam/yard/status", "offline").await;
        assert!(status.contains("401"), "{status}");
        assert!(!status.contains("nope"), "{status}");
        let online = wait_for_message(opts("rtsp-online"), "mqcam/door/status", "online").await;
        assert!(online.contains("H.264 320x240"), "{online}");
    });
    // The edge counts its decoding: frames and time, for /stats.json and /metrics.
    let stats = http_get(edge.http_port, "/stats.json");
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("stats.json is JSON");
    let door = &stats["cameras"]["door"];
    let (decoded, us) = (door["decoded"].as_u64().unwrap(), door["decode_us"].as_u64().unwrap());
    assert!(decoded >= 10 && us > 0, "{door}");
    assert!(us / decoded < 50_000, "{} µs per 320x240 frame", us / decoded);
    let metrics = http_get(edge.http_port, "/metrics");
    assert!(metrics.contains("mqcam_frames_decoded_total{camera=\"door\"}"), "{metrics}");
    assert!(edge.is_running());
}

/// A TLS front for the test camera, as an `rtsps://` camera has: a certificate of its own
/// for 127.0.0.1 (self-signed, as cameras' are), each connection relayed to the camera's
/// plain port. Runs until the test ends. Returns its port.
fn tls_front(camera_port: u16) -> u16 {
    let dir = std::env::temp_dir().join(format!("edge-rtsps-{}-{camera_port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()]).unwrap().self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(edge::tls::server_config(&cert_path, &key_path).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut camera) = tokio::net::TcpStream::connect(("127.0.0.1", camera_port)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut camera).await;
                });
            }
        });
    });
    port
}

#[test]
fn rtsps_carries_the_stream_over_tls_and_an_unknown_certificate_is_said_plainly() {
    let camera = Camera::start(&["--size", "320x240", "--fps", "30", "--user", "u", "--password", "pw"]);
    let port = tls_front(camera.port);
    let url = || RtspUrl::parse(&format!("rtsps://u:pw@127.0.0.1:{port}/cam")).unwrap();
    // Checked against the system's roots (the default): refused, saying what to do.
    let mut checked = RtspSource::new(url(), RtpTransport::Tcp).unwrap();
    let Err(SourceError::Lost(why)) = checked.next_frame() else {
        panic!("a self-signed certificate passed")
    };
    assert!(why.contains("not trusted") && why.contains("tls_verify=no"), "{why}");
    // tls_verify=no: encrypted, unchecked; the login and the pictures as over rtsp://.
    let mut source = RtspSource::new(url(), RtpTransport::Tcp).unwrap().verify_tls(false);
    let mut last = index(&next_picture(&mut source));
    for _ in 0..20 {
        let i = index(&next_picture(&mut source));
        assert_eq!(i, last.wrapping_add(1));
        last = i;
    }
    assert_eq!(source.describe(), format!("RTSP camera 127.0.0.1:{port}/cam (H.264 320x240)"));
}

#[test]
fn previews_come_from_the_substream_and_the_main_stream_only_while_watched() {
    use crate::util::{check_frames, collect, spawn_edge};
    let main = Camera::start(&["--size", "640x480", "--fps", "15"]);
    let small = Camera::start(&["--size", "160x120", "--fps", "15"]);
    let camera =
        format!("door=rtsp://127.0.0.1:{}/main,preview=rtsp://127.0.0.1:{}/sub", main.port, small.port);
    let edge = spawn_edge(&["--no-login", "--camera", &camera]);
    let port = edge.tcp_port;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let opts = |id: &str| mqtt(port, id);
        // Nobody watches: the previews are the substream's pictures (160 wide; the main
        // stream's would be scaled to 320).
        for (payload, _) in collect(opts("previews"), "mqcam/door/preview", 2).await {
            let (h, _) = wire::parse(&payload).expect("a preview frame");
            assert_eq!((h.width, h.height), (160, 120), "a preview from the substream");
        }
        // Watched: the main stream, full size.
        let frames = collect(opts("viewer"), "mqcam/door/frame", 5).await;
        check_frames(&frames, 640, 480);
    });
}
