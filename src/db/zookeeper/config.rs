//! What each ZooKeeper server is told: its `myid`, its `zoo.cfg`, and the JVM command line that
//! runs it. Pure functions of the settings, so that they can be read and tested without a node.
//!
//! The JVM is started directly (not through `zkServer.sh`, which would leave a shell between the
//! pidfile and the JVM), with the class path and main class Debian's `/etc/zookeeper` scripts
//! use. Debian's jar names its dependencies in its manifest's `Class-Path`, except a logging
//! backend: without one, slf4j drops every line. `slf4j-simple` (in `libslf4j-java`, which
//! `zookeeper` depends on) is added to the class path, so each server writes its log to stderr,
//! which the daemon appends to the node's `zookeeper.log`.

use std::time::Duration;

/// The port clients (and `srvr`) talk to.
pub const CLIENT_PORT: u16 = 2181;
/// The port followers reach the leader on.
pub const QUORUM_PORT: u16 = 2888;
/// The port of leader election.
pub const ELECTION_PORT: u16 = 3888;
/// Debian's ZooKeeper server jar (package `zookeeper`).
pub const DEBIAN_JAR: &str = "/usr/share/java/zookeeper.jar";
/// The slf4j backend that writes to stderr (package `libslf4j-java`).
pub const LOGGER_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// The server's main class: a quorum peer (a lone server runs standalone).
pub const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// Prints the jar's version (`Apache ZooKeeper, version 3.8.0 ...`).
pub const VERSION_CLASS: &str = "org.apache.zookeeper.version.VersionInfoMain";
/// Heap of each server: five JVMs share the local cluster's machine (`shared/CLUSTER.md`).
pub const HEAP: &str = "-Xmx256m";

/// How the ensemble is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// ZooKeeper's unit of time: heartbeats, and the unit of the limits below.
    pub tick_time: Duration,
    /// Ticks a follower may take to connect and sync to a new leader.
    pub init_limit: u32,
    /// Ticks a follower may lag behind the leader before either gives up on the other: the
    /// length of the window in which a cut-off follower still serves its local state.
    pub sync_limit: u32,
    /// The server jar.
    pub jar: String,
    /// Test only: every server is told wrong ports for its peers, so no quorum ever forms.
    pub misconfigured_peers: bool,
    /// Variables for the JVM's environment (libfaketime's `LD_PRELOAD`, say).
    pub env: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick_time: Duration::from_millis(DEFAULT_TICK_MS),
            init_limit: 10,
            sync_limit: DEFAULT_SYNC_LIMIT,
            jar: DEBIAN_JAR.to_string(),
            misconfigured_peers: false,
            env: Vec::new(),
        }
    }
}

/// The default `tickTime`: shorter than ZooKeeper's 2000 ms so that a run's faults are noticed
/// and healed in seconds, long enough that five JVMs on two busy cores do not miss heartbeats.
pub const DEFAULT_TICK_MS: u64 = 500;
/// The default `syncLimit`, in ticks.
pub const DEFAULT_SYNC_LIMIT: u32 = 5;

/// One server of the ensemble as the others name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer<'a> {
    /// Its `myid`, 1-based.
    pub id: u32,
    /// The address it listens on.
    pub ip: &'a str,
}

/// `zoo.cfg` of server `me`, whose data lives in `data_dir`. Every client connects from the
/// one machine faultline runs on, and a retired worker's session lingers until it is closed,
/// so the per-address connection limit (60 by default) is lifted (`maxClientCnxns=0`).
pub fn zoo_cfg(settings: &Settings, data_dir: &str, me: Peer<'_>, peers: &[Peer<'_>]) -> String {
    let mut cfg = format!(
        "# Written by faultline; server {id} of {n}.\n\
         tickTime={tick}\n\
         initLimit={init}\n\
         syncLimit={sync}\n\
         dataDir={data_dir}\n\
         clientPort={CLIENT_PORT}\n\
         clientPortAddress={ip}\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=*\n\
         maxClientCnxns=0\n",
        id = me.id,
        n = peers.len(),
        tick = settings.tick_time.as_millis(),
        init = settings.init_limit,
        sync = settings.sync_limit,
        ip = me.ip,
    );
    for p in peers {
        // A server binds its own entry's ports; the others' entries are how it reaches them.
        let offset = if settings.misconfigured_peers && p.id != me.id {
            1000
        } else {
            0
        };
        cfg.push_str(&format!(
            "server.{}={}:{}:{}\n",
            p.id,
            p.ip,
            QUORUM_PORT + offset,
            ELECTION_PORT + offset
        ));
    }
    cfg
}

/// The JVM's arguments (after the `java` program) for the server configured by `config_path`.
pub fn jvm_args(settings: &Settings, config_path: &str) -> Vec<String> {
    [
        HEAP,
        // One GC thread and no JIT tiers beyond C1: five JVMs on two cores must leave room for
        // the clients and the nemesis, and ZooKeeper's load here is light.
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Djava.net.preferIPv4Stack=true",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "-Dorg.slf4j.simpleLogger.showThreadName=false",
        "-cp",
        &format!("{}:{LOGGER_JAR}", settings.jar),
        MAIN_CLASS,
        config_path,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> Vec<Peer<'static>> {
        vec![
            Peer {
                id: 1,
                ip: "10.77.0.11",
            },
            Peer {
                id: 2,
                ip: "10.77.0.12",
            },
            Peer {
                id: 3,
                ip: "10.77.0.13",
            },
        ]
    }

    #[test]
    fn a_server_listens_on_its_own_address_and_names_every_peer() {
        let p = peers();
        let cfg = zoo_cfg(&Settings::default(), "/d/n2/data", p[1], &p);
        for line in [
            "tickTime=500",
            "initLimit=10",
            "syncLimit=5",
            "dataDir=/d/n2/data",
            "clientPortAddress=10.77.0.12",
            "4lw.commands.whitelist=*",
            "server.1=10.77.0.11:2888:3888",
            "server.2=10.77.0.12:2888:3888",
            "server.3=10.77.0.13:2888:3888",
        ] {
            assert!(cfg.lines().any(|l| l == line), "{line} missing:\n{cfg}");
        }
    }

    #[test]
    fn misconfigured_peers_get_ports_nobody_listens_on_but_the_server_keeps_its_own() {
        let p = peers();
        let settings = Settings {
            misconfigured_peers: true,
            ..Settings::default()
        };
        let cfg = zoo_cfg(&settings, "/d", p[0], &p);
        assert!(cfg.contains("server.1=10.77.0.11:2888:3888\n"), "{cfg}");
        assert!(cfg.contains("server.2=10.77.0.12:3888:4888\n"), "{cfg}");
    }

    #[test]
    fn the_jvm_runs_the_quorum_peer_with_a_logger_and_a_bounded_heap() {
        let args = jvm_args(&Settings::default(), "/d/n1/zoo.cfg");
        assert_eq!(args[0], "-Xmx256m");
        let cp = args.iter().position(|a| a == "-cp").expect("-cp");
        assert_eq!(
            args[cp + 1],
            "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
        );
        assert_eq!(&args[args.len() - 2..], [MAIN_CLASS, "/d/n1/zoo.cfg"]);
    }
}
