//! Exports from a camera's recordings, for the site's `/export/…` URLs: a stretch as an
//! AVI clip ([`super::avi`]), a frame as a JPEG. The bytes are the user's from then on:
//! retention never touches a download.

use super::{avi, log::Entry, query, recorder::Camera, store};
use crate::sync::lock;

/// Largest clip made (in memory: a Raspberry Pi has little to spare); a longer stretch
/// is refused with the size it would have, to be split. The site makes one at a time.
pub const MAX_CLIP_BYTES: u64 = 256 << 20;

/// Why nothing was exported.
#[derive(Debug, PartialEq, Eq)]
pub enum ExportError {
    /// No frame kept in that stretch (or at that time).
    Nothing,
    /// Longer than [`MAX_CLIP_BYTES`]: how many bytes it would be.
    TooLong(u64),
    /// The disk failed to read a frame back.
    Unreadable(String),
}

/// The frames of a stretch: the full-size ones where any were kept (unless `full` says
/// which), else the previews. As an AVI file. Its size is known from the index before
/// a frame is read; the frames are read without holding the track (the recorder goes on
/// writing).
pub fn clip(camera: &Camera, from_us: u64, to_us: u64, full: Option<bool>) -> Result<Vec<u8>, ExportError> {
    let has_full = !query::spans(&lock(&camera.full).segments, from_us, to_us, u64::MAX).is_empty();
    let track = match (full.unwrap_or(has_full), &camera.preview) {
        (false, Some(p)) => p,
        _ => &camera.full,
    };
    let (dir, mut found) = {
        let t = lock(track);
        let found: Vec<(u64, Entry)> = t
            .segments
            .iter()
            .flat_map(|s| {
                s.entries
                    .iter()
                    .filter(|e| (from_us..=to_us).contains(&e.capture_us))
                    .map(|e| (s.start_us, *e))
            })
            .collect();
        (t.dir().to_path_buf(), found)
    };
    // In time order whatever the segments' (a clock set back).
    found.sort_by_key(|(_, e)| e.capture_us);
    let times: Vec<u64> = found.iter().map(|(_, e)| e.capture_us).collect();
    let (slots, _) = avi::slots(&times).ok_or(ExportError::Nothing)?;
    let lens: Vec<usize> = found.iter().map(|(_, e)| e.len as usize).collect();
    let bytes = avi::size(&slots, &lens);
    if bytes > MAX_CLIP_BYTES {
        return Err(ExportError::TooLong(bytes));
    }
    let mut frames = Vec::with_capacity(found.len());
    for (segment, e) in found {
        match store::read(&dir, segment, e) {
            Ok(p) => frames.push((e.capture_us, p)),
            // Deleted by retention meanwhile: the clip starts later.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(ExportError::Unreadable(err.to_string())),
        }
    }
    let (w, h) = frames
        .first()
        .and_then(|(_, p)| wire::parse(p).ok())
        .map(|(h, _)| (h.width, h.height))
        .ok_or(ExportError::Nothing)?;
    let refs: Vec<(u64, &[u8])> = frames.iter().map(|(t, p)| (*t, &p[..])).collect();
    avi::write(&refs, w, h).ok_or(ExportError::Nothing)
}

/// The frame on screen at `at_us` (the last at or before it), full-size where kept.
pub fn frame(camera: &Camera, at_us: u64) -> Result<Vec<u8>, ExportError> {
    for track in std::iter::once(&camera.full).chain(camera.preview.as_ref()) {
        let found = {
            let t = lock(track);
            query::nearest(&t.segments, at_us, 2_000_000).map(|f| (t.dir().to_path_buf(), f))
        };
        if let Some((dir, (segment, e))) = found {
            return store::read(&dir, segment, e).map_err(|e| ExportError::Unreadable(e.to_string()));
        }
    }
    Err(ExportError::Nothing)
}
