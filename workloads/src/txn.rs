//! What the transactional workloads share (Elle's `list-append` and `rw-register`): the
//! micro-ops a transaction is made of, the capability a datastore's client needs to run them
//! ([`TxnClient`]), the generator of transactions over a small rotating set of keys, and the
//! check of the history by the Elle-style checker.
//!
//! # The history
//! Every operation is `"f": "txn"`, its value a list of micro-ops exactly as
//! `faultline check --workload` and Elle read them: `["append", 3, 17]` and `["r", 3, null]`
//! on invoke, the read filled in on `ok` (`["r", 3, [4, 17]]` for a list, `["r", 3, 9]` or
//! `["r", 3, null]` for a register). A transaction that certainly did not commit (a
//! serialization failure, a refused command) completes `fail` with its invoke's micro-ops; one
//! whose commit may have happened (a connection lost while committing, a timeout) completes
//! `info`, and the checker then treats its writes as possibly visible and its reads as unknown.
//!
//! # The generator (after Elle's `elle.txn/wr-txns`)
//! A transaction has 1 to `max_txn_length` micro-ops, each a read or a write with equal odds,
//! each on one of `key_count` active keys chosen uniformly. A key takes `max_writes_per_key`
//! writes, then retires for a fresh one: lists stay short (so reads and the checker stay cheap)
//! and every key starts from the empty state, which is what lets the checker infer version
//! orders of registers. Few active keys and many workers give the contention that isolation
//! anomalies need. Written values are unique over the whole run (a counter), so every read
//! names the writes it saw. Elle can also draw keys from an exponential distribution, so that
//! some are hot and some go through many versions; uniform keeps the generator plain, and
//! `--key-count` sets the contention directly.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use faultline_checkers::elle::{self, models, ElleOptions, Inference};
use faultline_checkers::history::{Format, ReadOptions, Value};
use faultline_checkers::Verdict;

use crate::generator::Rng;
use crate::workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions,
};
use crate::{ClientError, Completion, Invocation};

pub use elle::Workload as TxnKind;

/// The operation name of every transaction in the history.
pub const F: &str = "txn";

/// The models a history is checked against unless `--consistency-models` says otherwise:
/// what a datastore that promises serializable transactions must satisfy.
pub const DEFAULT_MODELS: &[&str] = &["serializable"];

/// One micro-operation of a transaction, as the client performs it. Reads are filled in by
/// the client with what they saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    /// list-append: append `element` to the list at `key`.
    Append { key: u64, element: i64 },
    /// list-append: read the whole list at `key` (empty when it does not exist).
    ReadList { key: u64, list: Vec<i64> },
    /// rw-register: set `key` to `value`.
    Write { key: u64, value: i64 },
    /// rw-register: read `key` (`None` when it was never written).
    ReadRegister { key: u64, value: Option<i64> },
}

impl MicroOp {
    pub fn key(&self) -> u64 {
        match *self {
            MicroOp::Append { key, .. }
            | MicroOp::ReadList { key, .. }
            | MicroOp::Write { key, .. }
            | MicroOp::ReadRegister { key, .. } => key,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(
            self,
            MicroOp::ReadList { .. } | MicroOp::ReadRegister { .. }
        )
    }

    /// The micro-op as the history writes it: `["append", k, v]`, `["r", k, [..]]`, ...
    pub fn to_value(&self) -> Value {
        let (f, key, v) = match self {
            MicroOp::Append { key, element } => ("append", key, Value::Int(*element)),
            MicroOp::ReadList { key, list } => (
                "r",
                key,
                Value::Vector(list.iter().map(|e| Value::Int(*e)).collect()),
            ),
            MicroOp::Write { key, value } => ("w", key, Value::Int(*value)),
            MicroOp::ReadRegister { key, value } => {
                ("r", key, value.map_or(Value::Nil, Value::Int))
            }
        };
        Value::Vector(vec![Value::Str(f.into()), Value::Int(*key as i64), v].into())
    }
}

/// What the transactional workloads need from a datastore's client: run micro-ops as one
/// transaction.
pub trait TxnClient: Send + Sync {
    /// Runs `txn` as one transaction, in order, filling in each read with what it saw. `Ok`:
    /// committed. `Definite`: certainly not committed (none of its writes will ever be seen).
    /// `Indefinite`: it may have committed.
    fn transact(&self, txn: &mut [MicroOp])
        -> impl Future<Output = Result<(), ClientError>> + Send;
}

/// A datastore's transaction client as the run's [`Client`] for workload `kind`.
pub fn client<C: TxnClient + 'static>(c: C, kind: TxnKind) -> Box<dyn Client> {
    Box::new(Transactions { client: c, kind })
}

struct Transactions<C> {
    client: C,
    kind: TxnKind,
}

impl<C: TxnClient> Client for Transactions<C> {
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(invoke(&self.client, self.kind, op))
    }
}

/// Reads the micro-ops of an invocation's value (as this module's generator writes them).
pub fn decode(kind: TxnKind, value: &Value) -> Result<Vec<MicroOp>, String> {
    let Value::Vector(items) = value else {
        return Err(format!("a transaction is a list of micro-ops, not {value}"));
    };
    items
        .iter()
        .map(|item| {
            let parts = match item {
                Value::Vector(p) if p.len() == 3 => p,
                _ => return Err(format!("a micro-op is [f key value], not {item}")),
            };
            let key = parts[1]
                .as_int()
                .and_then(|k| u64::try_from(k).ok())
                .ok_or_else(|| format!("{item}: a key is a whole number"))?;
            let int = || {
                parts[2]
                    .as_int()
                    .ok_or_else(|| format!("{item}: the value is an integer"))
            };
            match (kind, parts[0].as_str()) {
                (TxnKind::ListAppend, Some("append")) => Ok(MicroOp::Append {
                    key,
                    element: int()?,
                }),
                (TxnKind::ListAppend, Some("r")) => Ok(MicroOp::ReadList {
                    key,
                    list: Vec::new(),
                }),
                (TxnKind::RwRegister, Some("w")) => Ok(MicroOp::Write { key, value: int()? }),
                (TxnKind::RwRegister, Some("r")) => Ok(MicroOp::ReadRegister { key, value: None }),
                _ => Err(format!("{item}: not a micro-op of {}", kind.name())),
            }
        })
        .collect()
}

/// Performs a transaction and says how it ended: `ok` with every read filled in; `fail` when
/// it certainly did not commit, and also for any error of a transaction that only reads (it
/// changed nothing); `info` when a writing transaction may have committed.
pub async fn invoke<C: TxnClient>(
    client: &C,
    kind: TxnKind,
    invocation: &Invocation,
) -> Completion {
    let mut mops = match decode(kind, &invocation.value) {
        Ok(m) => m,
        Err(e) => {
            return Completion::Fail(format!("the {} workload cannot run it: {e}", kind.name()))
        }
    };
    let read_only = mops.iter().all(MicroOp::is_read);
    match client.transact(&mut mops).await {
        Ok(()) => Completion::Ok(Value::Vector(mops.iter().map(MicroOp::to_value).collect())),
        Err(ClientError::Definite(why)) => Completion::Fail(why),
        Err(ClientError::Indefinite(why)) if read_only => Completion::Fail(why),
        Err(ClientError::Indefinite(why)) => Completion::Info(why),
    }
}

/// The options of a transactional workload, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnOptions {
    /// The workload's name in the registry (`list-append`, `rw-register`).
    pub name: &'static str,
    pub kind: TxnKind,
    pub seed: u64,
    pub key_count: u64,
    pub max_txn_length: u64,
    pub max_writes_per_key: u64,
    /// Canonical names of the models the history must satisfy.
    pub models: Vec<&'static str>,
}

impl TxnOptions {
    /// Checks the run's options for workload `name`, of `kind`.
    pub fn new(
        name: &'static str,
        kind: TxnKind,
        o: &WorkloadOptions,
    ) -> Result<TxnOptions, String> {
        for (flag, v) in [
            ("--key-count", o.key_count),
            ("--max-txn-length", o.max_txn_length),
            ("--max-writes-per-key", o.max_writes_per_key),
        ] {
            if v == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if o.key_count > 100_000 {
            return Err(format!("--key-count {}: at most 100000", o.key_count));
        }
        if o.max_txn_length > 1000 {
            return Err(format!(
                "--max-txn-length {}: at most 1000 micro-ops",
                o.max_txn_length
            ));
        }
        if o.mix.is_some() {
            return Err(format!(
                "--mix does not apply to {}: its transactions mix reads and writes equally",
                kind.name()
            ));
        }
        let given: Vec<&str> = if o.consistency_models.is_empty() {
            DEFAULT_MODELS.to_vec()
        } else {
            o.consistency_models.iter().map(String::as_str).collect()
        };
        let mut models_checked = Vec::new();
        for m in given {
            let c = models::canonical(m.trim()).ok_or_else(|| {
                format!(
                    "--consistency-models: unknown model `{m}`; known models: {}",
                    models::known_models().join(", ")
                )
            })?;
            if !models_checked.contains(&c) {
                models_checked.push(c);
            }
        }
        Ok(TxnOptions {
            name,
            kind,
            seed: o.seed,
            key_count: o.key_count,
            max_txn_length: o.max_txn_length,
            max_writes_per_key: o.max_writes_per_key,
            models: models_checked,
        })
    }
}

/// Both transactional workloads are their checked options: what differs between them is the
/// kind of micro-op, which every part below already follows.
impl Workload for TxnOptions {
    fn name(&self) -> &str {
        self.name
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(TxnGenerator::new(self))
    }

    fn observation(&self) -> Observation {
        Observation {
            observe: &[F],
            change: &[F],
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "checker": elle::CHECKER,
            "consistency_models": self.models,
            "key_count": self.key_count,
            "max_txn_length": self.max_txn_length,
            "max_writes_per_key": self.max_writes_per_key,
        })
    }

    /// Checks the history file with the Elle-style checker against the models.
    fn check(&self, history: &Path, limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let read = ReadOptions {
            format: Some(Format::Jsonl),
            ..Default::default()
        };
        let options = ElleOptions {
            workload: self.kind,
            consistency_models: self.models.iter().map(|m| m.to_string()).collect(),
            inference: Inference::default(),
            time_limit: limits.time_limit,
            memory_limit: Some(limits.memory_limit),
        };
        let verdict = elle::check_file(history, &read, &options).map_err(|e| match e {
            elle::ElleError::Malformed { .. } | elle::ElleError::Read(_) => {
                CheckFailure(e.to_string())
            }
            other => CheckFailure(format!("{}: {other}", history.display())),
        })?;
        Ok(vec![verdict])
    }
}

/// Generates transactions over a rotating pool of keys (see the module documentation).
#[derive(Debug, Clone)]
pub struct TxnGenerator {
    kind: TxnKind,
    rng: Rng,
    max_txn_length: u64,
    max_writes_per_key: u64,
    /// The active keys and the writes each has been given.
    active: Vec<(u64, u64)>,
    next_key: u64,
    next_value: i64,
    f: Arc<str>,
}

impl TxnGenerator {
    pub fn new(o: &TxnOptions) -> TxnGenerator {
        TxnGenerator {
            kind: o.kind,
            rng: Rng::new(o.seed),
            max_txn_length: o.max_txn_length,
            max_writes_per_key: o.max_writes_per_key,
            active: (0..o.key_count).map(|k| (k, 0)).collect(),
            next_key: o.key_count,
            next_value: 1,
            f: Arc::from(F),
        }
    }

    /// The next transaction's micro-ops, reads not yet performed.
    pub fn next_txn(&mut self) -> Vec<MicroOp> {
        let len = 1 + self.rng.below(self.max_txn_length);
        (0..len)
            .map(|_| {
                let write = self.rng.below(2) == 0;
                let slot = self.rng.below(self.active.len() as u64) as usize;
                let key = self.active[slot].0;
                if !write {
                    return match self.kind {
                        TxnKind::ListAppend => MicroOp::ReadList {
                            key,
                            list: Vec::new(),
                        },
                        TxnKind::RwRegister => MicroOp::ReadRegister { key, value: None },
                    };
                }
                self.active[slot].1 += 1;
                if self.active[slot].1 >= self.max_writes_per_key {
                    self.active[slot] = (self.next_key, 0);
                    self.next_key += 1;
                }
                let v = self.next_value;
                self.next_value += 1;
                match self.kind {
                    TxnKind::ListAppend => MicroOp::Append { key, element: v },
                    TxnKind::RwRegister => MicroOp::Write { key, value: v },
                }
            })
            .collect()
    }

    /// The keys in use now: those the final read looks at.
    pub fn active_keys(&self) -> Vec<u64> {
        let mut keys: Vec<u64> = self.active.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        keys
    }

    fn invocation(&self, mops: &[MicroOp]) -> Invocation {
        Invocation {
            f: self.f.clone(),
            key: None,
            value: Value::Vector(mops.iter().map(invoke_value).collect()),
        }
    }
}

/// A micro-op as an invoke writes it: reads as `["r", k, null]`.
fn invoke_value(m: &MicroOp) -> Value {
    match m {
        MicroOp::ReadList { key, .. } | MicroOp::ReadRegister { key, .. } => {
            Value::Vector(vec![Value::Str("r".into()), Value::Int(*key as i64), Value::Nil].into())
        }
        other => other.to_value(),
    }
}

impl Generator for TxnGenerator {
    fn next(&mut self) -> Option<Invocation> {
        let mops = self.next_txn();
        Some(self.invocation(&mops))
    }

    /// One transaction reading every active key, answered by the first node that can.
    fn final_reads(&self) -> Vec<FinalReads> {
        let reads: Vec<MicroOp> = self
            .active_keys()
            .into_iter()
            .map(|key| match self.kind {
                TxnKind::ListAppend => MicroOp::ReadList {
                    key,
                    list: Vec::new(),
                },
                TxnKind::RwRegister => MicroOp::ReadRegister { key, value: None },
            })
            .collect();
        vec![FinalReads {
            ops: vec![self.invocation(&reads)],
            on: FinalNodes::FirstAnswer,
            part: None,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(kind: TxnKind, f: impl FnOnce(&mut WorkloadOptions)) -> Result<TxnOptions, String> {
        let mut o = WorkloadOptions::default();
        f(&mut o);
        TxnOptions::new("txn", kind, &o)
    }

    #[test]
    fn transactions_are_one_to_max_micro_ops_over_the_active_keys() {
        let o = options(TxnKind::ListAppend, |o| {
            o.key_count = 3;
            o.max_txn_length = 4;
            o.max_writes_per_key = 1000;
        })
        .unwrap();
        let mut g = TxnGenerator::new(&o);
        let mut lengths = std::collections::BTreeSet::new();
        let mut elements = std::collections::HashSet::new();
        for _ in 0..500 {
            let txn = g.next_txn();
            lengths.insert(txn.len());
            for m in &txn {
                assert!(m.key() < 3, "{m:?}");
                if let MicroOp::Append { element, .. } = m {
                    assert!(elements.insert(*element), "{element} twice");
                }
            }
        }
        assert_eq!(lengths, (1..=4).collect());
    }

    #[test]
    fn a_key_retires_after_its_writes_for_a_fresh_one() {
        let o = options(TxnKind::RwRegister, |o| {
            o.key_count = 2;
            o.max_writes_per_key = 3;
        })
        .unwrap();
        let mut g = TxnGenerator::new(&o);
        let mut writes = std::collections::HashMap::<u64, u64>::new();
        for _ in 0..300 {
            for m in g.next_txn() {
                if let MicroOp::Write { key, .. } = m {
                    *writes.entry(key).or_default() += 1;
                }
            }
        }
        assert!(writes.values().all(|n| *n <= 3), "{writes:?}");
        assert!(writes.len() > 20, "keys rotate: {}", writes.len());
        let live = g.active_keys();
        assert_eq!(live.len(), 2);
        assert!(live.iter().all(|k| *k >= 2), "{live:?}");
    }

    #[test]
    fn the_history_value_is_what_the_elle_checker_reads() {
        let mops = [
            MicroOp::Append { key: 3, element: 7 },
            MicroOp::ReadList {
                key: 3,
                list: vec![1, 7],
            },
        ];
        let v = Value::Vector(mops.iter().map(MicroOp::to_value).collect());
        assert_eq!(v.to_string(), r#"[["append" 3 7] ["r" 3 [1 7]]]"#);
        let invoked = Value::Vector(mops.iter().map(invoke_value).collect());
        assert_eq!(invoked.to_string(), r#"[["append" 3 7] ["r" 3 nil]]"#);
        let back = decode(TxnKind::ListAppend, &invoked).unwrap();
        assert_eq!(back[0], mops[0]);
        assert!(decode(TxnKind::RwRegister, &invoked).is_err());
    }

    #[test]
    fn bad_options_are_refused() {
        let e = options(TxnKind::ListAppend, |o| o.key_count = 0).unwrap_err();
        assert!(e.contains("--key-count"), "{e}");
        let e = options(TxnKind::ListAppend, |o| {
            o.consistency_models = vec!["serialisable".into()]
        })
        .unwrap_err();
        assert!(e.contains("unknown model"), "{e}");
        let e = options(TxnKind::ListAppend, |o| o.mix = Some("1,1".into())).unwrap_err();
        assert!(e.contains("--mix"), "{e}");
        let o = options(TxnKind::ListAppend, |o| {
            o.consistency_models = vec!["PL-SI".into(), "serializable".into()]
        })
        .unwrap();
        assert_eq!(o.models, vec!["snapshot-isolation", "serializable"]);
    }

    /// A transaction that fails before committing is `fail`, one lost while committing `info`,
    /// unless it only read.
    #[test]
    fn errors_become_fail_or_info() {
        struct Failing(ClientError);
        impl TxnClient for Failing {
            async fn transact(&self, _: &mut [MicroOp]) -> Result<(), ClientError> {
                Err(self.0.clone())
            }
        }
        let run = |e: ClientError, value: &str| {
            let inv = Invocation {
                f: Arc::from(F),
                key: None,
                value: faultline_checkers::history::edn::parse_value(value).unwrap(),
            };
            block_on(invoke(&Failing(e), TxnKind::ListAppend, &inv))
        };
        let lost = ClientError::Indefinite("lost".into());
        assert!(matches!(
            run(lost.clone(), "[[\"append\" 1 2]]"),
            Completion::Info(_)
        ));
        assert!(matches!(run(lost, "[[\"r\" 1 nil]]"), Completion::Fail(_)));
        let aborted = ClientError::Definite("40001".into());
        assert!(matches!(
            run(aborted, "[[\"append\" 1 2]]"),
            Completion::Fail(_)
        ));
    }

    /// A serial store running the generator's transactions one at a time: the history it
    /// records checks valid under strict serializability. Pins that the generator's values
    /// are what the checker reads.
    #[test]
    fn a_serial_execution_of_generated_transactions_checks_valid() {
        use faultline_checkers::history::{write_jsonl_op, Op, OpType, Process};
        for kind in [TxnKind::ListAppend, TxnKind::RwRegister] {
            let o = options(kind, |o| {
                o.key_count = 3;
                o.max_writes_per_key = 5;
                o.consistency_models = vec!["strict-serializable".into()];
            })
            .unwrap();
            let mut g = TxnGenerator::new(&o);
            let mut store: std::collections::HashMap<u64, Vec<i64>> = Default::default();
            let dir = std::env::temp_dir().join(format!(
                "faultline-txn-{}-{}",
                kind.name(),
                std::process::id()
            ));
            let mut text = Vec::new();
            let mut index = 0;
            for i in 0..300u64 {
                let mut mops = g.next_txn();
                let invoke = Value::Vector(mops.iter().map(invoke_value).collect());
                for m in mops.iter_mut() {
                    let list = store.entry(m.key()).or_default();
                    match m {
                        MicroOp::Append { element, .. } => list.push(*element),
                        MicroOp::Write { value, .. } => list.push(*value),
                        MicroOp::ReadList { list: seen, .. } => *seen = list.clone(),
                        MicroOp::ReadRegister { value, .. } => *value = list.last().copied(),
                    }
                }
                let done = Value::Vector(mops.iter().map(MicroOp::to_value).collect());
                for (kind, value) in [(OpType::Invoke, invoke), (OpType::Ok, done)] {
                    let op = Op {
                        index,
                        time: Some(index as i64),
                        ..Op::new(Process::Client(i % 4), kind, F, value)
                    };
                    index += 1;
                    write_jsonl_op(&op, &mut text).unwrap();
                }
            }
            std::fs::write(&dir, &text).unwrap();
            let verdicts = o.check(&dir, &CheckLimits::default()).unwrap();
            assert_eq!(
                verdicts[0].valid,
                faultline_checkers::Validity::Valid,
                "{}: {}",
                kind.name(),
                verdicts[0].summary
            );
            std::fs::remove_file(&dir).ok();
        }
    }

    /// Polls a future that never waits (the test clients answer at once).
    fn block_on<F: Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
        fn noop(_: *const ()) {}
        fn clone(p: *const ()) -> RawWaker {
            RawWaker::new(p, &VTABLE)
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: the vtable's functions do nothing with the pointer.
        let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the test client waited"),
        }
    }
}
