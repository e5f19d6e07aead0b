//! The latency fault against a real local cluster: the delayer (the built faultline binary,
//! running inside a node's namespace) holds every packet the node receives, and healing
//! removes both the queue rule and the delayer.
//!
//! Needs root. Brings up its own uniquely named 3-node cluster and tears it down when it ends
//! (also on failure). Latency is measured as the time node A takes to open a TCP connection to
//! node B's sshd: the SYN reaches B late, so the connect waits for one delay.

use faultline::control;

use faultline::nemesis;

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::test_cluster::TestCluster;
use control::Cmd;
use nemesis::partition::{self, Node};
use nemesis::{latency, Nemesis};

const T: Duration = Duration::from_secs(10);

impl TestCluster {
    fn nodes(&self) -> Vec<Node> {
        self.info
            .nodes
            .iter()
            .zip(self.info.remotes())
            .map(|(n, r)| Node {
                name: n.name.clone(),
                ip: n.ip.into(),
                remote: Arc::new(r),
            })
            .collect()
    }
}

/// The fastest of three TCP connects from `a` to `b`'s sshd, in milliseconds, timed inside `a`.
fn connect_ms(a: &Node, b: &Node) -> u64 {
    let script = format!(
        // Timed around the connect alone, inside one shell: no process start in the interval.
        "bash -c 'for i in 1 2 3; do s=$EPOCHREALTIME; exec 3<>/dev/tcp/{ip}/22 || exit 1; \
         e=$EPOCHREALTIME; exec 3<&-; echo $(( (${{e/./}} - ${{s/./}}) / 1000 )); done'",
        ip = b.ip
    );
    let out = a
        .remote
        .run(&Cmd::shell(script), Some(T))
        .unwrap_or_else(|e| panic!("connect {} -> {}: {e}", a.name, b.name));
    out.lines()
        .map(|l| l.trim().parse::<u64>().expect("milliseconds"))
        .min()
        .expect("three measurements")
}

fn delayer_pid(node: &Node) -> Option<String> {
    let out = node
        .remote
        .run(
            &Cmd::shell(format!(
                "p=$(cat {} 2>/dev/null) && kill -0 \"$p\" 2>/dev/null && echo \"$p\" || true",
                latency::pidfile(node).display()
            )),
            Some(T),
        )
        .expect("pid probe");
    (!out.is_empty()).then_some(out)
}

#[test]
fn latency_delays_a_nodes_incoming_packets_until_heal_stops_its_delayer() {
    let started = Instant::now();
    let c = TestCluster::up("ft-lat", 3);
    let nodes = c.nodes();
    let (a, b) = (&nodes[0], &nodes[1]);
    let nem = Nemesis::new(nodes.clone())
        .with_delayer_exe(PathBuf::from(env!("CARGO_BIN_EXE_faultline")));

    let before = connect_ms(a, b);
    assert!(before < 20, "connect before latency: {before} ms");

    let event = nem
        .latency(&b.name, Duration::from_millis(100))
        .expect("latency");
    assert_eq!(event.f, "start-latency");
    assert_eq!(event.value["delay_ms"], 100);
    let active = nem.active();
    assert!(active.latency.contains(&b.name) && active.network.contains(&b.name));
    let pid = delayer_pid(b).unwrap_or_else(|| panic!("no delayer runs on {}", b.name));
    let rules = partition::rules(b, T).expect("rules");
    assert!(
        rules.len() == 1 && rules[0].contains("NFQUEUE") && rules[0].contains("queue-bypass"),
        "{rules:?}"
    );
    let delayed = connect_ms(a, b);
    assert!(
        (90..1000).contains(&delayed),
        "connect under 100 ms latency: {delayed} ms"
    );
    let untouched = connect_ms(a, &nodes[2]);
    assert!(
        untouched < 20,
        "only B's incoming packets wait: {untouched} ms"
    );

    let heal_start = Instant::now();
    assert_eq!(nem.heal_all().expect("heal").f, "heal-all");
    let heal_took = heal_start.elapsed();
    assert!(nem.active().is_empty());
    assert!(partition::rules(b, T).expect("rules").is_empty());
    assert_eq!(
        delayer_pid(b),
        None,
        "the delayer's pidfile is gone after heal"
    );
    let alive = a
        .remote
        .exec(&Cmd::shell(format!("kill -0 {pid}")), Some(T))
        .expect("kill -0");
    assert!(
        !alive.success(),
        "the delayer (pid {pid}) is gone after heal"
    );
    let after = connect_ms(a, b);
    assert!(after < 20, "connect after heal: {after} ms");
    eprintln!(
        "connect before {before} ms, with latency {delayed} ms, after heal {after} ms; \
         heal {heal_took:?}; test took {:?}",
        started.elapsed()
    );
}
