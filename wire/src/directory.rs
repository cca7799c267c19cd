//! The camera directory: every camera of one edge, as JSON (UTF-8), retained on
//! `<prefix>/_dir/edges/<edge>` and sent in answer to a viewer's request (see
//! [`crate::topic::directory_entry`] and [`crate::topic::directory_reply_to`]):
//!
//! ```json
//! {"edge":"pi-kitchen-812","at_us":1764460000123456,"cameras":[{"name":"door",
//!  "frame":"home/door/frame","preview":{"topic":"home/door/preview","max_width":320,"fps":2},
//!  "status":"home/door/status","alarm":"home/door/alarm","width":1280,"height":720,"fps":15,
//!  "state":"online","detail":"MJPEG 1280x720 …",
//!  "renditions":[{"name":"full","topic":"home/door/frame","width":1280,"height":720,"fps":15,"frame_bytes":81234},
//!                {"name":"half","topic":"home/door/half","width":640,"height":360,"fps":15,"frame_bytes":24012}]}]}
//! ```
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `edge` | string | the edge's name on the bus (one topic level) |
//! | `at_us` | integer | when the list was made (µs since the UNIX epoch, edge clock) |
//! | `cameras[].name` | string | the camera's topic level |
//! | `cameras[].frame`, `status`, `alarm` | string | its topics |
//! | `cameras[].preview` | object or `null` | the grid tile's topic, widest width and rate |
//! | `cameras[].width`, `height`, `fps` | integer | the configured picture |
//! | `cameras[].state`, `detail` | string | as on its status topic (`crate::status`) |
//! | `cameras[].recording` | string | absent: not recorded; `continuous` or `events`: what the edge keeps, played back over `crate::playback` |
//! | `cameras[].renditions[]` | object | each rendition it publishes, largest first: `name` (`full`, `half`, `quarter`), `topic`, the size of its last frame (the configured size, scaled, before the first), `fps`, and `frame_bytes`, the mean payload of its last frames (0: none yet) |
//!
//! Readers ignore fields they do not know; an empty payload (the entry cleared) means the
//! edge is gone.

use alloc::{string::String, vec::Vec};

use crate::status::State;

/// One edge's cameras.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Entry {
    pub edge: String,
    #[cfg_attr(feature = "serde", serde(default))]
    pub at_us: u64,
    #[cfg_attr(feature = "serde", serde(default))]
    pub cameras: Vec<Camera>,
}

/// One camera in an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Camera {
    pub name: String,
    /// The full stream's topic.
    pub frame: String,
    /// The grid tile's stream, if the camera has one.
    #[cfg_attr(feature = "serde", serde(default))]
    pub preview: Option<Preview>,
    pub status: String,
    pub alarm: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// A state this reader does not know reads as offline, as on the status topic.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "lenient_state"))]
    pub state: State,
    #[cfg_attr(feature = "serde", serde(default))]
    pub detail: String,
    /// Largest first.
    #[cfg_attr(feature = "serde", serde(default))]
    pub renditions: Vec<Rendition>,
    /// What the edge keeps of it: `continuous`, `events`, or empty (nothing: no
    /// playback). Its recordings are asked for on `<prefix>/<camera>/rec/req/<viewer>`
    /// (`crate::playback`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "String::is_empty"))]
    pub recording: String,
}

/// A camera's preview stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Preview {
    pub topic: String,
    pub max_width: u32,
    pub fps: u32,
}

/// One rendition of a [`Camera`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rendition {
    /// `full`, `half` or `quarter` ([`crate::ack::Rendition::name`]); a name this reader
    /// does not know is a rendition it cannot ask for.
    pub name: String,
    pub topic: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The mean payload of its last frames; 0 when none went out yet.
    #[cfg_attr(feature = "serde", serde(default))]
    pub frame_bytes: u64,
}

/// A camera's state by name; one this reader does not know is [`State::Offline`].
#[cfg(feature = "serde")]
fn lenient_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<State, D::Error> {
    let name: String = serde::Deserialize::deserialize(d)?;
    Ok(State::from_name(&name))
}

impl Rendition {
    /// The rendition this names, if this reader knows it.
    pub fn rendition(&self) -> Option<crate::ack::Rendition> {
        crate::ack::Rendition::from_name(&self.name)
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    fn door() -> Camera {
        Camera {
            name: "door".into(),
            frame: "home/door/frame".into(),
            preview: Some(Preview { topic: "home/door/preview".into(), max_width: 320, fps: 2 }),
            status: "home/door/status".into(),
            alarm: "home/door/alarm".into(),
            width: 1280,
            height: 720,
            fps: 15,
            state: State::Online,
            detail: "MJPEG \"cam\"".into(),
            renditions: vec![Rendition {
                name: "half".into(),
                topic: "home/door/half".into(),
                width: 640,
                height: 360,
                fps: 15,
                frame_bytes: 24012,
            }],
            recording: "events".into(),
        }
    }

    #[test]
    fn an_entry_round_trips_through_json_in_field_order() {
        let entry = Entry { edge: "pi-1".into(), at_us: 42, cameras: vec![door()] };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"edge":"pi-1","at_us":42,"cameras":[{"name":"door","frame":"home/door/frame","preview":{"topic":"home/door/preview","max_width":320,"fps":2},"status":"home/door/status","alarm":"home/door/alarm","width":1280,"height":720,"fps":15,"state":"online","detail":"MJPEG \"cam\"","renditions":[{"name":"half","topic":"home/door/half","width":640,"height":360,"fps":15,"frame_bytes":24012}],"recording":"events"}]}"#
        );
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), entry);
    }

    #[test]
    fn a_camera_without_a_preview_says_null_and_unknown_fields_are_skipped() {
        let mut yard = door();
        yard.preview = None;
        let json = serde_json::to_string(&yard).unwrap();
        assert!(json.contains(r#""preview":null"#), "{json}");
        let newer = json.replacen('{', r#"{"zoom":2,"#, 1);
        assert_eq!(serde_json::from_str::<Camera>(&newer).unwrap(), yard);
        let asleep = json.replace(r#""state":"online""#, r#""state":"asleep""#);
        assert_eq!(serde_json::from_str::<Camera>(&asleep).unwrap().state, State::Offline);
    }

    #[test]
    fn a_rendition_names_what_a_viewer_asks_for() {
        assert_eq!(door().renditions[0].rendition(), Some(crate::ack::Rendition::Half));
        let odd = Rendition { name: "eighth".into(), ..door().renditions[0].clone() };
        assert_eq!(odd.rendition(), None);
    }
}
