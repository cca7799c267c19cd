//! Detections from programs on the bus (`wire::detections`), matched to the frames they
//! belong to. I/O-free.
//!
//! A detector works on a frame after the viewer drew it, so its result usually arrives
//! a frame or more late. Per producer, a frame shows the result for its own sequence
//! number if one is here, else the newest result for an earlier frame, as long as that
//! frame was captured at most `max_age_ms` before this one (boxes follow a moving person
//! a little behind rather than blink); older, nothing. A result that arrives for the
//! frame on screen is drawn at once.

use std::collections::VecDeque;

use wire::detections::Detections;

/// Results kept per producer: a second of them at 30 fps.
const KEPT: usize = 32;
/// Producers kept per camera (the oldest heard from goes).
const PRODUCERS: usize = 8;
/// How old a result may be, relative to the frame shown, and still be drawn over it.
pub const DEFAULT_MAX_AGE_MS: f64 = 1000.0;

#[derive(Debug)]
pub struct Marks {
    max_age_us: u64,
    producers: Vec<Producer>,
}

#[derive(Debug)]
struct Producer {
    name: String,
    results: VecDeque<Detections>,
    /// Its last result's arrival after its frame's capture (ms, viewer clock).
    lag_ms: Option<f64>,
}

impl Marks {
    pub fn new(max_age_ms: f64) -> Marks {
        Marks { max_age_us: (max_age_ms.max(0.0) * 1000.0) as u64, producers: Vec::new() }
    }

    /// Another camera: nothing of the last one applies.
    pub fn clear(&mut self) {
        self.producers.clear();
    }

    /// A result arrived; `lag_ms`: how long after its frame's capture (the caller has
    /// the clocks). Results come in any order; the newest per frame wins.
    pub fn add(&mut self, d: Detections, lag_ms: f64) {
        let i = match self.producers.iter().position(|p| p.name == d.producer) {
            Some(i) => i,
            None => {
                if self.producers.len() == PRODUCERS {
                    self.producers.remove(0);
                }
                let name = d.producer.clone();
                self.producers.push(Producer { name, results: VecDeque::new(), lag_ms: None });
                self.producers.len() - 1
            }
        };
        let p = &mut self.producers[i];
        p.lag_ms = Some(lag_ms);
        p.results.retain(|r| r.sequence != d.sequence || r.capture_us != d.capture_us);
        let at = p.results.iter().position(|r| r.capture_us > d.capture_us).unwrap_or(p.results.len());
        p.results.insert(at, d);
        if p.results.len() > KEPT {
            p.results.pop_front();
        }
    }

    /// What to draw over the frame `sequence` captured at `capture_us`: per producer,
    /// its result for that frame, else its newest for an earlier one not too old.
    pub fn for_frame(&self, sequence: u64, capture_us: u64) -> Vec<&Detections> {
        self.producers
            .iter()
            .filter_map(|p| {
                let exact =
                    p.results.iter().rev().find(|r| r.sequence == sequence && r.capture_us == capture_us);
                exact.or_else(|| {
                    p.results
                        .iter()
                        .rev()
                        .find(|r| r.capture_us < capture_us && capture_us - r.capture_us <= self.max_age_us)
                })
            })
            .collect()
    }

    /// The largest lag of the producers heard from (ms), for `#stats`.
    pub fn lag_ms(&self) -> Option<f64> {
        self.producers.iter().filter_map(|p| p.lag_ms).reduce(f64::max)
    }

    /// The producers heard from, comma-separated.
    pub fn producers(&self) -> String {
        self.producers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::detections::Object;

    const T0: u64 = 1_764_460_000_000_000;

    /// Frame `n` of a 30 fps camera, and a result for it from `producer`.
    fn result(producer: &str, n: u64) -> Detections {
        let o = Object { label: "person".into(), score: 0.9, bbox: [0.1, 0.1, 0.2, 0.2] };
        Detections { sequence: n, capture_us: T0 + n * 33_333, producer: producer.into(), objects: vec![o] }
    }

    fn frame(n: u64) -> (u64, u64) {
        (n, T0 + n * 33_333)
    }

    #[test]
    fn a_frame_shows_its_own_result_else_the_newest_recent_one_else_nothing() {
        let mut m = Marks::new(200.0);
        m.add(result("people", 10), 80.0);
        m.add(result("people", 12), 80.0);
        let seqs = |n| {
            let (s, c) = frame(n);
            m.for_frame(s, c).iter().map(|d| d.sequence).collect::<Vec<_>>()
        };
        assert_eq!(seqs(10), [10], "its own");
        assert_eq!(seqs(11), [10], "the one before, 33 ms old");
        assert_eq!(seqs(15), [12], "the newest before it");
        assert_eq!(seqs(18), [12], "200 ms old: still");
        assert_eq!(seqs(19), Vec::<u64>::new(), "233 ms old: too old");
        assert_eq!(seqs(9), Vec::<u64>::new(), "nothing from the future");
    }

    #[test]
    fn producers_are_matched_apart_and_a_late_result_counts_for_its_frame() {
        let mut m = Marks::new(1000.0);
        m.add(result("motion", 20), 5.0);
        m.add(result("people", 18), 150.0);
        // Late, out of order: 17 arrives after 18.
        m.add(result("people", 17), 190.0);
        let (s, c) = frame(20);
        let mut got: Vec<(String, u64)> =
            m.for_frame(s, c).iter().map(|d| (d.producer.clone(), d.sequence)).collect();
        got.sort();
        assert_eq!(got, [("motion".to_string(), 20), ("people".to_string(), 18)]);
        let (s, c) = frame(17);
        assert_eq!(m.for_frame(s, c).iter().map(|d| d.sequence).collect::<Vec<_>>(), [17]);
        assert_eq!(m.lag_ms(), Some(190.0));
        assert_eq!(m.producers(), "motion,people");
        m.clear();
        assert!(m.for_frame(s, c).is_empty());
    }

    #[test]
    fn an_empty_result_clears_the_boxes_and_memory_stays_bounded() {
        let mut m = Marks::new(1000.0);
        m.add(result("people", 1), 50.0);
        m.add(Detections { objects: vec![], ..result("people", 2) }, 50.0);
        let (s, c) = frame(3);
        assert!(m.for_frame(s, c)[0].objects.is_empty(), "nothing found since");
        for n in 0..1000 {
            m.add(result(&format!("p{}", n % 20), n), 1.0);
        }
        assert!(m.producers.len() <= PRODUCERS && m.producers.iter().all(|p| p.results.len() <= KEPT));
    }
}
