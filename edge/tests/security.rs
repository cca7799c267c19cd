//! Logins, topic permissions and TLS, end to end: the edge binary with its embedded
//! broker (and its gate), real MQTT clients over TCP, WebSocket and TLS, and a CA and
//! certificates generated here for each run.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::util::{check_frames, collect, free_port, spawn_edge, start_edge};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS, TlsConfiguration,
    Transport,
};

/// A fresh CA and a certificate it signed for localhost / 127.0.0.1, as PEM files.
pub(crate) struct Pki {
    dir: PathBuf,
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

pub(crate) fn make_pki(name: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("edge-security-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "mqcam test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |file: &str, pem: String| {
        let path = dir.join(file);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        cert: write("cert.pem", cert.pem()),
        key: write("key.pem", key.serialize_pem()),
        dir,
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn trusting(ca: &Path) -> TlsConfiguration {
    TlsConfiguration::Rustls(edge::tls::client_config(Some(ca)).unwrap())
}

/// The outcome of one connection attempt: CONNACK, or why not.
async fn try_connect(opts: MqttOptions) -> Result<(), ConnectionError> {
    let (_client, mut eventloop) = AsyncClient::new(opts, 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await.expect("an answer in 5 s")
        {
            Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

fn with_login(mut opts: MqttOptions, user: &str, password: &str) -> MqttOptions {
    opts.set_credentials(user, password);
    opts
}

#[tokio::test]
async fn the_embedded_broker_asks_viewers_for_the_login() {
    let edge =
        start_edge(&["--size", "160x120", "--fps", "20", "--username", "viewer", "--password", "pa:ss"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    let refused = |r: Result<(), ConnectionError>| match r {
        Err(ConnectionError::ConnectionRefused(code)) => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(try_connect(opts("anon")).await), ConnectReturnCode::NotAuthorized);
    assert_eq!(
        refused(try_connect(with_login(opts("wrong"), "viewer", "pass")).await),
        ConnectReturnCode::BadUserNamePassword
    );
    let frames = collect(with_login(opts("right"), "viewer", "pa:ss"), &edge.topic, 5).await;
    check_frames(&frames, 160, 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_publishes_to_a_camera_topic_is_cut_off_and_nothing_reaches_others() {
    let edge = start_edge(&["--size", "160x120", "--fps", "20", "--camera", "acl"]);
    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);

    // A viewer's own topics are fine: the connection stays up.
    let (viewer, mut events) = AsyncClient::new(opts("polite"), 10);
    viewer
        .publish("mqcam/acl/ack/polite", QoS::AtMostOnce, false, 1u64.to_le_bytes().to_vec())
        .await
        .unwrap();
    viewer.publish("mqcam/acl/clock/req/polite", QoS::AtMostOnce, false, vec![1, 2]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), events.poll()).await {
            r.expect("a viewer may ack and ask the clock");
        }
    }

    // Watching the frames while another client tries to overwrite them.
    let watcher = tokio::spawn(collect(opts("watcher"), "mqcam/acl/frame", 40));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, topic) in ["mqcam/acl/frame", "mqcam/acl/status", "mqcam/acl/clock/res/x"].iter().enumerate() {
        let (rogue, mut events) = AsyncClient::new(opts(&format!("rogue{i}")), 10);
        rogue.publish(*topic, QoS::AtMostOnce, true, b"not a frame".to_vec()).await.unwrap();
        let cut_off = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if events.poll().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(cut_off.is_ok(), "the gate closes a viewer that publishes to {topic}");
    }
    // Every frame the watcher got is a real one, and so is the retained copy.
    check_frames(&watcher.await.unwrap(), 160, 120);
    let retained = collect(opts("late"), "mqcam/acl/frame", 1).await;
    check_frames(&retained, 160, 120);
    let status = crate::util::wait_for_message(opts("status"), "mqcam/acl/status", "online").await;
    assert!(!status.contains("not a frame"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_every_listener_with_a_ca_made_here() {
    let pki = make_pki("listeners");
    let edge = start_edge(&[
        "--size",
        "160x120",
        "--fps",
        "20",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    assert!(edge.ws_url.starts_with("wss://"), "the banner says wss: {}", edge.ws_url);

    // mqtts://
    let mut opts = MqttOptions::new("tls-tcp", "localhost", edge.tcp_port);
    opts.set_transport(Transport::Tls(trusting(&pki.ca)));
    check_frames(&collect(opts, &edge.topic, 5).await, 160, 120);

    // wss://
    let url = edge.ws_url.replace("127.0.0.1", "localhost");
    let mut opts = MqttOptions::new("tls-ws", url, 0);
    opts.set_transport(Transport::Wss(trusting(&pki.ca)));
    check_frames(&collect(opts, &edge.topic, 5).await, 160, 120);

    // A client that does not trust the CA gets no further than the handshake.
    let other = make_pki("stranger");
    let mut opts = MqttOptions::new("tls-stranger", "localhost", edge.tcp_port);
    opts.set_transport(Transport::Tls(trusting(&other.ca)));
    let err = try_connect(opts).await.unwrap_err();
    assert!(matches!(err, ConnectionError::Tls(_)), "{err:?}");

    // Plain MQTT on the TLS port is not answered as MQTT.
    let plain = MqttOptions::new("plain", "127.0.0.1", edge.tcp_port);
    assert!(try_connect(plain).await.is_err());

    // https:// for the site.
    let http_port = edge.http_port;
    let connector = tokio_rustls::TlsConnector::from(edge::tls::client_config(Some(&pki.ca)).unwrap());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", http_port)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake with the site");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /edge.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    tls.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200") && body.contains("\"ws_port\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_publishes_to_a_tls_broker_with_a_login() {
    let pki = make_pki("client");
    let host = start_edge(&[
        "--size",
        "96x64",
        "--fps",
        "5",
        "--camera",
        "host",
        "--publisher-login",
        "cam:s3cret",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let ca = pki.ca.to_str().unwrap();
    let tls_url = format!("mqtts://localhost:{}", host.tcp_port);
    let wss_url = host.ws_url.replace("127.0.0.1", "localhost");
    let login = ["--username", "cam", "--password", "s3cret"];
    for (camera, url) in [("over-mqtts", &tls_url), ("over-wss", &wss_url)] {
        let args = [&["--broker", url, "--ca-file", ca, "--camera", camera, "--size", "160x120"][..], &login]
            .concat();
        let _guest = spawn_edge(&args);
        let mut opts = MqttOptions::new(format!("sub-{camera}"), "localhost", host.tcp_port);
        opts.set_transport(Transport::Tls(trusting(&pki.ca)));
        check_frames(&collect(opts, &format!("mqcam/{camera}/frame"), 5).await, 160, 120);
    }
}

/// Runs the edge and expects it to stop at startup with exactly one error line.
pub(crate) fn fails_with_one_line(args: &[&str], expect: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(crate::util::LOOPBACK_ANY_PORTS)
        .args(if crate::util::login_given(args) { &[][..] } else { &["--no-login"][..] })
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // An edge that starts instead of failing must not hang the test.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?}: still running after 30 s instead of failing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} must fail: {err}");
    // Info lines may come before; the failure itself is one line.
    let lines: Vec<&str> = err.lines().filter(|l| l.to_lowercase().contains("error")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one error line, got {err}");
    assert!(lines[0].contains(expect) && !err.contains("panicked"), "{args:?}: {err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_broker_settings_stop_the_edge_with_one_clear_line() {
    let pki = make_pki("bad");
    let closed = format!("mqtt://127.0.0.1:{}", free_port());
    fails_with_one_line(&["--broker", &closed], "cannot connect to broker");
    fails_with_one_line(
        &["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
        "/nonexistent/cert.pem",
    );
    fails_with_one_line(
        &["--broker", "mqtts://localhost:1", "--ca-file", "/nonexistent/ca.pem"],
        "/nonexistent/ca.pem",
    );
    fails_with_one_line(
        &["--tls-cert", pki.cert.to_str().unwrap(), "--tls-key", pki.ca.to_str().unwrap()],
        "private key",
    );

    // A real broker that says no, and one whose certificate is not trusted.
    let host = start_edge(&[
        "--size",
        "96x64",
        "--fps",
        "5",
        "--publisher-login",
        "cam:right",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let url = format!("mqtts://localhost:{}", host.tcp_port);
    let ca = pki.ca.to_str().unwrap();
    let args =
        |password| vec!["--broker", &url, "--ca-file", ca, "--username", "cam", "--password", password];
    fails_with_one_line(&args("wrong"), "wrong --username or --password");
    let stranger = make_pki("stranger-ca");
    let untrusted = ["--broker", &url, "--ca-file", stranger.ca.to_str().unwrap()];
    fails_with_one_line(&untrusted, "certificate");
    // Plain MQTT towards a TLS port: no MQTT answer, still one line.
    let plain = format!("mqtt://127.0.0.1:{}", host.tcp_port);
    fails_with_one_line(&["--broker", &plain], "cannot connect to broker");
}

/// Sends a WebSocket upgrade for `/mqtt` with `origin` over `stream` and returns the
/// HTTP status the gate answers with (101: switching protocols; 403: refused).
async fn upgrade_status<S>(mut stream: S, host: &str, origin: Option<&str>) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    let request = format!(
        "GET /mqtt HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n{origin}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).await.expect("an HTTP answer");
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"))
}

fn port_of(url: &str) -> u16 {
    url.split("://")
        .nth(1)
        .unwrap()
        .split(['/', '#'])
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_websites_cannot_open_the_websocket() {
    let log = std::env::temp_dir().join(format!("edge-origin-{}.log", std::process::id()));
    let edge = crate::util::spawn_edge_with_stderr(
        &["--size", "96x64", "--fps", "5", "--allow-origin", "https://viewer.example"],
        std::fs::File::create(&log).unwrap(),
    );
    let ws_port = port_of(&edge.ws_url);
    let site = edge.http_port;
    let status = |host: String, origin: Option<String>| async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", ws_port)).await.unwrap();
        upgrade_status(tcp, &host, origin.as_deref()).await
    };
    let here = format!("127.0.0.1:{ws_port}");
    // The edge's own site, by the address the socket was opened to or by loopback name.
    assert_eq!(status(here.clone(), Some(format!("http://127.0.0.1:{site}"))).await, 101);
    assert_eq!(status(here.clone(), Some(format!("http://localhost:{site}"))).await, 101);
    assert_eq!(status(format!("camera.lan:{ws_port}"), Some(format!("http://camera.lan:{site}"))).await, 101);
    // An origin given with --allow-origin, and a client that is not a browser page.
    assert_eq!(status(here.clone(), Some("https://viewer.example".into())).await, 101);
    assert_eq!(status(here.clone(), None).await, 101);
    // Anything else: another site, another port of this host, another scheme, `null`.
    for origin in [
        "http://evil.example".to_string(),
        "http://evil.example".to_string(),
        format!("http://127.0.0.1:{}", site + 1),
        format!("https://127.0.0.1:{site}"),
        "null".to_string(),
    ] {
        assert_eq!(status(here.clone(), Some(origin.clone())).await, 403, "{origin}");
    }
    // A refused socket really is refused: a full MQTT client with that origin gets nothing.
    let mut request = format!("ws://127.0.0.1:{ws_port}/mqtt").into_client_request().unwrap();
    request.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    request.headers_mut().insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    let err = async_tungstenite::tokio::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    // The site's own answers carry no CORS permission for other pages to read them.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", site)).await.unwrap();
    s.write_all(
        b"GET /edge.json HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("access-control-"), "{answer}");

    drop(edge);
    let log = std::fs::read_to_string(&log).unwrap();
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("refused a WebSocket")).collect();
    assert_eq!(refused.len(), 4, "one line per refused origin:\n{log}");
    assert!(refused.iter().any(|l| l.contains("evil.example")), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_check_holds_over_tls_too() {
    let pki = make_pki("origin");
    let edge = start_edge(&[
        "--size",
        "96x64",
        "--fps",
        "5",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let ws_port = port_of(&edge.ws_url);
    let connector = tokio_rustls::TlsConnector::from(edge::tls::client_config(Some(&pki.ca)).unwrap());
    let host = format!("localhost:{ws_port}");
    for (origin, expect) in [
        (format!("https://localhost:{}", edge.http_port), 101),
        (format!("http://localhost:{}", edge.http_port), 403),
        ("https://evil.example".to_string(), 403),
    ] {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", ws_port)).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(upgrade_status(tls, &host, Some(&origin)).await, expect, "{origin}");
    }
}

/// A temporary state directory, removed on drop.
struct StateDir(PathBuf);

impl StateDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("edge-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StateDir(dir)
    }
    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_makes_a_viewer_password_and_later_starts_reuse_it() {
    let state = StateDir::new("first-run");
    let args = ["--size", "160x120", "--fps", "10", "--state-dir", state.arg(), "--print-login", "always"];
    let edge = start_edge(&args);
    let (_, password) = edge.viewer_url.split_once("#password=").expect("the URL carries the login");
    let file = state.0.join("viewer-password");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), password);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(password.len() >= 24, "{password}");

    let opts = |id: &str| MqttOptions::new(id, "127.0.0.1", edge.tcp_port);
    let refused = try_connect(opts("anon")).await.unwrap_err();
    assert!(
        matches!(refused, ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)),
        "{refused:?}"
    );
    check_frames(&collect(with_login(opts("viewer"), "viewer", password), &edge.topic, 3).await, 160, 120);
    let first = password.to_string();
    drop(edge);

    // Started again: the same password, so links and saved logins keep working.
    let again = start_edge(&args);
    assert_eq!(again.viewer_url.split_once("#password=").unwrap().1, first);
    drop(again);

    // Not on a terminal (a service's log): the URL goes without the password.
    let quiet = start_edge(&["--size", "96x64", "--fps", "5", "--state-dir", state.arg()]);
    assert!(!quiet.viewer_url.contains('#'), "{}", quiet.viewer_url);
}

/// One raw MQTT CONNECT over TCP from the loopback address `from`: the CONNACK's return
/// code, or `None` if the connection closed without one.
async fn connack_from(from: &str, port: u16, password: &str) -> Option<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    s.write_all(&connect_packet(password)).await.unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).await.ok().map(|_| ack[3])
}

/// The same over WebSocket (from 127.0.0.1, without an Origin, as native clients do).
async fn connack_over_ws(ws_url: &str, password: &str) -> Option<u8> {
    use async_tungstenite::tungstenite::Message;
    use futures_util::StreamExt;
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    let (mut ws, _) = async_tungstenite::tokio::connect_async(request).await.ok()?;
    ws.send(Message::binary(connect_packet(password))).await.ok()?;
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Binary(b) = message {
            return b.get(3).copied();
        }
    }
    None
}

/// MQTT 3.1.1 CONNECT as user `viewer`.
fn connect_packet(password: &str) -> Vec<u8> {
    let string = |s: &str| [&(s.len() as u16).to_be_bytes()[..], s.as_bytes()].concat();
    let body =
        [&string("MQTT")[..], &[4, 0xc2, 0, 30], &string("guesser"), &string("viewer"), &string(password)]
            .concat();
    assert!(body.len() < 128);
    [&[0x10, body.len() as u8][..], &body].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guessing_passwords_is_slow_and_nobody_else_is_slowed() {
    const BAD_LOGIN: u8 = 4;
    const NOT_AUTHORIZED: u8 = 5;
    let log = std::env::temp_dir().join(format!("edge-guess-{}.log", std::process::id()));
    let edge = crate::util::spawn_edge_with_stderr(
        &["--size", "96x64", "--fps", "5", "--password", "the-right-one"],
        std::fs::File::create(&log).unwrap(),
    );
    let (port, ws_url) = (edge.tcp_port, edge.ws_url.clone());

    // One address guesses as fast as the gate answers, over TCP and WebSocket in turn,
    // for 6 s: 20 guesses would take a few milliseconds without the throttle.
    let started = std::time::Instant::now();
    let window = Duration::from_secs(6);
    let attacker = tokio::spawn(async move {
        let mut answered = 0;
        while answered < 20 {
            let guess = format!("guess-{answered}");
            let attempt = async {
                if answered % 2 == 0 {
                    connack_from("127.0.0.1", port, &guess).await
                } else {
                    connack_over_ws(&ws_url, &guess).await
                }
            };
            match tokio::time::timeout(window.saturating_sub(started.elapsed()), attempt).await {
                Ok(code) => assert_eq!(code, Some(BAD_LOGIN), "guess {answered}"),
                Err(_) => break,
            }
            answered += 1;
        }
        answered
    });

    // While that address is held back, the right password from another one gets in at once,
    // and so does a wrong one (a typo is told at once).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = std::time::Instant::now();
    assert_eq!(connack_from("127.0.0.2", port, "the-right-one").await, Some(0));
    assert_eq!(connack_from("127.0.0.4", port, "a-typo").await, Some(BAD_LOGIN));
    assert!(t.elapsed() < Duration::from_millis(500), "other addresses wait: {:?}", t.elapsed());

    let answered = attacker.await.unwrap();
    // 5 free, then 0.5 s, 1 s, 2 s apart: 8 in 6 s.
    assert!((5..=10).contains(&answered), "{answered} guesses answered in 6 s");

    // Many connections at once gain nothing: they queue behind each other, and those
    // that would wait over 30 s are refused unchecked, the right password among them.
    let burst: Vec<_> = (0..20)
        .map(|i| tokio::spawn(async move { connack_from("127.0.0.3", port, &format!("burst-{i}")).await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let right = connack_from("127.0.0.3", port, "the-right-one").await;
    assert_eq!(right, Some(NOT_AUTHORIZED), "the right password at the back of the queue is not looked at");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut checked = 0;
    for b in burst {
        if b.is_finished() {
            match b.await.unwrap() {
                Some(BAD_LOGIN) => checked += 1,
                Some(NOT_AUTHORIZED) => {}
                other => panic!("unexpected answer {other:?}"),
            }
        }
    }
    assert!((5..=8).contains(&checked), "{checked} of a burst of 20 checked in 2.3 s");

    drop(edge);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("wrong username or password") && log.contains("slowing down"), "{log}");
    assert!(!log.contains("guess-") && !log.contains("the-right-one"), "passwords never logged:\n{log}");
}
