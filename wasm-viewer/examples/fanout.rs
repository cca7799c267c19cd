//! Many native viewers at once, for fan-out benchmarks: each subscribes to a frame topic
//! with the viewer's own MQTT codec and wire parser (what the browser runs, minus the
//! browser), and measures delivered frames and latency (now − capture time; same machine,
//! so one clock). Over MQTT-over-WebSocket (`ws://`, or `wss://` with TLS) as the page
//! does, or over plain MQTT (`mqtt://host:port`) for brokers whose WebSocket cannot carry
//! video (Debian's Mosquitto).
//!
//!   cargo run --release -p wasm-viewer --example fanout -- ws://127.0.0.1:9001/mqtt mqcam/cam1/frame 49 10
//!
//! `FANOUT_LOGIN=user:password` logs every viewer in (a broker that wants a login).
//! `FANOUT_CA_FILE=ca.pem` is the CA that `wss://` certificates must chain to (a test CA;
//! certificates are always verified). `FANOUT_WARMUP=3` gives the viewers that many
//! seconds to connect before the SECONDS counted (frames before are not counted).
//!
//! Prints one JSON line: viewers, seconds, frames per viewer (min/mean), fps (min/mean),
//! latency p50/p95/p99 over all viewers' frames, worst per-viewer p95, failures (viewers
//! that could not connect or lost their connection; not in the other figures).

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::Arc,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
};
use tungstenite::{client::IntoClientRequest, HandshakeError, Message, WebSocket};
use wasm_viewer::{
    net::mqtt::{self, Decoder, Packet},
    picture::stats::percentile,
};

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A byte stream a WebSocket runs over: TCP, or TLS over TCP.
trait Stream: Read + Write + Send {}
impl<S: Read + Write + Send> Stream for S {}

/// Where a viewer reads MQTT bytes from.
enum Source {
    Ws(Box<WebSocket<Box<dyn Stream>>>),
    Tcp(TcpStream, Vec<u8>),
}

impl Source {
    /// Feeds what arrived into `decoder`: false when nothing did within the read timeout.
    fn read_into(&mut self, decoder: &mut Decoder) -> Result<bool, String> {
        let timeout = |e: &std::io::Error| {
            matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        };
        match self {
            Source::Ws(ws) => match ws.read() {
                Ok(Message::Binary(b)) => decoder.push(&b),
                Ok(_) => return Ok(false),
                Err(tungstenite::Error::Io(e)) if timeout(&e) => return Ok(false),
                Err(e) => return Err(e.to_string()),
            },
            Source::Tcp(s, buf) => match s.read(buf) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => decoder.push(&buf[..n]),
                Err(e) if timeout(&e) => return Ok(false),
                Err(e) => return Err(e.to_string()),
            },
        }
        Ok(true)
    }

    fn send(&mut self, packet: Vec<u8>) -> Result<(), String> {
        match self {
            Source::Ws(ws) => ws.send(Message::Binary(packet.into())).map_err(|e| e.to_string()),
            Source::Tcp(s, _) => s.write_all(&packet).map_err(|e| e.to_string()),
        }
    }

    fn close(self) {
        match self {
            Source::Ws(mut ws) => {
                let _ = ws.close(None);
            }
            Source::Tcp(mut s, _) => {
                let _ = s.write_all(&mqtt::DISCONNECT);
            }
        }
    }
}

/// Connects to `url` (mqtt://, ws:// or wss://), giving up at `end`.
fn open(url: &str, tls: Option<&Arc<ClientConfig>>, end: Instant) -> Result<Source, String> {
    let (scheme, rest) = url.split_once("://").ok_or("URL without a scheme")?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    let addr = host_port.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    // A read timeout so that a viewer stops at its end time even when nothing comes, and
    // cannot hang in a handshake a loaded broker never answers.
    tcp.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let stream: Box<dyn Stream> = match scheme {
        "mqtt" => return Ok(Source::Tcp(tcp, vec![0; 256 << 10])),
        "ws" => Box::new(tcp),
        "wss" => {
            let config = tls.ok_or("wss:// needs FANOUT_CA_FILE")?.clone();
            let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
            let name =
                ServerName::try_from(host.trim_matches(['[', ']']).to_string()).map_err(|e| e.to_string())?;
            let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
            Box::new(StreamOwned::new(conn, tcp))
        }
        other => return Err(format!("unsupported scheme {other}://")),
    };
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("valid header"));
    let mut attempt = tungstenite::client(request, stream);
    loop {
        match attempt {
            Ok((ws, _)) => return Ok(Source::Ws(Box::new(ws))),
            Err(HandshakeError::Interrupted(_)) if Instant::now() >= end => {
                return Err("WebSocket handshake not answered".into())
            }
            Err(HandshakeError::Interrupted(mid)) => attempt = mid.handshake(),
            Err(HandshakeError::Failure(e)) => return Err(e.to_string()),
        }
    }
}

/// One viewer's run: latencies of every frame received from `count_from` to `end`, in ms.
fn viewer(
    url: &str,
    topic: &str,
    id: usize,
    tls: Option<&Arc<ClientConfig>>,
    count_from: Instant,
    end: Instant,
) -> Result<Vec<f64>, String> {
    let fail = |e: String| format!("viewer {id}: {e}");
    let mut source = open(url, tls, end).map_err(fail)?;
    let login = std::env::var("FANOUT_LOGIN").ok();
    let login = login.as_deref().and_then(|l| l.split_once(':'));
    source
        .send(mqtt::connect(&format!("fanout-{id}-{}", std::process::id()), 60, None, login))
        .map_err(fail)?;
    source.send(mqtt::subscribe(1, topic, 0)).map_err(fail)?;
    let mut decoder = Decoder::new(16 << 20);
    let mut latencies = Vec::new();
    while Instant::now() < end {
        if !source.read_into(&mut decoder).map_err(fail)? {
            continue;
        }
        let at = now_us();
        let counted = Instant::now() >= count_from;
        while let Some(packet) = decoder.next_packet().map_err(|e| fail(e.to_string()))? {
            if let Packet::Publish { payload, .. } = packet {
                if let Ok((h, _jpeg)) = wire::parse(payload) {
                    if counted {
                        latencies.push(at.saturating_sub(h.capture_us) as f64 / 1000.0);
                    }
                }
            }
        }
    }
    source.close();
    Ok(latencies)
}

/// The TLS client configuration for wss://, trusting only the CAs in FANOUT_CA_FILE.
fn tls_config() -> Option<Arc<ClientConfig>> {
    let path = std::env::var("FANOUT_CA_FILE").ok()?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).unwrap_or_else(|e| panic!("FANOUT_CA_FILE {path}: {e}"))
    {
        roots
            .add(cert.unwrap_or_else(|e| panic!("FANOUT_CA_FILE {path}: {e}")))
            .expect("a usable CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(Arc::new(config))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: fanout URL TOPIC VIEWERS SECONDS   (URL: ws://…, wss://… or mqtt://host:port)");
        std::process::exit(2);
    }
    let (url, topic) = (args[1].clone(), args[2].clone());
    let viewers: usize = args[3].parse().expect("VIEWERS is a number");
    let seconds: f64 = args[4].parse().expect("SECONDS is a number");
    let warmup: f64 =
        std::env::var("FANOUT_WARMUP").map_or(0.0, |w| w.parse().expect("FANOUT_WARMUP is a number"));
    // One clock for all: the counted window is the same for every viewer.
    let count_from = Instant::now() + Duration::from_secs_f64(warmup);
    let end = count_from + Duration::from_secs_f64(seconds);
    let tls = tls_config();
    let handles: Vec<_> = (0..viewers)
        .map(|id| {
            let (url, topic, tls) = (url.clone(), topic.clone(), tls.clone());
            thread::spawn(move || viewer(&url, &topic, id, tls.as_ref(), count_from, end))
        })
        .collect();
    let results: Vec<Result<Vec<f64>, String>> =
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panicked".into()))).collect();
    let ok: Vec<&Vec<f64>> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let counts: Vec<usize> = ok.iter().map(|l| l.len()).collect();
    let all = || ok.iter().flat_map(|l| l.iter().copied());
    let worst_p95 = ok.iter().filter_map(|l| percentile(l.iter().copied(), 95.0)).fold(0.0, f64::max);
    let min = counts.iter().copied().min().unwrap_or(0);
    let mean = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
    let p = |q| percentile(all(), q).map_or("null".to_string(), |v| format!("{v:.2}"));
    println!(
        "{{\"viewers\":{viewers},\"seconds\":{seconds},\"frames_min\":{min},\"frames_mean\":{mean:.1},\
         \"fps_min\":{:.2},\"fps_mean\":{:.2},\"latency_ms_p50\":{},\"latency_ms_p95\":{},\"latency_ms_p99\":{},\
         \"worst_viewer_p95_ms\":{worst_p95:.2},\"failures\":{}}}",
        min as f64 / seconds,
        mean / seconds,
        p(50.0),
        p(95.0),
        p(99.0),
        failures.len()
    );
    for f in failures {
        eprintln!("{f}");
    }
}
