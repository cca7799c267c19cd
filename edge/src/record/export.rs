//! Exports from a camera's recordings, for the site's `/export/…` URLs: a stretch as an
//! AVI clip ([`super::avi`]), a frame as a JPEG. The bytes are the user's from then on:
//! retention never touches a download.

use super::{avi, query, recorder::Camera};
use crate::sync::lock;

/// Largest clip made (in memory: a Raspberry Pi has little to spare); a longer stretch
/// is refused with the size it would have, to be split.
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
/// which), else the previews. As an AVI file.
pub fn clip(camera: &Camera, from_us: u64, to_us: u64, full: Option<bool>) -> Result<Vec<u8>, ExportError> {
    let has_full = !query::spans(&lock(&camera.full).segments, from_us, to_us, u64::MAX).is_empty();
    let track = match (full.unwrap_or(has_full), &camera.preview) {
        (false, Some(p)) => p,
        _ => &camera.full,
    };
    let t = lock(track);
    let mut found = Vec::new();
    let mut bytes = 0u64;
    for s in &t.segments {
        for e in s.entries.iter().filter(|e| (from_us..=to_us).contains(&e.capture_us)) {
            bytes += u64::from(e.len) + 24;
            found.push((s.start_us, *e));
        }
    }
    if bytes > MAX_CLIP_BYTES {
        return Err(ExportError::TooLong(bytes));
    }
    let mut frames = Vec::with_capacity(found.len());
    for (segment, e) in found {
        frames.push((e.capture_us, t.read(segment, e).map_err(|e| ExportError::Unreadable(e.to_string()))?));
    }
    drop(t);
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
        let t = lock(track);
        if let Some((segment, e)) = query::nearest(&t.segments, at_us, 2_000_000) {
            return t.read(segment, e).map_err(|e| ExportError::Unreadable(e.to_string()));
        }
    }
    Err(ExportError::Nothing)
}
