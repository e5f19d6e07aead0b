//! etcd (Debian's `etcd-server` 3.4): one member per node, the register workload over gRPC.
//!
//! [`cluster`] is the lifecycle (set up, start, stop, kill, pause, wipe, leader), [`client`]
//! the register client with its sorting of errors into definite and indefinite. This file
//! joins them into a [`Db`] and holds etcd's command-line options.

pub mod client;
pub mod cluster;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{register, BoxFuture, Client, ClientError};

use super::{Connect, Db, DbContext, DbError, DbOptions, DbSpec};
pub use client::{EtcdClient, ReadConsistency, Timeouts};
pub use cluster::{Etcd, EtcdMember, ETCDCTL_BIN, ETCD_BIN};

/// etcd in the registry.
pub const SPEC: DbSpec = DbSpec {
    name: "etcd",
    about: "etcd 3.4 (Debian etcd-server), one member per node; reads linearizable or serializable",
    workloads: &["register"],
    packages: &["etcd-server", "etcd-client"],
    open,
};

/// How etcd serves reads (`--read-consistency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistencyArg {
    /// Quorum reads: never stale.
    Linearizable,
    /// Local reads without a quorum (etcd --consistency=s): may be stale under a partition.
    Serializable,
}

/// etcd's options.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize)]
#[group(id = "etcd-options")]
#[command(next_help_heading = "etcd (--db etcd)")]
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
            "register" => Ok(Box::new(RegisterConnector {
                endpoint: self.etcd.client_url(node)?,
                consistency: self.consistency,
                timeouts: self.timeouts,
            })),
            other => Err(DbError::Unsupported(format!(
                "etcd has no client for the {other} workload"
            ))),
        }
    }
}

/// Connects a register worker to one member.
struct RegisterConnector {
    endpoint: String,
    consistency: ReadConsistency,
    timeouts: Timeouts,
}

impl Connect for RegisterConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>> {
        Box::pin(async move {
            let c = EtcdClient::connect(&self.endpoint, self.consistency, self.timeouts).await?;
            Ok(register::client(c))
        })
    }
}
