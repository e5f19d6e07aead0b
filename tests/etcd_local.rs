//! The etcd lifecycle against a real 3-node local cluster: setup, health, pause, kill and
//! restart on the same data, teardown.
//!
//! Needs root. The cluster is named after the test and torn down by a guard, also when the test
//! fails; a second guard, dropped first, tears etcd down and removes its directories.

use faultline::control;

use faultline::db;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::test_cluster::TestCluster;
use control::{Cmd, Remote};
use db::etcd::{Etcd, EtcdMember, ETCDCTL_BIN, ETCD_BIN};

/// etcd for the duration of one test: torn down, and its directories removed, on drop.
struct TestEtcd {
    etcd: Etcd,
    base: std::path::PathBuf,
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        if let Err(e) = self.etcd.teardown_all() {
            eprintln!("etcd teardown: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Whether `pid` is a live etcd process (a zombie or a reused PID is not).
fn etcd_alive(pid: i32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.as_os_str() == ETCD_BIN)
}

fn etcdctl(member: &EtcdMember, args: &[&str]) -> Result<String, String> {
    let cmd = Cmd::new(ETCDCTL_BIN)
        .arg("--endpoints")
        .arg(format!("{}:2379", member.ip))
        .args(["--command-timeout", "1s", "--dial-timeout", "1s"])
        .args(args);
    member
        .remote
        .run(&cmd, Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())
}

/// A write of `key` via `member`, retried for up to `within`: if the member that was paused or
/// killed was the leader, the others first elect a new one (~1.5 s here), and a write that was
/// forwarded to the old leader only ends at its timeout.
fn put_eventually(member: &EtcdMember, key: &str, value: &str, within: Duration) {
    let started = Instant::now();
    loop {
        match etcdctl(member, &["put", key, value]) {
            Ok(out) if out == "OK" => return,
            got if started.elapsed() > within => {
                panic!("put {key} via {}: {got:?}", member.name)
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A linearizable read of `key` via `member`, retried for up to `within` (a member that was
/// just resumed or restarted needs a moment before it serves linearizable reads).
fn get_eventually(member: &EtcdMember, key: &str, want: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let got = etcdctl(member, &["get", key, "--print-value-only"]);
        match &got {
            Ok(v) if v == want => return,
            _ if started.elapsed() > within => {
                panic!("get {key} via {}: {got:?}, want {want:?}", member.name)
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn etcd_survives_pause_and_kill_and_teardown_leaves_nothing() {
    let test_started = Instant::now();
    let cluster = TestCluster::up("ft-etcd", 3);
    let members: Vec<EtcdMember> = cluster
        .info
        .nodes
        .iter()
        .zip(cluster.info.remotes())
        .map(|(n, r)| EtcdMember {
            name: n.name.clone(),
            ip: n.ip.to_string(),
            remote: Arc::new(r) as Arc<dyn Remote>,
        })
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let token = format!("ft-etcd-{}-{nanos}", std::process::id());
    let base = Etcd::default_base_dir("ft-etcd-test");
    let t = TestEtcd {
        etcd: Etcd::new(members.clone(), &base, &token),
        base,
    };
    let etcd = &t.etcd;
    let (n1, n2, n3) = (&members[0], &members[1], &members[2]);

    let started = Instant::now();
    etcd.setup_all().unwrap_or_else(|e| panic!("{e}"));
    etcd.wait_healthy(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("healthy {:?} after setup", started.elapsed());

    // A write through one member is read through another.
    put_eventually(n1, "k", "v1", Duration::ZERO);
    get_eventually(n2, "k", "v1", Duration::from_secs(2));

    // With n3 frozen, the other two are a majority and still accept writes.
    etcd.pause("n3").unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    put_eventually(n1, "k", "v2", Duration::from_secs(8));
    eprintln!("majority wrote {:?} after the pause", started.elapsed());
    get_eventually(n2, "k", "v2", Duration::from_secs(2));
    etcd.resume("n3").unwrap_or_else(|e| panic!("{e}"));
    get_eventually(n3, "k", "v2", Duration::from_secs(10));

    // A crashed member restarts on its data dir and still has the data.
    let old = etcd.pid("n2").unwrap_or_else(|e| panic!("{e}"));
    let old = old.expect("n2 runs before the kill");
    etcd.kill("n2").unwrap_or_else(|e| panic!("{e}"));
    assert!(!etcd_alive(old), "n2's etcd (pid {old}) survived kill");
    assert_eq!(etcd.pid("n2").unwrap_or_else(|e| panic!("{e}")), None);
    let started = Instant::now();
    put_eventually(n1, "k", "v3", Duration::from_secs(8));
    eprintln!("survivors wrote {:?} after the kill", started.elapsed());
    let started = Instant::now();
    etcd.start("n2").unwrap_or_else(|e| panic!("{e}"));
    etcd.wait_healthy(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("healthy {:?} after restarting n2", started.elapsed());
    assert_ne!(etcd.pid("n2").unwrap_or_else(|e| panic!("{e}")), Some(old));
    get_eventually(n2, "k", "v3", Duration::from_secs(5));

    // Logs come back to this machine.
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("etcd.log");
    n2.remote
        .download_file(&etcd.log_path("n2"), &log)
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&log).expect("log is text");
    assert!(text.contains(&token) || text.contains("n2"), "log: {text}");

    // Teardown stops every member and removes its data.
    let pids: Vec<i32> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            etcd.pid(n)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{n} runs before teardown"))
        })
        .collect();
    etcd.teardown_all().unwrap_or_else(|e| panic!("{e}"));
    for (m, pid) in members.iter().zip(pids) {
        assert!(!etcd_alive(pid), "{}'s etcd (pid {pid}) survived", m.name);
        assert_eq!(etcd.pid(&m.name).unwrap_or_else(|e| panic!("{e}")), None);
        let data = etcd.data_dir(&m.name);
        let gone = m
            .remote
            .exec(
                &Cmd::new("test").arg("-e").arg(data.to_string_lossy()),
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!gone.success(), "{} still exists", data.display());
    }
    eprintln!("test took {:?}", test_started.elapsed());
}
