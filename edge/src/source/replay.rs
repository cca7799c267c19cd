//! Replays recorded JPEGs as a live source, looping: a directory of JPEG files (played in
//! name order) or one MJPEG file (JPEGs back to back, as `ffmpeg -f mjpeg` writes).
//!
//! Frames go out as [`Picture::Jpeg`], the same passthrough path as a camera's MJPEG, so
//! demos need no camera and that path is tested end to end without hardware.

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use super::{
    pace::Pacer,
    seam::{Source, SourceError},
};
use crate::{
    clock,
    frame::{Captured, Picture},
};

/// Why a replay source cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0} holds no JPEG files (*.jpg, *.jpeg)")]
    EmptyDirectory(PathBuf),
    #[error("{0} holds no JPEG frames")]
    NoFrames(PathBuf),
}

enum Frames {
    /// Files are read when played, so a large directory costs no memory.
    Files(Vec<PathBuf>),
    /// The whole MJPEG file and where each frame lies in it.
    Stream { data: Vec<u8>, frames: Vec<Range<usize>> },
}

pub struct Replay {
    path: PathBuf,
    frames: Frames,
    next: usize,
    fps: u32,
    pacer: Pacer,
}

impl Replay {
    /// Opens a directory of JPEGs or an MJPEG file; `fps == 0` means 30.
    pub fn open(path: &Path, fps: u32) -> Result<Self, ReplayError> {
        let read_err = |source| ReplayError::Read { path: path.to_path_buf(), source };
        let frames = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
                    p.is_file() && (ext == "jpg" || ext == "jpeg")
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ReplayError::EmptyDirectory(path.to_path_buf()));
            }
            Frames::Files(files)
        } else {
            let data = std::fs::read(path).map_err(read_err)?;
            let frames = split_mjpeg(&data);
            if frames.is_empty() {
                return Err(ReplayError::NoFrames(path.to_path_buf()));
            }
            Frames::Stream { data, frames }
        };
        let fps = if fps == 0 { 30 } else { fps };
        Ok(Replay { path: path.to_path_buf(), frames, next: 0, fps, pacer: Pacer::new(fps) })
    }

    /// How many frames one loop has.
    pub fn len(&self) -> usize {
        match &self.frames {
            Frames::Files(f) => f.len(),
            Frames::Stream { frames, .. } => frames.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for Replay {
    fn describe(&self) -> String {
        format!("replay of {} ({} frames) @ {} fps", self.path.display(), self.len(), self.fps)
    }

    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        self.pacer.wait();
        let i = self.next;
        self.next = (self.next + 1) % self.len();
        let jpeg = match &self.frames {
            Frames::Files(files) => std::fs::read(&files[i])
                .map_err(|e| SourceError::Lost(format!("cannot read {}: {e}", files[i].display())))?,
            Frames::Stream { data, frames } => data[frames[i].clone()].to_vec(),
        };
        Ok(Captured { picture: Picture::Jpeg(jpeg), capture_us: clock::now_us() })
    }
}

/// Finds the JPEGs in a concatenation. Walks marker segments instead of searching for
/// `FF D9`, because an EXIF thumbnail inside a frame has its own start and end markers.
/// Bytes between frames are skipped; a frame cut short at the end of the file is left out.
pub fn split_mjpeg(data: &[u8]) -> Vec<Range<usize>> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(start) = find(data, pos, &[0xFF, 0xD8]) {
        match frame_end(data, start) {
            Some(end) => {
                frames.push(start..end);
                pos = end;
            }
            None => pos = start + 2,
        }
    }
    frames
}

fn find(data: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    data.get(from..)?.windows(pat.len()).position(|w| w == pat).map(|i| from + i)
}

/// End (exclusive) of the JPEG starting at `start`, if it is complete.
fn frame_end(data: &[u8], start: usize) -> Option<usize> {
    let mut pos = start + 2;
    loop {
        // Skip fill bytes, read the marker.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if data.get(pos) != Some(&0xFF) {
            return None;
        }
        let marker = *data.get(pos + 1)?;
        match marker {
            0xD9 => return Some(pos + 2),
            // A new image starts before this one ended: this one was cut short.
            0xD8 => return None,
            0x01 | 0xD0..=0xD7 => pos += 2,
            0xDA => {
                let len = u16::from_be_bytes([*data.get(pos + 2)?, *data.get(pos + 3)?]) as usize;
                pos += 2 + len;
                // Entropy-coded data: 0xFF is followed by 00 (stuffing) or a restart
                // marker; anything else ends the scan.
                loop {
                    let ff = pos + data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
                    match *data.get(ff + 1)? {
                        0x00 | 0xD0..=0xD7 | 0xFF => pos = ff + 1,
                        _ => {
                            pos = ff;
                            break;
                        }
                    }
                }
            }
            _ => {
                let len = u16::from_be_bytes([*data.get(pos + 2)?, *data.get(pos + 3)?]) as usize;
                if len < 2 {
                    return None;
                }
                pos += 2 + len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode::Encoder, frame::Yuv420};

    fn jpeg(shade: u8) -> Vec<u8> {
        let mut img = Yuv420::new(32, 16);
        img.y.fill(shade);
        Encoder::new(70).encode_into(&img, Vec::new()).unwrap()
    }

    /// A JPEG with an APP1 segment that contains a whole small JPEG (like an EXIF thumbnail).
    fn with_thumbnail(outer: &[u8], thumb: &[u8]) -> Vec<u8> {
        let mut out = outer[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((2 + thumb.len()) as u16).to_be_bytes());
        out.extend_from_slice(thumb);
        out.extend_from_slice(&outer[2..]);
        out
    }

    #[test]
    fn concatenated_frames_are_split_exactly() {
        let (a, b) = (jpeg(10), jpeg(200));
        let mut stream = a.clone();
        stream.extend_from_slice(&[0, 0, 0]); // junk between frames
        stream.extend_from_slice(&b);
        let frames = split_mjpeg(&stream);
        assert_eq!(frames.len(), 2);
        assert_eq!(&stream[frames[0].clone()], &a[..]);
        assert_eq!(&stream[frames[1].clone()], &b[..]);
    }

    #[test]
    fn an_embedded_thumbnail_does_not_split_a_frame() {
        let framed = with_thumbnail(&jpeg(50), &jpeg(60));
        let mut stream = framed.clone();
        stream.extend_from_slice(&jpeg(70));
        let frames = split_mjpeg(&stream);
        assert_eq!(frames.len(), 2);
        assert_eq!(&stream[frames[0].clone()], &framed[..]);
    }

    #[test]
    fn a_frame_cut_short_in_the_middle_is_left_out() {
        let (a, b, c) = (jpeg(10), jpeg(100), jpeg(200));
        let mut stream = a.clone();
        stream.extend_from_slice(&b[..b.len() / 2]);
        stream.extend_from_slice(&c);
        let frames: Vec<&[u8]> = split_mjpeg(&stream).into_iter().map(|r| &stream[r]).collect();
        assert_eq!(frames, vec![&a[..], &c[..]]);
    }

    #[test]
    fn a_frame_cut_short_at_the_end_is_left_out() {
        let mut stream = jpeg(10);
        let b = jpeg(20);
        stream.extend_from_slice(&b[..b.len() / 2]);
        assert_eq!(split_mjpeg(&stream).len(), 1);
        assert!(split_mjpeg(b"no jpeg here").is_empty());
    }

    #[test]
    fn a_directory_plays_in_name_order_and_loops() {
        let dir = std::env::temp_dir().join(format!("edge-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.jpg"), jpeg(200)).unwrap();
        std::fs::write(dir.join("a.jpg"), jpeg(10)).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let mut r = Replay::open(&dir, 0).unwrap();
        assert_eq!(r.len(), 2);
        let frames: Vec<Vec<u8>> = (0..3)
            .map(|_| match r.next_frame().unwrap().picture {
                Picture::Jpeg(j) => j,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(frames[0], jpeg(10));
        assert_eq!(frames[1], jpeg(200));
        assert_eq!(frames[2], jpeg(10));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_inputs_are_clear_errors() {
        let err = |p: &Path| Replay::open(p, 30).err().expect("must fail").to_string();
        let dir = std::env::temp_dir().join(format!("edge-replay-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(err(&dir).contains("no JPEG files"));
        let file = dir.join("x.mjpeg");
        std::fs::write(&file, b"nothing").unwrap();
        assert!(err(&file).contains("no JPEG frames"));
        assert!(err(&dir.join("missing")).contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
