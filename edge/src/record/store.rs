//! One track of one camera on disk: its segments, their index in memory, appends and
//! reads. A thin adapter over [`super::log`]'s format: files opened, written, synced,
//! repaired at start and deleted here, nothing decided.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use super::log::{self, Entry, HEADER};

/// A segment is closed and the next begun past this many bytes…
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// …or this much time: retention deletes whole segments, so this is its grain.
pub const SEGMENT_US: u64 = 15 * 60 * 1_000_000;

/// One segment: its log's frames, in capture order.
#[derive(Debug)]
pub struct Segment {
    pub start_us: u64,
    pub entries: Vec<Entry>,
    /// The log's length.
    pub bytes: u64,
}

impl Segment {
    pub fn end_us(&self) -> u64 {
        self.entries.last().map_or(self.start_us, |e| e.capture_us)
    }
}

/// The segment being written.
struct Writer {
    log: File,
    index: File,
    /// Written since the last sync.
    dirty: bool,
}

/// What opening a track found and mended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    pub segments: usize,
    pub frames: usize,
    /// Bytes of torn or damaged log cut off.
    pub cut_bytes: u64,
    /// Index entries rebuilt from the log.
    pub reindexed: usize,
}

/// A camera's track: the segments in one directory, oldest first.
pub struct Track {
    dir: PathBuf,
    pub segments: Vec<Segment>,
    writer: Option<Writer>,
    /// A segment's size: [`SEGMENT_BYTES`], smaller on a small disk (so that retention,
    /// which deletes whole segments, has some to delete).
    pub segment_bytes: u64,
}

impl Track {
    /// Opens (or makes) the track in `dir`: every segment's index is read, the newest
    /// segment's log is read whole and its torn tail cut (it is the one a power cut can
    /// have left half-written); an older segment is read whole only if its index does
    /// not match its log's end.
    pub fn open(dir: &Path) -> io::Result<(Track, Repair)> {
        fs::create_dir_all(dir)?;
        let mut starts: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| log::parse_file_name(&e.file_name().to_string_lossy()))
            .collect();
        starts.sort_unstable();
        let mut repair = Repair::default();
        let mut segments = Vec::new();
        for (i, start_us) in starts.iter().copied().enumerate() {
            let newest = i + 1 == starts.len();
            let segment = load(dir, start_us, newest, &mut repair)?;
            if segment.entries.is_empty() && !newest {
                remove(dir, start_us)?;
                continue;
            }
            repair.frames += segment.entries.len();
            segments.push(segment);
        }
        repair.segments = segments.len();
        Ok((Track { dir: dir.to_path_buf(), segments, writer: None, segment_bytes: SEGMENT_BYTES }, repair))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes of all segments' logs (the indexes add 16 bytes a frame).
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes + (s.entries.len() * log::INDEX_ENTRY) as u64).sum()
    }

    pub fn frames(&self) -> usize {
        self.segments.iter().map(|s| s.entries.len()).sum()
    }

    /// Appends a frame. A clock that went back, a full segment or an old one starts a
    /// new segment, so each segment's frames are in time order. On an error (a full
    /// disk) the segment is left as it was before the call.
    pub fn append(&mut self, capture_us: u64, payload: &[u8]) -> io::Result<()> {
        // Beyond what a repair reads back: it would cut every frame after it.
        if payload.len() > log::MAX_PAYLOAD as usize {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "frame larger than a recording keeps"));
        }
        let rotate = match (self.segments.last(), &self.writer) {
            (Some(s), Some(_)) => {
                capture_us < s.end_us()
                    || s.bytes + (HEADER + payload.len()) as u64 > self.segment_bytes
                    || capture_us >= s.start_us + SEGMENT_US
            }
            _ => true,
        };
        if rotate {
            self.begin(capture_us)?;
        }
        let (Some(segment), Some(writer)) = (self.segments.last_mut(), self.writer.as_mut()) else {
            return Err(io::Error::other("no segment to write"));
        };
        let entry = Entry { capture_us, offset: segment.bytes as u32, len: payload.len() as u32 };
        let written = writer
            .log
            .write_all(&log::header(capture_us, payload))
            .and_then(|_| writer.log.write_all(payload))
            .and_then(|_| writer.index.write_all(&entry.index_bytes()));
        writer.dirty = true;
        if let Err(e) = written {
            // Back to the last whole frame, so the next append follows it.
            let _ = writer.log.set_len(segment.bytes);
            let _ = writer.index.set_len((segment.entries.len() * log::INDEX_ENTRY) as u64);
            return Err(e);
        }
        segment.bytes = entry.end();
        segment.entries.push(entry);
        Ok(())
    }

    /// Closes the segment being written (synced) and starts one at `start_us`.
    fn begin(&mut self, start_us: u64) -> io::Result<()> {
        self.sync()?;
        self.writer = None;
        // Never two segments with one name: the next free microsecond.
        let start_us = match self.segments.last() {
            Some(s) if s.start_us >= start_us => s.start_us + 1,
            _ => start_us,
        };
        // Truncated: a leftover of a deleted segment by this name (a crash between its
        // two unlinks) must not end up in front of the new frames.
        let open = |ext| {
            // Appending: after a failed write is cut back, the next goes at the end.
            let path = self.dir.join(log::file_name(start_us, ext));
            File::create(&path)?;
            OpenOptions::new().append(true).open(path)
        };
        let (log, index) = (open("mqr")?, open("mqi")?);
        // The new files' names must survive a power cut too.
        File::open(&self.dir)?.sync_all()?;
        self.segments.push(Segment { start_us, entries: Vec::new(), bytes: 0 });
        self.writer = Some(Writer { log, index, dirty: false });
        Ok(())
    }

    /// Makes what was appended durable (a power cut keeps it).
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(w) = self.writer.as_mut().filter(|w| w.dirty) {
            w.log.sync_data()?;
            w.index.sync_data()?;
            w.dirty = false;
        }
        Ok(())
    }

    /// The segment being written's files, to sync without holding the track (a sync
    /// can take long on an SD card; readers should not wait for it).
    pub fn unsynced(&mut self) -> Option<(File, File)> {
        let w = self.writer.as_mut().filter(|w| w.dirty)?;
        w.dirty = false;
        Some((w.log.try_clone().ok()?, w.index.try_clone().ok()?))
    }

    /// Stops writing to the current segment; the next frame begins a new one.
    pub fn close(&mut self) -> io::Result<()> {
        self.sync()?;
        self.writer = None;
        Ok(())
    }

    /// Whether a segment is being written (the newest).
    pub fn writing(&self) -> bool {
        self.writer.is_some()
    }

    /// A sync of what [`Track::unsynced`] handed out failed: it is still to be synced.
    pub fn sync_failed(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            w.dirty = true;
        }
    }

    /// Deletes the oldest segment; returns its (start, end, bytes).
    pub fn delete_oldest(&mut self) -> io::Result<Option<(u64, u64, u64)>> {
        if self.segments.is_empty() {
            return Ok(None);
        }
        // The segment being written goes without a sync: it is deleted anyway, and a
        // disk that fails its syncs must still get its space back.
        if self.writer.is_some() && self.segments.len() == 1 {
            self.writer = None;
        }
        let s = self.segments.remove(0);
        remove(&self.dir, s.start_us)?;
        Ok(Some((s.start_us, s.end_us(), s.bytes)))
    }

    /// A frame's stored payload (checked against its CRC).
    pub fn read(&self, segment_start_us: u64, entry: Entry) -> io::Result<Vec<u8>> {
        read(&self.dir, segment_start_us, entry)
    }
}

/// A frame's stored payload from the track in `dir` (checked against its CRC), without
/// holding the track: a segment deleted meanwhile is `NotFound`.
pub fn read(dir: &Path, segment_start_us: u64, entry: Entry) -> io::Result<Vec<u8>> {
    if entry.len > log::MAX_PAYLOAD {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "recorded frame damaged (length)"));
    }
    let file = File::open(dir.join(log::file_name(segment_start_us, "mqr")))?;
    let mut buf = vec![0u8; HEADER + entry.len as usize];
    file.read_exact_at(&mut buf, u64::from(entry.offset))?;
    match log::check_header(&buf) {
        Some((t, len, crc))
            if t == entry.capture_us && len == entry.len && log::payload_intact(&buf[HEADER..], crc) =>
        {
            buf.drain(..HEADER);
            Ok(buf)
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "recorded frame damaged (checksum)")),
    }
}

/// One segment from its files: the index, checked against the log (or rebuilt).
fn load(dir: &Path, start_us: u64, newest: bool, repair: &mut Repair) -> io::Result<Segment> {
    let log_path = dir.join(log::file_name(start_us, "mqr"));
    let index_path = dir.join(log::file_name(start_us, "mqi"));
    let log_len = fs::metadata(&log_path)?.len();
    let index = fs::read(&index_path).map(|b| log::read_index(&b)).unwrap_or_default();
    // Every entry where the one before it ended, none too long, the last at the log's
    // end: else a damaged index (a flipped bit) is rebuilt rather than trusted.
    let consistent = index.first().is_none_or(|e| e.offset == 0)
        && index.windows(2).all(|w| w[0].end() == u64::from(w[1].offset))
        && index.iter().all(|e| e.len <= log::MAX_PAYLOAD);
    let index_matches = consistent && index.last().is_some_and(|e| e.end() == log_len) && {
        let mut h = [0u8; HEADER];
        let last = index[index.len() - 1];
        File::open(&log_path)?.read_exact_at(&mut h, u64::from(last.offset)).is_ok()
            && log::check_header(&h).is_some_and(|(t, len, _)| t == last.capture_us && len == last.len)
    };
    if !newest && log_len == 0 {
        return Ok(Segment { start_us, bytes: 0, entries: Vec::new() });
    }
    if !newest && index_matches {
        return Ok(Segment { start_us, bytes: log_len, entries: index });
    }
    // Read the log whole: what is intact is kept, the rest cut, the index rewritten.
    let mut bytes = Vec::with_capacity(log_len as usize);
    File::open(&log_path)?.read_to_end(&mut bytes)?;
    let (entries, good) = log::scan(&bytes);
    drop(bytes);
    if good < log_len {
        OpenOptions::new().write(true).open(&log_path)?.set_len(good)?;
        repair.cut_bytes += log_len - good;
    }
    if index != entries {
        repair.reindexed += entries.len().saturating_sub(common_prefix(&index, &entries));
        let rebuilt: Vec<u8> = entries.iter().flat_map(|e| e.index_bytes()).collect();
        let mut f = File::create(&index_path)?;
        f.write_all(&rebuilt)?;
        f.sync_data()?;
    }
    if good < log_len {
        OpenOptions::new().write(true).open(&log_path)?.sync_data()?;
    }
    Ok(Segment { start_us, bytes: good, entries })
}

fn common_prefix(a: &[Entry], b: &[Entry]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn remove(dir: &Path, start_us: u64) -> io::Result<()> {
    for ext in ["mqr", "mqi"] {
        match fs::remove_file(dir.join(log::file_name(start_us, ext))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mqcam-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn frames_written_are_read_back_after_reopening() {
        let d = dir("reopen");
        let (mut t, repair) = Track::open(&d).unwrap();
        assert_eq!(repair, Repair::default());
        for i in 0..10u64 {
            t.append(1_000 + i * 100, format!("frame {i}").as_bytes()).unwrap();
        }
        t.sync().unwrap();
        drop(t);
        let (t, repair) = Track::open(&d).unwrap();
        assert_eq!((repair.segments, repair.frames, repair.cut_bytes), (1, 10, 0));
        let s = &t.segments[0];
        assert_eq!(t.read(s.start_us, s.entries[7]).unwrap(), b"frame 7");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_and_an_index_behind_the_log_is_rebuilt() {
        let d = dir("torn");
        let (mut t, _) = Track::open(&d).unwrap();
        for i in 0..5u64 {
            t.append(1_000 + i, &[i as u8; 1000]).unwrap();
        }
        t.sync().unwrap();
        let start = t.segments[0].start_us;
        drop(t);
        let log_path = d.join(log::file_name(start, "mqr"));
        let index_path = d.join(log::file_name(start, "mqi"));
        // Half a sixth frame in the log; the index lost two and a half entries.
        let mut f = OpenOptions::new().append(true).open(&log_path).unwrap();
        f.write_all(&log::header(2_000, &[9; 1000])).unwrap();
        f.write_all(&[9; 400]).unwrap();
        let idx_len = fs::metadata(&index_path).unwrap().len();
        OpenOptions::new().write(true).open(&index_path).unwrap().set_len(idx_len - 32 - 5).unwrap();
        let (mut t, repair) = Track::open(&d).unwrap();
        assert_eq!(repair.frames, 5);
        assert_eq!(repair.cut_bytes, (HEADER + 400) as u64);
        assert_eq!(repair.reindexed, 3);
        assert_eq!(t.read(start, t.segments[0].entries[4]).unwrap(), vec![4u8; 1000]);
        // Writing goes on after the last whole frame, in a new segment.
        t.append(3_000, b"after").unwrap();
        t.sync().unwrap();
        drop(t);
        let (t, repair) = Track::open(&d).unwrap();
        assert_eq!((repair.segments, repair.frames, repair.cut_bytes), (2, 6, 0));
        assert_eq!(t.segments[1].entries[0].capture_us, 3_000);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_clock_that_goes_back_starts_a_new_segment_and_the_oldest_is_deleted_first() {
        let d = dir("rotate");
        let (mut t, _) = Track::open(&d).unwrap();
        t.append(5_000, b"a").unwrap();
        t.append(6_000, b"b").unwrap();
        t.append(4_000, b"c").unwrap();
        t.append(6_000 + SEGMENT_US, b"d").unwrap();
        assert_eq!(t.segments.len(), 3);
        assert!(t.segments.iter().all(|s| s.entries.windows(2).all(|w| w[0].capture_us <= w[1].capture_us)));
        assert_eq!(t.delete_oldest().unwrap(), Some((5_000, 6_000, 2 * (HEADER as u64 + 1))));
        assert_eq!(t.segments.len(), 2);
        drop(t);
        let (t, repair) = Track::open(&d).unwrap();
        assert_eq!((repair.segments, repair.frames), (2, 2));
        assert_eq!(t.bytes(), 2 * (HEADER as u64 + 1 + 16));
        fs::remove_dir_all(&d).unwrap();
    }
}
