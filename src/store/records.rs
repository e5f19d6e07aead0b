//! The typed records of a run: `test.json` (how it was made) and `results.json` (what came of
//! it), written by the run and read back by the pages, `--junit` and `compare` with serde, so
//! that none of them picks at untyped JSON.
//!
//! Records are read leniently: a field that a later version added is defaulted when missing,
//! and fields a record does not know are kept (`other`) and shown, so older runs in a store stay
//! readable. `results.json` of the first versions held the linearizability result under
//! `linearizability`, not a list of neutral verdicts under `checks`; reading converts it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use faultline_checkers::{Anomaly, Validity, Verdict};
use serde::{Deserialize, Serialize};

use super::{RESULTS, TEST};

/// `test.json`: everything needed to understand, and rerun, a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestRecord {
    /// `<db>-<workload>`.
    pub name: String,
    pub db: String,
    pub db_version: String,
    /// The datastore's own options as given (`--read-consistency`, ...).
    pub db_options: serde_json::Value,
    pub workload: String,
    /// The workload's settings (mix, model, ...), as the workload describes them.
    pub workload_options: serde_json::Value,
    pub nemesis: Vec<String>,
    pub nemesis_targets: String,
    pub nemesis_interval_s: f64,
    /// When fault periods came: `periodic`, `random` or `burst` (empty in runs from before
    /// schedules had kinds: periodic).
    pub nemesis_schedule: String,
    /// How many fault kinds each period started: `1`, ..., or `all`.
    pub nemesis_at_once: String,
    /// How clock faults moved clocks (bump sizes, strobe, skew), when the run had any.
    pub clock: serde_json::Value,
    /// The fault schedule the seed gave, step by step, as planned before the run (a fault aimed
    /// at the primary names the node only in the history).
    pub schedule: Vec<serde_json::Value>,
    /// The run's `faultline test` options, whole: what `faultline test --replay` runs again.
    pub args: serde_json::Value,
    /// The run this one is a replay of.
    pub replay_of: Option<PathBuf>,
    pub time_limit_s: f64,
    /// The phases as `--phases` reads them (`warm-up:10,faults:30,recovery:60,final-reads`);
    /// empty in runs older than phases, which were `faults,recovery,final-reads`.
    pub phases: String,
    /// Whether the workers' operations were staggered (`--stagger`).
    pub stagger: bool,
    pub concurrency: u64,
    pub rate: f64,
    pub op_timeout_ms: u64,
    pub seed: u64,
    pub nodes: Vec<NodeRecord>,
    pub local_cluster: Option<usize>,
    pub ssh: SshRecord,
    pub faultline_version: String,
    /// Fields this version does not know (from older or newer runs).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A node of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeRecord {
    pub name: String,
    pub ip: String,
}

/// How the nodes were reached. Secrets are never recorded, only whether one was given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SshRecord {
    pub user: String,
    pub port: u16,
    pub private_key: Option<PathBuf>,
    pub strict_host_key_checking: bool,
    pub password_given: bool,
    pub key_passphrase_given: bool,
}

/// Latency quantiles of ok operations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// Invocations and ok completions of one kind of operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FCounts {
    pub invoked: u64,
    pub ok: u64,
}

/// What happened in a run, whatever the checkers say of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub valid: Validity,
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Nemesis events in the history.
    pub faults: u64,
    pub ok_per_second: f64,
    pub latency_ms: Latency,
    pub workload_seconds: f64,
    pub run_seconds: f64,
    pub check_ms: f64,
    pub interrupted: bool,
    /// What went wrong without stopping the run (a fault that failed to start, a log that could
    /// not be downloaded, a history file that could not be written).
    pub problems: Vec<String>,
    /// Invocations and ok completions per operation (`read`, `write`, `add`, ...).
    pub by_f: BTreeMap<String, FCounts>,
    /// Whether the history file holds every event recorded.
    pub history_complete: bool,
    /// Why the verdict is `unknown` although no checker found an anomaly.
    pub unknown_because: Vec<String>,
    /// Faults that could not be healed, naming the nodes: the cluster is not as it was.
    pub unhealed: Vec<String>,
}

/// `results.json`: the run's verdict, its summary, and each checker's verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultsRecord {
    pub valid: Validity,
    #[serde(default)]
    pub summary: Summary,
    #[serde(default)]
    pub checks: Vec<Verdict>,
}

/// The first `results.json` layout: the linearizability result beside the summary.
#[derive(Deserialize)]
struct FirstLayout {
    linearizability: Option<LegacyLinearizability>,
    checks: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct LegacyLinearizability {
    #[serde(default)]
    valid: Option<Validity>,
    #[serde(default)]
    model: String,
    #[serde(default)]
    failures: Vec<serde_json::Value>,
}

/// One entry of the first layout's `failures`.
#[derive(Deserialize)]
struct LegacyFailure {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    valid: Option<Validity>,
}

impl ResultsRecord {
    /// Reads a `results.json` (either layout; see the module documentation).
    pub fn from_json(text: &str) -> Result<ResultsRecord, serde_json::Error> {
        let mut record: ResultsRecord = serde_json::from_str(text)?;
        let first: FirstLayout = serde_json::from_str(text)?;
        if let (Some(old), None) = (first.linearizability, first.checks) {
            record.checks.push(legacy_linearizability(old));
        }
        Ok(record)
    }

    /// Every anomaly as `checker: kind key`, the identity `compare` tracks between runs.
    pub fn anomaly_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for check in &self.checks {
            for a in &check.anomalies {
                let id = match &a.key {
                    Some(k) => format!("{}: {} {}", check.name(), a.kind, k.trim_matches('"')),
                    None => format!("{}: {}", check.name(), a.kind),
                };
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// The verdict of the checker called `name`, if it spoke.
    pub fn check(&self, name: &str) -> Option<&Verdict> {
        self.checks.iter().find(|c| c.checker == name)
    }

    /// Every reason the run gives for an unknown verdict: its own and its checkers'.
    pub fn unknown_because(&self) -> Vec<String> {
        let mut all = self.summary.unknown_because.clone();
        for c in &self.checks {
            all.extend(
                c.unknown_because
                    .iter()
                    .map(|w| format!("{}: {w}", c.name())),
            );
        }
        all
    }
}

/// The linearizability result of the first `results.json` layout as a neutral verdict.
fn legacy_linearizability(old: LegacyLinearizability) -> Verdict {
    let mut v = Verdict::new("linearizable", &old.model);
    v.valid = old.valid.unwrap_or(Validity::Unknown);
    for f in &old.failures {
        let Ok(failure) = serde_json::from_value::<LegacyFailure>(f.clone()) else {
            continue;
        };
        if failure.valid == Some(Validity::Invalid) {
            v.anomalies.push(Anomaly {
                kind: "nonlinearizable".into(),
                key: failure.key,
                explanation: Vec::new(),
                ops: Vec::new(),
            });
        }
    }
    v.summary = format!("{} key(s) not linearizable", v.anomalies.len());
    v.detail = serde_json::json!({ "model": old.model, "failures": old.failures });
    v
}

/// What a run directory holds of its records, each read on its own: a run that crashed before
/// its check has no `results.json`, and a record that cannot be read is reported, not fatal.
#[derive(Debug, Default)]
pub struct RunRecords {
    pub test: Option<TestRecord>,
    pub results: Option<ResultsRecord>,
    /// Why a record that exists could not be read, naming the file.
    pub errors: Vec<String>,
}

impl RunRecords {
    pub fn read(run_dir: &Path) -> RunRecords {
        let mut records = RunRecords::default();
        match std::fs::read_to_string(run_dir.join(TEST)) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(t) => records.test = Some(t),
                Err(e) => records
                    .errors
                    .push(format!("{}: {e}", run_dir.join(TEST).display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => records
                .errors
                .push(format!("{}: {e}", run_dir.join(TEST).display())),
        }
        match std::fs::read_to_string(run_dir.join(RESULTS)) {
            Ok(text) => match ResultsRecord::from_json(&text) {
                Ok(r) => records.results = Some(r),
                Err(e) => records
                    .errors
                    .push(format!("{}: {e}", run_dir.join(RESULTS).display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => records
                .errors
                .push(format!("{}: {e}", run_dir.join(RESULTS).display())),
        }
        records
    }

    /// The test's name: from `test.json`, else the directory above the run.
    pub fn name(&self, run_dir: &Path) -> String {
        self.test
            .as_ref()
            .map(|t| t.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                let dir = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_owned());
                dir.parent()?
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "faultline".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_a_round_trip() {
        let mut r = ResultsRecord {
            valid: Validity::Invalid,
            ..Default::default()
        };
        r.summary.ops = 12;
        r.summary.problems.push("node n3: gone".into());
        let mut v = Verdict::new("set", "set");
        v.valid = Validity::Invalid;
        v.anomalies.push(Anomaly {
            kind: "lost".into(),
            key: None,
            explanation: vec![],
            ops: vec![],
        });
        r.checks.push(v);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(ResultsRecord::from_json(&text).unwrap(), r);
        assert_eq!(r.anomaly_ids(), vec!["set: lost"]);
    }

    #[test]
    fn the_first_layout_of_results_reads_as_a_linearizability_verdict() {
        let old = r#"{"valid": false,
            "summary": {"ops": 3, "invalid_keys": ["\"k1\""]},
            "linearizability": {"valid": false, "model": "cas-register", "calls": 3,
              "failures": [{"key": "\"k1\"", "valid": false, "calls": 3}]}}"#;
        let r = ResultsRecord::from_json(old).unwrap();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.summary.ops, 3);
        let lin = r.check("linearizable").unwrap();
        assert_eq!(lin.anomaly_keys(), vec!["\"k1\""]);
        assert_eq!(r.anomaly_ids(), vec!["linearizable: nonlinearizable k1"]);
    }

    #[test]
    fn a_test_record_keeps_fields_it_does_not_know() {
        let t: TestRecord =
            serde_json::from_str(r#"{"name": "etcd-register", "mix": "1,1,1", "seed": 5}"#)
                .unwrap();
        assert_eq!(t.name, "etcd-register");
        assert_eq!(t.seed, 5);
        assert_eq!(t.other["mix"], serde_json::json!("1,1,1"));
        let back: TestRecord = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
