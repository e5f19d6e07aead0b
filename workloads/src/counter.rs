//! The counter workload: clients add small positive amounts to one counter and read it; after
//! healing, one more read. Judged by the counter checker (Jepsen's `counter`): every read must
//! lie between the acknowledged adds and every add attempted while it ran.
//!
//! A counter shows lost updates in a number: a failover that drops acknowledged increments
//! makes later reads fall below the acknowledged sum.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use faultline_checkers::counter;
use faultline_checkers::history::{read_history, Format, ReadOptions, Value};
use faultline_checkers::Verdict;

use crate::generator::{Mix, Rng};
use crate::workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions, WorkloadSpec,
};
use crate::{ClientError, Completion, Invocation};

/// The counter workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "counter",
    about: "add to one counter and read it; reads below acknowledged or above attempted adds",
    build: |options| Ok(Box::new(CounterWorkload::new(options)?)),
};

/// The operations, in `--mix` order.
pub const OPERATIONS: &[&str] = &["add", "read"];

/// The largest amount one add adds (amounts are 1 to this, so that a lost add shows in the sum
/// and two different losses rarely cancel out).
pub const MAX_ADD: u64 = 5;

/// What the counter workload needs from a datastore's client. The client picks where the
/// counter lives (one key of its own) and treats a missing counter as 0.
pub trait CounterClient: Send + Sync {
    /// Adds `amount` to the counter, atomically.
    fn add(&self, amount: i64) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// The counter's value.
    fn read(&self) -> impl Future<Output = Result<i64, ClientError>> + Send;
}

/// A datastore's counter client as the run's [`Client`].
pub fn client<C: CounterClient + 'static>(c: C) -> Box<dyn Client> {
    Box::new(Counters(c))
}

struct Counters<C>(C);

impl<C: CounterClient> Client for Counters<C> {
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(invoke(&self.0, op))
    }
}

/// The counter workload with its options.
#[derive(Debug, Clone)]
pub struct CounterWorkload {
    mix: Mix,
    seed: u64,
}

impl CounterWorkload {
    pub fn new(options: &WorkloadOptions) -> Result<CounterWorkload, String> {
        let mix = match &options.mix {
            Some(text) => Mix::parse(OPERATIONS, text)?,
            None => Mix::new(OPERATIONS, &[1, 1])?,
        };
        if mix.weight("add") == 0 || mix.weight("read") == 0 {
            return Err(
                "--mix: the counter workload needs adds and reads (ADD,READ both > 0)".into(),
            );
        }
        Ok(CounterWorkload {
            mix,
            seed: options.seed,
        })
    }
}

impl Workload for CounterWorkload {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(CounterGenerator {
            mix: self.mix.clone(),
            rng: Rng::new(self.seed),
        })
    }

    fn observation(&self) -> Observation {
        Observation {
            observe: &["read"],
            change: &["add"],
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "checker": counter::CHECKER,
            "mix": self.mix.text(),
            "max_add": MAX_ADD,
        })
    }

    fn check(&self, history: &Path, _limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let read = ReadOptions {
            format: Some(Format::Jsonl),
            ..Default::default()
        };
        let loaded = read_history(history, &read)
            .map_err(|e| CheckFailure(format!("{}: {e}", history.display())))?;
        Ok(vec![counter::check(&loaded.history, 0).to_verdict()])
    }
}

/// Adds of 1 to [`MAX_ADD`] and reads, by the mix.
#[derive(Debug, Clone)]
pub struct CounterGenerator {
    mix: Mix,
    rng: Rng,
}

impl Generator for CounterGenerator {
    fn next(&mut self) -> Option<Invocation> {
        let (f, value) = match self.mix.pick(&mut self.rng) {
            "add" => ("add", Value::Int(1 + self.rng.below(MAX_ADD) as i64)),
            _ => ("read", Value::Nil),
        };
        Some(Invocation {
            f: Arc::from(f),
            key: None,
            value,
        })
    }

    /// One read after healing: the counter's final value.
    fn final_reads(&self) -> Vec<FinalReads> {
        vec![FinalReads {
            ops: vec![Invocation {
                f: Arc::from("read"),
                key: None,
                value: Value::Nil,
            }],
            on: FinalNodes::FirstAnswer,
            part: None,
        }]
    }
}

/// Performs `invocation`: an add's definite error is a `fail`, its indefinite one an `info`; a
/// failed read is a `fail` (it changed nothing).
pub async fn invoke<C: CounterClient>(client: &C, invocation: &Invocation) -> Completion {
    match (&*invocation.f, &invocation.value) {
        ("add", Value::Int(amount)) => match client.add(*amount).await {
            Ok(()) => Completion::Ok(Value::Int(*amount)),
            Err(ClientError::Definite(why)) => Completion::Fail(why),
            Err(ClientError::Indefinite(why)) => Completion::Info(why),
        },
        ("read", _) => match client.read().await {
            Ok(value) => Completion::Ok(Value::Int(value)),
            Err(e) => Completion::Fail(e.to_string()),
        },
        (f, v) => Completion::Fail(format!("the counter workload has no operation {f} {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_are_small_positive_amounts_mixed_with_reads() {
        let w = CounterWorkload::new(&WorkloadOptions::default()).unwrap();
        let mut g = w.generator();
        let ops: Vec<Invocation> = (0..400).filter_map(|_| g.next()).collect();
        let adds: Vec<i64> = ops.iter().filter_map(|o| o.value.as_int()).collect();
        assert!(adds.iter().all(|a| (1..=MAX_ADD as i64).contains(a)));
        assert!((150..250).contains(&adds.len()), "{}", adds.len());
    }

    #[test]
    fn a_mix_without_reads_is_refused() {
        let e = CounterWorkload::new(&WorkloadOptions {
            mix: Some("1,0".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("adds and reads"), "{e}");
    }
}
