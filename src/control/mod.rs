//! Control: how a command reaches a node.
//!
//! Everything faultline does to a node (install, start a datastore, cut a link, fetch a log) is a
//! shell command run there, or a file copied there or back. [`Remote`] is that capability for
//! one node; [`ssh::SshRemote`] provides it over SSH (the way real machines and the local
//! cluster are driven alike) and [`local::LocalRemote`] on this machine (tests, and running
//! inside a network namespace without SSH).
//!
//! `Remote` is deliberately blocking: the SSH library is, and a blocking trait is simple to
//! implement and to test. Async code (the harness) calls it through [`blocking`] or
//! [`exec_async`], which move the call onto tokio's blocking thread pool so that the executor
//! never waits on a socket.
//!
//! Errors are a [`ControlError`] that always names the node and, where there is one, the command,
//! because "connection refused" alone does not tell anyone which of five nodes to look at.

pub mod dummy;
pub mod local;
pub mod secret;
pub mod shell;
pub mod ssh;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use shell::Cmd;

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Everything written to standard output.
    pub stdout: Vec<u8>,
    /// Everything written to standard error.
    pub stderr: Vec<u8>,
    /// The exit status (`-1` if the command died without one, e.g. killed by a signal over SSH).
    pub status: i32,
}

impl Output {
    /// Standard output as text (lossy: datastore tools sometimes print bytes that are not UTF-8).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Why an operation on a node failed. Every variant names the node.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The TCP connection could not be made (after all retries).
    #[error("node {node}: cannot connect to {addr} after {attempts} attempt(s): {source}")]
    Connect {
        node: String,
        addr: String,
        attempts: u32,
        #[source]
        source: io::Error,
    },
    /// The SSH protocol failed at some step (handshake, channel, ...).
    #[error("node {node}: ssh {step} failed: {source}")]
    Ssh {
        node: String,
        step: &'static str,
        #[source]
        source: ssh2::Error,
    },
    /// Strict host-key checking found no entry for the node in known_hosts.
    #[error(
        "node {node}: host key of {host} is not in {known_hosts} (strict host-key checking; add it, or opt out)"
    )]
    HostKeyUnknown {
        node: String,
        host: String,
        known_hosts: PathBuf,
    },
    /// The node presented a different key than known_hosts records: possibly the wrong machine.
    #[error("node {node}: host key of {host} does NOT match the entry in {known_hosts}")]
    HostKeyMismatch {
        node: String,
        host: String,
        known_hosts: PathBuf,
    },
    /// The known_hosts file could not be read.
    #[error("node {node}: cannot read known_hosts {known_hosts}: {detail}")]
    KnownHosts {
        node: String,
        known_hosts: PathBuf,
        detail: String,
    },
    /// No offered credential was accepted.
    #[error("node {node}: authentication as {user} failed: {detail}")]
    Auth {
        node: String,
        user: String,
        detail: String,
    },
    /// The command could not be started or its output could not be read.
    #[error("node {node}: command `{command}` failed: {source}")]
    Exec {
        node: String,
        command: String,
        #[source]
        source: io::Error,
    },
    /// The command did not finish within its timeout (it may still be running on the node).
    #[error("node {node}: command `{command}` timed out after {after:?}")]
    Timeout {
        node: String,
        command: String,
        after: Duration,
    },
    /// The command ran and exited non-zero (from [`Remote::run`], which expects success).
    #[error("node {node}: command `{command}` exited with status {status}: {stderr}")]
    NonZeroExit {
        node: String,
        command: String,
        status: i32,
        stderr: String,
    },
    /// Copying a file to or from the node failed.
    #[error("node {node}: {direction} {path} failed: {source}")]
    Transfer {
        node: String,
        direction: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The blocking task running the operation panicked or was cancelled.
    #[error("node {node}: the blocking task for `{what}` did not complete: {detail}")]
    Task {
        node: String,
        what: String,
        detail: String,
    },
}

impl ControlError {
    /// The node the failure happened on.
    pub fn node(&self) -> &str {
        match self {
            ControlError::Connect { node, .. }
            | ControlError::Ssh { node, .. }
            | ControlError::HostKeyUnknown { node, .. }
            | ControlError::HostKeyMismatch { node, .. }
            | ControlError::KnownHosts { node, .. }
            | ControlError::Auth { node, .. }
            | ControlError::Exec { node, .. }
            | ControlError::Timeout { node, .. }
            | ControlError::NonZeroExit { node, .. }
            | ControlError::Transfer { node, .. }
            | ControlError::Task { node, .. } => node,
        }
    }

    /// Whether the node may simply be unreachable (as opposed to misconfigured): the harness
    /// records such failures as indeterminate rather than aborting a test.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ControlError::Connect { .. } | ControlError::Timeout { .. }
        )
    }
}

/// One node that commands can be run on and files copied to and from.
///
/// Implementations are blocking and shareable between threads; calls on one node may be
/// serialised by the implementation (SSH reuses one session per node).
pub trait Remote: Send + Sync {
    /// The node's name, as used in errors and logs.
    fn node(&self) -> &str;

    /// Runs `cmd` through the node's shell and returns its output whatever the exit status.
    /// `timeout` bounds the whole command; `None` waits as long as it takes.
    fn exec(&self, cmd: &Cmd, timeout: Option<Duration>) -> Result<Output, ControlError>;

    /// Writes `data` to `path` on the node (created or truncated, mode 0644).
    fn upload(&self, data: &[u8], path: &Path) -> Result<(), ControlError>;

    /// Reads the whole file at `path` on the node.
    fn download(&self, path: &Path) -> Result<Vec<u8>, ControlError>;

    /// Copies the local file `local` to `remote` on the node.
    fn upload_file(&self, local: &Path, remote: &Path) -> Result<(), ControlError> {
        let data = std::fs::read(local).map_err(|source| ControlError::Transfer {
            node: self.node().to_string(),
            direction: "upload (reading local file)",
            path: local.to_path_buf(),
            source,
        })?;
        self.upload(&data, remote)
    }

    /// Copies `remote` on the node to the local file `local` (created or truncated).
    fn download_file(&self, remote: &Path, local: &Path) -> Result<(), ControlError> {
        let data = self.download(remote)?;
        std::fs::write(local, data).map_err(|source| ControlError::Transfer {
            node: self.node().to_string(),
            direction: "download (writing local file)",
            path: local.to_path_buf(),
            source,
        })
    }

    /// Runs `cmd`, expecting exit status 0, and returns its standard output with trailing
    /// whitespace removed: the common case of "do this, tell me what it said".
    fn run(&self, cmd: &Cmd, timeout: Option<Duration>) -> Result<String, ControlError> {
        let out = self.exec(cmd, timeout)?;
        if !out.success() {
            return Err(ControlError::NonZeroExit {
                node: self.node().to_string(),
                command: cmd.to_string(),
                status: out.status,
                stderr: out.stderr_str().trim_end().to_string(),
            });
        }
        Ok(out.stdout_str().trim_end().to_string())
    }
}

/// Runs a blocking operation on `remote` on tokio's blocking pool, so async code can drive nodes
/// without stalling the executor. `what` describes the operation for the error if the task
/// panics.
pub async fn blocking<R, T, F>(remote: Arc<R>, what: &str, f: F) -> Result<T, ControlError>
where
    R: Remote + ?Sized + 'static,
    T: Send + 'static,
    F: FnOnce(&R) -> Result<T, ControlError> + Send + 'static,
{
    let node = remote.node().to_string();
    let task = tokio::task::spawn_blocking(move || f(&remote));
    match task.await {
        Ok(result) => result,
        Err(join) => Err(ControlError::Task {
            node,
            what: what.to_string(),
            detail: join.to_string(),
        }),
    }
}

/// [`Remote::exec`] for async callers (see [`blocking`]).
pub async fn exec_async<R>(
    remote: Arc<R>,
    cmd: Cmd,
    timeout: Option<Duration>,
) -> Result<Output, ControlError>
where
    R: Remote + ?Sized + 'static,
{
    let what = cmd.to_string();
    blocking(remote, &what, move |r| r.exec(&cmd, timeout)).await
}
