//! A frame's capture time, as honest as the edge can make it without trusting the
//! camera's clock. No I/O.
//!
//! The edge reads a frame's first packet off the socket some time after the camera sent
//! it. Usually that is at once; but when the edge falls behind (a slow board decoding
//! 1080p, a busy moment), frames wait in the socket, and stamping them with the time
//! they were read would hide that wait from every latency figure. The camera's RTP
//! timestamps say how far apart it sent its frames (their rate is the camera's clock,
//! which is trusted for intervals, never for the time of day), so a frame read later than
//! its RTP time says, compared with the least-delayed frame seen, waited that much longer:
//! its capture time is moved back by it.
//!
//! The least delay is kept over two windows of 20 s, so that a camera clock running
//! slightly fast or slow against ours does not build up into a false delay. A jump of the
//! RTP clock (a camera restarting its stream) starts over.

/// How long one window of the least delay lasts (µs of our clock).
const WINDOW_US: u64 = 20_000_000;
/// A frame "late" by more than this: the camera's clock jumped; start over.
const JUMP_US: i64 = 10_000_000;

#[derive(Debug, Default)]
pub struct Stamps {
    /// Least (read time − RTP time) in the current window and the one before, µs.
    best: Option<i64>,
    before: Option<i64>,
    window_from: u64,
}

impl Stamps {
    /// The capture time of a frame whose first packet was read at `read_us` (our wall
    /// clock) and whose RTP time is `rtp_us` (µs since the stream's start).
    pub fn capture_us(&mut self, read_us: u64, rtp_us: i64) -> u64 {
        let offset = read_us as i64 - rtp_us;
        if self.best.is_none() || read_us >= self.window_from + WINDOW_US {
            self.before = self.best;
            self.best = None;
            self.window_from = read_us;
        }
        self.best = Some(self.best.map_or(offset, |b| b.min(offset)));
        let least = self.before.map_or(offset, |b| b.min(offset)).min(self.best.unwrap_or(offset));
        let late = offset - least;
        if late > JUMP_US {
            *self = Stamps { best: Some(offset), before: None, window_from: read_us };
            return read_us;
        }
        read_us.saturating_sub(late as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000_000;

    #[test]
    fn frames_read_as_they_come_are_stamped_when_read() {
        let mut s = Stamps::default();
        for i in 0..100u64 {
            // 30 fps, read 2 ms after sending, a little jitter either way.
            let rtp = (i * 33_333) as i64;
            let read = T0 + i * 33_333 + 2_000 + (i % 3) * 300;
            let c = s.capture_us(read, rtp);
            assert!(read - c <= 600, "frame {i}: {} µs earlier than read", read - c);
        }
    }

    #[test]
    fn frames_that_waited_in_the_socket_are_stamped_earlier_by_the_wait() {
        let mut s = Stamps::default();
        for i in 0..30u64 {
            s.capture_us(T0 + i * 33_333, (i * 33_333) as i64);
        }
        // The edge stalls for 500 ms, then reads the 15 frames that waited in a burst.
        let resume = T0 + 30 * 33_333 + 500_000;
        for k in 0..15u64 {
            let i = 30 + k;
            let sent = T0 + i * 33_333;
            let c = s.capture_us(resume + k * 1_000, (i * 33_333) as i64);
            assert_eq!(c, sent, "frame {i} is stamped when it was sent, not when read");
        }
    }

    #[test]
    fn a_camera_clock_running_fast_does_not_pile_up_as_delay() {
        // The camera's clock 200 ppm fast: its RTP times run ahead of ours.
        let mut s = Stamps::default();
        let mut worst = 0;
        for i in 0..30 * 120u64 {
            let ours = i * 33_333;
            let rtp = (ours as f64 * 1.0002) as i64;
            let read = T0 + ours + 1_000;
            worst = worst.max(read - s.capture_us(read, rtp));
        }
        // Two minutes: 24 ms of drift in all, at most one window's worth (~8 ms) shown.
        assert!(worst <= 9_000, "drift shown as {worst} µs of delay");
    }

    #[test]
    fn a_jump_of_the_camera_clock_starts_over() {
        let mut s = Stamps::default();
        for i in 0..10u64 {
            s.capture_us(T0 + i * 33_333, (i * 33_333) as i64);
        }
        // The stream restarts its RTP clock far back: the next frame looks 60 s "late".
        let read = T0 + 10 * 33_333;
        assert_eq!(s.capture_us(read, -60_000_000), read);
        assert_eq!(s.capture_us(read + 33_333, -60_000_000 + 33_333), read + 33_333);
    }
}
