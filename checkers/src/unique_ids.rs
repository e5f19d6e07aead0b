//! The unique-ids checker (Jepsen's `unique-ids`): clients ask the datastore for ids; no id may
//! be handed out twice.
//!
//! Only acknowledged ids count: an id is known only from an `ok`. An id returned to two
//! operations is *duplicated*, the anomaly a failover that forgets issued ids produces (a new
//! primary that never saw the old one's last increments issues them again).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::history::{History, OpType};
use crate::verdict::{Anomaly, Validity, Verdict};

/// The checker's name in verdicts.
pub const CHECKER: &str = "unique-ids";

/// Duplicated ids explained in a verdict, beyond which they are only counted.
const KEPT: usize = 100;

/// An id handed out more than once, and the invokes that got it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub id: String,
    pub ops: Vec<u64>,
}

/// What the unique-ids checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniqueIdsResult {
    pub valid: Validity,
    pub attempted: u64,
    pub acknowledged: u64,
    pub duplicated: Vec<Duplicate>,
    /// The smallest and largest integer ids, when ids are integers.
    pub range: Option<(i64, i64)>,
}

/// Checks a history of `generate` operations whose ok value is the id.
pub fn check(history: &History) -> UniqueIdsResult {
    let mut invoked: HashMap<_, u64> = HashMap::new();
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let (mut attempted, mut acknowledged) = (0, 0);
    let mut range: Option<(i64, i64)> = None;
    for op in history.ops.iter().filter(|o| &*o.f == "generate") {
        if op.process.is_nemesis() {
            continue;
        }
        match op.kind {
            OpType::Invoke => {
                attempted += 1;
                invoked.insert(op.process, op.index);
            }
            OpType::Ok => {
                let Some(index) = invoked.remove(&op.process) else {
                    continue;
                };
                acknowledged += 1;
                if let Some(i) = op.value.as_int() {
                    range = Some(range.map_or((i, i), |(lo, hi)| (lo.min(i), hi.max(i))));
                }
                seen.entry(op.value.to_string()).or_default().push(index);
            }
            _ => {
                invoked.remove(&op.process);
            }
        }
    }
    let mut duplicated: Vec<Duplicate> = seen
        .into_iter()
        .filter(|(_, ops)| ops.len() > 1)
        .map(|(id, ops)| Duplicate { id, ops })
        .collect();
    duplicated.sort_by_key(|d| d.ops[0]);
    UniqueIdsResult {
        valid: if duplicated.is_empty() {
            Validity::Valid
        } else {
            Validity::Invalid
        },
        attempted,
        acknowledged,
        duplicated,
        range,
    }
}

impl UniqueIdsResult {
    /// The result as a neutral verdict.
    pub fn to_verdict(&self) -> Verdict {
        let mut v = Verdict::new(CHECKER, "unique ids");
        v.valid = self.valid;
        v.summary = format!(
            "{} ids acknowledged of {} attempted, {} handed out more than once{}",
            self.acknowledged,
            self.attempted,
            self.duplicated.len(),
            self.range
                .map(|(lo, hi)| format!("; ids from {lo} to {hi}"))
                .unwrap_or_default()
        );
        v.counts.insert("attempted".into(), self.attempted);
        v.counts.insert("acknowledged".into(), self.acknowledged);
        v.counts
            .insert("duplicated".into(), self.duplicated.len() as u64);
        for d in self.duplicated.iter().take(KEPT) {
            v.anomalies.push(Anomaly {
                kind: "duplicated".into(),
                key: None,
                explanation: vec![format!(
                    "id {} was returned to {} operations (invoked at indexes {})",
                    d.id,
                    d.ops.len(),
                    d.ops
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
                ops: d.ops.clone(),
            });
        }
        v.detail = serde_json::json!({
            "duplicated": self.duplicated.iter().take(KEPT).collect::<Vec<_>>(),
            "range": self.range,
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process, Value};
    use OpType::*;

    fn history(events: &[(u64, OpType, Value)]) -> History {
        History::from_ops(
            events
                .iter()
                .enumerate()
                .map(|(i, (p, kind, value))| Op {
                    index: i as u64,
                    ..Op::new(Process::Client(*p), *kind, "generate", value.clone())
                })
                .collect(),
        )
    }

    #[test]
    fn distinct_ids_are_valid_and_failed_or_unknown_calls_count_as_attempts() {
        let h = history(&[
            (0, Invoke, Value::Nil),
            (0, Ok, Value::Int(1)),
            (1, Invoke, Value::Nil),
            (1, Info, Value::Nil),
            (2, Invoke, Value::Nil),
            (2, Ok, Value::Int(7)),
        ]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!((r.attempted, r.acknowledged), (3, 2));
        assert_eq!(r.range, Some((1, 7)));
    }

    #[test]
    fn an_id_returned_twice_is_duplicated_naming_both_operations() {
        let h = history(&[
            (0, Invoke, Value::Nil),
            (0, Ok, Value::Int(5)),
            (1, Invoke, Value::Nil),
            (1, Ok, Value::Int(5)),
        ]);
        let v = check(&h).to_verdict();
        assert_eq!(v.valid, Validity::Invalid);
        assert_eq!(v.anomalies[0].ops, vec![0, 2]);
        assert!(v.anomalies[0].explanation[0].contains("id 5 was returned to 2"));
    }
}
