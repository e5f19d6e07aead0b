//! Clock faults end to end, and the replay of a schedule: the offset each datastore process
//! sees is measured from outside while the fault is on (Redis `TIME`, ZooKeeper's log
//! timestamps), every clock is back at zero afterwards (also after a panic), etcd is refused
//! with the reason (and the reason is measured: etcd under libfaketime keeps the machine's
//! time), and `--replay` runs the same fault schedule again.
//!
//! Needs root and the local cluster (CI runs as root), `faketime` installed (`make
//! install-deps`). Each test has its own cluster (`ck-*`), brought down when it ends.

mod common;
use common::runs as e2e;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::{faultline, runs, text, ClusterGuard};
use faultline::nemesis::clock::ClockParams;
use faultline::nemesis::schedule::{plan, AtOnce, ScheduleKind, ScheduleSpec};
use faultline::nemesis::{Fault, Targets};
use serde_json::Value;

/// A 3-node local-cluster run of `faultline test` in the background.
struct Running {
    child: Child,
    store: PathBuf,
}

impl Running {
    fn start(cluster: &str, store: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
        let mut c = faultline();
        c.args([
            "test",
            "--local-cluster",
            "3",
            "--cluster",
            cluster,
            "--store",
        ])
        .arg(store)
        .args(["--settle", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        Running {
            child: c.spawn().expect("start faultline test"),
            store: store.to_owned(),
        }
    }

    /// The run's directory, once it exists.
    fn dir(&self) -> PathBuf {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(d) = runs(&self.store).pop() {
                if d.join("test.json").exists() {
                    return d;
                }
            }
            assert!(
                Instant::now() < until,
                "no run directory in {:?}",
                self.store
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn test_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir().join("test.json")).unwrap()).unwrap()
    }

    /// The address of `node`, from test.json.
    fn ip(&self, node: &str) -> String {
        let t = self.test_json();
        t["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == node)
            .map(|n| n["ip"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no node {node} in {t}"))
    }

    /// Waits for the `nth` (0-based) nemesis event called `f` in the history; returns it.
    fn wait_for_event(&self, f: &str, nth: usize, within: Duration) -> Value {
        let until = Instant::now() + within;
        let history = self.dir().join("history.jsonl");
        loop {
            let text = std::fs::read_to_string(&history).unwrap_or_default();
            let found: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["process"] == "nemesis" && e["f"] == f)
                .collect();
            if let Some(e) = found.get(nth) {
                assert!(e.get("error").is_none(), "the fault failed: {e}");
                return e.clone();
            }
            assert!(
                Instant::now() < until,
                "no {f} #{nth} in the history within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish(mut self) -> (Option<i32>, String) {
        let until = Instant::now() + Duration::from_secs(240);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < until, "the run did not end");
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), text(&out))
    }
}

/// What a node's Redis server says the time is, minus this machine's time, in ms (the middle
/// of the round trip; a round trip here is well under a millisecond).
fn redis_offset_ms(ip: &str) -> f64 {
    let mut s = TcpStream::connect((ip, 6379)).expect("connect to redis");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let before = now_ms();
    s.write_all(b"TIME\r\n").unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 128];
    while reply.iter().filter(|&&b| b == b'\n').count() < 5 {
        let n = s.read(&mut buf).expect("read TIME");
        assert!(n > 0, "redis closed the connection");
        reply.extend_from_slice(&buf[..n]);
    }
    let after = now_ms();
    let text = String::from_utf8_lossy(&reply);
    let fields: Vec<&str> = text.split("\r\n").collect();
    let server =
        fields[2].parse::<f64>().unwrap() * 1000.0 + fields[4].parse::<f64>().unwrap() / 1000.0;
    server - (before + after) / 2.0
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Each node's libfaketime control file of a cluster, and what it holds.
fn clock_files(cluster: &str) -> Vec<(String, String)> {
    let dir = Path::new("/var/lib/faultline/clock").join(cluster);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Every clock back at zero, and no clock driver left.
fn assert_clocks_reset(cluster: &str, nodes: usize) {
    let files = clock_files(cluster);
    assert_eq!(files.len(), nodes, "{files:?}");
    for (name, offset) in &files {
        assert_eq!(offset, "+0\n", "{cluster}: {name} still moved");
    }
    let drivers: Vec<_> = std::fs::read_dir("/run")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("faultline-clock-"))
        .filter(|n| {
            let pid = std::fs::read_to_string(Path::new("/run").join(n)).unwrap_or_default();
            Path::new(&format!("/proc/{}/exe", pid.trim())).exists()
        })
        .collect();
    assert!(drivers.is_empty(), "clock drivers left: {drivers:?}");
}

fn ms(e: &Value, node: &str) -> f64 {
    e["value"]["clock_offsets_ms"][node].as_f64().unwrap()
}

#[test]
fn clock_faults_on_etcd_are_refused_with_the_reason_before_anything_is_touched() {
    let store = tempfile::tempdir().unwrap();
    let out = faultline()
        .args([
            "test",
            "--local-cluster",
            "3",
            "--cluster",
            "ck-etcd",
            "--store",
        ])
        .arg(store.path().join("s"))
        .args([
            "--db",
            "etcd",
            "--nemesis",
            "partition-random-halves,clock-skew",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("--nemesis clock-skew: clock faults cannot reach etcd")
            && said.contains("Go program")
            && said.contains("vDSO"),
        "{said}"
    );
    assert!(!store.path().join("s").exists(), "nothing stored");
    assert!(
        !Path::new("/var/lib/faultline/clock/ck-etcd").exists(),
        "nothing prepared"
    );
}

/// The reason given for etcd, measured: under libfaketime with an offset of an hour, `date`
/// moves by an hour and etcd's own log does not.
#[test]
fn etcd_under_libfaketime_keeps_the_machines_time() {
    let dir = tempfile::tempdir().unwrap();
    let rc = dir.path().join("offset");
    std::fs::write(&rc, "+3600\n").unwrap();
    // Under the multiarch directory of this machine's architecture.
    let lib = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime installed (make install-deps)");
    let lib = lib.to_str().unwrap();
    let env = [
        ("LD_PRELOAD", lib),
        ("FAKETIME_TIMESTAMP_FILE", rc.to_str().unwrap()),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let date = Command::new("date").arg("+%s").envs(env).output().unwrap();
    let faked: f64 = String::from_utf8_lossy(&date.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        (faked * 1000.0 - now_ms() - 3_600_000.0).abs() < 5000.0,
        "the offset works on a C program: date says {faked}"
    );
    // Ports of our own on loopback, away from the local clusters' addresses.
    let port = 20000 + (std::process::id() % 20000) as u16;
    let (client, peer) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port + 1),
    );
    let log = dir.path().join("etcd.log");
    let mut etcd = Command::new("/usr/bin/etcd")
        .args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--initial-cluster", &format!("t={peer}"), "--logger", "zap"])
        .args(["--log-outputs", "stderr"])
        .envs(env)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("etcd installed");
    let until = Instant::now() + Duration::from_secs(30);
    let stamp = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(first) = text
            .lines()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            break first["ts"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < until, "etcd logged nothing");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = etcd.kill();
    let _ = etcd.wait();
    let offset = offset_of_stamp(&stamp, now_ms());
    eprintln!("etcd under an offset of +3600 s logged {stamp}: {offset:+.0} ms from this machine");
    assert!(
        offset.abs() < 30_000.0,
        "etcd logs the machine's time: {offset} ms"
    );
}

/// How far the time of day in a log stamp (`2026-12-04T01:46:46.263Z` or
/// `2026-12-04T02:33:09.141+0000`, UTC) is from `real_ms` (ms since the epoch).
fn offset_of_stamp(stamp: &str, real_ms: f64) -> f64 {
    let p: Vec<f64> = stamp[11..23]
        .split([':', '.'])
        .map(|x| x.parse().unwrap())
        .collect();
    let logged = ((p[0] * 60.0 + p[1]) * 60.0 + p[2]) * 1000.0 + p[3];
    let day = 86_400_000.0;
    (logged - real_ms % day + day / 2.0).rem_euclid(day) - day / 2.0
}

/// A bump of +2.5 s on one Redis node: that server's TIME is 2.5 s ahead, the others' are not;
/// after the run every clock is back at zero and the report has the clock plot.
#[test]
fn a_bumped_redis_node_reports_the_bumped_time_and_every_clock_is_reset() {
    let _guard = ClusterGuard("ck-rb");
    let store = tempfile::tempdir().unwrap();
    let run = Running::start(
        "ck-rb",
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "clock-bump",
            "--clock-bump-ms",
            "2500",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "11",
        ],
        &[],
    );
    let bump = run.wait_for_event("start-clock-bump", 0, Duration::from_secs(120));
    let bumped = bump["value"]["nodes"][0].as_str().unwrap().to_string();
    assert_eq!(ms(&bump, &bumped), 2500.0);
    for node in ["n1", "n2", "n3"] {
        let offset = redis_offset_ms(&run.ip(node));
        let expected = if node == bumped { 2500.0 } else { 0.0 };
        assert!(
            (offset - expected).abs() < 150.0,
            "{node}: TIME is {offset:.1} ms off, expected {expected} (bumped: {bumped})"
        );
        eprintln!("{node}: Redis TIME {offset:+.1} ms from this machine's clock");
    }
    let reset = run.wait_for_event("clock-reset", 0, Duration::from_secs(30));
    assert_eq!(ms(&reset, &bumped), 0.0);
    let offset = redis_offset_ms(&run.ip(&bumped));
    assert!(offset.abs() < 150.0, "after the reset: {offset:.1} ms");
    let dir = run.dir();
    let (code, said) = run.finish();
    assert!(matches!(code, Some(0..=2)), "{said}");
    assert_clocks_reset("ck-rb", 3);
    assert!(dir.join("clock.png").exists(), "the clock plot");
    let test: Value =
        serde_json::from_slice(&std::fs::read(dir.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["clock"]["clock_bump_ms"], serde_json::json!([2500]));
    assert_eq!(test["schedule"][0]["f"], "start-clock-bump");
}

/// A seed whose periodic schedule has each of `faults`, as `run::run_once` draws it.
fn seed_with_each(faults: &[Fault], targets: Targets, interval: u64, limit: u64) -> u64 {
    let nodes: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
    let clock = ClockParams::default();
    let spec = ScheduleSpec {
        kind: ScheduleKind::Periodic,
        faults,
        at_once: AtOnce::Count(1),
        targets,
        clock: &clock,
        interval: Duration::from_secs(interval),
        time_limit: Duration::from_secs(limit),
    };
    (0..10_000)
        .find(|seed| {
            let steps = plan(&spec, &nodes, seed ^ 0x6e656d65736973);
            faults.iter().all(|f| steps.iter().any(|s| s.fault == *f))
        })
        .expect("a seed with every fault")
}

/// Samples a node's Redis clock offset for `how_long`.
fn sample(ip: &str, how_long: Duration) -> Vec<f64> {
    let until = Instant::now() + how_long;
    let mut offsets = Vec::new();
    while Instant::now() < until {
        offsets.push(redis_offset_ms(ip));
        std::thread::sleep(Duration::from_millis(3));
    }
    offsets
}

/// A strobe of 300 ms every 20 ms: the server's clock is seen at both offsets and nowhere
/// else. A skew of 200 ms/s: the offset grows by about 200 ms a second.
#[test]
fn a_strobed_and_a_skewed_redis_clock_move_as_planned() {
    let _guard = ClusterGuard("ck-rs");
    let store = tempfile::tempdir().unwrap();
    let faults = [Fault::ClockStrobe, Fault::ClockSkew];
    let seed = seed_with_each(&faults, Targets::All, 5, 20).to_string();
    let run = Running::start(
        "ck-rs",
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "clock-strobe,clock-skew",
            "--nemesis-targets",
            "all",
            "--clock-strobe-ms",
            "300",
            "--clock-strobe-period-ms",
            "20",
            "--clock-skew-ms-per-s",
            "200",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "20",
            "--seed",
            &seed,
        ],
        &[],
    );
    let schedule = run.test_json()["schedule"].clone();
    let starts: Vec<String> = schedule
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["phase"] == "start")
        .map(|s| s["f"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(starts.len(), 2, "{schedule}");
    let ip = run.ip("n2");
    for (i, f) in starts.iter().enumerate() {
        run.wait_for_event(
            f,
            starts[..i].iter().filter(|g| *g == f).count(),
            Duration::from_secs(120),
        );
        std::thread::sleep(Duration::from_millis(300));
        let seen = sample(&ip, Duration::from_millis(1500));
        match f.as_str() {
            "start-clock-strobe" => {
                let low = seen.iter().filter(|o| o.abs() < 30.0).count();
                let high = seen.iter().filter(|o| (**o - 300.0).abs() < 30.0).count();
                eprintln!(
                    "strobe: {} samples, {low} near 0 ms, {high} near 300 ms",
                    seen.len()
                );
                assert_eq!(low + high, seen.len(), "only the two offsets: {seen:?}");
                assert!(
                    low * 5 > seen.len() && high * 5 > seen.len(),
                    "{low} / {high}"
                );
            }
            _ => {
                let (first, last) = (seen[0], seen[seen.len() - 1]);
                let rate = (last - first) / 1.5;
                eprintln!("skew: {first:.0} ms -> {last:.0} ms in 1.5 s: {rate:.0} ms/s");
                assert!((140.0..260.0).contains(&rate), "about 200 ms/s: {rate}");
            }
        }
        run.wait_for_event("clock-reset", i, Duration::from_secs(30));
        let after = redis_offset_ms(&ip);
        assert!(after.abs() < 30.0, "after the reset: {after:.1} ms");
    }
    let (code, said) = run.finish();
    assert!(matches!(code, Some(0..=2)), "{said}");
    assert_clocks_reset("ck-rs", 3);
}

/// A bump of -3 s on every ZooKeeper server: a server's log stamps the `srvr` it was just sent
/// 3 s before this machine's clock.
#[test]
fn a_bumped_zookeeper_server_logs_the_bumped_time() {
    let _guard = ClusterGuard("ck-zb");
    let store = tempfile::tempdir().unwrap();
    let run = Running::start(
        "ck-zb",
        store.path(),
        &[
            "--db",
            "zookeeper",
            "--nemesis",
            "clock-bump",
            "--clock-bump-ms=-3000",
            "--nemesis-targets",
            "all",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "11",
        ],
        &[],
    );
    run.wait_for_event("start-clock-bump", 0, Duration::from_secs(120));
    let log = Path::new("/var/lib/faultline/zookeeper/ck-zb/n1/zookeeper.log");
    let before = std::fs::read_to_string(log).unwrap().lines().count();
    let sent = now_ms();
    let mut s = TcpStream::connect((run.ip("n1").as_str(), 2181)).unwrap();
    s.write_all(b"srvr").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.contains("Mode:"), "{answer}");
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .skip(before)
        .find(|l| l.contains("Processing srvr command"))
        .expect("the server logged the srvr");
    let offset = offset_of_stamp(line, sent);
    eprintln!(
        "n1 logged the srvr at {}: {offset:+.0} ms from this machine's clock",
        &line[..28]
    );
    assert!((offset + 3000.0).abs() < 300.0, "about -3000 ms: {offset}");
    let (code, said) = run.finish();
    assert!(matches!(code, Some(0..=2)), "{said}");
    assert_clocks_reset("ck-zb", 3);
}

/// A panic while every clock is 5 s ahead: the way out resets every clock.
#[test]
fn a_panic_during_a_clock_bump_still_resets_every_clock() {
    let _guard = ClusterGuard("ck-rp");
    let store = tempfile::tempdir().unwrap();
    let run = Running::start(
        "ck-rp",
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "clock-bump",
            "--clock-bump-ms",
            "5000",
            "--nemesis-targets",
            "all",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "30",
        ],
        &[("FAULTLINE_TEST_PANIC", "workload")],
    );
    let (code, said) = run.finish();
    assert_eq!(code, Some(70), "{said}");
    assert!(said.contains("healing every fault"), "{said}");
    assert_clocks_reset("ck-rp", 3);
}

/// Ctrl-C while every clock is 5 s behind: the run stops, heals (every clock back at zero) and
/// keeps its history.
#[test]
fn ctrl_c_during_a_clock_bump_resets_every_clock() {
    let _guard = ClusterGuard("ck-ri");
    let store = tempfile::tempdir().unwrap();
    let run = Running::start(
        "ck-ri",
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "clock-bump",
            "--clock-bump-ms=-5000",
            "--nemesis-targets",
            "all",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "60",
        ],
        &[],
    );
    let bump = run.wait_for_event("start-clock-bump", 0, Duration::from_secs(120));
    assert_eq!(ms(&bump, "n2"), -5000.0);
    // SAFETY: a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) },
        0
    );
    let dir = run.dir();
    let (code, said) = run.finish();
    assert!(matches!(code, Some(0..=2)), "{said}");
    assert!(said.contains("interrupted"), "{said}");
    assert_clocks_reset("ck-ri", 3);
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"heal-all\""), "healing is recorded");
}

/// The nemesis events of a stored run, without their times: what the schedule did.
fn nemesis_events(run: &Path) -> Vec<(String, Value)> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["process"] == "nemesis" && e["f"] != "heal-all")
        .map(|e| (e["f"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

/// A random schedule of partitions and kills together, then `--replay` of that run: the same
/// seed, the same schedule in test.json and the same faults on the same nodes in the history.
#[test]
fn a_replay_runs_the_same_fault_schedule() {
    let _guard = ClusterGuard("ck-rr");
    let store = tempfile::tempdir().unwrap();
    let first = Running::start(
        "ck-rr",
        store.path(),
        &[
            "--db",
            "etcd",
            "--nemesis",
            "partition-random-halves,kill",
            "--nemesis-schedule",
            "random",
            "--nemesis-at-once",
            "all",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "10",
            "--seed",
            "77",
        ],
        &[],
    );
    let (code, said) = first.finish();
    assert!(matches!(code, Some(0..=2)), "{said}");
    let original = runs(store.path()).pop().unwrap();
    let again = faultline()
        .args(["test", "--replay"])
        .arg(&original)
        .arg("--store")
        .arg(store.path())
        .output()
        .unwrap();
    assert!(
        matches!(again.status.code(), Some(0..=2)),
        "{}",
        text(&again)
    );
    let replay = runs(store.path()).pop().unwrap();
    assert_ne!(replay, original);
    let read = |dir: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("test.json")).unwrap()).unwrap()
    };
    let (a, b) = (read(&original), read(&replay));
    assert_eq!(a["seed"], b["seed"]);
    assert_eq!(a["schedule"], b["schedule"]);
    assert_eq!(b["replay_of"], serde_json::json!(original));
    let steps = a["schedule"].as_array().unwrap();
    assert!(steps.len() >= 4, "{steps:?}");
    assert!(
        steps.iter().any(|s| s["f"] == "kill") && steps.iter().any(|s| s["f"] == "start-partition"),
        "both kinds in one period: {steps:?}"
    );
    assert_eq!(nemesis_events(&original), nemesis_events(&replay));
}
