//! The RTSP side: one task per TCP connection answers requests and, once playing, sends
//! the source's frames as RTP over the connection (interleaved) or over UDP.
//!
//! A session lives as long as its RTSP connection (clients keep it open for keepalives),
//! which is also how `drop` ends UDP sessions: closing the connection ends the session.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, watch};

use crate::auth::Login;
use crate::rtsp::{self, Request, Response, Transport};
use crate::sdp;
use crate::source::{self, Frame};

/// Everything connections share; stdin commands change it.
pub struct Camera {
    pub out: Arc<source::Output>,
    pub source: Mutex<mpsc::Sender<source::Command>>,
    pub login: Mutex<Login>,
    /// Answer DESCRIBE with 503.
    pub refuse: AtomicBool,
    /// Bumped by `drop`: every connection closes.
    pub drops: watch::Sender<u64>,
    /// The latest `lose` command.
    pub lose: Mutex<Lose>,
    pub fps: u32,
    pub audio: bool,
    /// The digest nonce (one per run: a test camera need not rotate it).
    pub nonce: String,
}

/// A `lose N` order: every client playing when it comes loses N packets; if none is
/// playing, the next client to PLAY does.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lose {
    /// How many `lose` commands so far (a client compares it with the last it applied).
    pub epoch: u64,
    pub packets: u32,
    /// Some client applied it.
    pub taken: bool,
}

/// Random bits from the OS (initial sequence numbers, SSRCs, session ids, nonces).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("OS random source");
    u64::from_le_bytes(b)
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, cam: Arc<Camera>) {
    loop {
        match listener.accept().await {
            Ok((sock, peer)) => {
                let _ = sock.set_nodelay(true);
                let cam = cam.clone();
                tokio::spawn(async move {
                    match connection(sock, peer, cam).await {
                        // Clients hang up without ceremony (ffmpeg resets after TEARDOWN).
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                            ) =>
                        {
                            eprintln!("rtsp-camera: {peer}: closed by the client")
                        }
                        Err(e) => eprintln!("rtsp-camera: {peer}: {e}"),
                        Ok(()) => {}
                    }
                });
            }
            Err(e) => {
                eprintln!("rtsp-camera: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Where a set-up track's packets go.
enum Path {
    Interleaved { channel: u8 },
    Udp { socket: UdpSocket, to: SocketAddr, _rtcp: UdpSocket },
}

struct Track {
    /// The URL SETUP named (for `RTP-Info`).
    url: String,
    path: Path,
    ssrc: u32,
    seq: u16,
    ts_base: u32,
}

/// One connection's state.
struct Conn {
    cam: Arc<Camera>,
    peer: SocketAddr,
    local: SocketAddr,
    session: Option<String>,
    video: Option<Track>,
    audio: Option<Track>,
    playing: bool,
    /// Skip frames until an IDR: a decoder cannot start on a P-frame.
    want_key: bool,
    lose_seen: u64,
    losing: u32,
    lose_started: bool,
}

/// What a request changes besides the response.
#[derive(PartialEq, Eq)]
enum After {
    Nothing,
    Play,
    Stop,
}

async fn connection(sock: TcpStream, peer: SocketAddr, cam: Arc<Camera>) -> std::io::Result<()> {
    let local = sock.local_addr()?;
    let (mut rd, mut wr) = sock.into_split();
    let mut drops = cam.drops.subscribe();
    let mut conn = Conn {
        cam,
        peer,
        local,
        session: None,
        video: None,
        audio: None,
        playing: false,
        want_key: true,
        lose_seen: 0,
        losing: 0,
        lose_started: false,
    };
    let mut frames: Option<broadcast::Receiver<Arc<Frame>>> = None;
    let mut buf = Vec::with_capacity(4096);
    let mut scratch = Vec::new();
    loop {
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                if r? == 0 {
                    return Ok(());
                }
                loop {
                    match rtsp::parse(&buf) {
                        Ok(rtsp::Incoming::Partial) => break,
                        Ok(rtsp::Incoming::Interleaved { used }) => {
                            buf.drain(..used);
                        }
                        Ok(rtsp::Incoming::Request { request, used }) => {
                            buf.drain(..used);
                            let (resp, after) = conn.handle(&request).await;
                            eprintln!(
                                "rtsp-camera: {peer} {} {} -> {}",
                                request.method,
                                rtsp::redact(&request.url),
                                resp.status()
                            );
                            wr.write_all(&resp.encode(request.header("CSeq"))).await?;
                            match after {
                                After::Play => {
                                    frames = Some(conn.cam.out.frames.subscribe());
                                    conn.cam.out.want_key.store(true, Ordering::Relaxed);
                                }
                                After::Stop => frames = None,
                                After::Nothing => {}
                            }
                        }
                        Err(e) => {
                            eprintln!("rtsp-camera: {peer}: {e}");
                            wr.write_all(&Response::new(400).encode(None)).await?;
                            return Ok(());
                        }
                    }
                }
            }
            f = next_frame(&mut frames) => match f {
                Ok(frame) => conn.send(&frame, &mut wr, &mut scratch).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => conn.want_key = true,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = drops.changed() => {
                eprintln!("rtsp-camera: {peer}: dropping the connection");
                return Ok(());
            }
        }
    }
}

/// The next frame, or never when not playing.
async fn next_frame(
    rx: &mut Option<broadcast::Receiver<Arc<Frame>>>,
) -> Result<Arc<Frame>, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    async fn handle(&mut self, req: &Request) -> (Response, After) {
        if req.method != "OPTIONS" {
            let login = self.cam.login.lock().unwrap().clone();
            if !login.accepts(&req.method, req.header("Authorization"), &self.cam.nonce) {
                let mut r = Response::new(401);
                if let Some(c) = login.challenge(&self.cam.nonce) {
                    r = r.header("WWW-Authenticate", c);
                }
                return (r, After::Nothing);
            }
        }
        if !matches!(req.method.as_str(), "OPTIONS" | "DESCRIBE" | "SETUP") {
            if let (Some(ours), Some(theirs)) = (&self.session, req.session()) {
                if ours != theirs {
                    return (Response::new(454), After::Nothing);
                }
            }
        }
        match req.method.as_str() {
            "OPTIONS" => (
                Response::new(200).header(
                    "Public",
                    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN",
                ),
                After::Nothing,
            ),
            "DESCRIBE" => (self.describe(req), After::Nothing),
            "SETUP" => (self.setup(req).await, After::Nothing),
            "PLAY" => self.play(req),
            "PAUSE" => {
                self.playing = false;
                (self.with_session(Response::new(200)), After::Stop)
            }
            "GET_PARAMETER" | "SET_PARAMETER" => (self.with_session(Response::new(200)), After::Nothing),
            "TEARDOWN" => {
                self.playing = false;
                self.video = None;
                self.audio = None;
                self.session = None;
                (Response::new(200), After::Stop)
            }
            _ => (Response::new(501), After::Nothing),
        }
    }

    fn with_session(&self, r: Response) -> Response {
        match &self.session {
            Some(id) => r.header("Session", format!("{id};timeout=60")),
            None => r,
        }
    }

    fn describe(&self, req: &Request) -> Response {
        if self.cam.refuse.load(Ordering::Relaxed) {
            return Response::new(503);
        }
        let video = self.cam.out.video.lock().unwrap().clone();
        let ip = self.local.ip().to_string();
        let body = sdp::make(&video, self.cam.fps, self.cam.audio, random_u64() >> 1, &ip);
        let mut base = rtsp::redact(&req.url);
        if !base.ends_with('/') {
            base.push('/');
        }
        Response::new(200).header("Content-Base", base).body("application/sdp", body)
    }

    async fn setup(&mut self, req: &Request) -> Response {
        let is_audio = match rtsp::track_of(&req.url) {
            Some("trackID=0") => false,
            Some("trackID=1") if self.cam.audio => true,
            _ => return Response::new(404),
        };
        if let (Some(ours), Some(theirs)) = (&self.session, req.session()) {
            if ours != theirs {
                return Response::new(454);
            }
        }
        let Some(transport) = req.header("Transport") else { return Response::new(461) };
        let transport = match rtsp::parse_transport(transport) {
            Ok(t) => t,
            Err(_) => return Response::new(461),
        };
        let ssrc = random_u64() as u32;
        let (path, reply) = match transport {
            Transport::Interleaved(channels) => {
                let (a, b) = channels.unwrap_or(if is_audio { (2, 3) } else { (0, 1) });
                (
                    Path::Interleaved { channel: a },
                    format!("RTP/AVP/TCP;unicast;interleaved={a}-{b};ssrc={ssrc:08X}"),
                )
            }
            Transport::Udp { client_ports: (rtp_port, rtcp_port) } => {
                let Ok((socket, rtcp)) = udp_pair(self.local.ip()).await else { return Response::new(500) };
                let (sp, spc) = (port(&socket), port(&rtcp));
                let to = SocketAddr::new(self.peer.ip(), rtp_port);
                (
                    Path::Udp { socket, to, _rtcp: rtcp },
                    format!(
                        "RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port};server_port={sp}-{spc};ssrc={ssrc:08X}"
                    ),
                )
            }
        };
        let track = Track {
            url: rtsp::redact(&req.url),
            path,
            ssrc,
            seq: random_u64() as u16,
            ts_base: random_u64() as u32,
        };
        if is_audio {
            self.audio = Some(track);
        } else {
            self.video = Some(track);
        }
        let id = self.session.get_or_insert_with(|| format!("{:016X}", random_u64())).clone();
        Response::new(200).header("Transport", reply).header("Session", format!("{id};timeout=60"))
    }

    fn play(&mut self, _req: &Request) -> (Response, After) {
        if self.session.is_none() {
            return (Response::new(455), After::Nothing);
        }
        let next_tick = self.cam.out.last_tick.load(Ordering::Relaxed) + 1;
        let fps = self.cam.fps as u64;
        let mut infos = Vec::new();
        for t in [&self.video, &self.audio].into_iter().flatten() {
            let ts = t.ts_base.wrapping_add((next_tick * 90_000 / fps) as u32);
            infos.push(format!("url={};seq={};rtptime={ts}", t.url, t.seq));
        }
        let r = self
            .with_session(Response::new(200))
            .header("Range", "npt=0.000-")
            .header("RTP-Info", infos.join(","));
        if self.playing || self.video.is_none() {
            return (r, After::Nothing);
        }
        self.playing = true;
        self.want_key = true;
        // A loss ordered before this PLAY is this client's only if nobody took it.
        let lose = *self.cam.lose.lock().unwrap();
        self.lose_seen = if lose.taken { lose.epoch } else { lose.epoch.wrapping_sub(1) };
        (r, After::Play)
    }

    /// Sends one frame's packets on the video track.
    async fn send(
        &mut self,
        frame: &Frame,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
        scratch: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        if self.want_key && !frame.key {
            return Ok(());
        }
        self.want_key = false;
        {
            let mut lose = self.cam.lose.lock().unwrap();
            if lose.epoch != self.lose_seen {
                lose.taken = true;
                self.lose_seen = lose.epoch;
                self.losing = lose.packets;
                self.lose_started = false;
            }
        }
        let fps = self.cam.fps as u64;
        let Some(track) = &mut self.video else { return Ok(()) };
        let pt = self.cam.out.video.lock().unwrap().payload_type();
        let ts = track.ts_base.wrapping_add((frame.tick * 90_000 / fps) as u32);
        scratch.clear();
        let count = frame.payloads.len();
        for (i, payload) in frame.payloads.iter().enumerate() {
            let seq = track.seq;
            track.seq = track.seq.wrapping_add(1);
            // `lose` starts in the middle of a frame (its second packet), the case that
            // leaves a decoder with half a picture.
            if self.losing > 0 && (self.lose_started || i >= 1) {
                self.losing -= 1;
                self.lose_started = self.losing > 0;
                continue;
            }
            let header = crate::rtp::header(i + 1 == count, pt, seq, ts, track.ssrc);
            match &track.path {
                Path::Interleaved { channel } => {
                    let len = (header.len() + payload.len()) as u16;
                    scratch.push(b'$');
                    scratch.push(*channel);
                    scratch.extend_from_slice(&len.to_be_bytes());
                    scratch.extend_from_slice(&header);
                    scratch.extend_from_slice(payload);
                }
                Path::Udp { socket, to, .. } => {
                    scratch.clear();
                    scratch.extend_from_slice(&header);
                    scratch.extend_from_slice(payload);
                    // A client gone away shows as an ICMP error here: not ours to report.
                    let _ = socket.send_to(scratch, *to).await;
                }
            }
        }
        if matches!(track.path, Path::Interleaved { .. }) {
            // One write per frame: a whole frame in one syscall where the socket allows.
            wr.write_all(scratch).await?;
        }
        Ok(())
    }
}

fn port(s: &UdpSocket) -> u16 {
    s.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// Two UDP sockets on adjacent ports, RTP on the even one (RFC 3550 §11 convention).
async fn udp_pair(ip: std::net::IpAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    for _ in 0..20 {
        let a = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let p = port(&a);
        if !p.is_multiple_of(2) || p == u16::MAX {
            continue;
        }
        if let Ok(b) = UdpSocket::bind(SocketAddr::new(ip, p + 1)).await {
            return Ok((a, b));
        }
    }
    // No adjacent pair free: any two ports still work for clients that read server_port.
    let a = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let b = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    Ok((a, b))
}
