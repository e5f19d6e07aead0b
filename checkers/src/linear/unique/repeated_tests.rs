//! The matchings of keys with repeated values ([`super::repeated`]), on their own (no search)
//! against the exhaustive search and the engine's search, with crashes and never-completed
//! calls; hand-written cases for the pruning and the skipping; and the engine trying them beside
//! a search that cannot finish.

use proptest::prelude::*;

use super::tests::{cas_register, corrupt, int, plans, realise_unique, with};
use super::{decide, decide_repeated, Decision, Outcome};
use crate::history::{History, OpType, Value};
use crate::linear::reference::{brute_force, cases, history, op};
use crate::linear::{check, prepare, CheckOptions, Validity, Witness};
use crate::model::{ModelConfig, Register};
use OpType::{Info, Invoke, Ok as Done};

/// The verdict of the polynomial path alone on a one-key history: the unique-value judge, or the
/// matchings with at most `budget` calls judged; `None` when they do not decide it.
fn by_matchings(
    h: &History,
    model: &Register,
    budget: usize,
) -> Option<(Validity, Option<Witness>)> {
    let mut parts = prepare::prepare(h, model, true).unwrap();
    assert!(parts.len() <= 1, "one key");
    let Some(mut part) = parts.pop() else {
        return Some((Validity::Valid, None));
    };
    let decision = match decide(&mut part, h.len()) {
        Some(d) => d,
        None => match decide_repeated(&mut part, h.len(), budget, None) {
            Outcome::Decided(d) => d,
            Outcome::OutOfBudget | Outcome::Never => return None,
        },
    };
    Some(match decision {
        Decision::Valid => (Validity::Valid, None),
        Decision::Invalid(w) => (Validity::Invalid, Some(*w)),
    })
}

/// The summary of the contradiction the matchings find in an invalid history.
fn summary(h: &History) -> String {
    let (valid, witness) = by_matchings(h, &cas_register(), usize::MAX).expect("decided");
    assert_eq!(valid, Validity::Invalid);
    witness.unwrap().contradiction.unwrap().summary
}

#[test]
fn a_key_with_a_repeated_value_tries_each_matching_of_its_reads() {
    // Two concurrent writes of 1, a read of 1 (of either), then write 2, then a read of 1:
    // stale whichever write of 1 it saw.
    let h = history(vec![
        op(0, Invoke, "write", int(1)),
        op(2, Invoke, "write", int(1)),
        op(0, Done, "write", int(1)),
        op(2, Done, "write", int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", int(1)),
        op(0, Invoke, "write", int(2)),
        op(0, Done, "write", int(2)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", int(1)),
    ]);
    let s = summary(&h);
    assert!(
        s.starts_with(
            "2 call(s) observe a value written more than once; of the 2 way(s) of matching"
        ),
        "{s}"
    );
    let (_, w) = by_matchings(&h, &cas_register(), usize::MAX).unwrap();
    let w = w.unwrap();
    assert_eq!((w.op.index, w.linearizable_until), (8, 9));
    // Without the stale read it linearizes, decided by a matching too.
    let h = history(h.ops[..8].to_vec());
    let decided = by_matchings(&h, &cas_register(), usize::MAX);
    assert_eq!(decided.map(|d| d.0), Some(Validity::Valid));
}

#[test]
fn the_matchings_stop_at_their_budget() {
    // 8 writes of 1 and 8 reads of 1, all at once: each read may have seen any write, and every
    // matching linearizes, until a read of a value nobody wrote fails every one of the 8^8.
    let mut ops = Vec::new();
    for p in 0..8 {
        ops.push(op(p, Invoke, "write", int(1)));
        ops.push(op(p + 8, Invoke, "read", Value::Nil));
    }
    for p in 0..8 {
        ops.push(op(p, Done, "write", int(1)));
        ops.push(op(p + 8, Done, "read", int(1)));
    }
    ops.push(op(0, Invoke, "read", Value::Nil));
    ops.push(op(0, Done, "read", int(2)));
    let h = history(ops.clone());
    assert!(by_matchings(&h, &cas_register(), 1_000_000).is_none());
    // The engine's search decides it.
    assert_eq!(with(&h, &cas_register(), true).valid, Validity::Invalid);
    // Valid without the last read: the first matching tried linearizes.
    ops.truncate(ops.len() - 2);
    let decided = by_matchings(&history(ops), &cas_register(), 1_000);
    assert_eq!(decided.map(|d| d.0), Some(Validity::Valid));
}

#[test]
fn a_contradiction_early_spares_trying_the_later_choices() {
    // 12 writes of 1 at once, then 12 reads of 1 one after the other, then a read of a value
    // nobody wrote. Two reads in a row must see the same write (the other writes all precede
    // the first read), so a matching fails at the second read unless it agrees with the first:
    // of the 12^12 matchings, only a few thousand are tried.
    let mut ops = Vec::new();
    for p in 0..12 {
        ops.push(op(p, Invoke, "write", int(1)));
    }
    for p in 0..12 {
        ops.push(op(p, Done, "write", int(1)));
    }
    for p in 0..12 {
        ops.push(op(p, Invoke, "read", Value::Nil));
        ops.push(op(p, Done, "read", int(1)));
    }
    ops.push(op(0, Invoke, "read", Value::Nil));
    ops.push(op(0, Done, "read", int(2)));
    let h = history(ops);
    // Fewer than 10 000 judgements of its 25 calls.
    assert!(by_matchings(&h, &cas_register(), 25 * 10_000).is_some());
    let s = summary(&h);
    assert!(
        s.starts_with(
            "12 call(s) observe a value written more than once; of the more than 10^12 way(s)"
        ),
        "{s}"
    );
}

#[test]
fn writes_overwritten_before_a_read_are_not_its_candidates() {
    // 40 writes of 1, then a write of 2 and a write of 1, then 40 reads of 1: each read saw the
    // last write of 1, since the write of 2 came between the others and every read.
    let mut ops = Vec::new();
    for p in 0..40 {
        ops.push(op(p, Invoke, "write", int(1)));
    }
    for p in 0..40 {
        ops.push(op(p, Done, "write", int(1)));
    }
    for v in [2, 1] {
        ops.push(op(0, Invoke, "write", int(v)));
        ops.push(op(0, Done, "write", int(v)));
    }
    for p in 0..40 {
        ops.push(op(p, Invoke, "read", Value::Nil));
        ops.push(op(p, Done, "read", int(1)));
    }
    let decided = by_matchings(&history(ops.clone()), &cas_register(), usize::MAX);
    assert_eq!(decided.map(|d| d.0), Some(Validity::Valid));
    // A read of 2 after them all is stale whichever write of 1 each read saw.
    ops.push(op(0, Invoke, "read", Value::Nil));
    ops.push(op(0, Done, "read", int(2)));
    let s = summary(&history(ops));
    assert!(s.contains("of the 1 way(s) of matching"), "{s}");
}

#[test]
fn the_engine_tries_the_matchings_beside_a_search_that_cannot_finish() {
    // 300 crashed writes of distinct values at once and one more of 0, then reads that see each
    // value in turn, 0 again (the other write of 0) and then 5, long overwritten. Proving that
    // no order explains it takes the search a walk over subsets of the crashed writes; the
    // matchings need four, whose every renaming the judge refutes at once.
    let n = 300;
    let mut ops = Vec::new();
    for p in 0..=n {
        ops.push(op(p, Invoke, "write", int(p as i64 % n as i64)));
    }
    for p in 0..=n {
        ops.push(op(p, Info, "write", Value::Nil));
    }
    for v in (0..n).chain([0, 5]) {
        ops.push(op(1000, Invoke, "read", Value::Nil));
        ops.push(op(1000, Done, "read", int(v as i64)));
    }
    let h = history(ops);
    let options = CheckOptions {
        // A safety net: the matchings decide it in the search's first rounds.
        time_limit: Some(std::time::Duration::from_secs(120)),
        ..CheckOptions::default()
    };
    let a = check(&h, &cas_register(), &options, None).unwrap();
    assert_eq!(a.valid, Validity::Invalid);
    assert!(a.parts[0].polynomial, "{:?}", a.parts[0].cause);
}

/// The plan's history with every value `v` written as `v % modulus + 1`: values repeat.
fn with_repeats(mut h: History, modulus: i64) -> History {
    let fold = |v: &Value| match v {
        Value::Int(x) => int(x % modulus + 1),
        other => other.clone(),
    };
    for o in &mut h.ops {
        o.value = match &o.value {
            Value::Vector(pair) => Value::Vector(pair.iter().map(fold).collect()),
            v => fold(v),
        };
    }
    h
}

/// With repeated values: the matchings alone decide, and agree with the exhaustive search and
/// with the engine's search; an invalid witness stops where the search's does.
fn agree_repeated(h: &History, model: &Register) -> Result<(), TestCaseError> {
    let decided = by_matchings(h, model, usize::MAX);
    prop_assert!(decided.is_some(), "not decided: {:?}", h);
    let (valid, witness) = decided.unwrap();
    prop_assert_eq!(valid == Validity::Valid, brute_force(h, model), "{:?}", h);
    let searched = with(h, model, false);
    prop_assert_eq!(searched.valid, valid, "{:?}", h);
    if let (Some(w), Some(s)) = (
        witness.as_ref(),
        searched.parts.first().and_then(|p| p.witness.as_ref()),
    ) {
        prop_assert_eq!(
            (w.op.index, w.linearizable_until),
            (s.op.index, s.linearizable_until),
            "{:?}",
            h
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn repeated_value_cas_registers_agree_with_exhaustive_search(
        plan in plans(4, 12, true),
        modulus in 2i64..6,
        corrupted in any::<bool>(),
        which in 0usize..16,
        value in 0i64..6,
    ) {
        let mut h = with_repeats(realise_unique(&plan), modulus);
        if corrupted {
            corrupt(&mut h, which, value);
        }
        agree_repeated(&h, &cas_register())?;
    }

    #[test]
    fn repeated_value_registers_agree_with_exhaustive_search(
        plan in plans(5, 14, false),
        modulus in 2i64..8,
        corrupted in any::<bool>(),
        which in 0usize..16,
        value in 0i64..8,
    ) {
        let mut h = with_repeats(realise_unique(&plan), modulus);
        if corrupted {
            corrupt(&mut h, which, value);
        }
        agree_repeated(&h, &Register::new(ModelConfig::default()))?;
    }
}
