//! Camera pixel formats to the encoder's planar 4:2:0, without an RGB round trip.
//!
//! Webcams deliver YUYV (4:2:2, interleaved) or NV12 (4:2:0, interleaved chroma), both
//! usually in *limited* range (Y 16–235, chroma 16–240) while JPEG wants full range
//! (0–255). Conversion is therefore a reshuffle plus a per-sample lookup table: vertical
//! chroma pairs are averaged for 4:2:0, and each sample is rescaled through a 256-entry
//! table, which is as fast as a plain copy.

use crate::frame::{Range, Yuv420};

/// Why a buffer cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("{format} buffer of {len} bytes is too small for {width}x{height} with stride {stride}")]
    TooSmall { format: &'static str, len: usize, width: usize, height: usize, stride: usize },
}

/// Lookup tables that map source samples to full range.
struct Tables {
    y: [u8; 256],
    c: [u8; 256],
}

impl Tables {
    fn new(range: Range) -> Tables {
        let mut t = Tables { y: [0; 256], c: [0; 256] };
        for v in 0..256usize {
            let (y, c) = match range {
                Range::Full => (v as f64, v as f64),
                Range::Limited => {
                    ((v as f64 - 16.0) * 255.0 / 219.0, (v as f64 - 128.0) * 255.0 / 224.0 + 128.0)
                }
            };
            t.y[v] = y.round().clamp(0.0, 255.0) as u8;
            t.c[v] = c.round().clamp(0.0, 255.0) as u8;
        }
        t
    }
}

fn check(
    format: &'static str,
    len: usize,
    width: usize,
    height: usize,
    stride: usize,
    needed: usize,
) -> Result<(), ConvertError> {
    if len < needed {
        return Err(ConvertError::TooSmall { format, len, width, height, stride });
    }
    Ok(())
}

/// YUYV (Y0 U Y1 V per pixel pair) → 4:2:0 planes. `stride` is bytes per source row.
pub fn yuyv_to_yuv420(
    src: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    range: Range,
) -> Result<Yuv420, ConvertError> {
    let stride = stride.max(width * 2);
    check("YUYV", src.len(), width, height, stride, stride * height.saturating_sub(1) + width * 2)?;
    let t = Tables::new(range);
    let mut out = Yuv420::new(width, height);
    let (ys, cs) = (out.y_stride(), out.c_stride());
    let pairs = width / 2;
    for row in 0..height {
        let line = &src[row * stride..row * stride + width * 2];
        let y_out = &mut out.y[row * ys..row * ys + width];
        for (dst, px) in y_out.chunks_exact_mut(2).zip(line.chunks_exact(4)) {
            dst[0] = t.y[px[0] as usize];
            dst[1] = t.y[px[2] as usize];
        }
        if width % 2 == 1 {
            y_out[width - 1] = t.y[line[(width - 1) * 2] as usize];
        }
    }
    // Chroma: average each vertical pair of rows (the last row pairs with itself).
    // Iterators over exact chunks, not indexing: this loop is the hot one at 1080p.
    for crow in 0..height.div_ceil(2) {
        let (r0, r1) = (2 * crow, (2 * crow + 1).min(height - 1));
        let l0 = &src[r0 * stride..r0 * stride + pairs * 4];
        let l1 = &src[r1 * stride..r1 * stride + pairs * 4];
        let cb = &mut out.cb[crow * cs..crow * cs + pairs];
        let cr = &mut out.cr[crow * cs..crow * cs + pairs];
        for (((a, b), u), v) in
            l0.chunks_exact(4).zip(l1.chunks_exact(4)).zip(cb.iter_mut()).zip(cr.iter_mut())
        {
            *u = t.c[(a[1] as usize + b[1] as usize + 1) >> 1];
            *v = t.c[(a[3] as usize + b[3] as usize + 1) >> 1];
        }
    }
    out.fill_bottom_padding();
    Ok(out)
}

/// NV12 (Y plane, then a half-height plane of interleaved U V) → 4:2:0 planes.
/// `stride` is bytes per row of both planes.
pub fn nv12_to_yuv420(
    src: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    range: Range,
) -> Result<Yuv420, ConvertError> {
    let stride = stride.max(width);
    let chroma_rows = height.div_ceil(2);
    let needed = stride * height + stride * chroma_rows.saturating_sub(1) + width.div_ceil(2) * 2;
    check("NV12", src.len(), width, height, stride, needed)?;
    let t = Tables::new(range);
    let mut out = Yuv420::new(width, height);
    let (ys, cs) = (out.y_stride(), out.c_stride());
    for row in 0..height {
        for (d, s) in
            out.y[row * ys..row * ys + width].iter_mut().zip(&src[row * stride..row * stride + width])
        {
            *d = t.y[*s as usize];
        }
    }
    let uv = &src[stride * height..];
    for crow in 0..chroma_rows {
        let line = &uv[crow * stride..crow * stride + width.div_ceil(2) * 2];
        for (i, px) in line.chunks_exact(2).enumerate() {
            out.cb[crow * cs + i] = t.c[px[0] as usize];
            out.cr[crow * cs + i] = t.c[px[1] as usize];
        }
    }
    out.fill_bottom_padding();
    Ok(out)
}

/// One plane of an I420 picture as a decoder hands it over: rows of `stride` bytes.
#[derive(Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

/// I420 (three planes, each with its own stride, as H.264 decoders give them) → the
/// encoder's 4:2:0 planes, each sample through the range table. Odd sides are fine: the
/// chroma planes hold `ceil(side / 2)` samples.
pub fn i420_to_yuv420(
    y: Plane<'_>,
    u: Plane<'_>,
    v: Plane<'_>,
    width: usize,
    height: usize,
    range: Range,
) -> Result<Yuv420, ConvertError> {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let needed = |stride: usize, w: usize, rows: usize| stride.max(w) * rows.saturating_sub(1) + w;
    check("I420 luma", y.data.len(), width, height, y.stride, needed(y.stride, width, height))?;
    for c in [u, v] {
        check("I420 chroma", c.data.len(), width, height, c.stride, needed(c.stride, cw, ch))?;
    }
    let t = Tables::new(range);
    let mut out = Yuv420::new(width, height);
    let (ys, cs) = (out.y_stride(), out.c_stride());
    let copy =
        |dst: &mut [u8], dst_stride: usize, src: Plane<'_>, w: usize, rows: usize, table: &[u8; 256]| {
            let stride = src.stride.max(w);
            for row in 0..rows {
                let from = &src.data[row * stride..row * stride + w];
                for (d, s) in dst[row * dst_stride..row * dst_stride + w].iter_mut().zip(from) {
                    *d = table[*s as usize];
                }
            }
        };
    copy(&mut out.y, ys, y, width, height, &t.y);
    copy(&mut out.cb, cs, u, cw, ch, &t.c);
    copy(&mut out.cr, cs, v, cw, ch, &t.c);
    out.fill_bottom_padding();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BT.601 limited → full range, straight from the formula, independent of the tables.
    fn full_y(y: u8) -> u8 {
        ((y as f64 - 16.0) * 255.0 / 219.0).round().clamp(0.0, 255.0) as u8
    }
    fn full_c(c: u8) -> u8 {
        ((c as f64 - 128.0) * 255.0 / 224.0 + 128.0).round().clamp(0.0, 255.0) as u8
    }

    #[test]
    fn limited_range_endpoints_map_to_full_range() {
        let t = Tables::new(Range::Limited);
        assert_eq!((t.y[16], t.y[235], t.y[0], t.y[255]), (0, 255, 0, 255));
        assert_eq!((t.c[16], t.c[128], t.c[240]), (full_c(16), 128, 255));
        assert_eq!(t.y[126], full_y(126));
    }

    #[test]
    fn yuyv_pixels_land_in_the_right_planes() {
        // 4x2 image: row 0 and row 1 with distinct luma and chroma.
        #[rustfmt::skip]
        let src = [
            50, 100, 60, 150,   70, 110, 80, 160,
            90, 120, 95, 170,  100, 130, 105, 180,
        ];
        let out = yuyv_to_yuv420(&src, 4, 2, 8, Range::Limited).unwrap();
        let ys = out.y_stride();
        assert_eq!(&out.y[..4], &[full_y(50), full_y(60), full_y(70), full_y(80)]);
        assert_eq!(&out.y[ys..ys + 4], &[full_y(90), full_y(95), full_y(100), full_y(105)]);
        // Chroma is the rounded-up mean of the two rows, then rescaled.
        assert_eq!(&out.cb[..2], &[full_c(110), full_c(120)]);
        assert_eq!(&out.cr[..2], &[full_c(160), full_c(170)]);
    }

    #[test]
    fn full_range_yuyv_is_copied_unchanged() {
        let src = [1, 2, 3, 4];
        let out = yuyv_to_yuv420(&src, 2, 1, 4, Range::Full).unwrap();
        assert_eq!((&out.y[..2], out.cb[0], out.cr[0]), (&[1u8, 3][..], 2, 4));
    }

    #[test]
    fn row_padding_in_the_source_is_skipped() {
        // Stride 12 for a 4-pixel-wide row (8 bytes of pixels + 4 of padding).
        let mut src = vec![0xEE; 24];
        src[..8].copy_from_slice(&[16, 128, 16, 128, 16, 128, 16, 128]);
        src[12..20].copy_from_slice(&[235, 128, 235, 128, 235, 128, 235, 128]);
        let out = yuyv_to_yuv420(&src, 4, 2, 12, Range::Limited).unwrap();
        let ys = out.y_stride();
        assert_eq!(&out.y[..4], &[0; 4]);
        assert_eq!(&out.y[ys..ys + 4], &[255; 4]);
    }

    #[test]
    fn nv12_deinterleaves_chroma() {
        #[rustfmt::skip]
        let src = [
            16, 235, 16, 235,   // Y row 0
            235, 16, 235, 16,   // Y row 1
            100, 200, 30, 40,   // U V U V
        ];
        let out = nv12_to_yuv420(&src, 4, 2, 4, Range::Limited).unwrap();
        assert_eq!(&out.y[..4], &[0, 255, 0, 255]);
        assert_eq!(&out.cb[..2], &[full_c(100), full_c(30)]);
        assert_eq!(&out.cr[..2], &[full_c(200), full_c(40)]);
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        assert!(matches!(yuyv_to_yuv420(&[0; 10], 4, 2, 8, Range::Full), Err(ConvertError::TooSmall { .. })));
        assert!(nv12_to_yuv420(&[0; 10], 4, 2, 4, Range::Full).is_err());
    }

    #[test]
    fn i420_planes_with_strides_become_full_range_planes() {
        // 5x3 (odd sides): chroma 3x2; strides wider than the rows, as decoders pad them.
        let mut y: Vec<u8> =
            (0..8 * 3).map(|i| if i % 8 < 5 { 16 + (i % 8) as u8 * 50 } else { 99 }).collect();
        y[4] = 235;
        let u = vec![16u8, 128, 240, 7, 128, 128, 128, 7];
        let v = vec![240u8; 8];
        let out = i420_to_yuv420(
            Plane { data: &y, stride: 8 },
            Plane { data: &u, stride: 4 },
            Plane { data: &v, stride: 4 },
            5,
            3,
            Range::Limited,
        )
        .unwrap();
        let ys = out.y_stride();
        assert_eq!(&out.y[ys..ys + 5], &[full_y(16), full_y(66), full_y(116), full_y(166), full_y(216)]);
        assert_eq!((out.y[0], out.y[4]), (0, 255), "limited black and white become 0 and 255");
        assert_eq!(&out.cb[..3], &[full_c(16), 128, full_c(240)]);
        assert_eq!(out.cr[0], 255);
        // Padding rows repeat the last real row.
        assert_eq!(&out.y[3 * ys..3 * ys + 5], &out.y[2 * ys..2 * ys + 5].to_vec()[..]);
        let full = i420_to_yuv420(
            Plane { data: &y, stride: 8 },
            Plane { data: &u, stride: 4 },
            Plane { data: &v, stride: 4 },
            5,
            3,
            Range::Full,
        )
        .unwrap();
        assert_eq!(full.y[1], 66, "full range passes through");
        assert!(i420_to_yuv420(
            Plane { data: &y[..10], stride: 8 },
            Plane { data: &u, stride: 4 },
            Plane { data: &v, stride: 4 },
            5,
            3,
            Range::Full
        )
        .is_err());
    }
}
