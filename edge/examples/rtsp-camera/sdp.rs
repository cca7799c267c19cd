//! The session description (RFC 4566) DESCRIBE returns: one video track, `trackID=0`, and
//! optionally a PCMU audio track, `trackID=1`, that the edge must leave alone.

use base64::Engine;

/// What the video track is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Video {
    /// H.264 with its current SPS and PPS (NAL units without start codes).
    H264 { sps: Vec<u8>, pps: Vec<u8> },
    /// Advertised only, so the edge's refusal can be tested.
    H265,
    /// RFC 2435, static payload type 26.
    Jpeg,
}

impl Video {
    pub fn payload_type(&self) -> u8 {
        match self {
            Video::Jpeg => 26,
            _ => 96,
        }
    }
}

/// The SDP text. `session_id` goes in `o=`; `fps` in `a=framerate`.
pub fn make(video: &Video, fps: u32, audio: bool, session_id: u64, ip: &str) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let ip_kind = if ip.contains(':') { "IP6" } else { "IP4" };
    let mut s = format!(
        "v=0\r\no=- {session_id} 1 IN {ip_kind} {ip}\r\ns=mqcam test camera\r\nc=IN {ip_kind} {ip}\r\nt=0 0\r\na=control:*\r\na=range:npt=now-\r\n"
    );
    let pt = video.payload_type();
    s += &format!("m=video 0 RTP/AVP {pt}\r\n");
    match video {
        Video::H264 { sps, pps } => {
            // profile_idc, constraint flags, level_idc: the three bytes after the NAL header.
            let profile: String =
                sps.get(1..4).unwrap_or(&[0x42, 0xc0, 0x1f]).iter().map(|b| format!("{b:02X}")).collect();
            s += &format!("a=rtpmap:{pt} H264/90000\r\n");
            s += &format!(
                "a=fmtp:{pt} packetization-mode=1;sprop-parameter-sets={},{};profile-level-id={profile}\r\n",
                b64(sps),
                b64(pps)
            );
        }
        Video::H265 => s += &format!("a=rtpmap:{pt} H265/90000\r\n"),
        Video::Jpeg => s += &format!("a=rtpmap:{pt} JPEG/90000\r\n"),
    }
    s += &format!("a=framerate:{fps}\r\na=control:trackID=0\r\n");
    if audio {
        s += "m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:trackID=1\r\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_with_parameter_sets_and_audio() {
        let v = Video::H264 { sps: vec![0x67, 0x42, 0xc0, 0x1e, 0xaa], pps: vec![0x68, 0xce] };
        let s = make(&v, 25, true, 42, "127.0.0.1");
        assert!(s.starts_with("v=0\r\no=- 42 1 IN IP4 127.0.0.1\r\n"));
        assert!(s.contains("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"));
        assert!(s.contains(
            "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAHqo=,aM4=;profile-level-id=42C01E\r\n"
        ));
        assert!(s.contains("a=framerate:25\r\na=control:trackID=0\r\n"));
        assert!(s.ends_with("m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:trackID=1\r\n"));
    }

    #[test]
    fn other_codecs() {
        assert!(make(&Video::H265, 30, false, 1, "::1").contains("a=rtpmap:96 H265/90000"));
        let j = make(&Video::Jpeg, 30, false, 1, "127.0.0.1");
        assert!(j.contains("m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000"));
        assert!(!j.contains("m=audio"));
    }
}
