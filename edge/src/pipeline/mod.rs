//! The frame pipeline on plain threads: each camera's capture → its place in the job
//! slot (`jobs`) → the shared encoder workers (each frame through
//! [`crate::encode::process`]) → the camera's newest-frame slot ([`crate::frame::newest`]).
//!
//! ```text
//!  source A ──put──▶ [jobs: 1 place per camera] ──take (in turn)──▶ worker 1..N
//!  source B ──put──▶ [                       ]      ──(newer than last?)──▶ [A's frames: 1 slot] ⇢ publish A
//!                                                                           [B's frames: 1 slot] ⇢ publish B
//! ```
//!
//! A camera's smaller renditions (half, quarter: `wire::ack::Rendition`) are made by the
//! same worker from the same frame, each into its own newest-frame slot, each only while
//! someone watches it and its publisher would take it (see [`Lane`]).
//!
//! Each hand-over keeps only the newest frame, so nothing queues anywhere. Workers run in
//! parallel when one core cannot keep up (1080p60, or many cameras), never more of them
//! than cores however many cameras there are, and a result older than one already handed
//! on is dropped: frames never go backwards and a slow worker cannot add latency. A
//! failing source is retried with backoff while its camera is reported offline.

mod jobs;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Condvar, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::watch;
use wire::ack::Rendition;

use crate::{
    backoff::Backoff,
    clock,
    encode::{
        preview::Previewer,
        process::{process_with, Extras, Job, Processed},
        Encoder,
    },
    events::MotionFeed,
    frame::{EncodedFrame, FrameSender, SourceStatus, Yuv420},
    meter::Meter,
    record::recorder::Tap,
    source::{Decoded, Demand, Source, Wanted},
    sync::lock,
    watch::Watchers,
};
use jobs::Slot;

/// A camera's preview: how it is made, where it goes, how often.
pub struct Preview {
    maker: Previewer,
    slot: FrameSender,
    every_us: u64,
    /// When the next one is due (capture time, µs; 0 = at once).
    next_us: std::sync::atomic::AtomicU64,
    /// Motion detection, shown every preview made (watched or not).
    pub motion: Option<MotionFeed>,
}

impl Preview {
    pub fn new(max_width: usize, fps: u32, quality: u8, slot: FrameSender) -> Preview {
        let every_us = 1_000_000 / u64::from(fps.max(1));
        let maker = Previewer::new(max_width, quality);
        Preview { maker, slot, every_us, next_us: Default::default(), motion: None }
    }

    /// Whether the frame captured at `capture_us` makes the next preview; claims it, so
    /// two encoder threads never both make one. On a fixed schedule, so the rate is the
    /// preview's own whatever the camera's; after a stall (or a clock step) it restarts.
    fn claim(&self, capture_us: u64) -> bool {
        let next = self.next_us.load(Relaxed);
        let restart =
            next == 0 || capture_us >= next + self.every_us || next > capture_us + 2 * self.every_us;
        if !restart && capture_us < next {
            return false;
        }
        let then = if restart { capture_us + self.every_us } else { next + self.every_us };
        self.next_us.compare_exchange(next, then, Relaxed, Relaxed).is_ok()
    }
}

/// Where finished frames go: the newest one wins, and only if it is newer than the last.
pub struct Output {
    frames: FrameSender,
    last: Mutex<Option<u64>>,
    /// The newest sequence the encoders are done with (handed on, dropped or failed),
    /// and its signal: a source that makes frames on request waits for its frame.
    settled: Mutex<Option<u64>>,
    settled_signal: Condvar,
}

impl Output {
    pub fn new(frames: FrameSender) -> Self {
        Output { frames, last: Mutex::new(None), settled: Mutex::new(None), settled_signal: Condvar::new() }
    }

    /// The encoders are done with frame `sequence`, whatever became of it.
    fn settle(&self, sequence: u64) {
        let mut settled = lock(&self.settled);
        if settled.is_none_or(|s| s < sequence) {
            *settled = Some(sequence);
        }
        self.settled_signal.notify_all();
    }

    /// Waits (at most `timeout`) until the encoders are done with frame `sequence`.
    fn wait_settled(&self, sequence: u64, timeout: Duration) {
        let settled = lock(&self.settled);
        let _ = self
            .settled_signal
            .wait_timeout_while(settled, timeout, |s| s.is_none_or(|s| s < sequence))
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Waits (at most `timeout`) until the publisher would take a frame now; returns
    /// whether it would.
    fn wait_wanted(&self, timeout: Duration) -> bool {
        self.frames.wait_wanted(timeout)
    }

    /// Whether the last frame handed on is still waiting for the publisher, i.e. the
    /// network or the viewers are slower than the camera right now.
    pub fn backed_up(&self) -> bool {
        self.frames.is_full()
    }

    /// Whether the publisher would take a frame now: nothing waiting, and it holds none
    /// it cannot send yet (its viewers' window is open).
    pub fn open(&self) -> bool {
        self.frames.wanted()
    }

    /// A frame was not made for this output: its publisher would not take it now.
    pub fn skipped(&self) {
        self.frames.skipped()
    }

    /// Hands the frame on unless a newer one already went; returns whether it did.
    pub fn offer(&self, sequence: u64, payload: Vec<u8>) -> bool {
        let handed_on = {
            let mut last = lock(&self.last);
            if last.is_some_and(|l| sequence <= l) {
                false
            } else {
                *last = Some(sequence);
                self.frames.put(EncodedFrame { sequence, payload });
                true
            }
        };
        self.settle(sequence);
        handed_on
    }
}

/// One camera's way through the shared encoders: how to encode its frames, where they
/// go and what is counted.
pub struct Lane {
    /// The camera's place in the shared job slot.
    key: usize,
    pub encoder: Encoder,
    /// The full stream's.
    pub output: Arc<Output>,
    pub meter: Arc<Meter>,
    pub preview: Option<Preview>,
    /// Who watches this camera (see [`crate::watch`]): the camera's name among the watchers.
    /// `None`: nobody is known to (tests), so the smaller renditions are never made.
    pub watch: Option<(Arc<Watchers>, String)>,
    /// The full stream only while watched; otherwise always on.
    pub on_demand: bool,
    /// The smaller renditions this camera makes, each with its own output. Always on
    /// demand: a small picture nobody watches has no use.
    pub smaller: Vec<(Rendition, Arc<Output>)>,
    /// How long an unwatched camera without a preview keeps its device open.
    pub rest_after: Duration,
    /// Where the recorder takes copies of the frames it keeps ([`crate::record`]).
    pub record: Option<Tap>,
}

impl Lane {
    /// Whether the full stream is wanted now.
    fn full_wanted(&self) -> bool {
        !self.on_demand || self.watch.as_ref().is_none_or(|(w, camera)| w.watched(camera, clock::now_us()))
    }

    /// The smaller renditions someone watches now, with their outputs.
    fn smaller_watched(&self) -> Vec<(Rendition, &Output)> {
        let Some((watchers, camera)) = &self.watch else { return Vec::new() };
        let now = clock::now_us();
        self.smaller
            .iter()
            .filter(|(r, _)| watchers.watches(camera, *r, now))
            .map(|(r, o)| (*r, &**o))
            .collect()
    }

    /// Whether the recorder needs the full frames now (its pre-roll, an event).
    fn recording(&self) -> bool {
        self.record.as_ref().is_some_and(|r| r.wants_full())
    }

    /// Whether any rendition is wanted now (the preview aside), by a viewer or the
    /// recorder.
    fn any_wanted(&self) -> bool {
        self.full_wanted() || self.recording() || !self.smaller_watched().is_empty()
    }

    /// For a source that makes frames on request: waits (at most `timeout`) until a
    /// watched rendition's publisher would take a frame; returns whether one would. With
    /// only the full stream watched (or nothing), as before: its publisher's demand.
    fn wait_wanted(&self, timeout: Duration) -> bool {
        // The recorder takes every frame (the source paces itself at its rate).
        if self.recording() {
            return true;
        }
        let smaller = self.smaller_watched();
        if smaller.is_empty() {
            return self.output.wait_wanted(timeout);
        }
        let full = self.full_wanted().then_some(&*self.output);
        let outputs: Vec<&Output> = full.into_iter().chain(smaller.iter().map(|(_, o)| *o)).collect();
        if outputs.iter().any(|o| o.open()) {
            return true;
        }
        // Several demands to wait for: on the largest, in short steps, looking at all.
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if outputs[0].wait_wanted(Duration::from_millis(5).min(timeout))
                || outputs.iter().any(|o| o.open())
            {
                return true;
            }
        }
        false
    }
}

/// A captured frame on its way to an encoder.
struct Work {
    lane: Arc<Lane>,
    job: Job,
    /// Encode the full frame (someone watches, or the recorder needs it), or only make
    /// its preview.
    full: bool,
    /// Publish the full frame (someone watches): else it is only recorded.
    publish: bool,
    /// The smaller renditions to make (someone watches each, and its publisher would
    /// take it).
    smaller: Vec<Rendition>,
    /// Make its preview (claimed when captured).
    preview: bool,
}

/// The encoder threads every camera shares: never more than the machine has cores,
/// however many cameras there are.
pub struct Encoders {
    jobs: Arc<Slot<Work>>,
    lanes: std::sync::atomic::AtomicUsize,
    threads: Vec<JoinHandle<()>>,
}

impl Encoders {
    /// Starts `workers` encoder threads (at least one).
    pub fn start(workers: usize) -> std::io::Result<Encoders> {
        let jobs: Arc<Slot<Work>> = Arc::new(Slot::default());
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let jobs = jobs.clone();
            threads.push(std::thread::Builder::new().name(format!("encode-{i}")).spawn(move || work(&jobs))?);
        }
        Ok(Encoders { jobs, lanes: Default::default(), threads })
    }

    /// A lane for one more camera; see [`Lane`] for its parts.
    pub fn lane(&self, parts: LaneParts) -> Arc<Lane> {
        let key = self.lanes.fetch_add(1, Relaxed);
        let LaneParts { encoder, output, meter, preview, watch, on_demand, smaller, record } = parts;
        Arc::new(Lane {
            key,
            encoder,
            output,
            meter,
            preview,
            watch,
            on_demand,
            smaller,
            rest_after: REST_AFTER,
            record,
        })
    }

    /// Stops the threads once the frames waiting are encoded; stop the captures first.
    pub fn stop(self) {
        self.jobs.close();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// What a [`Lane`] is made of.
pub struct LaneParts {
    pub encoder: Encoder,
    pub output: Arc<Output>,
    pub meter: Arc<Meter>,
    pub preview: Option<Preview>,
    pub watch: Option<(Arc<Watchers>, String)>,
    pub on_demand: bool,
    pub smaller: Vec<(Rendition, Arc<Output>)>,
    pub record: Option<Tap>,
}

impl LaneParts {
    /// The full stream only, always on, no preview.
    pub fn full(encoder: Encoder, output: Arc<Output>, meter: Arc<Meter>) -> LaneParts {
        LaneParts {
            encoder,
            output,
            meter,
            preview: None,
            watch: None,
            on_demand: false,
            smaller: Vec::new(),
            record: None,
        }
    }
}

/// One camera's capture thread.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Capture {
    /// Starts capturing from `source` into the shared encoders along `lane`.
    pub fn start(
        mut source: Box<dyn Source>,
        lane: Arc<Lane>,
        encoders: &Encoders,
        status: watch::Sender<SourceStatus>,
    ) -> std::io::Result<Capture> {
        let stop = Arc::new(AtomicBool::new(false));
        // What a source that decodes asks before each decode: only keyframes while
        // nobody watches (they make the previews), every frame while someone does.
        source.wanted({
            let (lane, stop) = (lane.clone(), stop.clone());
            Wanted::new(move || match (stop.load(Relaxed), lane.any_wanted()) {
                (true, _) => Demand::Stop,
                (false, true) => Demand::Every,
                (false, false) => Demand::Sparse,
            })
        });
        let (stop2, jobs) = (stop.clone(), encoders.jobs.clone());
        let thread = std::thread::Builder::new()
            .name(format!("capture-{}", lane.key))
            .spawn(move || capture(source, &jobs, &lane, &status, &stop2))?;
        Ok(Capture { stop, thread })
    }

    /// Tells the thread to stop, without waiting: several captures told at once stop
    /// together instead of one after another.
    pub fn signal(&self) {
        self.stop.store(true, Relaxed);
    }

    /// Stops the thread and waits for it (a blocked camera read ends within its timeout).
    pub fn stop(self) {
        self.signal();
        let _ = self.thread.join();
    }
}

/// One camera with encoders of its own: what tests and benchmarks run.
pub struct Pipeline {
    capture: Capture,
    encoders: Encoders,
}

impl Pipeline {
    /// Starts the capture thread and `workers` encoder threads.
    pub fn start(
        source: Box<dyn Source>,
        encoder: Encoder,
        workers: usize,
        output: Arc<Output>,
        status: watch::Sender<SourceStatus>,
        meter: Arc<Meter>,
    ) -> std::io::Result<Pipeline> {
        let encoders = Encoders::start(workers)?;
        let lane = encoders.lane(LaneParts::full(encoder, output, meter));
        let capture = Capture::start(source, lane, &encoders, status)?;
        Ok(Pipeline { capture, encoders })
    }

    /// Stops the threads and waits for them.
    pub fn stop(self) {
        self.capture.stop();
        self.encoders.stop();
    }
}

/// The capture loop: frames into the camera's place in the job slot, failures into the
/// status.
fn capture(
    mut source: Box<dyn Source>,
    jobs: &Slot<Work>,
    lane: &Arc<Lane>,
    status: &watch::Sender<SourceStatus>,
    stop: &AtomicBool,
) {
    // Every line this thread logs names its camera.
    let _camera = lane.watch.as_ref().map(|(_, name)| tracing::info_span!("camera", name = %name).entered());
    let (output, meter) = (&lane.output, &lane.meter);
    let mut sequence = 0u64;
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10), std::process::id());
    let mut failures = 0u32;
    // The source's decoding counted into the meter so far.
    let mut counted = Decoded::default();
    // A source that makes frames on request makes one only when the publisher would
    // take it, and the next only once the encoders are done with it: made sooner, it
    // would be replaced unseen (and, unthrottled, spin a core doing so).
    let on_request = source.on_request();
    while !stop.load(Relaxed) {
        if on_request && !lane.wait_wanted(Duration::from_millis(50)) {
            continue;
        }
        // A camera without a preview that nobody watches (in any rendition) needs no
        // frames at all: wait, and after a while let go of the device.
        if lane.preview.is_none() && !lane.any_wanted() {
            rest_until_watched(source.as_mut(), lane, status, stop);
            continue;
        }
        match source.next_frame() {
            Ok(captured) => {
                if failures > 0 || !matches!(*status.borrow(), SourceStatus::Online(_)) {
                    if failures > 0 {
                        tracing::info!(source = %source.describe(), "source is back");
                    }
                    status.send_replace(SourceStatus::Online(source.describe()));
                    failures = 0;
                    backoff.reset();
                }
                meter.captured.fetch_add(1, Relaxed);
                let decoded = source.decoded();
                meter.decoded.fetch_add(decoded.frames.saturating_sub(counted.frames), Relaxed);
                meter.decode_us.fetch_add(decoded.us.saturating_sub(counted.us), Relaxed);
                counted = decoded;
                // Encoding a frame only for it to be replaced before it is sent wastes the
                // CPU that the rest of the machine (or the encoder, later) could use. The
                // sequence number still advances, so the skipped frame counts as dropped.
                // Nobody watching: only the preview, when one is due.
                // A frame only fit for previews (a substream's) goes to no stream, even
                // if someone started watching while it was on its way.
                let previews_only = source.previews_only();
                let wanted = lane.full_wanted() && !previews_only;
                // The recorder's pre-roll or event needs every full frame, watched or not.
                let recorded = !previews_only && lane.record.as_ref().is_some_and(|r| r.wants_full());
                let full = (wanted && !output.backed_up()) || recorded;
                // A smaller rendition is made only when its publisher would send it at
                // once: a viewer behind on the quarter stream costs no encoding.
                let watched = if previews_only { Vec::new() } else { lane.smaller_watched() };
                let smaller: Vec<Rendition> =
                    watched.iter().filter(|(_, o)| o.open()).map(|(r, _)| *r).collect();
                let preview = lane.preview.as_ref().is_some_and(|p| p.claim(captured.capture_us));
                // A rendition skipped because its viewers cannot take it now: its next
                // frame says so, which tells a viewer its link is full (rather than the
                // camera or the encoders slow).
                let publish = wanted && !output.backed_up();
                if wanted && !publish {
                    output.skipped();
                }
                watched.iter().filter(|(r, _)| !smaller.contains(r)).for_each(|(_, o)| o.skipped());
                if full || preview || !smaller.is_empty() {
                    let waits: Vec<&Output> = full
                        .then_some(&**output)
                        .into_iter()
                        .chain(watched.iter().filter(|(r, _)| smaller.contains(r)).map(|(_, o)| *o))
                        .collect();
                    let job = Job { sequence, captured };
                    let work = Work { lane: lane.clone(), job, full, publish, smaller, preview };
                    jobs.put(lane.key, work);
                    if on_request {
                        waits.iter().for_each(|o| o.wait_settled(sequence, Duration::from_secs(1)));
                    }
                } else if !wanted && watched.is_empty() {
                    meter.unwatched.fetch_add(1, Relaxed);
                }
                sequence += 1;
            }
            // A source told to stop (see `Demand::Stop`) returns at once: not a failure.
            Err(_) if stop.load(Relaxed) => break,
            Err(e) => {
                failures += 1;
                let delay = backoff.next_delay();
                if failures == 1 {
                    tracing::warn!(error = %e, "source failed; retrying until it is back");
                } else {
                    tracing::debug!(error = %e, retry_in_ms = delay.as_millis() as u64, "source still failing");
                }
                status.send_replace(SourceStatus::Offline(e.to_string()));
                sleep_unless_stopped(delay, stop);
            }
        }
    }
}

/// How long a camera nobody watches (and without a preview) keeps its device open: a
/// viewer flicking away and back should not wait for the device to reopen.
pub const REST_AFTER: Duration = Duration::from_secs(5);

/// Waits while nobody watches `lane`'s camera; lets go of the source after
/// [`Lane::rest_after`]. Polls: the gate and the publishers change who watches, and a
/// wake-up within a few ms is well inside a frame interval.
fn rest_until_watched(
    source: &mut dyn Source,
    lane: &Lane,
    status: &watch::Sender<SourceStatus>,
    stop: &AtomicBool,
) {
    let since = Instant::now();
    let mut resting = false;
    while !stop.load(Relaxed) && !lane.any_wanted() {
        if !resting && since.elapsed() >= lane.rest_after {
            source.rest();
            resting = true;
            // Usable, just not running: a page shows it as such, not as "starting".
            status.send_replace(SourceStatus::Online(format!(
                "{}, idle until someone watches",
                source.describe()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if resting {
        // Opening again: the next frame says it is back.
        status.send_replace(SourceStatus::Starting);
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// An encoder worker: job slot → payload → the camera's output, until the slot closes.
/// Each camera's frames are encoded at its own quality and counted in its own meter.
fn work(jobs: &Slot<Work>) {
    // Per camera: the size of its last frame, so its next buffer is allocated once.
    let mut size_hints: Vec<usize> = Vec::new();
    let mut last_warning: Option<Instant> = None;
    while let Some(Work { lane, job, full, publish, smaller, preview }) = jobs.take() {
        let (sequence, kind) = (job.sequence, job.captured.picture.kind());
        let (output, meter) = (&lane.output, &lane.meter);
        if size_hints.len() <= lane.key {
            size_hints.resize(lane.key + 1, 64 * 1024);
        }
        let started = Instant::now();
        let preview = lane.preview.as_ref().filter(|_| preview);
        let encoder = full.then_some(&lane.encoder);
        // Motion detection reads the preview's planes on this thread, as they are made.
        let capture_us = job.captured.capture_us;
        let motion = preview.and_then(|p| p.motion.as_ref());
        let look = |small: &Yuv420| {
            if let Some(m) = motion {
                m.feed(small, sequence, capture_us);
            }
        };
        let extras = Extras {
            preview: preview.map(|p| &p.maker),
            smaller: (!smaller.is_empty()).then_some((&lane.encoder, &smaller[..])),
            look: motion.is_some().then_some(&look as &dyn Fn(&Yuv420)),
        };
        let outputs = |r: Rendition| lane.smaller.iter().find(|(s, _)| *s == r).map(|(_, o)| o);
        match process_with(job, encoder, size_hints[lane.key], extras) {
            Ok(Processed { payload, smaller: made, preview: small }) => {
                if let (Some(p), Some(small)) = (preview, small) {
                    if let Some(r) = &lane.record {
                        r.preview(&small);
                    }
                    p.slot.put(EncodedFrame { sequence, payload: small });
                }
                let mut smaller_us = 0;
                for (rendition, payload, took) in made {
                    let counts = meter.rendition(rendition);
                    if let Ok((h, _)) = wire::parse(&payload) {
                        counts.made(h.width, h.height);
                    }
                    counts.encoded.fetch_add(1, Relaxed);
                    counts.encode_us.fetch_add(took, Relaxed);
                    smaller_us += took;
                    tracing::debug!(target: "edge::frame", sequence, rendition = rendition.name(), encode_us = took, bytes = payload.len(), "encoded");
                    if let Some(out) = outputs(rendition) {
                        out.offer(sequence, payload);
                    }
                }
                // Those asked for but not made (a JPEG libjpeg cannot scale) are done too.
                smaller.iter().filter_map(|&r| outputs(r)).for_each(|o| o.settle(sequence));
                let Some(payload) = payload else { continue };
                let took = (started.elapsed().as_micros() as u64).saturating_sub(smaller_us);
                meter.encoded.fetch_add(1, Relaxed);
                meter.encode_us.fetch_add(took, Relaxed);
                meter.encode_time.observe(took);
                let full_counts = meter.rendition(Rendition::Full);
                if let Ok((h, _)) = wire::parse(&payload) {
                    full_counts.made(h.width, h.height);
                }
                full_counts.encoded.fetch_add(1, Relaxed);
                full_counts.encode_us.fetch_add(took, Relaxed);
                size_hints[lane.key] = payload.len() + payload.len() / 4;
                tracing::debug!(target: "edge::frame", sequence, kind, encode_us = took, bytes = payload.len(), "encoded");
                if let Some(r) = lane.record.as_ref().filter(|r| r.wants_full()) {
                    r.full(&payload);
                }
                if !publish {
                    output.settle(sequence);
                } else if !output.offer(sequence, payload) {
                    tracing::debug!(target: "edge::frame", sequence, "dropped: a newer frame went first");
                }
            }
            Err(e) => {
                output.settle(sequence);
                smaller.iter().filter_map(|&r| outputs(r)).for_each(|o| o.settle(sequence));
                meter.bad_frames.fetch_add(1, Relaxed);
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    tracing::warn!(sequence, error = %e, "frame dropped");
                    last_warning = Some(Instant::now());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Captured, Picture};
    use crate::source::{
        camera::CameraSource,
        device::{FormatPreference, Fourcc, Mode, Want},
        fake::{FakeCamera, FakeOpener, Step},
        SourceError,
    };

    // The same test pictures as the encoding step's tests.
    use crate::encode::process::tests::{jpeg_of, yuyv_ramp};

    #[test]
    fn previews_are_claimed_at_their_own_rate_whatever_the_cameras() {
        let p = Preview::new(320, 2, 60, crate::frame::newest().0);
        // 30 fps for two seconds: four previews, one each half second.
        let claimed = (0..60u64).filter(|i| p.claim(1_000_000 + i * 33_333)).count();
        assert_eq!(claimed, 4);
    }

    #[test]
    fn the_output_never_goes_backwards() {
        let (sender, slot) = crate::frame::newest();
        let out = Output::new(sender);
        assert!(out.offer(2, vec![2]));
        assert!(!out.offer(1, vec![1]), "older than what went out");
        assert!(!out.offer(2, vec![2]));
        assert!(out.offer(7, vec![7]));
        let newest = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(slot.take());
        assert_eq!(newest.sequence, 7);
    }

    fn mjpeg_modes() -> Vec<Mode> {
        vec![Mode { fourcc: Fourcc::Mjpeg, width: 32, height: 16, fps: vec![30.0] }]
    }

    /// Runs a pipeline on `source` until `frames` have been handed on, or 5 s.
    fn run_until(
        source: Box<dyn Source>,
        workers: usize,
        frames: u64,
    ) -> (Vec<u64>, Arc<Meter>, Vec<SourceStatus>) {
        let (sender, slot) = crate::frame::newest();
        let (status_tx, mut status_rx) = watch::channel(SourceStatus::Starting);
        let meter = Arc::new(Meter::default());
        let p = Pipeline::start(
            source,
            Encoder::new(50),
            workers,
            Arc::new(Output::new(sender)),
            status_tx,
            meter.clone(),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (mut seen, mut statuses) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(5);
        while (seen.len() as u64) < frames && Instant::now() < deadline {
            if status_rx.has_changed().unwrap_or(false) {
                statuses.push(status_rx.borrow_and_update().clone());
            }
            let next =
                rt.block_on(async { tokio::time::timeout(Duration::from_millis(1), slot.take()).await });
            if let Ok(f) = next {
                seen.push(f.sequence);
            }
        }
        p.stop();
        (seen, meter, statuses)
    }

    #[test]
    fn a_camera_that_fails_mid_stream_goes_offline_and_comes_back() {
        let good = jpeg_of(&crate::frame::Yuv420::new(32, 16));
        let pace = Step::Sleep(Duration::from_millis(5));
        let first = FakeCamera::new(
            mjpeg_modes(),
            vec![Step::Frame(good.clone()), pace.clone(), Step::Frame(good.clone()), Step::Gone],
        );
        let second = FakeCamera::new(
            mjpeg_modes(),
            vec![
                pace.clone(),
                Step::Frame(good.clone()),
                pace.clone(),
                Step::Frame(good.clone()),
                pace,
                Step::Frame(good),
            ],
        );
        let opener = FakeOpener::new(vec![Ok(first), Err("unplugged".into()), Ok(second)]);
        let want = Want { width: 32, height: 16, fps: 30, format: FormatPreference::Auto };
        let (seen, meter, statuses) = run_until(Box::new(CameraSource::new(Box::new(opener), want)), 1, 4);
        assert!(seen.len() >= 4, "frames resumed: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
        assert!(statuses.iter().any(|s| matches!(s, SourceStatus::Offline(_))), "{statuses:?}");
        assert!(matches!(statuses.last(), Some(SourceStatus::Online(_))), "{statuses:?}");
        assert_eq!(meter.bad_frames.load(Relaxed), 0);
    }

    #[test]
    fn bad_camera_frames_are_counted_and_never_published() {
        let good = jpeg_of(&crate::frame::Yuv420::new(32, 16));
        let pace = Step::Sleep(Duration::from_millis(5));
        let script = vec![
            Step::Frame(good.clone()),
            pace.clone(),
            Step::Frame(good[..good.len() / 2].to_vec()),
            pace.clone(), // truncated
            Step::Frame(b"garbage".to_vec()),
            pace.clone(),
            Step::Frame(good.clone()),
            pace,
        ];
        let opener = FakeOpener::new(vec![Ok(FakeCamera::new(mjpeg_modes(), script))]);
        let want = Want { width: 32, height: 16, fps: 30, format: FormatPreference::Mjpeg };
        let (seen, meter, _) = run_until(Box::new(CameraSource::new(Box::new(opener), want)), 1, 2);
        assert_eq!(seen, vec![0, 3], "the two good frames, with their capture sequence numbers");
        assert_eq!(meter.bad_frames.load(Relaxed), 2);
    }

    /// A source that produces frames as fast as asked, each a YUYV 1280x720 frame.
    struct Flood(Vec<u8>);
    impl Source for Flood {
        fn describe(&self) -> String {
            "flood".into()
        }
        fn next_frame(&mut self) -> Result<Captured, SourceError> {
            std::thread::sleep(Duration::from_millis(1));
            let picture = Picture::Yuyv {
                data: self.0.clone(),
                width: 1280,
                height: 720,
                stride: 2560,
                range: crate::frame::Range::Limited,
            };
            Ok(Captured { picture, capture_us: clock::now_us() })
        }
    }

    #[test]
    fn several_workers_keep_the_output_in_order_when_overloaded() {
        let (seen, meter, _) = run_until(Box::new(Flood(yuyv_ramp(1280, 720))), 3, 40);
        assert!(seen.len() >= 40, "{}", seen.len());
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "never backwards: {seen:?}");
        let captured = meter.captured.load(Relaxed);
        assert!(
            captured > meter.encoded.load(Relaxed),
            "the encoders cannot keep up, so frames were dropped, not queued"
        );
    }

    #[test]
    fn an_unthrottled_pattern_makes_frames_only_when_one_can_go_out() {
        let (sender, slot) = crate::frame::newest();
        let output = Arc::new(Output::new(sender));
        let meter = Arc::new(Meter::default());
        let (status, _) = watch::channel(SourceStatus::Starting);
        let source = Box::new(crate::source::pattern::Pattern::new(64, 48, 0));
        let pipeline = Pipeline::start(source, Encoder::new(75), 2, output, status, meter.clone()).unwrap();
        // Nobody takes the frame: one is made, then the pattern waits.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(meter.captured.load(Relaxed), 1, "made only what can go out");
        // The publisher takes it and holds it (a viewer is behind): still none.
        assert!(slot.try_take().is_some());
        slot.set_holding(true);
        std::thread::sleep(Duration::from_millis(200));
        let held = meter.captured.load(Relaxed);
        assert!(held <= 2, "a frame may have been made between the take and the hold: {held}");
        // The viewer catches up: exactly the next frame is made, encoded and waiting.
        slot.set_holding(false);
        std::thread::sleep(Duration::from_millis(200));
        assert!(slot.is_full());
        assert!(meter.captured.load(Relaxed) <= held + 1);
        assert_eq!(meter.captured.load(Relaxed), meter.encoded.load(Relaxed), "none made to be dropped");
        pipeline.stop();
    }

    /// A source that counts frames made and rests taken.
    struct Counting(Arc<std::sync::atomic::AtomicU64>, Arc<std::sync::atomic::AtomicU64>);
    impl Source for Counting {
        fn describe(&self) -> String {
            "counting".into()
        }
        fn next_frame(&mut self) -> Result<Captured, SourceError> {
            std::thread::sleep(Duration::from_millis(10));
            self.0.fetch_add(1, Relaxed);
            Ok(Captured {
                picture: Picture::Planar(crate::frame::Yuv420::new(16, 16)),
                capture_us: clock::now_us(),
            })
        }
        fn rest(&mut self) {
            self.1.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn a_camera_without_a_preview_that_nobody_watches_rests_and_wakes_when_watched() {
        let (made, rests): (Arc<std::sync::atomic::AtomicU64>, Arc<std::sync::atomic::AtomicU64>) =
            Default::default();
        let watchers = Arc::new(Watchers::new("home"));
        let encoders = Encoders::start(1).unwrap();
        let output = Arc::new(Output::new(crate::frame::newest().0));
        let lane = Lane {
            key: 0,
            encoder: Encoder::new(75),
            output,
            meter: Arc::new(Meter::default()),
            preview: None,
            watch: Some((watchers.clone(), "door".into())),
            on_demand: true,
            smaller: Vec::new(),
            rest_after: Duration::from_millis(100),
            record: None,
        };
        let (status, status_rx) = watch::channel(SourceStatus::Starting);
        let source = Box::new(Counting(made.clone(), rests.clone()));
        let capture = Capture::start(source, Arc::new(lane), &encoders, status).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(made.load(Relaxed), 0, "no frame made for nobody");
        assert_eq!(rests.load(Relaxed), 1, "the device let go of once");
        assert_eq!(*status_rx.borrow(), SourceStatus::Online("counting, idle until someone watches".into()));
        watchers.subscribed("home/door/frame");
        std::thread::sleep(Duration::from_millis(200));
        assert!(made.load(Relaxed) >= 5, "frames again once watched: {}", made.load(Relaxed));
        assert_eq!(*status_rx.borrow(), SourceStatus::Online("counting".into()));
        capture.stop();
        encoders.stop();
    }
}
