//! The camera's sensor and encoder: one thread that draws the test picture at the frame
//! rate, encodes it (H.264 with openh264, or JPEG) and hands each frame's RTP payloads to
//! every playing client through a broadcast channel.
//!
//! Time is counted in *ticks* (1/fps each, since start): the RTP timestamp comes from the
//! tick, so it follows the wall clock across stalls and slow encodes, as a real camera's
//! does. The *picture* number is what is drawn (and written in the index blocks): live, it
//! is the tick; with `--preencode` it is the position in the pre-encoded loop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use openh264::encoder::{
    BitRate, Complexity, Encoder as H264Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::OpenH264API;
use tokio::sync::broadcast;

use crate::picture;
use crate::rtp;
use crate::sdp::Video;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Jpeg,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "h264" => Ok(Codec::H264),
            "h265" => Ok(Codec::H265),
            "jpeg" => Ok(Codec::Jpeg),
            _ => Err(format!("codec must be h264, h265 or jpeg, not {s:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub codec: Codec,
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    /// Frames from one IDR to the next.
    pub gop: u32,
    /// H.264 target, kbit/s; 0 picks one for the size.
    pub bitrate_kbps: u32,
    /// JPEG quality 1..=100.
    pub quality: u8,
    /// Encode this many seconds once and loop them.
    pub preencode_secs: Option<f64>,
}

/// One encoded frame, ready for any client.
#[derive(Debug)]
pub struct Frame {
    pub tick: u64,
    /// An IDR (H.264) or any JPEG: a client may start here.
    pub key: bool,
    /// RTP payloads in order; the last one gets the marker bit. Shared with the
    /// pre-encoded loop, so looping copies nothing.
    pub payloads: Arc<Vec<Vec<u8>>>,
}

/// Orders for the source thread, from stdin.
pub enum Command {
    Size(usize, usize),
    Stall(Duration),
}

/// What the source shares with the RTSP side.
pub struct Output {
    pub frames: broadcast::Sender<Arc<Frame>>,
    /// The video track as DESCRIBE should advertise it now (parameter sets change with size).
    pub video: Mutex<Video>,
    /// The tick of the newest frame sent, for PLAY's `RTP-Info: rtptime`.
    pub last_tick: AtomicU64,
    /// A client started playing: make the next live frame an IDR so it need not wait a GOP.
    pub want_key: AtomicBool,
}

/// A default H.264 bitrate: ~0.08 bit per pixel per frame (about 740 kbit/s at 640x480x30,
/// 5 Mbit/s at 1080p30), in the range IP cameras ship with.
pub fn default_bitrate_kbps(width: usize, height: usize, fps: u32) -> u32 {
    ((width * height) as f64 * fps as f64 * 0.08 / 1000.0).max(100.0) as u32
}

/// 4:2:0 planes with tight strides, the picture drawn into them.
pub struct Planes {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Planes {
    pub fn new(width: usize, height: usize) -> Self {
        let c = width.div_ceil(2) * height.div_ceil(2);
        Planes { width, height, y: vec![0; width * height], u: vec![128; c], v: vec![128; c] }
    }

    pub fn draw(&mut self, index: u64) {
        let cw = self.width.div_ceil(2);
        picture::draw(index, self.width, self.height, &mut self.y, self.width, &mut self.u, &mut self.v, cw);
    }
}

impl YUVSource for Planes {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let cw = self.width.div_ceil(2);
        (self.width, cw, cw)
    }
    fn y(&self) -> &[u8] {
        &self.y
    }
    fn u(&self) -> &[u8] {
        &self.u
    }
    fn v(&self) -> &[u8] {
        &self.v
    }
}

/// What one encoded picture came to.
pub struct Encoded {
    pub key: bool,
    pub payloads: Arc<Vec<Vec<u8>>>,
    /// SPS and PPS when the frame carried them.
    pub params: Option<(Vec<u8>, Vec<u8>)>,
}

/// The encoder of the configured codec.
pub enum Maker {
    H264(Box<H264Encoder>),
    Jpeg(edge::encode::Encoder),
    Nothing,
}

impl Maker {
    pub fn new(s: &Settings) -> Result<Self, String> {
        Ok(match s.codec {
            Codec::H264 => {
                let kbps = if s.bitrate_kbps == 0 {
                    default_bitrate_kbps(s.width, s.height, s.fps)
                } else {
                    s.bitrate_kbps
                };
                let config = EncoderConfig::new()
                    // openh264's default rate control drops pictures it cannot afford
                    // (35 out of 90 in a test here); a camera sends every frame.
                    .skip_frames(false)
                    .rate_control_mode(RateControlMode::Bitrate)
                    .bitrate(BitRate::from_bps(kbps.saturating_mul(1000)))
                    .max_frame_rate(FrameRate::from_hz(s.fps as f32))
                    .intra_frame_period(IntraFramePeriod::from_num_frames(s.gop))
                    // Scene-change IDRs would make the GOP irregular; tests count on it.
                    .scene_change_detect(false)
                    .background_detection(false)
                    .usage_type(UsageType::CameraVideoRealTime)
                    .complexity(Complexity::Low)
                    // One thread: the machine is shared, and a live test stream is small.
                    .num_threads(1)
                    // The picture is limited range; say so in the SPS as cameras do.
                    .vui(VuiConfig::bt709());
                let enc = H264Encoder::with_api_config(OpenH264API::from_source(), config)
                    .map_err(|e| format!("openh264 encoder: {e}"))?;
                Maker::H264(Box::new(enc))
            }
            Codec::Jpeg => Maker::Jpeg(edge::encode::Encoder::new(s.quality)),
            Codec::H265 => Maker::Nothing,
        })
    }

    /// Encodes `planes`; `force_key` asks for an IDR now.
    pub fn encode(&mut self, planes: &Planes, force_key: bool) -> Result<Option<Encoded>, String> {
        match self {
            Maker::H264(enc) => {
                if force_key {
                    enc.force_intra_frame();
                }
                let bits = enc.encode(planes).map_err(|e| format!("openh264 encode: {e}"))?;
                let key = bits.frame_type() == FrameType::IDR;
                if matches!(bits.frame_type(), FrameType::Skip | FrameType::Invalid) {
                    return Ok(None);
                }
                let annex_b = bits.to_vec();
                let nals = rtp::split_annex_b(&annex_b);
                let find = |t: u8| nals.iter().find(|n| n[0] & 0x1f == t).map(|n| n.to_vec());
                let params = find(7).zip(find(8));
                let payloads = Arc::new(rtp::packetize_h264(&nals, rtp::MAX_PAYLOAD));
                Ok(Some(Encoded { key, payloads, params }))
            }
            Maker::Jpeg(enc) => {
                let img = jpeg_planes(planes);
                let jpeg = enc.encode_into(&img, Vec::new()).map_err(|e| e.to_string())?;
                let parts = rtp::jpeg_parts(&jpeg)?;
                let payloads = Arc::new(rtp::packetize_jpeg(&parts, rtp::MAX_PAYLOAD)?);
                Ok(Some(Encoded { key: true, payloads, params: None }))
            }
            Maker::Nothing => Ok(None),
        }
    }
}

/// The picture as a JPEG camera would send it: full range (JFIF), in the edge's padded
/// layout for its encoder.
pub fn jpeg_planes(p: &Planes) -> edge::frame::Yuv420 {
    let mut img = edge::frame::Yuv420::new(p.width, p.height);
    let (ys, cs, cw) = (img.y_stride(), img.c_stride(), p.width.div_ceil(2));
    let full_y = |v: u8| ((v as i32 - 16) * 255 / 219).clamp(0, 255) as u8;
    let full_c = |v: u8| ((v as i32 - 128) * 255 / 224 + 128).clamp(0, 255) as u8;
    for r in 0..p.height {
        for (d, s) in img.y[r * ys..r * ys + p.width].iter_mut().zip(&p.y[r * p.width..(r + 1) * p.width]) {
            *d = full_y(*s);
        }
    }
    for r in 0..p.height.div_ceil(2) {
        for c in 0..cw {
            img.cb[r * cs + c] = full_c(p.u[r * cw + c]);
            img.cr[r * cs + c] = full_c(p.v[r * cw + c]);
        }
    }
    img.fill_bottom_padding();
    img
}

/// Encodes the first picture (to learn the parameter sets DESCRIBE needs) and returns the
/// shared output and the thread's command sender.
pub fn start(settings: Settings) -> Result<(Arc<Output>, mpsc::Sender<Command>), String> {
    let (frames, _) = broadcast::channel(settings.fps.max(1) as usize * 4);
    let state = State::new(settings)?;
    let video = state.video();
    let out = Arc::new(Output {
        frames,
        video: Mutex::new(video),
        last_tick: AtomicU64::new(0),
        want_key: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel();
    let o = out.clone();
    std::thread::Builder::new()
        .name("camera-source".into())
        .spawn(move || state.run(&o, rx))
        .map_err(|e| e.to_string())?;
    Ok((out, tx))
}

/// The source thread's state.
struct State {
    s: Settings,
    maker: Maker,
    planes: Planes,
    /// Pre-encoded loop and the next position in it.
    looped: Vec<Encoded>,
    loop_pos: usize,
    /// Parameter sets of the current size (H.264).
    params: Option<(Vec<u8>, Vec<u8>)>,
    /// The first live frame, already encoded to learn the parameter sets.
    first: Option<Encoded>,
}

impl State {
    fn new(s: Settings) -> Result<Self, String> {
        let mut st = State {
            maker: Maker::new(&s)?,
            planes: Planes::new(s.width, s.height),
            s,
            looped: Vec::new(),
            loop_pos: 0,
            params: None,
            first: None,
        };
        st.prepare()?;
        Ok(st)
    }

    /// Encodes the loop (pre-encoded mode) or the first frame (live), at the current size.
    fn prepare(&mut self) -> Result<(), String> {
        self.planes = Planes::new(self.s.width, self.s.height);
        if let Some(secs) = self.s.preencode_secs {
            // Whole GOPs, so the loop seam is an IDR and the GOP stays fixed.
            let frames = ((secs * self.s.fps as f64).ceil() as u64).max(1);
            let gop = self.s.gop.max(1) as u64;
            let frames = frames.div_ceil(gop) * gop;
            // A fresh encoder: the loop must start with an IDR.
            self.maker = Maker::new(&self.s)?;
            self.looped.clear();
            for i in 0..frames {
                self.planes.draw(i);
                if let Some(e) = self.maker.encode(&self.planes, i == 0)? {
                    self.looped.push(e);
                }
            }
            self.loop_pos = 0;
            self.params = self.looped.iter().find_map(|e| e.params.clone());
        } else {
            self.planes.draw(0);
            let first = self.maker.encode(&self.planes, true)?;
            self.params = first.as_ref().and_then(|e| e.params.clone());
            self.first = first;
        }
        if self.s.codec == Codec::H264 && self.params.is_none() {
            return Err("the H.264 encoder gave no SPS/PPS".into());
        }
        Ok(())
    }

    fn video(&self) -> Video {
        match (self.s.codec, &self.params) {
            (Codec::H264, Some((sps, pps))) => Video::H264 { sps: sps.clone(), pps: pps.clone() },
            (Codec::Jpeg, _) => Video::Jpeg,
            _ => Video::H265,
        }
    }

    fn run(mut self, out: &Output, commands: mpsc::Receiver<Command>) {
        let period = Duration::from_secs_f64(1.0 / self.s.fps.max(1) as f64);
        let start = Instant::now();
        let mut tick: u64 = 0;
        let mut stall_until: Option<Instant> = None;
        loop {
            while let Ok(cmd) = commands.try_recv() {
                match cmd {
                    Command::Stall(d) => stall_until = Some(Instant::now() + d),
                    Command::Size(w, h) => {
                        self.s.width = w;
                        self.s.height = h;
                        if self.s.preencode_secs.is_some() {
                            if let Err(e) = self.prepare() {
                                eprintln!("rtsp-camera: size {w}x{h}: {e}");
                            }
                            *out.video.lock().unwrap() = self.video();
                        } else {
                            // Live: openh264 re-initialises on the new size and starts
                            // with an IDR carrying the new SPS/PPS; `next_frame` then
                            // updates what DESCRIBE advertises.
                            self.planes = Planes::new(w, h);
                        }
                    }
                }
            }
            let due = start + period * tick as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else if now - due > period * 2 {
                // Fell behind (slow encode, busy machine, a re-encode after `size`):
                // skip ticks instead of bursting, as a camera's clock would.
                tick = ((now - start).as_secs_f64() / period.as_secs_f64()) as u64;
            }
            if stall_until.is_some_and(|until| Instant::now() < until) {
                tick += 1;
                continue;
            }
            stall_until = None;
            let frame = match self.next_frame(tick, out) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    tick += 1;
                    continue;
                }
                Err(e) => {
                    eprintln!("rtsp-camera: encode: {e}");
                    tick += 1;
                    continue;
                }
            };
            out.last_tick.store(tick, Ordering::Relaxed);
            // No receivers is fine: nobody is playing.
            let _ = out.frames.send(Arc::new(frame));
            tick += 1;
        }
    }

    fn next_frame(&mut self, tick: u64, out: &Output) -> Result<Option<Frame>, String> {
        if !self.looped.is_empty() {
            let pos = self.loop_pos % self.looped.len();
            self.loop_pos = pos + 1;
            let e = &self.looped[pos];
            return Ok(Some(Frame { tick, key: e.key, payloads: e.payloads.clone() }));
        }
        let e = match self.first.take() {
            Some(first) if tick == 0 => Some(first),
            _ => {
                self.planes.draw(tick);
                let want_key = out.want_key.swap(false, Ordering::Relaxed);
                self.maker.encode(&self.planes, want_key)?
            }
        };
        let Some(e) = e else { return Ok(None) };
        if e.params.is_some() && e.params != self.params {
            self.params = e.params.clone();
            *out.video.lock().unwrap() = self.video();
        }
        Ok(Some(Frame { tick, key: e.key, payloads: e.payloads }))
    }
}
