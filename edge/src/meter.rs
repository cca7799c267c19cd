//! Counters of what the pipeline did, and the once-a-second log line built from them.
//!
//! Threads only bump atomics; the reporter reads the counters once a second and logs the
//! differences, so measuring costs the frame path a few relaxed adds.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
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
}

/// A reading of all counters at one time.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
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
        }
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
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"captured\":{},\"encoded\":{},\"bad_frames\":{},\"encode_us\":{},\"published\":{},\"published_bytes\":{},\"dropped\":{},\"previews\":{},\"unwatched\":{},\"at_us\":{}}}",
            self.captured,
            self.encoded,
            self.bad_frames,
            self.encode_us,
            self.published,
            self.published_bytes,
            self.dropped,
            self.previews,
            self.unwatched,
            crate::clock::now_us()
        )
    }
}

/// `/stats.json`: every camera's counters summed at the top level (what a one-camera
/// edge always served), and each camera's under `cameras`.
pub fn cameras_json(meters: &[(String, std::sync::Arc<Meter>)]) -> String {
    let mut total = Snapshot::default();
    let mut each = Vec::new();
    for (name, meter) in meters {
        let s = meter.snapshot();
        total.add(&s);
        each.push(format!("{}:{}", crate::json_string(name), s.to_json()));
    }
    let total = total.to_json();
    format!("{},\"cameras\":{{{}}}}}", &total[..total.len() - 1], each.join(","))
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
    fn a_stalled_stream_reads_zero_not_a_stale_rate() {
        let a = Snapshot { published: 40, ..Default::default() };
        let r = Rates::between(&a, &a, Duration::from_secs(1));
        assert_eq!((r.fps, r.kb_per_frame, r.encode_ms), (0.0, 0.0, 0.0));
    }
}
