//! What a program on the bus found in a frame: `<prefix>/<camera>/detections`.
//!
//! Anyone with the publisher login may publish results for a camera (a person detector,
//! the edge's motion detector); the viewer draws them over the picture they belong to.
//! The payload is JSON (UTF-8), one message per frame looked at:
//!
//! ```json
//! {"sequence": 1234, "capture_us": 1764460000123456, "producer": "people",
//!  "objects": [{"label": "person", "score": 0.87, "box": [0.21, 0.30, 0.12, 0.45]}]}
//! ```
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `sequence` | integer | the frame's sequence number, from its stamp |
//! | `capture_us` | integer | the frame's capture time (µs since the UNIX epoch, edge clock), from its stamp |
//! | `producer` | string | who found it (≤ 64 characters), e.g. `people`, `motion` |
//! | `objects` | array | what was found; empty: nothing (which clears the boxes) |
//! | `objects[].label` | string | what it is (≤ 64 characters) |
//! | `objects[].score` | number | confidence, 0..1 (optional: 1) |
//! | `objects[].box` | 4 numbers | `[x, y, w, h]`: left, top, width, height as fractions of the image's width and height (0..1; the picture as sent, before the viewer rotates or mirrors it) |
//!
//! Unknown fields are ignored. [`Detections::checked`] is the one place that says what
//! is acceptable: boxes are clipped to the image, at most [`MAX_OBJECTS`] objects are
//! kept, and a message that does not fit the table is refused with a reason.

use alloc::{string::String, vec::Vec};

/// Objects kept per message: a detector gone wild must not freeze a phone's drawing.
pub const MAX_OBJECTS: usize = 100;
/// Longest `producer` and `label` kept, in characters.
pub const MAX_NAME: usize = 64;

/// One message on a camera's detections topic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detections {
    pub sequence: u64,
    pub capture_us: u64,
    pub producer: String,
    pub objects: Vec<Object>,
}

/// One thing found, in image fractions (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub label: String,
    pub score: f64,
    /// `[x, y, w, h]`, each 0..1.
    pub bbox: [f64; 4],
}

impl Detections {
    /// The message as a viewer may use it, or why not: boxes clipped to the image (one
    /// wholly outside, or with a side that is not a positive number, is dropped), scores
    /// clamped to 0..1, names cut to [`MAX_NAME`] characters, objects to [`MAX_OBJECTS`].
    pub fn checked(mut self) -> Result<Detections, &'static str> {
        if self.producer.is_empty() {
            return Err("detections without a producer");
        }
        if self.capture_us == 0 {
            return Err("detections without the frame's capture time");
        }
        cut(&mut self.producer);
        self.objects.truncate(MAX_OBJECTS);
        self.objects.retain_mut(|o| {
            cut(&mut o.label);
            o.score = if o.score.is_finite() { o.score.clamp(0.0, 1.0) } else { 0.0 };
            let [x, y, w, h] = o.bbox;
            if ![x, y, w, h].iter().all(|v| v.is_finite()) || w <= 0.0 || h <= 0.0 {
                return false;
            }
            if x >= 0.0 && y >= 0.0 && x + w <= 1.0 && y + h <= 1.0 {
                return true; // inside: as sent, not rounded
            }
            let (x0, y0) = (x.max(0.0), y.max(0.0));
            let (x1, y1) = ((x + w).min(1.0), (y + h).min(1.0));
            o.bbox = [x0, y0, x1 - x0, y1 - y0];
            x1 > x0 && y1 > y0
        });
        Ok(self)
    }
}

fn cut(s: &mut String) {
    if let Some((i, _)) = s.char_indices().nth(MAX_NAME) {
        s.truncate(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(bbox: [f64; 4]) -> Object {
        Object { label: "person".into(), score: 0.9, bbox }
    }

    fn message(objects: Vec<Object>) -> Detections {
        Detections { sequence: 7, capture_us: 1_764_460_000_000_000, producer: "people".into(), objects }
    }

    #[test]
    fn boxes_are_clipped_to_the_image_and_impossible_ones_dropped() {
        let d = message(vec![
            object([0.1, 0.2, 0.3, 0.4]),
            object([-0.1, 0.9, 0.3, 0.4]),
            object([1.2, 0.2, 0.3, 0.4]),
            object([0.1, 0.2, 0.0, 0.4]),
            object([f64::NAN, 0.2, 0.3, 0.4]),
        ])
        .checked()
        .unwrap();
        let boxes: Vec<[f64; 4]> = d.objects.iter().map(|o| o.bbox).collect();
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        assert_eq!(boxes[0], [0.1, 0.2, 0.3, 0.4]);
        let [x, y, w, h] = boxes[1];
        assert!((x, y) == (0.0, 0.9) && (w - 0.2).abs() < 1e-9 && (h - 0.1).abs() < 1e-9, "{:?}", boxes[1]);
    }

    #[test]
    fn scores_names_and_counts_are_bounded() {
        let mut big = message((0..500).map(|_| object([0.1, 0.1, 0.1, 0.1])).collect());
        big.producer = "é".repeat(100);
        big.objects[0].score = 7.0;
        let d = big.checked().unwrap();
        assert_eq!(
            (d.objects.len(), d.producer.chars().count(), d.objects[0].score),
            (MAX_OBJECTS, MAX_NAME, 1.0)
        );
    }

    #[test]
    fn a_message_without_producer_or_capture_time_is_refused() {
        assert!(Detections { producer: String::new(), ..message(vec![]) }.checked().is_err());
        assert!(Detections { capture_us: 0, ..message(vec![]) }.checked().is_err());
        assert_eq!(message(vec![]).checked().unwrap().objects, vec![], "nothing found is a message too");
    }
}
