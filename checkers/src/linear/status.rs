//! What a check is doing while it runs, for a caller that shows it (`faultline check` on a
//! terminal, once a check has taken more than a few seconds): how much of the history has been
//! read, how many keys are settled, and which keys the search is working on, how far along.
//!
//! The engine writes it as it goes, with relaxed atomics and one short lock per search round;
//! the caller reads a [`StatusReport`] from another thread whenever it likes. Nothing here
//! changes what the check decides.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The live state of one check. Share it through [`CheckOptions::status`](super::CheckOptions).
#[derive(Debug, Default)]
pub struct Status {
    events_read: AtomicUsize,
    reading_done: AtomicUsize,
    parts: AtomicUsize,
    parts_done: AtomicUsize,
    steps: AtomicU64,
    memo_bytes: AtomicUsize,
    /// The keys being searched right now, with the steps their search has taken.
    searching: Mutex<Vec<(String, u64)>>,
}

/// A snapshot of a [`Status`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    /// Events read so far, and whether reading is over.
    pub events_read: usize,
    pub read: bool,
    /// Parts (keys) in all, and how many have a verdict.
    pub parts: usize,
    pub parts_done: usize,
    /// Search steps over all parts, and the bytes the search memos hold now.
    pub steps: u64,
    pub memo_bytes: usize,
    /// The keys whose search is under way (the key in EDN, empty for a single object), with
    /// their steps at the start of the current round.
    pub searching: Vec<(String, u64)>,
}

impl Status {
    pub fn report(&self) -> StatusReport {
        StatusReport {
            events_read: self.events_read.load(Ordering::Relaxed),
            read: self.reading_done.load(Ordering::Relaxed) > 0,
            parts: self.parts.load(Ordering::Relaxed),
            parts_done: self.parts_done.load(Ordering::Relaxed),
            steps: self.steps.load(Ordering::Relaxed),
            memo_bytes: self.memo_bytes.load(Ordering::Relaxed),
            searching: self.searching.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }

    pub(super) fn read_events(&self, n: usize) {
        self.events_read.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn reading_over(&self) {
        self.reading_done.store(1, Ordering::Relaxed);
    }

    pub(super) fn parts(&self, total: usize, done: usize) {
        self.parts.store(total, Ordering::Relaxed);
        self.parts_done.store(done, Ordering::Relaxed);
    }

    pub(super) fn stepped(&self, steps: u64, memo_bytes: usize) {
        self.steps.fetch_add(steps, Ordering::Relaxed);
        self.memo_bytes.store(memo_bytes, Ordering::Relaxed);
    }

    /// A round of the search of `key` begins, `steps` into it.
    pub(super) fn round_begins(&self, key: &str, steps: u64) {
        if let Ok(mut s) = self.searching.lock() {
            s.retain(|(k, _)| k != key);
            s.push((key.to_string(), steps));
        }
    }

    /// A round of the search of `key` is over.
    pub(super) fn round_ends(&self, key: &str) {
        if let Ok(mut s) = self.searching.lock() {
            s.retain(|(k, _)| k != key);
        }
    }
}
