//! One HTTP/1.1 connection to a camera, on a plain `TcpStream` with connect and read
//! timeouts: connect, send a request, read a response's head ([`Head`], checked for a
//! status that carries a picture) and a whole body (by `Content-Length`, chunked, or to
//! the end of the connection). [`Failure`] is everything that can go wrong with a
//! camera, phrased for the log after `camera <URL> `.
//!
//! The only code that touches the socket. The sources beside it (`mod.rs`) use it two
//! ways: an MJPEG stream reads the head, then the body as it arrives; a snapshot reads
//! head and whole body per request, on a kept-alive connection when the camera allows.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use super::url::Url;
use crate::source::{
    multipart::{self, ChunkedError, Dechunker, MultipartError},
    seam::SourceError,
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
pub(super) const READ_CHUNK: usize = 64 << 10;

/// What went wrong with a camera, phrased to follow "camera <URL> ".
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
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
    pub(super) fn is_stale(&self) -> bool {
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

pub(super) fn lost(url: &Url, failure: Failure) -> SourceError {
    SourceError::Lost(format!("camera {url} {failure}"))
}

/// The connect and read timeouts of one source.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: CONNECT_TIMEOUT, read: READ_TIMEOUT }
    }
}

/// A response's status line and headers.
pub(super) struct Head {
    status: u16,
    reason: String,
    /// HTTP/1.x minor version.
    minor: u8,
    headers: Vec<(String, String)>,
}

impl Head {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(super) fn is_chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// Only a 200 carries a picture.
    pub(super) fn check(&self, url: &Url) -> Result<(), Failure> {
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
pub(super) struct Conn {
    stream: TcpStream,
    pub(super) buf: Vec<u8>,
    read_timeout: Duration,
}

impl Conn {
    pub(super) fn open(url: &Url, timeouts: Timeouts) -> Result<Conn, Failure> {
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

    pub(super) fn send(&mut self, request: &str) -> Result<(), Failure> {
        self.stream.write_all(request.as_bytes()).map_err(Failure::Send)
    }

    /// Reads what has arrived into `out`; 0 only at the end of the stream.
    pub(super) fn read(&mut self, out: &mut [u8]) -> Result<usize, Failure> {
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
    pub(super) fn read_head(&mut self) -> Result<Head, Failure> {
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
    pub(super) fn read_body(&mut self, head: &Head) -> Result<(Vec<u8>, bool), Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
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
}
