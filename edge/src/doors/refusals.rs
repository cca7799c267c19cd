//! The doors by name, and what they refused, counted for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A listener the network sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The web port: the viewer site and monitoring (HTTP or HTTPS).
    Http,
    /// The embedded broker's gate, MQTT over TCP (or TLS).
    MqttTcp,
    /// The embedded broker's gate, MQTT over WebSocket (or wss://).
    MqttWs,
}

impl Door {
    pub const ALL: [Door; 3] = [Door::Http, Door::MqttTcp, Door::MqttWs];

    /// As logs and `/metrics` name it.
    pub fn name(self) -> &'static str {
        match self {
            Door::Http => "http",
            Door::MqttTcp => "mqtt_tcp",
            Door::MqttWs => "mqtt_ws",
        }
    }
}

impl std::fmt::Display for Door {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a door refused a connection (or, on the web port, a request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its address already had as many connections open as one address may.
    PerAddressCap,
    /// The listener had as many connections open as the descriptors allow.
    TotalCap,
    /// It did not finish its request head (HTTP), its TLS or WebSocket handshake, or its
    /// CONNECT (MQTT) in time.
    HeaderTimeout,
    /// Its address had failed so often that the login was refused unchecked.
    ThrottledLogin,
    /// Its login was wrong.
    WrongLogin,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::PerAddressCap,
        Reason::TotalCap,
        Reason::HeaderTimeout,
        Reason::ThrottledLogin,
        Reason::WrongLogin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::PerAddressCap => "per_address_cap",
            Reason::TotalCap => "total_cap",
            Reason::HeaderTimeout => "header_timeout",
            Reason::ThrottledLogin => "throttled_login",
            Reason::WrongLogin => "wrong_login",
        }
    }
}

/// Refusals per door and reason.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [[AtomicU64; Reason::ALL.len()]; Door::ALL.len()],
}

impl Refusals {
    pub fn count(&self, door: Door, reason: Reason) {
        self.counts[door as usize][reason as usize].fetch_add(1, Relaxed);
    }

    pub fn get(&self, door: Door, reason: Reason) -> u64 {
        self.counts[door as usize][reason as usize].load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_door_and_reason_has_its_own_counter() {
        let r = Refusals::default();
        r.count(Door::Http, Reason::HeaderTimeout);
        r.count(Door::Http, Reason::HeaderTimeout);
        r.count(Door::MqttWs, Reason::PerAddressCap);
        assert_eq!(r.get(Door::Http, Reason::HeaderTimeout), 2);
        assert_eq!(r.get(Door::MqttWs, Reason::PerAddressCap), 1);
        let total: u64 = Door::ALL.iter().flat_map(|&d| Reason::ALL.map(|x| r.get(d, x))).sum();
        assert_eq!(total, 3);
    }
}
