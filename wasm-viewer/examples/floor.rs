//! The floor of fan-out: what the kernel alone costs to send the same bytes to N viewers.
//! Benchmarks compare a broker's cost per viewer with this one's.
//!
//! It subscribes ONCE to a frame topic over plain MQTT (TCP) and re-sends every PUBLISH
//! packet it receives, byte for byte, to every connected reader: over WebSocket (one
//! binary frame around the packet) and, if given a second address, over plain MQTT/TCP.
//! Each frame's bytes are built once and shared by all readers, and each reader gets one
//! `write` per frame (more only when its socket buffer is full) from its own task, on
//! tokio's few threads: no thread per reader, whose wake-ups would add a context switch
//! per reader per frame that the kernel's sending does not need. A slow reader only
//! delays its own task, and when it is free again it takes the newest frame (the ones it
//! missed are dropped for it), so it never holds the others back. It answers CONNECT,
//! SUBSCRIBE and PINGREQ as a broker would, so that `examples/fanout.rs` reads from it
//! unchanged; it checks no login and no topic (everything subscribed gets the one stream).
//!
//!   cargo run --release -p wasm-viewer --example floor -- mqtt://127.0.0.1:1883 mqcam/cam1/frame 127.0.0.1:9101 127.0.0.1:9102
//!
//! `FLOOR_LOGIN=user:password` is its login at the upstream broker. It prints nothing
//! but errors and runs until killed.

use std::{
    io::{self, Read, Write},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    sync::{mpsc, watch},
};

use wasm_viewer::net::mqtt;

/// The largest MQTT packet accepted from either side (a 4K JPEG fits with room to spare).
const MAX_PACKET: usize = 64 << 20;

/// One frame as every reader gets it: a WebSocket binary-frame header followed by the
/// MQTT PUBLISH packet exactly as the upstream broker sent it. TCP readers get the same
/// buffer without the header, so it is built once for both.
struct Frame {
    bytes: Vec<u8>,
    ws_header: usize,
}

impl Frame {
    fn new(packet: &[u8]) -> Frame {
        let mut bytes = ws_header(packet.len());
        let ws_header = bytes.len();
        bytes.reserve_exact(packet.len());
        bytes.extend_from_slice(packet);
        Frame { bytes, ws_header }
    }
}

/// The header of an unmasked, final, binary WebSocket frame (server to client) of `len`.
fn ws_header(len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(10);
    h.push(0x82);
    if len < 126 {
        h.push(len as u8);
    } else if len <= 0xFFFF {
        h.push(126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(127);
        h.extend_from_slice(&(len as u64).to_be_bytes());
    }
    h
}

/// The newest frame. A watch channel keeps only the newest: that is the "newest wins"
/// drop for slow readers, and sending never waits for any reader.
type Newest = watch::Receiver<Option<Arc<Frame>>>;

/// The length of the MQTT packet at the start of `buf`: (fixed header length, whole
/// packet length), or None while it is incomplete.
fn packet_len(buf: &[u8]) -> io::Result<Option<(usize, usize)>> {
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else { return Ok(None) };
        len |= ((b & 0x7F) as usize) << (7 * i);
        if b & 0x80 == 0 {
            if len > MAX_PACKET {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "MQTT packet too large"));
            }
            let header = 2 + i;
            return Ok((buf.len() >= header + len).then_some((header, header + len)));
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "MQTT remaining length longer than 4 bytes"))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// The one subscription: reads PUBLISH packets from the upstream broker into `newest`.
/// Returns only on an error (the caller reconnects).
fn upstream(
    addr: &str,
    topic: &str,
    login: Option<(&str, &str)>,
    newest: &watch::Sender<Option<Arc<Frame>>>,
) -> io::Result<()> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    // A read timeout so that this one thread can also send the keep-alive pings.
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.write_all(&mqtt::connect(&format!("floor-{}", std::process::id()), 60, None, login))?;
    s.write_all(&mqtt::subscribe(1, topic, 0))?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 << 10];
    let mut pinged = Instant::now();
    loop {
        if pinged.elapsed() > Duration::from_secs(20) {
            s.write_all(&mqtt::PINGREQ)?;
            pinged = Instant::now();
        }
        let n = match s.read(&mut chunk) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "upstream broker closed")),
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while let Some((_, len)) = packet_len(&buf[at..])? {
            let p = &buf[at..at + len];
            match p[0] >> 4 {
                2 if p.get(3).copied().unwrap_or(1) != 0 => {
                    let code = p.get(3).copied().unwrap_or(0);
                    return Err(io::Error::other(format!(
                        "upstream broker refused the login: {}",
                        mqtt::connack_reason(code)
                    )));
                }
                3 => {
                    newest.send_replace(Some(Arc::new(Frame::new(p))));
                }
                _ => {}
            }
            at += len;
        }
        buf.drain(..at);
    }
}

/// What a reader sends: MQTT packets, inside WebSocket frames or not.
struct Incoming {
    stream: OwnedReadHalf,
    ws: bool,
    /// Bytes read and not parsed yet (WebSocket frames, or MQTT for TCP readers).
    raw: Vec<u8>,
    /// MQTT bytes out of the WebSocket frames, not parsed yet.
    mqtt: Vec<u8>,
    /// WebSocket-level answers owed (pongs).
    owed: Vec<u8>,
}

impl Incoming {
    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.raw.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The HTTP upgrade to WebSocket, selecting the `mqtt` subprotocol (browsers and
    /// fanout ask for it and fail the handshake without it).
    async fn handshake(&mut self, out: &mut OwnedWriteHalf) -> io::Result<()> {
        let end = loop {
            if let Some(i) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.raw.len() > 16 << 10 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "HTTP request too long"));
            }
            self.fill().await?;
        };
        let request = String::from_utf8_lossy(&self.raw[..end]).into_owned();
        self.raw.drain(..end);
        let key = request
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
            .map(|(_, v)| v.trim().to_string())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a WebSocket upgrade"))?;
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        out.write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
    }

    /// Parses one whole WebSocket frame off `raw`, if there is one.
    fn ws_frame(&mut self) -> io::Result<bool> {
        let r = &self.raw;
        if r.len() < 2 {
            return Ok(false);
        }
        let (opcode, masked, len7) = (r[0] & 0x0F, r[1] & 0x80 != 0, (r[1] & 0x7F) as usize);
        let (len, mut at) = match len7 {
            126 if r.len() >= 4 => (u16::from_be_bytes([r[2], r[3]]) as usize, 4),
            127 if r.len() >= 10 => (u64::from_be_bytes(r[2..10].try_into().expect("8 bytes")) as usize, 10),
            126 | 127 => return Ok(false),
            n => (n, 2),
        };
        if len > MAX_PACKET {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "WebSocket frame too large"));
        }
        let mask = if masked {
            if r.len() < at + 4 {
                return Ok(false);
            }
            at += 4;
            Some([r[at - 4], r[at - 3], r[at - 2], r[at - 1]])
        } else {
            None
        };
        if r.len() < at + len {
            return Ok(false);
        }
        let mut payload = r[at..at + len].to_vec();
        if let Some(m) = mask {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= m[i % 4]);
        }
        self.raw.drain(..at + len);
        match opcode {
            0x0 | 0x2 => self.mqtt.extend_from_slice(&payload),
            0x8 => return Err(io::ErrorKind::UnexpectedEof.into()),
            0x9 => {
                let mut pong = ws_header(payload.len());
                pong[0] = 0x8A;
                self.owed.extend_from_slice(&pong);
                self.owed.extend_from_slice(&payload);
            }
            _ => {}
        }
        Ok(true)
    }

    /// The next whole MQTT packet from the reader, (fixed header length, packet), or
    /// None when WebSocket answers are owed first (in `owed`).
    async fn packet(&mut self) -> io::Result<Option<(usize, Vec<u8>)>> {
        loop {
            let buf = if self.ws { &mut self.mqtt } else { &mut self.raw };
            if let Some((header, len)) = packet_len(buf)? {
                return Ok(Some((header, buf.drain(..len).collect())));
            }
            if self.ws && self.ws_frame()? {
                if !self.owed.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            self.fill().await?;
        }
    }

    /// Answers to what the reader sends next: WebSocket pongs, or the answer to its next
    /// MQTT packet; empty for packets that need none. The packet is returned too.
    async fn answers(&mut self) -> io::Result<(Vec<u8>, Option<Vec<u8>>)> {
        let Some((header, p)) = self.packet().await? else {
            return Ok((std::mem::take(&mut self.owed), None));
        };
        let out = answer(header, &p)?.map_or_else(Vec::new, |a| wrap(self.ws, &a));
        Ok((out, Some(p)))
    }
}

/// The answer to a reader's packet, or None when it needs none. Errors on DISCONNECT.
fn answer(header: usize, p: &[u8]) -> io::Result<Option<Vec<u8>>> {
    Ok(match p[0] >> 4 {
        1 => Some(vec![0x20, 2, 0, 0]),
        8 => {
            // SUBACK: the packet id, then QoS 0 granted for each filter.
            let body = &p[header..];
            let (id, mut filters, mut at) = (body.get(..2).unwrap_or(&[0, 0]), 0usize, 2);
            while at + 2 <= body.len() {
                at += 2 + u16::from_be_bytes([body[at], body[at + 1]]) as usize + 1;
                filters += 1;
            }
            let mut ack = vec![0x90, (2 + filters) as u8, id[0], id[1]];
            ack.resize(4 + filters, 0);
            Some(ack)
        }
        12 => Some(vec![0xD0, 0]),
        14 => return Err(io::ErrorKind::UnexpectedEof.into()),
        _ => None,
    })
}

fn wrap(ws: bool, packet: &[u8]) -> Vec<u8> {
    let mut out = if ws { ws_header(packet.len()) } else { Vec::new() };
    out.extend_from_slice(packet);
    out
}

/// One reader: handshake, CONNECT/SUBSCRIBE answered, then every newest frame.
async fn serve(stream: TcpStream, ws: bool, mut newest: Newest) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (input, mut out) = stream.into_split();
    let mut incoming = Incoming { stream: input, ws, raw: Vec::new(), mqtt: Vec::new(), owed: Vec::new() };
    if ws {
        incoming.handshake(&mut out).await?;
    }
    // Until the SUBSCRIBE is answered this task alone reads and writes.
    loop {
        let (reply, packet) = incoming.answers().await?;
        if !reply.is_empty() {
            out.write_all(&reply).await?;
        }
        if packet.is_some_and(|p| p[0] >> 4 == 8) {
            break;
        }
    }
    // Frames from the next one on (a broker sends nothing retained on this topic either).
    newest.borrow_and_update();
    // The reader's later packets (pings, a disconnect) are read by a task of their own,
    // which hands the answers to this one: one writer per socket.
    let (control, mut answers) = mpsc::unbounded_channel::<Vec<u8>>();
    let reading = tokio::spawn(async move {
        while let Ok((reply, _)) = incoming.answers().await {
            if !reply.is_empty() && control.send(reply).is_err() {
                break;
            }
        }
    });
    let sent = async {
        loop {
            tokio::select! {
                changed = newest.changed() => {
                    changed.map_err(|_| io::Error::other("no more frames"))?;
                    let frame = newest.borrow_and_update().clone();
                    if let Some(f) = frame {
                        out.write_all(if ws { &f.bytes } else { &f.bytes[f.ws_header..] }).await?;
                    }
                }
                reply = answers.recv() => match reply {
                    Some(r) => out.write_all(&r).await?,
                    // The reader left (or broke the protocol).
                    None => return Ok(()),
                },
            }
        }
    }
    .await;
    reading.abort();
    sent
}

async fn accept(listener: TcpListener, ws: bool, newest: Newest) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("floor: accept on {}: {e}", if ws { "WebSocket" } else { "TCP" });
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let newest = newest.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, ws, newest).await {
                // Readers leaving (closed, reset, broken pipe) is how every run ends.
                let quiet = [
                    io::ErrorKind::UnexpectedEof,
                    io::ErrorKind::ConnectionReset,
                    io::ErrorKind::BrokenPipe,
                    io::ErrorKind::ConnectionAborted,
                    io::ErrorKind::NotConnected,
                ];
                if !quiet.contains(&e.kind()) {
                    eprintln!("floor: reader: {e}");
                }
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len()) {
        eprintln!("usage: floor mqtt://HOST:PORT TOPIC WS_LISTEN_ADDR [TCP_LISTEN_ADDR]");
        std::process::exit(2);
    }
    let Some(upstream_addr) = args[1].strip_prefix("mqtt://").map(|a| a.trim_end_matches('/').to_string())
    else {
        eprintln!("floor: the upstream broker must be mqtt://HOST:PORT");
        std::process::exit(2);
    };
    let topic = args[2].clone();
    let (sender, newest) = watch::channel(None);
    for (addr, ws) in [(Some(&args[3]), true), (args.get(4), false)] {
        if let Some(addr) = addr {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    tokio::spawn(accept(l, ws, newest.clone()));
                }
                Err(e) => {
                    eprintln!("floor: listen on {addr}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    // The one subscription reads with blocking calls on a thread of its own: it is one
    // socket, and it keeps the readers' runtime free of it.
    thread::spawn(move || {
        let login = std::env::var("FLOOR_LOGIN").ok();
        let login = login.as_deref().and_then(|l| l.split_once(':'));
        loop {
            if let Err(e) = upstream(&upstream_addr, &topic, login, &sender) {
                eprintln!("floor: upstream {upstream_addr}: {e}");
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    // `newest` is kept here so that the channel stays open with no reader connected.
    let _keep = newest;
    std::future::pending::<()>().await;
}
