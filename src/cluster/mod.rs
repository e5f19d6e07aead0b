//! The local cluster: N nodes on this machine, each a network namespace with its own address
//! and its own sshd, joined by a bridge.
//!
//! It exists so that a test runs against real processes over a real network with real faults
//! (iptables inside a namespace cuts that node off) without any other machine, while the
//! harness drives it over SSH exactly as it would drive remote machines. The recipe and its
//! pitfalls are in `shared/CLUSTER.md`.
//!
//! Everything a cluster owns is named after it: namespaces `<name>-n1..`, veths `<name>-v1..`,
//! bridge `<name>-br`, subnet 10.77.K.0/24 (K = 0 for the default `fl`, otherwise derived from
//! the name and recorded), state under `/run/faultline/<name>/` (keys, sshd configs, pidfiles,
//! logs, `cluster.json`). That is what lets [`Cluster::down`] remove exactly what `up` made,
//! even after a faultline that was killed half-way, and lets several clusters coexist (the
//! integration tests run one per test, in parallel).
//!
//! `up` is idempotent: on a healthy cluster of the same size it returns at once; otherwise it
//! first tears down whatever is left of an earlier run, then builds afresh.

pub mod cmd;
mod host;
mod net;
mod sshd;

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::control::ssh::{SshConfig, SshRemote};

/// Name of the cluster when none is given.
pub const DEFAULT_NAME: &str = "fl";
/// Number of nodes when none is given.
pub const DEFAULT_NODES: usize = 5;
/// Where clusters keep their state. Under /run: it is root-only and cleared on reboot, exactly
/// when namespaces and processes vanish too, so state never outlives what it describes.
pub const STATE_ROOT: &str = "/run/faultline";
/// Longest cluster name: `<name>-v244` must fit Linux's 15-byte interface names.
pub const MAX_NAME_LEN: usize = 10;
/// Most nodes: addresses 10.77.K.11 ..= 10.77.K.254 would allow 244; 200 is plenty.
pub const MAX_NODES: usize = 200;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster name cannot be used for interface and namespace names.
    #[error("invalid cluster name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    /// The node count is out of range.
    #[error("invalid node count {0}: must be 1..={MAX_NODES}")]
    InvalidNodeCount(usize),
    /// Namespaces, bridges and routes need root.
    #[error("the local cluster needs root (network namespaces, bridge, routes); run as root")]
    NotRoot,
    /// A host tool failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// A state file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `cluster.json` is not valid.
    #[error("{path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// There is no such cluster (no `cluster.json`).
    #[error("cluster {name} is not up (no {path}); run `faultline cluster up --cluster {name}`")]
    NotUp { name: String, path: PathBuf },
    /// A node's sshd did not start or does not answer.
    #[error("node {node} ({ip}): sshd does not answer: {detail}")]
    SshdNotAnswering {
        node: String,
        ip: Ipv4Addr,
        detail: String,
    },
    /// Every 10.77.K.0/24 is taken.
    #[error("no free subnet in 10.77.0.0/16 for another cluster")]
    NoFreeSubnet,
}

/// One node of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name (`n1`..): its hostname, and its name in histories and datastore configs.
    pub name: String,
    /// Its address, reachable from this machine and from the other nodes.
    pub ip: Ipv4Addr,
    /// Its network namespace (`<cluster>-n1`).
    pub netns: String,
    /// The root-namespace end of its veth pair.
    pub veth: String,
    /// Its sshd's configuration.
    pub sshd_config: PathBuf,
    /// Its sshd's pidfile: how `down` finds the daemon even if the namespace is gone.
    pub sshd_pidfile: PathBuf,
    /// Its sshd's log (`-E`): where to look when a node refuses connections.
    pub sshd_log: PathBuf,
}

/// Everything needed to use a running local cluster; also its `cluster.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The cluster's name; prefixes its namespaces and links.
    pub name: String,
    /// `10.77.K.0/24`.
    pub subnet: String,
    /// The K of the subnet, as chosen when the cluster was created.
    pub subnet_octet: u8,
    /// The bridge joining the nodes; its address 10.77.K.1 is this machine.
    pub bridge: String,
    /// The nodes, n1 first.
    pub nodes: Vec<NodeInfo>,
    /// The user to log in as over SSH.
    pub user: String,
    /// The client key that every node's sshd accepts.
    pub private_key: PathBuf,
    /// known_hosts with every node's address and host key, for strict host-key checking.
    pub known_hosts: PathBuf,
    /// Where keys, sshd configs, pidfiles, logs and this description live.
    pub state_dir: PathBuf,
}

impl ClusterInfo {
    /// Reads the recorded description of cluster `name`.
    pub fn load(name: &str) -> Result<ClusterInfo, ClusterError> {
        validate_name(name)?;
        let path = state_dir(name).join("cluster.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClusterError::NotUp {
                    name: name.to_string(),
                    path,
                })
            }
            Err(source) => return Err(ClusterError::Io { path, source }),
        };
        serde_json::from_str(&text).map_err(|source| ClusterError::State { path, source })
    }

    /// SSH settings that reach this cluster's nodes: its key, its known_hosts, strict checking.
    pub fn ssh_config(&self) -> SshConfig {
        SshConfig {
            user: self.user.clone(),
            private_key: Some(self.private_key.clone()),
            use_agent: false,
            known_hosts: Some(self.known_hosts.clone()),
            strict_host_key_checking: true,
            ..SshConfig::default()
        }
    }

    /// One SSH remote per node (not yet connected), in node order.
    pub fn remotes(&self) -> Vec<SshRemote> {
        let config = Arc::new(self.ssh_config());
        self.nodes
            .iter()
            .map(|n| SshRemote::new(n.name.clone(), n.ip.to_string(), config.clone()))
            .collect()
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }

    fn save(&self) -> Result<(), ClusterError> {
        let path = self.state_dir.join("cluster.json");
        let json = serde_json::to_string_pretty(self).map_err(|source| ClusterError::State {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, json + "\n").map_err(|source| ClusterError::Io { path, source })
    }
}

/// How one node is doing, for `cluster status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's name.
    pub name: String,
    /// The node's address.
    pub ip: Ipv4Addr,
    /// Its namespace exists.
    pub netns: bool,
    /// The PID of its sshd, if running.
    pub sshd_pid: Option<i32>,
    /// sshd greets us at the node's address.
    pub sshd_answers: bool,
}

/// Operations on local clusters by name.
pub struct Cluster;

impl Cluster {
    /// Brings cluster `name` up with `nodes` nodes and returns how to reach it. Quick and
    /// harmless on a cluster that is already up with that many nodes; anything else that
    /// carries the name (a different size, a half-built or killed run) is torn down first.
    pub fn up(name: &str, nodes: usize) -> Result<ClusterInfo, ClusterError> {
        validate_name(name)?;
        if nodes == 0 || nodes > MAX_NODES {
            return Err(ClusterError::InvalidNodeCount(nodes));
        }
        require_root()?;
        let _lock = StateLock::acquire()?;
        if let Ok(info) = ClusterInfo::load(name) {
            if info.nodes.len() == nodes && healthy(&info) {
                return Ok(info);
            }
        }
        teardown(name);
        let result = build(name, nodes);
        if result.is_err() {
            // Leave nothing half-built behind.
            teardown(name);
        }
        result
    }

    /// Tears cluster `name` down: every process in its namespaces, its sshds, namespaces,
    /// links, guard route and state dir. Fine to call on a cluster that is partly or not at
    /// all there.
    pub fn down(name: &str) -> Result<(), ClusterError> {
        validate_name(name)?;
        require_root()?;
        let _lock = StateLock::acquire()?;
        teardown(name);
        Ok(())
    }

    /// The state of each recorded node of cluster `name`.
    pub fn status(name: &str) -> Result<(ClusterInfo, Vec<NodeStatus>), ClusterError> {
        let info = ClusterInfo::load(name)?;
        let status = info
            .nodes
            .iter()
            .map(|n| NodeStatus {
                name: n.name.clone(),
                ip: n.ip,
                netns: net::netns_exists(&n.netns),
                sshd_pid: sshd::pid(n),
                sshd_answers: sshd::answers(n.ip, Duration::from_secs(1)),
            })
            .collect();
        Ok((info, status))
    }
}

/// The state dir of cluster `name`.
pub fn state_dir(name: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(name)
}

/// Checks that `name` makes valid, unambiguous namespace and interface names.
pub fn validate_name(name: &str) -> Result<(), ClusterError> {
    let bad = |reason: &str| {
        Err(ClusterError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return bad(&format!(
            "must be 1 to {MAX_NAME_LEN} characters (interface names are limited to 15)"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("only a-z, 0-9 and '-' are allowed");
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return bad("must start with a letter");
    }
    Ok(())
}

fn require_root() -> Result<(), ClusterError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ClusterError::NotRoot);
    }
    Ok(())
}

fn healthy(info: &ClusterInfo) -> bool {
    net::link_exists(&info.bridge)
        && net::guard_route_exists(info.subnet_octet)
        && info.nodes.iter().all(|n| net::netns_exists(&n.netns))
        && info.private_key.exists()
        && info.known_hosts.exists()
        && sshd::all_answer(info)
}

fn build(name: &str, count: usize) -> Result<ClusterInfo, ClusterError> {
    let dir = state_dir(name);
    let claimed = claimed_octets(name);
    let octet = net::choose_octet(name, &claimed)?;
    std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io {
        path: dir.clone(),
        source,
    })?;
    // The private keys live here: root only.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        ClusterError::Io {
            path: dir.clone(),
            source,
        }
    })?;
    let keys = sshd::Keys::paths(&dir);
    let nodes: Vec<NodeInfo> = (1..=count)
        .map(|i| {
            let node_dir = dir.join("nodes").join(format!("n{i}"));
            NodeInfo {
                name: format!("n{i}"),
                ip: net::node_ip(octet, i),
                netns: format!("{name}-n{i}"),
                veth: format!("{name}-v{i}"),
                sshd_config: node_dir.join("sshd_config"),
                sshd_pidfile: node_dir.join("sshd.pid"),
                sshd_log: node_dir.join("sshd.log"),
            }
        })
        .collect();
    let info = ClusterInfo {
        name: name.to_string(),
        subnet: net::subnet(octet),
        subnet_octet: octet,
        bridge: net::bridge_name(name),
        nodes,
        user: "root".to_string(),
        private_key: keys.private_key.clone(),
        known_hosts: keys.known_hosts.clone(),
        state_dir: dir,
    };
    // Recorded before anything is created, so that a run killed half-way can still be torn down
    // precisely (and its subnet is not handed to another cluster meanwhile).
    info.save()?;
    let ips: Vec<Ipv4Addr> = info.nodes.iter().map(|n| n.ip).collect();
    sshd::generate_keys(name, &keys, &ips)?;
    for n in &info.nodes {
        sshd::write_config(n, &keys)?;
    }
    let links: Vec<net::NodeLink<'_>> = info
        .nodes
        .iter()
        .map(|n| net::NodeLink {
            netns: &n.netns,
            veth: &n.veth,
            ip: n.ip,
        })
        .collect();
    net::create(name, octet, &links)?;
    for n in &info.nodes {
        sshd::start(n)?;
    }
    Ok(info)
}

/// Removes everything cluster `name` may own, whether or not its state survived.
fn teardown(name: &str) {
    let dir = state_dir(name);
    let recorded = ClusterInfo::load(name).ok();
    // Processes first: a namespace stays alive (nameless) while a process uses it.
    let mut pids: Vec<i32> = Vec::new();
    for ns in net::cluster_netns(name) {
        pids.extend(host::netns_pids(&ns));
    }
    let marker = dir.to_string_lossy().into_owned();
    if let Ok(nodes) = std::fs::read_dir(dir.join("nodes")) {
        for entry in nodes.flatten() {
            if let Some(pid) = host::pid_from_file(&entry.path().join("sshd.pid"), &marker) {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    host::terminate(&pids, Duration::from_secs(3));

    let octet = recorded
        .as_ref()
        .map(|i| i.subnet_octet)
        .or_else(|| net::bridge_octet(name));
    net::remove(name, octet);
    if octet.is_none() {
        // Nothing recorded and no bridge: the only guard route we can attribute to this cluster
        // is the one for its preferred subnet, and only if no other cluster has recorded that.
        let preferred = net::preferred_octet(name);
        if !claimed_octets(name).contains(&preferred) {
            net::remove(name, Some(preferred));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Subnet octets recorded by other clusters' state.
fn claimed_octets(except: &str) -> Vec<u8> {
    let Ok(dir) = std::fs::read_dir(STATE_ROOT) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| e.file_name().to_str() != Some(except))
        .filter_map(|e| std::fs::read_to_string(e.path().join("cluster.json")).ok())
        .filter_map(|text| serde_json::from_str::<ClusterInfo>(&text).ok())
        .map(|info| info.subnet_octet)
        .collect()
}

/// An exclusive lock on the state root for the duration of an `up` or `down`, so that two
/// clusters created at once (parallel tests) cannot pick the same subnet.
struct StateLock {
    _file: File,
}

impl StateLock {
    fn acquire() -> Result<StateLock, ClusterError> {
        let root = Path::new(STATE_ROOT);
        std::fs::create_dir_all(root).map_err(|source| ClusterError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let path = root.join(".lock");
        let file = File::create(&path).map_err(|source| ClusterError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: flock on a descriptor we own; released when `file` is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(ClusterError::Io {
                path,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_fit_interface_names() {
        assert!(validate_name("fl").is_ok());
        assert!(validate_name("ft-exec").is_ok());
        assert!(validate_name("abcdefghij").is_ok());
        assert!(validate_name("abcdefghijk").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("Fl").is_err());
        assert!(validate_name("1fl").is_err());
        assert!(validate_name("f l").is_err());
        assert!(validate_name("../x").is_err());
    }
}
