//! A clip as a file any player opens: Motion-JPEG in AVI (RIFF), without I/O. The
//! recorded JPEGs go in as they are (each a keyframe), at the recording's own rate:
//! frames are placed on a grid of its typical interval, a short gap (at most
//! [`MAX_FILL_US`]) is filled by showing the frame before it for longer, so the clip
//! plays in real time; a longer gap (the camera was off, nothing was kept) is left out
//! and the clip joins across it.

/// A gap up to this long is played as a held frame; a longer one is cut.
pub const MAX_FILL_US: u64 = 2_000_000;

/// The AVI file of `frames` (capture time µs, JPEG), in time order, `width`×`height`.
/// `None` for no frames.
pub fn write(frames: &[(u64, &[u8])], width: u32, height: u32) -> Option<Vec<u8>> {
    let interval = typical_interval(frames)?;
    // Each slot of the grid shows a frame: (index into frames) per slot.
    let mut slots: Vec<usize> = Vec::with_capacity(frames.len());
    for (i, w) in frames.windows(2).enumerate() {
        slots.push(i);
        let gap = w[1].0.saturating_sub(w[0].0);
        if gap <= MAX_FILL_US {
            let extra = ((gap as f64 / interval as f64).round() as usize).saturating_sub(1);
            slots.extend(std::iter::repeat_n(i, extra));
        }
    }
    slots.push(frames.len() - 1);
    let largest = frames.iter().map(|(_, j)| j.len()).max().unwrap_or(0) as u32;
    // The rate as a fraction: frames per 1000 s.
    let rate = (1e9 / interval as f64).round().max(1.0) as u32;

    let mut movi = Vec::new();
    let mut index = Vec::with_capacity(slots.len() * 16);
    for &i in &slots {
        let jpeg = frames[i].1;
        // Offsets in the index count from the 'movi' fourcc.
        let offset = 4 + movi.len() as u32;
        movi.extend_from_slice(b"00dc");
        movi.extend_from_slice(&(jpeg.len() as u32).to_le_bytes());
        movi.extend_from_slice(jpeg);
        if jpeg.len() % 2 == 1 {
            movi.push(0);
        }
        index.extend_from_slice(b"00dc");
        index.extend_from_slice(&0x10u32.to_le_bytes()); // a keyframe
        index.extend_from_slice(&offset.to_le_bytes());
        index.extend_from_slice(&(jpeg.len() as u32).to_le_bytes());
    }
    let n = slots.len() as u32;

    let mut avih = Vec::with_capacity(56);
    for v in [
        interval as u32,
        largest.saturating_mul(rate / 1000 + 1),
        0,
        0x10,
        n,
        0,
        1,
        largest,
        width,
        height,
        0,
        0,
        0,
        0,
    ] {
        avih.extend_from_slice(&v.to_le_bytes());
    }
    let mut strh = Vec::with_capacity(56);
    strh.extend_from_slice(b"vidsMJPG");
    for v in [0u32, 0, 0, 1000, rate, 0, n, largest, u32::MAX, 0] {
        strh.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0u16, 0, width as u16, height as u16] {
        strh.extend_from_slice(&v.to_le_bytes());
    }
    let mut strf = Vec::with_capacity(40);
    strf.extend_from_slice(&40u32.to_le_bytes());
    strf.extend_from_slice(&(width as i32).to_le_bytes());
    strf.extend_from_slice(&(height as i32).to_le_bytes());
    strf.extend_from_slice(&1u16.to_le_bytes());
    strf.extend_from_slice(&24u16.to_le_bytes());
    strf.extend_from_slice(b"MJPG");
    for v in [width.saturating_mul(height).saturating_mul(3), 0, 0, 0, 0] {
        strf.extend_from_slice(&v.to_le_bytes());
    }
    let strl = list(b"strl", &[chunk(b"strh", &strh), chunk(b"strf", &strf)].concat());
    let hdrl = list(b"hdrl", &[chunk(b"avih", &avih), strl].concat());
    let body = [b"AVI ".to_vec(), hdrl, list(b"movi", &movi), chunk(b"idx1", &index)].concat();
    Some([b"RIFF".to_vec(), (body.len() as u32).to_le_bytes().to_vec(), body].concat())
}

/// The interval most frames are apart (the median), in µs; 1 s for a single frame.
fn typical_interval(frames: &[(u64, &[u8])]) -> Option<u64> {
    if frames.is_empty() {
        return None;
    }
    let mut gaps: Vec<u64> =
        frames.windows(2).map(|w| w[1].0.saturating_sub(w[0].0)).filter(|g| *g > 0).collect();
    gaps.sort_unstable();
    Some(gaps.get(gaps.len() / 2).copied().unwrap_or(1_000_000).clamp(1_000, 10_000_000))
}

fn chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len() + 1);
    out.extend_from_slice(id);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn list(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + data.len());
    out.extend_from_slice(b"LIST");
    out.extend_from_slice(&(4 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn frames_keep_their_timing_short_gaps_held_long_ones_cut() {
        let jpeg = [0xFFu8, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        // 10 fps; a 0.5 s gap (held: 4 more slots); a 10 s gap (cut).
        let times = [0u64, 100_000, 200_000, 700_000, 800_000, 10_800_000];
        let frames: Vec<(u64, &[u8])> = times.iter().map(|&t| (t, &jpeg[..])).collect();
        let avi = write(&frames, 320, 240).unwrap();
        assert_eq!(&avi[..4], b"RIFF");
        assert_eq!(u32_at(&avi, 4) as usize, avi.len() - 8);
        assert_eq!(&avi[8..12], b"AVI ");
        // avih: 100 ms a frame, 10 frames (6 + 4 held).
        let avih = avi.windows(4).position(|w| w == b"avih").unwrap() + 8;
        assert_eq!((u32_at(&avi, avih), u32_at(&avi, avih + 16)), (100_000, 10));
        let strh = avi.windows(4).position(|w| w == b"strh").unwrap() + 8;
        assert_eq!((u32_at(&avi, strh + 20), u32_at(&avi, strh + 24)), (1000, 10_000), "10 fps");
        assert_eq!(avi.windows(4).filter(|w| w == b"00dc").count(), 20, "10 chunks, 10 index entries");
        assert!(write(&[], 1, 1).is_none());
    }
}
