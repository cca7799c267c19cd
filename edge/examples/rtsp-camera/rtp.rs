//! RTP payloads: H.264 per RFC 6184 (packetization-mode 1) and JPEG per RFC 2435, plus the
//! 12-byte RTP header (RFC 3550) each client puts in front with its own numbers.
//!
//! Payloads are made once per frame and shared by every client; only the header differs.

/// Largest RTP payload: 1400 bytes keeps a packet, with IP/UDP/RTP headers, inside a
/// 1500-byte Ethernet MTU (and inside VPN tunnels' smaller ones).
pub const MAX_PAYLOAD: usize = 1400;

/// The RTP header of one packet.
pub fn header(marker: bool, payload_type: u8, seq: u16, timestamp: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80; // version 2, no padding, no extension, no CSRCs
    h[1] = (u8::from(marker) << 7) | (payload_type & 0x7f);
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

/// Splits Annex B bytes (start codes 00 00 01 or 00 00 00 01) into NAL units: the
/// edge's own splitter, so the camera and the edge cannot disagree on one.
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    edge::source::rtsp::nal_units(data).collect()
}

/// RTP payloads of one access unit (its NAL units in order, no start codes): a NAL that
/// fits goes alone (single NAL unit packet), a bigger one as FU-A fragments (type 28).
/// The caller sets the marker bit on the last payload (RFC 6184 §5.1: last packet of the
/// access unit).
pub fn packetize_h264(nals: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for nal in nals {
        if nal.is_empty() {
            continue;
        }
        if nal.len() <= max {
            out.push(nal.to_vec());
            continue;
        }
        // FU indicator keeps F and NRI of the NAL with type 28; the FU header carries
        // start/end bits and the original type. The NAL header byte itself is not sent.
        let indicator = (nal[0] & 0xe0) | 28;
        let kind = nal[0] & 0x1f;
        let body = &nal[1..];
        let chunks: Vec<&[u8]> = body.chunks(max - 2).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut fu_header = kind;
            if i == 0 {
                fu_header |= 0x80;
            }
            if i == chunks.len() - 1 {
                fu_header |= 0x40;
            }
            let mut p = Vec::with_capacity(chunk.len() + 2);
            p.extend_from_slice(&[indicator, fu_header]);
            p.extend_from_slice(chunk);
            out.push(p);
        }
    }
    out
}

/// What RFC 2435 needs from a baseline JPEG.
#[derive(Debug, PartialEq, Eq)]
pub struct JpegParts<'a> {
    pub width: u16,
    pub height: u16,
    /// The luma (table 0) then chroma (table 1) quantization tables, 64 bytes each, in
    /// the zig-zag order a DQT segment stores them (RFC 2435 §4.2 uses the same).
    pub tables: Vec<u8>,
    /// The entropy-coded scan, without the EOI marker.
    pub scan: &'a [u8],
}

/// Walks a JPEG from our encoder and checks it fits RFC 2435 type 1: baseline, 8-bit,
/// 3 components Y 2x2 / Cb 1x1 / Cr 1x1 (4:2:0) using tables 0, 1, 1, no restart markers.
/// The Huffman tables are not sent: RFC 2435 decoders use the standard ones, which
/// libjpeg's non-optimised baseline output also uses (checked in the tests).
pub fn jpeg_parts(data: &[u8]) -> Result<JpegParts<'_>, String> {
    if data.len() < 4 || data[..2] != [0xff, 0xd8] {
        return Err("not a JPEG".into());
    }
    let mut pos = 2;
    let mut tables = [None::<[u8; 64]>; 4];
    let mut size = None;
    loop {
        if pos + 4 > data.len() || data[pos] != 0xff {
            return Err(format!("no marker at {pos}"));
        }
        let marker = data[pos + 1];
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        let seg = data.get(pos + 4..pos + 2 + len).ok_or("segment runs past the end")?;
        match marker {
            0xdb => {
                let mut s = seg;
                while !s.is_empty() {
                    let (pq, tq) = (s[0] >> 4, (s[0] & 15) as usize);
                    if pq != 0 || tq > 3 || s.len() < 65 {
                        return Err("only 8-bit quantization tables fit RFC 2435".into());
                    }
                    tables[tq] = Some(s[1..65].try_into().unwrap());
                    s = &s[65..];
                }
            }
            0xc0 => {
                if seg.len() < 15 || seg[0] != 8 || seg[5] != 3 {
                    return Err("need an 8-bit 3-component baseline frame".into());
                }
                let comps = [(seg[7], seg[8]), (seg[10], seg[11]), (seg[13], seg[14])];
                if comps != [(0x22, 0), (0x11, 1), (0x11, 1)] {
                    return Err(format!("need 4:2:0 with tables 0/1/1, got {comps:?}"));
                }
                let h = u16::from_be_bytes([seg[1], seg[2]]);
                let w = u16::from_be_bytes([seg[3], seg[4]]);
                size = Some((w, h));
            }
            0xc1..=0xcf if marker != 0xc4 && marker != 0xc8 && marker != 0xcc => {
                return Err("not a baseline JPEG".into());
            }
            0xdd if seg.len() >= 2 && seg[..2] != [0, 0] => {
                return Err("restart markers are not supported".into());
            }
            0xda => {
                let (width, height) = size.ok_or("scan before frame header")?;
                let (Some(luma), Some(chroma)) = (tables[0], tables[1]) else {
                    return Err("missing quantization table 0 or 1".into());
                };
                let start = pos + 2 + len;
                let mut end = data.len();
                if data[..end].ends_with(&[0xff, 0xd9]) {
                    end -= 2;
                }
                let mut t = luma.to_vec();
                t.extend_from_slice(&chroma);
                return Ok(JpegParts { width, height, tables: t, scan: &data[start..end] });
            }
            _ => {}
        }
        pos += 2 + len;
    }
}

/// RTP payloads of one JPEG frame (RFC 2435 §3.1): the 8-byte main header on each, the
/// quantization table header (Q = 255: tables in band, may change every frame) on the
/// first, then the scan cut at `max`. Width and height go in units of 8 pixels, so the
/// picture must be at most 2040 x 2040; sizes not a multiple of 8 are sent rounded up
/// (the MCU count, and so the scan, is the same).
pub fn packetize_jpeg(parts: &JpegParts<'_>, max: usize) -> Result<Vec<Vec<u8>>, String> {
    let (w8, h8) = (parts.width.div_ceil(8), parts.height.div_ceil(8));
    if w8 > 255 || h8 > 255 || w8 == 0 || h8 == 0 {
        return Err(format!("{}x{} does not fit RFC 2435 (max 2040x2040)", parts.width, parts.height));
    }
    let mut out = Vec::new();
    let mut offset = 0usize;
    loop {
        let mut p = Vec::with_capacity(max);
        p.push(0); // type-specific: progressive frame
        p.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
        p.extend_from_slice(&[1, 255, w8 as u8, h8 as u8]); // type 1 = 4:2:0, Q = 255
        if offset == 0 {
            p.extend_from_slice(&[0, 0]); // MBZ, precision: both tables 8-bit
            p.extend_from_slice(&(parts.tables.len() as u16).to_be_bytes());
            p.extend_from_slice(&parts.tables);
        }
        let room = max.saturating_sub(p.len()).max(1);
        let take = room.min(parts.scan.len() - offset);
        p.extend_from_slice(&parts.scan[offset..offset + take]);
        out.push(p);
        offset += take;
        if offset >= parts.scan.len() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let h = header(true, 96, 0x1234, 0xdeadbeef, 7);
        assert_eq!(h, [0x80, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]);
        assert_eq!(header(false, 26, 0, 0, 0)[1], 26);
    }

    #[test]
    fn splits_annex_b_with_both_start_code_lengths() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0];
        assert_eq!(split_annex_b(&data), vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 0]]);
    }

    #[test]
    fn small_nals_go_alone_big_ones_as_fu_a() {
        let sps = [0x67u8, 1, 2];
        let mut idr = vec![0x65u8];
        idr.extend((0..25u8).collect::<Vec<_>>());
        let p = packetize_h264(&[&sps, &idr], 10);
        assert_eq!(p[0], sps);
        // 25 body bytes in chunks of 8.
        assert_eq!(p.len(), 1 + 4);
        assert_eq!(&p[1][..2], &[0x60 | 28, 0x80 | 5]);
        assert_eq!(&p[2][..2], &[0x60 | 28, 5]);
        assert_eq!(&p[4][..2], &[0x60 | 28, 0x40 | 5]);
        let rebuilt: Vec<u8> = p[1..].iter().flat_map(|x| x[2..].to_vec()).collect();
        assert_eq!(rebuilt, idr[1..]);
        assert!(p.iter().all(|x| x.len() <= 10));
    }

    #[test]
    fn jpeg_fragments_carry_offsets_and_tables_once() {
        let scan: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let parts = JpegParts { width: 640, height: 480, tables: vec![9; 128], scan: &scan };
        let p = packetize_jpeg(&parts, 1400).unwrap();
        assert_eq!(&p[0][..12], &[0, 0, 0, 0, 1, 255, 80, 60, 0, 0, 0, 128]);
        assert_eq!(p[0].len(), 1400);
        let second_offset = u32::from_be_bytes([0, p[1][1], p[1][2], p[1][3]]) as usize;
        assert_eq!(second_offset, 1400 - 8 - 4 - 128);
        let rebuilt: Vec<u8> =
            p.iter().enumerate().flat_map(|(i, x)| x[if i == 0 { 140 } else { 8 }..].to_vec()).collect();
        assert_eq!(rebuilt, scan);
        let big = JpegParts { width: 2048, height: 8, tables: vec![], scan: &scan };
        assert!(packetize_jpeg(&big, 1400).is_err());
    }
}
