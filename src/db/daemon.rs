//! A datastore process on a node, known only by its pidfile: started detached, stopped, killed,
//! paused and resumed through that pidfile and never by name.
//!
//! On the local cluster every node shares one PID space and one file system: `pkill etcd` on one
//! node would kill every node's member, so each process has its own pidfile, and a PID is only
//! signalled after checking that `/proc/PID/exe` is still the expected program (a stale pidfile
//! whose PID was reused must not make us kill an unrelated process; the program's path is
//! resolved first, since Debian installs some servers as symbolic links: `redis-server` and
//! `redis-sentinel` both run `redis-check-rdb`). Every datastore under
//! `src/db/` runs its processes through this module, so none of them can get this wrong.
//!
//! Starting goes through `start-stop-daemon --background` (verified in `shared/CLUSTER.md`): a
//! plain `nohup ... &` keeps the SSH channel open and hangs the session.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::control::shell::shell_escape;
use crate::control::{Cmd, ControlError, Remote};

/// Bound on any one command on a node, so a hung node cannot hang the caller.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` and `kill` wait for the process to be gone after signalling it. The stop
/// itself escalates TERM -> KILL after 5 s, because a leader may ignore SIGTERM for seconds.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between polls of a condition on a node.
const POLL: Duration = Duration::from_millis(100);

/// Why a process action failed. Every variant names the node and the program.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Reaching the node or running a command there failed.
    #[error("{program} on {node}: {action} failed: {source}")]
    Control {
        node: String,
        program: String,
        action: &'static str,
        #[source]
        source: Box<ControlError>,
    },
    /// The command ran but the outcome is wrong (the daemon died right after starting, ...).
    #[error("{program} on {node}: {action}: {detail}")]
    Failed {
        node: String,
        program: String,
        action: &'static str,
        detail: String,
    },
    /// The process did not go away after being told to.
    #[error("{program} on {node}: pid {pid} still running {after:?} after {action}")]
    StillRunning {
        node: String,
        program: String,
        pid: i32,
        action: &'static str,
        after: Duration,
    },
}

impl DaemonError {
    /// Whether the node could not be reached at all (rather than the process misbehaving).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DaemonError::Control { source, .. } if source.is_unreachable())
    }
}

/// One process of a datastore on one node.
#[derive(Clone)]
pub struct Daemon {
    /// The node's name, for errors.
    pub node: String,
    /// How commands reach the node.
    pub remote: Arc<dyn Remote>,
    /// A short name for messages (`etcd`, `redis-server`, `sentinel`).
    pub name: String,
    /// The program to run; `/proc/PID/exe` must be where this path resolves (through symbolic
    /// links) for a PID to count as ours.
    pub exe: String,
    /// The pidfile, written by `start-stop-daemon --make-pidfile`.
    pub pidfile: PathBuf,
    /// Where its standard output and error go, appended across restarts.
    pub log: PathBuf,
}

impl Daemon {
    fn control(&self, action: &'static str) -> impl FnOnce(ControlError) -> DaemonError + '_ {
        move |source| DaemonError::Control {
            node: self.node.clone(),
            program: self.name.clone(),
            action,
            source: Box::new(source),
        }
    }

    fn failed(&self, action: &'static str, detail: impl Into<String>) -> DaemonError {
        DaemonError::Failed {
            node: self.node.clone(),
            program: self.name.clone(),
            action,
            detail: detail.into(),
        }
    }

    /// Runs `cmd` on the node, expecting success.
    pub fn run(&self, action: &'static str, cmd: &Cmd) -> Result<String, DaemonError> {
        self.remote
            .run(cmd, Some(COMMAND_TIMEOUT))
            .map_err(self.control(action))
    }

    /// The PID if the process is running (a zombie, a dead PID or a PID now used by another
    /// program counts as not running).
    pub fn pid(&self) -> Result<Option<i32>, DaemonError> {
        let cmd = Cmd::shell(format!(
            "pid=$(cat {pidfile} 2>/dev/null) || exit 0; \
             [ \"$(readlink /proc/\"$pid\"/exe 2>/dev/null)\" = \"$(readlink -f {exe})\" ] \
             && echo \"$pid\"; true",
            pidfile = shell_escape(&path_str(&self.pidfile)),
            exe = shell_escape(&self.exe),
        ));
        let out = self.run("reading pid", &cmd)?;
        let out = out.trim();
        if out.is_empty() {
            return Ok(None);
        }
        out.parse()
            .map(Some)
            .map_err(|_| self.failed("reading pid", format!("unexpected output {out:?}")))
    }

    /// Starts the process detached: `exec ARGS`, run by `start-stop-daemon` with the pidfile,
    /// output appended to the log, after `prepare` (shell text, e.g. `mkdir -p ...`; may be
    /// empty). `env` sets variables for the process. Starting a process that is already
    /// running does nothing. A process that dies at once (a port still held, a bad flag) is
    /// reported with its log's tail.
    pub fn start(
        &self,
        prepare: &str,
        env: &[(&str, String)],
        args: &[String],
    ) -> Result<(), DaemonError> {
        self.start_as(None, prepare, env, args)
    }

    /// [`Daemon::start`], the process running as `user` when given (`start-stop-daemon
    /// --chuid`: servers such as PostgreSQL refuse to run as root). The pidfile and the log
    /// are still written by root.
    pub fn start_as(
        &self,
        user: Option<&str>,
        prepare: &str,
        env: &[(&str, String)],
        args: &[String],
    ) -> Result<(), DaemonError> {
        if self.pid()?.is_some() {
            return Ok(());
        }
        let mut cmd = Cmd::shell(if prepare.is_empty() {
            "true".to_string()
        } else {
            prepare.to_string()
        })
        .raw("&&");
        if !env.is_empty() {
            cmd = cmd.raw("env");
            for (k, v) in env {
                cmd = cmd.arg(format!("{k}={v}"));
            }
        }
        cmd = cmd
            .raw("start-stop-daemon --start --background --no-close --make-pidfile --pidfile")
            .arg(path_str(&self.pidfile));
        if let Some(user) = user {
            cmd = cmd.raw("--chuid").arg(user);
        }
        cmd = cmd
            .arg("--exec")
            .arg(&self.exe)
            .arg("--")
            .args(args.iter().map(String::as_str))
            .raw(format!(
                ">>{} 2>&1 </dev/null",
                shell_escape(&path_str(&self.log))
            ));
        self.run("start", &cmd)?;
        // Give a daemon that cannot start a moment to die, so the error comes from here.
        thread::sleep(Duration::from_millis(200));
        if self.pid()?.is_none() {
            let tail = self
                .run(
                    "reading log",
                    &Cmd::new("tail").args(["-n", "5"]).arg(path_str(&self.log)),
                )
                .unwrap_or_default();
            return Err(self.failed(
                "start",
                format!("{} exited at once; its log ends with: {tail}", self.name),
            ));
        }
        Ok(())
    }

    /// Sends `signal` through the pidfile. Errors if the process is not running, since pausing
    /// or killing a process that is not there means the test is not doing what it thinks.
    fn signal(&self, signal: &str, action: &'static str) -> Result<i32, DaemonError> {
        let pid = self
            .pid()?
            .ok_or_else(|| self.failed(action, format!("{} is not running", self.name)))?;
        self.run(
            action,
            &Cmd::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string()),
        )?;
        Ok(pid)
    }

    /// Polls until the process is gone, or errors after `EXIT_TIMEOUT`.
    fn wait_gone(&self, pid: i32, action: &'static str) -> Result<(), DaemonError> {
        let started = Instant::now();
        while self.pid()? == Some(pid) {
            if started.elapsed() > EXIT_TIMEOUT {
                return Err(DaemonError::StillRunning {
                    node: self.node.clone(),
                    program: self.name.clone(),
                    pid,
                    action,
                    after: started.elapsed(),
                });
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Stops the process gracefully (TERM, then KILL after 5 s) and waits until it has exited,
    /// because a restart before that fails with `address already in use`. A paused process is
    /// resumed first so that it can act on SIGTERM. Stopping one that is not running does
    /// nothing.
    pub fn stop(&self) -> Result<(), DaemonError> {
        let Some(pid) = self.pid()? else {
            return Ok(());
        };
        self.run(
            "stop (SIGCONT first)",
            &Cmd::new("kill").arg("-CONT").arg(pid.to_string()),
        )?;
        // --exec makes start-stop-daemon match /proc/PID/exe, so a zombie (which this
        // machine's PID 1 may never reap) counts as gone rather than as a process to wait for.
        let cmd = Cmd::new("start-stop-daemon")
            .args(["--stop", "--oknodo", "--retry", "TERM/5/KILL/5"])
            .arg("--pidfile")
            .arg(path_str(&self.pidfile))
            .arg("--exec")
            .arg(&self.exe);
        self.run("stop", &cmd)?;
        self.wait_gone(pid, "stop")
    }

    /// SIGKILL (a crash: no chance to flush or step down), then waits until it is gone.
    pub fn kill(&self) -> Result<(), DaemonError> {
        let pid = self.signal("KILL", "kill")?;
        self.wait_gone(pid, "kill")
    }

    /// SIGSTOP: the process and its sockets stay, it answers nothing.
    pub fn pause(&self) -> Result<(), DaemonError> {
        self.signal("STOP", "pause").map(|_| ())
    }

    /// SIGCONT after a pause.
    pub fn resume(&self) -> Result<(), DaemonError> {
        self.signal("CONT", "resume").map(|_| ())
    }

    /// Removes the pidfile (after a stop).
    pub fn forget(&self) -> Result<(), DaemonError> {
        self.run(
            "removing pidfile",
            &Cmd::new("rm").arg("-f").arg(path_str(&self.pidfile)),
        )
        .map(|_| ())
    }
}

/// A remote path as text for a command line (remote paths are built here from UTF-8 parts).
pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs `f` for every item at once (one thread each: the SSH calls block) and returns the
/// results in order.
pub fn each<I, T, F>(items: &[I], f: F) -> Vec<T>
where
    I: Sync,
    T: Send,
    F: Fn(&I) -> T + Sync,
{
    thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| {
                let f = &f;
                s.spawn(move || f(item))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;

    fn daemon(dir: &Path) -> Daemon {
        Daemon {
            node: "n1".into(),
            remote: Arc::new(LocalRemote::new("n1")),
            name: "sleeper".into(),
            exe: "/usr/bin/sleep".into(),
            pidfile: dir.join("sleep.pid"),
            log: dir.join("sleep.log"),
        }
    }

    /// A pidfile whose PID now belongs to another program (here: this test process) must not
    /// be taken for ours, or `kill` would shoot an unrelated process.
    #[test]
    fn a_pid_of_another_program_counts_as_not_running_and_is_never_signalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(dir.path());
        assert_eq!(d.pid().expect("pid"), None, "no pidfile");
        std::fs::write(&d.pidfile, std::process::id().to_string()).expect("write");
        assert_eq!(d.pid().expect("pid"), None, "pid of a non-sleep process");
        let err = d.kill().expect_err("nothing to kill");
        assert!(err.to_string().contains("not running"), "{err}");
        d.stop().expect("stopping a stopped process is fine");
    }

    #[test]
    fn a_started_process_is_paused_resumed_and_killed_through_its_pidfile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(dir.path());
        d.start("", &[], &["300".to_string()]).expect("start");
        let pid = d.pid().expect("pid").expect("running");
        d.start("", &[], &["300".to_string()])
            .expect("starting a running process does nothing");
        assert_eq!(d.pid().expect("pid"), Some(pid));
        d.pause().expect("pause");
        // SIGSTOP is delivered asynchronously: on a loaded machine the state flips a moment later.
        let stopped = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            state.contains(") T ") || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                false
            }
        });
        assert!(stopped, "pid {pid} never showed as stopped");
        d.resume().expect("resume");
        d.kill().expect("kill");
        assert_eq!(d.pid().expect("pid"), None);
    }

    /// Servers such as PostgreSQL refuse root: `start_as` runs the process as the user given,
    /// while the pidfile still names it.
    #[test]
    fn a_process_started_as_a_user_runs_as_that_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(dir.path());
        d.start_as(Some("nobody"), "", &[], &["300".to_string()])
            .expect("start as nobody");
        let pid = d.pid().expect("pid").expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .expect("a Uid line");
        d.kill().expect("kill");
        assert_ne!(uid, "0", "runs as nobody, not root");
    }

    #[test]
    fn a_process_that_dies_at_once_is_an_error_with_its_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(dir.path());
        let err = d
            .start("", &[], &["not-a-duration".to_string()])
            .expect_err("sleep refuses it");
        assert!(err.to_string().contains("exited at once"), "{err}");
        assert!(err.to_string().contains("invalid time interval"), "{err}");
    }
}
