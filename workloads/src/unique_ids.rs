//! The unique-ids workload: clients ask the datastore for ids (an atomic increment, a sequence,
//! a revision) and no id may be handed out twice. Judged by the unique-ids checker (Jepsen's
//! `unique-ids`).
//!
//! Datastores hand out ids from state that a failover can roll back: a new primary that never
//! saw the old one's last increments gives the same ids again.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use faultline_checkers::history::{read_history, Format, ReadOptions, Value};
use faultline_checkers::unique_ids;
use faultline_checkers::Verdict;

use crate::workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions, WorkloadSpec,
};
use crate::{ClientError, Completion, Invocation};

/// The unique-ids workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "unique-ids",
    about: "ask for ids; an id handed out twice",
    build: |options| Ok(Box::new(UniqueIdsWorkload::new(options)?)),
};

/// What the unique-ids workload needs from a datastore's client.
pub trait IdClient: Send + Sync {
    /// A new id, different from every id handed out before.
    fn generate(&self) -> impl Future<Output = Result<i64, ClientError>> + Send;
}

/// A datastore's id client as the run's [`Client`].
pub fn client<C: IdClient + 'static>(c: C) -> Box<dyn Client> {
    Box::new(Ids(c))
}

struct Ids<C>(C);

impl<C: IdClient> Client for Ids<C> {
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(invoke(&self.0, op))
    }
}

/// The unique-ids workload (it has no options: every operation is the same).
#[derive(Debug, Clone)]
pub struct UniqueIdsWorkload;

impl UniqueIdsWorkload {
    pub fn new(options: &WorkloadOptions) -> Result<UniqueIdsWorkload, String> {
        if options.mix.is_some() {
            return Err("--mix: the unique-ids workload has one operation (generate)".into());
        }
        Ok(UniqueIdsWorkload)
    }
}

impl Workload for UniqueIdsWorkload {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(IdGenerator)
    }

    fn observation(&self) -> Observation {
        Observation {
            observe: &["generate"],
            change: &["generate"],
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "checker": unique_ids::CHECKER })
    }

    fn check(&self, history: &Path, _limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let read = ReadOptions {
            format: Some(Format::Jsonl),
            ..Default::default()
        };
        let loaded = read_history(history, &read)
            .map_err(|e| CheckFailure(format!("{}: {e}", history.display())))?;
        Ok(vec![unique_ids::check(&loaded.history).to_verdict()])
    }
}

/// Every operation is a `generate`.
#[derive(Debug, Clone)]
pub struct IdGenerator;

impl Generator for IdGenerator {
    fn next(&mut self) -> Option<Invocation> {
        Some(Invocation {
            f: Arc::from("generate"),
            key: None,
            value: Value::Nil,
        })
    }

    /// Nothing to read at the end: the ids handed out are the whole story.
    fn final_reads(&self) -> Vec<FinalReads> {
        vec![FinalReads {
            ops: Vec::new(),
            on: FinalNodes::FirstAnswer,
            part: None,
        }]
    }
}

/// Performs `invocation`: an id is an `ok`; a definite error a `fail`; an indefinite one an
/// `info` (an id may have been used up, which is allowed).
pub async fn invoke<C: IdClient>(client: &C, invocation: &Invocation) -> Completion {
    match &*invocation.f {
        "generate" => match client.generate().await {
            Ok(id) => Completion::Ok(Value::Int(id)),
            Err(ClientError::Definite(why)) => Completion::Fail(why),
            Err(ClientError::Indefinite(why)) => Completion::Info(why),
        },
        f => Completion::Fail(format!("the unique-ids workload has no operation {f}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_generates_and_a_mix_is_refused() {
        let w = UniqueIdsWorkload::new(&WorkloadOptions::default()).unwrap();
        let mut g = w.generator();
        assert!((0..10)
            .filter_map(|_| g.next())
            .all(|o| &*o.f == "generate"));
        assert!(g.final_reads()[0].ops.is_empty());
        assert!(UniqueIdsWorkload::new(&WorkloadOptions {
            mix: Some("1".into()),
            ..Default::default()
        })
        .is_err());
    }
}
