//! The moving test pattern: a stand-in camera that needs no hardware.
//!
//! It looks like a scene to the encoder (gradients plus grain, so JPEG sizes are in the
//! range of a real room, not of a flat colour) and like motion to a person: the texture
//! scrolls, a white square travels across, and the frame number and the capture time
//! are printed large in the corner, so a viewer can read latency off two screens.
//! Everything is generated directly in YCbCr: no RGB conversion per frame.

use super::{
    pace::Pacer,
    seam::{Source, SourceError},
};
use crate::{
    clock,
    frame::{Captured, Picture, Yuv420},
};

pub struct Pattern {
    width: usize,
    height: usize,
    fps: u32,
    /// One period of the scrolling texture, same geometry as the output frame.
    base: Yuv420,
    n: u64,
    pacer: Pacer,
}

impl Pattern {
    pub fn new(width: usize, height: usize, fps: u32) -> Self {
        Pattern { width, height, fps, base: texture(width, height), n: 0, pacer: Pacer::new(fps) }
    }

    /// Draws frame `n` with `capture_us` printed on it.
    fn draw(&self, n: u64, capture_us: u64) -> Yuv420 {
        let (w, h) = (self.width, self.height);
        let mut frame = Yuv420::new(w, h);
        // Scroll by an even number of pixels so luma and chroma stay aligned.
        let shift = ((n as usize * 4) % w.max(2)) & !1;
        scroll_rows(&self.base.y, &mut frame.y, self.base.y_stride(), w, shift, self.base.padded_rows());
        let (cw, crows) = (w.div_ceil(2), self.base.padded_rows() / 2);
        let cs = self.base.c_stride();
        scroll_rows(&self.base.cb, &mut frame.cb, cs, cw, shift / 2, crows);
        scroll_rows(&self.base.cr, &mut frame.cr, cs, cw, shift / 2, crows);

        let scale = (h / 90).max(1);
        let side = (h / 6).max(8);
        let x = (n as usize * 7) % w.saturating_sub(side).max(1);
        fill_rect(&mut frame, x, h / 3, side, side, 235);

        let secs = capture_us / 1_000_000;
        let ms = (capture_us / 1000) % 1000;
        let text = format!("#{n} {:02}:{:02}:{:02}.{ms:03}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        // Bottom-left: viewers put their own overlay at the top.
        draw_text(&mut frame, &text, 2 * scale, h.saturating_sub(10 * scale), scale);
        frame
    }
}

impl Source for Pattern {
    fn describe(&self) -> String {
        format!("test pattern {}x{} @ {} fps", self.width, self.height, self.fps)
    }

    fn on_request(&self) -> bool {
        self.fps == 0
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        self.pacer.wait();
        let capture_us = clock::now_us();
        let n = self.n;
        self.n += 1;
        let picture = Picture::Planar(self.draw(n, capture_us));
        Ok(Captured { picture, capture_us })
    }
}

/// Builds the texture: horizontal and vertical gradients in luma and chroma with grain.
fn texture(w: usize, h: usize) -> Yuv420 {
    let mut img = Yuv420::new(w, h);
    let mut rng = 0x9E37_79B9u32;
    let mut grain = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        (rng % 40) as usize
    };
    // Horizontal gradients rise and fall (a triangle wave) so the scrolling texture
    // wraps around without a seam.
    let tri = |col: usize, width: usize| {
        if 2 * col < width {
            2 * col
        } else {
            2 * (width - col)
        }
    };
    let ys = img.y_stride();
    for row in 0..img.padded_rows() {
        for col in 0..w {
            let g = (tri(col, w) * 160 / w.max(1)) + (row.min(h) * 40 / h.max(1));
            img.y[row * ys + col] = (16 + g + grain()).min(255) as u8;
        }
    }
    let cs = img.c_stride();
    for row in 0..img.padded_rows() / 2 {
        for col in 0..w.div_ceil(2) {
            let (fx, fy) = (tri(col, w.div_ceil(2)) * 255 / w.div_ceil(2).max(1), row * 2 * 255 / h.max(1));
            img.cb[row * cs + col] = (64 + fx / 2) as u8;
            img.cr[row * cs + col] = (64 + (fy.min(255)) / 2) as u8;
        }
    }
    img
}

/// Copies `rows` rows of `width` samples, rotated left by `shift`.
fn scroll_rows(src: &[u8], dst: &mut [u8], stride: usize, width: usize, shift: usize, rows: usize) {
    let shift = shift.min(width);
    for r in 0..rows {
        let (s, d) = (&src[r * stride..r * stride + width], &mut dst[r * stride..r * stride + width]);
        d[..width - shift].copy_from_slice(&s[shift..]);
        d[width - shift..].copy_from_slice(&s[..shift]);
    }
}

fn fill_rect(img: &mut Yuv420, x: usize, y: usize, w: usize, h: usize, luma: u8) {
    let (iw, ih, ys) = (img.width(), img.height(), img.y_stride());
    for row in y..(y + h).min(ih) {
        let start = row * ys + x.min(iw);
        let end = row * ys + (x + w).min(iw);
        img.y[start..end].fill(luma);
    }
    // Neutral chroma so the square is white, not tinted by the texture.
    let cs = img.c_stride();
    for row in y / 2..((y + h) / 2).min(ih.div_ceil(2)) {
        let end_col = ((x + w) / 2).min(iw.div_ceil(2));
        let (start, end) = (row * cs + (x / 2).min(end_col), row * cs + end_col);
        img.cb[start..end].fill(128);
        img.cr[start..end].fill(128);
    }
}

/// 5x7 glyphs for the characters the overlay uses, one byte per row, low 5 bits.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        _ => [0; 7],
    }
}

/// Draws white text on a black band, `scale` pixels per font pixel.
fn draw_text(img: &mut Yuv420, text: &str, x0: usize, y0: usize, scale: usize) {
    let advance = 6 * scale;
    let band_w = text.chars().count() * advance + 2 * scale;
    fill_rect(img, x0.saturating_sub(scale), y0.saturating_sub(scale), band_w, 9 * scale, 16);
    let (iw, ih, ys) = (img.width(), img.height(), img.y_stride());
    for (i, c) in text.chars().enumerate() {
        for (gy, bits) in glyph(c).iter().enumerate() {
            for gx in 0..5 {
                if bits & (0x10 >> gx) == 0 {
                    continue;
                }
                let (px, py) = (x0 + i * advance + gx * scale, y0 + gy * scale);
                for yy in py..(py + scale).min(ih) {
                    let row = yy * ys;
                    img.y[row + px.min(iw)..row + (px + scale).min(iw)].fill(235);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_frames_differ_and_fit_the_planes() {
        let mut p = Pattern::new(320, 240, 0);
        let planes = |c: Captured| match c.picture {
            Picture::Planar(img) => img.y,
            _ => unreachable!("the pattern is planar"),
        };
        let a = planes(p.next_frame().unwrap());
        let b = planes(p.next_frame().unwrap());
        assert_eq!(a.len(), 320 * 240);
        assert_ne!(a, b, "the pattern must move");
    }

    #[test]
    fn the_capture_time_is_now() {
        let mut p = Pattern::new(64, 48, 0);
        let before = clock::now_us();
        let t = p.next_frame().unwrap().capture_us;
        assert!(t >= before && t - before < 1_000_000);
    }

    #[test]
    fn odd_and_tiny_sizes_do_not_panic() {
        for (w, h) in [(2, 2), (17, 9), (1000, 250), (8, 1)] {
            let mut p = Pattern::new(w, h, 0);
            p.next_frame().unwrap();
        }
    }

    #[test]
    fn text_is_drawn_white_on_black() {
        let mut img = Yuv420::new(64, 32);
        img.y.fill(100);
        draw_text(&mut img, "8", 2, 2, 2);
        // Top row of '8' is lit in its middle columns, the band around it is black.
        let ys = img.y_stride();
        assert_eq!(img.y[2 * ys + 2 + 2 * 2], 235);
        assert_eq!(img.y[ys + 1], 16);
    }
}
