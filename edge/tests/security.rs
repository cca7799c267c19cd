//! Logins, topic permissions and TLS, end to end: the edge binary with its embedded
//! broker (and its gate), real MQTT clients over TCP, WebSocket and TLS, and a CA and
//! certificates generated here for each run.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::{check_frames, collect, free_port, spawn_edge, start_edge};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS, TlsConfiguration,
    Transport,
};

/// A fresh CA and a certificate it signed for localhost / 127.0.0.1, as PEM files.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(name: &str) -> Pki {
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

fn trusting(ca: &Path) -> TlsConfiguration {
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
    let status = common::wait_for_message(opts("status"), "mqcam/acl/status", "online").await;
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
fn fails_with_one_line(args: &[&str], expect: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(common::LOOPBACK_ANY_PORTS)
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
