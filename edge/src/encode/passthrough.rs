//! Cheap checks of camera JPEGs before they are published as they are (passthrough).
//!
//! Cheap UVC cameras deliver truncated or corrupt frames now and then, and many leave out
//! the Huffman tables (motion-JPEG convention: the decoder is expected to know the
//! standard ones), which some decoders reject. [`inspect`] walks the marker segments
//! (not the entropy-coded data: that would be a decode) to find the size, the tables
//! and a proper end; [`with_standard_tables`] inserts the standard tables when missing.

/// What the marker walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    /// A DHT segment precedes the scan.
    pub has_tables: bool,
    /// Offset of the SOS marker.
    pub scan_at: usize,
    /// Length up to and including the EOI marker (trailing padding excluded).
    pub len: usize,
}

/// Why a buffer is not a whole baseline-or-progressive JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("does not start with a JPEG SOI marker")]
    NoStart,
    #[error("no EOI marker at the end (truncated frame)")]
    NoEnd,
    #[error("marker segment runs past the end at byte {0}")]
    Truncated(usize),
    #[error("byte {0} should start a marker")]
    BadMarker(usize),
    #[error("no frame header (SOF) before the scan")]
    NoFrameHeader,
    #[error("frame header gives a zero size")]
    ZeroSize,
    #[error("no scan (SOS)")]
    NoScan,
}

/// How far back from the end an EOI is looked for: some cameras pad frames.
const END_SLACK: usize = 1024;

/// Walks the markers of `data` up to the scan and checks the end.
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegError> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(JpegError::NoStart);
    }
    let len = end_of_image(data).ok_or(JpegError::NoEnd)?;
    let mut pos = 2;
    let (mut size, mut has_tables) = (None, false);
    loop {
        if pos + 4 > len {
            return Err(JpegError::NoScan);
        }
        if data[pos] != 0xFF {
            return Err(JpegError::BadMarker(pos));
        }
        let marker = data[pos + 1];
        match marker {
            // Fill byte before a marker.
            0xFF => {
                pos += 1;
                continue;
            }
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => {
                pos += 2;
                continue;
            }
            _ => {}
        }
        let seg_len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        if seg_len < 2 || pos + 2 + seg_len > len {
            return Err(JpegError::Truncated(pos));
        }
        match marker {
            0xC4 => has_tables = true,
            // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if marker != 0xC8 && marker != 0xCC => {
                if seg_len < 7 {
                    return Err(JpegError::Truncated(pos));
                }
                let h = u16::from_be_bytes([data[pos + 5], data[pos + 6]]) as u32;
                let w = u16::from_be_bytes([data[pos + 7], data[pos + 8]]) as u32;
                if w == 0 || h == 0 {
                    return Err(JpegError::ZeroSize);
                }
                size = Some((w, h));
            }
            0xDA => {
                let (width, height) = size.ok_or(JpegError::NoFrameHeader)?;
                return Ok(JpegInfo { width, height, has_tables, scan_at: pos, len });
            }
            _ => {}
        }
        pos += 2 + seg_len;
    }
}

/// Position just after the last EOI marker, looking only near the end.
fn end_of_image(data: &[u8]) -> Option<usize> {
    let from = data.len().saturating_sub(END_SLACK).max(2);
    data[from..].windows(2).rposition(|w| w == [0xFF, 0xD9]).map(|i| from + i + 2)
}

/// The JPEG with the standard Huffman tables (ITU T.81 Annex K.3) inserted before the
/// scan, trimmed to its EOI. Only for frames whose [`JpegInfo::has_tables`] is false.
pub fn with_standard_tables(data: &[u8], info: &JpegInfo) -> Vec<u8> {
    let dht = standard_dht();
    let mut out = Vec::with_capacity(info.len + dht.len());
    out.extend_from_slice(&data[..info.scan_at]);
    out.extend_from_slice(&dht);
    out.extend_from_slice(&data[info.scan_at..info.len]);
    out
}

/// One DHT segment holding the four standard tables.
fn standard_dht() -> Vec<u8> {
    // (class << 4 | id, code counts per length 1..=16, symbols)
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_LUMA_COUNTS, &DC_SYMBOLS),
        (0x10, &AC_LUMA_COUNTS, &AC_LUMA_SYMBOLS),
        (0x01, &DC_CHROMA_COUNTS, &DC_SYMBOLS),
        (0x11, &AC_CHROMA_COUNTS, &AC_CHROMA_SYMBOLS),
    ];
    let body: usize = tables.iter().map(|(_, _, s)| 17 + s.len()).sum();
    let mut out = Vec::with_capacity(4 + body);
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&((2 + body) as u16).to_be_bytes());
    for (class_id, counts, symbols) in tables {
        out.push(class_id);
        out.extend_from_slice(counts);
        out.extend_from_slice(symbols);
    }
    out
}

const DC_LUMA_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
#[rustfmt::skip]
const AC_LUMA_SYMBOLS: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const AC_CHROMA_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
#[rustfmt::skip]
const AC_CHROMA_SYMBOLS: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode::Encoder, frame::Yuv420};

    fn sample_jpeg() -> Vec<u8> {
        let mut img = Yuv420::new(48, 32);
        for (i, v) in img.y.iter_mut().enumerate() {
            *v = (i * 7 % 256) as u8;
        }
        Encoder::new(80).encode_into(&img, Vec::new()).unwrap()
    }

    /// Removes every DHT segment, as motion-JPEG cameras send frames.
    fn strip_tables(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut pos = 2;
        while jpeg[pos + 1] != 0xDA {
            let len = u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
            if jpeg[pos + 1] != 0xC4 {
                out.extend_from_slice(&jpeg[pos..pos + 2 + len]);
            }
            pos += 2 + len;
        }
        out.extend_from_slice(&jpeg[pos..]);
        out
    }

    #[test]
    fn a_whole_frame_passes_with_its_size() {
        let j = sample_jpeg();
        let info = inspect(&j).unwrap();
        assert_eq!((info.width, info.height, info.has_tables, info.len), (48, 32, true, j.len()));
    }

    #[test]
    fn truncated_frames_are_caught_at_any_cut() {
        let j = sample_jpeg();
        for cut in [0, 1, 3, 20, j.len() / 2, j.len() - 1] {
            assert!(inspect(&j[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn trailing_padding_after_the_end_is_trimmed() {
        let mut j = sample_jpeg();
        let len = j.len();
        j.extend_from_slice(&[0; 100]);
        assert_eq!(inspect(&j).unwrap().len, len);
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        assert_eq!(inspect(b"not a jpeg at all"), Err(JpegError::NoStart));
        let mut j = sample_jpeg();
        j[2] = 0x00; // first marker byte destroyed
        assert_eq!(inspect(&j), Err(JpegError::BadMarker(2)));
        let mut x: u32 = 1;
        for len in 0..300 {
            let mut v: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            if len >= 4 {
                v[0] = 0xFF;
                v[1] = 0xD8;
                let n = v.len();
                v[n - 2] = 0xFF;
                v[n - 1] = 0xD9;
            }
            let _ = inspect(&v);
        }
    }

    #[test]
    fn the_standard_tables_are_the_ones_libjpeg_writes() {
        // mozjpeg with fastest settings writes the Annex K tables; ours must match
        // byte for byte (one DHT per table there, one combined segment here).
        let j = sample_jpeg();
        let mut theirs = Vec::new();
        let mut pos = 2;
        while j[pos + 1] != 0xDA {
            let len = u16::from_be_bytes([j[pos + 2], j[pos + 3]]) as usize;
            if j[pos + 1] == 0xC4 {
                theirs.extend_from_slice(&j[pos + 4..pos + 2 + len]);
            }
            pos += 2 + len;
        }
        let mut ours = standard_dht()[4..].to_vec();
        // Compare as sets of tables: the order of tables may differ.
        let split = |mut b: &[u8]| {
            let mut t = Vec::new();
            while !b.is_empty() {
                let n = 17 + b[1..17].iter().map(|&c| c as usize).sum::<usize>();
                t.push(b[..n].to_vec());
                b = &b[n..];
            }
            t.sort();
            t
        };
        assert_eq!(split(&theirs), split(&ours));
        ours.clear();
    }

    #[test]
    fn a_frame_without_tables_decodes_once_they_are_inserted() {
        let j = sample_jpeg();
        let bare = strip_tables(&j);
        let info = inspect(&bare).unwrap();
        assert!(!info.has_tables);
        let fixed = with_standard_tables(&bare, &info);
        assert!(inspect(&fixed).unwrap().has_tables);
        let want = jpeg_decoder::Decoder::new(&j[..]).decode().unwrap();
        let got = jpeg_decoder::Decoder::new(&fixed[..]).decode().unwrap();
        assert_eq!(got, want);
    }
}
