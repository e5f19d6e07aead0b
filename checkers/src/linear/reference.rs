//! What the engine's tests hold it against: a plain exhaustive search that shares nothing with
//! the engine but the model, plain models written for clarity rather than speed, and histories
//! made by running real sequential objects, linearizable by construction.

use proptest::prelude::*;

use crate::history::{History, Op, OpType, Process, Value};
use crate::model::{Model, ModelConfig, Register, Step};
use OpType::{Info, Invoke, Ok as Done};

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
    Op::new(Process::Client(process), kind, f, value)
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

pub(super) fn pair(a: i64, b: i64) -> Value {
    Value::Vector(vec![Value::Int(a), Value::Int(b)].into())
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

/// The kv specification written plainly (whole strings, no interning, no dead-state folding):
/// the reference the real kv model must agree with.
#[derive(Clone)]
pub(super) struct PlainKv;

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
pub(super) fn realise_kv(plan: &[Planned]) -> History {
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
