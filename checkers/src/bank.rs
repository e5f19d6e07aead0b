//! The bank checker (Jepsen's `bank`): clients transfer amounts between accounts inside
//! transactions and read every balance at once; money is neither made nor destroyed.
//!
//! Each `ok` read is a snapshot of all accounts, so under snapshot isolation or stronger it must
//! show every account, each with a balance, summing to the bank's total, and (unless negative
//! balances are allowed) none below zero. A wrong total is the bank's signature anomaly: a
//! read that saw half of a transfer (read skew, a torn or lost write). Transfers themselves need
//! no checking: they are only visible through the reads.
//!
//! A read's value is a map from account to balance (EDN `{0 10, 1 12}`, JSON `{"0": 10}`) or a
//! vector of balances indexed by account.

use serde::{Deserialize, Serialize};

use crate::history::{History, OpType, Value};
use crate::verdict::{Anomaly, Validity, Verdict};

/// The checker's name in verdicts.
pub const CHECKER: &str = "bank";

/// Bad reads explained in a verdict, beyond which they are only counted.
const KEPT: usize = 100;

/// What the history must hold to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BankOptions {
    /// The accounts, as the reads name them; `None`: those of the first ok read.
    pub accounts: Option<Vec<String>>,
    /// The money in the bank; `None`: the first ok read's total.
    pub total: Option<i64>,
    /// Whether a balance may go below zero.
    pub negative_balances: bool,
}

/// Why one read is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadRead {
    /// `wrong-total`, `negative-value`, `nil-balance`, `unexpected-key` or `missing-key`.
    pub kind: String,
    /// The read's invoke index and time.
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    pub explanation: String,
}

/// One ok read's total, for the plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotalPoint {
    pub time: i64,
    pub total: i64,
    pub valid: bool,
}

/// What the bank checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankResult {
    pub valid: Validity,
    pub reads: u64,
    pub transfers_ok: u64,
    pub transfers_failed: u64,
    pub transfers_indefinite: u64,
    /// The total every read must show, and whether it was given or taken from the first read.
    pub total: Option<i64>,
    pub total_inferred: bool,
    pub errors: Vec<BadRead>,
    pub points: Vec<TotalPoint>,
    /// Reads that are not a map or vector of balances, as "line: why".
    pub malformed: Vec<String>,
}

/// `account -> balance` of a read, in the account names reads use.
fn balances(v: &Value) -> Option<Vec<(String, Option<i64>)>> {
    let name = |k: &Value| match k {
        Value::Str(s) | Value::Keyword(s) => s.to_string(),
        other => other.to_string(),
    };
    let balance = |b: &Value| match b {
        Value::Nil => Some(None),
        other => other.as_int().map(Some),
    };
    match v {
        Value::Map(entries) => entries
            .iter()
            .map(|(k, b)| Some((name(k), balance(b)?)))
            .collect(),
        Value::Vector(items) => items
            .iter()
            .enumerate()
            .map(|(i, b)| Some((i.to_string(), balance(b)?)))
            .collect(),
        _ => None,
    }
}

/// Checks a bank history against `options`.
pub fn check(history: &History, options: &BankOptions) -> BankResult {
    let mut r = BankResult {
        valid: Validity::Valid,
        reads: 0,
        transfers_ok: 0,
        transfers_failed: 0,
        transfers_indefinite: 0,
        total: options.total,
        total_inferred: false,
        errors: Vec::new(),
        points: Vec::new(),
        malformed: Vec::new(),
    };
    let mut accounts = options.accounts.clone();
    let mut invokes = std::collections::HashMap::new();
    let mut pending_transfers = std::collections::HashSet::new();
    for (i, op) in history.ops.iter().enumerate() {
        if op.process.is_nemesis() {
            continue;
        }
        match (&*op.f, op.kind) {
            ("transfer", OpType::Invoke) => {
                pending_transfers.insert(op.process);
            }
            ("transfer", kind) if pending_transfers.remove(&op.process) => match kind {
                OpType::Ok => r.transfers_ok += 1,
                OpType::Fail => r.transfers_failed += 1,
                _ => r.transfers_indefinite += 1,
            },
            ("read", OpType::Invoke) => {
                invokes.insert(op.process, (op.index, op.time));
            }
            ("read", OpType::Ok) => {
                let Some((index, time)) = invokes.remove(&op.process) else {
                    continue;
                };
                let Some(read) = balances(&op.value) else {
                    r.malformed.push(format!(
                        "line {}: a read of {}, not a map or vector of integer balances",
                        history.line(i),
                        op.value
                    ));
                    continue;
                };
                r.reads += 1;
                let known =
                    accounts.get_or_insert_with(|| read.iter().map(|(a, _)| a.clone()).collect());
                let mut bad = |kind: &str, explanation: String| {
                    r.errors.push(BadRead {
                        kind: kind.into(),
                        index,
                        time,
                        explanation: format!("the read invoked at index {index} {explanation}"),
                    })
                };
                for (a, b) in &read {
                    if !known.contains(a) {
                        bad(
                            "unexpected-key",
                            format!("shows account {a}, which the bank does not have"),
                        );
                    }
                    match b {
                        None => bad("nil-balance", format!("shows no balance for account {a}")),
                        Some(x) if *x < 0 && !options.negative_balances => bad(
                            "negative-value",
                            format!("shows account {a} at {x}, below zero"),
                        ),
                        _ => {}
                    }
                }
                for a in known.iter() {
                    if !read.iter().any(|(k, _)| k == a) {
                        bad("missing-key", format!("does not show account {a}"));
                    }
                }
                let sum: i64 = read.iter().filter_map(|(_, b)| *b).sum();
                let expected = *r.total.get_or_insert_with(|| {
                    r.total_inferred = true;
                    sum
                });
                let ok = sum == expected;
                if !ok {
                    let shown: Vec<String> = read
                        .iter()
                        .map(|(a, b)| format!("{a}: {}", b.map_or("nil".into(), |x| x.to_string())))
                        .collect();
                    r.errors.push(BadRead {
                        kind: "wrong-total".into(),
                        index,
                        time,
                        explanation: format!(
                            "the read invoked at index {index} sums to {sum}, not {expected} \
                             ({}): it saw part of a transfer, or money was lost or made",
                            shown.join(", ")
                        ),
                    });
                }
                r.points.push(TotalPoint {
                    time: time.unwrap_or(0),
                    total: sum,
                    valid: ok,
                });
            }
            ("read", _) => {
                invokes.remove(&op.process);
            }
            _ => {}
        }
    }
    r.transfers_indefinite += pending_transfers.len() as u64;
    r.valid = if !r.errors.is_empty() {
        Validity::Invalid
    } else if !r.malformed.is_empty() {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    r
}

impl BankResult {
    /// The result as a neutral verdict; `detail` holds the totals over time for the plot.
    pub fn to_verdict(&self) -> Verdict {
        let mut v = Verdict::new(CHECKER, "bank");
        v.valid = self.valid;
        v.unknown_because = self.malformed.iter().take(10).cloned().collect();
        let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
        for e in &self.errors {
            *kinds.entry(&e.kind).or_default() += 1;
        }
        v.summary = format!(
            "{} reads{}; {} transfers ok, {} failed, {} indefinite; total {}{}",
            self.reads,
            if kinds.is_empty() {
                ", all consistent".to_string()
            } else {
                kinds
                    .iter()
                    .map(|(k, n)| format!(", {n} {k}"))
                    .collect::<String>()
            },
            self.transfers_ok,
            self.transfers_failed,
            self.transfers_indefinite,
            self.total.map_or("unknown".into(), |t| t.to_string()),
            if self.total_inferred {
                " (from the first read)"
            } else {
                ""
            }
        );
        v.counts.insert("reads".into(), self.reads);
        v.counts.insert("transfers-ok".into(), self.transfers_ok);
        for (k, n) in kinds {
            v.counts.insert(k.to_string(), n);
        }
        for e in self.errors.iter().take(KEPT) {
            v.anomalies.push(Anomaly {
                kind: e.kind.clone(),
                key: None,
                explanation: vec![e.explanation.clone()],
                ops: vec![e.index],
            });
        }
        v.detail = serde_json::json!({
            "total": self.total,
            "total_inferred": self.total_inferred,
            "points": self.points,
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};
    use OpType::*;

    fn read(balances: &[i64]) -> Value {
        Value::Map(
            balances
                .iter()
                .enumerate()
                .map(|(i, b)| (Value::Int(i as i64), Value::Int(*b)))
                .collect(),
        )
    }

    fn history(events: &[(u64, OpType, &str, Value)]) -> History {
        History::from_ops(
            events
                .iter()
                .enumerate()
                .map(|(i, (p, kind, f, value))| Op {
                    index: i as u64,
                    time: Some(i as i64),
                    ..Op::new(Process::Client(*p), *kind, f, value.clone())
                })
                .collect(),
        )
    }

    fn options() -> BankOptions {
        BankOptions {
            accounts: Some(vec!["0".into(), "1".into()]),
            total: Some(20),
            negative_balances: false,
        }
    }

    #[test]
    fn reads_that_keep_the_total_are_valid() {
        let h = history(&[
            (0, Invoke, "transfer", Value::Nil),
            (1, Invoke, "read", Value::Nil),
            (1, Ok, "read", read(&[10, 10])),
            (0, Ok, "transfer", Value::Nil),
            (1, Invoke, "read", Value::Nil),
            (1, Ok, "read", read(&[7, 13])),
        ]);
        let r = check(&h, &options());
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.errors);
        assert_eq!((r.reads, r.transfers_ok), (2, 1));
    }

    #[test]
    fn a_read_of_half_a_transfer_has_the_wrong_total() {
        let h = history(&[
            (1, Invoke, "read", Value::Nil),
            (1, Ok, "read", read(&[7, 10])),
        ]);
        let v = check(&h, &options()).to_verdict();
        assert_eq!(v.valid, Validity::Invalid);
        assert_eq!(v.anomalies[0].kind, "wrong-total");
        assert!(v.anomalies[0].explanation[0].contains("sums to 17, not 20"));
    }

    #[test]
    fn negative_balances_are_anomalies_unless_allowed() {
        let h = history(&[
            (1, Invoke, "read", Value::Nil),
            (1, Ok, "read", read(&[-1, 21])),
        ]);
        assert_eq!(check(&h, &options()).errors[0].kind, "negative-value");
        let allowed = BankOptions {
            negative_balances: true,
            ..options()
        };
        assert_eq!(check(&h, &allowed).valid, Validity::Valid);
    }

    #[test]
    fn missing_and_unexpected_accounts_are_named() {
        let h = history(&[
            (1, Invoke, "read", Value::Nil),
            (
                1,
                Ok,
                "read",
                Value::Map(Box::new([
                    (Value::Int(0), Value::Int(20)),
                    (Value::Int(5), Value::Int(0)),
                ])),
            ),
        ]);
        let kinds: Vec<String> = check(&h, &options())
            .errors
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, vec!["unexpected-key", "missing-key"]);
    }

    #[test]
    fn without_a_given_total_the_first_read_sets_it() {
        let h = history(&[
            (1, Invoke, "read", Value::Nil),
            (
                1,
                Ok,
                "read",
                Value::Vector(Box::new([Value::Int(5), Value::Int(5)])),
            ),
            (1, Invoke, "read", Value::Nil),
            (
                1,
                Ok,
                "read",
                Value::Vector(Box::new([Value::Int(5), Value::Int(6)])),
            ),
        ]);
        let r = check(&h, &BankOptions::default());
        assert!(r.total_inferred);
        assert_eq!(r.errors.len(), 1);
    }
}
