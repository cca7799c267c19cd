//! Playback of recorded frames over the bus: what a viewer asks the edge that records a
//! camera, and what comes back. Over the bus rather than the edge's web port so that it
//! goes wherever the live view goes (a page hosted elsewhere, an external broker, a
//! cluster) and through the same logins and permissions.
//!
//! A viewer publishes **requests** on `<prefix>/<camera>/rec/req/<viewer>` and reads the
//! **replies** on `<prefix>/<camera>/rec/res/<viewer>` (QoS 0, never retained). Both are
//! small binary messages, little-endian. Every request carries an id the viewer chooses;
//! replies carry it back, and a request with a newer id supersedes anything still under
//! way for that viewer (a scrub that moved on, a play that was stopped), so the newest
//! request wins as the newest frame does live.
//!
//! Request (16 bytes, then the operation's fields):
//!
//! | offset | size | field | meaning |
//! |-------:|-----:|-------|---------|
//! | 0 | 4 | magic | `MQPQ` |
//! | 4 | 1 | version | `1` |
//! | 5 | 1 | op | [`Request`]'s kind |
//! | 6 | 2 | reserved | 0 |
//! | 8 | 4 | id | the viewer's request number (u32) |
//! | 12 | 4 | reserved | 0 |
//!
//! Reply (16 bytes, then the body):
//!
//! | offset | size | field | meaning |
//! |-------:|-----:|-------|---------|
//! | 0 | 4 | magic | `MQPA` |
//! | 4 | 1 | version | `1` |
//! | 5 | 1 | kind | 1 timeline, 2 frame, 3 end, 4 error, 5 done |
//! | 6 | 1 | track | the frame's [`Track`] (frames only) |
//! | 7 | 1 | reserved | 0 |
//! | 8 | 4 | id | the request's id |
//! | 12 | 4 | n | frames sent for this request before this one (u32) |
//! | 16 | … | body | a frame: the stored payload (a stamped JPEG, see the crate) |
//!
//! Played frames are paced by the viewer: it acknowledges each frame it drew
//! ([`Request::Ack`] with the frame's `n`), and the edge sends at most [`PLAY_WINDOW`]
//! frames ahead of the last acknowledged one, so a slow phone or link gets fewer frames,
//! never a queue.

use alloc::{string::String, vec::Vec};

/// First bytes of a request.
pub const REQUEST_MAGIC: [u8; 4] = *b"MQPQ";
/// First bytes of a reply.
pub const REPLY_MAGIC: [u8; 4] = *b"MQPA";
/// The version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Bytes before a reply's body.
pub const REPLY_HEADER: usize = 16;
/// Frames a play sends beyond the last one the viewer acknowledged.
pub const PLAY_WINDOW: u32 = 3;
/// Slowest and fastest play, in thousandths of real time (0.25× to 64×).
pub const SPEED_RANGE: (i32, i32) = (250, 64_000);
/// Most spans and events in one timeline reply (the edge merges the shortest gaps).
pub const MAX_SPANS: usize = 2048;
/// Most events in one timeline reply (the newest are kept).
pub const MAX_EVENTS: usize = 1000;

/// Which recording a frame comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The camera's full-size frames, kept around events (or always).
    Full = 0,
    /// The small frames kept all the time (the preview's size and rate).
    Preview = 1,
    /// Whichever has a frame nearest the time asked: full where an event was kept,
    /// else the preview. For a frame request, the preview frame comes first (it is
    /// small: on screen at once) and then the full one, when there is one.
    Best = 2,
}

impl Track {
    pub fn from_u8(b: u8) -> Option<Track> {
        match b {
            0 => Some(Track::Full),
            1 => Some(Track::Preview),
            2 => Some(Track::Best),
            _ => None,
        }
    }
}

/// Which frame a [`Request::Frame`] wants, relative to its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// The last frame at or before the time (what was on screen then).
    AtOrBefore = 0,
    /// The first frame after the time (a step forward).
    After = 1,
    /// The last frame before the time (a step back).
    Before = 2,
}

/// What an event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Motion = 1,
    Alarm = 2,
    /// "Record now" from a page.
    Manual = 3,
}

impl EventKind {
    pub fn from_u8(b: u8) -> Option<EventKind> {
        match b {
            1 => Some(EventKind::Motion),
            2 => Some(EventKind::Alarm),
            3 => Some(EventKind::Manual),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Motion => "motion",
            EventKind::Alarm => "alarm",
            EventKind::Manual => "manual",
        }
    }
}

/// What a viewer asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// What is recorded between two times: spans and events ([`Timeline`]).
    Timeline { from_us: u64, to_us: u64 },
    /// One frame near a time (scrubbing, a frame step).
    Frame { at_us: u64, track: Track, seek: Seek },
    /// Frames from a time on (or back, with a negative speed) at `speed_milli`
    /// thousandths of real time, paced by [`Request::Ack`]; ends with an end reply.
    Play { from_us: u64, track: Track, speed_milli: i32 },
    /// Stop what this viewer's last request started.
    Stop,
    /// The viewer drew frame `n` of request `id` (play's pacing).
    Ack { n: u32 },
    /// Keep the full-size frames from now for `seconds` (with the camera's pre-roll).
    Mark { seconds: u32 },
}

impl Request {
    fn op(&self) -> u8 {
        match self {
            Request::Timeline { .. } => 1,
            Request::Frame { .. } => 2,
            Request::Play { .. } => 3,
            Request::Stop => 4,
            Request::Ack { .. } => 5,
            Request::Mark { .. } => 6,
        }
    }

    /// The request's bytes, with the viewer's request number `id`.
    pub fn encode(&self, id: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&REQUEST_MAGIC);
        out.extend_from_slice(&[VERSION, self.op(), 0, 0]);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        match *self {
            Request::Timeline { from_us, to_us } => {
                out.extend_from_slice(&from_us.to_le_bytes());
                out.extend_from_slice(&to_us.to_le_bytes());
            }
            Request::Frame { at_us, track, seek } => {
                out.extend_from_slice(&at_us.to_le_bytes());
                out.extend_from_slice(&[track as u8, seek as u8, 0, 0]);
            }
            Request::Play { from_us, track, speed_milli } => {
                out.extend_from_slice(&from_us.to_le_bytes());
                out.extend_from_slice(&[track as u8, 0, 0, 0]);
                out.extend_from_slice(&speed_milli.to_le_bytes());
            }
            Request::Stop => {}
            Request::Ack { n } => out.extend_from_slice(&n.to_le_bytes()),
            Request::Mark { seconds } => out.extend_from_slice(&seconds.to_le_bytes()),
        }
        out
    }

    /// A request and its id, or why the bytes are not one (for the edge's log).
    pub fn parse(bytes: &[u8]) -> Result<(u32, Request), &'static str> {
        if bytes.len() < 16 || bytes[..4] != REQUEST_MAGIC {
            return Err("not a playback request");
        }
        if bytes[4] != VERSION {
            return Err("unknown playback request version");
        }
        let id = u32_at(bytes, 8).ok_or("short request")?;
        let body = &bytes[16..];
        let short = "playback request too short for its operation";
        let request = match bytes[5] {
            1 => Request::Timeline {
                from_us: u64_at(body, 0).ok_or(short)?,
                to_us: u64_at(body, 8).ok_or(short)?,
            },
            2 => Request::Frame {
                at_us: u64_at(body, 0).ok_or(short)?,
                track: Track::from_u8(*body.get(8).ok_or(short)?).ok_or("unknown track")?,
                seek: match body.get(9).ok_or(short)? {
                    0 => Seek::AtOrBefore,
                    1 => Seek::After,
                    2 => Seek::Before,
                    _ => return Err("unknown seek"),
                },
            },
            3 => {
                let speed_milli = i32_at(body, 12).ok_or(short)?;
                let (slow, fast) = SPEED_RANGE;
                let speed = speed_milli.unsigned_abs();
                if speed < slow.unsigned_abs() || speed > fast.unsigned_abs() {
                    return Err("play speed outside 0.25x to 64x");
                }
                Request::Play {
                    from_us: u64_at(body, 0).ok_or(short)?,
                    track: Track::from_u8(*body.get(8).ok_or(short)?).ok_or("unknown track")?,
                    speed_milli,
                }
            }
            4 => Request::Stop,
            5 => Request::Ack { n: u32_at(body, 0).ok_or(short)? },
            6 => Request::Mark { seconds: u32_at(body, 0).ok_or(short)? },
            _ => return Err("unknown playback operation"),
        };
        Ok((id, request))
    }
}

/// A recorded stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_us: u64,
    pub end_us: u64,
    pub kind: SpanKind,
}

/// What a stretch of the timeline holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Frames of this track were kept.
    Recorded(Track),
    /// The camera was offline (nothing could be kept).
    Offline,
    /// Kept once, deleted since (retention).
    Deleted,
}

impl SpanKind {
    fn code(self) -> u8 {
        match self {
            SpanKind::Recorded(t) => t as u8,
            SpanKind::Offline => 10,
            SpanKind::Deleted => 11,
        }
    }

    fn from_code(b: u8) -> Option<SpanKind> {
        match b {
            10 => Some(SpanKind::Offline),
            11 => Some(SpanKind::Deleted),
            b => Track::from_u8(b).filter(|t| *t != Track::Best).map(SpanKind::Recorded),
        }
    }
}

/// Something that happened, and made the full-size frames be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub start_us: u64,
    /// When it ended; 0 while it goes on.
    pub end_us: u64,
    pub kind: EventKind,
    /// Why (an alarm's reason), at most 255 bytes.
    pub reason: String,
    /// Who raised it (an alarm's source, the page), at most 255 bytes.
    pub source: String,
}

/// What is recorded between two times.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    pub from_us: u64,
    pub to_us: u64,
    /// The camera's clock now (µs), so the viewer can place "now".
    pub now_us: u64,
    /// In time order, at most [`MAX_SPANS`].
    pub spans: Vec<Span>,
    /// In time order, at most [`MAX_EVENTS`].
    pub events: Vec<Event>,
}

/// What the edge sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    Timeline(Timeline),
    /// A recorded frame: the stamped JPEG as it was published.
    Frame {
        track: Track,
        payload: &'a [u8],
    },
    /// A play reached the end (or the start, backwards) of what is kept, or a frame
    /// request found nothing in that direction.
    End,
    /// The request could not be served; the text says why.
    Error(String),
    /// A request without frames to send (stop, mark) was done.
    Done,
}

/// Writes a reply's header (`n`: frames sent for the request before this one); a frame's
/// payload goes after it (see [`frame_reply`], which copies it).
pub fn reply_header(kind: u8, track: u8, id: u32, n: u32) -> [u8; REPLY_HEADER] {
    let mut h = [0u8; REPLY_HEADER];
    h[..4].copy_from_slice(&REPLY_MAGIC);
    h[4] = VERSION;
    h[5] = kind;
    h[6] = track;
    h[8..12].copy_from_slice(&id.to_le_bytes());
    h[12..16].copy_from_slice(&n.to_le_bytes());
    h
}

/// A frame reply: header then the stored payload.
pub fn frame_reply(id: u32, n: u32, track: Track, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(REPLY_HEADER + payload.len());
    out.extend_from_slice(&reply_header(2, track as u8, id, n));
    out.extend_from_slice(payload);
    out
}

impl Reply<'_> {
    /// The reply's bytes, for request `id` after `n` frames.
    pub fn encode(&self, id: u32, n: u32) -> Vec<u8> {
        match self {
            Reply::Frame { track, payload } => frame_reply(id, n, *track, payload),
            Reply::End => reply_header(3, 0, id, n).to_vec(),
            Reply::Done => reply_header(5, 0, id, n).to_vec(),
            Reply::Error(text) => {
                let mut out = reply_header(4, 0, id, n).to_vec();
                out.extend_from_slice(text.as_bytes());
                out
            }
            Reply::Timeline(t) => {
                let mut out = reply_header(1, 0, id, n).to_vec();
                for v in [t.from_us, t.to_us, t.now_us] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                let spans = &t.spans[..t.spans.len().min(MAX_SPANS)];
                let events = &t.events[t.events.len().saturating_sub(MAX_EVENTS)..];
                out.extend_from_slice(&(spans.len() as u32).to_le_bytes());
                out.extend_from_slice(&(events.len() as u32).to_le_bytes());
                for s in spans {
                    out.extend_from_slice(&s.start_us.to_le_bytes());
                    out.extend_from_slice(&s.end_us.to_le_bytes());
                    out.push(s.kind.code());
                }
                for e in events {
                    out.extend_from_slice(&e.start_us.to_le_bytes());
                    out.extend_from_slice(&e.end_us.to_le_bytes());
                    out.push(e.kind as u8);
                    for text in [&e.reason, &e.source] {
                        let b = clip(text.as_bytes(), 255);
                        out.push(b.len() as u8);
                        out.extend_from_slice(b);
                    }
                }
                out
            }
        }
    }
}

/// A reply read: (request id, frames sent before it, the reply), or `None` if the bytes
/// are not one.
pub fn parse_reply(bytes: &[u8]) -> Option<(u32, u32, Reply<'_>)> {
    if bytes.len() < REPLY_HEADER || bytes[..4] != REPLY_MAGIC || bytes[4] != VERSION {
        return None;
    }
    let (id, n) = (u32_at(bytes, 8)?, u32_at(bytes, 12)?);
    let body = &bytes[REPLY_HEADER..];
    let reply = match bytes[5] {
        1 => Reply::Timeline(parse_timeline(body)?),
        2 => Reply::Frame { track: Track::from_u8(bytes[6])?, payload: body },
        3 => Reply::End,
        4 => Reply::Error(String::from_utf8_lossy(body).into_owned()),
        5 => Reply::Done,
        _ => return None,
    };
    Some((id, n, reply))
}

fn parse_timeline(b: &[u8]) -> Option<Timeline> {
    let mut t = Timeline {
        from_us: u64_at(b, 0)?,
        to_us: u64_at(b, 8)?,
        now_us: u64_at(b, 16)?,
        ..Timeline::default()
    };
    let (spans, events) = (u32_at(b, 24)? as usize, u32_at(b, 28)? as usize);
    if spans > MAX_SPANS || events > MAX_EVENTS {
        return None;
    }
    let mut at = 32;
    for _ in 0..spans {
        let kind = SpanKind::from_code(*b.get(at + 16)?)?;
        t.spans.push(Span { start_us: u64_at(b, at)?, end_us: u64_at(b, at + 8)?, kind });
        at += 17;
    }
    for _ in 0..events {
        let (start_us, end_us) = (u64_at(b, at)?, u64_at(b, at + 8)?);
        let kind = EventKind::from_u8(*b.get(at + 16)?)?;
        at += 17;
        let mut text = || {
            let len = *b.get(at)? as usize;
            let s = String::from_utf8_lossy(b.get(at + 1..at + 1 + len)?).into_owned();
            at += 1 + len;
            Some(s)
        };
        let (reason, source) = (text()?, text()?);
        t.events.push(Event { start_us, end_us, kind, reason, source });
    }
    Some(t)
}

/// At most `max` bytes of `b`, cut on a UTF-8 character boundary.
fn clip(b: &[u8], max: usize) -> &[u8] {
    if b.len() <= max {
        return b;
    }
    let mut end = max;
    while end > 0 && (b[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &b[..end]
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{string::ToString, vec};

    #[test]
    fn every_request_reads_back_as_written() {
        for r in [
            Request::Timeline { from_us: 1, to_us: u64::MAX },
            Request::Frame { at_us: 1_700_000_000_000_000, track: Track::Best, seek: Seek::Before },
            Request::Play { from_us: 5, track: Track::Full, speed_milli: -64_000 },
            Request::Play { from_us: 5, track: Track::Preview, speed_milli: 250 },
            Request::Stop,
            Request::Ack { n: 77 },
            Request::Mark { seconds: 30 },
        ] {
            assert_eq!(Request::parse(&r.encode(9)), Ok((9, r.clone())), "{r:?}");
        }
    }

    #[test]
    fn bad_requests_say_why_and_never_panic() {
        assert_eq!(Request::parse(b"hello"), Err("not a playback request"));
        let play = Request::Play { from_us: 5, track: Track::Full, speed_milli: 100 }.encode(1);
        assert_eq!(Request::parse(&play), Err("play speed outside 0.25x to 64x"));
        let play = Request::Play { from_us: 5, track: Track::Full, speed_milli: i32::MIN }.encode(1);
        assert!(Request::parse(&play).is_err());
        let mut frame = Request::Frame { at_us: 1, track: Track::Full, seek: Seek::After }.encode(1);
        frame[24] = 9;
        assert_eq!(Request::parse(&frame), Err("unknown track"));
        let full = Request::Timeline { from_us: 1, to_us: 2 }.encode(3);
        for len in 0..full.len() {
            assert!(Request::parse(&full[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn replies_read_back_and_a_timeline_keeps_its_spans_and_events() {
        let t = Timeline {
            from_us: 10,
            to_us: 90,
            now_us: 95,
            spans: vec![
                Span { start_us: 10, end_us: 20, kind: SpanKind::Recorded(Track::Preview) },
                Span { start_us: 12, end_us: 15, kind: SpanKind::Recorded(Track::Full) },
                Span { start_us: 20, end_us: 30, kind: SpanKind::Offline },
                Span { start_us: 0, end_us: 10, kind: SpanKind::Deleted },
            ],
            events: vec![Event {
                start_us: 12,
                end_us: 0,
                kind: EventKind::Alarm,
                reason: "door opened".to_string(),
                source: "zigbee".to_string(),
            }],
        };
        let bytes = Reply::Timeline(t.clone()).encode(4, 0);
        assert_eq!(parse_reply(&bytes), Some((4, 0, Reply::Timeline(t))));
        for len in REPLY_HEADER..bytes.len() {
            assert!(parse_reply(&bytes[..len]).is_none(), "{len}");
        }
        let frame = frame_reply(8, 3, Track::Full, b"\xFF\xD8jpeg");
        assert_eq!(
            parse_reply(&frame),
            Some((8, 3, Reply::Frame { track: Track::Full, payload: b"\xFF\xD8jpeg" }))
        );
        assert_eq!(parse_reply(&Reply::End.encode(1, 2)), Some((1, 2, Reply::End)));
        assert_eq!(parse_reply(&Reply::Done.encode(1, 0)), Some((1, 0, Reply::Done)));
        let e = Reply::Error("no recording".to_string()).encode(2, 0);
        assert_eq!(parse_reply(&e), Some((2, 0, Reply::Error("no recording".to_string()))));
        assert!(parse_reply(b"MQPQ\x01").is_none());
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(200);
        let t = Timeline {
            events: vec![Event {
                start_us: 1,
                end_us: 2,
                kind: EventKind::Motion,
                reason,
                source: String::new(),
            }],
            ..Timeline::default()
        };
        let Some((_, _, Reply::Timeline(back))) = parse_reply(&Reply::Timeline(t).encode(1, 0)) else {
            panic!()
        };
        assert_eq!(back.events[0].reason, "é".repeat(127));
    }
}
