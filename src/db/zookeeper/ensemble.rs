//! The ZooKeeper ensemble: one server per node, set up, started, stopped, killed, paused and
//! wiped over a [`Remote`], each server a JVM known by its pidfile.
//!
//! Every node has its own directory (`<base>/<node>/` with `data/myid`, `zoo.cfg`,
//! `zookeeper.pid` and `zookeeper.log`), because on the local cluster every node shares one file
//! system. The pidfile holds the JVM's own PID (the JVM is started directly, see [`config`]), so
//! kill and pause reach the server and not a shell around it; `/proc/PID/exe` of a JVM is the
//! real `java` binary, which is resolved once per node (`readlink -f "$(command -v java)"`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::config::{self, Peer, Settings, CLIENT_PORT};
use super::srvr::{self, Answer, Silence};
use crate::control::{Cmd, Remote};
use crate::db::daemon::{each, path_str, Daemon, COMMAND_TIMEOUT};
use crate::db::faketime::FakeClock;
use crate::db::install::{self, Program};
use crate::db::DbError;

/// Where per-cluster ZooKeeper directories live unless the caller chooses otherwise.
pub const BASE_ROOT: &str = "/var/lib/faultline/zookeeper";
/// The `java` launcher a JRE package installs (an alternatives link to the real binary).
pub const JAVA: &str = "/usr/bin/java";
/// The Debian package that brings `java`.
pub const JAVA_PACKAGE: &str = "default-jre-headless";
/// The Debian package that brings the server jar.
pub const PACKAGE: &str = "zookeeper";
/// A program of that package: the installer looks for programs, and a jar is not one.
const PACKAGE_PROGRAM: &str = "/usr/share/zookeeper/bin/zkServer.sh";

/// Pause between polls of the servers.
const POLL: Duration = Duration::from_millis(250);
/// Bound on each step of one `srvr` question.
const SRVR_TIMEOUT: Duration = Duration::from_secs(1);

/// One server: the node it runs on, its address, its `myid`, and how commands reach the node.
#[derive(Clone)]
pub struct ZkServer {
    pub name: String,
    pub ip: String,
    /// `myid`: 1-based, in the order the nodes are given.
    pub id: u32,
    pub remote: Arc<dyn Remote>,
}

/// An ensemble over a fixed set of servers.
pub struct Ensemble {
    servers: Vec<ZkServer>,
    base_dir: PathBuf,
    settings: Settings,
    /// The resolved `java` binary of each node, once known.
    java: Mutex<HashMap<String, String>>,
    /// When the run has clock faults: every JVM starts under libfaketime.
    fake_clock: Option<Arc<FakeClock>>,
}

impl Ensemble {
    /// An ensemble of `servers`, keeping node `n`'s files under `base_dir/n/`.
    pub fn new(servers: Vec<ZkServer>, base_dir: impl Into<PathBuf>, settings: Settings) -> Self {
        Ensemble {
            servers,
            base_dir: base_dir.into(),
            settings,
            java: Mutex::new(HashMap::new()),
            fake_clock: None,
        }
    }

    /// Starts every server under libfaketime, following `clock`'s control files.
    pub fn with_fake_clock(mut self, clock: Arc<FakeClock>) -> Self {
        self.fake_clock = Some(clock);
        self
    }

    /// The conventional base directory for a cluster called `name`.
    pub fn default_base_dir(name: &str) -> PathBuf {
        Path::new(BASE_ROOT).join(name)
    }

    pub fn servers(&self) -> &[ZkServer] {
        &self.servers
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `node`'s own directory (data, config, log, pidfile).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.base_dir.join(node)
    }

    /// `node`'s `dataDir` (snapshots, transaction log, `myid`).
    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("data")
    }

    pub fn config_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("zoo.cfg")
    }

    /// `node`'s log: the JVM's output, appended to across restarts.
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("zookeeper.log")
    }

    pub fn pid_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("zookeeper.pid")
    }

    /// Where clients and `srvr` reach `node`'s server.
    pub fn client_addr(&self, node: &str) -> Result<String, DbError> {
        Ok(format!("{}:{CLIENT_PORT}", self.server(node)?.ip))
    }

    fn server(&self, node: &str) -> Result<&ZkServer, DbError> {
        self.servers.iter().find(|s| s.name == node).ok_or_else(|| {
            DbError::Failed(format!(
                "zookeeper: no server on {node} (servers: {})",
                self.servers
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
        })
    }

    /// The real `java` binary on `node`, which `/proc/PID/exe` of its JVM points to. Not
    /// remembered while `java` is missing (it may be installed later).
    fn java(&self, node: &str) -> Result<Option<String>, DbError> {
        let cached = self
            .java
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let s = self.server(node)?;
        let out = s
            .remote
            .run(
                &Cmd::shell(r#"j=$(command -v java) && readlink -f "$j" || true"#),
                Some(COMMAND_TIMEOUT),
            )
            .map_err(|e| {
                if e.is_unreachable() {
                    DbError::Unreachable(e.to_string())
                } else {
                    DbError::Failed(format!("zookeeper on {node}: finding java: {e}"))
                }
            })?;
        let java = out.trim();
        if java.is_empty() {
            return Ok(None);
        }
        self.java
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.to_string(), java.to_string());
        Ok(Some(java.to_string()))
    }

    /// `node`'s JVM. Without `java` on the node no JVM of ours can be running, so the daemon
    /// then names the launcher, which no process's `/proc/PID/exe` is.
    fn daemon(&self, node: &str) -> Result<Daemon, DbError> {
        let s = self.server(node)?;
        Ok(Daemon {
            node: s.name.clone(),
            remote: s.remote.clone(),
            name: "zookeeper".into(),
            exe: self.java(node)?.unwrap_or_else(|| JAVA.to_string()),
            pidfile: self.pid_path(node),
            log: self.log_path(node),
        })
    }

    /// The PID of `node`'s server JVM if it is running.
    pub fn pid(&self, node: &str) -> Result<Option<i32>, DbError> {
        Ok(self.daemon(node)?.pid()?)
    }

    /// Makes sure `java` and the server jar are on `node`: Debian's packages installed when
    /// missing, then the jar looked for (it may be one of the user's own).
    pub fn install(&self, node: &str) -> Result<(), DbError> {
        let s = self.server(node)?;
        install::ensure(
            s.remote.as_ref(),
            &[
                Program::new(JAVA, JAVA_PACKAGE),
                Program::new(PACKAGE_PROGRAM, PACKAGE),
            ],
        )?;
        let jar = &self.settings.jar;
        let found = s
            .remote
            .exec(&Cmd::new("test").arg("-r").arg(jar), Some(COMMAND_TIMEOUT))
            .map_err(|e| {
                if e.is_unreachable() {
                    DbError::Unreachable(e.to_string())
                } else {
                    DbError::Failed(format!("zookeeper on {node}: looking for {jar}: {e}"))
                }
            })?;
        if found.success() {
            return Ok(());
        }
        Err(DbError::NotInstalled {
            node: node.to_string(),
            program: jar.clone(),
            package: PACKAGE.to_string(),
            detail: if *jar == config::DEBIAN_JAR {
                "the package is installed but the jar is missing".into()
            } else {
                "no such file (--zk-jar)".into()
            },
        })
    }

    /// Writes `node`'s `myid` and `zoo.cfg`.
    fn configure(&self, node: &str) -> Result<(), DbError> {
        let me = self.server(node)?;
        let peers: Vec<Peer<'_>> = self
            .servers
            .iter()
            .map(|s| Peer {
                id: s.id,
                ip: &s.ip,
            })
            .collect();
        let data = path_str(&self.data_dir(node));
        let cfg = config::zoo_cfg(
            &self.settings,
            &data,
            Peer {
                id: me.id,
                ip: &me.ip,
            },
            &peers,
        );
        let d = self.daemon(node)?;
        d.run(
            "setup (data dir)",
            &Cmd::new("mkdir")
                .arg("-p")
                .arg(&data)
                .raw("&&")
                .raw("chmod 700")
                .arg(&data),
        )?;
        let write = |path: PathBuf, text: String| {
            me.remote.upload(text.as_bytes(), &path).map_err(|e| {
                DbError::Failed(format!(
                    "zookeeper on {node}: writing {}: {e}",
                    path.display()
                ))
            })
        };
        write(self.data_dir(node).join("myid"), format!("{}\n", me.id))?;
        write(self.config_path(node), cfg)
    }

    /// Starts `node`'s server on its existing data dir and config. Starting a server that is
    /// already running does nothing.
    pub fn start(&self, node: &str) -> Result<(), DbError> {
        let args = config::jvm_args(&self.settings, &path_str(&self.config_path(node)));
        let mut env: Vec<(&str, String)> = self
            .settings
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if let Some(clock) = &self.fake_clock {
            env.extend(clock.env(node, &[])?);
        }
        Ok(self.daemon(node)?.start("", &env, &args)?)
    }

    /// Stops `node`'s server gracefully and waits until it has exited.
    pub fn stop(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.stop()?)
    }

    /// SIGKILLs `node`'s server and waits until it is gone; [`Ensemble::start`] brings it back
    /// on its data.
    pub fn kill(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.kill()?)
    }

    pub fn pause(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.pause()?)
    }

    pub fn resume(&self, node: &str) -> Result<(), DbError> {
        Ok(self.daemon(node)?.resume()?)
    }

    /// Sets up `node` afresh: installs what is missing, stops a server left from an earlier
    /// run, wipes its directory (old data would carry the old run's znodes), writes its config
    /// and starts it.
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
        self.configure(node)?;
        self.start(node)
    }

    /// Stops `node`'s server and removes its data and pidfile. Log and config stay.
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

    /// What `node`'s server answers to `srvr`.
    pub fn status(&self, node: &str) -> Result<Answer, Silence> {
        let addr: SocketAddr = self
            .client_addr(node)
            .map_err(|e| Silence::NoAnswer(e.to_string()))?
            .parse()
            .map_err(|e| Silence::NoAnswer(format!("address of {node}: {e}")))?;
        srvr::ask(addr, SRVR_TIMEOUT)
    }

    /// The servers that say they lead. Empty during an election; two for a moment when a
    /// cut-off leader has not yet noticed that it lost its quorum.
    pub fn leaders(&self) -> Vec<String> {
        let answers = each(&self.servers, |s| self.status(&s.name));
        self.servers
            .iter()
            .zip(answers)
            .filter(|(_, a)| matches!(a, Ok(Answer::Serving { mode, .. }) if mode.leads()))
            .map(|(s, _)| s.name.clone())
            .collect()
    }

    /// Waits until every server serves and exactly one leads. A server whose JVM is not
    /// running ends the wait at once (nothing will start it); otherwise the error after
    /// `timeout` says what each server answered.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), DbError> {
        let started = Instant::now();
        loop {
            let answers = each(&self.servers, |s| self.status(&s.name));
            let verdict = readiness(&self.servers, &answers);
            if verdict.is_ok() {
                return Ok(());
            }
            let dead = self.dead_servers(&answers);
            if !dead.is_empty() || started.elapsed() >= timeout {
                let detail = if dead.is_empty() {
                    verdict.err().unwrap_or_default()
                } else {
                    dead.join("; ")
                };
                return Err(DbError::NotReady {
                    db: "zookeeper",
                    after: started.elapsed(),
                    detail,
                });
            }
            thread::sleep(POLL);
        }
    }

    /// The servers that refused `srvr` because their JVM is gone, each with its log's tail.
    fn dead_servers(&self, answers: &[Result<Answer, Silence>]) -> Vec<String> {
        let refused: Vec<&ZkServer> = self
            .servers
            .iter()
            .zip(answers)
            .filter(|(_, a)| matches!(a, Err(Silence::Refused)))
            .map(|(s, _)| s)
            .collect();
        each(&refused, |s| match self.pid(&s.name) {
            Ok(None) => Some(format!(
                "{}: the ZooKeeper JVM is not running; its log ends with: {}",
                s.name,
                self.log_tail(&s.name)
            )),
            _ => None,
        })
        .into_iter()
        .flatten()
        .collect()
    }

    fn log_tail(&self, node: &str) -> String {
        let Ok(s) = self.server(node) else {
            return String::new();
        };
        s.remote
            .run(
                &Cmd::new("tail")
                    .args(["-n", "3"])
                    .arg(path_str(&self.log_path(node))),
                Some(COMMAND_TIMEOUT),
            )
            .unwrap_or_default()
            .replace('\n', " | ")
    }

    /// The version of the server jar, as `node` has it (`Apache ZooKeeper, version 3.8.0 ...`).
    pub fn version(&self, node: &str) -> Result<String, DbError> {
        let s = self.server(node)?;
        s.remote
            .run(
                &Cmd::new(JAVA)
                    .arg("-cp")
                    .arg(&self.settings.jar)
                    .arg(config::VERSION_CLASS)
                    .raw("2>&1 | head -n 1"),
                Some(COMMAND_TIMEOUT),
            )
            .map_err(|e| DbError::Failed(format!("zookeeper version on {node}: {e}")))
    }
}

/// Whether the answers make a working ensemble: every server serving, exactly one leading.
/// `Err` says what is missing, naming the servers.
pub fn readiness(servers: &[ZkServer], answers: &[Result<Answer, Silence>]) -> Result<(), String> {
    let mut silent = Vec::new();
    let mut not_serving = Vec::new();
    let mut leaders = Vec::new();
    for (s, a) in servers.iter().zip(answers) {
        match a {
            Ok(Answer::Serving { mode, .. }) if mode.leads() => leaders.push(s.name.as_str()),
            Ok(Answer::Serving { .. }) => {}
            Ok(Answer::NotServing) => not_serving.push(s.name.as_str()),
            Err(why) => silent.push(format!("{} ({why})", s.name)),
        }
    }
    let mut problems = Vec::new();
    if !silent.is_empty() {
        problems.push(format!("no answer from {}", silent.join(", ")));
    }
    if !not_serving.is_empty() {
        problems.push(format!(
            "not serving (no quorum, electing): {}",
            not_serving.join(", ")
        ));
    }
    match leaders.len() {
        1 => {}
        0 => problems.push("no leader".into()),
        _ => problems.push(format!("several leaders: {}", leaders.join(", "))),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;
    use crate::db::zookeeper::srvr::Mode;

    fn servers(n: u32) -> Vec<ZkServer> {
        (1..=n)
            .map(|i| ZkServer {
                name: format!("n{i}"),
                ip: format!("10.77.0.{}", 10 + i),
                id: i,
                remote: Arc::new(LocalRemote::new(format!("n{i}"))),
            })
            .collect()
    }

    fn serving(mode: Mode) -> Result<Answer, Silence> {
        Ok(Answer::Serving {
            mode,
            version: "3.8.0".into(),
        })
    }

    #[test]
    fn ready_means_every_server_serves_and_one_leads() {
        let s = servers(3);
        let ok = [
            serving(Mode::Follower),
            serving(Mode::Leader),
            serving(Mode::Follower),
        ];
        assert_eq!(readiness(&s, &ok), Ok(()));
        assert_eq!(readiness(&s[..1], &[serving(Mode::Standalone)]), Ok(()));
    }

    #[test]
    fn what_is_missing_is_named_server_by_server() {
        let s = servers(3);
        let electing = [
            Ok(Answer::NotServing),
            Ok(Answer::NotServing),
            Err(Silence::Refused),
        ];
        assert_eq!(
            readiness(&s, &electing),
            Err("no answer from n3 (connection refused); \
                 not serving (no quorum, electing): n1, n2; no leader"
                .into())
        );
        let two = [
            serving(Mode::Leader),
            serving(Mode::Follower),
            serving(Mode::Leader),
        ];
        assert_eq!(readiness(&s, &two), Err("several leaders: n1, n3".into()));
    }

    #[test]
    fn each_node_has_its_own_files_under_the_base_dir() {
        let e = Ensemble::new(servers(2), "/b", Settings::default());
        assert_eq!(e.data_dir("n1"), Path::new("/b/n1/data"));
        assert_eq!(e.config_path("n2"), Path::new("/b/n2/zoo.cfg"));
        assert_eq!(e.log_path("n2"), Path::new("/b/n2/zookeeper.log"));
        assert_eq!(e.pid_path("n1"), Path::new("/b/n1/zookeeper.pid"));
        assert_eq!(e.client_addr("n2").ok().as_deref(), Some("10.77.0.12:2181"));
        let err = e.start("n9").expect_err("n9 is not a server");
        assert_eq!(
            err.to_string(),
            "zookeeper: no server on n9 (servers: n1,n2)"
        );
    }
}
