//! The format of a recording on disk, without I/O: each camera's track is a run of
//! **segments**, each an append-only log of stamped JPEGs (`<start µs>.mqr`) and its
//! index (`<start µs>.mqi`).
//!
//! Log entry (24 bytes, then the payload as it was published: a stamped JPEG):
//!
//! | offset | size | field | meaning |
//! |-------:|-----:|-------|---------|
//! | 0 | 4 | magic | `MQRE` |
//! | 4 | 4 | length | payload bytes (u32 LE) |
//! | 8 | 8 | capture time | the frame's capture time (µs since the epoch, u64 LE) |
//! | 16 | 4 | payload CRC | CRC-32 of the payload |
//! | 20 | 4 | header CRC | CRC-32 of bytes 0..20 |
//!
//! Index entry (16 bytes): capture time (u64 LE), offset of the entry in the log (u32
//! LE), payload length (u32 LE). The log is the truth: the index only saves reading
//! every log at start, and whatever of it disagrees with the log is rebuilt from it.
//! A torn write (a power cut, `kill -9` mid-frame) leaves a tail whose CRC fails: it is
//! cut, and everything before it is kept.

/// First bytes of every log entry.
pub const MAGIC: [u8; 4] = *b"MQRE";
/// Bytes of a log entry before its payload.
pub const HEADER: usize = 24;
/// Bytes of an index entry.
pub const INDEX_ENTRY: usize = 16;
/// Largest payload kept (a 4K JPEG at top quality is well below).
pub const MAX_PAYLOAD: u32 = 32 << 20;

/// Where one frame is in its segment's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub capture_us: u64,
    /// Of the entry's header in the log.
    pub offset: u32,
    pub len: u32,
}

impl Entry {
    /// The log's length after this entry.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + HEADER as u64 + u64::from(self.len)
    }

    /// The index entry that points at it.
    pub fn index_bytes(&self) -> [u8; INDEX_ENTRY] {
        let mut b = [0u8; INDEX_ENTRY];
        b[..8].copy_from_slice(&self.capture_us.to_le_bytes());
        b[8..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Reads an index entry (no check against the log: see [`check_header`]).
    pub fn from_index(b: &[u8]) -> Option<Entry> {
        let b: &[u8; INDEX_ENTRY] = b.try_into().ok()?;
        Some(Entry {
            capture_us: u64::from_le_bytes(b[..8].try_into().ok()?),
            offset: u32::from_le_bytes(b[8..12].try_into().ok()?),
            len: u32::from_le_bytes(b[12..].try_into().ok()?),
        })
    }
}

/// A log entry's header for `payload`, captured at `capture_us`.
pub fn header(capture_us: u64, payload: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[8..16].copy_from_slice(&capture_us.to_le_bytes());
    h[16..20].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let own = crc32fast::hash(&h[..20]);
    h[20..24].copy_from_slice(&own.to_le_bytes());
    h
}

/// A log entry's header read: (capture time, payload length, payload CRC), or `None`
/// if it is not a whole, intact header.
pub fn check_header(h: &[u8]) -> Option<(u64, u32, u32)> {
    let h: &[u8; HEADER] = h.get(..HEADER)?.try_into().ok()?;
    if h[..4] != MAGIC || crc32fast::hash(&h[..20]).to_le_bytes() != h[20..24] {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?);
    let capture_us = u64::from_le_bytes(h[8..16].try_into().ok()?);
    let crc = u32::from_le_bytes(h[16..20].try_into().ok()?);
    (len <= MAX_PAYLOAD).then_some((capture_us, len, crc))
}

/// Whether `payload` is the one its header's CRC names.
pub fn payload_intact(payload: &[u8], crc: u32) -> bool {
    crc32fast::hash(payload) == crc
}

/// The entries of a whole log read into memory, and the length of its intact part:
/// everything from the first entry that is torn or damaged on is not.
pub fn scan(log: &[u8]) -> (Vec<Entry>, u64) {
    let mut entries = Vec::new();
    let mut at = 0usize;
    while let Some((capture_us, len, crc)) = log.get(at..).and_then(check_header) {
        let start = at + HEADER;
        let Some(payload) = log.get(start..start + len as usize) else { break };
        if !payload_intact(payload, crc) || at > u32::MAX as usize {
            break;
        }
        entries.push(Entry { capture_us, offset: at as u32, len });
        at = start + len as usize;
    }
    (entries, at as u64)
}

/// The entries of an index file's bytes (a torn last entry left out).
pub fn read_index(bytes: &[u8]) -> Vec<Entry> {
    bytes.chunks_exact(INDEX_ENTRY).filter_map(Entry::from_index).collect()
}

/// A segment file's name for a segment starting at `start_us`, with its extension.
pub fn file_name(start_us: u64, ext: &str) -> String {
    format!("{start_us:020}.{ext}")
}

/// The start of a segment from its log's file name, or `None` if it is not one.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".mqr")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(frames: &[(u64, &[u8])]) -> Vec<u8> {
        let mut log = Vec::new();
        for (t, p) in frames {
            log.extend_from_slice(&header(*t, p));
            log.extend_from_slice(p);
        }
        log
    }

    #[test]
    fn a_log_reads_back_entry_by_entry() {
        let log = log_of(&[(10, b"one"), (20, b"two!"), (30, b"")]);
        let (entries, good) = scan(&log);
        assert_eq!(good, log.len() as u64);
        assert_eq!(
            entries,
            vec![
                Entry { capture_us: 10, offset: 0, len: 3 },
                Entry { capture_us: 20, offset: 27, len: 4 },
                Entry { capture_us: 30, offset: 55, len: 0 }
            ]
        );
        assert_eq!(entries[1].end(), 55);
        let idx: Vec<u8> = entries.iter().flat_map(|e| e.index_bytes()).collect();
        assert_eq!(read_index(&idx), entries);
        assert_eq!(read_index(&idx[..idx.len() - 3]), entries[..2]);
    }

    #[test]
    fn a_torn_or_damaged_tail_is_cut_and_everything_before_it_kept() {
        let log = log_of(&[(10, b"first frame"), (20, b"second frame"), (30, b"third frame")]);
        let whole = scan(&log).1;
        // Cut anywhere inside the last entry: the first two survive.
        let second_end = scan(&log).0[1].end();
        for cut in second_end as usize..log.len() {
            let (entries, good) = scan(&log[..cut]);
            assert_eq!((entries.len(), good), (2, second_end), "cut at {cut}");
        }
        // A flipped bit in the second payload: only the first is kept.
        let mut bad = log.clone();
        bad[HEADER + 11 + HEADER + 3] ^= 1;
        assert_eq!(scan(&bad).0.len(), 1);
        // Zeros where the last entry should be (a power cut's unwritten blocks).
        let mut zeros = log.clone();
        zeros[second_end as usize..].fill(0);
        assert_eq!(scan(&zeros).1, second_end);
        assert_eq!(whole, log.len() as u64);
    }

    #[test]
    fn segment_names_sort_by_time_and_only_ours_are_read() {
        assert_eq!(parse_file_name(&file_name(1_700_000_000_000_000, "mqr")), Some(1_700_000_000_000_000));
        assert!(file_name(9, "mqr") < file_name(10, "mqr"));
        for other in ["x.mqr", "00000000000000000001.mqi", "0000000000000000000a.mqr", "1.mqr"] {
            assert_eq!(parse_file_name(other), None, "{other}");
        }
    }
}
