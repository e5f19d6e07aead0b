//! The linearizability checker's findings as a neutral [`Verdict`]: one `nonlinearizable`
//! anomaly per invalid key, explained in words, with the per-key reports (witnesses included)
//! kept whole in `detail` for the pages that draw them.

use serde_json::json;

use super::{Analysis, PartReport, Validity, CANCELLED};
use crate::verdict::{Anomaly, Verdict};

/// The name under which this checker's verdicts are stored; the report's anomaly pages that
/// draw a witness are chosen by it.
pub const CHECKER: &str = "linearizable";

/// How many linearized and pending operations an explanation lists.
const SHOWN: usize = 8;

impl Analysis {
    /// This analysis as a neutral verdict, `model` being the model checked against.
    pub fn to_verdict(&self, model: &str) -> Verdict {
        let mut v = Verdict::new(CHECKER, model);
        v.valid = self.valid;
        let count = |valid: Validity| self.parts.iter().filter(|p| p.valid == valid).count();
        let (invalid, unknown) = (count(Validity::Invalid), count(Validity::Unknown));
        let cancelled = self
            .parts
            .iter()
            .filter(|p| p.cause.as_deref() == Some(CANCELLED))
            .count();
        v.counts.insert("keys".into(), self.parts.len() as u64);
        v.counts.insert("calls".into(), self.calls as u64);
        v.counts.insert("invalid_keys".into(), invalid as u64);
        v.counts.insert("unknown_keys".into(), unknown as u64);
        v.summary = match (invalid, unknown) {
            (0, 0) => format!(
                "{} calls over {} key(s) linearize as a {model}",
                self.calls,
                self.parts.len()
            ),
            (0, u) => format!("{u} of {} key(s) could not be decided", self.parts.len()),
            (i, _) => format!("{i} of {} key(s) not linearizable", self.parts.len()),
        };
        for p in self.parts.iter().filter(|p| p.valid == Validity::Invalid) {
            v.anomalies.push(anomaly(p));
        }
        for p in self.parts.iter().filter(|p| p.valid == Validity::Unknown) {
            if p.cause.as_deref() == Some(CANCELLED) {
                continue;
            }
            let key = p
                .key
                .as_deref()
                .map(|k| format!("key {k}: "))
                .unwrap_or_default();
            v.unknown_because.push(format!(
                "{key}{}",
                p.cause.as_deref().unwrap_or("the search did not finish")
            ));
        }
        if cancelled > 0 && self.valid == Validity::Unknown {
            v.unknown_because
                .push(format!("{cancelled} key(s) not checked to the end"));
        }
        let failures: Vec<&PartReport> = self.failures().collect();
        v.detail = json!({ "model": model, "calls": self.calls, "failures": failures });
        v
    }
}

/// The anomaly of one invalid part, explained from its witness.
fn anomaly(p: &PartReport) -> Anomaly {
    let mut explanation = Vec::new();
    let mut ops = Vec::new();
    if let Some(w) = &p.witness {
        let at = |i: Option<usize>| i.map_or("-".to_string(), |i| i.to_string());
        explanation.push(format!(
            "process {} {} (invoked at index {}, ok at index {}) cannot be linearized",
            w.op.process,
            w.op.op,
            w.op.index,
            at(w.op.completion)
        ));
        explanation.push(format!(
            "everything before index {} linearizes ({} operations on the way)",
            w.linearizable_until,
            w.linearized.len()
        ));
        for op in w.linearized.iter().rev().take(SHOWN).rev() {
            explanation.push(format!(
                "  linearized: process {} {} (index {})",
                op.process, op.op, op.index
            ));
        }
        for op in w.concurrent.iter().take(SHOWN) {
            explanation.push(format!(
                "  pending: process {} {} (index {}{})",
                op.process,
                op.op,
                op.index,
                if op.completion.is_some() {
                    ""
                } else {
                    ", outcome unknown"
                }
            ));
        }
        explanation.push(format!("model states reached: {}", w.states.join("; ")));
        explanation.extend(w.explanations.iter().take(2 * SHOWN).cloned());
        ops.push(w.op.index as u64);
        ops.extend(w.concurrent.iter().map(|o| o.index as u64));
    }
    Anomaly {
        kind: "nonlinearizable".into(),
        key: p.key.clone(),
        explanation,
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Op, OpType, Process, Value};
    use crate::linear::{check_by_name, CheckOptions};

    fn op(index: u64, process: u64, kind: OpType, f: &str, value: Value) -> Op {
        let mut o = Op::new(Process::Client(process), kind, f, value);
        o.index = index;
        o.key = Some(Value::Str("k1".into()));
        o
    }

    #[test]
    fn a_stale_read_becomes_one_nonlinearizable_anomaly_with_its_witness() {
        let h = History::from_ops(vec![
            op(0, 0, OpType::Invoke, "write", Value::Int(1)),
            op(1, 0, OpType::Ok, "write", Value::Int(1)),
            op(2, 1, OpType::Invoke, "read", Value::Nil),
            op(3, 1, OpType::Ok, "read", Value::Nil),
        ]);
        let a = check_by_name(
            &h,
            "cas-register",
            Default::default(),
            &CheckOptions::default(),
            None,
        )
        .unwrap();
        let v = a.to_verdict("cas-register");
        assert_eq!(v.valid, Validity::Invalid);
        assert_eq!(v.anomaly_kinds(), vec!["nonlinearizable"]);
        assert_eq!(v.anomalies[0].key.as_deref(), Some("\"k1\""));
        assert_eq!(v.anomalies[0].ops[0], 2);
        assert!(v.anomalies[0].explanation[0].contains("cannot be linearized"));
        assert_eq!(v.counts["invalid_keys"], 1);
        assert!(v.detail["failures"][0]["witness"].is_object());
    }
}
