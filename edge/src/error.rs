//! Why the edge could not start.

use std::net::SocketAddr;

/// Why the edge could not start. Each message is meant to be read by a person.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(
        "{what} port {addr} is already in use (another edge or broker running?); choose another with {flag}"
    )]
    PortInUse { what: &'static str, addr: SocketAddr, flag: &'static str },
    #[error("cannot listen on {addr} for {what}: {source}")]
    Listen { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("embedded broker: {0}")]
    Broker(String),
    #[error("source: {0}")]
    Source(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl EdgeError {
    pub(crate) fn listen(
        what: &'static str,
        addr: SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    ) -> Self {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            EdgeError::PortInUse { what, addr, flag }
        } else {
            EdgeError::Listen { what, addr, source }
        }
    }
}
