//! The register workload over independent keys: `read`, `write` and `cas` on keys k0, k1, ...
//!
//! Each key takes `ops_per_key` operations, then is retired and the next key starts, so every
//! key's history stays small enough to check quickly (Jepsen's independent workloads do the
//! same). Written values are unique per key, which makes stale reads easy to see. Checked with
//! the cas-register model, one key per part, in parallel.

use std::future::Future;
use std::sync::Arc;

use faultline_checkers::history::Value;

use crate::{ClientError, Completion, Invocation};

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

/// The mix of operations, in relative weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    pub read: u32,
    pub write: u32,
    pub cas: u32,
}

impl Default for Mix {
    /// Jepsen's etcd test mix: equal parts.
    fn default() -> Self {
        Mix {
            read: 1,
            write: 1,
            cas: 1,
        }
    }
}

/// A deterministic 64-bit generator (splitmix64): every random choice derives from `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Generates register operations. Shared by all workers behind a lock: the order of calls is
/// the order of the history.
#[derive(Debug, Clone)]
pub struct RegisterGenerator {
    mix: Mix,
    ops_per_key: u64,
    /// How many keys are live at once: workers spread over them so that keys see concurrency.
    live_keys: u64,
    issued: u64,
    next_value: u64,
    rng: Rng,
}

impl RegisterGenerator {
    pub fn new(seed: u64, mix: Mix, ops_per_key: u64, live_keys: u64) -> Self {
        RegisterGenerator {
            mix,
            ops_per_key: ops_per_key.max(1),
            live_keys: live_keys.max(1),
            issued: 0,
            next_value: 1,
            rng: Rng::new(seed),
        }
    }

    /// The name of key number `k`.
    pub fn key_name(k: u64) -> String {
        format!("k{k}")
    }

    /// The next operation. Keys advance in groups of `live_keys`, each group taking
    /// `ops_per_key * live_keys` operations.
    pub fn next_invocation(&mut self) -> Invocation {
        let group = self.issued / (self.ops_per_key * self.live_keys);
        let k = group * self.live_keys + self.rng.below(self.live_keys);
        self.issued += 1;
        let total = (self.mix.read + self.mix.write + self.mix.cas).max(1) as u64;
        let pick = self.rng.below(total) as u32;
        let key = Some(Value::Str(Self::key_name(k).into()));
        let (f, value) = if pick < self.mix.read {
            ("read", Value::Nil)
        } else if pick < self.mix.read + self.mix.write {
            ("write", Value::Int(self.fresh_value()))
        } else {
            // Compare against a recent value so that some cas operations succeed.
            let from = self.recent_value();
            (
                "cas",
                Value::Vector(vec![Value::Int(from), Value::Int(self.fresh_value())].into()),
            )
        };
        Invocation {
            f: Arc::from(f),
            key,
            value,
        }
    }

    /// The keys of the current group: those the final reads look at.
    pub fn live_key_names(&self) -> Vec<String> {
        let group = self.issued.saturating_sub(1) / (self.ops_per_key * self.live_keys);
        (0..self.live_keys)
            .map(|i| Self::key_name(group * self.live_keys + i))
            .collect()
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

/// The checker of this workload: the cas-register model, one part per key.
pub const MODEL: &str = "cas-register";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_operations() {
        let mut a = RegisterGenerator::new(7, Mix::default(), 10, 2);
        let mut b = RegisterGenerator::new(7, Mix::default(), 10, 2);
        for _ in 0..100 {
            assert_eq!(a.next_invocation(), b.next_invocation());
        }
    }

    #[test]
    fn keys_retire_after_their_operations() {
        let mut g = RegisterGenerator::new(1, Mix::default(), 5, 2);
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
    }

    #[test]
    fn written_values_are_unique() {
        let mut g = RegisterGenerator::new(
            3,
            Mix {
                read: 0,
                write: 1,
                cas: 0,
            },
            1000,
            1,
        );
        let vals: std::collections::HashSet<String> = (0..500)
            .map(|_| g.next_invocation().value.to_string())
            .collect();
        assert_eq!(vals.len(), 500);
    }
}
