//! The recording benchmark's two tools (run by `tests/bench.mjs`, `BENCH_ONLY=record`):
//!
//! - `record-bench fill DIR HOURS` writes HOURS of a camera `cam1`'s continuous
//!   recording into DIR (the edge's `--record-dir`) as the edge would have: previews of
//!   the test pattern, 320 px wide, 2 a second, ending now, with a 20 s event every 10
//!   hour (full-size frames at 10 fps) and a catalog entry for it. Fast: a few frames
//!   encoded once and stamped with each time.
//! - `record-bench scrub HOST PORT N` is a viewer scrubbing over MQTT: it asks the edge's
//!   recordings for the timeline (timed), then N frames at random times with
//!   `Track::Best`, one after the other, and prints JSON with the time from each request
//!   to its first (preview) frame and to its full-size frame, p50/p95.
//! - `record-bench mark HOST PORT SECONDS`: "record now" on `cam1`, as a page's button.

use std::time::{Duration, Instant};

use edge::{
    encode::{
        preview::Previewer,
        process::{process, Job},
        Encoder,
    },
    record::store::Track,
    source::{pattern::Pattern, Source},
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use wire::{
    playback::{parse_reply, Reply, Request, Seek, SpanKind, Track as Which},
    FrameHeader,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["fill", dir, hours] => fill(dir, hours.parse().expect("HOURS")),
        ["scrub", host, port, n] => scrub(host, port.parse().expect("PORT"), n.parse().expect("N")),
        ["mark", host, port, seconds] => {
            mark(host, port.parse().expect("PORT"), seconds.parse().expect("SECONDS"))
        }
        _ => {
            eprintln!("usage: record-bench fill DIR HOURS | scrub HOST PORT N | mark HOST PORT SECONDS");
            std::process::exit(2);
        }
    }
}

/// Stamped JPEG payloads of the pattern: (previews, full frames), a few of each.
fn pictures() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut source = Pattern::new(1280, 720, 30);
    let (encoder, previewer) = (Encoder::new(75), Previewer::new(320, 60));
    let (mut small, mut full) = (Vec::new(), Vec::new());
    for sequence in 0..8 {
        let captured = source.next_frame().expect("a pattern frame");
        let made = process(Job { sequence, captured }, Some(&encoder), 0, Some(&previewer)).expect("encoded");
        small.push(made.preview.expect("a preview"));
        full.push(made.payload.expect("a frame"));
    }
    (small, full)
}

/// `payload` stamped again with `capture_us` and `sequence`.
fn restamp(payload: &[u8], capture_us: u64, sequence: u64) -> Vec<u8> {
    let (h, jpeg) = wire::parse(payload).expect("stamped");
    FrameHeader { capture_us, sequence, encoded_us: capture_us, ..h }.encode(jpeg).expect("stamped again")
}

fn fill(dir: &str, hours: u64) {
    let (small, full) = pictures();
    let now = edge::clock::now_us();
    let start = now - hours * 3_600_000_000;
    let cam = std::path::Path::new(dir).join("cam1");
    let (mut preview, _) = Track::open(&cam.join("preview")).expect("preview track");
    let (mut events, _) = Track::open(&cam.join("full")).expect("full track");
    let mut catalog = String::new();
    let mut n = 0u64;
    let mut t = start;
    while t < now {
        preview.append(t, &restamp(&small[(n % 8) as usize], t, n)).expect("written");
        // Every hour, a 20 s event at 10 fps.
        if (t - start).is_multiple_of(3_600_000_000) {
            for k in 0..200u64 {
                let at = t + k * 100_000;
                events.append(at, &restamp(&full[(k % 8) as usize], at, k)).expect("written");
            }
            catalog += &format!(
                "{{\"start_us\":{t},\"end_us\":{},\"kind\":2,\"reason\":\"bench\",\"source\":\"record-bench\"}}\n",
                t + 20_000_000
            );
        }
        n += 1;
        t += 500_000;
    }
    preview.close().expect("synced");
    events.close().expect("synced");
    std::fs::write(cam.join("events.jsonl"), catalog).expect("catalog written");
    println!(
        "{{\"frames\":{n},\"preview_bytes\":{},\"full_bytes\":{},\"segments\":{}}}",
        preview.bytes(),
        events.bytes(),
        preview.segments.len() + events.segments.len()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn mark(host: &str, port: u16, seconds: u32) {
    let viewer = format!("bench-mark-{}", std::process::id());
    let (client, mut events) = AsyncClient::new(MqttOptions::new(&viewer, host, port), 8);
    client.subscribe(wire::topic::playback_reply("mqcam", "cam1", &viewer), QoS::AtMostOnce).await.unwrap();
    while !matches!(events.poll().await, Ok(Event::Incoming(Packet::SubAck(_)))) {}
    let request = Request::Mark { seconds }.encode(1);
    client
        .publish(wire::topic::playback_request("mqcam", "cam1", &viewer), QoS::AtMostOnce, false, request)
        .await
        .unwrap();
    loop {
        if let Ok(Event::Incoming(Packet::Publish(p))) = events.poll().await {
            if let Some((1, _, Reply::Done)) = parse_reply(&p.payload) {
                return;
            }
        }
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn scrub(host: &str, port: u16, n: usize) {
    let viewer = format!("bench-{}", std::process::id());
    let mut opts = MqttOptions::new(&viewer, host, port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(opts, 64);
    client.subscribe(wire::topic::playback_reply("mqcam", "cam1", &viewer), QoS::AtMostOnce).await.unwrap();
    let request_topic = wire::topic::playback_request("mqcam", "cam1", &viewer);
    let mut id = 0u32;
    // Until subscribed.
    while !matches!(events.poll().await, Ok(Event::Incoming(Packet::SubAck(_)))) {}
    let ask = async |id: u32, r: Request| {
        client.publish(&request_topic, QoS::AtMostOnce, false, r.encode(id)).await.unwrap();
    };
    let now = edge::clock::now_us();
    id += 1;
    let asked = Instant::now();
    ask(id, Request::Timeline { from_us: now - 86_400_000_000, to_us: now }).await;
    let timeline = loop {
        if let Ok(Event::Incoming(Packet::Publish(p))) = events.poll().await {
            if let Some((i, _, Reply::Timeline(t))) = parse_reply(&p.payload) {
                if i == id {
                    break t;
                }
            }
        }
    };
    let timeline_ms = asked.elapsed().as_secs_f64() * 1e3;
    let recorded: Vec<(u64, u64)> = timeline
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Recorded(Which::Full))
        .map(|s| (s.start_us, s.end_us))
        .collect();
    assert!(!recorded.is_empty(), "full-size frames recorded to scrub over");
    let (mut first, mut full) = (Vec::new(), Vec::new());
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (s, e) = recorded[(seed % recorded.len() as u64) as usize];
        let at = s + seed % (e - s).max(1);
        id += 1;
        let asked = Instant::now();
        ask(id, Request::Frame { at_us: at, track: Which::Best, seek: Seek::AtOrBefore }).await;
        loop {
            let Ok(Event::Incoming(Packet::Publish(p))) = events.poll().await else { continue };
            match parse_reply(&p.payload) {
                Some((i, k, Reply::Frame { track, .. })) if i == id => {
                    let ms = asked.elapsed().as_secs_f64() * 1e3;
                    if k == 0 {
                        first.push(ms);
                    }
                    if track == Which::Full {
                        full.push(ms);
                    }
                }
                Some((i, _, Reply::Done | Reply::End)) if i == id => break,
                _ => {}
            }
        }
    }
    println!(
        "{{\"timeline_ms\":{timeline_ms:.1},\"spans\":{},\"events\":{},\"first_p50\":{:.1},\"first_p95\":{:.1},\"full_p50\":{:.1},\"full_p95\":{:.1},\"n\":{n}}}",
        timeline.spans.len(),
        timeline.events.len(),
        percentile(&mut first, 0.5),
        percentile(&mut first, 0.95),
        percentile(&mut full, 0.5),
        percentile(&mut full, 0.95)
    );
}
