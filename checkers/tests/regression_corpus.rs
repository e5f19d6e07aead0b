//! The kept corpus of broken and tricky histories (`tests/regressions/`): every reader, every
//! category of bad input the fuzzers probe, and every input a fuzzer ever found, each with the
//! outcome it must keep.
//!
//! A case is a history file (`name.jsonl`, `name.edn`, `name.log`, `name.txt`, ...) beside a
//! `name.expect` that says why the case exists and what must happen:
//!
//! ```text
//! # A crash mid-write leaves the last line cut short.
//! format: jsonl          (optional: jsonl, edn or jepsen-log; default: detected, as `check` does)
//! independent: true      (optional: split Jepsen's [key value] tuples)
//! expect: error at line 3: EOF while parsing
//! ```
//!
//! `expect:` is one of
//! - `error at line N: TEXT`: reading fails with a parse error at line N whose reason contains
//!   TEXT, and the error names the file;
//! - `reads N ops`: reading succeeds with N operations (events);
//! - `MODEL VERDICT`: reading succeeds and checking with MODEL (as `faultline check --model`
//!   names it) gives VERDICT: `valid`, `invalid` or `unknown`;
//! - `MODEL refuses: TEXT`: reading succeeds and the model refuses an operation with a reason
//!   containing TEXT;
//! - `elle WORKLOAD VERDICT [KIND,KIND...]`: the Elle checker (`list-append` or `rw-register`)
//!   gives VERDICT, and the anomaly kinds that make it invalid are exactly those listed;
//! - `elle WORKLOAD error at line N: TEXT`: the Elle checker refuses a transaction at line N
//!   with a reason containing TEXT.
//!
//! Elle cases may also say `consistency-models: M[,M...]` (default: Elle's
//! `strict-serializable`) and `inferences: wfr-keys,sequential-keys,linearizable-keys`.
//!
//! Adding a file adds a test; a history without its `.expect` (or the reverse) fails the suite,
//! so that no case is kept without saying what it pins down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_checkers::history::{read_history, Format, ReadError, ReadOptions};
use faultline_checkers::linear::{
    check_by_name, check_file, CheckOptions, FileCheckError, Validity,
};
use faultline_checkers::model::{ModelConfig, NilRead};
use faultline_checkers::{elle, Verdict};

/// What a case's `.expect` file asks.
#[derive(Debug, PartialEq)]
struct Case {
    options: ReadOptions,
    expect: Expect,
    /// For `elle` expectations: `consistency-models` and `inferences`.
    models: Vec<String>,
    inferences: Vec<String>,
}

#[derive(Debug, PartialEq)]
enum Expect {
    Error {
        line: usize,
        reason: String,
    },
    Reads(usize),
    Verdict {
        model: String,
        valid: Validity,
    },
    Refused {
        model: String,
        reason: String,
    },
    Elle {
        workload: String,
        outcome: ElleOutcome,
    },
}

#[derive(Debug, PartialEq)]
enum ElleOutcome {
    Verdict { valid: Validity, kinds: Vec<String> },
    Error { line: usize, reason: String },
}

fn parse_expect(text: &str) -> Result<Case, String> {
    let mut options = ReadOptions::default();
    let mut expect = None;
    let list = |v: &str| {
        v.split(',')
            .map(|m| m.trim().to_string())
            .collect::<Vec<_>>()
    };
    let (mut models, mut inferences) = (Vec::new(), Vec::new());
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("not `name: value`: {line:?}"));
        };
        let value = value.trim();
        match name.trim() {
            "format" => {
                options.format = Some(match value {
                    "jsonl" => Format::Jsonl,
                    "edn" => Format::Edn,
                    "jepsen-log" => Format::JepsenLog,
                    other => return Err(format!("unknown format {other:?}")),
                })
            }
            "independent" => {
                options.independent = value
                    .parse()
                    .map_err(|_| format!("independent: not true or false: {value:?}"))?
            }
            "consistency-models" => models = list(value),
            "inferences" => inferences = list(value),
            "expect" if expect.is_some() => return Err("two `expect:` lines".into()),
            "expect" => expect = Some(parse_outcome(value)?),
            other => return Err(format!("unknown setting {other:?}")),
        }
    }
    let expect = expect.ok_or("no `expect:` line")?;
    Ok(Case {
        options,
        expect,
        models,
        inferences,
    })
}

fn parse_outcome(text: &str) -> Result<Expect, String> {
    if let Some(rest) = text.strip_prefix("elle ") {
        return parse_elle(rest);
    }
    if let Some(rest) = text.strip_prefix("error at line ") {
        let (line, reason) = rest
            .split_once(':')
            .ok_or("`error at line N: TEXT` needs a reason")?;
        let line = line
            .trim()
            .parse()
            .map_err(|_| format!("not a line number: {line:?}"))?;
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err("`error at line N: TEXT` needs a reason".into());
        }
        return Ok(Expect::Error { line, reason });
    }
    if let Some(rest) = text.strip_prefix("reads ") {
        let n = rest
            .strip_suffix(" ops")
            .or(rest.strip_suffix(" op"))
            .and_then(|n| n.parse().ok())
            .ok_or(format!("`reads N ops` expected, found {text:?}"))?;
        return Ok(Expect::Reads(n));
    }
    let (model, rest) = text
        .split_once(' ')
        .ok_or(format!("unknown expectation {text:?}"))?;
    if let Some(reason) = rest.strip_prefix("refuses:") {
        return Ok(Expect::Refused {
            model: model.to_string(),
            reason: reason.trim().to_string(),
        });
    }
    let valid = match rest.trim() {
        "valid" => Validity::Valid,
        "invalid" => Validity::Invalid,
        "unknown" => Validity::Unknown,
        other => return Err(format!("unknown verdict {other:?}")),
    };
    Ok(Expect::Verdict {
        model: model.to_string(),
        valid,
    })
}

/// `WORKLOAD VERDICT [KIND,KIND...]` or `WORKLOAD error at line N: TEXT`.
fn parse_elle(text: &str) -> Result<Expect, String> {
    let (workload, rest) = text
        .split_once(' ')
        .ok_or("`elle WORKLOAD VERDICT` expected")?;
    let outcome = if rest.starts_with("error at line ") {
        match parse_outcome(rest)? {
            Expect::Error { line, reason } => ElleOutcome::Error { line, reason },
            other => return Err(format!("unexpected {other:?}")),
        }
    } else {
        let (verdict, kinds) = rest.split_once(' ').unwrap_or((rest, ""));
        ElleOutcome::Verdict {
            valid: match verdict {
                "valid" => Validity::Valid,
                "invalid" => Validity::Invalid,
                "unknown" => Validity::Unknown,
                other => return Err(format!("unknown verdict {other:?}")),
            },
            kinds: kinds
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect(),
        }
    };
    Ok(Expect::Elle {
        workload: workload.to_string(),
        outcome,
    })
}

/// Runs one Elle case: checked as the file is read, and read first then checked, both must
/// meet the expectation.
fn judge_elle(
    history: &Path,
    case: &Case,
    workload: &str,
    outcome: &ElleOutcome,
) -> Result<(), String> {
    let workload =
        elle::Workload::parse(workload).ok_or(format!("unknown workload {workload:?}"))?;
    let mut options = elle::ElleOptions::new(workload);
    if !case.models.is_empty() {
        options.consistency_models = case.models.clone();
    }
    for i in &case.inferences {
        match i.as_str() {
            "wfr-keys" => options.inference.wfr_keys = true,
            "sequential-keys" => options.inference.sequential_keys = true,
            "linearizable-keys" => options.inference.linearizable_keys = true,
            other => return Err(format!("unknown inference {other:?}")),
        }
    }
    options.time_limit = Some(Duration::from_secs(20));
    let streamed = elle::check_file(history, &case.options, &options);
    let whole = read_history(history, &case.options)
        .map_err(|e| format!("reading failed: {e}"))
        .and_then(|l| elle::check(&l.history, &options).map_err(|e| e.to_string()));
    let summary = |v: &Verdict| {
        (
            v.valid,
            v.anomaly_kinds()
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>(),
        )
    };
    match (outcome, streamed) {
        (ElleOutcome::Verdict { valid, kinds }, Ok(v)) => {
            let (got_valid, mut got_kinds) = summary(&v);
            let w = whole?;
            if summary(&w) != (got_valid, got_kinds.clone()) {
                return Err(format!(
                    "checked as read: {:?}, read then checked: {:?}",
                    summary(&v),
                    summary(&w)
                ));
            }
            let mut want = kinds.clone();
            want.sort();
            got_kinds.sort();
            if got_valid != *valid || got_kinds != want {
                return Err(format!(
                    "expected {valid} {want:?}, got {got_valid} {got_kinds:?}: {}",
                    v.summary
                ));
            }
            Ok(())
        }
        (
            ElleOutcome::Error { line, reason },
            Err(elle::ElleError::Malformed {
                line: got, message, ..
            }),
        ) => {
            let shown = elle::check_file(history, &case.options, &options)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let name = history.file_name().unwrap_or_default().to_string_lossy();
            if got != *line || !message.contains(reason.as_str()) || !shown.contains(&*name) {
                return Err(format!(
                    "expected an error at line {line} containing {reason:?}, got: {shown}"
                ));
            }
            match whole {
                Err(e) if e.contains(reason.as_str()) => Ok(()),
                other => Err(format!(
                    "read then checked, expected the same error, got {other:?}"
                )),
            }
        }
        (_, Err(e)) => Err(format!("expected {outcome:?}, got the error: {e}")),
        (_, Ok(v)) => Err(format!(
            "expected {outcome:?}, got {} {:?}",
            v.valid,
            v.anomaly_kinds()
        )),
    }
}

/// Runs one case; `Err` says how the outcome differs from the expectation.
fn judge(history: &Path, case: &Case) -> Result<(), String> {
    if let Expect::Elle { workload, outcome } = &case.expect {
        return judge_elle(history, case, workload, outcome);
    }
    let loaded = read_history(history, &case.options);
    let (want_line, reason, model) = match (&case.expect, loaded) {
        (
            Expect::Error { line, reason },
            Err(ReadError::Parse {
                line: got, message, ..
            }),
        ) => {
            let shown = ReadError::Parse {
                path: history.to_owned(),
                line: got,
                message: message.clone(),
            }
            .to_string();
            if got != *line || !message.contains(reason.as_str()) {
                return Err(format!(
                    "expected an error at line {line} containing {reason:?}, got: {shown}"
                ));
            }
            let name = history.file_name().unwrap_or_default().to_string_lossy();
            if !shown.contains(&*name) {
                return Err(format!("the error does not name the file: {shown}"));
            }
            return Ok(());
        }
        (_, Err(e)) => return Err(format!("expected {:?}, got the error: {e}", case.expect)),
        (Expect::Error { line, reason }, Ok(l)) => {
            return Err(format!(
                "expected an error at line {line} containing {reason:?}, but it read {} ops",
                l.history.len()
            ))
        }
        (Expect::Reads(n), Ok(l)) if l.history.len() == *n => return Ok(()),
        (Expect::Reads(n), Ok(l)) => {
            return Err(format!("expected {n} ops, read {}", l.history.len()))
        }
        (Expect::Verdict { model, valid }, Ok(l)) => (Some(*valid), None, (model, l)),
        (Expect::Refused { model, reason }, Ok(l)) => (None, Some(reason), (model, l)),
        (Expect::Elle { .. }, Ok(_)) => unreachable!("judged by judge_elle"),
    };
    let (model, loaded) = model;
    let config = ModelConfig {
        nil_read: if loaded.format.is_jepsen() {
            NilRead::Any
        } else {
            NilRead::Absent
        },
        ..ModelConfig::default()
    };
    let options = CheckOptions {
        // Cases are small: a search still running after this is itself a failure to report.
        time_limit: Some(Duration::from_secs(20)),
        ..CheckOptions::default()
    };
    // Checking the file as it is read must come to the same end as reading it first.
    let streamed = check_file(
        history,
        &case.options,
        model,
        |_| config.clone(),
        &options,
        None,
    );
    let whole = check_by_name(&loaded.history, model, config.clone(), &options, None);
    match (&streamed, &whole) {
        (Ok(s), Ok(w)) if s.analysis.valid != w.valid => {
            return Err(format!(
                "checked as read: {}, read then checked: {}",
                s.analysis.valid, w.valid
            ))
        }
        (Ok(_), Err(e)) | (Err(FileCheckError::Check(e)), Ok(_)) => {
            return Err(format!("only one way of checking failed: {e}"))
        }
        (Err(e), _) if !matches!(e, FileCheckError::Check(_)) => {
            return Err(format!("checking as read failed: {e}"))
        }
        _ => {}
    }
    match (whole, want_line, reason) {
        (Ok(a), Some(valid), _) if a.valid == valid => Ok(()),
        (Ok(a), Some(valid), _) => Err(format!(
            "expected {model} {valid}, got {} ({:?})",
            a.valid,
            a.failures().map(|p| p.cause.clone()).collect::<Vec<_>>()
        )),
        (Ok(a), None, Some(reason)) => Err(format!(
            "expected {model} to refuse ({reason:?}), but it checked: {}",
            a.valid
        )),
        (Err(e), None, Some(reason)) if e.to_string().contains(reason.as_str()) => Ok(()),
        (Err(e), _, _) => Err(format!("expected {:?}, got the error: {e}", case.expect)),
        (Ok(_), None, None) => unreachable!("an expectation is a verdict or a refusal"),
    }
}

/// Every case of `dir`: (history file, its `.expect`), or the files that have no partner.
fn cases(dir: &Path) -> (Vec<(PathBuf, PathBuf)>, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    let is_expect = |p: &Path| p.extension().is_some_and(|e| e == "expect");
    let mut pairs = Vec::new();
    let mut problems = Vec::new();
    for expect in files.iter().filter(|p| is_expect(p)) {
        let stem = expect.file_stem().unwrap_or_default();
        let histories: Vec<&PathBuf> = files
            .iter()
            .filter(|p| !is_expect(p) && p.file_stem() == Some(stem))
            .collect();
        match histories[..] {
            [history] => pairs.push((history.clone(), expect.clone())),
            [] => problems.push(format!("{}: no history file", expect.display())),
            _ => problems.push(format!(
                "{}: several history files share its name",
                expect.display()
            )),
        }
    }
    for history in files.iter().filter(|p| !is_expect(p)) {
        if !history.with_extension("expect").is_file() {
            problems.push(format!("{}: no .expect beside it", history.display()));
        }
    }
    (pairs, problems)
}

/// Runs every case of `dir`; the list of failures, one line each.
fn run_corpus(dir: &Path) -> (usize, Vec<String>) {
    let (pairs, mut failures) = cases(dir);
    for (history, expect) in &pairs {
        let text = std::fs::read_to_string(expect).expect("an .expect is UTF-8");
        let outcome = parse_expect(&text)
            .map_err(|e| format!("bad expectation: {e}"))
            .and_then(|case| judge(history, &case));
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", history.display()));
        }
    }
    (pairs.len(), failures)
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions")
}

#[test]
fn every_kept_case_keeps_its_outcome() {
    let (count, failures) = run_corpus(&corpus_dir());
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 40, "only {count} cases: is the corpus there?");
}

#[test]
fn the_corpus_covers_every_format() {
    let (pairs, _) = cases(&corpus_dir());
    for ext in ["jsonl", "edn", "log", "txt"] {
        assert!(
            pairs
                .iter()
                .any(|(h, _)| h.extension().is_some_and(|e| e == ext)),
            "no .{ext} case"
        );
    }
}

/// The harness itself: a case whose outcome differs from its expectation must fail, else the
/// corpus would pass whatever the readers did.
mod harness {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "faultline-regressions-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const TWO_INVOKES: &str = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\
                               {\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n";

    fn run_one(name: &str, history: &str, expect: &str) -> (usize, Vec<String>) {
        let dir = scratch(name);
        std::fs::write(dir.join("case.jsonl"), history).unwrap();
        std::fs::write(dir.join("case.expect"), expect).unwrap();
        let result = run_corpus(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn a_matching_expectation_passes() {
        let (n, failures) = run_one(
            "match",
            TWO_INVOKES,
            "expect: error at line 2: has no completion\n",
        );
        assert_eq!((n, failures), (1, Vec::<String>::new()));
    }

    #[test]
    fn a_wrong_line_fails() {
        let (_, failures) = run_one(
            "line",
            TWO_INVOKES,
            "expect: error at line 1: has no completion\n",
        );
        assert!(
            failures.len() == 1 && failures[0].contains("expected an error at line 1"),
            "{failures:?}"
        );
    }

    #[test]
    fn a_wrong_reason_fails() {
        let (_, failures) = run_one("reason", TWO_INVOKES, "expect: error at line 2: UTF-8\n");
        assert!(failures.len() == 1, "{failures:?}");
    }

    #[test]
    fn an_error_where_a_reading_was_expected_fails() {
        let (_, failures) = run_one("reads", TWO_INVOKES, "expect: reads 2 ops\n");
        assert!(
            failures.len() == 1 && failures[0].contains("got the error"),
            "{failures:?}"
        );
    }

    #[test]
    fn a_wrong_verdict_fails() {
        let stale = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
                     {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n\
                     {\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\
                     {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":null}\n";
        let (_, failures) = run_one("verdict", stale, "expect: cas-register valid\n");
        assert!(
            failures.len() == 1 && failures[0].contains("got INVALID"),
            "{failures:?}"
        );
        let (_, failures) = run_one("verdict2", stale, "expect: cas-register invalid\n");
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn a_history_without_an_expectation_fails() {
        let dir = scratch("lonely");
        std::fs::write(dir.join("lonely.jsonl"), TWO_INVOKES).unwrap();
        let (n, failures) = run_corpus(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(n, 0);
        assert!(
            failures.len() == 1 && failures[0].contains("no .expect"),
            "{failures:?}"
        );
    }

    #[test]
    fn malformed_expectations_are_refused() {
        for bad in [
            "",
            "# only a comment\n",
            "expect: error at line x: y\n",
            "expect: error at line 2:\n",
            "expect: reads some ops\n",
            "expect: cas-register fine\n",
            "expect: reads 1 op\nexpect: reads 1 op\n",
            "format: yaml\nexpect: reads 1 op\n",
            "colour: blue\nexpect: reads 1 op\n",
        ] {
            assert!(parse_expect(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            parse_expect(
                "# why\nformat: edn\nindependent: true\nexpect: kv refuses: no operation\n"
            ),
            Ok(Case {
                options: ReadOptions {
                    format: Some(Format::Edn),
                    independent: true
                },
                expect: Expect::Refused {
                    model: "kv".into(),
                    reason: "no operation".into()
                },
                models: Vec::new(),
                inferences: Vec::new(),
            })
        );
        assert_eq!(
            parse_expect(
                "consistency-models: serializable\nexpect: elle list-append invalid G0, G1a\n"
            )
            .map(|c| (c.expect, c.models)),
            Ok((
                Expect::Elle {
                    workload: "list-append".into(),
                    outcome: ElleOutcome::Verdict {
                        valid: Validity::Invalid,
                        kinds: vec!["G0".into(), "G1a".into()]
                    }
                },
                vec!["serializable".to_string()]
            ))
        );
        assert!(parse_expect("expect: elle list-append fine\n").is_err());
    }

    #[test]
    fn a_wrong_elle_anomaly_kind_fails() {
        let aborted = "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n\
                       {\"process\":0,\"type\":\"fail\",\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n\
                       {\"process\":1,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n\
                       {\"process\":1,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",1,[1]]]}\n";
        let (_, failures) = run_one("elle", aborted, "expect: elle list-append invalid G1a\n");
        assert!(failures.is_empty(), "{failures:?}");
        let (_, failures) = run_one("elle2", aborted, "expect: elle list-append invalid G1b\n");
        assert!(
            failures.len() == 1 && failures[0].contains("got INVALID"),
            "{failures:?}"
        );
    }
}
