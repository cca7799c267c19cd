//! When each acknowledgement's window changes, and when the viewer asks the edge for its
//! clock. Plain Rust, fed the time and [`crate::stream::flow`]'s estimate.
//!
//! A clock reply that queues behind frames on a slow link makes the round trip look
//! long and the offset wrong (±0.45 s at 2 Mbit/s, measured), and the flow window is
//! worked out from the smallest round trip. So clock requests go out only when the link
//! is quiet: just before the acknowledgement of a frame when no other frame can be on
//! its way. With one frame in flight that is every frame; with more, the window is
//! first asked down to 1 for as many frames as were in flight (a brief probe every
//! couple of seconds, as BBR probes for the round trip).
//!
//! The window itself goes down at once and up by one only after two rounds at the
//! current one. Before a quiet-link clock exchange, the round trip can read seconds
//! (replies queued behind a frame on a slow link) and the estimate with it 7 frames:
//! asked for at once, those queued 6 s of video at 2 Mbit/s (measured).

/// Clock-offset requests: a quick burst first (the more exchanges, the likelier one
/// was not delayed by a busy CPU or network), then a refresh now and then.
const CLOCK_FIRST_SAMPLES: usize = 20;
const CLOCK_FAST_MS: f64 = 100.0;
const CLOCK_REFRESH_MS: f64 = 2000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    last_clock_request_ms: f64,
    /// Acknowledgements still to send with window 1 before a clock request.
    probing: Option<u8>,
    /// The window last asked for, and how many acknowledgements asked for it.
    window_asked: u8,
    acks_at_window: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Pace { last_clock_request_ms: f64::NEG_INFINITY, probing: None, window_asked: 1, acks_at_window: 0 }
    }
}

/// What one acknowledgement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckPlan {
    pub window: u8,
    /// Send a clock request just before this acknowledgement.
    pub clock_request: bool,
}

impl Pace {
    /// A new stream (a new connection, another rendition or camera): one frame in flight
    /// to begin with.
    pub fn restart(&mut self) {
        self.probing = None;
        self.window_asked = 1;
        self.acks_at_window = 0;
    }

    /// Another edge (another camera): its clock has not been asked yet.
    pub fn restart_clock(&mut self) {
        self.last_clock_request_ms = f64::NEG_INFINITY;
    }

    /// How often to refresh the clock offset, with `samples` held: fast until it is known well.
    fn clock_every(samples: usize) -> f64 {
        if samples < CLOCK_FIRST_SAMPLES {
            CLOCK_FAST_MS
        } else {
            CLOCK_REFRESH_MS
        }
    }

    /// Whether a clock request is due at `now_ms`, with `samples` held.
    pub fn clock_due(&self, now_ms: f64, samples: usize) -> bool {
        now_ms - self.last_clock_request_ms >= Self::clock_every(samples)
    }

    /// A clock request went out at `now_ms`.
    pub fn clock_sent(&mut self, now_ms: f64) {
        self.last_clock_request_ms = now_ms;
    }

    /// The next acknowledgement, at `now_ms`, given the flow estimate (`flow::Flow::window`)
    /// and the clock samples held. The caller sends the clock request it plans (and says
    /// so with [`Pace::clock_sent`]).
    pub fn ack(&mut self, estimate: u8, now_ms: f64, samples: usize) -> AckPlan {
        let computed = self.paced(estimate);
        let due = self.clock_due(now_ms, samples);
        let (window, clock_request) = match self.probing {
            None if due && computed > 1 => {
                self.probing = Some(computed - 2);
                (1, false)
            }
            Some(left) if left > 0 => {
                self.probing = Some(left - 1);
                (1, false)
            }
            Some(_) => {
                self.probing = None;
                (computed, true)
            }
            None => (computed, due),
        };
        AckPlan { window, clock_request }
    }

    /// The window to ask for given the estimate: down at once, up by one only after two
    /// rounds at the current one.
    fn paced(&mut self, estimate: u8) -> u8 {
        let asked = self.window_asked;
        let window = match estimate > asked {
            true if self.acks_at_window >= 2 * u32::from(asked) => asked + 1,
            true => asked,
            false => estimate,
        };
        if window != asked {
            self.window_asked = window;
            self.acks_at_window = 0;
        }
        self.acks_at_window += 1;
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Acknowledgements at 30 fps from `t0`, with the clock known well: (window, clock request).
    fn acks(p: &mut Pace, estimate: u8, t0: f64, n: usize) -> Vec<(u8, bool)> {
        (0..n)
            .map(|i| {
                let now = t0 + i as f64 * 33.0;
                let plan = p.ack(estimate, now, 32);
                if plan.clock_request {
                    p.clock_sent(now);
                }
                (plan.window, plan.clock_request)
            })
            .collect()
    }

    #[test]
    fn the_window_goes_up_by_one_after_two_rounds_and_down_at_once() {
        let mut p = Pace::default();
        p.clock_sent(0.0);
        let windows: Vec<u8> = acks(&mut p, 4, 10.0, 9).into_iter().map(|(w, _)| w).collect();
        assert_eq!(windows, [1, 1, 2, 2, 2, 2, 3, 3, 3]);
        assert_eq!(acks(&mut p, 1, 400.0, 1), [(1, false)]);
    }

    #[test]
    fn a_clock_request_waits_for_a_quiet_link() {
        let mut p = Pace { window_asked: 3, ..Pace::default() };
        p.clock_sent(0.0);
        // Due after 2 s: the window is asked down to 1 for as many frames as were in
        // flight, and the request goes with the acknowledgement after them.
        let plans = acks(&mut p, 3, 2_000.0, 4);
        assert_eq!(plans, [(1, false), (1, false), (3, true), (3, false)]);
    }

    #[test]
    fn with_one_frame_in_flight_a_due_clock_request_goes_at_once() {
        let mut p = Pace::default();
        assert_eq!(acks(&mut p, 1, 0.0, 2), [(1, true), (1, false)]);
        assert!(p.clock_due(100.0, 3), "fast while few samples are held");
        assert!(!p.clock_due(100.0, 20), "then every 2 s");
    }
}
