//! The memory limit bounds what the search really allocates, not an estimate of it: this test
//! binary counts every byte allocated (its own global allocator) while a history that no search
//! can finish is checked under a limit, and requires the peak to stay near the limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use faultline_checkers::history::{History, Op, OpType, Process, Value};
use faultline_checkers::linear::{check, CheckOptions, Validity};
use faultline_checkers::model::{ModelConfig, Register, Set};

/// The system allocator, keeping count of the bytes held now and at most.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn op(process: u64, kind: OpType, f: &str, value: Value) -> Op {
    Op::new(Process::Client(process), kind, f, value)
}

fn numbered(mut ops: Vec<Op>) -> History {
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = i as u64;
    }
    History::from_ops(ops)
}

/// Crashed writes of distinct values, all concurrent; reads that see each once in turn, then
/// the first again. No order explains it, and proving so means searching subsets of the writes.
fn crashed_writes(n: u64) -> History {
    let mut ops = Vec::new();
    for p in 0..n {
        ops.push(op(p, OpType::Invoke, "write", Value::Int(p as i64)));
    }
    for p in 0..n {
        ops.push(op(p, OpType::Info, "write", Value::Nil));
    }
    for v in (0..n).chain([0]) {
        ops.push(op(10_000, OpType::Invoke, "read", Value::Nil));
        ops.push(op(10_000, OpType::Ok, "read", Value::Int(v as i64)));
    }
    numbered(ops)
}

/// Crashed adds to a set, then reads that each see one more element, then one that lost an
/// element: the states are sets (heap the engine must count too).
fn crashed_adds(n: u64) -> History {
    let mut ops = Vec::new();
    for p in 0..n {
        ops.push(op(p, OpType::Invoke, "add", Value::Int(p as i64)));
    }
    for p in 0..n {
        ops.push(op(p, OpType::Info, "add", Value::Nil));
    }
    for k in (1..=n).chain([1]) {
        let seen = (0..k as i64).rev().map(Value::Int).collect();
        ops.push(op(10_000, OpType::Invoke, "read", Value::Nil));
        ops.push(op(10_000, OpType::Ok, "read", Value::canonical_set(seen)));
    }
    numbered(ops)
}

/// Checks under `limit` bytes and returns the cause and the peak bytes allocated by the check.
fn peak_of(limit: usize, run: impl FnOnce(&CheckOptions) -> (Validity, String)) -> (String, usize) {
    let options = CheckOptions {
        // A safety net: the memory limit must come first by far.
        time_limit: Some(Duration::from_secs(300)),
        memory_limit: limit,
        // The register history's values are distinct: the polynomial path would decide it
        // without a search. This test is about the search's memory.
        polynomial: false,
        ..CheckOptions::default()
    };
    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let (valid, cause) = run(&options);
    assert_eq!(valid, Validity::Unknown, "{cause}");
    (cause, PEAK.load(Ordering::Relaxed) - before)
}

// One test function, so that no other test allocates while the peak is measured.
#[test]
fn the_memory_limit_bounds_what_the_search_allocates() {
    for limit in [8 << 20, 64 << 20] {
        let h = crashed_writes(300);
        let (cause, peak) = peak_of(limit, |o| {
            let a = check(&h, &Register::cas(ModelConfig::default()), o, None).unwrap();
            (a.valid, a.parts[0].cause.clone().unwrap_or_default())
        });
        assert!(cause.contains("memory limit reached"), "{cause}");
        // The history and its preparation take a little besides the memo.
        assert!(
            peak <= limit + limit / 8 + (2 << 20),
            "register: {} MB allocated under a {} MB limit",
            peak >> 20,
            limit >> 20
        );
        assert!(
            peak >= limit / 4,
            "the memo stopped far below the limit: {peak}"
        );

        let h = crashed_adds(120);
        let (cause, peak) = peak_of(limit, |o| {
            let a = check(&h, &Set::new(ModelConfig::default()), o, None).unwrap();
            (a.valid, a.parts[0].cause.clone().unwrap_or_default())
        });
        assert!(cause.contains("memory limit reached"), "{cause}");
        assert!(
            peak <= limit + limit / 8 + (2 << 20),
            "set: {} MB allocated under a {} MB limit",
            peak >> 20,
            limit >> 20
        );
    }
}
