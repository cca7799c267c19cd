//! The one login check every door makes: MQTT's CONNECT through the gate (TCP and
//! WebSocket) and HTTP Basic on the web port's monitoring endpoints.
//!
//! - An attempt that carries a password is first admitted by the shared [`Throttle`]:
//!   held while its address keeps failing, or refused unchecked ([`Throttled`]). One
//!   throttle for every door, so a guess over HTTP slows the next MQTT login from that
//!   address and the other way round.
//! - Secrets are compared in constant time ([`Login::is`]); a correct login clears its
//!   address.
//! - A refused login is logged in one line with the door, the address and why — never
//!   the password — and counted per door and reason ([`Refusals`]).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{
    refusals::{Door, Reason, Refusals},
    throttle::{Admission, Throttle},
};
use crate::{secret::same, sync::lock};

/// A username and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    // Never the password, in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login {{ username: {:?}, password: <hidden> }}", self.username)
    }
}

impl Login {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Login { username: username.into(), password: password.into() }
    }

    /// Whether `username` and `password` are this login; both compared in constant time
    /// (the time says nothing about how much of either was right).
    pub fn is(&self, username: &[u8], password: &[u8]) -> bool {
        same(username, self.username.as_bytes()) & same(password, self.password.as_bytes())
    }
}

/// Whether `username` and `password` are one of `logins`, each compared in full: the
/// time does not say which one matched.
pub fn one_of(logins: &[Login], username: &[u8], password: &[u8]) -> bool {
    logins.iter().fold(false, |found, l| found | l.is(username, password))
}

/// A login attempt refused unchecked: its address failed too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When the address's next attempt would be looked at.
    pub retry_in: Duration,
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many wrong logins from this address; the next is looked at in {} s",
            self.retry_in.as_secs().max(1)
        )
    }
}

/// Failed logins per address for every door, and what the doors refused.
#[derive(Debug, Default)]
pub struct Doorkeeper {
    throttle: Mutex<Throttle>,
    pub refused: Refusals,
}

impl Doorkeeper {
    /// Before a password from `peer` is looked at: waits as long as the address's
    /// earlier failures say, or refuses the attempt unchecked.
    pub async fn admit(&self, door: Door, peer: SocketAddr) -> Result<(), Throttled> {
        let admission = lock(&self.throttle).admit(peer.ip(), Instant::now());
        match admission {
            Admission::Refuse { retry_in } => Err(Throttled { retry_in }),
            Admission::Check { wait, attempt } => {
                if !wait.is_zero() {
                    tracing::info!(
                        %peer,
                        %door,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "slowing down logins after failures"
                    );
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
        }
    }

    /// A correct login from `ip`: its earlier failures are forgiven, on every door.
    pub fn succeeded(&self, ip: IpAddr) {
        lock(&self.throttle).succeeded(ip);
    }

    /// A login refused at `door`: the one log line for it (the address and why, never
    /// the password), counted when `reason` says what kind it was.
    pub fn refused_login(&self, door: Door, peer: SocketAddr, reason: Option<Reason>, why: &str) {
        tracing::warn!(%peer, %door, reason = why, "login refused");
        if let Some(reason) = reason {
            self.refused.count(door, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_its_user_and_password_exactly() {
        let l = Login::new("viewer", "s3cret");
        assert!(l.is(b"viewer", b"s3cret"));
        for (u, p) in
            [("viewer", "s3cret2"), ("viewer", "s3cre"), ("viewe", "s3cret"), ("", ""), ("s3cret", "viewer")]
        {
            assert!(!l.is(u.as_bytes(), p.as_bytes()), "{u}:{p}");
        }
        let logins = [Login::new("viewer", "a"), Login::new("detector", "pub:pw")];
        assert!(one_of(&logins, b"detector", b"pub:pw") && one_of(&logins, b"viewer", b"a"));
        assert!(!one_of(&logins, b"viewer", b"pub:pw") && !one_of(&[], b"", b""));
        assert_eq!(format!("{l:?}"), "Login { username: \"viewer\", password: <hidden> }");
    }

    #[tokio::test]
    async fn every_door_shares_one_throttle() {
        let keeper = Doorkeeper::default();
        let peer: SocketAddr = "10.0.0.9:40000".parse().unwrap();
        // Five free guesses over HTTP...
        for _ in 0..super::super::throttle::FREE {
            keeper.admit(Door::Http, peer).await.unwrap();
        }
        // ... and the next over MQTT waits, as the next over HTTP would.
        let t = Instant::now();
        keeper.admit(Door::MqttWs, peer).await.unwrap();
        let waited = t.elapsed();
        assert!(waited >= super::super::throttle::BASE - Duration::from_millis(20), "{waited:?}");
        // Another address is not held; a correct login clears this one everywhere.
        let t = Instant::now();
        keeper.admit(Door::MqttTcp, "10.0.0.10:1".parse().unwrap()).await.unwrap();
        keeper.succeeded(peer.ip());
        keeper.admit(Door::Http, peer).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(100), "{:?}", t.elapsed());
    }

    #[test]
    fn a_queue_too_long_is_refused_unchecked_and_counted_where_it_was_refused() {
        let keeper = Doorkeeper::default();
        let peer: SocketAddr = "10.0.0.9:40000".parse().unwrap();
        let mut refused = None;
        for _ in 0..40 {
            // Admitted together, as parallel connections are: each queues behind the last.
            let admitted = lock(&keeper.throttle).admit(peer.ip(), Instant::now());
            if let Admission::Refuse { retry_in } = admitted {
                refused = Some(Throttled { retry_in });
                break;
            }
        }
        let throttled = refused.expect("the queue grew too long");
        assert!(throttled.to_string().starts_with("too many wrong logins"), "{throttled}");
        keeper.refused_login(Door::Http, peer, Some(Reason::ThrottledLogin), &throttled.to_string());
        assert_eq!(keeper.refused.get(Door::Http, Reason::ThrottledLogin), 1);
        assert_eq!(keeper.refused.get(Door::MqttTcp, Reason::ThrottledLogin), 0);
    }
}
