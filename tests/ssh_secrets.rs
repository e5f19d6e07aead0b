//! Secrets (issue 5): an SSH key passphrase or password reaches libssh2 and nothing else: not
//! the output, not faultline.log, test.json, results.json, the history or the report pages.
//! Real nodes of a local cluster, reached as remote machines with `--nodes`; needs root.

mod common;
use common::runs as e2e;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::{faultline, text, ClusterGuard};

const CLUSTER: &str = "h-key";
const PASSPHRASE: &str = "correct-horse-battery-staple-7d1f";

struct Nodes {
    ips: String,
    known_hosts: String,
}

fn cluster_nodes() -> Nodes {
    let up = faultline()
        .args(["cluster", "up", "--nodes", "3", "--cluster", CLUSTER])
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("/run/faultline/{CLUSTER}/cluster.json")).unwrap(),
    )
    .unwrap();
    let ips: Vec<&str> = info["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ip"].as_str().unwrap())
        .collect();
    Nodes {
        ips: ips.join(","),
        known_hosts: info["known_hosts"].as_str().unwrap().to_string(),
    }
}

/// A key protected by [`PASSPHRASE`], authorised on the cluster's nodes.
fn protected_key(dir: &Path) -> PathBuf {
    let key = dir.join("protected");
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", PASSPHRASE, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(kg.status.success(), "{}", text(&kg));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let authorized = format!("/run/faultline/{CLUSTER}/authorized_keys");
    let mut keys = std::fs::read_to_string(&authorized).unwrap();
    keys.push_str(&public);
    std::fs::write(&authorized, keys).unwrap();
    key
}

fn run(nodes: &Nodes, key: &Path, store: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut c = faultline();
    c.args([
        "test",
        "--nodes",
        &nodes.ips,
        "--known-hosts",
        &nodes.known_hosts,
    ])
    .arg("--ssh-private-key")
    .arg(key)
    .args(["--cluster", CLUSTER, "--settle", "0"])
    .arg("--store")
    .arg(store)
    .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(p);
                }
            }
        }
    }
    found
}

#[test]
fn a_key_passphrase_opens_the_key_and_is_never_written_anywhere() {
    let _guard = ClusterGuard(CLUSTER);
    let nodes = cluster_nodes();
    let keys = tempfile::tempdir().unwrap();
    let key = protected_key(keys.path());
    let store = tempfile::tempdir().unwrap();

    // The right passphrase: a whole run, faults included.
    let o = run(
        &nodes,
        &key,
        store.path(),
        &[("FAULTLINE_SSH_KEY_PASSPHRASE", PASSPHRASE)],
        &[
            "--time-limit",
            "6",
            "--nemesis",
            "partition-random-halves",
            "--nemesis-interval",
            "2",
        ],
    );
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(!all.contains(PASSPHRASE), "the output shows the passphrase");
    let leaks = files_containing(store.path(), PASSPHRASE);
    assert!(leaks.is_empty(), "the passphrase is in {leaks:?}");
    let run_dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["ssh"]["key_passphrase_given"], true, "{test}");

    // Without it, or with a wrong one: refused, naming the node, showing no secret.
    let wrong = "wrong-passphrase-93ac";
    for env in [vec![], vec![("FAULTLINE_SSH_KEY_PASSPHRASE", wrong)]] {
        let o = run(&nodes, &key, store.path(), &env, &["--time-limit", "3"]);
        let all = text(&o);
        assert_eq!(o.status.code(), Some(69), "{all}");
        assert!(all.contains(nodes.ips.split(',').next().unwrap()), "{all}");
        assert!(
            !all.contains(wrong),
            "the output shows the passphrase: {all}"
        );
    }
    assert!(files_containing(store.path(), wrong).is_empty());
}

#[test]
fn a_refused_password_is_named_as_refused_and_never_shown() {
    let _guard = ClusterGuard("h-pw");
    let up = faultline()
        .args(["cluster", "up", "--nodes", "1", "--cluster", "h-pw"])
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read("/run/faultline/h-pw/cluster.json").unwrap())
            .unwrap();
    let ip = info["nodes"][0]["ip"].as_str().unwrap();
    let store = tempfile::tempdir().unwrap();
    // The cluster's sshd takes keys only: the password is tried and refused.
    let password = "pa55word-never-shown-41b2";
    let o = faultline()
        .args(["test", "--nodes", ip, "--time-limit", "3", "--store"])
        .arg(store.path())
        .args(["--known-hosts", info["known_hosts"].as_str().unwrap()])
        .env("FAULTLINE_SSH_PASSWORD", password)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(69), "{all}");
    assert!(all.contains(ip) && all.contains("password"), "{all}");
    assert!(
        !all.contains(password),
        "the output shows the password: {all}"
    );
    assert!(files_containing(store.path(), password).is_empty());
}
