//! RTSP/1.0 message syntax (RFC 2326): requests in, responses out, the `Transport` header.
//! Pure functions over bytes and strings, so every case is unit-tested without a socket.

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    /// Header names as sent; look them up with [`Request::header`] (case-insensitive).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `Session` without its `;timeout=` parameter.
    pub fn session(&self) -> Option<&str> {
        self.header("Session").map(|s| s.split(';').next().unwrap_or("").trim())
    }
}

/// What sits at the front of the connection's receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Not all there yet: read more.
    Partial,
    /// A whole request, `used` bytes long.
    Request { request: Request, used: usize },
    /// An interleaved binary packet (`$`, channel, length; RTCP receiver reports from the
    /// client), to be skipped.
    Interleaved { used: usize },
}

/// Requests larger than this are refused: nothing a client sends a camera comes close.
pub const MAX_REQUEST: usize = 64 * 1024;

/// Parses the front of `buf`.
pub fn parse(buf: &[u8]) -> Result<Incoming, String> {
    if buf.first() == Some(&b'$') {
        if buf.len() < 4 {
            return Ok(Incoming::Partial);
        }
        let used = 4 + u16::from_be_bytes([buf[2], buf[3]]) as usize;
        return Ok(if buf.len() < used { Incoming::Partial } else { Incoming::Interleaved { used } });
    }
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_REQUEST {
            return Err("request head too long".into());
        }
        return Ok(Incoming::Partial);
    };
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| "request head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let (Some(method), Some(url), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("bad request line {first:?}"));
    };
    if !version.starts_with("RTSP/1.") {
        return Err(format!("not RTSP/1.x: {version:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = Request { method: method.to_string(), url: url.to_string(), headers, body: Vec::new() };
    let body_len: usize = match request.header("Content-Length") {
        Some(v) => v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?,
        None => 0,
    };
    if body_len > MAX_REQUEST {
        return Err("request body too long".into());
    }
    let used = head_len + 4 + body_len;
    if buf.len() < used {
        return Ok(Incoming::Partial);
    }
    request.body = buf[head_len + 4..used].to_vec();
    Ok(Incoming::Request { request, used })
}

/// A response under construction.
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("Content-Type", content_type)
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The bytes on the wire; `cseq` is echoed as every RTSP response must.
    pub fn encode(&self, cseq: Option<&str>) -> Vec<u8> {
        let mut out = format!("RTSP/1.0 {} {}\r\n", self.status, reason(self.status));
        if let Some(c) = cseq {
            out += &format!("CSeq: {c}\r\n");
        }
        out += "Server: mqcam-rtsp-camera\r\n";
        for (n, v) in &self.headers {
            out += &format!("{n}: {v}\r\n");
        }
        if !self.body.is_empty() {
            out += &format!("Content-Length: {}\r\n", self.body.len());
        }
        out += "\r\n";
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// What a client asked for in SETUP's `Transport` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RTP inside the RTSP connection (`$` framing) on these channels (RTP, RTCP).
    Interleaved(Option<(u8, u8)>),
    /// RTP over UDP to the client's ports (RTP, RTCP).
    Udp { client_ports: (u16, u16) },
}

/// Picks the first transport in the (comma-separated) list that this camera serves.
pub fn parse_transport(header: &str) -> Result<Transport, String> {
    for spec in header.split(',') {
        let mut params = spec.split(';').map(str::trim);
        let profile = params.next().unwrap_or("");
        let params: Vec<&str> = params.collect();
        let value = |key: &str| {
            params
                .iter()
                .find_map(|p| p.split_once('=').filter(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
        };
        if params.iter().any(|p| p.eq_ignore_ascii_case("multicast")) {
            continue;
        }
        let profile = profile.to_ascii_uppercase();
        if profile == "RTP/AVP/TCP" {
            let channels = match value("interleaved") {
                Some(v) => Some(pair(v).ok_or_else(|| format!("bad interleaved={v:?}"))?),
                None => None,
            };
            return Ok(Transport::Interleaved(channels));
        }
        if profile == "RTP/AVP" || profile == "RTP/AVP/UDP" {
            let Some(ports) = value("client_port") else { continue };
            let ports = pair(ports).ok_or_else(|| format!("bad client_port={ports:?}"))?;
            return Ok(Transport::Udp { client_ports: ports });
        }
    }
    Err(format!("no supported transport in {header:?}"))
}

/// `a-b` (or a lone `a`, meaning `a-(a+1)`).
fn pair<T: std::str::FromStr + Copy + TryFrom<u32> + Into<u32>>(v: &str) -> Option<(T, T)> {
    match v.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let a: T = v.trim().parse().ok()?;
            Some((a, T::try_from(a.into() + 1).ok()?))
        }
    }
}

/// The URL without `user:password@`, for logs (passwords never reach stderr).
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}://{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Which track a SETUP URL names: the text after the last `/` (`trackID=0`), or `None`
/// for the presentation URL itself.
pub fn track_of(url: &str) -> Option<&str> {
    let path = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    last.starts_with("trackID=").then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_in_pieces_and_skips_interleaved_packets() {
        let req = b"SET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 7\r\ncontent-length: 4\r\nSession: ab;timeout=60\r\n\r\nx: y";
        for cut in 0..req.len() {
            assert_eq!(parse(&req[..cut]).unwrap(), Incoming::Partial, "cut {cut}");
        }
        let Incoming::Request { request, used } = parse(req).unwrap() else { panic!() };
        assert_eq!(used, req.len());
        assert_eq!((request.method.as_str(), request.url.as_str()), ("SET_PARAMETER", "rtsp://h/"));
        assert_eq!(request.header("cseq"), Some("7"));
        assert_eq!(request.session(), Some("ab"));
        assert_eq!(request.body, b"x: y");
        assert_eq!(parse(b"$\x01\x00\x02ab").unwrap(), Incoming::Interleaved { used: 6 });
        assert_eq!(parse(b"$\x01\x00\x02a").unwrap(), Incoming::Partial);
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn responses_echo_cseq_and_count_the_body() {
        let r = Response::new(200).header("Public", "OPTIONS").body("application/sdp", "v=0\r\n");
        let text = String::from_utf8(r.encode(Some("3"))).unwrap();
        assert!(text.starts_with("RTSP/1.0 200 OK\r\nCSeq: 3\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\nv=0\r\n"));
    }

    #[test]
    fn transports() {
        assert_eq!(
            parse_transport("RTP/AVP/TCP;unicast;interleaved=0-1").unwrap(),
            Transport::Interleaved(Some((0, 1)))
        );
        assert_eq!(parse_transport("RTP/AVP/TCP;unicast").unwrap(), Transport::Interleaved(None));
        assert_eq!(
            parse_transport("RTP/AVP;unicast;client_port=5000-5001").unwrap(),
            Transport::Udp { client_ports: (5000, 5001) }
        );
        // ffmpeg offers several; the first we serve wins, multicast is skipped.
        assert_eq!(
            parse_transport("RTP/AVP;multicast, RTP/AVP/UDP;unicast;client_port=7000").unwrap(),
            Transport::Udp { client_ports: (7000, 7001) }
        );
        assert!(parse_transport("RTP/AVP;unicast").is_err());
        assert!(parse_transport("RTP/SAVP;unicast;client_port=1-2").is_err());
    }

    #[test]
    fn redacts_logins_and_finds_tracks() {
        assert_eq!(redact("rtsp://u:p@127.0.0.1:554/x"), "rtsp://127.0.0.1:554/x");
        assert_eq!(redact("rtsp://127.0.0.1:554/a@b"), "rtsp://127.0.0.1:554/a@b");
        assert_eq!(track_of("rtsp://h:1/trackID=1"), Some("trackID=1"));
        assert_eq!(track_of("rtsp://h:1/cam/trackID=0/"), Some("trackID=0"));
        assert_eq!(track_of("rtsp://h:1/"), None);
    }
}
