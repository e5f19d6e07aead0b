//! The counter checker (Jepsen's `counter`): clients add to one counter and read it; every read
//! must lie within what the adds allow at the time.
//!
//! Walking the history in order, two running sums bound the counter's value:
//! - `lower`: the acknowledged adds, each counted from its `ok` (it certainly happened by then),
//!   plus the negative adds from their invoke (they may have happened from then on);
//! - `upper`: the positive adds from their invoke (they may have happened), plus the negative
//!   ones from their `ok`.
//!
//! A `fail` takes its add back out of both; an add that ended `info` or never completed stays
//! possible to the end. A read may take effect at any moment between its invoke and its
//! completion, so it is correct when `min(lower) <= value <= max(upper)` over that interval.
//! That is sound (every value outside is impossible: no choice of which indefinite adds happened
//! and of linearization points inside the intervals produces it) and, for increments only,
//! exactly Jepsen's check, whose bounds are `lower` at the read's invoke and `upper` at its
//! completion. A read below its bounds missed acknowledged adds (stale, or the adds were lost);
//! one above saw adds nobody made.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::history::{History, OpType, Process};
use crate::verdict::{Anomaly, Validity, Verdict};

/// The checker's name in verdicts.
pub const CHECKER: &str = "counter";

/// Anomalies kept in a verdict, beyond which they are only counted.
const KEPT: usize = 100;

/// A read outside its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadRead {
    /// The read's invoke index.
    pub index: u64,
    pub value: i64,
    pub lower: i64,
    pub upper: i64,
    /// When the read began, ns since the test started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// One read for the plot: when, what it saw, and its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadPoint {
    pub time: i64,
    pub value: i64,
    pub lower: i64,
    pub upper: i64,
}

/// What the counter checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterResult {
    pub valid: Validity,
    pub reads: u64,
    pub acknowledged_adds: u64,
    pub failed_adds: u64,
    pub indefinite_adds: u64,
    /// The sum of acknowledged adds, and of every add that may have happened.
    pub acknowledged_total: i64,
    pub possible_total: i64,
    /// The last ok read's value, if any.
    pub last_read: Option<i64>,
    /// Reads outside their bounds, in history order.
    pub errors: Vec<BadRead>,
    /// Every ok read with its bounds (for the plot).
    pub points: Vec<ReadPoint>,
    /// Operations the checker could not read, as "line: why".
    pub malformed: Vec<String>,
}

struct OpenRead {
    index: u64,
    time: Option<i64>,
    lower: i64,
    upper: i64,
}

/// Checks a counter history: `add` operations whose value is the (integer) amount, `read`
/// operations whose ok value is the counter. `initial` is the counter's value before the test.
pub fn check(history: &History, initial: i64) -> CounterResult {
    let (mut lower, mut upper) = (initial, initial);
    let mut adds: HashMap<Process, i64> = HashMap::new();
    let mut reads: HashMap<Process, OpenRead> = HashMap::new();
    let mut r = CounterResult {
        valid: Validity::Valid,
        reads: 0,
        acknowledged_adds: 0,
        failed_adds: 0,
        indefinite_adds: 0,
        acknowledged_total: initial,
        possible_total: initial,
        last_read: None,
        errors: Vec::new(),
        points: Vec::new(),
        malformed: Vec::new(),
    };
    for (i, op) in history.ops.iter().enumerate() {
        if op.process.is_nemesis() {
            continue;
        }
        match (&*op.f, op.kind) {
            ("add", OpType::Invoke) => {
                let Some(d) = op.value.as_int() else {
                    r.malformed.push(format!(
                        "line {}: an add of {}, not an integer",
                        history.line(i),
                        op.value
                    ));
                    continue;
                };
                adds.insert(op.process, d);
                if d > 0 {
                    upper += d;
                } else {
                    lower += d;
                }
            }
            ("add", OpType::Ok) => {
                if let Some(d) = adds.remove(&op.process) {
                    if d > 0 {
                        lower += d;
                    } else {
                        upper += d;
                    }
                    r.acknowledged_adds += 1;
                    r.acknowledged_total += d;
                }
            }
            ("add", OpType::Fail) => {
                if let Some(d) = adds.remove(&op.process) {
                    if d > 0 {
                        upper -= d;
                    } else {
                        lower -= d;
                    }
                    r.failed_adds += 1;
                }
            }
            ("add", OpType::Info) if adds.remove(&op.process).is_some() => {
                r.indefinite_adds += 1;
            }
            ("read", OpType::Invoke) => {
                reads.insert(
                    op.process,
                    OpenRead {
                        index: op.index,
                        time: op.time,
                        lower,
                        upper,
                    },
                );
            }
            ("read", OpType::Ok) => {
                let Some(open) = reads.remove(&op.process) else {
                    continue;
                };
                let Some(value) = op.value.as_int() else {
                    if !op.value.is_nil() {
                        r.malformed.push(format!(
                            "line {}: a read of {}, not an integer",
                            history.line(i),
                            op.value
                        ));
                    }
                    continue;
                };
                // The bounds over the read's whole interval (see the module docs).
                let (lo, hi) = (open.lower.min(lower), open.upper.max(upper));
                r.reads += 1;
                r.last_read = Some(value);
                r.points.push(ReadPoint {
                    time: open.time.unwrap_or(0),
                    value,
                    lower: lo,
                    upper: hi,
                });
                if value < lo || value > hi {
                    r.errors.push(BadRead {
                        index: open.index,
                        value,
                        lower: lo,
                        upper: hi,
                        time: open.time,
                    });
                }
            }
            ("read", _) => {
                reads.remove(&op.process);
            }
            _ => {}
        }
        // Keep each open read's interval bounds: the loosest seen while it is open.
        for open in reads.values_mut() {
            open.lower = open.lower.min(lower);
            open.upper = open.upper.max(upper);
        }
    }
    r.indefinite_adds += adds.len() as u64;
    r.possible_total = upper;
    r.valid = if !r.malformed.is_empty() {
        Validity::Unknown
    } else if r.errors.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    r
}

/// One out-of-bounds read in words.
pub fn explain(e: &BadRead) -> String {
    let why = if e.value < e.lower {
        format!(
            "it is {} short of the adds acknowledged before it began: it missed acknowledged \
             adds (a stale read, or adds lost)",
            e.lower - e.value
        )
    } else {
        format!(
            "it is {} more than every add attempted could make: it saw adds nobody made",
            e.value - e.upper
        )
    };
    format!(
        "the read invoked at index {} returned {}, but while it ran the counter could only be \
         in [{}, {}]; {why}",
        e.index, e.value, e.lower, e.upper
    )
}

impl CounterResult {
    /// The result as a neutral verdict; `detail` holds the bad reads and the plot's points.
    pub fn to_verdict(&self) -> Verdict {
        let mut v = Verdict::new(CHECKER, "counter");
        v.valid = self.valid;
        v.unknown_because = self.malformed.iter().take(10).cloned().collect();
        v.summary = format!(
            "{} reads, {} out of bounds; {} acknowledged adds (total {}), {} indefinite, {} \
             failed; last read {}",
            self.reads,
            self.errors.len(),
            self.acknowledged_adds,
            self.acknowledged_total,
            self.indefinite_adds,
            self.failed_adds,
            self.last_read.map_or("none".to_string(), |x| x.to_string())
        );
        for (name, n) in [
            ("reads", self.reads),
            ("out-of-bounds", self.errors.len() as u64),
            ("acknowledged-adds", self.acknowledged_adds),
            ("indefinite-adds", self.indefinite_adds),
            ("failed-adds", self.failed_adds),
        ] {
            v.counts.insert(name.to_string(), n);
        }
        for e in self.errors.iter().take(KEPT) {
            v.anomalies.push(Anomaly {
                kind: if e.value < e.lower {
                    "missed-adds".into()
                } else {
                    "phantom-adds".into()
                },
                key: None,
                explanation: vec![explain(e)],
                ops: vec![e.index],
            });
        }
        v.detail = serde_json::json!({
            "errors": self.errors.iter().take(KEPT).collect::<Vec<_>>(),
            "points": self.points,
            "acknowledged_total": self.acknowledged_total,
            "possible_total": self.possible_total,
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Value};

    fn history(events: &[(u64, OpType, &str, Value)]) -> History {
        let ops = events
            .iter()
            .enumerate()
            .map(|(i, (p, kind, f, value))| Op {
                index: i as u64,
                time: Some(i as i64 * 1_000_000),
                ..Op::new(Process::Client(*p), *kind, f, value.clone())
            })
            .collect();
        History::from_ops(ops)
    }

    use OpType::*;
    use Value::{Int, Nil};

    #[test]
    fn reads_within_acknowledged_and_attempted_adds_are_valid() {
        let h = history(&[
            (0, Invoke, "add", Int(2)),
            (0, Ok, "add", Int(2)),
            (1, Invoke, "add", Int(3)),
            (2, Invoke, "read", Nil),
            (2, Ok, "read", Int(5)),
            (1, Info, "add", Int(3)),
            (2, Invoke, "read", Nil),
            (2, Ok, "read", Int(2)),
        ]);
        let r = check(&h, 0);
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.errors);
        assert_eq!(r.reads, 2);
        assert_eq!(r.indefinite_adds, 1);
    }

    #[test]
    fn a_read_missing_an_acknowledged_add_is_a_lost_add() {
        let h = history(&[
            (0, Invoke, "add", Int(2)),
            (0, Ok, "add", Int(2)),
            (1, Invoke, "read", Nil),
            (1, Ok, "read", Int(0)),
        ]);
        let r = check(&h, 0);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!((r.errors[0].lower, r.errors[0].upper), (2, 2));
        let v = r.to_verdict();
        assert_eq!(v.anomalies[0].kind, "missed-adds");
        assert!(v.anomalies[0].explanation[0].contains("[2, 2]"));
    }

    #[test]
    fn a_read_above_every_attempt_is_a_phantom() {
        let h = history(&[
            (0, Invoke, "add", Int(1)),
            (0, Fail, "add", Int(1)),
            (1, Invoke, "read", Nil),
            (1, Ok, "read", Int(1)),
        ]);
        assert_eq!(check(&h, 0).to_verdict().anomalies[0].kind, "phantom-adds");
    }

    #[test]
    fn an_add_acknowledged_while_a_read_runs_may_or_may_not_be_seen() {
        // The read overlaps the add entirely: both 0 and 4 are fine, 5 is not.
        for (seen, valid) in [
            (0, Validity::Valid),
            (4, Validity::Valid),
            (5, Validity::Invalid),
        ] {
            let h = history(&[
                (1, Invoke, "read", Nil),
                (0, Invoke, "add", Int(4)),
                (0, Ok, "add", Int(4)),
                (1, Ok, "read", Int(seen)),
            ]);
            assert_eq!(check(&h, 0).valid, valid, "read {seen}");
        }
    }

    #[test]
    fn negative_adds_widen_the_lower_bound_while_pending() {
        let h = history(&[
            (0, Invoke, "add", Int(5)),
            (0, Ok, "add", Int(5)),
            (1, Invoke, "add", Int(-2)),
            (2, Invoke, "read", Nil),
            (2, Ok, "read", Int(3)),
        ]);
        assert_eq!(check(&h, 0).valid, Validity::Valid);
    }

    #[test]
    fn a_non_integer_add_makes_the_verdict_unknown_naming_the_line() {
        let h = history(&[(0, Invoke, "add", Value::Str("x".into()))]);
        let r = check(&h, 0);
        assert_eq!(r.valid, Validity::Unknown);
        assert!(r.malformed[0].contains("line"), "{:?}", r.malformed);
    }
}
