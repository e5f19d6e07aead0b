//! The rules every history must keep before a checker may trust it, whatever format it came in.
//!
//! A checker pairs each invoke with its process's next completion. If a file breaks the pairing
//! (a completion out of nowhere, a process invoking twice), a checker would silently judge a
//! history that never happened; so these are read errors, named by file and line.
//!
//! Per client process: invoke, then exactly one completion with the same `f`, and nothing after
//! an `info` (a crashed process is retired; its worker continues under a new number). An invoke
//! still open at the end of the history is allowed: it reads as `info`. Nemesis ops are exempt:
//! the nemesis often logs a lone `info`. Indexes must increase strictly, so that they identify ops.
//!
//! A `write` or `cas` completes with the value it was invoked with (Jepsen echoes the argument).
//! An `ok` that names a different value is refused, naming both lines: a checker cannot tell
//! which of the two the datastore acted on, and taking either silently would judge a history
//! that may never have happened. A value missing on one side is no contradiction: an `ok` that
//! carries none (`nil`, or the field left out) says nothing about the argument, and some Jepsen
//! clients complete writes that way; an invoke that carries none leaves the argument to its
//! completion (`Call::value` in `model` reads them so). A read's `ok` value is its result, not
//! an echo, so reads (and every other function) are not compared. Only `ok` is compared: a
//! `fail` did not happen and an `info`'s value is not used.

use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{History, Op, OpType, Process, ReadError, Value};

/// Where a client process stands in its invoke/complete cycle.
enum Stage {
    /// Its invoke at this line has no completion yet; `echo` is the invoke's value when the
    /// function must complete with it (see the module documentation).
    Pending {
        line: usize,
        f: Arc<str>,
        echo: Option<Value>,
    },
    /// Its last op ended in `info` at this line: it must never invoke again.
    Crashed { line: usize },
}

/// The rules, checked one op at a time as a reader finds them, so that a history need not be
/// held whole to be checked.
#[derive(Default)]
pub struct WellFormed {
    /// Processes absent from the map are idle: ready to invoke.
    stages: FxHashMap<u64, Stage>,
    /// The index and line of the previous op.
    previous: Option<(u64, usize)>,
}

impl WellFormed {
    /// Checks the next op, which starts at source `line`; what is wrong with it otherwise.
    pub fn push(&mut self, op: &Op, line: usize) -> Result<(), String> {
        if let Some((prev, prev_line)) = self.previous {
            if op.index <= prev {
                return Err(format!(
                    "index {} does not follow index {prev} at line {prev_line}: indexes must increase",
                    op.index
                ));
            }
        }
        self.previous = Some((op.index, line));
        let Process::Client(p) = op.process else {
            return Ok(());
        };
        let kind = op.kind.name();
        match (op.kind, self.stages.get(&p)) {
            (OpType::Invoke, Some(Stage::Pending { line: at, .. })) => Err(format!(
                "invoke at line {line} by process {p}, whose invoke at line {at} has no completion"
            )),
            (OpType::Invoke, Some(Stage::Crashed { line: at })) => Err(format!(
                "invoke at line {line} by process {p}, which crashed (info) at line {at}: \
                 a crashed process never invokes again"
            )),
            (OpType::Invoke, None) => {
                let f = op.f.clone();
                let echo = echoes(&f).then(|| op.value.clone());
                self.stages.insert(p, Stage::Pending { line, f, echo });
                Ok(())
            }
            (_, Some(Stage::Pending { line: at, f, echo })) => {
                if *f != op.f {
                    return Err(format!(
                        "{kind} of {} at line {line} by process {p} completes the invoke of {f} at line {at}",
                        op.f
                    ));
                }
                if let Some(invoked) = echo {
                    let both = !op.value.is_nil() && !invoked.is_nil();
                    if op.kind == OpType::Ok && both && op.value != *invoked {
                        return Err(format!(
                            "ok of {f} {} at line {line} by process {p} completes the invoke of {f} {invoked} \
                             at line {at}: a {f} completes with the value it was invoked with",
                            op.value
                        ));
                    }
                }
                if op.kind == OpType::Info {
                    self.stages.insert(p, Stage::Crashed { line });
                } else {
                    self.stages.remove(&p);
                }
                Ok(())
            }
            (_, _) => Err(format!(
                "{kind} at line {line} by process {p} completes no invoke"
            )),
        }
    }
}

/// The functions whose `ok` echoes the invoke's value: a register's `write` and `cas`.
pub fn echoes(f: &str) -> bool {
    matches!(f, "write" | "cas")
}

/// Checks the pairing of invokes and completions, and the order of indexes; `path` names the file
/// in errors, and lines come from [`History::line`].
pub fn check_well_formed(history: &History, path: &Path) -> Result<(), ReadError> {
    let mut rules = WellFormed::default();
    for (i, op) in history.ops.iter().enumerate() {
        let line = history.line(i);
        rules.push(op, line).map_err(|message| ReadError::Parse {
            path: path.to_owned(),
            line,
            message,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Value};

    fn op(index: u64, process: Process, kind: OpType, f: &str) -> Op {
        Op {
            index,
            ..Op::new(process, kind, f, Value::Nil)
        }
    }

    fn history(ops: &[(u64, OpType, &str)]) -> History {
        let ops: Vec<Op> = ops
            .iter()
            .enumerate()
            .map(|(i, &(p, k, f))| op(i as u64, Process::Client(p), k, f))
            .collect();
        // Source lines 10, 20, 30, ... so that tests can tell lines from positions.
        let lines = (1..=ops.len()).map(|n| n as u32 * 10).collect();
        History { ops, lines }
    }

    fn error(h: &History) -> (usize, String) {
        match check_well_formed(h, Path::new("h")) {
            Err(ReadError::Parse { line, message, .. }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    use OpType::*;

    #[test]
    fn paired_ops_fails_and_open_invokes_are_well_formed() {
        let h = history(&[
            (1, Invoke, "read"),
            (2, Invoke, "write"),
            (1, Ok, "read"),
            (2, Fail, "write"),
            (2, Invoke, "read"),
            (3, Invoke, "cas"),
            (3, Info, "cas"),
        ]);
        check_well_formed(&h, Path::new("h")).unwrap();
    }

    #[test]
    fn a_completion_without_an_invoke_is_refused() {
        let (line, msg) = error(&history(&[(1, Invoke, "read"), (3, Ok, "read")]));
        assert_eq!(line, 20);
        assert_eq!(msg, "ok at line 20 by process 3 completes no invoke");
    }

    #[test]
    fn a_second_completion_is_refused() {
        let (line, msg) = error(&history(&[
            (1, Invoke, "read"),
            (1, Ok, "read"),
            (1, Fail, "read"),
        ]));
        assert_eq!(line, 30);
        assert!(msg.contains("completes no invoke"), "{msg}");
    }

    #[test]
    fn a_second_invoke_names_the_open_one() {
        let (line, msg) = error(&history(&[(1, Invoke, "read"), (1, Invoke, "write")]));
        assert_eq!(line, 20);
        assert!(msg.contains("invoke at line 10 has no completion"), "{msg}");
    }

    #[test]
    fn a_completion_of_another_function_is_refused() {
        let (line, msg) = error(&history(&[(1, Invoke, "read"), (1, Ok, "write")]));
        assert_eq!(line, 20);
        assert!(
            msg.contains("completes the invoke of read at line 10"),
            "{msg}"
        );
    }

    #[test]
    fn a_crashed_process_never_invokes_again() {
        let (line, msg) = error(&history(&[
            (1, Invoke, "read"),
            (1, Info, "read"),
            (1, Invoke, "read"),
        ]));
        assert_eq!(line, 30);
        assert!(msg.contains("crashed (info) at line 20"), "{msg}");
    }

    #[test]
    fn nemesis_ops_are_exempt() {
        let h = History::from_ops(vec![
            op(0, Process::Nemesis, Info, "start"),
            op(1, Process::Nemesis, Info, "start"),
            op(2, Process::Nemesis, Invoke, "stop"),
        ]);
        check_well_formed(&h, Path::new("h")).unwrap();
    }

    #[test]
    fn duplicate_indexes_are_refused() {
        let mut h = history(&[(1, Invoke, "read"), (1, Ok, "read")]);
        h.ops[1].index = 0;
        let (line, msg) = error(&h);
        assert_eq!(line, 20);
        assert!(
            msg.contains("index 0 does not follow index 0 at line 10"),
            "{msg}"
        );
    }

    fn valued(ops: &[(u64, OpType, &str, Value)]) -> History {
        let ops: Vec<Op> = ops
            .iter()
            .enumerate()
            .map(|(i, (p, k, f, v))| Op {
                index: i as u64,
                ..Op::new(Process::Client(*p), *k, f, v.clone())
            })
            .collect();
        let lines = (1..=ops.len()).map(|n| n as u32 * 10).collect();
        History { ops, lines }
    }

    #[test]
    fn a_write_completed_with_another_value_names_both_lines() {
        let (line, msg) = error(&valued(&[
            (1, Invoke, "write", Value::Int(3)),
            (1, Ok, "write", Value::Int(4)),
        ]));
        assert_eq!(line, 20);
        assert_eq!(
            msg,
            "ok of write 4 at line 20 by process 1 completes the invoke of write 3 at line 10: \
             a write completes with the value it was invoked with"
        );
    }

    #[test]
    fn a_cas_completed_with_another_pair_is_refused() {
        let pair = |a, b| Value::Vector(vec![Value::Int(a), Value::Int(b)].into());
        let (line, msg) = error(&valued(&[
            (1, Invoke, "cas", pair(1, 2)),
            (1, Ok, "cas", pair(1, 3)),
        ]));
        assert_eq!(line, 20);
        assert!(msg.contains("invoke of cas [1 2] at line 10"), "{msg}");
    }

    #[test]
    fn a_write_with_nil_on_either_side_or_the_same_value_is_well_formed() {
        let h = valued(&[
            (1, Invoke, "write", Value::Int(3)),
            (1, Ok, "write", Value::Nil),
            (1, Invoke, "write", Value::Int(5)),
            (1, Ok, "write", Value::Int(5)),
            // A failed or crashed write's value is not used: not compared.
            (1, Invoke, "write", Value::Int(6)),
            (1, Fail, "write", Value::Int(7)),
            (1, Invoke, "write", Value::Int(8)),
            (1, Info, "write", Value::Int(9)),
            // An invoke without a value leaves the argument to the completion.
            (2, Invoke, "write", Value::Nil),
            (2, Ok, "write", Value::Int(10)),
        ]);
        check_well_formed(&h, Path::new("h")).unwrap();
    }

    #[test]
    fn a_read_completes_with_its_result_whatever_its_invoke_said() {
        let h = valued(&[
            (1, Invoke, "read", Value::Int(3)),
            (1, Ok, "read", Value::Int(4)),
        ]);
        check_well_formed(&h, Path::new("h")).unwrap();
    }

    #[test]
    fn a_history_without_lines_reports_positions() {
        let h = History::from_ops(vec![op(0, Process::Client(1), Ok, "read")]);
        assert_eq!(error(&h).0, 1);
    }
}
