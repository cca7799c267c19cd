//! Network cameras end to end: `tests/camera_server.py` (an independent stand-in camera,
//! Python stdlib only) serves JPEGs the way IP cameras do, and [`HttpMjpeg`] and
//! [`HttpSnapshot`] read them. Every frame is checked with an independent decoder and
//! against the file it came from.

use crate::util::CameraServer;
use std::{
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

use edge::{
    encode::Encoder,
    frame::{Picture, Yuv420},
    source::{
        http::{HttpMjpeg, HttpSnapshot},
        Source, SourceError,
    },
};

const WIDTH: usize = 320;
const HEIGHT: usize = 240;

/// The pictures the camera serves, written once per test run.
struct Fixtures {
    dir: PathBuf,
    jpegs: Vec<Vec<u8>>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("edge-http-camera-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fixture directory");
        let jpegs: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let mut img = Yuv420::new(WIDTH, HEIGHT);
                let stride = img.y_stride();
                for (row, line) in img.y.chunks_mut(stride).enumerate() {
                    for (col, px) in line.iter_mut().enumerate() {
                        *px = ((row + col * (i + 1)) % 256) as u8;
                    }
                }
                img.cb.fill(60 + 60 * i as u8);
                Encoder::new(75).encode_into(&img, Vec::new()).expect("encode a fixture")
            })
            .collect();
        for (i, jpeg) in jpegs.iter().enumerate() {
            std::fs::write(dir.join(format!("{i}.jpg")), jpeg).expect("write a fixture");
        }
        Fixtures { dir, jpegs }
    })
}

/// Which fixture `jpeg` is, if it is one of them whole; checked with jpeg-decoder too.
fn whole_picture(jpeg: &[u8]) -> Option<usize> {
    let index = fixtures().jpegs.iter().position(|f| f == jpeg)?;
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().expect("a fixture decodes");
    let info = decoder.info().expect("decoded header");
    assert_eq!((info.width as usize, info.height as usize), (WIDTH, HEIGHT));
    assert_eq!(pixels.len(), WIDTH * HEIGHT * 3);
    Some(index)
}

/// The stand-in camera serving this file's fixtures.
struct Camera;

impl Camera {
    fn start(args: &[&str]) -> CameraServer {
        CameraServer::start_on(0, &fixtures().dir, args)
    }

    fn start_on(port: u16, args: &[&str]) -> CameraServer {
        CameraServer::start_on(port, &fixtures().dir, args)
    }
}

fn jpeg_of(source: &mut dyn Source) -> Vec<u8> {
    match source.next_frame() {
        Ok(captured) => match captured.picture {
            Picture::Jpeg(jpeg) => jpeg,
            other => panic!("expected a JPEG, got {}", other.kind()),
        },
        Err(e) => panic!("{}: {e}", source.describe()),
    }
}

fn lost_message(source: &mut dyn Source) -> String {
    match source.next_frame() {
        Ok(_) => panic!("{} gave a frame; expected it lost", source.describe()),
        Err(SourceError::Lost(message)) => message,
    }
}

/// Reads `n` frames from a stream in `style`: all whole, in the camera's order, each
/// stamped when it arrived.
fn stream_gives_whole_pictures(style: &str) {
    let camera = Camera::start(&["--style", style, "--fps", "60"]);
    let mut source = HttpMjpeg::new(&camera.url("/stream")).unwrap();
    let mut last_us = 0;
    for i in 0..6 {
        let captured = source.next_frame().unwrap_or_else(|e| panic!("{style}: {e}"));
        assert!(captured.capture_us >= last_us && captured.capture_us <= edge::clock::now_us());
        last_us = captured.capture_us;
        let Picture::Jpeg(jpeg) = captured.picture else { panic!("not a JPEG") };
        assert_eq!(whole_picture(&jpeg), Some(i % 3), "{style}: frame {i}");
    }
}

#[test]
fn a_stream_with_content_length_and_crlf_gives_whole_pictures() {
    stream_gives_whole_pictures("crlf");
}

#[test]
fn a_stream_without_crlf_before_the_boundary_gives_whole_pictures() {
    stream_gives_whole_pictures("nocrlf");
}

#[test]
fn a_stream_without_content_length_gives_whole_pictures() {
    stream_gives_whole_pictures("nolength");
}

#[test]
fn a_chunked_stream_gives_whole_pictures() {
    stream_gives_whole_pictures("chunked");
}

#[test]
fn a_frame_comes_out_when_it_arrives_not_when_the_next_one_does() {
    // At 1 fps the next part is a second away: waiting for its boundary would show.
    for style in ["crlf", "nolength"] {
        let camera = Camera::start(&["--style", style, "--fps", "1"]);
        let mut source = HttpMjpeg::new(&camera.url("/stream")).unwrap();
        let started = Instant::now();
        assert_eq!(whole_picture(&jpeg_of(&mut source)), Some(0));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(700), "{style}: the first frame took {took:?}");
    }
}

#[test]
fn snapshots_come_at_the_requested_rate_with_every_body_framing() {
    for style in ["crlf", "chunked", "nolength"] {
        let camera = Camera::start(&["--style", style]);
        let mut source = HttpSnapshot::new(&camera.url("/snapshot"), 20).unwrap();
        let started = Instant::now();
        for i in 0..6 {
            assert_eq!(whole_picture(&jpeg_of(&mut source)), Some(i % 3), "{style}: snapshot {i}");
        }
        // Six snapshots at 20 fps: the first at once, then 50 ms apart.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(240) && took < Duration::from_millis(1500),
            "{style}: {took:?}"
        );
    }
}

#[test]
fn the_right_login_opens_a_protected_camera() {
    let camera = Camera::start(&["--user", "admin", "--password", "p@ss word"]);
    let url = |path: &str| camera.url(path).replace("http://", "http://admin:p%40ss%20word@");
    let mut stream = HttpMjpeg::new(&url("/stream")).unwrap();
    assert!(whole_picture(&jpeg_of(&mut stream)).is_some());
    let mut snapshot = HttpSnapshot::new(&url("/snapshot"), 30).unwrap();
    assert!(whole_picture(&jpeg_of(&mut snapshot)).is_some());
    assert!(!stream.describe().contains("p%40ss") && stream.describe().contains("admin:***@"));
}

#[test]
fn a_wrong_or_missing_login_is_refused_without_showing_the_password() {
    let camera = Camera::start(&["--user", "admin", "--password", "right"]);
    let wrong = camera.url("/stream").replace("http://", "http://admin:WrongSecret@");
    let mut source = HttpMjpeg::new(&wrong).unwrap();
    let message = lost_message(&mut source);
    assert!(message.contains("refused the login"), "{message}");
    assert!(message.contains("admin:***@"), "{message}");
    assert!(!message.contains("WrongSecret") && !source.describe().contains("WrongSecret"), "{message}");

    let wrong = camera.url("/snapshot").replace("http://", "http://admin:WrongSecret@");
    let message = lost_message(&mut HttpSnapshot::new(&wrong, 30).unwrap());
    assert!(message.contains("refused the login") && !message.contains("WrongSecret"), "{message}");

    let message = lost_message(&mut HttpMjpeg::new(&camera.url("/stream")).unwrap());
    assert!(message.contains("asks for a login"), "{message}");
}

#[test]
fn a_silent_camera_is_lost_and_the_same_source_recovers_after_a_restart() {
    let mut camera = Camera::start(&["--silence-after", "2", "--fps", "30"]);
    let port = camera.port;
    let mut source =
        HttpMjpeg::new(&camera.url("/stream")).unwrap().with_read_timeout(Duration::from_millis(300));
    jpeg_of(&mut source);
    jpeg_of(&mut source);
    let started = Instant::now();
    let message = lost_message(&mut source);
    assert!(message.contains("sent nothing for 300 ms"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(2));

    camera.stop();
    let message = lost_message(&mut source);
    assert!(message.contains("refused the connection"), "{message}");

    let _camera = Camera::start_on(port, &["--fps", "30"]);
    for _ in 0..3 {
        assert!(whole_picture(&jpeg_of(&mut source)).is_some());
    }
}

#[test]
fn a_silent_snapshot_url_is_lost_too() {
    let camera = Camera::start(&["--silence-after", "1"]);
    let mut source = HttpSnapshot::new(&camera.url("/snapshot"), 30)
        .unwrap()
        .with_read_timeout(Duration::from_millis(300));
    jpeg_of(&mut source);
    let message = lost_message(&mut source);
    assert!(message.contains("sent nothing for 300 ms"), "{message}");
}

#[test]
fn a_camera_that_dies_is_reported_as_closing_the_connection() {
    let camera = Camera::start(&["--die-after", "2", "--fps", "30"]);
    let mut source = HttpMjpeg::new(&camera.url("/stream")).unwrap();
    jpeg_of(&mut source);
    jpeg_of(&mut source);
    let message = lost_message(&mut source);
    assert!(message.contains("closed the connection"), "{message}");
}

#[test]
fn a_truncated_part_with_content_length_is_skipped_and_the_stream_goes_on() {
    let camera = Camera::start(&["--truncate-every", "3", "--fps", "60"]);
    let mut source = HttpMjpeg::new(&camera.url("/stream")).unwrap();
    // Parts 3, 6 and 9 are cut; every frame that comes out is whole, in order.
    let got: Vec<Option<usize>> = (0..6).map(|_| whole_picture(&jpeg_of(&mut source))).collect();
    assert_eq!(got, [0, 1, 3, 4, 6, 7].map(|i| Some(i % 3)));
}

#[test]
fn a_truncated_part_without_content_length_does_not_wedge_the_stream() {
    let camera = Camera::start(&["--truncate-every", "3", "--fps", "60", "--style", "nolength"]);
    let mut source = HttpMjpeg::new(&camera.url("/stream")).unwrap();
    // Without a length the cut JPEG cannot be told apart here; it comes out and the
    // pipeline's JPEG check drops it. The parts after it are whole.
    let got: Vec<Option<usize>> = (0..6).map(|_| whole_picture(&jpeg_of(&mut source))).collect();
    assert_eq!(got, [Some(0), Some(1), None, Some(0), Some(1), None]);
}

#[test]
fn urls_that_are_not_a_stream_or_a_picture_are_clear_errors() {
    let camera = Camera::start(&[]);
    let message = lost_message(&mut HttpMjpeg::new(&camera.url("/snapshot")).unwrap());
    assert!(message.contains("does not send an MJPEG stream (Content-Type: image/jpeg)"), "{message}");
    let message = lost_message(&mut HttpMjpeg::new(&camera.url("/nothing")).unwrap());
    assert!(message.contains("answered HTTP 404"), "{message}");
    let message = lost_message(&mut HttpSnapshot::new(&camera.url("/nothing"), 30).unwrap());
    assert!(message.contains("answered HTTP 404"), "{message}");
}

#[test]
fn nothing_listening_is_lost_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut source = HttpMjpeg::new(&format!("http://127.0.0.1:{port}/stream")).unwrap();
    let message = lost_message(&mut source);
    assert!(
        message.contains(&format!("refused the connection (nothing listens on port {port}")),
        "{message}"
    );
}
