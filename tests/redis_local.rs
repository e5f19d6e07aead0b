//! Redis with Sentinel on a real 5-node local cluster: the lost writes faultline must find, a
//! register run that ends with a checkable history, every fault healed (kill, pause,
//! partition, Ctrl-C) and nothing left running, a Sentinel that can never fail over ending the
//! run `unknown`, and a missing server binary ending it with exit 69.
//!
//! Needs root (CI runs as root). Each test has its own cluster (`r-...`), so they run in
//! parallel; each cluster comes down when its test ends, pass or fail.

mod common;
use common::runs as e2e;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use faultline::nemesis::schedule::{schedule, Fault, Targets};

use e2e::{
    assert_no_faults_left, check, exe_of, leftover_rules, pids_in, results, run_test, runs,
    stopped_processes, test_command, text, ClusterGuard,
};

const REDIS: [&str; 4] = ["--db", "redis", "--settle", "1"];

/// The program Debian's `redis-server` and `redis-sentinel` links resolve to.
fn redis_program() -> PathBuf {
    std::fs::canonicalize("/usr/bin/redis-server").expect("redis-server is installed")
}

/// What of Redis still runs on the cluster's nodes, and which pidfiles are left: after a
/// run, nothing. Looked at from outside, through the namespaces and `/proc`.
fn redis_left(cluster: &str) -> Vec<String> {
    let program = redis_program();
    let mut left = Vec::new();
    for i in 1..=5 {
        for pid in pids_in(cluster, i) {
            if exe_of(pid).is_some_and(|e| e == program) {
                left.push(format!("{cluster}-n{i}: redis process {pid}"));
            }
        }
        for file in ["redis.pid", "sentinel.pid"] {
            let path = format!("/var/lib/faultline/redis/{cluster}/n{i}/{file}");
            if Path::new(&path).exists() {
                left.push(path);
            }
        }
    }
    left
}

/// The only run of a store.
fn the_run(store: &Path) -> PathBuf {
    let mut all = runs(store);
    assert_eq!(all.len(), 1, "one run: {all:?}");
    all.remove(0)
}

/// The number before `word` in a set checker summary ("... 12 lost ...").
fn count_before(summary: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = summary.split([' ', ',']).collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
}

fn assert_nothing_left(cluster: &str) {
    assert_no_faults_left(cluster);
    assert!(
        redis_left(cluster).is_empty(),
        "left after teardown: {:?}",
        redis_left(cluster)
    );
}

/// Jepsen's finding of 2013: clients whose Sentinel is cut off with the old primary keep
/// writing to it, and the failover on the majority side throws those writes away. One
/// partition of the primary for 10 s (seed fixed) must lose acknowledged adds; a run that
/// loses none fails this test.
#[test]
fn a_partitioned_primary_loses_acknowledged_adds() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-set");
    let store = tempfile::tempdir().unwrap();
    let out = run_test(
        "r-set",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "set",
                "--nemesis",
                "partition-primary",
                "--nemesis-interval",
                "10",
                "--time-limit",
                "20",
                "--seed",
                "7",
            ],
        ]
        .concat(),
    );
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(out.status.code(), Some(1), "invalid: {all}");
    let r = results(&the_run(store.path()));
    assert_eq!(r["valid"], false, "{}", r["summary"]);
    let summary = r["checks"][0]["summary"].as_str().unwrap_or_default();
    let lost = count_before(summary, "lost").unwrap_or(0);
    assert!(lost > 0, "acknowledged adds lost: {summary}");
    assert_eq!(count_before(summary, "unexpected"), Some(0), "{summary}");
    assert!(all.contains("start-partition"), "{all}");
    assert_nothing_left("r-set");
    eprintln!("lost {lost}; test took {:?}", started.elapsed());
}

/// Redis replicates asynchronously: under partitions of the primary a register's writes may
/// be lost and its reads stale, so the verdict may go either way. What is pinned is that the
/// run completes and its history checks again to the same verdict.
#[test]
fn the_register_workload_under_partitions_completes_with_a_checkable_history() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-reg");
    let store = tempfile::tempdir().unwrap();
    let out = run_test(
        "r-reg",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "register",
                "--nemesis",
                "partition-primary",
                "--nemesis-interval",
                "5",
                "--time-limit",
                "15",
            ],
        ]
        .concat(),
    );
    let all = text(&out);
    eprintln!("{all}");
    let code = out.status.code();
    assert!(matches!(code, Some(0) | Some(1)), "{code:?}: {all}");
    let run = the_run(store.path());
    let r = results(&run);
    assert_eq!(r["valid"], code == Some(0), "{}", r["summary"]);
    assert!(
        r["summary"]["ok"].as_u64().unwrap_or(0) > 0,
        "{}",
        r["summary"]
    );
    let again = check(&run.join("history.jsonl"));
    assert_eq!(again.status.code(), code, "{}", text(&again));
    assert_nothing_left("r-reg");
    eprintln!("verdict {code:?}; test took {:?}", started.elapsed());
}

/// list-append as MULTI/EXEC transactions on the primary, one partition of the primary for
/// 10 s: the run completes with an Elle verdict, and the history checks again to the same one.
/// What is found varies (see the README: lost appends show as incompatible-order, G0, G1c);
/// the verdict is not pinned, since whether a failover loses anything depends on timing.
#[test]
fn list_append_transactions_under_a_partitioned_primary_complete_with_a_verdict() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-append");
    let store = tempfile::tempdir().unwrap();
    let out = run_test(
        "r-append",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "list-append",
                "--nemesis",
                "partition-primary",
                "--nemesis-interval",
                "10",
                "--time-limit",
                "20",
                "--key-count",
                "5",
            ],
        ]
        .concat(),
    );
    let all = text(&out);
    eprintln!("{all}");
    let code = out.status.code();
    assert!(matches!(code, Some(0) | Some(1)), "{code:?}: {all}");
    let run = the_run(store.path());
    let r = results(&run);
    assert_eq!(r["valid"], code == Some(0), "{}", r["summary"]);
    assert_eq!(r["checks"][0]["checker"], "elle", "{}", r["checks"][0]);
    assert!(
        r["summary"]["ok"].as_u64().unwrap_or(0) > 0,
        "{}",
        r["summary"]
    );
    assert!(all.contains("start-partition"), "{all}");
    let again = e2e::faultline()
        .args([
            "check",
            "--workload",
            "list-append",
            "--consistency-models",
            "serializable",
        ])
        .arg(run.join("history.jsonl"))
        .output()
        .expect("faultline check");
    assert_eq!(again.status.code(), code, "{}", text(&again));
    assert_nothing_left("r-append");
    eprintln!(
        "verdict {code:?}: {}; test took {:?}",
        r["checks"][0]["summary"],
        started.elapsed()
    );
}

/// A seed whose nemesis schedule has each of `faults` within `time_limit` s (faults every
/// other `interval` s, drawn by the seed): the run mixes the seed as `run::run_once` does, so
/// should that change, the test fails on a fault that did not happen, never passes quietly.
fn seed_with_each(faults: &[Fault], interval: u64, time_limit: u64) -> u64 {
    let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
    (0..10_000)
        .find(|seed| {
            let steps = schedule(
                faults,
                Targets::One,
                &nodes,
                Duration::from_secs(interval),
                Duration::from_secs(time_limit),
                seed ^ 0x6e656d65736973,
            );
            faults.iter().all(|f| steps.iter().any(|s| s.fault == *f))
        })
        .expect("a seed with every fault")
}

/// Kills and pauses of the server, partitions of the primary, every 2 s: every fault is
/// healed, and teardown stops every server and Sentinel.
#[test]
fn kill_pause_and_partition_are_healed_and_teardown_leaves_no_redis_running() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-heal");
    let store = tempfile::tempdir().unwrap();
    let seed = seed_with_each(&[Fault::Kill, Fault::Pause, Fault::PartitionPrimary], 2, 14);
    let out = run_test(
        "r-heal",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "set",
                "--nemesis",
                "kill,pause,partition-primary",
                "--nemesis-interval",
                "2",
                "--time-limit",
                "14",
                "--seed",
                &seed.to_string(),
            ],
        ]
        .concat(),
    );
    let all = text(&out);
    eprintln!("{all}");
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "a verdict: {all}"
    );
    let run = the_run(store.path());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    for fault in ["\"kill\"", "\"pause\"", "\"start-partition\""] {
        assert!(history.contains(fault), "{fault} happened:\n{all}");
    }
    assert!(
        results(&run)["summary"]["unhealed"]
            .as_array()
            .is_some_and(|u| u.is_empty()),
        "{}",
        results(&run)["summary"]
    );
    assert_nothing_left("r-heal");
    eprintln!("test took {:?}", started.elapsed());
}

/// Ctrl-C while a partition or a pause is in force: healed, torn down, history kept (the
/// register workload, whose history `faultline check` reads again).
#[test]
fn ctrl_c_during_a_fault_heals_and_tears_redis_down() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-int");
    let store = tempfile::tempdir().unwrap();
    let child = test_command(
        "r-int",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "register",
                "--time-limit",
                "60",
                "--nemesis-interval",
                "2",
                "--nemesis",
                "partition-primary,pause",
            ],
        ]
        .concat(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let run = loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no fault started within 90 s"
        );
        std::thread::sleep(Duration::from_millis(200));
        if let Some(run) = runs(store.path()).pop() {
            let log = std::fs::read_to_string(run.join("faultline.log")).unwrap_or_default();
            if log.contains("nemesis: start-partition") || log.contains("nemesis: pause") {
                break run;
            }
        }
    };
    assert!(
        !leftover_rules("r-int").is_empty() || !stopped_processes("r-int").is_empty(),
        "a fault is in force"
    );
    // SAFETY: a plain kill(2) of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code().is_some(),
        "exited, not killed by the signal"
    );
    assert_nothing_left("r-int");
    assert_eq!(results(&run)["summary"]["interrupted"], true);
    let c = check(&run.join("history.jsonl"));
    assert!(matches!(c.status.code(), Some(0..=2)), "{}", text(&c));
    eprintln!("test took {:?}", started.elapsed());
}

/// Sentinels whose quorum (6) is more than there are Sentinels (5) could never elect a new
/// primary: the run says so, tears Redis down and ends `unknown` (exit 2) with the reason.
#[test]
fn sentinels_that_could_never_fail_over_end_the_run_unknown_with_the_reason() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-nq");
    let store = tempfile::tempdir().unwrap();
    let out = run_test(
        "r-nq",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "set",
                "--nemesis",
                "partition-primary",
                "--time-limit",
                "5",
                "--redis-sentinel-quorum",
                "6",
            ],
        ]
        .concat(),
    );
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(out.status.code(), Some(2), "unknown: {all}");
    let r = results(&the_run(store.path()));
    let why = r["summary"]["unknown_because"].to_string();
    assert!(
        why.contains("redis not ready") && why.contains("NOQUORUM"),
        "{why}"
    );
    assert_nothing_left("r-nq");
    eprintln!("test took {:?}", started.elapsed());
}

/// A server binary that is not there: exit 69 naming the node and the Debian package.
#[test]
fn a_missing_server_binary_exits_69_naming_the_node_and_the_package() {
    let started = Instant::now();
    let _guard = ClusterGuard("r-miss");
    let store = tempfile::tempdir().unwrap();
    let out = run_test(
        "r-miss",
        store.path(),
        &[
            &REDIS[..],
            &[
                "--workload",
                "set",
                "--time-limit",
                "5",
                "--redis-binary",
                "/nonexistent/redis-server",
            ],
        ]
        .concat(),
    );
    let all = text(&out);
    eprintln!("{all}");
    assert_eq!(out.status.code(), Some(69), "{all}");
    assert!(all.contains("node n1"), "names the node: {all}");
    assert!(
        all.contains("/nonexistent/redis-server") && all.contains("package redis-server"),
        "names the program and the package: {all}"
    );
    assert_nothing_left("r-miss");
    eprintln!("test took {:?}", started.elapsed());
}

#[test]
fn counts_are_read_from_a_set_summary() {
    let s = "3194 elements: 1609 ok, 1003 lost (3194 acknowledged adds), 0 unexpected";
    assert_eq!(count_before(s, "lost"), Some(1003));
    assert_eq!(count_before(s, "unexpected"), Some(0));
    assert_eq!(count_before(s, "stale"), None);
}

/// Options checked against the number of nodes before anything is touched: exit 64, and no
/// run directory.
#[test]
fn min_replicas_beyond_the_replicas_is_a_usage_error_before_anything_is_touched() {
    let store = tempfile::tempdir().unwrap();
    let out = run_test(
        "r-usage",
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--redis-min-replicas-to-write",
            "5",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(64), "{all}");
    assert!(all.contains("4 replicas"), "{all}");
    assert!(runs(store.path()).is_empty(), "no run stored");
}
