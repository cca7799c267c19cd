//! Which of several brokers (the nodes of one cluster) to connect to next, without I/O.
//!
//! The viewer connects to the first. When a connection fails or is lost it tries the next
//! one at once: a node that died takes its connections with it, and another node of the
//! cluster carries the same topics. Only when every broker has failed in a row does it
//! wait ([`Session::retry_delay`](crate::net::session::Session::retry_delay)'s backoff) before
//! each further try, still going round them. A broker that works is kept: nothing moves
//! the viewer back to the first one while it works (that would drop the picture for
//! nothing), and after a loss the round starts from the next one, not the first.
//!
//! With one broker this is the plain reconnect: every try after a loss waits the backoff.

/// The brokers and where the viewer is among them.
#[derive(Debug, Clone, PartialEq)]
pub struct Brokers {
    urls: Vec<String>,
    current: usize,
    /// Connections that failed since the last one that worked.
    failed_in_a_row: usize,
}

/// When to try the next broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// At once: a broker not yet tried since the last one that worked.
    Now,
    /// After the backoff: every broker failed in a row.
    AfterBackoff,
}

impl Brokers {
    /// `urls`, in the order to try them; `None` without any.
    pub fn new(urls: Vec<String>) -> Option<Brokers> {
        (!urls.is_empty()).then_some(Brokers { urls, current: 0, failed_in_a_row: 0 })
    }

    /// The broker to connect to (or connected to) now.
    pub fn current(&self) -> &str {
        &self.urls[self.current]
    }

    /// The connection to the current broker failed or was lost: the next broker becomes
    /// current; the answer says whether to try it at once.
    pub fn failed(&mut self) -> Retry {
        self.failed_in_a_row += 1;
        self.current = (self.current + 1) % self.urls.len();
        if self.failed_in_a_row < self.urls.len() {
            Retry::Now
        } else {
            Retry::AfterBackoff
        }
    }

    /// The current broker works (it accepted a subscription): the viewer stays on it,
    /// and every broker may be tried at once again after the next loss.
    pub fn works(&mut self) {
        self.failed_in_a_row = 0;
    }

    /// The user asked for a connection (a login typed, the tab shown again): the current
    /// broker first, and the others at once after it, as after a connection that worked.
    pub fn start_over(&mut self) {
        self.failed_in_a_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Brokers {
        Brokers::new(vec!["ws://b/ws".into(), "ws://a/ws".into()]).unwrap()
    }

    #[test]
    fn the_first_broker_is_tried_first_and_there_is_one_at_least() {
        assert_eq!(two().current(), "ws://b/ws");
        assert_eq!(Brokers::new(Vec::new()), None);
    }

    #[test]
    fn a_lost_broker_is_followed_at_once_by_the_next() {
        let mut b = two();
        b.works();
        assert_eq!(b.failed(), Retry::Now);
        assert_eq!(b.current(), "ws://a/ws");
    }

    #[test]
    fn once_every_broker_failed_in_a_row_each_next_try_waits_going_round() {
        let mut b = two();
        assert_eq!(b.failed(), Retry::Now);
        assert_eq!(b.failed(), Retry::AfterBackoff);
        assert_eq!(b.current(), "ws://b/ws");
        assert_eq!(b.failed(), Retry::AfterBackoff);
        assert_eq!(b.current(), "ws://a/ws");
    }

    #[test]
    fn a_broker_that_works_is_kept_and_a_loss_there_moves_on_not_back_to_the_first() {
        let mut b = Brokers::new(vec!["ws://1/ws".into(), "ws://2/ws".into(), "ws://3/ws".into()]).unwrap();
        assert_eq!(b.failed(), Retry::Now);
        b.works();
        assert_eq!(b.current(), "ws://2/ws");
        // Works for a while: nothing moves it.
        b.works();
        assert_eq!(b.current(), "ws://2/ws");
        // Lost: the next, then the first, at once; then the backoff.
        assert_eq!(b.failed(), Retry::Now);
        assert_eq!(b.current(), "ws://3/ws");
        assert_eq!(b.failed(), Retry::Now);
        assert_eq!(b.current(), "ws://1/ws");
        assert_eq!(b.failed(), Retry::AfterBackoff);
        assert_eq!(b.current(), "ws://2/ws");
    }

    #[test]
    fn one_broker_is_retried_after_the_backoff_as_before() {
        let mut b = Brokers::new(vec!["ws://only/mqtt".into()]).unwrap();
        b.works();
        assert_eq!(b.failed(), Retry::AfterBackoff);
        assert_eq!(b.current(), "ws://only/mqtt");
    }

    #[test]
    fn starting_over_keeps_the_broker_and_tries_the_others_at_once_again() {
        let mut b = two();
        b.failed();
        b.failed();
        b.start_over();
        assert_eq!(b.current(), "ws://b/ws");
        assert_eq!(b.failed(), Retry::Now);
    }
}
