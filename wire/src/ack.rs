//! Renditions, and the acknowledgement a viewer sends for each frame it draws.
//!
//! A camera is published in up to three **renditions**, each on its own topic below the
//! camera, each in the frame wire format of this crate, each made only while someone
//! watches it:
//!
//! | rendition | topic level | picture | id |
//! |---|---|---|---|
//! | [`Rendition::Full`]    | `frame`   | the camera's size           | 0 |
//! | [`Rendition::Half`]    | `half`    | half its width and height   | 1 |
//! | [`Rendition::Quarter`] | `quarter` | a quarter of each           | 2 |
//!
//! (The grid's `preview` is not a rendition: a few pictures a second for tiles.)
//!
//! # Acknowledgement (`<prefix>/<camera>/ack/<viewer>`)
//!
//! | offset | size | field | meaning |
//! |---:|---:|---|---|
//! | 0 | 8 | sequence | the frame drawn (u64 LE) |
//! | 8 | 1 | window | frames the viewer wants on their way (0: the edge's default); optional |
//! | 9 | 1 | rendition | the rendition's id; optional, 0 (full) when absent |
//!
//! An empty payload says the viewer left (its MQTT last will carries one). The sequence
//! `u64::MAX` says it left that one rendition (it moved to another; [`Ack::leaving`]):
//! while it moves it draws both, acknowledging each, so neither waits for it to go quiet.
//! The sequence 0 is a **hello** ([`Ack::hello`]), sent just before subscribing to a
//! rendition: "nothing of it is on its way to me yet; from the next frame, keep this
//! window". The edge counts from its newest frame of that rendition (for the retained
//! full stream, that newest frame is on its way: the broker delivers it on subscribing).
//! The edge keeps flow control per rendition, so a viewer on a slow link, on a small
//! rendition, never holds back the full stream of the others.

/// One of a camera's streams, by picture size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rendition {
    Full,
    Half,
    Quarter,
}

impl Rendition {
    /// Largest first.
    pub const ALL: [Rendition; 3] = [Rendition::Full, Rendition::Half, Rendition::Quarter];

    /// The topic level below the camera: `<prefix>/<camera>/<level>`.
    pub fn level(self) -> &'static str {
        match self {
            Rendition::Full => "frame",
            Rendition::Half => "half",
            Rendition::Quarter => "quarter",
        }
    }

    /// Its name for people and JSON: `full`, `half`, `quarter`.
    pub fn name(self) -> &'static str {
        match self {
            Rendition::Full => "full",
            Rendition::Half => "half",
            Rendition::Quarter => "quarter",
        }
    }

    /// The byte that names it in an acknowledgement.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Width and height are the camera's divided by this.
    pub fn divisor(self) -> u32 {
        1 << self.id()
    }

    pub fn from_id(id: u8) -> Option<Rendition> {
        Rendition::ALL.get(usize::from(id)).copied()
    }

    pub fn from_level(level: &str) -> Option<Rendition> {
        Rendition::ALL.into_iter().find(|r| r.level() == level)
    }

    pub fn from_name(name: &str) -> Option<Rendition> {
        Rendition::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The next smaller one, if any.
    pub fn smaller(self) -> Option<Rendition> {
        Rendition::from_id(self.id() + 1)
    }

    /// The next larger one, if any.
    pub fn larger(self) -> Option<Rendition> {
        self.id().checked_sub(1).and_then(Rendition::from_id)
    }
}

/// An acknowledgement, as read from its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub sequence: u64,
    /// The window asked for; `None`: the edge's default.
    pub window: Option<u8>,
    pub rendition: Rendition,
}

/// Bytes of an acknowledgement as this crate writes it.
pub const ACK_LEN: usize = 10;

impl Ack {
    /// "No more of `rendition` for me": sent when a viewer moves to another one.
    pub fn leaving(rendition: Rendition) -> Ack {
        Ack { sequence: u64::MAX, window: None, rendition }
    }

    pub fn is_leave(&self) -> bool {
        self.sequence == u64::MAX
    }

    /// "About to subscribe to `rendition`; this many frames on their way, please."
    pub fn hello(rendition: Rendition, window: u8) -> Ack {
        Ack { sequence: 0, window: Some(window), rendition }
    }

    pub fn is_hello(&self) -> bool {
        self.sequence == 0
    }

    pub fn encode(&self) -> [u8; ACK_LEN] {
        let mut out = [0u8; ACK_LEN];
        out[..8].copy_from_slice(&self.sequence.to_le_bytes());
        out[8] = self.window.unwrap_or(0);
        out[9] = self.rendition.id();
        out
    }

    /// Reads 8, 9 or 10 bytes; `None` for anything else (an empty payload, a leave, is
    /// the caller's to handle), or an unknown rendition.
    pub fn parse(payload: &[u8]) -> Option<Ack> {
        let sequence = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
        if payload.len() > ACK_LEN {
            return None;
        }
        let window = payload.get(8).copied().filter(|&w| w > 0);
        let rendition = match payload.get(9) {
            Some(&id) => Rendition::from_id(id)?,
            None => Rendition::Full,
        };
        Some(Ack { sequence, window, rendition })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_round_trip_and_older_forms_still_read() {
        for r in Rendition::ALL {
            let ack = Ack { sequence: 0x0102_0304_0506_0708, window: Some(3), rendition: r };
            assert_eq!(Ack::parse(&ack.encode()), Some(ack));
        }
        let seq = 42u64.to_le_bytes();
        assert_eq!(Ack::parse(&seq), Some(Ack { sequence: 42, window: None, rendition: Rendition::Full }));
        let mut nine = seq.to_vec();
        nine.push(0);
        assert_eq!(Ack::parse(&nine).unwrap().window, None, "0 asks for the edge's default");
        nine[8] = 2;
        assert_eq!(Ack::parse(&nine).unwrap().window, Some(2));
        let leave = Ack::parse(&Ack::leaving(Rendition::Full).encode()).unwrap();
        assert!(leave.is_leave() && leave.rendition == Rendition::Full);
        let hello = Ack::parse(&Ack::hello(Rendition::Half, 3).encode()).unwrap();
        assert!(hello.is_hello() && !hello.is_leave() && hello.window == Some(3));
    }

    #[test]
    fn malformed_acknowledgements_are_refused() {
        assert_eq!(Ack::parse(b""), None);
        assert_eq!(Ack::parse(&[1, 2, 3]), None);
        assert_eq!(Ack::parse(&[0; 11]), None);
        let mut bad = [0u8; 10];
        bad[9] = 7;
        assert_eq!(Ack::parse(&bad), None, "an unknown rendition");
    }

    #[test]
    fn renditions_name_their_topics_and_neighbours() {
        assert_eq!(Rendition::from_level("half"), Some(Rendition::Half));
        assert_eq!(Rendition::from_level("preview"), None);
        assert_eq!(Rendition::from_name("full").map(Rendition::level), Some("frame"));
        assert_eq!(Rendition::Full.smaller(), Some(Rendition::Half));
        assert_eq!(Rendition::Quarter.smaller(), None);
        assert_eq!(Rendition::Full.larger(), None);
        assert_eq!(Rendition::Quarter.larger(), Some(Rendition::Half));
        assert_eq!(Rendition::Quarter.divisor(), 4);
    }
}
