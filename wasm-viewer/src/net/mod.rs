//! The connection to the broker, outermost first: the WebSocket (`socket`, the only
//! code that touches it), the MQTT session fed its bytes ([`session`], no I/O), which
//! broker of a cluster to dial next ([`brokers`]) and the MQTT 3.1.1 codec under the
//! session ([`mqtt`], from `wire`: the gate speaks it too).

pub mod brokers;
pub use wire::mqtt;
pub mod session;
pub(crate) mod socket;
