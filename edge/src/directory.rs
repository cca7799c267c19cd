//! The camera directory: how a page learns every camera of every edge on the broker.
//!
//! Each edge keeps a retained entry on `<prefix>/_dir/edges/<edge>` (the fast path: a
//! page subscribed to `<prefix>/_dir/edges/+` has them all at once) and answers every
//! request on `<prefix>/_dir/req/<viewer>` with the same JSON on
//! `<prefix>/_dir/res/<viewer>`. The request/response is what makes it work on any MQTT
//! 3.1.1 broker: RabbitMQ 3.10 delivers no retained message to a wildcard subscription
//! and none across cluster nodes (measured), so a page there would see no camera at all.
//!
//! ```json
//! {"edge":"pi-kitchen-812","at_us":…,"cameras":[{"name":"door","frame":"home/door/frame",
//!  "preview":{"topic":"home/door/preview","max_width":320,"fps":2},"status":"home/door/status","alarm":"home/door/alarm","width":1280,"height":720,
//!  "fps":15,"state":"online","detail":"MJPEG 1280x720 …"}]}
//! ```
//!
//! The entry is cleared when the edge stops, and by its connection's last will when it
//! vanishes, so the retained path does not list dead edges.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;

use crate::{backoff::Backoff, clock, json_string, pipeline::SourceStatus, topic};

/// One camera as the directory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    /// The preview's widest width and rate, if the camera has one.
    pub preview: Option<(u32, u32)>,
}

/// The directory JSON for `cameras` in their current states.
pub fn json(prefix: &str, edge: &str, cameras: &[(Listed, SourceStatus)], at_us: u64) -> String {
    let list: Vec<String> = cameras
        .iter()
        .map(|(c, status)| {
            let (state, detail) = match status {
                SourceStatus::Starting => ("starting", ""),
                SourceStatus::Online(d) => ("online", d.as_str()),
                SourceStatus::Offline(d) => ("offline", d.as_str()),
            };
            let preview = match c.preview {
                Some((max_width, fps)) => format!(
                    "{{\"topic\":{},\"max_width\":{max_width},\"fps\":{fps}}}",
                    json_string(&topic::preview(prefix, &c.name))
                ),
                None => "null".into(),
            };
            format!(
                "{{\"name\":{},\"frame\":{},\"preview\":{preview},\"status\":{},\"alarm\":{},\"width\":{},\"height\":{},\"fps\":{},\"state\":\"{state}\",\"detail\":{}}}",
                json_string(&c.name),
                json_string(&topic::frame(prefix, &c.name)),
                json_string(&topic::status(prefix, &c.name)),
                json_string(&topic::alarm(prefix, &c.name)),
                c.width,
                c.height,
                c.fps,
                json_string(detail),
            )
        })
        .collect();
    format!("{{\"edge\":{},\"at_us\":{at_us},\"cameras\":[{}]}}", json_string(edge), list.join(","))
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
/// its own, so its last will can clear the entry.
pub async fn run(
    mut opts: MqttOptions,
    prefix: String,
    edge: String,
    cameras: Vec<(Listed, watch::Receiver<SourceStatus>)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let entry = topic::directory_entry(&prefix, &edge);
    opts.set_last_will(LastWill::new(entry.clone(), Vec::new(), QoS::AtLeastOnce, true));
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    let current = |cameras: &[(Listed, watch::Receiver<SourceStatus>)]| {
        let states: Vec<(Listed, SourceStatus)> =
            cameras.iter().map(|(l, s)| (l.clone(), s.borrow().clone())).collect();
        json(&prefix, &edge, &states, clock::now_us())
    };
    let mut backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5), crate::backoff::seed());
    // Camera states change rarely; the entry follows within a couple of seconds.
    let mut refresh = tokio::time::interval(Duration::from_secs(2));
    let mut published_states: Option<Vec<SourceStatus>> = None;
    let mut connected = false;
    loop {
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    backoff.reset();
                    let _ = client.try_subscribe(topic::directory_requests(&prefix), QoS::AtMostOnce);
                    let _ = client.try_publish(&entry, QoS::AtLeastOnce, true, current(&cameras));
                    published_states = Some(cameras.iter().map(|(_, s)| s.borrow().clone()).collect());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some(reply) = topic::directory_reply_to(&p.topic, &prefix) {
                        // Never waits: a full queue drops the reply and the page asks again.
                        let _ = client.try_publish(reply, QoS::AtMostOnce, false, current(&cameras));
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => {
                    if connected {
                        tracing::debug!(error = %e, "directory: broker connection lost; retrying");
                    }
                    connected = false;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            },
            _ = refresh.tick(), if connected => {
                let states: Vec<SourceStatus> = cameras.iter().map(|(_, s)| s.borrow().clone()).collect();
                if published_states.as_ref() != Some(&states) {
                    let _ = client.try_publish(&entry, QoS::AtLeastOnce, true, current(&cameras));
                    published_states = Some(states);
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    // A clean stop takes the entry away (the will covers the unclean ones).
    let goodbye = async {
        if connected {
            let _ = client.publish(&entry, QoS::AtLeastOnce, true, Vec::new()).await;
            let _ = client.disconnect().await;
            while let Ok(e) = eventloop.poll().await {
                if matches!(e, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), goodbye).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_lists_each_camera_with_its_topics_and_state() {
        let door = Listed { name: "door".into(), width: 1280, height: 720, fps: 15, preview: Some((320, 2)) };
        let yard = Listed { name: "yard".into(), width: 640, height: 480, fps: 5, preview: None };
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
            r#"{"edge":"pi-1","at_us":42,"cameras":[{"name":"door","frame":"home/door/frame","preview":{"topic":"home/door/preview","max_width":320,"fps":2},"status":"home/door/status","alarm":"home/door/alarm","width":1280,"height":720,"fps":15,"state":"online","detail":"MJPEG \"cam\""},{"name":"yard","frame":"home/yard/frame","preview":null,"status":"home/yard/status","alarm":"home/yard/alarm","width":640,"height":480,"fps":5,"state":"offline","detail":"gone"}]}"#
        );
    }

    #[test]
    fn the_edge_id_is_one_topic_level() {
        let id = edge_id();
        assert!(!id.is_empty() && !id.contains(['/', '+', '#', '.', ' ']), "{id}");
        assert!(id.ends_with(&format!("-{}", std::process::id())));
    }
}
