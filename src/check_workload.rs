//! `faultline check --workload set|counter|unique-ids|bank`: judge a history of one of these
//! workloads, recorded by faultline or by Jepsen (`history.edn`: `:add`, `:read`, `:generate`,
//! `:transfer`), with the workload's checker, and exit like `faultline check`: 0 valid,
//! 1 invalid, 2 unknown, 65 unreadable.
//!
//! A history from elsewhere carries no test options, so the checkers assume what Jepsen's tests
//! do: a set and a counter start empty, and a bank's accounts and total are those of its first
//! read.

use std::io::Write;
use std::path::Path;

use faultline_checkers::history::{read_history, Format, ReadOptions};
use faultline_checkers::{bank, counter, set, unique_ids, Validity, Verdict};

use crate::cli::{CheckArgs, FormatArg};
use crate::exit;

/// The workloads this command judges (the transactional ones are in `check_txn`, registers
/// under `--model`).
pub const WORKLOADS: &[&str] = &["set", "counter", "unique-ids", "bank"];

/// Anomalies explained per file in the text output (the rest are counted).
const SHOWN: usize = 5;

fn judge(workload: &str, path: &Path, read: &ReadOptions) -> Result<Verdict, String> {
    let history = read_history(path, read).map_err(|e| e.to_string())?.history;
    Ok(match workload {
        "set" => {
            let options = set::SetOptions::default();
            set::check(&history, &options).to_verdict(&options)
        }
        "counter" => counter::check(&history, 0).to_verdict(),
        "unique-ids" => unique_ids::check(&history).to_verdict(),
        _ => bank::check(&history, &bank::BankOptions::default()).to_verdict(),
    })
}

/// Runs the command; returns the exit code.
pub fn run(args: &CheckArgs, workload: &str) -> i32 {
    let read = ReadOptions {
        format: match args.format {
            FormatArg::Auto => None,
            FormatArg::Jsonl => Some(Format::Jsonl),
            FormatArg::Edn => Some(Format::Edn),
            FormatArg::JepsenLog => Some(Format::JepsenLog),
        },
        independent: args.independent,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut worst = Validity::Valid;
    let mut unreadable = false;
    for path in &args.files {
        let line = match judge(workload, path, &read) {
            Ok(v) => {
                worst = worst.max(v.valid);
                if args.json {
                    serde_json::json!({"file": path.display().to_string(), "verdict": v})
                        .to_string()
                } else {
                    describe(&path.display().to_string(), &v)
                }
            }
            Err(e) => {
                unreadable = true;
                if args.json {
                    serde_json::json!({"file": path.display().to_string(), "error": e}).to_string()
                } else {
                    format!("{}  ERROR  {e}", path.display())
                }
            }
        };
        if let Err(e) = writeln!(out, "{line}") {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("faultline check: cannot write the results: {e}");
                return exit::INTERNAL;
            }
        }
    }
    if unreadable {
        return exit::BAD_INPUT;
    }
    match worst {
        Validity::Valid => exit::VALID,
        Validity::Invalid => exit::INVALID,
        Validity::Unknown => exit::UNKNOWN,
    }
}

/// A file's verdict and its first anomalies, in words.
fn describe(file: &str, v: &Verdict) -> String {
    let mut text = format!("{file}  {}  {}", v.valid, v.summary);
    for reason in &v.unknown_because {
        text.push_str(&format!("\n    unknown: {reason}"));
    }
    for a in v.anomalies.iter().take(SHOWN) {
        text.push_str(&format!("\n    {}: {}", a.kind, a.explanation.join(" ")));
    }
    if v.anomalies.len() > SHOWN {
        text.push_str(&format!("\n    ... and {} more", v.anomalies.len() - SHOWN));
    }
    text
}
