//! Many native viewers at once, for fan-out benchmarks: each subscribes to a frame topic
//! over MQTT-over-WebSocket with the viewer's own MQTT codec and wire parser (what the
//! browser runs, minus the browser), and measures delivered frames and latency
//! (now − capture time; same machine, so one clock).
//!
//!   cargo run --release -p wasm-viewer --example fanout -- ws://127.0.0.1:9001/mqtt mqcam/cam1/frame 49 10
//!
//! `FANOUT_LOGIN=user:password` logs every viewer in (a broker that wants a login).
//!
//! Prints one JSON line: viewers, seconds, frames per viewer (min/mean), fps (min/mean),
//! latency p50/p95/p99 over all viewers' frames, worst per-viewer p95, failures.

use std::{
    net::TcpStream,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tungstenite::{client::IntoClientRequest, stream::MaybeTlsStream, Message, WebSocket};
use wasm_viewer::{
    net::mqtt::{self, Decoder, Packet},
    picture::stats::percentile,
};

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// One viewer's run: latencies of every frame received, in ms.
fn viewer(url: &str, topic: &str, id: usize, seconds: f64) -> Result<Vec<f64>, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("valid header"));
    let (mut ws, _) = tungstenite::connect(request).map_err(|e| format!("viewer {id}: {e}"))?;
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    }
    let send = |ws: &mut WebSocket<MaybeTlsStream<TcpStream>>, b: Vec<u8>| {
        ws.send(Message::Binary(b.into())).map_err(|e| format!("viewer {id}: {e}"))
    };
    let login = std::env::var("FANOUT_LOGIN").ok();
    let login = login.as_deref().and_then(|l| l.split_once(':'));
    send(&mut ws, mqtt::connect(&format!("fanout-{id}-{}", std::process::id()), 60, None, login))?;
    send(&mut ws, mqtt::subscribe(1, topic, 0))?;
    let mut decoder = Decoder::new(16 << 20);
    let mut latencies = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        let data = match ws.read() {
            Ok(Message::Binary(b)) => b,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                continue
            }
            Err(e) => return Err(format!("viewer {id}: {e}")),
        };
        let at = now_us();
        decoder.push(&data);
        while let Some(packet) = decoder.next_packet().map_err(|e| format!("viewer {id}: {e}"))? {
            if let Packet::Publish { payload, .. } = packet {
                if let Ok((h, _jpeg)) = wire::parse(payload) {
                    latencies.push(at.saturating_sub(h.capture_us) as f64 / 1000.0);
                }
            }
        }
    }
    let _ = ws.close(None);
    Ok(latencies)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: fanout WS_URL TOPIC VIEWERS SECONDS");
        std::process::exit(2);
    }
    let (url, topic) = (args[1].clone(), args[2].clone());
    let viewers: usize = args[3].parse().expect("VIEWERS is a number");
    let seconds: f64 = args[4].parse().expect("SECONDS is a number");
    let handles: Vec<_> = (0..viewers)
        .map(|id| {
            let (url, topic) = (url.clone(), topic.clone());
            thread::spawn(move || viewer(&url, &topic, id, seconds))
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
