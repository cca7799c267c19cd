//! The job slot between the capture threads and the shared encoder workers, where the
//! newest frame wins: one place per camera. A camera's thread [`Slot::put`]s every frame
//! in its place; workers [`Slot::take`] from the places in turn, so a busy camera cannot
//! starve a quiet one. A frame nobody took before its camera's next one arrived is
//! handed back to the producer (to count it as dropped) instead of queueing: a slow
//! encoder costs frames, never latency.

use std::sync::{Condvar, Mutex};

use crate::sync::lock;

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
