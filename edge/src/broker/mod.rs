//! The embedded MQTT broker (rumqttd), so one command works on one machine.
//!
//! rumqttd listens on a free loopback port only. What the network sees are the gate's
//! listeners (MQTT over TCP and over WebSocket, optionally TLS; see `gate`), which check
//! logins and topic permissions that rumqttd cannot express, then relay to rumqttd. The
//! edge's own publisher connects to rumqttd directly.
//!
//! rumqttd binds its listener on its own thread and only logs when that fails, so the
//! port is picked free here first; the readiness probe afterwards catches a lost race.
//! The gate's listeners are bound here, so a busy port is a clear startup error.
//!
//! Limits differ from rumqttd's sample config on purpose: payloads up to
//! [`MAX_PAYLOAD`] (video frames, not sensor readings) and small commit-log segments, so
//! the broker's memory stays bounded at a few frames per topic even with stalled clients.

// Without the embedded broker only the shared items (limits, addresses) are used.
#![cfg_attr(not(feature = "embedded-broker"), allow(unused_imports, dead_code))]

#[cfg(feature = "embedded-broker")]
pub mod gate;
pub mod origin;

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

#[cfg(feature = "embedded-broker")]
use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Why a listener could not be bound; a busy port names the option that moves it.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "{what} port {addr} is already in use (another edge or broker running?); choose another with {flag}"
    )]
    PortInUse { what: &'static str, addr: SocketAddr, flag: &'static str },
    #[error("cannot listen on {addr} for {what}: {source}")]
    Other { what: &'static str, addr: SocketAddr, source: std::io::Error },
}

impl ListenError {
    fn new(what: &'static str, addr: SocketAddr, flag: &'static str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            ListenError::PortInUse { what, addr, flag }
        } else {
            ListenError::Other { what, addr, source }
        }
    }
}

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("embedded broker: cannot start its thread: {0}")]
    Thread(std::io::Error),
    #[error("embedded broker: not accepting MQTT on {addr} after 5 s: {last_error}")]
    NotAccepting { addr: SocketAddr, last_error: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
#[cfg(feature = "embedded-broker")]
use gate::{Flavour, Gate, Policy};
#[cfg(feature = "embedded-broker")]
use origin::Origins;

/// Largest MQTT payload the broker accepts: a 4K JPEG at high quality fits.
pub const MAX_PAYLOAD: usize = 8 * 1024 * 1024;
/// Commit-log segment size and count per topic: what the broker keeps in memory.
#[cfg(feature = "embedded-broker")]
const SEGMENT_SIZE: usize = 4 * 1024 * 1024;
#[cfg(feature = "embedded-broker")]
const SEGMENT_COUNT: usize = 2;

/// Where the embedded broker listens.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    /// The gate's MQTT listener (mqtt://, or mqtts:// with TLS).
    pub tcp: SocketAddr,
    /// The gate's MQTT-over-WebSocket listener (ws://, or wss:// with TLS).
    pub ws: SocketAddr,
    /// rumqttd itself, on loopback: only the edge's own publisher connects here.
    pub internal: SocketAddr,
    pub tls: bool,
}

/// What the gate's listeners share with the web port: the login throttle and refusal
/// counters, and how many connections each listener holds (`crate::doors`).
#[cfg(feature = "embedded-broker")]
pub struct Doors {
    pub keeper: std::sync::Arc<crate::doors::Doorkeeper>,
    pub tcp: crate::doors::limit::ConnLimit,
    pub ws: crate::doors::limit::ConnLimit,
}

#[cfg(feature = "embedded-broker")]
/// Starts rumqttd on loopback and the gate's TCP and WebSocket listeners in front of it,
/// and waits until rumqttd accepts. Must run inside the tokio runtime (the gate's tasks
/// are spawned on it).
pub fn start(
    bind: IpAddr,
    tcp_port: u16,
    ws_port: u16,
    policy: Policy,
    origins: Origins,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    doors: Doors,
) -> Result<EmbeddedBroker, BrokerError> {
    let tcp_listener = listen(bind, tcp_port, "MQTT TCP", "--tcp-port")?;
    let ws_listener = listen(bind, ws_port, "MQTT WebSocket", "--ws-port")?;
    let (tcp, ws) = (tcp_listener.local_addr()?, ws_listener.local_addr()?);
    let internal = reserve(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, "internal MQTT", "--tcp-port")?;
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: crate::doors::files::BROKER_CONNECTIONS,
            max_outgoing_packet_count: 200,
            max_segment_size: SEGMENT_SIZE,
            max_segment_count: SEGMENT_COUNT,
            custom_segment: Some(small_message_logs(&policy.prefix)),
            ..Default::default()
        },
        v4: Some(HashMap::from([("internal".to_string(), server("mqtt-internal", internal))])),
        ..Default::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(BrokerError::Thread)?;
    #[cfg(target_os = "linux")]
    keep_nodelay();
    wait_accepting_mqtt(internal)?;
    let gate = std::sync::Arc::new(Gate::new(
        policy,
        origins,
        internal,
        tls.clone().map(tokio_rustls::TlsAcceptor::from),
        doors.keeper,
    ));
    tokio::spawn(gate::serve(tcp_listener, gate.clone(), Flavour::Tcp, doors.tcp));
    tokio::spawn(gate::serve(ws_listener, gate, Flavour::WebSocket, doors.ws));
    Ok(EmbeddedBroker { tcp, ws, internal, tls: tls.is_some() })
}

/// Commit logs of a few KB for the small messages between viewers and the edge.
///
/// rumqttd keeps every message in a per-subscription log and counts a log's size by
/// topic and payload bytes. A 9-byte acknowledgement counts ~45 bytes, but the message
/// can pin the whole network read buffer it arrived in (KBs): with the frame logs'
/// 4 MB segments, one viewer's acknowledgements grew the edge by ~8 MB a minute in a
/// soak test. Nobody reads old acknowledgements or clock messages, so keep a few.
///
/// Previews (a few KB each, a few a second) pin the buffers their camera's frames were
/// read in too: with 4 MB segments, a page watching eight 720p cameras one after the
/// other grew the edge to 326 MB (measured); a tile only ever wants the newest preview.
///
/// The smaller renditions (`half`, `quarter`) pin buffers the same way, and a viewer on
/// one wants only the newest frame too: segments of a few of their frames (a 720p half
/// is ~25 KB at quality 75, a quarter ~8 KB), not the full stream's 4 MB.
#[cfg(feature = "embedded-broker")]
fn small_message_logs(prefix: &str) -> HashMap<String, rumqttd::SegmentConfig> {
    let small = || rumqttd::SegmentConfig { max_segment_size: 1024, max_segment_count: 2 };
    // Status, alarms and directory entries are rare and can be a few KB (a directory
    // of many cameras).
    let rare = || rumqttd::SegmentConfig { max_segment_size: 16 * 1024, max_segment_count: 2 };
    let previews = rumqttd::SegmentConfig { max_segment_size: 64 * 1024, max_segment_count: 2 };
    let half = rumqttd::SegmentConfig { max_segment_size: 1024 * 1024, max_segment_count: 2 };
    let quarter = rumqttd::SegmentConfig { max_segment_size: 256 * 1024, max_segment_count: 2 };
    let tails = ["+/ack/+", "+/clock/req/+", "+/clock/res/+"].map(|t| (t, small()));
    let rare = ["+/status", "+/alarm", "+/detections", "+/watch", "_dir/edges/+", "_dir/req/+", "_dir/res/+"]
        .map(|t| (t, rare()));
    // Motion state and stats: a few bytes each, a few a minute.
    let events = ["+/motion", "+/stats"].map(|t| (t, small()));
    let mut logs: HashMap<String, rumqttd::SegmentConfig> = tails
        .into_iter()
        .chain(rare)
        .chain(events)
        .chain([("+/preview", previews), ("+/half", half), ("+/quarter", quarter)])
        .map(|(tail, segment)| (format!("{prefix}/{tail}"), segment))
        .collect();
    // Home Assistant's subscriptions to discovery (a few hundred bytes per entity,
    // published on connecting) under its default prefix; under a custom
    // --ha-discovery-prefix they get the default segments.
    let discovery = crate::homeassistant::DEFAULT_DISCOVERY_PREFIX;
    for filter in [format!("{discovery}/+/+/+/config"), format!("{discovery}/status")] {
        logs.insert(filter, rumqttd::SegmentConfig { max_segment_size: 16 * 1024, max_segment_count: 2 });
    }
    logs
}

/// Connections the kernel queues for a listener until they are accepted. The standard
/// library's 128 made some of a burst of connections (a page, and someone opening
/// thousands at once from another address) wait for a SYN retry, 1 s or more; the
/// doors accept (or refuse) each within microseconds, so the queue only has to cover a
/// burst.
const BACKLOG: u32 = 1024;

/// Binds a listener for the tokio runtime; a busy port says which option moves it.
pub fn listen(
    bind: IpAddr,
    port: u16,
    what: &'static str,
    flag: &'static str,
) -> Result<tokio::net::TcpListener, ListenError> {
    let addr = SocketAddr::new(bind, port);
    let fail = |source| ListenError::new(what, addr, flag, source);
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(fail)?;
    // As the standard library's bind does on Unix: a restarted edge gets its port back
    // while old connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)
}

#[cfg(feature = "embedded-broker")]
fn server(name: &str, listen: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: name.to_string(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 5000,
            max_payload_size: MAX_PAYLOAD,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// Binds and releases `bind:port` to check it is free; resolves port 0 to a free port.
pub fn reserve(
    bind: IpAddr,
    port: u16,
    what: &'static str,
    flag: &'static str,
) -> Result<SocketAddr, ListenError> {
    let addr = SocketAddr::new(bind, port);
    let listener = TcpListener::bind(addr).map_err(|source| ListenError::new(what, addr, flag, source))?;
    listener.local_addr().map_err(|source| ListenError::new(what, addr, flag, source))
}

/// An address this machine can connect to for a listener bound to `ip`: loopback for
/// the unspecified address.
pub(crate) fn reachable(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    }
}

#[cfg(feature = "embedded-broker")]
/// Waits until the broker answers an MQTT CONNECT on `addr`. A complete exchange, not a
/// bare TCP connect, so the broker has nothing to log as an aborted connection.
fn wait_accepting_mqtt(addr: SocketAddr) -> Result<(), BrokerError> {
    // CONNECT: MQTT 3.1.1, clean session, keep-alive 10 s, client id "edge-probe".
    const CONNECT: &[u8] = b"\x10\x16\x00\x04MQTT\x04\x02\x00\x0a\x00\x0aedge-probe";
    const DISCONNECT: &[u8] = b"\xe0\x00";
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last_error = String::new();
    while Instant::now() < deadline {
        let attempt = || -> std::io::Result<bool> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            s.write_all(CONNECT)?;
            let mut connack = [0u8; 4];
            s.read_exact(&mut connack)?;
            s.write_all(DISCONNECT)?;
            Ok(connack == [0x20, 0x02, 0x00, 0x00])
        };
        match attempt() {
            Ok(true) => return Ok(()),
            Ok(false) => last_error = "unexpected CONNACK".into(),
            Err(e) => last_error = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotAccepting { addr, last_error })
}

/// Turns Nagle's algorithm off on every TCP socket of this process, now and every
/// 100 ms, for the embedded broker's connections.
///
/// rumqttd leaves Nagle on for the connections it accepts and offers no setting. Then a
/// small packet (a clock reply, a viewer's frame acknowledgement) that follows a frame
/// waits for the frame's last segment to be acknowledged, which a delayed ACK can hold
/// for up to 40 ms: round trips of ~13 ms instead of ~1 ms on one machine. The broker's
/// sockets live in this process, so they can be set from here. Linux only.
#[cfg(all(target_os = "linux", feature = "embedded-broker"))]
pub fn keep_nodelay() {
    let spawned = std::thread::Builder::new().name("nodelay".into()).spawn(|| loop {
        set_nodelay_on_all_tcp_sockets();
        std::thread::sleep(Duration::from_millis(100));
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the nodelay thread; broker latency may suffer");
    }
}

#[cfg(all(target_os = "linux", feature = "embedded-broker"))]
fn set_nodelay_on_all_tcp_sockets() {
    use std::os::fd::RawFd;
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in dir.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
        // Only sockets: the link target reads "socket:[inode]".
        if !std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        let mut on: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: plain getsockopt/setsockopt on a descriptor of this process with
        // correctly sized buffers; a descriptor that is not a TCP socket (or was closed
        // meanwhile) just makes the call fail, which is ignored.
        unsafe {
            let rc = libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut on as *mut libc::c_int).cast(),
                &mut len,
            );
            if rc == 0 && on == 0 {
                let one: libc::c_int = 1;
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

#[cfg(all(test, target_os = "linux", feature = "embedded-broker"))]
mod tests {
    use super::*;

    fn nodelay(s: &TcpStream) -> bool {
        s.nodelay().unwrap()
    }

    #[test]
    fn tcp_sockets_of_the_process_get_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(!nodelay(&server), "accepted sockets start with Nagle on");
        set_nodelay_on_all_tcp_sockets();
        assert!(nodelay(&server) && nodelay(&client));
    }
}
