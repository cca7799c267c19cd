//! Motion detection: is something moving in a camera's picture, and where?
//!
//! The edge already makes each camera's preview (at most 320 px wide, a few pictures a
//! second) from 4:2:0 planes, so motion detection reads the preview's **luma plane**:
//! about 60 000 bytes a picture, a few times a second, whatever the camera's own size.
//! That keeps it far below a millisecond a picture on a small board, and a camera
//! without a preview has no motion detection.
//!
//! How a picture is judged ([`Motion::feed`]):
//! 1. It is averaged down to a grid of [`CELL`]×[`CELL`]-pixel cells. Averaging 64
//!    pixels divides sensor noise and JPEG ringing by eight, and the grid is small
//!    (40×23 cells at 320×180), so the rest costs next to nothing.
//! 2. Each cell is compared with a **background**: what that cell usually looks like,
//!    learnt over about [`LEARN`] and updated every picture. A parked car or a door
//!    left open becomes background within a minute; a person walking past does not.
//! 3. The picture's **overall change** (the median of all cells' differences) is taken
//!    out first, so auto-exposure steps, clouds and dusk move no cell on their own.
//! 4. A cell has **changed** when its difference is more than the threshold the
//!    sensitivity gives ([`MotionConfig::threshold`]), **it or a neighbour also differs
//!    that much from the previous picture** (the overall change between the two taken
//!    out too), it is inside a watched zone (when zones are given) and not inside an
//!    ignored one.
//!    The second test is what makes it *motion*: a picture sliding slowly sideways (the
//!    test pattern's scrolling texture, a camera panning slowly) leaves the background
//!    behind everywhere, but changes little from one picture to the next; something
//!    moving changes the cells at its edges every picture.
//!    A changed cell with no changed neighbour is dropped as a speck (noise, a moth).
//! 5. When the changed cells cover at least `min_area` of the picture, the picture
//!    **moves**, and [`Seen::bbox`] is their bounding box.
//!
//! Motion is **raised** by the first picture that moves and **cleared** only once no
//! picture has moved for `hold` (10 s by default), so someone stopping for a moment does
//! not end it and start it again ([`Event`]).
//!
//! Everything here is pure: no clock (each picture comes with its time), no I/O. The
//! payloads for the bus are built here too: [`alarm_json`] for `<prefix>/<camera>/alarm`
//! and [`Seen::detections_json`] for `<prefix>/<camera>/detections` (producer and label
//! `motion`, the format of `wire::detections`).

use std::{fmt, str::FromStr, time::Duration};

use serde::Serialize;

/// The side of a grid cell in pixels. 8 is the JPEG block size: the preview's own
/// compression noise averages out within a cell instead of straddling two.
pub const CELL: usize = 8;

/// How long a lasting change takes to become background (the time constant of the
/// background's average). Long enough that someone walking across a room is never
/// learnt; short enough that a light switched on is forgotten within a minute.
pub const LEARN: Duration = Duration::from_secs(10);

/// A cell that changed learns this many times slower, so that someone who stood still
/// for a while leaves a fainter "ghost" where they stood when they walk on. A strong
/// lasting change (a car parked in view) still stops counting within about a minute.
const CHANGED_LEARNS_SLOWER: f32 = 2.0;

/// After a gap this long between pictures (the camera was offline, the edge
/// suspended) the background is stale: it is learnt again from the next picture.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Pictures smaller than this on either side are ignored: there are too few cells to
/// tell something moving from noise.
pub const MIN_SIDE: usize = 2 * CELL;

/// What motion detection is told to look for. `Default` is what a user would start
/// with; [`MotionConfig::check`] says what is wrong with one given by a user.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionConfig {
    /// 1..=100: how small a change of brightness counts (higher sees smaller changes).
    /// See [`MotionConfig::threshold`].
    pub sensitivity: u8,
    /// The smallest moving area that counts, as a fraction of the picture (0.01: 1 %).
    pub min_area: f64,
    /// How long the picture must stay still before motion is cleared.
    pub hold: Duration,
    /// The parts of the picture watched (a door, a driveway); none: all of it.
    pub zones: Vec<Zone>,
    /// Parts of the picture where nothing counts (a road, a tree, a TV), also inside a
    /// watched zone.
    pub ignore: Vec<Zone>,
}

impl Default for MotionConfig {
    fn default() -> Self {
        // 50 gives a threshold of 15 levels of a cell's mean brightness: a person in
        // ordinary light differs from a wall by 30 or more, and noise averaged over a
        // cell stays within a few levels. 1 % of a 320x180 preview is 9 cells: a person
        // across a room, not a leaf. 10 s is what home cameras commonly hold an event.
        MotionConfig {
            sensitivity: 50,
            min_area: 0.01,
            hold: Duration::from_secs(10),
            zones: Vec::new(),
            ignore: Vec::new(),
        }
    }
}

impl MotionConfig {
    /// The change of a cell's mean brightness (0..255 levels) that counts as motion:
    /// 3 + 0.24 × (100 − sensitivity). 15 at the default 50; 3 at 100 (just above what
    /// averaged noise reaches); 27 at 1 (only strong contrast).
    pub fn threshold(&self) -> f32 {
        let s = f32::from(self.sensitivity.clamp(1, 100));
        3.0 + 0.24 * (100.0 - s)
    }

    /// Whether the configuration can be used, or what to change.
    pub fn check(&self) -> Result<(), MotionConfigError> {
        if !(1..=100).contains(&self.sensitivity) {
            return Err(MotionConfigError::Sensitivity(self.sensitivity));
        }
        if !(self.min_area > 0.0 && self.min_area <= 1.0) {
            return Err(MotionConfigError::MinArea(self.min_area));
        }
        if self.hold.is_zero() {
            return Err(MotionConfigError::Hold);
        }
        for zone in self.zones.iter().chain(&self.ignore) {
            zone.check().map_err(MotionConfigError::Zone)?;
        }
        Ok(())
    }
}

/// Why a [`MotionConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MotionConfigError {
    #[error("motion sensitivity is 1 to 100 (higher sees smaller changes), not {0}")]
    Sensitivity(u8),
    #[error(
        "the smallest moving area is a fraction of the picture above 0 and at most 1 \
         (0.01 is 1 %), not {0}"
    )]
    MinArea(f64),
    #[error("the motion hold time must be more than 0 s (motion would end with every still picture)")]
    Hold,
    #[error(transparent)]
    Zone(ZoneError),
}

/// A rectangle of the picture, in fractions of its width and height: `x`, `y` its
/// top-left corner, `w`, `h` its size (the `box` of `wire::detections`). Written
/// `x,y,w,h`, e.g. `0,0.8,1,0.2` for the bottom fifth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zone {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A little slack when checking that a zone fits, for fractions written with few
/// decimals (`0.333,0,0.667,1` is the right two thirds).
const FIT: f64 = 1e-3;

impl Zone {
    /// Whether the zone lies within the picture and covers some of it.
    pub fn check(&self) -> Result<(), ZoneError> {
        let text = self.to_string();
        for v in [self.x, self.y, self.w, self.h] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ZoneError::OutOfRange { zone: text, value: v });
            }
        }
        if self.w <= 0.0 || self.h <= 0.0 {
            return Err(ZoneError::Empty(text));
        }
        if self.x + self.w > 1.0 + FIT || self.y + self.h > 1.0 + FIT {
            return Err(ZoneError::PastEdge(text));
        }
        Ok(())
    }

    fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.w, self.h)
    }
}

impl FromStr for Zone {
    type Err = ZoneError;

    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [x, y, w, h] = parts[..] else {
            return Err(ZoneError::Count { zone: s.to_string(), count: parts.len() });
        };
        let number = |v: &str| match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(ZoneError::NotANumber { zone: s.to_string(), value: v.to_string() }),
        };
        let zone = Zone { x: number(x)?, y: number(y)?, w: number(w)?, h: number(h)? };
        zone.check()?;
        Ok(zone)
    }
}

/// Why a zone cannot be used. Each message quotes the zone as the user wrote it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    #[error(
        "zone {zone:?}: a zone is four fractions of the picture, X,Y,W,H (left, top, width, \
         height; 0,0.8,1,0.2 is the bottom fifth), not {count} value(s)"
    )]
    Count { zone: String, count: usize },
    #[error("zone {zone:?}: {value:?} is not a number (X,Y,W,H are fractions such as 0.25)")]
    NotANumber { zone: String, value: String },
    #[error(
        "zone {zone:?}: {value} is outside 0..1 (X,Y,W,H are fractions of the picture's \
         width and height, not pixels)"
    )]
    OutOfRange { zone: String, value: f64 },
    #[error("zone {0:?} has no area: its width and height (the 3rd and 4th values) must be more than 0")]
    Empty(String),
    #[error("zone {0:?} reaches past the picture: X+W and Y+H must be at most 1")]
    PastEdge(String),
}

/// A change of the motion state, for the alarm topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Motion started with this picture.
    Raised,
    /// No picture has moved for the hold time.
    Cleared,
}

/// What one picture showed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seen {
    /// The fraction of the picture that changed (0..1), even when below `min_area`:
    /// the number to look at when tuning the sensitivity.
    pub area: f64,
    /// While this picture moves: the box around what changed, `[x, y, w, h]` in
    /// fractions of the picture (as in `wire::detections`).
    pub bbox: Option<[f64; 4]>,
    /// Whether motion is on after this picture (raised, and not yet held off).
    pub active: bool,
    /// The change this picture made, if any.
    pub event: Option<Event>,
}

impl Seen {
    /// Whether this picture moved (`area` reached `min_area`).
    pub fn moving(&self) -> bool {
        self.bbox.is_some()
    }

    /// The message for `<prefix>/<camera>/detections` about the frame this picture was
    /// made from (its `sequence` and `capture_us`, from the frame's stamp): one object
    /// `motion` with the moving box and, as its score, the fraction of the picture that
    /// moves; no object when the picture is still (which clears the viewer's box).
    pub fn detections_json(&self, sequence: u64, capture_us: u64) -> String {
        let objects = match self.bbox {
            Some(bbox) => vec![Object { label: PRODUCER, score: round4(self.area), bbox: bbox.map(round4) }],
            None => Vec::new(),
        };
        let message = Detections { sequence, capture_us, producer: PRODUCER, objects };
        serde_json::to_string(&message).expect("numbers and strings always serialise")
    }
}

/// The `producer` of motion detections, the `label` of its one object and the `reason`
/// and `source` of its alarms.
pub const PRODUCER: &str = "motion";

#[derive(Serialize)]
struct Detections {
    sequence: u64,
    capture_us: u64,
    producer: &'static str,
    objects: Vec<Object>,
}

#[derive(Serialize)]
struct Object {
    label: &'static str,
    score: f64,
    #[serde(rename = "box")]
    bbox: [f64; 4],
}

#[derive(Serialize)]
struct Alarm {
    active: bool,
    reason: &'static str,
    at_us: u64,
    source: &'static str,
}

/// The message for `<prefix>/<camera>/alarm` when motion is raised (`active`) or
/// cleared, at `at_us` (µs since the UNIX epoch, edge clock): retained while active.
pub fn alarm_json(active: bool, at_us: u64) -> String {
    let alarm = Alarm { active, reason: PRODUCER, at_us, source: PRODUCER };
    serde_json::to_string(&alarm).expect("numbers and strings always serialise")
}

/// Fractions sent with four decimals (a tenth of a pixel at 1000 px): shorter
/// messages, and the same text for the same box.
fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// One camera's motion detector: feed it every preview's luma plane.
pub struct Motion {
    config: MotionConfig,
    threshold: f32,
    /// The grid of the pictures seen so far; `None` before the first, or after a reset.
    grid: Option<Grid>,
    /// Scratch, kept between pictures so a picture allocates nothing.
    means: Vec<f32>,
    sums: Vec<u32>,
    differences: Vec<f32>,
    stepped: Vec<bool>,
    changed: Vec<bool>,
    /// When the previous picture was taken.
    last_us: Option<u64>,
    active: bool,
    /// When a picture last moved (meaningful while `active`).
    moved_us: u64,
}

/// The cells of one picture size.
struct Grid {
    width: usize,
    height: usize,
    cols: usize,
    rows: usize,
    /// Per cell: outside every watched zone, or inside an ignored one.
    ignored: Vec<bool>,
    /// Per cell: its background brightness.
    background: Vec<f32>,
    /// Per cell: its brightness in the previous picture.
    previous: Vec<f32>,
}

impl Grid {
    fn new(width: usize, height: usize, zones: &[Zone], ignore: &[Zone]) -> Grid {
        let cols = width.div_ceil(CELL);
        let rows = height.div_ceil(CELL);
        // A cell is ignored when its centre is inside a zone: a zone covering half of a
        // cell decides for that cell either way, never for both neighbours.
        let ignored = (0..rows * cols)
            .map(|i| {
                let (r, c) = (i / cols, i % cols);
                let x = (c * CELL) as f64 + (CELL.min(width - c * CELL) as f64) / 2.0;
                let y = (r * CELL) as f64 + (CELL.min(height - r * CELL) as f64) / 2.0;
                let (fx, fy) = (x / width as f64, y / height as f64);
                let watched = zones.is_empty() || zones.iter().any(|z| z.contains(fx, fy));
                !watched || ignore.iter().any(|z| z.contains(fx, fy))
            })
            .collect();
        Grid { width, height, cols, rows, ignored, background: Vec::new(), previous: Vec::new() }
    }

    /// The pixels of cell `(r, c)`: its box `[x0, y0, x1, y1)`.
    fn cell_box(&self, r: usize, c: usize) -> [usize; 4] {
        let (x0, y0) = (c * CELL, r * CELL);
        [x0, y0, (x0 + CELL).min(self.width), (y0 + CELL).min(self.height)]
    }
}

impl Motion {
    /// A detector for one camera, or what is wrong with `config`.
    pub fn new(config: MotionConfig) -> Result<Motion, MotionConfigError> {
        config.check()?;
        Ok(Motion {
            threshold: config.threshold(),
            config,
            grid: None,
            means: Vec::new(),
            sums: Vec::new(),
            differences: Vec::new(),
            stepped: Vec::new(),
            changed: Vec::new(),
            last_us: None,
            active: false,
            moved_us: 0,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &MotionConfig {
        &self.config
    }

    /// Whether motion is on (raised and not yet cleared).
    pub fn active(&self) -> bool {
        self.active
    }

    /// Judges one picture: `luma` holds `height` rows of `width` brightness bytes, each
    /// row starting `stride` bytes after the previous one; `at_us` is when it was taken
    /// (µs; the frame's capture time). A clock that steps back restarts the hold.
    ///
    /// The first picture, and the first after a change of size or a gap of
    /// [`STALE_AFTER`], only teaches the background: it never moves. A picture that
    /// cannot be read (empty, smaller than [`MIN_SIDE`], `stride` < `width`, `luma` too
    /// short) is judged still, so motion still clears after the hold time.
    pub fn feed(&mut self, luma: &[u8], width: usize, height: usize, stride: usize, at_us: u64) -> Seen {
        let dt = self.elapsed(at_us);
        let needed = stride.checked_mul(height.saturating_sub(1)).and_then(|n| n.checked_add(width));
        let readable = width >= MIN_SIDE
            && height >= MIN_SIDE
            && stride >= width
            && needed.is_some_and(|n| luma.len() >= n);
        let (area, bbox) = if readable { self.look(luma, width, height, stride, dt) } else { (0.0, None) };
        let event = self.hold(bbox.is_some(), at_us);
        Seen { area, bbox, active: self.active, event }
    }

    /// The time since the previous picture, and what a jump of the clock does: a step
    /// back restarts the hold from now (it must not keep motion on until the clock
    /// catches up), a long gap makes the background stale.
    fn elapsed(&mut self, at_us: u64) -> Duration {
        let dt = match self.last_us {
            Some(last) if at_us < last => {
                self.moved_us = self.moved_us.min(at_us);
                Duration::ZERO
            }
            Some(last) => Duration::from_micros(at_us - last),
            None => Duration::ZERO,
        };
        self.last_us = Some(at_us);
        if dt >= STALE_AFTER {
            self.grid = None;
        }
        dt
    }

    /// Raises on the first picture that moves; clears after `hold` without one.
    fn hold(&mut self, moving: bool, at_us: u64) -> Option<Event> {
        if moving {
            self.moved_us = at_us;
            if !self.active {
                self.active = true;
                return Some(Event::Raised);
            }
        } else if self.active && at_us.saturating_sub(self.moved_us) >= self.config.hold.as_micros() as u64 {
            self.active = false;
            return Some(Event::Cleared);
        }
        None
    }

    /// The changed area and, if it is enough, the moving box; learns the background.
    fn look(
        &mut self,
        luma: &[u8],
        width: usize,
        height: usize,
        stride: usize,
        dt: Duration,
    ) -> (f64, Option<[f64; 4]>) {
        if self.grid.as_ref().is_none_or(|g| (g.width, g.height) != (width, height)) {
            self.grid = Some(Grid::new(width, height, &self.config.zones, &self.config.ignore));
        }
        let grid = self.grid.as_mut().expect("set just above");
        cell_means(luma, width, height, stride, grid.cols, &mut self.sums, &mut self.means);
        if grid.background.is_empty() {
            grid.background.clone_from(&self.means);
            grid.previous.clone_from(&self.means);
            return (0.0, None);
        }

        // The overall change: the median difference of the cells that count. A median,
        // not a mean, so that something large moving does not shift it. The same
        // against the previous picture.
        let overall = median_difference(&self.means, &grid.background, &grid.ignored, &mut self.differences);
        let overall_step =
            median_difference(&self.means, &grid.previous, &grid.ignored, &mut self.differences);

        let threshold = self.threshold;
        // Cells that changed since the previous picture: where something moves now.
        self.stepped.clear();
        self.stepped.extend(
            self.means
                .iter()
                .zip(&grid.previous)
                .zip(&grid.ignored)
                .map(|((m, p), &ignored)| !ignored && (m - p - overall_step).abs() > threshold),
        );
        let (cols, rows) = (grid.cols, grid.rows);
        self.changed.clear();
        for (i, ((m, b), &ignored)) in self.means.iter().zip(&grid.background).zip(&grid.ignored).enumerate()
        {
            let near_a_step =
                self.stepped[i] || has_changed_neighbour(&self.stepped, cols, rows, i / cols, i % cols);
            self.changed.push(!ignored && near_a_step && (m - b - overall).abs() > threshold);
        }
        grid.previous.clone_from(&self.means);

        // Count the changed cells that have a changed neighbour; box them.
        let mut moved_pixels = 0usize;
        let mut bounds = [usize::MAX, usize::MAX, 0, 0];
        for r in 0..rows {
            for c in 0..cols {
                if !self.changed[r * cols + c] || !has_changed_neighbour(&self.changed, cols, rows, r, c) {
                    continue;
                }
                let [x0, y0, x1, y1] = grid.cell_box(r, c);
                moved_pixels += (x1 - x0) * (y1 - y0);
                bounds = [bounds[0].min(x0), bounds[1].min(y0), bounds[2].max(x1), bounds[3].max(y1)];
            }
        }

        // Learn: exponential averages with time constant LEARN (slower where changed),
        // so the result does not depend on the preview's frame rate.
        let rate = 1.0 - (-dt.as_secs_f32() / LEARN.as_secs_f32()).exp();
        let slow = rate / CHANGED_LEARNS_SLOWER;
        for ((b, &m), &changed) in grid.background.iter_mut().zip(&self.means).zip(&self.changed) {
            *b += (m - *b) * if changed { slow } else { rate };
        }

        let (w, h) = (width as f64, height as f64);
        let area = moved_pixels as f64 / (w * h);
        let bbox = (moved_pixels > 0 && area >= self.config.min_area).then(|| {
            let [x0, y0, x1, y1] = bounds.map(|v| v as f64);
            [x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h]
        });
        (area, bbox)
    }
}

/// The median of `means - reference` over the cells not ignored (0 if none);
/// `scratch` is reused.
fn median_difference(means: &[f32], reference: &[f32], ignored: &[bool], scratch: &mut Vec<f32>) -> f32 {
    scratch.clear();
    scratch.extend(means.iter().zip(reference).zip(ignored).filter(|(_, &i)| !i).map(|((m, r), _)| m - r));
    if scratch.is_empty() {
        return 0.0;
    }
    let mid = scratch.len() / 2;
    *scratch.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// Each cell's mean brightness into `means`, row-major; `sums` is scratch.
fn cell_means(
    luma: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    cols: usize,
    sums: &mut Vec<u32>,
    means: &mut Vec<f32>,
) {
    means.clear();
    for y0 in (0..height).step_by(CELL) {
        let y1 = (y0 + CELL).min(height);
        sums.clear();
        sums.resize(cols, 0);
        for y in y0..y1 {
            let row = &luma[y * stride..y * stride + width];
            for (sum, block) in sums.iter_mut().zip(row.chunks(CELL)) {
                *sum += block.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        for (c, &sum) in sums.iter().enumerate() {
            let pixels = (CELL.min(width - c * CELL) * (y1 - y0)) as f32;
            means.push(sum as f32 / pixels);
        }
    }
}

fn has_changed_neighbour(changed: &[bool], cols: usize, rows: usize, r: usize, c: usize) -> bool {
    let rs = r.saturating_sub(1)..=(r + 1).min(rows - 1);
    rs.flat_map(|rr| (c.saturating_sub(1)..=(c + 1).min(cols - 1)).map(move |cc| (rr, cc)))
        .any(|(rr, cc)| (rr, cc) != (r, c) && changed[rr * cols + cc])
}

/// A synthetic preview luma plane, `width`×`height` with no padding, for benches and
/// tests: a diagonal gradient with ±6 levels of noise (different in each picture), and
/// a bright square a tenth of the width moving right by 2 % of the width per picture.
/// `index` is the picture's number.
///
/// The pipeline bench can time [`Motion::feed`] on these (this module reads no clock):
/// make the pictures first, then time only the detector.
pub fn synthetic_luma(width: usize, height: usize, index: usize) -> Vec<u8> {
    synthetic(width, height, index, index)
}

/// [`synthetic_luma`]'s picture `index` with the square where it is in picture `square`.
fn synthetic(width: usize, height: usize, index: usize, square: usize) -> Vec<u8> {
    let side = (width / 10).max(1);
    let left = (square * width / 50) % width.max(1);
    let top = height / 3;
    let mut seed = (index as u32).wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            // xorshift: cheap, deterministic noise.
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 13) as i32 - 6;
            let base = 40 + (x * 100 / width.max(1)) as i32 + (y * 60 / height.max(1)) as i32;
            let square = (x >= left && x < left + side && y >= top && y < top + side) as i32 * 120;
            out.push((base + square + noise).clamp(0, 255) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 320;
    const H: usize = 180;
    /// Four pictures a second, as a preview gives.
    const STEP_US: u64 = 250_000;

    fn detector() -> Motion {
        Motion::new(MotionConfig::default()).unwrap()
    }

    /// A flat grey picture with a pattern so cells are not all alike.
    fn scene() -> Vec<u8> {
        (0..W * H).map(|i| (60 + (i % W) / 4 + (i / W) / 3) as u8).collect()
    }

    /// `picture` with a bright square of `side` pixels at `(x, y)`.
    fn with_square(mut picture: Vec<u8>, x: usize, y: usize, side: usize) -> Vec<u8> {
        for row in y..y + side {
            picture[row * W + x..row * W + x + side].fill(250);
        }
        picture
    }

    /// Feeds `pictures` a step apart from `start_us`, returning what each showed.
    fn run(m: &mut Motion, pictures: impl IntoIterator<Item = Vec<u8>>, start_us: u64) -> Vec<Seen> {
        pictures
            .into_iter()
            .enumerate()
            .map(|(i, p)| m.feed(&p, W, H, W, start_us + i as u64 * STEP_US))
            .collect()
    }

    #[test]
    fn a_still_scene_never_moves() {
        let mut m = detector();
        let seen = run(&mut m, (0..40).map(|_| scene()), 0);
        assert!(seen.iter().all(|s| s.area == 0.0 && s.bbox.is_none() && s.event.is_none()), "{seen:?}");
    }

    #[test]
    fn the_first_picture_only_teaches_the_background() {
        let mut m = detector();
        let first = m.feed(&with_square(scene(), 100, 60, 40), W, H, W, 0);
        assert_eq!(first, Seen::default());
    }

    #[test]
    fn a_moving_bright_square_raises_with_a_box_around_it() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        let seen = m.feed(&with_square(scene(), 100, 60, 40), W, H, W, STEP_US);
        assert_eq!(seen.event, Some(Event::Raised));
        assert!(seen.active);
        let [x, y, w, h] = seen.bbox.expect("a box");
        // The square is 100..140 x 60..100: the box is the cells around it.
        let px = |f: f64, side: usize| f * side as f64;
        assert!(px(x, W) <= 100.0 && px(x + w, W) >= 140.0, "{:?}", seen.bbox);
        assert!(px(y, H) <= 60.0 && px(y + h, H) >= 100.0, "{:?}", seen.bbox);
        assert!(px(w, W) <= 56.0 && px(h, H) <= 56.0, "at most a cell more on each side: {:?}", seen.bbox);
        assert!((seen.area - 1600.0 / (W * H) as f64).abs() < 0.02, "{}", seen.area);

        // Moving on, it stays raised (no second event) and the box follows it.
        let next = m.feed(&with_square(scene(), 160, 60, 40), W, H, W, 2 * STEP_US);
        assert_eq!(next.event, None);
        assert!(next.active && next.bbox.unwrap()[0] > x, "{next:?}");
    }

    #[test]
    fn noise_of_twenty_levels_everywhere_does_not_move() {
        let mut m = detector();
        let mut seed = 7u32;
        let pictures = (0..60).map(|_| {
            scene()
                .into_iter()
                .map(|v| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (i32::from(v) + (seed >> 16) as i32 % 41 - 20).clamp(0, 255) as u8
                })
                .collect::<Vec<u8>>()
        });
        let seen = run(&mut m, pictures, 0);
        assert!(seen.iter().all(|s| s.bbox.is_none() && !s.active), "{:?}", seen.iter().find(|s| s.active));
    }

    #[test]
    fn a_slow_drift_of_overall_brightness_does_not_move() {
        // Dusk or auto-exposure: 40 levels darker over 10 s, then a sudden step of 20.
        let mut m = detector();
        let darker = |by: u8| scene().into_iter().map(|v| v - by).collect::<Vec<u8>>();
        let seen = run(&mut m, (0..40).map(|i| darker(i as u8)).chain([darker(60)]), 0);
        assert!(seen.iter().all(|s| s.bbox.is_none() && !s.active), "{:?}", seen.iter().find(|s| s.active));
    }

    #[test]
    fn motion_only_inside_an_ignored_zone_does_not_count() {
        let zone: Zone = "0.25,0.25,0.5,0.5".parse().unwrap();
        let mut m = Motion::new(MotionConfig { ignore: vec![zone], ..MotionConfig::default() }).unwrap();
        m.feed(&scene(), W, H, W, 0);
        let inside = m.feed(&with_square(scene(), 120, 60, 48), W, H, W, STEP_US);
        assert!(inside.bbox.is_none() && inside.area == 0.0 && !inside.active, "{inside:?}");
        // The same square outside the zone does.
        let outside = m.feed(&with_square(scene(), 8, 8, 48), W, H, W, 2 * STEP_US);
        assert_eq!(outside.event, Some(Event::Raised));
    }

    #[test]
    fn with_watched_zones_only_motion_inside_them_counts() {
        let zone: Zone = "0.5,0,0.5,1".parse().unwrap();
        let mut m = Motion::new(MotionConfig { zones: vec![zone], ..MotionConfig::default() }).unwrap();
        m.feed(&scene(), W, H, W, 0);
        let left = m.feed(&with_square(scene(), 16, 60, 48), W, H, W, STEP_US);
        assert!(left.bbox.is_none() && !left.active, "{left:?}");
        let right = m.feed(&with_square(scene(), 220, 60, 48), W, H, W, 2 * STEP_US);
        assert_eq!(right.event, Some(Event::Raised));
        let [x, ..] = right.bbox.unwrap();
        assert!(x >= 0.5, "the box is inside the watched half: {x}");
    }

    #[test]
    fn motion_clears_only_after_the_hold_time_without_motion() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        assert_eq!(m.feed(&with_square(scene(), 100, 60, 40), W, H, W, 1_000_000).event, Some(Event::Raised));
        // Still from 1.25 s on: nothing until 10 s after the last moving picture (1 s).
        let mut cleared = None;
        for i in 1..60u64 {
            let at = 1_000_000 + i * STEP_US;
            let seen = m.feed(&scene(), W, H, W, at);
            assert!(seen.bbox.is_none());
            if seen.event == Some(Event::Cleared) {
                cleared = Some(at);
                break;
            }
            assert!(seen.active, "cleared early at {at} µs");
        }
        assert_eq!(cleared, Some(11_000_000));
        assert!(!m.active());
    }

    #[test]
    fn a_pause_shorter_than_the_hold_does_not_clear() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        let mut events = Vec::new();
        let mut at = 0;
        // Moving for 2 s, still for 8 s, moving again for 2 s, then still for good.
        for (moving, seconds) in [(true, 2), (false, 8), (true, 2), (false, 20)] {
            for i in 0..seconds * 4 {
                at += STEP_US;
                let picture = if moving { with_square(scene(), 20 + (i * 8) % 240, 60, 40) } else { scene() };
                events.extend(m.feed(&picture, W, H, W, at).event.map(|e| (e, at)));
            }
        }
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], (Event::Raised, STEP_US));
        // Cleared 10 s after the last moving picture (at 12 s).
        assert_eq!(events[1], (Event::Cleared, 22_000_000));
    }

    #[test]
    fn a_change_of_size_starts_again_from_the_new_picture() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        // 160x90 now: the first picture of that size teaches the background only.
        let (w, h) = (160, 90);
        let small: Vec<u8> = (0..w * h).map(|i| (50 + i % 7) as u8).collect();
        assert_eq!(m.feed(&small, w, h, w, STEP_US), Seen::default());
        let mut moved = small.clone();
        for row in 30..60 {
            moved[row * w + 40..row * w + 70].fill(255);
        }
        let seen = m.feed(&moved, w, h, w, 2 * STEP_US);
        assert_eq!(seen.event, Some(Event::Raised));
        let [x, _, bw, _] = seen.bbox.unwrap();
        assert!(x * w as f64 <= 40.0 && (x + bw) * w as f64 >= 70.0, "{:?}", seen.bbox);
    }

    #[test]
    fn a_change_of_size_while_moving_still_clears_after_the_hold() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        assert_eq!(m.feed(&with_square(scene(), 100, 60, 40), W, H, W, STEP_US).event, Some(Event::Raised));
        let small = vec![90u8; 160 * 90];
        let events: Vec<_> =
            (2..60).filter_map(|i| m.feed(&small, 160, 90, 160, i * STEP_US).event).collect();
        assert_eq!(events, [Event::Cleared]);
    }

    #[test]
    fn rows_are_read_with_their_stride() {
        // The same pictures with 64 bytes of junk after each row: the same verdicts.
        let pad = |p: Vec<u8>| -> Vec<u8> {
            p.chunks(W).flat_map(|row| row.iter().copied().chain(std::iter::repeat_n(255, 64))).collect()
        };
        let (mut plain, mut padded) = (detector(), detector());
        for (i, picture) in [scene(), scene(), with_square(scene(), 100, 60, 40)].into_iter().enumerate() {
            let at = i as u64 * STEP_US;
            let a = plain.feed(&picture, W, H, W, at);
            let b = padded.feed(&pad(picture), W, H, W + 64, at);
            assert_eq!(a, b);
        }
        assert!(plain.active());
    }

    #[test]
    fn pictures_that_cannot_be_read_are_judged_still() {
        let mut m = detector();
        assert_eq!(m.feed(&[], 0, 0, 0, 0), Seen::default());
        assert_eq!(m.feed(&[7; 64], 8, 8, 8, 1), Seen::default(), "smaller than two cells");
        assert_eq!(m.feed(&[7; 100], W, H, W, 2), Seen::default(), "too short for its size");
        assert_eq!(m.feed(&scene(), W, H, W / 2, 3), Seen::default(), "stride shorter than a row");
        assert_eq!(m.feed(&scene(), W, H, usize::MAX, 3), Seen::default(), "a stride past any buffer");
        // Odd sizes with partial cells at the edges work.
        let (w, h) = (21, 17);
        assert_eq!(m.feed(&vec![40; w * h], w, h, w, 4), Seen::default());
        let lit: Vec<u8> = (0..w * h).map(|i| if i % w >= 8 && i / w >= 8 { 250 } else { 40 }).collect();
        let seen = m.feed(&lit, w, h, w, 5);
        assert_eq!(seen.event, Some(Event::Raised));
        let [x, y, bw, bh] = seen.bbox.unwrap();
        assert!(
            (x, y) == (8.0 / 21.0, 8.0 / 17.0) && (x + bw - 1.0).abs() < 1e-9 && (y + bh - 1.0).abs() < 1e-9
        );
    }

    #[test]
    fn a_clock_stepping_back_does_not_keep_motion_on() {
        let mut m = detector();
        let hour = 3_600_000_000;
        m.feed(&scene(), W, H, W, hour);
        assert_eq!(
            m.feed(&with_square(scene(), 100, 60, 40), W, H, W, hour + STEP_US).event,
            Some(Event::Raised)
        );
        // The clock goes back an hour: motion still clears 10 s later by the new clock.
        let events: Vec<_> =
            (0..60u64).filter_map(|i| m.feed(&scene(), W, H, W, i * STEP_US).event).collect();
        assert_eq!(events, [Event::Cleared]);
    }

    #[test]
    fn a_long_gap_relearns_the_background() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        // Two minutes later the scene has changed (a car parked): not motion.
        let parked = with_square(scene(), 100, 60, 60);
        let later = 120_000_000;
        assert_eq!(m.feed(&parked, W, H, W, later), Seen::default());
        assert!(m.feed(&parked, W, H, W, later + STEP_US).bbox.is_none());
    }

    #[test]
    fn something_that_stays_becomes_background() {
        let mut m = detector();
        m.feed(&scene(), W, H, W, 0);
        let parked = with_square(scene(), 100, 60, 60);
        let seen = run(&mut m, (0..400).map(|_| parked.clone()), STEP_US);
        assert!(seen[0].moving());
        assert!(seen.last().is_some_and(|s| !s.moving() && !s.active), "{:?}", seen.last());
    }

    #[test]
    fn the_synthetic_scene_moves_and_its_noise_does_not() {
        let mut m = detector();
        let seen: Vec<Seen> =
            (0..20).map(|i| m.feed(&synthetic_luma(W, H, i), W, H, W, i as u64 * STEP_US)).collect();
        assert!(seen[2..].iter().all(|s| s.moving()), "{seen:?}");
        // Each picture's own noise, the square standing still.
        let mut still = detector();
        let noise_only = (0..20).map(|i| synthetic(W, H, i, 0));
        assert!(run(&mut still, noise_only, 0).iter().all(|s| !s.moving()));
    }

    #[test]
    fn a_texture_sliding_slowly_sideways_does_not_move_but_a_square_on_it_does() {
        // The test pattern's texture: a triangle wave of 160 levels across the picture,
        // scrolled 4 px a picture, which leaves a 10 s background far behind.
        let texture = |shift: usize| -> Vec<u8> {
            (0..W * H)
                .map(|i| {
                    let x = (i % W + shift) % W;
                    let tri = if 2 * x < W { 2 * x } else { 2 * (W - x) };
                    (30 + tri * 160 / W + (i / W) * 40 / H) as u8
                })
                .collect()
        };
        let mut m = detector();
        let seen = run(&mut m, (0..120).map(|i| texture(4 * i)), 0);
        assert!(seen.iter().all(|s| !s.moving() && !s.active), "{:?}", seen.iter().find(|s| s.moving()));
        let start = 120 * STEP_US;
        let with = |i: usize| with_square(texture(4 * (120 + i)), 20 + 10 * i, 60, 40);
        let seen = run(&mut m, (0..4).map(with), start);
        assert!(seen[1..].iter().all(|s| s.moving()), "{seen:?}");
    }

    #[test]
    fn zones_parse_from_four_fractions() {
        assert_eq!("0,0.8,1,0.2".parse::<Zone>(), Ok(Zone { x: 0.0, y: 0.8, w: 1.0, h: 0.2 }));
        assert_eq!(" 0.1 , 0.2,0.3 ,0.4 ".parse::<Zone>(), Ok(Zone { x: 0.1, y: 0.2, w: 0.3, h: 0.4 }));
        assert!("0.333,0,0.667,1".parse::<Zone>().is_ok(), "a little slack for rounded thirds");
    }

    #[test]
    fn bad_zones_are_refused_with_the_reason() {
        let err = |s: &str| s.parse::<Zone>().unwrap_err();
        assert!(matches!(err("0,0,1"), ZoneError::Count { count: 3, .. }));
        assert!(matches!(err("0,0,1,1,1"), ZoneError::Count { count: 5, .. }));
        assert!(matches!(err(""), ZoneError::Count { count: 1, .. }));
        assert!(matches!(err("0,a,1,1"), ZoneError::NotANumber { ref value, .. } if value == "a"));
        assert!(matches!(err("0,0,NaN,1"), ZoneError::NotANumber { .. }));
        assert!(matches!(err("0,0,inf,1"), ZoneError::NotANumber { .. }));
        assert!(matches!(err("0,0,1.5,1"), ZoneError::OutOfRange { value, .. } if value == 1.5));
        assert!(matches!(err("-0.1,0,0.5,1"), ZoneError::OutOfRange { .. }));
        assert!(matches!(err("0,0,0,1"), ZoneError::Empty(_)));
        assert!(matches!(err("0.5,0,0.8,1"), ZoneError::PastEdge(_)));
        // The messages quote the zone and say what to write instead.
        let message = err("10,20,100,50").to_string();
        assert!(message.contains("\"10,20,100,50\"") && message.contains("not pixels"), "{message}");
        assert!(err("1,2").to_string().contains("X,Y,W,H"));
    }

    #[test]
    fn configurations_are_checked() {
        assert_eq!(MotionConfig::default().check(), Ok(()));
        let with = |f: fn(&mut MotionConfig)| {
            let mut c = MotionConfig::default();
            f(&mut c);
            c.check().unwrap_err()
        };
        assert_eq!(with(|c| c.sensitivity = 0), MotionConfigError::Sensitivity(0));
        assert_eq!(with(|c| c.sensitivity = 101), MotionConfigError::Sensitivity(101));
        assert!(matches!(with(|c| c.min_area = 0.0), MotionConfigError::MinArea(_)));
        assert!(matches!(with(|c| c.min_area = f64::NAN), MotionConfigError::MinArea(_)));
        assert_eq!(with(|c| c.hold = Duration::ZERO), MotionConfigError::Hold);
        let bad_zone = with(|c| c.ignore = vec![Zone { x: 0.5, y: 0.0, w: 0.0, h: 1.0 }]);
        assert!(matches!(bad_zone, MotionConfigError::Zone(ZoneError::Empty(_))));
        assert!(Motion::new(MotionConfig { sensitivity: 0, ..MotionConfig::default() }).is_err());
    }

    #[test]
    fn sensitivity_sets_the_threshold() {
        let at = |sensitivity| MotionConfig { sensitivity, ..MotionConfig::default() }.threshold();
        assert!((at(50) - 15.0).abs() < 1e-4 && (at(100) - 3.0).abs() < 1e-4);
        assert!(at(1) > at(50) && at(50) > at(99));
    }

    #[test]
    fn the_alarm_payloads_say_motion() {
        assert_eq!(alarm_json(true, 42), r#"{"active":true,"reason":"motion","at_us":42,"source":"motion"}"#);
        assert_eq!(
            alarm_json(false, 43),
            r#"{"active":false,"reason":"motion","at_us":43,"source":"motion"}"#
        );
    }

    #[test]
    fn detections_carry_the_frame_and_the_moving_box() {
        let seen = Seen { area: 0.123456, bbox: Some([0.1, 0.2, 1.0 / 3.0, 0.4]), active: true, event: None };
        assert_eq!(
            seen.detections_json(7, 1_764_460_000_123_456),
            r#"{"sequence":7,"capture_us":1764460000123456,"producer":"motion","objects":[{"label":"motion","score":0.1235,"box":[0.1,0.2,0.3333,0.4]}]}"#
        );
        let still = Seen { active: true, ..Seen::default() };
        assert_eq!(
            still.detections_json(8, 9),
            r#"{"sequence":8,"capture_us":9,"producer":"motion","objects":[]}"#
        );
    }
}
