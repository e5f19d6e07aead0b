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
    if let Some(runs) = args.store_index {
        return store_index(runs, args.keep_store.as_deref());
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

/// `--store-index N`: a store of N made-up runs (see [`crate::store::synthetic`]); times
/// writing its index and reports the size of the first page and of all pages. With
/// `--keep-store DIR` the store is made there and kept (for timing a browser on it).
fn store_index(runs: usize, keep: Option<&std::path::Path>) -> i32 {
    let temp;
    let store = match keep {
        Some(dir) => dir.to_owned(),
        None => match tempfile_in_tmp() {
            Ok(dir) => {
                temp = dir;
                temp.0.clone()
            }
            Err(e) => {
                eprintln!("faultline bench: {e}");
                return exit::INTERNAL;
            }
        },
    };
    let started = Instant::now();
    let now = std::time::SystemTime::now();
    if let Err(e) =
        crate::store::synthetic::fill(&store, runs, now, std::time::Duration::from_secs(600))
    {
        eprintln!("faultline bench: {e:#}");
        return exit::INTERNAL;
    }
    println!(
        "{runs} runs written in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    if let Err(e) = crate::report::write_store_index(&store) {
        eprintln!("faultline bench: {e}");
        return exit::INTERNAL;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut pages = 0;
    let mut bytes = 0;
    if let Ok(entries) = std::fs::read_dir(&store) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("index") && name.ends_with(".html") {
                pages += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    let first = std::fs::metadata(store.join(crate::store::INDEX)).map_or(0, |m| m.len());
    println!(
        "store index of {runs} runs: written in {seconds:.2} s; {pages} pages, {:.0} KiB in all; first page {:.1} KiB",
        bytes as f64 / 1024.0,
        first as f64 / 1024.0
    );
    println!("store: {}", store.display());
    exit::VALID
}

/// A directory under the system's temp dir, removed when dropped.
struct TempStore(std::path::PathBuf);

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_in_tmp() -> std::io::Result<TempStore> {
    let dir = std::env::temp_dir().join(format!("faultline-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(TempStore(dir))
}
