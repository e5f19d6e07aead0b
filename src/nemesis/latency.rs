//! Latency on a node without netem: an NFQUEUE rule in the node's faultline chain, and the
//! delayer (`faultline delayer`, see `src/delayer.rs`) running in the node's namespace, which
//! holds each queued packet for the delay before accepting it.
//!
//! The rule sends the node's incoming packets (all but loopback) to queue [`QUEUE`] with
//! `--queue-bypass`: while no delayer is bound, packets pass undelayed, so a delayer that died
//! or never started slows nothing and blackholes nothing. Stopping flushes the faultline chain
//! (like every network heal) and then stops the delayer through its pidfile, never by name: all
//! local-cluster namespaces share one PID space.
//!
//! The delayer is the faultline binary itself. On the local cluster every namespace shares the
//! file system, so the binary is already at its path; on a remote machine it is uploaded to the
//! same path when that file is missing (the remote needs the same architecture and libc).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::partition::{drop_command, heal, Node, CHAIN};
use super::NemesisError;
use crate::control::{shell::shell_escape, Cmd};

/// The netfilter queue the delayer binds (queues are per network namespace).
pub const QUEUE: u16 = 0;

/// How long [`start_latency`] waits for the delayer to bind its queue.
const BIND_WAIT: Duration = Duration::from_secs(5);

/// The delayer's pidfile on `node`. Named by address, because local-cluster nodes of different
/// clusters share names (`n1`) and one file system.
pub fn pidfile(node: &Node) -> PathBuf {
    PathBuf::from(format!("/run/faultline-delayer-{}.pid", node.ip))
}

/// The delayer's log on `node` (its standard error: why it failed to bind, if it did).
pub fn logfile(node: &Node) -> PathBuf {
    PathBuf::from(format!("/tmp/faultline-delayer-{}.log", node.ip))
}

fn q(p: &Path) -> String {
    shell_escape(&p.to_string_lossy())
}

/// The command that starts the delayer in the background (no-op if it already runs) and waits
/// until it has bound [`QUEUE`], printing its log and failing if it does not.
pub fn start_delayer_command(node: &Node, exe: &Path, delay: Duration) -> Cmd {
    let (pid, log) = (q(&pidfile(node)), q(&logfile(node)));
    let tries = BIND_WAIT.as_millis() / 50;
    Cmd::shell(format!(
        "start-stop-daemon --start --oknodo --background --no-close --make-pidfile \
         --pidfile {pid} --exec {exe} -- delayer --queue {QUEUE} --delay-ms {ms} \
         >>{log} 2>&1 </dev/null && \
         for i in $(seq {tries}); do \
           grep -qE '^ *{QUEUE} ' /proc/net/netfilter/nfnetlink_queue 2>/dev/null && exit 0; \
           sleep 0.05; \
         done; echo 'the delayer did not bind its queue; its log:' >&2; tail -n 5 {log} >&2; exit 1",
        exe = q(exe),
        ms = delay.as_millis(),
    ))
}

/// The command that queues every non-loopback incoming packet to the delayer.
pub fn queue_command() -> Cmd {
    Cmd::shell(format!(
        "{} && iptables -w -A {CHAIN} ! -i lo -j NFQUEUE --queue-num {QUEUE} --queue-bypass",
        drop_command(&[], None)
    ))
}

/// The command that stops the delayer by its pidfile: TERM (it then releases every packet it
/// holds), KILL if it has not exited 2 s later. Succeeds when none is running.
pub fn stop_delayer_command(node: &Node) -> Cmd {
    Cmd::shell(format!(
        "start-stop-daemon --stop --oknodo --remove-pidfile --pidfile {} --retry TERM/2/KILL/2",
        q(&pidfile(node))
    ))
}

/// Makes sure the delayer binary exists at `exe` on `node`, uploading this one if it does not.
pub(super) fn ensure_binary(
    node: &Node,
    exe: &Path,
    timeout: Duration,
) -> Result<(), NemesisError> {
    let test = Cmd::new("test").arg("-x").arg(exe.to_string_lossy());
    if node.remote.exec(&test, Some(timeout))?.success() {
        return Ok(());
    }
    if let Some(dir) = exe.parent() {
        let mkdir = Cmd::new("mkdir").arg("-p").arg(dir.to_string_lossy());
        node.remote.run(&mkdir, Some(timeout))?;
    }
    node.remote.upload_file(exe, exe)?;
    let chmod = Cmd::new("chmod").arg("755").arg(exe.to_string_lossy());
    node.remote.run(&chmod, Some(timeout))?;
    Ok(())
}

/// Delays every packet `node` receives by `delay`, with the delayer at `exe` (the faultline
/// binary: `std::env::current_exe()` in faultline itself, the built binary in tests).
pub fn start_latency(
    node: &Node,
    exe: &Path,
    delay: Duration,
    timeout: Duration,
) -> Result<(), NemesisError> {
    ensure_binary(node, exe, timeout)?;
    node.remote
        .run(&start_delayer_command(node, exe, delay), Some(timeout))?;
    node.remote.run(&queue_command(), Some(timeout))?;
    Ok(())
}

/// Removes the latency from `node`: flushes the faultline chain, then stops the delayer.
pub fn stop_latency(node: &Node, timeout: Duration) -> Result<(), NemesisError> {
    heal(node, timeout)?;
    node.remote
        .run(&stop_delayer_command(node), Some(timeout))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;
    use std::sync::Arc;

    fn node() -> Node {
        Node {
            name: "n2".into(),
            ip: "10.77.0.12".parse().unwrap(),
            remote: Arc::new(LocalRemote::new("n2")),
        }
    }

    #[test]
    fn the_queue_rule_bypasses_when_no_delayer_is_bound_and_spares_loopback() {
        let cmd = queue_command().to_string();
        assert!(cmd.contains("iptables -w -C INPUT -j FAULTLINE"), "{cmd}");
        assert!(
            cmd.ends_with(
                "iptables -w -A FAULTLINE ! -i lo -j NFQUEUE --queue-num 0 --queue-bypass"
            ),
            "{cmd}"
        );
    }

    #[test]
    fn the_delayer_is_started_and_stopped_by_a_per_address_pidfile() {
        let n = node();
        let start = start_delayer_command(
            &n,
            Path::new("/opt/fl/faultline"),
            Duration::from_millis(100),
        )
        .to_string();
        assert!(
            start.contains(
                "--pidfile /run/faultline-delayer-10.77.0.12.pid --exec /opt/fl/faultline \
                 -- delayer --queue 0 --delay-ms 100"
            ),
            "{start}"
        );
        let stop = stop_delayer_command(&n).to_string();
        assert!(
            stop.contains("--stop") && stop.contains("/run/faultline-delayer-10.77.0.12.pid"),
            "{stop}"
        );
        assert!(
            !stop.contains("--exec") && !stop.contains("--name"),
            "{stop}"
        );
    }
}
