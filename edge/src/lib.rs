//! The edge: a headless publisher on the camera host.
//!
//! It captures frames, encodes them as JPEG, stamps each with a sequence number and
//! timestamps (the [`wire`] format) and publishes them over MQTT, newest frame first.
//! By default it also runs an MQTT broker in-process and serves the viewer site, so a
//! single command gives a phone-viewable stream.
//!
//! `main` parses the options ([`config`]), sets up logging and calls [`run`]; a test or
//! another program calls [`start`] and learns from [`Edge::running`] where it listens.
//!
//! # Layout
//! In the order a frame meets them:
//! - [`source`]: where pictures come from, on each camera's capture thread: the
//!   `Source` seam (test pattern, replay, V4L2 cameras behind the `Device` trait, network
//!   cameras over HTTP: the URL, the connection, [`source::multipart`], then the MJPEG
//!   stream or snapshot source; RTSP cameras: [`source::rtsp`], H.264 decoded only as
//!   much as is needed), format negotiation, pacing.
//! - [`frame`]: what travels between the stages, below all of them: the captured
//!   `Picture` (planes in a `Yuv420`, camera YUYV/NV12 with its `Range`, or a JPEG), the
//!   `EncodedFrame`, the newest-frame slot between encoders and publisher as a
//!   `FrameSender`/`FrameReceiver` pair ([`frame::newest`]), and the source's
//!   `SourceStatus`.
//! - [`pipeline`]: each camera's capture thread → its place in the job slot → the
//!   encoder workers every camera shares → the camera's `FrameSender`s, newest frame
//!   first; what nobody watches is not made; failing sources are retried.
//! - [`encode`]: what a worker does with one frame: `convert` (YUYV/NV12 → 4:2:0),
//!   mozjpeg (`Encoder`), `passthrough` (checks of camera JPEGs), `preview` (grid tiles,
//!   half and quarter renditions), `process` (all of it, and the stamp).
//! - [`publish`]: each camera's MQTT connection: the frame loop (one frame on its way,
//!   newest first, flow control per rendition), `client` (options, probe, topics),
//!   `driver` (the rumqttc loop, reconnects), `failover` (which of several brokers
//!   next, and when to back off), `connection` (that failover for the directory's and
//!   the events' connections), `inbox` (acknowledgements, `watch` messages, clock
//!   requests), `flow` (windows towards viewers).
//! - [`record`]: what is kept of each camera on disk (the encoders hand copies of the
//!   frames they made to one recorder thread: events with pre- and post-roll, segments
//!   of append-only logs with checksums, synced each second, retention), and playback
//!   of it over the bus and exports over the web port.
//! - [`broker`]: the embedded rumqttd, on loopback, and what the network sees of it:
//!   `broker::gate` (TCP and WebSocket listeners, optionally TLS; `websocket` frames MQTT
//!   over WebSocket; `inspect` checks logins and topic permissions without I/O; `fanout`
//!   reads each stream viewers watch once and shares it; a slow viewer's `outbox`) and
//!   `broker::origin` (which web pages may open the WebSocket).
//! - [`watch`]: who watches which camera and rendition (subscriptions seen by the gate,
//!   acknowledgements and `watch` messages seen by the publishers), read by the capture
//!   threads, so a camera nobody watches encodes only its preview.
//! - [`directory`]: the cameras of this edge on the bus, retained and answered on
//!   request ([`wire::directory`]).
//! - [`site`]: the viewer site, `/edge.json` and monitoring (`/metrics`,
//!   `/snapshot/<camera>.jpg`, `/api/cameras`, `/stats.json`, `/healthz`) as a function
//!   from a request's head to the response; `site::server` serves it over HTTP(S) (hyper).
//! - [`doors`]: what the web port and the gate's listeners enforce alike: one login
//!   check (`keeper`, with the `throttle`), connections per address and per door
//!   (`limit`, `files`: the open-files limit raised and shared), the accept loop
//!   (`listen`), refusals counted for `/metrics`.
//! - [`meter`]: counters per camera and rendition, the encode-time histogram, the
//!   alarm state, each camera's newest published frame (for `/snapshot`), the gate's
//!   counters; each camera's log lines (who watches, a summary every few minutes, the
//!   once-a-second line at debug), `/stats.json` and `/metrics`.
//!
//! Around them:
//! - `run` ([`start`], [`run`]): the wiring, options → sources, encoders, publishers,
//!   broker, directory, site, banner; [`Running`] says where the edge listens.
//! - [`config`]: the options: each flag with its `EDGE_*` variable, one camera's options
//!   parsed and checked, broker URLs; `config::file`: the same in a TOML file, with
//!   `[[camera]]` tables.
//! - [`access`]: who may watch (the viewer login); [`secret`]: the password made on first
//!   start and kept in the state directory.
//! - [`tls`]: certificates served and trusted (rustls).
//! - [`logging`]: the log on stderr, plain unless it is a terminal, without timestamps
//!   in systemd's journal.
//! - [`banner`]: what the edge prints at start (URLs, login, a QR code for phones);
//!   [`login`]: `edge login`, the same link and QR code later, for a service's edge.
//! - `error` ([`EdgeError`]): why the edge could not start, wrapping each layer's error.
//! - [`clock`]: wall-clock µs as the wire format writes them; [`backoff`]: retry delays
//!   with jitter; `sync`: locks that ignore poisoning.
//! - [`motion`] and [`homeassistant`]: motion detection and Home Assistant discovery,
//!   I/O-free; [`events`]: both on the bus (the detector fed each camera's preview on
//!   the encoder threads, and one connection publishing the alarm, motion state,
//!   boxes, discovery and stats).

pub mod access;
pub mod backoff;
pub mod banner;
pub mod broker;
pub mod clock;
pub mod config;
pub mod directory;
pub mod doors;
pub mod encode;
mod error;
pub mod events;
pub mod frame;
pub mod homeassistant;
pub mod logging;
pub mod login;
pub mod meter;
pub mod motion;
pub mod pipeline;
pub mod publish;
pub mod record;
mod run;
pub mod secret;
pub mod site;
pub mod source;
pub(crate) mod sync;
pub mod tls;
pub mod watch;

pub use error::EdgeError;
pub use run::{run, start, Edge, Running};
pub use source::list_devices;
