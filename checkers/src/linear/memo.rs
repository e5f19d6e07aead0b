//! The search's memory of where it has been: every configuration (set of linearized calls, model
//! state) explored, so that none is explored twice (Lowe's improvement to Wing & Gong), within a
//! bound on the bytes that the memos of all searches hold together.
//!
//! A configuration's set is stored small. Calls with a return (ok calls) are numbered first, in
//! invoke order, and calls of unknown outcome after them, from a fresh 64-bit word. A call can
//! only be linearized before the first return still ahead of the search, so the linearized ok
//! calls are always "all calls up to some point, and a few invoked during that point's
//! operation": the words before the first non-full one are all ones, the words after the last
//! non-zero one all zeros, and neither need be stored. A set is kept as the index of its first
//! non-full word, the words from there to its last non-zero word, and the words of the
//! unknown-outcome calls (which may be linearized at any time, so are kept whole). For a key of
//! 100 000 calls, that is a handful of words per configuration instead of 1 563.
//!
//! The bound is real, not an estimate of what was asked for: the table and the arena of set
//! words grow only by explicit reservation, and a reservation that would take all searches
//! together past the bound is refused, which stops the search with an unknown verdict.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// The set of linearized calls of a search, laid out as the module documentation says, with an
/// incremental hash (XOR of a random 64-bit code per call in the set).
pub(super) struct CallSet {
    bits: Vec<u64>,
    /// Calls `0..ok` have a return; call `c >= ok` has its bit at `64 * ok_words + (c - ok)`.
    ok: u32,
    ok_words: u32,
    codes: Vec<u64>,
    hash: u64,
    /// Ok words before `lo` are all ones; ok words from `hi` on are all zeros.
    lo: u32,
    hi: u32,
}

impl CallSet {
    /// An empty set of `calls` calls, the first `ok` of which have a return.
    pub(super) fn new(calls: usize, ok: usize) -> Self {
        let ok_words = ok.div_ceil(64);
        let unknown_words = (calls - ok).div_ceil(64);
        CallSet {
            bits: vec![0; ok_words + unknown_words],
            ok: ok as u32,
            ok_words: ok_words as u32,
            codes: (0..calls as u64).map(mix).collect(),
            hash: 0,
            lo: 0,
            hi: 0,
        }
    }

    fn bit(&self, c: u32) -> usize {
        if c < self.ok {
            c as usize
        } else {
            64 * self.ok_words as usize + (c - self.ok) as usize
        }
    }

    pub(super) fn contains(&self, c: u32) -> bool {
        let b = self.bit(c);
        self.bits[b / 64] & (1 << (b % 64)) != 0
    }

    /// Adds `c` if absent, removes it if present.
    pub(super) fn flip(&mut self, c: u32) {
        let b = self.bit(c);
        let w = b / 64;
        self.bits[w] ^= 1 << (b % 64);
        self.hash ^= self.codes[c as usize];
        if c >= self.ok {
            return;
        }
        let w = w as u32;
        if self.bits[w as usize] & (1 << (b % 64)) != 0 {
            self.hi = self.hi.max(w + 1);
            while self.lo < self.ok_words && self.bits[self.lo as usize] == self.full(self.lo) {
                self.lo += 1;
            }
        } else {
            self.lo = self.lo.min(w);
            while self.hi > 0 && self.bits[self.hi as usize - 1] == 0 {
                self.hi -= 1;
            }
        }
    }

    /// All ones of ok word `w`: the last one may be partly padding.
    fn full(&self, w: u32) -> u64 {
        let used = self.ok - 64 * w;
        if used >= 64 {
            !0
        } else {
            (1 << used) - 1
        }
    }

    /// What identifies the set: the first non-full ok word, the ok words from there to the last
    /// non-zero one, and the words of the unknown-outcome calls.
    fn key(&self) -> (u32, &[u64], &[u64]) {
        let (lo, ok_words) = (self.lo as usize, self.ok_words as usize);
        let hi = (self.hi as usize).max(lo);
        (self.lo, &self.bits[lo..hi], &self.bits[ok_words..])
    }
}

/// A fixed-seed 64-bit mixer (splitmix64): the per-call codes must differ, not be secret.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The bytes that the memos of all searches may hold together, and what they hold now.
pub struct MemoryBudget<'a> {
    pub limit: usize,
    pub used: &'a AtomicUsize,
}

impl MemoryBudget<'_> {
    fn allows(&self, more: usize) -> bool {
        self.used.load(Ordering::Relaxed).saturating_add(more) <= self.limit
    }
}

/// One configuration explored; its set's words live in `Memo::arena` from `at`.
struct Entry<S> {
    hash: u64,
    at: u32,
    lo: u32,
    ok_len: u32,
    state: S,
}

/// What [`Memo::visit`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Visit {
    /// Not explored before: recorded now.
    New,
    Seen,
    /// Recording it would take the memos past the budget: nothing was recorded.
    Full,
}

/// The configurations explored by one search. See the module documentation.
pub(super) struct Memo<S> {
    table: HashTable<Entry<S>>,
    /// The words of every entry's set, one entry after another: one allocation for all.
    arena: Vec<u64>,
    /// Heap bytes owned by the states of the entries (a set's elements, say).
    state_heap: usize,
    /// The bytes this memo has added to the budget's `used`.
    reported: usize,
}

impl<S: Hash + Eq + Clone> Memo<S> {
    pub(super) fn new() -> Self {
        Memo {
            table: HashTable::new(),
            arena: Vec::new(),
            state_heap: 0,
            reported: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// The bytes allocated: the table (buckets of entries plus a control byte each, at most 7/8
    /// full), the arena, and the states' own heap.
    pub(super) fn bytes(&self) -> usize {
        table_bytes::<S>(self.table.capacity()) + 8 * self.arena.capacity() + self.state_heap
    }

    /// The bytes this memo counts in the budget, to be given back when the search ends.
    pub(super) fn reported(&self) -> usize {
        self.reported
    }

    /// Brings the budget's count up to date with this memo; false when all memos together are
    /// past the limit.
    pub(super) fn report(&mut self, budget: &MemoryBudget) -> bool {
        let now = self.bytes();
        if now >= self.reported {
            budget
                .used
                .fetch_add(now - self.reported, Ordering::Relaxed);
        } else {
            budget
                .used
                .fetch_sub(self.reported - now, Ordering::Relaxed);
        }
        self.reported = now;
        budget.allows(0)
    }

    /// Records the configuration (`set`, `state`) unless it was explored already. `state_heap`
    /// is the heap the state owns, for the budget.
    pub(super) fn visit(
        &mut self,
        set: &CallSet,
        state: &S,
        state_heap: usize,
        budget: &MemoryBudget,
    ) -> Visit {
        let (lo, ok, unknown) = set.key();
        let hash = set.hash.rotate_left(17) ^ FxBuildHasher.hash_one(state);
        let arena = &self.arena;
        let same = |e: &Entry<S>| {
            let (at, ok_len) = (e.at as usize, e.ok_len as usize);
            e.hash == hash
                && e.lo == lo
                && ok_len == ok.len()
                && arena[at..at + ok_len] == *ok
                && arena[at + ok_len..at + ok_len + unknown.len()] == *unknown
                && e.state == *state
        };
        if self.table.find(hash, same).is_some() {
            return Visit::Seen;
        }
        let words = ok.len() + unknown.len();
        if !self.make_room(words, budget) {
            return Visit::Full;
        }
        let at = self.arena.len() as u32;
        self.arena.extend_from_slice(ok);
        self.arena.extend_from_slice(unknown);
        self.state_heap += state_heap;
        let entry = Entry {
            hash,
            at,
            lo,
            ok_len: ok.len() as u32,
            state: state.clone(),
        };
        self.table.insert_unique(hash, entry, |e| e.hash);
        Visit::New
    }

    /// Grows the table or the arena, if the next entry needs it, by doubling within the budget.
    fn make_room(&mut self, words: usize, budget: &MemoryBudget) -> bool {
        let table_full = self.table.len() == self.table.capacity();
        let arena_full = self.arena.len() + words > self.arena.capacity();
        if !table_full && !arena_full {
            return true;
        }
        // Positions in the arena are 32-bit: 32 GB of set words is past any sane bound anyway.
        if self.arena.len() + words > u32::MAX as usize {
            return false;
        }
        let mut more = 0;
        let table_more = self.table.capacity().max(64);
        if table_full {
            // While the table moves, the old and the new one are both held.
            more += table_bytes::<S>(self.table.capacity() + table_more);
        }
        let arena_more = self.arena.capacity().max(1024).max(words);
        if arena_full {
            more += 8 * arena_more;
        }
        if !budget.allows(more) {
            return false;
        }
        if table_full {
            self.table.reserve(table_more, |e| e.hash);
        }
        if arena_full {
            self.arena.reserve_exact(arena_more);
        }
        self.report(budget);
        true
    }
}

/// The bytes of a hash table of `capacity` entries.
fn table_bytes<S>(capacity: usize) -> usize {
    let buckets = (capacity * 8 / 7).next_power_of_two();
    if capacity == 0 {
        0
    } else {
        buckets * (std::mem::size_of::<Entry<S>>() + 1) + 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `lo` and `hi` must be, computed from scratch.
    fn bounds(set: &CallSet) -> (u32, u32) {
        let w = set.ok_words;
        let lo = (0..w)
            .find(|&i| set.bits[i as usize] != set.full(i))
            .unwrap_or(w);
        let hi = (0..w)
            .rev()
            .find(|&i| set.bits[i as usize] != 0)
            .map_or(0, |i| i + 1);
        (lo, hi)
    }

    proptest! {
        #[test]
        fn the_stored_key_follows_every_flip(
            ok in 0usize..200, unknown in 0usize..100, flips in prop::collection::vec(any::<u16>(), 0..400)
        ) {
            let n = ok + unknown;
            prop_assume!(n > 0);
            let mut set = CallSet::new(n, ok);
            let mut plain = vec![false; n];
            let mut hash = 0;
            for f in flips {
                let c = f as usize % n;
                set.flip(c as u32);
                plain[c] = !plain[c];
                hash ^= mix(c as u64);
                prop_assert_eq!((set.lo, set.hi), bounds(&set));
                prop_assert_eq!(set.hash, hash);
                for (i, &b) in plain.iter().enumerate() {
                    prop_assert_eq!(set.contains(i as u32), b);
                }
            }
        }
    }

    #[test]
    fn a_long_run_of_linearized_ok_calls_is_kept_in_a_few_words() {
        let mut set = CallSet::new(100_000, 99_500);
        for c in 0..70_000 {
            set.flip(c);
        }
        set.flip(70_003);
        set.flip(70_100);
        set.flip(99_600);
        let (lo, ok, unknown) = set.key();
        // Word 1093 holds calls 69 952..70 015; 70 100 is in word 1095.
        assert_eq!(lo, 1093);
        assert_eq!(ok.len(), 3);
        assert_eq!(unknown.len(), 8);
    }

    #[test]
    fn a_configuration_is_new_once_then_seen_and_full_past_the_budget() {
        let used = AtomicUsize::new(0);
        let roomy = MemoryBudget {
            limit: 1 << 30,
            used: &used,
        };
        let mut memo: Memo<u32> = Memo::new();
        let mut set = CallSet::new(10, 5);
        assert_eq!(memo.visit(&set, &7, 0, &roomy), Visit::New);
        assert_eq!(memo.visit(&set, &7, 0, &roomy), Visit::Seen);
        assert_eq!(memo.visit(&set, &8, 0, &roomy), Visit::New);
        set.flip(6);
        assert_eq!(memo.visit(&set, &7, 0, &roomy), Visit::New);
        assert_eq!(used.load(Ordering::Relaxed), memo.bytes());
        assert_eq!(memo.reported(), memo.bytes());
        // Another search has taken all but a few bytes: this memo cannot grow.
        let tight = MemoryBudget {
            limit: memo.bytes() + 100,
            used: &used,
        };
        let mut grew = 0;
        let outcome = loop {
            set.flip(grew % 10);
            match memo.visit(&set, &grew, 0, &tight) {
                Visit::Full => break Visit::Full,
                _ => grew += 1,
            }
            assert!(grew < 10_000, "the memo kept growing past its budget");
        };
        assert_eq!(outcome, Visit::Full);
        assert!(used.load(Ordering::Relaxed) <= tight.limit);
    }
}
