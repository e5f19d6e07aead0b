//! `faultline compare RUN_A RUN_B`: what changed between two stored runs.
//!
//! The verdict, the anomalies (invalid keys added and removed), throughput, p99 latency and
//! operation counts, read from each run's `results.json`. The exit code answers the question a
//! nightly job asks: 0 if B's verdict is no worse than A's, 1 if it got worse (valid, then
//! unknown, then invalid).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cli::CompareArgs;
use crate::exit;

/// The numbers of one run that a comparison looks at.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub dir: PathBuf,
    /// `true`, `false` or `"unknown"`, as stored.
    pub valid: Value,
    pub invalid_keys: Vec<String>,
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
        let file = if path.is_dir() {
            path.join("results.json")
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let results: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let s = results.get("summary").cloned().unwrap_or(Value::Null);
        let valid = results
            .get("valid")
            .or_else(|| s.get("valid"))
            .cloned()
            .with_context(|| format!("{} has no `valid`", file.display()))?;
        let count = |k: &str| s.get(k).and_then(Value::as_u64);
        Ok(RunFacts {
            dir: file.parent().map(Path::to_owned).unwrap_or_default(),
            valid,
            invalid_keys: s
                .get("invalid_keys")
                .and_then(Value::as_array)
                .map(|ks| {
                    ks.iter()
                        .map(|k| k.as_str().map_or_else(|| k.to_string(), str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            ok_per_second: s.get("ok_per_second").and_then(Value::as_f64),
            p99_ms: s.pointer("/latency_ms/p99").and_then(Value::as_f64),
            ops: count("ops"),
            ok: count("ok"),
            fail: count("fail"),
            info: count("info"),
        })
    }
}

/// Valid beats unknown beats invalid.
fn rank(valid: &Value) -> u8 {
    match valid {
        Value::Bool(true) => 0,
        Value::Bool(false) => 2,
        _ => 1,
    }
}

fn verdict_name(valid: &Value) -> String {
    match valid {
        Value::Bool(true) => "valid".to_owned(),
        Value::Bool(false) => "invalid".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
    pub keys_added: Vec<String>,
    pub keys_removed: Vec<String>,
}

impl Comparison {
    pub fn new(a: RunFacts, b: RunFacts) -> Comparison {
        let keys_added = b
            .invalid_keys
            .iter()
            .filter(|k| !a.invalid_keys.contains(k))
            .cloned()
            .collect();
        let keys_removed = a
            .invalid_keys
            .iter()
            .filter(|k| !b.invalid_keys.contains(k))
            .cloned()
            .collect();
        Comparison {
            a,
            b,
            keys_added,
            keys_removed,
        }
    }

    /// `worse`, `better` or `same`.
    pub fn verdict_change(&self) -> &'static str {
        match rank(&self.b.valid).cmp(&rank(&self.a.valid)) {
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
            "invalid_keys": {"added": self.keys_added, "removed": self.keys_removed},
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
        let va = verdict_name(&a.valid);
        let vb = verdict_name(&b.valid);
        out += &match self.verdict_change() {
            "same" => format!("verdict: {va} (unchanged)\n"),
            change => format!("verdict: {va} -> {vb} ({change})\n"),
        };
        if self.keys_added.is_empty() && self.keys_removed.is_empty() {
            out += &format!(
                "anomalies: unchanged ({} invalid keys)\n",
                b.invalid_keys.len()
            );
        } else {
            out += &format!(
                "anomalies: {} invalid keys added [{}], {} removed [{}]\n",
                self.keys_added.len(),
                self.keys_added.join(", "),
                self.keys_removed.len(),
                self.keys_removed.join(", ")
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
