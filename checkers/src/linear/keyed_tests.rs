//! Multi-key histories: split by key, the engine agrees with an exhaustive search of each key on
//! its own, and nothing it reports (verdicts, witnesses, even the steps each key took) moves with
//! the number of threads or from one run to the next.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use super::reference::{brute_force, cas_register, cases, planned_n, realise_keyed, Planned};
use super::*;
use crate::history::{OpType, Value};

/// Pools of 1, 2, 3 and 4 threads, built once.
fn pools() -> &'static [ThreadPool] {
    static POOLS: OnceLock<Vec<ThreadPool>> = OnceLock::new();
    POOLS.get_or_init(|| {
        (1..=4)
            .map(|n| ThreadPoolBuilder::new().num_threads(n).build().unwrap())
            .collect()
    })
}

/// Up to 16 operations by 5 processes on keys k0..k2, with one ok read's result changed to `v`
/// (which may still be right), so that about half the histories are invalid.
fn keyed() -> impl Strategy<Value = History> {
    (
        planned_n(5, 16),
        prop::collection::vec(0u8..3, 16),
        any::<prop::sample::Index>(),
        0i64..6,
    )
        .prop_map(|(plan, keys, which, v): (Vec<Planned>, _, _, _)| {
            let mut h = realise_keyed(&plan, &keys);
            let reads: Vec<usize> = (0..h.ops.len())
                .filter(|&i| h.ops[i].kind == OpType::Ok && &*h.ops[i].f == "read")
                .collect();
            if !reads.is_empty() {
                let i = reads[which.index(reads.len())];
                h.ops[i].value = if v == 5 { Value::Nil } else { Value::Int(v) };
            }
            h
        })
}

/// The reference: the history split by key by hand, each key searched exhaustively.
fn reference(h: &History) -> bool {
    let keys: BTreeSet<Option<String>> = h
        .ops
        .iter()
        .map(|o| o.key.as_ref().map(|k| k.to_string()))
        .collect();
    keys.iter().all(|key| {
        let ops = h
            .ops
            .iter()
            .filter(|o| o.key.as_ref().map(|k| k.to_string()) == *key)
            .cloned()
            .collect();
        brute_force(&History::from_ops(ops), &cas_register())
    })
}

/// Everything reported of each key, checked to the end, in `pool`.
type Signature = Vec<(Option<String>, Validity, Option<OpSummary>, u64, usize)>;

fn every_key(h: &History, pool: &ThreadPool) -> (Validity, Signature) {
    let options = CheckOptions {
        all_keys: true,
        ..CheckOptions::default()
    };
    let a = pool.install(|| check(h, &cas_register(), &options, None).unwrap());
    let mut parts: Signature = a
        .parts
        .iter()
        .map(|p| {
            let witness = p.witness.as_ref().map(|w| w.op.clone());
            (p.key.clone(), p.valid, witness, p.steps, p.memo_entries)
        })
        .collect();
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    (a.valid, parts)
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn split_by_key_the_engine_agrees_with_an_exhaustive_search_of_each_key(h in keyed()) {
        let (fast, _) = every_key(&h, &pools()[1]);
        prop_assert_ne!(fast, Validity::Unknown);
        prop_assert_eq!(fast == Validity::Valid, reference(&h), "{:?}", h);
    }

    #[test]
    fn nothing_reported_moves_with_the_thread_count_or_between_runs(h in keyed()) {
        let first = every_key(&h, &pools()[0]);
        for pool in pools() {
            for _ in 0..2 {
                prop_assert_eq!(&every_key(&h, pool), &first);
            }
        }
        // Without all_keys an invalid key may cut others short, but the verdict stands.
        for pool in pools() {
            let a = pool.install(|| check(&h, &cas_register(), &CheckOptions::default(), None));
            prop_assert_eq!(a.unwrap().valid, first.0);
        }
    }
}
