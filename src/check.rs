//! `faultline check`: read history files, check them concurrently, print verdicts and witnesses.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_checkers::history::{edn, Format, History, LineMap, ReadOptions, Value};
use faultline_checkers::linear::{
    self, Analysis, CheckError, CheckOptions, FileCheckError, PartReport, Status, StatusReport,
    Validity,
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
                polynomial: !args.no_polynomial,
                ..CheckOptions::default()
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
    check_file_telling(path, settings, progress, None)
}

/// [`check_file`], telling `status` what it is doing as it goes.
fn check_file_telling(
    path: &Path,
    settings: &Settings,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
    status: Option<Arc<Status>>,
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
    let options = CheckOptions {
        status,
        ..settings.options.clone()
    };
    match linear::check_file(
        path,
        &settings.read,
        &settings.model,
        config,
        &options,
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
            result.error = Some(format!(
                "{}: {e}{}",
                path.display(),
                several_workloads(path)
            ));
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result
}

/// When `path` is the history of several workloads at once, why it does not check as one and
/// what to check instead; otherwise nothing.
fn several_workloads(path: &Path) -> String {
    let names = faultline_workloads::composed::workloads_in(path, 10_000);
    if names.len() < 2 {
        return String::new();
    }
    let parts: Vec<String> = names
        .iter()
        .map(|n| {
            faultline_workloads::composed::part_path(path, n)
                .display()
                .to_string()
        })
        .collect();
    format!(
        " (this history holds several workloads, {}: check each one's part, which the run wrote \
         next to it: {})",
        names.join(", "),
        parts.join(", ")
    )
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
    let terminal = std::io::stderr().is_terminal();
    let bar = progress_bar(args.files.len(), terminal);
    let statuses: Vec<Arc<Status>> = args.files.iter().map(|_| Arc::default()).collect();
    let finished: Vec<AtomicBool> = args.files.iter().map(|_| AtomicBool::new(false)).collect();
    let all_finished = AtomicBool::new(false);
    let results: Vec<FileResult> = std::thread::scope(|scope| {
        if terminal {
            let watch = Watch {
                files: &args.files,
                statuses: &statuses,
                finished: &finished,
                all_finished: &all_finished,
                time_limit: args.time_limit,
                bar: bar.as_ref(),
            };
            scope.spawn(move || watch.run(started));
        }
        let results = args
            .files
            .par_iter()
            .zip(statuses.par_iter().zip(finished.par_iter()))
            .map(|(path, (status, finished))| {
                let r = check_file_telling(path, &settings, None, Some(status.clone()));
                finished.store(true, Ordering::Relaxed);
                if let Some(b) = &bar {
                    b.inc(1);
                }
                r
            })
            .collect();
        all_finished.store(true, Ordering::Relaxed);
        results
    });
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

/// After this long, a check still running on a terminal says what it is working on.
const QUIET: Duration = Duration::from_secs(3);

/// Shows, on a terminal, what a check that has run more than [`QUIET`] is working on: the file,
/// how far it has read, how many keys are settled, and which keys the search is on, how far in.
struct Watch<'a> {
    files: &'a [std::path::PathBuf],
    statuses: &'a [Arc<Status>],
    finished: &'a [AtomicBool],
    all_finished: &'a AtomicBool,
    time_limit: Option<f64>,
    /// The files bar, when there are several files; else a spinner of our own.
    bar: Option<&'a ProgressBar>,
}

impl Watch<'_> {
    fn run(self, started: Instant) {
        let mut own = None;
        while !self.all_finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if started.elapsed() < QUIET {
                continue;
            }
            let bar = match self.bar {
                Some(b) => b,
                None => own.get_or_insert_with(|| spinner(started.elapsed())),
            };
            bar.set_message(self.what());
        }
        if let Some(b) = own {
            b.finish_and_clear();
        }
    }

    /// What the first unfinished file is doing, in words.
    fn what(&self) -> String {
        let unfinished: Vec<usize> = (0..self.files.len())
            .filter(|&i| !self.finished[i].load(Ordering::Relaxed))
            .collect();
        let Some(&i) = unfinished.first() else {
            return String::new();
        };
        let mut line = format!(
            "{} ({})",
            doing(&self.statuses[i].report()),
            self.files[i].display()
        );
        if unfinished.len() > 1 {
            line.push_str(&format!(" (and {} more files)", unfinished.len() - 1));
        }
        if self.time_limit.is_none() {
            line.push_str("; no --time-limit, so it runs until it has an answer");
        }
        line
    }
}

/// A status in a few words, the most telling first (a narrow terminal cuts the end).
fn doing(s: &StatusReport) -> String {
    if !s.read {
        return format!("reading, {} events so far", s.events_read);
    }
    let settled = format!("{} of {} key(s) settled", s.parts_done, s.parts);
    let shown: Vec<String> = s
        .searching
        .iter()
        .take(2)
        .map(|(k, _)| {
            if k.is_empty() {
                "the history".into()
            } else {
                format!("key {k}")
            }
        })
        .collect();
    if shown.is_empty() {
        return settled;
    }
    let more = match s.searching.len() {
        n if n > 2 => format!(" and {} more", n - 2),
        _ => String::new(),
    };
    format!(
        "searching {}{more} ({:.1} M steps, {} MiB of memo); {settled}",
        shown.join(", "),
        s.steps as f64 / 1e6,
        s.memo_bytes >> 20
    )
}

/// A spinner whose clock starts `elapsed` ago, when the check began.
fn spinner(elapsed: Duration) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_elapsed(elapsed);
    if let Ok(style) = ProgressStyle::with_template("{spinner} checking [{elapsed}] {wide_msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
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

fn progress_bar(files: usize, terminal: bool) -> Option<ProgressBar> {
    if files < 2 || !terminal {
        return None;
    }
    let bar = ProgressBar::new(files as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} checking {pos}/{len} files [{elapsed}] {wide_msg}")
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

/// The polynomial path's argument: the clusters, then the real-time facts, named by line.
fn contradiction(
    out: &mut impl Write,
    c: &linear::Contradiction,
    name: &dyn Fn(usize) -> String,
) -> std::io::Result<()> {
    writeln!(out, "    {}.", upper_first(&c.summary))?;
    for k in &c.clusters {
        let names: Vec<String> = k.ops.iter().map(|o| name(o.index)).collect();
        let lines = match names
            .iter()
            .map(|n| n.strip_prefix("line "))
            .collect::<Option<Vec<&str>>>()
        {
            Some(numbers) if numbers.len() > 1 => vec![format!("lines {}", numbers.join(", "))],
            _ => names,
        };
        let more = if k.calls > k.ops.len() {
            format!(", ... {} calls in all", k.calls)
        } else {
            String::new()
        };
        writeln!(
            out,
            "    Cluster {}: {} ({}{more})",
            k.name,
            k.description,
            lines.join(", ")
        )?;
    }
    for e in &c.edges {
        let invoked = format!(
            "process {} {} was invoked ({})",
            e.invoked.process,
            e.invoked.op,
            name(e.invoked.index)
        );
        match &e.completed {
            Some(done) => writeln!(
                out,
                "    process {} {} completed ({}) before {invoked}: {}",
                done.process,
                done.op,
                done.completion.map(name).unwrap_or_else(|| "-".into()),
                e.forces
            )?,
            None => writeln!(
                out,
                "    the initial value held before {invoked}: {}",
                e.forces
            )?,
        }
    }
    Ok(())
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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
                match &w.contradiction {
                    Some(c) => {
                        // The model's word on the failing call, then the argument with lines.
                        for e in w.explanations.iter().filter(|e| e.starts_with("from ")) {
                            writeln!(out, "    {e}")?;
                        }
                        contradiction(out, c, &name)?;
                    }
                    None => {
                        for e in w.explanations.iter().take(2 * SHOWN) {
                            writeln!(out, "    {e}")?;
                        }
                    }
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
