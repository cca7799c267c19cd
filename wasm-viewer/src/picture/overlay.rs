//! The detections overlay: what programs on the bus found in the frame on screen
//! ([`crate::bus::marks`] matches results to frames), drawn as boxes and labels in each
//! producer's colour on a canvas of its own over the picture, labels upright however
//! the page turns it.

use wire::detections::Detections;

use crate::{
    bus::marks::Marks,
    picture::draw::{Mark, Surface},
};

pub struct Overlay {
    marks: Marks,
    /// The canvas over the picture (none until the page hands one over).
    surface: Option<Surface>,
    /// How the page turns the picture: degrees clockwise, mirrored.
    turn: (u32, bool),
    /// Drawn over the frame on screen: objects, and the sequence of the result they came
    /// with (per producer; the first's).
    drawn: (usize, Option<u64>),
    /// Whether the canvas holds anything: an empty one is not cleared again per frame.
    painted: bool,
}

impl Overlay {
    /// `max_age_ms`: how old a result may be, relative to the frame shown, and still be
    /// drawn over it.
    pub fn new(max_age_ms: f64) -> Overlay {
        Overlay {
            marks: Marks::new(max_age_ms),
            surface: None,
            turn: (0, false),
            drawn: (0, None),
            painted: false,
        }
    }

    pub fn set_surface(&mut self, surface: Surface) {
        self.surface = Some(surface);
    }

    /// How the page turns the picture: labels are drawn to read upright.
    pub fn set_turn(&mut self, degrees: u32, mirror: bool) {
        self.turn = (degrees % 360, mirror);
    }

    /// Another camera: nothing of the last one applies.
    pub fn clear(&mut self) {
        self.marks.clear();
    }

    /// A result arrived, `lag_ms` after its frame's capture.
    pub fn add(&mut self, d: Detections, lag_ms: f64) {
        self.marks.add(d, lag_ms);
    }

    /// Draws what the bus found in the frame `sequence` captured at `capture_us`, a
    /// `width`×`height` picture (nothing, if nothing applies).
    pub fn draw(&mut self, width: u32, height: u32, sequence: u64, capture_us: u64) {
        let found = self.marks.for_frame(sequence, capture_us);
        self.drawn = (found.iter().map(|d| d.objects.len()).sum(), found.first().map(|d| d.sequence));
        let Some(surface) = &self.surface else { return };
        let marks: Vec<Mark> = found
            .iter()
            .flat_map(|d| {
                let colour = producer_colour(&d.producer);
                d.objects.iter().map(move |o| Mark {
                    bbox: o.bbox,
                    label: format!("{} {}%", o.label, (o.score * 100.0).round() as u32),
                    colour,
                })
            })
            .collect();
        if marks.is_empty() && !self.painted {
            return;
        }
        surface.draw_marks(width.max(1), height.max(1), &marks, self.turn.0, self.turn.1);
        self.painted = !marks.is_empty();
    }

    /// Objects drawn over the frame on screen, and the sequence of their result.
    pub fn drawn(&self) -> (usize, Option<u64>) {
        self.drawn
    }

    /// The producers heard from, comma-separated.
    pub fn producers(&self) -> String {
        self.marks.producers()
    }

    /// The largest lag of the producers heard from (ms).
    pub fn lag_ms(&self) -> Option<f64> {
        self.marks.lag_ms()
    }
}

/// A producer's colour: the same on every page, distinct for a few producers.
fn producer_colour(producer: &str) -> &'static str {
    const COLOURS: [&str; 6] = ["#ffd400", "#00e5ff", "#ff4fd8", "#7cff4f", "#ff8a00", "#b28cff"];
    let hash = producer.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    COLOURS[hash as usize % COLOURS.len()]
}
