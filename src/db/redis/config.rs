//! The configuration files of one node: `redis.conf` for its server, `sentinel.conf` for its
//! Sentinel. Pure text, written fresh at every setup.
//!
//! Both files are rewritten by Redis while a test runs (Sentinel records what it learns: other
//! Sentinels, replicas, the current epoch and primary; a server told `REPLICAOF` by Sentinel
//! rewrites its `replicaof` line with `CONFIG REWRITE`). That is the real behaviour and a
//! server restarted after a kill comes back with the role Sentinel last gave it; but a
//! Sentinel started on a file left by an earlier run would bring that run's view of the
//! cluster, so setup always starts from these texts.

/// The name under which every Sentinel monitors the primary (`SENTINEL ... faultline`).
pub const MASTER_NAME: &str = "faultline";
/// The port of every server.
pub const SERVER_PORT: u16 = 6379;
/// The port of every Sentinel.
pub const SENTINEL_PORT: u16 = 26379;

/// What the servers are told about writes and replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// `min-replicas-to-write`: the primary refuses writes (`NOREPLICAS`) unless this many
    /// replicas acknowledged it within `max_lag_secs`. 0 = off, Redis's default.
    pub min_replicas_to_write: u32,
    /// `min-replicas-max-lag`, seconds.
    pub max_lag_secs: u32,
}

/// How the Sentinels decide that the primary is down and fail over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failover {
    /// How many Sentinels must agree that the primary is down (a majority of the nodes).
    pub quorum: u32,
    /// `down-after-milliseconds`: how long the primary may stay silent before a Sentinel
    /// considers it down.
    pub down_after_ms: u64,
    /// `failover-timeout`, ms: how long a Sentinel waits before trying a failover again, and
    /// gives the replicas to follow the new primary.
    pub failover_timeout_ms: u64,
}

/// `redis.conf` of a node: listening on its own address, its own data dir, an append-only file
/// (so a killed server restarts with what it acknowledged), a replica of `primary_ip` unless
/// it is the primary itself. No `pidfile` and no `logfile`: the process is started in the
/// foreground by `start-stop-daemon`, which keeps the pidfile, and its output is the log.
pub fn server_conf(ip: &str, data_dir: &str, primary_ip: Option<&str>, d: Durability) -> String {
    let mut conf = format!(
        "# Written by faultline at setup; Redis rewrites it (CONFIG REWRITE).\n\
         bind {ip}\n\
         port {SERVER_PORT}\n\
         protected-mode no\n\
         daemonize no\n\
         logfile \"\"\n\
         dir {data_dir}\n\
         appendonly yes\n\
         appendfsync everysec\n"
    );
    if let Some(primary) = primary_ip {
        conf.push_str(&format!("replicaof {primary} {SERVER_PORT}\n"));
    }
    if d.min_replicas_to_write > 0 {
        conf.push_str(&format!(
            "min-replicas-to-write {}\nmin-replicas-max-lag {}\n",
            d.min_replicas_to_write, d.max_lag_secs
        ));
    }
    conf
}

/// `sentinel.conf` of a node: listening on its own address, monitoring the primary at
/// `primary_ip` under [`MASTER_NAME`].
pub fn sentinel_conf(ip: &str, dir: &str, primary_ip: &str, f: Failover) -> String {
    format!(
        "# Written by faultline at setup; Sentinel rewrites it as it learns.\n\
         bind {ip}\n\
         port {SENTINEL_PORT}\n\
         protected-mode no\n\
         daemonize no\n\
         logfile \"\"\n\
         dir {dir}\n\
         sentinel monitor {MASTER_NAME} {primary_ip} {SERVER_PORT} {quorum}\n\
         sentinel down-after-milliseconds {MASTER_NAME} {down}\n\
         sentinel failover-timeout {MASTER_NAME} {timeout}\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        quorum = f.quorum,
        down = f.down_after_ms,
        timeout = f.failover_timeout_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: Durability = Durability {
        min_replicas_to_write: 0,
        max_lag_secs: 10,
    };

    #[test]
    fn the_primary_has_no_replicaof_line_and_a_replica_follows_it() {
        let primary = server_conf("10.0.0.11", "/d/n1/data", None, OFF);
        assert!(primary.contains("bind 10.0.0.11\n"), "{primary}");
        assert!(primary.contains("dir /d/n1/data\n"), "{primary}");
        assert!(!primary.contains("replicaof"), "{primary}");
        assert!(!primary.contains("min-replicas"), "{primary}");
        let replica = server_conf("10.0.0.12", "/d/n2/data", Some("10.0.0.11"), OFF);
        assert!(replica.contains("replicaof 10.0.0.11 6379\n"), "{replica}");
    }

    #[test]
    fn min_replicas_to_write_comes_with_its_max_lag() {
        let d = Durability {
            min_replicas_to_write: 2,
            max_lag_secs: 3,
        };
        let conf = server_conf("10.0.0.11", "/d", None, d);
        assert!(conf.contains("min-replicas-to-write 2\nmin-replicas-max-lag 3\n"));
    }

    #[test]
    fn every_sentinel_monitors_the_primary_with_the_failover_settings() {
        let conf = sentinel_conf(
            "10.0.0.13",
            "/d/n3",
            "10.0.0.11",
            Failover {
                quorum: 3,
                down_after_ms: 2000,
                failover_timeout_ms: 10000,
            },
        );
        assert!(conf.contains("port 26379\n"), "{conf}");
        assert!(conf.contains("sentinel monitor faultline 10.0.0.11 6379 3\n"));
        assert!(conf.contains("sentinel down-after-milliseconds faultline 2000\n"));
        assert!(conf.contains("sentinel failover-timeout faultline 10000\n"));
    }
}
