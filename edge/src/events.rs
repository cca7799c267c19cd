//! What the edge says on the bus besides frames: each camera's **motion** (its alarm,
//! its motion state and the moving box) and, with `--ha-discovery`, **Home Assistant**
//! discovery and stats.
//!
//! The detector runs on the encoder threads, on each preview's planes as it is made
//! ([`MotionFeed`], one per camera with motion on); what it saw goes to this module's
//! task through a watch channel per camera (newest wins: a report not published yet is
//! replaced by the next, and the state changes are worked out from the states, so none
//! is lost). The task publishes on a connection of its own, like the directory: the
//! frame connections keep their one-frame-in-flight flow control untouched, and an
//! alarm never waits behind a frame. With several brokers it fails over between them as
//! the others do ([`Connection`]), and publishes the states and discovery again on the
//! broker it lands on.
//!
//! What is published when ([`motion_messages`], pure):
//!
//! | when | topic | payload | QoS, retained |
//! |---|---|---|---|
//! | motion raised | `<prefix>/<camera>/alarm` (unless `--motion-alarm no`) | [`motion::alarm_json`] active | 1, retained |
//! | motion raised | `<prefix>/<camera>/motion` | `ON` | 1, retained |
//! | each preview while moving, and one still one after | `<prefix>/<camera>/detections` | [`Seen::detections_json`] | 0, not retained |
//! | motion cleared (after the hold) | `<prefix>/<camera>/alarm` | [`motion::alarm_json`] inactive (what the viewer and the reference consumer read as cleared) | 1, retained |
//! | motion cleared | `<prefix>/<camera>/motion` | `OFF` | 1, retained |
//! | each (re)connection | `<prefix>/<camera>/motion` (and the alarm while active) | the current state | 1, retained |
//!
//! With `--ha-discovery`: every camera's [`homeassistant::discovery`] after each
//! (re)connection and whenever Home Assistant says `online` on its birth topic, and
//! [`CameraStats`] every [`STATS_EVERY`].

use std::{
    sync::{atomic::Ordering::Relaxed, Arc, Mutex},
    time::{Duration, Instant},
};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::{watch, Notify};

use crate::{
    clock,
    frame::Yuv420,
    homeassistant::{self, CameraInfo, CameraStats, Discovery, STATS_EVERY},
    meter::Meter,
    motion::{self, Event as Change, Motion, MotionConfig, MotionConfigError, Seen},
    publish::connection::{Connection, Happened},
    sync::lock,
};

/// What one preview showed, about the frame it was made from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub sequence: u64,
    pub capture_us: u64,
    pub seen: Seen,
}

/// One camera's motion detector, fed by the encoder threads with each preview made.
pub struct MotionFeed {
    /// The detector and the sequence of the newest preview fed: two encoder threads may
    /// finish a camera's previews out of order, and an older one is not fed after a
    /// newer one.
    detector: Mutex<(Motion, Option<u64>)>,
    reports: watch::Sender<Report>,
    told: Arc<Notify>,
    meter: Arc<Meter>,
}

impl MotionFeed {
    /// A detector for one camera; its reports go to `reports` (the events task is
    /// woken through `told`); raised motion is counted in `meter`.
    pub fn new(
        config: MotionConfig,
        reports: watch::Sender<Report>,
        told: Arc<Notify>,
        meter: Arc<Meter>,
    ) -> Result<MotionFeed, MotionConfigError> {
        Ok(MotionFeed { detector: Mutex::new((Motion::new(config)?, None)), reports, told, meter })
    }

    /// Judges the preview of frame `sequence` captured at `capture_us`.
    pub fn feed(&self, preview: &Yuv420, sequence: u64, capture_us: u64) {
        let started = Instant::now();
        let seen = {
            let mut detector = lock(&self.detector);
            let (motion, last) = &mut *detector;
            if last.is_some_and(|l| sequence <= l) {
                return;
            }
            *last = Some(sequence);
            let (w, h) = (preview.width(), preview.height());
            motion.feed(&preview.y, w, h, preview.y_stride(), capture_us)
        };
        if seen.event == Some(Change::Raised) {
            self.meter.motion_events.fetch_add(1, Relaxed);
        }
        tracing::trace!(target: "edge::frame", sequence, motion_us = started.elapsed().as_micros() as u64,
            area = seen.area, active = seen.active, "motion");
        self.reports.send_replace(Report { sequence, capture_us, seen });
        self.told.notify_one();
    }
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub qos: QoS,
    pub retain: bool,
}

impl Message {
    fn retained(topic: String, payload: String) -> Message {
        Message { topic, payload, qos: QoS::AtLeastOnce, retain: true }
    }
}

/// What has been published of one camera's motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Published {
    /// The motion state the bus has; `None`: unknown (nothing published on this
    /// connection yet).
    pub active: Option<bool>,
    /// The last detections published had a box: the next still picture sends an empty
    /// one, which takes the box off the viewer.
    pub boxed: bool,
}

/// The messages that bring the bus from `published` to `report` for camera `camera`
/// (prefix `prefix`); `alarm`: motion raises and clears the alarm topic too. Pure.
///
/// A state not yet published on this connection (`published.active` is `None`) is
/// published as it is: the motion topic always, the alarm only while active (an idle
/// detector must not clear another source's alarm).
pub fn motion_messages(
    prefix: &str,
    camera: &str,
    alarm: bool,
    published: &mut Published,
    report: &Report,
) -> Vec<Message> {
    let mut out = Vec::new();
    let active = report.seen.active;
    if published.active != Some(active) {
        let announce_alarm = alarm && (active || published.active.is_some());
        if announce_alarm {
            let payload = motion::alarm_json(active, report.capture_us);
            out.push(Message::retained(wire::topic::alarm(prefix, camera), payload));
        }
        let state = homeassistant::motion_payload(active).to_string();
        out.push(Message::retained(homeassistant::motion_topic(prefix, camera), state));
        published.active = Some(active);
    }
    let moving = report.seen.moving();
    if moving || published.boxed {
        out.push(Message {
            topic: wire::topic::detections(prefix, camera),
            payload: report.seen.detections_json(report.sequence, report.capture_us),
            qos: QoS::AtMostOnce,
            retain: false,
        });
        published.boxed = moving;
    }
    out
}

/// One camera as the events task knows it.
pub struct Camera {
    pub name: String,
    /// Its motion reports, when it detects motion.
    pub motion: Option<watch::Receiver<Report>>,
    pub meter: Arc<Meter>,
    /// What discovery says of it.
    pub info: CameraInfo,
}

/// What the events task publishes.
pub struct Settings {
    /// The connection's options for each broker URL, in failover order ([`Connection`]).
    pub brokers: Vec<MqttOptions>,
    pub prefix: String,
    /// Motion raises and clears the alarm topic (`--motion-alarm`).
    pub alarm: bool,
    /// Home Assistant discovery and stats, with `--ha-discovery`.
    pub discovery: Option<Discovery>,
    pub cameras: Vec<Camera>,
    /// Woken by every [`MotionFeed`] report.
    pub told: Arc<Notify>,
}

impl Settings {
    /// Whether there is anything to publish at all.
    pub fn needed(&self) -> bool {
        self.discovery.is_some() || self.cameras.iter().any(|c| c.motion.is_some())
    }
}

/// A camera's stats over the interval since `before` (its meter's published count then,
/// and when).
fn stats(meter: &Meter, before: (u64, Instant), now: Instant) -> CameraStats {
    let published = meter.published.load(Relaxed);
    let secs = now.duration_since(before.1).as_secs_f64();
    let fps = if secs > 0.0 { published.saturating_sub(before.0) as f64 / secs } else { 0.0 };
    // A stalled stream has no latency to show (null: unknown), not the last one.
    let latency_ms = if fps > 0.0 { meter.publish_latency_ms().unwrap_or(f64::NAN) } else { f64::NAN };
    CameraStats { fps, latency_ms, at_us: clock::now_us() }
}

/// Publishes motion and Home Assistant messages until `shutdown` turns true; then
/// clears the motion that is on.
pub async fn run(settings: Settings, mut shutdown: watch::Receiver<bool>) {
    let Settings { brokers, prefix, alarm, discovery, mut cameras, told } = settings;
    // Room for every camera's discovery messages at once.
    let mut connection = Connection::new("events", brokers, 16 + 8 * cameras.len());
    let client = connection.client().clone();
    let birth = discovery.as_ref().map(homeassistant::birth_topic);
    let announcements: Vec<(String, String)> = match &discovery {
        Some(d) => cameras.iter().flat_map(|c| homeassistant::discovery(d, &c.info)).collect(),
        None => Vec::new(),
    };
    let announce = |client: &AsyncClient| {
        for (topic, payload) in &announcements {
            let _ = client.try_publish(topic, QoS::AtLeastOnce, true, payload.clone());
        }
    };
    let send = |client: &AsyncClient, messages: Vec<Message>| {
        for m in messages {
            if client.try_publish(&m.topic, m.qos, m.retain, m.payload).is_err() {
                tracing::debug!(topic = %m.topic, "events: request queue full; message dropped");
            }
        }
    };
    let mut published: Vec<Published> = vec![Published::default(); cameras.len()];
    let mut stats_every = tokio::time::interval(STATS_EVERY);
    stats_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counted: Vec<(u64, Instant)> =
        cameras.iter().map(|c| (c.meter.published.load(Relaxed), Instant::now())).collect();
    loop {
        tokio::select! {
            happened = connection.next() => match happened {
                Happened::Connected => {
                    // The bus may have lost what was sent while away (or be another
                    // broker, which never had it): the states again.
                    published.iter_mut().for_each(|p| *p = Published::default());
                    if let Some(birth) = &birth {
                        let _ = client.try_subscribe(birth.clone(), QoS::AtLeastOnce);
                    }
                    announce(&client);
                    for (camera, p) in cameras.iter_mut().zip(&mut published) {
                        if let Some(reports) = &mut camera.motion {
                            let report = reports.borrow_and_update().clone();
                            send(&client, motion_messages(&prefix, &camera.name, alarm, p, &report));
                        }
                    }
                }
                Happened::Message(p) => {
                    // Home Assistant (re)started: it forgot non-retained state; announce again.
                    if birth.as_deref() == Some(p.topic.as_str()) && &p.payload[..] == b"online" {
                        tracing::debug!("Home Assistant is online: discovery again");
                        announce(&client);
                    }
                }
                Happened::Closed => return,
            },
            _ = told.notified() => {
                if !connection.is_connected() {
                    continue;
                }
                for (camera, p) in cameras.iter_mut().zip(&mut published) {
                    let Some(reports) = &mut camera.motion else { continue };
                    if reports.has_changed().unwrap_or(false) {
                        let report = reports.borrow_and_update().clone();
                        send(&client, motion_messages(&prefix, &camera.name, alarm, p, &report));
                    }
                }
            }
            _ = stats_every.tick(), if discovery.is_some() => {
                let now = Instant::now();
                for (camera, before) in cameras.iter().zip(&mut counted) {
                    let stats = stats(&camera.meter, *before, now);
                    *before = (camera.meter.published.load(Relaxed), now);
                    if connection.is_connected() {
                        let topic = homeassistant::stats_topic(&prefix, &camera.name);
                        let _ = client.try_publish(topic, QoS::AtMostOnce, true, stats.to_json());
                    }
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    // A stopped detector sees nothing: motion that is on ends with the edge.
    let goodbye = async {
        if !connection.is_connected() {
            return;
        }
        for (camera, p) in cameras.iter().zip(&mut published) {
            if camera.motion.is_some() && p.active == Some(true) {
                let still = Report { capture_us: clock::now_us(), ..Report::default() };
                for m in motion_messages(&prefix, &camera.name, alarm, p, &still) {
                    let _ = client.publish(&m.topic, m.qos, m.retain, m.payload).await;
                }
            }
        }
        connection.disconnect().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), goodbye).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sequence: u64, active: bool, bbox: Option<[f64; 4]>) -> Report {
        let area = if bbox.is_some() { 0.05 } else { 0.0 };
        Report { sequence, capture_us: 1000 + sequence, seen: Seen { area, bbox, active, event: None } }
    }

    fn topics(messages: &[Message]) -> Vec<(&str, &str, bool)> {
        messages.iter().map(|m| (m.topic.as_str(), m.payload.as_str(), m.retain)).collect()
    }

    const BOX: Option<[f64; 4]> = Some([0.5, 0.25, 0.125, 0.25]);

    #[test]
    fn a_raise_sends_the_alarm_the_motion_state_and_the_box() {
        let mut p = Published { active: Some(false), boxed: false };
        let m = motion_messages("mqcam", "door", true, &mut p, &report(7, true, BOX));
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].topic, "mqcam/door/alarm");
        assert_eq!(m[0].payload, motion::alarm_json(true, 1007));
        assert!(m[0].retain && m[0].qos == QoS::AtLeastOnce);
        assert_eq!(
            (m[1].topic.as_str(), m[1].payload.as_str(), m[1].retain),
            ("mqcam/door/motion", "ON", true)
        );
        assert_eq!(m[2].topic, "mqcam/door/detections");
        assert!(!m[2].retain && m[2].qos == QoS::AtMostOnce);
        assert!(
            m[2].payload.contains(r#""sequence":7"#)
                && m[2].payload.contains(r#""box":[0.5,0.25,0.125,0.25]"#)
        );
        assert_eq!(p, Published { active: Some(true), boxed: true });
    }

    #[test]
    fn while_moving_only_boxes_go_and_one_empty_box_after_it_stops() {
        let mut p = Published { active: Some(true), boxed: true };
        let m = motion_messages("mqcam", "door", true, &mut p, &report(8, true, BOX));
        assert_eq!(topics(&m).iter().map(|t| t.0).collect::<Vec<_>>(), ["mqcam/door/detections"]);
        // Still, but held: one detections message with no objects, then nothing.
        let m = motion_messages("mqcam", "door", true, &mut p, &report(9, true, None));
        assert_eq!(m.len(), 1);
        assert!(m[0].payload.ends_with(r#""objects":[]}"#), "{}", m[0].payload);
        assert!(motion_messages("mqcam", "door", true, &mut p, &report(10, true, None)).is_empty());
    }

    #[test]
    fn a_clear_sends_the_inactive_alarm_and_off() {
        let mut p = Published { active: Some(true), boxed: false };
        let m = motion_messages("mqcam", "door", true, &mut p, &report(11, false, None));
        assert_eq!(
            topics(&m),
            [
                ("mqcam/door/alarm", motion::alarm_json(false, 1011).as_str(), true),
                ("mqcam/door/motion", "OFF", true)
            ]
        );
        assert!(motion_messages("mqcam", "door", true, &mut p, &report(12, false, None)).is_empty());
    }

    #[test]
    fn without_the_alarm_only_the_motion_state_and_boxes_go() {
        let mut p = Published { active: Some(false), boxed: false };
        let m = motion_messages("mqcam", "door", false, &mut p, &report(1, true, BOX));
        assert!(m.iter().all(|m| m.topic != "mqcam/door/alarm"), "{m:?}");
        assert_eq!(m.len(), 2);
        let m = motion_messages("mqcam", "door", false, &mut p, &report(2, false, None));
        assert!(m.iter().all(|m| m.topic != "mqcam/door/alarm"), "{m:?}");
    }

    #[test]
    fn on_a_new_connection_the_state_is_sent_but_an_idle_one_clears_no_alarm() {
        let mut p = Published::default();
        let m = motion_messages("mqcam", "door", true, &mut p, &report(1, false, None));
        assert_eq!(topics(&m), [("mqcam/door/motion", "OFF", true)], "another source's alarm stays");
        let mut p = Published::default();
        let m = motion_messages("mqcam", "door", true, &mut p, &report(1, true, None));
        assert_eq!(
            m.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(),
            ["mqcam/door/alarm", "mqcam/door/motion"]
        );
    }

    #[test]
    fn stats_read_the_published_rate_and_are_unknown_when_stalled() {
        let meter = Meter::default();
        let then = Instant::now();
        meter.published.store(150, Relaxed);
        for _ in 0..5 {
            meter.note_publish_latency(40_000);
        }
        let s = stats(&meter, (0, then), then + Duration::from_secs(10));
        assert!((s.fps - 15.0).abs() < 1e-9 && (s.latency_ms - 40.0).abs() < 1e-9, "{s:?}");
        let stalled = stats(&meter, (150, then), then + Duration::from_secs(10));
        assert_eq!(stalled.fps, 0.0);
        assert!(stalled.latency_ms.is_nan());
    }
}
