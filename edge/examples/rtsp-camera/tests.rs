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
    assert!(saw_loss(&mut d).await, "a gap in sequence numbers reached the client");
}

/// Whether a loss reaches the client within 40 items.
async fn saw_loss(d: &mut Demuxed) -> bool {
    for _ in 0..40 {
        match tokio::time::timeout(Duration::from_secs(10), d.next()).await.unwrap() {
            Some(Ok(CodecItem::VideoFrame(f))) if f.loss() > 0 => return true,
            Some(Ok(_)) => {}
            // retina may also reject the cut frame: the loss was seen too.
            Some(Err(e)) => {
                eprintln!("after lose: {e}");
                return true;
            }
            None => panic!("stream ended"),
        }
    }
    false
}

#[tokio::test]
async fn a_loss_ordered_with_nobody_playing_goes_to_the_next_client() {
    let (addr, cam, _task) = start(&args(&[])).await.unwrap();
    command(&cam, Codec::H264, "lose 3").unwrap();
    let mut d = open(addr, None, false).await.unwrap();
    assert!(saw_loss(&mut d).await);
    // Taken once: a second client gets a clean stream.
    let mut d2 = open(addr, None, false).await.unwrap();
    for _ in 0..25 {
        assert_eq!(next_video(&mut d2).await.loss(), 0);
    }
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

/// What arrives on a playing TCP connection.
enum Item {
    Rtp { at: std::time::Instant, seq: u16, ts: u32 },
    Reply(String),
}

/// Reads the next response or interleaved RTP packet from `s` (`buf` keeps the rest).
async fn next_item(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Item {
    use tokio::io::AsyncReadExt;
    loop {
        if buf.len() >= 4 && buf[0] == b'$' {
            let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
            if buf.len() >= 4 + len {
                assert_eq!(buf[1], 4, "the channel SETUP asked for");
                let p: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
                assert_eq!((p[0], p[1] & 0x7f), (0x80, 96), "RTP version 2, payload type 96");
                let seq = u16::from_be_bytes([p[2], p[3]]);
                let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                return Item::Rtp { at: std::time::Instant::now(), seq, ts };
            }
        } else if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end + 4].to_vec()).unwrap();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + len {
                let all = String::from_utf8(buf.drain(..end + 4 + len).collect()).unwrap();
                return Item::Reply(all);
            }
        }
        let mut chunk = [0u8; 65536];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn ask(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, req: &str) -> String {
    use tokio::io::AsyncWriteExt;
    s.write_all(req.as_bytes()).await.unwrap();
    loop {
        if let Item::Reply(r) = next_item(s, buf).await {
            return r;
        }
    }
}

/// Speaks RTSP by hand: the headers and the interleaved RTP a client sees, keepalives,
/// and `stall` (a gap in time, not in sequence numbers).
#[tokio::test]
async fn raw_rtsp_and_interleaved_rtp_and_stall() {
    use tokio::io::AsyncWriteExt;
    let a = Args::parse_from(["rtsp-camera", "--size", "320x240", "--fps", "10", "--audio"]);
    let (addr, cam, _task) = start(&a).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let base = format!("rtsp://{addr}/cam");
    let r = ask(&mut s, &mut buf, &format!("OPTIONS {base} RTSP/1.0\r\nCSeq: 1\r\n\r\n")).await;
    assert!(r.starts_with("RTSP/1.0 200 OK\r\nCSeq: 1\r\n") && r.contains("GET_PARAMETER"), "{r}");
    let r = ask(&mut s, &mut buf, &format!("DESCRIBE {base} RTSP/1.0\r\nCSeq: 2\r\n\r\n")).await;
    assert!(r.contains(&format!("Content-Base: {base}/\r\n")), "{r}");
    assert!(r.contains("sprop-parameter-sets=Z") && r.contains("m=audio 0 RTP/AVP 0"), "{r}");
    let tcp = "Transport: RTP/AVP/TCP;unicast;interleaved";
    let r =
        ask(&mut s, &mut buf, &format!("SETUP {base}/trackID=7 RTSP/1.0\r\nCSeq: 3\r\n{tcp}=0-1\r\n\r\n"))
            .await;
    assert!(r.starts_with("RTSP/1.0 404"), "{r}");
    let r =
        ask(&mut s, &mut buf, &format!("SETUP {base}/trackID=0 RTSP/1.0\r\nCSeq: 4\r\n{tcp}=4-5\r\n\r\n"))
            .await;
    assert!(r.contains("Transport: RTP/AVP/TCP;unicast;interleaved=4-5;ssrc="), "{r}");
    let session = r.lines().find_map(|l| l.strip_prefix("Session: ")).unwrap().to_string();
    assert!(session.ends_with(";timeout=60"));
    let id = session.split(';').next().unwrap();
    let r =
        ask(&mut s, &mut buf, &format!("PLAY {base}/ RTSP/1.0\r\nCSeq: 5\r\nSession: wrong\r\n\r\n")).await;
    assert!(r.starts_with("RTSP/1.0 454"), "{r}");
    let r =
        ask(&mut s, &mut buf, &format!("PLAY {base}/ RTSP/1.0\r\nCSeq: 6\r\nSession: {id}\r\n\r\n")).await;
    let info = r.lines().find_map(|l| l.strip_prefix("RTP-Info: ")).unwrap().to_string();
    assert!(info.starts_with(&format!("url={base}/trackID=0;seq=")), "{info}");
    let first_seq: u16 = info.split("seq=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();

    let Item::Rtp { seq, ts, .. } = next_item(&mut s, &mut buf).await else { panic!("RTP after PLAY") };
    assert_eq!(seq, first_seq, "RTP-Info's seq is the first packet's");
    let (mut last_seq, mut last_ts) = (seq, ts);
    let mut steps = Vec::new();
    while steps.len() < 3 {
        let Item::Rtp { seq, ts, .. } = next_item(&mut s, &mut buf).await else { panic!() };
        assert_eq!(seq, last_seq.wrapping_add(1));
        if ts != last_ts {
            steps.push(ts.wrapping_sub(last_ts));
        }
        (last_seq, last_ts) = (seq, ts);
    }
    assert!(steps.iter().all(|&d| d == 9000), "10 fps is 9000 ticks of 90 kHz: {steps:?}");

    // A keepalive answered among the RTP, then a stall.
    s.write_all(format!("GET_PARAMETER {base}/ RTSP/1.0\r\nCSeq: 7\r\nSession: {id}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    command(&cam, Codec::H264, "stall 1").unwrap();
    let (mut gap, mut jump, mut replied) = (Duration::ZERO, 0, false);
    let mut before = std::time::Instant::now();
    for _ in 0..500 {
        match next_item(&mut s, &mut buf).await {
            Item::Reply(r) => {
                assert!(r.starts_with("RTSP/1.0 200 OK\r\nCSeq: 7\r\n"), "{r}");
                replied = true;
            }
            Item::Rtp { at, seq, ts } => {
                assert_eq!(seq, last_seq.wrapping_add(1), "a stall skips no sequence numbers");
                if at - before > gap {
                    (gap, jump) = (at - before, ts.wrapping_sub(last_ts));
                }
                (before, last_seq, last_ts) = (at, seq, ts);
            }
        }
        if replied && gap > Duration::from_millis(800) {
            break;
        }
    }
    assert!(replied, "GET_PARAMETER answered");
    assert!(gap > Duration::from_millis(800), "no RTP during the stall: longest gap {gap:?}");
    assert!(jump >= 80_000, "timestamps follow the clock across a stall: {jump}");
}

/// Every IDR carries SPS and PPS in band, IDRs come every `gop` frames and none is skipped.
#[test]
fn idrs_carry_parameter_sets_on_a_fixed_gop() {
    let s = source::Settings {
        codec: Codec::H264,
        width: 160,
        height: 120,
        fps: 30,
        gop: 5,
        bitrate_kbps: 0,
        quality: 80,
        preencode_secs: None,
    };
    let mut maker = source::Maker::new(&s).unwrap();
    let mut p = source::Planes::new(160, 120);
    let mut keys = Vec::new();
    for i in 0..16 {
        p.draw(i);
        let e = maker.encode(&p, false).unwrap().expect("no frame skipped");
        let types: Vec<u8> = e.payloads.iter().map(|x| x[0] & 0x1f).collect();
        if e.key {
            keys.push(i);
            assert_eq!(&types[..2], &[7, 8], "SPS, PPS first: {types:?}");
            assert!(e.params.is_some());
        } else {
            assert!(!types.contains(&7), "parameter sets only with IDRs: {types:?}");
        }
    }
    assert_eq!(keys, [0, 5, 10, 15]);
}
