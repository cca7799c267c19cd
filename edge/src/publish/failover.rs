//! Which broker to try next when the edge was given several (`--broker A --broker B`),
//! and how long to wait first. No I/O: the driver and the directory ask it after each
//! failed connection and tell it about each good one.
//!
//! The rule: a lost or refused connection moves on to the next broker at once, in the
//! order given, wrapping around; only when every broker has failed in a row does the
//! edge wait, with the usual backoff, before the next round. A broker that works is
//! kept: nothing moves the edge back to the first one (two edges flapping between
//! brokers would each lose frames for nothing; a cluster carries their frames across).

use std::time::Duration;

use crate::backoff::Backoff;

/// The broker to connect to next and the wait before connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// Index into the brokers, in the order given.
    pub broker: usize,
    /// Zero while some broker of this round has not been tried yet.
    pub wait: Duration,
}

/// Failover between `brokers` brokers, starting on one of them.
pub struct Failover {
    brokers: usize,
    current: usize,
    /// Connections failed in a row since the last good one.
    failed: usize,
    backoff: Backoff,
}

impl Failover {
    /// Starts on broker `first` (the one the startup probe reached) of `brokers` (≥ 1).
    pub fn new(brokers: usize, first: usize, backoff: Backoff) -> Self {
        let brokers = brokers.max(1);
        Failover { brokers, current: first % brokers, failed: 0, backoff }
    }

    /// The broker in use, or being tried.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The current broker accepted the connection: the next failure starts a fresh
    /// round, and the backoff starts small again.
    pub fn connected(&mut self) {
        self.failed = 0;
        self.backoff.reset();
    }

    /// The connection to the current broker failed (refused, or lost after working):
    /// moves on to the next broker and says how long to wait first.
    pub fn failed(&mut self) -> Next {
        self.failed += 1;
        self.current = (self.current + 1) % self.brokers;
        let round_over = self.failed.is_multiple_of(self.brokers);
        let wait = if round_over { self.backoff.next_delay() } else { Duration::ZERO };
        Next { broker: self.current, wait }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failover(brokers: usize, first: usize) -> Failover {
        Failover::new(brokers, first, Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 7))
    }

    #[test]
    fn failures_move_through_the_brokers_in_the_order_given() {
        let mut f = failover(3, 0);
        assert_eq!(f.current(), 0);
        assert_eq!(f.failed().broker, 1);
        assert_eq!(f.failed().broker, 2);
    }

    #[test]
    fn after_the_last_broker_the_first_comes_again() {
        let mut f = failover(3, 1);
        let order: Vec<usize> = (0..4).map(|_| f.failed().broker).collect();
        assert_eq!(order, [2, 0, 1, 2]);
    }

    #[test]
    fn a_working_broker_is_kept_and_never_left_for_the_first() {
        let mut f = failover(2, 0);
        assert_eq!(f.failed(), Next { broker: 1, wait: Duration::ZERO });
        f.connected();
        // Nothing but a failure moves it: connected again and again, it stays on 1.
        for _ in 0..5 {
            f.connected();
            assert_eq!(f.current(), 1);
        }
    }

    #[test]
    fn the_edge_waits_only_after_every_broker_failed_in_a_row() {
        let mut f = failover(3, 0);
        assert_eq!(f.failed().wait, Duration::ZERO, "broker 1 is tried at once");
        assert_eq!(f.failed().wait, Duration::ZERO, "broker 2 is tried at once");
        let first_round = f.failed().wait;
        assert!(first_round >= Duration::from_millis(75), "all three failed: back off ({first_round:?})");
        assert_eq!(f.failed().wait, Duration::ZERO, "the next round starts at once again");
        assert_eq!(f.failed().wait, Duration::ZERO);
        let second_round = f.failed().wait;
        assert!(second_round > first_round, "{second_round:?} after {first_round:?}: the backoff grows");
    }

    #[test]
    fn a_good_connection_starts_a_fresh_round_and_a_small_backoff() {
        let mut f = failover(2, 0);
        for _ in 0..10 {
            f.failed();
        }
        f.connected();
        assert_eq!(f.failed().wait, Duration::ZERO, "the other broker is tried at once");
        let wait = f.failed().wait;
        assert!(wait <= Duration::from_millis(125), "the backoff starts small again: {wait:?}");
    }

    #[test]
    fn one_broker_backs_off_after_each_failure_as_before() {
        let mut f = failover(1, 0);
        let next = f.failed();
        assert_eq!(next.broker, 0);
        assert!(next.wait >= Duration::from_millis(75), "{next:?}");
    }
}
