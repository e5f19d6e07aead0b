//! `faultline test` end to end: a real 5-node etcd cluster in network namespaces, real iptables
//! partitions, the history checked. Needs root (CI runs as root). Each test has its own cluster
//! name, so its own namespaces, subnet and etcd directories, and brings its cluster down at the end.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::runs as e2e;

use e2e::{
    faultline, leftover_rules, results, run_test, runs, stopped_processes, test_command, text,
    ClusterGuard,
};

#[test]
fn linearizable_reads_under_partitions_are_valid() {
    let _guard = ClusterGuard("t-lin");
    let store = tempfile::tempdir().unwrap();
    let o = run_test(
        "t-lin",
        store.path(),
        &[
            "--time-limit",
            "25",
            "--nemesis-interval",
            "3",
            "--read-consistency",
            "linearizable",
            "--seed",
            "1",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let run = runs(store.path()).pop().expect("a run directory");
    let r = results(&run);
    assert_eq!(r["valid"], true);
    assert!(
        r["summary"]["ok"].as_u64().unwrap() > 200,
        "{}",
        r["summary"]
    );
    assert!(
        r["summary"]["faults"].as_u64().unwrap() >= 4,
        "partitions were injected: {}",
        r["summary"]
    );
    for f in [
        "test.json",
        "history.jsonl",
        "faultline.log",
        "nodes/n1/etcd.log",
    ] {
        assert!(run.join(f).is_file(), "{f} missing in {}", run.display());
    }
    assert!(leftover_rules("t-lin").is_empty());
    // The stored history checks the same on its own.
    let h = run.join("history.jsonl");
    let c = faultline()
        .args(["check", h.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
}

#[test]
fn serializable_reads_under_partitions_are_caught_stale() {
    // etcd serves serializable reads from the local member without a quorum: a member cut off
    // from the leader returns old values. Five short runs; at least four must show it.
    let _guard = ClusterGuard("t-ser");
    let store = tempfile::tempdir().unwrap();
    let o = run_test(
        "t-ser",
        store.path(),
        &[
            "--time-limit",
            "12",
            "--nemesis-interval",
            "2",
            "--read-consistency",
            "serializable",
            "--nemesis",
            "partition-random-node,partition-random-halves",
            "--settle",
            "1",
            "--test-count",
            "5",
            "--seed",
            "100",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let all = runs(store.path());
    assert_eq!(all.len(), 5);
    let invalid: Vec<&PathBuf> = all
        .iter()
        .filter(|r| results(r)["valid"] == false)
        .collect();
    assert!(
        invalid.len() >= 4,
        "only {} of 5 runs caught a stale read\n{out}",
        invalid.len()
    );
    // The witness is a read that cannot be linearized: a stale read.
    let r = results(invalid[0]);
    let witness = &r["checks"][0]["detail"]["failures"][0]["witness"];
    assert!(
        witness["op"]["op"].as_str().unwrap().starts_with("read"),
        "{witness}"
    );
    assert!(out.contains("is impossible: the register holds"), "{out}");
    assert!(leftover_rules("t-ser").is_empty());
}

#[test]
fn ctrl_c_during_a_partition_heals_and_keeps_the_history() {
    let _guard = ClusterGuard("t-int");
    let store = tempfile::tempdir().unwrap();
    let mut child = test_command(
        "t-int",
        store.path(),
        &[
            "--time-limit",
            "60",
            "--nemesis-interval",
            "2",
            "--nemesis",
            "partition-random-halves,pause",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait for a fault to be active, by the log.
    let started = Instant::now();
    let log = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no fault started within 60 s"
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
        !leftover_rules("t-int").is_empty() || !stopped_processes("t-int").is_empty(),
        "a fault is active"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(
        status.code().is_some(),
        "exited normally, not by the signal"
    );
    assert!(
        leftover_rules("t-int").is_empty(),
        "rules left: {:?}",
        leftover_rules("t-int")
    );
    assert!(
        stopped_processes("t-int").is_empty(),
        "paused: {:?}",
        stopped_processes("t-int")
    );
    let h = log.join("history.jsonl");
    let c = faultline()
        .args(["check", h.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        matches!(c.status.code(), Some(0..=2)),
        "the history parses and checks: {}",
        text(&c)
    );
    assert_eq!(results(&log)["summary"]["interrupted"], true);
}

#[test]
fn an_unreachable_node_and_a_wrong_key_exit_69_naming_the_node() {
    let _guard = ClusterGuard("t-bad");
    let up = faultline()
        .args(["cluster", "up", "--nodes", "1", "--cluster", "t-bad"])
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read("/run/faultline/t-bad/cluster.json").unwrap())
            .unwrap();
    let ip = info["nodes"][0]["ip"].as_str().unwrap().to_string();
    let known_hosts = info["known_hosts"].as_str().unwrap().to_string();
    let key = info["private_key"].as_str().unwrap().to_string();
    let store = tempfile::tempdir().unwrap();
    // An address in the cluster's own subnet where no node lives.
    let absent = format!("{}.99", ip.rsplit_once('.').unwrap().0);
    let o = faultline()
        .args([
            "test",
            "--nodes",
            &absent,
            "--ssh-private-key",
            &key,
            "--known-hosts",
            &known_hosts,
            "--time-limit",
            "5",
        ])
        .arg("--store")
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    assert!(text(&o).contains(&absent), "{}", text(&o));
    // A key the node does not know.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(kg.status.success());
    let o = faultline()
        .args([
            "test",
            "--nodes",
            &ip,
            "--ssh-private-key",
            wrong.to_str().unwrap(),
            "--known-hosts",
            &known_hosts,
        ])
        .args(["--time-limit", "5", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    assert!(text(&o).contains(&ip), "{}", text(&o));
    // Nothing was started on the node.
    let pids = Command::new("ip")
        .args(["netns", "pids", "t-bad-n1"])
        .output()
        .unwrap();
    let n = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .count();
    assert_eq!(n, 1, "only the node's sshd runs");
}

#[test]
fn dummy_ssh_drives_an_etcd_that_is_already_running_and_refuses_faults() {
    // An etcd faultline did not start, on a loopback address of its own.
    let data = tempfile::tempdir().unwrap();
    let mut etcd = Command::new("/usr/bin/etcd")
        .args(["--name", "solo", "--data-dir"])
        .arg(data.path())
        .args([
            "--listen-client-urls",
            "http://127.0.0.2:2379",
            "--advertise-client-urls",
            "http://127.0.0.2:2379",
            "--listen-peer-urls",
            "http://127.0.0.2:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.2:2380",
            "--initial-cluster",
            "solo=http://127.0.0.2:2380",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut etcd);
    std::thread::sleep(Duration::from_millis(1500));
    let store = tempfile::tempdir().unwrap();
    let o = faultline()
        .args([
            "test",
            "--dummy-ssh",
            "--nodes",
            "127.0.0.2",
            "--nemesis",
            "none",
            "--time-limit",
            "3",
            "--settle",
            "0",
        ])
        .arg("--store")
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = runs(store.path()).pop().unwrap();
    assert!(results(&run)["summary"]["ok"].as_u64().unwrap() > 50);
    let o = faultline()
        .args([
            "test",
            "--dummy-ssh",
            "--nodes",
            "127.0.0.2",
            "--nemesis",
            "partition-random-halves",
        ])
        .arg("--store")
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("cannot inject faults"), "{}", text(&o));
}

#[test]
fn a_second_ctrl_c_heals_at_once_and_exits_130() {
    let _guard = ClusterGuard("t-int2");
    let store = tempfile::tempdir().unwrap();
    let mut child = test_command(
        "t-int2",
        store.path(),
        &[
            "--time-limit",
            "60",
            "--nemesis-interval",
            "2",
            "--nemesis",
            "partition-random-halves",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no partition started within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
        if !leftover_rules("t-int2").is_empty() {
            break;
        }
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(20));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(
        matches!(status.code(), Some(130) | Some(0..=2)),
        "{status:?}"
    );
    assert!(
        leftover_rules("t-int2").is_empty(),
        "rules left: {:?}",
        leftover_rules("t-int2")
    );
    // What was recorded before the force quit is on disk and reads.
    let run = runs(store.path()).pop().expect("a run directory");
    let h = run.join("history.jsonl");
    let c = faultline()
        .args(["check", h.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(matches!(c.status.code(), Some(0..=2)), "{}", text(&c));
}
