//! `faultline compare RUN_A RUN_B`: what changed between two stored runs.
//!
//! The verdict, the anomalies (invalid keys added and removed), throughput, p99 latency and
//! operation counts, read from each run's `results.json`. The exit code answers the question a
//! nightly job asks: 0 if B's verdict is no worse than A's, 1 if it got worse (valid, then
//! unknown, then invalid).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use faultline_checkers::Validity;
use serde_json::{json, Value};

use crate::cli::CompareArgs;
use crate::exit;
use crate::store::{RunDir, RESULTS};

/// The numbers of one run that a comparison looks at.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub dir: PathBuf,
    pub valid: Validity,
    /// Every anomaly, as `checker: kind key`.
    pub anomalies: Vec<String>,
    pub ok_per_second: Option<f64>,
    pub p99_ms: Option<f64>,
    pub ops: Option<u64>,
    pub ok: Option<u64>,
    pub fail: Option<u64>,
    pub info: Option<u64>,
}

impl RunFacts {
    /// Reads a run from its directory (a `latest` link works), or from its `results.json`.
    pub fn load(path: &Path) -> Result<RunFacts> {
        let dir = if path.is_dir() {
            path.to_owned()
        } else {
            path.parent().map(Path::to_owned).unwrap_or_default()
        };
        let records = RunDir::open(&dir).records();
        if let Some(e) = records.errors.first() {
            return Err(anyhow!("{e}"));
        }
        let r = records
            .results
            .ok_or_else(|| anyhow!("cannot read {}: no such file", dir.join(RESULTS).display()))?;
        let s = &r.summary;
        Ok(RunFacts {
            dir,
            valid: r.valid,
            anomalies: r.anomaly_ids(),
            ok_per_second: Some(s.ok_per_second),
            p99_ms: Some(s.latency_ms.p99),
            ops: Some(s.ops),
            ok: Some(s.ok),
            fail: Some(s.fail),
            info: Some(s.info),
        })
    }
}

/// Valid beats unknown beats invalid.
fn rank(valid: Validity) -> u8 {
    match valid {
        Validity::Valid => 0,
        Validity::Unknown => 1,
        Validity::Invalid => 2,
    }
}

/// (b - a) / a, when it means something.
fn relative(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a),
        _ => None,
    }
}

/// What changed from run A to run B.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: RunFacts,
    pub b: RunFacts,
    pub anomalies_added: Vec<String>,
    pub anomalies_removed: Vec<String>,
}

impl Comparison {
    pub fn new(a: RunFacts, b: RunFacts) -> Comparison {
        let anomalies_added = b
            .anomalies
            .iter()
            .filter(|k| !a.anomalies.contains(k))
            .cloned()
            .collect();
        let anomalies_removed = a
            .anomalies
            .iter()
            .filter(|k| !b.anomalies.contains(k))
            .cloned()
            .collect();
        Comparison {
            a,
            b,
            anomalies_added,
            anomalies_removed,
        }
    }

    /// `worse`, `better` or `same`.
    pub fn verdict_change(&self) -> &'static str {
        match rank(self.b.valid).cmp(&rank(self.a.valid)) {
            std::cmp::Ordering::Greater => "worse",
            std::cmp::Ordering::Less => "better",
            std::cmp::Ordering::Equal => "same",
        }
    }

    pub fn to_json(&self) -> Value {
        let pair =
            |a: Option<f64>, b: Option<f64>| json!({"a": a, "b": b, "relative": relative(a, b)});
        let counts = |a: Option<u64>, b: Option<u64>| json!({"a": a, "b": b, "delta": a.zip(b).map(|(a, b)| b as i64 - a as i64)});
        json!({
            "a": self.a.dir,
            "b": self.b.dir,
            "verdict": {"a": self.a.valid, "b": self.b.valid, "change": self.verdict_change()},
            "anomalies": {"added": self.anomalies_added, "removed": self.anomalies_removed},
            "ok_per_second": pair(self.a.ok_per_second, self.b.ok_per_second),
            "latency_p99_ms": pair(self.a.p99_ms, self.b.p99_ms),
            "ops": counts(self.a.ops, self.b.ops),
            "ok": counts(self.a.ok, self.b.ok),
            "fail": counts(self.a.fail, self.b.fail),
            "info": counts(self.a.info, self.b.info),
        })
    }

    pub fn to_text(&self) -> String {
        let (a, b) = (&self.a, &self.b);
        let mut out = format!("A: {}\nB: {}\n", a.dir.display(), b.dir.display());
        let va = a.valid.word();
        let vb = b.valid.word();
        out += &match self.verdict_change() {
            "same" => format!("verdict: {va} (unchanged)\n"),
            change => format!("verdict: {va} -> {vb} ({change})\n"),
        };
        if self.anomalies_added.is_empty() && self.anomalies_removed.is_empty() {
            out += &format!("anomalies: unchanged ({})\n", b.anomalies.len());
        } else {
            out += &format!(
                "anomalies: {} added [{}], {} removed [{}]\n",
                self.anomalies_added.len(),
                self.anomalies_added.join(", "),
                self.anomalies_removed.len(),
                self.anomalies_removed.join(", ")
            );
        }
        out += &format!(
            "throughput: {} -> {} ok/s{}\n",
            num(a.ok_per_second),
            num(b.ok_per_second),
            change(a.ok_per_second, b.ok_per_second)
        );
        out += &format!(
            "latency p99: {} -> {} ms{}\n",
            num(a.p99_ms),
            num(b.p99_ms),
            change(a.p99_ms, b.p99_ms)
        );
        let c = |x: Option<u64>| x.map_or_else(|| "?".to_owned(), |x| x.to_string());
        out += &format!(
            "ops: {} -> {}; ok {} -> {}; fail {} -> {}; info {} -> {}\n",
            c(a.ops),
            c(b.ops),
            c(a.ok),
            c(b.ok),
            c(a.fail),
            c(b.fail),
            c(a.info),
            c(b.info)
        );
        out
    }
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "?".to_owned(), |x| format!("{x:.1}"))
}

fn change(a: Option<f64>, b: Option<f64>) -> String {
    relative(a, b).map_or_else(String::new, |r| format!(" ({:+.1}%)", r * 100.0))
}

/// Runs `faultline compare`; returns the exit code.
pub fn run(args: &CompareArgs) -> i32 {
    let load = |p: &Path| {
        RunFacts::load(p).map_err(|e| {
            eprintln!("faultline compare: {e:#}");
            exit::BAD_INPUT
        })
    };
    let (a, b) = match (load(&args.run_a), load(&args.run_b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let comparison = Comparison::new(a, b);
    if args.json {
        println!("{}", comparison.to_json());
    } else {
        print!("{}", comparison.to_text());
    }
    if comparison.verdict_change() == "worse" {
        exit::INVALID
    } else {
        exit::VALID
    }
}
