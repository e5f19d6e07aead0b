//! etcd (Debian's `etcd-server` 3.4): one member per node; register, counter, unique-ids and
//! bank workloads over gRPC.
//!
//! [`cluster`] is the lifecycle (set up, start, stop, kill, pause, wipe, leader), [`client`]
//! the connection to one member with the register client and its sorting of errors into
//! definite and indefinite, [`counting`] the counter and unique-ids clients, [`accounts`] the
//! bank client. This file joins them into a [`Db`] and holds etcd's command-line options.

pub mod accounts;
pub mod client;
pub mod cluster;
pub mod counting;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{bank, counter, register, unique_ids, BoxFuture, Client, ClientError};

use super::{Connect, Db, DbContext, DbError, DbOptions, DbSpec};
pub use client::{EtcdClient, ReadConsistency, Timeouts};
pub use cluster::{Etcd, EtcdMember, ETCDCTL_BIN, ETCD_BIN};

/// etcd in the registry.
pub const SPEC: DbSpec = DbSpec {
    name: "etcd",
    about: "etcd 3.4 (Debian etcd-server), one member per node; reads linearizable or serializable",
    workloads: &["register", "counter", "unique-ids", "bank"],
    packages: &["etcd-server", "etcd-client"],
    open,
};

/// How etcd serves reads (`--read-consistency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistencyArg {
    /// Quorum reads: never stale.
    Linearizable,
    /// Local reads without a quorum (etcd --consistency=s): may be stale under a partition.
    Serializable,
}

/// etcd's options.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[command(next_help_heading = "etcd (--db etcd)")]
#[group(id = "etcd-options")]
pub struct Options {
    /// How etcd serves reads [default: linearizable].
    #[arg(long, value_enum)]
    pub read_consistency: Option<ReadConsistencyArg>,

    /// The etcd server to run on the nodes, e.g. a build of one's own [default: Debian's
    /// /usr/bin/etcd, installed when missing].
    #[arg(long, value_name = "PATH")]
    pub etcd_binary: Option<String>,
}

impl Options {
    /// The options given on the command line.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.read_consistency.is_some() {
            given.push("--read-consistency");
        }
        if self.etcd_binary.is_some() {
            given.push("--etcd-binary");
        }
        given
    }
}

fn open(context: &DbContext, options: &DbOptions) -> Result<Arc<dyn Db>, String> {
    let o = &options.etcd;
    let members = context
        .nodes
        .iter()
        .map(|n| EtcdMember {
            name: n.name.clone(),
            ip: n.ip.clone(),
            remote: n.remote.clone(),
        })
        .collect();
    let mut etcd = Etcd::new(
        members,
        Etcd::default_base_dir(&context.cluster),
        &format!("faultline-{:x}", context.seed),
    );
    if let Some(binary) = &o.etcd_binary {
        if !binary.starts_with('/') {
            return Err(format!(
                "--etcd-binary {binary}: an absolute path on the nodes"
            ));
        }
        etcd = etcd.with_binary(binary);
    }
    let consistency = match o.read_consistency {
        None | Some(ReadConsistencyArg::Linearizable) => ReadConsistency::Linearizable,
        Some(ReadConsistencyArg::Serializable) => ReadConsistency::Serializable,
    };
    Ok(Arc::new(EtcdDb {
        etcd,
        consistency,
        timeouts: Timeouts {
            request: context.op_timeout,
            connect: context.op_timeout,
        },
    }))
}

/// An etcd cluster and how its clients read.
pub struct EtcdDb {
    etcd: Etcd,
    consistency: ReadConsistency,
    timeouts: Timeouts,
}

impl Db for EtcdDb {
    fn setup(&self, node: &str) -> Result<(), DbError> {
        self.etcd.setup(node)
    }

    fn await_ready(&self, timeout: Duration) -> Result<(), DbError> {
        self.etcd.wait_healthy(timeout)
    }

    fn teardown(&self, node: &str) -> Result<(), DbError> {
        self.etcd.teardown(node)
    }

    fn start(&self, node: &str) -> Result<(), DbError> {
        self.etcd.start(node)
    }

    fn kill(&self, node: &str) -> Result<(), DbError> {
        self.etcd.kill(node)
    }

    fn pause(&self, node: &str) -> Result<(), DbError> {
        self.etcd.pause(node)
    }

    fn resume(&self, node: &str) -> Result<(), DbError> {
        self.etcd.resume(node)
    }

    fn primaries(&self) -> Result<Vec<String>, DbError> {
        self.etcd.leaders()
    }

    fn log_files(&self, node: &str) -> Vec<(PathBuf, String)> {
        vec![(self.etcd.log_path(node), "etcd.log".into())]
    }

    fn version(&self) -> Result<String, DbError> {
        let first = self
            .etcd
            .members()
            .first()
            .ok_or_else(|| DbError::Failed("etcd: no members".into()))?;
        self.etcd.version(&first.name)
    }

    fn connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError> {
        match workload {
            "register" | "counter" | "unique-ids" | "bank" => Ok(Box::new(EtcdConnector {
                workload: match workload {
                    "register" => register::client::<EtcdClient>,
                    "counter" => counter::client::<EtcdClient>,
                    "unique-ids" => unique_ids::client::<EtcdClient>,
                    _ => bank::client::<EtcdClient>,
                },
                endpoint: self.etcd.client_url(node)?,
                consistency: self.consistency,
                timeouts: self.timeouts,
            })),
            other => Err(DbError::Unsupported(format!(
                "etcd has no client for the {other} workload"
            ))),
        }
    }

    /// etcd is a Go program: the Go runtime reads the clock through the vDSO, not through the C
    /// library, so libfaketime cannot move it. Measured: etcd 3.4 started under libfaketime
    /// with an offset of +3600 s logs the machine's own time (`tests/clock_local.rs`).
    fn clock_faults(&self) -> Result<(), String> {
        Err("etcd is a Go program: the Go runtime reads the clock through the vDSO, without \
             the C library, so libfaketime cannot move its clock (measured: etcd started under \
             libfaketime with an offset of +3600 s logs the machine's own time); faultline does \
             not change the machine's clock, which every node of the local cluster shares"
            .into())
    }
}

/// Connects a worker to one member, with the workload's client.
struct EtcdConnector {
    /// Wraps the connection as the workload's client.
    workload: fn(EtcdClient) -> Box<dyn Client>,
    endpoint: String,
    consistency: ReadConsistency,
    timeouts: Timeouts,
}

impl Connect for EtcdConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>> {
        Box::pin(async move {
            let c = EtcdClient::connect(&self.endpoint, self.consistency, self.timeouts).await?;
            Ok((self.workload)(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_workloads::register::RegisterGenerator;

    /// Several workloads may run at once on one cluster (`--workload register,counter`): each
    /// must keep to keys no other touches, and the bank's prefix reads must see only accounts.
    #[test]
    fn each_workload_keeps_to_keys_of_its_own() {
        let singles = [counting::COUNTER_KEY, counting::IDS_KEY];
        assert_ne!(singles[0], singles[1]);
        for key in singles {
            assert!(!key.starts_with(accounts::PREFIX), "{key}");
        }
        for k in (0..1_000).chain([u64::MAX]) {
            let register = RegisterGenerator::key_name(k);
            assert!(!singles.contains(&register.as_str()), "{register}");
            assert!(!register.starts_with(accounts::PREFIX), "{register}");
        }
    }
}
