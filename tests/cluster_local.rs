//! The local cluster and SSH control against real namespaces, bridges and sshds.
//!
//! These tests need root and nothing else: each one brings up its own cluster, named after the
//! test (so its namespaces, bridge and subnet are its own and cargo may run them in parallel),
//! and a guard tears it down when the test ends, also when it fails. A per-name lock file makes
//! a second `cargo test` on the same machine wait rather than collide.

use faultline::cluster;
use faultline::control;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{Cluster, ClusterInfo};
use control::ssh::{SshConfig, SshRemote};
use control::{Cmd, ControlError, Remote};

/// A cluster that exists for the duration of one test.
struct TestCluster {
    info: ClusterInfo,
    _lock: File,
}

impl TestCluster {
    fn up(name: &str, nodes: usize) -> TestCluster {
        let lock = lock_name(name);
        let info = Cluster::up(name, nodes).unwrap_or_else(|e| panic!("cluster up {name}: {e}"));
        TestCluster { info, _lock: lock }
    }

    fn remote(&self, i: usize) -> SshRemote {
        self.info.remotes().swap_remove(i)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Err(e) = Cluster::down(&self.info.name) {
            eprintln!("cluster down {}: {e}", self.info.name);
        }
    }
}

/// Serialises test runs that use the same cluster name (e.g. two checkouts testing at once).
fn lock_name(name: &str) -> File {
    let path = std::env::temp_dir().join(format!("faultline-test-cluster-{name}.lock"));
    let file = File::create(&path).expect("lock file");
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
    file
}

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    path
}

fn one_shot(config: SshConfig) -> Arc<SshConfig> {
    Arc::new(SshConfig {
        connect_retries: 0,
        connect_timeout: Duration::from_secs(2),
        ..config
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_exec_on_each_node_sees_its_own_hostname_and_only_its_own_address() {
    let c = TestCluster::up("ft-exec", 3);
    let all_ips: Vec<String> = c.info.nodes.iter().map(|n| n.ip.to_string()).collect();
    let remotes: Vec<Arc<SshRemote>> = c.info.remotes().into_iter().map(Arc::new).collect();
    // All nodes at once, through the async helper, as the harness will.
    let tasks: Vec<_> = remotes
        .iter()
        .map(|r| {
            let cmd = Cmd::shell("hostname; ip -o -4 addr show; ip -o link show | wc -l");
            tokio::spawn(control::exec_async(
                r.clone(),
                cmd,
                Some(Duration::from_secs(10)),
            ))
        })
        .collect();
    for (node, task) in c.info.nodes.iter().zip(tasks) {
        let out = task.await.expect("task").unwrap_or_else(|e| panic!("{e}"));
        assert!(out.success(), "{}", out.stderr_str());
        let text = out.stdout_str();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(node.name.as_str()),
            "hostname on {}",
            node.name
        );
        assert!(text.contains(&format!("inet {}/24", node.ip)), "{text}");
        for other in all_ips.iter().filter(|ip| **ip != node.ip.to_string()) {
            assert!(
                !text.contains(&format!("inet {other}/")),
                "{} sees {other}: {text}",
                node.name
            );
        }
        // lo and eth0, nothing of the host's.
        assert_eq!(text.lines().last(), Some("2"), "{text}");
    }
}

#[test]
fn upload_then_download_round_trips() {
    let c = TestCluster::up("ft-xfer", 1);
    let r = c.remote(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let remote_path = dir.path().join("uploaded.bin");
    r.upload(&data, &remote_path).expect("upload");
    let size = r
        .run(
            &Cmd::new("stat")
                .args(["-c", "%s"])
                .arg(remote_path.to_string_lossy()),
            None,
        )
        .expect("stat");
    assert_eq!(size, data.len().to_string());
    assert_eq!(r.download(&remote_path).expect("download"), data);

    let local_in = dir.path().join("in.txt");
    let local_out = dir.path().join("out.txt");
    std::fs::write(&local_in, "it's a file\n").expect("write");
    let remote_txt = dir.path().join("remote dir with space.txt");
    r.upload_file(&local_in, &remote_txt).expect("upload_file");
    r.download_file(&remote_txt, &local_out)
        .expect("download_file");
    assert_eq!(std::fs::read(&local_out).expect("read"), b"it's a file\n");

    let missing = dir.path().join("missing");
    let e = r.download(&missing).expect_err("no such file");
    assert!(
        e.to_string().contains("n1") && e.to_string().contains("missing"),
        "{e}"
    );
}

#[test]
fn exec_drains_large_stdout_and_stderr_together() {
    let c = TestCluster::up("ft-big", 1);
    let r = c.remote(0);
    // Far more than an SSH channel window on both streams: reading one after the other would hang.
    let cmd = Cmd::shell("head -c 3000000 /dev/zero >&2; head -c 2500000 /dev/zero; echo done >&2");
    let out = r.exec(&cmd, Some(Duration::from_secs(30))).expect("exec");
    assert_eq!(out.stdout.len(), 2_500_000);
    assert_eq!(out.stderr.len(), 3_000_000 + 5);
    assert_eq!(out.status, 0);
    let out = r.exec(&Cmd::shell("exit 7"), None).expect("exec");
    assert_eq!(out.status, 7);
}

#[test]
fn up_twice_is_quick_and_leaves_a_working_cluster() {
    let c = TestCluster::up("ft-twice", 2);
    let pids_before = sshd_pids(&c.info);
    let start = Instant::now();
    let again = Cluster::up("ft-twice", 2).expect("second up");
    let took = start.elapsed();
    assert_eq!(again, c.info);
    assert_eq!(
        sshd_pids(&again),
        pids_before,
        "second up must not restart sshd"
    );
    assert!(took < Duration::from_secs(2), "second up took {took:?}");
    for r in again.remotes() {
        assert_eq!(r.run(&Cmd::new("hostname"), None).expect("exec"), r.node());
    }
}

#[test]
fn down_leaves_no_namespace_link_route_or_process() {
    let c = TestCluster::up("ft-down", 2);
    let sshds = sshd_pids(&c.info);
    // A process the cluster did not start itself, as a datastore would be.
    let mut stray = Command::new("ip")
        .args(["netns", "exec", &c.info.nodes[1].netns, "sleep", "1000"])
        .spawn()
        .expect("spawn in namespace");
    std::thread::sleep(Duration::from_millis(100));
    Cluster::down("ft-down").expect("down");

    assert_nothing_left(&c.info);
    for pid in sshds {
        assert!(
            !Path::new(&format!("/proc/{pid}/cmdline")).exists() || is_zombie(pid),
            "sshd {pid} survived"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while stray.try_wait().expect("try_wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "process inside the namespace survived down"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Down on a cluster that is already down is fine.
    Cluster::down("ft-down").expect("second down");
}

#[test]
fn up_cleans_up_the_leftovers_of_a_killed_run() {
    let c = TestCluster::up("ft-stale", 3);
    let old_sshds = sshd_pids(&c.info);
    // As after a faultline killed mid-way: state lost, namespaces and sshds still there, and a
    // stray namespace from an even older, larger cluster.
    std::fs::remove_dir_all(&c.info.state_dir).expect("remove state");
    let out = Command::new("ip")
        .args(["netns", "add", "ft-stale-n7"])
        .output()
        .expect("ip");
    assert!(out.status.success());

    let fresh = Cluster::up("ft-stale", 2).expect("up over leftovers");
    assert_eq!(fresh.nodes.len(), 2);
    let namespaces = std::fs::read_dir("/run/netns").expect("netns dir");
    let ours: Vec<String> = namespaces
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("ft-stale-"))
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    for pid in old_sshds {
        assert!(
            !Path::new(&format!("/proc/{pid}/cmdline")).exists() || is_zombie(pid),
            "old sshd {pid} survived"
        );
    }
    for r in fresh.remotes() {
        assert_eq!(r.run(&Cmd::new("hostname"), None).expect("exec"), r.node());
    }
}

#[test]
fn a_wrong_key_is_refused_with_an_error_naming_the_node() {
    let c = TestCluster::up("ft-key", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = keygen(dir.path(), "wrong_key");
    let config = one_shot(SshConfig {
        private_key: Some(wrong),
        ..c.info.ssh_config()
    });
    let r = SshRemote::new("n1", c.info.nodes[0].ip.to_string(), config);
    let e = r.exec(&Cmd::new("true"), None).expect_err("wrong key");
    assert!(matches!(e, ControlError::Auth { .. }), "{e}");
    assert!(
        e.to_string().contains("node n1") && e.to_string().contains("wrong_key"),
        "{e}"
    );
}

#[test]
fn an_unreachable_node_fails_with_an_error_naming_the_node() {
    let c = TestCluster::up("ft-unrch", 1);
    // An address in the cluster's subnet that no namespace has.
    let ip = format!("10.77.{}.99", c.info.subnet_octet);
    let config = Arc::new(SshConfig {
        connect_retries: 1,
        retry_backoff: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(1),
        ..c.info.ssh_config()
    });
    let r = SshRemote::new("n9", ip.clone(), config);
    let start = Instant::now();
    let e = r.exec(&Cmd::new("true"), None).expect_err("unreachable");
    assert!(
        matches!(e, ControlError::Connect { attempts: 2, .. }),
        "{e}"
    );
    assert!(e.is_unreachable());
    assert!(
        e.to_string().contains("node n9") && e.to_string().contains(&ip),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn strict_host_key_checking_rejects_a_wrong_known_hosts_entry() {
    let c = TestCluster::up("ft-hostk", 1);
    let node = &c.info.nodes[0];
    let dir = tempfile::tempdir().expect("tempdir");
    let impostor = keygen(dir.path(), "impostor");
    let impostor_pub = std::fs::read_to_string(impostor.with_extension("pub")).expect("pub key");
    let key: Vec<&str> = impostor_pub.split_whitespace().take(2).collect();
    let wrong = dir.path().join("known_hosts_wrong");
    std::fs::write(&wrong, format!("{} {}\n", node.ip, key.join(" "))).expect("write");
    let empty = dir.path().join("known_hosts_empty");
    std::fs::write(&empty, "").expect("write");

    let with = |known_hosts: &Path, strict: bool| {
        let config = one_shot(SshConfig {
            known_hosts: Some(known_hosts.to_path_buf()),
            strict_host_key_checking: strict,
            ..c.info.ssh_config()
        });
        SshRemote::new(node.name.clone(), node.ip.to_string(), config)
            .run(&Cmd::new("hostname"), None)
    };
    let e = with(&wrong, true).expect_err("mismatch");
    assert!(matches!(e, ControlError::HostKeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("node n1"), "{e}");
    let e = with(&empty, true).expect_err("unknown");
    assert!(matches!(e, ControlError::HostKeyUnknown { .. }), "{e}");
    // The opt-out trusts whatever answers; the right file passes strictly.
    assert_eq!(with(&wrong, false).expect("opt-out"), "n1");
    assert_eq!(with(&c.info.known_hosts, true).expect("right file"), "n1");
}

#[test]
fn one_session_per_node_is_reused_and_replaced_when_it_dies() {
    let c = TestCluster::up("ft-reuse", 1);
    let r = c.remote(0);
    let conn = |r: &SshRemote| {
        r.run(&Cmd::shell("echo $SSH_CONNECTION"), None)
            .expect("exec")
    };
    let first = conn(&r);
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(conn(&r), first, "each command must reuse the session");
    }
    eprintln!("20 commands on one session: {:?}", start.elapsed());

    // Kill the server side of the session (every sshd in the namespace but the listener).
    let node = &c.info.nodes[0];
    let listener: i32 = std::fs::read_to_string(&node.sshd_pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    let out = Command::new("ip")
        .args(["netns", "pids", &node.netns])
        .output()
        .expect("ip netns pids");
    for pid in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        if pid != listener {
            // SAFETY: a PID in this test's own namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = conn(&r);
    assert_ne!(
        after, first,
        "a new session must have replaced the dead one"
    );
}

#[test]
fn connecting_retries_until_a_restarting_node_answers() {
    let c = TestCluster::up("ft-retry", 1);
    let config = Arc::new(SshConfig {
        connect_retries: 8,
        retry_backoff: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(1),
        ..c.info.ssh_config()
    });
    let r = SshRemote::new("n1", c.info.nodes[0].ip.to_string(), config);
    // The node's sshd goes away; the cluster comes back a moment later (a full rebuild: same
    // addresses, same key and known_hosts paths).
    let listener = sshd_pids(&c.info)[0];
    // SAFETY: the PID of this test cluster's own sshd, read from its pidfile.
    unsafe { libc::kill(listener, libc::SIGTERM) };
    let restarter = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(400));
        Cluster::up("ft-retry", 1).map(|_| ())
    });
    let out = r.run(&Cmd::new("hostname"), None);
    restarter
        .join()
        .expect("restarter")
        .expect("cluster comes back");
    assert_eq!(out.expect("retried until sshd answered"), "n1");
}

#[test]
fn a_command_over_its_timeout_fails_naming_node_and_command() {
    let c = TestCluster::up("ft-tmo", 1);
    let r = c.remote(0);
    let start = Instant::now();
    let e = r
        .exec(
            &Cmd::new("sleep").arg("5"),
            Some(Duration::from_millis(300)),
        )
        .expect_err("times out");
    assert!(matches!(e, ControlError::Timeout { .. }), "{e}");
    assert!(
        e.to_string().contains("node n1") && e.to_string().contains("`sleep 5`"),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(
        r.run(&Cmd::new("echo").arg("still here"), None)
            .expect("node usable"),
        "still here"
    );
}

#[test]
fn cli_up_status_down() {
    let bin = env!("CARGO_BIN_EXE_faultline");
    let _lock = lock_name("ft-cli");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .output()
            .expect("faultline runs")
    };
    // A guard, in case an assertion fails before `down`.
    struct Down;
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = Cluster::down("ft-cli");
        }
    }
    let _down = Down;

    let out = run(&["cluster", "up", "--nodes", "2", "--cluster", "ft-cli"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = ClusterInfo::load("ft-cli").expect("cluster.json");
    let out = run(&["cluster", "status", "--cluster", "ft-cli"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for n in &info.nodes {
        assert!(
            text.contains(&n.ip.to_string()) && text.contains("sshd answers"),
            "{text}"
        );
    }
    let out = run(&["cluster", "down", "--cluster", "ft-cli"]);
    assert_eq!(out.status.code(), Some(0));
    assert_nothing_left(&info);
    let out = run(&["cluster", "status", "--cluster", "ft-cli"]);
    assert_eq!(out.status.code(), Some(69));
    let out = run(&["cluster", "up", "--cluster", "Not_Valid"]);
    assert_eq!(out.status.code(), Some(64));
}

fn sshd_pids(info: &ClusterInfo) -> Vec<i32> {
    info.nodes
        .iter()
        .map(|n| {
            std::fs::read_to_string(&n.sshd_pidfile)
                .expect("pidfile")
                .trim()
                .parse()
                .expect("pid")
        })
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn assert_nothing_left(info: &ClusterInfo) {
    for n in &info.nodes {
        assert!(
            !Path::new("/run/netns").join(&n.netns).exists(),
            "namespace {} left",
            n.netns
        );
        assert!(
            !Path::new("/sys/class/net").join(&n.veth).exists(),
            "link {} left",
            n.veth
        );
    }
    assert!(
        !Path::new("/sys/class/net").join(&info.bridge).exists(),
        "bridge left"
    );
    let routes = Command::new("ip")
        .args(["route", "show", "table", "all"])
        .output()
        .expect("ip route");
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(!routes.contains(&info.subnet), "route left: {routes}");
    assert!(!info.state_dir.exists(), "state dir left");
}
