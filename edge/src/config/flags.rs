//! The command-line flags, each also settable from its `EDGE_*` environment variable:
//! [`Config`] (clap), the parsers of the values only flags take, and
//! [`Config::cameras`], which puts the edge-wide flags and the cameras together and
//! checks the list (names given twice, `auto` for several cameras, motion without a
//! preview).
//!
//! One camera's options are parsed and checked in `camera.rs`, and a `--config` file is
//! turned into these flags by `file.rs`: this file is the list of flags, readable as the
//! `--help` it becomes, and sits above both value files (it uses them, they never use
//! it).

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::Parser;

use super::{
    broker_url::BrokerUrl,
    camera::{
        parse_topic_level, parse_yes_no, Camera, CameraArg, CameraSpec, OnDemand, Renditions, Size,
        SourceSpec, MAX_CAMERAS,
    },
};
use crate::{
    motion::{MotionConfig, Zone},
    record::recorder::Mode,
    source::{device::FormatPreference, rtsp::RtpTransport},
};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "edge",
    version,
    about = "Publish live camera video over MQTT to any browser.",
    long_about = "Publish live camera video over MQTT to any browser.\n\n\
        Captures frames, encodes them as JPEG and publishes them over MQTT, newest frame first \
        (frames are dropped, never queued, when the network is slower than the camera). By \
        default it also runs an MQTT broker in-process and serves the viewer site, so one \
        command is all a machine needs: open the printed URL on any phone or browser.\n\n\
        Topics: <prefix>/<camera>/frame carries one frame per message \
        (see docs/wire.md for the wire format)."
)]
pub struct Config {
    /// Where frames come from: `auto` (the first camera that works, else the test
    /// pattern), `pattern`, a camera device (`/dev/video0`), or a directory of JPEG files
    /// or an MJPEG file to replay in a loop.
    #[arg(long, default_value = "auto", env = "EDGE_SOURCE")]
    pub source: SourceSpec,

    /// Pixel format to ask a camera for: `auto` and `mjpeg` publish the camera's own
    /// JPEG (no encoding cost); `yuyv`/`nv12` get raw frames encoded here at --quality.
    #[arg(long, value_enum, default_value_t = FormatPreference::Auto, env = "EDGE_FORMAT")]
    pub format: FormatPreference,

    /// JPEG encoder threads; 0 = one per core (at most 4). More than one only matters
    /// when a single core cannot encode at the camera's rate.
    #[arg(long, default_value_t = 0, env = "EDGE_ENCODERS",
          value_parser = clap::value_parser!(u32).range(0..=64))]
    pub encoders: u32,

    /// Shift every timestamp the edge writes by this many ms. For testing that viewers
    /// correct for clock offset; never useful in production.
    #[arg(long, default_value_t = 0, hide = true, allow_negative_numbers = true, env = "EDGE_CLOCK_SKEW_MS")]
    pub clock_skew_ms: i64,

    /// `login`: print the viewer's link with its login and the QR code of it, for the
    /// edge these options describe (the password a running edge made, e.g. a
    /// service's), and exit. Without it the edge runs.
    #[arg(value_enum, value_name = "COMMAND")]
    pub command: Option<Command>,

    /// List the video devices with their formats, sizes and frame rates, and exit.
    #[arg(long)]
    pub list_devices: bool,

    /// Frame size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480", env = "EDGE_SIZE")]
    pub size: Size,

    /// Frames per second to capture; 0 captures as fast as the encoder goes.
    #[arg(long, default_value_t = 30, env = "EDGE_FPS",
          value_parser = clap::value_parser!(u32).range(0..=240))]
    pub fps: u32,

    /// JPEG quality, 1 (smallest) to 100 (best).
    #[arg(long, default_value_t = 75, env = "EDGE_QUALITY",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,

    /// Width of each camera's preview (the small rendition for grid tiles, on
    /// <prefix>/<camera>/preview), at most; 0 = no previews.
    #[arg(long, default_value_t = 320, env = "EDGE_PREVIEW_WIDTH",
          value_parser = clap::value_parser!(u32).range(0..=1280))]
    pub preview_width: u32,

    /// Capture and encode a camera's full stream only while someone watches it (the
    /// preview goes on): `auto` = yes with the embedded broker (it sees who subscribes),
    /// no with --broker (there consumers must acknowledge or send `watch` messages).
    #[arg(long, value_enum, default_value_t = OnDemand::Auto, env = "EDGE_ON_DEMAND")]
    pub on_demand: OnDemand,

    /// The renditions each camera publishes, comma-separated: `full` (its own size, on
    /// <prefix>/<camera>/frame) and any of `half` and `quarter` (half and a quarter of its
    /// width and height, on <prefix>/<camera>/half and …/quarter), each made only while
    /// someone watches it. `full` alone turns the smaller ones off.
    #[arg(long, default_value = "full,half,quarter", env = "EDGE_RENDITIONS")]
    pub renditions: Renditions,

    /// Previews per second.
    #[arg(long, default_value_t = 2, env = "EDGE_PREVIEW_FPS",
          value_parser = clap::value_parser!(u32).range(1..=30))]
    pub preview_fps: u32,

    /// A camera: NAME=SOURCE[,size=WxH][,fps=N][,quality=Q][,format=F]; repeat it for
    /// more cameras (or separate them with `;`). SOURCE is anything --source takes, an
    /// HTTP MJPEG stream (http://user:pass@cam/video), a JPEG snapshot URL polled at the
    /// camera's fps (snapshot:http://cam/snap.jpg) or an RTSP camera
    /// (rtsp://user:pass@cam:554/path, rtsps://…; options transport=udp, preview=URL of
    /// its substream, tls_verify=no for rtsps://). Options left out come from --size,
    /// --fps, --quality and --format. A bare NAME names the one camera of --source.
    /// Default: one camera, cam1.
    #[arg(long, env = "EDGE_CAMERA", value_delimiter = ';', value_name = "NAME[=SOURCE,…]")]
    pub camera: Vec<CameraArg>,

    /// A TOML file of these options (same names, `_` or `-`) and one `[[camera]]` table
    /// per camera (name, source, size, fps, quality, format). Flags and EDGE_* variables
    /// override it; --camera flags replace its cameras.
    #[arg(long, env = "EDGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// First topic level, shared by all cameras of one installation.
    #[arg(long, default_value = "mqcam", env = "EDGE_TOPIC_PREFIX", value_parser = parse_topic_level)]
    pub topic_prefix: String,

    /// Address the HTTP site and the embedded broker listen on (0.0.0.0 = every interface).
    #[arg(long, default_value = "0.0.0.0", env = "EDGE_BIND")]
    pub bind: IpAddr,

    /// HTTP port of the viewer site (0 = any free port).
    #[arg(long, default_value_t = 8080, env = "EDGE_HTTP_PORT")]
    pub http_port: u16,

    /// MQTT-over-WebSocket port of the embedded broker, used by browsers (0 = any free port).
    #[arg(long, default_value_t = 9001, env = "EDGE_WS_PORT")]
    pub ws_port: u16,

    /// MQTT (TCP) port of the embedded broker (0 = any free port).
    #[arg(long, default_value_t = 1883, env = "EDGE_TCP_PORT")]
    pub tcp_port: u16,

    /// Publish to this external broker instead of running one: mqtt://host[:port],
    /// mqtts://host[:port] (TLS), ws://host[:port][/path] or wss://… (TLS). Turns the
    /// embedded broker off. Repeatable, or comma-separated: the edge starts on the first
    /// that works and, when it loses one, goes on to the next (same login for all).
    #[arg(long, env = "EDGE_BROKER", value_name = "URL", value_delimiter = ',')]
    pub broker: Vec<BrokerUrl>,

    /// PEM file of the CA(s) to trust for an external broker's TLS certificate, instead of
    /// the system's.
    #[arg(long, env = "EDGE_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// MQTT username. With --broker: the edge's login there. With the embedded broker:
    /// the login every viewer must give (the page asks, or reads it from the URL
    /// fragment #username=…&password=…); `viewer` when only a password is given.
    #[arg(long, env = "EDGE_USERNAME", requires = "password")]
    pub username: Option<String>,

    /// MQTT password. With the embedded broker, the viewers' password; without this (and
    /// without --no-login) the edge makes one on first start and keeps it in --state-dir.
    /// Prefer the EDGE_PASSWORD variable: the command line is visible to every user of
    /// the machine.
    #[arg(long, env = "EDGE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Embedded broker: let anyone who can reach this machine watch, without a login.
    /// Only for a network where that is what you want.
    #[arg(long, env = "EDGE_NO_LOGIN", conflicts_with_all = ["password", "broker"])]
    pub no_login: bool,

    /// Where the edge keeps its state (the generated viewer password).
    /// Default: $XDG_STATE_HOME/mqcam, else ~/.local/state/mqcam.
    #[arg(long, env = "EDGE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Print the viewer URL with the generated password (and a QR code of it) at start:
    /// `auto` only when stdout is a terminal (not into a service's log), `always`, `never`.
    #[arg(long, value_enum, default_value_t = PrintLogin::Auto, env = "EDGE_PRINT_LOGIN")]
    pub print_login: PrintLogin,

    /// A web origin, besides the edge's own site, whose pages may open the embedded
    /// broker's WebSocket (the viewer hosted elsewhere): https://cams.example, or `*`
    /// for any page. Repeatable, or comma-separated. Others get HTTP 403.
    #[arg(long, env = "EDGE_ALLOW_ORIGIN", value_name = "ORIGIN", value_delimiter = ',')]
    pub allow_origin: Vec<crate::broker::origin::Allowed>,

    /// Connections one address (IPv4 address, IPv6 /64) may hold open on each of the
    /// edge's doors (web port, MQTT TCP, MQTT WebSocket); more are closed at once. The
    /// default is a household behind one NAT address with room to spare; raise it behind
    /// a reverse proxy on this machine (every client then has the proxy's address) or
    /// for load tests from one host.
    #[arg(long, default_value_t = crate::doors::files::PER_ADDRESS, env = "EDGE_PER_ADDRESS_CONNECTIONS",
          value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub per_address_connections: u32,

    /// Embedded broker: a login, USER:PASSWORD, that may publish to any topic (another
    /// edge using this one's broker, a test tool). Without it only this edge publishes;
    /// viewers may only write clock requests and frame acknowledgements.
    #[arg(long, env = "EDGE_PUBLISHER_LOGIN", value_name = "USER:PASSWORD",
          value_parser = parse_login, hide_env_values = true)]
    pub publisher_login: Option<(String, String)>,

    /// PEM certificate chain to serve TLS with: the embedded broker then speaks mqtts://
    /// and wss://, and the site https://. Needs --tls-key.
    #[arg(long, env = "EDGE_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "EDGE_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Socket send buffer towards the broker, in KiB. It bounds how much video can wait
    /// in the kernel on a slow uplink (latency); raise it for fast links with long round
    /// trips.
    #[arg(long, default_value_t = 64, env = "EDGE_SEND_BUFFER_KB",
          value_parser = clap::value_parser!(u32).range(4..=65536))]
    pub send_buffer_kb: u32,

    /// Flow control: frames a viewer may have unacknowledged before the edge holds back
    /// (dropping, never queueing), so a viewer slower than the camera keeps its latency
    /// bounded. Viewers may ask for more (far away ones do); 0 turns flow control off.
    /// Viewers silent for 0.5 s stop counting.
    #[arg(long, default_value_t = 1, env = "EDGE_VIEWER_WINDOW",
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub viewer_window: u32,

    /// The broker WebSocket URL viewers should use, when it is not the one the page can
    /// work out by itself (e.g. an external broker, or a proxy in front). Repeatable, or
    /// comma-separated: pages fail over between them, in this order.
    #[arg(long, env = "EDGE_VIEWER_BROKER", value_name = "URL", value_delimiter = ',')]
    pub viewer_broker: Vec<BrokerUrl>,

    /// Serve the viewer site from this directory (`trunk build --release` writes `dist`)
    /// instead of the one built into the edge: a customised page, or one being worked on.
    /// Default: the built-in site; an edge built without one (a plain `cargo build`)
    /// serves `dist`.
    #[arg(long, env = "EDGE_SITE", value_name = "DIR")]
    pub site: Option<PathBuf>,

    /// Detect motion in each camera's preview (needs --preview-width above 0): raises
    /// and clears the camera's alarm and publishes the moving box on
    /// <prefix>/<camera>/detections. Per camera: `motion=yes|no` in --camera or the file.
    #[arg(long, env = "EDGE_MOTION")]
    pub motion: bool,

    /// Motion: 1 (only strong contrast) to 100 (the smallest changes of brightness).
    #[arg(long, default_value_t = 50, env = "EDGE_MOTION_SENSITIVITY", value_name = "1..100",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub motion_sensitivity: u8,

    /// Motion: the smallest moving area that counts, a fraction of the picture (0.01: 1 %).
    #[arg(long, default_value_t = 0.01, env = "EDGE_MOTION_MIN_AREA", value_name = "FRACTION",
          value_parser = parse_min_area)]
    pub motion_min_area: f64,

    /// Motion: seconds without motion before it is cleared.
    #[arg(long, default_value = "10", env = "EDGE_MOTION_HOLD", value_name = "SECS",
          value_parser = parse_hold)]
    pub motion_hold: Duration,

    /// Motion: a part of the picture to watch, X,Y,W,H in fractions of its width and
    /// height (0,0.8,1,0.2: the bottom fifth). Repeatable; none: all of it.
    #[arg(long, env = "EDGE_MOTION_ZONE", value_name = "X,Y,W,H", value_delimiter = ';')]
    pub motion_zone: Vec<Zone>,

    /// Motion: a part of the picture where nothing counts (a road, a tree), X,Y,W,H.
    /// Repeatable; wins over --motion-zone.
    #[arg(long, env = "EDGE_MOTION_IGNORE", value_name = "X,Y,W,H", value_delimiter = ';')]
    pub motion_ignore: Vec<Zone>,

    /// Motion raises and clears the camera's alarm (<prefix>/<camera>/alarm) too; `no`
    /// publishes only the motion state and the boxes.
    #[arg(long, default_value = "yes", env = "EDGE_MOTION_ALARM", value_name = "yes|no",
          value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub motion_alarm: bool,

    /// What each camera keeps on disk: `off`; `events`: its full-size frames around each
    /// event (its motion, an alarm on <prefix>/<camera>/alarm from any bus client, "record
    /// now" from a page), with --pre-roll and --post-roll; `continuous`: besides that, its
    /// preview all the time. Per camera: `record=` in --camera or the file.
    #[arg(long, default_value = "off", env = "EDGE_RECORD", value_name = "off|events|continuous",
          value_parser = Mode::parse)]
    pub record: Mode,

    /// Where recordings are kept. Default: `recordings` in the state directory.
    #[arg(long, env = "EDGE_RECORD_DIR", value_name = "DIR")]
    pub record_dir: Option<PathBuf>,

    /// Seconds kept from before an event began (from memory: the camera's full stream is
    /// made all the time for it, which costs an encode on a raw camera; 0: none).
    #[arg(long, default_value_t = 5, env = "EDGE_PRE_ROLL", value_name = "SECS",
          value_parser = clap::value_parser!(u32).range(0..=60))]
    pub pre_roll: u32,

    /// Seconds kept after an event ended.
    #[arg(long, default_value_t = 10, env = "EDGE_POST_ROLL", value_name = "SECS",
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub post_roll: u32,

    /// Recordings of all cameras together at most this many GB (the oldest go first).
    #[arg(long, env = "EDGE_RECORD_MAX_GB", value_name = "GB", value_parser = parse_gb)]
    pub record_max_gb: Option<f64>,

    /// One camera's recordings at most this many GB.
    #[arg(long, env = "EDGE_RECORD_CAMERA_MAX_GB", value_name = "GB", value_parser = parse_gb)]
    pub record_camera_max_gb: Option<f64>,

    /// Continuous footage older than this many days is deleted.
    #[arg(long, env = "EDGE_RECORD_DAYS", value_name = "DAYS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub record_days: Option<u32>,

    /// Full-size footage around events older than this many days is deleted.
    #[arg(long, env = "EDGE_RECORD_EVENT_DAYS", value_name = "DAYS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub record_event_days: Option<u32>,

    /// Free space to leave on the recordings' disk, MB; the oldest footage is deleted to
    /// keep it. Default: 5 % of the disk, at most 1024 MB.
    #[arg(long, env = "EDGE_RECORD_MIN_FREE_MB", value_name = "MB")]
    pub record_min_free_mb: Option<u64>,

    /// Announce each camera to Home Assistant (MQTT discovery): a device with its
    /// picture, alarm, motion, frame rate and latency.
    #[arg(long, env = "EDGE_HA_DISCOVERY")]
    pub ha_discovery: bool,

    /// Home Assistant's discovery prefix (its MQTT options).
    #[arg(long, default_value = crate::homeassistant::DEFAULT_DISCOVERY_PREFIX,
          env = "EDGE_HA_DISCOVERY_PREFIX", value_name = "PREFIX", value_parser = parse_discovery_prefix)]
    pub ha_discovery_prefix: String,

    /// The viewer site's address as other machines reach it (http://cam-host:8080/,
    /// https://cams.example/), when it is not the LAN address the banner prints: behind a
    /// reverse proxy, by host name, through a forwarded port. Home Assistant's devices
    /// link to it (--ha-discovery). No login in it: it is published, retained.
    #[arg(long, env = "EDGE_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
}

/// What `edge COMMAND` does instead of running.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the viewer's link with its login, and its QR code.
    Login,
}

/// A size in GB (fractions allowed: 0.5).
fn parse_gb(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("a size in GB above 0 (0.5, 20), got {s:?}"))
}

/// When to print the generated viewer password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintLogin {
    Auto,
    Always,
    Never,
}

impl Config {
    /// The cameras to run: the `--camera` specs (or the file's), else the one camera of
    /// `--source` under the given or default name.
    pub fn cameras(&self) -> Result<Vec<Camera>, String> {
        let specs: Vec<&CameraSpec> = self
            .camera
            .iter()
            .filter_map(|c| match c {
                CameraArg::Spec(s) => Some(s),
                CameraArg::Name(_) => None,
            })
            .collect();
        let names: Vec<&str> = self
            .camera
            .iter()
            .filter_map(|c| match c {
                CameraArg::Name(n) => Some(n.as_str()),
                CameraArg::Spec(_) => None,
            })
            .collect();
        let whole = |spec: &CameraSpec| Camera {
            name: spec.name.clone(),
            source: spec.source.clone(),
            size: spec.size.unwrap_or(self.size),
            fps: spec.fps.unwrap_or(self.fps),
            quality: spec.quality.unwrap_or(self.quality),
            format: spec.format.unwrap_or(self.format),
            preview_width: spec.preview_width.unwrap_or(self.preview_width),
            preview_fps: spec.preview_fps.unwrap_or(self.preview_fps),
            on_demand: match spec.on_demand.unwrap_or(self.on_demand) {
                OnDemand::Yes => true,
                OnDemand::No => false,
                OnDemand::Auto => self.broker.is_empty(),
            },
            renditions: spec.renditions.clone().unwrap_or_else(|| self.renditions.clone()),
            motion: spec.motion.unwrap_or(self.motion).then(|| MotionConfig {
                sensitivity: self.motion_sensitivity,
                min_area: self.motion_min_area,
                hold: self.motion_hold,
                zones: spec.motion_zone.clone().unwrap_or_else(|| self.motion_zone.clone()),
                ignore: spec.motion_ignore.clone().unwrap_or_else(|| self.motion_ignore.clone()),
            }),
            transport: spec.transport.unwrap_or_default(),
            preview: spec.preview.clone(),
            tls_verify: spec.tls_verify.unwrap_or(true),
            record: spec.record.unwrap_or(self.record),
        };
        let cameras = match (specs.len(), names.as_slice()) {
            (0, []) => Ok(vec![whole(&CameraSpec { name: "cam1".into(), ..self.source_camera() })]),
            (0, [name]) => Ok(vec![whole(&CameraSpec { name: name.to_string(), ..self.source_camera() })]),
            (0, _) => Err("--camera NAME names the one --source camera: give it once, or give each \
                           camera as NAME=SOURCE"
                .into()),
            (_, [name, ..]) => Err(format!(
                "--camera {name} has no source, but other cameras are given as NAME=SOURCE: \
                 write {name}=SOURCE"
            )),
            (n, []) if n > MAX_CAMERAS => Err(format!("{n} cameras: one edge runs at most {MAX_CAMERAS}")),
            (_, []) => {
                let mut seen = std::collections::HashSet::new();
                for s in &specs {
                    // The options of an RTSP camera apply to its preview source too.
                    let sources = [Some(&s.source), s.preview.as_ref()];
                    let rtsp = sources.iter().flatten().any(|x| matches!(x, SourceSpec::Rtsp(_)));
                    if s.transport.is_some() && !rtsp {
                        return Err(format!(
                            "camera {}: transport= is for rtsp:// cameras, and its source is not one",
                            s.name
                        ));
                    }
                    let tls = sources.iter().flatten().any(|x| matches!(x, SourceSpec::Rtsp(u) if u.tls()));
                    if s.tls_verify.is_some() && !tls {
                        return Err(format!(
                            "camera {}: tls_verify= is for rtsps:// cameras, and its source is not one",
                            s.name
                        ));
                    }
                    if tls && s.transport == Some(RtpTransport::Udp) {
                        return Err(format!(
                            "camera {}: an rtsps:// camera sends its video inside the TLS \
                             connection; transport=udp does not apply",
                            s.name
                        ));
                    }
                    if !seen.insert(s.name.as_str()) {
                        return Err(format!("camera {} is given twice: names must differ", s.name));
                    }
                }
                if specs.len() > 1 && specs.iter().any(|s| s.source == SourceSpec::Auto) {
                    return Err("source auto picks the first camera that works: with several \
                                cameras, name each one's device"
                        .into());
                }
                Ok(specs.into_iter().map(whole).collect())
            }
        }?;
        // Motion detection reads the preview's luma: no preview, no motion.
        if let Some(c) = cameras.iter().find(|c| c.preview.is_some() && !c.on_demand) {
            return Err(format!(
                "camera {}: preview= takes over only while nobody watches, and with on_demand \
                 off (the default with --broker) the main stream always runs: set on_demand=yes \
                 for this camera or leave preview= out",
                c.name
            ));
        }
        if let Some(c) = cameras.iter().find(|c| c.preview.is_some() && c.preview_width == 0) {
            return Err(format!(
                "camera {}: preview= names where its previews come from, but previews are off \
                 (--preview-width 0): set preview_width above 0 or leave preview= out",
                c.name
            ));
        }
        if let Some(c) = cameras.iter().find(|c| c.record == Mode::Continuous && c.preview_width == 0) {
            return Err(format!(
                "camera {}: record=continuous keeps the camera's preview all the time, and \
                 previews are off (--preview-width 0): set preview_width above 0 or record=events",
                c.name
            ));
        }
        if let Some(c) = cameras.iter().find(|c| c.motion.is_some() && c.preview_width == 0) {
            return Err(format!(
                "camera {}: motion detection reads the camera's preview, so --motion needs \
                 --preview-width above 0 (or motion=no for this camera)",
                c.name
            ));
        }
        Ok(cameras)
    }

    fn source_camera(&self) -> CameraSpec {
        CameraSpec::bare(String::new(), self.source.clone())
    }
}

/// `--motion-min-area`: a fraction above 0, at most 1.
fn parse_min_area(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!("{s:?}: a fraction of the picture above 0 and at most 1 (0.01 is 1 %)")),
    }
}

/// `--motion-hold`: seconds, more than 0 (fractions allowed).
fn parse_hold(s: &str) -> Result<Duration, String> {
    match s.trim().trim_end_matches('s').parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("{s:?}: seconds, more than 0 and at most a day (e.g. 10 or 1.5)")),
    }
}

/// `--ha-discovery-prefix`: a topic head Home Assistant can use.
fn parse_discovery_prefix(s: &str) -> Result<String, String> {
    let discovery = crate::homeassistant::Discovery { discovery_prefix: s.to_string(), ..Default::default() };
    discovery.check().map(|()| s.to_string())
}

/// `--public-url`: an http(s) URL with a host and no login (it goes into retained
/// messages every subscriber can read).
fn parse_public_url(s: &str) -> Result<String, String> {
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match authority {
        Some(a) if a.contains('@') => {
            Err(format!("{s:?}: no login in it (it is published, retained, for anyone to read)"))
        }
        Some(a) if !a.is_empty() && !s.contains(char::is_whitespace) => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?}: the viewer page's http:// or https:// URL as other machines reach it, \
             e.g. http://cam-host:8080/"
        )),
    }
}

/// USER:PASSWORD; the password may hold ':'.
fn parse_login(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), password.to_string()))
        }
        _ => Err("a login must look like USER:PASSWORD, both non-empty".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_options_are_refused_where_they_mean_nothing() {
        let cameras = |arg: &str| Config::try_parse_from(["edge", "--camera", arg]).unwrap().cameras();
        let e = cameras("door=pattern,transport=udp").unwrap_err();
        assert!(e.contains("transport= is for rtsp://"), "{e}");
        let e =
            cameras("door=rtsp://cam/main,preview=snapshot:http://cam/s.jpg,preview_width=0").unwrap_err();
        assert!(e.contains("previews are off"), "{e}");
        let c = cameras("door=rtsp://cam/main,preview=snapshot:http://cam/s.jpg").unwrap();
        assert_eq!((c[0].transport, c[0].preview.is_some()), (RtpTransport::Tcp, true));
        assert!(c[0].tls_verify);
        let e = cameras("door=rtsp://cam/main,tls_verify=no").unwrap_err();
        assert!(e.contains("tls_verify= is for rtsps://"), "{e}");
        let e = cameras("door=rtsps://cam/main,transport=udp").unwrap_err();
        assert!(e.contains("transport=udp does not apply"), "{e}");
        assert!(!cameras("door=rtsps://cam:7441/x,tls_verify=no").unwrap()[0].tls_verify);
        // The options reach a preview source too.
        assert!(cameras("door=rtsp://cam/a,preview=rtsps://cam/b,tls_verify=no").is_ok());
        let e = cameras("door=rtsp://cam/a,preview=rtsps://cam/b,transport=udp").unwrap_err();
        assert!(e.contains("transport=udp does not apply"), "{e}");
        let e = cameras("door=rtsp://cam/a,preview=rtsp://cam/b,on_demand=no").unwrap_err();
        assert!(e.contains("on_demand"), "{e}");
    }

    #[test]
    fn cameras_come_from_specs_with_the_edge_wide_options_as_defaults() {
        let c = Config::try_parse_from([
            "edge",
            "--fps",
            "15",
            "--camera",
            "door=pattern,size=320x240,quality=60",
            "--camera",
            "yard=http://cam/video;gate=snapshot:http://g/s.jpg,fps=2,preview_width=0",
        ])
        .unwrap();
        let cams = c.cameras().unwrap();
        assert_eq!(cams.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["door", "yard", "gate"]);
        assert_eq!((cams[0].size.width, cams[0].fps, cams[0].quality), (320, 15, 60));
        assert_eq!((cams[1].size.width, cams[1].fps, cams[1].quality), (640, 15, 75));
        assert_eq!(cams[2].fps, 2);
        assert_eq!((cams[0].preview_width, cams[0].preview_fps, cams[2].preview_width), (320, 2, 0));
        assert!(cams[0].on_demand, "with the embedded broker, cameras run while watched");
        let c = Config::try_parse_from([
            "edge",
            "--broker",
            "mqtt://b",
            "--camera",
            "a=pattern",
            "--camera",
            "b=pattern,on_demand=yes",
        ])
        .unwrap();
        let cams = c.cameras().unwrap();
        assert_eq!((cams[0].on_demand, cams[1].on_demand), (false, true), "opt-in with an external broker");
    }

    #[test]
    fn renditions_are_all_three_by_default_and_chosen_per_camera_or_for_all() {
        use wire::ack::Rendition::*;
        let c = Config::try_parse_from([
            "edge",
            "--camera",
            "a=pattern,renditions=full,half,fps=5",
            "--camera",
            "b=pattern,renditions=full",
            "--camera",
            "c=pattern",
        ])
        .unwrap();
        let cams = c.cameras().unwrap();
        assert_eq!(cams[0].renditions.smaller(), [Half]);
        assert_eq!(cams[0].fps, 5, "the options after the list still count");
        assert!(cams[1].renditions.smaller().is_empty(), "full alone turns the smaller ones off");
        assert_eq!(cams[2].renditions.all(), [Full, Half, Quarter]);
        let c = Config::try_parse_from(["edge", "--renditions", "quarter,full"]).unwrap();
        assert_eq!(c.cameras().unwrap()[0].renditions.all(), [Full, Quarter], "largest first");
    }

    #[test]
    fn bad_renditions_say_what_is_wrong() {
        let err = Config::try_parse_from(["edge", "--renditions", "half"]).unwrap_err().to_string();
        assert!(err.contains("must include full"), "{err}");
        let err = Config::try_parse_from(["edge", "--renditions", "full,eighth"]).unwrap_err().to_string();
        assert!(err.contains("\"eighth\""), "{err}");
        let err = Config::try_parse_from(["edge", "--camera", "a=pattern,renditions=full,tiny"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("camera a") && err.contains("\"tiny\""), "{err}");
        let err = Config::try_parse_from(["edge", "--camera", "a=pattern,renditions=quarter"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must include full"), "{err}");
    }

    #[test]
    fn the_single_camera_flags_are_a_one_camera_config() {
        let c = Config::try_parse_from(["edge", "--source", "pattern", "--size", "320x240"]).unwrap();
        let cams = c.cameras().unwrap();
        assert_eq!((cams.len(), cams[0].name.as_str(), cams[0].size.width), (1, "cam1", 320));
        let c = Config::try_parse_from(["edge", "--camera", "door", "--source", "pattern"]).unwrap();
        assert_eq!(c.cameras().unwrap()[0].name, "door");
    }

    #[test]
    fn bad_camera_lists_say_what_is_wrong() {
        let cams = |args: &[&str]| {
            let mut all = vec!["edge"];
            all.extend(args);
            Config::try_parse_from(all).map_err(|e| e.to_string()).and_then(|c| c.cameras())
        };
        let err = cams(&["--camera", "a=pattern", "--camera", "a=pattern"]).unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let err = cams(&["--camera", "a=pattern", "--camera", "b"]).unwrap_err();
        assert!(err.contains("b=SOURCE"), "{err}");
        let err = cams(&["--camera", "a=auto", "--camera", "b=auto"]).unwrap_err();
        assert!(err.contains("auto"), "{err}");
        let err = cams(&["--camera", "a=pattern,fps=999"]).unwrap_err();
        assert!(err.contains("fps"), "{err}");
        let err = cams(&["--camera", "a=pattern,zoom=2"]).unwrap_err();
        assert!(err.contains("zoom") && err.contains("size, fps"), "{err}");
        let err = cams(&["--camera", "a/b=pattern"]).unwrap_err();
        assert!(err.contains("topic level"), "{err}");
        let err = cams(&["--camera", "_dir=pattern"]).unwrap_err();
        assert!(err.contains("'_'"), "{err}");
        let err = cams(&["--camera", "a="]).unwrap_err();
        assert!(err.contains("needs a source"), "{err}");
    }

    #[test]
    fn the_command_line_parses_with_defaults() {
        let c = Config::try_parse_from(["edge"]).unwrap();
        assert_eq!((c.size.width, c.fps, c.quality), (640, 30, 75));
        assert_eq!(c.source, SourceSpec::Auto);
        assert_eq!(c.cameras().unwrap()[0].name, "cam1");
        assert!(Config::try_parse_from(["edge", "--quality", "0"]).is_err());
        assert!(Config::try_parse_from(["edge", "--fps", "1000"]).is_err());
    }

    #[test]
    fn logins_and_tls_files_come_in_pairs() {
        assert!(Config::try_parse_from(["edge", "--username", "u"]).is_err(), "password missing");
        assert!(Config::try_parse_from(["edge", "--tls-cert", "c.pem"]).is_err(), "key missing");
        let c = Config::try_parse_from(["edge", "--publisher-login", "pub:a:b"]).unwrap();
        assert_eq!(c.publisher_login, Some(("pub".into(), "a:b".into())));
        assert!(Config::try_parse_from(["edge", "--publisher-login", "nocolon"]).is_err());
        assert!(Config::try_parse_from(["edge", "--publisher-login", ":pw"]).is_err());
    }

    #[test]
    fn no_login_is_explicit_and_excludes_a_password() {
        assert!(Config::try_parse_from(["edge", "--no-login"]).unwrap().no_login);
        assert!(Config::try_parse_from(["edge", "--no-login", "--password", "p"]).is_err());
        assert!(Config::try_parse_from(["edge", "--no-login", "--broker", "mqtt://b"]).is_err());
        let c = Config::try_parse_from(["edge", "--password", "p"]).unwrap();
        assert_eq!((c.username, c.password.as_deref()), (None, Some("p")));
    }

    #[test]
    fn several_brokers_repeat_or_come_comma_separated_in_the_order_given() {
        let c = Config::try_parse_from([
            "edge",
            "--broker",
            "mqtt://a:1883,mqtts://b",
            "--broker",
            "ws://c:9001/mqtt",
            "--viewer-broker",
            "ws://a:15675/ws,ws://b:15675/ws",
        ])
        .unwrap();
        let shown: Vec<String> = c.broker.iter().map(|b| b.to_string()).collect();
        assert_eq!(shown, ["mqtt://a:1883", "mqtts://b:8883", "ws://c:9001/mqtt"]);
        assert_eq!(c.viewer_broker.len(), 2);
        assert!(
            Config::try_parse_from(["edge", "--broker", "mqtt://a,h:1883"]).is_err(),
            "each URL is checked"
        );
        assert!(Config::try_parse_from(["edge"]).unwrap().broker.is_empty(), "none: the embedded broker");
    }

    #[test]
    fn allowed_origins_repeat_or_come_comma_separated() {
        use crate::broker::origin::Allowed;
        let c = Config::try_parse_from([
            "edge",
            "--allow-origin",
            "https://a.example,http://b.example:3000",
            "--allow-origin",
            "*",
        ])
        .unwrap();
        assert_eq!(c.allow_origin.len(), 3);
        assert_eq!(c.allow_origin[2], Allowed::Any);
        assert!(Config::try_parse_from(["edge", "--allow-origin", "a.example"]).is_err());
    }

    #[test]
    fn motion_is_off_by_default_and_takes_its_settings_from_the_flags() {
        let c = Config::try_parse_from(["edge", "--source", "pattern"]).unwrap();
        assert_eq!(c.cameras().unwrap()[0].motion, None);
        assert!(!c.ha_discovery && c.motion_alarm);
        assert_eq!(c.ha_discovery_prefix, "homeassistant");
        let c = Config::try_parse_from([
            "edge",
            "--motion",
            "--motion-sensitivity",
            "80",
            "--motion-min-area",
            "0.02",
            "--motion-hold",
            "1.5",
            "--motion-zone",
            "0.5,0,0.5,1",
            "--motion-zone",
            "0,0,0.1,0.1",
            "--motion-ignore",
            "0,0.9,1,0.1",
            "--motion-alarm",
            "no",
        ])
        .unwrap();
        let m = c.cameras().unwrap()[0].motion.clone().expect("motion on");
        assert_eq!((m.sensitivity, m.min_area, m.hold), (80, 0.02, Duration::from_millis(1500)));
        assert_eq!(m.zones, ["0.5,0,0.5,1".parse().unwrap(), "0,0,0.1,0.1".parse().unwrap()]);
        assert_eq!(m.ignore, ["0,0.9,1,0.1".parse().unwrap()]);
        assert!(!c.motion_alarm);
        assert_eq!(
            MotionConfig::default().sensitivity,
            Config::try_parse_from(["edge"]).unwrap().motion_sensitivity
        );
    }

    #[test]
    fn motion_is_chosen_per_camera_with_its_own_zones() {
        let c = Config::try_parse_from([
            "edge",
            "--motion-zone",
            "0,0,0.5,0.5",
            "--camera",
            "a=pattern,motion=yes,motion_zone=0.5,0,0.5,1,0,0,0.2,0.2,fps=5",
            "--camera",
            "b=pattern,motion=yes",
            "--camera",
            "c=pattern",
        ])
        .unwrap();
        let cams = c.cameras().unwrap();
        let a = cams[0].motion.as_ref().unwrap();
        assert_eq!(a.zones.len(), 2, "two zones of four numbers: {:?}", a.zones);
        assert_eq!(cams[0].fps, 5, "the options after the zones still count");
        assert_eq!(cams[1].motion.as_ref().unwrap().zones, ["0,0,0.5,0.5".parse().unwrap()]);
        assert_eq!(cams[2].motion, None);
        let c = Config::try_parse_from(["edge", "--motion", "--camera", "a=pattern,motion=no"]).unwrap();
        assert_eq!(c.cameras().unwrap()[0].motion, None);
    }

    #[test]
    fn bad_motion_settings_name_the_flag() {
        let err = |args: &[&str]| {
            let mut all = vec!["edge"];
            all.extend(args);
            let e = Config::try_parse_from(all).unwrap_err().to_string();
            e.lines().next().unwrap_or_default().to_string()
        };
        let e = err(&["--motion-sensitivity", "0"]);
        assert!(e.contains("--motion-sensitivity") && e.contains("1..=100"), "{e}");
        let e = err(&["--motion-min-area", "2"]);
        assert!(e.contains("--motion-min-area") && e.contains("fraction"), "{e}");
        let e = err(&["--motion-hold", "0"]);
        assert!(e.contains("--motion-hold") && e.contains("seconds"), "{e}");
        let e = err(&["--motion-zone", "10,20,100,50"]);
        assert!(e.contains("--motion-zone") && e.contains("not pixels"), "{e}");
        let e = err(&["--motion-ignore", "0,0,1"]);
        assert!(e.contains("--motion-ignore") && e.contains("X,Y,W,H"), "{e}");
        let e = err(&["--motion-alarm", "maybe"]);
        assert!(e.contains("--motion-alarm") && e.contains("yes or no"), "{e}");
        let e = err(&["--ha-discovery-prefix", "ha/"]);
        assert!(e.contains("--ha-discovery-prefix") && e.contains("discovery prefix"), "{e}");
        let e = err(&["--camera", "a=pattern,motion_zone=0,0,1"]);
        assert!(e.contains("camera a") && e.contains("X,Y,W,H"), "{e}");
        let e = err(&["--camera", "a=pattern,motion=perhaps"]);
        assert!(e.contains("camera a") && e.contains("yes or no"), "{e}");
    }

    #[test]
    fn the_public_url_is_an_http_url_without_a_login() {
        let url = |args: &[&str]| {
            let mut all = vec!["edge"];
            all.extend(args);
            Config::try_parse_from(all).map(|c| c.public_url).map_err(|e| e.to_string())
        };
        assert_eq!(url(&[]), Ok(None), "the LAN address unless given");
        for good in ["http://cam-host:8080/", "https://cams.example/door/", "http://[fe80::1]:8080"] {
            assert_eq!(url(&["--public-url", good]), Ok(Some(good.to_string())));
        }
        for bad in ["cam-host:8080", "ftp://h/", "http:///x", "https://", "http://h /"] {
            let e = url(&["--public-url", bad]).unwrap_err();
            assert!(e.contains("--public-url") && e.contains("http://cam-host:8080/"), "{bad}: {e}");
        }
        let e = url(&["--public-url", "http://viewer:s3cret@cam-host/"]).unwrap_err();
        assert!(e.contains("no login"), "{e}");
    }

    #[test]
    fn motion_without_previews_is_refused() {
        let c = Config::try_parse_from(["edge", "--motion", "--preview-width", "0"]).unwrap();
        let e = c.cameras().unwrap_err();
        assert!(e.contains("--preview-width") && e.contains("motion"), "{e}");
        let c = Config::try_parse_from(["edge", "--camera", "a=pattern,preview_width=0,motion=yes"]).unwrap();
        assert!(c.cameras().is_err());
        let c = Config::try_parse_from(["edge", "--preview-width", "0"]).unwrap();
        assert!(c.cameras().is_ok(), "no motion, no preview needed");
    }
}
