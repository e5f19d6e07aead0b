//! `faultline check`: read history files, check them concurrently, print verdicts and witnesses.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use faultline_checkers::history::{edn, Format, History, LineMap, ReadOptions, Value};
use faultline_checkers::linear::{
    self, Analysis, CheckError, CheckOptions, FileCheckError, PartReport, Validity,
};
use faultline_checkers::model::{ModelConfig, NilRead, MODEL_NAMES};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::{CheckArgs, FormatArg, NilReadArg};
use crate::exit;

/// What became of one file.
#[derive(Serialize)]
pub struct FileResult {
    pub file: String,
    pub valid: Validity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    pub model: String,
    /// Events in the history, and calls checked.
    pub ops: usize,
    pub calls: usize,
    pub parts: usize,
    pub read_ms: f64,
    pub check_ms: f64,
    /// Search effort: steps taken and configurations memoised, over all parts.
    pub steps: u64,
    pub configurations: usize,
    /// Parts that are not valid, with their witnesses.
    pub failures: Vec<PartReport>,
    #[serde(skip)]
    pub analysis: Option<Analysis>,
    #[serde(skip)]
    pub history: Option<History>,
    /// Where the history's events are in the file, when it was checked as it was read.
    #[serde(skip)]
    pub lines: Option<LineMap>,
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Jsonl => "jsonl",
        Format::Edn => "edn",
        Format::JepsenLog => "jepsen-log",
    }
}

/// The settings of a check that are the same for every file.
pub struct Settings {
    pub model: String,
    pub initial: Value,
    pub read: ReadOptions,
    pub nil_read: Option<NilRead>,
    pub options: CheckOptions,
}

impl Settings {
    pub fn from_args(args: &CheckArgs) -> Result<Settings, String> {
        if !MODEL_NAMES.contains(&args.model.as_str()) {
            return Err(format!(
                "unknown model `{}`; known models: {}",
                args.model,
                MODEL_NAMES.join(", ")
            ));
        }
        let initial = match &args.initial {
            None => Value::Nil,
            Some(text) => {
                edn::parse_value(text).map_err(|e| format!("--initial {text:?}: {}", e.message))?
            }
        };
        if let Some(t) = args.time_limit {
            if !(t > 0.0 && t.is_finite()) {
                return Err(format!(
                    "--time-limit must be a positive number of seconds, not {t}"
                ));
            }
        }
        Ok(Settings {
            model: args.model.clone(),
            initial,
            read: ReadOptions {
                format: match args.format {
                    FormatArg::Auto => None,
                    FormatArg::Jsonl => Some(Format::Jsonl),
                    FormatArg::Edn => Some(Format::Edn),
                    FormatArg::JepsenLog => Some(Format::JepsenLog),
                },
                independent: args.independent,
            },
            nil_read: args.nil_read.map(|n| match n {
                NilReadArg::Any => NilRead::Any,
                NilReadArg::Absent => NilRead::Absent,
            }),
            options: CheckOptions {
                partition: !args.no_partition,
                time_limit: args.time_limit.map(Duration::from_secs_f64),
                memory_limit: args.memory_limit.saturating_mul(1 << 20),
                all_keys: args.all_keys,
            },
        })
    }
}

/// Reads and checks one file. Never panics on bad input: errors become the result's `error`.
pub fn check_file(
    path: &Path,
    settings: &Settings,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> FileResult {
    let mut result = FileResult {
        file: path.display().to_string(),
        valid: Validity::Unknown,
        error: None,
        format: None,
        model: settings.model.clone(),
        ops: 0,
        calls: 0,
        parts: 0,
        read_ms: 0.0,
        check_ms: 0.0,
        steps: 0,
        configurations: 0,
        failures: Vec::new(),
        analysis: None,
        history: None,
        lines: None,
    };
    // Checked as it is read: the history is never held whole (tens of millions of events fit).
    let t0 = Instant::now();
    let config = |format: Format| ModelConfig {
        initial: settings.initial.clone(),
        nil_read: settings.nil_read.unwrap_or(if format.is_jepsen() {
            NilRead::Any
        } else {
            NilRead::Absent
        }),
    };
    match linear::check_file(
        path,
        &settings.read,
        &settings.model,
        config,
        &settings.options,
        progress,
    ) {
        Ok(checked) => {
            let analysis = checked.analysis;
            result.read_ms = ms(checked.reading);
            result.check_ms = ms(t0.elapsed().saturating_sub(checked.reading));
            result.format = Some(format_name(checked.format));
            result.ops = checked.events;
            result.valid = analysis.valid;
            result.calls = analysis.calls;
            result.parts = analysis.parts.len();
            result.steps = analysis.parts.iter().map(|p| p.steps).sum();
            result.configurations = analysis.parts.iter().map(|p| p.memo_entries).sum();
            result.failures = analysis.failures().cloned().collect();
            result.analysis = Some(analysis);
            result.lines = Some(checked.lines);
        }
        Err(FileCheckError::Check(CheckError::Prepare(e))) => {
            result.error = Some(format!("{}: {e}", path.display()));
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `faultline check`; returns the exit code.
pub fn run(args: &CheckArgs) -> i32 {
    if let Some(w) = args.workload.as_deref() {
        if crate::check_workload::WORKLOADS.contains(&w) {
            if args.html.is_some() {
                eprintln!("faultline check: --html draws transactional anomalies (list-append, rw-register)");
                return exit::USAGE;
            }
            return crate::check_workload::run(args, w);
        }
        return crate::check_txn::run(args);
    }
    if args.html.is_some() {
        eprintln!(
            "faultline check: --html draws transactional anomalies and needs --workload \
             list-append or rw-register (a register history's anomaly pages come with \
             `faultline test` runs and `faultline report`)"
        );
        return exit::USAGE;
    }
    let settings = match Settings::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faultline check: {e}");
            return exit::USAGE;
        }
    };
    let started = Instant::now();
    let bar = progress_bar(args.files.len());
    // One file: the bar counts its keys (parts) as they are settled.
    let parts_done = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let part_progress: Option<&(dyn Fn(usize, usize) + Sync)> = if args.files.len() == 1 {
        Some(&parts_done)
    } else {
        None
    };
    let results: Vec<FileResult> = args
        .files
        .par_iter()
        .map(|path| {
            let r = check_file(path, &settings, part_progress);
            if args.files.len() > 1 {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }
            r
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        print_json(&mut out, &results)
    } else {
        print_text(&mut out, &results, started.elapsed())
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("faultline check: cannot write the results: {e}");
            return exit::INTERNAL;
        }
    }
    exit_code(&results)
}

/// 65 when any file could not be read or checked, else the worst verdict.
pub fn exit_code(results: &[FileResult]) -> i32 {
    if results.iter().any(|r| r.error.is_some()) {
        return exit::BAD_INPUT;
    }
    match results
        .iter()
        .map(|r| r.valid)
        .max()
        .unwrap_or(Validity::Valid)
    {
        Validity::Valid => exit::VALID,
        Validity::Invalid => exit::INVALID,
        Validity::Unknown => exit::UNKNOWN,
    }
}

fn progress_bar(files: usize) -> Option<ProgressBar> {
    if files < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(files as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} checking {pos}/{len} files [{elapsed}] {wide_bar}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn print_json(out: &mut impl Write, results: &[FileResult]) -> std::io::Result<()> {
    for r in results {
        serde_json::to_writer(&mut *out, r).map_err(std::io::Error::other)?;
        writeln!(out)?;
    }
    Ok(())
}

fn print_text(
    out: &mut impl Write,
    results: &[FileResult],
    elapsed: Duration,
) -> std::io::Result<()> {
    for r in results {
        match &r.error {
            Some(e) => writeln!(out, "{}  ERROR  {e}", r.file)?,
            None => writeln!(
                out,
                "{}  {}  ({} ops, {} calls, {} part{}, {:.1} ms)",
                r.file,
                r.valid,
                r.ops,
                r.calls,
                r.parts,
                if r.parts == 1 { "" } else { "s" },
                r.read_ms + r.check_ms
            )?,
        }
    }
    for r in results.iter().filter(|r| !r.failures.is_empty()) {
        writeln!(out)?;
        crate::check::explain(out, r)?;
    }
    let count = |v: Validity| {
        results
            .iter()
            .filter(|r| r.error.is_none() && r.valid == v)
            .count()
    };
    let errors = results.iter().filter(|r| r.error.is_some()).count();
    writeln!(
        out,
        "\n{} file{}: {} valid, {} invalid, {} unknown, {} unreadable, in {:.3} s",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        count(Validity::Valid),
        count(Validity::Invalid),
        count(Validity::Unknown),
        errors,
        elapsed.as_secs_f64()
    )
}

/// How many linearized operations and concurrent operations a text witness lists.
const SHOWN: usize = 8;

/// The witnesses of one file, in words.
pub fn explain(out: &mut impl Write, r: &FileResult) -> std::io::Result<()> {
    let name = |i: usize| match (&r.lines, &r.history) {
        (Some(lines), _) => format!("line {}", lines.line(i)),
        (_, Some(h)) if !h.lines.is_empty() => format!("line {}", h.line(i)),
        _ => format!("index {i}"),
    };
    let cancelled =
        |p: &&PartReport| p.witness.is_none() && p.cause.as_deref() == Some(linear::CANCELLED);
    let skipped = r.failures.iter().filter(cancelled).count();
    // Invalid keys first, with their witnesses; keys cut short by them in one line at the end.
    let mut shown: Vec<&PartReport> = r.failures.iter().filter(|p| !cancelled(p)).collect();
    shown.sort_by_key(|p| std::cmp::Reverse(p.valid));
    for part in shown {
        let key = part
            .key
            .as_ref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        match &part.witness {
            None => writeln!(
                out,
                "{}{key}: {} ({})",
                r.file,
                part.valid,
                part.cause.as_deref().unwrap_or("no witness")
            )?,
            Some(w) => {
                writeln!(out, "{}{key}: not linearizable", r.file)?;
                writeln!(
                    out,
                    "  process {} {} (invoked at {}, ok at {}) cannot be linearized.",
                    w.op.process,
                    w.op.op,
                    name(w.op.index),
                    w.op.completion.map(name).unwrap_or_else(|| "-".into())
                )?;
                writeln!(
                    out,
                    "  Everything before {} linearizes ({} operations were linearized on the way{}).",
                    name(w.linearizable_until),
                    w.linearized.len(),
                    if w.linearized.is_empty() { "" } else { "; the last ones follow" }
                )?;
                for op in w.linearized.iter().rev().take(SHOWN).rev() {
                    writeln!(
                        out,
                        "    process {} {} ({})",
                        op.process,
                        op.op,
                        name(op.index)
                    )?;
                }
                writeln!(out, "  Pending at that point:")?;
                for op in w.concurrent.iter().take(SHOWN) {
                    let how = if op.completion.is_some() {
                        ""
                    } else {
                        ", outcome unknown"
                    };
                    writeln!(
                        out,
                        "    process {} {} ({}{how})",
                        op.process,
                        op.op,
                        name(op.index)
                    )?;
                }
                if w.concurrent.len() > SHOWN {
                    writeln!(out, "    ... and {} more", w.concurrent.len() - SHOWN)?;
                }
                writeln!(out, "  Model states reached: {}", w.states.join("; "))?;
                writeln!(out, "  Why no order works:")?;
                for e in w.explanations.iter().take(2 * SHOWN) {
                    writeln!(out, "    {e}")?;
                }
            }
        }
    }
    if skipped > 0 {
        writeln!(
            out,
            "{}: {skipped} other key{} not checked to the end once a key was invalid (--all-keys checks them all)",
            r.file,
            if skipped == 1 { " was" } else { "s were" }
        )?;
    }
    Ok(())
}
