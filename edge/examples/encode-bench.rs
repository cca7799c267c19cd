//! The JPEG encoder's cost per frame, for `tests/bench.mjs` (`BENCH_ONLY=arm64`): the
//! test pattern encoded by the edge's own encoder (`edge::encode::Encoder`, the planar
//! 4:2:0 path a camera's raw frames take) over and over, timed on the wall clock.
//!
//! `encode-bench [WIDTHxHEIGHT] [SECONDS]` (default 640x480, 2 s) prints one JSON line:
//! the size, ms per frame, frames, JPEG bytes, the target architecture and whether this
//! build has mozjpeg's SIMD (the edge's `simd` feature; build with
//! `--no-default-features` to compare). Mozjpeg has no run-time switch for SIMD: it is
//! built with NO_GETENV, so libjpeg-turbo's `JSIMD_FORCENONE=1` is ignored.

use std::time::{Duration, Instant};

use edge::{
    encode::Encoder,
    frame::Picture,
    source::{pattern::Pattern, Source},
};

const QUALITY: u8 = 75;

fn main() {
    let mut args = std::env::args().skip(1);
    let size = args.next().unwrap_or_else(|| "640x480".into());
    let seconds: f64 = args.next().map_or(2.0, |s| s.parse().expect("SECONDS"));
    let (w, h) = size.split_once('x').expect("WIDTHxHEIGHT");
    let (w, h): (usize, usize) = (w.parse().expect("WIDTH"), h.parse().expect("HEIGHT"));
    let Picture::Planar(frame) = Pattern::new(w, h, 0).next_frame().expect("pattern").picture else {
        panic!("the test pattern is planar 4:2:0");
    };
    let encoder = Encoder::new(QUALITY);
    // Warm-up: the first frames pay for allocation and, under qemu, translating the code.
    // The output buffer is reused, as the edge does: the encoder appends to it.
    let mut jpeg = Vec::new();
    let encode = |mut buf: Vec<u8>| {
        buf.clear();
        encoder.encode_into(&frame, buf).expect("encode")
    };
    for _ in 0..3 {
        jpeg = encode(jpeg);
    }
    let (start, mut frames) = (Instant::now(), 0u32);
    while frames < 5 || start.elapsed() < Duration::from_secs_f64(seconds) {
        jpeg = encode(jpeg);
        frames += 1;
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    println!(
        "{{\"size\":\"{w}x{h}\",\"ms_per_frame\":{ms:.3},\"frames\":{frames},\"jpeg_bytes\":{},\"arch\":\"{}\",\"simd\":{}}}",
        jpeg.len(),
        std::env::consts::ARCH,
        cfg!(feature = "simd"),
    );
}
