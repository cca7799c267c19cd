//! Why the edge could not start: one error per layer below, each with its own message
//! for people, gathered here for the wiring.

use crate::{
    access::AccessError,
    broker::{BrokerError, ListenError},
    publish::client::ProbeError,
    source::OpenError,
    tls::TlsError,
};

/// Why the edge could not start. Each message is meant to be read by a person.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A port the options name is taken, or cannot be listened on.
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("source: camera {camera}: {source}")]
    Source { camera: String, source: OpenError },
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The external broker given with `--broker` refused or did not answer.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// No viewer login to use (the password file, or options that do not go together).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A mistake in the options that only shows once they are put together.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
