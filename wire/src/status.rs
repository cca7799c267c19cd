//! A camera's status: `<prefix>/<camera>/status`, retained, QoS 1, JSON (UTF-8):
//!
//! ```json
//! {"state": "online", "detail": "MJPEG 1280x720 from http://door.lan/video", "at_us": 1764460000123456}
//! ```
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `state` | string | `starting`, `online` or `offline` (the edge's last will says `offline`) |
//! | `detail` | string | for people: what the camera is, or why it is offline |
//! | `at_us` | integer | when the state was set (µs since the UNIX epoch, edge clock) |
//!
//! Readers ignore fields they do not know; a state they do not know reads as offline.

use alloc::string::String;

/// The camera's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum State {
    /// Opening the camera: no frame yet.
    Starting,
    /// Frames flow.
    Online,
    /// No frames: the camera failed or the edge stopped.
    Offline,
}

impl State {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Online => "online",
            State::Offline => "offline",
        }
    }

    /// The state a name says; anything else is offline (a newer edge's state this
    /// reader does not know still means "no picture from here").
    pub fn from_name(name: &str) -> State {
        match name {
            "starting" => State::Starting,
            "online" => State::Online,
            _ => State::Offline,
        }
    }
}

/// One status message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Status {
    pub state: State,
    #[cfg_attr(feature = "serde", serde(default))]
    pub detail: String,
    #[cfg_attr(feature = "serde", serde(default))]
    pub at_us: u64,
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn a_status_round_trips_through_json() {
        let s = Status { state: State::Online, detail: "MJPEG \"cam\"".into(), at_us: 42 };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"state":"online","detail":"MJPEG \"cam\"","at_us":42}"#);
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), s);
    }

    #[test]
    fn names_match_the_json() {
        for s in [State::Starting, State::Online, State::Offline] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
            assert_eq!(State::from_name(s.name()), s);
        }
        assert_eq!(State::from_name("sleeping"), State::Offline);
    }
}
