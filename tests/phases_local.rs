//! Phases on a real 3-node local cluster, from a test plan: warm-up, faults, recovery, load
//! again on the healed datastore, final reads. The history must show each phase where the plan
//! put it: no fault before the warm-up is over, no client operation while the recovery heals
//! and waits, the workers back after it as the processes they were (a process that ended in
//! `info` never invokes again), and the final reads last. Needs root (CI runs as root).

mod common;

use common::runs::{faultline, runs, text};
use common::test_cluster::TestCluster;

const CLUSTER: &str = "ft-phases";

#[derive(Debug)]
struct Event {
    time: f64,
    process: Option<u64>,
    kind: String,
    f: String,
}

fn events(history: &str) -> Vec<Event> {
    history
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Event {
                time: v["time"].as_f64().unwrap() / 1e9,
                process: v["process"].as_u64(),
                kind: v["type"].as_str().unwrap().to_string(),
                f: v["f"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

#[test]
fn a_plan_s_phases_show_in_the_history_in_their_order() {
    let _cluster = TestCluster::up(CLUSTER, 3);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
db = "etcd"
workload = "register"
local-cluster = 3
nemesis = ["kill"]
nemesis-interval = 1
concurrency = "2n"
rate = 60
stagger = true
settle = 1

[[phase]]
kind = "warm-up"
time-limit = 2
[[phase]]
kind = "faults"
time-limit = 4
[[phase]]
kind = "recovery"
time-limit = 30
[[phase]]
kind = "warm-up"
time-limit = 4
[[phase]]
kind = "final-reads"
time-limit = 10
"#,
    )
    .unwrap();
    let store = dir.path().join("results");
    let plan_arg = plan.display().to_string();
    // The plan's own cluster size (3 nodes, so `2n` = 6 workers): `run_test` would add
    // `--local-cluster 5`, which wins over the plan and makes it 10 workers.
    let o = faultline()
        .args(["test", "--cluster", CLUSTER, "--store"])
        .arg(&store)
        .args(["--plan", &plan_arg, "--seed", "11"])
        .output()
        .expect("run faultline test");
    let out = text(&o);
    assert!(matches!(o.status.code(), Some(0..=2)), "no verdict: {out}");
    let run = runs(&store).pop().expect("a run");
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(
        test["phases"],
        "warm-up:2,faults:4,recovery:30,warm-up:4,final-reads:10"
    );
    assert_eq!(test["seed"], 11);
    assert_eq!(test["local_cluster"], 3, "the plan's cluster");
    // Worker slots are told apart by process modulo the worker count (a process that ended in
    // `info` continues as process + concurrency), so the count must be the run's own.
    assert_eq!(test["concurrency"], 6, "`2n` workers on 3 nodes");
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let ev = events(&history);
    let concurrency = test["concurrency"].as_u64().unwrap();
    let final_reads = concurrency * 1_000_000;
    let client = |e: &&Event| e.process.is_some_and(|p| p < final_reads);
    let first_op = ev.iter().find(client).unwrap().time;
    let first_fault = ev
        .iter()
        .find(|e| e.process.is_none() && e.f == "kill")
        .expect("a kill in the faults phase")
        .time;
    assert!(
        first_fault - first_op >= 2.7,
        "a fault {:.2} s after the first operation: within the 2 s warm-up and the 1 s interval",
        first_fault - first_op
    );
    // The recovery: heal-all, then no client invoke until the datastore is ready (at least
    // --settle, 1 s), then the second warm-up's operations.
    let heal = ev
        .iter()
        .position(|e| e.process.is_none() && e.f == "heal-all")
        .expect("the recovery heals");
    let last_before = ev[..heal]
        .iter()
        .filter(client)
        .rfind(|e| e.kind == "invoke")
        .unwrap()
        .time;
    let after: Vec<&Event> = ev[heal..]
        .iter()
        .filter(client)
        .filter(|e| e.kind == "invoke")
        .collect();
    assert!(!after.is_empty(), "no load after the recovery:\n{out}");
    assert!(
        after[0].time - ev[heal].time >= 1.0,
        "an operation {:.2} s after healing, before --settle was over",
        after[0].time - ev[heal].time
    );
    assert!(ev[heal].time >= last_before);
    // The second warm-up lasts about its 4 s.
    let span = after.last().unwrap().time - after[0].time;
    assert!(
        (3.5..=4.5).contains(&span),
        "second warm-up spans {span:.2} s"
    );
    // Workers came back as the processes they were: none invokes after its own `info`.
    let mut retired = std::collections::HashSet::new();
    for e in ev.iter().filter(client) {
        let p = e.process.unwrap();
        assert!(
            !(e.kind == "invoke" && retired.contains(&p)),
            "process {p} invoked again after an info"
        );
        if e.kind == "info" {
            retired.insert(p);
        }
    }
    // After healing there are as many worker processes as workers, one per worker slot.
    let slots: std::collections::HashSet<u64> = after
        .iter()
        .map(|e| e.process.unwrap() % concurrency)
        .collect();
    assert_eq!(slots.len() as u64, concurrency, "{slots:?}");
    // The final reads come last.
    let last_worker = ev.iter().rfind(client).unwrap().time;
    let reads: Vec<&Event> = ev
        .iter()
        .filter(|e| e.process.is_some_and(|p| p >= final_reads))
        .collect();
    assert!(!reads.is_empty(), "no final reads");
    assert!(reads.iter().all(|e| e.time >= last_worker));
}
