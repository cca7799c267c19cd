//! Playing one camera's recordings, without I/O: which requests go to the edge that
//! records it (`wire::playback`), which of its replies are still wanted, and where the
//! playback is. The engine sends what [`Player::take_requests`] gives, feeds every
//! reply to [`Player::reply`] and tells it which recorded frames were drawn.
//!
//! Newest wins, as it does live:
//! - **Scrubbing** keeps at most [`MAX_OUTSTANDING`] frame requests on their way. A
//!   position asked while they are waits (only the newest) and goes as soon as one is
//!   answered, so a moving finger is followed by the freshest position the link allows
//!   rather than by a queue of old ones.
//! - Replies come back with their request's id; the edge stops a request when a newer
//!   one arrives, and a reply to a request older than the picture on screen is dropped.
//! - **Play** is paced by the viewer: every recorded frame drawn is acknowledged with its
//!   `n`, and the edge sends at most [`wire::playback::PLAY_WINDOW`] beyond that, so a slow phone or link
//!   sees fewer frames, never a backlog. A play that went quiet (its last frames lost on
//!   the way: QoS 0) is asked again from where it stands.

use std::collections::VecDeque;

use wire::playback::{Event, Reply, Request, Seek, Timeline, Track, SPEED_RANGE};

use crate::picture::stats::percentile;

/// Frame requests on their way at once while scrubbing: one answered while the next
/// travels, without a queue.
pub const MAX_OUTSTANDING: usize = 2;
/// A request unanswered for this long is taken as lost (QoS 0, an edge restarting).
const LOST_MS: f64 = 2000.0;
/// A play that sent nothing for this long is asked again from where it stands.
const QUIET_MS: f64 = 2500.0;
/// How often the timeline is asked again while it is looked at (new footage, events).
const TIMELINE_EVERY_MS: f64 = 10_000.0;
/// The timeline covers the last day.
pub const DAY_US: u64 = 86_400_000_000;
/// Scrub timings kept for the percentiles.
const SAMPLES: usize = 60;
/// The speeds offered, in thousandths of real time: 0.25× to 64×.
pub const SPEEDS: [i32; 9] = [250, 500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000];
/// An event closer than this to the position is the one being looked at, not the next.
const EVENT_SLACK_US: u64 = 500_000;

const _: () = assert!(SPEEDS[0] == SPEED_RANGE.0 && SPEEDS[SPEEDS.len() - 1] == SPEED_RANGE.1);

/// Where the playback stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Asked for the timeline and the newest frame; nothing back yet.
    Opening,
    /// A picture is shown and stays.
    Paused,
    /// Frames asked for a position (a scrub, a step, a jump) are on their way.
    Seeking,
    /// Playing at this many thousandths of real time (negative: backwards).
    Playing(i32),
    /// A play ran out of footage.
    Ended,
    /// A position or step found no frame (nothing recorded there, or that way).
    Nothing,
    /// Nothing recorded up to now.
    Empty,
    /// The edge did not answer: it does not record this camera, or is too old to.
    Unavailable,
}

impl State {
    /// The name `#stats` gives it (`data-playback-state`).
    pub fn name(self) -> &'static str {
        match self {
            State::Opening => "opening",
            State::Paused => "paused",
            State::Seeking => "seeking",
            State::Playing(_) => "playing",
            State::Ended => "ended",
            State::Nothing => "nothing",
            State::Empty => "empty",
            State::Unavailable => "unavailable",
        }
    }
}

/// What the user asks of the playback: the timeline's drag and the buttons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// The frame at this time (µs, the edge's clock).
    Seek(u64),
    /// Play at this many thousandths of real time (negative: backwards).
    Play(i32),
    Pause,
    /// One frame forward (true) or back.
    Step(bool),
    /// To the next (true) or previous event.
    Jump(bool),
    /// Keep the full-size frames from now for this many seconds.
    Mark(u32),
}

impl Command {
    /// Its name and number, as the page's message to the worker carries it.
    pub fn to_parts(self) -> (&'static str, f64) {
        match self {
            Command::Seek(at) => ("seek", at as f64),
            Command::Play(speed) => ("play", f64::from(speed)),
            Command::Pause => ("pause", 0.0),
            Command::Step(forward) => ("step", f64::from(u8::from(forward))),
            Command::Jump(forward) => ("jump", f64::from(u8::from(forward))),
            Command::Mark(seconds) => ("mark", f64::from(seconds)),
        }
    }

    pub fn from_parts(op: &str, v: f64) -> Option<Command> {
        Some(match op {
            "seek" => Command::Seek(v.max(0.0) as u64),
            "play" => Command::Play(v as i32),
            "pause" => Command::Pause,
            "step" => Command::Step(v > 0.0),
            "jump" => Command::Jump(v > 0.0),
            "mark" => Command::Mark(v.max(0.0) as u32),
            _ => return None,
        })
    }
}

/// Which request a recorded frame answered, and where it stands in that answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub id: u32,
    /// Frames sent for the request before this one.
    pub n: u32,
    pub track: Track,
}

/// What a reply meant.
#[derive(Debug, PartialEq)]
pub enum Heard<'a> {
    /// Nothing to show (done, stale, or not ours).
    Nothing,
    /// A recorded frame to show: the stamped JPEG and where it comes from.
    Frame(Recorded, &'a [u8]),
    /// A new timeline.
    Timeline,
    /// Bytes that are not a reply.
    Bad,
}

/// A frame request on its way.
#[derive(Debug, Clone, Copy)]
struct Asked {
    id: u32,
    sent_ms: f64,
}

/// A play under way.
#[derive(Debug, Clone, Copy)]
struct Play {
    id: u32,
    speed_milli: i32,
    /// The last frame acknowledged, and when the last frame arrived.
    acked: Option<u32>,
    heard_ms: f64,
}

/// One camera's playback (see the module doc).
#[derive(Debug)]
pub struct Player {
    next_id: u32,
    state: State,
    requests: Vec<(u32, Request)>,
    asked: Vec<Asked>,
    /// A position asked while [`MAX_OUTSTANDING`] were on their way, with its input time.
    wanted: Option<(u64, f64)>,
    play: Option<Play>,
    /// The newest request whose frames reached the picture: older ones' are dropped.
    shown_id: u32,
    /// The position last asked for, and the capture time and track of the recorded
    /// frame on the canvas.
    target_us: Option<u64>,
    position_us: Option<u64>,
    track: Option<Track>,
    /// The speed last played at (kept across pauses).
    speed_milli: i32,
    pub timeline: Option<Timeline>,
    /// The timeline request on its way, and when the last was sent. The edge stops it
    /// for any newer request (a scrub), so it goes alone, and again when it was stopped.
    timeline_asked: Option<u32>,
    timeline_asked_ms: f64,
    /// The edge's clock minus this viewer's (ms), from the live stream's clock.
    offset_ms: f64,
    opened_ms: f64,
    /// A request's input time (the user's touch), until its first frame is drawn; then
    /// the draw waits for the screen.
    inputs: Vec<(u32, f64)>,
    drawn_input: Option<f64>,
    /// Input → first frame of that request on screen (ms).
    /// A deque as the stats' windows are: one `percentile` for both in the module.
    scrub_ms: VecDeque<f64>,
    pub error: Option<String>,
    /// The request and capture time of the last frame heard for a position.
    heard: (u32, u64),
}

impl Player {
    /// Opens the recordings at `now_ms`, with the edge's clock `offset_ms` ahead of
    /// this viewer's: the last day's timeline, and the newest frame (paused there).
    pub fn open(now_ms: f64, offset_ms: f64) -> Player {
        let mut p = Player {
            next_id: 1,
            state: State::Opening,
            requests: Vec::new(),
            asked: Vec::new(),
            wanted: None,
            play: None,
            shown_id: 0,
            target_us: None,
            position_us: None,
            track: None,
            speed_milli: 1000,
            timeline: None,
            timeline_asked: None,
            timeline_asked_ms: now_ms,
            offset_ms,
            opened_ms: now_ms,
            inputs: Vec::new(),
            drawn_input: None,
            scrub_ms: VecDeque::new(),
            error: None,
            heard: (0, 0),
        };
        // The newest frame is asked when the timeline is here (its "now"): asked at
        // once, it would stop the timeline's request at the edge.
        p.ask_timeline(now_ms);
        p
    }

    /// Does what the user asked at `input_ms`.
    pub fn command(&mut self, c: Command, input_ms: f64, now_ms: f64) {
        match c {
            Command::Seek(at) => self.seek(at, input_ms, now_ms),
            Command::Play(speed) => self.play(speed, now_ms),
            Command::Pause => self.pause(),
            Command::Step(forward) => self.step(forward, input_ms, now_ms),
            Command::Jump(forward) => {
                self.jump(forward, input_ms, now_ms);
            }
            Command::Mark(seconds) => self.mark(seconds),
        }
    }

    /// The edge's time now (µs), as well as this viewer knows it.
    pub fn edge_now_us(&self, now_ms: f64) -> u64 {
        ((now_ms + self.offset_ms) * 1000.0).max(0.0) as u64
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The capture time of the recorded frame on screen (µs, the edge's clock).
    pub fn position_us(&self) -> Option<u64> {
        self.position_us
    }

    /// The position last asked for.
    pub fn target_us(&self) -> Option<u64> {
        self.target_us
    }

    /// The track of the frame on screen.
    pub fn track(&self) -> Option<Track> {
        self.track
    }

    /// The speed last chosen (thousandths; negative: backwards).
    pub fn speed_milli(&self) -> i32 {
        self.speed_milli
    }

    /// Input → frame on screen for the last scrubs (ms): p50 and p95.
    pub fn scrub_percentiles(&self) -> Option<(f64, f64)> {
        let p = |q| percentile(self.scrub_ms.iter().copied(), q);
        Some((p(50.0)?, p(95.0)?))
    }

    pub fn scrubs(&self) -> usize {
        self.scrub_ms.len()
    }

    /// The requests to send now, with their ids.
    pub fn take_requests(&mut self) -> Vec<(u32, Request)> {
        std::mem::take(&mut self.requests)
    }

    fn send(&mut self, request: Request) -> u32 {
        let stops_timeline = !matches!(request, Request::Timeline { .. } | Request::Ack { .. });
        if stops_timeline && self.timeline_asked.take().is_some() {
            // Stopped at the edge by this one: asked again when things are quiet.
            self.timeline_asked_ms = f64::NEG_INFINITY;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.requests.push((id, request));
        id
    }

    fn ask_timeline(&mut self, now_ms: f64) {
        let now_us = self.edge_now_us(now_ms);
        // A minute ahead: the two clocks' offset is only known to a round trip.
        let request =
            Request::Timeline { from_us: now_us.saturating_sub(DAY_US), to_us: now_us + 60_000_000 };
        self.timeline_asked = Some(self.send(request));
        self.timeline_asked_ms = now_ms;
    }

    fn ask_frame(&mut self, at_us: u64, track: Track, seek: Seek, input_ms: f64, now_ms: f64) {
        let id = self.send(Request::Frame { at_us, track, seek });
        self.asked.push(Asked { id, sent_ms: now_ms });
        self.inputs.push((id, input_ms));
    }

    /// The user asked for the frame at `at_us` (a drag on the timeline at `input_ms`):
    /// sent now if fewer than [`MAX_OUTSTANDING`] requests are on their way, else kept
    /// as the newest wish. A play stops (the new request supersedes it at the edge).
    pub fn seek(&mut self, at_us: u64, input_ms: f64, now_ms: f64) {
        self.play = None;
        self.state = State::Seeking;
        self.target_us = Some(at_us);
        self.forget_lost(now_ms);
        if self.asked.len() < MAX_OUTSTANDING {
            self.wanted = None;
            self.ask_frame(at_us, Track::Best, Seek::AtOrBefore, input_ms, now_ms);
        } else {
            self.wanted = Some((at_us, input_ms));
        }
    }

    /// One frame forward or back from the one on screen: along the full-size frames
    /// where the edge kept them, else the previews (the edge picks, for `Track::Best`).
    pub fn step(&mut self, forward: bool, input_ms: f64, now_ms: f64) {
        let Some(at_us) = self.position_us.or(self.target_us) else { return };
        self.play = None;
        self.wanted = None;
        self.state = State::Seeking;
        let seek = if forward { Seek::After } else { Seek::Before };
        self.ask_frame(at_us, Track::Best, seek, input_ms, now_ms);
    }

    /// Plays from the frame on screen at `speed_milli` (negative: backwards).
    pub fn play(&mut self, speed_milli: i32, now_ms: f64) {
        let speed_milli = speed_milli.signum() * speed_milli.abs().clamp(SPEED_RANGE.0, SPEED_RANGE.1);
        let Some(at_us) = self.position_us.or(self.target_us) else { return };
        self.speed_milli = speed_milli;
        // From just past the frame on screen: it is not sent again.
        let from_us = if speed_milli > 0 { at_us + 1 } else { at_us.saturating_sub(1) };
        let id = self.send(Request::Play { from_us, track: Track::Best, speed_milli });
        self.asked.clear();
        self.wanted = None;
        self.play = Some(Play { id, speed_milli, acked: None, heard_ms: now_ms });
        self.state = State::Playing(speed_milli);
    }

    /// Stops a play; the picture stays.
    pub fn pause(&mut self) {
        if self.play.take().is_some() {
            // The play's frames still on their way stay off the picture.
            self.shown_id = self.send(Request::Stop);
        }
        if matches!(self.state, State::Playing(_)) {
            self.state = State::Paused;
        }
    }

    /// Keeps the full-size frames from now for `seconds` ("record now").
    pub fn mark(&mut self, seconds: u32) {
        // A newer request would stop a play: not while one runs.
        if self.play.is_none() {
            self.send(Request::Mark { seconds });
        }
    }

    /// The start of the next (or previous) event from the position, if any: where a
    /// jump goes.
    pub fn event_near(&self, forward: bool) -> Option<&Event> {
        let at = self.position_us.or(self.target_us)?;
        let events = &self.timeline.as_ref()?.events;
        if forward {
            events.iter().find(|e| e.start_us > at + EVENT_SLACK_US)
        } else {
            events.iter().rev().find(|e| e.start_us + EVENT_SLACK_US < at)
        }
    }

    /// Jumps to the next (or previous) event; false if there is none that way.
    pub fn jump(&mut self, forward: bool, input_ms: f64, now_ms: f64) -> bool {
        match self.event_near(forward).map(|e| e.start_us) {
            Some(at) => {
                self.seek(at, input_ms, now_ms);
                true
            }
            None => false,
        }
    }

    fn forget_lost(&mut self, now_ms: f64) {
        self.asked.retain(|a| now_ms - a.sent_ms < LOST_MS);
    }

    /// Request `id` (and every older one: the edge answers in order, and stops an older
    /// request for a newer one) needs no more room.
    fn answered(&mut self, id: u32, now_ms: f64) {
        self.asked.retain(|a| a.id > id);
        if let Some((at, input_ms)) = self.wanted.take() {
            self.seek(at, input_ms, now_ms);
        }
    }

    /// A reply from the edge, arrived at `now_ms`.
    pub fn reply<'a>(&mut self, bytes: &'a [u8], now_ms: f64) -> Heard<'a> {
        let Some((id, n, reply)) = wire::playback::parse_reply(bytes) else { return Heard::Bad };
        let playing = self.play.filter(|p| p.id == id);
        match reply {
            Reply::Timeline(t) => {
                if self.timeline_asked != Some(id) {
                    return Heard::Nothing;
                }
                self.timeline_asked = None;
                // The edge's own now: the offset follows it, for the next questions.
                if t.now_us > 0 {
                    self.offset_ms = (t.now_us as f64 - now_ms * 1000.0) / 1000.0;
                }
                let first = self.timeline.is_none() && self.position_us.is_none() && self.asked.is_empty();
                if first && self.state == State::Opening {
                    let at = t.now_us.max(self.edge_now_us(now_ms));
                    self.ask_frame(at, Track::Best, Seek::AtOrBefore, self.opened_ms, now_ms);
                }
                self.timeline = Some(t);
                Heard::Timeline
            }
            Reply::Frame { track, payload } => {
                let asked = self.asked.iter().any(|a| a.id == id) || self.inputs.iter().any(|i| i.0 == id);
                // The request on screen goes on (a full frame after its preview); an
                // older one never comes back over it.
                if id < self.shown_id || (playing.is_none() && !asked && id != self.shown_id) {
                    return Heard::Nothing;
                }
                self.shown_id = id;
                if let Some(p) = &mut self.play {
                    if p.id == id {
                        p.heard_ms = now_ms;
                    }
                }
                if playing.is_none() {
                    self.answered(id, now_ms);
                }
                Heard::Frame(Recorded { id, n, track }, payload)
            }
            Reply::End => {
                if playing.is_some() {
                    self.play = None;
                    self.state = State::Ended;
                } else if self.asked.iter().any(|a| a.id == id) {
                    self.state = match (self.state, self.position_us) {
                        (State::Opening, None) => State::Empty,
                        (s, Some(_)) if self.wanted.is_some() => s,
                        _ => State::Nothing,
                    };
                    self.answered(id, now_ms);
                }
                Heard::Nothing
            }
            Reply::Done => {
                self.answered(id, now_ms);
                self.settle();
                Heard::Nothing
            }
            Reply::Error(why) => {
                if playing.is_some() {
                    self.play = None;
                    self.state = State::Paused;
                }
                self.asked.retain(|a| a.id != id);
                self.error = Some(why);
                Heard::Nothing
            }
        }
    }

    /// Nothing more on its way for a position: the picture stays.
    fn settle(&mut self) {
        if !self.asked.is_empty() || self.wanted.is_some() {
            return;
        }
        // A frame heard may still be decoding: it is the picture that stays.
        let shown = self.position_us.is_some() || self.shown_id > 0;
        self.state = match self.state {
            State::Seeking | State::Opening if shown => State::Paused,
            State::Seeking => State::Empty,
            // Not a word yet: `tick` says when the edge counts as not answering.
            s => s,
        };
    }

    /// A recorded frame `r`, captured at `capture_us`, was decoded (and drawn, if
    /// `on_canvas`) at `now_ms`: a play's frame is acknowledged, the position moves.
    pub fn drawn(&mut self, r: Recorded, capture_us: u64, on_canvas: bool, now_ms: f64) {
        if let Some(p) = &mut self.play {
            if p.id == r.id && p.acked.is_none_or(|a| r.n > a) {
                p.acked = Some(r.n);
                self.requests.push((r.id, Request::Ack { n: r.n }));
            }
        }
        if !on_canvas {
            return;
        }
        self.position_us = Some(capture_us);
        self.track = Some(r.track);
        if let Some(i) = self.inputs.iter().position(|(id, _)| *id == r.id) {
            self.drawn_input = Some(self.inputs[i].1);
            self.inputs.drain(..=i);
        }
        if matches!(self.state, State::Opening) {
            self.state = State::Seeking;
        }
        let _ = now_ms;
    }

    /// The frames drawn reached the screen at `at_ms`: the scrub's time is taken.
    pub fn presented(&mut self, at_ms: f64) {
        if let Some(input) = self.drawn_input.take() {
            if self.scrub_ms.len() == SAMPLES {
                self.scrub_ms.pop_front();
            }
            self.scrub_ms.push_back(at_ms - input);
        }
    }

    /// Whether a frame of request `r`, captured at `capture_us`, is worth showing. For a
    /// position the edge may send its preview and then a full frame from up to 2 s
    /// before it (the end of an event's full frames, just before the time asked): the
    /// picture nearer the time asked stays.
    pub fn keeps(&mut self, r: Recorded, capture_us: u64) -> bool {
        if self.play.is_some_and(|p| p.id == r.id) {
            return true;
        }
        if self.heard.0 == r.id && capture_us < self.heard.1 {
            return false;
        }
        self.heard = (r.id, capture_us);
        true
    }

    /// Time passed (a few times a second): lost requests forgotten, a wish kept behind
    /// them sent, a quiet play asked again, the timeline refreshed while nothing plays,
    /// an edge that never answered said so.
    pub fn tick(&mut self, now_ms: f64) {
        let before = self.asked.len();
        self.forget_lost(now_ms);
        if self.asked.len() < before {
            if let Some((at, input)) = self.wanted.take() {
                self.seek(at, input, now_ms);
            }
            self.settle();
        }
        if let Some(p) = self.play {
            if now_ms - p.heard_ms > QUIET_MS {
                self.play(p.speed_milli, now_ms);
            }
        }
        let silent = self.timeline.is_none() && self.position_us.is_none();
        let waited = now_ms - self.opened_ms;
        if silent && waited > 3000.0 && self.state == State::Opening {
            self.state = State::Unavailable;
        }
        let nothing_asked = self.asked.is_empty() && self.shown_id == 0;
        if silent && self.state == State::Opening && nothing_asked && waited > 1000.0 {
            // A slow timeline: the newest frame without it.
            let at = self.edge_now_us(now_ms);
            self.ask_frame(at, Track::Best, Seek::AtOrBefore, self.opened_ms, now_ms);
        }
        let quiet = self.play.is_none() && self.asked.is_empty() && self.wanted.is_none();
        let every = if silent { 3000.0 } else { TIMELINE_EVERY_MS };
        if quiet && self.timeline_asked.is_none() && now_ms - self.timeline_asked_ms > every {
            self.ask_timeline(now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use wire::playback::{frame_reply, EventKind, Span, SpanKind};

    use super::*;

    /// Opened at 1 s, the timeline answered (the edge's now: 1 s), the newest frame asked.
    fn opened() -> Player {
        let mut p = Player::open(1_000.0, 0.0);
        assert!(matches!(p.take_requests()[..], [(1, Request::Timeline { from_us: 0, to_us: 61_000_000 })]));
        let t = Timeline { now_us: 1_000_000, ..Timeline::default() };
        assert_eq!(p.reply(&Reply::Timeline(t).encode(1, 0), 1_000.0), Heard::Timeline);
        assert_eq!(
            p.take_requests(),
            [(2, Request::Frame { at_us: 1_000_000, track: Track::Best, seek: Seek::AtOrBefore })]
        );
        p
    }

    /// Opened, with the newest frame (captured at 990 ms) on screen.
    fn paused() -> Player {
        let mut p = opened();
        show(&mut p, 2, 0, 990_000, 1_010.0);
        p.reply(&done(2), 1_010.0);
        assert_eq!(p.state(), State::Paused);
        p
    }

    fn frame(id: u32, n: u32, track: Track) -> Vec<u8> {
        frame_reply(id, n, track, b"\xFF\xD8jpeg")
    }

    fn done(id: u32) -> Vec<u8> {
        Reply::Done.encode(id, 0)
    }

    fn end(id: u32) -> Vec<u8> {
        Reply::End.encode(id, 0)
    }

    /// Shows request `id`'s frame `n` as drawn, captured at `capture_us`.
    fn show(p: &mut Player, id: u32, n: u32, capture_us: u64, now: f64) {
        let b = frame(id, n, Track::Preview);
        let Heard::Frame(r, _) = p.reply(&b, now) else { panic!("frame {id}/{n} not wanted") };
        p.drawn(r, capture_us, true, now);
    }

    #[test]
    fn opening_asks_for_the_day_and_the_newest_frame_and_pauses_on_it() {
        let mut p = opened();
        assert_eq!(p.state(), State::Opening);
        show(&mut p, 2, 0, 990_000, 1_020.0);
        assert_eq!(p.reply(&done(2), 1_030.0), Heard::Nothing);
        assert_eq!(p.state(), State::Paused);
        assert_eq!(p.position_us(), Some(990_000));
    }

    #[test]
    fn nothing_recorded_is_empty_and_no_answer_is_unavailable() {
        let mut p = opened();
        p.reply(&end(2), 1_010.0);
        assert_eq!(p.state(), State::Empty);
        let mut silent = Player::open(1_000.0, 0.0);
        silent.take_requests();
        silent.tick(1_500.0);
        assert!(silent.take_requests().is_empty());
        // No timeline in a second: the newest frame without it.
        silent.tick(2_100.0);
        assert!(matches!(silent.take_requests()[..], [(2, Request::Frame { .. })]));
        silent.tick(3_000.0);
        assert_eq!(silent.state(), State::Opening);
        silent.tick(4_200.0);
        assert_eq!(silent.state(), State::Unavailable);
        // It keeps asking, now and then, in case recording is turned on.
        assert!(matches!(silent.take_requests()[..], [(3, Request::Timeline { .. })]));
    }

    #[test]
    fn a_scrub_keeps_two_requests_on_their_way_and_only_the_newest_wish_behind_them() {
        let mut p = paused();
        for (i, at) in [500_000, 400_000, 300_000, 200_000].into_iter().enumerate() {
            p.seek(at, 1_100.0 + i as f64, 1_100.0 + i as f64);
        }
        let sent: Vec<u32> = p.take_requests().iter().map(|r| r.0).collect();
        assert_eq!(sent, [3, 4], "two on their way, the rest wait");
        // The first answer frees room: the newest position goes, the ones between never.
        show(&mut p, 3, 0, 480_000, 1_150.0);
        assert_eq!(
            p.take_requests(),
            [(5, Request::Frame { at_us: 200_000, track: Track::Best, seek: Seek::AtOrBefore })]
        );
        assert_eq!(p.target_us(), Some(200_000));
    }

    #[test]
    fn replies_to_requests_older_than_the_picture_are_dropped() {
        let mut p = paused();
        p.seek(500_000, 1_100.0, 1_100.0);
        p.seek(400_000, 1_101.0, 1_101.0);
        p.take_requests();
        show(&mut p, 4, 0, 400_000, 1_150.0);
        // Request 3's preview, late: not over the newer picture.
        assert_eq!(p.reply(&frame(3, 0, Track::Preview), 1_160.0), Heard::Nothing);
        // Nor anything nobody asked for.
        assert_eq!(p.reply(&frame(99, 0, Track::Full), 1_160.0), Heard::Nothing);
        // Request 4's full frame follows its preview.
        assert!(matches!(
            p.reply(&frame(4, 1, Track::Full), 1_170.0),
            Heard::Frame(Recorded { id: 4, n: 1, .. }, _)
        ));
        assert_eq!(p.reply(b"junk", 1_170.0), Heard::Bad);
    }

    #[test]
    fn a_lost_request_frees_its_room_after_two_seconds() {
        let mut p = paused();
        p.seek(500_000, 1_100.0, 1_100.0);
        p.seek(400_000, 1_100.0, 1_100.0);
        p.seek(300_000, 1_100.0, 1_100.0);
        assert_eq!(p.take_requests().len(), 2);
        p.tick(3_200.0);
        assert_eq!(
            p.take_requests(),
            [(5, Request::Frame { at_us: 300_000, track: Track::Best, seek: Seek::AtOrBefore })]
        );
    }

    #[test]
    fn scrub_time_is_input_to_the_screen() {
        let mut p = opened();
        p.tick(3_100.0);
        p.take_requests();
        p.seek(500_000, 1_100.0, 1_105.0);
        show(&mut p, 3, 0, 500_000, 1_180.0);
        p.presented(1_190.0);
        // The open's own frame (request 2) was never drawn: no sample for it.
        assert_eq!(p.scrub_percentiles(), Some((90.0, 90.0)));
        assert_eq!(p.scrubs(), 1);
    }

    #[test]
    fn play_is_acknowledged_frame_by_frame_and_asked_again_when_it_goes_quiet() {
        let mut p = paused();
        p.take_requests();
        p.play(-4000, 1_100.0);
        assert_eq!(
            p.take_requests(),
            [(3, Request::Play { from_us: 989_999, track: Track::Best, speed_milli: -4000 })]
        );
        assert_eq!(p.state(), State::Playing(-4000));
        for n in 0..3 {
            show(&mut p, 3, n, 900_000 - u64::from(n) * 100_000, 1_200.0);
        }
        let acks: Vec<(u32, Request)> = p.take_requests();
        assert_eq!(acks, (0..3).map(|n| (3, Request::Ack { n })).collect::<Vec<_>>());
        // A frame drawn out of order is not acknowledged twice.
        let Heard::Frame(r, _) = p.reply(&frame(3, 1, Track::Preview), 1_300.0) else { panic!() };
        p.drawn(r, 800_000, false, 1_300.0);
        assert!(p.take_requests().is_empty());
        // Quiet for too long: asked again from the frame on screen.
        p.tick(3_900.0);
        assert_eq!(
            p.take_requests(),
            [(4, Request::Play { from_us: 699_999, track: Track::Best, speed_milli: -4000 })]
        );
    }

    #[test]
    fn a_play_that_runs_out_ends_and_a_pause_stops_it() {
        let mut p = opened();
        show(&mut p, 2, 0, 990_000, 1_010.0);
        p.play(64_000, 1_100.0);
        p.reply(&end(3), 1_200.0);
        assert_eq!(p.state(), State::Ended);
        p.play(250, 1_300.0);
        p.take_requests();
        p.pause();
        assert_eq!(p.take_requests(), [(5, Request::Stop)]);
        assert_eq!(p.state(), State::Paused);
        // Speeds outside the range are brought into it.
        p.play(100_000, 1_400.0);
        assert_eq!(p.speed_milli(), 64_000);
    }

    #[test]
    fn a_scrub_stops_a_play_and_its_late_frames_are_dropped() {
        let mut p = opened();
        show(&mut p, 2, 0, 990_000, 1_010.0);
        p.play(1000, 1_100.0);
        p.seek(100_000, 1_200.0, 1_200.0);
        assert_eq!(p.reply(&frame(3, 5, Track::Preview), 1_210.0), Heard::Nothing);
        assert_eq!(p.state(), State::Seeking);
    }

    #[test]
    fn steps_go_one_frame_either_way_from_the_frame_shown() {
        let mut p = opened();
        let b = frame(2, 1, Track::Full);
        let Heard::Frame(r, _) = p.reply(&b, 1_010.0) else { panic!() };
        p.drawn(r, 990_000, true, 1_010.0);
        p.take_requests();
        p.step(false, 1_100.0, 1_100.0);
        p.step(true, 1_100.0, 1_100.0);
        assert_eq!(
            p.take_requests(),
            [
                (3, Request::Frame { at_us: 990_000, track: Track::Best, seek: Seek::Before }),
                (4, Request::Frame { at_us: 990_000, track: Track::Best, seek: Seek::After }),
            ]
        );
        // Nothing further that way: the picture stays, the state says so.
        p.reply(&end(4), 1_200.0);
        assert_eq!(p.state(), State::Nothing);
        assert_eq!(p.position_us(), Some(990_000));
    }

    #[test]
    fn jumps_go_to_the_next_and_previous_event() {
        let mut p = opened();
        let event = |start_us| Event {
            start_us,
            end_us: start_us + 1_000_000,
            kind: EventKind::Alarm,
            reason: String::new(),
            source: String::new(),
        };
        let t = Timeline {
            spans: vec![Span {
                start_us: 0,
                end_us: 1_000_000_000,
                kind: SpanKind::Recorded(Track::Preview),
            }],
            events: vec![event(10_000_000), event(50_000_000)],
            ..Timeline::default()
        };
        p.timeline = Some(t);
        show(&mut p, 2, 0, 30_000_000, 1_020.0);
        p.take_requests();
        assert!(p.jump(true, 1_100.0, 1_100.0));
        assert_eq!(p.target_us(), Some(50_000_000));
        show(&mut p, 3, 0, 50_000_000, 1_120.0);
        // At the event: the previous one is the one before, not this.
        assert_eq!(p.event_near(false).map(|e| e.start_us), Some(10_000_000));
        assert!(!p.jump(true, 1_200.0, 1_200.0));
    }

    #[test]
    fn a_timeline_stopped_at_the_edge_by_a_scrub_is_asked_again_once_things_are_quiet() {
        let mut p = paused();
        p.tick(12_000.0);
        assert!(matches!(p.take_requests()[..], [(3, Request::Timeline { .. })]));
        p.seek(500_000, 12_010.0, 12_010.0);
        p.take_requests();
        // Its reply, had the edge sent one, is not waited for.
        assert_eq!(p.reply(&Reply::Timeline(Timeline::default()).encode(3, 0), 12_020.0), Heard::Nothing);
        p.tick(12_100.0);
        assert!(p.take_requests().is_empty(), "not while the scrub's frame is on its way");
        show(&mut p, 4, 0, 500_000, 12_200.0);
        p.reply(&done(4), 12_200.0);
        p.tick(12_300.0);
        assert!(matches!(p.take_requests()[..], [(5, Request::Timeline { .. })]));
    }

    #[test]
    fn a_full_frame_older_than_the_preview_for_a_position_is_not_shown_over_it() {
        let mut p = paused();
        p.seek(5_000_000, 1_100.0, 1_100.0);
        let preview = Recorded { id: 3, n: 0, track: Track::Preview };
        let full = Recorded { id: 3, n: 1, track: Track::Full };
        assert!(p.keeps(preview, 4_900_000));
        assert!(!p.keeps(full, 3_100_000), "the event's last full frame, 1.9 s before");
        assert!(p.keeps(Recorded { id: 4, ..full }, 3_100_000), "another request");
        // A play backwards goes back in time frame after frame.
        p.play(-1000, 1_200.0);
        assert!(p.keeps(Recorded { id: 4, n: 0, track: Track::Preview }, 2_000_000));
        assert!(p.keeps(Recorded { id: 4, n: 1, track: Track::Preview }, 1_500_000));
    }

    #[test]
    fn commands_go_to_the_worker_and_back_unchanged() {
        for c in [
            Command::Seek(1_765_000_000_123_456),
            Command::Play(-250),
            Command::Pause,
            Command::Step(true),
            Command::Step(false),
            Command::Jump(false),
            Command::Mark(30),
        ] {
            let (op, v) = c.to_parts();
            assert_eq!(Command::from_parts(op, v), Some(c));
        }
        assert_eq!(Command::from_parts("rewind", 1.0), None);
    }

    #[test]
    fn the_timeline_is_asked_again_only_while_nothing_plays() {
        let mut p = opened();
        p.reply(&Reply::Timeline(Timeline::default()).encode(1, 0), 1_010.0);
        show(&mut p, 2, 0, 990_000, 1_010.0);
        p.reply(&done(2), 1_010.0);
        p.take_requests();
        p.play(1000, 1_100.0);
        p.take_requests();
        p.tick(12_000.0);
        // A newer request would stop the play at the edge.
        assert!(p.take_requests().iter().all(|r| !matches!(r.1, Request::Timeline { .. })));
        p.pause();
        p.tick(12_100.0);
        assert!(p.take_requests().iter().any(|r| matches!(r.1, Request::Timeline { .. })));
    }
}
