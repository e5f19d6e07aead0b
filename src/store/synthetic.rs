//! A store of made-up but well-formed runs, for measuring what a store's size costs (the
//! index pages, `gc`) without running thousands of tests: `faultline bench --store-index N`
//! and the store tests use it. Each run has a `test.json`, a `results.json` with one checker's
//! verdict and a one-line `history.jsonl`, all written through the typed records, so the
//! store's readers see nothing they would not see from a real run. No datastore is involved
//! and nothing here pretends to test one.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use faultline_checkers::{Anomaly, Validity, Verdict};

use super::records::{Latency, ResultsRecord, Summary, TestRecord};
use super::{timestamp, write_json, HISTORY, RESULTS, TEST};

const TESTS: [(&str, &str); 5] = [
    ("etcd", "register"),
    ("redis", "register"),
    ("redis", "set"),
    ("zookeeper", "register"),
    ("etcd", "set"),
];

/// Writes `runs` runs into `store`, the newest at `newest`, one every `every` before it,
/// spread over five tests; one run in 7 invalid, one in 13 unknown, one in 50 without
/// results (crashed). Returns the runs' directories, newest first.
pub fn fill(
    store: &Path,
    runs: usize,
    newest: SystemTime,
    every: Duration,
) -> Result<Vec<std::path::PathBuf>> {
    let mut dirs = Vec::with_capacity(runs);
    for i in 0..runs {
        let (db, workload) = TESTS[i % TESTS.len()];
        let name = format!("{db}-{workload}");
        let at = newest - every * i as u32;
        let dir = store.join(&name).join(timestamp(at));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let test = TestRecord {
            name: name.clone(),
            db: db.into(),
            workload: workload.into(),
            nemesis: vec!["partition-random-halves".into()],
            nemesis_targets: "one".into(),
            nemesis_interval_s: 5.0,
            time_limit_s: 60.0,
            phases: "faults:60,recovery:60,final-reads".into(),
            concurrency: 10,
            rate: 100.0,
            op_timeout_ms: 1000,
            seed: i as u64,
            faultline_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        write_json(&dir.join(TEST), &test)?;
        std::fs::write(
            dir.join(HISTORY),
            "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k1\",\"value\":null}\n",
        )
        .with_context(|| format!("cannot write {}", dir.display()))?;
        if i % 50 == 49 {
            dirs.push(dir);
            continue;
        }
        let valid = if i % 7 == 3 {
            Validity::Invalid
        } else if i % 13 == 5 {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        let mut check = Verdict::new("linearizable", "cas-register");
        check.valid = valid;
        if valid == Validity::Invalid {
            check.anomalies.push(Anomaly {
                kind: "nonlinearizable".into(),
                key: Some(format!("\"k{}\"", i % 17)),
                explanation: vec!["a read of a value no write could have left".into()],
                ops: Vec::new(),
            });
        }
        let results = ResultsRecord {
            valid,
            summary: Summary {
                valid,
                ops: 6000 + (i as u64 % 100),
                ok: 5000,
                fail: 700,
                info: 300,
                faults: 12,
                ok_per_second: 83.3,
                latency_ms: Latency {
                    p50: 2.0,
                    p95: 9.0,
                    p99: 20.0 + (i % 10) as f64,
                    max: 1000.0,
                },
                workload_seconds: 60.0,
                run_seconds: 75.0,
                check_ms: 12.0,
                history_complete: true,
                ..Default::default()
            },
            checks: vec![check],
        };
        write_json(&dir.join(RESULTS), &results)?;
        dirs.push(dir);
    }
    Ok(dirs)
}
