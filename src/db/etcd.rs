//! etcd: one member per node, started, stopped, killed, paused and wiped over a [`Remote`].
//!
//! Every action is a shell command run on the node, so this works the same on the local cluster
//! (where every node shares one file system and one PID space) and on real machines. That shared
//! PID space is why a daemon is only ever signalled through its own pidfile, and only after
//! checking that the PID still belongs to `/usr/bin/etcd`: `pkill etcd` on one node of the local
//! cluster would kill every node's member, and a stale pidfile whose PID was reused must not make
//! us kill an unrelated process. The shared file system is why every node has its own directory
//! (`<base>/<node>/` with `data/`, `etcd.log`, `etcd.pid`).
//!
//! The recipe (flags, `--pre-vote`, `start-stop-daemon` rather than `nohup ... &`, waiting for an
//! old member to exit before restarting it) is the verified one in `shared/CLUSTER.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::control::{Cmd, ControlError, Remote};

/// The etcd server binary; `--exec` and the pid checks compare against it.
pub const ETCD_BIN: &str = "/usr/bin/etcd";
/// The etcd client binary, used for health checks.
pub const ETCDCTL_BIN: &str = "/usr/bin/etcdctl";
/// Where per-cluster etcd directories live unless the caller chooses otherwise.
pub const BASE_ROOT: &str = "/var/lib/faultline/etcd";
/// The client port.
pub const CLIENT_PORT: u16 = 2379;
/// The peer (Raft) port.
pub const PEER_PORT: u16 = 2380;

/// Bound on any one command on a node, so a hung node cannot hang the caller.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` and `kill` wait for the process to be gone after signalling it. The stop
/// itself escalates TERM -> KILL after 5 s, because a leader may ignore SIGTERM for seconds.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between polls of a condition on a node.
const POLL: Duration = Duration::from_millis(100);

/// Why an etcd lifecycle action failed. Every variant names the node(s).
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The caller named a node that is not a member of this cluster.
    #[error("etcd: no member named {node} (members: {members})")]
    UnknownNode { node: String, members: String },
    /// Reaching the node or running a command there failed.
    #[error("etcd on {node}: {action} failed: {source}")]
    Control {
        node: String,
        action: &'static str,
        #[source]
        source: ControlError,
    },
    /// The command ran but the outcome is wrong (e.g. the daemon died right after starting).
    #[error("etcd on {node}: {action}: {detail}")]
    Failed {
        node: String,
        action: &'static str,
        detail: String,
    },
    /// The process did not go away after being told to.
    #[error("etcd on {node}: pid {pid} still running {after:?} after {action}")]
    StillRunning {
        node: String,
        pid: i32,
        action: &'static str,
        after: Duration,
    },
    /// Some members did not report healthy in time.
    #[error("etcd not healthy after {after:?} on {}: {}", .nodes.join(", "), .details.join("; "))]
    Unhealthy {
        nodes: Vec<String>,
        after: Duration,
        details: Vec<String>,
    },
    /// Writing a downloaded log on this machine failed.
    #[error("etcd on {node}: saving log to {path}: {source}")]
    LocalIo {
        node: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An action run on several nodes at once failed on some of them.
    #[error("etcd: {action} failed on {} node(s): {}", .errors.len(), display_all(.errors))]
    Several {
        action: &'static str,
        errors: Vec<EtcdError>,
    },
}

fn display_all(errors: &[EtcdError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One etcd member: the node it runs on, the address peers and clients reach it at, and the
/// remote that runs commands there.
#[derive(Clone)]
pub struct EtcdMember {
    /// The node's name; also the member's `--name`.
    pub name: String,
    /// The address etcd listens on and advertises (an IP: etcd wants one for `--listen-*`).
    pub ip: String,
    /// How commands reach the node.
    pub remote: Arc<dyn Remote>,
}

/// An etcd cluster over a fixed set of members, all sharing one cluster token.
pub struct Etcd {
    members: Vec<EtcdMember>,
    base_dir: PathBuf,
    token: String,
}

impl Etcd {
    /// An etcd cluster of `members`, keeping node `n`'s files under `base_dir/n/`.
    /// `token` is the `--initial-cluster-token`: unique per test run, so that members of an
    /// earlier run that are still alive can never join this one.
    pub fn new(members: Vec<EtcdMember>, base_dir: impl Into<PathBuf>, token: &str) -> Etcd {
        Etcd {
            members,
            base_dir: base_dir.into(),
            token: token.to_string(),
        }
    }

    /// The conventional base directory for a cluster or test called `name`.
    pub fn default_base_dir(name: &str) -> PathBuf {
        Path::new(BASE_ROOT).join(name)
    }

    /// The members, in the order given.
    pub fn members(&self) -> &[EtcdMember] {
        &self.members
    }

    /// The client URL of `node` (`http://IP:2379`).
    pub fn client_url(&self, node: &str) -> Result<String, EtcdError> {
        Ok(format!("http://{}:{CLIENT_PORT}", self.member(node)?.ip))
    }

    /// Every member's client URL, for a client that may talk to any of them.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://{}:{CLIENT_PORT}", m.ip))
            .collect()
    }

    /// `node`'s own directory (data, log, pidfile).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.base_dir.join(node)
    }

    /// `node`'s data directory (`--data-dir`).
    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("data")
    }

    /// `node`'s log: etcd's stderr, appended to across restarts.
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("etcd.log")
    }

    /// `node`'s pidfile, written by `start-stop-daemon --make-pidfile`.
    pub fn pid_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("etcd.pid")
    }

    /// The `--initial-cluster` value: every member's peer URL.
    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://{}:{PEER_PORT}", m.name, m.ip))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn member(&self, node: &str) -> Result<&EtcdMember, EtcdError> {
        self.members
            .iter()
            .find(|m| m.name == node)
            .ok_or_else(|| EtcdError::UnknownNode {
                node: node.to_string(),
                members: self
                    .members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            })
    }

    /// Runs `cmd` on `node`, expecting success.
    fn run(&self, node: &str, action: &'static str, cmd: &Cmd) -> Result<String, EtcdError> {
        let m = self.member(node)?;
        m.remote
            .run(cmd, Some(COMMAND_TIMEOUT))
            .map_err(|source| EtcdError::Control {
                node: node.to_string(),
                action,
                source,
            })
    }

    /// The PID of `node`'s etcd if it is running (a zombie, a dead PID or a PID now used by
    /// another program counts as not running).
    pub fn pid(&self, node: &str) -> Result<Option<i32>, EtcdError> {
        let cmd = Cmd::shell(format!(
            "pid=$(cat {pidfile} 2>/dev/null) || exit 0; \
             [ \"$(readlink /proc/\"$pid\"/exe 2>/dev/null)\" = {bin} ] && echo \"$pid\"; true",
            pidfile = crate::control::shell::shell_escape(&path_str(&self.pid_path(node))),
            bin = ETCD_BIN,
        ));
        let out = self.run(node, "reading pid", &cmd)?;
        let out = out.trim();
        if out.is_empty() {
            return Ok(None);
        }
        out.parse().map(Some).map_err(|_| EtcdError::Failed {
            node: node.to_string(),
            action: "reading pid",
            detail: format!("unexpected output {out:?}"),
        })
    }

    /// Sends `signal` to `node`'s etcd through its pidfile. Errors if it is not running, since
    /// pausing or killing a member that is not there means the test is not doing what it thinks.
    fn signal(&self, node: &str, signal: &str, action: &'static str) -> Result<i32, EtcdError> {
        let pid = self.pid(node)?.ok_or_else(|| EtcdError::Failed {
            node: node.to_string(),
            action,
            detail: "etcd is not running".to_string(),
        })?;
        self.run(
            node,
            action,
            &Cmd::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string()),
        )?;
        Ok(pid)
    }

    /// Polls until `node`'s etcd is gone, or errors after `EXIT_TIMEOUT`.
    fn wait_gone(&self, node: &str, pid: i32, action: &'static str) -> Result<(), EtcdError> {
        let started = Instant::now();
        while self.pid(node)? == Some(pid) {
            if started.elapsed() > EXIT_TIMEOUT {
                return Err(EtcdError::StillRunning {
                    node: node.to_string(),
                    pid,
                    action,
                    after: started.elapsed(),
                });
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Starts `node`'s etcd on its existing data dir (a fresh member if the dir is empty).
    ///
    /// `start-stop-daemon --background` detaches the daemon from the SSH channel (a plain
    /// `nohup ... &` keeps the channel open and hangs the session) and writes the pidfile.
    /// Starting a member that is already running does nothing. A daemon that dies at once (a
    /// port still held by the previous process, a bad flag) is reported with its log's tail.
    pub fn start(&self, node: &str) -> Result<(), EtcdError> {
        let m = self.member(node)?;
        if self.pid(node)?.is_some() {
            return Ok(());
        }
        let esc = |p: &Path| crate::control::shell::shell_escape(&path_str(p));
        let client = format!("http://{}:{CLIENT_PORT}", m.ip);
        let peer = format!("http://{}:{PEER_PORT}", m.ip);
        let cmd = Cmd::new("mkdir")
            .arg("-p")
            .arg(path_str(&self.data_dir(node)))
            .raw("&&")
            .raw("chmod 700")
            .arg(path_str(&self.data_dir(node)))
            .raw("&&")
            .raw("start-stop-daemon --start --background --no-close --make-pidfile --pidfile")
            .arg(path_str(&self.pid_path(node)))
            .arg("--exec")
            .arg(ETCD_BIN)
            .arg("--")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(path_str(&self.data_dir(node)))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster()])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            .arg("--pre-vote")
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .raw(format!(">>{} 2>&1 </dev/null", esc(&self.log_path(node))));
        self.run(node, "start", &cmd)?;
        // Give a daemon that cannot start a moment to die, so the error comes from here.
        thread::sleep(Duration::from_millis(200));
        if self.pid(node)?.is_none() {
            let tail = self
                .run(
                    node,
                    "reading log",
                    &Cmd::new("tail")
                        .args(["-n", "3"])
                        .arg(path_str(&self.log_path(node))),
                )
                .unwrap_or_default();
            return Err(EtcdError::Failed {
                node: node.to_string(),
                action: "start",
                detail: format!("etcd exited at once; log ends with: {tail}"),
            });
        }
        Ok(())
    }

    /// Stops `node`'s etcd gracefully (TERM, then KILL after 5 s) and waits until it has
    /// exited, because a restart before that fails with `bind: address already in use`.
    /// A paused member is resumed first so that it can act on SIGTERM. Stopping a member
    /// that is not running does nothing.
    pub fn stop(&self, node: &str) -> Result<(), EtcdError> {
        let Some(pid) = self.pid(node)? else {
            return Ok(());
        };
        self.run(
            node,
            "stop (SIGCONT first)",
            &Cmd::new("kill").arg("-CONT").arg(pid.to_string()),
        )?;
        // --exec makes start-stop-daemon match /proc/PID/exe, so a zombie (which this
        // machine's PID 1 may never reap) counts as gone rather than as a process to wait for.
        let cmd = Cmd::new("start-stop-daemon")
            .args(["--stop", "--oknodo", "--retry", "TERM/5/KILL/5"])
            .arg("--pidfile")
            .arg(path_str(&self.pid_path(node)))
            .args(["--exec", ETCD_BIN]);
        self.run(node, "stop", &cmd)?;
        self.wait_gone(node, pid, "stop")
    }

    /// Kills `node`'s etcd with SIGKILL (a crash: no chance to flush or step down) and waits
    /// until it is gone. The data dir is kept, so [`Etcd::start`] brings the member back.
    pub fn kill(&self, node: &str) -> Result<(), EtcdError> {
        let pid = self.signal(node, "KILL", "kill")?;
        self.wait_gone(node, pid, "kill")
    }

    /// Freezes `node`'s etcd with SIGSTOP: the process and its sockets stay, it answers nothing.
    pub fn pause(&self, node: &str) -> Result<(), EtcdError> {
        self.signal(node, "STOP", "pause").map(|_| ())
    }

    /// Lets a paused `node`'s etcd run again with SIGCONT.
    pub fn resume(&self, node: &str) -> Result<(), EtcdError> {
        self.signal(node, "CONT", "resume").map(|_| ())
    }

    /// Removes `node`'s data dir (the member forgets everything). Stop it first.
    pub fn wipe(&self, node: &str) -> Result<(), EtcdError> {
        self.run(
            node,
            "wipe",
            &Cmd::new("rm")
                .arg("-rf")
                .arg(path_str(&self.data_dir(node))),
        )
        .map(|_| ())
    }

    /// Whether `node`'s member answers `etcdctl endpoint health` (asked on the node itself, so
    /// this works however the control machine reaches the nodes). `Err` carries etcdctl's word.
    fn health(&self, node: &str) -> Result<(), String> {
        let m = self.member(node).map_err(|e| e.to_string())?;
        let cmd = Cmd::new(ETCDCTL_BIN)
            .arg("--endpoints")
            .arg(format!("{}:{CLIENT_PORT}", m.ip))
            .args(["--command-timeout", "1s", "--dial-timeout", "1s"])
            .args(["endpoint", "health"]);
        match m.remote.exec(&cmd, Some(Duration::from_secs(5))) {
            Ok(out) if out.success() => Ok(()),
            Ok(out) => {
                let text = format!("{}{}", out.stdout_str(), out.stderr_str());
                Err(text.lines().last().unwrap_or("").trim().to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Waits until every member reports healthy, or errors after `timeout` naming the members
    /// that are not and why. Members are polled in parallel.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<(), EtcdError> {
        let started = Instant::now();
        let results = self.each(|node| loop {
            match self.health(node) {
                Ok(()) => return Ok(()),
                Err(why) if started.elapsed() >= timeout => return Err(why),
                Err(_) => thread::sleep(POLL * 2),
            }
        });
        let mut nodes = Vec::new();
        let mut details = Vec::new();
        for (m, r) in self.members.iter().zip(results) {
            if let Err(why) = r {
                details.push(format!("{}: {why}", m.name));
                nodes.push(m.name.clone());
            }
        }
        if nodes.is_empty() {
            Ok(())
        } else {
            Err(EtcdError::Unhealthy {
                nodes,
                after: started.elapsed(),
                details,
            })
        }
    }

    /// Copies `node`'s log to `local_dir/etcd.log` (creating `local_dir`) and returns the path.
    pub fn download_logs(&self, node: &str, local_dir: &Path) -> Result<PathBuf, EtcdError> {
        let m = self.member(node)?;
        let local = local_dir.join("etcd.log");
        std::fs::create_dir_all(local_dir).map_err(|source| EtcdError::LocalIo {
            node: node.to_string(),
            path: local_dir.to_path_buf(),
            source,
        })?;
        m.remote
            .download_file(&self.log_path(node), &local)
            .map_err(|source| EtcdError::Control {
                node: node.to_string(),
                action: "downloading log",
                source,
            })?;
        Ok(local)
    }

    /// Brings up a fresh cluster: on every node in parallel, stops any member left from an
    /// earlier run, removes its directory (old data would make it rejoin the old cluster) and
    /// starts it. Then call [`Etcd::wait_healthy`].
    pub fn setup_all(&self) -> Result<(), EtcdError> {
        self.all("setup", |node| {
            self.install(node)?;
            self.stop(node)?;
            self.run(
                node,
                "setup (clearing node dir)",
                &Cmd::new("rm")
                    .arg("-rf")
                    .arg(path_str(&self.node_dir(node))),
            )?;
            self.start(node)
        })
    }

    /// Makes sure etcd is installed on `node`: Debian's `etcd-server` (and `etcd-client` for
    /// etcdctl, which the health check uses), installed with apt-get when missing, as Jepsen
    /// installs a datastore on fresh Debian nodes. Does nothing where both are present.
    pub fn install(&self, node: &str) -> Result<(), EtcdError> {
        let script = format!(
            "if [ -x {ETCD_BIN} ] && [ -x {ETCDCTL_BIN} ]; then exit 0; fi; \
             export DEBIAN_FRONTEND=noninteractive; \
             (apt-get install -y -qq etcd-server etcd-client || \
              (apt-get update -qq && apt-get install -y -qq etcd-server etcd-client)) >/dev/null 2>&1; \
             [ -x {ETCD_BIN} ] && [ -x {ETCDCTL_BIN} ]"
        );
        let out = self
            .member(node)?
            .remote
            .exec(&Cmd::shell(&script), Some(Duration::from_secs(600)))
            .map_err(|source| EtcdError::Control {
                node: node.to_string(),
                action: "install etcd",
                source,
            })?;
        if out.success() {
            Ok(())
        } else {
            Err(EtcdError::Failed {
                node: node.to_string(),
                action: "install etcd",
                detail: format!(
                    "etcd-server is not installed and apt-get could not install it: {}",
                    out.stderr_str()
                ),
            })
        }
    }

    /// Stops every member and removes its data dir and pidfile, in parallel. Logs stay, so they
    /// can still be downloaded; the next [`Etcd::setup_all`] removes them.
    pub fn teardown_all(&self) -> Result<(), EtcdError> {
        self.all("teardown", |node| {
            self.stop(node)?;
            self.wipe(node)?;
            self.run(
                node,
                "teardown (removing pidfile)",
                &Cmd::new("rm").arg("-f").arg(path_str(&self.pid_path(node))),
            )
            .map(|_| ())
        })
    }

    /// Runs `f` for every member at once (one thread each: the SSH calls block) and returns
    /// the results in member order.
    fn each<T, F>(&self, f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(&str) -> T + Sync,
    {
        thread::scope(|s| {
            let handles: Vec<_> = self
                .members
                .iter()
                .map(|m| {
                    let f = &f;
                    s.spawn(move || f(&m.name))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    /// [`Etcd::each`] for actions that must succeed everywhere; gathers every failure.
    fn all<F>(&self, action: &'static str, f: F) -> Result<(), EtcdError>
    where
        F: Fn(&str) -> Result<(), EtcdError> + Sync,
    {
        let mut errors: Vec<EtcdError> = self.each(f).into_iter().filter_map(Result::err).collect();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(EtcdError::Several { action, errors }),
        }
    }
}

/// A remote path as text for a command line (remote paths are built here from UTF-8 parts).
fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;

    fn local_etcd(base: &Path) -> Etcd {
        let members = [("n1", "10.77.0.11"), ("n2", "10.77.0.12")]
            .iter()
            .map(|(name, ip)| EtcdMember {
                name: name.to_string(),
                ip: ip.to_string(),
                remote: Arc::new(LocalRemote::new(*name)) as Arc<dyn Remote>,
            })
            .collect();
        Etcd::new(members, base, "tok")
    }

    #[test]
    fn initial_cluster_lists_every_member_by_peer_url() {
        let etcd = local_etcd(Path::new("/nonexistent"));
        assert_eq!(
            etcd.initial_cluster(),
            "n1=http://10.77.0.11:2380,n2=http://10.77.0.12:2380"
        );
        assert_eq!(
            etcd.client_url("n2").ok().as_deref(),
            Some("http://10.77.0.12:2379")
        );
    }

    #[test]
    fn an_unknown_node_is_an_error_naming_the_members() {
        let etcd = local_etcd(Path::new("/nonexistent"));
        let err = etcd.start("n9").expect_err("n9 is not a member");
        assert_eq!(err.to_string(), "etcd: no member named n9 (members: n1,n2)");
    }

    #[test]
    fn each_node_has_its_own_files_under_the_base_dir() {
        let etcd = local_etcd(Path::new("/b"));
        assert_eq!(etcd.data_dir("n1"), Path::new("/b/n1/data"));
        assert_eq!(etcd.log_path("n2"), Path::new("/b/n2/etcd.log"));
        assert_eq!(etcd.pid_path("n2"), Path::new("/b/n2/etcd.pid"));
    }

    /// A pidfile whose PID now belongs to another program (here: this test process) must not
    /// be taken for etcd, or `kill` would shoot an unrelated process.
    #[test]
    fn a_pid_that_is_not_etcd_counts_as_not_running_and_is_never_signalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let etcd = local_etcd(dir.path());
        assert_eq!(etcd.pid("n1").expect("pid"), None, "no pidfile");
        std::fs::create_dir_all(etcd.node_dir("n1")).expect("mkdir");
        std::fs::write(etcd.pid_path("n1"), std::process::id().to_string()).expect("write");
        assert_eq!(
            etcd.pid("n1").expect("pid"),
            None,
            "pid of a non-etcd process"
        );
        let err = etcd.kill("n1").expect_err("nothing to kill");
        assert!(err.to_string().contains("not running"), "{err}");
        etcd.stop("n1").expect("stopping a stopped member is fine");
    }
}
