//! PostgreSQL 15 (Debian's `postgresql`): a primary on the first node and, with
//! `--pg-replicas N`, streaming replicas on the next N nodes; the transactional workloads
//! (`list-append`, `rw-register`), and counter, unique-ids and bank, each operation one
//! transaction at the isolation level of `--isolation`.
//!
//! [`config`] is what each server is told (command line, `pg_hba.conf`) and the schema,
//! [`server`] the lifecycle (set up, start, stop, kill, pause, tear down, ready), [`client`] the
//! `tokio-postgres` client with its sorting of errors. This file joins them into a [`Db`] and
//! holds PostgreSQL's options.
//!
//! What to expect (Adya's levels as PostgreSQL implements them): `serializable` is SSI and
//! should show no anomaly; `repeatable-read` is snapshot isolation, which allows write skew
//! (G2-item) and nothing weaker; `read-committed` takes a new snapshot per statement, so a
//! transaction can see another's writes half-way (G-single, read skew) as well.

pub mod client;
pub mod config;
mod counting;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{
    bank, counter, list_append, rw_register, unique_ids, BoxFuture, Client, ClientError,
};

use super::{Connect, Db, DbContext, DbError, DbOptions, DbSpec};
pub use client::{Endpoint, PgClient};
pub use server::{PgNode, Postgres, Role};

/// PostgreSQL in the registry.
pub const SPEC: DbSpec = DbSpec {
    name: "postgres",
    about: "PostgreSQL 15 (Debian postgresql), a primary on the first node, optional streaming \
            replicas; transactions at --isolation",
    workloads: &[
        list_append::SPEC.name,
        rw_register::SPEC.name,
        counter::SPEC.name,
        unique_ids::SPEC.name,
        bank::SPEC.name,
    ],
    packages: &[server::PACKAGE, "procps"],
    open,
};

/// The isolation level of every transaction.
#[derive(
    clap::ValueEnum,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    ReadCommitted,
    RepeatableRead,
    #[default]
    Serializable,
}

/// PostgreSQL's options.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[command(next_help_heading = "PostgreSQL (--db postgres)")]
#[group(id = "postgres-options")]
pub struct Options {
    /// The isolation level of every transaction (PostgreSQL's repeatable-read is snapshot
    /// isolation) [default: serializable].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub isolation: Option<Isolation>,

    /// Streaming replicas of the primary, on the nodes after the first [default: 0].
    #[arg(long, value_name = "N")]
    pub pg_replicas: Option<usize>,

    /// Workers bound to a replica's node run their read-only transactions on that replica
    /// (repeatable read there: a hot standby has no serializable transactions). Otherwise
    /// every transaction goes to the primary.
    #[arg(long)]
    pub pg_replica_reads: bool,
}

impl Options {
    /// The options given on the command line.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.isolation.is_some() {
            given.push("--isolation");
        }
        if self.pg_replicas.is_some() {
            given.push("--pg-replicas");
        }
        if self.pg_replica_reads {
            given.push("--pg-replica-reads");
        }
        given
    }

    /// The number of replicas, checked against the number of nodes.
    fn replicas(&self, nodes: usize) -> Result<usize, String> {
        let replicas = self.pg_replicas.unwrap_or(0);
        if replicas >= nodes {
            return Err(format!(
                "--pg-replicas {replicas}: with {nodes} node(s) there is room for at most {} \
                 (the first node is the primary)",
                nodes.saturating_sub(1)
            ));
        }
        if self.pg_replica_reads && replicas == 0 {
            return Err("--pg-replica-reads needs --pg-replicas 1 or more".into());
        }
        Ok(replicas)
    }
}

fn open(context: &DbContext, options: &DbOptions) -> Result<Arc<dyn Db>, String> {
    let o = &options.postgres;
    let replicas = o.replicas(context.nodes.len())?;
    let nodes = context
        .nodes
        .iter()
        .map(|n| PgNode {
            name: n.name.clone(),
            ip: n.ip.clone(),
            remote: n.remote.clone(),
        })
        .collect();
    Ok(Arc::new(PostgresDb {
        postgres: Postgres::new(
            nodes,
            Postgres::default_base_dir(&context.cluster),
            replicas,
        ),
        isolation: o.isolation.unwrap_or_default(),
        replica_reads: o.pg_replica_reads,
        op_timeout: context.op_timeout,
    }))
}

/// A PostgreSQL cluster and how its clients run transactions.
pub struct PostgresDb {
    postgres: Postgres,
    isolation: Isolation,
    replica_reads: bool,
    op_timeout: Duration,
}

impl PostgresDb {
    fn endpoint(&self, node: &str) -> Result<Endpoint, DbError> {
        let n = self.postgres.node(node)?;
        Ok(Endpoint {
            node: n.name.clone(),
            ip: n.ip.clone(),
        })
    }
}

impl Db for PostgresDb {
    fn setup(&self, node: &str) -> Result<(), DbError> {
        self.postgres.setup(node)
    }

    fn await_ready(&self, timeout: Duration) -> Result<(), DbError> {
        self.postgres.await_ready(timeout)
    }

    fn teardown(&self, node: &str) -> Result<(), DbError> {
        self.postgres.teardown(node)
    }

    fn start(&self, node: &str) -> Result<(), DbError> {
        self.postgres.start(node)
    }

    /// Kills the postmaster and every backend: a crash of the whole server.
    fn kill(&self, node: &str) -> Result<(), DbError> {
        self.postgres.kill(node)
    }

    /// Stops the postmaster and every backend.
    fn pause(&self, node: &str) -> Result<(), DbError> {
        self.postgres.pause(node)
    }

    fn resume(&self, node: &str) -> Result<(), DbError> {
        self.postgres.resume(node)
    }

    /// The first node: there is no failover.
    fn primaries(&self) -> Result<Vec<String>, DbError> {
        Ok(vec![self.postgres.primary()?.name.clone()])
    }

    fn log_files(&self, node: &str) -> Vec<(PathBuf, String)> {
        match self.postgres.role(node) {
            Ok(Role::Primary | Role::Replica) => {
                vec![(self.postgres.log_path(node), "postgres.log".into())]
            }
            _ => Vec::new(),
        }
    }

    fn version(&self) -> Result<String, DbError> {
        self.postgres.version()
    }

    /// A worker's client talks to the primary; with `--pg-replica-reads`, a worker on a
    /// replica's node runs its read-only transactions there.
    fn connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError> {
        let wrap: fn(PgClient) -> Box<dyn Client> = match workload {
            w if w == list_append::SPEC.name => {
                |c| faultline_workloads::txn::client(c, list_append::KIND)
            }
            w if w == rw_register::SPEC.name => {
                |c| faultline_workloads::txn::client(c, rw_register::KIND)
            }
            w if w == counter::SPEC.name => |c| counter::client(c),
            w if w == unique_ids::SPEC.name => |c| unique_ids::client(c),
            w if w == bank::SPEC.name => |c| bank::client(c),
            other => {
                return Err(DbError::Unsupported(format!(
                    "postgres has no client for the {other} workload"
                )))
            }
        };
        let replica = (self.replica_reads && self.postgres.role(node)? == Role::Replica)
            .then(|| self.endpoint(node))
            .transpose()?;
        Ok(Box::new(Connector {
            primary: self.endpoint(&self.postgres.primary()?.name)?,
            replica,
            isolation: self.isolation,
            wrap,
            timeout: self.op_timeout,
        }))
    }
}

/// Makes a worker's client.
struct Connector {
    primary: Endpoint,
    replica: Option<Endpoint>,
    isolation: Isolation,
    /// Makes the connection the workload's client.
    wrap: fn(PgClient) -> Box<dyn Client>,
    timeout: Duration,
}

impl Connect for Connector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>> {
        Box::pin(async move {
            let c = PgClient::connect(
                self.primary.clone(),
                self.replica.clone(),
                self.isolation,
                self.timeout,
            )
            .await?;
            Ok((self.wrap)(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_must_fit_on_the_nodes_after_the_primary() {
        let o = Options {
            pg_replicas: Some(5),
            ..Default::default()
        };
        let e = o.replicas(5).unwrap_err();
        assert!(e.contains("at most 4"), "{e}");
        assert_eq!(Options::default().replicas(1).unwrap(), 0);
        let o = Options {
            pg_replica_reads: true,
            ..Default::default()
        };
        assert!(o.replicas(3).unwrap_err().contains("needs --pg-replicas"));
    }

    #[test]
    fn the_given_options_are_named_for_the_foreign_option_check() {
        let o = Options {
            isolation: Some(Isolation::ReadCommitted),
            pg_replicas: Some(1),
            ..Default::default()
        };
        assert_eq!(o.given(), vec!["--isolation", "--pg-replicas"]);
        assert_eq!(
            serde_json::to_value(o).unwrap()["isolation"],
            "read-committed"
        );
    }
}
