//! The nightly matrix of `examples/nightly.toml` on a real 3-node local cluster: etcd, Redis
//! and ZooKeeper (register) x partitions and kills, one short run each, with its phases
//! (warm-up, faults, recovery, final reads) and staggered workers. One JUnit file for the
//! whole matrix, the matrix page with a cell per datastore and nemesis linked to its runs,
//! every cell compared with the same cell of an earlier matrix, and the exit code the worst of
//! the runs'. With `FAULTLINE_SCREENSHOTS=DIR` the matrix page's screenshot is kept there (the
//! README's comes from `FAULTLINE_SCREENSHOTS=docs`).
//!
//! The earlier matrix is planted: made-up runs (`faultline::store::synthetic`: valid, p99
//! 20-29 ms) recorded as a matrix of the same cells, so that the comparison has something to
//! compare with without running the matrix twice. Needs root (CI runs as root).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::runs::{faultline, text};
use common::test_cluster::TestCluster;
use faultline::store::matrix::{
    read_matrix, CellRecord, CellRun, MatrixDir, MatrixRecord, Outcome, MATRICES,
};
use faultline::store::synthetic;

const CLUSTER: &str = "ft-matrix";
const CHROMIUM: &str = "/usr/bin/chromium";

/// An earlier matrix of the same six cells, each with one made-up valid run.
fn plant_earlier_matrix(store: &Path) -> String {
    let day = Duration::from_secs(86_400);
    let made_up = synthetic::fill(store, 15, SystemTime::now() - day, Duration::from_secs(60))
        .expect("made-up runs");
    // The newest valid made-up run of a test (some are made invalid).
    let run_of = |test: &str| -> String {
        let dir = made_up
            .iter()
            .filter(|d| d.parent().unwrap().ends_with(test))
            .find(|d| {
                faultline::store::RunDir::open(d)
                    .records()
                    .results
                    .is_some_and(|r| r.valid == faultline_checkers::Validity::Valid)
            })
            .unwrap();
        dir.strip_prefix(store).unwrap().display().to_string()
    };
    let dir = MatrixDir::create(store).unwrap();
    let mut record = MatrixRecord {
        stamp: dir.stamp.clone(),
        dbs: vec!["etcd".into(), "redis".into(), "zookeeper".into()],
        workloads: vec!["register".into()],
        nemeses: vec!["partition-random-halves".into(), "kill".into()],
        runs_per_cell: 1,
        ..Default::default()
    };
    for db in ["etcd", "redis", "zookeeper"] {
        for nemesis in ["partition-random-halves", "kill"] {
            let run = run_of(&format!("{db}-register"));
            let results = faultline::store::RunDir::open(&store.join(&run))
                .records()
                .results
                .unwrap();
            record.cells.push(CellRecord {
                db: db.into(),
                workload: "register".into(),
                nemesis: nemesis.into(),
                runs: vec![CellRun {
                    run: Some(run),
                    valid: Some(results.valid),
                    p99_ms: Some(results.summary.latency_ms.p99),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    dir.write(&record).unwrap();
    // The next matrix must be named by a later time stamp.
    std::thread::sleep(Duration::from_millis(5));
    dir.stamp
}

#[test]
fn the_nightly_example_runs_three_datastores_by_two_nemeses() {
    let _cluster = TestCluster::up(CLUSTER, 3);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("results");
    std::fs::create_dir_all(&store).unwrap();
    let earlier = plant_earlier_matrix(&store);
    let junit = dir.path().join("nightly.xml");
    let plan = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/nightly.toml");

    let started = Instant::now();
    let o = faultline()
        .args(["test-all", "--plan"])
        .arg(&plan)
        .arg("--store")
        .arg(&store)
        .arg("--junit")
        .arg(&junit)
        .args(["--", "--cluster", CLUSTER])
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let out = text(&o);
    eprintln!("test-all took {seconds:.0} s\n{out}");

    // The record: six cells, one run each, every run with a verdict and a run directory.
    let matrix_dir = std::fs::canonicalize(store.join(MATRICES).join("latest")).unwrap();
    let m = read_matrix(&matrix_dir.join("matrix.json")).unwrap();
    assert_eq!(m.cells.len(), 6, "{m:#?}");
    assert_eq!(m.seed, 2026);
    let mut worst = 0;
    for cell in &m.cells {
        assert_eq!(cell.runs.len(), 1, "{}", cell.name());
        let run = &cell.runs[0];
        assert!(
            matches!(
                run.outcome(),
                Outcome::Valid | Outcome::Invalid | Outcome::Unknown
            ),
            "{}: exit {} ({:?})\n{out}",
            cell.name(),
            run.exit_code,
            run.valid
        );
        worst = faultline::run::worse(worst, run.exit_code);
        let run_dir = store.join(run.run.as_ref().expect("a run directory"));
        let test: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("test.json")).unwrap()).unwrap();
        assert_eq!(test["db"], cell.db.as_str());
        assert_eq!(test["nemesis"][0], cell.nemesis.as_str());
        assert_eq!(
            test["phases"],
            "warm-up:2,faults:6,recovery:30,final-reads:10"
        );
        assert_eq!(test["stagger"], true);
        assert_eq!(test["seed"], run.seed);
        // No fault during the warm-up: the first fault starts one nemesis interval (2 s) into
        // the faults phase, which follows 2 s of warm-up (the first operation comes within
        // 0.2 s of its start: twice the 0.1 s a worker's rate gives, staggered).
        let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
        let first_client = history
            .lines()
            .find(|l| !l.contains("\"nemesis\""))
            .unwrap();
        let first_fault = history
            .lines()
            .find(|l| {
                l.contains("\"nemesis\"")
                    && (l.contains("\"f\":\"start-") || l.contains("\"f\":\"kill\""))
            })
            .unwrap_or_else(|| panic!("{}: no fault started", cell.name()));
        let time = |line: &str| -> f64 {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["time"].as_f64().unwrap() / 1e9
        };
        assert!(
            time(first_fault) - time(first_client) >= 3.7,
            "{}: a fault {:.2} s after the first operation, in the warm-up",
            cell.name(),
            time(first_fault) - time(first_client)
        );
        // Each cell was compared with the earlier matrix, through `faultline compare`.
        let previous = cell
            .previous
            .as_ref()
            .expect("compared with the earlier one");
        assert_eq!(previous.matrix, earlier);
        assert_eq!(previous.outcome, Some(Outcome::Valid));
        if run.outcome() > Outcome::Valid {
            assert!(
                previous
                    .regressions
                    .iter()
                    .any(|r| r.starts_with("valid -> ")),
                "{}: {previous:?}",
                cell.name()
            );
        }
        let compared = matrix_dir
            .join("compare")
            .join(faultline::store::matrix::compare_file(cell));
        let compared = std::fs::read_to_string(&compared)
            .unwrap_or_else(|e| panic!("{}: {e}", compared.display()));
        assert!(compared.contains("verdict: valid"), "{compared}");
    }
    assert_eq!(m.exit_code, worst);
    assert_eq!(o.status.code(), Some(worst), "{out}");

    // One JUnit file: a suite per cell, a case per run and checker.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        xml,
        std::fs::read_to_string(matrix_dir.join("junit.xml")).unwrap()
    );
    assert_eq!(xml.matches("<testsuite ").count(), 6, "{xml}");
    for cell in &m.cells {
        assert!(xml.contains(&format!("name=\"{}\"", cell.name())), "{xml}");
    }
    let invalid_cells = m
        .cells
        .iter()
        .filter(|c| c.outcome() == Some(Outcome::Invalid))
        .count();
    assert_eq!(invalid_cells > 0, xml.contains("<failure "), "{xml}");

    // The page: a row per datastore, a column per nemesis, each cell linked to its run.
    let page = std::fs::read_to_string(matrix_dir.join("index.html")).unwrap();
    assert_eq!(page.matches("<tr><th>").count(), 3 + 1, "{page}");
    for cell in &m.cells {
        let run = cell.runs[0].run.as_ref().unwrap();
        assert!(page.contains(&format!("../../{run}/index.html")), "{page}");
        assert!(store.join(run).join("index.html").is_file());
    }
    let index = std::fs::read_to_string(store.join("index.html")).unwrap();
    assert!(index.contains(&format!("matrices/{}/index.html", m.stamp)));
    assert!(
        seconds < 300.0,
        "the matrix took {seconds:.0} s: keep it near 4 minutes"
    );

    screenshot(&matrix_dir.join("index.html"));
}

/// A screenshot of the matrix page with headless Chromium (skipped when it is not installed,
/// except in CI); kept in `$FAULTLINE_SCREENSHOTS` when set.
fn screenshot(page: &Path) {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing: .ci/run installs it"
        );
        eprintln!("chromium not installed: no screenshot");
        return;
    }
    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("matrix.png");
    let status = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1300,760",
        ])
        .arg(format!(
            "--user-data-dir={}",
            shots.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run chromium");
    assert!(status.success(), "chromium failed");
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "the screenshot is {size} bytes: blank?");
    if let Some(dir) = std::env::var_os("FAULTLINE_SCREENSHOTS").map(PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&png, dir.join("matrix.png")).unwrap();
    }
}
