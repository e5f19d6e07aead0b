//! The PostgreSQL cluster's lifecycle: a primary on the first node and, with `--pg-replicas N`,
//! streaming replicas on the next N nodes; each server a [`Daemon`] known by its pidfile, set
//! up, started, stopped, killed, paused and wiped over a [`Remote`].
//!
//! Node `n`'s files live in `<base>/<n>/` (the local cluster's nodes share one file system):
//! `data/` (the data directory, with PostgreSQL's own `postmaster.pid`), `pg_hba.conf`, the
//! socket, `postgres.pid` (written by `start-stop-daemon`; the same PID as `postmaster.pid`)
//! and `postgres.log`. PostgreSQL refuses to run as root: `initdb`, `pg_basebackup` and the
//! server run as the `postgres` user that Debian's package creates (`runuser`, and
//! `start-stop-daemon --chuid`), and the node's directory belongs to it.
//!
//! A server is a postmaster and its children (one backend per connection, the checkpointer,
//! the WAL writer, ...), and every child calls `setsid`, so neither the postmaster's PID nor
//! its process group reaches them. Stopping the postmaster alone does not pause a database
//! whose backends keep serving their connections, and killing it alone leaves backends that
//! may still commit. So kill and pause act on the postmaster and on every process whose parent
//! it is (`ps --ppid`), checked to be the same program, the postmaster stopped first so that
//! it forks no new child meanwhile: a kill is a crash of the whole server, a pause freezes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::control::shell::shell_escape;
use crate::control::{Cmd, Remote};
use crate::db::daemon::{each, path_str, Daemon, COMMAND_TIMEOUT};
use crate::db::install::{self, Program};
use crate::db::DbError;

use super::config::{self, DATABASE, PORT, USER};

/// Where Debian's `postgresql-15` puts the server and its tools.
pub const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// The Debian package that brings them (the metapackage of the distribution's version).
pub const PACKAGE: &str = "postgresql";
/// The system user the servers run as (created by Debian's `postgresql-common`).
pub const OS_USER: &str = "postgres";
/// Where per-cluster PostgreSQL directories live.
pub const BASE_ROOT: &str = "/var/lib/faultline/postgres";

/// How long a graceful stop (a fast shutdown) may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a replica's setup waits for the primary to accept connections.
const PRIMARY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between polls.
const POLL: Duration = Duration::from_millis(200);

/// One node of the cluster.
#[derive(Clone)]
pub struct PgNode {
    pub name: String,
    /// The address its server listens on.
    pub ip: String,
    pub remote: Arc<dyn Remote>,
}

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
    /// Nothing: a node beyond the replicas (it still has workers, which talk to the primary).
    Idle,
}

/// A primary on the first node and `replicas` streaming replicas on the next ones.
pub struct Postgres {
    nodes: Vec<PgNode>,
    base_dir: PathBuf,
    replicas: usize,
}

/// A program of the server's package.
fn bin(name: &str) -> String {
    format!("{BIN_DIR}/{name}")
}

impl Postgres {
    /// A cluster over `nodes` with `replicas` replicas (fewer than the nodes; checked by the
    /// caller).
    pub fn new(nodes: Vec<PgNode>, base_dir: impl Into<PathBuf>, replicas: usize) -> Postgres {
        Postgres {
            nodes,
            base_dir: base_dir.into(),
            replicas,
        }
    }

    /// The conventional base directory for a cluster called `name`.
    pub fn default_base_dir(name: &str) -> PathBuf {
        Path::new(BASE_ROOT).join(name)
    }

    pub fn nodes(&self) -> &[PgNode] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Result<&PgNode, DbError> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            DbError::Failed(format!(
                "postgres: no node named {name} (nodes: {})",
                self.nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
        })
    }

    /// What `node` runs: the first node the primary, the next `replicas` nodes replicas.
    pub fn role(&self, node: &str) -> Result<Role, DbError> {
        self.node(node)?;
        let i = self.nodes.iter().position(|n| n.name == node).unwrap_or(0);
        Ok(match i {
            0 => Role::Primary,
            i if i <= self.replicas => Role::Replica,
            _ => Role::Idle,
        })
    }

    /// The primary's node.
    pub fn primary(&self) -> Result<&PgNode, DbError> {
        self.nodes
            .first()
            .ok_or_else(|| DbError::Failed("postgres: no nodes".into()))
    }

    /// The nodes that run a server.
    pub fn servers(&self) -> &[PgNode] {
        &self.nodes[..(self.replicas + 1).min(self.nodes.len())]
    }

    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.base_dir.join(node)
    }

    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("data")
    }

    /// The server's log (its standard error, appended across restarts).
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("postgres.log")
    }

    fn hba_path(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("pg_hba.conf")
    }

    /// `node`'s server process.
    pub fn server(&self, node: &str) -> Result<Daemon, DbError> {
        let n = self.node(node)?;
        Ok(Daemon {
            node: n.name.clone(),
            remote: n.remote.clone(),
            name: "postgres".into(),
            exe: bin("postgres"),
            pidfile: self.node_dir(node).join("postgres.pid"),
            log: self.log_path(node),
        })
    }

    /// A server that must be there: errors for a node that runs none.
    fn running_server(&self, node: &str) -> Result<Daemon, DbError> {
        if self.role(node)? == Role::Idle {
            return Err(DbError::Unsupported(format!(
                "postgres: {node} runs no server (the primary is on {}, with {} replica(s) \
                 after it); aim process faults with --nemesis-targets primary",
                self.primary()?.name,
                self.replicas
            )));
        }
        self.server(node)
    }

    /// Makes sure the server and its tools are on `node`.
    pub fn install(&self, node: &str) -> Result<(), DbError> {
        let mut programs: Vec<Program> =
            ["postgres", "initdb", "pg_basebackup", "psql", "pg_isready"]
                .iter()
                .map(|p| Program::new(bin(p), PACKAGE))
                .collect();
        // `ps --ppid` finds the server's children for kill and pause.
        programs.push(Program::new("/bin/ps", "procps"));
        install::ensure(self.node(node)?.remote.as_ref(), &programs)
    }

    /// Sets up `node` afresh: stops whatever an earlier run left, wipes its directory, then
    /// by its role: the primary is initialised, started and given the schema; a replica waits
    /// for the primary, copies it with `pg_basebackup` and starts streaming from it.
    pub fn setup(&self, node: &str) -> Result<(), DbError> {
        let role = self.role(node)?;
        let server = self.server(node)?;
        self.stop(node)?;
        let dir = path_str(&self.node_dir(node));
        server.run(
            "setup (clearing node dir)",
            &Cmd::new("rm").arg("-rf").arg(&dir),
        )?;
        if role == Role::Idle {
            return Ok(());
        }
        server.run("setup (node dir)", &Cmd::new("mkdir").arg("-p").arg(&dir))?;
        self.install(node)?;
        let n = self.node(node)?;
        n.remote
            .upload(config::hba_conf().as_bytes(), &self.hba_path(node))
            .map_err(|e| DbError::Failed(format!("postgres on {node}: writing pg_hba.conf: {e}")))?;
        server.run(
            "setup (handing the node dir to the postgres user)",
            &Cmd::new("chown")
                .arg("-R")
                .arg(format!("{OS_USER}:{OS_USER}"))
                .arg(&dir),
        )?;
        let data = path_str(&self.data_dir(node));
        match role {
            Role::Primary => {
                self.as_postgres(
                    node,
                    "initdb",
                    Cmd::new(bin("initdb"))
                        .arg("-D")
                        .arg(&data)
                        .args(["--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"])
                        .arg("-U")
                        .arg(USER),
                )?;
                self.start(node)?;
                self.await_accepting(node, &dir, PRIMARY_TIMEOUT)?;
                self.psql(node, config::SCHEMA)?;
            }
            Role::Replica => {
                let primary = self.primary()?;
                self.await_accepting(node, &primary.ip, PRIMARY_TIMEOUT)?;
                self.as_postgres(
                    node,
                    "pg_basebackup",
                    Cmd::new(bin("pg_basebackup"))
                        .arg("-h")
                        .arg(&primary.ip)
                        .arg("-p")
                        .arg(PORT.to_string())
                        .arg("-U")
                        .arg(USER)
                        .arg("-D")
                        .arg(&data)
                        // Writes standby.signal and primary_conninfo: start as a streaming replica.
                        .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]),
                )?;
                self.start(node)?;
            }
            Role::Idle => {}
        }
        Ok(())
    }

    /// Runs `cmd` on `node` as the postgres user.
    fn as_postgres(&self, node: &str, what: &'static str, cmd: Cmd) -> Result<String, DbError> {
        let n = self.node(node)?;
        let wrapped = Cmd::new("runuser")
            .arg("-u")
            .arg(OS_USER)
            .arg("--")
            .raw(cmd.to_string());
        n.remote
            .run(&wrapped, Some(Duration::from_secs(120)))
            .map_err(|e| {
                if e.is_unreachable() {
                    DbError::Unreachable(e.to_string())
                } else {
                    DbError::Failed(format!("postgres on {node}: {what}: {e}"))
                }
            })
    }

    /// Runs SQL on `node`'s server through its socket, as the postgres user; its output,
    /// unaligned, without headers.
    pub fn psql(&self, node: &str, sql: &str) -> Result<String, DbError> {
        self.as_postgres(
            node,
            "psql",
            Cmd::new(bin("psql"))
                .arg("-h")
                .arg(path_str(&self.node_dir(node)))
                .arg("-p")
                .arg(PORT.to_string())
                .arg("-d")
                .arg(DATABASE)
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c"])
                .arg(sql),
        )
    }

    /// Whether the server at `host` (an address, or a socket directory) as seen from `node`
    /// accepts connections.
    fn accepting(&self, node: &str, host: &str) -> Result<bool, DbError> {
        let n = self.node(node)?;
        let out = n
            .remote
            .exec(
                &Cmd::new(bin("pg_isready"))
                    .arg("-q")
                    .arg("-h")
                    .arg(host)
                    .arg("-p")
                    .arg(PORT.to_string())
                    .arg("-U")
                    .arg(USER)
                    .arg("-d")
                    .arg(DATABASE)
                    .args(["-t", "2"]),
                Some(Duration::from_secs(10)),
            )
            .map_err(|e| DbError::Unreachable(e.to_string()))?;
        Ok(out.success())
    }

    fn await_accepting(&self, node: &str, host: &str, within: Duration) -> Result<(), DbError> {
        let started = Instant::now();
        while !self.accepting(node, host)? {
            if started.elapsed() > within {
                return Err(DbError::NotReady {
                    db: "postgres",
                    after: started.elapsed(),
                    detail: format!("the server at {host} does not accept connections (seen from {node})"),
                });
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Starts `node`'s server on its data directory (after a kill: crash recovery, and a
    /// replica resumes streaming). A node that runs no server has nothing to start.
    pub fn start(&self, node: &str) -> Result<(), DbError> {
        if self.role(node)? == Role::Idle {
            return Ok(());
        }
        let n = self.node(node)?;
        let dir = path_str(&self.node_dir(node));
        let args = config::server_args(
            &path_str(&self.data_dir(node)),
            &n.ip,
            &dir,
            &path_str(&self.hba_path(node)),
            node,
        );
        Ok(self.server(node)?.start_as(Some(OS_USER), "", &[], &args)?)
    }

    /// Signals the postmaster of `node` and every child of it (see the module docs), in the
    /// given order of (whom, signal) steps; `false` when no server runs there.
    fn signal(&self, node: &str, steps: &[(Whom, &str)], action: &str) -> Result<bool, DbError> {
        let server = self.server(node)?;
        let exe = shell_escape(&server.exe);
        let mut script = format!(
            "pid=$(cat {pidfile} 2>/dev/null) || exit 3; exe=$(readlink -f {exe}); \
             [ \"$(readlink /proc/\"$pid\"/exe 2>/dev/null)\" = \"$exe\" ] || exit 3; \
             kids() {{ for k in $(ps -o pid= --ppid \"$pid\"); do \
               [ \"$(readlink /proc/\"$k\"/exe 2>/dev/null)\" = \"$exe\" ] && echo \"$k\"; done; true; }}; ",
            pidfile = shell_escape(&path_str(&server.pidfile)),
        );
        for (whom, signal) in steps {
            script.push_str(&match whom {
                Whom::Postmaster => format!("kill -{signal} \"$pid\"; "),
                Whom::Children => {
                    format!("for k in $(kids); do kill -{signal} \"$k\" 2>/dev/null; done; ")
                }
            });
        }
        script.push_str("exit 0");
        let n = self.node(node)?;
        let out = n
            .remote
            .exec(&Cmd::shell(script), Some(COMMAND_TIMEOUT))
            .map_err(|e| {
                if e.is_unreachable() {
                    DbError::Unreachable(e.to_string())
                } else {
                    DbError::Failed(format!("postgres on {node}: {action}: {e}"))
                }
            })?;
        match out.status {
            0 => Ok(true),
            3 => Ok(false),
            s => Err(DbError::Failed(format!(
                "postgres on {node}: {action}: exit {s}: {}",
                out.stderr_str().trim()
            ))),
        }
    }

    /// Waits until `node`'s postmaster is gone.
    fn wait_gone(&self, node: &str, within: Duration) -> Result<bool, DbError> {
        let server = self.server(node)?;
        let started = Instant::now();
        while server.pid()?.is_some() {
            if started.elapsed() > within {
                return Ok(false);
            }
            thread::sleep(POLL);
        }
        Ok(true)
    }

    /// SIGKILLs `node`'s whole server: a crash, with no chance to write anything more.
    pub fn kill(&self, node: &str) -> Result<(), DbError> {
        self.running_server(node)?;
        if !self.crash(node, "kill")? {
            return Err(DbError::Failed(format!("postgres on {node}: kill: not running")));
        }
        Ok(())
    }

    /// Kills the server; `false` if none ran.
    fn crash(&self, node: &str, action: &str) -> Result<bool, DbError> {
        let ran = self.signal(
            node,
            &[
                (Whom::Postmaster, "STOP"),
                (Whom::Children, "KILL"),
                (Whom::Postmaster, "KILL"),
            ],
            action,
        )?;
        if ran && !self.wait_gone(node, STOP_TIMEOUT)? {
            return Err(DbError::Failed(format!(
                "postgres on {node}: {action}: still running {STOP_TIMEOUT:?} after SIGKILL"
            )));
        }
        Ok(ran)
    }

    /// SIGSTOPs the postmaster, then every child: the server answers nothing.
    pub fn pause(&self, node: &str) -> Result<(), DbError> {
        self.running_server(node)?;
        if !self.signal(
            node,
            &[(Whom::Postmaster, "STOP"), (Whom::Children, "STOP")],
            "pause",
        )? {
            return Err(DbError::Failed(format!("postgres on {node}: pause: not running")));
        }
        Ok(())
    }

    /// SIGCONTs every child, then the postmaster.
    pub fn resume(&self, node: &str) -> Result<(), DbError> {
        self.running_server(node)?;
        if !self.signal(
            node,
            &[(Whom::Children, "CONT"), (Whom::Postmaster, "CONT")],
            "resume",
        )? {
            return Err(DbError::Failed(format!("postgres on {node}: resume: not running")));
        }
        Ok(())
    }

    /// Stops `node`'s server if one runs: resumed first if paused, then a fast shutdown
    /// (SIGINT: open transactions roll back, connections close; the smart shutdown of SIGTERM
    /// would wait for every client to leave), killed if it is not gone in time.
    pub fn stop(&self, node: &str) -> Result<(), DbError> {
        let ran = self.signal(
            node,
            &[
                (Whom::Children, "CONT"),
                (Whom::Postmaster, "CONT"),
                (Whom::Postmaster, "INT"),
            ],
            "stop",
        )?;
        if ran && !self.wait_gone(node, STOP_TIMEOUT)? {
            self.crash(node, "stop (kill after the fast shutdown timed out)")?;
        }
        Ok(())
    }

    /// Stops `node`'s server and removes everything faultline put there except the log:
    /// the data directory, the pidfile, the socket and the authentication file.
    pub fn teardown(&self, node: &str) -> Result<(), DbError> {
        self.stop(node)?;
        let dir = self.node_dir(node);
        let server = self.server(node)?;
        server.run(
            "wipe",
            &Cmd::new("rm")
                .arg("-rf")
                .arg(path_str(&self.data_dir(node)))
                .arg(path_str(&self.hba_path(node)))
                .arg(path_str(&server.pidfile))
                .arg(path_str(&dir.join(format!(".s.PGSQL.{PORT}"))))
                .arg(path_str(&dir.join(format!(".s.PGSQL.{PORT}.lock")))),
        )?;
        Ok(())
    }

    /// [`Postgres::setup`] on every node at once (replicas wait for the primary).
    pub fn setup_all(&self) -> Result<(), DbError> {
        DbError::gather(each(&self.nodes, |n| self.setup(&n.name)))
    }

    /// [`Postgres::teardown`] on every node at once.
    pub fn teardown_all(&self) -> Result<(), DbError> {
        DbError::gather(each(&self.nodes, |n| self.teardown(&n.name)))
    }

    /// Waits until every server accepts connections, the primary is not in recovery, and
    /// every replica streams from it.
    pub fn await_ready(&self, timeout: Duration) -> Result<(), DbError> {
        let started = Instant::now();
        let primary = self.primary()?.name.clone();
        loop {
            let why = match self.ready_now(&primary) {
                Ok(None) => return Ok(()),
                Ok(Some(w)) => w,
                Err(e @ DbError::Unreachable(_)) => return Err(e),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > timeout {
                return Err(DbError::NotReady {
                    db: "postgres",
                    after: started.elapsed(),
                    detail: why,
                });
            }
            thread::sleep(POLL);
        }
    }

    /// `None` when ready, else what is missing.
    fn ready_now(&self, primary: &str) -> Result<Option<String>, DbError> {
        for n in self.servers() {
            if !self.accepting(&n.name, &n.ip)? {
                return Ok(Some(format!("{} does not accept connections", n.name)));
            }
        }
        let state = self.psql(
            primary,
            "SELECT pg_is_in_recovery()::text || ' ' || \
             (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')",
        )?;
        let mut words = state.split_whitespace();
        let (recovery, streaming) = (words.next(), words.next());
        if recovery != Some("false") {
            return Ok(Some(format!("{primary} is in recovery, not a primary")));
        }
        let streaming: usize = streaming.and_then(|s| s.parse().ok()).unwrap_or(0);
        if streaming < self.replicas {
            return Ok(Some(format!(
                "{streaming} of {} replica(s) streaming from {primary}",
                self.replicas
            )));
        }
        Ok(None)
    }

    /// The server's version as the primary's node reports it.
    pub fn version(&self) -> Result<String, DbError> {
        let n = self.primary()?;
        n.remote
            .run(
                &Cmd::new(bin("postgres")).arg("--version"),
                Some(Duration::from_secs(10)),
            )
            .map_err(|e| DbError::Failed(format!("postgres version on {}: {e}", n.name)))
    }
}

/// Whom a signal goes to.
#[derive(Debug, Clone, Copy)]
enum Whom {
    Postmaster,
    Children,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;

    fn pg(replicas: usize) -> Postgres {
        let nodes = [("n1", "10.0.0.11"), ("n2", "10.0.0.12"), ("n3", "10.0.0.13")]
            .iter()
            .map(|(name, ip)| PgNode {
                name: name.to_string(),
                ip: ip.to_string(),
                remote: Arc::new(LocalRemote::new(*name)) as Arc<dyn Remote>,
            })
            .collect();
        Postgres::new(nodes, "/b", replicas)
    }

    #[test]
    fn the_first_node_is_primary_then_the_replicas() {
        let p = pg(1);
        assert_eq!(p.role("n1").unwrap(), Role::Primary);
        assert_eq!(p.role("n2").unwrap(), Role::Replica);
        assert_eq!(p.role("n3").unwrap(), Role::Idle);
        assert_eq!(p.servers().len(), 2);
        assert!(p.role("n9").is_err());
        let e = p.kill("n3").unwrap_err().to_string();
        assert!(e.contains("n3 runs no server"), "{e}");
    }

    #[test]
    fn each_node_has_its_own_files() {
        let p = pg(2);
        assert_eq!(p.data_dir("n2"), Path::new("/b/n2/data"));
        assert_eq!(p.log_path("n1"), Path::new("/b/n1/postgres.log"));
        assert_eq!(
            p.server("n3").unwrap().pidfile,
            Path::new("/b/n3/postgres.pid")
        );
    }
}
