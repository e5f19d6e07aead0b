//! JUnit XML for nightly jobs: one `<testsuite>`, one `<testcase>` per run and checker.
//!
//! A CI server already knows how to show JUnit: an invalid check becomes a `<failure>` naming
//! its anomalies, an unknown one an `<error>` (the checker could not decide, which a nightly job
//! must not pass over in silence). It reads the runs' typed records, so any checker's verdict
//! shows without this file knowing the checker.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use faultline_checkers::Validity;

use crate::store::{self, RunDir};

/// What JUnit needs to know of one stored run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The test's name (`etcd-register`): the testcases' classname.
    pub test: String,
    pub run_dir: PathBuf,
    /// The run's verdict.
    pub valid: Validity,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Why the verdict is unknown, or what else went wrong, when the run says.
    pub cause: Option<String>,
    /// Each checker: (name, verdict, its anomalies as `kind key`); empty means the run's
    /// verdict alone.
    pub checkers: Vec<(String, Validity, Vec<String>)>,
}

impl RunSummary {
    /// Reads a run's records (the test's name from `test.json`, else from the directory above).
    pub fn load(run_dir: &Path) -> Result<RunSummary> {
        let records = RunDir::open(run_dir).records();
        if let Some(e) = records.errors.first() {
            return Err(anyhow!("{e}"));
        }
        let results = records.results.as_ref().ok_or_else(|| {
            anyhow!(
                "{} has no {}: the run ended before its check",
                run_dir.display(),
                store::RESULTS
            )
        })?;
        let s = &results.summary;
        let mut causes = results.unknown_because();
        causes.extend(s.problems.iter().cloned());
        Ok(RunSummary {
            test: records.name(run_dir),
            run_dir: run_dir.to_owned(),
            valid: results.valid,
            seconds: s.run_seconds.max(s.workload_seconds),
            cause: (!causes.is_empty()).then(|| causes.join("; ")),
            checkers: results
                .checks
                .iter()
                .map(|c| {
                    let anomalies = c
                        .anomalies
                        .iter()
                        .map(|a| match &a.key {
                            Some(k) => format!("{} {}", a.kind, k.trim_matches('"')),
                            None => a.kind.clone(),
                        })
                        .collect();
                    (c.name(), c.valid, anomalies)
                })
                .collect(),
        })
    }
}

/// How JUnit sees a verdict.
enum Outcome {
    Pass,
    Failure,
    Error,
}

fn outcome(valid: Validity) -> Outcome {
    match valid {
        Validity::Valid => Outcome::Pass,
        Validity::Invalid => Outcome::Failure,
        Validity::Unknown => Outcome::Error,
    }
}

/// The JUnit XML document for these runs.
pub fn junit_xml(runs: &[RunSummary]) -> String {
    let suite = Suite::of("faultline", runs);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n{}</testsuites>\n",
        suite.xml
    )
}

/// One JUnit document for a whole test matrix: a `<testsuite>` per cell (its name), a test
/// case per run and checker (`run 2/linearizable`), classed under the cell.
pub fn matrix_xml(suites: &[(String, Vec<RunSummary>)]) -> String {
    let mut out = String::new();
    let (mut tests, mut failures, mut errors, mut time) = (0, 0, 0, 0.0);
    for (name, runs) in suites {
        let suite = Suite::of(name, runs);
        tests += suite.tests;
        failures += suite.failures;
        errors += suite.errors;
        time += suite.time;
        out.push_str(&suite.xml);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"faultline test-all\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\" time=\"{time:.3}\">\n{out}</testsuites>\n"
    )
}

/// One `<testsuite>` and its counts.
struct Suite {
    xml: String,
    tests: usize,
    failures: usize,
    errors: usize,
    time: f64,
}

impl Suite {
    /// The suite `name` of these runs: a test case per run and checker, each named
    /// `<run's test>/<checker>` and classed under the run's test (or, in a matrix, the cell).
    fn of(name: &str, runs: &[RunSummary]) -> Suite {
        let mut cases = String::new();
        let (mut tests, mut failures, mut errors, mut time) = (0, 0, 0, 0.0);
        let classname = |run: &RunSummary| {
            if name == "faultline" {
                run.test.clone()
            } else {
                name.to_string()
            }
        };
        for run in runs {
            time += run.seconds;
            let checkers = if run.checkers.is_empty() {
                vec![("verdict".to_owned(), run.valid, Vec::new())]
            } else {
                run.checkers.clone()
            };
            for (checker, valid, anomalies) in &checkers {
                tests += 1;
                let _ = writeln!(
                    cases,
                    "  <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
                    escape(&format!("{}/{checker}", run.test)),
                    escape(&classname(run)),
                    run.seconds
                );
                match outcome(*valid) {
                    Outcome::Pass => {}
                    Outcome::Failure => {
                        failures += 1;
                        let message = if anomalies.is_empty() {
                            "invalid".to_owned()
                        } else {
                            format!("anomalies: {}", anomalies.join(", "))
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
                            None => "unknown verdict".to_owned(),
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
        Suite {
            xml: format!(
                "<testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" \
                 errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\">\n{cases}</testsuite>\n",
                escape(name)
            ),
            tests,
            failures,
            errors,
            time,
        }
    }
}

/// Writes a JUnit document to `path` (creating its directory).
pub fn write_xml(path: &Path, xml: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    std::fs::write(path, xml)
        .with_context(|| format!("cannot write JUnit XML to {}", path.display()))
}

/// Writes the JUnit XML for `runs` to `path` (creating its directory).
pub fn write_junit(path: &Path, runs: &[RunSummary]) -> Result<()> {
    write_xml(path, &junit_xml(runs))
}

/// The runs in `store` whose timestamp directory is `since` (a `store::timestamp`) or later,
/// oldest first: the runs one `faultline test` invocation made.
pub fn runs_since(store_dir: &Path, since: &str) -> Result<Vec<RunSummary>> {
    let mut dirs: Vec<(String, PathBuf)> = store::run_dirs(store_dir)
        .map_err(|e| anyhow!("cannot list the store {}: {e}", store_dir.display()))?
        .into_iter()
        .filter_map(|r| {
            let name = r.path.file_name()?.to_string_lossy().into_owned();
            (name.as_str() >= since).then_some((name, r.path))
        })
        .collect();
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
            crate::exit::INTERNAL
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
