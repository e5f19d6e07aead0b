//! The counter, unique-ids and bank workloads on PostgreSQL 15 on the real local cluster.
//!
//! A bank transfer reads both balances and writes both new ones, as an application written
//! against an ORM does; only the isolation level stands between two concurrent transfers and a
//! lost update. At `read-committed` they lose updates and the bank's total drifts, which the
//! bank checker must say; at `repeatable-read` the second writer of a row is aborted, and
//! the total holds, also while the primary is killed. An add to the counter takes the row's
//! lock and an id is a committed row's identity, so both hold under kills at any level.
//!
//! Needs root (CI runs as root). Each test has its own cluster (`pw-...`), so they run in
//! parallel; each cluster comes down when its test ends, pass or fail.

mod common;
use common::runs as e2e;

use std::path::Path;
use std::process::Output;

use e2e::{count, faultline, leftover_rules, results, runs, text, the_check, ClusterGuard};

/// `faultline test --db postgres` on a 3-node local cluster, stored under `store`.
fn run_pg(cluster: &str, store: &Path, extra: &[&str]) -> Output {
    faultline()
        .args(["test", "--db", "postgres", "--local-cluster", "3"])
        .args(["--cluster", cluster, "--store"])
        .arg(store)
        .args(["--settle", "1"])
        .args(extra)
        .output()
        .expect("run faultline test")
}

/// Ten workers as fast as they go on eight accounts: transfers meet on the same rows.
const CONTENDED_BANK: [&str; 8] = [
    "--workload",
    "bank",
    "--concurrency",
    "10",
    "--rate",
    "0",
    "--seed",
    "7",
];

#[test]
fn bank_transfers_at_read_committed_lose_updates_and_the_total_shows_it() {
    let _guard = ClusterGuard("pw-rc");
    let store = tempfile::tempdir().unwrap();
    let mut args = CONTENDED_BANK.to_vec();
    args.extend([
        "--isolation",
        "read-committed",
        "--nemesis",
        "none",
        "--time-limit",
        "6",
    ]);
    let o = run_pg("pw-rc", store.path(), &args);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "invalid expected: {out}");
    let c = the_check(&results(&runs(store.path())[0]), "bank");
    assert_eq!(c["valid"], false, "{c}");
    assert!(c["counts"]["wrong-total"].as_u64() > Some(0), "{c}");
    assert!(count(&c, "transfers-ok") > 20, "{c}");
}

#[test]
fn bank_totals_hold_at_repeatable_read_while_the_primary_is_killed() {
    let _guard = ClusterGuard("pw-rr");
    let store = tempfile::tempdir().unwrap();
    let mut args = CONTENDED_BANK.to_vec();
    args.extend([
        "--isolation",
        "repeatable-read",
        "--nemesis",
        "kill",
        "--nemesis-targets",
        "primary",
        "--nemesis-interval",
        "2",
        "--time-limit",
        "10",
    ]);
    let o = run_pg("pw-rr", store.path(), &args);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let c = the_check(&results(&runs(store.path())[0]), "bank");
    assert_eq!(c["valid"], true, "{c}");
    assert!(count(&c, "transfers-ok") > 50, "{c}");
    assert!(count(&c, "reads") > 50, "{c}");
    assert!(out.contains("nemesis: kill"), "no kill: {out}");
    assert!(leftover_rules("pw-rr").is_empty());
}

#[test]
fn counter_adds_and_ids_hold_while_the_primary_is_killed() {
    let _guard = ClusterGuard("pw-cnt");
    let store = tempfile::tempdir().unwrap();
    let o = run_pg(
        "pw-cnt",
        store.path(),
        &[
            "--workload",
            "counter,unique-ids",
            "--isolation",
            "read-committed",
            "--nemesis",
            "kill",
            "--nemesis-targets",
            "primary",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "10",
            "--seed",
            "5",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let r = results(&runs(store.path())[0]);
    let counter = the_check(&r, "counter");
    assert_eq!(counter["valid"], true, "{counter}");
    assert!(count(&counter, "reads") > 20, "{counter}");
    assert!(count(&counter, "acknowledged-adds") > 20, "{counter}");
    let ids = the_check(&r, "unique-ids");
    assert_eq!(ids["valid"], true, "{ids}");
    assert!(count(&ids, "acknowledged") > 20, "{ids}");
    assert!(out.contains("nemesis: kill"), "no kill: {out}");
}
