//! A frame as a source captured it, before it is encoded.

use super::yuv::Yuv420;

/// The pixels of one frame, in whatever form the source has them.
pub enum Picture {
    /// Planar 4:2:0, ready for the encoder.
    Planar(Yuv420),
    /// Packed 4:2:2 (Y0 U Y1 V) from a camera.
    Yuyv { data: Vec<u8>, width: usize, height: usize, stride: usize, range: Range },
    /// 4:2:0 with interleaved chroma from a camera.
    Nv12 { data: Vec<u8>, width: usize, height: usize, stride: usize, range: Range },
    /// A finished JPEG (camera MJPEG or replay), published as it is after a check.
    Jpeg(Vec<u8>),
}

impl Picture {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Picture::Planar(_) => "planar",
            Picture::Yuyv { .. } => "YUYV",
            Picture::Nv12 { .. } => "NV12",
            Picture::Jpeg(_) => "JPEG",
        }
    }
}

/// One captured frame.
pub struct Captured {
    pub picture: Picture,
    /// When the picture was taken: µs since the UNIX epoch.
    pub capture_us: u64,
}

/// Sample range of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Y 16–235, Cb/Cr 16–240 (what cameras send).
    Limited,
    /// 0–255 (JPEG's range).
    Full,
}
