//! The etcd register client against a real, single-member etcd on loopback: each test starts its
//! own member (own data dir, own ports) and the guard kills it by its handle, never by name.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::db::etcd::{EtcdClient, ReadConsistency, Timeouts};
use faultline_workloads::register::RegisterClient;
use faultline_workloads::ClientError;

/// One etcd member, killed (and first resumed, if paused) when dropped.
struct Etcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts a member on two free loopback ports and waits until it serves linearizable reads.
    async fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let (client_port, peer_port) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log file");
        let child = Command::new("etcd")
            .arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd is installed (Debian etcd-server)");
        let etcd = Etcd {
            child,
            endpoint: client_url,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(c) = EtcdClient::connect(
                &etcd.endpoint,
                ReadConsistency::Linearizable,
                Timeouts::default(),
            )
            .await
            {
                if c.read("ready").await.is_ok() {
                    return etcd;
                }
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not become ready in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn client(&self, consistency: ReadConsistency) -> EtcdClient {
        EtcdClient::connect(&self.endpoint, consistency, Timeouts::default())
            .await
            .expect("connect")
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // Only a child not yet reaped still owns its pid: never signal a pid reused by another.
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the kernel's choice, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

#[tokio::test]
async fn reading_an_absent_key_gives_none() {
    let etcd = Etcd::start().await;
    let c = etcd.client(ReadConsistency::Linearizable).await;
    assert_eq!(c.read("absent").await, Ok(None));
}

#[tokio::test]
async fn a_written_value_is_read_back() {
    let etcd = Etcd::start().await;
    let c = etcd.client(ReadConsistency::Linearizable).await;
    c.write("k1", 41).await.unwrap();
    c.write("k1", -42).await.unwrap();
    assert_eq!(c.read("k1").await, Ok(Some(-42)));
}

#[tokio::test]
async fn cas_swaps_only_from_the_current_value() {
    let etcd = Etcd::start().await;
    let c = etcd.client(ReadConsistency::Linearizable).await;
    assert_eq!(
        c.cas("k", 0, 1).await,
        Ok(false),
        "an absent key never matches"
    );
    assert_eq!(c.read("k").await, Ok(None));
    c.write("k", 3).await.unwrap();
    assert_eq!(c.cas("k", 3, 4).await, Ok(true));
    assert_eq!(c.read("k").await, Ok(Some(4)));
    assert_eq!(c.cas("k", 3, 5).await, Ok(false));
    assert_eq!(
        c.read("k").await,
        Ok(Some(4)),
        "a failed cas changes nothing"
    );
}

#[tokio::test]
async fn serializable_reads_see_written_values() {
    let etcd = Etcd::start().await;
    let writer = etcd.client(ReadConsistency::Linearizable).await;
    let reader = etcd.client(ReadConsistency::Serializable).await;
    assert_eq!(reader.consistency(), ReadConsistency::Serializable);
    assert_eq!(reader.read("s").await, Ok(None));
    writer.write("s", 7).await.unwrap();
    assert_eq!(reader.read("s").await, Ok(Some(7)));
}

#[tokio::test]
async fn a_request_to_a_paused_member_times_out_as_indefinite() {
    let etcd = Etcd::start().await;
    let timeouts = Timeouts {
        request: Duration::from_millis(500),
        connect: Duration::from_millis(500),
    };
    let c = EtcdClient::connect(&etcd.endpoint, ReadConsistency::Linearizable, timeouts)
        .await
        .unwrap();
    c.write("p", 1).await.unwrap();
    etcd.signal(libc::SIGSTOP);
    let started = Instant::now();
    let write = c.write("p", 2).await;
    let cas = c.cas("p", 1, 3).await;
    let took = started.elapsed();
    assert!(
        matches!(write, Err(ClientError::Indefinite(_))),
        "{write:?}"
    );
    assert!(matches!(cas, Err(ClientError::Indefinite(_))), "{cas:?}");
    assert!(
        took >= Duration::from_millis(900),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_millis(1500), "gave up late: {took:?}");
    etcd.signal(libc::SIGCONT);
    // The outcome was unknown, not lost: once resumed, the member may have applied them.
    let after = c.read("p").await;
    assert!(matches!(after, Ok(Some(1..=3))), "{after:?}");
}

#[tokio::test]
async fn connecting_where_nothing_listens_fails_quickly() {
    let endpoint = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let result = EtcdClient::connect(
        &endpoint,
        ReadConsistency::Linearizable,
        Timeouts {
            request: Duration::from_secs(1),
            connect: Duration::from_secs(3),
        },
    )
    .await;
    assert!(
        matches!(&result, Err(ClientError::Definite(e)) if e.contains("Connection refused")),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_write_to_a_stopped_member_fails_definitely() {
    let mut etcd = Etcd::start().await;
    let c = etcd.client(ReadConsistency::Linearizable).await;
    c.write("d", 1).await.unwrap();
    etcd.child.kill().unwrap();
    etcd.child.wait().unwrap();
    // The broken connection is noticed; the next request reconnects, is refused, and is
    // therefore never sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let write = c.write("d", 2).await;
    assert!(matches!(write, Err(ClientError::Definite(_))), "{write:?}");
}
