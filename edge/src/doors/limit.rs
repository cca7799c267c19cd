//! How many connections a listener holds open at once: per address ([`super::address`])
//! and in all. Checked when a connection is accepted, before it may say anything, so one
//! address that opens thousands of connections and never finishes them gets
//! `per_address` of them and the rest are closed at once; the total keeps the process's
//! descriptors for the connections already open, the cameras and the publishers
//! (`super::files` chooses it).
//!
//! I/O-free: the listener asks with the peer's address and keeps the [`Ticket`] for as
//! long as the connection is open; dropping it frees the place.

use std::{collections::HashMap, net::IpAddr, sync::Arc, sync::Mutex};

use super::address::key;
use crate::sync::lock;

/// Open connections of one listener, counted per address and in all.
#[derive(Clone)]
pub struct ConnLimit {
    counts: Arc<Mutex<Counts>>,
}

struct Counts {
    per_address: u32,
    total: u32,
    open: u32,
    by_address: HashMap<IpAddr, Open>,
    /// A refusal for the total was reported since it was last below it.
    total_told: bool,
}

struct Open {
    connections: u32,
    /// A refusal for this address was reported since it was last below its cap.
    told: bool,
}

/// Why a connection is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Its address has `per_address` connections open.
    PerAddress {
        /// The first refusal since the address was last below the cap: worth a log line.
        first: bool,
    },
    /// The listener has `total` connections open.
    Total { first: bool },
}

/// A connection's place, given back when dropped.
pub struct Ticket {
    counts: Arc<Mutex<Counts>>,
    key: IpAddr,
}

impl ConnLimit {
    /// At most `per_address` connections from one address and `total` in all (each at
    /// least 1).
    pub fn new(per_address: u32, total: u32) -> Self {
        let counts = Counts {
            per_address: per_address.max(1),
            total: total.max(1),
            open: 0,
            by_address: HashMap::new(),
            total_told: false,
        };
        ConnLimit { counts: Arc::new(Mutex::new(counts)) }
    }

    /// A place for a connection from `ip`, if there is one.
    pub fn admit(&self, ip: IpAddr) -> Result<Ticket, Full> {
        let key = key(ip);
        let mut c = lock(&self.counts);
        let per_address = c.per_address;
        let at_cap = c.by_address.get_mut(&key).filter(|o| o.connections >= per_address);
        if let Some(open) = at_cap {
            let first = !std::mem::replace(&mut open.told, true);
            return Err(Full::PerAddress { first });
        }
        if c.open >= c.total {
            let first = !std::mem::replace(&mut c.total_told, true);
            return Err(Full::Total { first });
        }
        c.open += 1;
        c.by_address.entry(key).or_insert(Open { connections: 0, told: false }).connections += 1;
        Ok(Ticket { counts: self.counts.clone(), key })
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        lock(&self.counts).open
    }

    /// The most this listener holds open: per address, in all.
    pub fn caps(&self) -> (u32, u32) {
        let c = lock(&self.counts);
        (c.per_address, c.total)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut c = lock(&self.counts);
        c.open = c.open.saturating_sub(1);
        if c.open < c.total {
            c.total_told = false;
        }
        if let Some(open) = c.by_address.get_mut(&self.key) {
            open.connections = open.connections.saturating_sub(1);
            open.told = false;
            // Only addresses with connections open are remembered: the table is as
            // large as the connections, which the total bounds.
            if open.connections == 0 {
                c.by_address.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_gets_its_cap_and_others_still_get_in() {
        let limit = ConnLimit::new(3, 100);
        let held: Vec<Ticket> = (0..3).map(|_| limit.admit(ip("10.0.0.9")).unwrap()).collect();
        assert_eq!(limit.admit(ip("10.0.0.9")).err(), Some(Full::PerAddress { first: true }));
        assert_eq!(limit.admit(ip("10.0.0.9")).err(), Some(Full::PerAddress { first: false }));
        assert!(limit.admit(ip("10.0.0.10")).is_ok(), "another address is not held back");
        assert_eq!(limit.open(), 3, "the other address's ticket was dropped at once");
        drop(held);
        assert_eq!(limit.open(), 0);
    }

    #[test]
    fn a_closed_connection_frees_its_place_and_the_next_refusal_is_reported_again() {
        let limit = ConnLimit::new(2, 100);
        let a = limit.admit(ip("10.0.0.9")).unwrap();
        let _b = limit.admit(ip("10.0.0.9")).unwrap();
        assert_eq!(limit.admit(ip("10.0.0.9")).err(), Some(Full::PerAddress { first: true }));
        drop(a);
        let _c = limit.admit(ip("10.0.0.9")).expect("a place came free");
        assert_eq!(limit.admit(ip("10.0.0.9")).err(), Some(Full::PerAddress { first: true }));
    }

    #[test]
    fn an_ipv6_64_is_one_address() {
        let limit = ConnLimit::new(2, 100);
        let _a = limit.admit(ip("2001:db8::1")).unwrap();
        let _b = limit.admit(ip("2001:db8::2:3")).unwrap();
        assert!(matches!(limit.admit(ip("2001:db8::ffff")), Err(Full::PerAddress { .. })));
        assert!(limit.admit(ip("2001:db8:0:1::1")).is_ok(), "the next /64 is another address");
    }

    #[test]
    fn the_total_holds_for_every_address_together() {
        let limit = ConnLimit::new(2, 3);
        let held: Vec<Ticket> =
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map(|a| limit.admit(ip(a)).unwrap()).into();
        assert_eq!(limit.admit(ip("10.0.0.4")).err(), Some(Full::Total { first: true }));
        assert_eq!(limit.admit(ip("10.0.0.1")).err(), Some(Full::Total { first: false }));
        drop(held);
        assert!(limit.admit(ip("10.0.0.4")).is_ok());
        assert_eq!(limit.caps(), (2, 3));
    }

    #[test]
    fn only_addresses_with_open_connections_are_remembered() {
        let limit = ConnLimit::new(2, 10_000);
        for i in 0..1000u32 {
            drop(limit.admit(IpAddr::V4(i.into())).unwrap());
        }
        assert!(lock(&limit.counts).by_address.is_empty());
    }
}
