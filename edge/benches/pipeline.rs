//! Encode and passthrough costs per frame size, the encoder pool's throughput, and what
//! decoding an RTSP camera's H.264 costs.
//!
//! A benchmark, not a test: it prints a table to quote (`cargo bench -p edge --bench
//! pipeline`). Frames are the test pattern converted to YUYV, which is what a webcam
//! hands over, so JPEG sizes and encode times are those of a textured scene.
//!
//! `cargo bench -p edge --bench pipeline -- --h264-json` prints only the H.264 decode
//! rows, one JSON object a line (tests/bench.mjs reads them for its RTSP section).

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use edge::{
    encode::{
        convert::yuyv_to_yuv420,
        process::{process, Job},
        Encoder,
    },
    frame::{Captured, Picture, Range, SourceStatus, Yuv420},
    meter::Meter,
    motion::{synthetic_luma, Motion, MotionConfig},
    pipeline::{Output, Pipeline},
    source::{
        pattern::Pattern,
        rtsp::{Outcome, Unit, H264},
        Demand, Source, SourceError,
    },
};
use openh264::{
    encoder::{
        BitRate, Complexity, Encoder as H264Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
        RateControlMode, UsageType, VuiConfig,
    },
    formats::YUVSource,
    OpenH264API,
};

const SIZES: [(usize, usize); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const QUALITY: u8 = 75;

/// Packs planar 4:2:0 into YUYV (each chroma row used for two lines), limited range.
fn to_yuyv(img: &Yuv420) -> Vec<u8> {
    let (w, h, ys, cs) = (img.width(), img.height(), img.y_stride(), img.c_stride());
    let limit = |v: u8, max: f64| (16.0 + v as f64 * (max - 16.0) / 255.0).round() as u8;
    let mut out = Vec::with_capacity(w * h * 2);
    for row in 0..h {
        for x in 0..w {
            out.push(limit(img.y[row * ys + x], 235.0));
            let c = if x % 2 == 0 { img.cb[(row / 2) * cs + x / 2] } else { img.cr[(row / 2) * cs + x / 2] };
            out.push(limit(c, 240.0));
        }
    }
    out
}

fn pattern_frame(w: usize, h: usize) -> Yuv420 {
    match Pattern::new(w, h, 0).next_frame().unwrap().picture {
        Picture::Planar(img) => img,
        _ => unreachable!(),
    }
}

/// Mean time of `f` over at least `min` and about one second.
fn time<T>(min: usize, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    let mut n = 0;
    while n < min || start.elapsed() < Duration::from_secs(1) {
        std::hint::black_box(f());
        n += 1;
    }
    start.elapsed() / n as u32
}

/// Feeds the same YUYV frame as fast as the pipeline takes it.
struct Flood {
    yuyv: Vec<u8>,
    w: usize,
    h: usize,
}

impl Source for Flood {
    fn describe(&self) -> String {
        "flood".into()
    }
    fn next_frame(&mut self) -> Result<Captured, SourceError> {
        let picture = Picture::Yuyv {
            data: self.yuyv.clone(),
            width: self.w,
            height: self.h,
            stride: self.w * 2,
            range: Range::Limited,
        };
        Ok(Captured { picture, capture_us: edge::clock::now_us() })
    }
}

/// Frames per second the pool hands on with `workers` encoders, over 3 s.
fn pool_fps(yuyv: &[u8], w: usize, h: usize, workers: usize) -> f64 {
    let (sender, slot) = edge::frame::newest();
    let (status, _srx) = tokio::sync::watch::channel(SourceStatus::Starting);
    let meter = Arc::new(Meter::default());
    let source = Box::new(Flood { yuyv: yuyv.to_vec(), w, h });
    let p = Pipeline::start(
        source,
        Encoder::new(QUALITY),
        workers,
        Arc::new(Output::new(sender)),
        status,
        meter.clone(),
    )
    .unwrap();
    // A publisher that takes every frame at once: the pool encodes only what can go
    // out (with nothing taking them it waits, and this read 0).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                if slot.try_take().is_none() {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (start, t0) = (meter.encoded.load(Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let done = meter.encoded.load(Relaxed) - start;
    let secs = t0.elapsed().as_secs_f64();
    p.stop();
    stop.store(true, Relaxed);
    let _ = drain.join();
    done as f64 / secs
}

fn main() {
    if std::env::args().any(|a| a == "--h264-json") {
        for (w, h) in H264_SIZES {
            println!("{}", decode_row(w, h).json());
        }
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "edge pipeline benchmark: JPEG quality {QUALITY}, test pattern as limited-range YUYV, {cores} cores"
    );
    println!();
    println!("| size | YUYV→4:2:0 ms | encode ms | YUYV→JPEG ms/frame | fps per core | JPEG KB | passthrough µs/frame | pool fps, 1 worker | pool fps, 2 workers |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let encoder = Encoder::new(QUALITY);
    for (w, h) in SIZES {
        let planar = pattern_frame(w, h);
        let yuyv = to_yuyv(&planar);
        let convert = time(20, || yuyv_to_yuv420(&yuyv, w, h, w * 2, Range::Limited).unwrap());
        let encode = time(20, || encoder.encode_into(&planar, Vec::new()).unwrap());
        let job = || Job {
            sequence: 1,
            captured: Captured {
                picture: Picture::Yuyv {
                    data: yuyv.clone(),
                    width: w,
                    height: h,
                    stride: w * 2,
                    range: Range::Limited,
                },
                capture_us: 0,
            },
        };
        let jpeg = process(job(), Some(&encoder), 0, None).unwrap().payload.unwrap();
        let total = time(20, || process(job(), Some(&encoder), jpeg.len(), None).unwrap());
        // Passthrough: what a camera's MJPEG frame costs (validate + payload), buffer copy included.
        let camera_jpeg = [&[0xFF, 0xD8][..], &jpeg[wire::STAMP_LEN..]].concat();
        let pass = time(200, || {
            let job = Job {
                sequence: 1,
                captured: Captured { picture: Picture::Jpeg(camera_jpeg.clone()), capture_us: 0 },
            };
            process(job, Some(&encoder), camera_jpeg.len(), None).unwrap()
        });
        let one = pool_fps(&yuyv, w, h, 1);
        let two = pool_fps(&yuyv, w, h, 2);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {w}x{h} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {one:.0} | {two:.0} |",
            ms(convert),
            ms(encode),
            ms(total),
            1000.0 / ms(total),
            camera_jpeg.len() as f64 / 1000.0,
            pass.as_secs_f64() * 1e6,
        );
    }
    println!();
    println!("YUYV→JPEG includes the copy out of the driver's buffer, conversion, encoding and the stamp.");
    println!("Pool fps: frames encoded per second with the capture thread flooding the pool (it shares the cores).");
    println!();
    motion_rows();
    println!();
    h264_rows();
}

/// Motion detection's cost per preview (it runs on every preview, watched or not).
fn motion_rows() {
    println!("| motion on a preview | µs/picture | pictures moving |");
    println!("|---|---|---|");
    for (w, h) in [(320, 180), (320, 240)] {
        // The pictures made first: only the detector is timed.
        let pictures: Vec<Vec<u8>> = (0..64).map(|i| synthetic_luma(w, h, i)).collect();
        let mut motion = Motion::new(MotionConfig::default()).unwrap();
        let (mut i, mut moving, mut fed) = (0usize, 0usize, 0usize);
        let took = time(2000, || {
            let seen = motion.feed(&pictures[i % pictures.len()], w, h, w, i as u64 * 250_000);
            i += 1;
            fed += 1;
            moving += usize::from(seen.moving());
        });
        println!(
            "| {w}x{h} | {:.1} | {:.0} % |",
            took.as_secs_f64() * 1e6,
            100.0 * moving as f64 / fed.max(1) as f64
        );
    }
    println!();
    println!("Motion: one detector fed the synthetic scene (a moving square on a noisy gradient), 4 pictures a second of scene time.");
}

/// The RTSP cameras' sizes, as the benchmark's camera serves them.
const H264_SIZES: [(usize, usize); 2] = [(1280, 720), (1920, 1080)];
const H264_FPS: u32 = 30;
/// A keyframe every 2 s at 30 fps, as many cameras ship.
const H264_GOP: usize = 60;

/// Test pattern planes as openh264 reads them (the edge's padded strides).
struct Planes<'a>(&'a Yuv420);

impl YUVSource for Planes<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width(), self.0.height())
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.0.y_stride(), self.0.c_stride(), self.0.c_stride())
    }
    fn y(&self) -> &[u8] {
        &self.0.y
    }
    fn u(&self) -> &[u8] {
        &self.0.cb
    }
    fn v(&self) -> &[u8] {
        &self.0.cr
    }
}

/// Two GOPs of the moving test pattern (its texture scrolls, a square travels) encoded
/// as an IP camera does: rate-controlled at ~0.08 bit per pixel per frame (5 Mbit/s at
/// 1080p30, the rtsp-camera example's default), every frame sent (frame skipping off),
/// an IDR every [`H264_GOP`] frames. With each frame: whether it is an IDR.
fn camera_stream(w: usize, h: usize) -> Vec<(Vec<u8>, bool)> {
    let kbps = ((w * h) as f64 * f64::from(H264_FPS) * 0.08 / 1000.0) as u32;
    let config = EncoderConfig::new()
        .skip_frames(false)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(kbps * 1000))
        .max_frame_rate(FrameRate::from_hz(H264_FPS as f32))
        .intra_frame_period(IntraFramePeriod::from_num_frames(H264_GOP as u32))
        .scene_change_detect(false)
        .usage_type(UsageType::CameraVideoRealTime)
        .complexity(Complexity::Low)
        .vui(VuiConfig::bt709());
    let mut encoder = H264Encoder::with_api_config(OpenH264API::from_source(), config).unwrap();
    let mut pattern = Pattern::new(w, h, 0);
    (0..2 * H264_GOP)
        .map(|_| {
            let Picture::Planar(img) = pattern.next_frame().unwrap().picture else { unreachable!() };
            let bits = encoder.encode(&Planes(&img)).unwrap();
            assert!(
                !matches!(bits.frame_type(), FrameType::Skip | FrameType::Invalid),
                "a frame was skipped"
            );
            (bits.to_vec(), matches!(bits.frame_type(), FrameType::IDR))
        })
        .collect()
}

struct DecodeRow {
    w: usize,
    h: usize,
    kbit_s: f64,
    idr_kb: f64,
    p_kb: f64,
    /// Every frame decoded (Demand::Every), 4:2:0 conversion included: mean CPU time per frame.
    every_ms: f64,
    /// Keyframes only (Demand::Sparse): per GOP, the P frames kept for catching up included.
    sparse_gop_ms: f64,
}

impl DecodeRow {
    fn json(&self) -> String {
        format!(
            "{{\"size\":\"{}x{}\",\"fps\":{H264_FPS},\"gop\":{H264_GOP},\"kbit_s\":{:.0},\"decode_ms\":{:.3},\"sparse_gop_ms\":{:.3}}}",
            self.w, self.h, self.kbit_s, self.every_ms, self.sparse_gop_ms
        )
    }
}

/// This thread's CPU time so far. Decoding runs on the calling thread (openh264's decoder
/// starts no threads of its own by default), so this is its cost even on a machine busy
/// with other work, where wall-clock time would count the waits for a core too.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec owned here.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu() -> Duration {
    // Wall-clock time elsewhere: the same on an idle machine.
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Feeds `frames` through the edge's decode step in a loop for about a second (at least
/// twice through): the mean CPU time per pass.
fn decode_pass(frames: &[(Vec<u8>, bool)], demand: Demand) -> Duration {
    let mut decoder = H264::new();
    let mut pictures = 0usize;
    let (mut passes, cpu0) = (0u32, thread_cpu());
    time(2, || {
        passes += 1;
        for (data, keyframe) in frames {
            let unit = Unit { data, keyframe: *keyframe, new_parameters: false, loss: 0 };
            match decoder.push(&unit, demand) {
                Outcome::Picture(p) => {
                    pictures += 1;
                    std::hint::black_box(p);
                }
                Outcome::Skipped => {}
                Outcome::Waiting => panic!("the decoder waited for a keyframe"),
                Outcome::Rejected(why) => panic!("{why}"),
            }
        }
    });
    let keys = frames.iter().filter(|f| f.1).count();
    let per_pass = if demand == Demand::Every { frames.len() } else { keys };
    assert_eq!(pictures % per_pass, 0, "a picture for every frame decoded");
    (thread_cpu() - cpu0) / passes
}

fn decode_row(w: usize, h: usize) -> DecodeRow {
    let frames = camera_stream(w, h);
    let keys = frames.iter().filter(|f| f.1).count();
    assert_eq!(keys, frames.len() / H264_GOP, "an IDR every {H264_GOP} frames");
    let bytes = |key: bool| frames.iter().filter(|f| f.1 == key).map(|f| f.0.len()).sum::<usize>();
    let total = bytes(true) + bytes(false);
    let every = decode_pass(&frames, Demand::Every);
    let sparse = decode_pass(&frames, Demand::Sparse);
    DecodeRow {
        w,
        h,
        kbit_s: total as f64 * 8.0 / (frames.len() as f64 / f64::from(H264_FPS)) / 1000.0,
        idr_kb: bytes(true) as f64 / keys as f64 / 1000.0,
        p_kb: bytes(false) as f64 / (frames.len() - keys) as f64 / 1000.0,
        every_ms: every.as_secs_f64() * 1000.0 / frames.len() as f64,
        sparse_gop_ms: sparse.as_secs_f64() * 1000.0 / keys as f64,
    }
}

/// H.264 decoding as an RTSP camera's frames meet it (`edge::source::rtsp::H264`, the
/// decoder the edge runs, the I420 → encoder-plane conversion included).
fn h264_rows() {
    println!(
        "| H.264 {H264_FPS} fps, GOP {H264_GOP} | kbit/s | IDR KB | P KB | decode CPU ms/frame (every frame) | % of a core at {H264_FPS} fps | keyframes only: ms per GOP | % of a core |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (w, h) in H264_SIZES {
        let r = decode_row(w, h);
        let gop_s = H264_GOP as f64 / f64::from(H264_FPS);
        println!(
            "| {w}x{h} | {:.0} | {:.0} | {:.1} | {:.2} | {:.0} % | {:.2} | {:.2} % |",
            r.kbit_s,
            r.idr_kb,
            r.p_kb,
            r.every_ms,
            r.every_ms * f64::from(H264_FPS) / 10.0,
            r.sparse_gop_ms,
            r.sparse_gop_ms / gop_s / 10.0,
        );
    }
    println!();
    println!("H.264: the moving test pattern encoded by openh264 as a camera would (rate control at ~0.08 bit per pixel per frame, no skipped frames), decoded by the edge's own decode step with its conversion to the JPEG encoder's planes; the decoding thread's CPU time, mean over IDR and P frames. Keyframes only is the step while nobody watches: the IDR decoded, the P frames between kept (copied) for catching up.");
}
