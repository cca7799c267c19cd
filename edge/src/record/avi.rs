//! A clip as a file any player opens: Motion-JPEG in AVI (RIFF), without I/O. The
//! recorded JPEGs go in as they are (each a keyframe), at the recording's own rate:
//! frames are placed on a grid of its typical interval, a short gap (at most
//! [`MAX_FILL_US`]) is filled by showing the frame before it for longer, so the clip
//! plays in real time; a longer gap (the camera was off, nothing was kept) is left out
//! and the clip joins across it.

/// A gap up to this long is played as a held frame; a longer one is cut.
pub const MAX_FILL_US: u64 = 2_000_000;

/// Which frame each slot of the clip's grid shows (an index into the frames, in time
/// order), and the grid's interval (µs). `None` for no frames.
pub fn slots(times: &[u64]) -> Option<(Vec<usize>, u64)> {
    let interval = typical_interval(times)?;
    let mut slots: Vec<usize> = Vec::with_capacity(times.len());
    for (i, w) in times.windows(2).enumerate() {
        slots.push(i);
        let gap = w[1].saturating_sub(w[0]);
        if gap <= MAX_FILL_US {
            let extra = ((gap as f64 / interval as f64).round() as usize).saturating_sub(1);
            slots.extend(std::iter::repeat_n(i, extra));
        }
    }
    slots.push(times.len() - 1);
    Some((slots, interval))
}

/// Bytes of the AVI file of frames `lens` long shown in `slots`: known before a frame is
/// read, so a clip too big is refused before it costs anything.
pub fn size(slots: &[usize], lens: &[usize]) -> u64 {
    let movi: u64 = slots.iter().map(|&i| 8 + lens[i].next_multiple_of(2) as u64).sum();
    HEADERS as u64 + movi + 8 + 16 * slots.len() as u64
}

/// Bytes before the first frame's chunk: RIFF, hdrl (avih, strl: strh, strf), movi's head.
const HEADERS: usize = 12 + 12 + (8 + 56) + 12 + (8 + 56) + (8 + 40) + 12;

/// The AVI file of `frames` (capture time µs, JPEG), in time order, `width`×`height`,
/// written into one buffer of its final size. `None` for no frames.
pub fn write(frames: &[(u64, &[u8])], width: u32, height: u32) -> Option<Vec<u8>> {
    let times: Vec<u64> = frames.iter().map(|(t, _)| *t).collect();
    let (slots, interval) = slots(&times)?;
    let lens: Vec<usize> = frames.iter().map(|(_, j)| j.len()).collect();
    let total = size(&slots, &lens);
    if total > u64::from(u32::MAX) {
        return None;
    }
    let largest = lens.iter().copied().max().unwrap_or(0) as u32;
    // The rate as a fraction: frames per 1000 s.
    let rate = (1e9 / interval as f64).round().max(1.0) as u32;
    let n = slots.len() as u32;
    let movi_len = (total as usize - HEADERS - 8 - 16 * slots.len()) as u32;
    let mut out = Vec::with_capacity(total as usize);
    let u32s = |out: &mut Vec<u8>, v: &[u32]| v.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out.extend_from_slice(b"RIFF");
    u32s(&mut out, &[(total - 8) as u32]);
    out.extend_from_slice(b"AVI LIST");
    u32s(&mut out, &[4 + (8 + 56) + 12 + (8 + 56) + (8 + 40)]);
    out.extend_from_slice(b"hdrlavih");
    u32s(
        &mut out,
        &[56, interval as u32, largest.saturating_mul(rate / 1000 + 1), 0, 0x10, n, 0, 1, largest],
    );
    u32s(&mut out, &[width, height, 0, 0, 0, 0]);
    out.extend_from_slice(b"LIST");
    u32s(&mut out, &[4 + (8 + 56) + (8 + 40)]);
    out.extend_from_slice(b"strlstrh");
    u32s(&mut out, &[56]);
    out.extend_from_slice(b"vidsMJPG");
    u32s(&mut out, &[0, 0, 0, 1000, rate, 0, n, largest, u32::MAX, 0]);
    for v in [0u16, 0, width as u16, height as u16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"strf");
    u32s(&mut out, &[40, 40, width, height]);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(b"MJPG");
    u32s(&mut out, &[width.saturating_mul(height).saturating_mul(3), 0, 0, 0, 0]);
    out.extend_from_slice(b"LIST");
    u32s(&mut out, &[movi_len + 4]);
    out.extend_from_slice(b"movi");
    debug_assert_eq!(out.len(), HEADERS);
    let mut offsets = Vec::with_capacity(slots.len());
    for &i in &slots {
        let jpeg = frames[i].1;
        // Offsets in the index count from the 'movi' fourcc.
        offsets.push((out.len() - (HEADERS - 4)) as u32);
        out.extend_from_slice(b"00dc");
        u32s(&mut out, &[jpeg.len() as u32]);
        out.extend_from_slice(jpeg);
        if jpeg.len() % 2 == 1 {
            out.push(0);
        }
    }
    out.extend_from_slice(b"idx1");
    u32s(&mut out, &[16 * n]);
    for (&i, offset) in slots.iter().zip(offsets) {
        out.extend_from_slice(b"00dc");
        // A keyframe, where, how long.
        u32s(&mut out, &[0x10, offset, lens[i] as u32]);
    }
    debug_assert_eq!(out.len() as u64, total);
    Some(out)
}

/// The interval most frames are apart (the median), in µs; 1 s for a single frame.
fn typical_interval(times: &[u64]) -> Option<u64> {
    if times.is_empty() {
        return None;
    }
    let mut gaps: Vec<u64> = times.windows(2).map(|w| w[1].saturating_sub(w[0])).filter(|g| *g > 0).collect();
    gaps.sort_unstable();
    Some(gaps.get(gaps.len() / 2).copied().unwrap_or(1_000_000).clamp(1_000, 10_000_000))
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
