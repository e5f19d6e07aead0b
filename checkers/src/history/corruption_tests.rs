//! One fault planted in an otherwise well-formed concurrent history, written in every format
//! faultline reads: the reader must refuse it at the fault's line, for the fault's reason.
//!
//! `robustness_tests.rs` throws arbitrary bytes at the readers and asks only for no panic and a
//! line inside the file; this file asks that each kind of fault the issue names (a completion
//! without an invoke, two invokes by one process, an invoke after a crash, an unknown `type`,
//! duplicate or decreasing indexes, a completion of another function, a truncated last line) is
//! named where it is, whatever the format and whatever surrounds it.

use std::path::Path;

use proptest::prelude::*;

use super::{
    parse_history, write_edn, write_jsonl, Format, History, Op, OpType, Process, ReadError,
    ReadOptions, Value,
};

/// The number of cases: `PROPTEST_CASES` when set (to fuzz harder), else `default`.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// How one generated operation goes: who, what, and how it ends.
#[derive(Clone, Debug)]
struct Planned {
    process: u64,
    f: usize,
    value: i64,
    end: OpType,
    /// How many later invokes happen before this one completes (concurrency).
    overlap: usize,
}

const FS: [&str; 3] = ["read", "write", "cas"];

fn planned() -> impl Strategy<Value = Vec<Planned>> {
    prop::collection::vec(
        (
            0u64..4,
            0usize..3,
            -3i64..50,
            prop_oneof![
                6 => Just(OpType::Ok),
                2 => Just(OpType::Fail),
                2 => Just(OpType::Info),
            ],
            0usize..4,
        )
            .prop_map(|(process, f, value, end, overlap)| Planned {
                process,
                f,
                value,
                end,
                overlap,
            }),
        1..14,
    )
}

/// Lays a plan out as a well-formed history: each op runs on its process unless that one is busy
/// or crashed, in which case it gets a fresh process; completions come `overlap` invokes later;
/// a lone nemesis `info` now and then.
fn realise(plan: &[Planned]) -> History {
    let mut ops: Vec<Op> = Vec::new();
    let mut busy = std::collections::HashSet::new();
    let mut retired = std::collections::HashSet::new();
    let mut fresh = 100;
    // (due after this many more invokes, the completion)
    let mut pending: Vec<(usize, Op)> = Vec::new();
    let op = |process, kind, f: &str, value| Op {
        index: 0,
        time: None,
        process,
        kind,
        f: f.into(),
        key: None,
        value,
        extra: None,
    };
    for (n, p) in plan.iter().enumerate() {
        let mut process = p.process;
        if busy.contains(&process) || retired.contains(&process) {
            process = fresh;
            fresh += 1;
        }
        busy.insert(process);
        ops.push(op(
            Process::Client(process),
            OpType::Invoke,
            FS[p.f],
            Value::Int(p.value),
        ));
        if n % 5 == 4 {
            ops.push(op(
                Process::Nemesis,
                OpType::Info,
                "start-partition",
                Value::Nil,
            ));
        }
        pending.push((
            p.overlap,
            op(
                Process::Client(process),
                p.end,
                FS[p.f],
                Value::Int(p.value),
            ),
        ));
        let mut still = Vec::new();
        for (due, done) in pending.drain(..) {
            if due == 0 {
                let Process::Client(c) = done.process else {
                    unreachable!()
                };
                busy.remove(&c);
                if done.kind == OpType::Info {
                    retired.insert(c);
                }
                ops.push(done);
            } else {
                still.push((due - 1, done));
            }
        }
        pending = still;
    }
    ops.extend(pending.into_iter().map(|(_, done)| done));
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = 2 * i as u64;
    }
    History::from_ops(ops)
}

/// The written formats: each writes one op per line, after `first_op_line - 1` lines of preamble.
#[derive(Clone, Copy, Debug)]
enum Written {
    Jsonl,
    EdnLines,
    EdnVector,
    JepsenLog,
}

const WRITTEN: [Written; 4] = [
    Written::Jsonl,
    Written::EdnLines,
    Written::EdnVector,
    Written::JepsenLog,
];

impl Written {
    fn format(self) -> Format {
        match self {
            Written::Jsonl => Format::Jsonl,
            Written::EdnLines | Written::EdnVector => Format::Edn,
            Written::JepsenLog => Format::JepsenLog,
        }
    }

    /// The line of the op at position `i`.
    fn line(self, i: usize) -> usize {
        match self {
            Written::EdnVector | Written::JepsenLog => i + 2,
            _ => i + 1,
        }
    }

    /// Whether the format records indexes (a Jepsen log numbers ops by position).
    fn has_indexes(self) -> bool {
        !matches!(self, Written::JepsenLog)
    }

    fn write(self, h: &History) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Written::Jsonl => write_jsonl(h, &mut out).unwrap(),
            Written::EdnLines | Written::EdnVector => write_edn(h, &mut out).unwrap(),
            Written::JepsenLog => {
                out.extend_from_slice(b"INFO  jepsen.core - Running test\n");
                for op in &h.ops {
                    let process = match op.process {
                        Process::Client(p) => p.to_string(),
                        Process::Nemesis => ":nemesis".into(),
                    };
                    out.extend_from_slice(
                        format!(
                            "INFO  jepsen.util - {process}\t:{}\t:{}\t{}\n",
                            op.kind.name(),
                            op.f,
                            op.value
                        )
                        .as_bytes(),
                    );
                }
            }
        }
        let mut lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        if let Written::EdnVector = self {
            lines.insert(0, "[".into());
            lines.push("]".into());
        }
        lines
    }
}

fn read(lines: &[String], written: Written) -> Result<History, ReadError> {
    let mut text = lines.join("\n");
    text.push('\n');
    let options = ReadOptions {
        format: Some(written.format()),
        independent: false,
    };
    parse_history(text.as_bytes(), Path::new("planted.history"), &options).map(|l| l.history)
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    StrayCompletion,
    SecondInvoke,
    InvokeAfterCrash,
    UnknownType,
    DuplicateIndex,
    DecreasingIndex,
    CompletionOfAnotherF,
    TruncatedLastLine,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::StrayCompletion),
        Just(Fault::SecondInvoke),
        Just(Fault::InvokeAfterCrash),
        Just(Fault::UnknownType),
        Just(Fault::DuplicateIndex),
        Just(Fault::DecreasingIndex),
        Just(Fault::CompletionOfAnotherF),
        Just(Fault::TruncatedLastLine),
    ]
}

/// The client ops of `h` as (position, process).
fn client_positions(h: &History, kind: impl Fn(OpType) -> bool) -> Vec<(usize, u64)> {
    h.ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o.process {
            Process::Client(p) if kind(o.kind) => Some((i, p)),
            _ => None,
        })
        .collect()
}

/// Plants `fault` (at the `pick`-th place it can go) and returns the written lines with the
/// line the error must name and a piece of its reason; `None` when the fault cannot be planted
/// in this history or format.
fn plant(
    h: &History,
    written: Written,
    fault: Fault,
    pick: usize,
) -> Option<(Vec<String>, usize, &'static str)> {
    let mut h = h.clone();
    let renumber = |h: &mut History| {
        for (i, o) in h.ops.iter_mut().enumerate() {
            o.index = 2 * i as u64;
        }
    };
    let invoke_like = |from: &Op| Op {
        kind: OpType::Invoke,
        ..from.clone()
    };
    let (at, reason) = match fault {
        Fault::StrayCompletion => {
            let at = pick % (h.ops.len() + 1);
            let mut stray = h.ops[0].clone();
            stray.process = Process::Client(999);
            stray.kind = OpType::Ok;
            h.ops.insert(at, stray);
            (at, "completes no invoke")
        }
        Fault::SecondInvoke => {
            let invokes = client_positions(&h, |k| k == OpType::Invoke);
            let &(i, _) = invokes.get(pick % invokes.len())?;
            let again = invoke_like(&h.ops[i]);
            h.ops.insert(i + 1, again);
            (i + 1, "has no completion")
        }
        Fault::InvokeAfterCrash => {
            let crashes = client_positions(&h, |k| k == OpType::Info);
            let &(i, _) = crashes.get(pick % crashes.len().max(1))?;
            let again = invoke_like(&h.ops[i]);
            let at = i + 1 + pick % (h.ops.len() - i);
            h.ops.insert(at, again);
            (at, "a crashed process never invokes again")
        }
        Fault::UnknownType => (pick % h.ops.len(), "unknown operation"),
        Fault::DuplicateIndex | Fault::DecreasingIndex if !written.has_indexes() => return None,
        Fault::DuplicateIndex | Fault::DecreasingIndex if h.ops.len() < 2 => return None,
        Fault::DuplicateIndex => (1 + pick % (h.ops.len() - 1), "indexes must increase"),
        Fault::DecreasingIndex => (1 + pick % (h.ops.len() - 1), "indexes must increase"),
        Fault::CompletionOfAnotherF => {
            let completions = client_positions(&h, |k| k.is_completion());
            let &(i, _) = completions.get(pick % completions.len().max(1))?;
            let other = FS.iter().find(|f| **f != &*h.ops[i].f).expect("three fs");
            h.ops[i].f = (*other).into();
            (i, "completes the invoke of")
        }
        Fault::TruncatedLastLine => match written {
            Written::Jsonl | Written::EdnLines => (h.ops.len() - 1, ""),
            _ => return None,
        },
    };
    renumber(&mut h);
    match fault {
        Fault::DuplicateIndex => h.ops[at].index = h.ops[at - 1].index,
        Fault::DecreasingIndex => h.ops[at].index = h.ops[at - 1].index / 2,
        _ => {}
    }
    let mut lines = written.write(&h);
    let line = written.line(at);
    let text = &mut lines[line - 1];
    match fault {
        Fault::UnknownType => {
            let kind = h.ops[at].kind.name();
            let (from, to) = match written {
                Written::Jsonl => (
                    format!("\"type\":\"{kind}\""),
                    format!("\"type\":\"{kind}x\""),
                ),
                Written::JepsenLog => (format!("\t:{kind}\t"), format!("\t:{kind}x\t")),
                _ => (format!(":type :{kind}"), format!(":type :{kind}x")),
            };
            assert!(text.contains(&from), "{text}");
            *text = text.replacen(&from, &to, 1);
        }
        Fault::TruncatedLastLine => {
            let cut = 1 + pick % (text.len() - 1);
            text.truncate(cut);
        }
        _ => {}
    }
    Some((lines, line, reason))
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn a_well_formed_history_reads_back_in_every_format(plan in planned()) {
        let h = realise(&plan);
        for written in WRITTEN {
            let back = read(&written.write(&h), written)
                .unwrap_or_else(|e| panic!("{written:?}: {e}"));
            prop_assert_eq!(back.len(), h.len());
            for (a, b) in back.ops.iter().zip(&h.ops) {
                prop_assert_eq!((a.process, a.kind, &a.f), (b.process, b.kind, &b.f));
            }
        }
    }

    #[test]
    fn a_planted_fault_is_named_at_its_line_in_every_format(
        plan in planned(), fault in fault(), pick in 0usize..1000
    ) {
        let h = realise(&plan);
        for written in WRITTEN {
            let Some((lines, line, reason)) = plant(&h, written, fault, pick) else {
                continue;
            };
            match read(&lines, written) {
                Err(e @ ReadError::Parse { .. }) => {
                    let ReadError::Parse { line: got, ref message, .. } = e else { unreachable!() };
                    prop_assert!(
                        got == line && message.contains(reason),
                        "{:?} {:?}: expected line {} ({:?}), got {}\n{}",
                        written, fault, line, reason, e, lines.join("\n")
                    );
                    prop_assert!(e.to_string().starts_with("planted.history:"), "{}", e);
                }
                other => prop_assert!(
                    false,
                    "{:?} {:?}: expected an error at line {}, got {:?}\n{}",
                    written, fault, line, other.map(|h| h.len()), lines.join("\n")
                ),
            }
        }
    }
}
