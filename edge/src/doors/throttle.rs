//! Slows down password guessing: failed logins from one address space out the next.
//!
//! The first [`FREE`] attempts from an address are checked at once (typos happen).
//! After that, attempt *k* is checked no sooner than [`BASE`] × 2^(k − FREE − 1) after the
//! previous one, up to [`MAX_SPACING`]; an attempt that would wait longer than
//! [`MAX_WAIT`] is refused unchecked. The wait comes *before* the password is looked at,
//! and an attempt counts as a failure from the moment it is admitted, so opening many
//! connections at once gains nothing: they queue behind each other. A correct login
//! resets the address; so do [`FORGET`] without attempts. Other addresses are never
//! slowed. IPv6 addresses count per /64, the block one host usually holds
//! ([`super::address`]).
//!
//! One throttle serves every door (MQTT over TCP and WebSocket, HTTP Basic on the web
//! port): a guess on one counts on the others. I/O-free: the caller passes in the address
//! and the time.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use super::address::key;

/// Attempts from one address checked without delay.
pub const FREE: u32 = 5;
/// The spacing before the first delayed attempt; it doubles with each further one.
pub const BASE: Duration = Duration::from_millis(500);
/// The longest spacing between two attempts (a guess every 30 s: ~2,900 a day).
pub const MAX_SPACING: Duration = Duration::from_secs(30);
/// The longest an attempt is held before it is checked; beyond, it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// An address without attempts for this long starts afresh.
pub const FORGET: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (the least recently seen is forgotten first).
const MAX_ADDRESSES: usize = 4096;

/// What to do with a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check it after `wait`; it is attempt number `attempt` since the last success.
    Check { wait: Duration, attempt: u32 },
    /// Refuse it without checking: the queue of this address is too long.
    Refuse { retry_in: Duration },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    attempts: u32,
    /// When the latest admitted attempt is (or was) checked.
    checked_at: Instant,
}

/// Login attempts per address.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: HashMap<IpAddr, Entry>,
}

impl Throttle {
    /// Admits an attempt that carries a password, from `ip` at `now`.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Admission {
        let key = key(ip);
        self.make_room(key, now);
        let entry = self.entries.entry(key).or_insert(Entry { attempts: 0, checked_at: now });
        if now.saturating_duration_since(entry.checked_at) > FORGET {
            *entry = Entry { attempts: 0, checked_at: now };
        }
        let attempt = entry.attempts + 1;
        let at = if attempt <= FREE {
            now.max(entry.checked_at)
        } else {
            let doublings = (attempt - FREE - 1).min(16);
            let spacing = BASE.saturating_mul(1 << doublings).min(MAX_SPACING);
            now.max(entry.checked_at + spacing)
        };
        let wait = at - now;
        if wait > MAX_WAIT {
            return Admission::Refuse { retry_in: wait };
        }
        *entry = Entry { attempts: attempt, checked_at: at };
        Admission::Check { wait, attempt }
    }

    /// A correct login from `ip`: its earlier failures are forgiven.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.entries.remove(&key(ip));
    }

    /// Keeps the table bounded before `key` is added.
    fn make_room(&mut self, key: IpAddr, now: Instant) {
        if self.entries.len() < MAX_ADDRESSES || self.entries.contains_key(&key) {
            return;
        }
        self.entries.retain(|_, e| now.saturating_duration_since(e.checked_at) <= FORGET);
        if self.entries.len() >= MAX_ADDRESSES {
            let oldest = self.entries.iter().min_by_key(|(_, e)| e.checked_at).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.entries.remove(&k);
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

    fn waits(t: &mut Throttle, from: &str, n: usize, now: Instant) -> Vec<Duration> {
        (0..n)
            .map(|_| match t.admit(ip(from), now) {
                Admission::Check { wait, .. } => wait,
                Admission::Refuse { .. } => Duration::MAX,
            })
            .collect()
    }

    #[test]
    fn the_first_attempts_are_free_then_each_waits_twice_as_long() {
        let mut t = Throttle::default();
        let now = Instant::now();
        let w = waits(&mut t, "10.0.0.9", 9, now);
        let ms: Vec<u128> = w.iter().map(|d| d.as_millis()).collect();
        // Admitted at the same instant (parallel connections): they queue.
        assert_eq!(ms, [0, 0, 0, 0, 0, 500, 1500, 3500, 7500]);
    }

    #[test]
    fn sequential_guessing_is_spaced_out_too() {
        let mut t = Throttle::default();
        let mut now = Instant::now();
        let mut total = Duration::ZERO;
        for _ in 0..20 {
            let Admission::Check { wait, .. } = t.admit(ip("10.0.0.9"), now) else { panic!("refused") };
            now += wait + Duration::from_millis(1);
            total += wait;
        }
        // 0.5 + 1 + 2 + 4 + 8 + 16 + 30 × 9 seconds.
        assert!(total >= Duration::from_secs(300), "{total:?}");
    }

    #[test]
    fn a_long_queue_is_refused_without_a_check() {
        let mut t = Throttle::default();
        let now = Instant::now();
        let w = waits(&mut t, "10.0.0.9", 40, now);
        assert!(w[..10].iter().all(|d| *d <= MAX_WAIT));
        assert!(w[20..].iter().all(|d| *d == Duration::MAX), "{w:?}");
    }

    #[test]
    fn other_addresses_and_a_correct_login_are_not_slowed() {
        let mut t = Throttle::default();
        let now = Instant::now();
        waits(&mut t, "10.0.0.9", 12, now);
        assert_eq!(t.admit(ip("10.0.0.10"), now), Admission::Check { wait: Duration::ZERO, attempt: 1 });
        t.succeeded(ip("10.0.0.9"));
        assert_eq!(t.admit(ip("10.0.0.9"), now), Admission::Check { wait: Duration::ZERO, attempt: 1 });
    }

    #[test]
    fn an_ipv6_block_counts_as_one_address_and_quiet_ones_are_forgotten() {
        let mut t = Throttle::default();
        let now = Instant::now();
        waits(&mut t, "2001:db8::1", 3, now);
        waits(&mut t, "2001:db8::ffff:2", 3, now);
        assert!(matches!(t.admit(ip("2001:db8::3"), now), Admission::Check { attempt: 7, .. }));
        assert!(matches!(t.admit(ip("2001:db8:0:1::3"), now), Admission::Check { attempt: 1, .. }));
        assert!(matches!(t.admit(ip("::ffff:10.1.1.1"), now), Admission::Check { attempt: 1, .. }));
        assert!(matches!(t.admit(ip("10.1.1.1"), now), Admission::Check { attempt: 2, .. }));
        let later = now + FORGET + Duration::from_secs(60);
        assert!(matches!(t.admit(ip("2001:db8::3"), later), Admission::Check { attempt: 1, .. }));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            t.admit(IpAddr::V4(i.into()), now);
        }
        assert!(t.entries.len() <= MAX_ADDRESSES);
    }
}
