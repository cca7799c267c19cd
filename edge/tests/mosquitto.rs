//! The edge against a real external broker: Debian's Mosquitto over TCP, started by the
//! test itself on a free loopback port (never the system service). A subscriber checks
//! that frames arrive and decode and that the retained status says online; then the
//! broker is killed and restarted, and the edge must reconnect and carry on. With two
//! mosquittos given as `--broker A --broker B`, the edge fails over from A to B when A
//! dies, starts on B when A is down, and stays on B when A comes back; its events
//! connection (Home Assistant discovery here) follows the frames to B.
//!
//! Needs the `mosquitto` binary: `scripts/setup.sh` installs it. Without it these tests
//! fail (they are never skipped silently).

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::util::{check_frames, free_port, spawn_edge_with_stderr, wait_for_message, Edge};
use edge::clock::now_us;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::mpsc;

/// The mosquitto binary: on PATH, or where Debian puts it (/usr/sbin is not on every
/// user's PATH).
fn mosquitto_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/sbin/mosquitto")]).find(|p| p.is_file()).unwrap_or_else(
        || {
            panic!(
                "mosquitto is not installed (looked on PATH and in /usr/sbin): run scripts/setup.sh, \
                 which installs Debian's mosquitto package for these tests"
            )
        },
    )
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("edge-mosquitto-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A mosquitto process listening on 127.0.0.1:`port`, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Mosquitto {
    /// Writes `dir/mosquitto.conf`, starts mosquitto with it and waits until it accepts
    /// connections. Its log goes to `dir/mosquitto-N.log` (N counts restarts).
    fn start(dir: &Path, port: u16) -> Self {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "# Written by edge/tests/mosquitto.rs.\n\
                 listener {port} 127.0.0.1\n\
                 allow_anonymous true\n\
                 # Nothing survives a restart, retained messages included: after a broker\n\
                 # restart the edge itself must publish its retained status again.\n\
                 persistence false\n\
                 # Frames are up to a few hundred KB. Mosquitto 2.0 sets no limit by default;\n\
                 # say so explicitly, with room above the edge's own 8 MiB payload limit.\n\
                 max_packet_size 16777216\n\
                 log_dest stderr\n\
                 log_type error\n\
                 log_type warning\n\
                 log_type notice\n\
                 log_type information\n"
            ),
        )
        .unwrap();
        let n = std::fs::read_dir(dir).unwrap().count();
        let log = dir.join(format!("mosquitto-{n}.log"));
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("mosquitto starts");
        let mut m = Mosquitto { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = m.child.try_wait() {
                panic!("mosquitto exited at start ({status}); its log:\n{}", m.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            assert!(Instant::now() < deadline, "mosquitto not listening after 5 s; log:\n{}", m.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the broker vanishes without closing anything properly.
    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the edge publishing the test pattern to `broker`, its log in `dir/edge.log`.
fn start_edge_on(broker: &str, dir: &Path, camera: &str, size: &str, fps: &str) -> Edge {
    let log = std::fs::File::create(dir.join("edge.log")).unwrap();
    let args = ["--broker", broker, "--camera", camera, "--source", "pattern", "--size", size, "--fps", fps];
    let edge = spawn_edge_with_stderr(&args, log);
    assert_eq!(edge.external.as_deref(), Some(broker), "the edge names the external broker");
    assert_eq!((edge.tcp_port, edge.ws_url.as_str()), (0, ""), "no embedded broker");
    edge
}

/// The edge's log lines about its broker connection, without colour codes.
fn connection_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("edge.log")).unwrap_or_default();
    let mut plain = String::with_capacity(log.len());
    let mut rest = log.as_str();
    while let Some(i) = rest.find('\x1b') {
        plain.push_str(&rest[..i]);
        rest = rest[i..].find('m').map_or("", |m| &rest[i + m + 1..]);
    }
    plain.push_str(rest);
    plain.lines().filter(|l| l.contains("broker")).collect::<Vec<_>>().join("\n")
}

/// What the watching subscriber saw.
enum Seen {
    Frame(Vec<u8>, u64),
    Status(String),
    ClockReply(Vec<u8>),
}

/// A subscriber to one camera's frames, status and clock replies that, like a viewer,
/// reconnects (every 100 ms) when the broker goes away and subscribes again each time.
struct Watcher {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
    /// Statuses and clock replies seen while waiting for something else.
    statuses: Vec<String>,
    replies: VecDeque<Vec<u8>>,
    /// The last frame kept, to skip the retained + live repeat of one frame.
    last_frame: Option<Vec<u8>>,
    prefix: String,
}

const VIEWER: &str = "mosq-watcher";

impl Watcher {
    fn new(port: u16, camera: &str) -> Self {
        let prefix = format!("mqcam/{camera}");
        let mut opts = MqttOptions::new(format!("{VIEWER}-{camera}"), "127.0.0.1", port);
        opts.set_max_packet_size(16 << 20, 16 << 20);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(opts, 10);
        let (tx, rx) = mpsc::unbounded_channel();
        let filters =
            [format!("{prefix}/frame"), format!("{prefix}/status"), format!("{prefix}/clock/res/{VIEWER}")];
        let (sub, p) = (client.clone(), prefix.clone());
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let f = filters.clone().map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce));
                        let _ = sub.try_subscribe_many(f);
                    }
                    Ok(Event::Incoming(Packet::Publish(m))) => {
                        let seen = if m.topic == format!("{p}/frame") {
                            Seen::Frame(m.payload.to_vec(), now_us())
                        } else if m.topic == format!("{p}/status") {
                            Seen::Status(String::from_utf8_lossy(&m.payload).into_owned())
                        } else {
                            Seen::ClockReply(m.payload.to_vec())
                        };
                        if tx.send(seen).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        // rumqttc reads several packets at a time and would still hand out
                        // the ones the lost connection brought, after reconnecting: forget
                        // them, or frames from before an outage would count as after it.
                        eventloop.state.events.clear();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Watcher { client, rx, task, statuses: Vec::new(), replies: VecDeque::new(), last_frame: None, prefix }
    }

    /// The next frame received within `within`, or `None`.
    async fn next_frame(&mut self, within: Duration) -> Option<(Vec<u8>, u64)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await.ok()?? {
                // An empty frame message clears the retained frame; not a frame.
                Seen::Frame(f, _) if f.is_empty() || self.last_frame.as_ref() == Some(&f) => {}
                Seen::Frame(f, at) => {
                    self.last_frame = Some(f.clone());
                    return Some((f, at));
                }
                Seen::Status(s) => self.statuses.push(s),
                Seen::ClockReply(r) => self.replies.push_back(r),
            }
        }
    }

    /// `n` frames within `within`, or a failure saying how many came.
    async fn frames(&mut self, n: usize, within: Duration) -> Vec<(Vec<u8>, u64)> {
        let deadline = Instant::now() + within;
        let mut frames = Vec::new();
        while frames.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_frame(left).await {
                Some(f) => frames.push(f),
                None => panic!("only {} of {n} frames in {within:?}", frames.len()),
            }
        }
        frames
    }

    /// Waits for a status containing `needle` (seen already, or within `within`).
    async fn status(&mut self, needle: &str, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(s) = self.statuses.iter().find(|s| s.contains(needle)) {
                return s.clone();
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Seen::Status(s))) => self.statuses.push(s),
                Ok(Some(Seen::ClockReply(r))) => self.replies.push_back(r),
                Ok(Some(Seen::Frame(..))) => {}
                Ok(None) | Err(_) => {
                    panic!("no status with {needle:?} in {within:?}; saw {:?}", self.statuses)
                }
            }
        }
    }

    /// Forgets everything received so far.
    fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
        self.statuses.clear();
        self.replies.clear();
    }

    /// Asks the edge for a clock reply (it answers only while it is subscribed to the
    /// clock requests), retrying every 500 ms, and checks the reply echoes the request.
    async fn clock_round_trip(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let request = format!("{}/clock/req/{VIEWER}", self.prefix);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ping = format!("ping-{attempt}").into_bytes();
            self.client.publish(&request, QoS::AtMostOnce, false, ping.clone()).await.unwrap();
            let retry = (tokio::time::Instant::now() + Duration::from_millis(500)).min(deadline);
            loop {
                if let Some(pos) = self.replies.iter().position(|r| r.len() > 16 && r[16..] == ping[..]) {
                    self.replies.remove(pos);
                    return;
                }
                match tokio::time::timeout_at(retry, self.rx.recv()).await {
                    Ok(Some(Seen::ClockReply(r))) => self.replies.push_back(r),
                    Ok(Some(Seen::Status(s))) => self.statuses.push(s),
                    Ok(Some(Seen::Frame(..))) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no clock reply in {within:?} ({attempt} requests): the edge is not subscribed"
            );
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sequence number of a frame payload.
fn sequence(frame: &(Vec<u8>, u64)) -> u64 {
    wire::parse(&frame.0).unwrap().0.sequence
}

#[tokio::test]
async fn frames_and_status_reach_a_subscriber_through_mosquitto() {
    let dir = TempDir::new("stream");
    let broker = Mosquitto::start(&dir.0, free_port());
    let mut edge = start_edge_on(&broker.url(), &dir.0, "mosq", "640x480", "30");
    assert_eq!(edge.topic, "mqcam/mosq/frame");

    let mut watcher = Watcher::new(broker.port, "mosq");
    let frames = watcher.frames(45, Duration::from_secs(15)).await;
    check_frames(&frames, 640, 480);
    let sizes: Vec<usize> = frames.iter().map(|(p, _)| p.len()).collect();
    eprintln!(
        "mosquitto: 45 frames 640x480, {}..{} bytes, sequences {}..{}",
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        sequence(&frames[0]),
        sequence(&frames[44])
    );
    let online = watcher.status("\"state\":\"online\"", Duration::from_secs(5)).await;
    assert!(online.contains("test pattern 640x480"), "{online}");
    // The status is retained: a subscriber arriving now learns it at once.
    let retained = wait_for_message(
        MqttOptions::new("mosq-late", "127.0.0.1", broker.port),
        "mqcam/mosq/status",
        "\"state\":\"online\"",
    )
    .await;
    assert!(retained.contains("test pattern 640x480"), "{retained}");
    // The edge is subscribed to its viewers' topics through mosquitto too.
    watcher.clock_round_trip(Duration::from_secs(5)).await;

    // A clean stop says offline, retained, through mosquitto as through the embedded broker.
    let pid = edge.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = edge.child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let offline = wait_for_message(
        MqttOptions::new("mosq-late2", "127.0.0.1", broker.port),
        "mqcam/mosq/status",
        "\"state\":\"offline\"",
    )
    .await;
    assert!(offline.contains("edge stopped"), "{offline}");
}

#[tokio::test]
async fn the_edge_reconnects_after_mosquitto_is_killed_and_restarted() {
    let dir = TempDir::new("restart");
    let port = free_port();
    let mut broker = Mosquitto::start(&dir.0, port);
    let mut edge = start_edge_on(&broker.url(), &dir.0, "phoenix", "320x240", "30");
    let mut watcher = Watcher::new(port, "phoenix");
    let before = watcher.frames(30, Duration::from_secs(15)).await;
    check_frames(&before, 320, 240);
    watcher.status("\"state\":\"online\"", Duration::from_secs(5)).await;
    watcher.clock_round_trip(Duration::from_secs(5)).await;
    let mut last_sequence = sequence(before.last().unwrap());

    // Two outages: the second shows the backoff was reset and nothing was left in a
    // state that only works once.
    for outage in 1..=2 {
        broker.kill();
        let killed = Instant::now();
        watcher.drain();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(edge.is_running(), "outage {outage}: the edge must survive its broker going away");
        // Nothing can arrive while the broker is down.
        watcher.drain();
        broker = Mosquitto::start(&dir.0, port);
        let restarted = Instant::now();

        let first = watcher.next_frame(Duration::from_secs(10)).await;
        let (resumed, since_kill) = (restarted.elapsed(), killed.elapsed());
        let Some(first) = first else {
            panic!(
                "outage {outage}: no frame within 10 s of mosquitto restarting; edge log:\n{}",
                connection_log(&dir.0)
            );
        };
        eprintln!(
            "outage {outage}: broker down {:.2} s; frames resumed {:.2} s after the restart \
             ({:.2} s after the kill)",
            (restarted - killed).as_secs_f64(),
            resumed.as_secs_f64(),
            since_kill.as_secs_f64()
        );
        assert!(resumed <= Duration::from_secs(10), "outage {outage}: frames resumed after {resumed:?}");

        // Fresh frames again, in order after the ones before the outage.
        let mut after = vec![first];
        after.extend(watcher.frames(30, Duration::from_secs(10)).await);
        check_frames(&after, 320, 240);
        assert!(
            sequence(&after[0]) > last_sequence,
            "outage {outage}: sequence {} after {last_sequence}",
            sequence(&after[0])
        );
        last_sequence = sequence(after.last().unwrap());

        // The new broker remembers nothing: the online status is there only because the
        // edge published it again, retained, on reconnecting.
        let online = watcher.status("\"state\":\"online\"", Duration::from_secs(5)).await;
        assert!(online.contains("test pattern 320x240"), "{online}");
        let retained = wait_for_message(
            MqttOptions::new(format!("phoenix-late-{outage}"), "127.0.0.1", port),
            "mqcam/phoenix/status",
            "\"state\":\"online\"",
        )
        .await;
        assert!(retained.contains("test pattern 320x240"), "{retained}");
        // And it subscribed again to what viewers send it.
        watcher.clock_round_trip(Duration::from_secs(5)).await;
        assert!(edge.is_running(), "outage {outage}: the edge is still running");
    }
    eprintln!("edge log:\n{}", connection_log(&dir.0));
    drop(broker);
}

// Several brokers: `--broker A --broker B`.

/// Starts the edge publishing the test pattern to `brokers` in this order, with the
/// `extra` options (log in `dir/edge.log`).
fn start_edge_on_each(brokers: &[&str], dir: &Path, camera: &str, extra: &[&str]) -> Edge {
    let log = std::fs::File::create(dir.join("edge.log")).unwrap();
    let mut args: Vec<&str> = brokers.iter().flat_map(|b| ["--broker", b]).collect();
    args.extend(["--camera", camera, "--source", "pattern", "--size", "320x240", "--fps", "30"]);
    args.extend(extra);
    spawn_edge_with_stderr(&args, log)
}

/// The retained message on `topic` at the mosquitto on `port`, if one arrives within
/// `within` (a fresh subscriber gets retained messages at once; a live one counts too).
async fn retained(port: u16, topic: &str, within: Duration) -> Option<String> {
    let id = format!("mosq-retained-{}", now_us());
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 10);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let wait = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) if !p.payload.is_empty() => {
                    return String::from_utf8_lossy(&p.payload).into_owned();
                }
                Ok(_) => {}
                // Not up yet: try again.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    tokio::time::timeout(within, wait).await.ok()
}

/// Every frame that arrives within `within`, the last one with when it arrived.
async fn last_frame_within(watcher: &mut Watcher, within: Duration) -> Option<(Vec<u8>, u64)> {
    let mut last = None;
    while let Some(f) = watcher.next_frame(within).await {
        last = Some(f);
    }
    last
}

#[tokio::test]
async fn the_edge_fails_over_to_the_second_mosquitto_when_the_first_dies_and_stays_there() {
    let (dir_a, dir_b) = (TempDir::new("failover-a"), TempDir::new("failover-b"));
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Mosquitto::start(&dir_a.0, port_a);
    let b = Mosquitto::start(&dir_b.0, port_b);
    // Home Assistant discovery: the events connection (motion, discovery, stats) must
    // fail over with the frames. Its retained discovery shows which broker it is on.
    let mut edge = start_edge_on_each(&[&a.url(), &b.url()], &dir_a.0, "twin", &["--ha-discovery"]);
    let discovery =
        format!("homeassistant/sensor/{}/fps/config", edge::homeassistant::node_id("mqcam", "twin"));
    assert_eq!(edge.external.as_deref(), Some(a.url().as_str()), "the edge starts on the first broker");
    let (mut on_a, mut on_b) = (Watcher::new(port_a, "twin"), Watcher::new(port_b, "twin"));
    check_frames(&on_a.frames(30, Duration::from_secs(15)).await, 320, 240);
    assert!(on_b.next_frame(Duration::from_millis(500)).await.is_none(), "nothing on B while A works");
    assert!(retained(port_a, &discovery, Duration::from_secs(5)).await.is_some(), "discovery on A");
    assert!(retained(port_b, &discovery, Duration::from_millis(500)).await.is_none(), "and not on B");

    // A dies mid-stream: frames go on through B within a few seconds.
    a.kill();
    let killed_us = now_us();
    let last_on_a =
        last_frame_within(&mut on_a, Duration::from_millis(200)).await.expect("frames on A until it died");
    let Some(first_on_b) = on_b.next_frame(Duration::from_secs(10)).await else {
        panic!("no frame on B within 10 s of A dying; edge log:\n{}", connection_log(&dir_a.0));
    };
    let gap_ms = first_on_b.1.saturating_sub(last_on_a.1) as f64 / 1000.0;
    let since_kill_ms = first_on_b.1.saturating_sub(killed_us) as f64 / 1000.0;
    eprintln!(
        "failover: last frame on A → first frame on B {gap_ms:.0} ms ({since_kill_ms:.0} ms after the kill)"
    );
    assert!(gap_ms < 5000.0, "frames stopped for {gap_ms} ms");
    let mut after = vec![first_on_b];
    after.extend(on_b.frames(30, Duration::from_secs(10)).await);
    check_frames(&after, 320, 240);
    assert!(sequence(&after[0]) > sequence(&last_on_a), "B carries on after A's last frame");
    // As on every reconnect: the retained status again, and subscribed again.
    let online = on_b.status("\"state\":\"online\"", Duration::from_secs(5)).await;
    assert!(online.contains("test pattern 320x240"), "{online}");
    on_b.clock_round_trip(Duration::from_secs(5)).await;
    // The events connection moved too: B never had the discovery until the edge put it
    // there, after A died.
    let Some(config) = retained(port_b, &discovery, Duration::from_secs(10)).await else {
        panic!(
            "no Home Assistant discovery on B within 10 s of A dying; edge log:\n{}",
            connection_log(&dir_a.0)
        );
    };
    assert!(config.contains("\"state_topic\":\"mqcam/twin/stats\""), "{config}");

    // A comes back: the edge stays on B (no flapping back to the first).
    let a = Mosquitto::start(&dir_a.0, port_a);
    on_b.drain();
    tokio::time::sleep(Duration::from_secs(2)).await;
    on_a.drain();
    assert!(on_a.next_frame(Duration::from_secs(2)).await.is_none(), "the edge went back to A");
    on_b.frames(30, Duration::from_secs(5)).await;
    // A restarted empty: discovery there would mean the events connection went back.
    assert_eq!(retained(port_a, &discovery, Duration::from_millis(500)).await, None, "events went back to A");
    assert!(edge.is_running());
    let log = connection_log(&dir_a.0);
    assert!(log.contains(&format!("127.0.0.1:{port_b}")), "the switch names B:\n{log}");
    eprintln!("edge log:\n{log}");
    drop((a, b));
}

#[tokio::test]
async fn with_the_first_mosquitto_down_at_startup_the_edge_starts_on_the_second() {
    let dir = TempDir::new("failover-start");
    let down = format!("mqtt://127.0.0.1:{}", free_port());
    let b = Mosquitto::start(&dir.0, free_port());
    let edge = start_edge_on_each(&[&down, &b.url()], &dir.0, "late", &[]);
    assert_eq!(edge.external.as_deref(), Some(b.url().as_str()), "the banner names the broker in use");
    let mut on_b = Watcher::new(b.port, "late");
    check_frames(&on_b.frames(15, Duration::from_secs(15)).await, 320, 240);
    on_b.status("\"state\":\"online\"", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn with_no_broker_reachable_startup_fails_with_one_line_naming_each() {
    let (a, b) = (free_port(), free_port());
    let (url_a, url_b) = (format!("mqtt://127.0.0.1:{a}"), format!("mqtt://127.0.0.1:{b}"));
    let args = ["--broker", &url_a, "--broker", &url_b, "--username", "cam", "--password", "hunter2"];
    let err = crate::security::fails_with_one_line(&args, "cannot connect to any of the 2 brokers");
    let line = err.lines().find(|l| l.contains("cannot connect")).unwrap();
    assert!(line.contains(&format!("127.0.0.1:{a}")) && line.contains(&format!("127.0.0.1:{b}")), "{line}");
    assert!(!err.contains("hunter2"), "no password in the error: {err}");
}
