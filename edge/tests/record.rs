//! Recording and playback, end to end: the real edge on the test pattern recording to a
//! real directory, killed with SIGKILL mid-write, on a disk that fills up, and asked for
//! its recordings over the bus by an MQTT client speaking `wire::playback`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use edge::{clock::now_us, record::store::Track};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use wire::playback::{parse_reply, EventKind, Reply, Request, Seek, SpanKind, Track as Which, PLAY_WINDOW};

use crate::util::start_edge;

const PUBLISHER: &str = "pub:record-secret";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqcam-it-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn client(id: &str, port: u16, publisher: bool) -> (AsyncClient, EventLoop) {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    if publisher {
        let (user, password) = PUBLISHER.split_once(':').unwrap();
        opts.set_credentials(user, password);
    }
    opts.set_max_packet_size(16 << 20, 16 << 20);
    AsyncClient::new(opts, 64)
}

/// The test pattern at 320x240, 10 fps, previews 160 wide at `preview_fps`, recorded
/// continuously into `dir`.
fn small_pattern<'a>(preview_fps: &'a str, dir: &'a str) -> Vec<&'a str> {
    let size = ["--source", "pattern", "--size", "320x240", "--fps", "10", "--preview-width", "160"];
    let record = ["--preview-fps", preview_fps, "--record", "continuous", "--record-dir", dir];
    size.into_iter().chain(record).collect()
}

/// A viewer asking for playback: its requests, and the replies to them.
struct Viewer {
    client: AsyncClient,
    events: EventLoop,
    id: u32,
    request_topic: String,
}

impl Viewer {
    async fn new(port: u16) -> Viewer {
        let (client, mut events) = client("it-playback-viewer", port, false);
        client.subscribe("mqcam/cam1/rec/res/v1", QoS::AtMostOnce).await.unwrap();
        // Until subscribed.
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
                break;
            }
        }
        Viewer { client, events, id: 0, request_topic: "mqcam/cam1/rec/req/v1".into() }
    }

    async fn send(&mut self, request: Request) -> u32 {
        if !matches!(request, Request::Ack { .. }) {
            self.id += 1;
        }
        self.client
            .publish(&self.request_topic, QoS::AtMostOnce, false, request.encode(self.id))
            .await
            .unwrap();
        self.id
    }

    /// The next reply to the current request (others are skipped), within 5 s.
    async fn reply(&mut self) -> (u32, Vec<u8>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let polled = tokio::time::timeout_at(deadline, self.events.poll())
                .await
                .expect("a playback reply within 5 s");
            if let Event::Incoming(Packet::Publish(p)) = polled.unwrap() {
                let (id, n, _) = parse_reply(&p.payload).expect("replies parse");
                if id == self.id {
                    return (n, p.payload.to_vec());
                }
            }
        }
    }
}

/// The capture time and width of a frame reply.
fn frame_of(bytes: &[u8]) -> (Which, u64, u32) {
    match parse_reply(bytes) {
        Some((_, _, Reply::Frame { track, payload })) => {
            let (h, jpeg) = wire::parse(payload).expect("a stamped frame");
            assert!(jpeg.len() > 1000, "a real picture");
            (track, h.capture_us, h.width)
        }
        other => panic!("not a frame: {other:?}"),
    }
}

#[tokio::test]
async fn an_alarm_from_the_bus_is_kept_with_its_pre_roll_and_played_back_over_the_bus() {
    let dir = temp_dir("playback");
    let dir_arg = dir.to_string_lossy().to_string();
    let mut args = small_pattern("4", &dir_arg);
    args.extend(["--pre-roll", "2", "--post-roll", "1", "--publisher-login", PUBLISHER]);
    let edge = start_edge(&args);
    let (publisher, mut pub_events) = client("it-record-alarm", edge.tcp_port, true);
    tokio::spawn(async move { while pub_events.poll().await.is_ok() {} });
    tokio::time::sleep(Duration::from_secs(4)).await;
    let raised = now_us();
    let alarm = |active: bool| {
        format!(r#"{{"active":{active},"reason":"door opened","source":"it-sensor","at_us":{}}}"#, now_us())
    };
    publisher.publish("mqcam/cam1/alarm", QoS::AtLeastOnce, true, alarm(true)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    publisher.publish("mqcam/cam1/alarm", QoS::AtLeastOnce, true, alarm(false)).await.unwrap();
    let cleared = now_us();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut v = Viewer::new(edge.tcp_port).await;
    v.send(Request::Timeline { from_us: raised - 60_000_000, to_us: now_us() }).await;
    let (_, bytes) = v.reply().await;
    let Some((_, _, Reply::Timeline(t))) = parse_reply(&bytes) else { panic!("a timeline") };
    let spans = |k: SpanKind| t.spans.iter().filter(|s| s.kind == k).collect::<Vec<_>>();
    let preview = spans(SpanKind::Recorded(Which::Preview));
    assert_eq!(preview.len(), 1, "the preview all along: {:?}", t.spans);
    assert!(preview[0].end_us - preview[0].start_us > 7_000_000, "{:?}", preview[0]);
    let full = spans(SpanKind::Recorded(Which::Full));
    assert_eq!(full.len(), 1, "{:?}", t.spans);
    // From the pre-roll (2 s before the alarm) to the post-roll (1 s after it cleared).
    let (start, end) = (full[0].start_us, full[0].end_us);
    assert!(
        start.abs_diff(raised - 2_000_000) < 600_000,
        "pre-roll: began {} ms before the alarm",
        (raised - start) / 1000
    );
    assert!(
        end.abs_diff(cleared + 1_000_000) < 600_000,
        "post-roll: ended {} ms after the clear",
        (end as i64 - cleared as i64) / 1000
    );
    assert_eq!(t.events.len(), 1, "{:?}", t.events);
    let e = &t.events[0];
    assert_eq!(
        (e.kind, e.reason.as_str(), e.source.as_str()),
        (EventKind::Alarm, "door opened", "it-sensor")
    );
    assert!(e.end_us > e.start_us);

    // Scrubbing inside the event: the small frame first, then the full one.
    let at = raised + 1_000_000;
    v.send(Request::Frame { at_us: at, track: Which::Best, seek: Seek::AtOrBefore }).await;
    let (first, second) = (frame_of(&v.reply().await.1), frame_of(&v.reply().await.1));
    assert_eq!((first.0, first.2, second.0, second.2), (Which::Preview, 160, Which::Full, 320));
    assert!(at - second.1 <= 100_000 + 20_000, "the full frame at the time asked");
    assert!(at - first.1 <= 250_000 + 20_000, "the preview at the time asked");
    assert!(matches!(parse_reply(&v.reply().await.1), Some((_, 2, Reply::Done))));
    // A step forward and back on the full frames: one frame interval either way.
    v.send(Request::Frame { at_us: second.1, track: Which::Best, seek: Seek::After }).await;
    let next = frame_of(&v.reply().await.1);
    assert_eq!(next.0, Which::Full);
    assert!((90_000..=110_000).contains(&(next.1 - second.1)), "{}", next.1 - second.1);
    v.send(Request::Frame { at_us: second.1, track: Which::Best, seek: Seek::Before }).await;
    let back = frame_of(&v.reply().await.1);
    assert!((90_000..=110_000).contains(&(second.1 - back.1)), "{}", second.1 - back.1);
    // Outside the recordings: nothing there.
    v.send(Request::Frame { at_us: 1_000, track: Which::Full, seek: Seek::AtOrBefore }).await;
    assert!(matches!(parse_reply(&v.reply().await.1), Some((_, 0, Reply::End))));

    // Played at 4x from the event's start, acknowledged frame by frame: in order, about
    // 4x as fast as recorded, to the end of the full frames.
    v.send(Request::Play { from_us: start, track: Which::Full, speed_milli: 4000 }).await;
    let began = Instant::now();
    let mut times = Vec::new();
    loop {
        let (n, bytes) = v.reply().await;
        if matches!(parse_reply(&bytes), Some((_, _, Reply::End))) {
            break;
        }
        times.push(frame_of(&bytes).1);
        v.send(Request::Ack { n }).await;
    }
    let took = began.elapsed().as_secs_f64();
    let recorded = (times.last().unwrap() - times[0]) as f64 / 1e6;
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(times.len() >= 10, "{} frames", times.len());
    assert!(
        took > recorded / 4.0 * 0.8 && took < recorded / 4.0 + 2.0,
        "{recorded:.1} s of footage in {took:.1} s at 4x"
    );
    // Backwards, without acknowledging: the window holds it.
    v.send(Request::Play { from_us: end, track: Which::Full, speed_milli: -1000 }).await;
    let mut back = Vec::new();
    while let Ok((_, bytes)) = tokio::time::timeout(Duration::from_millis(1500), v.reply()).await {
        back.push(frame_of(&bytes).1);
    }
    assert_eq!(back.len() as u32, PLAY_WINDOW + 1, "no acknowledgement, no more than the window");
    assert!(back.windows(2).all(|w| w[0] > w[1]), "backwards: {back:?}");

    // The event exported as a clip that ffprobe (ffmpeg's) reads at the right speed:
    // every full frame, 10 a second, as long as the footage.
    let clip = temp_dir("clip.avi");
    let body = http_get_bytes(edge.http_port, &format!("/export/cam1.avi?from={start}&to={end}"));
    std::fs::write(&clip, &body).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries"])
        .args(["stream=codec_name,width,height,r_frame_rate,nb_read_frames:format=duration", "-of", "json"])
        .arg(&clip)
        .output()
        .expect("ffprobe runs (Debian's ffmpeg; scripts/setup.sh installs it)");
    let p: serde_json::Value =
        serde_json::from_slice(&probe.stdout).unwrap_or_else(|e| panic!("{e}: {probe:?}"));
    let stream = &p["streams"][0];
    assert_eq!((stream["codec_name"].as_str(), stream["width"].as_u64()), (Some("mjpeg"), Some(320)), "{p}");
    // The clip's rate is the recording's median capture interval: 10 fps, give or take
    // a timer's jitter on a busy machine (CI once read 10001/1000).
    let rate = stream["r_frame_rate"]
        .as_str()
        .and_then(|r| r.split_once('/'))
        .map(|(n, d)| n.parse::<f64>().unwrap_or(0.0) / d.parse::<f64>().unwrap_or(1.0));
    assert!(rate.is_some_and(|r| (r - 10.0).abs() <= 0.1), "10 fps: {p}");
    let frames: u64 = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
    let expected = (end - start) / 100_000 + 1;
    assert!(frames.abs_diff(expected) <= 2, "{frames} frames, {expected} recorded");
    let duration: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    let footage = (end - start) as f64 / 1e6;
    assert!((duration - footage).abs() < 0.3, "{duration} s long, {footage} s recorded");
    let _ = std::fs::remove_file(&clip);
    // A recorded frame as a JPEG.
    let jpeg = http_get_bytes(edge.http_port, &format!("/export/cam1.jpg?at={at}"));
    assert_eq!(wire::parse(&jpeg).map(|(h, _)| h.width), Ok(320));

    // A viewer may not switch recording off: the gate cuts it off, nothing changes.
    let written = || metric(&http_get(edge.http_port, "/metrics"), "mqcam_record_frames_written_total");
    let (viewer, mut viewer_events) = client("it-record-switch-viewer", edge.tcp_port, false);
    viewer.publish("mqcam/cam1/rec/set", QoS::AtLeastOnce, false, "OFF").await.unwrap();
    let cut_off = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if viewer_events.poll().await.is_err() {
                break;
            }
        }
    });
    assert!(cut_off.await.is_ok(), "a viewer publishing rec/set is disconnected");
    let before = written();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(written() > before, "still recording");
    // The publisher (Home Assistant's switch) may: nothing is written while off.
    publisher.publish("mqcam/cam1/rec/set", QoS::AtLeastOnce, false, "OFF").await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let off = written();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(written(), off, "nothing written while switched off");
    publisher.publish("mqcam/cam1/rec/set", QoS::AtLeastOnce, false, "ON").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(written() > off, "recording again once switched on");
    drop(edge);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A random number in `0..n`, from a seed that is printed (so a failure can be rerun).
fn next(seed: &mut u64, n: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed % n
}

/// Every frame of a track on disk, read and checked: (capture time, sequence).
fn frames_on_disk(dir: &Path) -> Vec<(u64, u64)> {
    let (track, _) = Track::open(dir).expect("the track opens");
    let mut out = Vec::new();
    for s in &track.segments {
        for e in &s.entries {
            let payload = track.read(s.start_us, *e).expect("every indexed frame reads back intact");
            let (h, _) = wire::parse(&payload).expect("a stamped frame");
            assert_eq!(h.capture_us, e.capture_us);
            out.push((h.capture_us, h.sequence));
        }
    }
    out
}

#[tokio::test]
async fn twenty_kill_9s_lose_nothing_older_than_two_seconds() {
    let dir = temp_dir("kill");
    let dir_arg = dir.to_string_lossy().to_string();
    let mut seed = now_us() | 1;
    eprintln!("kill -9 test seed {seed}");
    let args = small_pattern("10", &dir_arg);
    // What each run published (its preview topic carries the recorded frames), and when it was killed.
    let mut runs: Vec<(Vec<u64>, u64)> = Vec::new();
    for _ in 0..20 {
        let mut edge = start_edge(&args);
        let (sub, mut events) = client("it-record-kill", edge.tcp_port, false);
        sub.subscribe("mqcam/cam1/preview", QoS::AtMostOnce).await.unwrap();
        let run_for = Duration::from_millis(1500 + next(&mut seed, 2500));
        let until = tokio::time::Instant::now() + run_for;
        let mut seen = Vec::new();
        while let Ok(polled) = tokio::time::timeout_at(until, events.poll()).await {
            if let Ok(Event::Incoming(Packet::Publish(p))) = polled {
                if let Ok((h, _)) = wire::parse(&p.payload) {
                    seen.push(h.capture_us);
                }
            }
        }
        let killed = now_us();
        edge.child.kill().unwrap(); // SIGKILL
        edge.child.wait().unwrap();
        assert!(seen.len() >= 5, "the preview was published: {} frames", seen.len());
        runs.push((seen, killed));
    }
    let kept = frames_on_disk(&dir.join("cam1/preview"));
    let kept_times: std::collections::HashSet<u64> = kept.iter().map(|(t, _)| *t).collect();
    let mut missing = 0;
    for (seen, killed) in &runs {
        for t in seen.iter().filter(|t| **t + 2_000_000 < *killed) {
            if !kept_times.contains(t) {
                missing += 1;
                eprintln!("lost: frame captured {} ms before a kill", (killed - t) / 1000);
            }
        }
    }
    let older: usize = runs.iter().map(|(s, k)| s.iter().filter(|t| **t + 2_000_000 < *k).count()).sum();
    eprintln!(
        "kill -9 x{}: {older} frames older than 2 s at their kill checked, {missing} lost; {} kept",
        runs.len(),
        kept.len()
    );
    assert_eq!(missing, 0, "of {older} frames older than 2 s at their kill, {missing} were lost");
    assert!(older > 100, "{older} frames checked");
    assert!(kept.windows(2).all(|w| w[0].0 <= w[1].0), "in time order across restarts");

    // A torn frame at the end of the newest segment (what a power cut mid-write leaves):
    // the next start cuts it, says so, and keeps every frame before it.
    let newest = std::fs::read_dir(dir.join("cam1/preview"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mqr"))
        .max()
        .unwrap();
    let mut torn = std::fs::OpenOptions::new().append(true).open(&newest).unwrap();
    std::io::Write::write_all(&mut torn, b"MQRE\x00\x10\x00\x00half a frame").unwrap();
    drop(torn);
    let log = temp_dir("torn.log");
    let mut edge = crate::util::spawn_edge_with_stderr(&args, std::fs::File::create(&log).unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    edge.child.kill().unwrap();
    edge.child.wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("a torn end of the last segment was cut"), "{said}");
    let after = frames_on_disk(&dir.join("cam1/preview"));
    assert!(kept.iter().all(|f| after.contains(f)), "every frame before the torn one is kept");
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET path` on the edge's site: the body (of a 200).
fn http_get_bytes(port: u16, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let at = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a response");
    assert!(out.starts_with(b"HTTP/1.1 200"), "{path}: {}", String::from_utf8_lossy(&out[..at]));
    out.split_off(at + 4)
}

fn http_get(port: u16, path: &str) -> String {
    String::from_utf8(http_get_bytes(port, path)).unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("{name} in /metrics"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A small tmpfs of its own: a disk that really fills up. Needs root (CI has it).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, megabytes: u32) -> SmallDisk {
        let dir = temp_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a {megabytes} MB tmpfs needs root (CI runs as root)");
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_never_stops_the_live_view_and_the_oldest_footage_makes_room() {
    let disk = SmallDisk::mount("full", 8);
    let dir_arg = disk.0.join("rec").to_string_lossy().to_string();
    let args = [
        "--source",
        "pattern",
        "--size",
        "640x480",
        "--fps",
        "30",
        "--quality",
        "95",
        "--preview-fps",
        "10",
        "--record",
        "continuous",
        "--record-dir",
        &dir_arg,
        "--pre-roll",
        "0",
    ];
    let mut edge = start_edge(&args);
    // "Record now" for a minute: the full stream.
    let mut v = Viewer::new(edge.tcp_port).await;
    v.send(Request::Mark { seconds: 60 }).await;
    assert!(matches!(parse_reply(&v.reply().await.1), Some((_, 0, Reply::Done))));
    let (sub, mut events) = client("it-record-live", edge.tcp_port, false);
    sub.subscribe("mqcam/cam1/preview", QoS::AtMostOnce).await.unwrap();
    sub.subscribe("mqcam/cam1/rec/state", QoS::AtMostOnce).await.unwrap();
    let (mut live, mut states) = (Vec::new(), Vec::new());
    // Listens for `secs` (or until `done` says so): the previews' capture times and the
    // recording states said.
    let mut listen =
        async |secs: u64, live: &mut Vec<u64>, states: &mut Vec<String>, done: &dyn Fn(&[String]) -> bool| {
            let until = tokio::time::Instant::now() + Duration::from_secs(secs);
            while let Ok(polled) = tokio::time::timeout_at(until, events.poll()).await {
                if let Ok(Event::Incoming(Packet::Publish(p))) = polled {
                    if p.topic.ends_with("/preview") {
                        live.push(wire::parse(&p.payload).unwrap().0.capture_us);
                    } else {
                        let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                        states.push(v["state"].as_str().unwrap().to_string());
                        if done(states) {
                            return;
                        }
                    }
                }
            }
        };
    // The full stream (~3 MB/s) would fill 8 MB in under 3 s: retention makes room ahead
    // of it, a segment at a time.
    listen(10, &mut live, &mut states, &|_| false).await;
    let m = http_get(edge.http_port, "/metrics");
    let (deleted, lost_before) =
        (metric(&m, "mqcam_record_segments_deleted_total"), metric(&m, "mqcam_record_frames_lost_total"));
    assert!(deleted >= 3.0, "the oldest segments made room: {deleted}");
    assert_eq!(states, ["recording"], "retention kept ahead of the disk");
    eprintln!("full disk: before the filler, {deleted} segments deleted, {lost_before} frames lost");

    // Another program fills what is left: the next frame does not fit. Said on the bus,
    // the oldest footage deleted for room, and recording goes on.
    let filler = disk.0.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let refilled = |s: &[String]| s.windows(2).any(|w| w[0] == "disk full" && w[1] == "recording");
    listen(25, &mut live, &mut states, &refilled).await;
    assert!(refilled(&states), "said: disk full, then recording again: {states:?}");
    assert!(edge.is_running(), "the edge lives on");
    // The live previews kept coming at their rate all along (10 a second).
    assert!(live.len() >= 150, "{} previews", live.len());
    assert!(live.windows(2).all(|w| w[1] - w[0] < 1_000_000), "no stall of the live stream");
    let m = http_get(edge.http_port, "/metrics");
    let lost = metric(&m, "mqcam_record_frames_lost_total");
    let written = metric(&m, "mqcam_record_frames_written_total");
    let kept = metric(&m, "mqcam_record_bytes");
    assert!(lost > lost_before, "frames were lost to the full disk");
    assert!(kept < 8e6, "within the disk: {kept} bytes");
    eprintln!("full disk: {written} frames written, {lost} lost, {kept} bytes kept");
    // Recording goes on: frames written after the disk was full.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = metric(&http_get(edge.http_port, "/metrics"), "mqcam_record_frames_written_total");
    assert!(again > written + 20.0, "still recording: {written} → {again}");
    // What is kept is the newest, and reads back intact.
    drop(edge);
    let full = frames_on_disk(&disk.0.join("rec/cam1/full"));
    assert!(!full.is_empty());
    assert!(full[0].0 > live[0] + 5_000_000, "the oldest full frames went first");
}

#[test]
fn a_recording_directory_that_cannot_be_written_stops_the_edge_with_one_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(crate::util::LOOPBACK_ANY_PORTS)
        .args([
            "--no-login",
            "--source",
            "pattern",
            "--record",
            "events",
            "--record-dir",
            "/proc/mqcam-recordings",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("recording directory /proc/mqcam-recordings"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
