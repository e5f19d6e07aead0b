//! A local cluster that exists for the duration of one test, shared by the integration tests
//! that need real nodes. Each test names its own cluster (so its own namespaces and subnet); a
//! lock file serialises two test runs that use the same name (two checkouts testing at once);
//! the cluster comes down when the value is dropped, also when the test fails.

use std::fs::File;
use std::os::fd::AsRawFd;

use faultline::cluster::{Cluster, ClusterInfo};

pub struct TestCluster {
    pub info: ClusterInfo,
    _lock: File,
}

impl TestCluster {
    pub fn up(name: &str, nodes: usize) -> TestCluster {
        let path = std::env::temp_dir().join(format!("faultline-test-cluster-{name}.lock"));
        let lock = File::create(&path).expect("lock file");
        // SAFETY: flock on a descriptor we own.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let info = Cluster::up(name, nodes).unwrap_or_else(|e| panic!("cluster up {name}: {e}"));
        TestCluster { info, _lock: lock }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Err(e) = Cluster::down(&self.info.name) {
            eprintln!("cluster down {}: {e}", self.info.name);
        }
    }
}
