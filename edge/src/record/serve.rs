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

use std::{collections::HashMap, sync::Arc, time::Duration};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::{sync::watch, task::JoinHandle, time::Instant};
use wire::{
    playback::{self, Event, EventKind, Reply, Request, Seek, Span, SpanKind, Timeline, Track, PLAY_WINDOW},
    topic,
};

use super::{
    query,
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

/// A full frame this near the time asked counts as "there" for [`Track::Best`].
const FULL_NEAR_US: u64 = 2_000_000;
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
}

/// Serves playback until `shutdown` turns true.
pub async fn run(settings: Settings, mut shutdown: watch::Receiver<bool>) {
    let Settings { brokers, prefix, cameras, triggers } = settings;
    let mut connection = Connection::new("playback", brokers, 64 + 4 * cameras.len());
    let client = connection.client().clone();
    let mut sessions: HashMap<(usize, String), Session> = HashMap::new();
    loop {
        tokio::select! {
            happened = connection.next() => match happened {
                Happened::Connected => {
                    for c in &cameras {
                        let (name, requests) = (&c.name, topic::playback_requests(&prefix, &c.name));
                        let motion = format!("{prefix}/{name}/motion");
                        for filter in [requests, topic::alarm(&prefix, name), motion, topic::status(&prefix, name)] {
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
                    } else if let Some(trigger) = bus_trigger(&p.topic, &prefix, &camera.name, &p.payload) {
                        triggers.send(&camera.name, trigger);
                    }
                }
                Happened::Closed => return,
            },
            _ = shutdown.changed() => break,
        }
        sessions
            .retain(|_, s| s.task.as_ref().is_some_and(|t| !t.is_finished()) || s.acked.receiver_count() > 0);
    }
    sessions.values().filter_map(|s| s.task.as_ref()).for_each(JoinHandle::abort);
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
    if let Some(old) = sessions.remove(&key) {
        if let Some(t) = old.task {
            t.abort();
        }
    }
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
        Request::Mark { seconds } => {
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
            let t = tokio::task::spawn_blocking(move || timeline(&camera, from_us, to_us)).await;
            if let Ok(t) = t {
                send(Reply::Timeline(t).encode(id, 0)).await;
            }
        })),
        Request::Frame { at_us, track, seek } => Some(tokio::spawn(async move {
            let frames = tokio::task::spawn_blocking(move || frames_at(&camera, at_us, track, seek))
                .await
                .unwrap_or_default();
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
    sessions.insert(key, Session { id, task, acked });
}

/// The tracks to look in for `track`: (which, its lock).
fn track_of(camera: &Camera, track: Track) -> Option<&std::sync::Mutex<store::Track>> {
    match track {
        Track::Full => Some(&camera.full),
        Track::Preview => camera.preview.as_ref(),
        Track::Best => None,
    }
}

/// Reads the frame `seek` finds from `at_us` in one track: (its capture time, payload).
fn read_one(camera: &Camera, track: Track, at_us: u64, seek: Seek) -> Option<(u64, Vec<u8>)> {
    let t = lock(track_of(camera, track)?);
    let (segment, entry) = query::find(&t.segments, at_us, seek)?;
    match t.read(segment, entry) {
        Ok(p) => Some((entry.capture_us, p)),
        Err(e) => {
            tracing::warn!(camera = %camera.name, error = %e, "playback: a recorded frame could not be read");
            None
        }
    }
}

/// Whether the full track has a frame within [`FULL_NEAR_US`] of `at_us`.
fn full_near(camera: &Camera, at_us: u64) -> bool {
    query::nearest(&lock(&camera.full).segments, at_us, FULL_NEAR_US).is_some()
}

/// The frames a frame request is answered with, in the order to send them.
fn frames_at(camera: &Camera, at_us: u64, track: Track, seek: Seek) -> Vec<(Track, Vec<u8>)> {
    let one = |t: Track| read_one(camera, t, at_us, seek).map(|(_, p)| (t, p));
    match track {
        Track::Best if seek != Seek::AtOrBefore || camera.preview.is_none() => {
            // A step moves along the full frames where there are, else the previews.
            let t = if full_near(camera, at_us) || camera.preview.is_none() {
                Track::Full
            } else {
                Track::Preview
            };
            one(t).into_iter().collect()
        }
        // The small frame first (on screen at once), then the full one where kept.
        Track::Best => {
            let full = full_near(camera, at_us).then(|| one(Track::Full)).flatten();
            one(Track::Preview).into_iter().chain(full).collect()
        }
        t => one(t).into_iter().collect(),
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
    let speed = f64::from(speed_milli.unsigned_abs()) / 1000.0;
    let start = Instant::now();
    // The recorded time the play is at, `elapsed` after it began.
    let media = move |elapsed: Duration| {
        let d = (elapsed.as_secs_f64() * speed * 1e6) as u64;
        if forward {
            from_us.saturating_add(d)
        } else {
            from_us.saturating_sub(d)
        }
    };
    let mut n = 0u32;
    let mut last: Option<u64> = None;
    loop {
        // Never more than the window ahead of what the viewer drew.
        while n > *acks.borrow() + PLAY_WINDOW {
            match tokio::time::timeout(ACK_TIMEOUT, acks.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
        let target = media(start.elapsed());
        let cam = camera.clone();
        let found = tokio::task::spawn_blocking(move || {
            // The frame on screen at the play's time; then, if that one was sent, the
            // next one along, and when it is due.
            let pick = |track: Track| {
                let seek = if forward { Seek::AtOrBefore } else { Seek::After };
                let at = if forward { target } else { target.saturating_sub(1) };
                // Only onwards (past the last frame sent, whichever track it came from):
                // leaving an event's full frames for the previews never steps back.
                let onwards = |t: u64| last.is_none_or(|l| if forward { t > l } else { t < l });
                let due = read_one(&cam, track, at, seek).filter(|(t, _)| onwards(*t));
                match due {
                    Some(f) => Ok((track, f)),
                    None => {
                        let next = match last {
                            Some(l) => {
                                locate(&cam, track, l, if forward { Seek::After } else { Seek::Before })
                            }
                            None => {
                                locate(&cam, track, target, if forward { Seek::After } else { Seek::Before })
                            }
                        };
                        Err(next)
                    }
                }
            };
            match track {
                Track::Best if cam.preview.is_none() => pick(Track::Full),
                // Past the last full frame of an event (still "near" it) the play goes on
                // along the previews instead of ending there.
                Track::Best if full_near(&cam, target) => match pick(Track::Full) {
                    Err(None) => pick(Track::Preview),
                    found => found,
                },
                Track::Best => pick(Track::Preview),
                t => pick(t),
            }
        })
        .await;
        match found {
            Ok(Ok((track, (t, payload)))) => {
                if !send(playback::frame_reply(id, n, track, &payload)).await {
                    return;
                }
                last = Some(t);
                n += 1;
            }
            Ok(Err(Some(next_us))) => {
                // Wait until the next frame is due at this speed (at most a second, so a
                // long gap is crossed quickly: the play jumps it).
                let gap = next_us.abs_diff(target) as f64 / speed;
                let wait = Duration::from_micros(gap as u64);
                if wait > Duration::from_secs(1) {
                    // Jump the gap: the play goes on from the next frame.
                    return Box::pin(play(camera, id, next_us, track, speed_milli, acks, send)).await;
                }
                tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
            }
            _ => {
                send(Reply::End.encode(id, n)).await;
                return;
            }
        }
    }
}

/// The capture time of the frame `seek` finds from `at_us`, without reading it.
fn locate(camera: &Camera, track: Track, at_us: u64, seek: Seek) -> Option<u64> {
    let t = lock(track_of(camera, track)?);
    query::find(&t.segments, at_us, seek).map(|(_, e)| e.capture_us)
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
        while found.len() > budget {
            gap *= 4;
            found = query::spans(&t.segments, from_us, to_us, gap);
        }
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
