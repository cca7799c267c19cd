//! The topic layout, and who may write and read which topic. One prefix per
//! installation, one level per camera:
//!
//! ```text
//! <prefix>/<camera>/frame    one frame per message (wire format), QoS 0, retained (the
//!                            newest, so a new viewer sees a picture at once; cleared
//!                            with an empty message when the edge stops; a subscriber
//!                            may get the newest frame twice, retained and live)
//! <prefix>/<camera>/half     the same format at half the width and height, made only while
//!                            watched, not retained (see `wire::ack::Rendition`)
//! <prefix>/<camera>/quarter  the same at a quarter of each
//! <prefix>/<camera>/preview  the same format, at most 320 px wide and a few fps (grid
//!                            tiles), retained; only while the camera has a preview
//! <prefix>/<camera>/status   {"state":"online"|"offline"|"starting","detail":…,"at_us":…},
//!                            retained, QoS 1; the last will says offline
//! <prefix>/<camera>/clock/req/<viewer>   viewer → edge: clock-offset request (≤ 64 bytes,
//!                                        echoed back); the only topics viewers write
//! <prefix>/<camera>/clock/res/<viewer>   edge → viewer: u64 LE receive time, u64 LE send
//!                                        time (µs, edge clock), then the request's bytes
//! <prefix>/<camera>/ack/<viewer>         viewer → edge: u64 LE sequence of the newest frame
//!                                        received, its window, its rendition (flow
//!                                        control, see `flow` and `wire::ack`)
//! <prefix>/<camera>/rec/req/<viewer>   viewer → edge: a playback request (`crate::playback`)
//! <prefix>/<camera>/rec/res/<viewer>   edge → viewer: its replies and recorded frames
//! <prefix>/<camera>/rec/state  {"state":"recording"|"events"|"disk full"|"off","bytes":…,
//!                            "oldest_us":…}: what the edge records, retained, QoS 1
//! <prefix>/<camera>/rec/set    ON | OFF from a publisher (Home Assistant's switch):
//!                            recording on or off; never from viewers
//! <prefix>/<camera>/alarm    {"active":true|false,"reason":…,"at_us":…,"source":…} from
//!                            any client with the publisher login (a detector, a door
//!                            sensor bridge), retained while active; never from viewers
//! <prefix>/<camera>/motion   "ON" | "OFF": the edge's motion detector, retained, QoS 1
//! <prefix>/<camera>/stats    {"fps":…,"latency_ms":…,"at_us":…} every 10 s with Home
//!                            Assistant discovery on, retained
//! <prefix>/<camera>/watch    any client → edge: "I watch this camera" (any payload); keeps
//!                            an on-demand camera's full stream going for 30 s
//! <prefix>/_dir/edges/<edge>  the edge's cameras (`directory`), retained: the fast path
//! <prefix>/_dir/req/<viewer>  viewer → every edge: "which cameras do you have?"
//! <prefix>/_dir/res/<viewer>  edge → viewer: the same JSON, one reply per edge; works on
//!                             brokers that deliver no retained message to wildcards
//! ```
//!
//! Camera names never start with `_`: those levels are the system's. Viewers write only
//! to `clock/req/+`, `ack/+`, `rec/req/+`, `watch` and `_dir/req/+`; everything else is the edge's (or a
//! publisher's). The embedded broker's gate enforces that ([`viewer_may_publish`],
//! [`viewer_may_subscribe`]); on another broker its own permissions do.

use alloc::{format, string::String, vec, vec::Vec};

use crate::ack::Rendition;

/// The topic a camera's frames are published on.
pub fn frame(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/frame")
}

/// The topic a camera's rendition is published on (`frame` for the full stream).
pub fn rendition(prefix: &str, camera: &str, rendition: Rendition) -> String {
    format!("{prefix}/{camera}/{}", rendition.level())
}

/// The topic a camera's preview (small, a few fps: grid tiles) is published on.
pub fn preview(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/preview")
}

/// The retained status topic of a camera.
pub fn status(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/status")
}

/// The topic a camera's alarms are raised and cleared on.
pub fn alarm(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/alarm")
}

/// The level under the prefix that holds the camera directory.
pub const DIRECTORY: &str = "_dir";

/// Where an edge keeps its retained directory entry.
pub fn directory_entry(prefix: &str, edge: &str) -> String {
    format!("{prefix}/{DIRECTORY}/edges/{edge}")
}

/// The filter edges subscribe to for directory requests.
pub fn directory_requests(prefix: &str) -> String {
    format!("{prefix}/{DIRECTORY}/req/+")
}

/// The reply topic for a directory request topic, or `None` if it is not one.
pub fn directory_reply_to(request_topic: &str, prefix: &str) -> Option<String> {
    let viewer = request_topic.strip_prefix(prefix)?.strip_prefix(&format!("/{DIRECTORY}/req/"))?;
    if viewer.is_empty() || viewer.len() > 64 || viewer.contains(['/', '+', '#']) {
        return None;
    }
    Some(format!("{prefix}/{DIRECTORY}/res/{viewer}"))
}

/// The topic any client sends to say it watches a camera (see `watch`).
pub fn watch(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/watch")
}

/// The filter the edge subscribes to for clock-offset requests.
pub fn clock_requests(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/clock/req/+")
}

/// The reply topic for a request topic, or `None` if it is not a request topic of this
/// camera or names no usable viewer.
pub fn clock_reply_to(request_topic: &str, prefix: &str, camera: &str) -> Option<String> {
    let viewer = request_topic.strip_prefix(&format!("{prefix}/{camera}/clock/req/"))?;
    if viewer.is_empty() || viewer.len() > 64 || viewer.contains(['/', '+', '#']) {
        return None;
    }
    Some(format!("{prefix}/{camera}/clock/res/{viewer}"))
}

/// The filter the edge subscribes to for viewers' frame acknowledgements.
pub fn acks(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/ack/+")
}

/// The viewer an acknowledgement topic names, if it is one of this camera's.
pub fn ack_viewer<'a>(topic: &'a str, prefix: &str, camera: &str) -> Option<&'a str> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?.strip_prefix(camera)?.strip_prefix("/ack/")?;
    (!rest.is_empty() && rest.len() <= 64 && !rest.contains(['/', '+', '#'])).then_some(rest)
}

/// Whether a viewer may publish to `topic`: a clock request or a frame acknowledgement
/// of any camera under `prefix`, and nothing else. What the gate enforces.
pub fn viewer_may_publish(prefix: &str, topic: &str) -> bool {
    let Some(rest) = topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else { return false };
    let levels: Vec<&str> = rest.split('/').collect();
    let usable = |l: &str| !l.is_empty() && l.len() <= 64 && !l.contains(['+', '#']);
    match levels.as_slice() {
        [DIRECTORY, "req", viewer] => usable(viewer),
        [camera, "clock", "req", viewer] | [camera, "ack", viewer] | [camera, "rec", "req", viewer] => {
            usable(camera) && !camera.starts_with('_') && usable(viewer)
        }
        [camera, "watch"] => usable(camera) && !camera.starts_with('_'),
        _ => false,
    }
}

/// Whether a viewer may subscribe to `filter`: frames (any rendition), previews, status,
/// alarms and detections of one camera or of all (`+`), and clock replies to one viewer; never `#`, acknowledgements or requests.
///
/// Besides privacy this bounds the broker's memory: rumqttd keeps a log per filter of
/// every message matching it, and a viewer's `#` would keep every acknowledgement too.
pub fn viewer_may_subscribe(prefix: &str, filter: &str) -> bool {
    let Some(rest) = filter.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else { return false };
    let levels: Vec<&str> = rest.split('/').collect();
    let name = |l: &str| !l.is_empty() && l.len() <= 64 && !l.contains(['+', '#']);
    match levels.as_slice() {
        [DIRECTORY, "edges", "+"] => true,
        [DIRECTORY, "res", viewer] => name(viewer),
        [camera, "frame" | "half" | "quarter" | "preview" | "status" | "alarm" | "detections" | "motion" | "stats"] => {
            *camera == "+" || (name(camera) && !camera.starts_with('_'))
        }
        [camera, "clock" | "rec", "res", viewer] => name(camera) && !camera.starts_with('_') && name(viewer),
        [camera, "rec", "state"] => *camera == "+" || (name(camera) && !camera.starts_with('_')),
        _ => false,
    }
}

/// The levels that carry pictures: the renditions and the preview.
const PICTURE_LEVELS: [&str; 4] = ["frame", "half", "quarter", "preview"];

/// Whether `topic` carries pictures (any camera's rendition or preview): a message on it
/// may give way to a newer one for a client that reads too slowly.
pub fn carries_pictures(topic: &str) -> bool {
    topic.rsplit('/').next().is_some_and(|level| PICTURE_LEVELS.contains(&level))
}

/// Whether a viewer's `filter` names one camera's pictures (a rendition or the preview),
/// without a wildcard: the streams a broker may fan out from one shared copy per message,
/// since every subscriber of such a filter gets the same bytes.
pub fn one_stream(prefix: &str, filter: &str) -> bool {
    let Some(rest) = filter.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else { return false };
    match rest.split_once('/') {
        Some((camera, level)) => {
            PICTURE_LEVELS.contains(&level)
                && !camera.is_empty()
                && camera.len() <= 64
                && !camera.starts_with('_')
                && !camera.contains(['+', '#'])
        }
        None => false,
    }
}

/// The topic results of programs on the bus are published on (see `crate::detections`).
pub fn detections(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/detections")
}

/// Where one viewer sends its clock-offset requests for a camera.
pub fn clock_request(prefix: &str, camera: &str, viewer: &str) -> String {
    format!("{prefix}/{camera}/clock/req/{viewer}")
}

/// Where the edge answers one viewer's clock-offset requests.
pub fn clock_reply(prefix: &str, camera: &str, viewer: &str) -> String {
    format!("{prefix}/{camera}/clock/res/{viewer}")
}

/// The filter the edge subscribes to for a recorded camera's playback requests.
pub fn playback_requests(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/rec/req/+")
}

/// Where the edge says what it records of a camera (retained).
pub fn recording_state(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/rec/state")
}

/// Where a publisher (Home Assistant's switch) turns a camera's recording on or off.
pub fn recording_switch(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/rec/set")
}

/// Where one viewer sends a camera's playback requests.
pub fn playback_request(prefix: &str, camera: &str, viewer: &str) -> String {
    format!("{prefix}/{camera}/rec/req/{viewer}")
}

/// Where the edge answers one viewer's playback requests.
pub fn playback_reply(prefix: &str, camera: &str, viewer: &str) -> String {
    format!("{prefix}/{camera}/rec/res/{viewer}")
}

/// The reply topic for a playback request topic, or `None` if it is not one of this
/// camera's or names no usable viewer.
pub fn playback_reply_to(request_topic: &str, prefix: &str, camera: &str) -> Option<String> {
    let viewer = request_topic.strip_prefix(&format!("{prefix}/{camera}/rec/req/"))?;
    if viewer.is_empty() || viewer.len() > 64 || viewer.contains(['/', '+', '#']) {
        return None;
    }
    Some(playback_reply(prefix, camera, viewer))
}

/// Where one viewer acknowledges a camera's frames.
pub fn ack(prefix: &str, camera: &str, viewer: &str) -> String {
    format!("{prefix}/{camera}/ack/{viewer}")
}

/// `<prefix>/<camera>/frame` split into prefix and camera; `None` for other topics (a
/// page told a topic of its own shows that one stream, with no grid).
pub fn split_frame_topic(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_suffix("/frame")?;
    let (prefix, camera) = rest.rsplit_once('/')?;
    let name = |s: &str| !s.is_empty() && !s.contains(['+', '#']);
    (name(prefix) && name(camera) && !camera.starts_with('_')).then_some((prefix, camera))
}

/// What a message on the bus (below the prefix) is about, besides the frames watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus<'a> {
    Preview(&'a str),
    Status(&'a str),
    Alarm(&'a str),
    /// An edge's camera list: its retained entry or its answer to a viewer's request.
    Directory,
}

/// The filters that bring a viewer every camera's status and alarms, and the camera
/// directory (retained entries, and the answers to this viewer's request). Previews are
/// asked for apart: only while they are on screen.
pub fn bus_filters(prefix: &str, viewer: &str) -> Vec<String> {
    vec![
        format!("{prefix}/+/status"),
        format!("{prefix}/+/alarm"),
        format!("{prefix}/{DIRECTORY}/edges/+"),
        format!("{prefix}/{DIRECTORY}/res/{viewer}"),
    ]
}

/// Where a viewer asks every edge for its cameras.
pub fn directory_request(prefix: &str, viewer: &str) -> String {
    format!("{prefix}/{DIRECTORY}/req/{viewer}")
}

/// Sorts a message on the bus; `None` for anything else.
pub fn bus_topic<'a>(prefix: &str, topic: &'a str) -> Option<Bus<'a>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [DIRECTORY, "edges" | "res", _] => Some(Bus::Directory),
        [camera, kind] if !camera.is_empty() && !camera.starts_with('_') => match *kind {
            "preview" => Some(Bus::Preview(camera)),
            "status" => Some(Bus::Status(camera)),
            "alarm" => Some(Bus::Alarm(camera)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stream_is_one_cameras_pictures_without_wildcards() {
        for level in ["frame", "half", "quarter", "preview"] {
            assert!(one_stream("home", &format!("home/door/{level}")));
            assert!(carries_pictures(&format!("home/door/{level}")));
            assert!(!one_stream("home", &format!("home/+/{level}")), "a wildcard is not one stream");
            assert!(!one_stream("home", &format!("home/_dir/{level}")));
            assert!(!one_stream("other", &format!("home/door/{level}")), "another prefix");
        }
        for filter in ["home/door/status", "home/door/frame/x", "home/#", "home/door", "home//frame"] {
            assert!(!one_stream("home", filter), "{filter}");
        }
        assert!(!carries_pictures("home/door/status"));
        assert!(!one_stream("home", &format!("home/{}/frame", "c".repeat(65))));
    }

    #[test]
    fn a_viewers_own_topics_are_the_ones_the_edge_listens_on() {
        assert_eq!(ack_viewer(&ack("home", "door", "v-1"), "home", "door"), Some("v-1"));
        assert_eq!(
            clock_reply_to(&clock_request("home", "door", "v-1"), "home", "door"),
            Some(clock_reply("home", "door", "v-1"))
        );
        assert_eq!(
            directory_reply_to(&directory_request("home", "v-1"), "home").as_deref(),
            Some("home/_dir/res/v-1")
        );
        for own in [
            ack("home", "door", "v-1"),
            clock_request("home", "door", "v-1"),
            directory_request("home", "v-1"),
            watch("home", "door"),
            playback_request("home", "door", "v-1"),
        ] {
            assert!(viewer_may_publish("home", &own), "{own}");
        }
        for filter in bus_filters("home", "v-1").into_iter().chain([
            frame("home", "door"),
            preview("home", "door"),
            detections("home", "door"),
            clock_reply("home", "door", "v-1"),
            playback_reply("home", "door", "v-1"),
            recording_state("home", "door"),
            recording_state("home", "+"),
        ]) {
            assert!(viewer_may_subscribe("home", &filter), "{filter}");
        }
    }

    #[test]
    fn frame_topics_name_their_prefix_and_camera() {
        assert_eq!(split_frame_topic("home/door/frame"), Some(("home", "door")));
        assert_eq!(split_frame_topic("site/a/home/door/frame"), Some(("site/a/home", "door")));
        for other in
            ["door/frame", "home/door/preview", "x/y", "home/_dir/frame", "home/+/frame", "/door/frame"]
        {
            assert_eq!(split_frame_topic(other), None, "{other}");
        }
    }

    #[test]
    fn bus_topics_are_sorted_by_kind() {
        assert_eq!(bus_topic("home", "home/door/preview"), Some(Bus::Preview("door")));
        assert_eq!(bus_topic("home", "home/door/status"), Some(Bus::Status("door")));
        assert_eq!(bus_topic("home", "home/door/alarm"), Some(Bus::Alarm("door")));
        assert_eq!(bus_topic("home", "home/_dir/edges/pi-1"), Some(Bus::Directory));
        assert_eq!(bus_topic("home", "home/_dir/res/v1"), Some(Bus::Directory));
        for other in [
            "home/door/frame",
            "homeX/door/alarm",
            "home/door/clock/res/v1",
            "other/door/alarm",
            "home/_x/alarm",
        ] {
            assert_eq!(bus_topic("home", other), None, "{other}");
        }
    }

    #[test]
    fn viewers_may_subscribe_to_frames_status_and_their_clock_replies() {
        for ok in [
            "mqcam/door/frame",
            "mqcam/+/frame",
            "mqcam/+/status",
            "mqcam/door/clock/res/v1",
            "mqcam/+/alarm",
            "mqcam/door/alarm",
            "mqcam/door/detections",
            "mqcam/+/preview",
            "mqcam/door/half",
            "mqcam/+/half",
            "mqcam/door/quarter",
            "mqcam/+/quarter",
            "mqcam/_dir/edges/+",
            "mqcam/_dir/res/v1",
            "mqcam/+/motion",
            "mqcam/door/motion",
            "mqcam/+/stats",
            "mqcam/door/stats",
        ] {
            assert!(viewer_may_subscribe("mqcam", ok), "{ok}");
        }
        for bad in [
            "#",
            "mqcam/#",
            "mqcam/door/#",
            "mqcam/door/ack/+",
            "mqcam/door/clock/req/+",
            "mqcam/door/clock/res/+",
            "mqcam/+/clock/res/v1",
            "other/door/frame",
            "mqcam/do#r/frame",
            "mqcam/_dir/req/+",
            "mqcam/_dir/res/+",
            "mqcam/_dir/#",
            "mqcam/_dir/frame",
            "mqcam/_dir/half",
            "mqcam/door/half/+",
            "mqcam/door/eighth",
            "mqcam/_dir/motion",
            "mqcam/door/motion/+",
            "mqcam/door/rec/res/+",
            "mqcam/+/rec/res/v1",
            "mqcam/door/rec/req/v1",
            "mqcam/door/rec/#",
            "homeassistant/+/+/+/config",
        ] {
            assert!(!viewer_may_subscribe("mqcam", bad), "{bad}");
        }
    }

    #[test]
    fn viewers_may_publish_only_clock_requests_and_acks() {
        assert!(viewer_may_publish("mqcam", "mqcam/door/clock/req/v1"));
        assert!(viewer_may_publish("mqcam", "mqcam/door/ack/v1"));
        assert!(viewer_may_publish("mqcam", "mqcam/_dir/req/v1"));
        assert!(viewer_may_publish("mqcam", "mqcam/door/watch"));
        for bad in [
            "mqcam/door/alarm",
            "mqcam/_dir/res/v1",
            "mqcam/_dir/edges/e1",
            "mqcam/+/watch",
            "mqcam/_dir/watch",
            "mqcam/_dir/ack/v1",
            "mqcam/door/frame",
            "mqcam/door/half",
            "mqcam/door/quarter",
            "mqcam/door/status",
            "mqcam/door/clock/res/v1",
            "mqcam/door/rec/res/v1",
            "mqcam/door/rec/req/+",
            "mqcam/door/rec/set",
            "mqcam/door/rec/state",
            "mqcam/_dir/rec/req/v1",
            "mqcam/door/ack/",
            "mqcam/door/ack/v1/x",
            "mqcam//ack/v1",
            "mqcamx/door/ack/v1",
            "other/door/ack/v1",
            "mqcam",
        ] {
            assert!(!viewer_may_publish("mqcam", bad), "{bad}");
        }
    }

    #[test]
    fn clock_requests_map_to_the_viewers_reply_topic() {
        assert_eq!(clock_requests("mqcam", "door"), "mqcam/door/clock/req/+");
        assert_eq!(
            clock_reply_to("mqcam/door/clock/req/v-1234", "mqcam", "door").as_deref(),
            Some("mqcam/door/clock/res/v-1234")
        );
        assert_eq!(clock_reply_to("mqcam/door/clock/req/", "mqcam", "door"), None);
        assert_eq!(clock_reply_to("mqcam/door/frame", "mqcam", "door"), None);
        assert_eq!(clock_reply_to("mqcam/other/clock/req/v", "mqcam", "door"), None);
    }

    #[test]
    fn directory_requests_map_to_the_viewers_reply_topic() {
        assert_eq!(directory_requests("home"), "home/_dir/req/+");
        assert_eq!(directory_reply_to("home/_dir/req/v-9", "home").as_deref(), Some("home/_dir/res/v-9"));
        assert_eq!(directory_reply_to("home/_dir/req/", "home"), None);
        assert_eq!(directory_reply_to("home/door/clock/req/v", "home"), None);
        assert_eq!(directory_reply_to("homes/_dir/req/v", "home"), None);
    }

    #[test]
    fn each_rendition_has_its_topic_level() {
        assert_eq!(rendition("home", "door", Rendition::Full), frame("home", "door"));
        assert_eq!(rendition("home", "door", Rendition::Half), "home/door/half");
        assert_eq!(rendition("home", "door", Rendition::Quarter), "home/door/quarter");
    }

    #[test]
    fn ack_topics_name_the_viewer() {
        assert_eq!(acks("mqcam", "door"), "mqcam/door/ack/+");
        assert_eq!(ack_viewer("mqcam/door/ack/v-1", "mqcam", "door"), Some("v-1"));
        assert_eq!(ack_viewer("mqcam/door/ack/", "mqcam", "door"), None);
        assert_eq!(ack_viewer("mqcam/doorbell/ack/v", "mqcam", "door"), None);
    }
}
