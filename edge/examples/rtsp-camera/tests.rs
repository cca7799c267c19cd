//! End to end: the camera in-process, retina (the client the edge uses) on the other end,
//! openh264 and jpeg-decoder decoding what arrives, and the index read back from pixels.
//! Small pictures and low rates keep these cheap on a shared machine.

use std::time::Duration;

use futures_util::StreamExt;
use openh264::formats::YUVSource;
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, TcpTransportOptions, Transport,
    UdpTransportOptions,
};
use retina::codec::{CodecItem, FrameFormat, VideoFrame};

use super::*;

fn args(extra: &[&str]) -> Args {
    let mut v = vec!["rtsp-camera", "--size", "320x240", "--fps", "15", "--gop", "10"];
    v.extend_from_slice(extra);
    Args::parse_from(v)
}

fn creds(u: &str, p: &str) -> Option<Credentials> {
    Some(Credentials { username: u.into(), password: p.into() })
}

async fn open(addr: SocketAddr, creds: Option<Credentials>, udp: bool) -> Result<Demuxed, retina::Error> {
    let url = url::Url::parse(&format!("rtsp://{addr}/stream")).unwrap();
    let mut s = Session::describe(url, SessionOptions::default().creds(creds)).await?;
    let i = s.streams().iter().position(|s| s.media() == "video").unwrap();
    let transport = if udp {
        Transport::Udp(UdpTransportOptions::default())
    } else {
        Transport::Tcp(TcpTransportOptions::default())
    };
    s.setup(i, SetupOptions::default().transport(transport).frame_format(FrameFormat::SIMPLE)).await?;
    s.play(PlayOptions::default()).await?.demuxed()
}

async fn next_video(d: &mut Demuxed) -> VideoFrame {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), d.next())
            .await
            .expect("a frame within 10 s")
            .expect("stream still open")
            .expect("no stream error");
        if let CodecItem::VideoFrame(f) = item {
            return f;
        }
    }
}

/// Decodes H.264 frames and reads the index from the luma plane.
struct Reader(openh264::decoder::Decoder);

impl Reader {
    fn new() -> Self {
        Reader(openh264::decoder::Decoder::new().unwrap())
    }
    fn index(&mut self, f: &VideoFrame) -> Option<(u16, (usize, usize))> {
        let yuv = self.0.decode(f.data()).unwrap()?;
        let (w, h) = yuv.dimensions();
        Some((picture::read_index(yuv.y(), yuv.strides().0, w, h).expect("the test picture"), (w, h)))
    }
}

#[tokio::test]
async fn h264_over_tcp_with_digest_decodes_to_increasing_indexes_and_changes_size() {
    let (addr, cam, _task) = start(&args(&["--user", "u", "--password", "p", "--audio"])).await.unwrap();
    assert!(open(addr, creds("u", "wrong"), false).await.is_err(), "a wrong password fails at DESCRIBE");
    assert!(open(addr, None, false).await.is_err(), "no login fails");
    let mut d = open(addr, creds("u", "p"), false).await.unwrap();
    let mut reader = Reader::new();
    let first = next_video(&mut d).await;
    assert!(first.is_random_access_point(), "a client starts at an IDR");
    let (mut last, dims) = reader.index(&first).unwrap();
    assert_eq!(dims, (320, 240));
    let mut keys = Vec::new();
    for n in 1..=25 {
        let f = next_video(&mut d).await;
        if f.is_random_access_point() {
            keys.push(n);
        }
        let (i, _) = reader.index(&f).unwrap();
        assert_eq!(i, last.wrapping_add(1), "consecutive source frames");
        last = i;
    }
    // PLAY forced an IDR; from there the GOP (10) is fixed.
    assert!(keys.windows(2).all(|w| w[1] - w[0] == 10), "IDRs every 10 frames: {keys:?}");
    assert!(!keys.is_empty());

    command(&cam, Codec::H264, "size 256x192").unwrap();
    let mut seen = false;
    for _ in 0..30 {
        let f = next_video(&mut d).await;
        if f.has_new_parameters() {
            assert!(f.is_random_access_point());
            let Some(retina::codec::ParametersRef::Video(v)) = d.streams()[f.stream_id()].parameters() else {
                panic!("video parameters")
            };
            assert_eq!(v.pixel_dimensions(), (256, 192));
            let mut fresh = Reader::new();
            let (_, dims) = fresh.index(&f).unwrap();
            assert_eq!(dims, (256, 192));
            seen = true;
            break;
        }
    }
    assert!(seen, "a frame with new parameters after `size`");
    // New clients get the new parameter sets in the SDP.
    let mut d2 = open(addr, creds("u", "p"), false).await.unwrap();
    let f = next_video(&mut d2).await;
    assert_eq!(Reader::new().index(&f).unwrap().1, (256, 192));
}

#[tokio::test]
async fn udp_with_basic_login_and_lost_packets() {
    let (addr, cam, _task) =
        start(&args(&["--user", "u", "--password", "p", "--auth", "basic"])).await.unwrap();
    let mut d = open(addr, creds("u", "p"), true).await.unwrap();
    let mut reader = Reader::new();
    let f = next_video(&mut d).await;
    assert!(f.is_random_access_point());
    assert!(reader.index(&f).is_some());
    // `lose` starts inside a frame that has several packets: at 320x240, the IDRs.
    command(&cam, Codec::H264, "lose 2").unwrap();
    let mut lost = false;
    for _ in 0..40 {
        match tokio::time::timeout(Duration::from_secs(10), d.next()).await.unwrap() {
            Some(Ok(CodecItem::VideoFrame(f))) if f.loss() > 0 => {
                lost = true;
                break;
            }
            Some(Ok(_)) => {}
            // retina may also reject the half frame: that is loss seen too.
            Some(Err(e)) => {
                eprintln!("after lose: {e}");
                lost = true;
                break;
            }
            None => panic!("stream ended"),
        }
    }
    assert!(lost, "a gap in sequence numbers reached the client");
}

#[tokio::test]
async fn faults_refuse_password_and_drop() {
    let (addr, cam, _task) =
        start(&args(&["--user", "u", "--password", "p", "--preencode", "1"])).await.unwrap();
    command(&cam, Codec::H264, "refuse").unwrap();
    assert!(open(addr, creds("u", "p"), false).await.is_err());
    command(&cam, Codec::H264, "accept").unwrap();
    assert_eq!(command(&cam, Codec::H264, "password q").unwrap(), "password");
    assert!(open(addr, creds("u", "p"), false).await.is_err());
    let mut d = open(addr, creds("u", "q"), false).await.unwrap();
    let f = next_video(&mut d).await;
    assert!(f.is_random_access_point());
    command(&cam, Codec::H264, "drop").unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match d.next().await {
                Some(Ok(_)) => continue,
                other => return other.is_none() || matches!(other, Some(Err(_))),
            }
        }
    })
    .await
    .unwrap();
    assert!(end, "the stream ends after `drop`");
    assert!(command(&cam, Codec::H264, "size 33x20").is_err());
    assert!(command(&cam, Codec::H264, "bogus").is_err());
}

#[tokio::test]
async fn mjpeg_frames_decode_and_carry_the_index() {
    let (addr, _cam, _task) = start(&args(&["--codec", "jpeg"])).await.unwrap();
    let mut d = open(addr, None, false).await.unwrap();
    let mut last = None;
    for _ in 0..5 {
        let f = next_video(&mut d).await;
        let mut dec = jpeg_decoder::Decoder::new(f.data());
        let rgb = dec.decode().expect("a JPEG that decodes");
        let info = dec.info().unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        assert_eq!((w, h), (320, 240));
        let luma: Vec<u8> = rgb
            .chunks(3)
            .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
            .collect();
        // Full range, as MJPEG cameras send.
        assert!(luma[w * (h / 2)] < 8, "black strip is black: {}", luma[w * (h / 2)]);
        let i = picture::read_index(&luma, w, w, h).expect("the test picture");
        if let Some(l) = last {
            assert_eq!(i, u16::wrapping_add(l, 1));
        }
        last = Some(i);
    }
}

#[tokio::test]
async fn h265_is_only_advertised() {
    let (addr, _cam, _task) = start(&args(&["--codec", "h265"])).await.unwrap();
    let url = url::Url::parse(&format!("rtsp://{addr}/")).unwrap();
    let s = Session::describe(url, SessionOptions::default()).await.unwrap();
    assert_eq!(s.streams()[0].encoding_name(), "h265");
}

/// The JPEG encoder's Huffman tables must be the standard ones RFC 2435 receivers assume:
/// the frame must decode the same with them put in place of its own.
#[test]
fn jpeg_encoder_uses_the_standard_huffman_tables() {
    let mut p = source::Planes::new(320, 240);
    p.draw(1234);
    let img = source::jpeg_planes(&p);
    let jpeg = edge::encode::Encoder::new(80).encode_into(&img, Vec::new()).unwrap();
    let parts = rtp::jpeg_parts(&jpeg).unwrap();
    // A JPEG with no DHT, then the standard tables added by the edge's passthrough code.
    let mut bare = vec![0xff, 0xd8];
    bare.extend_from_slice(&[0xff, 0xdb, 0, 132, 0]);
    bare.extend_from_slice(&parts.tables[..64]);
    bare.push(1);
    bare.extend_from_slice(&parts.tables[64..]);
    bare.extend_from_slice(&[0xff, 0xc0, 0, 17, 8, 0, 240, 1, 64, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    bare.extend_from_slice(&[0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
    bare.extend_from_slice(parts.scan);
    bare.extend_from_slice(&[0xff, 0xd9]);
    let info = edge::encode::passthrough::inspect(&bare).unwrap();
    assert!(!info.has_tables);
    let fixed = edge::encode::passthrough::with_standard_tables(&bare, &info);
    let a = jpeg_decoder::Decoder::new(&jpeg[..]).decode().unwrap();
    let b = jpeg_decoder::Decoder::new(&fixed[..]).decode().unwrap();
    assert_eq!(a, b);
}

#[test]
fn sizes_per_codec() {
    assert!(check_size(Codec::H264, (322, 242)).is_ok());
    assert!(check_size(Codec::H264, (321, 240)).is_err());
    assert!(check_size(Codec::Jpeg, (1920, 1080)).is_ok());
    assert!(check_size(Codec::Jpeg, (1924, 1080)).is_err());
    assert!(parse_size("640x480").is_ok() && parse_size("640").is_err() && parse_size("8x8").is_err());
}
