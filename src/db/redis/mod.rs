//! Redis 7 with Sentinel (Debian's `redis-server` and `redis-sentinel`): a primary on the first
//! node, replicas on the others, a Sentinel on every node; the register, set, list-append,
//! counter, unique-ids and bank workloads.
//!
//! [`config`] writes each node's `redis.conf` and `sentinel.conf`, [`cluster`] is the lifecycle
//! (set up, start, kill, pause, tear down), [`ready`] reads what the nodes say (ready? which
//! primary?), [`client`] is the client that finds the primary through its node's Sentinel, with
//! its sorting of errors, [`append`] its transactions (`MULTI`/`EXEC`) for list-append,
//! [`counting`] the counter (`INCRBY`) and unique-ids (`INCR`) clients, [`accounts`] the bank
//! client (Lua scripts on one hash). This file joins them into a [`Db`] and holds Redis's
//! options.
//!
//! Redis replicates asynchronously and Sentinel fails over without asking the old primary: a
//! primary cut off with a minority keeps acknowledging writes from the clients whose Sentinel
//! still names it, and throws them away when it rejoins as a replica. The set workload under
//! `partition-primary` shows it (Jepsen found 56% of acknowledged writes lost in 2013).

pub mod accounts;
pub mod append;
pub mod client;
pub mod cluster;
pub mod config;
pub mod counting;
pub mod ready;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{
    bank, counter, list_append, register, set, unique_ids, BoxFuture, Client, ClientError,
};

use super::{Connect, Db, DbContext, DbError, DbOptions, DbSpec};
pub use client::{RedisClient, Route};
pub use cluster::{Redis, RedisNode, SENTINEL_BIN, SERVER_BIN};
use config::{Durability, Failover};

/// Redis in the registry.
pub const SPEC: DbSpec = DbSpec {
    name: "redis",
    about: "Redis 7 (Debian redis-server) with a Sentinel on every node; clients find the \
            primary through their node's Sentinel",
    workloads: &[
        "register",
        "set",
        list_append::SPEC.name,
        counter::SPEC.name,
        unique_ids::SPEC.name,
        bank::SPEC.name,
    ],
    packages: &["redis-server", "redis-sentinel"],
    open,
};

/// Sentinel's `down-after-milliseconds` unless told otherwise: short, so that a test sees
/// failovers within seconds (Redis's own default is 30 s).
const DOWN_AFTER_MS: u64 = 2000;
/// Sentinel's `failover-timeout` unless told otherwise (Redis's default is 3 minutes, longer
/// than a test).
const FAILOVER_TIMEOUT_MS: u64 = 10_000;
/// `min-replicas-max-lag` unless told otherwise: Redis's default.
const MAX_LAG_SECS: u32 = 10;

/// Redis's options.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[command(next_help_heading = "Redis (--db redis)")]
#[group(id = "redis-options")]
pub struct Options {
    /// How long the primary may stay silent before a Sentinel considers it down
    /// (Sentinel's down-after-milliseconds) [default: 2000].
    #[arg(long, value_name = "MS")]
    pub redis_down_after_ms: Option<u64>,

    /// Sentinel's failover-timeout: how long before a failed failover is tried again, and how
    /// long replicas are given to follow a new primary [default: 10000].
    #[arg(long, value_name = "MS")]
    pub redis_failover_timeout_ms: Option<u64>,

    /// The primary refuses writes (NOREPLICAS) unless this many replicas acknowledged it
    /// within --redis-min-replicas-max-lag: Redis's min-replicas-to-write [default: 0, off].
    #[arg(long, value_name = "N")]
    pub redis_min_replicas_to_write: Option<u32>,

    /// Redis's min-replicas-max-lag, with --redis-min-replicas-to-write [default: 10].
    #[arg(long, value_name = "SECS")]
    pub redis_min_replicas_max_lag: Option<u32>,

    /// The Redis server to run on the nodes, e.g. a build of one's own [default: Debian's
    /// /usr/bin/redis-server, installed when missing].
    #[arg(long, value_name = "PATH")]
    pub redis_binary: Option<String>,

    /// Test only: the Sentinels' quorum instead of a majority of the nodes (more Sentinels
    /// than there are make a cluster that can never fail over).
    #[arg(long, value_name = "N", hide = true)]
    pub redis_sentinel_quorum: Option<u32>,
}

impl Options {
    /// The options given on the command line.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.redis_down_after_ms.is_some() {
            given.push("--redis-down-after-ms");
        }
        if self.redis_failover_timeout_ms.is_some() {
            given.push("--redis-failover-timeout-ms");
        }
        if self.redis_min_replicas_to_write.is_some() {
            given.push("--redis-min-replicas-to-write");
        }
        if self.redis_min_replicas_max_lag.is_some() {
            given.push("--redis-min-replicas-max-lag");
        }
        if self.redis_binary.is_some() {
            given.push("--redis-binary");
        }
        if self.redis_sentinel_quorum.is_some() {
            given.push("--redis-sentinel-quorum");
        }
        given
    }

    /// What the servers are told about replicas, checked against the number of nodes.
    fn durability(&self, nodes: usize) -> Result<Durability, String> {
        let replicas = nodes.saturating_sub(1);
        let min = self.redis_min_replicas_to_write.unwrap_or(0);
        if min as usize > replicas {
            return Err(format!(
                "--redis-min-replicas-to-write {min}: with {nodes} nodes the primary has \
                 {replicas} replicas and would refuse every write"
            ));
        }
        if min == 0 && self.redis_min_replicas_max_lag.is_some() {
            return Err(
                "--redis-min-replicas-max-lag needs --redis-min-replicas-to-write 1 or more".into(),
            );
        }
        let max_lag_secs = self.redis_min_replicas_max_lag.unwrap_or(MAX_LAG_SECS);
        if max_lag_secs == 0 {
            return Err("--redis-min-replicas-max-lag must be at least 1".into());
        }
        Ok(Durability {
            min_replicas_to_write: min,
            max_lag_secs,
        })
    }

    /// How the Sentinels fail over: a quorum of a majority of the nodes.
    fn failover(&self, nodes: usize) -> Result<Failover, String> {
        let down_after_ms = self.redis_down_after_ms.unwrap_or(DOWN_AFTER_MS);
        let failover_timeout_ms = self
            .redis_failover_timeout_ms
            .unwrap_or(FAILOVER_TIMEOUT_MS);
        if down_after_ms == 0 {
            return Err("--redis-down-after-ms must be at least 1".into());
        }
        if failover_timeout_ms == 0 {
            return Err("--redis-failover-timeout-ms must be at least 1".into());
        }
        let quorum = self.redis_sentinel_quorum.unwrap_or(nodes as u32 / 2 + 1);
        if quorum == 0 {
            return Err("--redis-sentinel-quorum must be at least 1".into());
        }
        Ok(Failover {
            quorum,
            down_after_ms,
            failover_timeout_ms,
        })
    }
}

fn open(context: &DbContext, options: &DbOptions) -> Result<Arc<dyn Db>, String> {
    let o = &options.redis;
    let count = context.nodes.len();
    let nodes = context
        .nodes
        .iter()
        .map(|n| RedisNode {
            name: n.name.clone(),
            ip: n.ip.clone(),
            remote: n.remote.clone(),
        })
        .collect();
    let mut redis = Redis::new(
        nodes,
        Redis::default_base_dir(&context.cluster),
        o.durability(count)?,
        o.failover(count)?,
    );
    if let Some(binary) = &o.redis_binary {
        if !binary.starts_with('/') {
            return Err(format!(
                "--redis-binary {binary}: an absolute path on the nodes"
            ));
        }
        redis = redis.with_server_binary(binary);
    }
    if let Some(clock) = &context.fake_clock {
        redis = redis.with_fake_clock(clock.clone());
    }
    Ok(Arc::new(RedisDb {
        redis,
        op_timeout: context.op_timeout,
    }))
}

/// A Redis cluster with Sentinel, and how long its clients' operations may take.
pub struct RedisDb {
    redis: Redis,
    op_timeout: Duration,
}

impl RedisDb {
    fn connect_to(&self, workload: &str, route: Route) -> Result<Box<dyn Connect>, DbError> {
        let kind = match workload {
            "register" => Kind::Register,
            "set" => Kind::Set,
            w if w == list_append::SPEC.name => Kind::ListAppend,
            w if w == counter::SPEC.name => Kind::Counter,
            w if w == unique_ids::SPEC.name => Kind::UniqueIds,
            w if w == bank::SPEC.name => Kind::Bank,
            other => {
                return Err(DbError::Unsupported(format!(
                    "redis has no client for the {other} workload"
                )))
            }
        };
        Ok(Box::new(Connector {
            route,
            kind,
            timeout: self.op_timeout,
        }))
    }
}

impl Db for RedisDb {
    fn setup(&self, node: &str) -> Result<(), DbError> {
        self.redis.setup(node)
    }

    fn await_ready(&self, timeout: Duration) -> Result<(), DbError> {
        ready::await_ready(&self.redis, timeout)
    }

    fn teardown(&self, node: &str) -> Result<(), DbError> {
        self.redis.teardown(node)
    }

    fn start(&self, node: &str) -> Result<(), DbError> {
        self.redis.start(node)
    }

    /// Kills the server only: the node's Sentinel keeps running (see [`Redis::kill`]).
    fn kill(&self, node: &str) -> Result<(), DbError> {
        self.redis.kill(node)
    }

    /// Pauses the server only: the node's Sentinel keeps running and reports it silent.
    fn pause(&self, node: &str) -> Result<(), DbError> {
        self.redis.pause(node)
    }

    fn resume(&self, node: &str) -> Result<(), DbError> {
        self.redis.resume(node)
    }

    fn primaries(&self) -> Result<Vec<String>, DbError> {
        Ok(ready::primaries(&self.redis))
    }

    fn log_files(&self, node: &str) -> Vec<(PathBuf, String)> {
        vec![
            (self.redis.server_log(node), "redis.log".into()),
            (self.redis.sentinel_log(node), "sentinel.log".into()),
        ]
    }

    fn version(&self) -> Result<String, DbError> {
        self.redis.version()
    }

    /// Redis and Sentinel are C programs: libfaketime moves their clock (both processes of a
    /// node follow its control file).
    fn clock_faults(&self) -> Result<(), String> {
        Ok(())
    }

    /// A worker's client finds the primary through `node`'s Sentinel.
    fn connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError> {
        let route = Route::Sentinel {
            node: node.to_string(),
            sentinel: self.redis.sentinel_addr(node)?,
        };
        self.connect_to(workload, route)
    }

    /// A final read reads `node`'s own server: what that node kept, whichever primary its
    /// Sentinel names.
    fn final_connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError> {
        let route = Route::Direct {
            node: node.to_string(),
            server: self.redis.server_addr(node)?,
        };
        self.connect_to(workload, route)
    }
}

/// Which workload's client a connector makes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Register,
    Set,
    ListAppend,
    Counter,
    UniqueIds,
    Bank,
}

/// Makes a worker's (or a final read's) client on one route.
struct Connector {
    route: Route,
    kind: Kind,
    timeout: Duration,
}

impl Connect for Connector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>> {
        Box::pin(async move {
            let c = RedisClient::connect(self.route.clone(), self.timeout).await?;
            Ok(match self.kind {
                Kind::Register => register::client(c),
                Kind::Set => set::client(c),
                Kind::ListAppend => list_append::client(c),
                Kind::Counter => counter::client(c),
                Kind::UniqueIds => unique_ids::client(c),
                Kind::Bank => bank::client(c),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several workloads may run at once on one deployment (`--workload register,set`): each
    /// must keep to keys no other touches.
    #[test]
    fn each_workload_keeps_to_keys_of_its_own() {
        let singles = [
            client::SET_KEY,
            counting::COUNTER_KEY,
            counting::IDS_KEY,
            accounts::BANK_KEY,
        ];
        for (i, a) in singles.iter().enumerate() {
            assert!(!singles[i + 1..].contains(a), "{a} twice");
            // Registers on `k<N>`, lists on `append:<N>`: no single key looks like either.
            assert!(!a.starts_with('k') && !a.starts_with("append:"), "{a}");
        }
        for k in (0..1_000).chain([u64::MAX]) {
            let register = faultline_workloads::register::RegisterGenerator::key_name(k);
            let list = append::list_key(k);
            assert!(register.starts_with('k'), "{register}");
            assert!(list.starts_with("append:"), "{list}");
            assert!(!singles.contains(&register.as_str()), "{register}");
            assert!(!singles.contains(&list.as_str()), "{list}");
        }
    }

    #[test]
    fn the_quorum_is_a_majority_of_the_nodes() {
        let o = Options::default();
        assert_eq!(o.failover(5).unwrap().quorum, 3);
        assert_eq!(o.failover(4).unwrap().quorum, 3);
        assert_eq!(o.failover(3).unwrap().quorum, 2);
        assert_eq!(o.failover(5).unwrap().down_after_ms, 2000);
    }

    #[test]
    fn min_replicas_beyond_the_replicas_or_a_lag_without_it_is_refused() {
        let o = Options {
            redis_min_replicas_to_write: Some(5),
            ..Default::default()
        };
        let e = o.durability(5).unwrap_err();
        assert!(e.contains("4 replicas"), "{e}");
        let o = Options {
            redis_min_replicas_to_write: Some(2),
            ..Default::default()
        };
        assert_eq!(
            o.durability(5).unwrap(),
            Durability {
                min_replicas_to_write: 2,
                max_lag_secs: 10
            }
        );
        let o = Options {
            redis_min_replicas_max_lag: Some(3),
            ..Default::default()
        };
        assert!(o.durability(5).unwrap_err().contains("needs"));
    }
}
