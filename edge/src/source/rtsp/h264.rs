//! H.264 frames → 4:2:0 pictures, decoding only what is needed. No I/O: frames come in
//! as the RTSP session hands them over (Annex B, the parameter sets before each
//! keyframe), pictures go out as the encoder's planes.
//!
//! Decoding is an edge's largest cost per camera (1080p: ~7 ms a frame on one core
//! here), and an H.264 frame cannot be decoded alone: each refers back to the last
//! keyframe. So:
//! - while someone watches ([`Demand::Every`]) every frame is decoded;
//! - while nobody does ([`Demand::Sparse`]) only keyframes are (one decode a GOP, for
//!   the previews). The frames between are kept, compressed and bounded, so that when
//!   someone starts watching the decoder catches up from the last keyframe at once
//!   instead of waiting up to a GOP for the next one. The decoder stays between
//!   keyframes: its pictures hold ~25 MB at 1080p, but letting it go and starting one a
//!   GOP was measured to nearly double an idle camera's CPU (4 idle 1080p cameras:
//!   4.4 → 7.3–8.9 % of a core, 133 → 42–54 MB), and the CPU is the goal;
//! - after lost packets or a frame the decoder rejects, nothing is decoded until the
//!   next keyframe: a frame decoded against a missing reference comes out smeared or
//!   grey, and is never shown (the decoder's error concealment stays off);
//! - new parameters (cameras change resolution at the day/night switch) get a new
//!   decoder, starting at their keyframe.
//!
//! The colour range (limited, as nearly every camera sends; or full) is read from the
//! sequence parameter set, which the decoder does not report.

use h264_reader::nal::{sps::SeqParameterSet, Nal, RefNal};
use openh264::{decoder::Decoder, formats::YUVSource};

use crate::{
    clock,
    encode::convert::{i420_to_yuv420, Plane},
    frame::{Range, Yuv420},
    source::Demand,
};

/// Frames kept between keyframes for catching up: 20 s at 30 fps, and at most this many
/// bytes (a GOP longer than that waits for its next keyframe instead).
const BEHIND_FRAMES: usize = 600;
const BEHIND_BYTES: usize = 32 << 20;

/// One frame as the RTSP session delivers it.
pub struct Unit<'a> {
    /// Annex B NAL units; a keyframe's start with its parameter sets.
    pub data: &'a [u8],
    /// An IDR frame: decoding can start here.
    pub keyframe: bool,
    /// Its parameters (SPS/PPS) differ from the ones before.
    pub new_parameters: bool,
    /// RTP packets lost just before it.
    pub loss: u16,
}

/// What became of a frame.
pub enum Outcome {
    Picture(Yuv420),
    /// Not decoded: not needed now (sparse demand, between keyframes), or the decoder
    /// has no picture for it yet.
    Skipped,
    /// Not decoded: the stream is broken since the last keyframe (lost packets, a
    /// rejected frame, the start); waiting for the next keyframe.
    Waiting,
    /// The decoder rejected it; waiting for the next keyframe. Why.
    Rejected(String),
}

/// The decoder and what it has seen.
#[derive(Default)]
pub struct H264 {
    decoder: Option<Decoder>,
    range: Option<Range>,
    need_keyframe: bool,
    /// Frames since the last keyframe not decoded yet, oldest first. `None`: more came
    /// than are kept, or nothing since a break, so catching up must wait for a keyframe.
    behind: Option<Vec<Vec<u8>>>,
    behind_bytes: usize,
    /// Frames decoded in all (catching up included), for the meter and the tests.
    pub decoded: u64,
    /// CPU time spent decoding them (and converting their pictures), µs.
    pub decode_us: u64,
}

impl H264 {
    pub fn new() -> H264 {
        H264 { need_keyframe: true, ..H264::default() }
    }

    /// A new session: nothing decoded from it yet, the counts go on.
    pub fn restart(&mut self) {
        *self = H264 { decoded: self.decoded, decode_us: self.decode_us, ..H264::new() };
    }

    /// The range of the pictures, once a keyframe told it.
    pub fn range(&self) -> Option<Range> {
        self.range
    }

    /// Takes one frame; decodes it (and the frames it depends on) if `demand` needs it.
    pub fn push(&mut self, unit: &Unit<'_>, demand: Demand) -> Outcome {
        if unit.loss > 0 || (unit.new_parameters && !unit.keyframe) {
            // Parameters normally come with a keyframe; changed ones without it leave
            // the old decoder useless until the next keyframe.
            if unit.new_parameters {
                self.decoder = None;
            }
            self.broken();
            if !unit.keyframe {
                return Outcome::Waiting;
            }
        }
        if unit.keyframe {
            self.behind = Some(Vec::new());
            self.behind_bytes = 0;
            if unit.new_parameters || self.decoder.is_none() {
                match Decoder::new() {
                    Ok(d) => self.decoder = Some(d),
                    Err(e) => {
                        self.decoder = None;
                        self.broken();
                        return Outcome::Rejected(format!("cannot start the H.264 decoder: {e}"));
                    }
                }
            }
            if let Some(range) = sps_range(unit.data) {
                self.range = Some(range);
            }
            self.need_keyframe = false;
            return self.decode(unit.data);
        }
        if self.need_keyframe {
            return Outcome::Waiting;
        }
        if demand == Demand::Sparse {
            if let Some(frames) = &mut self.behind {
                if frames.len() < BEHIND_FRAMES && self.behind_bytes + unit.data.len() <= BEHIND_BYTES {
                    self.behind_bytes += unit.data.len();
                    frames.push(unit.data.to_vec());
                } else {
                    self.behind = None;
                }
            }
            return Outcome::Skipped;
        }
        let Some(frames) = self.behind.replace(Vec::new()) else {
            // Too many skipped to catch up: the next keyframe starts again.
            self.need_keyframe = true;
            return Outcome::Waiting;
        };
        self.behind_bytes = 0;
        // Catching up: the decoder's state must go through every frame since the
        // keyframe; only the newest picture is wanted.
        for frame in &frames {
            if let Some(why) = self.decode_only(frame) {
                return Outcome::Rejected(why);
            }
        }
        self.decode(unit.data)
    }

    /// Forgets the stream since the last keyframe.
    fn broken(&mut self) {
        self.need_keyframe = true;
        self.behind = None;
        self.behind_bytes = 0;
    }

    /// Decodes a frame whose picture is not wanted; why it failed, if it did.
    fn decode_only(&mut self, data: &[u8]) -> Option<String> {
        let decoder = self.decoder.as_mut()?;
        self.decoded += 1;
        let started = clock::thread_cpu_us();
        let result = decoder.decode(data).map(|_| ());
        self.decode_us += clock::thread_cpu_us().saturating_sub(started);
        match result {
            Ok(_) => None,
            Err(e) => {
                self.broken();
                Some(format!("the decoder rejected a frame: {e}"))
            }
        }
    }

    fn decode(&mut self, data: &[u8]) -> Outcome {
        let range = self.range.unwrap_or(Range::Limited);
        let Some(decoder) = self.decoder.as_mut() else {
            self.broken();
            return Outcome::Waiting;
        };
        self.decoded += 1;
        let started = clock::thread_cpu_us();
        let picture = match decoder.decode(data) {
            Ok(Some(yuv)) => {
                let (width, height) = yuv.dimensions();
                let (ys, us, vs) = yuv.strides();
                i420_to_yuv420(
                    Plane { data: yuv.y(), stride: ys },
                    Plane { data: yuv.u(), stride: us },
                    Plane { data: yuv.v(), stride: vs },
                    width,
                    height,
                    range,
                )
                .map_err(|e| e.to_string())
            }
            Ok(None) => Err(String::new()),
            Err(e) => Err(format!("the decoder rejected a frame: {e}")),
        };
        self.decode_us += clock::thread_cpu_us().saturating_sub(started);
        match picture {
            // No picture for this frame yet (the decoder holds it): not a failure.
            Err(why) if why.is_empty() => Outcome::Skipped,
            Ok(p) => Outcome::Picture(p),
            Err(why) => {
                self.broken();
                Outcome::Rejected(why)
            }
        }
    }
}

/// The NAL units of an Annex B stream (start codes of three or four bytes).
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next start code, less a leading zero of a four-byte one.
            let e = s - 3;
            if e > 0 && data[e - 1] == 0 {
                e - 1
            } else {
                e
            }
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts.into_iter().zip(ends).filter(|(s, e)| s < e).map(move |(s, e)| &data[s..e])
}

/// The colour range the stream's SPS states, if it has one that says (its VUI).
fn sps_range(data: &[u8]) -> Option<Range> {
    let sps = nal_units(data).find(|nal| nal.first().is_some_and(|h| h & 0x1f == 7))?;
    let sps = SeqParameterSet::from_bits(RefNal::new(sps, &[], true).rbsp_bits()).ok()?;
    let full = sps.vui_parameters?.video_signal_type?.video_full_range_flag;
    Some(if full { Range::Full } else { Range::Limited })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use openh264::{
        encoder::{Encoder, EncoderConfig, FrameType, IntraFramePeriod, RateControlMode, VuiConfig},
        formats::YUVBuffer,
        OpenH264API,
    };

    /// `n` frames of a `w`x`h` limited-range picture: black left quarter (Y 16), white
    /// right quarter (Y 235), a bar moving across the middle; a keyframe every `gop`.
    /// With each frame: whether it is a keyframe.
    pub fn stream(w: usize, h: usize, n: usize, gop: u32) -> Vec<(Vec<u8>, bool)> {
        stream_with(w, h, n, gop, None)
    }

    /// [`stream`] with the colour description `vui` in its SPS.
    pub fn stream_with(
        w: usize,
        h: usize,
        n: usize,
        gop: u32,
        vui: Option<VuiConfig>,
    ) -> Vec<(Vec<u8>, bool)> {
        let mut config = EncoderConfig::new()
            .skip_frames(false)
            .rate_control_mode(RateControlMode::Off)
            .intra_frame_period(IntraFramePeriod::from_num_frames(gop));
        if let Some(vui) = vui {
            config = config.vui(vui);
        }
        let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config).unwrap();
        (0..n)
            .map(|i| {
                let mut yuv = vec![128u8; w * h * 3 / 2];
                for row in 0..h {
                    for col in 0..w {
                        yuv[row * w + col] = if col < w / 4 {
                            16
                        } else if col >= w * 3 / 4 {
                            235
                        } else if (col + i * 4) % 40 < 8 {
                            200
                        } else {
                            60
                        };
                    }
                }
                let bits = encoder.encode(&YUVBuffer::from_vec(yuv, w, h)).unwrap();
                let key = matches!(bits.frame_type(), FrameType::IDR);
                (bits.to_vec(), key)
            })
            .collect()
    }

    fn unit(frame: &(Vec<u8>, bool)) -> Unit<'_> {
        Unit { data: &frame.0, keyframe: frame.1, new_parameters: false, loss: 0 }
    }

    fn picture(o: Outcome) -> Yuv420 {
        match o {
            Outcome::Picture(p) => p,
            Outcome::Skipped => panic!("skipped"),
            Outcome::Waiting => panic!("waiting"),
            Outcome::Rejected(e) => panic!("rejected: {e}"),
        }
    }

    #[test]
    fn every_frame_decodes_to_full_range_planes_of_its_size() {
        let frames = stream(96, 64, 4, 30);
        assert!(frames[0].1 && !frames[1].1, "an IDR, then P frames");
        let mut h = H264::new();
        for f in &frames {
            let p = picture(h.push(&unit(f), Demand::Every));
            assert_eq!((p.width(), p.height()), (96, 64));
            let row = &p.y[32 * p.y_stride()..];
            // Limited black 16 and white 235 come out as JPEG's 0 and 255 (± coding error).
            assert!(row[4] <= 4, "black is {}", row[4]);
            assert!(row[92] >= 250, "white is {}", row[92]);
        }
        assert_eq!(h.range(), None, "no VUI: limited range assumed, as cameras send");
        assert_eq!(h.decoded, 4);
    }

    #[test]
    fn the_range_the_sps_states_is_the_range_mapped() {
        let limited = stream_with(64, 48, 1, 30, Some(VuiConfig::bt709()));
        let mut h = H264::new();
        let p = picture(h.push(&unit(&limited[0]), Demand::Every));
        assert_eq!(h.range(), Some(Range::Limited));
        assert!(p.y[24 * p.y_stride() + 2] <= 4);
        // The same samples marked full range: 16 stays 16, black is not stretched.
        let full = stream_with(64, 48, 1, 30, Some(VuiConfig::bt709_full()));
        let mut h = H264::new();
        let p = picture(h.push(&unit(&full[0]), Demand::Every));
        assert_eq!(h.range(), Some(Range::Full));
        let black = p.y[24 * p.y_stride() + 2];
        assert!((12..=20).contains(&black), "full-range 16 came out {black}");
    }

    #[test]
    fn sparse_demand_decodes_keyframes_only_and_catches_up_when_watched() {
        let frames = stream(64, 48, 12, 5);
        let keys: Vec<bool> = frames.iter().map(|f| f.1).collect();
        assert_eq!(keys.iter().filter(|k| **k).count(), 3, "{keys:?}");
        let mut sparse = H264::new();
        let mut every = H264::new();
        let mut pictures = 0;
        for f in &frames[..8] {
            every.push(&unit(f), Demand::Every);
            if let Outcome::Picture(_) = sparse.push(&unit(f), Demand::Sparse) {
                pictures += 1;
            }
        }
        assert_eq!((pictures, sparse.decoded), (2, 2), "frames 0 and 5 only");
        // Watched from frame 8 on: frames 6 and 7 are decoded first, then 8 is shown,
        // the same picture as a decoder that saw every frame.
        let caught_up = picture(sparse.push(&unit(&frames[8]), Demand::Every));
        let reference = picture(every.push(&unit(&frames[8]), Demand::Every));
        assert_eq!(sparse.decoded, 5);
        assert!(caught_up.y == reference.y, "catching up gives the exact picture");
    }

    #[test]
    fn after_a_loss_nothing_is_shown_until_the_next_keyframe() {
        let frames = stream(64, 48, 8, 4);
        let mut h = H264::new();
        picture(h.push(&unit(&frames[0]), Demand::Every));
        let lost = Unit { loss: 3, ..unit(&frames[2]) };
        assert!(matches!(h.push(&lost, Demand::Every), Outcome::Waiting));
        assert!(matches!(h.push(&unit(&frames[3]), Demand::Every), Outcome::Waiting));
        assert!(frames[4].1);
        picture(h.push(&unit(&frames[4]), Demand::Every));
        picture(h.push(&unit(&frames[5]), Demand::Every));
    }

    #[test]
    fn nothing_is_decoded_before_the_first_keyframe() {
        let frames = stream(64, 48, 3, 30);
        let mut h = H264::new();
        assert!(matches!(h.push(&unit(&frames[1]), Demand::Every), Outcome::Waiting));
        assert_eq!(h.decoded, 0);
        picture(h.push(&unit(&frames[0]), Demand::Every));
    }

    #[test]
    fn new_parameters_start_a_new_decoder_at_the_new_size() {
        let small = stream(64, 48, 2, 30);
        let large = stream(128, 96, 2, 30);
        let mut h = H264::new();
        assert_eq!(picture(h.push(&unit(&small[0]), Demand::Every)).width(), 64);
        picture(h.push(&unit(&small[1]), Demand::Every));
        let changed = Unit { new_parameters: true, ..unit(&large[0]) };
        assert_eq!(picture(h.push(&changed, Demand::Every)).width(), 128);
        assert_eq!(picture(h.push(&unit(&large[1]), Demand::Every)).height(), 96);
    }

    #[test]
    fn garbage_is_rejected_or_skipped_and_the_next_keyframe_recovers() {
        let frames = stream(64, 48, 4, 2);
        let mut h = H264::new();
        picture(h.push(&unit(&frames[0]), Demand::Every));
        let garbage = [0u8, 0, 0, 1, 0x41, 0xff, 0x13, 0x77, 0x00, 0x42];
        let bad = Unit { data: &garbage, keyframe: false, new_parameters: false, loss: 0 };
        assert!(!matches!(h.push(&bad, Demand::Every), Outcome::Picture(_)));
        picture(h.push(&unit(&frames[2]), Demand::Every));
    }

    #[test]
    fn nal_units_split_on_three_and_four_byte_start_codes() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4];
        let units: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4][..]]);
    }
}
