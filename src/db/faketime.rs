//! Starting a datastore's processes under libfaketime, so that the nemesis can move a node's
//! clock without touching the machine's.
//!
//! The local cluster's namespaces share one kernel clock, and changing it would change every
//! node's (and the machine's), so a clock fault is per process instead: each process that can be
//! clock-faulted is started with libfaketime preloaded (`LD_PRELOAD`), reading its offset from a
//! control file of its node (`FAKETIME_TIMESTAMP_FILE`) on every clock call
//! (`FAKETIME_NO_CACHE=1`). Writing that file (`+0.250000`: 250 ms ahead, in seconds, as
//! libfaketime's relative offsets are written) moves the clock of every process of that node at
//! once, at run time, without a restart. The file is replaced by a rename, so that no process
//! ever reads it half-written (libfaketime reads an empty file as no offset).
//!
//! Only the realtime clock moves: `FAKETIME_DONT_FAKE_MONOTONIC=1`, as when a machine's clock is
//! stepped (by `date -s`, NTP, or Jepsen's `bump-time`), which leaves `CLOCK_MONOTONIC` alone
//! (with `FAKETIME_FORCE_MONOTONIC_FIX=0`, see [`FakeClock::env`]; measured on a JVM: after a
//! bump of +250 ms, `System.currentTimeMillis()` moved 551 ms over a 300 ms sleep and
//! `System.nanoTime()` 300 ms).
//! `--clock-fake-monotonic` moves the monotonic clock too (a JVM's `System.nanoTime()` then jumps
//! with the wall clock, even backwards), which no stepped clock does.
//!
//! libfaketime intercepts the C library's clock calls, so it reaches C programs (Redis) and the
//! JVM (ZooKeeper), not programs that read the clock without the C library: the Go runtime reads
//! it through the vDSO, so etcd never sees an offset (measured: etcd 3.4 started under
//! libfaketime with an offset of +3600 s logs the machine's own time). Each datastore says which
//! it is ([`super::Db::clock_faults`]); a run refuses clock faults on one that libfaketime does
//! not reach.
//!
//! A datastore is started under libfaketime only when the run has clock faults: nothing is
//! preloaded otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::install::{self, Program};
use super::DbError;
use crate::control::shell::shell_escape;
use crate::control::{Cmd, Remote};

/// Where the control files live: `<ROOT>/<cluster>/<node>.faketime`.
pub const ROOT: &str = "/var/lib/faultline/clock";
/// The Debian package that brings libfaketime (and depends on `libfaketime`).
pub const PACKAGE: &str = "faketime";
/// A program of that package: the installer looks for programs, and a library is not one.
pub const PROGRAM: &str = "/usr/bin/faketime";

/// Bound on one command on a node.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The per-node control files of one cluster, and how a process is started to follow them.
#[derive(Debug)]
pub struct FakeClock {
    dir: PathBuf,
    fake_monotonic: bool,
    /// libfaketime's path on each prepared node.
    libraries: Mutex<HashMap<String, String>>,
}

impl FakeClock {
    /// The fake clocks of the cluster called `cluster`; `fake_monotonic` moves
    /// `CLOCK_MONOTONIC` with the wall clock.
    pub fn new(cluster: &str, fake_monotonic: bool) -> FakeClock {
        FakeClock {
            dir: Path::new(ROOT).join(cluster),
            fake_monotonic,
            libraries: Mutex::new(HashMap::new()),
        }
    }

    /// `node`'s control file. Named by node and cluster: the local cluster's nodes share one
    /// file system.
    pub fn control_file(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.faketime"))
    }

    /// Makes `node` ready to start processes under libfaketime: installs it when missing,
    /// finds the library, and writes an offset of zero to the node's control file.
    pub fn prepare(&self, node: &str, remote: &dyn Remote) -> Result<(), DbError> {
        install::ensure(remote, &[Program::new(PROGRAM, PACKAGE)])?;
        // Debian installs it under the multiarch directory of the node's architecture.
        let found = remote
            .run(
                &Cmd::shell(
                    "for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; \
                     do [ -r \"$f\" ] && echo \"$f\" && exit 0; done; exit 1",
                ),
                Some(TIMEOUT),
            )
            .map_err(|e| DbError::NotInstalled {
                node: node.to_string(),
                program: "libfaketime.so.1".into(),
                package: "libfaketime".into(),
                detail: e.to_string(),
            })?;
        let library = found.trim().to_string();
        let file = self.control_file(node);
        let dir = path_text(&self.dir);
        remote
            .run(
                &Cmd::new("mkdir")
                    .arg("-p")
                    .arg(&dir)
                    .raw("&&")
                    .raw(write_offset_script(&file, 0.0)),
                Some(TIMEOUT),
            )
            .map_err(|e| {
                DbError::Failed(format!(
                    "node {node}: writing the clock control file {}: {e}",
                    file.display()
                ))
            })?;
        self.libraries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.to_string(), library);
        Ok(())
    }

    /// The environment of a process started under libfaketime on `node` (after
    /// [`FakeClock::prepare`]). `preload_after` are libraries preloaded after libfaketime: a
    /// datastore that needs one says why.
    pub fn env(
        &self,
        node: &str,
        preload_after: &[&str],
    ) -> Result<Vec<(&'static str, String)>, DbError> {
        let library = self
            .libraries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            .cloned()
            .ok_or_else(|| {
                DbError::Failed(format!(
                    "node {node}: libfaketime was not prepared on this node before starting \
                     the datastore"
                ))
            })?;
        let mut preload = vec![library.as_str()];
        preload.extend_from_slice(preload_after);
        let mut env = vec![
            ("LD_PRELOAD", preload.join(":")),
            (
                "FAKETIME_TIMESTAMP_FILE",
                path_text(&self.control_file(node)),
            ),
            ("FAKETIME_NO_CACHE", "1".to_string()),
        ];
        if !self.fake_monotonic {
            env.push(("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()));
            // Debian's build turns on the "monotonic fix", which with the line above makes the
            // JVM's timed waits overrun: a ZooKeeper server took 12-22 s instead of 0.7-1.4 s
            // to serve (measured). Without it, waits are exact and nanoTime still never moves.
            env.push(("FAKETIME_FORCE_MONOTONIC_FIX", "0".to_string()));
        }
        Ok(env)
    }
}

/// An offset in milliseconds as libfaketime reads a relative offset: signed seconds with a
/// fraction (`+0.250000`, `-1.500000`; exactly zero is `+0`).
pub fn offset_text(ms: f64) -> String {
    if ms == 0.0 || !ms.is_finite() {
        return "+0".to_string();
    }
    format!("{:+.6}", ms / 1000.0)
}

/// Shell text that sets the offset in `file` to `ms`, atomically (a rename).
pub fn write_offset_script(file: &Path, ms: f64) -> String {
    let file = path_text(file);
    format!(
        "printf '%s\\n' {text} > {tmp} && mv -f {tmp} {file}",
        text = shell_escape(&offset_text(ms)),
        tmp = shell_escape(&format!("{file}.tmp")),
        file = shell_escape(&file),
    )
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;

    #[test]
    fn offsets_are_written_as_libfaketime_reads_them() {
        assert_eq!(offset_text(250.0), "+0.250000");
        assert_eq!(offset_text(-1500.0), "-1.500000");
        assert_eq!(offset_text(0.5), "+0.000500");
        assert_eq!(offset_text(0.0), "+0");
        assert_eq!(offset_text(-0.0), "+0");
        assert_eq!(offset_text(f64::NAN), "+0");
    }

    #[test]
    fn each_node_of_each_cluster_has_its_own_control_file() {
        let a = FakeClock::new("fl", false);
        let b = FakeClock::new("other", false);
        assert_eq!(
            a.control_file("n1"),
            Path::new("/var/lib/faultline/clock/fl/n1.faketime")
        );
        assert_ne!(a.control_file("n1"), a.control_file("n2"));
        assert_ne!(a.control_file("n1"), b.control_file("n1"));
    }

    #[test]
    fn a_node_must_be_prepared_before_a_process_starts_under_libfaketime() {
        let clock = FakeClock::new("t", false);
        let e = clock.env("n1", &[]).unwrap_err().to_string();
        assert!(e.contains("node n1") && e.contains("not prepared"), "{e}");
        clock
            .libraries
            .lock()
            .unwrap()
            .insert("n1".into(), "/lib/libfaketime.so.1".into());
        let env: HashMap<_, _> = clock
            .env("n1", &["libc.so.6"])
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(env["LD_PRELOAD"], "/lib/libfaketime.so.1:libc.so.6");
        assert_eq!(
            env["FAKETIME_TIMESTAMP_FILE"],
            "/var/lib/faultline/clock/t/n1.faketime"
        );
        assert_eq!(env["FAKETIME_NO_CACHE"], "1");
        assert_eq!(env["FAKETIME_DONT_FAKE_MONOTONIC"], "1");
        assert_eq!(env["FAKETIME_FORCE_MONOTONIC_FIX"], "0");
        let monotonic = FakeClock::new("t", true);
        monotonic
            .libraries
            .lock()
            .unwrap()
            .insert("n1".into(), "/l.so".into());
        assert!(!monotonic
            .env("n1", &[])
            .unwrap()
            .iter()
            .any(|(k, _)| k.contains("MONOTONIC")));
    }

    /// The script replaces the file whole, and a second write replaces the first.
    #[test]
    fn the_offset_script_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n1.faketime");
        let remote = LocalRemote::new("n1");
        for ms in [250.0, -3.0] {
            remote
                .run(&Cmd::shell(write_offset_script(&file, ms)), None)
                .unwrap();
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                format!("{}\n", offset_text(ms))
            );
        }
        assert!(!dir.path().join("n1.faketime.tmp").exists());
    }
}
