//! The counter, unique-ids and bank workloads on a real 5-node etcd cluster under partitions.
//! etcd is linearizable when its reads are, so those runs must be valid; served from one
//! member without a quorum (`--read-consistency serializable`), a counter read on a member cut
//! off from the leader misses acknowledged adds, and the counter checker must say so. Needs
//! root (CI runs as root); each test has its own cluster.

mod common;
use common::runs as e2e;

use e2e::{leftover_rules, results, run_test, runs, text, the_check, ClusterGuard};

#[test]
fn a_counter_read_linearizably_under_partitions_stays_within_its_bounds() {
    let _guard = ClusterGuard("w-cnt");
    let store = tempfile::tempdir().unwrap();
    let o = run_test(
        "w-cnt",
        store.path(),
        &[
            "--workload",
            "counter",
            "--time-limit",
            "12",
            "--nemesis-interval",
            "3",
            "--nemesis",
            "partition-random-halves",
            "--seed",
            "3",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let r = results(&runs(store.path())[0]);
    let c = the_check(&r, "counter");
    assert_eq!(c["valid"], true, "{c}");
    assert!(c["counts"]["reads"].as_u64().unwrap() > 20, "{c}");
    assert!(
        c["counts"]["acknowledged-adds"].as_u64().unwrap() > 20,
        "{c}"
    );
    assert!(leftover_rules("w-cnt").is_empty());
}

#[test]
fn serializable_counter_reads_on_a_cut_off_member_miss_acknowledged_adds() {
    let _guard = ClusterGuard("w-cser");
    let store = tempfile::tempdir().unwrap();
    let o = run_test(
        "w-cser",
        store.path(),
        &[
            "--workload",
            "counter",
            "--read-consistency",
            "serializable",
            "--time-limit",
            "12",
            "--nemesis-interval",
            "2",
            "--settle",
            "1",
            "--nemesis",
            "partition-random-node,partition-random-halves",
            "--test-count",
            "3",
            "--seed",
            "7",
        ],
    );
    let out = text(&o);
    let invalid: Vec<serde_json::Value> = runs(store.path())
        .iter()
        .map(|r| results(r))
        .filter(|r| r["valid"] == false)
        .collect();
    assert!(
        !invalid.is_empty(),
        "no run caught a stale counter read\n{out}"
    );
    let c = the_check(&invalid[0], "counter");
    assert_eq!(c["anomalies"][0]["kind"], "missed-adds", "{c}");
    assert!(
        c["anomalies"][0]["explanation"][0]
            .as_str()
            .unwrap()
            .contains("missed acknowledged adds"),
        "{c}"
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
}

#[test]
fn bank_totals_and_unique_ids_hold_on_etcd_under_partitions() {
    let _guard = ClusterGuard("w-bank");
    for (workload, checker) in [("bank", "bank"), ("unique-ids", "unique-ids")] {
        let store = tempfile::tempdir().unwrap();
        let o = run_test(
            "w-bank",
            store.path(),
            &[
                "--workload",
                workload,
                "--time-limit",
                "10",
                "--nemesis-interval",
                "3",
                "--nemesis",
                "partition-random-halves",
                "--seed",
                "5",
            ],
        );
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{workload}: {out}");
        let r = results(&runs(store.path())[0]);
        let c = the_check(&r, checker);
        assert_eq!(c["valid"], true, "{c}");
        let done = if workload == "bank" {
            c["counts"]["transfers-ok"]
                .as_u64()
                .unwrap()
                .min(c["counts"]["reads"].as_u64().unwrap())
        } else {
            c["counts"]["acknowledged"].as_u64().unwrap()
        };
        assert!(done > 20, "{workload}: too little happened: {c}");
    }
    assert!(leftover_rules("w-bank").is_empty());
}
