//! Open files (descriptors): the process's limit raised as far as it may go, and how
//! many connections each door may hold so that the rest always has its own.
//!
//! Every connection is a descriptor, and the soft limit a shell or a systemd service
//! gives by default is 1,024: before these limits, 1,130 half-open HTTP connections from
//! one address exhausted it, and then nothing new could start (`/healthz` timed out, a
//! new MQTT subscriber got no frames). So at start the soft limit is raised to the hard
//! one, a [`RESERVE`] is kept for what the edge itself holds (listeners, the embedded
//! broker's own sockets, each camera's device or network connection and its
//! publisher's MQTT connection, the directory and events connections, files being read),
//! and the rest is shared between the doors ([`Budget`]): a door at its total refuses new
//! connections at once, and the others, and everything already open, keep working.

use super::limit::ConnLimit;

/// Connections one address may hold open on each door.
///
/// Browsers open at most 6 connections to one site (shared by all its tabs), the viewer
/// opens one MQTT WebSocket per page however many cameras it shows, and native clients
/// (a detector, Home Assistant) one MQTT connection each. 32 is a household behind one
/// NAT address (several phones and laptops with a tab or two each, Home Assistant,
/// Prometheus) with room to spare, and still a small share of the descriptors.
pub const PER_ADDRESS: u32 = 32;

/// Descriptors the edge keeps for itself, besides [`PER_CAMERA`] for each camera.
/// Measured: an edge with one camera and nobody connected holds 25 (stdio, the runtime's
/// epoll and wakers, four listeners, the embedded broker's loopback connections for the
/// publisher, directory and events); twice that, for reloads and files being read.
pub const RESERVE: u64 = 64;
/// Descriptors each further camera needs: its device or network connection, its
/// publisher's MQTT connection (both ends, in this process with the embedded broker),
/// with room to spare.
pub const PER_CAMERA: u64 = 8;

/// What one connection costs: the web port's socket and the file it is sending; the
/// gate's client socket, its connection to the embedded broker and the broker's end of
/// that (all three in this process).
const HTTP_COST: u64 = 2;
const MQTT_COST: u64 = 3;

/// No door gets fewer than this, even with a tiny limit (the edge warns then).
const MIN_PER_DOOR: u32 = 8;
/// Connections the embedded broker takes (`broker::start`): the gate's, and the edge's
/// own (a publisher per camera, the directory's and the events').
pub const BROKER_CONNECTIONS: usize = 1010;
/// The gate's two listeners stay below that together, with 64 cameras.
const MAX_MQTT_TCP: u32 = 300;
const MAX_MQTT_WS: u32 = 600;
const _: () = assert!(MAX_MQTT_TCP as usize + MAX_MQTT_WS as usize + 64 + 2 < BROKER_CONNECTIONS);
/// Even with a huge limit, the web port has no use for more.
const MAX_HTTP: u32 = 4096;

/// How many connections each door may hold open in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub http: u32,
    pub mqtt_tcp: u32,
    pub mqtt_ws: u32,
    /// Whether the limit is below what the edge needs for itself plus [`MIN_PER_DOOR`]
    /// on each door: it then may run out anyway.
    pub tight: bool,
}

impl Budget {
    /// The doors' shares of `open_files` (the soft limit) for an edge with `cameras`
    /// cameras: after the reserve, a quarter of the descriptors for the web port, a
    /// quarter for MQTT over TCP (native clients, usually few), half for MQTT over
    /// WebSocket (every viewer page).
    pub fn new(open_files: u64, cameras: usize) -> Budget {
        let reserve = RESERVE + PER_CAMERA * cameras as u64;
        let spare = open_files.saturating_sub(reserve);
        let share = |descriptors: u64, cost: u64, max: u32| {
            u32::try_from(descriptors / cost).unwrap_or(u32::MAX).clamp(MIN_PER_DOOR, max)
        };
        let needed = reserve + MIN_PER_DOOR as u64 * (HTTP_COST + 2 * MQTT_COST);
        Budget {
            http: share(spare / 4, HTTP_COST, MAX_HTTP),
            mqtt_tcp: share(spare / 4, MQTT_COST, MAX_MQTT_TCP),
            mqtt_ws: share(spare / 2, MQTT_COST, MAX_MQTT_WS),
            tight: open_files < needed,
        }
    }

    /// The limits for the doors, `per_address` on each ([`PER_ADDRESS`] by default).
    pub fn limits(&self, per_address: u32) -> Limits {
        Limits {
            http: ConnLimit::new(per_address, self.http),
            mqtt_tcp: ConnLimit::new(per_address, self.mqtt_tcp),
            mqtt_ws: ConnLimit::new(per_address, self.mqtt_ws),
        }
    }
}

/// Each door's [`ConnLimit`].
#[derive(Clone)]
pub struct Limits {
    pub http: ConnLimit,
    pub mqtt_tcp: ConnLimit,
    pub mqtt_ws: ConnLimit,
}

/// The soft limit of open files raised to the hard limit: (before, after). Where there
/// is no such limit (not Unix), `None`.
// `rlim_t` is 64 bits here, 32 on some targets: the casts are not useless everywhere.
#[allow(clippy::unnecessary_cast)]
pub fn raise_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
            return None;
        }
        let before = r.rlim_cur;
        // "Unlimited" is not a number of descriptors the kernel takes for this limit:
        // ask for a million (Linux's default ceiling, fs.nr_open).
        let hard = if r.rlim_max == libc::RLIM_INFINITY { 1 << 20 } else { r.rlim_max };
        if hard > before {
            let raised = libc::rlimit { rlim_cur: hard, rlim_max: r.rlim_max };
            // SAFETY: as above. A refusal (macOS caps it lower) leaves the old limit.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Some((before as u64, hard as u64));
            }
        }
        Some((before as u64, before as u64))
    }
    #[cfg(not(unix))]
    None
}

/// Descriptors open in this process now (Linux; `None` elsewhere).
pub fn open_now() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doors_share_what_is_left_after_the_reserve() {
        // A shell's default: 1,024, one camera.
        let b = Budget::new(1024, 1);
        assert_eq!((b.http, b.mqtt_tcp, b.mqtt_ws, b.tight), (119, 79, 158, false));
        // Descriptors used at most: the reserve is never touched.
        let used =
            RESERVE + PER_CAMERA + b.http as u64 * HTTP_COST + (b.mqtt_tcp + b.mqtt_ws) as u64 * MQTT_COST;
        assert!(used <= 1024, "{used}");
        // One address's share is a small part of any door's.
        assert!(PER_ADDRESS * 2 <= b.mqtt_tcp);
    }

    #[test]
    fn a_large_limit_is_capped_by_what_the_broker_takes_and_a_tiny_one_is_flagged() {
        let b = Budget::new(1 << 20, 64);
        assert_eq!((b.http, b.mqtt_tcp, b.mqtt_ws, b.tight), (MAX_HTTP, MAX_MQTT_TCP, MAX_MQTT_WS, false));
        let b = Budget::new(100, 4);
        assert_eq!((b.http, b.mqtt_tcp, b.mqtt_ws, b.tight), (8, 8, 8, true));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_limit_is_raised_to_the_hard_one_and_descriptors_are_counted() {
        let (before, after) = raise_limit().expect("unix");
        assert!(after >= before);
        assert_eq!(raise_limit(), Some((after, after)), "raised once, nothing more to raise");
        // stdin, stdout, stderr at least (other tests open and close files meanwhile).
        assert!(open_now().expect("linux") >= 3);
    }
}
