//! What the end-to-end tests of `faultline test` share: running the binary against a named
//! local cluster, finding the run it stored, and looking at the nodes from outside (through
//! the namespaces, not over SSH) for faults left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// Brings the named cluster down when the test ends, pass or fail.
pub struct ClusterGuard(pub &'static str);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let _ = faultline()
            .args(["cluster", "down", "--cluster", self.0])
            .output();
    }
}

/// `faultline test` on a 5-node local cluster, with the run stored under `store`.
pub fn test_command(cluster: &str, store: &Path, extra: &[&str]) -> Command {
    let mut c = faultline();
    c.args([
        "test",
        "--local-cluster",
        "5",
        "--cluster",
        cluster,
        "--store",
    ])
    .arg(store)
    .args(extra);
    c
}

pub fn run_test(cluster: &str, store: &Path, extra: &[&str]) -> Output {
    test_command(cluster, store, extra)
        .output()
        .expect("run faultline test")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every run directory under the store, oldest first.
pub fn runs(store: &Path) -> Vec<PathBuf> {
    // Sorted by time stamp, whatever the test's name (`<db>-<workload>`).
    let mut dirs: Vec<PathBuf> = faultline::store::run_dirs(store)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.path)
        .collect();
    dirs.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    dirs
}

pub fn results(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("results.json")).expect("results.json"))
        .expect("results.json parses")
}

/// The verdict of `checker` in a run's results.
pub fn the_check(r: &serde_json::Value, checker: &str) -> serde_json::Value {
    r["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|v| v["checker"] == checker))
        .cloned()
        .unwrap_or_else(|| panic!("no {checker} check in {r}"))
}

/// One of a verdict's counts.
pub fn count(verdict: &serde_json::Value, name: &str) -> u64 {
    verdict["counts"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {name} in {verdict}"))
}

/// The events of a stored history (lines that do not parse are skipped).
pub fn history_events(history: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(history)
        .expect("history")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// When a node was alone on its side of a partition, in the history's nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutOff {
    pub node: String,
    pub from: u64,
    pub to: u64,
}

impl CutOff {
    /// Whether `node` was cut off at `at`.
    pub fn covers(&self, node: &str, at: u64) -> bool {
        self.node == node && self.from <= at && at <= self.to
    }
}

/// Every stretch in which the nemesis had one node cut off from all the others, read from its
/// `start-partition` grudges and the `stop-partition` or `heal-all` that ended them.
pub fn cut_off_windows(events: &[serde_json::Value]) -> Vec<CutOff> {
    let time = |e: &serde_json::Value| e["time"].as_u64().unwrap_or(0);
    let mut windows = Vec::new();
    let mut open: Option<(String, u64)> = None;
    for e in events.iter().filter(|e| e["process"] == "nemesis") {
        match e["f"].as_str() {
            Some("start-partition") => {
                let grudge = e["value"].as_object().expect("a grudge");
                open = grudge
                    .iter()
                    .find(|(_, cut)| cut.as_array().map(Vec::len) == Some(grudge.len() - 1))
                    .map(|(node, _)| (node.clone(), time(e)));
            }
            Some("stop-partition" | "heal-all") => {
                if let Some((node, from)) = open.take() {
                    windows.push(CutOff {
                        node,
                        from,
                        to: time(e),
                    });
                }
            }
            _ => {}
        }
    }
    windows
}

/// `faultline check` of a stored history.
pub fn check(history: &Path) -> Output {
    faultline()
        .arg("check")
        .arg(history)
        .output()
        .expect("run faultline check")
}

/// The FAULTLINE chain's rules on the given nodes (1-based) of a cluster.
pub fn rules_on(cluster: &str, nodes: &[usize]) -> Vec<String> {
    let mut rules = Vec::new();
    for i in nodes {
        let ns = format!("{cluster}-n{i}");
        if let Ok(o) = Command::new("ip")
            .args(["netns", "exec", &ns, "iptables", "-w", "-S", "FAULTLINE"])
            .output()
        {
            rules.extend(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.starts_with("-A"))
                    .map(|l| format!("{ns}: {l}")),
            );
        }
    }
    rules
}

/// The FAULTLINE chain's rules on every node of a 5-node cluster: none may be left after a run.
pub fn leftover_rules(cluster: &str) -> Vec<String> {
    rules_on(cluster, &[1, 2, 3, 4, 5])
}

/// The PIDs of the processes in a node's namespace.
pub fn pids_in(cluster: &str, node: usize) -> Vec<i32> {
    let ns = format!("{cluster}-n{node}");
    Command::new("ip")
        .args(["netns", "pids", &ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The executable of a process, if it still has one (a zombie has none).
pub fn exe_of(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// Processes in the cluster's namespaces that are stopped (state T): none may be left paused.
pub fn stopped_processes(cluster: &str) -> Vec<String> {
    let mut stopped = Vec::new();
    for i in 1..=5 {
        for pid in pids_in(cluster, i) {
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next());
                if state == Some("T") {
                    stopped.push(format!("{cluster}-n{i}: pid {pid}"));
                }
            }
        }
    }
    stopped
}

/// No partition rule and no paused process left on any node of the cluster.
pub fn assert_no_faults_left(cluster: &str) {
    assert!(
        leftover_rules(cluster).is_empty(),
        "rules left: {:?}",
        leftover_rules(cluster)
    );
    assert!(
        stopped_processes(cluster).is_empty(),
        "paused: {:?}",
        stopped_processes(cluster)
    );
}

/// The PID of a node's etcd, from the pidfile faultline keeps for it.
pub fn etcd_pid(cluster: &str, node: usize) -> Option<i32> {
    let path = format!("/var/lib/faultline/etcd/{cluster}/n{node}/etcd.pid");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
