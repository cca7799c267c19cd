//! Playback over the bus ([`wire::playback`]): answers each viewer's requests for a
//! recorded camera's timeline and frames, and hears the bus's alarms and motion, which
//! begin and end events. A task with a connection of its own, like the events task: a
//! played frame never waits behind a live one on a camera's connection, nor the other
//! way round.
//!
//! Each viewer's newest request wins: a new one stops what its last one was doing (a
//! scrub that moved on, a play replaced by another). Reads are done on the blocking
//! pool; a play sends a frame only while the viewer has fewer than
//! [`PLAY_WINDOW`] unacknowledged, and at high speed sends the frame due at that moment
//! rather than every frame (a 64x play of a 30 fps stream would be 1,920 frames a second).

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::{sync::watch, task::JoinHandle, time::Instant};
use wire::{
    playback::{self, Event, EventKind, Reply, Request, Seek, Span, SpanKind, Timeline, Track, PLAY_WINDOW},
    topic,
};

use super::{
    log, query,
    recorder::{Camera, Trigger, Triggers},
    store,
};
use crate::{
    clock,
    publish::connection::{Connection, Happened},
    sync::lock,
};

/// What the playback task needs.
pub struct Settings {
    pub brokers: Vec<MqttOptions>,
    pub prefix: String,
    pub cameras: Vec<Arc<Camera>>,
    pub triggers: Triggers,
}

/// A full frame this near the time a scrub asks for is shown after its preview.
const FULL_NEAR_US: u64 = 1_000_000;
/// A play with [`Track::Best`] shows full frames while one is this near.
const FULL_PLAY_US: u64 = 300_000;
/// Frames read at once for all viewers: a viewer that scrubs fast starts reads it no
/// longer waits for; they queue here rather than on the blocking pool.
static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// Frames further apart than this break a span of the timeline (previews come a few a
/// second, full frames many).
const PREVIEW_GAP_US: u64 = 5_000_000;
const FULL_GAP_US: u64 = 2_000_000;
/// A play whose viewer stopped acknowledging is given up after this.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One viewer's latest request on one camera.
struct Session {
    id: u32,
    task: Option<JoinHandle<()>>,
    acked: watch::Sender<u32>,
    /// When this viewer last asked to record now.
    marked: Instant,
}

/// A viewer's "record now" is heard at most this often.
const MARK_EVERY: Duration = Duration::from_secs(1);

/// Serves playback until `shutdown` turns true.
pub async fn run(settings: Settings, mut shutdown: watch::Receiver<bool>) {
    let Settings { brokers, prefix, cameras, triggers } = settings;
    let mut connection = Connection::new("playback", brokers, 64 + 4 * cameras.len());
    let client = connection.client().clone();
    let mut sessions: HashMap<(usize, String), Session> = HashMap::new();
    // What each camera's retained state says now ("" until published).
    // Each camera's state as last published, and when (None: to publish).
    let mut said: Vec<Option<(&'static str, Instant)>> = vec![None; cameras.len()];
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick(), if connection.is_connected() => {
                for (c, said) in cameras.iter().zip(&mut said) {
                    // On a change of state at once; the bytes and age once a minute.
                    let state = c.state();
                    if said.is_some_and(|(s, at)| s == state && at.elapsed() < Duration::from_secs(60)) {
                        continue;
                    }
                    let topic = topic::recording_state(&prefix, &c.name);
                    if client.try_publish(topic, QoS::AtLeastOnce, true, state_json(c)).is_ok() {
                        *said = Some((state, Instant::now()));
                    }
                }
            }
            happened = connection.next() => match happened {
                Happened::Connected => {
                    said.iter_mut().for_each(|s| *s = None);
                    for c in &cameras {
                        let (name, requests) = (&c.name, topic::playback_requests(&prefix, &c.name));
                        let motion = format!("{prefix}/{name}/motion");
                        let switch = topic::recording_switch(&prefix, name);
                        for filter in [requests, topic::alarm(&prefix, name), motion, topic::status(&prefix, name), switch] {
                            let _ = client.try_subscribe(filter, QoS::AtMostOnce);
                        }
                    }
                }
                Happened::Message(p) => {
                    let Some(i) = cameras.iter().position(|c| p.topic.starts_with(&format!("{prefix}/{}/", c.name))) else { continue };
                    let camera = &cameras[i];
                    if let Some(reply_to) = topic::playback_reply_to(&p.topic, &prefix, &camera.name) {
                        let viewer = p.topic.rsplit('/').next().unwrap_or_default().to_string();
                        request(&client, camera, &triggers, &mut sessions, (i, viewer), reply_to, &p.payload);
                    } else if p.topic == topic::recording_switch(&prefix, &camera.name) {
                        match &p.payload[..] {
                            b"ON" => camera.switch(true),
                            b"OFF" => camera.switch(false),
                            other => tracing::debug!(camera = %camera.name, payload = %String::from_utf8_lossy(&other[..other.len().min(16)]), "recording switch: ON or OFF expected"),
                        }
                        // Said at once, not at the next tick.
                        said[i] = None;
                    } else if let Some(trigger) = bus_trigger(&p.topic, &prefix, &camera.name, &p.payload) {
                        triggers.send(&camera.name, trigger);
                    }
                }
                Happened::Closed => return,
            },
            _ = shutdown.changed() => break,
        }
        sessions.retain(|_, s| {
            s.task.as_ref().is_some_and(|t| !t.is_finished())
                || s.acked.receiver_count() > 0
                || s.marked.elapsed() < MARK_EVERY
        });
    }
    sessions.values().filter_map(|s| s.task.as_ref()).for_each(JoinHandle::abort);
}

/// A camera's recording state as its retained message says it.
fn state_json(c: &Camera) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    serde_json::json!({"state": c.state(), "bytes": c.meter.bytes.load(Relaxed), "oldest_us": c.meter.oldest_us.load(Relaxed)})
        .to_string()
}

/// An alarm or motion message on the bus as an event's start or end.
fn bus_trigger(topic: &str, prefix: &str, camera: &str, payload: &[u8]) -> Option<Trigger> {
    let at_us = clock::now_us();
    if topic == topic::alarm(prefix, camera) {
        let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
        let source =
            v.get("source").and_then(|s| s.as_str()).unwrap_or("bus").chars().take(64).collect::<String>();
        // The edge's own motion raises its alarm too: one event, from the motion topic.
        if source == "motion" {
            return None;
        }
        let reason = v.get("reason").and_then(|s| s.as_str()).unwrap_or("").chars().take(200).collect();
        return Some(match v.get("active").and_then(|a| a.as_bool())? {
            true => Trigger::On { kind: EventKind::Alarm, source, reason, at_us },
            false => Trigger::Off { kind: EventKind::Alarm, source, at_us },
        });
    }
    if topic == topic::status(prefix, camera) {
        let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
        return match v.get("state")?.as_str()? {
            "offline" => Some(Trigger::Offline { offline: true, at_us }),
            "online" => Some(Trigger::Offline { offline: false, at_us }),
            _ => None,
        };
    }
    if topic == format!("{prefix}/{camera}/motion") {
        let source = "motion".to_string();
        return match payload {
            b"ON" => Some(Trigger::On { kind: EventKind::Motion, source, reason: "motion".into(), at_us }),
            b"OFF" => Some(Trigger::Off { kind: EventKind::Motion, source, at_us }),
            _ => None,
        };
    }
    None
}

/// One request from a viewer: starts what it asks (stopping that viewer's last one).
fn request(
    client: &AsyncClient,
    camera: &Arc<Camera>,
    triggers: &super::recorder::Triggers,
    sessions: &mut HashMap<(usize, String), Session>,
    key: (usize, String),
    reply_to: String,
    payload: &[u8],
) {
    let (id, req) = match Request::parse(payload) {
        Ok(r) => r,
        Err(why) => {
            tracing::debug!(camera = %camera.name, why, "playback: not a request");
            return;
        }
    };
    if let Request::Ack { n } = req {
        if let Some(s) = sessions.get(&key).filter(|s| s.id == id) {
            s.acked.send_replace(n);
        }
        return;
    }
    if let Some(t) = sessions.get_mut(&key).and_then(|s| s.task.take()) {
        t.abort();
    }
    let mut marked = sessions.get(&key).map_or(Instant::now() - MARK_EVERY, |s| s.marked);
    let (acked, acks) = watch::channel(0u32);
    let client = client.clone();
    let camera = camera.clone();
    let send = move |bytes: Vec<u8>| {
        let client = client.clone();
        let reply_to = reply_to.clone();
        async move { client.publish(reply_to, QoS::AtMostOnce, false, bytes).await.is_ok() }
    };
    let task = match req {
        Request::Stop => {
            drop(tokio::spawn(send(Reply::Done.encode(id, 0))));
            None
        }
        // At most one a second per viewer is heard: each is a line in the catalog.
        Request::Mark { .. } if sessions.get(&key).is_some_and(|s| s.marked.elapsed() < MARK_EVERY) => None,
        Request::Mark { seconds } => {
            marked = Instant::now();
            triggers.send(
                &camera.name,
                Trigger::Mark {
                    seconds: seconds.clamp(1, 3600),
                    source: "page".into(),
                    at_us: clock::now_us(),
                },
            );
            drop(tokio::spawn(send(Reply::Done.encode(id, 0))));
            None
        }
        Request::Timeline { from_us, to_us } => Some(tokio::spawn(async move {
            let Ok(_read) = READS.acquire().await else { return };
            let t = tokio::task::spawn_blocking(move || timeline(&camera, from_us, to_us)).await;
            if let Ok(t) = t {
                send(Reply::Timeline(t).encode(id, 0)).await;
            }
        })),
        Request::Frame { at_us, track, seek } => Some(tokio::spawn(async move {
            let Ok(read) = READS.acquire().await else { return };
            let frames = tokio::task::spawn_blocking(move || frames_at(&camera, at_us, track, seek))
                .await
                .unwrap_or_default();
            drop(read);
            let n = frames.len() as u32;
            for (i, (track, payload)) in frames.into_iter().enumerate() {
                send(playback::frame_reply(id, i as u32, track, &payload)).await;
            }
            send(if n == 0 { Reply::End } else { Reply::Done }.encode(id, n)).await;
        })),
        Request::Play { from_us, track, speed_milli } => {
            Some(tokio::spawn(play(camera, id, from_us, track, speed_milli, acks, send)))
        }
        Request::Ack { .. } => None,
    };
    sessions.insert(key, Session { id, task, acked, marked });
}

/// The lock of a track (`None` for [`Track::Best`], or a preview never recorded).
fn track_of(camera: &Camera, track: Track) -> Option<&std::sync::Mutex<store::Track>> {
    match track {
        Track::Full => Some(&camera.full),
        Track::Preview => camera.preview.as_ref(),
        Track::Best => None,
    }
}

/// Where the frame `seek` finds from `at_us` in one track is: its track's directory,
/// segment and entry. Only the index is read, under the track's lock.
fn locate(camera: &Camera, track: Track, at_us: u64, seek: Seek) -> Option<(PathBuf, u64, log::Entry)> {
    let t = lock(track_of(camera, track)?);
    query::find(&t.segments, at_us, seek).map(|(segment, e)| (t.dir().to_path_buf(), segment, e))
}

/// Reads a frame [`locate`] found, without holding its track (the recorder writes
/// meanwhile); a segment retention deleted in between is not an error worth a line.
fn read_at(camera: &Camera, (dir, segment, entry): (PathBuf, u64, log::Entry)) -> Option<(u64, Vec<u8>)> {
    match store::read(&dir, segment, entry) {
        Ok(p) => Some((entry.capture_us, p)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(camera = %camera.name, error = %e, "playback: a recorded frame could not be read");
            None
        }
    }
}

fn read_one(camera: &Camera, track: Track, at_us: u64, seek: Seek) -> Option<(u64, Vec<u8>)> {
    read_at(camera, locate(camera, track, at_us, seek)?)
}

/// Whether the full track has a frame within `within_us` of `at_us`.
fn full_near(camera: &Camera, at_us: u64, within_us: u64) -> bool {
    query::nearest(&lock(&camera.full).segments, at_us, within_us).is_some()
}

/// The frames a frame request is answered with, in the order to send them.
fn frames_at(camera: &Camera, at_us: u64, track: Track, seek: Seek) -> Vec<(Track, Vec<u8>)> {
    let one = |t: Track| read_one(camera, t, at_us, seek).map(|(_, p)| (t, p));
    match track {
        // A step: the nearer next frame of either track.
        Track::Best if seek != Seek::AtOrBefore || camera.preview.is_none() => {
            let t = nearer(camera, at_us, seek);
            t.and_then(one).into_iter().collect()
        }
        // The small frame first (on screen at once), then the full one where kept.
        Track::Best => {
            let full = full_near(camera, at_us, FULL_NEAR_US).then(|| one(Track::Full)).flatten();
            one(Track::Preview).into_iter().chain(full).collect()
        }
        t => one(t).into_iter().collect(),
    }
}

/// Of the two tracks, the one whose frame `seek` finds nearer to `at_us` (the full one
/// on a tie: while both run, full-size frames are shown).
fn nearer(camera: &Camera, at_us: u64, seek: Seek) -> Option<Track> {
    let at = |t: Track| locate(camera, t, at_us, seek).map(|(_, _, e)| e.capture_us.abs_diff(at_us));
    match (at(Track::Full), at(Track::Preview)) {
        (Some(f), Some(p)) if p < f => Some(Track::Preview),
        (Some(_), _) => Some(Track::Full),
        (None, Some(_)) => Some(Track::Preview),
        (None, None) => None,
    }
}

/// Plays from `from_us` at `speed_milli` thousandths of real time (backwards when
/// negative), paced by the viewer's acknowledgements.
async fn play<F, Fut>(
    camera: Arc<Camera>,
    id: u32,
    from_us: u64,
    track: Track,
    speed_milli: i32,
    mut acks: watch::Receiver<u32>,
    send: F,
) where
    F: Fn(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let forward = speed_milli > 0;
    let (on_screen, onwards) =
        if forward { (Seek::AtOrBefore, Seek::After) } else { (Seek::After, Seek::Before) };
    let speed = f64::from(speed_milli.unsigned_abs()) / 1000.0;
    // The play's clock: the recorded time it is at is `from` moved by the time since
    // `start` times the speed. A gap in the footage moves `from` on (the play jumps it).
    let (mut from, mut start) = (from_us, Instant::now());
    let media = |from: u64, start: Instant| {
        let d = (start.elapsed().as_secs_f64() * speed * 1e6) as u64;
        if forward {
            from.saturating_add(d)
        } else {
            from.saturating_sub(d)
        }
    };
    let mut n = 0u32;
    let mut last: Option<u64> = None;
    loop {
        // Never more than the window ahead of what the viewer drew.
        while n > acks.borrow().saturating_add(PLAY_WINDOW) {
            match tokio::time::timeout(ACK_TIMEOUT, acks.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
        let target = media(from, start);
        let cam = camera.clone();
        let Ok(_read) = READS.acquire().await else { return };
        let found = tokio::task::spawn_blocking(move || {
            // Best: the full frames while they are there (within a frame or so), else
            // the previews.
            let chosen = match track {
                Track::Best if cam.preview.is_none() || full_near(&cam, target, FULL_PLAY_US) => Track::Full,
                Track::Best => Track::Preview,
                t => t,
            };
            // The frame on screen at the play's time, unless it was sent already; then
            // the next one along either track, and when it is due.
            let at = if forward { target } else { target.saturating_sub(1) };
            let due = locate(&cam, chosen, at, on_screen).filter(|(_, _, e)| Some(e.capture_us) != last);
            match due {
                Some(found) => Ok(read_at(&cam, found).map(|f| (chosen, f))),
                None => {
                    let after = last.unwrap_or(target);
                    let next = |t: Track| locate(&cam, t, after, onwards).map(|(_, _, e)| e.capture_us);
                    // Best: whichever track's next frame comes first.
                    let next = match track {
                        Track::Best => [next(Track::Full), next(Track::Preview)]
                            .into_iter()
                            .flatten()
                            .min_by_key(|t| t.abs_diff(after)),
                        _ => next(chosen),
                    };
                    Err(next)
                }
            }
        })
        .await;
        match found {
            Ok(Ok(Some((track, (t, payload))))) => {
                if !send(playback::frame_reply(id, n, track, &payload)).await {
                    return;
                }
                last = Some(t);
                n += 1;
            }
            // Deleted under the play: try again where the play is now.
            Ok(Ok(None)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Ok(Err(Some(next_us))) => {
                // Wait until the next frame is due at this speed; past a second of
                // waiting (a gap in the footage), jump to it.
                let wait = Duration::from_micros((next_us.abs_diff(target) as f64 / speed) as u64);
                if wait > Duration::from_secs(1) {
                    (from, start) = (next_us, Instant::now());
                } else {
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
            _ => {
                send(Reply::End.encode(id, n)).await;
                return;
            }
        }
    }
}

/// What is recorded between two times.
fn timeline(camera: &Camera, from_us: u64, to_us: u64) -> Timeline {
    let mut spans: Vec<Span> = Vec::new();
    let budget = playback::MAX_SPANS / 3;
    for (track, lock_of, gap) in [
        (Track::Preview, camera.preview.as_ref(), PREVIEW_GAP_US),
        (Track::Full, Some(&camera.full), FULL_GAP_US),
    ] {
        let Some(t) = lock_of else { continue };
        let t = lock(t);
        // Too many to send: coarser until they fit.
        let mut gap = gap;
        let mut found = query::spans(&t.segments, from_us, to_us, gap);
        for _ in 0..8 {
            if found.len() <= budget {
                break;
            }
            gap = gap.saturating_mul(4);
            found = query::spans(&t.segments, from_us, to_us, gap);
        }
        found.truncate(budget);
        spans.extend(found.into_iter().map(|(s, e)| Span {
            start_us: s,
            end_us: e,
            kind: SpanKind::Recorded(track),
        }));
    }
    let now = clock::now_us();
    spans.extend(
        lock(&camera.offline)
            .iter()
            .map(|&(s, e)| (s, if e == 0 { now } else { e }))
            .filter(|(s, e)| *e >= from_us && *s <= to_us)
            .take(budget)
            .map(|(s, e)| Span { start_us: s.max(from_us), end_us: e.min(to_us), kind: SpanKind::Offline }),
    );
    let deleted = lock(&camera.deleted);
    spans.extend(
        deleted.iter().filter(|(s, e)| *e >= from_us && *s <= to_us).take(budget).map(|&(s, e)| Span {
            start_us: s.max(from_us),
            end_us: e.min(to_us),
            kind: SpanKind::Deleted,
        }),
    );
    spans.sort_by_key(|s| s.start_us);
    let events: Vec<Event> = lock(&camera.events)
        .iter()
        .filter(|e| e.start_us <= to_us && (e.end_us == 0 || e.end_us >= from_us))
        .cloned()
        .collect();
    Timeline { from_us, to_us, now_us: now, spans, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_and_motion_on_the_bus_begin_and_end_events_once() {
        let on = bus_trigger(
            "home/door/alarm",
            "home",
            "door",
            br#"{"active":true,"reason":"opened","source":"zigbee"}"#,
        );
        assert!(
            matches!(on, Some(Trigger::On { kind: EventKind::Alarm, ref source, ref reason, .. }) if source == "zigbee" && reason == "opened")
        );
        let off = bus_trigger("home/door/alarm", "home", "door", br#"{"active":false}"#);
        assert!(
            matches!(off, Some(Trigger::Off { kind: EventKind::Alarm, ref source, .. }) if source == "bus")
        );
        let motion_alarm = br#"{"active":true,"reason":"motion","source":"motion"}"#;
        assert!(
            bus_trigger("home/door/alarm", "home", "door", motion_alarm).is_none(),
            "the motion topic says it"
        );
        assert!(matches!(
            bus_trigger("home/door/motion", "home", "door", b"ON"),
            Some(Trigger::On { kind: EventKind::Motion, .. })
        ));
        assert!(bus_trigger("home/door/alarm", "home", "door", b"garbage").is_none());
        assert!(bus_trigger("home/door/motion", "home", "door", b"maybe").is_none());
        let offline = br#"{"state":"offline","detail":"camera gone","at_us":5}"#;
        assert!(matches!(
            bus_trigger("home/door/status", "home", "door", offline),
            Some(Trigger::Offline { offline: true, .. })
        ));
        let online = br#"{"state":"online","detail":"MJPEG","at_us":6}"#;
        assert!(matches!(
            bus_trigger("home/door/status", "home", "door", online),
            Some(Trigger::Offline { offline: false, .. })
        ));
        assert!(bus_trigger("home/door/status", "home", "door", br#"{"state":"starting"}"#).is_none());
    }
}
