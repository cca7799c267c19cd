//! The gate's fan-out under load, as guarantees rather than timings: 200 viewers of one
//! camera over TLS (mqtts:// and wss://), 20 of which stop reading. The other 180 keep
//! every frame's latency bounded and get most frames, the stalled ones lose frames
//! instead of queueing them (the gate's counter says so), and the edge's memory stays
//! flat while they stall. How close to the copy floor it runs is `./bench.sh`'s job.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use edge::clock::now_us;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    security::{make_pki, trusting, Pki},
    util::start_edge,
};

const VIEWERS: usize = 200;
const STALLED: usize = 20;
const FPS: u64 = 15;

/// What one live viewer saw in the measured window: frames, and the worst latency.
#[derive(Default, Clone, Copy)]
struct Seen {
    frames: u64,
    worst_us: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tls_viewers_twenty_stalled_the_rest_keep_up_and_memory_stays_flat() {
    let pki = make_pki("fanout");
    let fps = FPS.to_string();
    let per_address = (VIEWERS + 20).to_string();
    let edge = start_edge(&[
        "--size",
        "640x360",
        "--fps",
        &fps,
        "--quality",
        "90",
        "--per-address-connections",
        &per_address,
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let pid = edge.child.id();

    // The stalled ones first: they subscribe, then never read again.
    let mut stalled = Vec::new();
    for i in 0..STALLED {
        stalled.push(stalled_viewer(&pki, edge.tcp_port, &edge.topic, i).await);
    }
    // The live ones, half over mqtts://, half over wss://.
    let measuring = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(vec![Seen::default(); VIEWERS - STALLED]));
    let mut tasks = Vec::new();
    for i in 0..VIEWERS - STALLED {
        let mut opts = match i % 2 {
            0 => {
                let mut o = MqttOptions::new(format!("live-tls-{i}"), "localhost", edge.tcp_port);
                o.set_transport(Transport::Tls(trusting(&pki.ca)));
                o
            }
            _ => {
                let url = edge.ws_url.replace("127.0.0.1", "localhost");
                let mut o = MqttOptions::new(format!("live-wss-{i}"), url, 0);
                o.set_transport(Transport::Wss(trusting(&pki.ca)));
                o
            }
        };
        opts.set_max_packet_size(16 << 20, 16 << 20);
        opts.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(opts, 10);
        let (topic, measuring, seen) = (edge.topic.clone(), measuring.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            client.subscribe(topic, QoS::AtMostOnce).await.unwrap();
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) if !p.retain && measuring.load(Relaxed) => {
                        let (h, _) = wire::parse(&p.payload).expect("a frame");
                        let late = now_us().saturating_sub(h.capture_us);
                        let mut seen = seen.lock().unwrap();
                        seen[i].frames += 1;
                        seen[i].worst_us = seen[i].worst_us.max(late);
                    }
                    Ok(_) => {}
                    Err(e) => panic!("live viewer {i}: {e}"),
                }
            }
        }));
    }

    // Warm up: everyone connected and the stalled ones' socket buffers full.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rss_before = rss_kb(pid);
    let drops_before = metric(&pki, edge.http_port, "mqcam_broker_slow_drops_total").await;
    measuring.store(true, Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    measuring.store(false, Relaxed);
    let seconds = window.elapsed().as_secs_f64();
    let rss_after = rss_kb(pid);
    let drops_after = metric(&pki, edge.http_port, "mqcam_broker_slow_drops_total").await;
    let fanned = metric(&pki, edge.http_port, "mqcam_broker_fanout_frames_total").await;

    let seen = seen.lock().unwrap().clone();
    let published = (seconds * FPS as f64) as u64;
    for (i, s) in seen.iter().enumerate() {
        assert!(
            s.frames * 10 >= published * 7,
            "live viewer {i} got {} of ~{published} frames while 20 others stalled",
            s.frames
        );
        assert!(s.worst_us < 2_000_000, "live viewer {i}: a frame {} ms late", s.worst_us / 1000);
    }
    let worst = seen.iter().map(|s| s.worst_us).max().unwrap_or(0);
    let fewest = seen.iter().map(|s| s.frames).min().unwrap_or(0);
    eprintln!(
        "fan-out: {} live viewers, fewest frames {fewest} of ~{published}, worst latency {} ms; \
         edge RSS {} → {} MB; frames dropped for stalled viewers {drops_before} → {drops_after}; \
         fanned out {fanned}",
        VIEWERS - STALLED,
        worst / 1000,
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(drops_after > drops_before, "the stalled viewers lose frames (they are not queued for them)");
    assert!(
        drops_after - drops_before >= STALLED as u64 * published / 2,
        "every stalled viewer keeps losing frames: {} in the window",
        drops_after - drops_before
    );
    assert!(fanned > 0, "frames went through the fan-out");
    assert!(
        rss_after < rss_before + 24 * 1024,
        "the edge's memory stays flat while 20 viewers stall: {rss_before} KB → {rss_after} KB"
    );
    for t in tasks {
        t.abort();
    }
    drop(stalled);
}

/// A viewer over mqtts:// that subscribes to `topic` and then never reads (with a small
/// receive buffer, so that it stalls soon).
async fn stalled_viewer(
    pki: &Pki,
    port: u16,
    topic: &str,
    i: usize,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(edge::tls::client_config(Some(&pki.ca)).unwrap());
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let string = |s: &str| [&(s.len() as u16).to_be_bytes()[..], s.as_bytes()].concat();
    let id = format!("stalled-{i}");
    let connect = [&string("MQTT")[..], &[4, 0x02, 0, 30], &string(&id)].concat();
    let subscribe = [&[0, 1][..], &string(topic), &[0]].concat();
    let mut packets = vec![0x10, connect.len() as u8];
    packets.extend(connect);
    packets.extend([0x82, subscribe.len() as u8]);
    packets.extend(subscribe);
    tls.write_all(&packets).await.unwrap();
    tls.flush().await.unwrap();
    let mut connack = [0u8; 4];
    tls.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0], "stalled viewer {i} connected");
    tls
}

/// The resident memory of process `pid`, in KB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One counter from the edge's `/metrics`, over https.
async fn metric(pki: &Pki, http_port: u16, name: &str) -> u64 {
    let connector = tokio_rustls::TlsConnector::from(edge::tls::client_config(Some(&pki.ca)).unwrap());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", http_port)).await.unwrap();
    let server = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(server, tcp).await.unwrap();
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    tls.read_to_string(&mut body).await.unwrap();
    let line = body
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {body}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}
