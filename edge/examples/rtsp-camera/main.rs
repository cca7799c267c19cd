//! `rtsp-camera`: our own RTSP/H.264 IP camera for the edge's tests and benchmark, run as a
//! separate process so the edge meets it over real sockets as it would a camera.
//!
//! ```text
//! cargo run -p edge --example rtsp-camera -- [flags]
//! ```
//! It prints exactly one line on stdout once listening, then flushes:
//! `rtsp-camera listening on rtsp://127.0.0.1:PORT/` (any path is served).
//!
//! # Flags
//! - `--port N` (0, the default, picks a free port), `--bind 127.0.0.1`
//! - `--size WxH` (640x480; even sizes, multiples of 8 with `--codec jpeg`), `--fps N` (30),
//!   `--gop N` frames between IDRs (2 x fps), `--bitrate KBIT/S` (0 = about 0.08 bit per
//!   pixel per frame), `--quality Q` (JPEG, 80)
//! - `--user U --password P`: a login is required (`--auth digest`, the default, or `basic`)
//! - `--codec h264|h265|jpeg`: H.264 (openh264, packetization-mode 1); H.265 is only
//!   advertised in the SDP (nothing is sent after PLAY), for testing the edge's refusal;
//!   JPEG is MJPEG over RTP (RFC 2435, payload type 26, full-range pictures)
//! - `--preencode SECONDS`: encode that long once (rounded up to whole GOPs) and loop it,
//!   RTP timestamps and sequence numbers still increasing, so serving costs almost no CPU
//! - `--audio`: also list a PCMU audio track (`trackID=1`; set up if asked, never sent)
//!
//! Transports: RTP over the RTSP connection (`RTP/AVP/TCP;interleaved=`) or UDP
//! (`RTP/AVP;client_port=`). Methods: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE,
//! GET_PARAMETER, SET_PARAMETER, TEARDOWN. Any number of clients, each its own session.
//! Each request is logged to stderr as `rtsp-camera: PEER METHOD URL -> STATUS` (URLs
//! without logins). A client's first frame is an IDR: live, a PLAY makes the next frame
//! one (openh264 restarts the GOP there, as many cameras do); with `--preencode` the client
//! waits for the loop's next IDR. openh264 prints one harmless warning per encoder on
//! stderr ("bitrate can't be controlled ... without enabling skip frame"): the rate
//! still lands near `--bitrate` (727 kbit/s measured for 737 asked at 640x480x30).
//! End of stdin only ends the commands: the camera runs until killed or told `quit`.
//!
//! # Commands on stdin (one a line; each answered `ok <command>` or `error <command>: why`)
//! - `drop`: close every client's connection now (mid-GOP), like a camera reboot
//! - `stall SECONDS`: the sensor stops: no RTP for that long, connections stay open;
//!   afterwards sequence numbers go on without a gap and timestamps jump by the stall
//! - `lose N`: clients playing now skip their next N RTP packets (sequence numbers still
//!   count them: a gap), starting at the second packet of the next frame that has several
//!   (an IDR at small sizes), so a frame arrives cut; with no client playing, the next
//!   client to PLAY takes it
//! - `size WxH`: new resolution from the next frame: an IDR with new SPS/PPS in band (with
//!   `--preencode` the loop is encoded again first, during which no frames go out)
//! - `auth basic|digest|none`, `user U`, `password P` (answered `ok password`): the logins
//!   accepted from the next request on (so a test can see a 401, then a fixed password)
//! - `refuse` / `accept`: answer DESCRIBE with 503 / normally
//! - `quit`: exit
//!
//! The picture (black left strip, white right strip, the frame index in 16 big bits) is
//! drawn by `tests/rtsp_picture.rs`, which the edge's tests include to read it back.

#[path = "../../tests/rtsp_picture.rs"]
mod picture;

mod auth;
mod rtp;
mod rtsp;
mod sdp;
mod server;
mod source;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;

use auth::{Login, Mode};
use server::Camera;
use source::Codec;

#[derive(Parser, Debug, Clone)]
#[command(about = "A test RTSP camera: H.264 (or MJPEG) over RTP, faults on stdin commands")]
struct Args {
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    #[arg(long, default_value = "640x480", value_parser = parse_size)]
    size: (usize, usize),
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Frames from one IDR to the next (default 2 x fps).
    #[arg(long)]
    gop: Option<u32>,
    /// H.264 target in kbit/s (0: picked from the size).
    #[arg(long, default_value_t = 0)]
    bitrate: u32,
    /// JPEG quality for `--codec jpeg`.
    #[arg(long, default_value_t = 80)]
    quality: u8,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    password: Option<String>,
    #[arg(long, default_value = "digest")]
    auth: Mode,
    #[arg(long, default_value = "h264")]
    codec: Codec,
    #[arg(long)]
    preencode: Option<f64>,
    #[arg(long)]
    audio: bool,
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("size must be WxH, not {s:?}"))?;
    let w: usize = w.trim().parse().map_err(|_| format!("bad width in {s:?}"))?;
    let h: usize = h.trim().parse().map_err(|_| format!("bad height in {s:?}"))?;
    if w < 32 || h < 16 {
        return Err(format!("{s}: at least 32x16 (the index blocks need room)"));
    }
    Ok((w, h))
}

/// Sizes each codec can carry.
fn check_size(codec: Codec, (w, h): (usize, usize)) -> Result<(), String> {
    match codec {
        Codec::H264 if !w.is_multiple_of(2) || !h.is_multiple_of(2) => {
            Err(format!("{w}x{h}: H.264 4:2:0 needs even sizes"))
        }
        Codec::H264 if w > 3840 || h > 2160 => Err(format!("{w}x{h}: openh264 stops at 3840x2160")),
        // RFC 2435 sends the size in units of 8 pixels, up to 255 of them.
        Codec::Jpeg if !w.is_multiple_of(8) || !h.is_multiple_of(8) || w > 2040 || h > 2040 => {
            Err(format!("{w}x{h}: RFC 2435 needs multiples of 8, at most 2040"))
        }
        _ => Ok(()),
    }
}

/// Starts the source and the listener; returns the address and the shared camera.
async fn start(args: &Args) -> Result<(SocketAddr, Arc<Camera>, tokio::task::JoinHandle<()>), String> {
    check_size(args.codec, args.size)?;
    let fps = args.fps.clamp(1, 240);
    let settings = source::Settings {
        codec: args.codec,
        width: args.size.0,
        height: args.size.1,
        fps,
        gop: args.gop.unwrap_or(2 * fps).max(1),
        bitrate_kbps: args.bitrate,
        quality: args.quality,
        preencode_secs: args.preencode.filter(|s| *s > 0.0),
    };
    let (out, tx) = source::start(settings)?;
    let listener = tokio::net::TcpListener::bind((args.bind, args.port))
        .await
        .map_err(|e| format!("bind {}:{}: {e}", args.bind, args.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let needs_login = args.user.is_some() || args.password.is_some();
    let login = Login {
        mode: if needs_login { args.auth } else { Mode::None },
        user: args.user.clone().unwrap_or_else(|| "admin".into()),
        password: args.password.clone().unwrap_or_default(),
    };
    let cam = Arc::new(Camera {
        out,
        source: Mutex::new(tx),
        login: Mutex::new(login),
        refuse: AtomicBool::new(false),
        drops: tokio::sync::watch::channel(0).0,
        lose: Mutex::new(server::Lose { taken: true, ..Default::default() }),
        fps,
        audio: args.audio,
        nonce: format!("{:016x}", server::random_u64()),
    });
    let task = tokio::spawn(server::serve(listener, cam.clone()));
    Ok((addr, cam, task))
}

/// Applies one stdin command; `Ok` is the text after `ok `.
fn command(cam: &Camera, codec: Codec, line: &str) -> Result<String, String> {
    let line = line.trim();
    let (word, arg) = line.split_once(char::is_whitespace).map(|(w, a)| (w, a.trim())).unwrap_or((line, ""));
    let send = |c| cam.source.lock().unwrap().send(c).map_err(|_| "the source thread is gone".to_string());
    match word {
        "drop" => {
            cam.drops.send_modify(|g| *g += 1);
        }
        "stall" => {
            let secs: f64 = arg.parse().map_err(|_| format!("stall SECONDS, not {arg:?}"))?;
            send(source::Command::Stall(Duration::from_secs_f64(secs.clamp(0.0, 3600.0))))?;
        }
        "lose" => {
            let n: u32 = arg.parse().map_err(|_| format!("lose N, not {arg:?}"))?;
            let mut l = cam.lose.lock().unwrap();
            *l = server::Lose { epoch: l.epoch + 1, packets: n, taken: false };
        }
        "size" => {
            let (w, h) = parse_size(arg)?;
            check_size(codec, (w, h))?;
            send(source::Command::Size(w, h))?;
        }
        "auth" => cam.login.lock().unwrap().mode = arg.parse()?,
        "user" => cam.login.lock().unwrap().user = arg.to_string(),
        "password" => {
            cam.login.lock().unwrap().password = arg.to_string();
            return Ok("password".into());
        }
        "refuse" => cam.refuse.store(true, Ordering::Relaxed),
        "accept" => cam.refuse.store(false, Ordering::Relaxed),
        "quit" => {}
        _ => return Err(format!("unknown command {word:?}")),
    }
    Ok(line.to_string())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rtsp-camera: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        // One I/O thread is plenty for a test camera and keeps its CPU easy to read.
        let (addr, cam, task) = match start(&args).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rtsp-camera: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "rtsp-camera listening on rtsp://{addr}/");
        let _ = stdout.flush();
        drop(stdout);
        let codec = args.codec;
        std::thread::spawn(move || {
            // End of stdin just ends the commands: the camera runs until killed or `quit`.
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let reply = match command(&cam, codec, &line) {
                    Ok(done) => format!("ok {done}"),
                    Err(e) => format!("error {}: {e}", line.split_whitespace().next().unwrap_or("")),
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{reply}");
                let _ = out.flush();
                if line.trim() == "quit" {
                    std::process::exit(0);
                }
            }
        });
        let _ = task.await;
        std::process::ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests;
