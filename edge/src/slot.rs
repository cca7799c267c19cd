//! Mailboxes where the newest value wins.
//!
//! [`Slot`], between the capture threads and the shared encoder workers: one place per
//! camera. A camera's thread [`Slot::put`]s every frame in its place; workers
//! [`Slot::take`] from the places in turn, so a busy camera cannot starve a quiet one. A
//! frame nobody took before its camera's next one arrived is handed back to the producer
//! (to count it as dropped) instead of queueing: a slow encoder costs frames, never
//! latency.
//!
//! [`AsyncSlot`], between the encoders and a camera's publisher task.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Condvar, Mutex,
    },
    time::Duration,
};

pub struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    /// One place per key (camera).
    places: Vec<Option<T>>,
    /// The place the next take looks at first.
    next: usize,
    closed: bool,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(State { places: Vec::new(), next: 0, closed: false }),
            ready: Condvar::new(),
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every update
/// behind these locks is a single assignment), so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Slot<T> {
    /// Stores `value` in place `key`, returning the one it replaced (which nobody will
    /// see now).
    pub fn put(&self, key: usize, value: T) -> Option<T> {
        let mut state = self.lock();
        if state.places.len() <= key {
            state.places.resize_with(key + 1, || None);
        }
        let replaced = state.places[key].replace(value);
        self.ready.notify_one();
        replaced
    }

    /// Waits for a value in any place, taking the places in turn; `None` once the slot
    /// is closed and empty.
    pub fn take(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            let n = state.places.len();
            for i in 0..n {
                let key = (state.next + i) % n;
                if let Some(v) = state.places[key].take() {
                    state.next = (key + 1) % n;
                    return Some(v);
                }
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes every waiting taker; later `take`s return what is left, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        lock(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Arc, thread, time::Duration};

    #[test]
    fn the_newest_value_wins_and_the_replaced_one_is_returned() {
        let s = Slot::default();
        assert_eq!(s.put(0, 1), None);
        assert_eq!(s.put(0, 2), Some(1));
        assert_eq!(s.take(), Some(2));
    }

    #[test]
    fn each_camera_has_its_own_place_and_they_are_taken_in_turn() {
        let s = Slot::default();
        s.put(0, "a1");
        s.put(2, "c1");
        assert_eq!(s.take(), Some("a1"));
        s.put(0, "a2");
        assert_eq!(s.take(), Some("c1"), "not a again before c");
        assert_eq!(s.put(2, "c2"), None);
        assert_eq!(s.take(), Some("a2"));
        assert_eq!(s.take(), Some("c2"));
    }

    #[test]
    fn take_waits_for_a_put() {
        let s = Arc::new(Slot::default());
        let t = {
            let s = s.clone();
            thread::spawn(move || s.take())
        };
        thread::sleep(Duration::from_millis(20));
        s.put(3, 7);
        assert_eq!(t.join().unwrap(), Some(7));
    }

    #[test]
    fn close_wakes_every_waiting_taker() {
        let s: Arc<Slot<u8>> = Arc::new(Slot::default());
        let takers: Vec<_> = (0..3)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.take())
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        s.close();
        for t in takers {
            assert_eq!(t.join().unwrap(), None);
        }
    }
}

/// The async twin of [`Slot`], between the encoder threads and the publisher task:
/// `put` from any thread, `take` with `.await`. The publisher owns what it takes, so it
/// can stamp the frame's published time in place without a copy.
///
/// It also carries *demand* back to the producer: whether the consumer would take a value
/// now (nothing waiting, and the consumer not holding one it cannot send yet). A source
/// that makes frames on request (the test pattern unthrottled) waits for demand instead
/// of making frames only to drop them: that spun a core at 8000 frames a second on a
/// 2-core machine whose other core was the viewer's.
pub struct AsyncSlot<T> {
    value: Mutex<Option<T>>,
    ready: tokio::sync::Notify,
    /// The consumer holds a value it cannot pass on yet (flow control).
    holding: AtomicBool,
    /// Signalled whenever demand may have appeared (a take, or the end of a hold).
    demand: Condvar,
}

impl<T> Default for AsyncSlot<T> {
    fn default() -> Self {
        AsyncSlot {
            value: Mutex::new(None),
            ready: tokio::sync::Notify::new(),
            holding: AtomicBool::new(false),
            demand: Condvar::new(),
        }
    }
}

impl<T> AsyncSlot<T> {
    /// Stores `value`, returning the one it replaced.
    pub fn put(&self, value: T) -> Option<T> {
        let replaced = lock(&self.value).replace(value);
        // Stores a permit when nobody waits, so a put between a taker's check and its
        // wait is not lost.
        self.ready.notify_one();
        replaced
    }

    /// Whether a value is waiting to be taken.
    pub fn is_full(&self) -> bool {
        lock(&self.value).is_some()
    }

    /// Takes the value if one is waiting, without waiting (to throw it away: the
    /// consumer's demand is unchanged).
    pub fn try_take(&self) -> Option<T> {
        let v = lock(&self.value).take();
        self.demand.notify_all();
        v
    }

    /// Waits for a value and takes it. The consumer then holds it (no demand) until it
    /// says otherwise with [`set_holding`](Self::set_holding): demand between the take
    /// and that decision would make a frame that waits, getting older.
    pub async fn take(&self) -> T {
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
    pub fn set_holding(&self, holding: bool) {
        // Under the lock, so a producer between its check and its wait cannot miss it.
        let _guard = lock(&self.value);
        self.holding.store(holding, Relaxed);
        self.demand.notify_all();
    }

    /// Whether the consumer would take a value now.
    pub fn wanted(&self) -> bool {
        let value = lock(&self.value);
        value.is_none() && !self.holding.load(Relaxed)
    }

    /// Blocks until the consumer would take a value, or `timeout` passes; returns whether
    /// it would. For producers on plain threads.
    pub fn wait_wanted(&self, timeout: Duration) -> bool {
        let value = lock(&self.value);
        let (value, _) = self
            .demand
            .wait_timeout_while(value, timeout, |v| v.is_some() || self.holding.load(Relaxed))
            .unwrap_or_else(|e| e.into_inner());
        value.is_none() && !self.holding.load(Relaxed)
    }
}

#[cfg(test)]
mod async_tests {
    use super::*;
    use std::{sync::Arc, time::Duration};

    #[tokio::test]
    async fn take_waits_and_the_newest_wins() {
        let s = Arc::new(AsyncSlot::default());
        let taker = {
            let s = s.clone();
            tokio::spawn(async move { s.take().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.put(1);
        assert_eq!(taker.await.unwrap(), 1);
        assert_eq!(s.put(2), None);
        assert_eq!(s.put(3), Some(2));
        assert_eq!(s.take().await, 3);
        assert_eq!(s.try_take(), None);
        s.put(4);
        assert_eq!(s.try_take(), Some(4));
        assert!(!s.is_full());
    }
}
