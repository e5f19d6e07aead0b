//! What a run leaves in its directory besides the history: `test.json` (how it was run) and
//! `results.json` (what came of it), and the summary printed at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use faultline_checkers::history::{History, OpType};
use faultline_checkers::linear::{Analysis, PartReport, Validity};
use serde::Serialize;

use super::nodes::NodeSet;
use crate::cli::TestArgs;
use crate::store::RunDir;

pub fn write_test_json(
    dir: &RunDir,
    args: &TestArgs,
    seed: u64,
    concurrency: u64,
    nodes: &NodeSet,
    db_version: &str,
) -> Result<()> {
    let secrets = crate::control::secret::ssh_secrets();
    let nodes: Vec<serde_json::Value> = nodes
        .nodes
        .iter()
        .map(|n| serde_json::json!({"name": n.name, "ip": n.ip.to_string()}))
        .collect();
    let test = serde_json::json!({
        "name": "etcd-register",
        "db": "etcd",
        "db_version": db_version,
        "workload": "register",
        "model": faultline_workloads::register::MODEL,
        "nemesis": args.nemesis,
        "nemesis_interval_s": args.nemesis_interval,
        "time_limit_s": args.time_limit,
        "concurrency": concurrency,
        "rate": args.rate,
        "ops_per_key": args.ops_per_key,
        "mix": args.mix,
        "read_consistency": format!("{:?}", args.read_consistency).to_lowercase(),
        "op_timeout_ms": args.op_timeout_ms,
        "seed": seed,
        "nodes": nodes,
        "local_cluster": args.local_cluster,
        "ssh": {"user": args.username, "port": args.ssh_port,
                "private_key": args.ssh_private_key,
                "strict_host_key_checking": !args.no_strict_host_key_checking,
                // Whether secrets were given, never what they are.
                "password_given": secrets.password.is_some(),
                "key_passphrase_given": secrets.key_passphrase.is_some()},
        "faultline_version": env!("CARGO_PKG_VERSION"),
    });
    let path = dir.file("test.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&test)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Latency quantiles of ok operations, in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub valid: Validity,
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub faults: u64,
    pub ok_per_second: f64,
    pub latency_ms: Latency,
    pub workload_seconds: f64,
    pub run_seconds: f64,
    pub check_ms: f64,
    pub keys: usize,
    pub invalid_keys: Vec<String>,
    pub interrupted: bool,
    /// What went wrong without stopping the run (a fault that failed to start, a log that could
    /// not be downloaded, a history file that could not be written).
    pub problems: Vec<String>,
    /// Invocations and ok completions per operation (`read`, `write`, `cas`).
    pub by_f: BTreeMap<String, FCounts>,
    /// Whether the history file holds every event recorded.
    pub history_complete: bool,
    /// Why the verdict is `unknown` although the checker found no anomaly.
    pub unknown_because: Vec<String>,
    /// Faults that could not be healed, naming the nodes: the cluster is not as it was.
    pub unhealed: Vec<String>,
}

/// Invocations and ok completions of one kind of operation.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct FCounts {
    pub invoked: u64,
    pub ok: u64,
}

impl Summary {
    pub fn new(
        history: &History,
        analysis: &Analysis,
        check_time: Duration,
        workload_start: Instant,
        started: Instant,
        interrupted: bool,
        problems: Vec<String>,
    ) -> Summary {
        let faults = history
            .ops
            .iter()
            .filter(|o| o.process.is_nemesis())
            .count() as u64;
        let calls = crate::report::pair_calls(history);
        let invokes = calls.len() as u64;
        let (mut ok, mut fail, mut info) = (0, 0, 0);
        let mut latencies = Vec::new();
        let mut by_f: BTreeMap<String, FCounts> = BTreeMap::new();
        for call in &calls {
            let counts = by_f.entry(call.invoke.f.to_string()).or_default();
            counts.invoked += 1;
            if matches!(call.completion, Some(done) if done.kind == OpType::Ok) {
                counts.ok += 1;
            }
            match call.completion {
                Some(done) if done.kind == OpType::Ok => {
                    ok += 1;
                    if let (Some(t0), Some(t1)) = (call.invoke.time, done.time) {
                        latencies.push((t1 - t0) as f64 / 1e6);
                    }
                }
                Some(done) if done.kind == OpType::Fail => fail += 1,
                Some(_) => info += 1,
                None => {}
            }
        }
        latencies.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() - 1) as f64 * p).round() as usize;
            (latencies[i] * 1000.0).round() / 1000.0
        };
        let workload_seconds = workload_start.elapsed().as_secs_f64();
        Summary {
            valid: analysis.valid,
            ops: invokes,
            ok,
            fail,
            info,
            faults,
            ok_per_second: if workload_seconds > 0.0 {
                ok as f64 / workload_seconds
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: q(0.5),
                p95: q(0.95),
                p99: q(0.99),
                max: q(1.0),
            },
            workload_seconds,
            run_seconds: started.elapsed().as_secs_f64(),
            check_ms: check_time.as_secs_f64() * 1e3,
            keys: analysis.parts.len(),
            invalid_keys: analysis
                .parts
                .iter()
                .filter(|p| p.valid == Validity::Invalid)
                .filter_map(|p| p.key.clone())
                .collect(),
            interrupted,
            problems: collapse_repeats(problems),
            by_f,
            history_complete: true,
            unknown_because: Vec::new(),
            unhealed: Vec::new(),
        }
    }

    /// The run's verdict from the checker's: an anomaly stands (it is in the history whatever
    /// else went wrong, since linearizability is closed under prefixes), but "valid" needs the
    /// whole history, and a history in which nothing was observed or changed proves nothing.
    pub fn settle_verdict(&mut self, history_complete: bool, unhealed: Vec<String>) {
        self.history_complete = history_complete;
        self.unhealed = unhealed;
        if !history_complete {
            self.unknown_because
                .push("the history file does not hold every event of the run".into());
        }
        if let Some(why) = self.vacuous() {
            self.unknown_because.push(why);
        }
        if self.valid == Validity::Valid && !self.unknown_because.is_empty() {
            self.valid = Validity::Unknown;
        }
    }

    /// Why the history cannot show an anomaly, if it cannot: no read returned anything, or no
    /// write took effect.
    fn vacuous(&self) -> Option<String> {
        let sum = |fs: &[&str]| {
            fs.iter()
                .filter_map(|f| self.by_f.get(*f))
                .fold(FCounts::default(), |a, c| FCounts {
                    invoked: a.invoked + c.invoked,
                    ok: a.ok + c.ok,
                })
        };
        let reads = sum(&["read"]);
        let changes = sum(&["write", "cas"]);
        if self.ok == 0 {
            Some("no operation completed ok: the datastore was never observed".into())
        } else if reads.invoked > 0 && reads.ok == 0 {
            Some("no read completed ok: no value was ever observed".into())
        } else if changes.invoked > 0 && changes.ok == 0 {
            Some("no write or cas completed ok: nothing was known to change".into())
        } else {
            None
        }
    }
}

/// Each distinct problem once, in order of first appearance, with how often it came up: a node
/// that died early fails every later nemesis step the same way.
fn collapse_repeats(problems: Vec<String>) -> Vec<String> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for p in problems {
        match seen.iter_mut().find(|(q, _)| *q == p) {
            Some((_, n)) => *n += 1,
            None => seen.push((p, 1)),
        }
    }
    seen.into_iter()
        .map(|(p, n)| if n > 1 { format!("{p} ({n} times)") } else { p })
        .collect()
}

pub fn write_results(dir: &RunDir, summary: &Summary, analysis: &Analysis) -> Result<()> {
    let failures: Vec<&PartReport> = analysis.failures().collect();
    let results = serde_json::json!({
        "valid": summary.valid,
        "summary": summary,
        "linearizability": {"valid": analysis.valid, "model": faultline_workloads::register::MODEL,
                             "calls": analysis.calls, "failures": failures},
    });
    let path = dir.file("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn print_summary(dir: &RunDir, s: &Summary, analysis: &Analysis, history: History) {
    println!();
    println!(
        "{} ops: {} ok, {} fail, {} info; {} fault events; {:.1} ok/s; latency p50 {:.1} ms, p99 {:.1} ms",
        s.ops, s.ok, s.fail, s.info, s.faults, s.ok_per_second, s.latency_ms.p50, s.latency_ms.p99
    );
    for p in &s.problems {
        println!("problem: {p}");
    }
    let r = crate::check::FileResult::for_run(dir.file("history.jsonl"), analysis, history);
    let mut out = std::io::stdout();
    let _ = crate::check::explain(&mut out, &r);
    for why in &s.unknown_because {
        println!("unknown because: {why}");
    }
    println!(
        "\nverdict: {}{} ({} keys checked in {:.0} ms)",
        s.valid,
        if s.interrupted {
            " (run interrupted)"
        } else {
            ""
        },
        s.keys,
        s.check_ms
    );
    println!("results: {}", dir.path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(valid: Validity, by_f: &[(&str, u64, u64)]) -> Summary {
        let by_f: BTreeMap<String, FCounts> = by_f
            .iter()
            .map(|(f, invoked, ok)| {
                (
                    f.to_string(),
                    FCounts {
                        invoked: *invoked,
                        ok: *ok,
                    },
                )
            })
            .collect();
        Summary {
            valid,
            ops: by_f.values().map(|c| c.invoked).sum(),
            ok: by_f.values().map(|c| c.ok).sum(),
            fail: 0,
            info: 0,
            faults: 0,
            ok_per_second: 0.0,
            latency_ms: Latency::default(),
            workload_seconds: 1.0,
            run_seconds: 1.0,
            check_ms: 0.0,
            keys: 1,
            invalid_keys: Vec::new(),
            interrupted: false,
            problems: Vec::new(),
            by_f,
            history_complete: true,
            unknown_because: Vec::new(),
            unhealed: Vec::new(),
        }
    }

    #[test]
    fn repeated_problems_are_listed_once_with_a_count() {
        let p = |s: &str| s.to_string();
        assert_eq!(
            collapse_repeats(vec![p("a"), p("b"), p("a"), p("a")]),
            vec![p("a (3 times)"), p("b")]
        );
    }

    const OBSERVED: &[(&str, u64, u64)] = &[("read", 10, 4), ("write", 10, 3), ("cas", 5, 0)];

    #[test]
    fn a_whole_observed_history_keeps_the_checkers_verdict() {
        for v in [Validity::Valid, Validity::Invalid, Validity::Unknown] {
            let mut s = summary(v, OBSERVED);
            s.settle_verdict(true, Vec::new());
            assert_eq!(s.valid, v);
            assert!(s.unknown_because.is_empty());
        }
    }

    #[test]
    fn valid_needs_the_whole_history_but_an_anomaly_stands_in_a_prefix() {
        let mut s = summary(Validity::Valid, OBSERVED);
        s.settle_verdict(false, Vec::new());
        assert_eq!(s.valid, Validity::Unknown);
        assert!(s.unknown_because[0].contains("does not hold every event"));
        let mut s = summary(Validity::Invalid, OBSERVED);
        s.settle_verdict(false, Vec::new());
        assert_eq!(s.valid, Validity::Invalid);
    }

    #[test]
    fn a_history_where_nothing_was_observed_or_changed_proves_nothing() {
        for (by_f, why) in [
            (&[("read", 10, 0), ("write", 10, 0)][..], "no operation"),
            (&[("read", 10, 0), ("write", 10, 5)][..], "no read"),
            (
                &[("read", 10, 5), ("write", 10, 0), ("cas", 3, 0)][..],
                "no write or cas",
            ),
        ] {
            let mut s = summary(Validity::Valid, by_f);
            s.settle_verdict(true, Vec::new());
            assert_eq!(s.valid, Validity::Unknown, "{by_f:?}");
            assert!(
                s.unknown_because[0].contains(why),
                "{:?}",
                s.unknown_because
            );
        }
        // Reads alone, when only reads were asked for, are an observation.
        let mut s = summary(Validity::Valid, &[("read", 10, 10)]);
        s.settle_verdict(true, Vec::new());
        assert_eq!(s.valid, Validity::Valid);
    }
}
