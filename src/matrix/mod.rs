//! `faultline test-all`: a test matrix, as a nightly job runs it. Every datastore x workload x
//! nemesis of the plan, N runs each, one after the other; then one JUnit file for the whole
//! matrix, the matrix's page in the store (rows db/workload, columns nemesis, each cell
//! coloured by its worst outcome and linked to its runs), and each cell compared with the same
//! cell of the matrix before, so that a regression stands out. The exit code is the worst of
//! the runs'.
//!
//! Each run is a `faultline test` process of its own (this binary, the cell's options and a
//! seed derived from the matrix's): a run that crashes, or must exit at once on a second
//! Ctrl-C, cannot take the matrix down with it, and every run heals its faults and stores its
//! history exactly as a lone `faultline test` does. A first Ctrl-C (or SIGTERM) reaches the
//! running test, which stops and heals; the matrix then runs no further cell and records what
//! it has, and its exit code is at least 2 (unknown): the cells not run showed nothing.

pub mod compare;
pub mod plan;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use faultline_workloads::generator::Rng;

use crate::cli::TestAllArgs;
use crate::exit;
use crate::store::matrix::{CellRecord, CellRun, MatrixDir, MatrixRecord, JUNIT};
use crate::store::{self, timestamp, RunDir};
use crate::web::junit::{self, RunSummary};
use plan::{Cell, MatrixPlan};

/// Set by SIGINT/SIGTERM: run no further cell.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Runs `faultline test-all`; returns the exit code.
pub fn run(args: &TestAllArgs) -> i32 {
    let plan = match MatrixPlan::new(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("faultline test-all: {e}");
            return exit::USAGE;
        }
    };
    let dir = match MatrixDir::create(&plan.store) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("faultline test-all: {e:#}");
            return exit::CANT_CREATE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("faultline test-all: cannot find the faultline binary: {e}");
            return exit::INTERNAL;
        }
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; a child
    // process gets the default handlers back when it executes.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let seed = plan.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let started = Instant::now();
    let mut record = MatrixRecord {
        stamp: dir.stamp.clone(),
        plan: plan.file.clone(),
        seed,
        dbs: plan.dbs.clone(),
        workloads: plan.workloads.clone(),
        nemeses: plan.nemeses.clone(),
        runs_per_cell: plan.runs,
        test_options: plan.test_options.clone(),
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    };
    let total = plan.cells.iter().filter(|c| c.skipped.is_none()).count() * plan.runs as usize;
    let mut done = 0;
    eprintln!(
        "faultline test-all: {} cell(s) x {} run(s), seed {seed}; matrix {}",
        plan.cells.iter().filter(|c| c.skipped.is_none()).count(),
        plan.runs,
        dir.path.display()
    );
    for (k, cell) in plan.cells.iter().enumerate() {
        let mut cell_record = CellRecord {
            db: cell.db.clone(),
            workload: cell.workload.clone(),
            nemesis: cell.nemesis.clone(),
            skipped: cell.skipped.clone(),
            ..Default::default()
        };
        if cell.skipped.is_none() {
            for r in 0..plan.runs {
                if INTERRUPTED.load(Ordering::SeqCst) {
                    record.interrupted = true;
                    break;
                }
                done += 1;
                let run_seed = Rng::new(seed)
                    .fork((k as u64) << 32 | u64::from(r))
                    .next_u64();
                eprintln!(
                    "\n== test-all [{done}/{total}] {}, run {} of {} (seed {run_seed})",
                    cell_record.name(),
                    r + 1,
                    plan.runs
                );
                let run = run_cell(&exe, cell, &plan.store, run_seed);
                record.exit_code = crate::run::worse(record.exit_code, run.exit_code);
                cell_record.runs.push(run);
                // Kept up to date as the matrix goes: a crash loses no finished run.
                let mut so_far = record.clone();
                so_far.cells.push(cell_record.clone());
                let _ = dir.write(&so_far);
            }
        }
        record.cells.push(cell_record);
        if INTERRUPTED.load(Ordering::SeqCst) {
            record.interrupted = true;
        }
    }
    record.seconds = started.elapsed().as_secs_f64();
    if record.interrupted {
        // Cells that never ran have shown nothing: the matrix cannot be called valid.
        record.exit_code = crate::run::worse(record.exit_code, exit::UNKNOWN);
    }
    compare::compare_with_previous(&plan.store, &dir.stamp, &dir.path, &mut record.cells);
    finish(args, &plan.store, &dir, &record)
}

/// Runs one `faultline test` for a cell; returns what came of it.
fn run_cell(exe: &Path, cell: &Cell, store: &Path, seed: u64) -> CellRun {
    let before = timestamp(SystemTime::now());
    let started = Instant::now();
    let status = Command::new(exe)
        .arg("test")
        .args(&cell.args)
        .arg("--seed")
        .arg(seed.to_string())
        .status();
    let exit_code = match status {
        Ok(s) => s.code().unwrap_or(exit::INTERNAL),
        Err(e) => {
            eprintln!("faultline test-all: cannot start {}: {e}", exe.display());
            exit::INTERNAL
        }
    };
    let mut run = CellRun {
        seed,
        exit_code,
        seconds: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    if let Some(dir) = find_run(
        store,
        &format!("{}-{}", cell.db, cell.workload),
        &before,
        seed,
    ) {
        let records = dir.records();
        if let Some(r) = &records.results {
            run.valid = Some(r.valid);
            run.ok_per_second = Some(r.summary.ok_per_second);
            run.p99_ms = Some(r.summary.latency_ms.p99);
            run.anomalies = r.anomaly_ids();
        }
        run.run = Some(dir.relative.to_string_lossy().into_owned());
    }
    run
}

/// The run directory a `faultline test` made: under its test's folder, no older than
/// `since`, with this seed in its `test.json` (so that another writer to the store cannot be
/// taken for it); the newest if there are several.
fn find_run(store: &Path, test: &str, since: &str, seed: u64) -> Option<RunDir> {
    let mut found: Vec<RunDir> = store::run_dirs(store)
        .ok()?
        .into_iter()
        .filter(|r| {
            r.path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == test)
        })
        .filter(|r| {
            r.path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().as_ref() >= since)
        })
        .filter(|r| r.records().test.is_some_and(|t| t.seed == seed))
        .collect();
    found.pop().map(|r| RunDir {
        relative: Path::new(test).join(r.path.file_name().unwrap_or_default()),
        ..r
    })
}

/// Writes the record, the JUnit file, the pages; prints the matrix; returns the exit code.
fn finish(args: &TestAllArgs, store: &Path, dir: &MatrixDir, record: &MatrixRecord) -> i32 {
    let mut code = record.exit_code;
    if let Err(e) = dir.write(record) {
        eprintln!("faultline test-all: {e:#}");
        code = crate::run::worse(code, exit::CANT_CREATE);
    }
    let xml = junit::matrix_xml(&junit_suites(store, record));
    for path in std::iter::once(dir.file(JUNIT)).chain(args.junit.clone()) {
        if let Err(e) = junit::write_xml(&path, &xml) {
            eprintln!("faultline test-all: {e:#}");
            code = crate::run::worse(code, exit::INTERNAL);
        }
    }
    if let Err(e) = dir.link_latest(store) {
        eprintln!("faultline test-all: {e:#}");
    }
    match crate::report::matrix_page::write(store, dir, record) {
        Ok(page) => println!("\nmatrix: {}", page.display()),
        Err(e) => eprintln!("faultline test-all: the matrix page could not be written: {e:#}"),
    }
    if let Err(e) = crate::report::write_store_index(store) {
        eprintln!("faultline test-all: the store index could not be written: {e:#}");
    }
    print!("{}", text(record));
    code
}

/// The matrix as text: one line per cell, then the regressions.
pub fn text(record: &MatrixRecord) -> String {
    let mut out = format!(
        "\nmatrix {} ({:.0} s{}):\n",
        record.stamp,
        record.seconds,
        if record.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    for cell in &record.cells {
        let status = match (&cell.skipped, cell.outcome()) {
            (Some(why), _) => format!("skipped ({why})"),
            (None, None) => "not run".to_string(),
            (None, Some(o)) => format!(
                "{} ({})",
                o.word(),
                cell.runs
                    .iter()
                    .map(|r| r.outcome().word())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out += &format!("  {:<40} {status}\n", cell.name());
    }
    let regressions = record.regressions();
    if regressions.is_empty() {
        out += "no regression against the previous matrix\n";
    } else {
        out += "REGRESSIONS against the previous matrix:\n";
        for r in regressions {
            out += &format!("  {r}\n");
        }
    }
    out += &format!("exit code {}\n", record.exit_code);
    out
}

/// The JUnit suites of a matrix: one per cell, one test case per run and checker.
fn junit_suites(store: &Path, record: &MatrixRecord) -> Vec<(String, Vec<RunSummary>)> {
    record
        .cells
        .iter()
        .filter(|c| c.skipped.is_none())
        .map(|cell| {
            if cell.runs.is_empty() {
                // Not run: the matrix was interrupted first.
                let not_run = RunSummary {
                    test: "not run".into(),
                    run_dir: Default::default(),
                    valid: faultline_checkers::Validity::Unknown,
                    seconds: 0.0,
                    cause: Some("not run: the matrix was interrupted before this cell".into()),
                    checkers: Vec::new(),
                };
                return (cell.name(), vec![not_run]);
            }
            let runs = cell
                .runs
                .iter()
                .enumerate()
                .map(|(i, run)| {
                    let label = format!("run {}", i + 1);
                    let loaded = run
                        .run
                        .as_ref()
                        .and_then(|r| RunSummary::load(&store.join(r)).ok());
                    let mut summary = loaded.unwrap_or_else(|| RunSummary {
                        test: label.clone(),
                        run_dir: run.run.as_ref().map(|r| store.join(r)).unwrap_or_default(),
                        valid: faultline_checkers::Validity::Unknown,
                        seconds: run.seconds,
                        cause: None,
                        checkers: Vec::new(),
                    });
                    summary.test = label;
                    if run.exit_code > exit::UNKNOWN {
                        // No verdict, or faults left on the cluster: an error, whatever else.
                        let why = format!(
                            "faultline test exited {} (seed {}){}",
                            run.exit_code,
                            run.seed,
                            if run.valid.is_none() {
                                ": the run ended before its check"
                            } else {
                                ""
                            }
                        );
                        summary.cause = Some(match summary.cause {
                            Some(c) => format!("{why}; {c}"),
                            None => why,
                        });
                        summary.checkers.push((
                            "exit-code".into(),
                            faultline_checkers::Validity::Unknown,
                            Vec::new(),
                        ));
                    }
                    summary
                })
                .collect();
            (cell.name(), runs)
        })
        .collect()
}
