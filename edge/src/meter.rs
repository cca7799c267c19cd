//! Counters of what the pipeline did, and each camera's log lines built from them.
//!
//! Threads only bump atomics; each camera's reporter reads the counters (and who
//! watches) once a second, so measuring costs the frame path a few relaxed adds. It
//! logs at info only what a person or a service's log wants: who watches when that
//! changes ([`Debounced`]) and a summary every [`SUMMARY_EVERY`] ([`Period`]); the
//! once-a-second rates are at debug (`RUST_LOG=edge::meter=debug`).
//!
//! Also kept here for the site: each camera's newest published full frame
//! ([`NewestFrame`], shared with the publisher, never copied), its alarm state, an
//! encode-time [`Histogram`], and the embedded broker's gate counters ([`BrokerMeter`]).

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;

use wire::ack::Rendition;

use crate::{
    sync::lock,
    watch::{Audience, Watchers},
};

#[derive(Default)]
pub struct Meter {
    pub captured: AtomicU64,
    pub encoded: AtomicU64,
    pub bad_frames: AtomicU64,
    pub encode_us: AtomicU64,
    pub published: AtomicU64,
    pub published_bytes: AtomicU64,
    /// Frames captured but never published (replaced by a newer one, or bad).
    pub dropped: AtomicU64,
    /// Previews published.
    pub previews: AtomicU64,
    /// Frames captured and neither encoded nor previewed: nobody watched.
    pub unwatched: AtomicU64,
    /// Per rendition (full, half, quarter, by id): the full stream's are counted both
    /// here and in the fields above.
    pub renditions: [RenditionMeter; 3],
    /// Compressed frames the source decoded (H.264), and the CPU time that took.
    pub decoded: AtomicU64,
    pub decode_us: AtomicU64,
    /// Time to encode each full-size frame.
    pub encode_time: Histogram,
    /// Whether the camera's alarm is raised, as last seen on `<prefix>/<camera>/alarm`.
    pub alarm: AtomicBool,
    /// The newest full-size frame published, for `/snapshot/<camera>.jpg`.
    pub newest: NewestFrame,
    /// Motion raised by the camera's detector (events, not pictures).
    pub motion_events: AtomicU64,
    /// Capture → published of the full stream's last frames, µs.
    publish_latency: Mutex<VecDeque<u32>>,
}

/// Upper bounds (µs) of the encode-time histogram's buckets; `+Inf` follows.
pub const ENCODE_BUCKETS_US: [u64; 7] = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];

/// A histogram of durations with fixed buckets ([`ENCODE_BUCKETS_US`]): a few relaxed
/// adds per observation, no lock.
#[derive(Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is over every bound.
    buckets: [AtomicU64; ENCODE_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// One observation of `us` microseconds.
    pub fn observe(&self, us: u64) {
        let i = ENCODE_BUCKETS_US.iter().position(|&b| us <= b).unwrap_or(ENCODE_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// Cumulative counts per bound (the last is `+Inf`, the total), and the sum in µs.
    pub fn cumulative(&self) -> ([u64; ENCODE_BUCKETS_US.len() + 1], u64) {
        let mut out = [0; ENCODE_BUCKETS_US.len() + 1];
        let mut total = 0;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            total += b.load(Relaxed);
            *o = total;
        }
        (out, self.sum_us.load(Relaxed))
    }
}

/// A camera's newest published full-size frame and when it went out: the publisher
/// keeps a reference to the payload it sends (a reference count, not a copy), and
/// waiters hear of each new one.
#[derive(Default)]
pub struct NewestFrame {
    frame: Mutex<Option<(Bytes, Instant)>>,
    published: tokio::sync::Notify,
}

impl NewestFrame {
    /// `payload` was just published.
    pub fn keep(&self, payload: Bytes) {
        *lock(&self.frame) = Some((payload, Instant::now()));
        self.published.notify_waiters();
    }

    /// The newest frame, if one was published within `max_age`.
    pub fn fresh(&self, max_age: Duration) -> Option<Bytes> {
        lock(&self.frame).as_ref().filter(|(_, at)| at.elapsed() <= max_age).map(|(f, _)| f.clone())
    }

    /// Waits up to `timeout` for a frame published after this call.
    pub async fn next(&self, timeout: Duration) -> Option<Bytes> {
        let asked = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let published = self.published.notified();
            tokio::pin!(published);
            // Registered before the check, so a frame between the two is not missed.
            published.as_mut().enable();
            if let Some((f, _)) = lock(&self.frame).as_ref().filter(|(_, at)| *at >= asked) {
                return Some(f.clone());
            }
            tokio::time::timeout_at(deadline, published).await.ok()?;
        }
    }
}

/// The embedded broker's gate, counted: what the network did with it.
#[derive(Debug, Default)]
pub struct BrokerMeter {
    /// Connections accepted over TCP and over WebSocket (before any login).
    pub accepted_tcp: AtomicU64,
    pub accepted_ws: AtomicU64,
    /// Connections that ended (accepted minus closed is what is open).
    pub closed: AtomicU64,
    /// CONNECTs refused for their login (or a throttled address).
    pub refused_logins: AtomicU64,
    /// Connections closed for a PUBLISH (or last will) / SUBSCRIBE their role may not make.
    pub refused_publishes: AtomicU64,
    pub refused_subscribes: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
    /// Frames the fan-out read once from the broker and handed to its viewers.
    pub fanout_frames: AtomicU64,
    /// Frames a viewer that read too slowly missed (newer ones took their place).
    pub slow_drops: AtomicU64,
}

/// Frames sizes remembered for a rendition's typical frame size.
const RECENT: usize = 16;

/// One rendition's counters.
#[derive(Default)]
pub struct RenditionMeter {
    pub encoded: AtomicU64,
    /// Time spent making it (scaling or a reduced decode, and encoding).
    pub encode_us: AtomicU64,
    pub published: AtomicU64,
    pub published_bytes: AtomicU64,
    /// Payload sizes of the last [`RECENT`] frames published.
    recent: Mutex<VecDeque<u32>>,
    /// The picture size of the last frame made (width << 32 | height; 0: none yet).
    size: AtomicU64,
}

impl RenditionMeter {
    /// A frame of `bytes` went out.
    pub fn published(&self, bytes: u64) {
        self.published.fetch_add(1, Relaxed);
        self.published_bytes.fetch_add(bytes, Relaxed);
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(bytes.min(u64::from(u32::MAX)) as u32);
    }

    /// A frame of `width`×`height` was made.
    pub fn made(&self, width: u32, height: u32) {
        self.size.store(u64::from(width) << 32 | u64::from(height), Relaxed);
    }

    /// The picture size of the last frame made, if any was.
    pub fn size(&self) -> Option<(u32, u32)> {
        let s = self.size.load(Relaxed);
        (s != 0).then_some(((s >> 32) as u32, s as u32))
    }

    /// The mean size of the last frames published; 0 if none ever was.
    pub fn frame_bytes(&self) -> u64 {
        let recent = lock(&self.recent);
        let n = recent.len() as u64;
        recent.iter().map(|&b| u64::from(b)).sum::<u64>().checked_div(n).unwrap_or(0)
    }

    fn snapshot(&self) -> RenditionSnapshot {
        RenditionSnapshot {
            encoded: self.encoded.load(Relaxed),
            encode_us: self.encode_us.load(Relaxed),
            published: self.published.load(Relaxed),
            published_bytes: self.published_bytes.load(Relaxed),
            frame_bytes: self.frame_bytes(),
        }
    }
}

/// A reading of one rendition's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RenditionSnapshot {
    pub encoded: u64,
    pub encode_us: u64,
    pub published: u64,
    pub published_bytes: u64,
    /// The mean size of its last frames (not summed over cameras: 0 in the totals).
    pub frame_bytes: u64,
}

/// A reading of all counters at one time; as JSON, `renditions` holds each rendition's
/// by name: `{"full":{"encoded":…,"encode_us":…,"published":…,"published_bytes":…,"frame_bytes":…},"half":…,"quarter":…}`.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub captured: u64,
    pub encoded: u64,
    pub bad_frames: u64,
    pub encode_us: u64,
    pub published: u64,
    pub published_bytes: u64,
    pub dropped: u64,
    pub previews: u64,
    pub unwatched: u64,
    /// Motion raised (0 without motion detection).
    pub motion_events: u64,
    /// Compressed frames decoded by the edge (H.264 cameras), and the CPU time it took.
    pub decoded: u64,
    pub decode_us: u64,
    #[serde(serialize_with = "by_name")]
    pub renditions: [RenditionSnapshot; 3],
}

/// Renditions' counters as a JSON object keyed by the renditions' names.
fn by_name<S: serde::Serializer>(renditions: &[RenditionSnapshot; 3], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(Rendition::ALL.iter().map(|r| r.name()).zip(renditions))
}

/// A snapshot as `/stats.json` shows it: the counters, then when they were read.
#[derive(serde::Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    counters: &'a Snapshot,
    at_us: u64,
}

impl Meter {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            captured: self.captured.load(Relaxed),
            encoded: self.encoded.load(Relaxed),
            bad_frames: self.bad_frames.load(Relaxed),
            encode_us: self.encode_us.load(Relaxed),
            published: self.published.load(Relaxed),
            published_bytes: self.published_bytes.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            previews: self.previews.load(Relaxed),
            unwatched: self.unwatched.load(Relaxed),
            motion_events: self.motion_events.load(Relaxed),
            decoded: self.decoded.load(Relaxed),
            decode_us: self.decode_us.load(Relaxed),
            renditions: [0, 1, 2].map(|i| self.renditions[i].snapshot()),
        }
    }

    /// One rendition's counters.
    pub fn rendition(&self, rendition: Rendition) -> &RenditionMeter {
        &self.renditions[usize::from(rendition.id())]
    }

    /// A full-stream frame went out `us` after its capture.
    pub fn note_publish_latency(&self, us: u64) {
        let mut recent = lock(&self.publish_latency);
        if recent.len() == 4 * RECENT {
            recent.pop_front();
        }
        recent.push_back(us.min(u64::from(u32::MAX)) as u32);
    }

    /// The median capture → published time of the last frames, ms; `None` before any.
    pub fn publish_latency_ms(&self) -> Option<f64> {
        let mut recent: Vec<u32> = lock(&self.publish_latency).iter().copied().collect();
        if recent.is_empty() {
            return None;
        }
        let mid = recent.len() / 2;
        Some(f64::from(*recent.select_nth_unstable(mid).1) / 1000.0)
    }
}

impl Snapshot {
    fn add(&mut self, o: &Snapshot) {
        self.captured += o.captured;
        self.encoded += o.encoded;
        self.bad_frames += o.bad_frames;
        self.encode_us += o.encode_us;
        self.published += o.published;
        self.published_bytes += o.published_bytes;
        self.dropped += o.dropped;
        self.previews += o.previews;
        self.unwatched += o.unwatched;
        self.motion_events += o.motion_events;
        self.decoded += o.decoded;
        self.decode_us += o.decode_us;
        for (mine, theirs) in self.renditions.iter_mut().zip(&o.renditions) {
            mine.encoded += theirs.encoded;
            mine.encode_us += theirs.encode_us;
            mine.published += theirs.published;
            mine.published_bytes += theirs.published_bytes;
        }
    }
}

/// `/stats.json`: every camera's counters summed at the top level (what a one-camera
/// edge always served), and each camera's under `cameras`.
pub fn cameras_json(meters: &[(String, std::sync::Arc<Meter>)]) -> String {
    /// Each camera's counters by name, in the edge's order.
    struct Cameras<'a>(&'a [(&'a str, Snapshot)], u64);
    impl serde::Serialize for Cameras<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let at_us = self.1;
            s.collect_map(self.0.iter().map(|(name, counters)| (name, Stamped { counters, at_us })))
        }
    }
    #[derive(serde::Serialize)]
    struct Stats<'a> {
        #[serde(flatten)]
        total: Stamped<'a>,
        cameras: Cameras<'a>,
    }
    let each: Vec<(&str, Snapshot)> = meters.iter().map(|(n, m)| (n.as_str(), m.snapshot())).collect();
    let mut total = Snapshot::default();
    each.iter().for_each(|(_, s)| total.add(s));
    let at_us = crate::clock::now_us();
    let stats = Stats { total: Stamped { counters: &total, at_us }, cameras: Cameras(&each, at_us) };
    // Strings and numbers only: serializing cannot fail.
    serde_json::to_string(&stats).expect("counters serialize")
}

/// What happened between two snapshots, as rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Frames published (the full stream).
    pub frames: u64,
    pub fps: f64,
    pub kb_per_frame: f64,
    pub encode_ms: f64,
    pub dropped: u64,
    pub bad_frames: u64,
}

impl Rates {
    pub fn between(a: &Snapshot, b: &Snapshot, elapsed: Duration) -> Rates {
        let secs = elapsed.as_secs_f64().max(1e-6);
        let published = b.published - a.published;
        let encoded = b.encoded - a.encoded;
        Rates {
            frames: published,
            fps: published as f64 / secs,
            kb_per_frame: if published == 0 {
                0.0
            } else {
                (b.published_bytes - a.published_bytes) as f64 / published as f64 / 1000.0
            },
            encode_ms: if encoded == 0 {
                0.0
            } else {
                (b.encode_us - a.encode_us) as f64 / encoded as f64 / 1000.0
            },
            dropped: b.dropped - a.dropped,
            bad_frames: b.bad_frames - a.bad_frames,
        }
    }
}

/// How often each camera's summary line is logged (at info).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5 * 60);
/// A camera's "watching" line comes at most this often, with the latest count: a page
/// reloaded or a viewer switching renditions says so in a line or two, not per blip.
pub const VIEWERS_QUIET: Duration = Duration::from_secs(5);

/// One camera's summary period, as its line tells it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub rates: Rates,
    /// Viewers at the end of the period, and the most seen at any second of it.
    pub viewers: usize,
    pub peak_viewers: usize,
    /// Whether anyone watched at any second of it.
    pub watched: bool,
}

impl Summary {
    /// Nothing to say but that nobody watched: nothing published, dropped or bad, so one
    /// short line says it (a service's log still shows the camera is there).
    pub fn idle(&self) -> bool {
        !self.watched && self.rates.frames == 0 && self.rates.dropped == 0 && self.rates.bad_frames == 0
    }
}

/// What a summary period has seen so far. I/O-free: the reporter feeds it readings and
/// times (since it started), once a second.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    start: Snapshot,
    started: Duration,
    peak_viewers: usize,
    watched: bool,
}

impl Period {
    pub fn new(start: Snapshot, at: Duration) -> Period {
        Period { start, started: at, peak_viewers: 0, watched: false }
    }

    /// Who watched at one second of the period.
    pub fn saw(&mut self, audience: Audience) {
        self.peak_viewers = self.peak_viewers.max(audience.viewers);
        self.watched |= audience.watched;
    }

    /// The summary if the period is over at `at` (`now` read then, `audience` the
    /// latest), and a new period begins; `None` before `every` has passed.
    pub fn close(
        &mut self,
        now: Snapshot,
        at: Duration,
        audience: Audience,
        every: Duration,
    ) -> Option<Summary> {
        if at.saturating_sub(self.started) < every {
            return None;
        }
        self.saw(audience);
        let summary = Summary {
            rates: Rates::between(&self.start, &now, at - self.started),
            viewers: audience.viewers,
            peak_viewers: self.peak_viewers,
            watched: self.watched,
        };
        *self = Period::new(now, at);
        Some(summary)
    }
}

/// A value logged when it changes, at most once per `quiet`, always the latest.
/// I/O-free: times are since the reporter started.
#[derive(Debug, Clone, Copy)]
pub struct Debounced<T> {
    logged: T,
    at: Option<Duration>,
    quiet: Duration,
}

impl<T: Copy + PartialEq> Debounced<T> {
    /// `initial` counts as said (nobody watches at start, so that goes unsaid).
    pub fn new(initial: T, quiet: Duration) -> Debounced<T> {
        Debounced { logged: initial, at: None, quiet }
    }

    /// The value is `value` at `now`: returns it when it is a line to log.
    pub fn observe(&mut self, value: T, now: Duration) -> Option<T> {
        let too_soon = self.at.is_some_and(|at| now.saturating_sub(at) < self.quiet);
        if value == self.logged || too_soon {
            return None;
        }
        (self.logged, self.at) = (value, Some(now));
        Some(value)
    }
}

/// "5 min", "90 s": a period as a log line says it.
fn spoken(period: Duration) -> String {
    match period.as_secs() {
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Logs what one camera does until the task is dropped: at debug, its rates each second
/// (`RUST_LOG=edge::meter=debug`); at info, who watches it when that changes, and a
/// summary every [`SUMMARY_EVERY`]. A line a second per camera would bury the banner
/// and fill a service's log with nothing happening.
pub async fn report(
    meter: std::sync::Arc<Meter>,
    camera: String,
    watchers: Option<std::sync::Arc<Watchers>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let began = tokio::time::Instant::now();
    let (mut last, mut at) = (meter.snapshot(), Duration::ZERO);
    let mut period = Period::new(last, at);
    let mut audience = Debounced::new(Audience::default(), VIEWERS_QUIET);
    let said = spoken(SUMMARY_EVERY);
    loop {
        tick.tick().await;
        let (now, now_at) = (meter.snapshot(), began.elapsed());
        let r = Rates::between(&last, &now, now_at - at);
        tracing::debug!(
            camera = %camera,
            fps = format_args!("{:.1}", r.fps),
            kb_per_frame = format_args!("{:.1}", r.kb_per_frame),
            encode_ms = format_args!("{:.2}", r.encode_ms),
            dropped = r.dropped,
            bad_frames = r.bad_frames,
            "publishing"
        );
        (last, at) = (now, now_at);
        let who = watchers.as_ref().map(|w| w.audience(&camera, crate::clock::now_us())).unwrap_or_default();
        period.saw(who);
        match audience.observe(who, now_at) {
            Some(Audience { watched: false, .. }) => tracing::info!(camera = %camera, "nobody watching"),
            // An external broker's viewers are seen only by what they send: no count.
            Some(Audience { viewers: 0, .. }) => tracing::info!(camera = %camera, "watching"),
            Some(Audience { viewers, .. }) => tracing::info!(camera = %camera, viewers, "watching"),
            None => {}
        }
        let Some(s) = period.close(now, now_at, who, SUMMARY_EVERY) else { continue };
        if s.idle() {
            tracing::info!(camera = %camera, "nobody watched in the last {said}");
        } else {
            tracing::info!(
                camera = %camera,
                frames = s.rates.frames,
                fps = format_args!("{:.1}", s.rates.fps),
                kb_per_frame = format_args!("{:.1}", s.rates.kb_per_frame),
                encode_ms = format_args!("{:.2}", s.rates.encode_ms),
                dropped = s.rates.dropped,
                bad_frames = s.rates.bad_frames,
                viewers = s.viewers,
                peak_viewers = s.peak_viewers,
                "the last {said}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_differences_over_time() {
        let a = Snapshot {
            published: 10,
            published_bytes: 100_000,
            encoded: 10,
            encode_us: 10_000,
            ..Default::default()
        };
        let b = Snapshot {
            published: 40,
            published_bytes: 1_600_000,
            encoded: 40,
            encode_us: 70_000,
            dropped: 3,
            ..Default::default()
        };
        let r = Rates::between(&a, &b, Duration::from_secs(1));
        assert_eq!(r.fps, 30.0);
        assert_eq!(r.kb_per_frame, 50.0);
        assert_eq!(r.encode_ms, 2.0);
        assert_eq!(r.dropped, 3);
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_summary_covers_its_whole_period_and_the_most_viewers_seen() {
        let start = Snapshot { published: 100, published_bytes: 1_000_000, ..Default::default() };
        let mut p = Period::new(start, secs(0));
        let (one, three) = (Audience { viewers: 1, watched: true }, Audience { viewers: 3, watched: true });
        p.saw(one);
        p.saw(three);
        let end = Snapshot {
            published: 700,
            published_bytes: 7_000_000,
            encoded: 600,
            encode_us: 1_200_000,
            dropped: 4,
            bad_frames: 1,
            ..Default::default()
        };
        assert_eq!(p.close(end, secs(299), one, secs(300)), None, "not over yet");
        let s = p.close(end, secs(300), one, secs(300)).expect("over");
        assert_eq!(
            (s.rates.frames, s.rates.fps, s.rates.kb_per_frame, s.rates.encode_ms),
            (600, 2.0, 10.0, 2.0)
        );
        assert_eq!((s.rates.dropped, s.rates.bad_frames), (4, 1));
        assert_eq!((s.viewers, s.peak_viewers, s.watched), (1, 3, true));
        assert!(!s.idle());
        // The next period starts where that one ended, with nobody seen yet.
        let s = p.close(end, secs(600), Audience::default(), secs(300)).expect("over again");
        assert_eq!((s.rates.frames, s.peak_viewers, s.watched), (0, 0, false));
        assert!(s.idle(), "nothing published, nobody watched: one short line");
    }

    #[test]
    fn a_summary_is_not_idle_when_frames_went_out_or_went_bad_unwatched() {
        let mut p = Period::new(Snapshot::default(), secs(0));
        let bad = Snapshot { bad_frames: 2, ..Default::default() };
        assert!(!p.close(bad, secs(300), Audience::default(), secs(300)).unwrap().idle());
        let published = Snapshot { published: 9, ..bad };
        assert!(!p.close(published, secs(600), Audience::default(), secs(300)).unwrap().idle());
    }

    #[test]
    fn a_change_is_said_at_once_then_at_most_once_per_quiet_spell_and_always_the_latest() {
        let mut d = Debounced::new(0, secs(5));
        assert_eq!(d.observe(0, secs(1)), None, "the initial value goes unsaid");
        assert_eq!(d.observe(1, secs(2)), Some(1));
        // A viewer flapping: nothing until the quiet spell is over.
        assert_eq!(d.observe(0, secs(3)), None);
        assert_eq!(d.observe(2, secs(4)), None);
        assert_eq!(d.observe(3, secs(7)), Some(3), "the latest, once 5 s passed");
        // Back to what was said within the spell: nothing to say.
        assert_eq!(d.observe(0, secs(8)), None);
        assert_eq!(d.observe(3, secs(9)), None);
        assert_eq!(d.observe(3, secs(20)), None, "no change, no line");
        assert_eq!(d.observe(0, secs(21)), Some(0), "long after: at once");
    }

    #[test]
    fn periods_are_said_in_minutes_when_whole() {
        assert_eq!(spoken(SUMMARY_EVERY), "5 min");
        assert_eq!(spoken(secs(90)), "90 s");
        assert_eq!(spoken(secs(30)), "30 s");
    }

    #[test]
    fn stats_json_sums_the_cameras_and_lists_each() {
        let (a, b) = (std::sync::Arc::new(Meter::default()), std::sync::Arc::new(Meter::default()));
        a.published.store(3, Relaxed);
        b.published.store(4, Relaxed);
        let json = cameras_json(&[("a".into(), a), ("b".into(), b)]);
        assert!(
            json.starts_with(
                "{\"captured\":0,\"encoded\":0,\"bad_frames\":0,\"encode_us\":0,\"published\":7,"
            ),
            "{json}"
        );
        assert!(json.contains(",\"cameras\":{\"a\":{\"captured\":0,") && json.contains("\"b\":{"), "{json}");
        assert!(json.ends_with("}}}"), "{json}");
    }

    #[test]
    fn stats_json_counts_each_rendition_and_its_typical_frame_size() {
        let m = std::sync::Arc::new(Meter::default());
        m.rendition(Rendition::Half).published(1000);
        m.rendition(Rendition::Half).published(3000);
        let json = cameras_json(&[("a".into(), m)]);
        let half =
            r#""half":{"encoded":0,"encode_us":0,"published":2,"published_bytes":4000,"frame_bytes":2000}"#;
        assert!(json.contains(r#""cameras":{"a":{"#) && json.contains(half), "{json}");
        assert!(
            json.contains(
                r#""quarter":{"encoded":0,"encode_us":0,"published":0,"published_bytes":0,"frame_bytes":0}"#
            ),
            "{json}"
        );
        assert!(json.matches(r#""frame_bytes":2000"#).count() == 1, "not summed over cameras: {json}");
    }

    #[test]
    fn a_renditions_frame_size_is_the_mean_of_its_last_frames() {
        let r = RenditionMeter::default();
        assert_eq!(r.frame_bytes(), 0, "never published");
        for _ in 0..RECENT {
            r.published(100);
        }
        r.published(1700);
        assert_eq!(r.frame_bytes(), 200, "the oldest forgotten");
    }

    #[test]
    fn a_stalled_stream_reads_zero_not_a_stale_rate() {
        let a = Snapshot { published: 40, ..Default::default() };
        let r = Rates::between(&a, &a, Duration::from_secs(1));
        assert_eq!((r.fps, r.kb_per_frame, r.encode_ms), (0.0, 0.0, 0.0));
    }
}

/// Escapes a Prometheus label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A counter family: name, help, and its value from a camera's snapshot.
type Family = (&'static str, &'static str, fn(&Snapshot) -> u64);

/// `# HELP` and `# TYPE` of a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    *out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// What `/metrics` shows besides the cameras' counters.
#[derive(Default, Clone, Copy)]
pub struct Seen<'a> {
    /// Who watches which camera (subscriptions through the gate, acknowledgements,
    /// `watch` messages).
    pub watchers: Option<&'a crate::watch::Watchers>,
    /// The embedded broker's gate; `None` with an external broker.
    pub broker: Option<&'a BrokerMeter>,
    /// What the doors (web port, gate) refused.
    pub doors: Option<&'a crate::doors::refusals::Refusals>,
}

/// `/metrics`: every camera's counters in the Prometheus text exposition format (0.0.4),
/// then who watches, the embedded broker's gate, and what the doors refused.
pub fn prometheus(meters: &[(String, std::sync::Arc<Meter>)], seen: Seen) -> String {
    let snapshots: Vec<(String, Snapshot)> = meters.iter().map(|(n, m)| (label(n), m.snapshot())).collect();
    let mut out = String::new();
    let counters: [Family; 9] = [
        ("mqcam_frames_captured_total", "Frames the camera delivered.", |s| s.captured),
        ("mqcam_frames_encoded_total", "Full-size frames encoded (or passed through).", |s| s.encoded),
        ("mqcam_frames_published_total", "Full-size frames handed to MQTT.", |s| s.published),
        ("mqcam_frames_dropped_total", "Frames dropped for slow viewers (the newest wins).", |s| s.dropped),
        ("mqcam_frames_bad_total", "Frames from the camera that could not be used.", |s| s.bad_frames),
        ("mqcam_frames_unwatched_total", "Frames not encoded because nobody watched.", |s| s.unwatched),
        ("mqcam_published_bytes_total", "Bytes of full-size frames handed to MQTT.", |s| s.published_bytes),
        ("mqcam_previews_total", "Previews published.", |s| s.previews),
        ("mqcam_frames_decoded_total", "Compressed (H.264) frames the edge decoded.", |s| s.decoded),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        for (camera, s) in &snapshots {
            out += &format!("{name}{{camera=\"{camera}\"}} {}\n", value(s));
        }
    }
    family(
        &mut out,
        "mqcam_decode_seconds_total",
        "counter",
        "CPU time spent decoding compressed (H.264) frames.",
    );
    for (camera, s) in &snapshots {
        out +=
            &format!("mqcam_decode_seconds_total{{camera=\"{camera}\"}} {:.6}\n", s.decode_us as f64 / 1e6);
    }
    family(&mut out, "mqcam_encode_seconds", "histogram", "Time spent encoding each full-size frame.");
    for ((camera, _), (_, meter)) in snapshots.iter().zip(meters) {
        let (cumulative, sum_us) = meter.encode_time.cumulative();
        let bounds = ENCODE_BUCKETS_US.iter().map(|&us| format!("{}", us as f64 / 1e6));
        for (le, n) in bounds.chain(std::iter::once("+Inf".to_string())).zip(cumulative) {
            out += &format!("mqcam_encode_seconds_bucket{{camera=\"{camera}\",le=\"{le}\"}} {n}\n");
        }
        out += &format!("mqcam_encode_seconds_sum{{camera=\"{camera}\"}} {:.6}\n", sum_us as f64 / 1e6);
        out += &format!(
            "mqcam_encode_seconds_count{{camera=\"{camera}\"}} {}\n",
            cumulative[ENCODE_BUCKETS_US.len()]
        );
    }
    for (name, help, value) in [
        ("mqcam_rendition_published_total", "Frames published per rendition.", 0),
        ("mqcam_rendition_published_bytes_total", "Bytes published per rendition.", 1),
    ] {
        family(&mut out, name, "counter", help);
        for (camera, s) in &snapshots {
            for (r, rs) in Rendition::ALL.iter().zip(&s.renditions) {
                let v = if value == 0 { rs.published } else { rs.published_bytes };
                out += &format!("{name}{{camera=\"{camera}\",rendition=\"{}\"}} {v}\n", r.name());
            }
        }
    }
    family(&mut out, "mqcam_alarm", "gauge", "Whether the camera's alarm is raised (1) or not (0).");
    for ((camera, _), (_, meter)) in snapshots.iter().zip(meters) {
        out += &format!("mqcam_alarm{{camera=\"{camera}\"}} {}\n", u8::from(meter.alarm.load(Relaxed)));
    }
    if let Some(w) = seen.watchers {
        let now = crate::clock::now_us();
        family(
            &mut out,
            "mqcam_viewers",
            "gauge",
            "Clients subscribed to the rendition through the embedded broker (a wildcard counts for every camera).",
        );
        for ((camera, _), (name, _)) in snapshots.iter().zip(meters) {
            for r in Rendition::ALL {
                let n = w.subscribers(name, r);
                out += &format!("mqcam_viewers{{camera=\"{camera}\",rendition=\"{}\"}} {n}\n", r.name());
            }
        }
        family(
            &mut out,
            "mqcam_watched",
            "gauge",
            "Whether anyone watches the rendition (subscriptions, acknowledgements, watch messages): it is being made.",
        );
        for ((camera, _), (name, _)) in snapshots.iter().zip(meters) {
            for r in Rendition::ALL {
                let on = u8::from(w.watches(name, r, now));
                out += &format!("mqcam_watched{{camera=\"{camera}\",rendition=\"{}\"}} {on}\n", r.name());
            }
        }
    }
    if let Some(b) = seen.broker {
        let (tcp, ws) = (b.accepted_tcp.load(Relaxed), b.accepted_ws.load(Relaxed));
        family(
            &mut out,
            "mqcam_broker_connections_total",
            "counter",
            "Connections the embedded broker's gate accepted, by transport.",
        );
        out += &format!("mqcam_broker_connections_total{{transport=\"tcp\"}} {tcp}\n");
        out += &format!("mqcam_broker_connections_total{{transport=\"ws\"}} {ws}\n");
        family(&mut out, "mqcam_broker_connections_open", "gauge", "Connections open through the gate now.");
        let open = (tcp + ws).saturating_sub(b.closed.load(Relaxed));
        out += &format!("mqcam_broker_connections_open {open}\n");
        let counters: [(&str, &str, &AtomicU64); 6] = [
            ("mqcam_broker_refused_logins_total", "CONNECTs refused for their login.", &b.refused_logins),
            (
                "mqcam_broker_refused_publishes_total",
                "Connections closed for a publish their login may not make.",
                &b.refused_publishes,
            ),
            (
                "mqcam_broker_refused_subscribes_total",
                "Connections closed for a subscription their login may not make.",
                &b.refused_subscribes,
            ),
            ("mqcam_broker_sent_bytes_total", "Bytes the gate wrote to clients.", &b.bytes_out),
            (
                "mqcam_broker_fanout_frames_total",
                "Frames the gate read once from the broker and shared with every viewer of their stream.",
                &b.fanout_frames,
            ),
            (
                "mqcam_broker_slow_drops_total",
                "Frames viewers that read too slowly missed, newer frames taking their place.",
                &b.slow_drops,
            ),
        ];
        for (name, help, value) in counters {
            family(&mut out, name, "counter", help);
            out += &format!("{name} {}\n", value.load(Relaxed));
        }
    }
    if let Some(refused) = seen.doors {
        use crate::doors::{Door, Reason};
        let name = "mqcam_doors_refused_total";
        family(
            &mut out,
            name,
            "counter",
            "Connections (and, on the web port, requests) refused, by door and reason: per_address_cap, \
             total_cap, header_timeout (no request head, handshake or CONNECT in time), throttled_login, wrong_login.",
        );
        for door in Door::ALL {
            for reason in Reason::ALL {
                let n = refused.get(door, reason);
                out += &format!("{name}{{door=\"{}\",reason=\"{}\"}} {n}\n", door.name(), reason.name());
            }
        }
        if let Some(open) = crate::doors::files::open_now() {
            family(&mut out, "mqcam_open_files", "gauge", "Descriptors the edge holds open now.");
            out += &format!("mqcam_open_files {open}\n");
        }
    }
    out
}

#[cfg(test)]
mod prometheus_tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_camera_once_per_series_with_escaped_labels() {
        let door = std::sync::Arc::new(Meter::default());
        door.captured.store(12, Relaxed);
        for us in [500, 1_500, 1_500_000] {
            door.encode_time.observe(us);
        }
        door.alarm.store(true, Relaxed);
        let odd = std::sync::Arc::new(Meter::default());
        let watchers = crate::watch::Watchers::new("mqcam");
        watchers.subscribed("mqcam/door/half");
        watchers.subscribed("mqcam/+/half");
        let broker = BrokerMeter::default();
        broker.accepted_tcp.store(3, Relaxed);
        broker.accepted_ws.store(2, Relaxed);
        broker.closed.store(4, Relaxed);
        broker.refused_logins.store(1, Relaxed);
        let doors = crate::doors::refusals::Refusals::default();
        doors.count(crate::doors::Door::Http, crate::doors::Reason::HeaderTimeout);
        let seen = Seen { watchers: Some(&watchers), broker: Some(&broker), doors: Some(&doors) };
        let text = prometheus(&[("door".into(), door), ("a\"b\\c".into(), odd)], seen);
        assert!(text.contains("mqcam_frames_captured_total{camera=\"door\"} 12\n"), "{text}");
        assert!(text.contains("# TYPE mqcam_encode_seconds histogram\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_bucket{camera=\"door\",le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_bucket{camera=\"door\",le=\"0.002\"} 2\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_bucket{camera=\"door\",le=\"0.1\"} 2\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_bucket{camera=\"door\",le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_sum{camera=\"door\"} 1.502000\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_count{camera=\"door\"} 3\n"));
        assert!(text.contains("camera=\"a\\\"b\\\\c\""), "escaped: {text}");
        assert!(text.contains("mqcam_rendition_published_total{camera=\"door\",rendition=\"half\"} 0\n"));
        assert!(text.contains("mqcam_alarm{camera=\"door\"} 1\n"), "{text}");
        assert!(text.contains("mqcam_viewers{camera=\"door\",rendition=\"half\"} 2\n"), "{text}");
        assert!(text.contains("mqcam_viewers{camera=\"door\",rendition=\"full\"} 0\n"), "{text}");
        assert!(text.contains("mqcam_watched{camera=\"door\",rendition=\"half\"} 1\n"), "{text}");
        assert!(text.contains("mqcam_broker_connections_total{transport=\"ws\"} 2\n"), "{text}");
        assert!(text.contains("mqcam_broker_connections_open 1\n"), "{text}");
        assert!(text.contains("mqcam_broker_refused_logins_total 1\n"), "{text}");
        assert!(
            text.contains("mqcam_doors_refused_total{door=\"http\",reason=\"header_timeout\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mqcam_doors_refused_total{door=\"mqtt_ws\",reason=\"per_address_cap\"} 0\n"),
            "{text}"
        );
        // Every sample line belongs to a family declared just before it, once.
        let mut declared = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(declared.insert(current.clone()), "declared twice: {line}");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family =
                    ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
                assert!(family == current || name == current, "{line} outside {current}");
            }
        }
    }

    #[test]
    fn without_a_broker_or_watchers_only_the_cameras_are_shown() {
        let text = prometheus(&[("door".into(), Default::default())], Seen::default());
        assert!(text.contains("mqcam_alarm{camera=\"door\"} 0\n"), "{text}");
        assert!(!text.contains("mqcam_broker_") && !text.contains("mqcam_viewers"), "{text}");
    }

    #[test]
    fn the_histogram_counts_each_duration_in_the_first_bucket_it_fits_and_sums_them() {
        let h = Histogram::default();
        for us in [0, 1_000, 1_001, 99_999, 100_001, u64::from(u32::MAX)] {
            h.observe(us);
        }
        let (cumulative, sum) = h.cumulative();
        assert_eq!(cumulative, [2, 3, 3, 3, 3, 3, 4, 6]);
        assert_eq!(sum, 1_000 + 1_001 + 99_999 + 100_001 + u64::from(u32::MAX));
    }

    #[tokio::test]
    async fn the_newest_frame_is_fresh_for_a_while_and_waiters_get_the_next() {
        let newest = std::sync::Arc::new(NewestFrame::default());
        assert_eq!(newest.fresh(Duration::from_secs(2)), None);
        newest.keep(Bytes::from_static(b"one"));
        assert_eq!(newest.fresh(Duration::from_secs(2)).as_deref(), Some(&b"one"[..]));
        assert_eq!(newest.fresh(Duration::ZERO), None, "older than asked");
        let waiter = {
            let newest = newest.clone();
            tokio::spawn(async move { newest.next(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        newest.keep(Bytes::from_static(b"two"));
        assert_eq!(waiter.await.unwrap().as_deref(), Some(&b"two"[..]), "not the one before it asked");
        assert_eq!(newest.next(Duration::from_millis(50)).await, None, "nothing new: gives up");
    }
}
