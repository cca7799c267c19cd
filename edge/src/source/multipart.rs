//! A network camera's MJPEG stream without I/O: the parts of a
//! `multipart/x-mixed-replace` body ([`Multipart`]) and the chunked transfer coding
//! that may wrap it ([`Dechunker`]).
//!
//! Cameras disagree about nearly every detail of the format, so the parser is lenient
//! where they differ and strict only where memory is at stake:
//! - the `boundary` parameter may or may not carry the delimiter's leading `--` (and the
//!   lines may carry more dashes than the parameter says), quoted or not;
//! - a part may or may not have a `Content-Length`; without one the part ends at the next
//!   delimiter line, or as soon as the JPEG it holds is complete;
//! - the CRLF before a delimiter line is optional, and bytes that are neither a part nor a
//!   delimiter (a preamble, padding, garbage) are skipped.
//!
//! A part cut short by the camera (its `Content-Length` runs into the next delimiter) is
//! reported as [`MultipartError::Truncated`] and the parser carries on with the part after
//! it: one bad frame never wedges the stream. Every error leaves the parser resynchronised
//! on the next delimiter, so calling [`Multipart::next_part`] again is always safe.

use super::replay::split_mjpeg;

/// The largest part (one JPEG) kept in memory.
pub const MAX_PART: usize = 16 << 20;
/// The longest header block of one part.
pub const MAX_HEAD: usize = 16 << 10;

/// Why a part did not come out whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("a part announced {declared} bytes but the next boundary came after {got}")]
    Truncated { declared: usize, got: usize },
    #[error("a part is larger than the limit of {} MiB", .0 >> 20)]
    PartTooLarge(usize),
    #[error("a part's headers are longer than the limit of {} KiB", .0 >> 10)]
    HeadTooLarge(usize),
    #[error("no boundary line in {} MiB of data", .0 >> 20)]
    NoBoundary(usize),
}

/// The boundary from a `Content-Type` such as `multipart/x-mixed-replace; boundary="--x"`,
/// without its leading dashes (see [`Multipart::new`]). `None` when there is none.
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        let core = value.trim_start_matches('-');
        (!core.is_empty()).then(|| core.to_string())
    })
}

/// Where the parser is in the stream. Every state starts at the first byte of `buf`:
/// bytes are drained as soon as a state is done with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a delimiter line (before the first part, or skipping bad data).
    /// `skipped` counts the bytes thrown away since the last delimiter.
    Hunt { skipped: usize },
    /// Right after a delimiter line: the part's headers.
    Head,
    /// The part's data. `scan_from`: where the search for the next delimiter resumes.
    Body { length: Option<usize>, scan_from: usize },
    /// The rest of a part announced too large to keep.
    Skip { remaining: usize },
    /// The closing delimiter (`--boundary--`) was seen.
    Finished,
}

/// What follows a delimiter's boundary text.
enum LineEnd {
    /// A delimiter line; the next part starts at this offset.
    Next(usize),
    /// The closing delimiter.
    Close,
    /// Not a delimiter line.
    No,
    NeedMore,
}

/// A delimiter line found in the buffer.
struct Delimiter {
    /// Where the data before it ends (a CRLF or LF just before it is not data).
    data_end: usize,
    /// Where the next part starts, or `None` for the closing delimiter.
    next: Option<usize>,
}

/// Splits a `multipart/x-mixed-replace` body into parts. Push bytes as they arrive and
/// take the finished parts; it holds at most one part (plus one read) at a time.
pub struct Multipart {
    /// `--` + the boundary without its leading dashes.
    needle: Vec<u8>,
    buf: Vec<u8>,
    state: State,
    max_part: usize,
    max_head: usize,
}

impl Multipart {
    /// A parser for parts separated by `boundary`. Leading dashes are not part of the
    /// match: cameras write the parameter with or without the delimiter's `--`, and some
    /// write the lines with extra dashes. `None` if nothing is left after the dashes.
    pub fn new(boundary: &str) -> Option<Self> {
        let core = boundary.trim_start_matches('-');
        if core.is_empty() {
            return None;
        }
        let mut needle = b"--".to_vec();
        needle.extend_from_slice(core.as_bytes());
        Some(Multipart {
            needle,
            buf: Vec::new(),
            state: State::Hunt { skipped: 0 },
            max_part: MAX_PART,
            max_head: MAX_HEAD,
        })
    }

    /// Other size limits (tests).
    pub fn with_limits(mut self, max_part: usize, max_head: usize) -> Self {
        self.max_part = max_part;
        self.max_head = max_head;
        self
    }

    /// Adds bytes from the stream. Call [`next_part`](Self::next_part) until it returns
    /// `Ok(None)` before pushing more, which is what keeps memory bounded.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.state != State::Finished {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Whether the closing delimiter was seen: no part will follow.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The next whole part, `Ok(None)` if more bytes are needed. After an error the parser
    /// has already moved on to the next delimiter.
    pub fn next_part(&mut self) -> Result<Option<Vec<u8>>, MultipartError> {
        loop {
            match self.state {
                State::Finished => return Ok(None),
                State::Hunt { skipped } => match self.find_delimiter(0, self.buf.len()) {
                    Ok(d) => self.after_delimiter(d.next),
                    Err(keep_from) => {
                        self.buf.drain(..keep_from);
                        let skipped = skipped + keep_from;
                        if skipped > self.max_part {
                            self.state = State::Hunt { skipped: 0 };
                            return Err(MultipartError::NoBoundary(self.max_part));
                        }
                        self.state = State::Hunt { skipped };
                        return Ok(None);
                    }
                },
                State::Skip { remaining } => {
                    let n = remaining.min(self.buf.len());
                    self.buf.drain(..n);
                    if n < remaining {
                        self.state = State::Skip { remaining: remaining - n };
                        return Ok(None);
                    }
                    self.state = State::Hunt { skipped: 0 };
                }
                State::Head => match self.parse_head()? {
                    None => return Ok(None),
                    Some((len, length)) => {
                        self.buf.drain(..len);
                        if let Some(n) = length.filter(|&n| n > self.max_part) {
                            self.state = State::Skip { remaining: n };
                            return Err(MultipartError::PartTooLarge(self.max_part));
                        }
                        self.state = State::Body { length, scan_from: 0 };
                    }
                },
                State::Body { length: Some(n), .. } => {
                    if self.buf.len() < n {
                        return Ok(None);
                    }
                    // The part is complete now; waiting for the delimiter after it would
                    // cost a whole frame of latency with cameras that send the delimiter
                    // before each part. A delimiter line inside the announced length
                    // means the camera cut the part short (or miscounted): resume there.
                    return match self.find_delimiter(0, n) {
                        Ok(d) => {
                            let whole = jpeg_end(&self.buf[..d.data_end]).map(|end| self.buf[..end].to_vec());
                            self.after_delimiter(d.next);
                            whole.map(Some).ok_or(MultipartError::Truncated { declared: n, got: d.data_end })
                        }
                        Err(keep_from) if keep_from < n => Ok(None),
                        Err(_) => {
                            let part = self.take(n);
                            self.state = State::Hunt { skipped: 0 };
                            Ok(Some(part))
                        }
                    };
                }
                State::Body { length: None, scan_from } => {
                    match self.find_delimiter(scan_from, self.buf.len()) {
                        Ok(d) => {
                            let part = self.buf[..d.data_end].to_vec();
                            self.after_delimiter(d.next);
                            return Ok(Some(part));
                        }
                        Err(keep_from) => {
                            // A camera that sends each delimiter before its part would
                            // cost a frame of latency if only the delimiter ended a part.
                            if let Some(end) = jpeg_end(&self.buf) {
                                let part = self.take(end);
                                self.state = State::Hunt { skipped: 0 };
                                return Ok(Some(part));
                            }
                            if self.buf.len() > self.max_part {
                                self.buf.drain(..keep_from);
                                self.state = State::Hunt { skipped: 0 };
                                return Err(MultipartError::PartTooLarge(self.max_part));
                            }
                            self.state = State::Body { length: None, scan_from: keep_from };
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    /// The first `n` bytes, drained.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    fn after_delimiter(&mut self, next: Option<usize>) {
        match next {
            Some(next) => {
                self.buf.drain(..next);
                self.state = State::Head;
            }
            None => {
                self.buf = Vec::new();
                self.state = State::Finished;
            }
        }
    }

    /// The first delimiter line whose boundary text starts in `from..before`.
    /// `Err(keep_from)`: none yet, and none can begin before `keep_from`.
    fn find_delimiter(&self, from: usize, before: usize) -> Result<Delimiter, usize> {
        let (buf, needle) = (&self.buf, &self.needle);
        let mut at = from;
        while let Some(k) = find(buf, needle, at).filter(|&k| k < before) {
            // Extra dashes in front belong to the delimiter, not to the data.
            let mut line = k;
            while line > 0 && buf[line - 1] == b'-' {
                line -= 1;
            }
            let data_end = if buf[..line].ends_with(b"\r\n") {
                line - 2
            } else if buf[..line].ends_with(b"\n") {
                line - 1
            } else {
                line
            };
            match line_end(buf, k + needle.len()) {
                LineEnd::Next(next) => return Ok(Delimiter { data_end, next: Some(next) }),
                LineEnd::Close => return Ok(Delimiter { data_end, next: None }),
                LineEnd::NeedMore => return Err(line.max(from)),
                LineEnd::No => at = k + 1,
            }
        }
        // The start of a delimiter may be the last few bytes.
        let tail = buf.len().saturating_sub(needle.len() - 1).max(from);
        let partial = (tail..buf.len().min(before)).find(|&k| needle.starts_with(&buf[k..]));
        Err(partial.unwrap_or(buf.len()))
    }

    /// The part's header block: its length in bytes and the `Content-Length`, or `None`
    /// if it is not complete yet. A part that starts right away with a JPEG has none.
    fn parse_head(&mut self) -> Result<Option<(usize, Option<usize>)>, MultipartError> {
        if self.buf.starts_with(&[0xFF, 0xD8]) {
            return Ok(Some((0, None)));
        }
        let mut pos = 0;
        let mut length = None;
        while let Some(nl) = self.buf[pos..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[pos..pos + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pos += nl + 1;
            if line.is_empty() {
                return Ok(Some((pos, length)));
            }
            if let Some((name, value)) = std::str::from_utf8(line).ok().and_then(|l| l.split_once(':')) {
                // An unreadable length is ignored: the delimiter still ends the part.
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok();
                }
            }
            if pos > self.max_head {
                break;
            }
        }
        if self.buf.len() > self.max_head {
            self.state = State::Hunt { skipped: 0 };
            return Err(MultipartError::HeadTooLarge(self.max_head));
        }
        Ok(None)
    }
}

/// Where the JPEG that fills `data` ends, if it is whole: `data` ends with EOI (maybe
/// plus a line break) and the marker walk agrees. The tail is checked first so the walk
/// runs about once per part.
fn jpeg_end(data: &[u8]) -> Option<usize> {
    let end = data.len() - data.iter().rev().take(2).take_while(|&&b| b == b'\r' || b == b'\n').count();
    let looks_whole = data.starts_with(&[0xFF, 0xD8]) && data[..end].ends_with(&[0xFF, 0xD9]);
    (looks_whole && split_mjpeg(&data[..end]).first() == Some(&(0..end))).then_some(end)
}

/// What follows the boundary text at `at`: optional padding, then CRLF or LF (a
/// delimiter line) or `--` (the closing delimiter).
fn line_end(buf: &[u8], mut at: usize) -> LineEnd {
    while matches!(buf.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    match (buf.get(at), buf.get(at + 1)) {
        (Some(b'\n'), _) => LineEnd::Next(at + 1),
        (Some(b'\r'), Some(b'\n')) => LineEnd::Next(at + 2),
        (Some(b'-'), Some(b'-')) => LineEnd::Close,
        (None, _) | (Some(b'\r' | b'-'), None) => LineEnd::NeedMore,
        _ => LineEnd::No,
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= hay.len() {
        let k = at + hay[at..=hay.len() - needle.len()].iter().position(|&b| b == first)?;
        if hay[k..].starts_with(needle) {
            return Some(k);
        }
        at = k + 1;
    }
    None
}

/// Why a chunked body cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("chunk size {0:?} is not a hexadecimal number")]
    BadSize(String),
    #[error("a chunk size line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("a chunk does not end with a line break")]
    MissingLineBreak,
}

const MAX_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The size line (with extensions) of the next chunk.
    Size,
    /// Bytes of the current chunk still to come.
    Data(usize),
    /// The line break after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty one.
    Trailer,
    Done,
}

/// Removes the chunked transfer coding (RFC 9112 §7.1) from a body as it arrives.
pub struct Dechunker {
    state: Chunk,
    line: Vec<u8>,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Dechunker {
    pub fn new() -> Self {
        Dechunker { state: Chunk::Size, line: Vec::new() }
    }

    /// Whether the last chunk and the trailer have been read: the body is over.
    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Appends the data in `input` to `out`; returns how many bytes of `input` were
    /// used (fewer than all only once the body is over: the rest is the next response).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkedError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                Chunk::Done => break,
                Chunk::Data(n) => {
                    let take = n.min(input.len() - pos);
                    out.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    self.state = if take == n { Chunk::DataEnd } else { Chunk::Data(n - take) };
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                    let Some(nl) = input[pos..].iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(&input[pos..]);
                        if self.line.len() > MAX_LINE {
                            return Err(ChunkedError::LineTooLong);
                        }
                        break;
                    };
                    self.line.extend_from_slice(&input[pos..pos + nl]);
                    pos += nl + 1;
                    let line = std::mem::take(&mut self.line);
                    self.end_line(line.strip_suffix(b"\r").unwrap_or(&line))?;
                }
            }
        }
        Ok(pos)
    }

    fn end_line(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        if line.len() > MAX_LINE {
            return Err(ChunkedError::LineTooLong);
        }
        self.state = match self.state {
            Chunk::Size => {
                let text = String::from_utf8_lossy(line);
                let size = text.split(';').next().unwrap_or_default().trim();
                match usize::from_str_radix(size, 16) {
                    Ok(0) => Chunk::Trailer,
                    Ok(n) => Chunk::Data(n),
                    Err(_) => return Err(ChunkedError::BadSize(text.chars().take(40).collect())),
                }
            }
            Chunk::DataEnd if line.is_empty() => Chunk::Size,
            Chunk::DataEnd => return Err(ChunkedError::MissingLineBreak),
            Chunk::Trailer if line.is_empty() => Chunk::Done,
            other => other,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode::Encoder, frame::Yuv420};

    fn jpeg(shade: u8) -> Vec<u8> {
        let mut img = Yuv420::new(32, 16);
        img.y.fill(shade);
        Encoder::new(70).encode_into(&img, Vec::new()).unwrap()
    }

    /// How the test streams lay out each part.
    #[derive(Clone, Copy)]
    struct Style {
        /// The delimiter line's text, without the line break.
        delimiter: &'static str,
        length: bool,
        /// CRLF after the data, before the next delimiter.
        crlf: bool,
    }

    const CRLF: Style = Style { delimiter: "--frame", length: true, crlf: true };

    fn stream(style: Style, parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(style.delimiter.as_bytes());
            out.extend_from_slice(b"\r\nContent-Type: image/jpeg\r\nX-Timestamp: 12.5\r\n");
            if style.length {
                out.extend_from_slice(format!("Content-Length: {}\r\n", p.len()).as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(p);
            if style.crlf {
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    fn three() -> Vec<Vec<u8>> {
        vec![jpeg(10), jpeg(120), jpeg(240)]
    }

    /// Pushes the chunks in turn and collects every part and error.
    fn run(mut m: Multipart, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<MultipartError>) {
        let (mut parts, mut errors) = (Vec::new(), Vec::new());
        for chunk in chunks {
            m.push(chunk);
            loop {
                match m.next_part() {
                    Ok(Some(p)) => parts.push(p),
                    Ok(None) => break,
                    Err(e) => errors.push(e),
                }
            }
        }
        (parts, errors)
    }

    fn parser(boundary: &str) -> Multipart {
        Multipart::new(boundary).unwrap()
    }

    #[test]
    fn the_boundary_is_read_with_or_without_dashes_and_quotes() {
        let b = |ct| boundary_from_content_type(ct);
        assert_eq!(b("multipart/x-mixed-replace; boundary=frame").as_deref(), Some("frame"));
        assert_eq!(b("multipart/x-mixed-replace;boundary=--frame").as_deref(), Some("frame"));
        assert_eq!(
            b("multipart/x-mixed-replace; charset=x; Boundary=\"--my frame\"").as_deref(),
            Some("my frame")
        );
        assert_eq!(b("multipart/x-mixed-replace; boundary=\"\"").as_deref(), None);
        assert_eq!(b("multipart/x-mixed-replace; boundary=--").as_deref(), None);
        assert_eq!(b("multipart/x-mixed-replace").as_deref(), None);
        assert!(Multipart::new("--").is_none());
    }

    #[test]
    fn parts_with_content_length_and_crlf_come_out_exactly() {
        let parts = three();
        let (got, errors) = run(parser("frame"), &[&stream(CRLF, &parts)]);
        assert_eq!(got, parts);
        assert!(errors.is_empty());
    }

    #[test]
    fn parts_without_crlf_before_the_boundary_come_out_exactly() {
        let parts = three();
        let style = Style { crlf: false, ..CRLF };
        assert_eq!(run(parser("--frame"), &[&stream(style, &parts)]).0, parts);
        let style = Style { crlf: false, length: false, ..CRLF };
        assert_eq!(run(parser("frame"), &[&stream(style, &parts)]).0, parts);
    }

    #[test]
    fn parts_without_content_length_end_at_the_next_boundary() {
        // Not JPEG, so only the delimiter can end them.
        let parts = vec![b"first part".to_vec(), b"second\r\npart".to_vec(), b"third".to_vec()];
        let style = Style { length: false, ..CRLF };
        let mut data = stream(style, &parts);
        data.extend_from_slice(b"--frame\r\n");
        let (got, _) = run(parser("frame"), &[&data]);
        assert_eq!(got, parts);
    }

    #[test]
    fn a_jpeg_part_without_content_length_comes_out_without_waiting_for_the_next_boundary() {
        let parts = three();
        for crlf in [true, false] {
            let data = stream(Style { length: false, crlf, ..CRLF }, &parts[..1]);
            assert_eq!(run(parser("frame"), &[&data]).0, parts[..1], "crlf: {crlf}");
        }
    }

    #[test]
    fn a_part_with_content_length_comes_out_without_waiting_for_the_next_boundary() {
        let parts = three();
        let data = stream(Style { crlf: false, ..CRLF }, &parts[..1]);
        assert_eq!(run(parser("frame"), &[&data]).0, parts[..1]);
    }

    #[test]
    fn delimiter_lines_with_more_dashes_than_the_parameter_are_recognised() {
        let parts = vec![b"one".to_vec(), b"two".to_vec()];
        for (param, line) in [("--frame", "----frame"), ("frame", "----frame"), ("--frame", "--frame")] {
            let style = Style { delimiter: line, length: false, crlf: true };
            let mut data = stream(style, &parts);
            data.extend_from_slice(format!("{line}--\r\n").as_bytes());
            let mut m = parser(param);
            let (got, errors) = run_with(&mut m, &data);
            assert_eq!(got, parts, "{param} / {line}");
            assert!(errors.is_empty());
            assert!(m.is_finished());
        }
    }

    fn run_with(m: &mut Multipart, data: &[u8]) -> (Vec<Vec<u8>>, Vec<MultipartError>) {
        let (mut parts, mut errors) = (Vec::new(), Vec::new());
        m.push(data);
        loop {
            match m.next_part() {
                Ok(Some(p)) => parts.push(p),
                Ok(None) => break,
                Err(e) => errors.push(e),
            }
        }
        (parts, errors)
    }

    #[test]
    fn a_part_split_at_every_byte_position_comes_out_the_same() {
        let parts = three();
        for style in [
            CRLF,
            Style { crlf: false, ..CRLF },
            Style { length: false, ..CRLF },
            Style { length: false, crlf: false, ..CRLF },
        ] {
            let mut data = b"preamble\r\n".to_vec();
            data.extend_from_slice(&stream(style, &parts));
            data.extend_from_slice(b"--frame--\r\n");
            for i in 0..=data.len() {
                let (got, errors) = run(parser("frame"), &[&data[..i], &data[i..]]);
                assert_eq!(got, parts, "split at {i}");
                assert!(errors.is_empty(), "split at {i}: {errors:?}");
            }
        }
    }

    #[test]
    fn bytes_pushed_one_at_a_time_give_the_same_parts() {
        let parts = three();
        let data = stream(Style { length: false, crlf: false, ..CRLF }, &parts);
        let chunks: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(run(parser("frame"), &chunks).0, parts);
    }

    #[test]
    fn a_preamble_and_garbage_between_parts_are_skipped() {
        let parts = three();
        let mut data = b"This is a multipart stream. --framing is not a boundary\r\n".to_vec();
        for (i, p) in parts.iter().enumerate() {
            data.extend_from_slice(&stream(CRLF, std::slice::from_ref(p)));
            data.extend_from_slice(&vec![b'x' + i as u8; 100 * i]);
        }
        data.extend_from_slice(b"--frame\r\n");
        let (got, errors) = run(parser("frame"), &[&data]);
        assert_eq!(got, parts);
        assert!(errors.is_empty());
    }

    #[test]
    fn a_truncated_part_with_content_length_is_reported_and_the_next_one_comes_out() {
        let parts = three();
        let mut data = stream(CRLF, &parts[..1]);
        // Announces the whole JPEG, delivers half: the next delimiter lies inside the length.
        let cut = &parts[1][..parts[1].len() / 2];
        data.extend_from_slice(format!("--frame\r\nContent-Length: {}\r\n\r\n", parts[1].len()).as_bytes());
        data.extend_from_slice(cut);
        data.extend_from_slice(b"\r\n");
        data.extend_from_slice(&stream(CRLF, &parts[2..]));
        data.extend_from_slice(&stream(CRLF, &parts[..1])); // enough to fill the announced length
        for i in [0, data.len() / 2, data.len()] {
            let (got, errors) = run(parser("frame"), &[&data[..i], &data[i..]]);
            assert_eq!(got, vec![parts[0].clone(), parts[2].clone(), parts[0].clone()], "split at {i}");
            assert_eq!(errors, vec![MultipartError::Truncated { declared: parts[1].len(), got: cut.len() }]);
        }
    }

    #[test]
    fn a_truncated_part_without_content_length_does_not_wedge_the_stream() {
        let parts = three();
        let cut = parts[1][..parts[1].len() / 2].to_vec();
        let style = Style { length: false, ..CRLF };
        let data = stream(style, &[parts[0].clone(), cut.clone(), parts[2].clone()]);
        let (got, _) = run(parser("frame"), &[&data]);
        // The parser cannot know; the cut JPEG comes out and the pipeline's check drops it.
        assert_eq!(got, vec![parts[0].clone(), cut, parts[2].clone()]);
    }

    #[test]
    fn an_oversized_part_is_an_error_and_the_stream_goes_on() {
        let big = vec![7u8; 1800];
        let small = b"small".to_vec();
        for length in [true, false] {
            let style = Style { length, ..CRLF };
            let mut data = stream(style, &[big.clone(), small.clone()]);
            data.extend_from_slice(b"--frame\r\n");
            let chunks: Vec<&[u8]> = data.chunks(700).collect();
            let (got, errors) = run(parser("frame").with_limits(1000, 200), &chunks);
            assert_eq!(got, vec![small.clone()], "length: {length}");
            assert_eq!(errors, vec![MultipartError::PartTooLarge(1000)]);
        }
    }

    #[test]
    fn an_oversized_head_is_an_error_and_the_stream_goes_on() {
        let mut data = b"--frame\r\n".to_vec();
        data.extend_from_slice(&b"X-Junk: aaaaaaaaaaaaaaaaaaaa\r\n".repeat(20));
        data.extend_from_slice(b"\r\nlost\r\n");
        data.extend_from_slice(&stream(Style { length: false, ..CRLF }, &[b"kept".to_vec()]));
        data.extend_from_slice(b"--frame\r\n");
        let chunks: Vec<&[u8]> = data.chunks(50).collect();
        let (got, errors) = run(parser("frame").with_limits(1000, 200), &chunks);
        assert_eq!(got, vec![b"kept".to_vec()]);
        assert_eq!(errors, vec![MultipartError::HeadTooLarge(200)]);
    }

    #[test]
    fn a_stream_without_boundaries_is_an_error_in_bounded_memory() {
        let mut m = parser("frame").with_limits(1000, 200);
        let mut errors = 0;
        for _ in 0..30 {
            m.push(&[b'a'; 100]);
            while let Err(e) = m.next_part() {
                assert_eq!(e, MultipartError::NoBoundary(1000));
                errors += 1;
            }
            assert!(m.buf.len() < 100 + 10);
        }
        assert_eq!(errors, 2);
    }

    #[test]
    fn a_part_that_starts_with_a_jpeg_needs_no_headers() {
        let parts = three();
        let mut data = Vec::new();
        for p in &parts {
            data.extend_from_slice(b"--frame\r\n");
            data.extend_from_slice(p);
        }
        assert_eq!(run(parser("frame"), &[&data]).0, parts);
    }

    #[test]
    fn the_closing_delimiter_ends_the_stream() {
        let mut data = stream(CRLF, &three()[..1]);
        data.extend_from_slice(b"--frame--\r\nepilogue --frame\r\n\r\nignored");
        let mut m = parser("frame");
        let (got, _) = run_with(&mut m, &data);
        assert_eq!(got.len(), 1);
        assert!(m.is_finished());
        m.push(b"--frame\r\n\r\nmore");
        assert_eq!(m.next_part(), Ok(None));
    }

    fn dechunk(chunks: &[&[u8]]) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut d = Dechunker::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out)?;
        }
        Ok((out, d.is_done()))
    }

    const CHUNKED: &[u8] =
        b"5\r\nhello\r\n7;ext=\"a b\"\r\n, world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";

    #[test]
    fn chunked_data_is_reassembled_at_any_split() {
        for i in 0..=CHUNKED.len() {
            let (out, done) = dechunk(&[&CHUNKED[..i], &CHUNKED[i..]]).unwrap();
            assert_eq!(out, b"hello, world0123456789", "split at {i}");
            assert!(done);
        }
        let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
        assert_eq!(dechunk(&bytes).unwrap().0, b"hello, world0123456789");
    }

    #[test]
    fn bytes_after_the_last_chunk_are_left_for_the_next_response() {
        let mut input = CHUNKED.to_vec();
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut d = Dechunker::new();
        let used = d.feed(&input, &mut Vec::new()).unwrap();
        assert_eq!(used, CHUNKED.len());
        assert!(d.is_done());
    }

    #[test]
    fn bare_lf_line_breaks_are_accepted() {
        assert_eq!(dechunk(&[b"3\nabc\n0\n\n"]).unwrap(), (b"abc".to_vec(), true));
    }

    #[test]
    fn broken_chunking_is_an_error() {
        assert_eq!(dechunk(&[b"xyz\r\n"]), Err(ChunkedError::BadSize("xyz".into())));
        assert_eq!(dechunk(&[b"3\r\nabcd\r\n"]), Err(ChunkedError::MissingLineBreak));
        assert_eq!(
            dechunk(&[b"ffffffffffffffffffffff\r\n"]).map(|_| ()).unwrap_err().to_string(),
            "chunk size \"ffffffffffffffffffffff\" is not a hexadecimal number"
        );
        assert_eq!(dechunk(&[&[b'1'; 2000]]), Err(ChunkedError::LineTooLong));
    }

    #[test]
    fn a_chunked_multipart_stream_split_anywhere_gives_the_parts() {
        let parts = three();
        let body = stream(CRLF, &parts);
        let mut chunked = Vec::new();
        for piece in body.chunks(333) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        for i in (0..chunked.len()).step_by(7) {
            let mut d = Dechunker::new();
            let mut m = parser("frame");
            let mut got = Vec::new();
            for input in [&chunked[..i], &chunked[i..]] {
                let mut out = Vec::new();
                d.feed(input, &mut out).unwrap();
                m.push(&out);
                while let Some(p) = m.next_part().unwrap() {
                    got.push(p);
                }
            }
            assert_eq!(got, parts, "split at {i}");
        }
    }
}
