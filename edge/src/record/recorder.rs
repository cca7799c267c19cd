//! The recorder: one thread that writes every recorded camera's frames, keeps its
//! events, syncs each second and deletes by the retention rules. The encoders hand it
//! copies of the frames they made through a [`Tap`] (never waiting: a full queue loses
//! the frame and counts it); playback reads the same tracks from other threads.
//!
//! Durability: frames are written as they come and synced (`fdatasync`) once a second,
//! so a `kill -9` loses only what was still queued, and a power cut at most the last
//! second or so (whatever the disk had not written when the sync had not returned).

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, BufRead, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        mpsc::{self, RecvTimeoutError, SyncSender, TrySendError},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use wire::playback::{Event, EventKind};

use super::{
    keep::Keep,
    retention::{self, Limits, Seg},
    store::{Track, SEGMENT_BYTES},
};
use crate::{clock, sync::lock};

/// What a camera keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Off,
    /// The full-size stream around events only.
    Events,
    /// The preview all the time, and the full-size stream around events.
    Continuous,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "off" | "no" => Ok(Mode::Off),
            "events" => Ok(Mode::Events),
            "continuous" => Ok(Mode::Continuous),
            _ => Err(format!("record must be off, events or continuous, got {s:?}")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Events => "events",
            Mode::Continuous => "continuous",
        }
    }
}

/// One camera to record.
#[derive(Debug, Clone)]
pub struct CameraSettings {
    pub name: String,
    pub mode: Mode,
    pub pre_roll_s: u32,
    pub post_roll_s: u32,
}

/// Everything the recorder is told at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dir: PathBuf,
    pub limits: Limits,
    pub cameras: Vec<CameraSettings>,
}

/// A camera's recording counters, for `/metrics` and the bus.
#[derive(Debug, Default)]
pub struct RecordMeter {
    pub frames_written: AtomicU64,
    pub frames_lost: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Bytes stored now (both tracks).
    pub bytes: AtomicU64,
    pub segments_deleted: AtomicU64,
    /// Capture time of the oldest frame kept (µs; 0: none).
    pub oldest_us: AtomicU64,
    pub disk_full: AtomicBool,
    /// When a write or sync last failed (µs; 0: never).
    pub failed_at_us: AtomicU64,
}

/// A full disk is said for at least this long after a write failed: retention makes
/// room within milliseconds, and a state that flips back at once would never be seen
/// by a gauge scraped, or a state published, every few seconds.
const DISK_FULL_HOLD_US: u64 = 10_000_000;

impl RecordMeter {
    /// Whether recording is stopped by a full or failing disk now, or was within
    /// [`DISK_FULL_HOLD_US`].
    pub fn disk_full_now(&self, now_us: u64) -> bool {
        let failed = self.failed_at_us.load(Relaxed);
        self.disk_full.load(Relaxed) || (failed > 0 && now_us < failed.saturating_add(DISK_FULL_HOLD_US))
    }
}

/// A recorded camera as playback and the pipeline see it.
pub struct Camera {
    pub name: String,
    pub mode: Mode,
    pub full: Mutex<Track>,
    pub preview: Option<Mutex<Track>>,
    /// Every event, in start order (an event on the bus twice: the last word).
    pub events: Mutex<Vec<Event>>,
    /// Stretches deleted by retention, merged, in time order.
    pub deleted: Mutex<Vec<(u64, u64)>>,
    /// Stretches the camera was offline, in time order; the last may still go on
    /// (end 0).
    pub offline: Mutex<Vec<(u64, u64)>>,
    pub meter: RecordMeter,
    /// The encoders make full frames for it (its pre-roll, or an event).
    wants_full: AtomicBool,
    /// Recording switched off from the bus (Home Assistant's switch): nothing is
    /// written until it is switched on. Kept across restarts (a file `paused`).
    paused: AtomicBool,
    dir: PathBuf,
}

impl Camera {
    /// The recording state the bus and the page show: `recording` (continuous),
    /// `events`, `disk full`, or `off` (switched off).
    pub fn state(&self) -> &'static str {
        match (self.paused.load(Relaxed), self.meter.disk_full_now(clock::now_us()), self.mode) {
            (true, _, _) => "off",
            (_, true, _) => "disk full",
            (_, false, Mode::Continuous) => "recording",
            (_, false, _) => "events",
        }
    }

    /// Switches recording off (`false`) or on again; remembered across restarts.
    pub fn switch(&self, on: bool) {
        // Already so: nothing to remember.
        if self.paused.swap(!on, Relaxed) != on {
            return;
        }
        let file = self.dir.join("paused");
        let kept = if on { fs::remove_file(&file) } else { File::create(&file).map(drop) };
        if let Err(e) = kept {
            tracing::warn!(camera = %self.name, error = %e, "recording: the switch could not be remembered");
        }
        tracing::info!(camera = %self.name, on, "recording switched");
    }
}

/// Something that starts or ends an event.
#[derive(Debug, Clone)]
pub enum Trigger {
    On {
        kind: EventKind,
        source: String,
        reason: String,
        at_us: u64,
    },
    Off {
        kind: EventKind,
        source: String,
        at_us: u64,
    },
    /// Keep the next seconds ("record now").
    Mark {
        seconds: u32,
        source: String,
        at_us: u64,
    },
    /// The camera went offline (true) or came back (false): the timeline shows why
    /// nothing was kept meanwhile.
    Offline {
        offline: bool,
        at_us: u64,
    },
}

enum Msg {
    Frame { camera: usize, full: bool, capture_us: u64, payload: Vec<u8> },
    Stop,
}

/// Where events are begun and ended from anywhere (the bus, a page): never dropped, a
/// lost "off" would keep recording for ever; so not through the frames' bounded queue.
#[derive(Clone)]
pub struct Triggers {
    names: Arc<Vec<String>>,
    tx: mpsc::Sender<(usize, Trigger)>,
}

impl Triggers {
    /// An event begins or ends on camera `name` (ignored if it does not record).
    pub fn send(&self, name: &str, trigger: Trigger) {
        if let Some(camera) = self.names.iter().position(|n| n == name) {
            let _ = self.tx.send((camera, trigger));
        }
    }
}

/// Frames queued for the disk at most (a stall of the disk beyond it loses frames).
const QUEUE: usize = 256;
const SYNC_EVERY: Duration = Duration::from_secs(1);
const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// Why recording cannot start.
#[derive(Debug, thiserror::Error)]
#[error("recording directory {dir}: {error}")]
pub struct RecordError {
    dir: String,
    error: io::Error,
}

/// The recorder thread and the cameras it records.
pub struct Recorder {
    /// Where the recordings are.
    pub dir: PathBuf,
    tx: SyncSender<Msg>,
    triggers: Triggers,
    thread: Option<JoinHandle<()>>,
    pub cameras: Vec<Arc<Camera>>,
}

/// Where the encoders hand one camera's frames to the recorder.
#[derive(Clone)]
pub struct Tap {
    camera: Arc<Camera>,
    index: usize,
    tx: SyncSender<Msg>,
}

impl Tap {
    /// Whether the encoders should make full frames for the recording now.
    pub fn wants_full(&self) -> bool {
        self.camera.wants_full.load(Relaxed) && !self.camera.paused.load(Relaxed)
    }

    /// A full-size frame made (the stamped payload as published).
    pub fn full(&self, payload: &[u8]) {
        self.send(true, payload);
    }

    /// A preview made.
    pub fn preview(&self, payload: &[u8]) {
        if self.camera.mode == Mode::Continuous {
            self.send(false, payload);
        }
    }

    fn send(&self, full: bool, payload: &[u8]) {
        if self.camera.paused.load(Relaxed) {
            return;
        }
        let Ok((header, _)) = wire::parse(payload) else { return };
        let msg =
            Msg::Frame { camera: self.index, full, capture_us: header.capture_us, payload: payload.to_vec() };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(msg) {
            self.camera.meter.frames_lost.fetch_add(1, Relaxed);
        }
    }
}

impl Recorder {
    /// Opens every camera's tracks (mending what a crash left) and starts the thread.
    /// A directory that cannot be written is an error here, not frames lost later.
    pub fn start(settings: Settings) -> Result<Recorder, RecordError> {
        let err = |error| RecordError { dir: settings.dir.display().to_string(), error };
        fs::create_dir_all(&settings.dir).map_err(err)?;
        let probe = settings.dir.join(".mqcam-write-test");
        File::create(&probe).and_then(|mut f| f.write_all(b"ok")).map_err(err)?;
        let _ = fs::remove_file(&probe);
        let segment_bytes = segment_size(&settings.dir);
        let mut cameras = Vec::new();
        let mut keeps = Vec::new();
        for c in settings.cameras.iter().filter(|c| c.mode != Mode::Off) {
            let dir = settings.dir.join(&c.name);
            let open = |track: &str| -> Result<Track, RecordError> {
                let (mut t, repair) = Track::open(&dir.join(track)).map_err(err)?;
                t.segment_bytes = segment_bytes;
                if repair.cut_bytes > 0 || repair.reindexed > 0 {
                    tracing::warn!(camera = %c.name, track, cut_bytes = repair.cut_bytes, reindexed = repair.reindexed,
                        "recording: a torn end of the last segment was cut (the edge stopped mid-write); everything before it is kept");
                }
                tracing::debug!(camera = %c.name, track, segments = repair.segments, frames = repair.frames, "recording opened");
                Ok(t)
            };
            let full = open("full")?;
            let preview = (c.mode == Mode::Continuous).then(|| open("preview")).transpose()?;
            let (mut events, deleted, offline) = load_catalog(&dir);
            // Events the last run left on (it stopped without saying): they ended, at
            // the latest, with the last full frame kept.
            let last_full = full
                .segments
                .iter()
                .filter_map(|s| s.entries.last())
                .map(|e| e.capture_us)
                .max()
                .unwrap_or(0);
            for e in events.iter_mut().filter(|e| e.end_us == 0) {
                e.end_us = last_full.max(e.start_us);
            }
            let keep = Keep::new(c.pre_roll_s, c.post_roll_s);
            let camera = Camera {
                name: c.name.clone(),
                mode: c.mode,
                wants_full: AtomicBool::new(keep.wants_frames(clock::now_us())),
                paused: AtomicBool::new(dir.join("paused").exists()),
                full: Mutex::new(full),
                preview: preview.map(Mutex::new),
                events: Mutex::new(events),
                deleted: Mutex::new(deleted),
                offline: Mutex::new(offline),
                meter: RecordMeter::default(),
                dir,
            };
            measure(&camera);
            cameras.push(Arc::new(camera));
            keeps.push(keep);
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (trigger_tx, trigger_rx) = mpsc::channel();
        let triggers =
            Triggers { names: Arc::new(cameras.iter().map(|c| c.name.clone()).collect()), tx: trigger_tx };
        // Retention deletes whole segments: room for two, so that a full disk is met by
        // deleting ahead of it rather than by losing a frame at every segment.
        let limits = Limits { min_free: settings.limits.min_free.max(2 * segment_bytes), ..settings.limits };
        let pending = cameras.iter().map(|_| Default::default()).collect();
        let run = Run {
            cameras: cameras.clone(),
            keeps,
            pending,
            floor_unreachable: false,
            rotated: false,
            limits,
            dir: settings.dir.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("record".into())
            .spawn(move || run.go(rx, trigger_rx))
            .map_err(err)?;
        Ok(Recorder { dir: settings.dir, tx, triggers, thread: Some(thread), cameras })
    }

    /// The tap for the camera named `name`, if it records.
    pub fn tap(&self, name: &str) -> Option<Tap> {
        let index = self.cameras.iter().position(|c| c.name == name)?;
        Some(Tap { camera: self.cameras[index].clone(), index, tx: self.tx.clone() })
    }

    /// Where events are begun and ended.
    pub fn triggers(&self) -> Triggers {
        self.triggers.clone()
    }

    /// Writes what is queued, syncs, and stops the thread.
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The recording counters of every camera that records, for `/metrics`.
pub fn prometheus(cameras: &[Arc<Camera>]) -> String {
    if cameras.is_empty() {
        return String::new();
    }
    let now = clock::now_us();
    type Family = (&'static str, &'static str, &'static str, fn(&Camera, u64) -> f64);
    let families: [Family; 7] = [
        ("mqcam_record_bytes", "gauge", "Bytes of recordings kept on disk.", |c, _| {
            c.meter.bytes.load(Relaxed) as f64
        }),
        ("mqcam_record_oldest_age_seconds", "gauge", "Age of the oldest recorded frame kept.", |c, now| {
            match c.meter.oldest_us.load(Relaxed) {
                0 => 0.0,
                t => now.saturating_sub(t) as f64 / 1e6,
            }
        }),
        ("mqcam_record_frames_written_total", "counter", "Frames written to the recordings.", |c, _| {
            c.meter.frames_written.load(Relaxed) as f64
        }),
        (
            "mqcam_record_bytes_written_total",
            "counter",
            "Bytes of frames written to the recordings.",
            |c, _| c.meter.bytes_written.load(Relaxed) as f64,
        ),
        (
            "mqcam_record_frames_lost_total",
            "counter",
            "Frames that should have been recorded and were not (a full or slow disk).",
            |c, _| c.meter.frames_lost.load(Relaxed) as f64,
        ),
        (
            "mqcam_record_segments_deleted_total",
            "counter",
            "Segments deleted by the retention rules.",
            |c, _| c.meter.segments_deleted.load(Relaxed) as f64,
        ),
        (
            "mqcam_record_disk_full",
            "gauge",
            "Whether recording is stopped by a full or failing disk, or was in the last 10 s (1), or not (0).",
            |c, now| f64::from(u8::from(c.meter.disk_full_now(now))),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in families {
        out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for c in cameras {
            let camera = c.name.replace('\\', "\\\\").replace('"', "\\\"");
            out += &format!("{name}{{camera=\"{camera}\"}} {}\n", value(c, now));
        }
    }
    out
}

/// A segment's size for the file system at `dir`: 64 MB, or a 32nd of a small disk.
fn segment_size(dir: &Path) -> u64 {
    disk_space(dir).map_or(SEGMENT_BYTES, |(total, _)| (total / 32).clamp(1 << 20, SEGMENT_BYTES))
}

/// (total, free for us) bytes of the file system at `dir`.
pub fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed struct the call fills.
    if unsafe { libc::statvfs(path.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let block = s.f_frsize as u64;
    Some((s.f_blocks as u64 * block, s.f_bavail as u64 * block))
}

/// Counts a camera's stored bytes and oldest frame into its meter.
fn measure(camera: &Camera) {
    let full = lock(&camera.full);
    let preview = camera.preview.as_ref().map(lock);
    let tracks: Vec<&Track> = std::iter::once(&*full).chain(preview.as_deref()).collect();
    camera.meter.bytes.store(tracks.iter().map(|t| t.bytes()).sum(), Relaxed);
    let oldest =
        tracks.iter().filter_map(|t| t.segments.first()?.entries.first()).map(|e| e.capture_us).min();
    camera.meter.oldest_us.store(oldest.unwrap_or(0), Relaxed);
}

/// The events and deleted stretches of a camera's catalog (`events.jsonl`): one JSON
/// object a line, appended; the last line about an event wins, a torn last line is
/// skipped.
/// Stretches of time (start, end µs).
type Stretches = Vec<(u64, u64)>;

fn load_catalog(dir: &Path) -> (Vec<Event>, Stretches, Stretches) {
    let mut events: HashMap<(u64, u8, String), Event> = HashMap::new();
    let (mut deleted, mut offline) = (Vec::new(), Vec::new());
    let Ok(file) = File::open(dir.join("events.jsonl")) else { return (Vec::new(), deleted, offline) };
    let mut lines = 0usize;
    for line in io::BufReader::new(file).lines().map_while(Result::ok) {
        lines += 1;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        if v.get("deleted").is_some() {
            merge(&mut deleted, (num("start_us"), num("end_us")));
            continue;
        }
        if v.get("offline").is_some() {
            offline.push((num("start_us"), num("end_us")));
            continue;
        }
        let Some(kind) = EventKind::from_u8(num("kind") as u8) else { continue };
        let e = Event {
            start_us: num("start_us"),
            end_us: num("end_us"),
            kind,
            reason: text("reason"),
            source: text("source"),
        };
        events.insert((e.start_us, kind as u8, e.source.clone()), e);
    }
    let mut events: Vec<Event> = events.into_values().collect();
    events.sort_by_key(|e| e.start_us);
    offline.sort_unstable();
    // An event's every change is a line: written again without the old ones when most
    // lines are.
    if lines > 2 * (events.len() + deleted.len() + offline.len()) + 64 {
        if let Err(e) = rewrite_catalog(dir, &events, &deleted, &offline) {
            tracing::warn!(error = %e, "recording: the catalog could not be compacted");
        }
    }
    (events, deleted, offline)
}

/// The catalog written anew (to a file beside it, synced, then renamed over it: a crash
/// leaves the old one or the new one, whole).
fn rewrite_catalog(
    dir: &Path,
    events: &[Event],
    deleted: &[(u64, u64)],
    offline: &[(u64, u64)],
) -> io::Result<()> {
    let mut text = String::new();
    for e in events {
        text += &format!("{}\n", event_json(e));
    }
    for (start, end) in deleted {
        text += &format!("{}\n", serde_json::json!({"deleted": "", "start_us": start, "end_us": end}));
    }
    for (start, end) in offline.iter().filter(|(_, end)| *end > 0) {
        text += &format!("{}\n", serde_json::json!({"offline": true, "start_us": start, "end_us": end}));
    }
    let new = dir.join("events.jsonl.new");
    let mut f = File::create(&new)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    fs::rename(&new, dir.join("events.jsonl"))?;
    File::open(dir)?.sync_all()
}

/// Adds a stretch to sorted, merged stretches.
fn merge(spans: &mut Vec<(u64, u64)>, (start, end): (u64, u64)) {
    spans.push((start, end));
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for &(s, e) in spans.iter() {
        match out.last_mut() {
            Some(last) if s <= last.1 + 1_000_000 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    *spans = out;
}

fn append_catalog(dir: &Path, line: &serde_json::Value) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(dir.join("events.jsonl"))?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_data()
}

fn event_json(e: &Event) -> serde_json::Value {
    serde_json::json!({"start_us": e.start_us, "end_us": e.end_us, "kind": e.kind as u8,
        "kind_name": e.kind.name(), "reason": e.reason, "source": e.source})
}

/// How long a frame waits before it is written: the encoder threads finish a camera's
/// frames out of order now and then (a frame that also made a preview takes longer),
/// and a log is in capture order.
const REORDER_US: u64 = 250_000;

/// One track's frames waiting to be put in order.
#[derive(Default)]
struct Pending {
    frames: Vec<(u64, Vec<u8>)>,
    /// The capture time of the last frame handed on.
    last_us: u64,
}

impl Pending {
    /// Takes a frame; false if it came too late (a frame after it was written already).
    fn take(&mut self, capture_us: u64, payload: Vec<u8>) -> bool {
        // Far behind: the clock was set back, not a frame overtaken.
        let stepped_back = capture_us + 10_000_000 < self.last_us;
        if capture_us <= self.last_us && !stepped_back {
            return false;
        }
        let at = self.frames.partition_point(|(t, _)| *t < capture_us);
        if self.frames.get(at).is_some_and(|(t, _)| *t == capture_us) {
            return false;
        }
        self.frames.insert(at, (capture_us, payload));
        true
    }

    /// The frames to write now, in capture order: those older than [`REORDER_US`] (all
    /// of them after a clock step), and any beyond the 32 newest.
    fn due(&mut self, now_us: u64) -> Vec<(u64, Vec<u8>)> {
        let settled = self.frames.partition_point(|(t, _)| {
            t.saturating_add(REORDER_US) <= now_us || *t > now_us.saturating_add(10_000_000)
        });
        let n = settled.max(self.frames.len().saturating_sub(32));
        let out: Vec<_> = self.frames.drain(..n).collect();
        if let Some((t, _)) = out.last() {
            self.last_us = *t;
        }
        out
    }
}

/// The thread's state.
struct Run {
    cameras: Vec<Arc<Camera>>,
    keeps: Vec<Keep>,
    /// Per camera, the preview's and the full track's frames being put in order.
    pending: Vec<[Pending; 2]>,
    /// The free-space floor cannot be reached by deleting recordings (said once).
    floor_unreachable: bool,
    /// A track began a new segment since retention last looked.
    rotated: bool,
    limits: Limits,
    dir: PathBuf,
}

impl Run {
    fn go(mut self, rx: mpsc::Receiver<Msg>, triggers: mpsc::Receiver<(usize, Trigger)>) {
        let (mut synced, mut retained) = (Instant::now(), Instant::now() - RETENTION_EVERY);
        let mut full_disk = false;
        loop {
            while let Ok((camera, trigger)) = triggers.try_recv() {
                self.trigger(camera, trigger);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Msg::Frame { camera, full, capture_us, payload }) => {
                    if !self.pending[camera][usize::from(full)].take(capture_us, payload) {
                        self.cameras[camera].meter.frames_lost.fetch_add(1, Relaxed);
                    }
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = clock::now_us();
            full_disk |= self.flush(now);
            for (c, keep) in self.cameras.iter().zip(&self.keeps) {
                c.wants_full.store(keep.wants_frames(now), Relaxed);
            }
            if synced.elapsed() >= SYNC_EVERY {
                self.sync();
                synced = Instant::now();
            }
            if full_disk || self.rotated || retained.elapsed() >= RETENTION_EVERY {
                self.retain();
                retained = Instant::now();
                (full_disk, self.rotated) = (false, false);
            }
        }
        self.flush(u64::MAX);
        // Events still on end with the edge: their end is when it stopped.
        let now = clock::now_us();
        for i in 0..self.cameras.len() {
            let on: Vec<Event> = self.keeps[i].still_on().to_vec();
            for e in on {
                self.trigger(i, Trigger::Off { kind: e.kind, source: e.source, at_us: now });
            }
        }
        self.sync();
        for c in &self.cameras {
            let _ = lock(&c.full).close();
            if let Some(p) = &c.preview {
                let _ = lock(p).close();
            }
        }
    }

    /// Writes the frames put in order by `now_us`; true if the disk refused one.
    fn flush(&mut self, now_us: u64) -> bool {
        let mut refused = false;
        for camera in 0..self.cameras.len() {
            for full in [false, true] {
                for (t, payload) in self.pending[camera][usize::from(full)].due(now_us) {
                    let frames = if full { self.keeps[camera].frame(t, payload) } else { vec![(t, payload)] };
                    for (t, p) in frames {
                        refused |= self.write(camera, full, t, &p).is_err();
                    }
                }
            }
        }
        refused
    }

    fn write(&mut self, camera: usize, full: bool, capture_us: u64, payload: &[u8]) -> io::Result<()> {
        let c = &self.cameras[camera];
        let track = if full { Some(&c.full) } else { c.preview.as_ref() };
        let Some(track) = track else { return Ok(()) };
        let mut t = lock(track);
        let segments = t.segments.len();
        let appended = t.append(capture_us, payload);
        // A new segment: the moment to look at the free space, before the disk is full.
        self.rotated |= t.segments.len() != segments;
        drop(t);
        match appended {
            Ok(()) => {
                c.meter.frames_written.fetch_add(1, Relaxed);
                c.meter.bytes_written.fetch_add(payload.len() as u64, Relaxed);
                c.meter.bytes.fetch_add((payload.len() + 40) as u64, Relaxed);
                if c.meter.oldest_us.load(Relaxed) == 0 {
                    c.meter.oldest_us.store(capture_us, Relaxed);
                }
                if c.meter.disk_full.swap(false, Relaxed) {
                    tracing::info!(camera = %c.name, "recording again");
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                c.meter.frames_lost.fetch_add(1, Relaxed);
                tracing::debug!(camera = %c.name, error = %e, "recording: frame not kept");
                Ok(())
            }
            Err(e) => {
                c.meter.frames_lost.fetch_add(1, Relaxed);
                c.meter.failed_at_us.store(clock::now_us(), Relaxed);
                if !c.meter.disk_full.swap(true, Relaxed) {
                    tracing::warn!(camera = %c.name, error = %e,
                        "recording stopped: the disk is full or failing; deleting the oldest footage by the retention rules and trying again");
                }
                Err(e)
            }
        }
    }

    fn trigger(&mut self, camera: usize, trigger: Trigger) {
        if let Trigger::Offline { offline, at_us } = trigger {
            return self.offline(camera, offline, at_us);
        }
        let keep = &mut self.keeps[camera];
        let event = match trigger {
            Trigger::On { kind, source, reason, at_us } => keep.on(kind, &source, &reason, at_us),
            Trigger::Off { kind, source, at_us } => keep.off(kind, &source, at_us),
            Trigger::Mark { seconds, source, at_us } => Some(keep.mark(seconds, &source, at_us)),
            Trigger::Offline { .. } => None,
        };
        let Some(event) = event else { return };
        let c = &self.cameras[camera];
        tracing::info!(camera = %c.name, kind = event.kind.name(), source = %event.source, reason = %event.reason,
            state = if event.end_us == 0 { "began" } else { "ended" }, "event");
        {
            let mut events = lock(&c.events);
            match events
                .iter_mut()
                .rev()
                .find(|e| e.start_us == event.start_us && e.kind == event.kind && e.source == event.source)
            {
                Some(e) => *e = event.clone(),
                None => events.push(event.clone()),
            }
        }
        c.wants_full.store(self.keeps[camera].wants_frames(clock::now_us()), Relaxed);
        if let Err(e) = append_catalog(&c.dir, &event_json(&event)) {
            tracing::warn!(camera = %c.name, error = %e, "recording: the event could not be written to the catalog");
        }
    }

    /// The camera went offline or came back: the stretch, once it ends, in the catalog.
    fn offline(&mut self, camera: usize, offline: bool, at_us: u64) {
        let c = &self.cameras[camera];
        let mut spans = lock(&c.offline);
        let open = spans.last().is_some_and(|(_, end)| *end == 0);
        match (offline, open) {
            (true, false) => spans.push((at_us, 0)),
            (false, true) => {
                let last = spans.last_mut().expect("an open stretch");
                last.1 = at_us.max(last.0);
                let line = serde_json::json!({"offline": true, "start_us": last.0, "end_us": last.1});
                let _ = append_catalog(&c.dir, &line);
            }
            _ => {}
        }
    }

    /// Syncs every track written since the last time, without holding it meanwhile.
    fn sync(&mut self) {
        for c in &self.cameras {
            let mut files = Vec::new();
            files.extend(lock(&c.full).unsynced());
            if let Some(p) = &c.preview {
                files.extend(lock(p).unsynced());
            }
            for (log, index) in files {
                if let Err(e) = log.sync_data().and_then(|_| index.sync_data()) {
                    // Still to be synced; and a disk that cannot sync is failing.
                    lock(&c.full).sync_failed();
                    if let Some(p) = &c.preview {
                        lock(p).sync_failed();
                    }
                    c.meter.failed_at_us.store(clock::now_us(), Relaxed);
                    if !c.meter.disk_full.swap(true, Relaxed) {
                        tracing::warn!(camera = %c.name, error = %e, "recording: the disk failed to sync what was written");
                    }
                }
            }
        }
    }

    /// Deletes what the rules say must go.
    fn retain(&mut self) {
        let mut segs = Vec::new();
        for (i, c) in self.cameras.iter().enumerate() {
            for (full, track) in [(true, Some(&c.full)), (false, c.preview.as_ref())] {
                let Some(track) = track else { continue };
                let t = lock(track);
                let n = t.segments.len();
                for (k, s) in t.segments.iter().enumerate() {
                    let open = k + 1 == n && t.writing();
                    segs.push(Seg {
                        camera: i,
                        full,
                        start_us: s.start_us,
                        end_us: s.end_us(),
                        bytes: s.bytes,
                        open,
                    });
                }
            }
        }
        let free = disk_space(&self.dir).map_or(u64::MAX, |(_, free)| free);
        // A disk filled by something else: deleting every recording would not reach the
        // floor, so the floor deletes nothing (the other rules still apply).
        let ours: u64 = segs.iter().map(|s| s.bytes).sum();
        let mut limits = self.limits;
        if free.saturating_add(ours) < limits.min_free {
            limits.min_free = 0;
            if !self.floor_unreachable {
                tracing::warn!(free_mb = free >> 20, "recording: the disk is filled by other files; deleting the recordings would not free enough, so they are kept");
            }
            self.floor_unreachable = true;
        } else {
            self.floor_unreachable = false;
        }
        let plan = retention::plan(&segs, &limits, clock::now_us(), free);
        for i in plan {
            let s = segs[i];
            let c = &self.cameras[s.camera];
            let track = if s.full { &c.full } else { c.preview.as_ref().unwrap_or(&c.full) };
            let mut t = lock(track);
            // Oldest first, as planned: the segment planned is the track's oldest.
            if t.segments.first().map(|f| f.start_us) != Some(s.start_us) {
                continue;
            }
            match t.delete_oldest() {
                Ok(Some((start, end, bytes))) => {
                    drop(t);
                    c.meter.segments_deleted.fetch_add(1, Relaxed);
                    tracing::debug!(camera = %c.name, full = s.full, bytes, "recording: oldest segment deleted");
                    merge(&mut lock(&c.deleted), (start, end));
                    let line = serde_json::json!({"deleted": if s.full { "full" } else { "preview" }, "start_us": start, "end_us": end});
                    let _ = append_catalog(&c.dir, &line);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(camera = %c.name, error = %e, "recording: a segment could not be deleted")
                }
            }
        }
        self.cameras.iter().for_each(|c| measure(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_finished_out_of_order_are_written_in_order_and_late_ones_dropped() {
        let mut p = Pending::default();
        let s = 1_000_000_000_000;
        assert!(p.take(s + 100_000, vec![2]));
        assert!(p.take(s, vec![1]), "overtaken, still in time");
        assert!(!p.take(s, vec![1]), "twice");
        assert!(p.due(s + 200_000).is_empty(), "not settled yet");
        let out: Vec<u64> = p.due(s + 400_000).into_iter().map(|(t, _)| t).collect();
        assert_eq!(out, vec![s, s + 100_000]);
        assert!(!p.take(s + 50_000, vec![9]), "later than a frame written after it");
        // The clock set back an hour: taken, and written at once.
        let back = s - 3_600_000_000;
        assert!(p.take(back, vec![3]));
        assert_eq!(p.due(back + 1).len(), 0);
        assert_eq!(p.due(back + REORDER_US).len(), 1);
    }

    #[test]
    fn a_catalog_keeps_the_last_word_on_each_event_and_is_compacted() {
        let dir = std::env::temp_dir().join(format!("mqcam-catalog-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let e = |end_us| Event {
            start_us: 5,
            end_us,
            kind: EventKind::Alarm,
            reason: "r".into(),
            source: "s".into(),
        };
        for i in 0..200 {
            append_catalog(&dir, &event_json(&e(i))).unwrap();
        }
        append_catalog(&dir, &serde_json::json!({"deleted": "full", "start_us": 1, "end_us": 2})).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(dir.join("events.jsonl"))
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        let (events, deleted, _) = load_catalog(&dir);
        assert_eq!((events, deleted), (vec![e(199)], vec![(1, 2)]));
        let lines = fs::read_to_string(dir.join("events.jsonl")).unwrap().lines().count();
        assert_eq!(lines, 2, "compacted");
        assert_eq!(load_catalog(&dir).0, vec![e(199)], "and reads the same");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn deleted_stretches_merge_when_they_touch() {
        let mut d = Vec::new();
        merge(&mut d, (10_000_000, 20_000_000));
        merge(&mut d, (40_000_000, 50_000_000));
        merge(&mut d, (20_500_000, 30_000_000));
        assert_eq!(d, vec![(10_000_000, 30_000_000), (40_000_000, 50_000_000)]);
    }

    #[test]
    fn modes_read_and_refuse_what_they_do_not_know() {
        assert_eq!(Mode::parse("events"), Ok(Mode::Events));
        assert_eq!(Mode::parse("continuous").map(Mode::name), Ok("continuous"));
        assert!(Mode::parse("always").unwrap_err().contains("off, events or continuous"));
    }
}
