//! Datastores: Jepsen's `db` and `client` protocols, and the registry of datastores.
//!
//! A datastore is one folder here (`etcd/`, `redis/`, `zookeeper/`), holding its lifecycle (set
//! up, start, stop, kill, pause, tear down, on each node, over a [`crate::control::Remote`]), its
//! clients (one per workload it supports, each implementing that workload's capability trait)
//! and its command-line options. It fills in [`Db`] and names itself in [`DbSpec`]; the
//! registry line at the bottom of this file makes it known to `faultline test`. The run loop
//! knows no datastore's name.
//!
//! Every process a datastore starts is driven by pidfile through [`daemon`], never by name: on
//! the local cluster every node shares one PID space.

pub mod daemon;
pub mod faketime;
pub mod install;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{BoxFuture, Client, ClientError};

use crate::control::Remote;

/// Why a datastore action failed. Every variant names the node or the datastore.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The datastore's program is missing on a node and could not be installed.
    #[error("node {node}: {program} is not installed and could not be installed (Debian package {package}): {detail}")]
    NotInstalled {
        node: String,
        program: String,
        package: String,
        detail: String,
    },
    /// A node could not be reached (SSH refused or timed out).
    #[error("{0}")]
    Unreachable(String),
    /// The datastore did not become ready in time: no leader elected, no quorum, replicas not
    /// in sync. The run ends `unknown` with this reason.
    #[error("{db} not ready after {after:.0?}: {detail}")]
    NotReady {
        db: &'static str,
        after: Duration,
        detail: String,
    },
    /// An action failed on a node (the message names it).
    #[error("{0}")]
    Failed(String),
    /// The datastore cannot do what was asked (a workload it does not support, ...).
    #[error("{0}")]
    Unsupported(String),
    /// Several nodes failed.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<DbError>),
}

impl From<daemon::DaemonError> for DbError {
    fn from(e: daemon::DaemonError) -> DbError {
        if e.is_unreachable() {
            DbError::Unreachable(e.to_string())
        } else {
            DbError::Failed(e.to_string())
        }
    }
}

impl DbError {
    /// One error from the failures of an action run on every node (`Ok` when none failed).
    pub fn gather(results: Vec<Result<(), DbError>>) -> Result<(), DbError> {
        let mut errors: Vec<DbError> = results.into_iter().filter_map(Result::err).collect();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(DbError::Several(errors)),
        }
    }

    /// Whether the cause is a node that cannot be reached or lacks the datastore (exit 69),
    /// rather than a datastore that misbehaves.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::NotInstalled { .. } | DbError::Unreachable(_) => true,
            DbError::Several(all) => all.iter().any(DbError::is_unavailable),
            _ => false,
        }
    }

    /// Whether the datastore came up but never became ready.
    pub fn is_not_ready(&self) -> bool {
        match self {
            DbError::NotReady { .. } => true,
            DbError::Several(all) => all.iter().all(DbError::is_not_ready),
            _ => false,
        }
    }
}

/// One node as a datastore sees it.
#[derive(Clone)]
pub struct DbNode {
    pub name: String,
    /// The address the datastore listens on and advertises.
    pub ip: String,
    pub remote: Arc<dyn Remote>,
}

/// What a datastore is given to open a cluster.
#[derive(Clone)]
pub struct DbContext {
    pub nodes: Vec<DbNode>,
    /// Names the datastore's directories on the nodes (`/var/lib/faultline/<db>/<name>/<node>`),
    /// so that two clusters on one machine never share files.
    pub cluster: String,
    /// The run's seed (a cluster token, say, unique per run).
    pub seed: u64,
    /// The workloads the clients will run (several when they run at once, each on keys of its
    /// own).
    pub workloads: Vec<&'static str>,
    /// How long a client operation may take before it is given up as `info`.
    pub op_timeout: Duration,
    /// When the run has clock faults: start every process whose clock the nemesis moves under
    /// libfaketime, following its node's control file ([`faketime::FakeClock::env`]). `None`:
    /// start them as they are.
    pub fake_clock: Option<Arc<faketime::FakeClock>>,
}

/// Builds a worker's client, again after a failed connection.
pub trait Connect: Send + Sync {
    /// Connects to the node the connector was made for. Nothing is asked of the datastore, so
    /// any failure is `Definite`.
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>>;
}

/// A datastore cluster: Jepsen's `db` protocol, plus its clients. Every method blocks (they run
/// commands over SSH); the run calls them off the async executor. Errors name the node.
pub trait Db: Send + Sync {
    /// Installs what is missing (as Jepsen does on fresh Debian nodes), then sets up and starts
    /// the datastore on `node` afresh: whatever an earlier run left there is stopped and wiped.
    fn setup(&self, node: &str) -> Result<(), DbError>;

    /// Waits until the whole cluster serves: a leader or primary elected, every replica in
    /// sync. Called after setup, and again after healing, before the final reads.
    fn await_ready(&self, timeout: Duration) -> Result<(), DbError>;

    /// Stops the datastore on `node` (resuming it first if paused) and removes its data. Logs
    /// stay, for download. Stopping what is not running is not an error.
    fn teardown(&self, node: &str) -> Result<(), DbError>;

    /// Starts the datastore on `node` again on its data, after a kill.
    fn start(&self, node: &str) -> Result<(), DbError>;
    /// SIGKILLs the datastore's server on `node` (by pidfile).
    fn kill(&self, node: &str) -> Result<(), DbError>;
    /// SIGSTOPs it.
    fn pause(&self, node: &str) -> Result<(), DbError>;
    /// SIGCONTs it.
    fn resume(&self, node: &str) -> Result<(), DbError>;

    /// The nodes that are currently primary (leader) as the datastore itself says, for targeted
    /// faults; empty when none can be named right now.
    fn primaries(&self) -> Result<Vec<String>, DbError>;

    /// The log files on `node` worth downloading, with the names to store them under.
    fn log_files(&self, node: &str) -> Vec<(PathBuf, String)>;

    /// The datastore's version, as a node reports it.
    fn version(&self) -> Result<String, DbError>;

    /// Whether clock faults reach this datastore: `Ok` if its processes read the clock through
    /// the C library, so that libfaketime moves it, and it starts them under libfaketime when
    /// its [`DbContext::fake_clock`] says so; `Err` says why not. A run refuses clock faults on
    /// a datastore they do not reach rather than pretend.
    fn clock_faults(&self) -> Result<(), String> {
        Err("this datastore does not start its processes under libfaketime".into())
    }

    /// A connector for a worker of `workload` bound to `node`.
    fn connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError>;

    /// A connector for the final reads on `node`, after healing: they should say what `node`
    /// itself holds. The worker's connector unless a datastore's workers may be sent elsewhere
    /// (Redis's follow their Sentinel to the primary).
    fn final_connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError> {
        self.connector(workload, node)
    }
}

/// How a registry entry opens its cluster: pure (no I/O), so that the options can be checked
/// before anything is touched; an error is a usage error.
pub type OpenDb = fn(&DbContext, &DbOptions) -> Result<Arc<dyn Db>, String>;

/// A datastore in the registry.
pub struct DbSpec {
    /// `--db` name.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The workloads it has clients for.
    pub workloads: &'static [&'static str],
    /// The Debian packages each node needs (installed on setup when missing).
    pub packages: &'static [&'static str],
    /// Opens a cluster over the context's nodes; an error is a usage error (options that make
    /// no sense together).
    pub open: OpenDb,
}

impl DbSpec {
    pub fn supports(&self, workload: &str) -> bool {
        self.workloads.contains(&workload)
    }
}

/// The registry: one name per datastore on one line. It declares the datastore's module (its
/// folder), makes its options part of
/// `faultline test` (a group of their own in `--help`) and lists its [`DbSpec`].
macro_rules! datastores {
    ($($db:ident),* $(,)?) => {
        $(pub mod $db;)*

        /// The options of every datastore, each under its own heading in `--help`.
        #[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct DbOptions {
            $(
                #[command(flatten)]
                pub $db: $db::Options,
            )*
        }

        /// Every datastore `faultline test --db` can test.
        pub const DATASTORES: &[DbSpec] = &[$($db::SPEC),*];

        impl DbOptions {
            /// The options given on the command line that belong to another datastore than
            /// `db` (and so would silently do nothing).
            pub fn foreign(&self, db: &str) -> Vec<&'static str> {
                let mut given = Vec::new();
                $(
                    if $db::SPEC.name != db {
                        given.extend(self.$db.given());
                    }
                )*
                given
            }

            /// The options of datastore `db`, as `test.json` records them.
            pub fn record(&self, db: &str) -> serde_json::Value {
                $(
                    if $db::SPEC.name == db {
                        return serde_json::to_value(&self.$db).unwrap_or_default();
                    }
                )*
                serde_json::Value::Null
            }
        }
    };
}

datastores!(etcd, postgres, redis, zookeeper);

/// The datastore called `name`.
pub fn find(name: &str) -> Option<&'static DbSpec> {
    DATASTORES.iter().find(|d| d.name == name)
}

/// Every supported `<db>-<workload>` pair, for messages.
pub fn pairs() -> Vec<String> {
    DATASTORES
        .iter()
        .flat_map(|d| d.workloads.iter().map(move |w| format!("{}-{w}", d.name)))
        .collect()
}
