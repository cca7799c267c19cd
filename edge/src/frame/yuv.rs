//! Planar YCbCr 4:2:0 images laid out the way the JPEG encoder reads raw planes.
//!
//! Sources write straight into these planes so encoding needs neither an RGB round trip
//! nor a copy. The padding is the encoder's: libjpeg's raw-data input reads whole
//! 16-row MCU rows and rows of `width_in_blocks * 8` samples per component.

/// A 4:2:0 image: full-resolution luma, chroma at half width and half height.
#[derive(Clone)]
pub struct Yuv420 {
    width: usize,
    height: usize,
    /// Luma plane, `y_stride * padded_height` bytes.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `c_stride * padded_height / 2` bytes.
    pub cb: Vec<u8>,
    /// Red-difference chroma, same size as `cb`.
    pub cr: Vec<u8>,
}

impl Yuv420 {
    /// A black image (Y = 16 would be limited range; JPEG uses full range, so Y = 0).
    pub fn new(width: usize, height: usize) -> Self {
        let (y_stride, c_stride, rows) =
            (Self::y_stride_for(width), Self::c_stride_for(width), Self::rows_for(height));
        Yuv420 {
            width,
            height,
            y: vec![0; y_stride * rows],
            cb: vec![128; c_stride * rows / 2],
            cr: vec![128; c_stride * rows / 2],
        }
    }

    // libjpeg: width_in_blocks = ceil(width * h_samp / (max_h_samp * 8)); the row stride
    // it expects is that times 8. Luma has h_samp = max = 2, chroma h_samp = 1.
    fn y_stride_for(width: usize) -> usize {
        width.div_ceil(8) * 8
    }
    fn c_stride_for(width: usize) -> usize {
        width.div_ceil(16) * 8
    }
    // Raw-data input consumes whole 16-row MCU rows, so the planes hold that many.
    fn rows_for(height: usize) -> usize {
        height.div_ceil(16) * 16
    }

    pub fn width(&self) -> usize {
        self.width
    }
    pub fn height(&self) -> usize {
        self.height
    }
    /// Bytes per luma row.
    pub fn y_stride(&self) -> usize {
        Self::y_stride_for(self.width)
    }
    /// Bytes per chroma row.
    pub fn c_stride(&self) -> usize {
        Self::c_stride_for(self.width)
    }
    /// Luma rows including the padding up to a multiple of 16.
    pub fn padded_rows(&self) -> usize {
        Self::rows_for(self.height)
    }

    /// Copies the last real rows into the padding rows so the encoder's bottom blocks
    /// continue the picture instead of ringing against black.
    pub fn fill_bottom_padding(&mut self) {
        let (ys, cs) = (self.y_stride(), self.c_stride());
        let rows = self.padded_rows();
        replicate_last_row(&mut self.y, ys, self.height, rows);
        let (ch, crows) = (self.height.div_ceil(2), rows / 2);
        replicate_last_row(&mut self.cb, cs, ch, crows);
        replicate_last_row(&mut self.cr, cs, ch, crows);
    }
}

fn replicate_last_row(plane: &mut [u8], stride: usize, real_rows: usize, rows: usize) {
    if real_rows == 0 || real_rows >= rows {
        return;
    }
    let last = (real_rows - 1) * stride;
    for r in real_rows..rows {
        plane.copy_within(last..last + stride, r * stride);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_rows_match_libjpeg_raw_layout() {
        let img = Yuv420::new(1920, 1080);
        assert_eq!((img.y_stride(), img.c_stride(), img.padded_rows()), (1920, 960, 1088));
        assert_eq!(img.y.len(), 1920 * 1088);
        assert_eq!(img.cb.len(), 960 * 544);
        let odd = Yuv420::new(1000, 250);
        assert_eq!((odd.y_stride(), odd.c_stride(), odd.padded_rows()), (1000, 504, 256));
    }

    #[test]
    fn bottom_padding_repeats_the_last_row() {
        let mut img = Yuv420::new(16, 10);
        let s = img.y_stride();
        img.y[9 * s..10 * s].fill(200);
        img.fill_bottom_padding();
        assert!(img.y[10 * s..16 * s].iter().all(|&v| v == 200));
        assert!(img.y[..9 * s].iter().all(|&v| v == 0));
    }
}
