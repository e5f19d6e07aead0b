//! Running commands on this machine, optionally inside a network namespace.
//!
//! The same [`Remote`] interface as SSH, without SSH: unit tests of code that drives nodes, and
//! the local cluster's own plumbing (a namespace shares this machine's file system, so
//! uploading is writing a file). Commands go through `sh -c` exactly as they would through sshd,
//! so quoting behaves the same way in both.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Cmd, ControlError, Output, Remote};

/// This machine as a node, or one of its network namespaces.
#[derive(Debug, Clone)]
pub struct LocalRemote {
    node: String,
    netns: Option<String>,
}

impl LocalRemote {
    /// Runs commands directly on this machine, naming it `node` in errors.
    pub fn new(node: impl Into<String>) -> Self {
        LocalRemote {
            node: node.into(),
            netns: None,
        }
    }

    /// Runs commands inside the named network namespace (`ip netns exec NETNS sh -c ...`).
    pub fn in_netns(node: impl Into<String>, netns: impl Into<String>) -> Self {
        LocalRemote {
            node: node.into(),
            netns: Some(netns.into()),
        }
    }

    fn command(&self, cmd: &Cmd) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "sh", "-c", cmd.as_str()]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", cmd.as_str()]);
                c
            }
        };
        // Its own process group, so that a timeout kills the command and everything it started
        // by that group's id, never by name.
        c.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
}

impl Remote for LocalRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn exec(&self, cmd: &Cmd, timeout: Option<Duration>) -> Result<Output, ControlError> {
        let exec_err = |source| ControlError::Exec {
            node: self.node.clone(),
            command: cmd.to_string(),
            source,
        };
        let started = Instant::now();
        let mut child = self.command(cmd).spawn().map_err(exec_err)?;
        // Drain both pipes on their own threads so a chatty command cannot fill one and stall.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let status = loop {
            if let Some(status) = child.try_wait().map_err(exec_err)? {
                break status;
            }
            if timeout.is_some_and(|t| started.elapsed() >= t) {
                if let Ok(pgid) = i32::try_from(child.id()) {
                    // SAFETY: plain syscall; the negative id addresses the group we created.
                    unsafe {
                        libc::kill(-pgid, libc::SIGKILL);
                    }
                }
                let _ = child.wait();
                return Err(ControlError::Timeout {
                    node: self.node.clone(),
                    command: cmd.to_string(),
                    after: started.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        Ok(Output {
            stdout,
            stderr,
            status: status.code().unwrap_or(-1),
        })
    }

    fn upload(&self, data: &[u8], path: &Path) -> Result<(), ControlError> {
        std::fs::write(path, data).map_err(|source| ControlError::Transfer {
            node: self.node.clone(),
            direction: "upload to",
            path: path.to_path_buf(),
            source,
        })
    }

    fn download(&self, path: &Path) -> Result<Vec<u8>, ControlError> {
        std::fs::read(path).map_err(|source| ControlError::Transfer {
            node: self.node.clone(),
            direction: "download of",
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_captures_stdout_stderr_and_status() {
        let r = LocalRemote::new("here");
        let out = r
            .exec(&Cmd::shell("echo out; echo err >&2; exit 3"), None)
            .expect("runs");
        assert_eq!(out.stdout_str(), "out\n");
        assert_eq!(out.stderr_str(), "err\n");
        assert_eq!(out.status, 3);
    }

    #[test]
    fn run_names_node_and_command_on_nonzero_exit() {
        let r = LocalRemote::new("here");
        let e = r.run(&Cmd::new("false"), None).expect_err("false fails");
        let msg = e.to_string();
        assert!(msg.contains("here") && msg.contains("`false`"), "{msg}");
    }

    #[test]
    fn timeout_kills_the_command_and_names_it() {
        let r = LocalRemote::new("here");
        let t = Instant::now();
        let e = r
            .exec(
                &Cmd::new("sleep").arg("10"),
                Some(Duration::from_millis(200)),
            )
            .expect_err("times out");
        assert!(matches!(e, ControlError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("sleep 10"));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn upload_then_download_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let r = LocalRemote::new("here");
        r.upload(b"a\0b\n", &path).expect("upload");
        assert_eq!(r.download(&path).expect("download"), b"a\0b\n");
    }

    #[tokio::test]
    async fn exec_async_runs_off_the_executor() {
        let r = std::sync::Arc::new(LocalRemote::new("here"));
        let out = crate::control::exec_async(r, Cmd::new("echo").arg("hi"), None)
            .await
            .expect("runs");
        assert_eq!(out.stdout_str(), "hi\n");
    }
}
