//! The store as it grows every night, without a cluster: the index of 10 000 runs stays small
//! page by page (its size is what is pinned here; `make bench` times it), `faultline gc` keeps
//! what it must, and plans that cannot run are refused before anything is touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use faultline::store::matrix::{CellRecord, CellRun, MatrixDir, MatrixRecord, MATRICES};
use faultline::store::synthetic;
use faultline_checkers::Validity;

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every `href` to a run's page on an index page.
fn run_links(page: &str) -> Vec<String> {
    page.split("<a href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| !h.starts_with("matrices/"))
        .filter(|h| {
            h.split('/')
                .nth(1)
                .is_some_and(|stamp| stamp.ends_with('Z'))
        })
        .map(String::from)
        .collect()
}

#[test]
fn the_index_of_ten_thousand_runs_is_paged_and_its_first_page_stays_small() {
    let store = tempfile::tempdir().unwrap();
    let runs = synthetic::fill(
        store.path(),
        10_000,
        SystemTime::now(),
        Duration::from_secs(600),
    )
    .unwrap();
    assert_eq!(runs.len(), 10_000);
    let o = faultline()
        .args(["report", "--index"])
        .arg(store.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let first = std::fs::read_to_string(store.path().join("index.html")).unwrap();
    // 200 rows of ~0.6 KiB: the first page is what a browser loads, whatever the store's size.
    assert!(
        first.len() < 200 * 1024,
        "first page is {} bytes",
        first.len()
    );
    assert!(first.contains("10000 run(s)"), "{}", &first[..2000]);
    assert!(first.contains("Page 1 of 50"));
    let mut linked = Vec::new();
    for page in 1..=50 {
        let name = if page == 1 {
            "index.html".to_string()
        } else {
            format!("index-{page}.html")
        };
        let html = std::fs::read_to_string(store.path().join(&name)).unwrap();
        if page < 50 {
            assert!(
                html.contains(&format!("href=\"index-{}.html\">next", page + 1)),
                "{name} has no link to the next page"
            );
        }
        linked.extend(run_links(&html));
    }
    assert!(!store.path().join("index-51.html").exists());
    // Every run once, newest first.
    assert_eq!(linked.len(), 10_000);
    let mut unique = linked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10_000);
    let newest = runs[0].strip_prefix(store.path()).unwrap();
    assert_eq!(linked[0], format!("{}/", newest.display()));

    // Fewer runs later (after gc): the pages past the end go.
    for run in &runs[200..] {
        std::fs::remove_dir_all(run).unwrap();
    }
    let o = faultline()
        .args(["report", "--index"])
        .arg(store.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!store.path().join("index-2.html").exists());
}

/// A matrix record naming `run` as the only run of a cell.
fn record_matrix(store: &Path, cell_run: &Path) -> PathBuf {
    let dir = MatrixDir::create(store).unwrap();
    let relative = cell_run.strip_prefix(store).unwrap();
    let record = MatrixRecord {
        stamp: dir.stamp.clone(),
        dbs: vec!["etcd".into()],
        workloads: vec!["register".into()],
        nemeses: vec!["kill".into()],
        runs_per_cell: 1,
        cells: vec![CellRecord {
            db: "etcd".into(),
            workload: "register".into(),
            nemesis: "kill".into(),
            runs: vec![CellRun {
                run: Some(relative.display().to_string()),
                valid: Some(Validity::Valid),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    dir.write(&record).unwrap();
    dir.path
}

#[test]
fn gc_prunes_old_runs_but_never_the_newest_of_a_test_nor_the_last_of_a_matrix_cell() {
    let store = tempfile::tempdir().unwrap();
    let day = Duration::from_secs(86_400);
    // 20 runs, one a day, over 5 tests (4 each): the newest today.
    let runs = synthetic::fill(store.path(), 20, SystemTime::now(), day).unwrap();
    // An old etcd-register run (12 days) is the last run of a matrix cell.
    let etcd_register: Vec<&PathBuf> = runs
        .iter()
        .filter(|r| r.parent().unwrap().ends_with("etcd-register"))
        .collect();
    assert_eq!(etcd_register.len(), 4);
    let cell_run = etcd_register[2].clone();
    let matrix = record_matrix(store.path(), &cell_run);
    let before: Vec<PathBuf> = runs.iter().filter(|r| r.is_dir()).cloned().collect();

    let dry = faultline()
        .args(["gc", "--keep-days", "3", "--dry-run", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", text(&dry));
    let out = text(&dry);
    // Runs 0..=2 are younger than 3 days; of the older ones, each test's newest (3 and 4, the
    // newest of their tests) and the matrix cell's run (10) are kept.
    assert!(out.contains("would remove"), "{out}");
    assert!(
        out.contains("the last run of matrix cell etcd-register [kill]"),
        "{out}"
    );
    assert!(
        before.iter().all(|r| r.is_dir()),
        "a dry run removed something"
    );

    let real = faultline()
        .args(["gc", "--keep-days", "3", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    assert!(real.status.success(), "{}", text(&real));
    let kept: Vec<usize> = (0..20).filter(|i| runs[*i].is_dir()).collect();
    let cell_index = runs.iter().position(|r| *r == cell_run).unwrap();
    // Younger than 3 days: 0, 1, 2. The newest of each of the five tests: 0..=4. The cell.
    let mut expected = vec![0, 1, 2, 3, 4, cell_index];
    expected.sort();
    expected.dedup();
    assert_eq!(kept, expected, "{}", text(&real));
    // The matrix survives, and its page shows the run it still has; the index lists the rest.
    assert!(matrix.join("matrix.json").is_file());
    let page = std::fs::read_to_string(matrix.join("index.html")).unwrap();
    assert!(page.contains("run 1 valid"), "{page}");
    let index = std::fs::read_to_string(store.path().join("index.html")).unwrap();
    assert!(
        index.contains(&format!("{} run(s)", expected.len())),
        "{index}"
    );
    assert!(store.path().join(MATRICES).join("index.html").is_file());
}

#[test]
fn a_bad_plan_is_refused_with_its_file_and_line_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let plan = dir.path().join("nightly.toml");
    for (toml, says) in [
        (
            "[matrix]\ndb = [\"etcd\"]\nnemesis = [\"kill\"]\nworkload = [\"register\"]\n[test]\nrate = 5\nspeed = 2\n",
            "nightly.toml line 7 (speed): `speed` is not an option",
        ),
        (
            "[matrix]\ndb = [\"etcd\", \"mongo\"]\nnemesis = [\"kill\"]\nworkload = [\"register\"]\n",
            "nightly.toml line 2 (db): no such datastore `mongo`",
        ),
        (
            "[matrix]\ndb = [\"etcd\"]\nnemesis = [\"earthquake\"]\nworkload = [\"register\"]\n",
            "unknown fault `earthquake`",
        ),
        (
            "[matrix]\ndb = [\"etcd\"]\nnemesis = [\"kill\"]\nworkload = [\"register\"]\n[test]\nlocal-cluster = 3\n\n[[test.phase]]\nkind = \"faults\"\n[[test.phase]]\nkind = \"final-reads\"\n",
            "nightly.toml line 8 (phase): cell etcd-register: --phases",
        ),
        (
            "[matrix]\ndb = [\"etcd\"]\nnemesis = [\"kill\"]\nworkload = [\"register\"]\n[test]\nlocal-cluster = 3\nrate = 1e-300\n",
            "nightly.toml line 7 (rate): cell etcd-register: --rate",
        ),
        (
            "[matrix]\ndb = [\"etcd\"]\nnemesis = [\"kill\"]\nworkload = [\"register\"]\n[test]\ndb = \"redis\"\n",
            "line 6 (db): the matrix sets `db`",
        ),
        (
            "[matrix]\ndb = [\"etcd\"]\nnemesis = [\"kill\"]\nworkload = [\"register\"]\n[db-options.redis]\nredis-min-replicas-to-write = \"x\"\n",
            "line 6 (redis-min-replicas-to-write): invalid value",
        ),
    ] {
        std::fs::write(&plan, toml).unwrap();
        let o = faultline()
            .args(["test-all", "--plan"])
            .arg(&plan)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(64), "{toml}\n{}", text(&o));
        assert!(text(&o).contains(says), "{toml}\nwanted {says}\n{}", text(&o));
        assert!(!store.exists(), "a refused plan touched the store");
    }

    // A test plan too: `faultline test --plan`.
    std::fs::write(
        &plan,
        "local-cluster = 3\ntime-limit = 5\nnemesis-interval = inf\n",
    )
    .unwrap();
    let o = faultline()
        .args(["test", "--plan"])
        .arg(&plan)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(
        text(&o).contains("nightly.toml line 3 (nemesis-interval): --nemesis-interval inf"),
        "{}",
        text(&o)
    );
    assert!(!store.exists());
}

#[test]
fn the_example_plans_are_valid() {
    // Every cell parsed and checked as a run would check it (no I/O: the checks touch nothing).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let plan = faultline::matrix::plan::MatrixPlan::new(&faultline::cli::TestAllArgs {
        plan: Some(root.join("examples/nightly.toml")),
        db: vec![],
        workload: vec![],
        nemesis: vec![],
        runs: None,
        seed: None,
        store: "results".into(),
        junit: None,
        test_options: vec![],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.cells.len(), 6);
    assert!(plan.cells.iter().all(|c| c.skipped.is_none()));
    let matches = faultline::cli::command()
        .try_get_matches_from(["faultline", "test"])
        .unwrap();
    let args = faultline::run::plan_file::apply(
        &root.join("examples/plan.toml"),
        matches.subcommand_matches("test").unwrap(),
        Vec::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        args.phases.as_deref(),
        Some("warm-up:10,faults:30,recovery:60,warm-up:5,final-reads:20")
    );
    assert!(args.stagger);
    assert_eq!(args.db, "redis");
}

/// `register+counter` is one cell of both workloads; a datastore without a client for one of
/// them skips the cell, naming it; an unknown part is refused.
#[test]
fn a_cell_may_run_several_workloads_at_once() {
    let args = |workloads: &[&str]| faultline::cli::TestAllArgs {
        plan: None,
        db: vec!["etcd".into(), "postgres".into()],
        workload: workloads.iter().map(|w| w.to_string()).collect(),
        nemesis: vec!["kill".into()],
        runs: None,
        seed: None,
        store: "results".into(),
        junit: None,
        test_options: vec!["--local-cluster".into(), "5".into()],
    };
    let plan = faultline::matrix::plan::MatrixPlan::new(&args(&["register+counter"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let etcd = plan.cells.iter().find(|c| c.db == "etcd").unwrap();
    assert!(etcd.skipped.is_none(), "{:?}", etcd.skipped);
    let argv: Vec<String> = etcd
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(
        argv.windows(2)
            .any(|w| w == ["--workload", "register+counter"]),
        "{argv:?}"
    );
    let postgres = plan.cells.iter().find(|c| c.db == "postgres").unwrap();
    assert_eq!(
        postgres.skipped.as_deref(),
        Some("postgres has no client for the register workload")
    );
    let Err(e) = faultline::matrix::plan::MatrixPlan::new(&args(&["register+nope"])) else {
        panic!("an unknown workload was accepted");
    };
    assert!(e.to_string().contains("no such workload `nope`"), "{e}");
}
