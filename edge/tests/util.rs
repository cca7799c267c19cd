//! Helpers shared by the edge's integration tests: starting the edge binary on free
//! ports, free ports, MQTT subscribers that collect frames or wait for a message, the
//! frame checks (every JPEG decoded), and a throttling TCP proxy.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use edge::clock::now_us;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// Loopback only, every port free: so tests run side by side.
pub const LOOPBACK_ANY_PORTS: [&str; 8] =
    ["--bind", "127.0.0.1", "--http-port", "0", "--ws-port", "0", "--tcp-port", "0"];

/// A running edge process, killed on drop.
pub struct Edge {
    pub child: Child,
    pub tcp_port: u16,
    /// The site's port (http or https).
    pub http_port: u16,
    /// The viewer URL as printed (with `#password=…` when the edge prints its login).
    pub viewer_url: String,
    pub ws_url: String,
    pub topic: String,
    /// The external broker's URL, when the edge was pointed at one.
    pub external: Option<String>,
}

impl Edge {
    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the edge with its embedded broker on free ports.
pub fn start_edge(args: &[&str]) -> Edge {
    let edge = spawn_edge(args);
    assert!(edge.tcp_port != 0 && !edge.ws_url.is_empty(), "embedded broker addresses printed");
    edge
}

/// Whether `args` say how viewers log in; [`spawn_edge`] adds `--no-login` when not.
pub fn login_given(args: &[&str]) -> bool {
    args.iter().any(|a| ["--username", "--password", "--no-login", "--state-dir", "--broker"].contains(a))
}

/// Starts the edge and reads its banner up to the topic line. Without a login in `args`
/// the edge runs with `--no-login`, explicitly: these tests are about other things.
pub fn spawn_edge(args: &[&str]) -> Edge {
    spawn_edge_with_stderr(args, Stdio::null())
}

/// [`spawn_edge`] with the edge's log (stderr) sent to `stderr`, e.g. a file.
pub fn spawn_edge_with_stderr(args: &[&str], stderr: impl Into<Stdio>) -> Edge {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(LOOPBACK_ANY_PORTS)
        .args(if login_given(args) { &[][..] } else { &["--no-login"][..] })
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("edge starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut edge = Edge {
        child,
        tcp_port: 0,
        http_port: 0,
        viewer_url: String::new(),
        ws_url: String::new(),
        topic: String::new(),
        external: None,
    };
    let port = |url: &str| {
        let url = url.split('#').next().unwrap_or_default().trim_end_matches('/');
        url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap()
    };
    while edge.topic.is_empty() {
        let line = lines.next().expect("edge prints its addresses").unwrap();
        let mut words = line.split_whitespace();
        let (key, value) = (words.next().unwrap_or_default(), words.next().unwrap_or_default().to_string());
        match key {
            "mqtt-tcp:" => edge.tcp_port = port(&value),
            "viewer:" => {
                edge.http_port = port(&value);
                edge.viewer_url = value;
            }
            "mqtt-ws:" => edge.ws_url = value,
            "broker:" => edge.external = Some(value),
            "topic:" => edge.topic = value,
            _ => {}
        }
    }
    edge
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Subscribes and collects `n` frame payloads (with their receive times) within 15 s.
pub async fn collect(mut opts: MqttOptions, topic: &str, n: usize) -> Vec<(Vec<u8>, u64)> {
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
pub fn check_frames(frames: &[(Vec<u8>, u64)], width: u32, height: u32) {
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

/// Waits for the next retained-or-live message on `topic` whose payload contains `needle`.
pub async fn wait_for_message(opts: MqttOptions, topic: &str, needle: &str) -> String {
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

/// A TCP proxy that forwards client→server bytes at `bytes_per_sec` (server→client
/// unthrottled): a slow uplink between the edge and its broker. Its receive buffer is
/// small, as a real slow link's would be, so the edge cannot hide megabytes in it.
pub async fn slow_uplink(to: u16, bytes_per_sec: usize) -> u16 {
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

/// A running `tests/camera_server.py` (a stand-in network camera in another process,
/// serving the JPEGs of a directory); killed when dropped.
pub struct CameraServer {
    pub child: Child,
    pub port: u16,
}

impl CameraServer {
    /// Starts it on `port` (0: any free one) with the server's own `args`.
    pub fn start_on(port: u16, jpegs: &Path, args: &[&str]) -> CameraServer {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/camera_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", &port.to_string(), "--jpegs"])
            .arg(jpegs)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed to run the network camera tests");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("camera_server.py did not start");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("camera_server.py said {line:?}"));
        CameraServer { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CameraServer {
    fn drop(&mut self) {
        self.stop();
    }
}
