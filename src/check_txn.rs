//! `faultline check --workload list-append|rw-register`: check transactional histories for
//! isolation anomalies with the Elle-style checker, print verdicts and explanations, and exit
//! like `faultline check`: 0 valid, 1 invalid, 2 unknown, 64 usage, 65 unreadable input.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use faultline_checkers::elle::{self, models, ElleDetail, ElleError, ElleOptions, Workload};
use faultline_checkers::history::{Format, ReadOptions};
use faultline_checkers::{Validity, Verdict};
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::{CheckArgs, FormatArg};
use crate::exit;

/// How many anomalies of each kind the text output explains (the rest are counted).
const SHOWN_PER_KIND: usize = 2;

/// What became of one file.
#[derive(Serialize)]
struct FileVerdict {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    ms: f64,
}

fn options(args: &CheckArgs) -> Result<(ElleOptions, ReadOptions), String> {
    let name = args.workload.as_deref().unwrap_or_default();
    let workload = Workload::parse(name).ok_or_else(|| {
        format!(
            "unknown workload `{name}`; --workload takes list-append, rw-register, {}",
            crate::check_workload::WORKLOADS.join(", ")
        )
    })?;
    let mut o = ElleOptions::new(workload);
    if !args.consistency_models.is_empty() {
        for m in &args.consistency_models {
            if models::canonical(m).is_none() {
                return Err(format!(
                    "unknown consistency model `{m}`; known models: {}",
                    models::known_models().join(", ")
                ));
            }
        }
        o.consistency_models = args.consistency_models.clone();
    }
    if workload == Workload::ListAppend
        && (args.wfr_keys || args.sequential_keys || args.linearizable_keys)
    {
        return Err(
            "--wfr-keys, --sequential-keys and --linearizable-keys are for rw-register: \
                    list-append reads show the version order"
                .into(),
        );
    }
    o.inference.wfr_keys = args.wfr_keys;
    o.inference.sequential_keys = args.sequential_keys;
    o.inference.linearizable_keys = args.linearizable_keys;
    if let Some(t) = args.time_limit {
        if !(t > 0.0 && t.is_finite()) {
            return Err(format!(
                "--time-limit must be a positive number of seconds, not {t}"
            ));
        }
        o.time_limit = Some(Duration::from_secs_f64(t));
    }
    o.memory_limit = Some(args.memory_limit.saturating_mul(1 << 20));
    let read = ReadOptions {
        format: match args.format {
            FormatArg::Auto => None,
            FormatArg::Jsonl => Some(Format::Jsonl),
            FormatArg::Edn => Some(Format::Edn),
            FormatArg::JepsenLog => Some(Format::JepsenLog),
        },
        independent: args.independent,
    };
    Ok((o, read))
}

/// Runs `faultline check --workload ...`; returns the exit code.
pub fn run(args: &CheckArgs) -> i32 {
    let (options, read) = match options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("faultline check: {e}");
            return exit::USAGE;
        }
    };
    let started = Instant::now();
    let results: Vec<FileVerdict> = args
        .files
        .par_iter()
        .map(|path| check_one(path, &read, &options))
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        results.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
            writeln!(out)
        })
    } else {
        print_text(&mut out, &results, started.elapsed())
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("faultline check: cannot write the results: {e}");
            return exit::INTERNAL;
        }
    }
    if let Some(dir) = &args.html {
        if let Err(e) = write_pages(dir, &results) {
            eprintln!("faultline check: {e}");
            return exit::CANT_CREATE;
        }
    }
    if results.iter().any(|r| r.error.is_some()) {
        return exit::BAD_INPUT;
    }
    match results
        .iter()
        .filter_map(|r| r.verdict.as_ref())
        .map(|v| v.valid)
        .max()
        .unwrap_or(Validity::Valid)
    {
        Validity::Valid => exit::VALID,
        Validity::Invalid => exit::INVALID,
        Validity::Unknown => exit::UNKNOWN,
    }
}

/// `--html DIR`: a page per checked history, named after its file; prints each page's path.
fn write_pages(dir: &Path, results: &[FileVerdict]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for r in results {
        let Some(v) = &r.verdict else { continue };
        let detail = serde_json::from_value::<ElleDetail>(v.detail.clone()).unwrap_or_default();
        let name = Path::new(&r.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "history".into());
        let path = dir.join(format!("{name}.html"));
        let html = crate::report::elle_page::render(v, &detail, "");
        std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("{}", path.display());
    }
    Ok(())
}

fn check_one(path: &Path, read: &ReadOptions, options: &ElleOptions) -> FileVerdict {
    let t0 = Instant::now();
    let (verdict, error) = match elle::check_file(path, read, options) {
        Ok(v) => (Some(v), None),
        Err(e @ (ElleError::Read(_) | ElleError::Malformed { .. })) => (None, Some(e.to_string())),
        Err(e) => (None, Some(format!("{}: {e}", path.display()))),
    };
    FileVerdict {
        file: path.display().to_string(),
        verdict,
        error,
        ms: (t0.elapsed().as_secs_f64() * 1e6).round() / 1e3,
    }
}

fn print_text(
    out: &mut impl Write,
    results: &[FileVerdict],
    elapsed: Duration,
) -> std::io::Result<()> {
    for r in results {
        match (&r.verdict, &r.error) {
            (_, Some(e)) => writeln!(out, "{}  ERROR  {e}", r.file)?,
            (Some(v), None) => writeln!(
                out,
                "{}  {}  ({} transactions, {:.1} ms)  {}",
                r.file,
                v.valid,
                v.counts.get("transactions").copied().unwrap_or(0),
                r.ms,
                v.summary
            )?,
            (None, None) => {}
        }
    }
    for (r, v) in results
        .iter()
        .filter_map(|r| r.verdict.as_ref().map(|v| (r, v)))
        .filter(|(_, v)| v.valid != Validity::Valid)
    {
        writeln!(out)?;
        explain(out, &r.file, v)?;
    }
    let count = |want: Validity| {
        results
            .iter()
            .filter(|r| r.verdict.as_ref().is_some_and(|v| v.valid == want))
            .count()
    };
    writeln!(
        out,
        "\n{} file{}: {} valid, {} invalid, {} unknown, {} unreadable, in {:.3} s",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        count(Validity::Valid),
        count(Validity::Invalid),
        count(Validity::Unknown),
        results.iter().filter(|r| r.error.is_some()).count(),
        elapsed.as_secs_f64()
    )
}

/// The anomalies of one file, in words: a few of each kind, then the models ruled out.
fn explain(out: &mut impl Write, file: &str, v: &Verdict) -> std::io::Result<()> {
    for reason in &v.unknown_because {
        writeln!(out, "{file}: unknown: {reason}")?;
    }
    for kind in v.anomaly_kinds() {
        let of_kind: Vec<_> = v.anomalies.iter().filter(|a| a.kind == kind).collect();
        let total = v.counts.get(kind).copied().unwrap_or(of_kind.len() as u64);
        writeln!(out, "{file}: {kind} ({total} found)")?;
        for a in of_kind.iter().take(SHOWN_PER_KIND) {
            for line in &a.explanation {
                writeln!(out, "    {line}")?;
            }
            writeln!(out)?;
        }
        if total as usize > SHOWN_PER_KIND {
            writeln!(out, "    ... and {} more", total as usize - SHOWN_PER_KIND)?;
        }
    }
    if let Ok(d) = serde_json::from_value::<ElleDetail>(v.detail.clone()) {
        if !d.not.is_empty() {
            writeln!(out, "{file}: not {}", d.not.join(", "))?;
            if !d.also_not.is_empty() {
                writeln!(out, "{file}: also not {}", d.also_not.join(", "))?;
            }
        }
    }
    Ok(())
}
