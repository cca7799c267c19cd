//! Network cameras as frame sources: an HTTP MJPEG stream ([`HttpMjpeg`]) or a JPEG
//! snapshot URL polled at a frame rate ([`HttpSnapshot`]).
//!
//! IP cameras, ESP32-CAM, ustreamer, mjpg-streamer and go2rtc all serve MJPEG as one
//! endless `multipart/x-mixed-replace` response; every part is a finished JPEG, passed
//! through as [`Picture::Jpeg`] without re-encoding. The parsing lives in
//! [`super::multipart`] (no I/O); this module is the thin blocking HTTP/1.1 client around
//! it, on a plain `TcpStream` with connect and read timeouts.
//!
//! Failures are [`SourceError::Lost`] with a message that names the camera by its URL,
//! password replaced by `***`; the pipeline waits with backoff and calls again, and the
//! next call reconnects. Plain http only: cameras live on the LAN and rarely have a
//! certificate anything would trust.
//!
//! In the order a frame meets them: `url.rs` (the camera's URL, checked when the source
//! is made, and the request made from it), `connection.rs` (the socket: request out,
//! response head and body in, and what can fail), [`super::multipart`] (a stream's body
//! split into JPEGs), and this file: the two sources, which turn a stream's parts or a
//! snapshot's body into frames. Split so the socket and the URL can be read, and
//! tested, apart from the stream and the polling built on them.

mod connection;
mod url;

use std::time::Duration;

use connection::{lost, Conn, Failure, Head, Timeouts, READ_CHUNK};
pub use connection::{CONNECT_TIMEOUT, READ_TIMEOUT};
pub use url::HttpError;
use url::Url;

use super::{
    multipart::{self, Dechunker, Multipart, MultipartError},
    pace::Pacer,
    seam::{Source, SourceError},
};
use crate::{
    clock,
    frame::{Captured, Picture},
};

/// Non-JPEG parts in a row before the stream counts as not a camera's.
const MAX_NOT_JPEG: u32 = 3;

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
    use std::io::{Read, Write};

    use super::*;

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
}
