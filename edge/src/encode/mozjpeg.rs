//! JPEG encoding with mozjpeg, set up for speed and isolated from its panics.
//!
//! mozjpeg's defaults (progressive, trellis quantisation, optimised Huffman tables) make
//! files a few percent smaller at 20–30× the CPU time; a live stream wants the opposite,
//! so the encoder uses libjpeg-turbo's classic settings: baseline, standard tables.
//! mozjpeg reports errors by unwinding, so every call is wrapped in `catch_unwind`:
//! a bad frame costs that frame, never the process.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::frame::Yuv420;

/// Why a frame could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("JPEG encoder failed: {0}")]
    Failed(String),
    #[error("JPEG encoder I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes 4:2:0 planes to baseline JPEG at a fixed quality.
pub struct Encoder {
    quality: u8,
}

impl Encoder {
    /// `quality` is the usual 1–100 JPEG scale (clamped).
    pub fn new(quality: u8) -> Self {
        Encoder { quality: quality.clamp(1, 100) }
    }

    /// Appends the JPEG of `image` to `out` and returns it.
    ///
    /// Taking `out` lets the caller reserve room for the frame header in front, so the
    /// published payload is built without copying the JPEG.
    pub fn encode_into(&self, image: &Yuv420, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        let quality = self.quality;
        match catch_unwind(AssertUnwindSafe(|| encode_raw(image, quality, out))) {
            Ok(result) => result,
            Err(panic) => Err(EncodeError::Failed(panic_message(&panic))),
        }
    }
}

fn encode_raw(image: &Yuv420, quality: u8, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_YCbCr);
    // set_fastest_defaults resets every setting, so it has to come first.
    c.set_fastest_defaults();
    c.set_quality(quality as f32);
    c.set_size(image.width(), image.height());
    c.set_raw_data_in(true);
    c.set_chroma_sampling_pixel_sizes((2, 2), (2, 2));
    let mut started = c.start_compress(out)?;
    if !started.write_raw_data(&[&image.y, &image.cb, &image.cr]) {
        return Err(EncodeError::Failed("encoder stopped before the last row".into()));
    }
    Ok(started.finish()?)
}

/// What a caught panic said (libjpeg reports errors by panicking through mozjpeg).
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_decodable_baseline_jpeg_of_the_right_size() {
        let mut img = Yuv420::new(64, 48);
        for (i, v) in img.y.iter_mut().enumerate() {
            *v = (i % 251) as u8;
        }
        let jpeg = Encoder::new(80).encode_into(&img, Vec::new()).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        // A baseline (SOF0) frame header, not progressive (SOF2).
        let sof0 = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0 marker");
        assert!(!jpeg.windows(2).any(|w| w == [0xFF, 0xC2]));
        let h = u16::from_be_bytes([jpeg[sof0 + 5], jpeg[sof0 + 6]]);
        let w = u16::from_be_bytes([jpeg[sof0 + 7], jpeg[sof0 + 8]]);
        assert_eq!((w, h), (64, 48));
    }

    #[test]
    fn keeps_the_bytes_already_in_the_output_buffer() {
        let img = Yuv420::new(16, 16);
        let jpeg = Encoder::new(50).encode_into(&img, vec![7; 40]).unwrap();
        assert_eq!(&jpeg[..40], &[7; 40]);
        assert_eq!(&jpeg[40..42], &[0xFF, 0xD8]);
    }

    #[test]
    fn a_panic_inside_mozjpeg_becomes_an_error() {
        // A zero-sized image makes libjpeg raise "Empty JPEG image", which mozjpeg
        // turns into a panic; the encoder must hand it back as an error.
        let img = Yuv420::new(0, 0);
        let err = Encoder::new(75).encode_into(&img, Vec::new()).unwrap_err();
        assert!(matches!(err, EncodeError::Failed(_)), "{err}");
    }
}
