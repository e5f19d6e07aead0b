//! JUnit XML for nightly jobs: one `<testsuite>`, one `<testcase>` per run and checker.
//!
//! A CI server already knows how to show JUnit: an invalid run becomes a `<failure>` naming its
//! invalid keys, an unknown one an `<error>` (the checker could not decide, which a nightly job
//! must not pass over in silence). This file depends on nothing of the binary but `results.json`,
//! so tests include it directly.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// What JUnit needs to know of one stored run, read from its `results.json`.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The test's name (`etcd-register`): the testcases' classname.
    pub test: String,
    pub run_dir: PathBuf,
    /// The run's verdict as stored: `true`, `false` or `"unknown"`.
    pub valid: Value,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    pub invalid_keys: Vec<String>,
    /// Why the verdict is unknown (or what else went wrong), when the run says.
    pub cause: Option<String>,
    /// Each checker's own verdict (`linearizability`, ...); empty means the run's verdict alone.
    pub checkers: Vec<(String, Value)>,
}

impl RunSummary {
    /// Reads `<run_dir>/results.json` (and the test's name from `test.json`, else from the
    /// directory above the run).
    pub fn load(run_dir: &Path) -> Result<RunSummary> {
        let path = run_dir.join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let results: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let summary = results.get("summary").unwrap_or(&Value::Null);
        let test = std::fs::read_to_string(run_dir.join("test.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
            .or_else(|| {
                let dir = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_owned());
                dir.parent()?
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "faultline".to_owned());
        let valid = results
            .get("valid")
            .or_else(|| summary.get("valid"))
            .cloned()
            .with_context(|| format!("{} has no `valid`", path.display()))?;
        let seconds = ["run_seconds", "workload_seconds"]
            .iter()
            .find_map(|k| summary.get(*k).and_then(Value::as_f64))
            .unwrap_or(0.0);
        let invalid_keys = summary
            .get("invalid_keys")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().map(key_text).collect())
            .unwrap_or_default();
        let cause = [results.get("cause"), summary.get("cause")]
            .into_iter()
            .flatten()
            .find_map(|c| c.as_str().map(str::to_owned))
            .or_else(|| {
                let problems: Vec<String> = summary
                    .get("problems")?
                    .as_array()?
                    .iter()
                    .map(key_text)
                    .collect();
                (!problems.is_empty()).then(|| problems.join("; "))
            });
        let checkers = match &results {
            Value::Object(map) => map
                .iter()
                .filter(|(name, _)| *name != "summary")
                .filter_map(|(name, v)| Some((name.clone(), v.as_object()?.get("valid")?.clone())))
                .collect(),
            _ => Vec::new(),
        };
        Ok(RunSummary {
            test,
            run_dir: run_dir.to_owned(),
            valid,
            seconds,
            invalid_keys,
            cause,
            checkers,
        })
    }
}

/// A key or problem as text: strings bare, anything else as JSON.
fn key_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// How JUnit sees a verdict.
enum Outcome {
    Pass,
    Failure,
    Error,
}

fn outcome(valid: &Value) -> Outcome {
    match valid {
        Value::Bool(true) => Outcome::Pass,
        Value::Bool(false) => Outcome::Failure,
        _ => Outcome::Error,
    }
}

/// The JUnit XML document for these runs.
pub fn junit_xml(runs: &[RunSummary]) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors, mut time) = (0, 0, 0, 0.0);
    for run in runs {
        time += run.seconds;
        let checkers = if run.checkers.is_empty() {
            vec![("verdict".to_owned(), run.valid.clone())]
        } else {
            run.checkers.clone()
        };
        for (checker, valid) in &checkers {
            tests += 1;
            let _ = writeln!(
                cases,
                "  <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
                escape(&format!("{}/{checker}", run.test)),
                escape(&run.test),
                run.seconds
            );
            match outcome(valid) {
                Outcome::Pass => {}
                Outcome::Failure => {
                    failures += 1;
                    let message = if run.invalid_keys.is_empty() {
                        "invalid".to_owned()
                    } else {
                        format!("invalid keys: {}", run.invalid_keys.join(", "))
                    };
                    let _ = writeln!(
                        cases,
                        "    <failure message=\"{}\" type=\"invalid\">{}</failure>",
                        escape(&message),
                        escape(&run.run_dir.display().to_string())
                    );
                }
                Outcome::Error => {
                    errors += 1;
                    let message = match &run.cause {
                        Some(cause) => format!("unknown: {cause}"),
                        None => format!("unknown verdict: {valid}"),
                    };
                    let _ = writeln!(
                        cases,
                        "    <error message=\"{}\" type=\"unknown\"/>",
                        escape(&message)
                    );
                }
            }
            let _ = writeln!(
                cases,
                "    <system-out>{}</system-out>\n  </testcase>",
                escape(&run.run_dir.display().to_string())
            );
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites>\n\
         <testsuite name=\"faultline\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"0\" time=\"{time:.3}\">\n{cases}</testsuite>\n</testsuites>\n"
    )
}

/// Writes the JUnit XML for `runs` to `path` (creating its directory).
pub fn write_junit(path: &Path, runs: &[RunSummary]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    std::fs::write(path, junit_xml(runs))
        .with_context(|| format!("cannot write JUnit XML to {}", path.display()))
}

/// The runs in `store` whose timestamp directory is `since` (a `store::timestamp`) or later,
/// oldest first: the runs one `faultline test` invocation made.
pub fn runs_since(store: &Path, since: &str) -> Result<Vec<RunSummary>> {
    let mut dirs = Vec::new();
    let tests = std::fs::read_dir(store)
        .with_context(|| format!("cannot list the store {}", store.display()))?;
    for test in tests.flatten() {
        if !test.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for run in std::fs::read_dir(test.path())?.flatten() {
            let name = run.file_name().to_string_lossy().into_owned();
            if run.file_type().is_ok_and(|t| t.is_dir()) && name.as_str() >= since {
                dirs.push((name, run.path()));
            }
        }
    }
    dirs.sort();
    dirs.iter().map(|(_, dir)| RunSummary::load(dir)).collect()
}

/// After `faultline test --junit FILE`: writes the runs made since `started` and returns the
/// test's exit code, or the internal-error code if the XML cannot be written.
pub fn write_for_test(path: &Path, store: &Path, started: &str, code: i32) -> i32 {
    match runs_since(store, started).and_then(|runs| write_junit(path, &runs)) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("faultline test: --junit: {e:#}");
            70 // exit::INTERNAL; this file stands alone so that tests can include it.
        }
    }
}

/// Text for XML content and attribute values. Characters XML 1.0 cannot carry at all (most
/// control characters) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"'\u{1}"),
            "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}"
        );
    }
}
