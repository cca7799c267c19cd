//! Encode and passthrough costs per frame size, and the encoder pool's throughput.
//!
//! A benchmark, not a test: it prints a table to quote (`cargo bench -p edge --bench
//! pipeline`). Frames are the test pattern converted to YUYV, which is what a webcam
//! hands over, so JPEG sizes and encode times are those of a textured scene.

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
    source::{pattern::Pattern, Source, SourceError},
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
