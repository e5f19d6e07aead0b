//! The Redis cluster's lifecycle: on every node a server and a Sentinel, each a [`Daemon`] with
//! its own config, pidfile and log, set up, started, stopped, killed, paused and wiped over a
//! [`Remote`].
//!
//! Node `n`'s files live in `<base>/<n>/` (the local cluster's nodes share one file system):
//! `redis.conf`, `sentinel.conf`, `data/`, `redis.log`, `sentinel.log`, `redis.pid`,
//! `sentinel.pid`. The first node starts as the primary, the others as its replicas.
//!
//! Debian installs `redis-server` and `redis-sentinel` as symbolic links to one program
//! (`redis-check-rdb`, which picks its part by the name it is called by): a process is ours when
//! its `/proc/PID/exe` is where the link resolves, which [`Daemon`] checks. Both processes of a
//! node then run the same program, so each is told apart by its own pidfile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::control::{Cmd, Remote};
use crate::db::daemon::{each, path_str, Daemon};
use crate::db::faketime::FakeClock;
use crate::db::install::{self, Program};
use crate::db::DbError;

use super::config::{self, Durability, Failover, SENTINEL_PORT, SERVER_PORT};

/// The server Debian's `redis-server` installs.
pub const SERVER_BIN: &str = "/usr/bin/redis-server";
/// The Sentinel Debian's `redis-sentinel` installs.
pub const SENTINEL_BIN: &str = "/usr/bin/redis-sentinel";
/// The command-line client (Debian's `redis-tools`, which `redis-server` depends on): how a
/// node is asked about its server and its Sentinel.
pub const CLI_BIN: &str = "/usr/bin/redis-cli";
/// Where per-cluster Redis directories live.
pub const BASE_ROOT: &str = "/var/lib/faultline/redis";

/// One node of the cluster.
#[derive(Clone)]
pub struct RedisNode {
    pub name: String,
    /// The address its server and Sentinel listen on.
    pub ip: String,
    pub remote: Arc<dyn Remote>,
}

/// A Redis cluster with Sentinel over a fixed set of nodes; the first is the initial primary.
pub struct Redis {
    nodes: Vec<RedisNode>,
    base_dir: PathBuf,
    server_bin: String,
    durability: Durability,
    failover: Failover,
    /// When the run has clock faults: every server and Sentinel starts under libfaketime.
    fake_clock: Option<Arc<FakeClock>>,
}

/// What is preloaded after libfaketime: the C library, so that `malloc` is glibc's. Debian's
/// Redis links jemalloc, which reads the clock while it initialises itself, before libfaketime
/// has, and libfaketime's initialisation allocates: the two deadlock at start-up (libfaketime
/// issue #130; measured here with Redis 7.0.15). With glibc first in the lookup order, every
/// allocation is glibc's and jemalloc only answers Redis's statistics queries (`INFO memory`'s
/// allocator figures then say little). Only runs with clock faults start Redis this way.
const PRELOAD_AFTER_FAKETIME: &[&str] = &["libc.so.6"];

impl Redis {
    pub fn new(
        nodes: Vec<RedisNode>,
        base_dir: impl Into<PathBuf>,
        durability: Durability,
        failover: Failover,
    ) -> Redis {
        Redis {
            nodes,
            base_dir: base_dir.into(),
            server_bin: SERVER_BIN.to_string(),
            durability,
            failover,
            fake_clock: None,
        }
    }

    /// Starts every server and Sentinel under libfaketime, following `clock`'s control files.
    pub fn with_fake_clock(mut self, clock: Arc<FakeClock>) -> Redis {
        self.fake_clock = Some(clock);
        self
    }

    /// The environment of `node`'s processes: libfaketime's when the run moves clocks.
    fn env(&self, node: &str) -> Result<Vec<(&'static str, String)>, DbError> {
        match &self.fake_clock {
            Some(clock) => clock.env(node, PRELOAD_AFTER_FAKETIME),
            None => Ok(Vec::new()),
        }
    }

    /// Runs the server at `binary` instead of Debian's (a build of one's own).
    pub fn with_server_binary(mut self, binary: &str) -> Redis {
        self.server_bin = binary.to_string();
        self
    }

    /// The conventional base directory for a cluster called `name`.
    pub fn default_base_dir(name: &str) -> PathBuf {
        Path::new(BASE_ROOT).join(name)
    }

    pub fn nodes(&self) -> &[RedisNode] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Result<&RedisNode, DbError> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            DbError::Failed(format!(
                "redis: no node named {name} (nodes: {})",
                self.nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
        })
    }

    /// The node whose server or Sentinel listens on `ip`.
    pub fn node_at(&self, ip: &str) -> Option<&RedisNode> {
        self.nodes.iter().find(|n| n.ip == ip)
    }

    /// `node`'s server, `ip:port`.
    pub fn server_addr(&self, node: &str) -> Result<String, DbError> {
        Ok(format!("{}:{SERVER_PORT}", self.node(node)?.ip))
    }

    /// `node`'s Sentinel, `ip:port`.
    pub fn sentinel_addr(&self, node: &str) -> Result<String, DbError> {
        Ok(format!("{}:{SENTINEL_PORT}", self.node(node)?.ip))
    }

    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.base_dir.join(node)
    }

    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("data")
    }

    /// The server's log (its output, appended across restarts).
    pub fn server_log(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("redis.log")
    }

    /// The Sentinel's log.
    pub fn sentinel_log(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("sentinel.log")
    }

    fn server_conf_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("redis.conf")
    }

    fn sentinel_conf_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("sentinel.conf")
    }

    /// The initial primary: the first node.
    fn first(&self) -> Result<&RedisNode, DbError> {
        self.nodes
            .first()
            .ok_or_else(|| DbError::Failed("redis: no nodes".into()))
    }

    /// `node`'s server process.
    pub fn server(&self, node: &str) -> Result<Daemon, DbError> {
        let n = self.node(node)?;
        Ok(Daemon {
            node: n.name.clone(),
            remote: n.remote.clone(),
            name: "redis-server".into(),
            exe: self.server_bin.clone(),
            pidfile: self.node_dir(node).join("redis.pid"),
            log: self.server_log(node),
        })
    }

    /// `node`'s Sentinel process.
    pub fn sentinel(&self, node: &str) -> Result<Daemon, DbError> {
        let n = self.node(node)?;
        Ok(Daemon {
            node: n.name.clone(),
            remote: n.remote.clone(),
            name: "redis-sentinel".into(),
            exe: SENTINEL_BIN.into(),
            pidfile: self.node_dir(node).join("sentinel.pid"),
            log: self.sentinel_log(node),
        })
    }

    /// Makes sure the server, the Sentinel and redis-cli are on `node`.
    pub fn install(&self, node: &str) -> Result<(), DbError> {
        install::ensure(
            self.node(node)?.remote.as_ref(),
            &[
                Program::new(&self.server_bin, "redis-server"),
                Program::new(SENTINEL_BIN, "redis-sentinel"),
                Program::new(CLI_BIN, "redis-tools"),
            ],
        )
    }

    /// Sets up `node` afresh: installs what is missing, stops whatever an earlier run left,
    /// removes its directory, writes both configs and starts the server, then the Sentinel.
    pub fn setup(&self, node: &str) -> Result<(), DbError> {
        self.install(node)?;
        let (server, sentinel) = (self.server(node)?, self.sentinel(node)?);
        sentinel.stop()?;
        server.stop()?;
        let n = self.node(node)?;
        let dir = path_str(&self.node_dir(node));
        let data = path_str(&self.data_dir(node));
        server.run(
            "setup (clearing node dir)",
            &Cmd::new("rm")
                .arg("-rf")
                .arg(&dir)
                .raw("&&")
                .raw("mkdir -p")
                .arg(&data),
        )?;
        let primary = self.first()?;
        let replica_of = (primary.name != n.name).then_some(primary.ip.as_str());
        let upload = |path: PathBuf, text: String| {
            n.remote
                .upload(text.as_bytes(), &path)
                .map_err(|e| DbError::Failed(format!("redis on {node}: writing {path:?}: {e}")))
        };
        upload(
            self.server_conf_path(node),
            config::server_conf(&n.ip, &data, replica_of, self.durability),
        )?;
        upload(
            self.sentinel_conf_path(node),
            config::sentinel_conf(&n.ip, &dir, &primary.ip, self.failover),
        )?;
        self.start(node)
    }

    /// Starts `node`'s server on its config and data (as Sentinel last rewrote them), and its
    /// Sentinel if that is not running. What already runs is left alone.
    pub fn start(&self, node: &str) -> Result<(), DbError> {
        let env = self.env(node)?;
        self.server(node)?
            .start("", &env, &[path_str(&self.server_conf_path(node))])?;
        Ok(self
            .sentinel(node)?
            .start("", &env, &[path_str(&self.sentinel_conf_path(node))])?)
    }

    /// SIGKILLs `node`'s server. Its Sentinel keeps running, as on a machine whose Redis
    /// process crashed: it reports the server down with the other Sentinels, and if it was the
    /// primary they fail over after `down-after-milliseconds`.
    pub fn kill(&self, node: &str) -> Result<(), DbError> {
        Ok(self.server(node)?.kill()?)
    }

    /// SIGSTOPs `node`'s server (its Sentinel keeps running and sees it stop answering).
    pub fn pause(&self, node: &str) -> Result<(), DbError> {
        Ok(self.server(node)?.pause()?)
    }

    pub fn resume(&self, node: &str) -> Result<(), DbError> {
        Ok(self.server(node)?.resume()?)
    }

    /// Stops `node`'s Sentinel, then its server (so that no Sentinel acts on servers going
    /// away), and removes the data and pidfiles. Logs and configs stay, for reading.
    pub fn teardown(&self, node: &str) -> Result<(), DbError> {
        let (server, sentinel) = (self.server(node)?, self.sentinel(node)?);
        let stopped = [sentinel.stop(), server.stop()];
        for r in stopped {
            r?;
        }
        server.run(
            "wipe",
            &Cmd::new("rm")
                .arg("-rf")
                .arg(path_str(&self.data_dir(node))),
        )?;
        server.forget()?;
        Ok(sentinel.forget()?)
    }

    /// [`Redis::teardown`] on every node at once.
    pub fn teardown_all(&self) -> Result<(), DbError> {
        DbError::gather(each(&self.nodes, |n| self.teardown(&n.name)))
    }

    /// [`Redis::setup`] on every node at once.
    pub fn setup_all(&self) -> Result<(), DbError> {
        DbError::gather(each(&self.nodes, |n| self.setup(&n.name)))
    }

    /// The server's version as the first node reports it, e.g. `Redis server v=7.0.15 ...`.
    pub fn version(&self) -> Result<String, DbError> {
        let n = self.first()?;
        n.remote
            .run(
                &Cmd::new(&self.server_bin)
                    .arg("--version")
                    .raw("2>&1 | head -n 1"),
                Some(Duration::from_secs(10)),
            )
            .map_err(|e| DbError::Failed(format!("redis version on {}: {e}", n.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;

    fn redis() -> Redis {
        let nodes = [("n1", "10.0.0.11"), ("n2", "10.0.0.12")]
            .iter()
            .map(|(name, ip)| RedisNode {
                name: name.to_string(),
                ip: ip.to_string(),
                remote: Arc::new(LocalRemote::new(*name)) as Arc<dyn Remote>,
            })
            .collect();
        Redis::new(
            nodes,
            "/b",
            Durability {
                min_replicas_to_write: 0,
                max_lag_secs: 10,
            },
            Failover {
                quorum: 2,
                down_after_ms: 2000,
                failover_timeout_ms: 10000,
            },
        )
    }

    #[test]
    fn each_node_has_its_own_files_and_processes() {
        let r = redis();
        assert_eq!(r.data_dir("n2"), Path::new("/b/n2/data"));
        assert_eq!(r.server_log("n1"), Path::new("/b/n1/redis.log"));
        assert_eq!(r.sentinel_log("n1"), Path::new("/b/n1/sentinel.log"));
        let (server, sentinel) = (r.server("n2").unwrap(), r.sentinel("n2").unwrap());
        assert_eq!(server.pidfile, Path::new("/b/n2/redis.pid"));
        assert_eq!(sentinel.pidfile, Path::new("/b/n2/sentinel.pid"));
        assert_eq!(r.server_addr("n2").unwrap(), "10.0.0.12:6379");
        assert_eq!(r.sentinel_addr("n1").unwrap(), "10.0.0.11:26379");
    }

    #[test]
    fn an_unknown_node_is_an_error_naming_the_nodes() {
        let err = redis().kill("n9").expect_err("no n9");
        assert_eq!(err.to_string(), "redis: no node named n9 (nodes: n1,n2)");
    }
}
