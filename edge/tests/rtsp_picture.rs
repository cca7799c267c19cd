//! The test camera's picture: what `examples/rtsp-camera` draws, and how a test reads back
//! which source frame a decoded (lossy) picture came from.
//!
//! Shared by the example (`#[path = "../../tests/rtsp_picture.rs"] mod picture;`) and by
//! integration tests (`#[path = "rtsp_picture.rs"] mod rtsp_picture;` or a `mod` line in
//! `tests/main.rs`), so both sides agree on one layout. No dependencies: plain planes.
//!
//! # Layout (width W, height H, 4:2:0, **limited range**: Y 16..=235, Cb/Cr 128 = grey)
//!
//! ```text
//!  x: 0      W/8                                   W-W/8     W
//!     +-------+----------------------------------------+-------+
//!     |       |      [b15][b14] ... [b1][b0]            |       |  <- 16 index blocks, top middle
//!     | black |                                        | white |
//!     | Y=16  |   moving pattern (sliding luma ramp,   | Y=235 |
//!     | Cb=Cr |   drifting chroma), changes each frame  | Cb=Cr |
//!     | =128  |                                        | =128  |
//!     +-------+----------------------------------------+-------+
//! ```
//!
//! - `edge` = W/8 rounded down to even: columns `0..edge` are pure black, `W-edge..W` pure
//!   white, on every row. A reader takes its black and white levels from these strips, so
//!   it works on limited-range (16/235) and full-range (0/255) decodes alike.
//! - The frame index (modulo 65536) is written as 16 square blocks of side `block` = W/24
//!   rounded down to even (at least 2), side by side, most significant bit on the left,
//!   centred horizontally, `block / 2` (even) below the top. A 1 bit is white (Y=235), a 0
//!   bit black (Y=16), chroma grey. 16 blocks span 2/3 of the width, so they stay clear of
//!   the strips. Read the middle half of each block and compare with the midpoint of the
//!   strips: lossy compression blurs the block edges, not the centres.
//! - Everything else in the middle changes every frame, so encoders never see a still
//!   picture (a still one would compress to nothing and hide decode bugs).

// Each includer uses its own part: the camera draws, the tests read.
#![allow(dead_code)]

/// Where the parts of the picture are, in luma pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub width: usize,
    pub height: usize,
    /// Width of the black strip on the left and of the white strip on the right.
    pub edge: usize,
    /// Side of one index block.
    pub block: usize,
    /// Left edge of the most significant index block.
    pub bits_x: usize,
    /// Top edge of the index blocks.
    pub bits_y: usize,
}

/// Luma of black and white in limited range.
pub const BLACK: u8 = 16;
pub const WHITE: u8 = 235;
/// Number of index bits (the index is written modulo `1 << BITS`).
pub const BITS: usize = 16;

/// The layout for a `width` x `height` picture.
pub fn layout(width: usize, height: usize) -> Layout {
    let even_down = |v: usize| v & !1;
    let edge = even_down(width / 8);
    let block = even_down(width / 24).max(2);
    let bits_x = even_down(width.saturating_sub(BITS * block) / 2);
    let bits_y = even_down(block / 2);
    Layout { width, height, edge, block, bits_x, bits_y }
}

/// A triangle wave over `period`: 0 at 0, 255 at `period / 2`, back to 0.
fn triangle(pos: usize, period: usize) -> u32 {
    let p = pos % period;
    let half = period / 2;
    let up = if p < half { p } else { period - p };
    (up * 255 / half.max(1)) as u32
}

/// Scales 0..=255 to limited-range luma 16..=235.
fn limited_luma(v: u32) -> u8 {
    (16 + v * 219 / 255) as u8
}

/// Draws frame `index` into 4:2:0 planes. Chroma planes are `ceil(W/2)` x `ceil(H/2)`;
/// the strides may be larger than the widths (padding is left alone).
#[allow(clippy::too_many_arguments)]
pub fn draw(
    index: u64,
    width: usize,
    height: usize,
    y: &mut [u8],
    y_stride: usize,
    cb: &mut [u8],
    cr: &mut [u8],
    c_stride: usize,
) {
    let l = layout(width, height);
    let i = index as usize;
    // The luma of a column depends only on x and the frame: build one row and copy it,
    // which keeps drawing 1080p well under a millisecond per frame.
    let period = (width / 4).max(32);
    let mut row = vec![0u8; width];
    for (x, v) in row.iter_mut().enumerate() {
        *v = if x < l.edge {
            BLACK
        } else if x >= width - l.edge {
            WHITE
        } else {
            limited_luma(triangle(x + 4 * i, period))
        };
    }
    let bits = (index % (1 << BITS)) as u32;
    let mut bit_row = row.clone();
    for b in 0..BITS {
        let on = bits >> (BITS - 1 - b) & 1 == 1;
        let x0 = l.bits_x + b * l.block;
        bit_row[x0..(x0 + l.block).min(width)].fill(if on { WHITE } else { BLACK });
    }
    let in_bits_rows = |r: usize| r >= l.bits_y && r < l.bits_y + l.block;
    for r in 0..height {
        let src = if in_bits_rows(r) { &bit_row } else { &row };
        y[r * y_stride..r * y_stride + width].copy_from_slice(src);
    }
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let c_edge = l.edge / 2;
    let (bits_cx0, bits_cx1) = (l.bits_x / 2, (l.bits_x + BITS * l.block).div_ceil(2));
    let c_period = (height / 3).max(16);
    for r in 0..ch {
        // Blue drifts down the rows, red across the columns: both move each frame.
        let blue = 128 - 40 + (triangle(2 * r + 3 * i, c_period) * 80 / 255) as i32;
        let bits_here = in_bits_rows(2 * r) || in_bits_rows(2 * r + 1);
        for c in 0..cw {
            let grey = c < c_edge || c >= cw - c_edge || (bits_here && c >= bits_cx0 && c < bits_cx1);
            let (u, v) = if grey {
                (128, 128)
            } else {
                (blue as u8, (128 - 40 + (triangle(2 * c + 2 * i, period) * 80 / 255) as i32) as u8)
            };
            cb[r * c_stride + c] = u;
            cr[r * c_stride + c] = v;
        }
    }
}

/// Mean of the luma in a rectangle.
fn mean(luma: &[u8], stride: usize, x0: usize, y0: usize, w: usize, h: usize) -> u32 {
    let mut sum = 0u64;
    for r in y0..y0 + h {
        sum += luma[r * stride + x0..r * stride + x0 + w].iter().map(|&v| v as u64).sum::<u64>();
    }
    (sum / (w * h).max(1) as u64) as u32
}

/// Reads the frame index (modulo 65536) from a decoded luma plane of the given size.
///
/// Returns `None` when the black and white strips are not clearly black and white
/// (not this camera's picture, or a badly broken decode).
pub fn read_index(luma: &[u8], stride: usize, width: usize, height: usize) -> Option<u16> {
    let l = layout(width, height);
    if l.edge < 2 || height < l.bits_y + l.block {
        return None;
    }
    // Sample the strips away from their inner edges, where the ramp bleeds in.
    let strip_w = (l.edge / 2).max(1);
    let black = mean(luma, stride, 0, 0, strip_w, height);
    let white = mean(luma, stride, width - strip_w, 0, strip_w, height);
    if white < black + 100 {
        return None;
    }
    let threshold = (black + white) / 2;
    let q = l.block / 4;
    let side = (l.block - 2 * q).max(1);
    let mut value = 0u16;
    for b in 0..BITS {
        let x0 = l.bits_x + b * l.block + q;
        let m = mean(luma, stride, x0, l.bits_y + q, side, side);
        value = value << 1 | (m > threshold) as u16;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes(w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let c = w.div_ceil(2) * h.div_ceil(2);
        (vec![0; w * h], vec![0; c], vec![0; c])
    }

    #[test]
    fn draws_strips_in_limited_range_and_reads_the_index_back() {
        for &(w, h) in &[(640, 480), (1920, 1080), (322, 242), (160, 120)] {
            let (mut y, mut cb, mut cr) = planes(w, h);
            for index in [0u64, 1, 0x1234, 0xFFFF, 0x1_0005] {
                draw(index, w, h, &mut y, w, &mut cb, &mut cr, w.div_ceil(2));
                let l = layout(w, h);
                assert!(y.iter().all(|&v| (BLACK..=WHITE).contains(&v)));
                for r in 0..h {
                    assert!(y[r * w..r * w + l.edge].iter().all(|&v| v == BLACK));
                    assert!(y[r * w + w - l.edge..(r + 1) * w].iter().all(|&v| v == WHITE));
                }
                assert_eq!(read_index(&y, w, w, h), Some((index % 65536) as u16), "{w}x{h} {index}");
            }
        }
    }

    #[test]
    fn the_middle_moves_and_full_range_reads_too() {
        let (w, h) = (320, 240);
        let (mut a, mut cb, mut cr) = planes(w, h);
        let mut b = a.clone();
        draw(7, w, h, &mut a, w, &mut cb, &mut cr, w / 2);
        draw(8, w, h, &mut b, w, &mut cb, &mut cr, w / 2);
        let l = layout(w, h);
        let row = (h / 2) * w;
        assert_ne!(a[row + l.edge..row + w - l.edge], b[row + l.edge..row + w - l.edge]);
        // Expand to full range the way a JPEG path would: the reader takes its levels from
        // the strips.
        let full: Vec<u8> = a.iter().map(|&v| ((v as i32 - 16) * 255 / 219).clamp(0, 255) as u8).collect();
        assert_eq!(read_index(&full, w, w, h), Some(7));
        assert_eq!(read_index(&vec![128; w * h], w, w, h), None);
    }
}
