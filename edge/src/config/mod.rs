//! The edge's options: command-line flags, their `EDGE_*` environment variables and a
//! `--config` TOML file, put together into one [`Config`] and its [`Camera`]s.
//!
//! Split by job, in the order a value meets them, so each file reads on its own:
//! - `file.rs` ([`file::load`], the entry point): the `--config` file's options become
//!   flags in front of the command line's (which win), each checked by its flag's parser;
//! - `flags.rs`: every flag with its variable ([`Config`], which clap turns into
//!   `--help`), and [`Config::cameras`]: the edge-wide flags and the cameras together;
//! - `camera.rs`: one camera's name, source and options, parsed and checked the same
//!   for `--camera` and `[[camera]]` ([`CameraSpec`], [`SourceSpec`], [`Size`], …);
//! - `broker_url.rs`: how to reach a broker ([`BrokerUrl`]).
//!
//! They depend on each other downwards only (file → flags → camera, broker_url), and
//! the rest of the edge names everything as `config::…`, re-exported here.

mod broker_url;
mod camera;
pub mod file;
mod flags;

pub use broker_url::BrokerUrl;
pub use camera::{
    redact_url, Camera, CameraArg, CameraSpec, OnDemand, Renditions, Size, SourceSpec, MAX_CAMERAS,
};
pub use flags::{Command, Config, PrintLogin};
