//! MQTT over WebSocket, done here rather than by a WebSocket library, so that a frame
//! the fan-out shares by reference goes out as it is: the server's WebSocket header for
//! a message is a few bytes computed per write, the MQTT packet after it the shared
//! buffer (one vectored write, no copy per viewer).
//!
//! - [`accept`]: the server half of the handshake (origin check, `mqtt` subprotocol).
//! - [`Decoder`]: what clients send (masked frames, fragments, pings, close), sans I/O.
//! - [`header`]: the header of a server's unmasked binary message or control frame.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::broker::origin::Origins;

/// The largest request head a WebSocket client may send (a browser's is under 2 KB, but
/// it carries every cookie of the host, whatever the port).
const MAX_HEAD: usize = 16 * 1024;

/// WebSocket opcodes (RFC 6455 §5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
pub(super) const BINARY: u8 = 0x2;
pub(super) const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
pub(super) const PONG: u8 = 0xA;

/// The server half of the WebSocket handshake: refuses pages of other websites (403,
/// telling `refused` the page's origin), and chooses the `mqtt` subprotocol when the
/// client offers it (browsers fail the handshake otherwise). The whole request head
/// must come within `timeout`. Returns the stream and whatever the client sent after
/// its request head (its first frames, if it did not wait for the answer).
pub(super) async fn accept<S>(
    mut stream: S,
    origins: &Origins,
    refused: &(dyn Fn(&str) + Sync),
    timeout: Duration,
) -> std::io::Result<(S, Vec<u8>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "WebSocket handshake timed out");
    let mut head = Vec::with_capacity(1024);
    let (answer, rest) = tokio::time::timeout(timeout, async {
        loop {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before the handshake",
                ));
            }
            head.extend_from_slice(&chunk[..n]);
            match handshake(&head, origins) {
                Ok(Some(decided)) => return Ok(decided),
                Ok(None) if head.len() <= MAX_HEAD => continue,
                Ok(None) => return Ok((Answer::Bad("request head too large"), 0)),
                Err(e) => return Ok((Answer::Bad(e), 0)),
            }
        }
    })
    .await
    .map_err(|_| timed_out())??;
    let refusal = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let (response, error) = match &answer {
        Answer::Upgrade(response) => (response.clone(), None),
        Answer::Forbidden(origin) => {
            refused(origin);
            (
                refusal("403 Forbidden", "this page's origin may not open the camera's broker\n"),
                Some("origin refused"),
            )
        }
        Answer::Bad(why) => (refusal("400 Bad Request", &format!("{why}\n")), Some(*why)),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    match error {
        None => Ok((stream, head.split_off(rest))),
        Some(why) => Err(std::io::Error::other(format!("WebSocket handshake: {why}"))),
    }
}

/// What a request head gets.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The 101 response.
    Upgrade(String),
    /// Another website's page: its origin.
    Forbidden(String),
    Bad(&'static str),
}

/// Decides on a request head once it is whole: the answer and the head's length.
fn handshake(head: &[u8], origins: &Origins) -> Result<Option<(Answer, usize)>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(head) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("not an HTTP request"),
    };
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| std::str::from_utf8(h.value).unwrap_or("\u{fffd}"))
    };
    let has_token = |name: &str, token: &str| {
        request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let answer = |a| Ok(Some((a, len)));
    if request.method != Some("GET") {
        return answer(Answer::Bad("a WebSocket handshake is a GET"));
    }
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return answer(Answer::Bad("this port speaks MQTT over WebSocket only"));
    }
    if header("sec-websocket-version").map(str::trim) != Some("13") {
        return answer(Answer::Bad("WebSocket version 13 only"));
    }
    let Some(key) = header("sec-websocket-key").map(str::trim).filter(|k| !k.is_empty()) else {
        return answer(Answer::Bad("no Sec-WebSocket-Key"));
    };
    let origin = header("origin");
    if !origins.allows(origin, header("host")) {
        return answer(Answer::Forbidden(origin.unwrap_or_default().to_string()));
    }
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let protocol =
        if has_token("sec-websocket-protocol", "mqtt") { "Sec-WebSocket-Protocol: mqtt\r\n" } else { "" };
    answer(Answer::Upgrade(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
    )))
}

/// The header of an unmasked, final server frame of `len` payload bytes, and how many of
/// its bytes are used.
pub(super) fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    let used = if len < 126 {
        h[1] = len as u8;
        2
    } else if len <= 0xffff {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, used)
}

/// What a client's frames asked for besides data.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Control {
    /// Answer with a pong carrying these bytes.
    Ping(Vec<u8>),
    /// The client closes: answer with a close frame and end.
    Close,
}

/// Reads a client's WebSocket frames as they come, without holding a message whole:
/// the unmasked payload of binary messages goes on as the MQTT byte stream (MQTT over
/// WebSocket needs no message boundaries), control frames are handed back. I/O-free.
#[derive(Default)]
pub(super) struct Decoder {
    /// Header bytes of the next frame, until it is whole.
    head: Vec<u8>,
    /// The frame being read: its opcode, mask, where in the mask, payload bytes left.
    frame: Option<Frame>,
    /// A control frame's payload being gathered (at most 125 bytes).
    control: Vec<u8>,
    /// Inside a fragmented binary message.
    in_message: bool,
}

struct Frame {
    opcode: u8,
    mask: [u8; 4],
    at: usize,
    left: u64,
}

impl Decoder {
    /// Takes bytes from the client: appends data to `data`, returns the control frames
    /// seen, or why the stream is not one a client may send.
    pub(super) fn feed(
        &mut self,
        mut input: &[u8],
        data: &mut Vec<u8>,
    ) -> Result<Vec<Control>, &'static str> {
        let mut controls = Vec::new();
        while !input.is_empty() || self.frame.as_ref().is_some_and(|f| f.left == 0) {
            let Some(frame) = &mut self.frame else {
                let take = self.header_bytes_wanted().saturating_sub(self.head.len()).min(input.len());
                self.head.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.head.get(1).is_some_and(|b| b & 0x80 == 0) {
                    // Said at once: an unmasked frame's header is shorter than awaited.
                    return Err("an unmasked WebSocket frame from a client");
                }
                if self.head.len() == self.header_bytes_wanted() {
                    self.frame = Some(self.start_frame()?);
                    self.head.clear();
                }
                continue;
            };
            let n = (frame.left.min(input.len() as u64)) as usize;
            let into = if frame.opcode >= CLOSE { &mut self.control } else { &mut *data };
            into.extend(input[..n].iter().enumerate().map(|(i, b)| b ^ frame.mask[(frame.at + i) % 4]));
            frame.at = (frame.at + n) % 4;
            frame.left -= n as u64;
            input = &input[n..];
            if frame.left == 0 {
                let opcode = frame.opcode;
                self.frame = None;
                match opcode {
                    PING => controls.push(Control::Ping(std::mem::take(&mut self.control))),
                    CLOSE => {
                        controls.push(Control::Close);
                        return Ok(controls);
                    }
                    _ => self.control.clear(),
                }
            }
        }
        Ok(controls)
    }

    /// How long the header being read is, as far as its bytes so far tell.
    fn header_bytes_wanted(&self) -> usize {
        match self.head.get(1).map(|b| b & 0x7f) {
            None => 2,
            Some(126) => 2 + 2 + 4,
            Some(127) => 2 + 8 + 4,
            Some(_) => 2 + 4,
        }
    }

    /// A whole header read: checks it and starts its frame.
    fn start_frame(&mut self) -> Result<Frame, &'static str> {
        let h = &self.head;
        let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
        if h[0] & 0x70 != 0 {
            return Err("WebSocket extension bits set");
        }
        if h[1] & 0x80 == 0 {
            return Err("an unmasked WebSocket frame from a client");
        }
        let (left, mask_at) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => (u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")), 10),
            n => (u64::from(n), 2),
        };
        let mask = h[mask_at..mask_at + 4].try_into().expect("4 bytes");
        match opcode {
            TEXT => return Err("a text WebSocket message (MQTT is binary)"),
            BINARY if self.in_message => return Err("a new WebSocket message inside a fragmented one"),
            CONTINUATION if !self.in_message => return Err("a WebSocket continuation without a message"),
            BINARY | CONTINUATION => self.in_message = !fin,
            CLOSE | PING | PONG if !fin || left > 125 => {
                return Err("a fragmented or long WebSocket control frame")
            }
            CLOSE | PING | PONG => {}
            _ => return Err("an unknown WebSocket opcode"),
        }
        Ok(Frame { opcode, mask, at: 0, left })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's masked frame.
    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend((n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend((n as u64).to_be_bytes());
            }
        }
        f.extend(mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn data_comes_out_unmasked_whatever_the_split_and_fragments() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let mut stream = masked(0x82, b"hello ");
        stream.extend(masked(0x02, b"frag"));
        stream.extend(masked(0x89, b"ping!"));
        stream.extend(masked(0x80, b"mented "));
        stream.extend(masked(0x82, &big));
        stream.extend(masked(0x82, &[]));
        stream.extend(masked(0x8A, b"pong"));
        for step in [1, 3, 7, 1000, stream.len()] {
            let mut d = Decoder::default();
            let (mut data, mut controls) = (Vec::new(), Vec::new());
            for chunk in stream.chunks(step) {
                controls.extend(d.feed(chunk, &mut data).expect("valid stream"));
            }
            let mut want = b"hello fragmented ".to_vec();
            want.extend(&big);
            assert_eq!(data, want, "split every {step} bytes");
            assert_eq!(controls, vec![Control::Ping(b"ping!".to_vec())]);
        }
    }

    #[test]
    fn a_close_ends_the_stream_and_bad_frames_are_refused() {
        let mut d = Decoder::default();
        let mut data = Vec::new();
        let mut stream = masked(0x88, &[0x03, 0xe8]);
        stream.extend(masked(0x82, b"after close"));
        assert_eq!(d.feed(&stream, &mut data), Ok(vec![Control::Close]));
        assert!(data.is_empty(), "nothing after a close is read");

        let unmasked = [0x82, 0x01, b'x'];
        let cases: [(&[u8], &str); 5] = [
            (&unmasked, "unmasked"),
            (&masked(0x81, b"text"), "text"),
            (&masked(0x80, b"cont"), "continuation"),
            (&masked(0x09, b"frag ping"), "fragmented"),
            (&masked(0xC2, b"rsv"), "extension"),
        ];
        for (bytes, what) in cases {
            let e = Decoder::default().feed(bytes, &mut data).expect_err(what);
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn the_server_header_has_the_shortest_length() {
        assert_eq!(header(BINARY, 5), ([0x82, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(header(BINARY, 300).0[..4], [0x82, 126, 1, 44]);
        assert_eq!(header(BINARY, 300).1, 4);
        let (h, n) = header(BINARY, 190_000);
        assert_eq!((h[1], n, u64::from_be_bytes(h[2..10].try_into().unwrap())), (127, 10, 190_000));
        assert_eq!(header(PONG, 0).0[..2], [0x8A, 0]);
    }

    #[test]
    fn the_handshake_answers_a_browser_and_refuses_the_rest() {
        let origins = Origins { site_scheme: "http", site_port: 8080, allowed: Vec::new() };
        let browser = "GET /mqtt HTTP/1.1\r\nHost: cam:9001\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Protocol: mqtt\r\nOrigin: http://cam:8080\r\n\r\n";
        let Some((Answer::Upgrade(response), len)) = handshake(browser.as_bytes(), &origins).unwrap() else {
            panic!("a browser on the camera's own page is let in")
        };
        assert_eq!(len, browser.len());
        // RFC 6455's own example key and answer.
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{response}");
        assert!(response.contains("Sec-WebSocket-Protocol: mqtt\r\n"));
        assert_eq!(handshake(&browser.as_bytes()[..40], &origins), Ok(None), "a partial head waits");

        let other = browser.replace("Origin: http://cam:8080", "Origin: https://evil.example");
        assert_eq!(
            handshake(other.as_bytes(), &origins).unwrap().map(|a| a.0),
            Some(Answer::Forbidden("https://evil.example".into()))
        );
        let plain = "GET / HTTP/1.1\r\nHost: cam\r\n\r\n";
        assert!(matches!(handshake(plain.as_bytes(), &origins), Ok(Some((Answer::Bad(_), _)))));
        let old = browser.replace("Version: 13", "Version: 8");
        assert_eq!(
            handshake(old.as_bytes(), &origins).unwrap().map(|a| a.0),
            Some(Answer::Bad("WebSocket version 13 only"))
        );
        assert_eq!(handshake(b"\x16\x03\x01garbage\r\n\r\n", &origins), Err("not an HTTP request"));
    }
}
