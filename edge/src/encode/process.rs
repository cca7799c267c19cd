//! One captured frame to the payloads the publisher sends: converted and encoded, or a
//! camera's JPEG checked and passed through, then stamped (the [`wire`] format); its
//! preview and smaller renditions made beside it on request.

use std::time::Instant;

use wire::{ack::Rendition, FrameHeader, RESERVED};

use super::{
    convert::{nv12_to_yuv420, yuyv_to_yuv420, ConvertError},
    passthrough::{self, JpegError},
    preview::{self, Full, Previewer},
    EncodeError, Encoder,
};
use crate::{
    clock,
    frame::{Captured, Picture},
};

/// A captured frame and its place in the sequence.
pub struct Job {
    pub sequence: u64,
    pub captured: Captured,
}

/// Why a frame was not published.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("camera JPEG rejected: {0}")]
    BadJpeg(#[from] JpegError),
    #[error("frame not stamped: {0}")]
    Stamp(#[from] wire::WireError),
}

/// A frame's published payload (a stamped JPEG), unless only its preview was asked for,
/// its smaller renditions asked for and, when asked for, its preview's.
pub struct Processed {
    pub payload: Option<Vec<u8>>,
    /// Half and quarter (stamped JPEGs), each with the µs it took to make.
    pub smaller: Vec<(Rendition, Vec<u8>, u64)>,
    pub preview: Option<Vec<u8>>,
}

/// A JPEG made (after room for the stamp) with its width and height.
type Made = (Vec<u8>, u32, u32);

/// What to make of one captured frame besides the full-size JPEG.
#[derive(Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The preview, made by this.
    pub preview: Option<&'a Previewer>,
    /// The smaller renditions (half, quarter) asked for, with the camera's encoder.
    pub smaller: Option<(&'a Encoder, &'a [Rendition])>,
    /// Shown the preview's planes when one is made (motion detection).
    pub look: Option<&'a dyn Fn(&crate::frame::Yuv420)>,
}

/// Turns a captured frame into a published payload, a stamped JPEG (with an `encoder`;
/// `None` when nobody watches the full stream); with `preview`, also a preview payload,
/// made from the planes the encoder reads or from a reduced-scale decode of the camera's
/// JPEG (never a full decode and resize).
pub fn process(
    job: Job,
    encoder: Option<&Encoder>,
    size_hint: usize,
    preview: Option<&Previewer>,
) -> Result<Processed, FrameError> {
    process_with(job, encoder, size_hint, Extras { preview, smaller: None, look: None })
}

/// [`process`], also making the smaller renditions `extras` asks for, from the same
/// planes or the same camera JPEG (see `preview::smaller`), with the same sequence
/// number and capture time. One that cannot be made (a JPEG libjpeg cannot scale) is
/// left out; the full frame still goes.
pub fn process_with(
    job: Job,
    encoder: Option<&Encoder>,
    size_hint: usize,
    extras: Extras<'_>,
) -> Result<Processed, FrameError> {
    let Job { sequence, captured } = job;
    // Room for the stamp in front, so the JPEG is written where the payload wants it
    // and stamped in place (`wire::FrameHeader::write_to`).
    let mut out = Vec::with_capacity(RESERVED + size_hint);
    out.resize(RESERVED, 0);
    let small;
    let smaller;
    let shrink = |full: Full<'_>| {
        let maker = extras.preview?;
        match maker.make_looking(full, vec![0; RESERVED], extras.look) {
            Ok(p) => Some(p),
            Err(e) => {
                // The full frame still goes out; the preview waits for the next one.
                tracing::debug!(sequence, error = %e, "no preview of this frame");
                None
            }
        }
    };
    let make_smaller = |full: Full<'_>| -> Vec<(Rendition, Made, u64)> {
        let Some((encoder, asked)) = extras.smaller else { return Vec::new() };
        let started = Instant::now();
        let (half, quarter) = (asked.contains(&Rendition::Half), asked.contains(&Rendition::Quarter));
        let (half, quarter) = match preview::smaller(full, half, quarter) {
            Ok(pictures) => pictures,
            Err(e) => {
                tracing::debug!(sequence, error = %e, "no smaller renditions of this frame");
                return Vec::new();
            }
        };
        let mut made = Vec::new();
        for (rendition, picture) in [(Rendition::Half, half), (Rendition::Quarter, quarter)] {
            let Some(picture) = picture else { continue };
            match encoder.encode_into(&picture, vec![0; RESERVED]) {
                Ok(jpeg) => {
                    let size = (jpeg, picture.width() as u32, picture.height() as u32);
                    made.push((rendition, size, 0));
                }
                Err(e) => tracing::debug!(sequence, error = %e, rendition = rendition.name(), "not encoded"),
            }
        }
        // Shared work (a decode, the half the quarter is made from) is shared out evenly.
        let each = started.elapsed().as_micros() as u64 / made.len().max(1) as u64;
        made.iter_mut().for_each(|m| m.2 = each);
        made
    };
    let (width, height) = match captured.picture {
        Picture::Planar(img) => {
            if let Some(encoder) = encoder {
                out = encoder.encode_into(&img, out)?;
            }
            small = shrink(Full::Planes(&img));
            smaller = make_smaller(Full::Planes(&img));
            (img.width(), img.height())
        }
        Picture::Yuyv { data, width, height, stride, range } => {
            let img = yuyv_to_yuv420(&data, width, height, stride, range)?;
            if let Some(encoder) = encoder {
                out = encoder.encode_into(&img, out)?;
            }
            small = shrink(Full::Planes(&img));
            smaller = make_smaller(Full::Planes(&img));
            (width, height)
        }
        Picture::Nv12 { data, width, height, stride, range } => {
            let img = nv12_to_yuv420(&data, width, height, stride, range)?;
            if let Some(encoder) = encoder {
                out = encoder.encode_into(&img, out)?;
            }
            small = shrink(Full::Planes(&img));
            smaller = make_smaller(Full::Planes(&img));
            (width, height)
        }
        Picture::Jpeg(data) => {
            let info = passthrough::inspect(&data)?;
            if info.has_tables {
                // A frame recorded from the bus and replayed is stamped afresh, not twice.
                let end = wire::stamp_end(&data[..info.len]).unwrap_or(2);
                out.extend_from_slice(&data[..2]);
                out.extend_from_slice(&data[end..info.len]);
            } else {
                out.extend_from_slice(&passthrough::with_standard_tables(&data, &info));
            }
            small = shrink(Full::Jpeg(&out[RESERVED..]));
            smaller = make_smaller(Full::Jpeg(&out[RESERVED..]));
            (info.width as usize, info.height as usize)
        }
    };
    let stamp = |out: &mut Vec<u8>, width: u32, height: u32| {
        FrameHeader {
            sequence,
            capture_us: captured.capture_us,
            encoded_us: clock::now_us(),
            width,
            height,
            // Stamped by the publisher when it hands the frame to MQTT, as are the flags.
            published_us: 0,
            flags: 0,
        }
        .write_to(out)
    };
    if encoder.is_some() {
        stamp(&mut out, width as u32, height as u32)?;
    }
    // The encoders' JPEGs all start with their SOI: a failure here would be a bug, and
    // costs only that picture.
    let preview = small.and_then(|(mut p, w, h)| stamp(&mut p, w, h).ok().map(|()| p));
    let smaller = smaller
        .into_iter()
        .filter_map(|(r, (mut p, w, h), took)| stamp(&mut p, w, h).ok().map(|()| (r, p, took)))
        .collect();
    Ok(Processed { payload: encoder.is_some().then_some(out), smaller, preview })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn jpeg_of(img: &crate::frame::Yuv420) -> Vec<u8> {
        Encoder::new(80).encode_into(img, Vec::new()).unwrap()
    }

    /// A YUYV buffer of a horizontal luma ramp, limited range, neutral chroma.
    pub(crate) fn yuyv_ramp(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 2);
        for _ in 0..h {
            for x in 0..w {
                v.push((16 + x * 219 / (w - 1)) as u8);
                v.push(128);
            }
        }
        v
    }

    fn decode_gray(jpeg: &[u8]) -> Vec<u8> {
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        let rgb = d.decode().unwrap();
        rgb.chunks(3).map(|p| p[0]).collect()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 =
            a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn a_yuyv_frame_encodes_close_to_its_source() {
        let (w, h) = (64, 32);
        let captured = Captured {
            picture: Picture::Yuyv {
                data: yuyv_ramp(w, h),
                width: w,
                height: h,
                stride: w * 2,
                range: crate::frame::Range::Limited,
            },
            capture_us: 1,
        };
        let payload = process(Job { sequence: 5, captured }, Some(&Encoder::new(90)), 0, None)
            .unwrap()
            .payload
            .unwrap();
        let (header, jpeg) = wire::parse(&payload).unwrap();
        assert_eq!((header.sequence, header.capture_us, header.width, header.height), (5, 1, 64, 32));
        // Expected: the full-range ramp, computed from BT.601 here, independently.
        let want: Vec<u8> = (0..h).flat_map(|_| (0..w).map(|x| (x * 255 / (w - 1)) as u8)).collect();
        let got = decode_gray(jpeg);
        let p = psnr(&want, &got);
        assert!(p > 35.0, "PSNR {p:.1} dB");
    }

    #[test]
    fn a_camera_jpeg_passes_through_byte_for_byte() {
        let img = crate::frame::Yuv420::new(32, 16);
        let original = jpeg_of(&img);
        let mut padded = original.clone();
        padded.extend_from_slice(&[0; 32]); // cameras pad buffers
        let captured = Captured { picture: Picture::Jpeg(padded), capture_us: 9 };
        let payload = process(Job { sequence: 1, captured }, Some(&Encoder::new(10)), 0, None)
            .unwrap()
            .payload
            .unwrap();
        let (h, jpeg) = wire::parse(&payload).unwrap();
        // Its bytes behind the stamp, which takes the place of its start marker.
        assert_eq!(&jpeg[wire::STAMP_LEN..], &original[2..]);
        assert_eq!((h.width, h.height), (32, 16));
    }

    #[test]
    fn a_preview_comes_with_the_frame_that_claims_it_from_planes_or_from_the_cameras_jpeg() {
        let maker = Previewer::new(320, 60);
        let img = crate::frame::Yuv420::new(1280, 720);
        let planar = Captured { picture: Picture::Planar(img.clone()), capture_us: 7 };
        let camera = Captured { picture: Picture::Jpeg(jpeg_of(&img)), capture_us: 8 };
        for (i, captured) in [planar, camera].into_iter().enumerate() {
            let out = process(Job { sequence: i as u64, captured }, Some(&Encoder::new(75)), 0, Some(&maker))
                .unwrap();
            let full = wire::parse(out.payload.as_ref().unwrap()).unwrap().0;
            let preview = out.preview.expect("a preview was asked for");
            let (h, jpeg) = wire::parse(&preview).unwrap();
            assert_eq!((h.sequence, h.capture_us, h.width, h.height), (i as u64, full.capture_us, 320, 180));
            let mut d = jpeg_decoder::Decoder::new(jpeg);
            d.decode().expect("the preview decodes");
            assert_eq!(d.info().map(|i| (i.width, i.height)), Some((320, 180)));
        }
    }

    #[test]
    fn truncated_camera_jpegs_are_rejected() {
        let original = jpeg_of(&crate::frame::Yuv420::new(32, 16));
        let captured =
            Captured { picture: Picture::Jpeg(original[..original.len() - 40].to_vec()), capture_us: 0 };
        let err = process(Job { sequence: 1, captured }, Some(&Encoder::new(10)), 0, None).err().unwrap();
        assert!(matches!(err, FrameError::BadJpeg(_)), "{err}");
    }
}
