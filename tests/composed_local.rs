//! Two workloads at once on a real 5-node etcd cluster under partitions: `--workload
//! register,counter`. Both must be judged, each on its own part of the history, and both
//! valid (etcd is linearizable); the history must split cleanly by workload, and each part must
//! be checkable again by `faultline check`. Needs root (CI runs as root); its own cluster.

mod common;
use common::runs as e2e;

use e2e::{faultline, leftover_rules, results, run_test, runs, text, ClusterGuard};

#[test]
fn register_and_counter_run_at_once_on_their_own_keys_and_are_judged_apart() {
    let _guard = ClusterGuard("w-mix");
    let store = tempfile::tempdir().unwrap();
    let junit = store.path().join("junit.xml");
    let o = run_test(
        "w-mix",
        store.path(),
        &[
            "--workload",
            "register,counter",
            "--time-limit",
            "15",
            "--nemesis-interval",
            "3",
            "--nemesis",
            "partition-random-halves",
            "--seed",
            "11",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let run = &runs(store.path())[0];
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["name"], "etcd-register+counter");

    // One verdict per workload, each naming it, both valid.
    let r = results(run);
    let checks = r["checks"].as_array().unwrap();
    let named: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| {
            (
                c["workload"].as_str().unwrap_or("?"),
                c["checker"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        named,
        [("register", "linearizable"), ("counter", "counter")],
        "{r}"
    );
    for c in checks {
        assert_eq!(c["valid"], true, "{c}");
    }
    assert_eq!(r["valid"], true, "{r}");

    // Every client operation names its workload; the register's are on keys k<N>, the
    // counter's on none; the nemesis acted.
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let (mut register, mut counter, mut nemesis) = (0, 0, 0);
    for line in history.lines() {
        let op: serde_json::Value = serde_json::from_str(line).unwrap();
        if op["process"] == "nemesis" {
            nemesis += 1;
            continue;
        }
        match op["workload"].as_str() {
            Some("register") => {
                register += 1;
                assert!(op["key"].as_str().unwrap().starts_with('k'), "{line}");
            }
            Some("counter") => {
                counter += 1;
                assert!(op.get("key").is_none(), "{line}");
                assert!(
                    ["add", "read"].contains(&op["f"].as_str().unwrap()),
                    "{line}"
                );
            }
            _ => panic!("an operation of no workload: {line}"),
        }
    }
    assert!(register > 100 && counter > 100, "{register} {counter}");
    assert!(nemesis >= 2, "{nemesis}");

    // The parts are on disk, hold every line but the other workload's, and check again.
    let part = |name: &str| run.join(format!("history.{name}.jsonl"));
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(lines(&part("register")), register + nemesis);
    assert_eq!(lines(&part("counter")), counter + nemesis);
    let again = faultline()
        .arg("check")
        .arg(part("register"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let again = faultline()
        .args(["check", "--workload", "counter"])
        .arg(part("counter"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    // The whole history is no one model's: `check` says so and names the parts.
    let whole = faultline()
        .arg("check")
        .arg(run.join("history.jsonl"))
        .output()
        .unwrap();
    assert_eq!(whole.status.code(), Some(65), "{}", text(&whole));
    assert!(
        text(&whole).contains("history.register.jsonl"),
        "{}",
        text(&whole)
    );

    // The run page and the JUnit file name each workload's verdict.
    let page = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(page.contains("register linearizable"), "run page");
    assert!(page.contains("counter counter"), "run page");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("register linearizable") && xml.contains("counter counter"),
        "{xml}"
    );
    assert!(leftover_rules("w-mix").is_empty());
}
