//! What the page shows of the engine, worked out from its state: `#stats`'s data
//! attributes (the page's test and monitoring contract) and the overlay's text. Plain
//! Rust: the engine gathers a [`Readout`] 4 times a second, and only what changed goes
//! to the page.

use wire::{
    ack::Rendition,
    status::{State, Status},
};

use crate::{
    picture::startup::Startup,
    picture::stats::{Stage, Stats},
    playback::{
        player::{Player, State as Played},
        timeline::{clock_text, speed_text},
    },
    stream::clock::ClockSync,
    stream::flow::Estimate,
};

/// The connection as the user is told about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting,
    Live,
    /// Waiting to retry; the reason is shown.
    Down(String),
    /// Nothing to retry: a configuration problem the user must fix.
    Stopped(String),
    /// The tab is hidden: disconnected on purpose until it is shown again.
    Paused,
    /// The broker refused the login (or wants one): waiting for the form.
    NeedLogin(String),
}

/// Everything the readout shows, borrowed from the engine.
pub struct Readout<'a> {
    pub now_ms: f64,
    pub link: &'a Link,
    /// The broker connected to (or being connected to), of those the page knows.
    pub broker: Option<&'a str>,
    pub stats: &'a Stats,
    /// Frames per second now (`Stats::fps`).
    pub fps: f64,
    pub clock: &'a ClockSync,
    /// The flow-control estimate (see `flow`).
    pub flow: Option<Estimate>,
    /// The camera shown, by name; else the page's own frame topic; else the grid of `cameras`.
    pub shown: Option<&'a str>,
    pub frames: Option<&'a str>,
    pub cameras: usize,
    /// What the shown camera's retained status says.
    pub camera: Option<&'a Status>,
    pub paused: bool,
    /// When the last frame was drawn (viewer ms).
    pub last_frame_ms: Option<f64>,
    /// Navigation → first frame, and → first picture of any kind (ms).
    pub first_frame_ms: Option<f64>,
    pub first_picture_ms: Option<f64>,
    /// The steps to the first picture timed so far.
    pub startup: &'a Startup,
    /// Switches so far, and the last one's time to its first picture and first full frame.
    pub switches: u32,
    pub switch_ms: Option<f64>,
    pub switch_full_ms: Option<f64>,
    pub rendition: Rendition,
    pub next: Option<Rendition>,
    pub pinned: Option<Rendition>,
    /// What the link is thought to carry (bytes a second), for the rendition chosen.
    pub link_estimate: Option<f64>,
    /// The share of the last frames the edge held back for this rendition's viewers
    /// (0–1); `None` when the edge does not say.
    pub link_held: Option<f64>,
    /// The sequence of the frame on screen.
    pub frame_sequence: u64,
    /// Detections over it: objects, their result's sequence, producers, the largest lag.
    pub detections: (usize, Option<u64>),
    pub producers: String,
    pub detections_lag_ms: Option<f64>,
    /// The recordings played back instead of the live stream.
    pub playback: Option<&'a Player>,
    /// The viewer's time zone, minutes east of UTC, for recorded times.
    pub tz_offset_min: i32,
}

/// `v` with `decimals` digits after the point (0 to 3), as `format!("{v:.1}")` writes it
/// but for ties, which go to the even digit of `v` × 10^decimals. Written out with
/// integer formatting: Rust's float formatting is ~17 KB of the viewer's wasm, for
/// numbers shown to a tenth of a millisecond.
pub fn fixed(v: f64, decimals: u32) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_string();
    }
    let scale = 10u64.pow(decimals.min(3));
    let x = v.abs() * scale as f64;
    if x >= 1e18 {
        // Beyond the integers a u64 holds at this scale: the whole part alone, exact up
        // to u64::MAX (a u128 here linked its division and formatting: 2.4 KB of wasm
        // for numbers no readout shows), and saturated beyond.
        return format!("{}{}", if v < 0.0 { "-" } else { "" }, v.abs().trunc() as u64);
    }
    let mut n = x.floor();
    let rest = x - n;
    // A tie in `x` may not be one in `v` × 10^decimals, which `x` rounds: the product's
    // own rounding error says which way the exact value lies (7.35 is 7.3499… → 7.3).
    let up = match rest {
        r if r != 0.5 => r > 0.5,
        _ => match product_error(v.abs(), scale as f64, x) {
            e if e != 0.0 => e > 0.0,
            _ => n % 2.0 == 1.0,
        },
    };
    if up {
        n += 1.0;
    }
    let n = n as u64;
    let sign = if v.is_sign_negative() { "-" } else { "" };
    match decimals {
        0 => format!("{sign}{n}"),
        d => format!("{sign}{}.{:0width$}", n / scale, n % scale, width = d.min(3) as usize),
    }
}

/// The exact `a` × `b` minus `p`, its rounded value (Dekker's product: each factor split
/// into halves whose products are exact).
fn product_error(a: f64, b: f64, p: f64) -> f64 {
    let split = |x: f64| {
        let c = 134_217_729.0 * x;
        let hi = c - (c - x);
        (hi, x - hi)
    };
    let ((ah, al), (bh, bl)) = (split(a), split(b));
    ((ah * bh - p) + ah * bl + al * bh) + al * bl
}

/// [`fixed`] with a sign always (`+1.5`, `-0.3`).
pub fn signed(v: f64, decimals: u32) -> String {
    match v.is_sign_negative() {
        true => fixed(v, decimals),
        false => format!("+{}", fixed(v, decimals)),
    }
}

fn track_name(t: wire::playback::Track) -> &'static str {
    match t {
        wire::playback::Track::Full => "full",
        wire::playback::Track::Preview => "preview",
        wire::playback::Track::Best => "best",
    }
}

/// What the state line says while recordings play: the recorded time shown, how it
/// plays, and anything wrong.
fn playback_line(p: &Player, tz_offset_min: i32) -> String {
    let at = p.position_us().map_or("–".to_string(), |t| clock_text(t, tz_offset_min, true, true));
    let speed = speed_text(p.speed_milli());
    match p.state() {
        Played::Opening => "opening the recordings…".to_string(),
        Played::Empty => "nothing recorded yet".to_string(),
        Played::Unavailable => "no recordings: the edge does not record this camera (--record)".to_string(),
        Played::Playing(_) => format!("▶ recorded {at} · {speed}"),
        Played::Seeking => format!("recorded {at} · seeking"),
        Played::Ended => format!("recorded {at} · end of the footage"),
        Played::Nothing => format!("recorded {at} · nothing recorded there"),
        Played::Paused => format!("recorded {at} · paused"),
    }
}

/// `#stats`'s data attributes and the overlay's text.
pub fn readout(r: &Readout) -> (Vec<(String, String)>, String) {
    let now = r.now_ms;
    let stats = r.stats;
    let fps = r.fps;
    let p50 = stats.latency_percentile(50.0);
    let p95 = stats.latency_percentile(95.0);
    let fmt = |v: Option<f64>| v.map(|v| fixed(v, 1)).unwrap_or_default();
    let mut attrs: Vec<(String, String)> = Vec::with_capacity(48);
    let mut set = |k: &str, v: &str| attrs.push((k.to_string(), v.to_string()));
    set("data-connected", if *r.link == Link::Live { "true" } else { "false" });
    set("data-broker", r.broker.unwrap_or_default());
    set("data-frames", &stats.frames.to_string());
    set("data-fps", &fixed(fps, 1));
    set("data-latency-p50-ms", &fmt(p50));
    set("data-latency-p95-ms", &fmt(p95));
    set("data-latency-p99-ms", &fmt(stats.latency_percentile(99.0)));
    set("data-latency-last-ms", &fmt(stats.last_latency));
    set("data-dropped", &stats.dropped.to_string());
    set("data-errors", &stats.errors.to_string());
    set("data-overdrawn", &stats.overdrawn.to_string());
    set("data-width", &stats.width.to_string());
    set("data-height", &stats.height.to_string());
    let clock = r.clock.best();
    set("data-clock-synced", if clock.is_some() { "true" } else { "false" });
    set("data-clock-samples", &r.clock.len().to_string());
    set("data-clock-offset-ms", &fmt(clock.map(|c| c.offset_ms)));
    set("data-clock-uncertainty-ms", &fmt(clock.map(|c| c.rtt_ms / 2.0)));
    for stage in Stage::ALL {
        for p in [50, 95, 99] {
            let v = stats.percentile(stage, p as f64);
            set(&format!("data-stage-{}-p{p}-ms", stage.name()), &fmt(v));
        }
    }
    let flow = r.flow;
    set("data-flow-window", &flow.map_or(1, |f| f.window).to_string());
    set("data-frame-interval-ms", &fmt(flow.map(|f| f.frame_interval_ms)));
    set("data-link-kbps", &fmt(flow.and_then(|f| f.link_bytes_per_s).map(|b| b * 8.0 / 1000.0)));
    let topic = match (r.shown, r.frames) {
        (Some(camera), _) => camera.to_string(),
        (None, Some(topic)) => topic.to_string(),
        (None, None) => format!("{} cameras", r.cameras),
    };
    let age = r.last_frame_ms.map(|t| (now - t) / 1000.0);
    let ago = match age {
        Some(s) if s < 90.0 => format!("last frame {} s ago", fixed(s, 0)),
        Some(s) if s < 5400.0 => format!("last frame {} min ago", fixed(s / 60.0, 0)),
        Some(s) => format!("last frame {} h ago", fixed(s / 3600.0, 1)),
        None => "no frame yet".to_string(),
    };
    let camera_offline = r.camera.filter(|c| c.state == State::Offline);
    let state = match (r.link, camera_offline) {
        (Link::Live, Some(c)) => format!("camera offline ({}) · {ago}", c.detail),
        (Link::Live, None) => format!("● live · {topic}"),
        (Link::Connecting, _) => "connecting…".to_string(),
        (Link::Down(why), _) => format!("reconnecting: {why} · {ago}"),
        (Link::Stopped(why), _) => why.clone(),
        (Link::Paused, _) => "paused while the tab is hidden".to_string(),
        (Link::NeedLogin(why), _) => format!("login needed: {why}"),
    };
    let state = match r.playback {
        Some(p) if *r.link == Link::Live => playback_line(p, r.tz_offset_min),
        _ => state,
    };
    set("data-mode", if r.playback.is_some() { "playback" } else { "live" });
    if let Some(p) = r.playback {
        let us = |t: Option<u64>| t.map(|t| t.to_string()).unwrap_or_default();
        set("data-playback-state", p.state().name());
        set("data-playback-at-us", &us(p.position_us()));
        set("data-playback-target-us", &us(p.target_us()));
        let clock = p.position_us().map(|t| clock_text(t, r.tz_offset_min, true, true));
        set("data-playback-clock", &clock.unwrap_or_default());
        set("data-playback-speed", &p.speed_milli().to_string());
        set("data-playback-track", p.track().map_or("", track_name));
        let scrub = p.scrub_percentiles();
        set("data-scrub-p50-ms", &fmt(scrub.map(|s| s.0)));
        set("data-scrub-p95-ms", &fmt(scrub.map(|s| s.1)));
        set("data-scrubs", &p.scrubs().to_string());
        set("data-playback-error", p.error.as_deref().unwrap_or_default());
    }
    set("data-camera-state", r.camera.map_or("unknown", |c| c.state.name()));
    set("data-camera", r.shown.unwrap_or_default());
    set("data-paused", if r.paused { "true" } else { "false" });
    set("data-switches", &r.switches.to_string());
    set("data-switch-ms", &fmt(r.switch_ms));
    set("data-switch-full-ms", &fmt(r.switch_full_ms));
    set("data-rendition", r.rendition.name());
    set("data-frame-seq", &r.frame_sequence.to_string());
    set("data-detections", &r.detections.0.to_string());
    set("data-detections-seq", &r.detections.1.map(|s| s.to_string()).unwrap_or_default());
    set("data-detections-producers", &r.producers);
    set("data-detections-lag-ms", &fmt(r.detections_lag_ms));
    set("data-rendition-pinned", r.pinned.map_or("", Rendition::name));
    set("data-rendition-next", r.next.map_or("", Rendition::name));
    set("data-link-estimate-kbps", &fmt(r.link_estimate.map(|b| b * 8.0 / 1000.0)));
    set("data-link-held-pct", &fmt(r.link_held.map(|h| h * 100.0)));
    set("data-last-frame-age-s", &fmt(age));
    set("data-state", &state);
    if let Some(ms) = r.first_frame_ms {
        set("data-first-frame-ms", &fixed(ms, 1));
    }
    if let Some(ms) = r.first_picture_ms {
        set("data-first-picture-ms", &fixed(ms, 1));
    }
    // `name:ms,…`, for a look at a slow start (and the benchmark). Built by hand: a
    // formatting call per step costs wasm bytes that every page load pays for.
    let mut steps = String::new();
    for (name, ms) in r.startup.steps() {
        if !steps.is_empty() {
            steps.push(',');
        }
        steps.push_str(name);
        steps.push(':');
        steps.push_str(&fixed(ms, 1));
    }
    set("data-first-steps", &steps);
    let latency = match (p50, p95, r.playback) {
        // A recorded frame's age says when it was recorded: the scrub's time is the news.
        (_, _, Some(p)) => match p.scrub_percentiles() {
            Some((p50, p95)) => format!("recorded · seek {} ms (p95 {})", fixed(p50, 0), fixed(p95, 0)),
            None => "recorded".to_string(),
        },
        (Some(p50), Some(p95), None) => format!("{} ms (p95 {})", fixed(p50, 0), fixed(p95, 0)),
        _ => "–".to_string(),
    };
    let mut clock_line = match clock {
        Some(c) => format!("clock offset {} ms ± {}", signed(c.offset_ms, 1), fixed(c.rtt_ms / 2.0, 1)),
        None => "clock offset: not measured (same clock assumed)".to_string(),
    };
    if let Some(f) = flow {
        clock_line += &format!(" · {} in flight", f.window);
        if let Some(b) = f.link_bytes_per_s {
            clock_line += &format!(" · link {} Mbit/s", fixed(b * 8.0 / 1e6, 1));
        }
    }
    let stages = |p: f64| {
        let parts: Vec<String> = Stage::ALL[..6]
            .iter()
            .filter_map(|st| stats.percentile(*st, p).map(|v| format!("{} {}", st.label(), fixed(v, 1))))
            .collect();
        if parts.is_empty() {
            "–".to_string()
        } else {
            parts.join(" · ")
        }
    };
    let mut text = format!(
        "{state}\n{} fps · latency {latency}\np50 ms: {}\np95 ms: {}\n{clock_line}\n{}×{} · {} frames · {} dropped · {} errors",
        fixed(fps, 1),
        stages(50.0),
        stages(95.0),
        stats.width,
        stats.height,
        stats.frames,
        stats.dropped,
        stats.errors
    );
    if let Some(ms) = r.first_picture_ms {
        text.push_str("\nfirst picture in ");
        text.push_str(&fixed(ms, 0));
        text.push_str(" ms");
    }
    (attrs, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readout_of(link: &Link, camera: Option<&Status>) -> (Vec<(String, String)>, String) {
        let (stats, clock) = (Stats::default(), ClockSync::default());
        readout(&Readout {
            now_ms: 10_000.0,
            link,
            broker: Some("ws://a:15675/ws"),
            stats: &stats,
            fps: 0.0,
            clock: &clock,
            flow: None,
            shown: Some("door"),
            frames: Some("home/door/frame"),
            cameras: 1,
            camera,
            paused: false,
            last_frame_ms: Some(4_000.0),
            first_frame_ms: None,
            first_picture_ms: None,
            startup: &Startup::default(),
            switches: 0,
            switch_ms: None,
            switch_full_ms: None,
            rendition: Rendition::Full,
            next: None,
            pinned: None,
            link_estimate: None,
            link_held: None,
            frame_sequence: 0,
            detections: (0, None),
            producers: String::new(),
            detections_lag_ms: None,
            playback: None,
            tz_offset_min: 0,
        })
    }

    fn attr<'a>(attrs: &'a [(String, String)], k: &str) -> &'a str {
        attrs.iter().find(|(key, _)| key == k).map_or("", |(_, v)| v)
    }

    #[test]
    fn numbers_are_written_as_rust_writes_them_to_a_tenth() {
        for v in [
            0.0,
            0.04,
            0.05,
            0.06,
            0.15,
            0.25,
            1.0,
            12.345,
            99.96,
            1234.5678,
            7.25,
            7.35,
            1e6 + 0.11,
            33.3333,
            2.5,
            0.45,
        ] {
            assert_eq!(fixed(v, 1), format!("{v:.1}"), "{v}");
            assert_eq!(fixed(-v, 1), format!("{:.1}", -v), "{v}");
            assert_eq!(fixed(v, 0), format!("{v:.0}"), "{v}");
            assert_eq!(signed(v, 1), format!("{v:+.1}"), "{v}");
            assert_eq!(signed(-v, 1), format!("{:+.1}", -v), "{v}");
        }
        // Every value on a grid of hundredths and thousandths (ties included), and
        // scattered doubles, read the same as Rust's own formatting.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..200_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let v = match i % 3 {
                0 => i as f64 / 100.0,
                1 => i as f64 / 1000.0,
                _ => (seed >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((i % 9) as i32),
            };
            for d in 0..=3 {
                assert_eq!(fixed(v, d), format!("{v:.*}", d as usize), "{v} to {d}");
            }
        }
        assert_eq!(fixed(2.5, 0), "2");
        assert_eq!(fixed(3.5, 0), "4");
        assert_eq!(fixed(-1.5e18, 1), "-1500000000000000000");
        assert_eq!(fixed(1e16 + 2.0, 3), "10000000000000002");
        assert_eq!(fixed(f64::NAN, 1), "NaN");
    }

    #[test]
    fn a_live_link_reads_as_connected_and_names_the_camera() {
        let (attrs, text) = readout_of(&Link::Live, None);
        assert_eq!(attr(&attrs, "data-connected"), "true");
        assert_eq!(attr(&attrs, "data-state"), "● live · door");
        assert_eq!(attr(&attrs, "data-camera-state"), "unknown");
        assert_eq!(attr(&attrs, "data-broker"), "ws://a:15675/ws");
        assert!(text.starts_with("● live · door\n"), "{text}");
    }

    #[test]
    fn an_offline_camera_says_why_and_how_old_its_last_frame_is() {
        let offline = Status { state: State::Offline, detail: "unplugged".into(), at_us: 0 };
        let (attrs, _) = readout_of(&Link::Live, Some(&offline));
        assert_eq!(attr(&attrs, "data-state"), "camera offline (unplugged) · last frame 6 s ago");
        assert_eq!(attr(&attrs, "data-camera-state"), "offline");
    }

    #[test]
    fn a_refused_login_reads_as_needed_and_not_connected() {
        let (attrs, _) = readout_of(&Link::NeedLogin("This camera needs a login.".into()), None);
        assert_eq!(attr(&attrs, "data-connected"), "false");
        assert_eq!(attr(&attrs, "data-state"), "login needed: This camera needs a login.");
    }
}
