//! The register workload over independent keys: `read`, `write` and `cas` on keys k0, k1, ...
//!
//! Each key takes `ops_per_key` operations, then is retired and the next key starts, so every
//! key's history stays small enough to check quickly (Jepsen's independent workloads do the
//! same). Written values are unique per key, which makes stale reads easy to see. Checked with
//! the cas-register model, one key per part, in parallel, as the file is read.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use faultline_checkers::history::{Format, ReadOptions, Value};
use faultline_checkers::linear::{self, CheckOptions};
use faultline_checkers::Verdict;

use crate::generator::{KeyRotation, Mix, Rng};
use crate::workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions, WorkloadSpec,
};
use crate::{ClientError, Completion, Invocation};

/// The register workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "register",
    about: "read / write / cas over independent keys, checked as a cas-register per key",
    build: |options| Ok(Box::new(RegisterWorkload::new(options)?)),
};

/// The model the history is checked against.
pub const MODEL: &str = "cas-register";

/// The operations, in `--mix` order.
pub const OPERATIONS: &[&str] = &["read", "write", "cas"];

/// What the register workload needs from a datastore's client.
pub trait RegisterClient: Send + Sync {
    /// The value of `key`, or `None` when it does not exist.
    fn read(&self, key: &str) -> impl Future<Output = Result<Option<i64>, ClientError>> + Send;
    fn write(&self, key: &str, value: i64) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// Sets `key` to `to` if it holds `from`; `Ok(false)` when the compare failed.
    fn cas(
        &self,
        key: &str,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<bool, ClientError>> + Send;
}

/// A datastore's register client as the run's [`Client`].
pub fn client<C: RegisterClient + 'static>(c: C) -> Box<dyn Client> {
    Box::new(Registers(c))
}

struct Registers<C>(C);

impl<C: RegisterClient> Client for Registers<C> {
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(invoke(&self.0, op))
    }
}

/// The register workload with its options.
#[derive(Debug, Clone)]
pub struct RegisterWorkload {
    mix: Mix,
    seed: u64,
    ops_per_key: u64,
    live_keys: u64,
}

impl RegisterWorkload {
    pub fn new(options: &WorkloadOptions) -> Result<RegisterWorkload, String> {
        let mix = match &options.mix {
            Some(text) => Mix::parse(OPERATIONS, text)?,
            // Jepsen's etcd test mix: equal parts.
            None => Mix::new(OPERATIONS, &[1, 1, 1])?,
        };
        if options.ops_per_key == 0 {
            return Err("--ops-per-key must be at least 1".into());
        }
        Ok(RegisterWorkload {
            mix,
            seed: options.seed,
            ops_per_key: options.ops_per_key,
            // Workers spread over the live keys: about two per key, so that each sees overlap.
            live_keys: (options.concurrency / 2).clamp(1, 8),
        })
    }
}

impl Workload for RegisterWorkload {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(RegisterGenerator::new(
            self.seed,
            self.mix.clone(),
            self.ops_per_key,
            self.live_keys,
        ))
    }

    fn observation(&self) -> Observation {
        Observation {
            observe: &["read"],
            change: &["write", "cas"],
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "model": MODEL,
            "mix": self.mix.text(),
            "ops_per_key": self.ops_per_key,
            "live_keys": self.live_keys,
        })
    }

    fn check(&self, history: &Path, limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let read = ReadOptions {
            format: Some(Format::Jsonl),
            ..Default::default()
        };
        let options = CheckOptions {
            all_keys: true,
            time_limit: limits.time_limit,
            memory_limit: limits.memory_limit,
            ..Default::default()
        };
        let checked = linear::check_file(
            history,
            &read,
            MODEL,
            |_| Default::default(),
            &options,
            None,
        )
        .map_err(|e| CheckFailure(format!("{}: {e}", history.display())))?;
        Ok(vec![checked.analysis.to_verdict(MODEL)])
    }
}

/// Generates register operations.
#[derive(Debug, Clone)]
pub struct RegisterGenerator {
    mix: Mix,
    keys: KeyRotation,
    next_value: u64,
    rng: Rng,
}

impl RegisterGenerator {
    pub fn new(seed: u64, mix: Mix, ops_per_key: u64, live_keys: u64) -> Self {
        RegisterGenerator {
            mix,
            keys: KeyRotation::new(ops_per_key, live_keys),
            next_value: 1,
            rng: Rng::new(seed),
        }
    }

    /// The name of key number `k`.
    pub fn key_name(k: u64) -> String {
        format!("k{k}")
    }

    /// The next operation. Keys advance in groups (see [`KeyRotation`]).
    pub fn next_invocation(&mut self) -> Invocation {
        let k = self.keys.next_key(&mut self.rng);
        let key = Some(Value::Str(Self::key_name(k).into()));
        let (f, value) = match self.mix.pick(&mut self.rng) {
            "read" => ("read", Value::Nil),
            "write" => ("write", Value::Int(self.fresh_value())),
            _ => {
                // Compare against a recent value so that some cas operations succeed.
                let from = self.recent_value();
                (
                    "cas",
                    Value::Vector(vec![Value::Int(from), Value::Int(self.fresh_value())].into()),
                )
            }
        };
        Invocation {
            f: Arc::from(f),
            key,
            value,
        }
    }

    /// The keys of the current group: those the final reads look at.
    pub fn live_key_names(&self) -> Vec<String> {
        self.keys.live().into_iter().map(Self::key_name).collect()
    }

    fn fresh_value(&mut self) -> i64 {
        let v = self.next_value;
        self.next_value += 1;
        v as i64
    }

    fn recent_value(&mut self) -> i64 {
        let back = self.rng.below(4);
        self.next_value.saturating_sub(1 + back).max(1) as i64
    }
}

impl Generator for RegisterGenerator {
    fn next(&mut self) -> Option<Invocation> {
        Some(self.next_invocation())
    }

    /// A read of every key of the last group, answered by whichever node answers first.
    fn final_reads(&self) -> Vec<FinalReads> {
        let read: Arc<str> = Arc::from("read");
        vec![FinalReads {
            ops: self
                .live_key_names()
                .into_iter()
                .map(|k| Invocation {
                    f: read.clone(),
                    key: Some(Value::Str(k.into())),
                    value: Value::Nil,
                })
                .collect(),
            on: FinalNodes::FirstAnswer,
            part: None,
        }]
    }
}

/// Performs `invocation` with `client` and says how it ended, in history terms: a read error is
/// a `fail` (a read changes nothing, so it may be dropped), a cas whose compare failed is a
/// `fail`, any indefinite error of a write or cas is an `info`.
pub async fn invoke<C: RegisterClient>(client: &C, invocation: &Invocation) -> Completion {
    let key = invocation
        .key
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or("k0");
    match (&*invocation.f, &invocation.value) {
        ("read", _) => match client.read(key).await {
            Ok(Some(v)) => Completion::Ok(Value::Int(v)),
            Ok(None) => Completion::Ok(Value::Nil),
            Err(e) => Completion::Fail(e.to_string()),
        },
        ("write", Value::Int(v)) => match client.write(key, *v).await {
            Ok(()) => Completion::Ok(Value::Int(*v)),
            Err(ClientError::Definite(e)) => Completion::Fail(e),
            Err(ClientError::Indefinite(e)) => Completion::Info(e),
        },
        ("cas", Value::Vector(pair)) => match &pair[..] {
            [Value::Int(from), Value::Int(to)] => match client.cas(key, *from, *to).await {
                Ok(true) => Completion::Ok(invocation.value.clone()),
                Ok(false) => Completion::Fail("compare failed".into()),
                Err(ClientError::Definite(e)) => Completion::Fail(e),
                Err(ClientError::Indefinite(e)) => Completion::Info(e),
            },
            _ => Completion::Fail(format!("malformed cas argument {}", invocation.value)),
        },
        (f, v) => Completion::Fail(format!("the register workload has no operation {f} {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> Mix {
        Mix::new(OPERATIONS, &[1, 1, 1]).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_operations() {
        let mut a = RegisterGenerator::new(7, mix(), 10, 2);
        let mut b = RegisterGenerator::new(7, mix(), 10, 2);
        for _ in 0..100 {
            assert_eq!(a.next_invocation(), b.next_invocation());
        }
    }

    #[test]
    fn keys_retire_after_their_operations() {
        let mut g = RegisterGenerator::new(1, mix(), 5, 2);
        let keys: Vec<String> = (0..30)
            .map(|_| {
                g.next_invocation()
                    .key
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(keys[..10].iter().all(|k| k == "k0" || k == "k1"));
        assert!(keys[10..20].iter().all(|k| k == "k2" || k == "k3"));
        let finals = g.final_reads().remove(0);
        assert_eq!(finals.on, FinalNodes::FirstAnswer);
        let keys: Vec<&str> = finals
            .ops
            .iter()
            .filter_map(|o| o.key.as_ref().and_then(Value::as_str))
            .collect();
        assert_eq!(keys, vec!["k4", "k5"]);
    }

    #[test]
    fn written_values_are_unique() {
        let mut g = RegisterGenerator::new(3, Mix::new(OPERATIONS, &[0, 1, 0]).unwrap(), 1000, 1);
        let vals: std::collections::HashSet<String> = (0..500)
            .map(|_| g.next_invocation().value.to_string())
            .collect();
        assert_eq!(vals.len(), 500);
    }

    #[test]
    fn the_check_decides_a_key_of_unique_values_that_no_search_could() {
        // One key: 300 writes of distinct values at once, all timed out, then reads that see
        // each value in turn and then the first again. Proving that no order explains it would
        // take a search over subsets of the timed-out writes; the polynomial path needs none.
        let mut lines = Vec::new();
        let mut event = |process: u64, kind: &str, f: &str, value: String| {
            let i = lines.len();
            lines.push(format!(
                r#"{{"index":{i},"time":{i},"process":{process},"type":"{kind}","f":"{f}","key":"k0","value":{value}}}"#
            ));
        };
        for p in 0..300 {
            event(p, "invoke", "write", p.to_string());
        }
        for p in 0..300 {
            event(p, "info", "write", p.to_string());
        }
        for v in (0..300).chain([0]) {
            event(1000, "invoke", "read", "null".into());
            event(1000, "ok", "read", v.to_string());
        }
        let path = std::env::temp_dir().join(format!(
            "faultline-register-unique-{}.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let limits = CheckLimits {
            time_limit: Some(std::time::Duration::from_secs(60)),
            ..CheckLimits::default()
        };
        let workload = RegisterWorkload::new(&WorkloadOptions::default()).unwrap();
        let verdicts = workload.check(&path, &limits);
        std::fs::remove_file(&path).unwrap();
        let verdicts = verdicts.unwrap();
        assert_eq!(verdicts[0].valid, faultline_checkers::Validity::Invalid);
    }

    #[test]
    fn a_mix_of_the_wrong_shape_is_a_usage_error() {
        let opts = |mix: &str| WorkloadOptions {
            mix: Some(mix.into()),
            ..Default::default()
        };
        assert!(RegisterWorkload::new(&opts("1,1,1")).is_ok());
        let e = RegisterWorkload::new(&opts("1,1")).unwrap_err();
        assert!(e.contains("READ,WRITE,CAS"), "{e}");
    }
}
