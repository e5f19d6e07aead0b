//! One sshd per node, so that the harness reaches local nodes over SSH exactly as it reaches
//! remote machines, with keys made for this cluster alone.
//!
//! Each sshd runs inside its node's network namespace (so a command run over SSH sees only that
//! node's address and acts on that node's iptables rules) and in its own UTS namespace whose
//! hostname is the node's name (`ip netns exec` alone would leave the machine's hostname).
//! Keys and configuration live in the cluster's state dir; nothing under `/etc/ssh` is touched.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::host::{pid_from_file, run};
use super::{ClusterError, ClusterInfo, NodeInfo};

const SSHD: &str = "/usr/sbin/sshd";

/// The client key, host key, authorized_keys and known_hosts of a cluster.
pub(crate) struct Keys {
    pub private_key: PathBuf,
    pub known_hosts: PathBuf,
    pub host_key: PathBuf,
    pub authorized_keys: PathBuf,
}

impl Keys {
    pub(crate) fn paths(state_dir: &Path) -> Keys {
        Keys {
            private_key: state_dir.join("id_ed25519"),
            known_hosts: state_dir.join("known_hosts"),
            host_key: state_dir.join("ssh_host_ed25519_key"),
            authorized_keys: state_dir.join("authorized_keys"),
        }
    }
}

/// Generates a fresh client key and host key and writes authorized_keys and a known_hosts line
/// for every node's address (all nodes share the host key: they are one machine, and one key
/// keeps `up` fast).
pub(crate) fn generate_keys(name: &str, keys: &Keys, ips: &[Ipv4Addr]) -> Result<(), ClusterError> {
    for (path, role) in [(&keys.private_key, "client"), (&keys.host_key, "host")] {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(pub_path(path));
        let path_s = path.to_string_lossy();
        let comment = format!("faultline-{name}-{role}");
        run(
            "ssh-keygen",
            &[
                "-q", "-t", "ed25519", "-N", "", "-C", &comment, "-f", &path_s,
            ],
        )?;
    }
    let client_pub = read(&pub_path(&keys.private_key))?;
    write(&keys.authorized_keys, client_pub.as_bytes())?;
    // known_hosts wants "host keytype base64"; drop the key's comment.
    let host_pub = read(&pub_path(&keys.host_key))?;
    let host_key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
    let lines: String = ips
        .iter()
        .map(|ip| format!("{ip} {}\n", host_key.join(" ")))
        .collect();
    write(&keys.known_hosts, lines.as_bytes())
}

/// Writes node's sshd_config. The state dir lives under /run (root-only), so `StrictModes no`
/// costs nothing and spares us sshd's checks of every parent directory's mode.
pub(crate) fn write_config(node: &NodeInfo, keys: &Keys) -> Result<(), ClusterError> {
    let config = format!(
        "# Written by faultline for node {name}; removed by `faultline cluster down`.\n\
         ListenAddress {ip}\n\
         Port 22\n\
         HostKey {host_key}\n\
         PidFile {pidfile}\n\
         AuthorizedKeysFile {authorized}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         X11Forwarding no\n\
         # The harness opens one session per node but may connect to all nodes at once.\n\
         MaxStartups 100:30:200\n\
         MaxSessions 64\n\
         Subsystem sftp internal-sftp\n\
         # Debian's bash sources ~/.bashrc when started by sshd unless SHLVL says it is nested;\n\
         # this machine's root .bashrc takes ~150 ms (pyenv), paid on every command otherwise.\n\
         SetEnv SHLVL=1\n",
        name = node.name,
        ip = node.ip,
        host_key = keys.host_key.display(),
        pidfile = node.sshd_pidfile.display(),
        authorized = keys.authorized_keys.display(),
    );
    if let Some(dir) = node.sshd_config.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ClusterError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    write(&node.sshd_config, config.as_bytes())
}

/// Starts node's sshd inside its namespaces and waits until it answers on port 22.
pub(crate) fn start(node: &NodeInfo) -> Result<(), ClusterError> {
    // sshd insists on its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").map_err(|source| ClusterError::Io {
        path: "/run/sshd".into(),
        source,
    })?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.sshd_log)
        .map_err(|source| ClusterError::Io {
            path: node.sshd_log.clone(),
            source,
        })?;
    let log_err = log.try_clone().map_err(|source| ClusterError::Io {
        path: node.sshd_log.clone(),
        source,
    })?;
    // Positional parameters, not string splicing, carry the names into the inner shell.
    let script = format!(r#"hostname "$1" && exec {SSHD} -f "$2" -E "$3""#);
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            &node.netns,
            "unshare",
            "--uts",
            "sh",
            "-c",
            &script,
            "sh",
            &node.name,
        ])
        .arg(&node.sshd_config)
        .arg(&node.sshd_log)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| ClusterError::Command {
            command: format!("start sshd for {}", node.name),
            detail: e.to_string(),
        })?;
    // sshd forks into the background and the foreground process exits: success means "started".
    if !status.success() {
        return Err(not_answering(node, format!("sshd exited with {status}")));
    }
    wait_answering(node, Duration::from_secs(10))
}

/// The PID of node's sshd, if it runs (checked against the config path, not just the pidfile).
pub(crate) fn pid(node: &NodeInfo) -> Option<i32> {
    pid_from_file(&node.sshd_pidfile, &node.sshd_config.to_string_lossy())
}

/// Whether an SSH server greets us at node's address within `within`: the check `status` and
/// an idempotent `up` rely on, cheaper than a full login.
pub(crate) fn answers(ip: Ipv4Addr, within: Duration) -> bool {
    let addr = SocketAddr::from((ip, 22));
    let Ok(mut tcp) = TcpStream::connect_timeout(&addr, within) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(within));
    let mut banner = [0u8; 8];
    let ok = tcp.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-2.0");
    // Say goodbye politely so sshd logs no protocol error for the probe.
    let _ = tcp.write_all(b"SSH-2.0-faultline-probe\r\n");
    ok
}

fn wait_answering(node: &NodeInfo, within: Duration) -> Result<(), ClusterError> {
    let start = Instant::now();
    loop {
        if answers(node.ip, Duration::from_millis(500)) {
            return Ok(());
        }
        if start.elapsed() >= within {
            return Err(not_answering(
                node,
                format!("no SSH greeting within {within:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn not_answering(node: &NodeInfo, why: String) -> ClusterError {
    let log = std::fs::read_to_string(&node.sshd_log).unwrap_or_default();
    let tail: Vec<&str> = log
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    ClusterError::SshdNotAnswering {
        node: node.name.clone(),
        ip: node.ip,
        detail: format!(
            "{why}; {} says: {}",
            node.sshd_log.display(),
            tail.join(" | ")
        ),
    }
}

/// Every node of `info` has a live sshd that greets us.
pub(crate) fn all_answer(info: &ClusterInfo) -> bool {
    info.nodes
        .iter()
        .all(|n| pid(n).is_some() && answers(n.ip, Duration::from_millis(500)))
}

fn pub_path(private: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", private.display()))
}

fn read(path: &Path) -> Result<String, ClusterError> {
    std::fs::read_to_string(path).map_err(|source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, data: &[u8]) -> Result<(), ClusterError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|source| ClusterError::Io {
            path: path.to_path_buf(),
            source,
        })
}
