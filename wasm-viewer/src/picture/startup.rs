//! Where the page's first picture spent its time: when each step from navigation to the
//! first picture on the canvas happened, in ms since the page's navigation started. The
//! page and the worker's loader (`www/early.js`) time their own steps; the engine times
//! the broker's answers, the picture's bytes, decode and draw. `#stats` shows them
//! (`data-first-steps`) so that a slow start says which step was slow, on a user's
//! phone as in the benchmark. Plain Rust.

/// A step on the way to the first picture, in the order it usually happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The page's first script asked for the worker (`www/early.js`).
    Spawn,
    /// The page's module is running (fetched, compiled and instantiated on the page).
    Page,
    /// The page told the worker to start the engine (with the canvas and the target).
    Told,
    /// The worker's loader is running (started by the page's first script).
    Worker,
    /// The socket to the broker is open.
    Open,
    /// The worker has the module's glue (imported from the cache).
    Glue,
    /// The worker's instance of the module exists.
    Instance,
    /// The engine started (the page's start message came).
    Engine,
    /// The broker accepted the connection.
    ConnAck,
    /// The broker accepted a subscription.
    SubAck,
    /// The first picture's bytes arrived (a frame, or a preview).
    Message,
    /// Its decode started.
    Decode,
    /// It was decoded.
    Decoded,
    /// It was drawn on the canvas.
    Drawn,
}

impl Step {
    pub const ALL: [Step; 14] = [
        Step::Spawn,
        Step::Page,
        Step::Told,
        Step::Worker,
        Step::Open,
        Step::Glue,
        Step::Instance,
        Step::Engine,
        Step::ConnAck,
        Step::SubAck,
        Step::Message,
        Step::Decode,
        Step::Decoded,
        Step::Drawn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Spawn => "spawn",
            Step::Page => "page",
            Step::Told => "told",
            Step::Worker => "worker",
            Step::Open => "open",
            Step::Glue => "glue",
            Step::Instance => "instance",
            Step::Engine => "engine",
            Step::ConnAck => "connack",
            Step::SubAck => "suback",
            Step::Message => "message",
            Step::Decode => "decode",
            Step::Decoded => "decoded",
            Step::Drawn => "drawn",
        }
    }
}

/// When each step first happened (absolute ms, the clock `now_ms` reads), against the
/// page's time origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Startup {
    time_origin: f64,
    at: [Option<f64>; Step::ALL.len()],
}

impl Startup {
    pub fn new(time_origin: f64) -> Startup {
        Startup { time_origin, ..Startup::default() }
    }

    /// `step` happened at `at_ms` (absolute): only its first time counts.
    pub fn mark(&mut self, step: Step, at_ms: f64) {
        let slot = &mut self.at[step as usize];
        if slot.is_none() && at_ms.is_finite() && at_ms > 0.0 {
            *slot = Some(at_ms);
        }
    }

    /// Whether the first picture is drawn (nothing more to time).
    pub fn done(&self) -> bool {
        self.at[Step::Drawn as usize].is_some()
    }

    /// When `step` happened, in ms since navigation started, once it has.
    pub fn since_navigation(&self, step: Step) -> Option<f64> {
        self.at[step as usize].map(|at| at - self.time_origin)
    }

    /// The steps timed so far: name and ms since navigation started, in step order.
    pub fn steps(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        Step::ALL.into_iter().filter_map(|s| self.since_navigation(s).map(|ms| (s.name(), ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_time_counts_and_steps_are_relative_to_navigation() {
        let mut s = Startup::new(1_000.0);
        s.mark(Step::Drawn, 1_180.0);
        s.mark(Step::Page, 1_050.0);
        s.mark(Step::Page, 1_070.0);
        s.mark(Step::Open, f64::NAN);
        assert!(s.done());
        assert_eq!(s.steps().collect::<Vec<_>>(), vec![("page", 50.0), ("drawn", 180.0)]);
    }

    #[test]
    fn names_are_distinct() {
        for (i, a) in Step::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i, "ALL is in declaration order");
            assert!(Step::ALL[i + 1..].iter().all(|b| b.name() != a.name()));
        }
    }
}
