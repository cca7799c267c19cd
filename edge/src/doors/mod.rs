//! What every door the edge opens to the network enforces, the same way on each: the web
//! port (HTTP or HTTPS, `site`) and the embedded broker's gate (MQTT over TCP and over
//! WebSocket, `broker::gate`). See docs/security.md for the figures.
//!
//! - One login check ([`keeper`]): one throttle for every door, constant-time
//!   comparisons, one log line for a refused login.
//! - Nobody holds a door open without finishing: the web port drops a request whose
//!   head has not arrived within [`HEADER_TIMEOUT`], the gate a client without a
//!   CONNECT within the same time.
//! - One address cannot take the process: at most [`files::PER_ADDRESS`] connections per
//!   address on each door ([`limit`]), checked as a connection is accepted
//!   ([`listen`]), and a total per door that leaves the process descriptors of its own
//!   ([`files`]).
//! - What they refused is counted by door and reason ([`refusals`]) for `/metrics`.
//!
//! The decisions are I/O-free and unit-tested: [`address`] (who counts as one client),
//! [`throttle`], [`limit`], [`files::Budget`]; [`listen`] and the login's wait are the
//! thin adapters.

pub mod address;
pub mod files;
pub mod keeper;
pub mod limit;
pub mod listen;
pub mod refusals;
pub mod throttle;

use std::time::Duration;

pub use keeper::{Doorkeeper, Login};
pub use refusals::{Door, Reason};

/// A client must send its request head (HTTP), finish its TLS or WebSocket handshake,
/// and send its CONNECT (MQTT) within this long, each. Browsers and MQTT clients send
/// them at once, so this only ever ends connections that were never going to; it is
/// also how long an idle HTTP keep-alive connection stays open.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
