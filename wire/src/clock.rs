//! The clock-offset exchange between a viewer and the edge, NTP-style over MQTT.
//!
//! A viewer publishes a **request** on `<prefix>/<camera>/clock/req/<viewer>`: its send
//! time t1 (ms since the epoch on the viewer's clock, f64 LE: 8 bytes). The edge answers
//! on `…/clock/res/<viewer>` with a **reply**: its receive time t2 and send time t3 (µs
//! since the epoch on the edge's clock, u64 LE each), then the request's own bytes,
//! which carry t1 back, so the viewer keeps no state per request. The edge echoes any
//! request of at most [`MAX_REQUEST`] bytes without reading it: the viewer alone decides
//! what a request holds.
//!
//! | offset | size | field | meaning |
//! |-------:|-----:|-------|---------|
//! | 0 | 8 | t2 | when the edge received the request (µs, u64 LE) |
//! | 8 | 8 | t3 | when the edge sent the reply (µs, u64 LE) |
//! | 16 | 8 | t1 | the request: the viewer's send time (ms, f64 LE) |

use alloc::vec::Vec;

/// Largest request the edge echoes; anything bigger is not a clock request.
pub const MAX_REQUEST: usize = 64;

/// A viewer's request: its send time `t1_ms`.
pub fn request(t1_ms: f64) -> [u8; 8] {
    t1_ms.to_le_bytes()
}

/// The edge's reply to `request`, or `None` if it is too big to be one.
pub fn reply(request: &[u8], received_us: u64, sent_us: u64) -> Option<Vec<u8>> {
    if request.len() > MAX_REQUEST {
        return None;
    }
    let mut out = Vec::with_capacity(16 + request.len());
    out.extend_from_slice(&received_us.to_le_bytes());
    out.extend_from_slice(&sent_us.to_le_bytes());
    out.extend_from_slice(request);
    Some(out)
}

/// A reply as the viewer reads it: (t1 viewer ms, t2 edge µs, t3 edge µs), or `None`
/// if it is not a reply to a request made by [`request`].
pub fn parse_reply(payload: &[u8]) -> Option<(f64, u64, u64)> {
    let payload: &[u8; 24] = payload.try_into().ok()?;
    let at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&payload[i..i + 8]);
        b
    };
    let t1 = f64::from_le_bytes(at(16));
    t1.is_finite().then(|| (t1, u64::from_le_bytes(at(0)), u64::from_le_bytes(at(8))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_to_a_request_gives_back_all_three_times() {
        let r = reply(&request(1234.5), 7, 9).unwrap();
        assert_eq!(r.len(), 24);
        assert_eq!(parse_reply(&r), Some((1234.5, 7, 9)));
    }

    #[test]
    fn what_is_not_a_reply_is_refused() {
        let r = reply(&request(1.0), 7, 9).unwrap();
        assert_eq!(parse_reply(&r[..23]), None);
        assert_eq!(parse_reply(&[r.clone(), vec![0]].concat()), None);
        assert_eq!(parse_reply(&reply(&request(f64::NAN), 1, 2).unwrap()), None);
        assert_eq!(parse_reply(&reply(&request(f64::INFINITY), 1, 2).unwrap()), None);
    }

    #[test]
    fn the_edge_echoes_small_requests_only() {
        assert_eq!(reply(&[1; MAX_REQUEST], 1, 2).unwrap()[16..], [1; MAX_REQUEST]);
        assert_eq!(reply(&[1; MAX_REQUEST + 1], 1, 2), None);
        assert_eq!(reply(&[], 1, 2).unwrap().len(), 16);
    }
}
