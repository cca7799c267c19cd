//! Locks shared between threads.

use std::sync::Mutex;

/// Locks a mutex whose data stays consistent even if a holder panicked (every update
/// behind these locks is a single assignment), so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
