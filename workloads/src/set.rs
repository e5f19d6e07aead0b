//! The set workload: clients add unique integers to one set and now and then read it whole;
//! after healing every node reads it once more. Judged by the set checker (Jepsen's
//! `set-full`): an acknowledged add missing from the last reads is lost.
//!
//! This is the workload that shows lost writes under failover: Jepsen found 56% of acknowledged
//! adds lost in Redis Sentinel in 2013.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use faultline_checkers::history::{read_history, Format, ReadOptions, Value};
use faultline_checkers::set::{self, SetOptions};
use faultline_checkers::Verdict;

use crate::generator::{Mix, Rng};
use crate::workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions, WorkloadSpec,
};
use crate::{ClientError, Completion, Invocation};

/// The set workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "set",
    about: "add unique integers to a set, read it whole; lost, stale and unexpected elements",
    build: |options| Ok(Box::new(SetWorkload::new(options)?)),
};

/// The operations, in `--mix` order.
pub const OPERATIONS: &[&str] = &["add", "read"];

/// What the set workload needs from a datastore's client. The client picks where the set lives
/// (one key of its own, e.g. `faultline-set`).
pub trait SetClient: Send + Sync {
    /// Adds `element` to the set.
    fn add(&self, element: i64) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// Every element of the set.
    fn read(&self) -> impl Future<Output = Result<Vec<i64>, ClientError>> + Send;
}

/// A datastore's set client as the run's [`Client`].
pub fn client<C: SetClient + 'static>(c: C) -> Box<dyn Client> {
    Box::new(Sets(c))
}

struct Sets<C>(C);

impl<C: SetClient> Client for Sets<C> {
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(invoke(&self.0, op))
    }
}

/// The set workload with its options.
#[derive(Debug, Clone)]
pub struct SetWorkload {
    mix: Mix,
    seed: u64,
    options: SetOptions,
}

impl SetWorkload {
    pub fn new(options: &WorkloadOptions) -> Result<SetWorkload, String> {
        let mix = match &options.mix {
            Some(text) => Mix::parse(OPERATIONS, text)?,
            // A read for every four adds: reads see the set often, adds dominate.
            None => Mix::new(OPERATIONS, &[4, 1])?,
        };
        if mix.weight("add") == 0 {
            return Err("--mix: the set workload needs adds (ADD,READ with ADD > 0)".into());
        }
        Ok(SetWorkload {
            mix,
            seed: options.seed,
            options: SetOptions {
                linearizable: options.set_linearizable,
            },
        })
    }
}

impl Workload for SetWorkload {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(SetGenerator {
            mix: self.mix.clone(),
            rng: Rng::new(self.seed),
            next_element: 0,
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
            "checker": set::CHECKER,
            "mix": self.mix.text(),
            "linearizable": self.options.linearizable,
        })
    }

    fn check(&self, history: &Path, _limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let read = ReadOptions {
            format: Some(Format::Jsonl),
            ..Default::default()
        };
        let loaded = read_history(history, &read)
            .map_err(|e| CheckFailure(format!("{}: {e}", history.display())))?;
        Ok(vec![
            set::check(&loaded.history, &self.options).to_verdict(&self.options)
        ])
    }
}

/// Unique elements 0, 1, 2, ... and reads, by the mix.
#[derive(Debug, Clone)]
pub struct SetGenerator {
    mix: Mix,
    rng: Rng,
    next_element: i64,
}

impl Generator for SetGenerator {
    fn next(&mut self) -> Option<Invocation> {
        let (f, value) = match self.mix.pick(&mut self.rng) {
            "add" => {
                let e = self.next_element;
                self.next_element += 1;
                ("add", Value::Int(e))
            }
            _ => ("read", Value::Nil),
        };
        Some(Invocation {
            f: Arc::from(f),
            key: None,
            value,
        })
    }

    /// One read on every node: what each kept.
    fn final_reads(&self) -> Vec<FinalReads> {
        vec![FinalReads {
            ops: vec![Invocation {
                f: Arc::from("read"),
                key: None,
                value: Value::Nil,
            }],
            on: FinalNodes::Every,
            part: None,
        }]
    }
}

/// Performs `invocation` and says how it ended: a failed read is a `fail` (it changed nothing),
/// an add's definite error a `fail`, its indefinite error an `info`. A read's elements are
/// sorted, so that histories compare and read well.
pub async fn invoke<C: SetClient>(client: &C, invocation: &Invocation) -> Completion {
    match (&*invocation.f, &invocation.value) {
        ("add", Value::Int(e)) => match client.add(*e).await {
            Ok(()) => Completion::Ok(Value::Int(*e)),
            Err(ClientError::Definite(why)) => Completion::Fail(why),
            Err(ClientError::Indefinite(why)) => Completion::Info(why),
        },
        ("read", _) => match client.read().await {
            Ok(mut elements) => {
                elements.sort_unstable();
                Completion::Ok(Value::Vector(
                    elements.into_iter().map(Value::Int).collect(),
                ))
            }
            Err(e) => Completion::Fail(e.to_string()),
        },
        (f, v) => Completion::Fail(format!("the set workload has no operation {f} {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_are_unique_and_follow_the_mix() {
        let w = SetWorkload::new(&WorkloadOptions {
            mix: Some("3,1".into()),
            ..Default::default()
        })
        .unwrap();
        let mut g = w.generator();
        let ops: Vec<Invocation> = (0..400).filter_map(|_| g.next()).collect();
        let adds: Vec<i64> = ops
            .iter()
            .filter(|o| &*o.f == "add")
            .filter_map(|o| o.value.as_int())
            .collect();
        let unique: std::collections::HashSet<_> = adds.iter().collect();
        assert_eq!(unique.len(), adds.len());
        assert!((250..350).contains(&adds.len()), "{}", adds.len());
        assert_eq!(g.final_reads()[0].on, FinalNodes::Every);
    }

    #[test]
    fn a_mix_without_adds_is_refused() {
        let e = SetWorkload::new(&WorkloadOptions {
            mix: Some("0,1".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("needs adds"), "{e}");
    }
}
