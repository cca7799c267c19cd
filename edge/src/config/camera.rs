//! One camera's options, parsed and checked: its name, its [`SourceSpec`] (a device,
//! a replay, a network camera's URL, the test pattern), its [`Size`], [`Renditions`],
//! [`OnDemand`] and the rest, as a [`CameraSpec`] (what was written; left-out options
//! take the edge-wide ones) and a [`Camera`] (every option decided).
//!
//! A `--camera NAME=SOURCE,key=value,…` value ([`CameraArg`]) and a file's `[[camera]]`
//! table both go through [`CameraSpec::set`], so a value means the same and fails the
//! same way in both places.
//!
//! Apart from the flags (`flags.rs`) so that what one camera may be, and every check of
//! it, reads in one place instead of among the 44 flags. This file knows nothing of
//! [`Config`](super::Config): the flags use it, never the other way round.

use std::{path::PathBuf, str::FromStr};

use crate::{
    motion::{MotionConfig, Zone},
    record::recorder::Mode,
    source::{
        device::FormatPreference,
        rtsp::{RtpTransport, RtspUrl},
    },
};

/// Largest frame side accepted: 8K UHD.
const MAX_SIDE: usize = 7680;

/// Most cameras one edge runs (each has a capture thread and a broker connection).
pub const MAX_CAMERAS: usize = 64;

/// One `--camera` value: a full camera, or only the name of the `--source` camera.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraArg {
    Name(String),
    Spec(CameraSpec),
}

impl FromStr for CameraArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((name, rest)) = s.split_once('=') else {
            return Ok(CameraArg::Name(parse_camera_name(s.trim())?));
        };
        let mut parts = rest.split(',');
        let source = parts.next().unwrap_or_default().trim();
        let mut spec = CameraSpec::new(name.trim(), source)?;
        // `renditions=full,half` goes on past its commas: the words after it without an
        // `=` are more of its list.
        let mut options: Vec<String> = Vec::new();
        for part in parts.map(str::trim).filter(|p| !p.is_empty()) {
            match options.last_mut() {
                Some(last)
                    if !part.contains('=')
                        && ["renditions=", "motion_zone=", "motion_ignore="]
                            .iter()
                            .any(|k| last.starts_with(k)) =>
                {
                    last.push(',');
                    last.push_str(part);
                }
                _ => options.push(part.to_string()),
            }
        }
        for part in &options {
            let (key, value) =
                part.split_once('=').ok_or_else(|| format!("camera {name}: {part:?} should be KEY=VALUE"))?;
            spec.set(key.trim(), value.trim()).map_err(|e| format!("camera {name}: {e}"))?;
        }
        Ok(CameraArg::Spec(spec))
    }
}

/// A camera as configured; options left out take the edge-wide ones.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSpec {
    pub name: String,
    pub source: SourceSpec,
    pub size: Option<Size>,
    pub fps: Option<u32>,
    pub quality: Option<u8>,
    pub format: Option<FormatPreference>,
    pub preview_width: Option<u32>,
    pub preview_fps: Option<u32>,
    pub on_demand: Option<OnDemand>,
    pub renditions: Option<Renditions>,
    pub motion: Option<bool>,
    pub motion_zone: Option<Vec<Zone>>,
    pub motion_ignore: Option<Vec<Zone>>,
    /// An RTSP camera's RTP transport.
    pub transport: Option<RtpTransport>,
    /// Where its previews come from while nobody watches (its substream, its snapshot
    /// URL), if not from its own frames.
    pub preview: Option<SourceSpec>,
    /// rtsps://: whether the camera's certificate is checked.
    pub tls_verify: Option<bool>,
    /// What it keeps on disk.
    pub record: Option<Mode>,
}

impl CameraSpec {
    pub fn new(name: &str, source: &str) -> Result<CameraSpec, String> {
        let name = parse_camera_name(name)?;
        if source.is_empty() {
            return Err(format!("camera {name} needs a source: {name}=SOURCE"));
        }
        let source = source.parse().map_err(|e| format!("camera {name}: {e}"))?;
        Ok(CameraSpec::bare(name, source))
    }

    /// A camera with every option left to the edge-wide ones.
    pub(super) fn bare(name: String, source: SourceSpec) -> CameraSpec {
        CameraSpec {
            name,
            source,
            size: None,
            fps: None,
            quality: None,
            format: None,
            preview_width: None,
            preview_fps: None,
            on_demand: None,
            renditions: None,
            motion: None,
            motion_zone: None,
            motion_ignore: None,
            transport: None,
            preview: None,
            tls_verify: None,
            record: None,
        }
    }

    /// The keys a camera takes besides its name and source, and their values' forms.
    pub const KEYS: &'static str =
        "size, fps, quality, format, preview_width, preview_fps, on_demand, renditions, motion, \
         motion_zone, motion_ignore, transport, preview, tls_verify, record";

    /// Sets one option from its text.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "size" => self.size = Some(value.parse()?),
            "fps" => self.fps = Some(whole("fps", value, 0..=240, "0")?),
            "quality" => self.quality = Some(whole("quality", value, 1..=100, "1")?),
            "format" => {
                self.format =
                    Some(<FormatPreference as clap::ValueEnum>::from_str(value, true).map_err(|_| {
                        format!("format must be one of auto, mjpeg, yuyv, nv12, got {value:?}")
                    })?)
            }
            "preview_width" => {
                self.preview_width = Some(whole("preview_width", value, 0..=1280, "0 (none)")?)
            }
            "preview_fps" => self.preview_fps = Some(whole("preview_fps", value, 1..=30, "1")?),
            "on_demand" => {
                self.on_demand = Some(match value {
                    "auto" => OnDemand::Auto,
                    "yes" | "true" => OnDemand::Yes,
                    "no" | "false" => OnDemand::No,
                    _ => return Err(format!("on_demand must be auto, yes or no, got {value:?}")),
                })
            }
            "renditions" => self.renditions = Some(value.parse()?),
            "motion" => self.motion = Some(parse_yes_no(value).map_err(|e| format!("motion: {e}"))?),
            "motion_zone" => self.motion_zone = Some(zones(value)?),
            "motion_ignore" => self.motion_ignore = Some(zones(value)?),
            "transport" => self.transport = Some(value.parse()?),
            "record" => self.record = Some(Mode::parse(value)?),
            "tls_verify" => {
                self.tls_verify = Some(parse_yes_no(value).map_err(|e| format!("tls_verify: {e}"))?)
            }
            "preview" => {
                self.preview = Some(match value.parse()? {
                    s @ (SourceSpec::Rtsp(_) | SourceSpec::HttpSnapshot(_) | SourceSpec::HttpMjpeg(_)) => s,
                    _ => {
                        return Err("preview must be the camera's substream (rtsp://), snapshot \
                                    (snapshot:http://) or MJPEG (http://) URL"
                            .into())
                    }
                })
            }
            other => return Err(format!("unknown camera option {other:?} (known: {})", Self::KEYS)),
        }
        Ok(())
    }
}

/// A camera's zones: X,Y,W,H after X,Y,W,H, all comma-separated (a file's list of
/// zones reads the same); empty: none.
fn zones(value: &str) -> Result<Vec<Zone>, String> {
    let numbers: Vec<&str> = value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
    if !numbers.len().is_multiple_of(4) {
        return Err(format!(
            "zones are X,Y,W,H each (four fractions), so {} value(s) in {value:?} cannot be zones",
            numbers.len()
        ));
    }
    numbers.chunks(4).map(|zone| zone.join(",").parse::<Zone>().map_err(|e| e.to_string())).collect()
}

/// A camera option's whole number within `range` (`low` is how the low end reads).
fn whole<T>(key: &str, value: &str, range: std::ops::RangeInclusive<T>, low: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    value
        .parse()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| format!("{key} must be a whole number from {low} to {}, got {value:?}", range.end()))
}

/// A camera with every option decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub name: String,
    pub source: SourceSpec,
    pub size: Size,
    pub fps: u32,
    pub quality: u8,
    pub format: FormatPreference,
    /// 0: no previews.
    pub preview_width: u32,
    pub preview_fps: u32,
    /// The full stream only while watched.
    pub on_demand: bool,
    /// The renditions it publishes (always the full stream).
    pub renditions: Renditions,
    /// Motion detection on its previews, if on.
    pub motion: Option<MotionConfig>,
    /// An RTSP camera's RTP transport (TCP unless `transport=udp`).
    pub transport: RtpTransport,
    /// Where its previews come from while nobody watches, if not its own frames.
    pub preview: Option<SourceSpec>,
    /// rtsps://: whether the camera's certificate is checked (yes unless `tls_verify=no`).
    pub tls_verify: bool,
    /// What it keeps on disk.
    pub record: Mode,
}

/// Where frames come from.
#[derive(Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The first camera that works, else the test pattern.
    Auto,
    /// The moving test pattern.
    Pattern,
    /// A V4L2 device node.
    Device(PathBuf),
    /// A directory of JPEGs or an MJPEG file, looped.
    Replay(PathBuf),
    /// A network camera's MJPEG stream over HTTP (`multipart/x-mixed-replace`).
    HttpMjpeg(String),
    /// A network camera's JPEG snapshot URL, polled at the camera's fps.
    HttpSnapshot(String),
    /// An RTSP camera (H.264 or MJPEG).
    Rtsp(Box<RtspUrl>),
}

/// `http://user:password@host/…` with the password hidden, for anything printed.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

// By hand: a camera URL's password must not reach a log through `{:?}`.
impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Auto => f.write_str("Auto"),
            SourceSpec::Pattern => f.write_str("Pattern"),
            SourceSpec::Device(p) => write!(f, "Device({p:?})"),
            SourceSpec::Replay(p) => write!(f, "Replay({p:?})"),
            SourceSpec::HttpMjpeg(u) => write!(f, "HttpMjpeg({:?})", redact_url(u)),
            SourceSpec::HttpSnapshot(u) => write!(f, "HttpSnapshot({:?})", redact_url(u)),
            SourceSpec::Rtsp(u) => write!(f, "Rtsp({:?})", u.to_string()),
        }
    }
}

impl FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => return Ok(SourceSpec::Auto),
            "pattern" | "test" => return Ok(SourceSpec::Pattern),
            _ => {}
        }
        let (snapshot, url) = match s.strip_prefix("snapshot:") {
            Some(url) => (true, url),
            None => (false, s),
        };
        if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
            if snapshot {
                return Err(format!("snapshot: needs an http:// URL, got {:?}", redact_url(url)));
            }
            return RtspUrl::parse(url).map(|u| SourceSpec::Rtsp(Box::new(u)));
        }
        if url.starts_with("https://") {
            return Err(format!(
                "{}: https cameras are not supported yet; use the camera's http:// URL on the LAN",
                redact_url(url)
            ));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            if rest.is_empty() || rest.starts_with('/') {
                return Err(format!("{}: the camera URL has no host", redact_url(url)));
            }
            return Ok(match snapshot {
                true => SourceSpec::HttpSnapshot(url.to_string()),
                false => SourceSpec::HttpMjpeg(url.to_string()),
            });
        }
        if snapshot {
            return Err(format!("snapshot: needs an http:// URL, got {:?}", redact_url(url)));
        }
        if s.starts_with("/dev/") {
            return Ok(SourceSpec::Device(PathBuf::from(s)));
        }
        if let Some(n) =
            s.strip_prefix("video").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(SourceSpec::Device(PathBuf::from(format!("/dev/video{n}"))));
        }
        let path = PathBuf::from(s);
        if path.exists() {
            return Ok(SourceSpec::Replay(path));
        }
        Err(format!(
            "unknown source {s:?}: use auto, pattern, a camera like /dev/video0, an http:// \
             MJPEG or snapshot:http:// URL, an rtsp:// URL, or an existing directory of JPEGs / MJPEG file"
        ))
    }
}

/// A frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: usize,
    pub height: usize,
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("size must look like 640x480, got {s:?}");
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let (width, height): (usize, usize) =
            (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
        if !(16..=MAX_SIDE).contains(&width) || !(16..=MAX_SIDE).contains(&height) {
            return Err(format!(
                "size {width}x{height} is impossible: each side must be 16 to {MAX_SIDE} pixels"
            ));
        }
        if width % 2 != 0 || height % 2 != 0 {
            return Err(format!("size {width}x{height} is impossible: 4:2:0 JPEG needs even sides"));
        }
        Ok(Size { width, height })
    }
}

/// The renditions a camera publishes: always the full stream, and the smaller ones named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renditions(Vec<wire::ack::Rendition>);

impl Renditions {
    /// The smaller renditions (half, quarter) among them, largest first.
    pub fn smaller(&self) -> Vec<wire::ack::Rendition> {
        wire::ack::Rendition::ALL[1..].iter().copied().filter(|r| self.0.contains(r)).collect()
    }

    /// All of them, largest first.
    pub fn all(&self) -> Vec<wire::ack::Rendition> {
        wire::ack::Rendition::ALL.iter().copied().filter(|r| self.0.contains(r)).collect()
    }
}

impl FromStr for Renditions {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut list = Vec::new();
        for name in s.split(',').map(str::trim) {
            let r = wire::ack::Rendition::from_name(name).ok_or_else(|| {
                format!("renditions are full, half and quarter, comma-separated; got {name:?} in {s:?}")
            })?;
            if !list.contains(&r) {
                list.push(r);
            }
        }
        if !list.contains(&wire::ack::Rendition::Full) {
            return Err(format!(
                "renditions must include full (the camera's own stream; half and quarter are made from it), got {s:?}"
            ));
        }
        Ok(Renditions(list))
    }
}

/// Whether a camera's full stream runs only while watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnDemand {
    Auto,
    Yes,
    No,
}

/// yes/no (also true/false, on/off).
pub(super) fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.trim() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("{s:?}: yes or no")),
    }
}

/// A camera's name: a topic level not starting with `_` (the system's levels, like
/// the directory's `_dir`), and without `.` (RabbitMQ turns `/` into `.` inside).
fn parse_camera_name(s: &str) -> Result<String, String> {
    let name = parse_topic_level(s)?;
    if name.starts_with('_') || name.contains('.') {
        return Err(format!("camera name {name:?} may not start with '_' or hold a '.'"));
    }
    Ok(name)
}

/// One topic level: not empty, and none of MQTT's separators or wildcards.
pub(super) fn parse_topic_level(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 64 || s.contains(['/', '+', '#', '\0']) {
        return Err(format!("{s:?} is not a usable topic level: 1 to 64 characters, no '/', '+', '#'"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_impossible_ones_are_refused() {
        assert_eq!("1280x720".parse::<Size>().unwrap(), Size { width: 1280, height: 720 });
        assert!("1280".parse::<Size>().is_err());
        assert!("0x0".parse::<Size>().is_err());
        assert!("99999x10".parse::<Size>().is_err());
        assert!("641x480".parse::<Size>().unwrap_err().contains("even"));
    }

    #[test]
    fn rtsp_cameras_take_a_transport_and_a_preview_source() {
        let CameraArg::Spec(spec) =
            "door=rtsp://admin:pw@10.0.0.5:554/main,transport=udp,preview=rtsp://admin:pw@10.0.0.5:554/sub"
                .parse()
                .unwrap()
        else {
            panic!("a full camera")
        };
        let SourceSpec::Rtsp(url) = &spec.source else { panic!("{:?}", spec.source) };
        assert_eq!(url.url.as_str(), "rtsp://10.0.0.5:554/main");
        assert_eq!(spec.transport, Some(RtpTransport::Udp));
        assert!(matches!(&spec.preview, Some(SourceSpec::Rtsp(u)) if u.url.path() == "/sub"));
        assert!(!format!("{spec:?}").contains(":pw@"), "{spec:?}");
        let e = "door=rtsp://cam/x,transport=quic".parse::<CameraArg>().unwrap_err();
        assert!(e.contains("transport must be tcp or udp"), "{e}");
        let e = "door=rtsp://cam/x,preview=pattern".parse::<CameraArg>().unwrap_err();
        assert!(e.contains("preview must be"), "{e}");
        assert!("door=snapshot:rtsp://cam/x".parse::<CameraArg>().is_err());
        let e = "door=rtsp://u:secret@/x".parse::<CameraArg>().unwrap_err();
        assert!(e.contains("host") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn sources_parse_by_shape() {
        assert_eq!("pattern".parse::<SourceSpec>().unwrap(), SourceSpec::Pattern);
        assert_eq!("/dev/video2".parse::<SourceSpec>().unwrap(), SourceSpec::Device("/dev/video2".into()));
        assert_eq!("video1".parse::<SourceSpec>().unwrap(), SourceSpec::Device("/dev/video1".into()));
        let here = std::env::temp_dir();
        assert_eq!(here.to_str().unwrap().parse::<SourceSpec>().unwrap(), SourceSpec::Replay(here));
        let err = "camera-that-does-not-exist".parse::<SourceSpec>().unwrap_err();
        assert!(err.contains("unknown source"), "{err}");
    }

    #[test]
    fn network_camera_urls_are_sources_and_their_passwords_stay_hidden() {
        let s: SourceSpec = "http://admin:hunter2@10.0.0.9/video".parse().unwrap();
        assert_eq!(s, SourceSpec::HttpMjpeg("http://admin:hunter2@10.0.0.9/video".into()));
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
        assert_eq!(redact_url("http://admin:hunter2@cam/x"), "http://admin:***@cam/x");
        assert_eq!(redact_url("http://cam/a@b"), "http://cam/a@b", "an @ in the path is not a login");
        let snap: SourceSpec = "snapshot:http://cam/snap.jpg".parse().unwrap();
        assert_eq!(snap, SourceSpec::HttpSnapshot("http://cam/snap.jpg".into()));
        let err = "https://u:pw@cam/v".parse::<SourceSpec>().unwrap_err();
        assert!(err.contains("https") && !err.contains("pw@"), "{err}");
        assert!("http://".parse::<SourceSpec>().is_err());
        assert!("snapshot:/tmp".parse::<SourceSpec>().is_err());
    }

    #[test]
    fn topic_levels_refuse_wildcards_and_separators() {
        assert!(parse_topic_level("garage").is_ok());
        for bad in ["", "a/b", "+", "#", "x#"] {
            assert!(parse_topic_level(bad).is_err(), "{bad:?}");
        }
    }
}
