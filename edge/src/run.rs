//! Wiring: the options become the sources, the embedded broker, the encoders and each
//! camera's capture thread and publisher, the site and the directory.
//!
//! [`start`] checks the files and options first (a mistake stops the edge before
//! anything runs), binds every listener, starts the rest and prints the banner; the
//! [`Edge`] it returns says where it listens ([`Running`]) and, on [`Edge::stop`], lets
//! the publishers say goodbye on the bus before the threads stop.

use std::{future::Future, io::IsTerminal, net::SocketAddr, sync::Arc};

use tokio::task::JoinHandle;
use wire::topic;

#[cfg(feature = "embedded-broker")]
use crate::broker::gate;
#[cfg(target_os = "linux")]
use crate::source::device::Opener;
use crate::{
    access::Access,
    banner,
    broker::{self, origin},
    clock,
    config::{BrokerUrl, Camera, Config, PrintLogin, SourceSpec},
    directory,
    doors::{self, files::Budget, Doorkeeper, Login},
    encode,
    error::EdgeError,
    events,
    frame::{self, SourceStatus},
    homeassistant, meter, pipeline, publish, record, site,
    source::{self, camera::CameraSource, device::Want, pattern::Pattern, replay::Replay, Source},
    tls, watch,
};

/// Opens a camera's source. `auto` falls back to the test pattern and says so.
fn open_source(camera: &Camera) -> Result<Box<dyn Source>, EdgeError> {
    let main = open_one(camera, &camera.source, camera.fps)?;
    let Some(preview) = &camera.preview else { return Ok(main) };
    // The small source is asked only for previews: at their rate.
    let small = open_one(camera, preview, camera.preview_fps)?;
    Ok(Box::new(source::split::Split::new(main, small)))
}

/// Opens one source of `camera`'s: its own, or the one its previews come from.
fn open_one(camera: &Camera, spec: &SourceSpec, fps: u32) -> Result<Box<dyn Source>, EdgeError> {
    let (width, height) = (camera.size.width, camera.size.height);
    let want = Want { width: width as u32, height: height as u32, fps: camera.fps, format: camera.format };
    let failed = |e: source::OpenError| EdgeError::Source { camera: camera.name.clone(), source: e };
    Ok(match spec {
        SourceSpec::Pattern => Box::new(Pattern::new(width, height, fps)),
        SourceSpec::Replay(path) => Box::new(Replay::open(path, fps).map_err(|e| failed(e.into()))?),
        SourceSpec::HttpMjpeg(url) => {
            Box::new(source::http::HttpMjpeg::new(url).map_err(|e| failed(e.into()))?)
        }
        SourceSpec::HttpSnapshot(url) => {
            Box::new(source::http::HttpSnapshot::new(url, fps).map_err(|e| failed(e.into()))?)
        }
        SourceSpec::Rtsp(url) => Box::new(
            source::rtsp::RtspSource::new((**url).clone(), camera.transport)
                .map_err(|e| failed(source::OpenError::Rtsp(format!("{url}: {e}"))))?
                .verify_tls(camera.tls_verify),
        ),
        #[cfg(target_os = "linux")]
        SourceSpec::Device(path) => {
            Box::new(CameraSource::new(Box::new(source::v4l2::V4l2Opener::new(path)), want))
        }
        #[cfg(not(target_os = "linux"))]
        SourceSpec::Device(path) => return Err(failed(source::OpenError::NeedsLinux(path.clone()))),
        SourceSpec::Auto => {
            #[cfg(target_os = "linux")]
            if let Some(opener) = source::v4l2::first_usable(&want) {
                tracing::info!(camera = %opener.name(), "using the first camera that works");
                return Ok(Box::new(CameraSource::new(Box::new(opener), want)));
            }
            tracing::info!("no camera found; streaming the test pattern");
            Box::new(Pattern::new(width, height, fps))
        }
    })
}

/// Where a started edge listens, for its caller (the banner says the same to people).
#[derive(Debug, Clone)]
pub struct Running {
    /// The site (`https` with `tls`).
    pub site: SocketAddr,
    /// The site and the embedded broker's listeners speak TLS.
    pub tls: bool,
    /// The embedded broker's MQTT listener (over TLS with `tls`); `None` with `--broker`.
    pub mqtt: Option<SocketAddr>,
    /// The embedded broker's MQTT-over-WebSocket listener, path `/mqtt`.
    pub ws: Option<SocketAddr>,
    /// The broker the cameras publish to.
    pub publish_to: BrokerUrl,
    /// Each camera's frame topic, in the order of the options.
    pub frame_topics: Vec<String>,
}

/// A started edge: where it listens, and what to stop.
pub struct Edge {
    running: Running,
    shutdown: tokio::sync::watch::Sender<bool>,
    publishers: Vec<JoinHandle<()>>,
    directory: JoinHandle<()>,
    /// Motion and Home Assistant messages, when there are any.
    events: Option<JoinHandle<()>>,
    reporters: Vec<JoinHandle<()>>,
    site: JoinHandle<()>,
    captures: Vec<pipeline::Capture>,
    encoders: pipeline::Encoders,
    /// The recorder and its playback task, when a camera records.
    recorder: Option<record::recorder::Recorder>,
    playback: Option<JoinHandle<()>>,
}

impl Edge {
    /// Where it listens.
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// Says goodbye on the bus (each camera offline, its retained frame cleared, the
    /// directory entry removed) and stops every task and thread.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        self.shutdown.send_replace(true);
        for p in self.publishers {
            let _ = p.await;
        }
        let _ = self.directory.await;
        if let Some(events) = self.events {
            let _ = events.await;
        }
        if let Some(playback) = self.playback {
            let _ = playback.await;
        }
        self.reporters.iter().for_each(|r| r.abort());
        self.site.abort();
        let (captures, encoders, recorder) = (self.captures, self.encoders, self.recorder);
        let _ = tokio::task::spawn_blocking(move || {
            captures.iter().for_each(pipeline::Capture::signal);
            captures.into_iter().for_each(pipeline::Capture::stop);
            encoders.stop();
            // Last: it writes and syncs what the encoders handed it.
            if let Some(r) = recorder {
                r.stop();
            }
        })
        .await;
    }
}

/// Runs the edge until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), EdgeError> {
    let edge = start(config).await?;
    shutdown.await;
    edge.stop().await;
    Ok(())
}

/// Starts the edge: checks the options and files, binds every listener, starts the
/// embedded broker, the cameras' pipelines and publishers, the directory and the site,
/// and prints the banner. Must run inside the tokio runtime.
pub async fn start(config: Config) -> Result<Edge, EdgeError> {
    // Files and settings first, so a mistake stops the edge before anything starts.
    let served_tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let client_tls = match config
        .broker
        .iter()
        .any(|b| matches!(b, BrokerUrl::Tcp { tls: true, .. } | BrokerUrl::Ws { tls: true, .. }))
    {
        true => Some(tls::client_config(config.ca_file.as_deref())?),
        false => None,
    };
    let access = Access::from_config(&config)?;
    let cameras = config.cameras().map_err(EdgeError::Config)?;
    let doors = open_doors(cameras.len(), config.per_address_connections);
    let sources = cameras.iter().map(open_source).collect::<Result<Vec<_>, _>>()?;
    let topics: Vec<publish::Topics> =
        cameras.iter().map(|c| publish::Topics::new(&config.topic_prefix, &c.name)).collect();

    // The site's port first: the gate lets the site's own pages open its WebSocket.
    let listener = broker::listen(config.bind, config.http_port, "HTTP", "--http-port")?;
    let http_addr = listener.local_addr()?;
    let https = served_tls.is_some();
    let origins = origin::Origins {
        site_scheme: if https { "https" } else { "http" },
        site_port: http_addr.port(),
        allowed: config.allow_origin.clone(),
    };

    // The broker next: the publisher and the site both need its addresses.
    let watchers = Arc::new(watch::Watchers::new(&config.topic_prefix));
    let broker_meter = Arc::new(meter::BrokerMeter::default());
    let embedded = match config.broker.is_empty() {
        false => None,
        true => Some(start_embedded(
            &config,
            &access,
            origins,
            served_tls.clone(),
            watchers.clone(),
            broker_meter.clone(),
            &doors,
        )?),
    };
    // Several external brokers are tried in this order (`publish::failover`).
    let (mut brokers, login) = match &embedded {
        None => (config.broker.clone(), config.username.clone().zip(config.password.clone())),
        Some(b) => {
            let host = b.internal.ip().to_string();
            (vec![BrokerUrl::Tcp { host, port: b.internal.port(), tls: false }], None)
        }
    };
    let options_for = |client_id: &str, brokers: &[BrokerUrl]| -> Vec<rumqttc::MqttOptions> {
        brokers
            .iter()
            .map(|url| publish::options(url, client_id, login.clone(), client_tls.clone()))
            .collect()
    };
    // One connection per camera: each has its own last will (the broker marks exactly
    // that camera offline if the edge vanishes), and one camera's large frame on the wire
    // never holds back another camera's (no head-of-line blocking between cameras).
    let client_id = |c: &Camera| format!("edge-{}-{}", c.name, std::process::id());
    if embedded.is_none() {
        // Probed once at startup, each in turn until one works: a wrong host, port,
        // certificate or password everywhere is a mistake to report, not an outage to
        // wait out. Once running, a lost broker is retried forever. The edge starts on
        // the first that works, and goes on from there in the order given.
        let probed = options_for(&client_id(&cameras[0]), &brokers);
        let first = publish::probe_each(&probed).await?;
        brokers.rotate_left(first);
    }
    let publish_to = brokers[0].clone();
    let options: Vec<Vec<rumqttc::MqttOptions>> =
        cameras.iter().map(|c| options_for(&client_id(c), &brokers)).collect();

    let meters: Vec<(String, Arc<meter::Meter>)> =
        cameras.iter().map(|c| (c.name.clone(), Arc::new(meter::Meter::default()))).collect();

    // One pool of encoders for every camera, never more threads than cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = match config.encoders {
        0 => cores.min(4),
        n => (n as usize).min(cores),
    };
    // Opening the recordings reads the newest segments whole: not on the runtime.
    let recorder = {
        let (config, cameras) = (config.clone(), cameras.clone());
        tokio::task::spawn_blocking(move || start_recorder(&config, &cameras))
            .await
            .map_err(|e| EdgeError::Config(format!("recording failed to start: {e}")))??
    };
    let encoders = pipeline::Encoders::start(workers)?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut captures = Vec::new();
    let mut publishers = Vec::new();
    let mut reporters = Vec::new();
    let mut shown = Vec::new();
    let mut listed = Vec::new();
    // Every camera's motion reports wake the one events task.
    let told = Arc::new(tokio::sync::Notify::new());
    let mut on_the_bus = Vec::new();
    for ((((camera, source), topics), opts), (_, meter)) in
        cameras.iter().zip(sources).zip(topics).zip(options).zip(&meters)
    {
        // Each rendition's and the preview's newest-frame slot: the encoders send, the
        // camera's publisher receives.
        let (frames_out, frames_in) = frame::newest();
        let (previews_out, previews_in) = frame::newest();
        let (status_tx, status_rx) = tokio::sync::watch::channel(SourceStatus::Starting);
        let described = source.describe();
        let (width, height) = (camera.size.width, camera.size.height);
        let preview = (camera.preview_width > 0).then_some((camera.preview_width, camera.preview_fps));
        let renditions = directory::Listed::renditions_of(&camera.renditions.all(), width, height);
        let entry = directory::Listed {
            name: camera.name.clone(),
            width,
            height,
            fps: camera.fps,
            preview,
            renditions,
            recording: match camera.record {
                record::recorder::Mode::Off => "",
                mode => mode.name(),
            },
        };
        listed.push((entry, status_rx.clone(), meter.clone()));
        let (smaller_out, smaller_in): (Vec<_>, Vec<_>) = camera
            .renditions
            .smaller()
            .into_iter()
            .map(|r| {
                let (out, into) = frame::newest();
                ((r, Arc::new(pipeline::Output::new(out))), (r, into))
            })
            .unzip();
        // Tiles are small: a lower quality costs little there and halves their bytes.
        let mut preview = (camera.preview_width > 0).then(|| {
            let quality = camera.quality.min(60);
            pipeline::Preview::new(camera.preview_width as usize, camera.preview_fps, quality, previews_out)
        });
        // Motion reads the previews (the options refuse motion without them).
        let mut motion_reports = None;
        if let (Some(config), Some(preview)) = (&camera.motion, &mut preview) {
            let (reports, receiver) = tokio::sync::watch::channel(events::Report::default());
            let feed = events::MotionFeed::new(config.clone(), reports, told.clone(), meter.clone())
                .map_err(|e| EdgeError::Config(format!("camera {}: {e}", camera.name)))?;
            preview.motion = Some(feed);
            motion_reports = Some(receiver);
        }
        on_the_bus.push(events::Camera {
            name: camera.name.clone(),
            motion: motion_reports,
            meter: meter.clone(),
            info: homeassistant::CameraInfo {
                name: camera.name.clone(),
                model: Some(described.clone()),
                preview: camera.preview_width > 0,
                motion: camera.motion.is_some(),
                recording: camera.record != record::recorder::Mode::Off,
            },
        });
        let lane = encoders.lane(pipeline::LaneParts {
            encoder: encode::Encoder::new(camera.quality),
            output: Arc::new(pipeline::Output::new(frames_out)),
            meter: meter.clone(),
            preview,
            watch: Some((watchers.clone(), camera.name.clone())),
            on_demand: camera.on_demand,
            smaller: smaller_out,
            record: recorder.as_ref().and_then(|r| r.tap(&camera.name)),
        });
        captures.push(pipeline::Capture::start(source, lane, &encoders, status_tx)?);
        let frame_topic = topics.frame.clone();
        let settings = publish::Settings {
            brokers: opts,
            send_buffer: config.send_buffer_kb * 1024,
            topics,
            viewer_window: config.viewer_window as usize,
            // Ours delivers it; an external broker may not (a cluster's other node).
            retained_arrives: embedded.is_some(),
            watchers: Some(watchers.clone()),
            smaller: smaller_in,
        };
        publishers.push(tokio::spawn(publish::run(
            settings,
            frames_in,
            previews_in,
            status_rx,
            meter.clone(),
            shutdown_rx.clone(),
        )));
        reporters.push(tokio::spawn(meter::report(
            meter.clone(),
            camera.name.clone(),
            Some(watchers.clone()),
        )));
        tracing::info!(camera = %camera.name, source = %described, topic = %frame_topic, "streaming");
        shown.push(banner::Camera {
            name: camera.name.clone(),
            source: described,
            quality: camera.quality,
            frame_topic,
        });
    }

    // The directory entry as the bus has it, live, for `/api/cameras`.
    let edge_id = directory::edge_id();
    let api_cameras: site::Cameras = {
        let (prefix, edge_id, listed) = (config.topic_prefix.clone(), edge_id.clone(), listed.clone());
        Box::new(move || {
            let states: Vec<_> = listed.iter().map(|(l, s, m)| (l.measured(m), s.borrow().clone())).collect();
            directory::json(&prefix, &edge_id, &states, clock::now_us())
        })
    };
    let site = Arc::new(site::Site {
        files: site::Files::choose(config.site.as_deref()),
        edge_json: edge_json(&config, &cameras, embedded.as_ref()),
        meters: meters.clone(),
        cameras: api_cameras,
        logins: access.site_logins(&config).into_iter().map(|(u, p)| Login::new(u, p)).collect(),
        keeper: doors.keeper.clone(),
        watchers: Some(watchers.clone()),
        broker: embedded.is_some().then_some(broker_meter),
        recordings: recorder.as_ref().map(|r| r.cameras.clone()).unwrap_or_default(),
    });
    if site.files.has_page() {
        tracing::info!(site = %site.files.describe(), "serving the viewer");
    } else {
        tracing::warn!(site = %site.files.describe(), "viewer site not found; build it with scripts/build.sh or give --site DIR");
    }
    let site = tokio::spawn(site::server::serve(
        listener,
        site,
        served_tls.map(tokio_rustls::TlsAcceptor::from),
        doors.limits.http.clone(),
    ));

    let directory_opts = options_for(&format!("edge-directory-{}", std::process::id()), &brokers);
    let directory = tokio::spawn(directory::run(
        directory_opts,
        config.topic_prefix.clone(),
        edge_id,
        listed,
        shutdown_rx.clone(),
    ));

    // The site's address on the LAN, when it listens on every interface: the banner
    // prints it, and Home Assistant's devices link to it.
    let lan = http_addr.ip().is_unspecified().then(banner::lan_ip).flatten();
    let events = events::Settings {
        brokers: options_for(&format!("edge-events-{}", std::process::id()), &brokers),
        prefix: config.topic_prefix.clone(),
        alarm: config.motion_alarm,
        discovery: config.ha_discovery.then(|| homeassistant::Discovery {
            discovery_prefix: config.ha_discovery_prefix.clone(),
            bus_prefix: config.topic_prefix.clone(),
            // Home Assistant opens the link in its user's browser, on a phone or laptop,
            // not on this machine: a loopback address would be wrong there. So the URL
            // people already open from the banner (the LAN one), or --public-url when
            // the edge cannot know it (a reverse proxy, a host name, TLS in front);
            // no link when the site listens on loopback only. Never the login: the
            // discovery is retained for any subscriber to read; the page asks for it.
            viewer_url: config.public_url.clone().or_else(|| banner::reachable_url(http_addr, https, lan)),
            ..Default::default()
        }),
        cameras: on_the_bus,
        told,
    };
    // Nothing to say (no motion, no Home Assistant): no connection.
    let events = events.needed().then(|| tokio::spawn(events::run(events, shutdown_rx.clone())));
    let playback = recorder.as_ref().map(|r| {
        let settings = record::serve::Settings {
            brokers: options_for(&format!("edge-playback-{}", std::process::id()), &brokers),
            prefix: config.topic_prefix.clone(),
            cameras: r.cameras.clone(),
            triggers: r.triggers(),
        };
        tokio::spawn(record::serve::run(settings, shutdown_rx.clone()))
    });

    let show_password = match config.print_login {
        PrintLogin::Always => true,
        PrintLogin::Never => false,
        // A terminal is a person; anything else may be a service's log, kept for long.
        PrintLogin::Auto => std::io::stdout().is_terminal(),
    };
    banner::Banner {
        cameras: &shown,
        http: http_addr,
        https,
        lan,
        embedded: embedded.as_ref(),
        publish_to: &publish_to,
        failover: &brokers[1..],
        access: &access,
        show_password,
        recording: recorder.as_ref().map(|r| {
            let modes: Vec<String> =
                r.cameras.iter().map(|c| format!("{} {}", c.name, c.mode.name())).collect();
            format!("{} → {}", modes.join(", "), r.dir.display())
        }),
    }
    .print();
    if matches!(access, Access::Open) && embedded.is_some() {
        tracing::warn!("no login (--no-login): anyone who can reach this machine can watch the cameras");
    }
    tracing::info!(cameras = shown.len(), encoders = workers, "running");

    let running = Running {
        site: http_addr,
        tls: https,
        mqtt: embedded.map(|b| b.tcp),
        ws: embedded.map(|b| b.ws),
        publish_to,
        frame_topics: shown.into_iter().map(|c| c.frame_topic).collect(),
    };
    Ok(Edge {
        running,
        shutdown: shutdown_tx,
        publishers,
        directory,
        events,
        reporters,
        site,
        captures,
        encoders,
        recorder,
        playback,
    })
}

/// The recorder, if any camera records: its directory checked (a one-line error when
/// it cannot be written), its tracks opened and mended.
fn start_recorder(
    config: &Config,
    cameras: &[Camera],
) -> Result<Option<record::recorder::Recorder>, EdgeError> {
    use record::recorder::{CameraSettings, Mode, Recorder, Settings};
    if cameras.iter().all(|c| c.record == Mode::Off) {
        return Ok(None);
    }
    let dir = match config.record_dir.clone() {
        Some(d) => d,
        None => config
            .state_dir
            .clone()
            .or_else(crate::secret::default_state_dir)
            .map(|d| d.join("recordings"))
            .ok_or_else(|| {
                EdgeError::Config("no directory for recordings (HOME is not set): give --record-dir".into())
            })?,
    };
    let gb = |v: Option<f64>| v.map(|g| (g * 1e9) as u64);
    let min_free = match config.record_min_free_mb {
        Some(mb) => mb << 20,
        // 5 % of the disk, at most 1 GiB (measured once the directory exists).
        None => {
            let _ = std::fs::create_dir_all(&dir);
            record::recorder::disk_space(&dir).map_or(1 << 30, |(total, _)| (total / 20).min(1 << 30))
        }
    };
    let limits = record::retention::Limits {
        max_bytes: gb(config.record_max_gb),
        camera_max_bytes: gb(config.record_camera_max_gb),
        days: config.record_days,
        event_days: config.record_event_days,
        min_free,
    };
    let settings = Settings {
        dir: dir.clone(),
        limits,
        cameras: cameras
            .iter()
            .map(|c| CameraSettings {
                name: c.name.clone(),
                mode: c.record,
                pre_roll_s: config.pre_roll,
                post_roll_s: config.post_roll,
            })
            .collect(),
    };
    let recorder = Recorder::start(settings).map_err(|e| EdgeError::Config(e.to_string()))?;
    tracing::info!(dir = %dir.display(), cameras = recorder.cameras.len(), "recording");
    Ok(Some(recorder))
}

/// What every door shares: the login throttle and refusal counters, and how many
/// connections each may hold, from the limit of open files (raised first).
struct Doors {
    keeper: Arc<Doorkeeper>,
    limits: doors::files::Limits,
}

fn open_doors(cameras: usize, per_address: u32) -> Doors {
    let open_files = match doors::files::raise_limit() {
        Some((before, after)) => {
            // News only when it changed something (a shell's 1024 → 524288).
            if before != after {
                tracing::info!(
                    soft_was = before,
                    soft_now = after,
                    "open files: soft limit set to the hard limit"
                );
            }
            after
        }
        // No such limit here: the budget of a large one.
        None => 1 << 20,
    };
    let budget = Budget::new(open_files, cameras);
    if budget.tight {
        tracing::warn!(
            open_files,
            "the limit of open files is too low for the doors and the cameras: raise it (ulimit -n, LimitNOFILE=)"
        );
    }
    tracing::debug!(?budget, per_address, "connections each door may hold");
    Doors { keeper: Arc::new(Doorkeeper::default()), limits: budget.limits(per_address) }
}

/// The embedded broker with the gate's policy from the options.
#[cfg(feature = "embedded-broker")]
fn start_embedded(
    config: &Config,
    access: &Access,
    origins: origin::Origins,
    tls: Option<Arc<rustls::ServerConfig>>,
    watchers: Arc<watch::Watchers>,
    meter: Arc<meter::BrokerMeter>,
    doors: &Doors,
) -> Result<broker::EmbeddedBroker, EdgeError> {
    let login = |(username, password)| gate::Login { username, password };
    let policy = gate::Policy {
        prefix: config.topic_prefix.clone(),
        viewer: access.viewer_login(config).map(login),
        publisher: config.publisher_login.clone().map(login),
        watchers: Some(watchers),
        meter,
        fan_out: true,
    };
    let doors = broker::Doors {
        keeper: doors.keeper.clone(),
        tcp: doors.limits.mqtt_tcp.clone(),
        ws: doors.limits.mqtt_ws.clone(),
    };
    Ok(broker::start(config.bind, config.tcp_port, config.ws_port, policy, origins, tls, doors)?)
}

#[cfg(not(feature = "embedded-broker"))]
fn start_embedded(
    _: &Config,
    _: &Access,
    _: origin::Origins,
    _: Option<Arc<rustls::ServerConfig>>,
    _: Arc<watch::Watchers>,
    _: Arc<meter::BrokerMeter>,
    _: &Doors,
) -> Result<broker::EmbeddedBroker, EdgeError> {
    Err(EdgeError::Config("this edge was built without the embedded broker: pass --broker".into()))
}

/// `/edge.json`: how a page served by this edge finds the broker and the cameras. The
/// first camera's `camera` and `topic` are what a page shows when the URL names none.
fn edge_json(config: &Config, cameras: &[Camera], embedded: Option<&broker::EmbeddedBroker>) -> String {
    #[derive(serde::Serialize)]
    struct EdgeJson<'a> {
        camera: &'a str,
        topic: String,
        prefix: &'a str,
        cameras: Vec<CameraJson<'a>>,
        /// The first of `brokers`, for pages that know only one.
        broker: Option<String>,
        /// Every broker URL for pages, in the order to fail over in.
        brokers: Vec<String>,
        ws_port: Option<u16>,
        ws_path: &'static str,
    }
    #[derive(serde::Serialize)]
    struct CameraJson<'a> {
        name: &'a str,
        topic: String,
        width: usize,
        height: usize,
        fps: u32,
        renditions: Vec<&'static str>,
    }
    // The page builds ws://<its own host>:<ws_port>/mqtt when no full URL is given,
    // so a phone that reached the site by LAN address reaches the broker the same way.
    // Without --viewer-broker, pages use the edge's own WebSocket brokers, if any.
    let brokers: Vec<String> = match config.viewer_broker.is_empty() {
        false => config.viewer_broker.iter().map(|url| url.to_string()).collect(),
        true => config
            .broker
            .iter()
            .filter(|url| matches!(url, BrokerUrl::Ws { .. }))
            .map(|url| url.to_string())
            .collect(),
    };
    let ws_port = match (config.viewer_broker.is_empty(), embedded) {
        (true, Some(b)) => Some(b.ws.port()),
        _ => None,
    };
    let prefix = &config.topic_prefix;
    let first = cameras.first().map_or("cam1", |c| c.name.as_str());
    let json = EdgeJson {
        camera: first,
        topic: topic::frame(prefix, first),
        prefix,
        cameras: cameras
            .iter()
            .map(|c| CameraJson {
                name: &c.name,
                topic: topic::frame(prefix, &c.name),
                width: c.size.width,
                height: c.size.height,
                fps: c.fps,
                renditions: c.renditions.all().iter().map(|r| r.name()).collect(),
            })
            .collect(),
        broker: brokers.first().cloned(),
        brokers,
        ws_port,
        ws_path: "/mqtt",
    };
    // Strings and numbers only: serializing cannot fail.
    serde_json::to_string(&json).expect("edge.json serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn edge_json_points_pages_at_the_embedded_ws_port() {
        let c = Config::try_parse_from(["edge", "--camera", "door", "--source", "pattern"]).unwrap();
        let b = broker::EmbeddedBroker {
            tcp: "0.0.0.0:1883".parse().unwrap(),
            ws: "0.0.0.0:9011".parse().unwrap(),
            internal: "127.0.0.1:40000".parse().unwrap(),
            tls: false,
        };
        assert_eq!(
            edge_json(&c, &c.cameras().unwrap(), Some(&b)),
            r#"{"camera":"door","topic":"mqcam/door/frame","prefix":"mqcam","cameras":[{"name":"door","topic":"mqcam/door/frame","width":640,"height":480,"fps":30,"renditions":["full","half","quarter"]}],"broker":null,"brokers":[],"ws_port":9011,"ws_path":"/mqtt"}"#
        );
    }

    #[test]
    fn edge_json_names_an_external_websocket_broker() {
        let c = Config::try_parse_from(["edge", "--broker", "ws://b:8083/mqtt"]).unwrap();
        let j = edge_json(&c, &[], None);
        assert!(j.contains(r#""broker":"ws://b:8083/mqtt""#) && j.contains(r#""ws_port":null"#), "{j}");
    }

    #[test]
    fn edge_json_lists_every_viewer_broker_in_order_and_the_first_as_broker() {
        let c = Config::try_parse_from([
            "edge",
            "--broker",
            "mqtt://a:1883,mqtt://b:1883",
            "--viewer-broker",
            "ws://a:15675/ws",
            "--viewer-broker",
            "ws://b:15675/ws",
        ])
        .unwrap();
        let j = edge_json(&c, &[], None);
        assert!(
            j.contains(r#""broker":"ws://a:15675/ws","brokers":["ws://a:15675/ws","ws://b:15675/ws"]"#),
            "{j}"
        );
        // Several WebSocket brokers for the edge itself serve the pages too.
        let c = Config::try_parse_from(["edge", "--broker", "ws://a:1/mqtt,mqtt://m:1883,ws://b:1/mqtt"])
            .unwrap();
        let j = edge_json(&c, &[], None);
        assert!(j.contains(r#""brokers":["ws://a:1/mqtt","ws://b:1/mqtt"]"#), "{j}");
    }
}
