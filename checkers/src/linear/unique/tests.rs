//! The polynomial path against the exhaustive search and the engine's search, on generated
//! histories whose values are each written once or repeated (crashes and never-completed calls
//! included), and on hand-written ones for each kind of contradiction.

use proptest::prelude::*;

use crate::history::{History, OpType, Value};
use crate::linear::reference::{brute_force, cases, history, op, pair};
use crate::linear::{check, Analysis, CheckOptions, Validity};
use crate::model::{Model, ModelConfig, Register};
use OpType::{Fail, Info, Invoke, Ok as Done};

pub(super) fn cas_register() -> Register {
    Register::cas(ModelConfig::default())
}

pub(super) fn with(h: &History, model: &impl Model, polynomial: bool) -> Analysis {
    let options = CheckOptions {
        polynomial,
        ..CheckOptions::default()
    };
    check(h, model, &options, None).unwrap()
}

pub(super) fn int(v: i64) -> Value {
    Value::Int(v)
}

/// The summary and edges of the witness of an invalid single-part analysis.
pub(super) fn contradiction(a: &Analysis) -> crate::linear::Contradiction {
    assert_eq!(a.valid, Validity::Invalid);
    assert!(a.parts[0].polynomial, "decided by the search");
    a.parts[0]
        .witness
        .as_ref()
        .and_then(|w| w.contradiction.clone())
        .expect("a contradiction")
}

#[test]
fn a_chain_of_cas_with_reads_linearizes_without_a_search() {
    let h = history(vec![
        op(0, Invoke, "write", int(1)),
        op(0, Done, "write", int(1)),
        op(1, Invoke, "cas", pair(1, 2)),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", int(1)),
        op(1, Done, "cas", pair(1, 2)),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", int(2)),
    ]);
    let a = with(&h, &cas_register(), true);
    assert_eq!(a.valid, Validity::Valid);
    assert!(a.parts[0].polynomial);
    assert_eq!(a.parts[0].steps, 0);
}

#[test]
fn a_read_of_a_value_nobody_wrote_names_it() {
    let h = history(vec![
        op(0, Invoke, "write", int(1)),
        op(0, Done, "write", int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", int(5)),
    ]);
    let c = contradiction(&with(&h, &cas_register(), true));
    assert_eq!(
        c.summary,
        "read 5 needs a value that no operation writes and that is not the initial value"
    );
}

#[test]
fn two_cas_from_one_value_cannot_both_succeed() {
    let h = history(vec![
        op(0, Invoke, "write", int(1)),
        op(0, Done, "write", int(1)),
        op(1, Invoke, "cas", pair(1, 2)),
        op(2, Invoke, "cas", pair(1, 3)),
        op(1, Done, "cas", pair(1, 2)),
        op(2, Done, "cas", pair(1, 3)),
    ]);
    let c = contradiction(&with(&h, &cas_register(), true));
    assert!(
        c.summary
            .starts_with("cas 1 -> 2 and cas 1 -> 3 both expect the same value"),
        "{}",
        c.summary
    );
}

#[test]
fn compare_and_sets_round_a_cycle_cannot_start() {
    let h = history(vec![
        op(1, Invoke, "cas", pair(1, 2)),
        op(2, Invoke, "cas", pair(2, 1)),
        op(1, Done, "cas", pair(1, 2)),
        op(2, Done, "cas", pair(2, 1)),
    ]);
    let c = contradiction(&with(&h, &cas_register(), true));
    assert!(c.summary.contains("round a cycle"), "{}", c.summary);
    assert!(
        c.summary.contains("cas 1 -> 2 needs cas 2 -> 1 first"),
        "{}",
        c.summary
    );
}

#[test]
fn a_read_that_completed_before_its_write_began_is_backwards() {
    let h = history(vec![
        op(1, Invoke, "write", int(9)),
        op(1, Info, "write", Value::Nil),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", int(3)),
        op(0, Invoke, "write", int(3)),
        op(0, Done, "write", int(3)),
    ]);
    let a = with(&h, &cas_register(), true);
    let c = contradiction(&a);
    assert_eq!(
        c.summary,
        "in every linearization write 3 comes before read 3 (read 3 returns the value that only \
         write 3 writes), but it was invoked only after read 3 had completed"
    );
    assert_eq!(c.edges.len(), 1);
    assert_eq!(c.edges[0].completed.as_ref().map(|o| o.index), Some(2));
    assert_eq!(c.edges[0].invoked.index, 4);
    let w = a.parts[0].witness.as_ref().unwrap();
    assert_eq!((w.op.op.as_str(), w.linearizable_until), ("read 3", 3));
}

#[test]
fn two_clusters_each_before_the_other_cross() {
    // write 1, read 1 | write 2, read 2 | read 1 again: the cluster of 1 must precede the
    // cluster of 2 (read 1 completed before write 2 began) and follow it (read 2 completed
    // before the second read 1 began).
    let h = history(vec![
        op(0, Invoke, "write", int(1)),
        op(0, Done, "write", int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", int(1)),
        op(0, Invoke, "write", int(2)),
        op(0, Done, "write", int(2)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", int(2)),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", int(1)),
    ]);
    let a = with(&h, &cas_register(), true);
    let c = contradiction(&a);
    let names: Vec<&str> = c.clusters.iter().map(|k| k.description.as_str()).collect();
    assert_eq!(names, ["write 1 and its 2 reads", "write 2 and its read"]);
    let forces: Vec<&str> = c.edges.iter().map(|e| e.forces.as_str()).collect();
    assert_eq!(forces, ["A before B", "B before A"]);
    let w = a.parts[0].witness.as_ref().unwrap();
    assert_eq!((w.op.index, w.linearizable_until), (8, 9));
    assert_eq!(w.states, vec!["2".to_string()]);
    assert!(
        w.explanations[0].contains("read 1 is impossible: the register holds 2"),
        "{:?}",
        w.explanations
    );
    // The search agrees on where the history stops linearizing.
    let searched = with(&h, &cas_register(), false);
    let s = searched.parts[0].witness.as_ref().unwrap();
    assert_eq!(
        (s.op.index, s.linearizable_until),
        (w.op.index, w.linearizable_until)
    );
}

#[test]
fn a_crashed_write_counts_only_when_read() {
    // The crashed write of 7 is read: it happened, before the read and after its invoke. The
    // crashed write of 8 nobody read never matters.
    let h = history(vec![
        op(0, Invoke, "write", int(7)),
        op(0, Info, "write", Value::Nil),
        op(3, Invoke, "write", int(8)),
        op(1, Invoke, "write", int(1)),
        op(1, Done, "write", int(1)),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", int(7)),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", int(7)),
    ]);
    let a = with(&h, &cas_register(), true);
    assert_eq!(a.valid, Validity::Valid);
    assert!(a.parts[0].polynomial);
    // ... but a read of 1 after a read of 7 that followed write 1 is stale.
    let mut ops = h.ops.clone();
    ops.push(op(2, Invoke, "read", Value::Nil));
    ops.push(op(2, Done, "read", int(1)));
    let a = with(&history(ops), &cas_register(), true);
    assert_eq!(a.valid, Validity::Invalid);
}

#[test]
fn a_failed_cas_and_a_crashed_cas_nobody_needs_change_nothing() {
    let h = history(vec![
        op(0, Invoke, "write", int(1)),
        op(0, Done, "write", int(1)),
        op(1, Invoke, "cas", pair(5, 6)),
        op(1, Fail, "cas", pair(5, 6)),
        op(2, Invoke, "cas", pair(1, 3)),
        op(2, Info, "cas", Value::Nil),
        op(3, Invoke, "read", Value::Nil),
        op(3, Done, "read", int(1)),
    ]);
    let a = with(&h, &cas_register(), true);
    assert_eq!(a.valid, Validity::Valid);
    assert!(a.parts[0].polynomial);
}

/// One planned operation of a unique-value history (see [`realise_unique`]).
#[derive(Debug, Clone)]
pub(super) struct Planned {
    process: u64,
    /// 0 read, 1 write, 2 cas.
    f: u8,
    /// For a cas: whether it expects the value held when it takes effect (else an older one).
    current: bool,
    older: usize,
    start: u32,
    effect: u32,
    end: u32,
    /// 0 ok, 1 info, 2 never completed.
    crash: u8,
    crash_applies: bool,
}

pub(super) fn plans(processes: u64, ops: usize, cas: bool) -> impl Strategy<Value = Vec<Planned>> {
    let fs = if cas { 3u8 } else { 2 };
    prop::collection::vec(
        (
            0u64..processes,
            0u8..fs,
            prop::bool::weighted(0.7),
            0usize..8,
            (0u32..20, 1u32..8, 1u32..8),
            prop_oneof![7 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)],
            any::<bool>(),
        ),
        1..ops,
    )
    .prop_map(move |raw| {
        let mut free_at = vec![0u32; processes as usize];
        raw.into_iter()
            .map(
                |(process, f, current, older, (gap, d1, d2), crash, crash_applies)| {
                    let start = free_at[process as usize] + gap;
                    let (effect, end) = (start + d1, start + d1 + d2);
                    free_at[process as usize] = end + 1;
                    Planned {
                        process,
                        f,
                        current,
                        older,
                        start,
                        effect,
                        end,
                        crash,
                        crash_applies,
                    }
                },
            )
            .collect()
    })
}

/// The history of a plan on a real register: write `i` writes `i + 1`, cas `i` sets `i + 1`, so
/// that every value is written once; linearizable by construction. A crashed call takes effect
/// or not (`crash_applies`), ends `info` or never completes; a process whose call crashed goes
/// on under a new number.
pub(super) fn realise_unique(plan: &[Planned]) -> History {
    let mut by_effect: Vec<usize> = (0..plan.len()).collect();
    by_effect.sort_by_key(|&i| (plan[i].effect, i));
    let mut register = Value::Nil;
    let mut written = vec![Value::Nil];
    // Per call: its argument, its ok value, and whether it took effect (a cas may fail).
    let mut input = vec![Value::Nil; plan.len()];
    let mut output = vec![Value::Nil; plan.len()];
    let mut applied = vec![true; plan.len()];
    for &i in &by_effect {
        let p = &plan[i];
        let value = int(i as i64 + 1);
        match p.f {
            0 => {}
            1 => input[i] = value.clone(),
            _ => {
                let from = if p.current {
                    register.clone()
                } else {
                    written[p.older % written.len()].clone()
                };
                input[i] = Value::Vector(vec![from, value.clone()].into());
            }
        }
        if p.crash != 0 && !p.crash_applies {
            applied[i] = false;
            continue;
        }
        match p.f {
            0 => output[i] = register.clone(),
            1 => {
                register = value.clone();
                written.push(value);
                output[i] = input[i].clone();
            }
            _ => {
                let from = input[i]
                    .as_slice()
                    .map(|s| s[0].clone())
                    .unwrap_or_default();
                applied[i] = from == register;
                if applied[i] {
                    register = value.clone();
                    written.push(value);
                }
                output[i] = input[i].clone();
            }
        }
    }
    let mut events: Vec<(u32, usize, bool)> = Vec::new();
    for (i, p) in plan.iter().enumerate() {
        events.push((p.start, i, false));
        if p.crash != 2 {
            events.push((p.end, i, true));
        }
    }
    events.sort();
    let processes = plan.iter().map(|p| p.process + 1).max().unwrap_or(0);
    let mut epoch = vec![0u64; processes as usize];
    let mut proc_of = vec![0u64; plan.len()];
    let mut ops = Vec::new();
    for &(_, i, done) in &events {
        let p = &plan[i];
        let f = ["read", "write", "cas"][p.f as usize];
        if !done {
            proc_of[i] = p.process + processes * epoch[p.process as usize];
            if p.crash == 2 {
                epoch[p.process as usize] += 1;
            }
            ops.push(op(proc_of[i], Invoke, f, input[i].clone()));
        } else if p.crash == 1 {
            ops.push(op(proc_of[i], Info, f, input[i].clone()));
            epoch[p.process as usize] += 1;
        } else {
            let kind = if applied[i] { Done } else { Fail };
            ops.push(op(proc_of[i], kind, f, output[i].clone()));
        }
    }
    history(ops)
}

/// Changes one ok read's result to `value` (`0` = nil): most such changes break the history.
pub(super) fn corrupt(h: &mut History, which: usize, value: i64) {
    let reads: Vec<usize> = (0..h.ops.len())
        .filter(|&i| h.ops[i].kind == Done && &*h.ops[i].f == "read")
        .collect();
    if let Some(&i) = reads.get(which % reads.len().max(1)) {
        h.ops[i].value = if value == 0 { Value::Nil } else { int(value) };
    }
}

/// The polynomial path, the search and the exhaustive search all agree; the polynomial path
/// decides (unique values); and when invalid, it stops where the search stops.
fn agree(h: &History, model: &Register) -> Result<(), TestCaseError> {
    let fast = with(h, model, true);
    let searched = with(h, model, false);
    let truth = brute_force(h, model);
    prop_assert!(fast.parts.iter().all(|p| p.polynomial), "{:?}", h);
    prop_assert_eq!(fast.valid == Validity::Valid, truth, "{:?}", h);
    prop_assert_eq!(searched.valid, fast.valid, "{:?}", h);
    prop_assert!(fast.parts.iter().all(|p| p.polynomial), "searched: {:?}", h);
    if let (Some(w), Some(s)) = (
        fast.parts.first().and_then(|p| p.witness.as_ref()),
        searched.parts.first().and_then(|p| p.witness.as_ref()),
    ) {
        prop_assert_eq!(
            (w.op.index, w.linearizable_until),
            (s.op.index, s.linearizable_until),
            "{:?}",
            h
        );
        prop_assert!(w.contradiction.is_some());
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn unique_value_cas_registers_agree_with_exhaustive_search(
        plan in plans(4, 12, true),
        corrupted in any::<bool>(),
        which in 0usize..16,
        value in 0i64..10,
    ) {
        let mut h = realise_unique(&plan);
        if corrupted {
            corrupt(&mut h, which, value);
        }
        agree(&h, &cas_register())?;
    }

    #[test]
    fn unique_value_registers_agree_with_exhaustive_search(
        plan in plans(4, 12, false),
        corrupted in any::<bool>(),
        which in 0usize..16,
        value in 0i64..10,
    ) {
        let mut h = realise_unique(&plan);
        if corrupted {
            corrupt(&mut h, which, value);
        }
        agree(&h, &Register::new(ModelConfig::default()))?;
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    /// kv histories of distinct appends and puts: the polynomial path (through the kv model's
    /// view of append chains) agrees with a plain kv searched exhaustively, and with the search.
    #[test]
    fn append_chains_agree_with_exhaustive_search(
        plan in crate::linear::reference::planned_n(3, 10),
        corrupted in any::<bool>(),
        which in 0usize..16,
        cut in 1usize..4,
    ) {
        use crate::linear::reference::{realise_kv, PlainKv};
        let mut h = realise_kv(&plan);
        if corrupted {
            // Drop some characters from the end of one get's result.
            let gets: Vec<usize> = (0..h.ops.len())
                .filter(|&i| h.ops[i].kind == Done && &*h.ops[i].f == "get")
                .collect();
            if let Some(&i) = gets.get(which % gets.len().max(1)) {
                let s = h.ops[i].value.as_str().unwrap_or("").to_string();
                h.ops[i].value = Value::Str(s[..s.len().saturating_sub(cut)].into());
            }
        }
        let kv = crate::model::Kv::new(ModelConfig::default());
        let fast = with(&h, &kv, true);
        let searched = with(&h, &kv, false);
        prop_assert_eq!(fast.valid == Validity::Valid, brute_force(&h, &PlainKv), "{:?}", h);
        prop_assert_eq!(fast.valid, searched.valid, "{:?}", h);
        if !corrupted {
            prop_assert!(fast.parts.iter().all(|p| p.polynomial), "{:?}", h);
        }
    }
}

/// Short strings over two letters, so that gets' results can often be spelled two ways and an
/// append can seem to follow two strings: what makes the kv view give up.
const SPELLINGS: [&str; 7] = ["x", "y", "xy", "yx", "xx", "yyx", "p"];

/// A kv history from a real run, with appends and puts of strings from [`SPELLINGS`] (picked by
/// `offset`, so distinct only by luck), gets, crashes (`info` or never completed).
fn realise_spelled_kv(plan: &[Planned], offset: usize) -> History {
    let arg = |i: usize| SPELLINGS[(i * 3 + offset) % SPELLINGS.len()].to_string();
    let mut by_effect: Vec<usize> = (0..plan.len()).collect();
    by_effect.sort_by_key(|&i| (plan[i].effect, i));
    let mut s = String::new();
    let mut result = vec![String::new(); plan.len()];
    for &i in &by_effect {
        let p = &plan[i];
        if p.crash != 0 && !p.crash_applies {
            continue;
        }
        match p.f {
            0 => result[i] = s.clone(),
            1 => s.push_str(&arg(i)),
            _ => s = arg(i),
        }
    }
    let mut events: Vec<(u32, usize, bool)> = Vec::new();
    for (i, p) in plan.iter().enumerate() {
        events.push((p.start, i, false));
        if p.crash != 2 {
            events.push((p.end, i, true));
        }
    }
    events.sort();
    let processes = plan.iter().map(|p| p.process + 1).max().unwrap_or(0);
    let mut epoch = vec![0u64; processes as usize];
    let mut proc_of = vec![0u64; plan.len()];
    let mut ops = Vec::new();
    for &(_, i, done) in &events {
        let p = &plan[i];
        let f = ["get", "append", "put"][p.f as usize];
        let input = if p.f == 0 {
            Value::Nil
        } else {
            Value::Str(arg(i).into())
        };
        if !done {
            proc_of[i] = p.process + processes * epoch[p.process as usize];
            if p.crash == 2 {
                epoch[p.process as usize] += 1;
            }
            ops.push(op(proc_of[i], Invoke, f, input));
        } else if p.crash == 1 {
            ops.push(op(proc_of[i], Info, f, input));
            epoch[p.process as usize] += 1;
        } else if p.f == 0 {
            ops.push(op(
                proc_of[i],
                Done,
                f,
                Value::Str(result[i].as_str().into()),
            ));
        } else {
            ops.push(op(proc_of[i], Done, f, input));
        }
    }
    history(ops)
}

proptest! {
    #![proptest_config(cases(3000))]

    /// Where the kv view applies to ambiguous spellings it is exact, and where it cannot tell
    /// it gives up: the verdict always agrees with a plain kv searched exhaustively.
    #[test]
    fn ambiguous_append_chains_agree_with_exhaustive_search(
        plan in plans(3, 10, true),
        offset in 0usize..7,
        corrupted in any::<bool>(),
        which in 0usize..16,
        spelled in prop::collection::vec(0usize..7, 0..4),
    ) {
        use crate::linear::reference::PlainKv;
        let mut h = realise_spelled_kv(&plan, offset);
        if corrupted {
            // One get's result replaced by some concatenation of spellings.
            let gets: Vec<usize> = (0..h.ops.len())
                .filter(|&i| h.ops[i].kind == Done && &*h.ops[i].f == "get")
                .collect();
            if let Some(&i) = gets.get(which % gets.len().max(1)) {
                let s: String = spelled.iter().map(|&k| SPELLINGS[k]).collect();
                h.ops[i].value = Value::Str(s.into());
            }
        }
        let kv = crate::model::Kv::new(ModelConfig::default());
        let fast = with(&h, &kv, true);
        prop_assert_eq!(fast.valid == Validity::Valid, brute_force(&h, &PlainKv), "{:?}", h);
        prop_assert_eq!(fast.valid, with(&h, &kv, false).valid, "{:?}", h);
    }
}
