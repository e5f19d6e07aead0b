//! `faultline bench`: time the checker over a corpus with known verdicts.
//!
//! Reads `expected.csv` (file,model,expected), checks every file `--rounds` times, prints each
//! file's best read+check time and whether the verdict matches, then totals and the process's
//! peak memory. Run as a whole process (`make bench` wraps it in /usr/bin/time) it is the figure
//! compared with Porcupine's.

use std::path::PathBuf;
use std::time::Instant;

use faultline_checkers::history::ReadOptions;
use faultline_checkers::linear::{CheckOptions, Validity};

use crate::check::{check_file, Settings};
use crate::cli::BenchArgs;
use crate::exit;

struct Entry {
    file: PathBuf,
    model: String,
    expected: Validity,
}

fn read_manifest(args: &BenchArgs) -> Result<Vec<Entry>, String> {
    let path = args.corpus.join("expected.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [file, model, expected] = fields[..] else {
            return Err(format!(
                "{}:{}: expected file,model,expected",
                path.display(),
                i + 1
            ));
        };
        let expected = match expected {
            "true" => Validity::Valid,
            "false" => Validity::Invalid,
            other => {
                return Err(format!(
                    "{}:{}: expected true or false, found {other}",
                    path.display(),
                    i + 1
                ))
            }
        };
        if args.only.as_deref().is_some_and(|o| !file.contains(o)) {
            continue;
        }
        entries.push(Entry {
            file: args.corpus.join(file),
            model: model.to_string(),
            expected,
        });
    }
    Ok(entries)
}

/// The peak resident memory of this process, from /proc (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(args: &BenchArgs) -> i32 {
    if let Some(seconds) = args.harness {
        return harness(args.concurrency, seconds);
    }
    let entries = match read_manifest(args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("faultline bench: {e}");
            return exit::BAD_INPUT;
        }
    };
    let started = Instant::now();
    let mut total_best = 0.0;
    let mut mismatches = 0;
    println!(
        "{:<28} {:>6} {:>8} {:>10}  verdict",
        "file", "ops", "calls", "best ms"
    );
    for entry in &entries {
        let settings = Settings {
            model: entry.model.clone(),
            initial: Default::default(),
            read: ReadOptions::default(),
            nil_read: None,
            options: CheckOptions {
                partition: !args.no_partition,
                ..CheckOptions::default()
            },
        };
        let mut best = f64::INFINITY;
        let mut last = None;
        for _ in 0..args.rounds.max(1) {
            let r = check_file(&entry.file, &settings, None);
            best = best.min(r.read_ms + r.check_ms);
            last = Some(r);
        }
        let Some(r) = last else { continue };
        total_best += best;
        let ok = r.error.is_none() && r.valid == entry.expected;
        if !ok {
            mismatches += 1;
        }
        let name = entry.file.strip_prefix(&args.corpus).unwrap_or(&entry.file);
        println!(
            "{:<28} {:>6} {:>8} {:>10.3}  {}{}",
            name.display(),
            r.ops,
            r.calls,
            best,
            r.valid,
            if ok {
                String::new()
            } else {
                format!("  MISMATCH (expected {})", entry.expected)
            }
        );
    }
    println!(
        "\n{} files, sum of best times {:.1} ms, wall {:.1} ms over {} rounds, peak memory {:.1} MiB, {} mismatches",
        entries.len(),
        total_best,
        started.elapsed().as_secs_f64() * 1e3,
        args.rounds.max(1),
        peak_rss_mib().unwrap_or(f64::NAN),
        mismatches
    );
    if mismatches > 0 {
        exit::INVALID
    } else {
        exit::VALID
    }
}

fn harness(concurrency: u64, seconds: f64) -> i32 {
    match crate::run::overhead::measure(concurrency.max(1), seconds.max(0.1)) {
        Ok(o) => {
            let per_second = o.ops as f64 / o.seconds;
            println!(
                "harness with an in-process no-op client: {} workers, {} operations in {:.2} s = {:.0} ops/s, \
                 {:.2} us of harness per operation per worker, {:.1} MB of history, peak memory {:.1} MiB",
                concurrency,
                o.ops,
                o.seconds,
                per_second,
                1e6 * concurrency as f64 / per_second,
                o.history_bytes as f64 / 1e6,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
            exit::VALID
        }
        Err(e) => {
            eprintln!("faultline bench --harness: {e:#}");
            exit::INTERNAL
        }
    }
}
