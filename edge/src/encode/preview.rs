//! Preview renditions: the small pictures a phone's grid of camera tiles shows.
//!
//! A preview is at most `max_width` pixels wide (320 by default), keeps the aspect ratio
//! and has even sides (4:2:0 JPEG). It is never made by decoding the full frame and
//! resizing it, because a grid of many cameras would cost as much as that many
//! full-size streams:
//! - planes the pipeline already has (raw cameras, the test pattern) are box-filtered
//!   straight to the preview size with [`downscale`], each plane on its own;
//! - a camera's JPEG is decoded by libjpeg at a reduced scale (its IDCT makes an n/8
//!   picture from the same coefficients for less work), choosing the smallest n/8 that
//!   is still at least the preview size, and only the remainder is box-filtered
//!   ([`from_jpeg`]).
//!
//! [`Previewer`] does either and encodes the result with the stream's [`Encoder`].
//!
//! The same two ways make a camera's **smaller renditions** ([`smaller`]): half and a
//! quarter of its width and height (`wire::ack::Rendition`), for viewers whose link
//! cannot carry the full stream. From planes, box-filtered (the quarter from the half
//! when both are made); from a JPEG, one libjpeg decode at 4/8 (the quarter halved from
//! it) or, for a quarter alone, at 2/8.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{
    passthrough::{self, JpegError},
    EncodeError, Encoder,
};
use crate::frame::Yuv420;

/// The preview width when the configuration does not give one.
pub const DEFAULT_MAX_WIDTH: usize = 320;

/// Previews are never smaller than this on either side unless the source is.
const MIN_SIDE: usize = 16;

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("camera JPEG cannot be previewed: {0}")]
    Jpeg(#[from] JpegError),
    #[error("camera JPEG cannot be decoded: {0}")]
    Decode(String),
    #[error("camera JPEG in {0} colour cannot be previewed (only YCbCr and grayscale JPEGs can)")]
    Unsupported(&'static str),
    #[error("preview: {0}")]
    Encode(#[from] EncodeError),
}

/// The full-size frame a preview is made from.
#[derive(Clone, Copy)]
pub enum Full<'a> {
    /// Planes already converted for the full-size encoder (raw cameras, test pattern).
    Planes(&'a Yuv420),
    /// A camera's or a network camera's JPEG, before or instead of a full decode.
    Jpeg(&'a [u8]),
}

/// Makes preview JPEGs of one camera's frames.
pub struct Previewer {
    max_width: usize,
    encoder: Encoder,
}

impl Previewer {
    /// `max_width` is the widest a preview may be; `quality` the usual 1–100 JPEG scale.
    pub fn new(max_width: usize, quality: u8) -> Self {
        Previewer { max_width, encoder: Encoder::new(quality) }
    }

    /// The preview JPEG of `full` with its width and height.
    pub fn make(&self, full: Full<'_>) -> Result<(Vec<u8>, u32, u32), PreviewError> {
        self.make_into(full, Vec::new())
    }

    /// Like [`Previewer::make`], appending the JPEG to `out` (which may already hold a
    /// frame header, as with [`Encoder::encode_into`]).
    pub fn make_into(&self, full: Full<'_>, out: Vec<u8>) -> Result<(Vec<u8>, u32, u32), PreviewError> {
        self.make_looking(full, out, None)
    }

    /// Like [`Previewer::make_into`], showing the preview's planes to `look` before
    /// encoding them (motion detection reads their luma: no second downscale or decode).
    pub fn make_looking(
        &self,
        full: Full<'_>,
        out: Vec<u8>,
        look: Option<&dyn Fn(&Yuv420)>,
    ) -> Result<(Vec<u8>, u32, u32), PreviewError> {
        let small = match full {
            Full::Planes(image) => {
                let (w, h) = preview_size(image.width(), image.height(), self.max_width);
                downscale(image, w, h)
            }
            Full::Jpeg(data) => from_jpeg(data, self.max_width)?,
        };
        if let Some(look) = look {
            look(&small);
        }
        let jpeg = self.encoder.encode_into(&small, out)?;
        Ok((jpeg, small.width() as u32, small.height() as u32))
    }
}

/// The preview size of a `width`×`height` picture: at most `max_width` wide (never wider
/// than the source: no upscaling), the aspect ratio kept to the nearest even height, both
/// sides even and at least 16 (or the source's side, if that is smaller).
pub fn preview_size(width: usize, height: usize, max_width: usize) -> (usize, usize) {
    if width == 0 || height == 0 {
        return (0, 0);
    }
    // Even sides, except that a 1-pixel side stays 1 rather than vanishing.
    let even = |v: usize| if v >= 2 { v & !1 } else { v };
    let floor = |side: usize| even(side.min(MIN_SIDE));
    let w = even(width.min(max_width)).max(floor(width));
    // Nearest even height: 2 * round(height * w / width / 2).
    let h = 2 * ((height * w + width) / (2 * width));
    let h = h.min(even(height)).max(floor(height));
    (w, h)
}

/// A box-filtered (area-averaged) copy of `src` at `out_w`×`out_h`, each plane scaled on
/// its own (chroma at half size), with integer arithmetic only.
///
/// Meant for shrinking; a larger size gives a blocky enlargement, not an error. The
/// encoder's padding (right columns and bottom rows) repeats the picture's edge.
pub fn downscale(src: &Yuv420, out_w: usize, out_h: usize) -> Yuv420 {
    let mut out = Yuv420::new(out_w, out_h);
    if out_w == 0 || out_h == 0 || src.width() == 0 || src.height() == 0 {
        return out;
    }
    let (ys, cs, ocs, oys) = (src.y_stride(), src.c_stride(), out.c_stride(), out.y_stride());
    let (cw, ch) = (src.width().div_ceil(2), src.height().div_ceil(2));
    let (ocw, och) = (out_w.div_ceil(2), out_h.div_ceil(2));
    let luma = Plane { data: &src.y, stride: ys, width: src.width(), height: src.height() };
    scale_plane(luma, PlaneMut { data: &mut out.y, stride: oys, width: out_w, height: out_h });
    let cb = Plane { data: &src.cb, stride: cs, width: cw, height: ch };
    scale_plane(cb, PlaneMut { data: &mut out.cb, stride: ocs, width: ocw, height: och });
    let cr = Plane { data: &src.cr, stride: cs, width: cw, height: ch };
    scale_plane(cr, PlaneMut { data: &mut out.cr, stride: ocs, width: ocw, height: och });
    fill_right_padding(&mut out);
    out.fill_bottom_padding();
    out
}

/// A preview of a JPEG, at most `max_width` wide ([`preview_size`]), as 4:2:0 planes.
///
/// libjpeg decodes it at the smallest n/8 scale that is still at least the preview size
/// (1920×1080 → 320 decodes at 2/8, 480×270), so a full-size decode happens only when
/// the preview is more than 7/8 of the source. Any JPEG sampling (4:2:0, 4:2:2, 4:4:4)
/// and grayscale are accepted; RGB-, CMYK- and YCCK-coded JPEGs are refused.
pub fn from_jpeg(data: &[u8], max_width: usize) -> Result<Yuv420, PreviewError> {
    let max_width = max_width.max(1);
    from_jpeg_at(data, |w, h| preview_size(w, h, max_width))
}

/// Half a side, rounded to the nearest even number (4:2:0), at least 2 unless the side
/// is smaller: 1280 → 640, 720 → 360, 1366 → 684, 375 → 188.
pub fn half_side(side: usize) -> usize {
    (2 * ((side + 2) / 4)).max(side.min(2))
}

/// The picture size of a smaller rendition of a `width`×`height` camera: each halving
/// rounds to even sides, so the quarter is the half of the half (1280×720 → 640×360 →
/// 320×180; 1366×768 → 684×384 → 342×192). For the usual sizes this is exactly libjpeg's
/// DCT-scaled decode at 4/8 and 2/8.
pub fn rendition_size(width: usize, height: usize, rendition: wire::ack::Rendition) -> (usize, usize) {
    let halvings = rendition.id();
    (0..halvings).fold((width, height), |(w, h), _| (half_side(w), half_side(h)))
}

/// The smaller renditions of a full frame asked for (`half`, `quarter`), as 4:2:0 planes,
/// never by a full decode and resize: planes are box-filtered; a JPEG is decoded once at
/// a reduced scale (4/8 when the half is asked for, the quarter then halved from that;
/// 2/8 for a quarter alone).
pub fn smaller(
    full: Full<'_>,
    half: bool,
    quarter: bool,
) -> Result<(Option<Yuv420>, Option<Yuv420>), PreviewError> {
    use wire::ack::Rendition;
    let halved = |img: &Yuv420| {
        let (w, h) = (half_side(img.width()), half_side(img.height()));
        downscale(img, w, h)
    };
    let half_image = match (full, half) {
        (_, false) => None,
        (Full::Planes(img), true) => Some(halved(img)),
        (Full::Jpeg(data), true) => Some(from_jpeg_at(data, |w, h| rendition_size(w, h, Rendition::Half))?),
    };
    let quarter_image = match (full, &half_image, quarter) {
        (_, _, false) => None,
        (_, Some(half), true) => Some(halved(half)),
        (Full::Planes(img), None, true) => {
            let (w, h) = rendition_size(img.width(), img.height(), Rendition::Quarter);
            Some(downscale(img, w, h))
        }
        (Full::Jpeg(data), None, true) => {
            Some(from_jpeg_at(data, |w, h| rendition_size(w, h, Rendition::Quarter))?)
        }
    };
    Ok((half_image, quarter_image))
}

/// A JPEG decoded at the smallest n/8 scale that still covers `target(width, height)`
/// of it, box-filtered to exactly that size, as 4:2:0 planes.
pub fn from_jpeg_at(
    data: &[u8],
    target: impl Fn(usize, usize) -> (usize, usize),
) -> Result<Yuv420, PreviewError> {
    // libjpeg pads a truncated frame with gray and only warns (silenced by mozjpeg), so a
    // cut-off camera frame would make a half-gray preview; the marker walk refuses it.
    let info = passthrough::inspect(data)?;
    let with_tables;
    let data = if info.has_tables {
        &data[..info.len]
    } else {
        // Motion-JPEG cameras leave out the standard Huffman tables.
        with_tables = passthrough::with_standard_tables(data, &info);
        &with_tables[..]
    };
    // mozjpeg reports every decoding error by unwinding; a bad frame costs this frame.
    match catch_unwind(AssertUnwindSafe(|| decode_scaled(data, &target))) {
        Ok(decoded) => {
            let (image, (w, h)) = decoded?;
            if (image.width(), image.height()) == (w, h) {
                Ok(image)
            } else {
                Ok(downscale(&image, w, h))
            }
        }
        Err(panic) => Err(PreviewError::Decode(crate::encode::panic_message(&panic))),
    }
}

/// Decodes at the scale [`scale_for`] picks; returns the planes at the decoded size and
/// the preview size they still have to be brought to.
fn decode_scaled(
    data: &[u8],
    target: &dyn Fn(usize, usize) -> (usize, usize),
) -> Result<(Yuv420, (usize, usize)), PreviewError> {
    use mozjpeg::ColorSpace;
    let failed = |e: std::io::Error| PreviewError::Decode(e.to_string());
    let mut d = mozjpeg::Decompress::new_mem(data).map_err(failed)?;
    let (width, height) = d.size();
    let target = target(width, height);
    d.scale(scale_for(width, height, target.0, target.1));
    // Plain replication of chroma: the planes are averaged back to 4:2:0 right after,
    // which undoes replication exactly, and it is faster than the smooth upsampler.
    d.do_fancy_upsampling(false);
    let out_space = match d.color_space() {
        ColorSpace::JCS_YCbCr => ColorSpace::JCS_YCbCr,
        ColorSpace::JCS_GRAYSCALE => ColorSpace::JCS_GRAYSCALE,
        ColorSpace::JCS_RGB => return Err(PreviewError::Unsupported("RGB")),
        ColorSpace::JCS_CMYK => return Err(PreviewError::Unsupported("CMYK")),
        ColorSpace::JCS_YCCK => return Err(PreviewError::Unsupported("YCCK")),
        _ => return Err(PreviewError::Unsupported("an unknown")),
    };
    let mut started = d.to_colorspace(out_space).map_err(failed)?;
    let (sw, sh) = (started.width(), started.height());
    let pixels: Vec<u8> = started.read_scanlines().map_err(failed)?;
    let image = match out_space {
        ColorSpace::JCS_GRAYSCALE => planes_from_gray(&pixels, sw, sh),
        _ => planes_from_ycbcr(&pixels, sw, sh),
    };
    Ok((image, target))
}

/// The n of the n/8 decoding scale: the smallest whose picture (libjpeg rounds up) is
/// still at least `out_w`×`out_h`, so the box filter only ever shrinks.
fn scale_for(width: usize, height: usize, out_w: usize, out_h: usize) -> u8 {
    (1..8u8)
        .find(|&n| {
            let n = n as usize;
            (width * n).div_ceil(8) >= out_w && (height * n).div_ceil(8) >= out_h
        })
        .unwrap_or(8)
}

/// Interleaved full-resolution YCbCr (the decoder's output) to 4:2:0 planes: luma
/// copied, each 2×2 block of chroma averaged (edge blocks with what they have).
fn planes_from_ycbcr(px: &[u8], width: usize, height: usize) -> Yuv420 {
    let mut out = Yuv420::new(width, height);
    let (ys, cs) = (out.y_stride(), out.c_stride());
    let line = width * 3;
    for (row, src) in px.chunks_exact(line).take(height).enumerate() {
        for (d, p) in out.y[row * ys..row * ys + width].iter_mut().zip(src.chunks_exact(3)) {
            *d = p[0];
        }
    }
    let pairs = width / 2;
    for crow in 0..height.div_ceil(2) {
        let (r0, r1) = (2 * crow, (2 * crow + 1).min(height - 1));
        let (l0, l1) = (&px[r0 * line..(r0 + 1) * line], &px[r1 * line..(r1 + 1) * line]);
        let cb = &mut out.cb[crow * cs..crow * cs + width.div_ceil(2)];
        let cr = &mut out.cr[crow * cs..crow * cs + width.div_ceil(2)];
        for (i, (a, b)) in l0.chunks_exact(6).zip(l1.chunks_exact(6)).enumerate() {
            let sum = |k: usize| a[k] as u32 + a[k + 3] as u32 + b[k] as u32 + b[k + 3] as u32;
            cb[i] = ((sum(1) + 2) >> 2) as u8;
            cr[i] = ((sum(2) + 2) >> 2) as u8;
        }
        if width % 2 == 1 {
            let (a, b) = (&l0[line - 3..], &l1[line - 3..]);
            cb[pairs] = ((a[1] as u32 + b[1] as u32 + 1) >> 1) as u8;
            cr[pairs] = ((a[2] as u32 + b[2] as u32 + 1) >> 1) as u8;
        }
    }
    out
}

/// A grayscale picture as 4:2:0 planes with neutral chroma.
fn planes_from_gray(px: &[u8], width: usize, height: usize) -> Yuv420 {
    let mut out = Yuv420::new(width, height);
    let ys = out.y_stride();
    for (row, src) in px.chunks_exact(width).take(height).enumerate() {
        out.y[row * ys..row * ys + width].copy_from_slice(src);
    }
    out
}

struct Plane<'a> {
    data: &'a [u8],
    stride: usize,
    width: usize,
    height: usize,
}

struct PlaneMut<'a> {
    data: &'a mut [u8],
    stride: usize,
    width: usize,
    height: usize,
}

fn scale_plane(src: Plane<'_>, dst: PlaneMut<'_>) {
    let (kx, ky) = (src.width / dst.width, src.height / dst.height);
    if (kx, ky) == (2, 2) && 2 * dst.width == src.width && 2 * dst.height == src.height {
        halve(src, dst);
    } else if kx * dst.width == src.width && ky * dst.height == src.height && (1..=8).contains(&kx) && ky <= 8
    {
        match kx {
            1 => scale_by::<1>(src, dst, ky),
            2 => scale_by::<2>(src, dst, ky),
            3 => scale_by::<3>(src, dst, ky),
            4 => scale_by::<4>(src, dst, ky),
            5 => scale_by::<5>(src, dst, ky),
            6 => scale_by::<6>(src, dst, ky),
            7 => scale_by::<7>(src, dst, ky),
            _ => scale_by::<8>(src, dst, ky),
        }
    } else {
        scale_weighted(src, dst);
    }
}

/// Exactly half (640×480 → 320×240, and every 4:2:0 chroma plane of it): straight from
/// two source rows to the output row, which the compiler vectorises.
fn halve(src: Plane<'_>, dst: PlaneMut<'_>) {
    for oy in 0..dst.height {
        let r0 = &src.data[2 * oy * src.stride..][..2 * dst.width];
        let r1 = &src.data[(2 * oy + 1) * src.stride..][..2 * dst.width];
        let out = &mut dst.data[oy * dst.stride..oy * dst.stride + dst.width];
        for ((o, a), b) in out.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
            *o = ((a[0] as u16 + a[1] as u16 + b[0] as u16 + b[1] as u16 + 2) >> 2) as u8;
        }
    }
}

/// Whole factors (1280→320, 1280→320, 1920→320 for planes): each output sample is the
/// mean of a KX×ky block. KX is a constant so the row sums unroll, and the sums fit in
/// 16 bits (at most 64 × 255), which lets the compiler keep more of them per register.
fn scale_by<const KX: usize>(src: Plane<'_>, dst: PlaneMut<'_>, ky: usize) {
    let area = (KX * ky) as u32;
    // Division by the area as a multiply: exact for sums this small (< 2^32 / area).
    let mul = (1u64 << 32).div_ceil(area as u64);
    let half = area / 2;
    let mut sums = vec![0u16; dst.width];
    for oy in 0..dst.height {
        sums.fill(0);
        for r in 0..ky {
            let start = (oy * ky + r) * src.stride;
            let row = &src.data[start..start + dst.width * KX];
            for (s, px) in sums.iter_mut().zip(row.chunks_exact(KX)) {
                let px: &[u8; KX] = px.try_into().unwrap_or(&[0; KX]);
                *s += px.iter().map(|&v| v as u16).sum::<u16>();
            }
        }
        let out = &mut dst.data[oy * dst.stride..oy * dst.stride + dst.width];
        for (o, &s) in out.iter_mut().zip(&sums) {
            *o = (((s as u32 + half) as u64 * mul) >> 32) as u8;
        }
    }
}

/// Fixed-point weights per axis: each output sample's weights sum to exactly this, so a
/// flat picture stays exactly flat.
const ONE: u32 = 1 << 10;

/// Which source samples one output sample covers, and how much of each.
struct Taps {
    /// First source index per output index.
    first: Vec<usize>,
    /// Range into `weights` per output index.
    span: Vec<(usize, usize)>,
    weights: Vec<u32>,
}

impl Taps {
    /// Output sample `j` covers source interval `[j·n/m, (j+1)·n/m)`; each source sample
    /// weighs by how much of it lies inside, in units of 1/m of a source sample.
    fn new(n: usize, m: usize) -> Taps {
        let mut taps =
            Taps { first: Vec::with_capacity(m), span: Vec::with_capacity(m), weights: Vec::new() };
        for j in 0..m {
            let (start, end) = (j * n, (j + 1) * n);
            let (first, last) = (start / m, (end - 1) / m);
            let at = taps.weights.len();
            for i in first..=last {
                let overlap = end.min((i + 1) * m) - start.max(i * m);
                taps.weights.push(((overlap as u64 * ONE as u64 + n as u64 / 2) / n as u64) as u32);
            }
            // Rounding may leave the sum a little off ONE; the largest weight absorbs it.
            let ws = &mut taps.weights[at..];
            let sum: u32 = ws.iter().sum();
            if let Some(big) = ws.iter_mut().max() {
                *big = (*big + ONE).saturating_sub(sum);
            }
            taps.first.push(first);
            taps.span.push((at, taps.weights.len()));
        }
        taps
    }

    /// The same weights seen from the source side, when shrinking: each source sample
    /// then lies in at most two consecutive outputs, `(first output, weight there,
    /// weight in the next)`, so a row is spread in one branch-free pass over the source.
    fn spread(&self, src_len: usize) -> Option<Vec<(usize, u32, u32)>> {
        let mut by_source: Vec<(usize, u32, u32)> = vec![(usize::MAX, 0, 0); src_len];
        for j in 0..self.first.len() {
            let (first, ws) = self.of(j);
            for (i, &w) in (first..).zip(ws) {
                let slot = by_source.get_mut(i)?;
                match slot.0 {
                    usize::MAX => *slot = (j, w, 0),
                    o if o + 1 == j && slot.2 == 0 => slot.2 = w,
                    _ => return None,
                }
            }
        }
        by_source.iter().all(|s| s.0 != usize::MAX).then_some(by_source)
    }

    fn of(&self, j: usize) -> (usize, &[u32]) {
        let (a, b) = self.span[j];
        (self.first[j], &self.weights[a..b])
    }
}

/// Any other ratio (the 480→320 left after a 2/8 JPEG decode): separable area weights.
fn scale_weighted(src: Plane<'_>, dst: PlaneMut<'_>) {
    let (tx, ty) = (Taps::new(src.width, dst.width), Taps::new(src.height, dst.height));
    match (tx.spread(src.width), ty.spread(src.height)) {
        (Some(sx), Some(sy)) => shrink_weighted(src, dst, &sx, &sy),
        _ => resample_weighted(src, dst, &tx, &ty),
    }
}

/// Shrinking: each source row is spread across once, then into the (at most two)
/// output rows it lies in; an output row is written when the source moves past it.
fn shrink_weighted(src: Plane<'_>, dst: PlaneMut<'_>, sx: &[(usize, u32, u32)], sy: &[(usize, u32, u32)]) {
    let mut across = vec![0u32; dst.width];
    let (mut here, mut next) = (vec![0u32; dst.width], vec![0u32; dst.width]);
    let mut at = 0;
    let finish = |acc: &[u32], out: &mut [u8]| {
        for (o, &s) in out.iter_mut().zip(acc) {
            *o = ((s + ONE * ONE / 2) / (ONE * ONE)) as u8;
        }
    };
    for (r, &(oy, w_here, w_next)) in sy.iter().enumerate().take(src.height) {
        while at < oy {
            finish(&here, &mut dst.data[at * dst.stride..at * dst.stride + dst.width]);
            std::mem::swap(&mut here, &mut next);
            next.fill(0);
            at += 1;
        }
        let row = &src.data[r * src.stride..r * src.stride + src.width];
        across.fill(0);
        // The two outputs being summed stay in registers: adding into `across` in memory
        // makes every sample wait for the previous sample's store.
        let (mut o_cur, mut cur, mut nxt) = (0, 0u32, 0u32);
        for (&v, &(o, a, b)) in row.iter().zip(sx) {
            if o != o_cur {
                across[o_cur] = cur;
                (cur, nxt) = if o == o_cur + 1 { (nxt, 0) } else { (0, 0) };
                o_cur = o;
            }
            cur += v as u32 * a;
            nxt += v as u32 * b;
        }
        across[o_cur] = cur;
        for ((h, n), &a) in here.iter_mut().zip(next.iter_mut()).zip(&across) {
            *h += a * w_here;
            *n += a * w_next;
        }
    }
    while at < dst.height {
        finish(&here, &mut dst.data[at * dst.stride..at * dst.stride + dst.width]);
        std::mem::swap(&mut here, &mut next);
        next.fill(0);
        at += 1;
    }
}

/// Enlarging (not what previews do, but not a panic either): per output sample, the
/// weighted sum of the source samples it covers.
fn resample_weighted(src: Plane<'_>, dst: PlaneMut<'_>, tx: &Taps, ty: &Taps) {
    let mut across = vec![0u32; dst.width];
    let mut acc = vec![0u32; dst.width];
    for oy in 0..dst.height {
        acc.fill(0);
        let (first_row, wy) = ty.of(oy);
        for (r, &w_row) in wy.iter().enumerate() {
            let row = &src.data[(first_row + r) * src.stride..][..src.width];
            for (ox, a) in across.iter_mut().enumerate() {
                let (first, wx) = tx.of(ox);
                *a = row[first..first + wx.len()].iter().zip(wx).map(|(&v, &w)| v as u32 * w).sum();
            }
            for (s, &a) in acc.iter_mut().zip(&across) {
                *s += a * w_row;
            }
        }
        let out = &mut dst.data[oy * dst.stride..oy * dst.stride + dst.width];
        for (o, &s) in out.iter_mut().zip(&acc) {
            *o = ((s + ONE * ONE / 2) / (ONE * ONE)) as u8;
        }
    }
}

/// Repeats each row's last sample into the stride padding: the encoder codes whole
/// 8-sample blocks, and black padding would ring into the picture's right edge.
fn fill_right_padding(img: &mut Yuv420) {
    let (w, h, ys, cs) = (img.width(), img.height(), img.y_stride(), img.c_stride());
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let fill = |plane: &mut [u8], stride: usize, width: usize, rows: usize| {
        if width == 0 || width >= stride {
            return;
        }
        for row in plane.chunks_exact_mut(stride).take(rows) {
            let last = row[width - 1];
            row[width..].fill(last);
        }
    };
    fill(&mut img.y, ys, w, h);
    fill(&mut img.cb, cs, cw, ch);
    fill(&mut img.cr, cs, cw, ch);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth scene with some edges: gradients plus a bright disc, chroma varying too.
    fn scene(w: usize, h: usize) -> Yuv420 {
        let mut img = Yuv420::new(w, h);
        let (ys, cs) = (img.y_stride(), img.c_stride());
        let (cx, cy, r) = (w as f64 * 0.6, h as f64 * 0.4, h as f64 * 0.25);
        for y in 0..h {
            for x in 0..w {
                let inside = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() < r;
                let v = if inside {
                    230.0
                } else {
                    30.0 + 150.0 * x as f64 / w as f64 + 40.0 * y as f64 / h as f64
                };
                img.y[y * ys + x] = v as u8;
            }
        }
        for y in 0..h.div_ceil(2) {
            for x in 0..w.div_ceil(2) {
                img.cb[y * cs + x] = (64 + 128 * x / w.div_ceil(2)) as u8;
                img.cr[y * cs + x] = (192 - 128 * y / h.div_ceil(2)) as u8;
            }
        }
        img.fill_bottom_padding();
        img
    }

    fn flat(w: usize, h: usize, (y, cb, cr): (u8, u8, u8)) -> Yuv420 {
        let mut img = Yuv420::new(w, h);
        img.y.fill(y);
        img.cb.fill(cb);
        img.cr.fill(cr);
        img
    }

    /// The visible samples of a plane, row after row.
    fn visible(plane: &[u8], stride: usize, width: usize, height: usize) -> Vec<u8> {
        plane.chunks_exact(stride).take(height).flat_map(|r| r[..width].iter().copied()).collect()
    }

    fn luma(img: &Yuv420) -> Vec<u8> {
        visible(&img.y, img.y_stride(), img.width(), img.height())
    }

    fn chroma(img: &Yuv420) -> Vec<u8> {
        let (cw, ch) = (img.width().div_ceil(2), img.height().div_ceil(2));
        let mut c = visible(&img.cb, img.c_stride(), cw, ch);
        c.extend(visible(&img.cr, img.c_stride(), cw, ch));
        c
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mse = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    fn failure(result: Result<Yuv420, PreviewError>) -> PreviewError {
        match result {
            Ok(img) => panic!("expected an error, got a {}x{} picture", img.width(), img.height()),
            Err(e) => e,
        }
    }

    fn sof_size(jpeg: &[u8]) -> (u32, u32) {
        let info = passthrough::inspect(jpeg).unwrap();
        (info.width, info.height)
    }

    /// A JPEG from mozjpeg with the given chroma sampling, from interleaved YCbCr.
    fn ycbcr_jpeg(img: &Yuv420, sampling: (u8, u8)) -> Vec<u8> {
        let (w, h, ys, cs) = (img.width(), img.height(), img.y_stride(), img.c_stride());
        let mut px = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                px.extend([img.y[y * ys + x], img.cb[(y / 2) * cs + x / 2], img.cr[(y / 2) * cs + x / 2]]);
            }
        }
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_YCbCr);
        c.set_size(w, h);
        c.set_quality(90.0);
        c.set_chroma_sampling_pixel_sizes(sampling, sampling);
        let mut s = c.start_compress(Vec::new()).unwrap();
        s.write_scanlines(&px).unwrap();
        s.finish().unwrap()
    }

    #[test]
    fn common_sizes_shrink_to_320_wide_with_the_aspect_kept() {
        assert_eq!(preview_size(640, 480, 320), (320, 240));
        assert_eq!(preview_size(1280, 720, 320), (320, 180));
        assert_eq!(preview_size(1920, 1080, 320), (320, 180));
        assert_eq!(preview_size(1366, 768, 320), (320, 180));
        assert_eq!(preview_size(1280, 1024, 320), (320, 256));
        assert_eq!(preview_size(1920, 1080, 200), (200, 112));
    }

    #[test]
    fn a_picture_narrower_than_the_preview_is_not_enlarged() {
        assert_eq!(preview_size(160, 120, 320), (160, 120));
        assert_eq!(preview_size(320, 240, 320), (320, 240));
    }

    #[test]
    fn preview_sides_are_always_even() {
        for (w, h) in [(641, 481), (333, 123), (1001, 999), (321, 321), (99, 77)] {
            let (pw, ph) = preview_size(w, h, 320);
            assert!(pw % 2 == 0 && ph % 2 == 0, "{w}x{h} -> {pw}x{ph}");
            assert!(pw <= w && ph <= h, "{w}x{h} -> {pw}x{ph}");
        }
    }

    #[test]
    fn previews_are_at_least_16_pixels_unless_the_source_is_smaller() {
        assert_eq!(preview_size(4000, 100, 320), (320, 16));
        assert_eq!(preview_size(1920, 1080, 4), (16, 16));
        assert_eq!(preview_size(10, 8, 320), (10, 8));
        assert_eq!(preview_size(0, 0, 320), (0, 0));
    }

    #[test]
    fn a_flat_colour_stays_that_colour_at_any_ratio() {
        let colour = (77, 200, 31);
        for (w, h, ow, oh) in
            [(640, 480, 320, 240), (480, 270, 320, 180), (1000, 750, 318, 238), (99, 77, 32, 24)]
        {
            let out = downscale(&flat(w, h, colour), ow, oh);
            assert_eq!((out.width(), out.height()), (ow, oh));
            assert!(luma(&out).iter().all(|&v| v == colour.0), "{w}x{h} -> {ow}x{oh}");
            let (cw, ch) = (ow / 2, oh / 2);
            assert!(visible(&out.cb, out.c_stride(), cw, ch).iter().all(|&v| v == colour.1));
            assert!(visible(&out.cr, out.c_stride(), cw, ch).iter().all(|&v| v == colour.2));
        }
    }

    #[test]
    fn halving_averages_each_two_by_two_block() {
        let mut img = Yuv420::new(4, 2);
        let s = img.y_stride();
        img.y[..4].copy_from_slice(&[0, 10, 100, 200]);
        img.y[s..s + 4].copy_from_slice(&[20, 30, 101, 200]);
        let out = downscale(&img, 2, 1);
        // (0+10+20+30)/4 = 15; (100+200+101+200)/4 = 150.25.
        assert_eq!(&out.y[..2], &[15, 150]);
    }

    #[test]
    fn a_gradient_averages_to_the_mean_of_each_box() {
        // A ramp shrunk by 1.5 (480 → 320): output j covers source [1.5j, 1.5j + 1.5),
        // so its value is the area-weighted mean of the samples that interval touches.
        let mut img = Yuv420::new(480, 32);
        let s = img.y_stride();
        for row in img.y.chunks_exact_mut(s) {
            for (x, v) in row.iter_mut().take(480).enumerate() {
                *v = (x / 2) as u8;
            }
        }
        let out = downscale(&img, 320, 32);
        for (j, &v) in out.y[..320].iter().enumerate() {
            let (a, b) = (1.5 * j as f64, 1.5 * j as f64 + 1.5);
            let mean = (a.floor() as usize..b.ceil() as usize)
                .map(|x| (b.min(x as f64 + 1.0) - a.max(x as f64)) * (x / 2) as f64)
                .sum::<f64>()
                / 1.5;
            assert!((v as f64 - mean).abs() <= 0.51, "j={j}: {v} vs {mean}");
        }
        // Every row of the ramp is the same, so every output row is too.
        assert!(out.y.chunks_exact(out.y_stride()).take(32).all(|r| r[..320] == out.y[..320]));
    }

    #[test]
    fn whole_factors_agree_with_the_general_weights() {
        let img = scene(240, 180);
        for (ow, oh) in [(120, 90), (80, 60), (40, 30)] {
            let fast = downscale(&img, ow, oh);
            let mut general = Yuv420::new(ow, oh);
            let src = Plane { data: &img.y, stride: img.y_stride(), width: 240, height: 180 };
            let (stride, data) = (general.y_stride(), &mut general.y);
            scale_weighted(src, PlaneMut { data, stride, width: ow, height: oh });
            for (a, b) in luma(&fast).iter().zip(luma(&general)) {
                assert!(a.abs_diff(b) <= 1, "{ow}x{oh}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn enlarging_keeps_a_flat_colour_and_does_not_panic() {
        let out = downscale(&flat(20, 10, (50, 60, 70)), 33, 17);
        assert!(luma(&out).iter().all(|&v| v == 50));
        assert!(chroma(&out).iter().all(|&v| v == 60 || v == 70));
        assert_eq!(luma(&downscale(&Yuv420::new(0, 0), 16, 16)).len(), 256);
    }

    #[test]
    fn the_right_padding_repeats_the_edge() {
        let out = downscale(&flat(100, 100, (90, 100, 110)), 30, 30);
        assert_eq!(out.y_stride(), 32);
        assert!(out.y.iter().all(|&v| v == 90));
        assert!(out.cb.iter().all(|&v| v == 100));
    }

    #[test]
    fn the_decoding_scale_is_the_smallest_that_still_covers_the_preview() {
        assert_eq!(scale_for(1920, 1080, 320, 180), 2, "1080p decodes 480 wide, not full size");
        assert_eq!(scale_for(1280, 720, 320, 180), 2);
        assert_eq!(scale_for(640, 480, 320, 240), 4);
        assert_eq!(scale_for(2560, 1440, 320, 180), 1);
        assert_eq!(scale_for(400, 300, 320, 240), 7);
        assert_eq!(scale_for(320, 240, 320, 240), 8);
    }

    #[test]
    fn a_1080p_jpeg_is_decoded_at_a_quarter_size() {
        let jpeg = Encoder::new(80).encode_into(&scene(1920, 1080), Vec::new()).unwrap();
        let (decoded, target) = decode_scaled(&jpeg, &|w, h| preview_size(w, h, 320)).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (480, 270));
        assert_eq!(target, (320, 180));
        let preview = from_jpeg(&jpeg, 320).unwrap();
        assert_eq!((preview.width(), preview.height()), (320, 180));
    }

    #[test]
    fn a_720p_jpeg_preview_matches_the_downscaled_original() {
        let original = scene(1280, 720);
        let jpeg = Encoder::new(90).encode_into(&original, Vec::new()).unwrap();
        let preview = from_jpeg(&jpeg, 320).unwrap();
        assert_eq!((preview.width(), preview.height()), (320, 180));
        let reference = downscale(&original, 320, 180);
        let (py, pc) =
            (psnr(&luma(&preview), &luma(&reference)), psnr(&chroma(&preview), &chroma(&reference)));
        assert!(py > 30.0 && pc > 30.0, "luma {py:.1} dB, chroma {pc:.1} dB");
    }

    #[test]
    fn renditions_halve_each_side_to_even_numbers() {
        use wire::ack::Rendition::*;
        assert_eq!(rendition_size(1280, 720, Full), (1280, 720));
        assert_eq!(rendition_size(1280, 720, Half), (640, 360));
        assert_eq!(rendition_size(1280, 720, Quarter), (320, 180));
        assert_eq!(rendition_size(1920, 1080, Quarter), (480, 270));
        assert_eq!(rendition_size(640, 480, Quarter), (160, 120));
        assert_eq!(rendition_size(1366, 768, Half), (684, 384));
        assert_eq!(rendition_size(1366, 768, Quarter), (342, 192));
        assert_eq!(rendition_size(2, 2, Quarter), (2, 2));
        for (w, h) in [(1000, 750), (641, 359), (96, 64)] {
            let (qw, qh) = rendition_size(w, h, Quarter);
            assert!(qw % 2 == 0 && qh % 2 == 0, "{w}x{h} -> {qw}x{qh}");
        }
    }

    #[test]
    fn a_jpegs_half_is_a_single_decode_at_four_eighths() {
        use wire::ack::Rendition::*;
        let jpeg = Encoder::new(80).encode_into(&scene(1280, 720), Vec::new()).unwrap();
        let (decoded, target) = decode_scaled(&jpeg, &|w, h| rendition_size(w, h, Half)).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (640, 360), "decoded at that size, not resized");
        assert_eq!(target, (640, 360));
        let (decoded, _) = decode_scaled(&jpeg, &|w, h| rendition_size(w, h, Quarter)).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 180));
    }

    #[test]
    fn the_smaller_renditions_match_the_downscaled_original_from_planes_or_a_jpeg() {
        let original = scene(1280, 720);
        let jpeg = Encoder::new(90).encode_into(&original, Vec::new()).unwrap();
        for full in [Full::Planes(&original), Full::Jpeg(&jpeg)] {
            for (half, quarter) in [(true, true), (true, false), (false, true)] {
                let (h, q) = smaller(full, half, quarter).unwrap();
                assert_eq!((h.is_some(), q.is_some()), (half, quarter));
                for (img, (w, hh)) in [(h, (640, 360)), (q, (320, 180))] {
                    let Some(img) = img else { continue };
                    assert_eq!((img.width(), img.height()), (w, hh));
                    let reference = downscale(&original, w, hh);
                    let py = psnr(&luma(&img), &luma(&reference));
                    let pc = psnr(&chroma(&img), &chroma(&reference));
                    assert!(py > 30.0 && pc > 30.0, "{w}x{hh}: luma {py:.1} dB, chroma {pc:.1} dB");
                }
            }
        }
        assert!(matches!(smaller(Full::Jpeg(b"nope"), true, false), Err(PreviewError::Jpeg(_))));
    }

    #[test]
    fn a_422_jpeg_is_subsampled_to_420() {
        let original = scene(640, 480);
        let jpeg = ycbcr_jpeg(&original, (2, 1));
        let preview = from_jpeg(&jpeg, 320).unwrap();
        let reference = downscale(&original, 320, 240);
        let (py, pc) =
            (psnr(&luma(&preview), &luma(&reference)), psnr(&chroma(&preview), &chroma(&reference)));
        assert!(py > 30.0 && pc > 30.0, "luma {py:.1} dB, chroma {pc:.1} dB");
    }

    #[test]
    fn a_444_jpeg_of_odd_size_is_previewed() {
        let original = scene(641, 359);
        let preview = from_jpeg(&ycbcr_jpeg(&original, (1, 1)), 320).unwrap();
        assert_eq!((preview.width(), preview.height()), (320, 180));
    }

    #[test]
    fn a_grayscale_jpeg_gets_neutral_chroma() {
        let (w, h) = (320, 200);
        let px: Vec<u8> = (0..w * h).map(|i| (i % w * 255 / w) as u8).collect();
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
        c.set_size(w, h);
        let mut s = c.start_compress(Vec::new()).unwrap();
        s.write_scanlines(&px).unwrap();
        let jpeg = s.finish().unwrap();
        let preview = from_jpeg(&jpeg, 160).unwrap();
        assert_eq!((preview.width(), preview.height()), (160, 100));
        assert!(chroma(&preview).iter().all(|&v| v == 128));
        let left_to_right = luma(&preview);
        assert!(left_to_right[0] < 10 && left_to_right[159] > 245, "{:?}", &left_to_right[..160]);
    }

    #[test]
    fn an_rgb_coded_jpeg_is_refused_by_name() {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(32, 32);
        c.set_color_space(mozjpeg::ColorSpace::JCS_RGB);
        let mut s = c.start_compress(Vec::new()).unwrap();
        s.write_scanlines(&[90u8; 32 * 32 * 3]).unwrap();
        let jpeg = s.finish().unwrap();
        let err = failure(from_jpeg(&jpeg, 16));
        assert!(matches!(err, PreviewError::Unsupported("RGB")), "{err}");
        assert!(err.to_string().contains("only YCbCr and grayscale"), "{err}");
    }

    #[test]
    fn a_truncated_jpeg_is_an_error() {
        let jpeg = Encoder::new(80).encode_into(&scene(320, 240), Vec::new()).unwrap();
        let err = failure(from_jpeg(&jpeg[..jpeg.len() / 2], 160));
        assert!(matches!(err, PreviewError::Jpeg(JpegError::NoEnd)), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(from_jpeg(b"not a jpeg at all", 320), Err(PreviewError::Jpeg(_))));
        // Valid markers around corrupt tables: libjpeg raises, which must come back as an error.
        let mut jpeg = Encoder::new(80).encode_into(&scene(64, 48), Vec::new()).unwrap();
        let dqt = jpeg.windows(2).position(|w| w == [0xFF, 0xDB]).unwrap();
        jpeg[dqt + 4] = 0x7F; // precision 7 and table 15: invalid
        let err = failure(from_jpeg(&jpeg, 32));
        assert!(matches!(err, PreviewError::Decode(_)), "{err}");
        // Scrambled entropy-coded data decodes to something (libjpeg only warns) but never panics.
        let mut noisy = Encoder::new(80).encode_into(&scene(64, 48), Vec::new()).unwrap();
        let sos = noisy.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let end = noisy.len() - 2;
        for (i, b) in noisy[sos + 14..end].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) & 0xFE;
        }
        let _ = from_jpeg(&noisy, 32);
    }

    #[test]
    fn a_motion_jpeg_without_huffman_tables_is_previewed() {
        let jpeg = Encoder::new(80).encode_into(&scene(320, 240), Vec::new()).unwrap();
        // Cut out every DHT segment, as MJPEG cameras send them.
        let mut stripped = jpeg[..2].to_vec();
        let mut pos = 2;
        while jpeg[pos + 1] != 0xDA {
            let len = u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
            if jpeg[pos + 1] != 0xC4 {
                stripped.extend_from_slice(&jpeg[pos..pos + 2 + len]);
            }
            pos += 2 + len;
        }
        stripped.extend_from_slice(&jpeg[pos..]);
        assert!(!passthrough::inspect(&stripped).unwrap().has_tables);
        let preview = from_jpeg(&stripped, 160).unwrap();
        assert_eq!((preview.width(), preview.height()), (160, 120));
    }

    #[test]
    fn the_previewer_makes_a_small_jpeg_from_planes_or_a_jpeg() {
        let previewer = Previewer::new(DEFAULT_MAX_WIDTH, 70);
        let planes = scene(1280, 720);
        let (jpeg, w, h) = previewer.make(Full::Planes(&planes)).unwrap();
        assert_eq!((w, h), (320, 180));
        assert_eq!(sof_size(&jpeg), (320, 180));
        let full = Encoder::new(80).encode_into(&planes, Vec::new()).unwrap();
        let (from_jpeg, w, h) = previewer.make_into(Full::Jpeg(&full), vec![9; 4]).unwrap();
        assert_eq!((w, h), (320, 180));
        assert_eq!(&from_jpeg[..4], &[9; 4]);
        assert_eq!(sof_size(&from_jpeg[4..]), (320, 180));
        assert!(from_jpeg.len() < full.len() / 4);
    }

    #[test]
    fn a_bad_jpeg_fails_the_previewer_without_panicking() {
        let err = Previewer::new(320, 70).make(Full::Jpeg(&[0xFF, 0xD8, 0xFF])).unwrap_err();
        assert!(matches!(err, PreviewError::Jpeg(_)), "{err}");
    }

    /// The cost table; run with
    /// `cargo test --release -p edge --lib preview::tests::cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn cost() {
        use crate::source::Source;
        use std::time::{Duration, Instant};
        fn time<T>(mut f: impl FnMut() -> T) -> Duration {
            let start = Instant::now();
            let mut n = 0u32;
            while n < 20 || start.elapsed() < Duration::from_millis(700) {
                std::hint::black_box(f());
                n += 1;
            }
            start.elapsed() / n
        }
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        let previewer = Previewer::new(DEFAULT_MAX_WIDTH, 75);
        println!("| source | full JPEG KB | planes→preview JPEG ms | (downscale only) | JPEG→preview JPEG ms | (from_jpeg only) | (libjpeg at n/8 only) | full decode ms | preview KB |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for (w, h) in [(640, 480), (1280, 720), (1920, 1080)] {
            // The test pattern: textured like a real scene, so the JPEG's entropy-coded
            // data (which every decode reads in full, whatever the scale) is realistic.
            let planes = match crate::source::pattern::Pattern::new(w, h, 0).next_frame() {
                Ok(crate::frame::Captured { picture: crate::frame::Picture::Planar(img), .. }) => img,
                _ => panic!("the test pattern makes planes"),
            };
            let full = Encoder::new(75).encode_into(&planes, Vec::new()).unwrap();
            let (pw, ph) = preview_size(w, h, DEFAULT_MAX_WIDTH);
            let from_planes = time(|| previewer.make(Full::Planes(&planes)).unwrap());
            let shrink = time(|| downscale(&planes, pw, ph));
            let from_jpg = time(|| previewer.make(Full::Jpeg(&full)).unwrap());
            let scaled = time(|| from_jpeg(&full, DEFAULT_MAX_WIDTH).unwrap());
            let n = scale_for(w, h, pw, ph);
            let libjpeg = time(|| {
                let mut d = mozjpeg::Decompress::new_mem(&full).unwrap();
                d.scale(n);
                d.do_fancy_upsampling(false);
                d.to_colorspace(mozjpeg::ColorSpace::JCS_YCbCr).unwrap().read_scanlines::<u8>().unwrap()
            });
            let whole = time(|| {
                let d = mozjpeg::Decompress::new_mem(&full).unwrap();
                d.to_colorspace(mozjpeg::ColorSpace::JCS_YCbCr).unwrap().read_scanlines::<u8>().unwrap()
            });
            let kb = previewer.make(Full::Jpeg(&full)).unwrap().0.len() as f64 / 1000.0;
            println!(
                "| {w}x{h} | {:.0} | {} | {} | {} | {} | {n}/8: {} | {} | {kb:.1} |",
                full.len() as f64 / 1000.0,
                ms(from_planes),
                ms(shrink),
                ms(from_jpg),
                ms(scaled),
                ms(libjpeg),
                ms(whole)
            );
        }
    }

    /// What each smaller rendition costs per frame at 1280x720, from planes and from a
    /// camera's JPEG, and its typical size for the test pattern at quality 75; run with
    /// `cargo test --release -p edge --lib preview::tests::rendition_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn rendition_cost() {
        use crate::source::Source;
        use std::time::{Duration, Instant};
        use wire::ack::Rendition;
        fn time<T>(mut f: impl FnMut() -> T) -> Duration {
            let start = Instant::now();
            let mut n = 0u32;
            while n < 20 || start.elapsed() < Duration::from_millis(1000) {
                std::hint::black_box(f());
                n += 1;
            }
            start.elapsed() / n
        }
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        let (w, h) = (1280, 720);
        let planes = match crate::source::pattern::Pattern::new(w, h, 0).next_frame() {
            Ok(crate::frame::Captured { picture: crate::frame::Picture::Planar(img), .. }) => img,
            _ => panic!("the test pattern makes planes"),
        };
        let encoder = Encoder::new(75);
        let full = encoder.encode_into(&planes, Vec::new()).unwrap();
        let encode = |(half, quarter): (Option<Yuv420>, Option<Yuv420>)| {
            let a = half.map(|i| encoder.encode_into(&i, Vec::new()).unwrap().len());
            let b = quarter.map(|i| encoder.encode_into(&i, Vec::new()).unwrap().len());
            (a, b)
        };
        let full_encode = time(|| encoder.encode_into(&planes, Vec::new()).unwrap());
        println!(
            "1280x720 test pattern, quality 75, one core; full JPEG {:.1} KB, full encode {} ms",
            full.len() as f64 / 1000.0,
            ms(full_encode)
        );
        println!("| source | rendition(s) | size | scale only ms | scale + encode ms | KB/frame |");
        println!("|---|---|---|---|---|---|");
        let (hb, qb) = encode(smaller(Full::Planes(&planes), true, true).unwrap());
        let kb = |b: Option<usize>| b.map_or(0.0, |b| b as f64 / 1000.0);
        for (source, f) in [("raw planes", Full::Planes(&planes)), ("camera JPEG", Full::Jpeg(&full))] {
            for (name, half, quarter) in
                [("half", true, false), ("quarter", false, true), ("half + quarter", true, true)]
            {
                let scale = time(|| smaller(f, half, quarter).unwrap());
                let all = time(|| encode(smaller(f, half, quarter).unwrap()));
                let size = match (half, quarter) {
                    (true, true) => "640x360 + 320x180".to_string(),
                    (true, false) => {
                        let (w, h) = rendition_size(1280, 720, Rendition::Half);
                        format!("{w}x{h}")
                    }
                    _ => {
                        let (w, h) = rendition_size(1280, 720, Rendition::Quarter);
                        format!("{w}x{h}")
                    }
                };
                let bytes = match (half, quarter) {
                    (true, true) => format!("{:.1} + {:.1}", kb(hb), kb(qb)),
                    (true, false) => format!("{:.1}", kb(hb)),
                    _ => format!("{:.1}", kb(qb)),
                };
                println!("| {source} | {name} | {size} | {} | {} | {bytes} |", ms(scale), ms(all));
            }
        }
        let whole = time(|| {
            let d = mozjpeg::Decompress::new_mem(&full).unwrap();
            d.to_colorspace(mozjpeg::ColorSpace::JCS_YCbCr).unwrap().read_scanlines::<u8>().unwrap()
        });
        println!("(for comparison: a full decode of the camera JPEG alone {} ms)", ms(whole));
    }
}
