//! The newest-frame slot between the encoder threads and a camera's publisher task, as
//! a pair: [`newest`] makes a [`FrameSender`] for the encoders and a [`FrameReceiver`]
//! for the publisher. One frame fits: a frame put while another waits replaces it (the
//! newest wins, and the replaced one is handed back to be counted), so nothing queues
//! between encoding and the network. The frame moves through, never copied.
//!
//! The slot also carries the publisher's *demand* back to the encoders: whether it would
//! take a frame now (none waiting, and it holds none it cannot send yet for slow
//! viewers). The pipeline encodes nothing while the publisher is backed up, and a source
//! that makes frames on request waits for demand.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Condvar, Mutex,
    },
    time::Duration,
};

use super::encoded::EncodedFrame;
use crate::sync::lock;

/// A camera's newest-frame slot: the encoders' end and the publisher's.
pub fn newest() -> (FrameSender, FrameReceiver) {
    let slot = Arc::new(Newest::default());
    (FrameSender(slot.clone()), FrameReceiver(slot))
}

/// The encoders' end of a newest-frame slot (see [`newest`]).
pub struct FrameSender(Arc<Newest<EncodedFrame>>);

impl FrameSender {
    /// Puts `frame` in the slot, returning the one it replaced (which nobody will send).
    pub fn put(&self, frame: EncodedFrame) -> Option<EncodedFrame> {
        self.0.put(frame)
    }

    /// Whether a frame is waiting for the publisher: the network or the viewers are
    /// slower than the camera right now.
    pub fn is_full(&self) -> bool {
        self.0.is_full()
    }

    /// Whether the publisher would take a frame now.
    pub fn wanted(&self) -> bool {
        self.0.wanted()
    }

    /// A frame was not made for this stream because the publisher would not take it
    /// (its viewers are behind): the next one says so (`wire::flags::HELD`).
    pub fn skipped(&self) {
        self.0.skipped.store(true, Relaxed);
    }

    /// Blocks until the publisher would take a frame, or `timeout` passes; returns
    /// whether it would. For producers on plain threads.
    pub fn wait_wanted(&self, timeout: Duration) -> bool {
        self.0.wait_wanted(timeout)
    }
}

/// The publisher's end of a newest-frame slot (see [`newest`]).
pub struct FrameReceiver(Arc<Newest<EncodedFrame>>);

impl FrameReceiver {
    /// Waits for a frame and takes it; the publisher then holds it (no demand) until it
    /// says otherwise with [`set_holding`](Self::set_holding).
    pub async fn take(&self) -> EncodedFrame {
        self.0.take().await
    }

    /// Takes the frame if one is waiting, without waiting (to throw it away: the
    /// publisher's demand is unchanged).
    pub fn try_take(&self) -> Option<EncodedFrame> {
        self.0.try_take()
    }

    /// The publisher holds a frame it cannot send yet (`true`), or no longer.
    pub fn set_holding(&self, holding: bool) {
        self.0.set_holding(holding)
    }

    /// Whether a frame is waiting to be taken.
    pub fn is_full(&self) -> bool {
        self.0.is_full()
    }

    /// Whether a frame was replaced in the slot or not made (see
    /// [`FrameSender::skipped`]) since the last call.
    pub fn take_skipped(&self) -> bool {
        self.0.skipped.swap(false, Relaxed)
    }
}

/// A one-value mailbox where the newest value wins (the async twin of the pipeline's
/// job slot): `put` from any thread, `take` with `.await`. The publisher owns what it takes, so it
/// can stamp the frame's published time in place without a copy.
///
/// It also carries *demand* back to the producer: whether the consumer would take a value
/// now (nothing waiting, and the consumer not holding one it cannot send yet). A source
/// that makes frames on request (the test pattern unthrottled) waits for demand instead
/// of making frames only to drop them: that spun a core at 8000 frames a second on a
/// 2-core machine whose other core was the viewer's.
struct Newest<T> {
    value: Mutex<Option<T>>,
    ready: tokio::sync::Notify,
    /// The consumer holds a value it cannot pass on yet (flow control).
    holding: AtomicBool,
    /// Signalled whenever demand may have appeared (a take, or the end of a hold).
    demand: Condvar,
    /// A value was replaced before it was taken, or not made for want of demand.
    skipped: AtomicBool,
}

impl<T> Default for Newest<T> {
    fn default() -> Self {
        Newest {
            value: Mutex::new(None),
            ready: tokio::sync::Notify::new(),
            holding: AtomicBool::new(false),
            demand: Condvar::new(),
            skipped: AtomicBool::new(false),
        }
    }
}

impl<T> Newest<T> {
    /// Stores `value`, returning the one it replaced.
    fn put(&self, value: T) -> Option<T> {
        let replaced = lock(&self.value).replace(value);
        if replaced.is_some() {
            self.skipped.store(true, Relaxed);
        }
        // Stores a permit when nobody waits, so a put between a taker's check and its
        // wait is not lost.
        self.ready.notify_one();
        replaced
    }

    /// Whether a value is waiting to be taken.
    fn is_full(&self) -> bool {
        lock(&self.value).is_some()
    }

    /// Takes the value if one is waiting, without waiting (to throw it away: the
    /// consumer's demand is unchanged).
    fn try_take(&self) -> Option<T> {
        let v = lock(&self.value).take();
        self.demand.notify_all();
        v
    }

    /// Waits for a value and takes it. The consumer then holds it (no demand) until it
    /// says otherwise with [`set_holding`](Self::set_holding): demand between the take
    /// and that decision would make a frame that waits, getting older.
    async fn take(&self) -> T {
        loop {
            // In a block: the guard must be gone before the await.
            {
                let mut value = lock(&self.value);
                if let Some(v) = value.take() {
                    self.holding.store(true, Relaxed);
                    return v;
                }
            }
            self.ready.notified().await;
        }
    }

    /// The consumer says it holds a value it cannot pass on yet (`true`), or no longer.
    fn set_holding(&self, holding: bool) {
        // Under the lock, so a producer between its check and its wait cannot miss it.
        let _guard = lock(&self.value);
        self.holding.store(holding, Relaxed);
        self.demand.notify_all();
    }

    /// Whether the consumer would take a value now.
    fn wanted(&self) -> bool {
        let value = lock(&self.value);
        value.is_none() && !self.holding.load(Relaxed)
    }

    /// Blocks until the consumer would take a value, or `timeout` passes; returns whether
    /// it would. For producers on plain threads.
    fn wait_wanted(&self, timeout: Duration) -> bool {
        let value = lock(&self.value);
        let (value, _) = self
            .demand
            .wait_timeout_while(value, timeout, |v| v.is_some() || self.holding.load(Relaxed))
            .unwrap_or_else(|e| e.into_inner());
        value.is_none() && !self.holding.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Arc, time::Duration};

    #[tokio::test]
    async fn take_waits_and_the_newest_wins() {
        let s = Arc::new(Newest::default());
        let taker = {
            let s = s.clone();
            tokio::spawn(async move { s.take().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.put(1);
        assert_eq!(taker.await.unwrap(), 1);
        assert_eq!(s.put(2), None);
        assert!(!s.skipped.swap(false, Relaxed));
        assert_eq!(s.put(3), Some(2));
        assert!(s.skipped.swap(false, Relaxed), "a replaced frame counts as held back");
        assert_eq!(s.take().await, 3);
        assert_eq!(s.try_take(), None);
        s.put(4);
        assert_eq!(s.try_take(), Some(4));
        assert!(!s.is_full());
    }
}
