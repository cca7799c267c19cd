//! Network cameras as frame sources: an HTTP MJPEG stream ([`HttpMjpeg`]) or a JPEG
//! snapshot URL polled at a frame rate ([`HttpSnapshot`]).
//!
//! IP cameras, ESP32-CAM, ustreamer, mjpg-streamer and go2rtc all serve MJPEG as one
//! endless `multipart/x-mixed-replace` response; every part is a finished JPEG, passed
//! through as [`Picture::Jpeg`] without re-encoding. The parsing lives in
//! [`super::multipart`] (no I/O); this file is the thin blocking HTTP/1.1 client around
//! it, on a plain `TcpStream` with connect and read timeouts.
//!
//! Failures are [`SourceError::Lost`] with a message that names the camera by its URL,
//! password replaced by `***`; the pipeline waits with backoff and calls again, and the
//! next call reconnects. Plain http only: cameras live on the LAN and rarely have a
//! certificate anything would trust.

use std::{
    fmt,
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use base64::Engine as _;

use super::{
    multipart::{self, ChunkedError, Dechunker, Multipart, MultipartError},
    pace::Pacer,
    seam::{Source, SourceError},
};
use crate::{
    clock,
    frame::{Captured, Picture},
};

/// How long a camera may take to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a camera may send nothing before it counts as lost.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest snapshot body kept in memory (the stream's parts have the same limit).
const MAX_PICTURE: usize = multipart::MAX_PART;
/// The largest response head.
const MAX_HEAD: usize = 16 << 10;
/// How much is read from the socket at a time.
const READ_CHUNK: usize = 64 << 10;
/// Non-JPEG parts in a row before the stream counts as not a camera's.
const MAX_NOT_JPEG: u32 = 3;

/// Why a camera URL cannot be used. Checked when the source is made, before any I/O.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("https cameras are not supported yet; use http:// on the LAN")]
    Https,
    #[error("a camera URL must start with http:// (this one starts with {0}://)")]
    NotHttp(String),
    #[error("a camera URL must start with http://")]
    NoScheme,
    #[error("camera URL {0} has no host")]
    NoHost(String),
    #[error("camera URL {0} has a bad port (a number from 1 to 65535 after the host)")]
    BadPort(String),
    #[error("camera URL {0} contains spaces or control characters; percent-encode them")]
    BadCharacter(String),
    #[error(
        "a camera URL's login must have '/', '?' and '#' percent-encoded (%2F, %3F, %23); \
         if it has no login, write '@' as %40"
    )]
    LoginNeedsEscape,
    #[error("camera URL {0} has a login with a bad %-escape (use %XX with two hex digits)")]
    BadEscape(String),
}

/// A parsed `http://[user[:password]@]host[:port][/path][?query]` URL.
struct Url {
    /// Without brackets for IPv6 literals: this is what is connected to.
    host: String,
    port: u16,
    /// The `Host` header: as written in the URL, port included when it is not 80.
    authority: String,
    /// Path and query, as written (already percent-encoded); `/` when empty.
    target: String,
    /// The `Authorization` header value, if the URL has a login.
    authorization: Option<String>,
    /// The URL as shown to people: the password replaced by `***`.
    shown: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, HttpError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(HttpError::NoScheme);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" => {}
            "https" => return Err(HttpError::Https),
            // Shown only if it looks like a scheme: whatever else it is might be a login.
            s if !s.is_empty()
                && s.len() <= 16
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
            {
                return Err(HttpError::NotHttp(scheme.to_string()))
            }
            _ => return Err(HttpError::NoScheme),
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        // `user:pa/ss@cam` would end the host at the `/`, and every message would then
        // show the rest of the password: refuse it without showing the URL.
        if !authority.contains('@') && rest.split_once('@').is_some_and(|(before, _)| before.contains(':')) {
            return Err(HttpError::LoginNeedsEscape);
        }
        let target = target.split('#').next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let shown_login = userinfo.map(|u| match u.split_once(':') {
            Some((user, _)) => format!("{user}:***@"),
            None => format!("{u}@"),
        });
        let shown = format!("http://{}{hostport}{target}", shown_login.unwrap_or_default());
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(HttpError::BadCharacter(shown));
        }

        // `written`: the host as in the URL (brackets kept), for the Host header.
        let (host, written, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| HttpError::NoHost(shown.clone()))?;
            (host, &hostport[..host.len() + 2], after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, h, Some(p)),
                None => (hostport, hostport, None),
            }
        };
        if host.is_empty() {
            return Err(HttpError::NoHost(shown));
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse().ok().filter(|&p| p != 0).ok_or_else(|| HttpError::BadPort(shown.clone()))?,
        };
        let authorization = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let decode = |s| percent_decode(s).ok_or_else(|| HttpError::BadEscape(shown.clone()));
                let login = format!("{}:{}", decode(user)?, decode(password)?);
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(login)))
            }
        };
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        let authority = if port == 80 { written.to_string() } else { format!("{written}:{port}") };
        Ok(Url { host: host.to_string(), port, authority, target, authorization, shown })
    }

    /// The request for this URL.
    fn get_request(&self) -> String {
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mqcam-edge\r\nAccept: */*\r\n",
            self.target, self.authority
        );
        if let Some(auth) = &self.authorization {
            req.push_str(&format!("Authorization: {auth}\r\n"));
        }
        req.push_str("\r\n");
        req
    }
}

/// Never the password: a `Url` may end up in a log through `{:?}`.
impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `%XX` escapes decoded; `None` if one is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What went wrong with a camera, phrased to follow "camera <URL> ".
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("has a host name that does not resolve: {0}")]
    Resolve(io::Error),
    #[error("did not answer a connection within {}", human(*.0))]
    ConnectTimeout(Duration),
    #[error("refused the connection (nothing listens on port {0}; is it on, is the port right?)")]
    Refused(u16),
    #[error("cannot be reached: {0}")]
    Connect(io::Error),
    #[error("did not take the request: {0}")]
    Send(io::Error),
    #[error("sent nothing for {}", human(*.0))]
    Silent(Duration),
    #[error("closed the connection")]
    Closed,
    #[error("failed: {0}")]
    Io(io::Error),
    #[error("sent a malformed HTTP response: {0}")]
    BadResponse(String),
    #[error("refused the login (HTTP 401); check the user and password in the URL")]
    LoginRefused,
    #[error("asks for a login (HTTP 401); put it in the URL: http://user:password@host/…")]
    LoginNeeded,
    #[error("asks for Digest authentication (HTTP 401), which is not supported yet; enable Basic authentication on the camera")]
    DigestOnly,
    #[error("answered HTTP {status} {reason}{}", .location.as_ref().map(|l| format!(" pointing to {l}; use that URL")).unwrap_or_default())]
    Status { status: u16, reason: String, location: Option<String> },
    #[error(
        "does not send an MJPEG stream (Content-Type: {0}); for a single-picture URL use a snapshot source"
    )]
    NotMultipart(String),
    #[error("sends multipart without a boundary in its Content-Type ({0})")]
    NoBoundary(String),
    #[error("sent broken chunked encoding: {0}")]
    Chunked(#[from] ChunkedError),
    #[error("sent a broken MJPEG stream: {0}")]
    Multipart(MultipartError),
    #[error("sent parts that are not JPEG pictures")]
    PartsNotJpeg,
    #[error("sent something that is not a JPEG picture (Content-Type: {0})")]
    NotJpeg(String),
    #[error("sent a picture larger than the limit of {} MiB", MAX_PICTURE >> 20)]
    TooLarge,
    #[error("ended the stream")]
    Ended,
}

impl Failure {
    /// Whether a reused keep-alive connection had been closed by the camera in the
    /// meantime: then a fresh connection is worth one more try.
    fn is_stale(&self) -> bool {
        match self {
            Failure::Closed | Failure::Send(_) => true,
            Failure::Io(e) => {
                matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted)
            }
            _ => false,
        }
    }
}

/// "10 s", or "250 ms" below a second.
fn human(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn lost(url: &Url, failure: Failure) -> SourceError {
    SourceError::Lost(format!("camera {url} {failure}"))
}

/// The connect and read timeouts of one source.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: CONNECT_TIMEOUT, read: READ_TIMEOUT }
    }
}

/// A response's status line and headers.
struct Head {
    status: u16,
    reason: String,
    /// HTTP/1.x minor version.
    minor: u8,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// Only a 200 carries a picture.
    fn check(&self, url: &Url) -> Result<(), Failure> {
        match self.status {
            200 => Ok(()),
            401 => {
                let asks = self.header("www-authenticate").unwrap_or_default().to_ascii_lowercase();
                Err(if asks.starts_with("digest") {
                    Failure::DigestOnly
                } else if url.authorization.is_some() {
                    Failure::LoginRefused
                } else {
                    Failure::LoginNeeded
                })
            }
            status => Err(Failure::Status {
                status,
                reason: self.reason.clone(),
                location: (300..400)
                    .contains(&status)
                    .then(|| self.header("location").map(String::from))
                    .flatten(),
            }),
        }
    }
}

/// One TCP connection to the camera, with the bytes read but not yet used.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    read_timeout: Duration,
}

impl Conn {
    fn open(url: &Url, timeouts: Timeouts) -> Result<Conn, Failure> {
        let addrs: Vec<_> =
            (url.host.as_str(), url.port).to_socket_addrs().map_err(Failure::Resolve)?.collect();
        let mut last = Failure::Resolve(io::Error::new(io::ErrorKind::NotFound, "no addresses"));
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeouts.connect) {
                Ok(stream) => {
                    // A zero timeout would mean "block forever" to set_read_timeout.
                    let read = timeouts.read.max(Duration::from_millis(1));
                    let setup = stream
                        .set_read_timeout(Some(read))
                        .and_then(|()| stream.set_write_timeout(Some(read)))
                        .and_then(|()| stream.set_nodelay(true));
                    setup.map_err(Failure::Io)?;
                    return Ok(Conn { stream, buf: Vec::new(), read_timeout: timeouts.read });
                }
                Err(e) => {
                    last = match e.kind() {
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                            Failure::ConnectTimeout(timeouts.connect)
                        }
                        io::ErrorKind::ConnectionRefused => Failure::Refused(url.port),
                        _ => Failure::Connect(e),
                    }
                }
            }
        }
        Err(last)
    }

    fn send(&mut self, request: &str) -> Result<(), Failure> {
        self.stream.write_all(request.as_bytes()).map_err(Failure::Send)
    }

    /// Reads what has arrived into `out`; 0 only at the end of the stream.
    fn read(&mut self, out: &mut [u8]) -> Result<usize, Failure> {
        loop {
            match self.stream.read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A read timeout shows up as either, depending on the platform.
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(Failure::Silent(self.read_timeout))
                }
                Err(e) => return Err(Failure::Io(e)),
            }
        }
    }

    /// Appends the next bytes to `buf`; `Ok(false)` at the end of the stream.
    fn fill(&mut self) -> Result<bool, Failure> {
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let mut buf = std::mem::take(&mut self.buf);
        let n = self.read(&mut buf[old..]);
        buf.truncate(old + *n.as_ref().unwrap_or(&0));
        self.buf = buf;
        Ok(n? > 0)
    }

    /// Reads a response head (skipping `100 Continue` and the like).
    fn read_head(&mut self) -> Result<Head, Failure> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head {
                        status: response.code.unwrap_or_default(),
                        reason: response.reason.unwrap_or_default().to_string(),
                        minor: response.version.unwrap_or_default(),
                        headers: response
                            .headers
                            .iter()
                            .map(|h| {
                                (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string())
                            })
                            .collect(),
                    };
                    self.buf.drain(..len);
                    if (100..200).contains(&head.status) {
                        continue;
                    }
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(Failure::BadResponse(e.to_string())),
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Failure::BadResponse(format!("the head is longer than {} KiB", MAX_HEAD >> 10)));
            }
            if !self.fill()? {
                return Err(Failure::Closed);
            }
        }
    }

    /// A whole response body: by `Content-Length`, chunked, or up to the end of the
    /// connection. Returns it and whether the connection can carry another request.
    fn read_body(&mut self, head: &Head) -> Result<(Vec<u8>, bool), Failure> {
        let close_asked = head.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || (head.minor == 0
                && !head.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
        if head.is_chunked() {
            let mut dechunker = Dechunker::new();
            let mut body = Vec::new();
            loop {
                let used = dechunker.feed(&self.buf, &mut body)?;
                self.buf.drain(..used);
                if dechunker.is_done() {
                    return Ok((body, !close_asked));
                }
                if body.len() > MAX_PICTURE {
                    return Err(Failure::TooLarge);
                }
                if !self.fill()? {
                    return Err(Failure::Closed);
                }
            }
        }
        if let Some(length) = head.header("content-length") {
            let length: usize =
                length.parse().map_err(|_| Failure::BadResponse(format!("Content-Length {length:?}")))?;
            if length > MAX_PICTURE {
                return Err(Failure::TooLarge);
            }
            while self.buf.len() < length {
                if !self.fill()? {
                    return Err(Failure::Closed);
                }
            }
            let rest = self.buf.split_off(length);
            return Ok((std::mem::replace(&mut self.buf, rest), !close_asked));
        }
        while self.fill()? {
            if self.buf.len() > MAX_PICTURE {
                return Err(Failure::TooLarge);
            }
        }
        Ok((std::mem::take(&mut self.buf), false))
    }
}

/// An HTTP MJPEG stream (`multipart/x-mixed-replace`), one JPEG per part.
pub struct HttpMjpeg {
    url: Url,
    timeouts: Timeouts,
    /// `None` until the first frame is asked for, and again after a failure.
    stream: Option<Stream>,
}

/// An open MJPEG response.
struct Stream {
    conn: Conn,
    dechunker: Option<Dechunker>,
    parts: Multipart,
    /// Reused read and de-chunking buffers.
    scratch: Vec<u8>,
    decoded: Vec<u8>,
    /// When the last bytes arrived: the capture time of a part they completed.
    read_us: u64,
    not_jpeg: u32,
}

impl HttpMjpeg {
    /// A stream from `url`. Only the URL is checked here; the camera is connected to on
    /// the first [`Source::next_frame`].
    pub fn new(url: &str) -> Result<HttpMjpeg, HttpError> {
        Ok(HttpMjpeg { url: Url::parse(url)?, timeouts: Timeouts::default(), stream: None })
    }

    /// How long the camera may send nothing before it counts as lost (default
    /// [`READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.read = timeout;
        self
    }

    /// How long connecting may take (default [`CONNECT_TIMEOUT`]).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = timeout;
        self
    }

    fn open(&self) -> Result<Stream, Failure> {
        let mut conn = Conn::open(&self.url, self.timeouts)?;
        conn.send(&self.url.get_request())?;
        let head = conn.read_head()?;
        head.check(&self.url)?;
        let content_type = head.header("content-type").unwrap_or_default();
        if !content_type.to_ascii_lowercase().starts_with("multipart/") {
            return Err(Failure::NotMultipart(content_type.to_string()));
        }
        let parts = multipart::boundary_from_content_type(content_type)
            .and_then(|b| Multipart::new(&b))
            .ok_or_else(|| Failure::NoBoundary(content_type.to_string()))?;
        tracing::info!(camera = %self.url, "MJPEG stream open");
        let mut stream = Stream {
            dechunker: head.is_chunked().then(Dechunker::new),
            parts,
            scratch: vec![0; READ_CHUNK],
            decoded: Vec::new(),
            read_us: clock::now_us(),
            not_jpeg: 0,
            conn,
        };
        // The read that brought the head may have brought the first bytes of the body.
        let early = std::mem::take(&mut stream.conn.buf);
        stream.feed(&early)?;
        Ok(stream)
    }
}

impl Stream {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        match &mut self.dechunker {
            None => self.parts.push(bytes),
            Some(dechunker) => {
                self.decoded.clear();
                dechunker.feed(bytes, &mut self.decoded)?;
                self.parts.push(&self.decoded);
            }
        }
        Ok(())
    }

    /// The next part that is a JPEG, and when its last byte arrived. Parts are taken in
    /// order and none is buffered beyond the one being read: when the camera is faster
    /// than we are asked, the pipeline's newest-frame slot drops the extras.
    fn next_jpeg(&mut self) -> Result<(Vec<u8>, u64), Failure> {
        loop {
            match self.parts.next_part() {
                Ok(Some(part)) if part.starts_with(&[0xFF, 0xD8]) => {
                    self.not_jpeg = 0;
                    return Ok((part, self.read_us));
                }
                Ok(Some(part)) => {
                    self.not_jpeg += 1;
                    tracing::debug!(bytes = part.len(), "skipped a stream part that is not a JPEG");
                    if self.not_jpeg >= MAX_NOT_JPEG {
                        return Err(Failure::PartsNotJpeg);
                    }
                    continue;
                }
                // A cut frame costs that frame; the parser is already on the next part.
                Err(e @ MultipartError::Truncated { .. }) => {
                    tracing::warn!("skipped a stream part: {e}");
                    continue;
                }
                Err(e) => return Err(Failure::Multipart(e)),
                Ok(None) => {}
            }
            if self.parts.is_finished() || self.dechunker.as_ref().is_some_and(Dechunker::is_done) {
                return Err(Failure::Ended);
            }
            let n = self.conn.read(&mut self.scratch)?;
            if n == 0 {
                return Err(Failure::Closed);
            }
            self.read_us = clock::now_us();
            let scratch = std::mem::take(&mut self.scratch);
            let fed = self.feed(&scratch[..n]);
            self.scratch = scratch;
            fed?;
        }
    }
}

impl Source for HttpMjpeg {
    fn rest(&mut self) {
        // Closing the stream stops the camera sending (and the link carrying) frames.
        self.stream = None;
    }

    fn describe(&self) -> String {
        format!("MJPEG stream {}", self.url)
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => self.open().map_err(|f| lost(&self.url, f))?,
        };
        // On failure the stream is dropped, which closes the connection; the next call
        // reconnects.
        let (jpeg, capture_us) = stream.next_jpeg().map_err(|f| lost(&self.url, f))?;
        self.stream = Some(stream);
        Ok(Captured { picture: Picture::Jpeg(jpeg), capture_us })
    }
}

/// A URL that answers each GET with one JPEG, fetched at a fixed rate.
pub struct HttpSnapshot {
    url: Url,
    fps: u32,
    timeouts: Timeouts,
    pacer: Pacer,
    /// A keep-alive connection from the last fetch, if the camera offered one.
    conn: Option<Conn>,
}

impl HttpSnapshot {
    /// Snapshots from `url` at `fps`; `fps == 0` means 1. Unlike a replay, there is no
    /// "as fast as possible": that would poll a camera's small web server flat out. Only
    /// the URL is checked here.
    pub fn new(url: &str, fps: u32) -> Result<HttpSnapshot, HttpError> {
        let fps = fps.max(1);
        Ok(HttpSnapshot {
            url: Url::parse(url)?,
            fps,
            timeouts: Timeouts::default(),
            pacer: Pacer::new(fps),
            conn: None,
        })
    }

    /// How long the camera may send nothing before it counts as lost (default
    /// [`READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.read = timeout;
        self
    }

    /// How long connecting may take (default [`CONNECT_TIMEOUT`]).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = timeout;
        self
    }

    fn request(&self, mut conn: Conn) -> Result<(Conn, Head), Failure> {
        conn.send(&self.url.get_request())?;
        let head = conn.read_head()?;
        Ok((conn, head))
    }

    fn fetch(&mut self) -> Result<(Vec<u8>, u64), Failure> {
        let (mut conn, head) = match self.conn.take() {
            Some(conn) => match self.request(conn) {
                Err(f) if f.is_stale() => self.request(Conn::open(&self.url, self.timeouts)?)?,
                other => other?,
            },
            None => self.request(Conn::open(&self.url, self.timeouts)?)?,
        };
        head.check(&self.url)?;
        let (body, reusable) = conn.read_body(&head)?;
        let capture_us = clock::now_us();
        if !body.starts_with(&[0xFF, 0xD8]) {
            let content_type = head.header("content-type").unwrap_or("none");
            return Err(Failure::NotJpeg(content_type.to_string()));
        }
        if reusable {
            self.conn = Some(conn);
        }
        Ok((body, capture_us))
    }
}

impl Source for HttpSnapshot {
    fn describe(&self) -> String {
        format!("JPEG snapshots from {} @ {} fps", self.url, self.fps)
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        self.pacer.wait();
        match self.fetch() {
            Ok((jpeg, capture_us)) => Ok(Captured { picture: Picture::Jpeg(jpeg), capture_us }),
            Err(failure) => {
                self.conn = None;
                Err(lost(&self.url, failure))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_plain_url_gets_port_80_and_path_slash() {
        let u = url("http://cam.local");
        assert_eq!((u.host.as_str(), u.port, u.target.as_str()), ("cam.local", 80, "/"));
        assert_eq!(u.authority, "cam.local");
        assert!(u.authorization.is_none());
        assert_eq!(u.shown, "http://cam.local");
    }

    #[test]
    fn port_path_and_query_are_kept_as_written() {
        let u = url("HTTP://192.168.1.20:8080/video.cgi?resolution=640x480&x=%20y#frag");
        assert_eq!((u.host.as_str(), u.port), ("192.168.1.20", 8080));
        assert_eq!(u.target, "/video.cgi?resolution=640x480&x=%20y");
        assert_eq!(u.authority, "192.168.1.20:8080");
        assert_eq!(url("http://cam?action=stream").target, "/?action=stream");
        assert_eq!(url("http://cam:80/").authority, "cam");
    }

    #[test]
    fn an_ipv6_literal_is_connected_to_without_brackets() {
        let u = url("http://[fe80::1]:81/stream");
        assert_eq!((u.host.as_str(), u.port, u.authority.as_str()), ("fe80::1", 81, "[fe80::1]:81"));
        assert_eq!(url("http://[::1]/").port, 80);
    }

    #[test]
    fn a_login_becomes_basic_authorization_and_is_never_shown() {
        let u = url("http://admin:p%40ss%3Aword@cam:8081/mjpg");
        // base64("admin:p@ss:word")
        assert_eq!(u.authorization.as_deref(), Some("Basic YWRtaW46cEBzczp3b3Jk"));
        assert_eq!(u.shown, "http://admin:***@cam:8081/mjpg");
        assert_eq!(format!("{u:?}"), u.shown);
        assert_eq!(u.host, "cam");
        let request = u.get_request();
        assert!(request.starts_with("GET /mjpg HTTP/1.1\r\nHost: cam:8081\r\n"));
        assert!(request.contains("User-Agent: mqcam-edge\r\n"));
        assert!(request.contains("Authorization: Basic YWRtaW46cEBzczp3b3Jk\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
        assert!(!url("http://cam/").get_request().contains("Authorization"));
        // A user with no password still logs in, with an empty one.
        assert_eq!(url("http://viewer@cam/").authorization.as_deref(), Some("Basic dmlld2VyOg=="));
    }

    #[test]
    fn an_at_sign_in_the_password_is_fine_if_the_last_one_ends_the_login() {
        let u = url("http://admin:a@b@cam/");
        assert_eq!(u.host, "cam");
        assert_eq!(u.shown, "http://admin:***@cam/");
    }

    #[test]
    fn bad_urls_are_refused_with_reasons_that_do_not_show_the_password() {
        let err = |s: &str| Url::parse(s).expect_err("must fail");
        assert_eq!(
            err("https://cam/").to_string(),
            "https cameras are not supported yet; use http:// on the LAN"
        );
        assert_eq!(err("rtsp://admin:secret@cam/"), HttpError::NotHttp("rtsp".into()));
        assert_eq!(err("cam.local/video"), HttpError::NoScheme);
        assert_eq!(err("http://admin:secret@/video"), HttpError::NoHost("http://admin:***@/video".into()));
        assert_eq!(
            err("http://admin:secret@cam:99999/"),
            HttpError::BadPort("http://admin:***@cam:99999/".into())
        );
        assert!(matches!(err("http://cam:0/"), HttpError::BadPort(_)));
        assert!(matches!(err("http://cam/a b"), HttpError::BadCharacter(_)));
        assert_eq!(err("http://admin:se%zzcret@cam/"), HttpError::BadEscape("http://admin:***@cam/".into()));
        assert_eq!(err("admin:secret@cam://x"), HttpError::NoScheme);
        for url in ["http://admin:se/cret@cam/", "http://admin:se?cret@cam/", "http://admin:se#cret@cam/"] {
            assert_eq!(err(url), HttpError::LoginNeedsEscape, "{url}");
        }
        assert_eq!(url("http://cam/a@b").target, "/a@b");
        for e in [
            err("http://admin:secret@/x"),
            err("http://admin:secret@cam:x/"),
            err("http://admin:secret@cam/ x"),
        ] {
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    #[test]
    fn the_constructors_check_the_url_without_connecting() {
        assert!(matches!(HttpMjpeg::new("https://cam/"), Err(HttpError::Https)));
        assert!(matches!(HttpSnapshot::new("https://cam/", 5), Err(HttpError::Https)));
        // Nothing listens on port 9 of a TEST-NET address; constructing must not care.
        let source = HttpMjpeg::new("http://u:secret@192.0.2.1:9/stream").unwrap();
        assert_eq!(source.describe(), "MJPEG stream http://u:***@192.0.2.1:9/stream");
        let snapshot = HttpSnapshot::new("http://u:secret@192.0.2.1:9/snap.jpg", 0).unwrap();
        assert_eq!(snapshot.describe(), "JPEG snapshots from http://u:***@192.0.2.1:9/snap.jpg @ 1 fps");
    }

    fn head(status: u16, headers: &[(&str, &str)]) -> Head {
        Head {
            status,
            reason: "Reason".into(),
            minor: 1,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn a_401_says_whether_the_login_was_wrong_missing_or_digest() {
        let failure = |u: &str, h: Head| lost(&url(u), h.check(&url(u)).unwrap_err()).to_string();
        let refused =
            failure("http://admin:secret@cam/", head(401, &[("WWW-Authenticate", "Basic realm=x")]));
        assert_eq!(
            refused,
            "camera http://admin:***@cam/ refused the login (HTTP 401); check the user and password in the URL"
        );
        assert!(failure("http://cam/", head(401, &[])).contains("put it in the URL"));
        assert!(failure("http://a:b@cam/", head(401, &[("www-authenticate", "Digest realm=x")]))
            .contains("Digest"));
    }

    #[test]
    fn other_statuses_are_named_and_a_redirect_says_where_to() {
        assert!(head(200, &[]).check(&url("http://cam/")).is_ok());
        let f = head(404, &[]).check(&url("http://cam/")).unwrap_err();
        assert_eq!(f.to_string(), "answered HTTP 404 Reason");
        let f = head(302, &[("Location", "http://cam/new")]).check(&url("http://cam/")).unwrap_err();
        assert_eq!(f.to_string(), "answered HTTP 302 Reason pointing to http://cam/new; use that URL");
    }

    #[test]
    fn timeouts_read_naturally() {
        assert_eq!(Failure::Silent(READ_TIMEOUT).to_string(), "sent nothing for 10 s");
        assert_eq!(Failure::Silent(Duration::from_millis(300)).to_string(), "sent nothing for 300 ms");
    }

    /// A loopback server that answers requests with `responses` in turn, closing each
    /// connection after `per_connection` of them. Joins to the number of connections.
    fn serve(
        responses: Vec<&'static [u8]>,
        per_connection: usize,
    ) -> (String, std::thread::JoinHandle<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/snap.jpg", listener.local_addr().unwrap().port());
        let server = std::thread::spawn(move || {
            let mut responses = responses.into_iter();
            let mut connections = 0;
            while responses.len() > 0 {
                let (mut conn, _) = listener.accept().unwrap();
                connections += 1;
                for response in responses.by_ref().take(per_connection) {
                    let mut request = Vec::new();
                    let mut byte = [0];
                    while !request.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                        request.push(byte[0]);
                    }
                    conn.write_all(response).unwrap();
                }
            }
            connections
        });
        (url, server)
    }

    const SNAPSHOT: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 6\r\n\r\n\xFF\xD8fake";

    fn snapshot_bytes(source: &mut HttpSnapshot) -> Vec<u8> {
        match source.next_frame().unwrap().picture {
            Picture::Jpeg(jpeg) => jpeg,
            _ => unreachable!(),
        }
    }

    #[test]
    fn snapshots_reuse_a_keep_alive_connection() {
        let (url, server) = serve(vec![SNAPSHOT; 3], 3);
        let mut source = HttpSnapshot::new(&url, 100).unwrap();
        for _ in 0..3 {
            assert_eq!(snapshot_bytes(&mut source), b"\xFF\xD8fake");
        }
        assert_eq!(server.join().unwrap(), 1);
    }

    #[test]
    fn a_keep_alive_connection_the_camera_closed_is_replaced_at_once() {
        let (url, server) = serve(vec![SNAPSHOT; 2], 1);
        let mut source = HttpSnapshot::new(&url, 100).unwrap();
        assert_eq!(snapshot_bytes(&mut source), b"\xFF\xD8fake");
        assert_eq!(snapshot_bytes(&mut source), b"\xFF\xD8fake");
        assert_eq!(server.join().unwrap(), 2);
    }

    #[test]
    fn a_snapshot_that_is_not_a_jpeg_is_a_clear_error() {
        let page: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello";
        let (url, server) = serve(vec![page], 1);
        let Err(SourceError::Lost(message)) = HttpSnapshot::new(&url, 100).unwrap().next_frame() else {
            panic!("a web page is not a frame");
        };
        assert!(
            message.ends_with("sent something that is not a JPEG picture (Content-Type: text/html)"),
            "{message}"
        );
        server.join().unwrap();
    }

    #[test]
    fn percent_decoding_handles_escapes_and_rejects_bad_ones() {
        assert_eq!(percent_decode("a%20b%C3%A9").as_deref(), Some("a bé"));
        assert_eq!(percent_decode("plain"), Some("plain".into()));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%g0"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
