//! Running the host-side tools the local cluster is built with (`ip`, `ssh-keygen`) and
//! handling the processes it starts, safely.
//!
//! All namespaces share one PID space, so a process is only ever signalled by a PID that was
//! either recorded in a pidfile we wrote (and is checked to still be that process) or reported
//! by `ip netns pids` for one of this cluster's own namespaces. Nothing is ever killed by name.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::ClusterError;

/// Runs `program args...` (no shell) and returns its standard output; a non-zero exit is an
/// error carrying the command line and what it printed on stderr.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, ClusterError> {
    let line = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ClusterError::Command {
            command: line.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            command: line,
            detail: format!(
                "exit status {}: {}",
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`run`], for teardown steps whose target may already be gone: failures are ignored.
pub(crate) fn run_quietly(program: &str, args: &[&str]) {
    let _ = run(program, args);
}

/// The PIDs of every process whose network namespace is `netns`.
pub(crate) fn netns_pids(netns: &str) -> Vec<i32> {
    run("ip", &["netns", "pids", netns])
        .map(|out| {
            out.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is a live process (zombies count as gone: they only wait to be reaped).
pub(crate) fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Reads a PID from `pidfile` and returns it only if that process is alive and its command line
/// mentions `marker` (a path unique to this cluster), so a stale pidfile whose PID was reused by
/// an unrelated process is never acted on.
pub(crate) fn pid_from_file(pidfile: &Path, marker: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    if pid <= 1 || !alive(pid) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline.contains(marker).then_some(pid)
}

/// Sends SIGTERM to `pids`, waits up to `grace` for them to exit, then SIGKILLs the rest and
/// waits briefly for those too. Datastores (an etcd leader especially) can ignore TERM for
/// seconds, hence the escalation.
pub(crate) fn terminate(pids: &[i32], grace: Duration) {
    let pids: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|&p| p > 1 && p != std::process::id() as i32)
        .collect();
    if pids.is_empty() {
        return;
    }
    signal_all(&pids, libc::SIGTERM);
    if wait_gone(&pids, grace) {
        return;
    }
    signal_all(&pids, libc::SIGKILL);
    wait_gone(&pids, Duration::from_secs(2));
}

fn signal_all(pids: &[i32], sig: i32) {
    for &pid in pids {
        if alive(pid) {
            // SAFETY: a plain syscall on a PID we own (see the module docs).
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }
}

fn wait_gone(pids: &[i32], within: Duration) -> bool {
    let start = Instant::now();
    loop {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        if start.elapsed() >= within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
