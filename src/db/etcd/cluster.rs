//! The etcd cluster: one member per node, set up, started, stopped, killed, paused and wiped
//! over a [`Remote`], each member a [`Daemon`] known by its pidfile.
//!
//! Every action is a shell command run on the node, so this works the same on the local cluster
//! (where every node shares one file system and one PID space) and on real machines. The shared
//! file system is why every node has its own directory (`<base>/<node>/` with `data/`,
//! `etcd.log`, `etcd.pid`).
//!
//! The recipe (flags, `--pre-vote`, `start-stop-daemon` rather than `nohup ... &`, waiting for an
//! old member to exit before restarting it) is the verified one in `shared/CLUSTER.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::control::{Cmd, Remote};
use crate::db::daemon::{each, path_str, Daemon};
use crate::db::install::{self, Program};
use crate::db::DbError;

/// The etcd server binary Debian installs; `--exec` and the pid checks compare against it.
pub const ETCD_BIN: &str = "/usr/bin/etcd";
/// The etcd client binary, used for health checks and to find the leader.
pub const ETCDCTL_BIN: &str = "/usr/bin/etcdctl";
/// Where per-cluster etcd directories live unless the caller chooses otherwise.
pub const BASE_ROOT: &str = "/var/lib/faultline/etcd";
/// The client port.
pub const CLIENT_PORT: u16 = 2379;
/// The peer (Raft) port.
pub const PEER_PORT: u16 = 2380;

/// Pause between polls of a condition on a node.
const POLL: Duration = Duration::from_millis(200);

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
    binary: String,
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
            binary: ETCD_BIN.to_string(),
        }
    }

    /// Runs the etcd server at `binary` instead of Debian's (a build of one's own).
    pub fn with_binary(mut self, binary: &str) -> Etcd {
        self.binary = binary.to_string();
        self
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
    pub fn client_url(&self, node: &str) -> Result<String, DbError> {
        Ok(format!("http://{}:{CLIENT_PORT}", self.member(node)?.ip))
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

    fn member(&self, node: &str) -> Result<&EtcdMember, DbError> {
        self.members.iter().find(|m| m.name == node).ok_or_else(|| {
            DbError::Failed(format!(
                "etcd: no member named {node} (members: {})",
                self.members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
        })
    }

    /// `node`'s etcd process.
    fn daemon(&self, node: &str) -> Result<Daemon, DbError> {
        let m = self.member(node)?;
        Ok(Daemon {
            node: m.name.clone(),
            remote: m.remote.clone(),
            name: "etcd".into(),
            exe: self.binary.clone(),
            pidfile: self.pid_path(node),
            log: self.log_path(node),
        })
    }

    /// The PID of `node`'s etcd if it is running.
    pub fn pid(&self, node: &str) -> Result<Option<i32>, DbError> {
        Ok(self.daemon(node)?.pid()?)
    }

    /// Starts `node`'s etcd on its existing data dir (a fresh member if the dir is empty).
    /// Starting a member that is already running does nothing.
    pub fn start(&self, node: &str) -> Result<(), DbError> {
        let m = self.member(node)?;
        let client = format!("http://{}:{CLIENT_PORT}", m.ip);
        let peer = format!("http://{}:{PEER_PORT}", m.ip);
        let data = path_str(&self.data_dir(node));
        let prepare = Cmd::new("mkdir")
            .arg("-p")
            .arg(&data)
            .raw("&&")
            .raw("chmod 700")
            .arg(&data)
            .to_string();
        let args: Vec<String> = [
            "--name",
            &m.name,
            "--data-dir",
            &data,
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &self.initial_cluster(),
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            &self.token,
            "--pre-vote",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Ok(self.daemon(node)?.start(&prepare, &[], &args)?)
    }

    /// Stops `node`'s etcd gracefully and waits until it has exited.
    pub fn stop(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.stop()?)
    }

    /// Kills `node`'s etcd with SIGKILL and waits until it is gone. The data dir is kept, so
    /// [`Etcd::start`] brings the member back.
    pub fn kill(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.kill()?)
    }

    /// Freezes `node`'s etcd with SIGSTOP.
    pub fn pause(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.pause()?)
    }

    /// Lets a paused `node`'s etcd run again with SIGCONT.
    pub fn resume(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.resume()?)
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
    pub fn wait_healthy(&self, timeout: Duration) -> Result<(), DbError> {
        let started = Instant::now();
        let results = each(&self.members, |m| loop {
            match self.health(&m.name) {
                Ok(()) => return Ok(()),
                Err(why) if started.elapsed() >= timeout => return Err(why),
                Err(_) => thread::sleep(POLL),
            }
        });
        let details: Vec<String> = self
            .members
            .iter()
            .zip(results)
            .filter_map(|(m, r)| r.err().map(|why| format!("{}: {why}", m.name)))
            .collect();
        if details.is_empty() {
            Ok(())
        } else {
            Err(DbError::NotReady {
                db: "etcd",
                after: started.elapsed(),
                detail: format!("members not healthy: {}", details.join("; ")),
            })
        }
    }

    /// The member that says it is the leader, asked of each member on its own node
    /// (`etcdctl endpoint status`: the leader is the member whose id is the leader id). Empty
    /// while no member answers as leader (an election, a partitioned minority).
    pub fn leaders(&self) -> Result<Vec<String>, DbError> {
        let answers = each(&self.members, |m| {
            let cmd = Cmd::new(ETCDCTL_BIN)
                .arg("--endpoints")
                .arg(format!("{}:{CLIENT_PORT}", m.ip))
                .args(["--command-timeout", "1s", "--dial-timeout", "1s"])
                .args(["endpoint", "status", "-w", "json"]);
            m.remote
                .exec(&cmd, Some(Duration::from_secs(5)))
                .ok()
                .filter(|o| o.success())
                .and_then(|o| is_leader(&o.stdout_str()))
        });
        Ok(self
            .members
            .iter()
            .zip(answers)
            .filter(|(_, leader)| *leader == Some(true))
            .map(|(m, _)| m.name.clone())
            .collect())
    }

    /// The etcd version `node` has, e.g. `etcd Version: 3.4.23`.
    pub fn version(&self, node: &str) -> Result<String, DbError> {
        let m = self.member(node)?;
        m.remote
            .run(
                &Cmd::new(&self.binary)
                    .arg("--version")
                    .raw("2>&1 | head -n 1"),
                Some(Duration::from_secs(10)),
            )
            .map_err(|e| DbError::Failed(format!("etcd version: {e}")))
    }

    /// Makes sure etcd and etcdctl are on `node` (Debian's `etcd-server` and `etcd-client`).
    pub fn install(&self, node: &str) -> Result<(), DbError> {
        let m = self.member(node)?;
        install::ensure(
            m.remote.as_ref(),
            &[
                Program::new(&self.binary, "etcd-server"),
                Program::new(ETCDCTL_BIN, "etcd-client"),
            ],
        )
    }

    /// Sets up `node` afresh: installs etcd if missing, stops any member left from an earlier
    /// run, removes its directory (old data would make it rejoin the old cluster) and starts it.
    pub fn setup(&self, node: &str) -> Result<(), DbError> {
        self.install(node)?;
        let d = self.daemon(node)?;
        d.stop()?;
        d.run(
            "setup (clearing node dir)",
            &Cmd::new("rm")
                .arg("-rf")
                .arg(path_str(&self.node_dir(node))),
        )?;
        self.start(node)
    }

    /// Brings up a fresh cluster, every node in parallel. Then call [`Etcd::wait_healthy`].
    pub fn setup_all(&self) -> Result<(), DbError> {
        DbError::gather(each(&self.members, |m| self.setup(&m.name)))
    }

    /// Stops `node`'s member and removes its data dir and pidfile. The log stays.
    pub fn teardown(&self, node: &str) -> Result<(), DbError> {
        let d = self.daemon(node)?;
        d.stop()?;
        d.run(
            "wipe",
            &Cmd::new("rm")
                .arg("-rf")
                .arg(path_str(&self.data_dir(node))),
        )?;
        Ok(d.forget()?)
    }

    /// [`Etcd::teardown`] on every node in parallel.
    pub fn teardown_all(&self) -> Result<(), DbError> {
        DbError::gather(each(&self.members, |m| self.teardown(&m.name)))
    }
}

/// Whether `etcdctl endpoint status -w json` output says the member is the leader. `None` when
/// the output cannot be read.
fn is_leader(json: &str) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let status = v.get(0)?.get("Status")?;
    let leader = status.get("leader")?.as_u64()?;
    let me = status.get("header")?.get("member_id")?.as_u64()?;
    Some(leader != 0 && leader == me)
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

    #[test]
    fn the_leader_is_the_member_whose_id_is_the_leader_id() {
        let status = |me: u64, leader: u64| {
            format!(
                r#"[{{"Endpoint":"10.77.0.11:2379","Status":{{"header":{{"cluster_id":1,"member_id":{me},"revision":5}},"version":"3.4.23","leader":{leader},"raftTerm":2}}}}]"#
            )
        };
        assert_eq!(is_leader(&status(17, 17)), Some(true));
        assert_eq!(is_leader(&status(17, 9)), Some(false));
        assert_eq!(is_leader(&status(17, 0)), Some(false), "no leader known");
        assert_eq!(is_leader("not json"), None);
    }
}
