//! The workload protocol, Jepsen's `client` + `generator` + `checker` for one kind of test.
//!
//! A run knows a workload only through these traits: it asks the [`Workload`] for a
//! [`Generator`], hands each worker a [`Client`] that the datastore built for this workload,
//! issues the generator's [`FinalReads`] after healing, and has the workload check the history
//! file. The run never learns what a register or a set is; a datastore never learns what the
//! run does with the answers.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use faultline_checkers::Verdict;

use crate::{Completion, Invocation};

/// A future a trait object can return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a worker performs operations: one per worker, bound to one node, built by the datastore
/// for the workload (see each workload's capability trait, e.g. `RegisterClient`).
pub trait Client: Send + Sync {
    /// Performs `op` and says how it ended: `Ok` with its result, `Fail` when it certainly did
    /// not happen, `Info` when it may have.
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion>;
}

/// The operations of a run, drawn by every worker from one generator (behind a lock: the order
/// of calls is the order of the history's invokes).
pub trait Generator: Send {
    /// The next operation, or `None` when the workload has nothing more to do.
    fn next(&mut self) -> Option<Invocation>;

    /// The next operation of worker `worker` (from 0): a generator of several workloads gives
    /// each worker the operations of the workload it serves (see [`Workload::part_of_worker`]);
    /// any other ignores who asks.
    fn next_for(&mut self, worker: u64) -> Option<Invocation> {
        let _ = worker;
        self.next()
    }

    /// What to ask after the faults are healed and the datastore has settled: one set of reads,
    /// or one per workload when the generator combines several.
    fn final_reads(&self) -> Vec<FinalReads>;
}

/// The reads that end a run: what the datastore finally holds.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalReads {
    pub ops: Vec<Invocation>,
    pub on: FinalNodes,
    /// The workload these reads belong to when the run combines several: its client asks them
    /// and its part of the history records them. `None`: the run's one workload.
    pub part: Option<&'static str>,
}

/// Which nodes answer the final reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalNodes {
    /// Each read is asked of the nodes in turn until one answers (a register's value is one
    /// value, wherever it is read).
    FirstAnswer,
    /// Each read is asked of every node (a set read on each replica shows what each kept).
    Every,
}

/// The operations that observe the datastore and those that change it: a run in which none of
/// one kind completed ok proves nothing, whatever the checker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub observe: &'static [&'static str],
    pub change: &'static [&'static str],
}

/// The knobs of a run that workloads read. A workload ignores what does not concern it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadOptions {
    /// Every random choice derives from it.
    pub seed: u64,
    /// Workers, so that keys can be spread over them.
    pub concurrency: u64,
    /// `--mix`, the weights of the workload's operations in its own order (`None`: its default).
    pub mix: Option<String>,
    /// Operations on each key before it is retired.
    pub ops_per_key: u64,
    /// Stale set reads make the set invalid (`--set-linearizable`).
    pub set_linearizable: bool,
    /// Transactional workloads: keys in use at once (`--key-count`).
    pub key_count: u64,
    /// Transactional workloads: micro-ops per transaction, 1 to this (`--max-txn-length`).
    pub max_txn_length: u64,
    /// Transactional workloads: writes to a key before it retires (`--max-writes-per-key`).
    pub max_writes_per_key: u64,
    /// Transactional workloads: the models the history must satisfy, as Elle names them
    /// (`--consistency-models`; empty: the workload's default).
    pub consistency_models: Vec<String>,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            seed: 0,
            concurrency: 10,
            mix: None,
            ops_per_key: 100,
            set_linearizable: false,
            key_count: 10,
            max_txn_length: 4,
            max_writes_per_key: 16,
            consistency_models: Vec::new(),
        }
    }
}

/// Bounds on checking a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLimits {
    /// Give up (verdict unknown) after this long.
    pub time_limit: Option<Duration>,
    /// Give up when the checker's memory would pass this many bytes.
    pub memory_limit: usize,
}

impl Default for CheckLimits {
    fn default() -> Self {
        CheckLimits {
            time_limit: Some(Duration::from_secs(600)),
            memory_limit: 4 << 30,
        }
    }
}

/// Why a history could not be checked at all (it names the file and, where it can, the line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailure(pub String);

/// One kind of test: what the clients do and how the outcome is judged.
pub trait Workload: Send + Sync {
    /// The name on the command line and in the test's name (`register`, `set`, or
    /// `register+counter` for several at once).
    fn name(&self) -> &str;

    /// The workload worker `worker` (from 0) serves when this one combines several: the
    /// datastore builds that workload's client for it, and its operations are recorded as that
    /// workload's. `None` (the default): the worker serves this workload itself.
    fn part_of_worker(&self, worker: u64) -> Option<&'static str> {
        let _ = worker;
        None
    }

    /// A fresh generator, seeded from the options.
    fn generator(&self) -> Box<dyn Generator>;

    /// Which operations observe and which change the datastore.
    fn observation(&self) -> Observation;

    /// What the run records of this workload in `test.json` (its options, the model checked).
    fn describe(&self) -> serde_json::Value;

    /// Checks the history file (faultline JSONL) with this workload's checkers.
    fn check(&self, history: &Path, limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure>;
}

/// A workload in the registry: its name, a line of help, and how to build it from options
/// (a usage error when they make no sense for it, such as a `--mix` of the wrong length).
pub struct WorkloadSpec {
    pub name: &'static str,
    pub about: &'static str,
    pub build: fn(&WorkloadOptions) -> Result<Box<dyn Workload>, String>,
}
