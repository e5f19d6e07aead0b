//! The engine against a plain exhaustive search, on hand-written and generated histories.

use proptest::prelude::*;

use super::*;
use crate::history::{History, Op, OpType, Process, Value};
use crate::model::{Model, ModelConfig, Register, Step};

/// One call as the reference search sees it.
struct PlainCall<O> {
    op: O,
    invoke: usize,
    complete: Option<usize>,
}

/// Tries every order: the reference the engine must agree with. It shares nothing with the
/// engine but the model: its own pairing of invokes and completions, no memo, no reductions
/// beyond dropping fails, the whole history as one object; unknown-outcome calls may be
/// linearized or left out.
pub(super) fn brute_force<M: Model>(history: &History, model: &M) -> bool {
    let mut model = model.clone();
    let mut open: std::collections::HashMap<Process, usize> = Default::default();
    let mut calls = Vec::new();
    let mut pairs: Vec<(usize, Option<usize>)> = Vec::new();
    for (i, o) in history.ops.iter().enumerate() {
        if o.kind == OpType::Invoke {
            open.insert(o.process, pairs.len());
            pairs.push((i, None));
        } else if let Some(p) = open.remove(&o.process) {
            pairs[p].1 = Some(i);
        }
    }
    for (invoke, completion) in pairs {
        let kind = completion.map(|c| history.ops[c].kind);
        if kind == Some(OpType::Fail) {
            continue;
        }
        let outcome = match (kind, completion) {
            (Some(OpType::Ok), Some(c)) => crate::model::Outcome::Ok(&history.ops[c].value),
            _ => crate::model::Outcome::Unknown,
        };
        let i = &history.ops[invoke];
        let call = crate::model::Call {
            f: &i.f,
            key: i.key.as_ref(),
            input: &i.value,
            outcome,
        };
        let op = model.compile(&call).expect("compiles");
        let complete = if kind == Some(OpType::Ok) {
            completion
        } else {
            None
        };
        calls.push(PlainCall {
            op,
            invoke,
            complete,
        });
    }
    let init = model.init();
    fn go<M: Model>(
        model: &mut M,
        calls: &[PlainCall<M::Op>],
        done: &mut Vec<bool>,
        state: &M::State,
    ) -> bool {
        let pending_ok: Vec<usize> = (0..calls.len())
            .filter(|&c| !done[c] && calls[c].complete.is_some())
            .collect();
        if pending_ok.is_empty() {
            return true;
        }
        let first_return = pending_ok
            .iter()
            .filter_map(|&c| calls[c].complete)
            .min()
            .unwrap_or(usize::MAX);
        for c in 0..calls.len() {
            if done[c] || calls[c].invoke > first_return {
                continue;
            }
            let nexts = match model.step(state, &calls[c].op) {
                Step::Impossible => vec![],
                Step::One(s) => vec![s],
                Step::Many(v) => v,
            };
            for s in nexts {
                done[c] = true;
                let ok = go(model, calls, done, &s);
                done[c] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    let mut done = vec![false; calls.len()];
    go(&mut model, &calls, &mut done, &init)
}

/// The number of cases: `PROPTEST_CASES` when set (to search harder), else `default`.
pub(super) fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

pub(super) fn op(process: u64, kind: OpType, f: &str, value: Value) -> Op {
    Op {
        index: 0,
        time: None,
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: None,
        value,
        extra: None,
    }
}

pub(super) fn history(mut ops: Vec<Op>) -> History {
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = i as u64;
    }
    History::from_ops(ops)
}

pub(super) fn cas_register() -> Register {
    Register::cas(ModelConfig::default())
}

fn verdict(h: &History) -> Validity {
    check(h, &cas_register(), &CheckOptions::default(), None)
        .unwrap()
        .valid
}

use OpType::{Info, Invoke, Ok as Done};

pub(super) fn pair(a: i64, b: i64) -> Value {
    Value::Vector(vec![Value::Int(a), Value::Int(b)].into())
}

#[test]
fn a_stale_read_after_a_completed_write_is_invalid() {
    let h = history(vec![
        op(0, Invoke, "write", Value::Int(1)),
        op(0, Done, "write", Value::Int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", Value::Nil),
    ]);
    assert_eq!(verdict(&h), Validity::Invalid);
    let a = check(&h, &cas_register(), &CheckOptions::default(), None).unwrap();
    let w = a.parts[0].witness.as_ref().unwrap();
    assert_eq!(w.op.op, "read nil");
    assert_eq!(w.states, vec!["1".to_string()]);
    assert!(
        w.explanations[0].contains("the register holds 1"),
        "{:?}",
        w.explanations
    );
}

#[test]
fn a_concurrent_read_may_see_either_value() {
    let h = history(vec![
        op(0, Invoke, "write", Value::Int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", Value::Int(1)),
        op(0, Done, "write", Value::Int(1)),
    ]);
    assert_eq!(verdict(&h), Validity::Valid);
}

#[test]
fn a_crashed_write_may_take_effect_much_later() {
    let h = history(vec![
        op(0, Invoke, "write", Value::Int(7)),
        op(0, Info, "write", Value::Nil),
        op(1, Invoke, "write", Value::Int(1)),
        op(1, Done, "write", Value::Int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", Value::Int(7)),
    ]);
    assert_eq!(verdict(&h), Validity::Valid);
}

#[test]
fn a_crashed_write_takes_effect_at_most_once() {
    let h = history(vec![
        op(0, Invoke, "write", Value::Int(7)),
        op(0, Info, "write", Value::Nil),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", Value::Int(7)),
        op(1, Invoke, "write", Value::Int(1)),
        op(1, Done, "write", Value::Int(1)),
        op(1, Invoke, "read", Value::Nil),
        op(1, Done, "read", Value::Int(7)),
    ]);
    assert_eq!(verdict(&h), Validity::Invalid);
}

#[test]
fn identical_crashed_writes_each_count() {
    // Two crashed writes of 7: the symmetry reduction must still let both take effect.
    let h = history(vec![
        op(0, Invoke, "write", Value::Int(7)),
        op(0, Info, "write", Value::Nil),
        op(1, Invoke, "write", Value::Int(7)),
        op(1, Info, "write", Value::Nil),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", Value::Int(7)),
        op(2, Invoke, "write", Value::Int(1)),
        op(2, Done, "write", Value::Int(1)),
        op(2, Invoke, "read", Value::Nil),
        op(2, Done, "read", Value::Int(7)),
    ]);
    assert_eq!(verdict(&h), Validity::Valid);
}

#[test]
fn a_crashed_write_nobody_read_is_left_out_and_one_that_was_read_is_kept() {
    let h = history(vec![
        op(0, Invoke, "write", Value::Int(1)),
        op(1, Invoke, "write", Value::Int(2)),
        op(2, Invoke, "cas", pair(3, 4)),
        op(0, Info, "write", Value::Nil),
        op(1, Info, "write", Value::Nil),
        op(2, Info, "cas", Value::Nil),
        op(3, Invoke, "read", Value::Nil),
        op(3, Done, "read", Value::Int(1)),
    ]);
    let a = check(&h, &cas_register(), &CheckOptions::default(), None).unwrap();
    assert_eq!(a.valid, Validity::Valid);
    // write 2 and cas 3 -> 4 were never seen: only write 1 and the read are searched.
    assert_eq!((a.parts[0].calls, a.parts[0].searched_calls), (4, 2));
}

#[test]
fn an_empty_history_is_valid() {
    assert_eq!(verdict(&History::default()), Validity::Valid);
}

#[test]
fn a_time_limit_gives_unknown_not_a_verdict() {
    // Many concurrent crashed cas operations make a search that cannot end in a microsecond.
    let mut ops = vec![
        op(200, Invoke, "write", Value::Int(0)),
        op(200, Done, "write", Value::Int(0)),
    ];
    for p in 0..60 {
        ops.push(op(
            p,
            Invoke,
            "cas",
            pair(p as i64 % 10, (p as i64 / 10 + p as i64) % 10),
        ));
    }
    for p in 0..60 {
        ops.push(op(p, Info, "cas", Value::Nil));
    }
    ops.push(op(101, Invoke, "read", Value::Nil));
    ops.push(op(101, Done, "read", Value::Int(99)));
    let h = history(ops);
    let options = CheckOptions {
        time_limit: Some(std::time::Duration::from_millis(1)),
        memory_limit: 1 << 20,
        ..CheckOptions::default()
    };
    let a = check(&h, &cas_register(), &options, None).unwrap();
    assert_eq!(a.valid, Validity::Unknown);
    let cause = a.parts[0].cause.as_deref().unwrap_or("");
    assert!(cause.contains("limit"), "{cause}");
}

/// 300 crashed writes of distinct values, all concurrent, then reads that see each value once in
/// turn and finally the first value again, which no order explains: proving that takes a search
/// over subsets of the crashed writes, and must end in `unknown` at a limit, not in exhaustion.
fn hundreds_of_crashed_writes() -> History {
    let n = 300;
    let mut ops = Vec::new();
    for p in 0..n {
        ops.push(op(p, Invoke, "write", Value::Int(p as i64)));
    }
    for p in 0..n {
        ops.push(op(p, Info, "write", Value::Nil));
    }
    for v in (0..n).chain([0]) {
        ops.push(op(1000, Invoke, "read", Value::Nil));
        ops.push(op(1000, Done, "read", Value::Int(v as i64)));
    }
    history(ops)
}

#[test]
fn hundreds_of_concurrent_crashed_writes_end_in_unknown_at_the_time_limit() {
    let options = CheckOptions {
        time_limit: Some(std::time::Duration::from_secs(2)),
        ..CheckOptions::default()
    };
    let a = check(
        &hundreds_of_crashed_writes(),
        &cas_register(),
        &options,
        None,
    )
    .unwrap();
    assert_eq!(a.valid, Validity::Unknown);
    let cause = a.parts[0].cause.as_deref().unwrap_or("");
    assert!(cause.contains("limit reached"), "{cause}");
}

#[test]
fn hundreds_of_concurrent_crashed_writes_end_in_unknown_at_the_memory_limit() {
    let options = CheckOptions {
        // A safety net only: the memory limit comes first by far.
        time_limit: Some(std::time::Duration::from_secs(600)),
        memory_limit: 16 << 20,
        ..CheckOptions::default()
    };
    let a = check(
        &hundreds_of_crashed_writes(),
        &cas_register(),
        &options,
        None,
    )
    .unwrap();
    assert_eq!(a.valid, Validity::Unknown);
    let cause = a.parts[0].cause.as_deref().unwrap_or("");
    assert!(cause.contains("memory limit reached"), "{cause}");
    assert!(
        a.parts[0].memo_entries > 10_000,
        "{}",
        a.parts[0].memo_entries
    );
}

/// A history made by running random operations on a real sequential register, each taking
/// effect at a point inside its invoke..completion window: linearizable by construction.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    process: u64,
    f: u8,
    a: i64,
    b: i64,
    start: u32,
    effect: u32,
    end: u32,
    crash: bool,
    crash_applies: bool,
}

pub(super) fn planned() -> impl Strategy<Value = Vec<Planned>> {
    planned_n(3, 8)
}

/// Plans of up to `ops` operations by `processes` processes.
pub(super) fn planned_n(processes: u64, ops: usize) -> impl Strategy<Value = Vec<Planned>> {
    prop::collection::vec(
        (
            0u64..processes,
            0u8..3,
            0i64..5,
            0i64..5,
            0u32..40,
            1u32..10,
            1u32..10,
            prop::bool::weighted(0.15),
            any::<bool>(),
        ),
        1..ops,
    )
    .prop_map(move |raw| {
        let mut free_at = vec![0u32; processes as usize];
        raw.into_iter()
            .map(|(process, f, a, b, gap, d1, d2, crash, crash_applies)| {
                let start = free_at[process as usize] + gap;
                let effect = start + d1;
                let end = effect + d2;
                free_at[process as usize] = end + 1;
                Planned {
                    process,
                    f,
                    a,
                    b,
                    start,
                    effect,
                    end,
                    crash,
                    crash_applies,
                }
            })
            .collect()
    })
}

/// Builds the history of a plan; processes that crash are renumbered for their later calls.
pub(super) fn realise(plan: &[Planned]) -> History {
    realise_keyed(plan, &[])
}

/// Builds the history of a plan whose op `i` acts on key `keys[i]` (no key when `keys` is
/// short): one real register per key.
pub(super) fn realise_keyed(plan: &[Planned], keys: &[u8]) -> History {
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| (plan[i].effect, i));
    let mut registers: std::collections::HashMap<Option<u8>, Value> = Default::default();
    let mut result: Vec<(Value, bool)> = vec![(Value::Nil, true); plan.len()];
    for &i in &order {
        let p = &plan[i];
        if p.crash && !p.crash_applies {
            continue;
        }
        let reg = registers.entry(keys.get(i).copied()).or_default();
        result[i] = match p.f {
            0 => (reg.clone(), true),
            1 => {
                *reg = Value::Int(p.a);
                (Value::Int(p.a), true)
            }
            _ => {
                if *reg == Value::Int(p.a) {
                    *reg = Value::Int(p.b);
                    (pair(p.a, p.b), true)
                } else {
                    (pair(p.a, p.b), false)
                }
            }
        };
    }
    let mut events: Vec<(u32, usize, bool)> = Vec::new();
    for (i, p) in plan.iter().enumerate() {
        events.push((p.start, i, false));
        events.push((p.end, i, true));
    }
    events.sort();
    let processes = plan.iter().map(|p| p.process + 1).max().unwrap_or(0);
    let mut epoch = vec![0u64; processes as usize];
    let mut proc_of = vec![0u64; plan.len()];
    let mut ops = Vec::new();
    for (_, i, done) in events {
        let p = &plan[i];
        let f = ["read", "write", "cas"][p.f as usize];
        let key = keys.get(i).map(|k| Value::Str(format!("k{k}").into()));
        let input = match p.f {
            0 => Value::Nil,
            1 => Value::Int(p.a),
            _ => pair(p.a, p.b),
        };
        let keyed = |mut o: Op| {
            o.key = key.clone();
            o
        };
        if !done {
            proc_of[i] = p.process + processes * epoch[p.process as usize];
            ops.push(keyed(op(proc_of[i], Invoke, f, input)));
        } else if p.crash {
            ops.push(keyed(op(proc_of[i], Info, f, Value::Nil)));
            epoch[p.process as usize] += 1;
        } else {
            let (value, applied) = result[i].clone();
            let kind = if applied { Done } else { OpType::Fail };
            ops.push(keyed(op(proc_of[i], kind, f, value)));
        }
    }
    history(ops)
}

proptest! {
    #![proptest_config(cases(400))]

    #[test]
    fn histories_of_a_real_register_are_linearizable(plan in planned()) {
        let h = realise(&plan);
        prop_assert_eq!(verdict(&h), Validity::Valid, "{:?}", h);
    }

    #[test]
    fn engine_agrees_with_exhaustive_search_on_corrupted_histories(plan in planned(), which in 0usize..16, v in 0i64..4) {
        let mut h = realise(&plan);
        // Corrupt one ok read's result (or, if none, one write's value).
        let oks: Vec<usize> = (0..h.ops.len()).filter(|&i| h.ops[i].kind == Done).collect();
        if let Some(&i) = oks.get(which % oks.len().max(1)) {
            if &*h.ops[i].f == "read" {
                h.ops[i].value = if v == 3 { Value::Nil } else { Value::Int(v) };
            }
        }
        let fast = verdict(&h);
        let slow = brute_force(&h, &cas_register());
        prop_assert_eq!(fast == Validity::Valid, slow, "{:?}", h);
        prop_assert_ne!(fast, Validity::Unknown);
    }
}

/// The kv specification written plainly (whole strings, no interning, no dead-state folding):
/// the reference the real kv model must agree with.
#[derive(Clone)]
struct PlainKv;

impl Model for PlainKv {
    type State = String;
    type Op = (u8, String);

    fn name(&self) -> &'static str {
        "plain-kv"
    }
    fn init(&mut self) -> String {
        String::new()
    }
    fn compile(
        &mut self,
        call: &crate::model::Call,
    ) -> Result<(u8, String), crate::model::ModelError> {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        Ok(match call.f {
            "get" => match call.outcome {
                crate::model::Outcome::Ok(v) => (0, text(v)),
                crate::model::Outcome::Unknown => (3, String::new()),
            },
            "append" => (1, text(call.input)),
            _ => (2, text(call.input)),
        })
    }
    fn step(&mut self, s: &String, op: &(u8, String)) -> Step<String> {
        match op.0 {
            0 if *s == op.1 => Step::One(s.clone()),
            0 => Step::Impossible,
            1 => Step::One(format!("{s}{}", op.1)),
            2 => Step::One(op.1.clone()),
            _ => Step::One(s.clone()),
        }
    }
    fn is_read_only(&self, op: &(u8, String)) -> bool {
        op.0 == 0 || op.0 == 3
    }
    fn describe_op(&self, op: &(u8, String)) -> String {
        format!("{op:?}")
    }
    fn describe_state(&self, s: &String) -> String {
        s.clone()
    }
    fn explain(&self, _: &String, _: &(u8, String)) -> String {
        String::new()
    }
}

/// A kv history from a real sequential run: appends of unique strings, puts, gets.
fn realise_kv(plan: &[Planned]) -> History {
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| (plan[i].effect, i));
    let arg = |i: usize| match plan[i].f {
        1 => format!("a{i} "),
        _ => format!("p{i} "),
    };
    let mut s = String::new();
    let mut result = vec![String::new(); plan.len()];
    for &i in &order {
        let p = &plan[i];
        if p.crash && !p.crash_applies {
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
        events.push((p.end, i, true));
    }
    events.sort();
    let mut epoch = [0u64; 3];
    let mut proc_of = vec![0u64; plan.len()];
    let mut ops = Vec::new();
    for (_, i, done) in events {
        let p = &plan[i];
        let f = ["get", "append", "put"][p.f as usize];
        let input = if p.f == 0 {
            Value::Nil
        } else {
            Value::Str(arg(i).into())
        };
        if !done {
            proc_of[i] = p.process + 3 * epoch[p.process as usize];
            ops.push(op(proc_of[i], Invoke, f, input));
        } else if p.crash {
            ops.push(op(proc_of[i], Info, f, Value::Nil));
            epoch[p.process as usize] += 1;
        } else {
            let value = if p.f == 0 {
                Value::Str(result[i].as_str().into())
            } else {
                input
            };
            ops.push(op(proc_of[i], Done, f, value));
        }
    }
    history(ops)
}

proptest! {
    #![proptest_config(cases(400))]

    #[test]
    fn kv_model_agrees_with_a_plain_kv_on_corrupted_histories(plan in planned(), which in 0usize..16, cut in 0usize..4) {
        let mut h = realise_kv(&plan);
        // Corrupt one ok get: drop some characters from the end of what it read.
        let gets: Vec<usize> = (0..h.ops.len()).filter(|&i| h.ops[i].kind == Done && &*h.ops[i].f == "get").collect();
        if let Some(&i) = gets.get(which % gets.len().max(1)) {
            let s = h.ops[i].value.as_str().unwrap_or("").to_string();
            let keep = s.len().saturating_sub(cut);
            h.ops[i].value = Value::Str(s[..keep].into());
        }
        let kv = crate::model::Kv::new(ModelConfig::default());
        let fast = check(&h, &kv, &CheckOptions::default(), None).unwrap().valid;
        let slow = brute_force(&h, &PlainKv);
        prop_assert_eq!(fast == Validity::Valid, slow, "{:?}", h);
        prop_assert_ne!(fast, Validity::Unknown);
    }
}

/// Small hand-written histories for every model, one that holds and one that does not.
mod per_model {
    use super::*;
    use crate::model::{Counter, FifoQueue, Mutex, Set, UnorderedQueue};

    fn run<M: Model>(model: M, ops: Vec<Op>) -> Validity {
        check(&history(ops), &model, &CheckOptions::default(), None)
            .unwrap()
            .valid
    }

    fn call(p: u64, f: &str, input: Value, out: Value) -> [Op; 2] {
        [op(p, Invoke, f, input), op(p, Done, f, out)]
    }

    fn seq(calls: Vec<[Op; 2]>) -> Vec<Op> {
        calls.into_iter().flatten().collect()
    }

    #[test]
    fn a_mutex_held_twice_is_invalid_and_handed_over_is_valid() {
        let nil = || Value::Nil;
        let ok = seq(vec![
            call(0, "acquire", nil(), nil()),
            call(0, "release", nil(), nil()),
            call(1, "acquire", nil(), nil()),
        ]);
        assert_eq!(run(Mutex, ok), Validity::Valid);
        let bad = seq(vec![
            call(0, "acquire", nil(), nil()),
            call(1, "acquire", nil(), nil()),
        ]);
        assert_eq!(run(Mutex, bad), Validity::Invalid);
    }

    #[test]
    fn a_set_read_missing_an_acknowledged_add_is_invalid() {
        let set = |xs: &[i64]| Value::Set(xs.iter().map(|&x| Value::Int(x)).collect());
        let ok = seq(vec![
            call(0, "add", Value::Int(1), Value::Int(1)),
            call(1, "add", Value::Int(2), Value::Int(2)),
            call(0, "read", Value::Nil, set(&[1, 2])),
        ]);
        assert_eq!(run(Set::new(ModelConfig::default()), ok), Validity::Valid);
        let lost = seq(vec![
            call(0, "add", Value::Int(1), Value::Int(1)),
            call(1, "add", Value::Int(2), Value::Int(2)),
            call(0, "read", Value::Nil, set(&[2])),
        ]);
        assert_eq!(
            run(Set::new(ModelConfig::default()), lost),
            Validity::Invalid
        );
    }

    #[test]
    fn a_counter_read_must_see_acknowledged_adds() {
        let ok = seq(vec![
            call(0, "add", Value::Int(2), Value::Int(2)),
            call(1, "read", Value::Nil, Value::Int(2)),
        ]);
        assert_eq!(
            run(Counter::new(ModelConfig::default()), ok),
            Validity::Valid
        );
        let drift = seq(vec![
            call(0, "add", Value::Int(2), Value::Int(2)),
            call(1, "read", Value::Nil, Value::Int(3)),
        ]);
        assert_eq!(
            run(Counter::new(ModelConfig::default()), drift),
            Validity::Invalid
        );
    }

    #[test]
    fn a_fifo_queue_must_dequeue_in_order_an_unordered_one_need_not() {
        let q = || {
            seq(vec![
                call(0, "enqueue", Value::Int(1), Value::Int(1)),
                call(0, "enqueue", Value::Int(2), Value::Int(2)),
                call(1, "dequeue", Value::Nil, Value::Int(2)),
            ])
        };
        assert_eq!(run(FifoQueue::new(), q()), Validity::Invalid);
        assert_eq!(run(UnorderedQueue::new(), q()), Validity::Valid);
        let never = seq(vec![call(1, "dequeue", Value::Nil, Value::Int(9))]);
        assert_eq!(run(UnorderedQueue::new(), never), Validity::Invalid);
    }

    #[test]
    fn a_crashed_dequeue_may_have_taken_the_element_nobody_saw() {
        // The unordered queue's crashed dequeue may take any element: here it must take 1 for
        // the later empty dequeue to be explained.
        let mut ops = seq(vec![call(0, "enqueue", Value::Int(1), Value::Int(1))]);
        ops.push(op(1, Invoke, "dequeue", Value::Nil));
        ops.push(op(1, Info, "dequeue", Value::Nil));
        ops.extend(seq(vec![call(2, "dequeue", Value::Nil, Value::Nil)]));
        assert_eq!(run(UnorderedQueue::new(), ops.clone()), Validity::Valid);
        assert_eq!(run(FifoQueue::new(), ops), Validity::Valid);
    }
}
