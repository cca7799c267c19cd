//! The camera directory: how a page learns every camera of every edge on the broker.
//!
//! Each edge keeps a retained entry on `<prefix>/_dir/edges/<edge>` (the fast path: a
//! page subscribed to `<prefix>/_dir/edges/+` has them all at once) and answers every
//! request on `<prefix>/_dir/req/<viewer>` with the same JSON on
//! `<prefix>/_dir/res/<viewer>`. The request/response is what makes it work on any MQTT
//! 3.1.1 broker: RabbitMQ 3.10 delivers no retained message to a wildcard subscription
//! and none across cluster nodes (measured), so a page there would see no camera at all.
//!
//! The JSON is [`wire::directory::Entry`], made here from the cameras' settings, their
//! states and what their meters saw.
//!
//! A rendition's size is that of its last frame (the configured size, halved, before
//! the first), `frame_bytes` the mean payload of its last frames published (0: none yet).
//! The entry is published again when a camera's state changes or a rendition's typical
//! frame size moves by a quarter; answers to requests are always current.
//!
//! The entry is cleared when the edge stops, and by its connection's last will when it
//! vanishes, so the retained path does not list dead edges.
//!
//! The same connection listens to the cameras' alarm topics (`<prefix>/<camera>/alarm`,
//! raised and cleared by consumers or sensors on the bus) and notes each camera's alarm
//! state in its meter, for `/metrics`, and logs it when it is raised or cleared.

use std::{sync::Arc, time::Duration};

use rumqttc::{LastWill, MqttOptions, QoS};
use tokio::sync::watch;
use wire::{ack::Rendition, directory, topic};

use crate::{
    clock,
    frame::SourceStatus,
    meter::Meter,
    publish::connection::{Connection, Happened},
};

/// One camera as the directory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    /// The preview's widest width and rate, if the camera has one.
    pub preview: Option<(u32, u32)>,
    /// The renditions it publishes, largest first.
    pub renditions: Vec<ListedRendition>,
    /// What is recorded of it (`continuous`, `events`; empty: nothing).
    pub recording: &'static str,
}

/// One rendition of a camera as the directory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRendition {
    pub rendition: Rendition,
    pub width: usize,
    pub height: usize,
    /// The mean payload of its last frames; 0 when none went out yet.
    pub frame_bytes: u64,
}

impl Listed {
    /// Each of `renditions` at its size for a `width`×`height` camera, no frame yet.
    pub fn renditions_of(renditions: &[Rendition], width: usize, height: usize) -> Vec<ListedRendition> {
        renditions
            .iter()
            .map(|&rendition| {
                let (width, height) = crate::encode::preview::rendition_size(width, height, rendition);
                ListedRendition { rendition, width, height, frame_bytes: 0 }
            })
            .collect()
    }

    /// Sizes and typical frame sizes from what the camera's meter saw.
    pub fn measured(&self, meter: &Meter) -> Listed {
        let mut out = self.clone();
        for r in &mut out.renditions {
            let counts = meter.rendition(r.rendition);
            if let Some((w, h)) = counts.size() {
                (r.width, r.height) = (w as usize, h as usize);
            }
            r.frame_bytes = counts.frame_bytes();
        }
        out
    }

    /// Whether a directory listing `self` says something new against one listing `old`:
    /// a size, or a typical frame size a quarter away (or one appearing).
    fn moved_from(&self, old: &Listed) -> bool {
        self.renditions.iter().zip(&old.renditions).any(|(a, b)| {
            (a.width, a.height) != (b.width, b.height)
                || (a.frame_bytes == 0) != (b.frame_bytes == 0)
                || a.frame_bytes.abs_diff(b.frame_bytes) * 4 > b.frame_bytes
        })
    }
}

/// The directory entry for `cameras` in their current states.
pub fn entry(prefix: &str, edge: &str, cameras: &[(Listed, SourceStatus)], at_us: u64) -> directory::Entry {
    let cameras = cameras
        .iter()
        .map(|(c, status)| {
            let status = status.message(at_us);
            let preview = c.preview.map(|(max_width, fps)| directory::Preview {
                topic: topic::preview(prefix, &c.name),
                max_width,
                fps,
            });
            let renditions = c
                .renditions
                .iter()
                .map(|r| directory::Rendition {
                    name: r.rendition.name().to_string(),
                    topic: topic::rendition(prefix, &c.name, r.rendition),
                    width: r.width as u32,
                    height: r.height as u32,
                    fps: c.fps,
                    frame_bytes: r.frame_bytes,
                })
                .collect();
            directory::Camera {
                name: c.name.clone(),
                frame: topic::frame(prefix, &c.name),
                preview,
                status: topic::status(prefix, &c.name),
                alarm: topic::alarm(prefix, &c.name),
                width: c.width as u32,
                height: c.height as u32,
                fps: c.fps,
                state: status.state,
                detail: status.detail,
                renditions,
                recording: c.recording.to_string(),
            }
        })
        .collect();
    directory::Entry { edge: edge.to_string(), at_us, cameras }
}

/// The directory JSON for `cameras` in their current states.
pub fn json(prefix: &str, edge: &str, cameras: &[(Listed, SourceStatus)], at_us: u64) -> String {
    // Strings and numbers only: serializing cannot fail.
    serde_json::to_string(&entry(prefix, edge, cameras, at_us)).expect("a directory entry serializes")
}

/// A name for this edge on the bus: the host's name and the process id, as topic-safe
/// characters (two edges on one host differ; a restarted edge clears its old entry).
pub fn edge_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "edge".into());
    let host: String = host
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .take(40)
        .collect();
    format!("{}-{}", if host.is_empty() { "edge" } else { &host }, std::process::id())
}

/// Keeps the entry and answers requests until `shutdown` turns true. One connection of
/// its own, so its last will can clear the entry; `brokers` are its options for each
/// broker URL, in failover order ([`Connection`]).
pub async fn run(
    mut brokers: Vec<MqttOptions>,
    prefix: String,
    edge: String,
    cameras: Vec<(Listed, watch::Receiver<SourceStatus>, Arc<Meter>)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let entry = topic::directory_entry(&prefix, &edge);
    for opts in &mut brokers {
        opts.set_last_will(LastWill::new(entry.clone(), Vec::new(), QoS::AtLeastOnce, true));
    }
    let mut connection = Connection::new("directory", brokers, 16);
    let client = connection.client().clone();
    let listed =
        |cameras: &[(Listed, watch::Receiver<SourceStatus>, Arc<Meter>)]| -> Vec<(Listed, SourceStatus)> {
            cameras.iter().map(|(l, s, m)| (l.measured(m), s.borrow().clone())).collect()
        };
    let current = |states: &[(Listed, SourceStatus)]| json(&prefix, &edge, states, clock::now_us());
    // Camera states change rarely; the entry follows within a couple of seconds.
    let mut refresh = tokio::time::interval(Duration::from_secs(2));
    let mut published: Option<Vec<(Listed, SourceStatus)>> = None;
    loop {
        tokio::select! {
            happened = connection.next() => match happened {
                Happened::Connected => {
                    let _ = client.try_subscribe(topic::directory_requests(&prefix), QoS::AtMostOnce);
                    for (l, _, _) in &cameras {
                        let _ = client.try_subscribe(topic::alarm(&prefix, &l.name), QoS::AtMostOnce);
                    }
                    let now = listed(&cameras);
                    let _ = client.try_publish(&entry, QoS::AtLeastOnce, true, current(&now));
                    published = Some(now);
                }
                Happened::Message(p) => {
                    if let Some((camera, _, meter)) = cameras.iter().find(|(l, _, _)| p.topic == topic::alarm(&prefix, &l.name)) {
                        // Said when it changes: a reconnection brings the retained
                        // alarm again, which is no news.
                        let changed = alarm_active(&p.payload).filter(|&active| {
                            meter.alarm.swap(active, std::sync::atomic::Ordering::Relaxed) != active
                        });
                        match changed {
                            Some(true) => tracing::info!(camera = %camera.name, "alarm raised"),
                            Some(false) => tracing::info!(camera = %camera.name, "alarm cleared"),
                            None => {}
                        }
                    }
                    if let Some(reply) = topic::directory_reply_to(&p.topic, &prefix) {
                        // Never waits: a full queue drops the reply and the page asks again.
                        let _ = client.try_publish(reply, QoS::AtMostOnce, false, current(&listed(&cameras)));
                    }
                }
                Happened::Closed => return,
            },
            _ = refresh.tick(), if connection.is_connected() => {
                let now = listed(&cameras);
                let moved = published.as_ref().is_none_or(|old| {
                    old.len() != now.len()
                        || old.iter().zip(&now).any(|((ol, os), (nl, ns))| os != ns || nl.moved_from(ol))
                });
                if moved {
                    let _ = client.try_publish(&entry, QoS::AtLeastOnce, true, current(&now));
                    published = Some(now);
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    // A clean stop takes the entry away (the will covers the unclean ones).
    let goodbye = async {
        if connection.is_connected() {
            let _ = client.publish(&entry, QoS::AtLeastOnce, true, Vec::new()).await;
            connection.disconnect().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), goodbye).await;
}

/// Whether an alarm message raises (`{"active":true,…}`) or clears the alarm; an empty
/// payload (a retained alarm removed) clears it. `None`: not an alarm message.
fn alarm_active(payload: &[u8]) -> Option<bool> {
    if payload.is_empty() {
        return Some(false);
    }
    serde_json::from_slice::<serde_json::Value>(payload).ok()?.get("active")?.as_bool()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_messages_raise_and_clear_and_others_are_ignored() {
        assert_eq!(alarm_active(br#"{"active":true,"reason":"person","at_us":1,"source":"x"}"#), Some(true));
        assert_eq!(alarm_active(br#"{"active":false}"#), Some(false));
        assert_eq!(alarm_active(b""), Some(false), "a retained alarm removed");
        assert_eq!(alarm_active(b"on"), None);
        assert_eq!(alarm_active(br#"{"active":"yes"}"#), None);
    }

    #[test]
    fn the_directory_lists_each_camera_with_its_topics_and_state() {
        let all = [Rendition::Full, Rendition::Half, Rendition::Quarter];
        let mut renditions = Listed::renditions_of(&all, 1280, 720);
        renditions[1].frame_bytes = 24012;
        let door = Listed {
            name: "door".into(),
            width: 1280,
            height: 720,
            fps: 15,
            preview: Some((320, 2)),
            renditions,
            recording: "continuous",
        };
        let renditions = Listed::renditions_of(&[Rendition::Full], 640, 480);
        let yard = Listed {
            name: "yard".into(),
            width: 640,
            height: 480,
            fps: 5,
            preview: None,
            renditions,
            recording: "",
        };
        let j = json(
            "home",
            "pi-1",
            &[
                (door, SourceStatus::Online("MJPEG \"cam\"".into())),
                (yard, SourceStatus::Offline("gone".into())),
            ],
            42,
        );
        assert_eq!(
            j,
            r#"{"edge":"pi-1","at_us":42,"cameras":[{"name":"door","frame":"home/door/frame","preview":{"topic":"home/door/preview","max_width":320,"fps":2},"status":"home/door/status","alarm":"home/door/alarm","width":1280,"height":720,"fps":15,"state":"online","detail":"MJPEG \"cam\"","renditions":[{"name":"full","topic":"home/door/frame","width":1280,"height":720,"fps":15,"frame_bytes":0},{"name":"half","topic":"home/door/half","width":640,"height":360,"fps":15,"frame_bytes":24012},{"name":"quarter","topic":"home/door/quarter","width":320,"height":180,"fps":15,"frame_bytes":0}],"recording":"continuous"},{"name":"yard","frame":"home/yard/frame","preview":null,"status":"home/yard/status","alarm":"home/yard/alarm","width":640,"height":480,"fps":5,"state":"offline","detail":"gone","renditions":[{"name":"full","topic":"home/yard/frame","width":640,"height":480,"fps":5,"frame_bytes":0}]}]}"#
        );
    }

    #[test]
    fn measured_sizes_replace_the_configured_ones_and_big_moves_republish() {
        let meter = Meter::default();
        let listed = Listed {
            name: "porch".into(),
            width: 640,
            height: 480,
            fps: 15,
            preview: None,
            renditions: Listed::renditions_of(&[Rendition::Full, Rendition::Half], 640, 480),
            recording: "",
        };
        meter.rendition(Rendition::Half).made(64, 48);
        meter.rendition(Rendition::Half).published(1000);
        let seen = listed.measured(&meter);
        assert_eq!(
            (seen.renditions[1].width, seen.renditions[1].height, seen.renditions[1].frame_bytes),
            (64, 48, 1000)
        );
        assert!(seen.moved_from(&listed));
        meter.rendition(Rendition::Half).published(1400);
        assert!(!listed.measured(&meter).moved_from(&seen), "1200 is within a quarter of 1000");
        for _ in 0..16 {
            meter.rendition(Rendition::Half).published(2000);
        }
        assert!(listed.measured(&meter).moved_from(&seen));
    }

    #[test]
    fn the_edge_id_is_one_topic_level() {
        let id = edge_id();
        assert!(!id.is_empty() && !id.contains(['/', '+', '#', '.', ' ']), "{id}");
        assert!(id.ends_with(&format!("-{}", std::process::id())));
    }
}
