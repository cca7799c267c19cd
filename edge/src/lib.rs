//! The edge: a headless publisher on the camera host.
//!
//! It captures frames, encodes them as JPEG, stamps each with a sequence number and
//! timestamps (the [`wire`] format) and publishes them over MQTT, newest frame first.
//! By default it also runs an MQTT broker in-process and serves the viewer site, so a
//! single command gives a phone-viewable stream.

pub mod access;
pub mod backoff;
pub mod banner;
pub mod broker;
pub mod clock;
pub mod config;
pub mod directory;
pub mod encode;
mod error;
pub mod frame;
pub mod homeassistant;
pub mod meter;
pub mod motion;
pub mod pipeline;
pub mod publish;
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
