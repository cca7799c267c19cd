//! RTSP cameras (the IP cameras most people own) as a [`Source`]: the stream pulled with
//! `retina`, H.264 decoded with OpenH264 into the encoder's 4:2:0 planes, MJPEG passed
//! through as it comes. In the order a frame meets the files:
//!
//! - `url.rs`: the camera's URL, checked when configured, its login taken out of it;
//! - `tls.rs`: for `rtsps://`, a relay from a loopback port to the camera over TLS;
//! - this file: the session (describe → setup → play), one video track, its frames with
//!   a timeout, and everything a camera does to a client: a wrong login, a codec we
//!   cannot decode, a reboot or a dropped network, each with one clear reason;
//! - `stamp.rs`: each frame's capture time: when it was read, less any wait in the socket
//!   that the camera's RTP clock reveals;
//! - `h264.rs`: frames → pictures, decoding only what is needed (every frame while
//!   watched, keyframes only for previews), never a frame after a loss until the next
//!   keyframe.
//!
//! A source blocks on the capture thread; retina is async, so each RTSP source has a
//! small runtime of its own (one worker, which also sends a session's TEARDOWN after
//! it is dropped) and waits on it. The camera's clock is not trusted for the time of day:
//! a frame's capture time is when its first packet was read here, moved back by any wait
//! the RTP clock reveals (`stamp.rs`).

mod h264;
mod stamp;
mod tls;
mod url;

use std::{
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use retina::{
    client::{Demuxed, PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions, Transport},
    codec::{CodecItem, FrameFormat, VideoFrame},
};

pub use self::h264::{nal_units, Outcome, Unit, H264};
pub use self::url::RtspUrl;
use super::seam::{Decoded, Demand, Source, SourceError, Wanted};
use crate::{
    clock,
    frame::{Captured, Picture},
};

/// How long connecting (describe, setup, play) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// No frame for this long: the camera rebooted or the network is gone; connect again.
/// Cameras send at least one frame a second; a stalled one is given some slack.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a wait for the next packet lasts before the demand is looked at again.
const POLL: Duration = Duration::from_millis(200);
/// How long a new session waits for the last one's TEARDOWN (or an old server's stale
/// session) before saying so.
const STALE_WAIT: Duration = Duration::from_secs(5);
/// Frames arriving without a picture for this long: the stream cannot be decoded (no
/// keyframes, or keyframes the decoder rejects). Longer than any sane GOP.
const NO_PICTURE: Duration = Duration::from_secs(60);
/// How long a source being dropped waits for its session's TEARDOWN.
const TEARDOWN_WAIT: Duration = Duration::from_secs(2);
/// After a wrong login, the next try: a camera that locks accounts after failed logins
/// must not be hammered.
const LOGIN_RETRY: Duration = Duration::from_secs(30);
/// After a codec we cannot decode or a certificate not trusted: settings must change
/// first.
const SETTINGS_RETRY: Duration = Duration::from_secs(300);

/// RTP over the RTSP connection (the default: nothing lost, through any NAT) or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtpTransport {
    #[default]
    Tcp,
    Udp,
}

impl std::str::FromStr for RtpTransport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(RtpTransport::Tcp),
            "udp" => Ok(RtpTransport::Udp),
            _ => Err(format!("transport must be tcp or udp, got {s:?}")),
        }
    }
}

/// What the camera sends on its video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    H264,
    Jpeg,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::H264 => "H.264",
            Codec::Jpeg => "MJPEG",
        }
    }
}

/// A session playing.
struct Playing {
    frames: Pin<Box<Demuxed>>,
    stream: usize,
    codec: Codec,
    last_frame: Instant,
    /// When it last gave a picture (or started).
    last_picture: Instant,
    /// Its frames' capture times.
    stamps: stamp::Stamps,
}

/// Why a camera could not be played, and whether trying again soon can help.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    why: String,
    /// Wait before the next try: retrying soon cannot help.
    hold: Option<Hold>,
}

/// Why to wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// A wrong login: a camera that locks accounts after failed logins must not be
    /// hammered.
    Login,
    /// A codec we cannot decode, a certificate not trusted: settings must change first.
    Settings,
}

impl Refusal {
    fn now(why: String) -> Refusal {
        Refusal { why, hold: None }
    }
}

/// One RTSP camera.
pub struct RtspSource {
    url: RtspUrl,
    transport: RtpTransport,
    /// Always there until dropped (`Option` so that `Drop` can shut it down its own way).
    runtime: Option<tokio::runtime::Runtime>,
    group: Arc<SessionGroup>,
    playing: Option<Playing>,
    video: H264,
    wanted: Wanted,
    /// Not before then, and why (after a refusal that retrying soon cannot fix).
    hold: Option<(Instant, String)>,
    /// What it streams, once known ("H.264 1920x1080").
    shape: Option<String>,
    /// The size of the pictures decoded last.
    size: Option<(usize, usize)>,
    /// Frames the decoder rejected since the last report.
    rejected: u64,
    frame_timeout: Duration,
    login_retry: Duration,
    /// rtsps://: check the camera's certificate.
    verify_tls: bool,
}

impl RtspSource {
    /// A camera at `url`; connects on the first frame asked for.
    pub fn new(url: RtspUrl, transport: RtpTransport) -> std::io::Result<RtspSource> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rtsp")
            .enable_all()
            .build()?;
        let group = Arc::new(SessionGroup::default().named(url.place()));
        Ok(RtspSource {
            url,
            transport,
            runtime: Some(runtime),
            group,
            playing: None,
            video: H264::new(),
            wanted: Wanted::every(),
            hold: None,
            shape: None,
            size: None,
            rejected: 0,
            frame_timeout: FRAME_TIMEOUT,
            login_retry: LOGIN_RETRY,
            verify_tls: true,
        })
    }

    /// rtsps://: whether the camera's certificate is checked (on unless told).
    pub fn verify_tls(mut self, verify: bool) -> Self {
        self.verify_tls = verify;
        self
    }

    /// How long without a frame before connecting again (tests stall a camera briefly).
    pub fn frame_timeout(mut self, timeout: Duration) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// How long after a refused login before the next try.
    pub fn retry_login_after(mut self, wait: Duration) -> Self {
        self.login_retry = wait;
        self
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until the source is dropped")
    }

    /// Runs `work` on the source's runtime until it ends or the pipeline says stop
    /// (looked at every [`POLL`]); `None` if told to stop.
    fn until_stopped<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let wanted = self.wanted.clone();
        self.runtime().block_on(async move {
            let stopping = async {
                while wanted.now() != Demand::Stop {
                    tokio::time::sleep(POLL).await;
                }
            };
            tokio::select! {
                done = work => Some(done),
                _ = stopping => None,
            }
        })
    }

    /// Connects and starts playing the video track.
    fn open(&mut self) -> Result<(), SourceError> {
        // The session closed last may still be tearing down (its TEARDOWN in flight), and
        // old servers keep sending on a session whose connection is gone, so that a new
        // one before it expires gets nothing. retina tracks both; wait for them a while.
        let group = self.group.clone();
        let stale = self.until_stopped(async move {
            let status = group.stale_sessions();
            if status.num_sessions > 0 {
                let _ = tokio::time::timeout(STALE_WAIT, group.await_stale_sessions(&status)).await;
            }
            group.stale_sessions().num_sessions
        });
        match stale {
            None => return Err(SourceError::Lost("stopping".into())),
            Some(n) if n > 0 => {
                return Err(SourceError::Lost(format!(
                    "{}: waiting for the camera's earlier session to expire",
                    self.url.place()
                )))
            }
            Some(_) => {}
        }
        let started = Instant::now();
        let opening = play(&self.url, self.transport, self.verify_tls, self.group.clone());
        // The timer is made inside the runtime (a tokio timer needs one when made).
        let Some(opened) = self.until_stopped(async { tokio::time::timeout(OPEN_TIMEOUT, opening).await })
        else {
            return Err(SourceError::Lost("stopping".into()));
        };
        let refusal = match opened {
            Ok(Ok(playing)) => {
                tracing::info!(
                    camera = %self.url,
                    transport = ?self.transport,
                    took_ms = started.elapsed().as_millis() as u64,
                    "playing {}", playing.codec.name()
                );
                self.shape = Some(playing.codec.name().to_string());
                self.size = None;
                // A new session starts at a keyframe.
                self.video.restart();
                self.playing = Some(playing);
                return Ok(());
            }
            Ok(Err(refusal)) => refusal,
            Err(_) => Refusal::now(format!("no answer within {} s", OPEN_TIMEOUT.as_secs())),
        };
        let why = format!("{}: {}", self.url.place(), refusal.why);
        if let Some(hold) = refusal.hold {
            let wait = match hold {
                Hold::Login => self.login_retry,
                Hold::Settings => SETTINGS_RETRY,
            };
            self.hold = Some((Instant::now() + wait, why.clone()));
        }
        Err(SourceError::Lost(why))
    }

    /// Ends the session (its TEARDOWN goes out on the runtime).
    fn close(&mut self) {
        if let Some(runtime) = &self.runtime {
            let _inside = runtime.enter();
            self.playing = None;
        }
    }

    fn lost(&mut self, why: String) -> SourceError {
        self.close();
        SourceError::Lost(format!("{}: {why}", self.url.place()))
    }

    /// The next video frame of the track played, or why there is none.
    fn next_video(&mut self) -> Result<Option<VideoFrame>, SourceError> {
        let Some(playing) = self.playing.as_mut() else { return Ok(None) };
        let runtime = self.runtime.as_ref().expect("the runtime lives until the source is dropped");
        let item = runtime.block_on(async { tokio::time::timeout(POLL, playing.frames.next()).await });
        match item {
            Err(_) if playing.last_frame.elapsed() >= self.frame_timeout => {
                let secs = self.frame_timeout.as_secs();
                Err(self.lost(format!("no frame for {secs} s; connecting again")))
            }
            Err(_) => Ok(None),
            Ok(None) => Err(self.lost("the camera ended the stream".into())),
            Ok(Some(Err(e))) => Err(self.lost(first_line(&e.to_string()))),
            Ok(Some(Ok(CodecItem::VideoFrame(f)))) if f.stream_id() == playing.stream => {
                playing.last_frame = Instant::now();
                Ok(Some(f))
            }
            Ok(Some(Ok(_))) => Ok(None),
        }
    }
}

impl Drop for RtspSource {
    fn drop(&mut self) {
        // A session's TEARDOWN is sent by a task on the source's runtime: let it go out
        // (a camera with few session slots may refuse the next start until its old
        // session ends), then shut the runtime down.
        self.close();
        let Some(runtime) = self.runtime.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside another runtime (the edge failing at start): a runtime may
            // not block there, so no waiting for the TEARDOWN.
            runtime.shutdown_background();
            return;
        }
        let group = self.group.clone();
        runtime.block_on(async move {
            let status = group.stale_sessions();
            let _ = tokio::time::timeout(TEARDOWN_WAIT, group.await_stale_sessions(&status)).await;
        });
    }
}

impl Source for RtspSource {
    fn describe(&self) -> String {
        match &self.shape {
            Some(shape) => format!("RTSP camera {} ({shape})", self.url.place()),
            None => format!("RTSP camera {}", self.url.place()),
        }
    }

    fn wanted(&mut self, wanted: Wanted) {
        self.wanted = wanted;
    }

    fn decoded(&self) -> Decoded {
        Decoded { frames: self.video.decoded, us: self.video.decode_us }
    }

    fn rest(&mut self) {
        if self.playing.is_some() {
            tracing::info!(camera = %self.url, "nobody watching: stream closed until someone does");
            self.close();
        }
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        loop {
            let demand = self.wanted.now();
            if demand == Demand::Stop {
                self.close();
                return Err(SourceError::Lost("stopping".into()));
            }
            if let Some((until, why)) = &self.hold {
                if Instant::now() < *until {
                    return Err(SourceError::Lost(why.clone()));
                }
                self.hold = None;
            }
            if self.playing.is_none() {
                self.open()?;
            }
            let Some(frame) = self.next_video()? else { continue };
            // When its first packet was read, on this machine's clock, less any wait
            // in the socket the camera's RTP clock reveals.
            let waited = frame.start_ctx().received().elapsed().as_micros() as u64;
            let read_us = clock::now_us().saturating_sub(waited);
            let ts = frame.timestamp();
            let rtp_us = (i128::from(ts.elapsed()) * 1_000_000 / i128::from(ts.clock_rate().get())) as i64;
            let Some(playing) = self.playing.as_mut() else { continue };
            let capture_us = playing.stamps.capture_us(read_us, rtp_us);
            let (codec, last_picture) = (playing.codec, playing.last_picture);
            if codec == Codec::Jpeg {
                return Ok(Captured { picture: Picture::Jpeg(frame.into_data()), capture_us });
            }
            let unit = Unit {
                data: frame.data(),
                keyframe: frame.is_random_access_point(),
                new_parameters: frame.has_new_parameters(),
                loss: frame.loss(),
            };
            if unit.loss > 0 {
                tracing::debug!(camera = %self.url, lost = unit.loss, "packets lost: frames dropped until the next keyframe");
            }
            let outcome = self.video.push(&unit, demand);
            if !matches!(outcome, Outcome::Picture(_)) && last_picture.elapsed() >= NO_PICTURE {
                // Frames arrive but none can be shown: say why rather than stay silent.
                let why = match self.rejected {
                    0 => format!(
                        "no keyframe (IDR) in {} s: set the camera's keyframe (I-frame) \
                         interval to 1-2 s and turn off \"smart\" codec modes",
                        NO_PICTURE.as_secs()
                    ),
                    _ => "the decoder rejects this stream's keyframes (interlaced, 4:2:2 or \
                          10-bit H.264 are not decoded here): use the camera's substream"
                        .to_string(),
                };
                return Err(self.lost(why));
            }
            match outcome {
                Outcome::Picture(p) => {
                    if let Some(playing) = self.playing.as_mut() {
                        playing.last_picture = Instant::now();
                    }
                    self.rejected = 0;
                    // Said once per size, not formatted per frame.
                    if self.size != Some((p.width(), p.height())) {
                        self.size = Some((p.width(), p.height()));
                        let shape = format!("H.264 {}x{}", p.width(), p.height());
                        tracing::info!(camera = %self.url, "{shape}");
                        self.shape = Some(shape);
                    }
                    return Ok(Captured { picture: Picture::Planar(p), capture_us });
                }
                Outcome::Skipped | Outcome::Waiting => {}
                Outcome::Rejected(why) => {
                    self.rejected += 1;
                    // One line per burst, not per frame: the next keyframe usually ends it.
                    if self.rejected == 1 || self.rejected.is_power_of_two() {
                        tracing::warn!(camera = %self.url, rejected = self.rejected, "{why}; waiting for the next keyframe");
                    }
                }
            }
        }
    }
}

/// Describe, choose the video track, set it up and play.
async fn play(
    url: &RtspUrl,
    transport: RtpTransport,
    verify_tls: bool,
    group: Arc<SessionGroup>,
) -> Result<Playing, Refusal> {
    let target = match url.tls() {
        true => tls::relay(&url.url, verify_tls)
            .await
            .map_err(|f| Refusal { why: f.why, hold: f.certificate.then_some(Hold::Settings) })?,
        false => url.url.clone(),
    };
    let options = SessionOptions::default()
        .creds(url.login.clone())
        .session_group(group)
        .user_agent(format!("mqcam edge {}", env!("CARGO_PKG_VERSION")));
    let mut session = Session::describe(target, options).await.map_err(|e| refusal(&e))?;
    let tracks: Vec<(&str, &str)> =
        session.streams().iter().map(|s| (s.media(), s.encoding_name())).collect();
    let (stream, codec) = choose_track(&tracks)?;
    let transport = match transport {
        RtpTransport::Tcp => Transport::Tcp(Default::default()),
        RtpTransport::Udp => Transport::Udp(Default::default()),
    };
    let setup = SetupOptions::default().transport(transport).frame_format(FrameFormat::SIMPLE);
    session.setup(stream, setup).await.map_err(|e| refusal(&e))?;
    let playing = session.play(PlayOptions::default()).await.map_err(|e| refusal(&e))?;
    let frames = playing.demuxed().map_err(|e| refusal(&e))?;
    let now = Instant::now();
    Ok(Playing {
        frames: Box::pin(frames),
        stream,
        codec,
        last_frame: now,
        last_picture: now,
        stamps: stamp::Stamps::default(),
    })
}

/// The first video track we can decode among `(media, encoding)` pairs; audio and
/// metadata tracks are never set up. A camera with only H.265 (or another codec) is
/// told plainly what works instead.
fn choose_track(tracks: &[(&str, &str)]) -> Result<(usize, Codec), Refusal> {
    let video: Vec<(usize, String)> = tracks
        .iter()
        .enumerate()
        .filter(|(_, (media, _))| *media == "video")
        .map(|(i, (_, encoding))| (i, encoding.to_ascii_lowercase()))
        .collect();
    for (i, encoding) in &video {
        match encoding.as_str() {
            "h264" => return Ok((*i, Codec::H264)),
            "jpeg" => return Ok((*i, Codec::Jpeg)),
            _ => {}
        }
    }
    let hold = Some(Hold::Settings);
    match video.first() {
        None => Err(Refusal { why: "the camera offers no video track".into(), hold }),
        Some((_, e)) if e == "h265" => Err(Refusal {
            why: "the camera sends H.265, which this edge does not decode; set this stream to H.264 \
                  in the camera's settings, or use its substream (usually H.264)"
                .into(),
            hold,
        }),
        Some((_, e)) => Err(Refusal {
            why: format!("the camera sends {e} video; this edge decodes H.264 and MJPEG"),
            hold,
        }),
    }
}

/// A retina error as one line that says what to do.
fn refusal(e: &retina::Error) -> Refusal {
    match e.status_code() {
        Some(401) | Some(403) => Refusal {
            why: format!(
                "the camera refused the login ({} {}): check the user and password in the URL \
                 (write @ : # in a password as %40 %3A %23)",
                e.status_code().unwrap_or(401),
                if e.status_code() == Some(403) { "Forbidden" } else { "Unauthorized" }
            ),
            hold: Some(Hold::Login),
        },
        Some(404) => Refusal::now("no stream at this path (404 Not Found): check the URL's path".into()),
        _ => Refusal::now(first_line(&e.to_string())),
    }
}

/// retina's errors go on over several lines (the connection's details); logs and the
/// camera's status take the first.
fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_h264_or_mjpeg_video_track_is_chosen() {
        let tracks = [("audio", "pcmu"), ("video", "h264"), ("application", "vnd.onvif.metadata")];
        assert_eq!(choose_track(&tracks).unwrap(), (1, Codec::H264));
        assert_eq!(choose_track(&[("video", "JPEG")]).unwrap(), (0, Codec::Jpeg));
        assert_eq!(choose_track(&[("video", "h265"), ("video", "h264")]).unwrap(), (1, Codec::H264));
    }

    #[test]
    fn h265_and_others_are_refused_with_what_works_instead() {
        let e = choose_track(&[("video", "h265"), ("audio", "pcma")]).unwrap_err();
        assert!(e.why.contains("H.265") && e.why.contains("H.264"), "{}", e.why);
        assert_eq!(e.hold, Some(Hold::Settings));
        let e = choose_track(&[("video", "mp4v-es")]).unwrap_err();
        assert!(e.why.contains("mp4v-es"), "{}", e.why);
        assert!(choose_track(&[("audio", "pcmu")]).unwrap_err().why.contains("no video"));
    }

    #[test]
    fn a_multi_line_error_becomes_its_first_line() {
        assert_eq!(
            first_line("\n  503 response to DESCRIBE CSeq=1: busy\n\nconn: a->b"),
            "503 response to DESCRIBE CSeq=1: busy"
        );
    }

    #[test]
    fn a_camera_that_cannot_be_reached_is_lost_with_its_place_and_never_its_password() {
        // A port nothing listens on: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = RtspUrl::parse(&format!("rtsp://admin:hunter2@127.0.0.1:{port}/stream")).unwrap();
        let mut source = RtspSource::new(url, RtpTransport::Tcp).unwrap();
        let Err(SourceError::Lost(why)) = source.next_frame() else { panic!("nothing listens there") };
        assert!(why.starts_with(&format!("127.0.0.1:{port}/stream: ")), "{why}");
        assert!(!why.contains("hunter2"), "{why}");
        assert_eq!(source.describe(), format!("RTSP camera 127.0.0.1:{port}/stream"));
    }
}
