//! ZooKeeper 3.8 (Debian's `zookeeper`, on Java 17): one server per node; register, counter,
//! unique-ids and bank workloads on znodes.
//!
//! [`config`] is what each server is told (`zoo.cfg`, `myid`, the JVM's command line),
//! [`ensemble`] the lifecycle (set up, start, stop, kill, pause, wipe, leader), [`srvr`] how a
//! server is asked its role, [`client`] the session with one server, the register client and
//! its sorting of errors into definite and indefinite, [`counting`] the counter and unique-ids
//! clients, [`accounts`] the bank client. This file joins them into a [`Db`] and holds
//! ZooKeeper's options.
//!
//! ZooKeeper promises linearizable writes but only sequentially consistent reads: a server
//! answers reads from its own state, so a follower cut off from the leader serves old values
//! until it notices (after `syncLimit` ticks). `--zk-sync-reads` sends a `sync` before each read.

pub mod accounts;
pub mod client;
pub mod config;
pub mod counting;
pub mod ensemble;
pub mod srvr;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{bank, counter, register, unique_ids, BoxFuture, Client, ClientError};

use super::{Connect, Db, DbContext, DbError, DbOptions, DbSpec};
pub use client::{Timeouts, ZkClient};
pub use config::Settings;
pub use ensemble::{Ensemble, ZkServer};

/// ZooKeeper in the registry.
pub const SPEC: DbSpec = DbSpec {
    name: "zookeeper",
    about: "ZooKeeper 3.8 (Debian zookeeper), one server per node; reads sequentially \
            consistent, or synced first",
    workloads: &["register", "counter", "unique-ids", "bank"],
    packages: &[ensemble::PACKAGE, ensemble::JAVA_PACKAGE],
    open,
};

/// ZooKeeper's options.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[command(next_help_heading = "ZooKeeper (--db zookeeper)")]
#[group(id = "zookeeper-options")]
pub struct Options {
    /// ZooKeeper's tickTime in milliseconds: heartbeats, and the unit of initLimit (10 ticks)
    /// and syncLimit [default: 500].
    #[arg(long, value_name = "MS")]
    pub zk_tick_time_ms: Option<u64>,

    /// syncLimit in ticks: how long a follower cut off from the leader keeps serving reads
    /// before it notices [default: 5].
    #[arg(long, value_name = "TICKS")]
    pub zk_sync_limit: Option<u32>,

    /// Send a sync before each read, so that the server catches up with the leader first
    /// (ZooKeeper's reads are otherwise served from the server's local state).
    #[arg(long)]
    pub zk_sync_reads: bool,

    /// The ZooKeeper server jar on the nodes, its manifest naming its dependencies as Debian's
    /// does [default: Debian's /usr/share/java/zookeeper.jar, installed when missing].
    #[arg(long, value_name = "PATH")]
    pub zk_jar: Option<String>,

    /// Test only: tell every server wrong ports for its peers, so that no quorum ever forms.
    #[arg(long, hide = true)]
    pub zk_misconfigure_peers: bool,
}

impl Options {
    /// The options given on the command line.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.zk_tick_time_ms.is_some() {
            given.push("--zk-tick-time-ms");
        }
        if self.zk_sync_limit.is_some() {
            given.push("--zk-sync-limit");
        }
        if self.zk_sync_reads {
            given.push("--zk-sync-reads");
        }
        if self.zk_jar.is_some() {
            given.push("--zk-jar");
        }
        if self.zk_misconfigure_peers {
            given.push("--zk-misconfigure-peers");
        }
        given
    }

    /// The ensemble's settings, or why the options make none.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut s = Settings::default();
        if let Some(ms) = self.zk_tick_time_ms {
            if !(10..=60_000).contains(&ms) {
                return Err(format!(
                    "--zk-tick-time-ms {ms}: between 10 and 60000 milliseconds"
                ));
            }
            s.tick_time = Duration::from_millis(ms);
        }
        if let Some(ticks) = self.zk_sync_limit {
            if !(1..=1000).contains(&ticks) {
                return Err(format!("--zk-sync-limit {ticks}: between 1 and 1000 ticks"));
            }
            s.sync_limit = ticks;
        }
        if let Some(jar) = &self.zk_jar {
            if !jar.starts_with('/') {
                return Err(format!("--zk-jar {jar}: an absolute path on the nodes"));
            }
            s.jar = jar.clone();
        }
        s.misconfigured_peers = self.zk_misconfigure_peers;
        Ok(s)
    }
}

fn open(context: &DbContext, options: &DbOptions) -> Result<Arc<dyn Db>, String> {
    let o = &options.zookeeper;
    let settings = o.settings()?;
    let servers = context
        .nodes
        .iter()
        .zip(1..)
        .map(|(n, id)| ZkServer {
            name: n.name.clone(),
            ip: n.ip.clone(),
            id,
            remote: n.remote.clone(),
        })
        .collect();
    let timeouts = Timeouts {
        // A little under the worker's own bound, so that the client's sorting of a timeout
        // (definite while only reading) is what the history records.
        request: context.op_timeout.mul_f64(0.9),
        connect: context.op_timeout,
        // Within the 2 to 20 ticks the server allows.
        session: settings.tick_time * 10,
    };
    let mut ensemble = Ensemble::new(
        servers,
        Ensemble::default_base_dir(&context.cluster),
        settings,
    );
    if let Some(clock) = &context.fake_clock {
        ensemble = ensemble.with_fake_clock(clock.clone());
    }
    Ok(Arc::new(ZooKeeperDb {
        ensemble,
        sync_reads: o.zk_sync_reads,
        timeouts,
    }))
}

/// A ZooKeeper ensemble and how its clients read.
pub struct ZooKeeperDb {
    ensemble: Ensemble,
    sync_reads: bool,
    timeouts: Timeouts,
}

impl Db for ZooKeeperDb {
    fn setup(&self, node: &str) -> Result<(), DbError> {
        self.ensemble.setup(node)
    }

    fn await_ready(&self, timeout: Duration) -> Result<(), DbError> {
        self.ensemble.wait_ready(timeout)
    }

    fn teardown(&self, node: &str) -> Result<(), DbError> {
        self.ensemble.teardown(node)
    }

    fn start(&self, node: &str) -> Result<(), DbError> {
        self.ensemble.start(node)
    }

    fn kill(&self, node: &str) -> Result<(), DbError> {
        self.ensemble.kill(node)
    }

    fn pause(&self, node: &str) -> Result<(), DbError> {
        self.ensemble.pause(node)
    }

    fn resume(&self, node: &str) -> Result<(), DbError> {
        self.ensemble.resume(node)
    }

    fn primaries(&self) -> Result<Vec<String>, DbError> {
        Ok(self.ensemble.leaders())
    }

    fn log_files(&self, node: &str) -> Vec<(PathBuf, String)> {
        vec![
            (self.ensemble.log_path(node), "zookeeper.log".into()),
            (self.ensemble.config_path(node), "zoo.cfg".into()),
        ]
    }

    fn version(&self) -> Result<String, DbError> {
        let first = self
            .ensemble
            .servers()
            .first()
            .ok_or_else(|| DbError::Failed("zookeeper: no servers".into()))?;
        self.ensemble.version(&first.name)
    }

    /// The JVM reads the wall clock (`System.currentTimeMillis()`) through the C library's
    /// `clock_gettime`, so libfaketime moves it; `System.nanoTime()` moves too only with
    /// `--clock-fake-monotonic`.
    fn clock_faults(&self) -> Result<(), String> {
        Ok(())
    }

    fn connector(&self, workload: &str, node: &str) -> Result<Box<dyn Connect>, DbError> {
        let workload: fn(ZkClient) -> Box<dyn Client> = match workload {
            "register" => register::client::<ZkClient>,
            "counter" => counter::client::<ZkClient>,
            "unique-ids" => unique_ids::client::<ZkClient>,
            "bank" => bank::client::<ZkClient>,
            other => {
                return Err(DbError::Unsupported(format!(
                    "zookeeper has no client for the {other} workload"
                )))
            }
        };
        Ok(Box::new(ZkConnector {
            workload,
            server: self.ensemble.client_addr(node)?,
            sync_reads: self.sync_reads,
            timeouts: self.timeouts,
        }))
    }
}

/// Connects a worker to one server (its own node's, and no other), with one session of its
/// own, as the workload's client.
struct ZkConnector {
    /// Wraps the session as the workload's client.
    workload: fn(ZkClient) -> Box<dyn Client>,
    server: String,
    sync_reads: bool,
    timeouts: Timeouts,
}

impl Connect for ZkConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>> {
        Box::pin(async move {
            let c = ZkClient::connect(&self.server, self.sync_reads, self.timeouts).await?;
            Ok((self.workload)(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_workloads::register::RegisterGenerator;

    /// Several workloads may run at once on one ensemble (`--workload register,counter`): each
    /// keeps to top-level znodes of its own, and the bank's `getChildren` sees only accounts.
    #[test]
    fn each_workload_keeps_to_znodes_of_its_own() {
        let tops = [
            counting::COUNTER_ZNODE,
            counting::IDS_ZNODE,
            accounts::BANK_ZNODE,
        ];
        for (i, a) in tops.iter().enumerate() {
            assert_eq!(a.matches('/').count(), 1, "{a} is top-level");
            for b in &tops[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(counting::ID_PREFIX.starts_with(&format!("{}/", counting::IDS_ZNODE)));
        assert!(accounts::account_znode(0).starts_with(&format!("{}/", accounts::BANK_ZNODE)));
        for k in (0..1_000).chain([u64::MAX]) {
            // The register's znode is `/<key>` (client.rs).
            let register = format!("/{}", RegisterGenerator::key_name(k));
            assert!(!tops.contains(&register.as_str()), "{register}");
        }
    }

    #[test]
    fn every_workload_in_the_registry_has_a_client() {
        let db = ZooKeeperDb {
            ensemble: Ensemble::new(
                vec![ZkServer {
                    name: "n1".into(),
                    ip: "10.77.0.11".into(),
                    id: 1,
                    remote: Arc::new(crate::control::dummy::DummyRemote::new("n1")),
                }],
                PathBuf::from("/nonexistent"),
                Settings::default(),
            ),
            sync_reads: false,
            timeouts: Timeouts {
                request: Duration::from_millis(900),
                connect: Duration::from_secs(1),
                session: Duration::from_secs(5),
            },
        };
        for w in SPEC.workloads {
            assert!(db.connector(w, "n1").is_ok(), "{w}");
        }
        assert!(matches!(
            db.connector("set", "n1"),
            Err(DbError::Unsupported(_))
        ));
    }

    #[test]
    fn options_out_of_range_are_refused_before_anything_runs() {
        let o = |f: fn(&mut Options)| {
            let mut o = Options::default();
            f(&mut o);
            o.settings()
        };
        assert!(o(|_| {}).is_ok());
        let e = o(|o| o.zk_tick_time_ms = Some(0)).unwrap_err();
        assert!(e.contains("--zk-tick-time-ms 0"), "{e}");
        let e = o(|o| o.zk_sync_limit = Some(0)).unwrap_err();
        assert!(e.contains("--zk-sync-limit"), "{e}");
        let e = o(|o| o.zk_jar = Some("zookeeper.jar".into())).unwrap_err();
        assert!(e.contains("absolute path"), "{e}");
        let s = o(|o| {
            o.zk_tick_time_ms = Some(200);
            o.zk_sync_limit = Some(3);
        })
        .unwrap();
        assert_eq!(s.tick_time, Duration::from_millis(200));
        assert_eq!(s.sync_limit, 3);
    }

    #[test]
    fn the_given_options_are_named_for_the_foreign_option_check() {
        let o = Options {
            zk_sync_reads: true,
            zk_tick_time_ms: Some(100),
            ..Options::default()
        };
        assert_eq!(o.given(), vec!["--zk-tick-time-ms", "--zk-sync-reads"]);
    }
}
