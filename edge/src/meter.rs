//! Counters of what the pipeline did, and the once-a-second log line built from them.
//!
//! Threads only bump atomics; the reporter reads the counters once a second and logs the
//! differences, so measuring costs the frame path a few relaxed adds.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Mutex,
    },
    time::Duration,
};

use wire::ack::Rendition;

use crate::sync::lock;

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
    /// Motion raised by the camera's detector (events, not pictures).
    pub motion_events: AtomicU64,
    /// Capture → published of the full stream's last frames, µs.
    publish_latency: Mutex<VecDeque<u32>>,
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

/// Logs the rates once a second until the task is dropped.
pub async fn report(meter: std::sync::Arc<Meter>, topic: String) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let (mut last, mut at) = (meter.snapshot(), tokio::time::Instant::now());
    loop {
        tick.tick().await;
        let (now, now_at) = (meter.snapshot(), tokio::time::Instant::now());
        let r = Rates::between(&last, &now, now_at - at);
        tracing::info!(
            topic = %topic,
            fps = format_args!("{:.1}", r.fps),
            kb_per_frame = format_args!("{:.1}", r.kb_per_frame),
            encode_ms = format_args!("{:.2}", r.encode_ms),
            dropped = r.dropped,
            bad_frames = r.bad_frames,
            "publishing"
        );
        (last, at) = (now, now_at);
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

/// `/metrics`: every camera's counters in the Prometheus text exposition format (0.0.4).
pub fn prometheus(meters: &[(String, std::sync::Arc<Meter>)]) -> String {
    let snapshots: Vec<(String, Snapshot)> = meters.iter().map(|(n, m)| (label(n), m.snapshot())).collect();
    let mut out = String::new();
    let counters: [Family; 8] = [
        ("mqcam_frames_captured_total", "Frames the camera delivered.", |s| s.captured),
        ("mqcam_frames_encoded_total", "Full-size frames encoded (or passed through).", |s| s.encoded),
        ("mqcam_frames_published_total", "Full-size frames handed to MQTT.", |s| s.published),
        ("mqcam_frames_dropped_total", "Frames dropped for slow viewers (the newest wins).", |s| s.dropped),
        ("mqcam_frames_bad_total", "Frames from the camera that could not be used.", |s| s.bad_frames),
        ("mqcam_frames_unwatched_total", "Frames not encoded because nobody watched.", |s| s.unwatched),
        ("mqcam_published_bytes_total", "Bytes of full-size frames handed to MQTT.", |s| s.published_bytes),
        ("mqcam_previews_total", "Previews published.", |s| s.previews),
    ];
    for (name, help, value) in counters {
        out += &format!("# HELP {name} {help}\n# TYPE {name} counter\n");
        for (camera, s) in &snapshots {
            out += &format!("{name}{{camera=\"{camera}\"}} {}\n", value(s));
        }
    }
    out += "# HELP mqcam_encode_seconds Time spent encoding full-size frames.\n# TYPE mqcam_encode_seconds summary\n";
    for (camera, s) in &snapshots {
        out += &format!("mqcam_encode_seconds_sum{{camera=\"{camera}\"}} {:.6}\n", s.encode_us as f64 / 1e6);
        out += &format!("mqcam_encode_seconds_count{{camera=\"{camera}\"}} {}\n", s.encoded);
    }
    for (name, help, value) in [
        ("mqcam_rendition_published_total", "Frames published per rendition.", 0),
        ("mqcam_rendition_published_bytes_total", "Bytes published per rendition.", 1),
    ] {
        out += &format!("# HELP {name} {help}\n# TYPE {name} counter\n");
        for (camera, s) in &snapshots {
            for (r, rs) in Rendition::ALL.iter().zip(&s.renditions) {
                let v = if value == 0 { rs.published } else { rs.published_bytes };
                out += &format!("{name}{{camera=\"{camera}\",rendition=\"{}\"}} {v}\n", r.name());
            }
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
        door.encode_us.store(1_500_000, Relaxed);
        door.encoded.store(10, Relaxed);
        let odd = std::sync::Arc::new(Meter::default());
        let text = prometheus(&[("door".into(), door), ("a\"b\\c".into(), odd)]);
        assert!(text.contains("mqcam_frames_captured_total{camera=\"door\"} 12\n"), "{text}");
        assert!(text.contains("mqcam_encode_seconds_sum{camera=\"door\"} 1.500000\n"));
        assert!(text.contains("mqcam_encode_seconds_count{camera=\"door\"} 10\n"));
        assert!(text.contains("camera=\"a\\\"b\\\\c\""), "escaped: {text}");
        assert!(text.contains("mqcam_rendition_published_total{camera=\"door\",rendition=\"half\"} 0\n"));
        // Every sample line belongs to a family declared just before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = name.trim_end_matches("_sum").trim_end_matches("_count");
                assert!(declared.contains(family) || declared.contains(name), "{line}");
            }
        }
    }
}
