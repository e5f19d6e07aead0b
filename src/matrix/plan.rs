//! The plan of a test matrix: which datastores, workloads and nemeses, how many runs of each
//! cell, and the options of `faultline test` each cell gets, from a TOML file
//! (`faultline test-all --plan nightly.toml`) or from flags. Every cell's command line is
//! built and checked by `faultline test`'s own checks ([`crate::run::plan::Plan::new`]) before
//! the first run starts, so a matrix that cannot run is refused whole (exit 64), naming the
//! file and the line of the key at fault.
//!
//! ```toml
//! [matrix]
//! db = ["etcd", "redis", "zookeeper"]     # rows (with the workloads)
//! workload = ["register"]
//! nemesis = ["partition-random-halves", "kill"]   # columns; "a,b" is one column of both
//! runs = 1                                 # runs of each cell
//! seed = 42                                # every run's seed derives from it
//!
//! [test]                                   # options of `faultline test`, for every cell
//! local-cluster = 3
//! time-limit = 10
//!
//! [db-options.redis]                       # only for the cells of one datastore
//! redis-min-replicas-to-write = 1
//!
//! [workload-options.set]                   # only for the cells of one workload
//! mix = "4,1"
//! ```
//!
//! A datastore x workload pair the datastore has no client for is not an error: its cells are
//! skipped, and say so.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::FromArgMatches;
use toml::de::{DeTable, DeValue};

use crate::cli::{TestAllArgs, TestArgs};
use crate::run::plan::{Plan, Usage};
use crate::run::plan_file::{self, clap_message, line_of, PlanArg};

/// The options of `faultline test` that the matrix sets itself, for every cell.
const MATRIX_OWNS: &[&str] = &[
    "db",
    "workload",
    "nemesis",
    "store",
    "seed",
    "test-count",
    "junit",
    "plan",
];

/// One cell to run.
#[derive(Debug, Clone)]
pub struct Cell {
    pub db: String,
    pub workload: String,
    pub nemesis: String,
    /// Why it is not run, if it is not.
    pub skipped: Option<String>,
    /// `faultline test`'s arguments for this cell, without `--seed` (each run has its own).
    pub args: Vec<OsString>,
}

/// A checked matrix.
#[derive(Debug, Clone)]
pub struct MatrixPlan {
    pub file: Option<PathBuf>,
    pub dbs: Vec<String>,
    pub workloads: Vec<String>,
    pub nemeses: Vec<String>,
    pub runs: u32,
    pub seed: Option<u64>,
    pub store: PathBuf,
    /// The options every cell was given, as command-line text.
    pub test_options: Vec<String>,
    pub cells: Vec<Cell>,
}

/// What a plan file says, before the command line overrides it.
#[derive(Default)]
struct FromFile {
    dbs: Vec<String>,
    workloads: Vec<String>,
    nemeses: Vec<String>,
    runs: Option<u32>,
    seed: Option<u64>,
    test: Vec<PlanArg>,
    per_db: BTreeMap<String, Vec<PlanArg>>,
    per_workload: BTreeMap<String, Vec<PlanArg>>,
    /// Where each axis was given, for errors.
    lines: BTreeMap<&'static str, usize>,
}

impl MatrixPlan {
    /// Reads the plan (if any), lets the flags override it, builds and checks every cell.
    pub fn new(args: &TestAllArgs) -> Result<MatrixPlan, Usage> {
        let file = match &args.plan {
            Some(path) => read_file(path)?,
            None => FromFile::default(),
        };
        let at = |axis: &str| -> String {
            match (&args.plan, file.lines.get(axis)) {
                (Some(p), Some(line)) => format!("{} line {line} ({axis}): ", p.display()),
                (Some(p), None) => format!("{}: ", p.display()),
                (None, _) => format!("--{axis}: "),
            }
        };
        let pick = |flag: &[String], from_file: &[String]| -> Vec<String> {
            let list = if flag.is_empty() { from_file } else { flag };
            let mut out: Vec<String> = Vec::new();
            for x in list.iter().map(|s| s.trim().to_string()) {
                if !x.is_empty() && !out.contains(&x) {
                    out.push(x);
                }
            }
            out
        };
        let dbs = pick(&args.db, &file.dbs);
        let workloads = pick(&args.workload, &file.workloads);
        let nemeses: Vec<String> = pick(&args.nemesis, &file.nemeses)
            .into_iter()
            .map(|n| column_name(&n))
            .collect();
        for (axis, list) in [
            ("db", &dbs),
            ("workload", &workloads),
            ("nemesis", &nemeses),
        ] {
            if list.is_empty() {
                return Err(Usage(format!(
                    "{}no {axis} given: the matrix needs at least one (--{axis} or [matrix] {axis} = [...])",
                    at(axis)
                )));
            }
        }
        for db in &dbs {
            if crate::db::find(db).is_none() {
                return Err(Usage(format!(
                    "{}no such datastore `{db}` (known: {})",
                    at("db"),
                    crate::db::DATASTORES
                        .iter()
                        .map(|d| d.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        for w in workloads.iter().flat_map(|w| parts(w)) {
            if faultline_workloads::find(w).is_none() {
                return Err(Usage(format!(
                    "{}no such workload `{w}` (known: {})",
                    at("workload"),
                    faultline_workloads::names().join(", ")
                )));
            }
        }
        let runs = args.runs.or(file.runs).unwrap_or(1);
        if runs == 0 {
            return Err(Usage(format!("{}runs must be at least 1", at("runs"))));
        }
        // The command line's test options (after `--`) win over the plan's [test] table.
        let trailing = parse_test_options(&args.test_options)?;
        let given = plan_file::given(&trailing);
        for id in &given {
            if let Some(name) = MATRIX_OWNS.iter().find(|n| n.replace('-', "_") == *id) {
                return Err(Usage(format!(
                    "-- --{name}: the matrix sets --{name} for each cell; give it to test-all"
                )));
            }
        }
        let keep = |entries: &[PlanArg]| -> Vec<OsString> {
            entries
                .iter()
                .filter(|e| !given.contains(&e.id))
                .flat_map(|e| e.args.iter().map(OsString::from))
                .collect()
        };
        let mut test_options: Vec<String> = file
            .test
            .iter()
            .filter(|e| !given.contains(&e.id))
            .flat_map(|e| e.args.iter().cloned())
            .collect();
        test_options.extend(args.test_options.iter().cloned());
        let mut cells = Vec::new();
        for db in &dbs {
            for workload in &workloads {
                for nemesis in &nemeses {
                    let spec = crate::db::find(db).expect("checked above");
                    if let Some(missing) = parts(workload).find(|w| !spec.supports(w)) {
                        cells.push(Cell {
                            db: db.clone(),
                            workload: workload.clone(),
                            nemesis: nemesis.clone(),
                            skipped: Some(format!("{db} has no client for the {missing} workload")),
                            args: Vec::new(),
                        });
                        continue;
                    }
                    let mut argv: Vec<OsString> = keep(&file.test);
                    if let Some(extra) = file.per_db.get(db) {
                        argv.extend(keep(extra));
                    }
                    for extra in parts(workload).filter_map(|w| file.per_workload.get(w)) {
                        argv.extend(keep(extra));
                    }
                    argv.extend(args.test_options.iter().map(OsString::from));
                    argv.extend(
                        [
                            "--db",
                            db,
                            "--workload",
                            workload,
                            "--nemesis",
                            nemesis,
                            "--test-count",
                            "1",
                        ]
                        .map(OsString::from),
                    );
                    argv.push("--store".into());
                    argv.push(args.store.clone().into_os_string());
                    check_cell(&argv, args.plan.as_deref(), &file, db, workload)?;
                    cells.push(Cell {
                        db: db.clone(),
                        workload: workload.clone(),
                        nemesis: nemesis.clone(),
                        skipped: None,
                        args: argv,
                    });
                }
            }
        }
        if cells.iter().all(|c| c.skipped.is_some()) {
            return Err(Usage(format!(
                "no datastore of the matrix has a client for any of its workloads (supported \
                 pairs: {})",
                crate::db::pairs().join(", ")
            )));
        }
        Ok(MatrixPlan {
            file: args.plan.clone(),
            dbs,
            workloads,
            nemeses,
            runs,
            seed: args.seed.or(file.seed),
            store: args.store.clone(),
            test_options,
            cells,
        })
    }
}

/// The workloads of one cell: `register+counter` is one cell running both in each run (see
/// `faultline test --workload`), so each is checked and given its options.
fn parts(workload: &str) -> impl Iterator<Item = &str> {
    workload.split('+').map(str::trim)
}

/// `partition-random-halves, kill` as `partition-random-halves,kill`.
fn column_name(nemesis: &str) -> String {
    nemesis
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// The options after `--`, parsed as `faultline test` parses them.
fn parse_test_options(options: &[String]) -> Result<clap::ArgMatches, Usage> {
    let mut argv = vec!["faultline".to_string(), "test".to_string()];
    argv.extend(options.iter().cloned());
    let m = crate::cli::command()
        .try_get_matches_from(&argv)
        .map_err(|e| Usage(format!("the test options after --: {}", clap_message(&e))))?;
    m.subcommand_matches("test")
        .cloned()
        .ok_or_else(|| Usage("the test options after --: not a test command line".into()))
}

/// Parses and checks one cell's `faultline test` command line, as the run will.
fn check_cell(
    argv: &[OsString],
    plan: Option<&Path>,
    file: &FromFile,
    db: &str,
    workload: &str,
) -> Result<TestArgs, Usage> {
    let mut full: Vec<OsString> = vec!["faultline".into(), "test".into()];
    full.extend(argv.iter().cloned());
    let cell = format!("cell {db}-{workload}");
    // Blame the plan entry whose flag the message names: the cell's own tables first.
    let locate = |message: &str| -> String {
        let Some(path) = plan else {
            return String::new();
        };
        let mut entries: Vec<PlanArg> = Vec::new();
        entries.extend(file.per_db.get(db).cloned().unwrap_or_default());
        for w in parts(workload) {
            entries.extend(file.per_workload.get(w).cloned().unwrap_or_default());
        }
        entries.extend(file.test.iter().cloned());
        plan_file::PlanArgs {
            file: path.to_owned(),
            entries,
        }
        .locate(message)
    };
    let m = crate::cli::command()
        .try_get_matches_from(&full)
        .map_err(|e| {
            let msg = clap_message(&e);
            Usage(format!("{}{cell}: {msg}", locate(&msg)))
        })?;
    let args = match crate::cli::Cli::from_arg_matches(&m)
        .map_err(|e| Usage(clap_message(&e)))?
        .command
    {
        crate::cli::Command::Test(a) => *a,
        _ => return Err(Usage("not a test command".into())),
    };
    Plan::new(&args).map_err(|e| Usage(format!("{}{cell}: {}", locate(&e.0), e.0)))?;
    Ok(args)
}

/// Reads a matrix plan file.
fn read_file(path: &Path) -> Result<FromFile, Usage> {
    let text = plan_file::read(path)?;
    let table = plan_file::parse(path, &text)?;
    let mut out = FromFile::default();
    let at = |line: usize, key: &str, what: String| {
        Usage(format!("{} line {line} ({key}): {what}", path.display()))
    };
    for (key, value) in table.get_ref().iter() {
        let name = key.get_ref().as_ref();
        let line = line_of(&text, key.span().start);
        let DeValue::Table(t) = value.get_ref() else {
            return Err(at(
                line,
                name,
                "a matrix plan has the tables [matrix], [test], [db-options.NAME] and \
                 [workload-options.NAME]"
                    .into(),
            ));
        };
        match name {
            "matrix" => read_axes(path, &text, t, &mut out)?,
            "test" => {
                out.test = plan_file::table_args(path, &text, t, &[])?;
                refuse_owned(path, &out.test)?;
            }
            "db-options" | "workload-options" => {
                for (scope, options) in t.iter() {
                    let scope_name = scope.get_ref().to_string();
                    let line = line_of(&text, scope.span().start);
                    let known = if name == "db-options" {
                        crate::db::find(&scope_name).is_some()
                    } else {
                        faultline_workloads::find(&scope_name).is_some()
                    };
                    if !known {
                        return Err(at(
                            line,
                            name,
                            format!("`{scope_name}` is not a known {}", &name[..name.len() - 8]),
                        ));
                    }
                    let DeValue::Table(options) = options.get_ref() else {
                        return Err(at(line, name, format!("[{name}.{scope_name}] is a table")));
                    };
                    let entries = plan_file::table_args(path, &text, options, &[])?;
                    refuse_owned(path, &entries)?;
                    if name == "db-options" {
                        out.per_db.insert(scope_name, entries);
                    } else {
                        out.per_workload.insert(scope_name, entries);
                    }
                }
            }
            other => {
                return Err(at(
                    line,
                    other,
                    format!(
                        "unknown table [{other}] (a matrix plan has [matrix], [test], \
                         [db-options.NAME], [workload-options.NAME])"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// `[matrix]`: the axes, runs and seed.
fn read_axes(path: &Path, text: &str, t: &DeTable<'_>, out: &mut FromFile) -> Result<(), Usage> {
    for (key, value) in t.iter() {
        let name = key.get_ref().as_ref();
        let line = line_of(text, key.span().start);
        let at = |what: &str| Usage(format!("{} line {line} ({name}): {what}", path.display()));
        let strings = || -> Result<Vec<String>, Usage> {
            match value.get_ref() {
                DeValue::String(s) => Ok(vec![s.to_string()]),
                DeValue::Array(items) => items
                    .iter()
                    .map(|v| match v.get_ref() {
                        DeValue::String(s) => Ok(s.to_string()),
                        _ => Err(at("a list of names")),
                    })
                    .collect(),
                _ => Err(at("a list of names")),
            }
        };
        let number = || -> Result<u64, Usage> {
            match value.get_ref() {
                DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                    .map_err(|_| at("a whole number, at least 0")),
                _ => Err(at("a whole number")),
            }
        };
        match name {
            "db" => {
                out.dbs = strings()?;
                out.lines.insert("db", line);
            }
            "workload" => {
                out.workloads = strings()?;
                out.lines.insert("workload", line);
            }
            "nemesis" => {
                out.nemeses = strings()?;
                out.lines.insert("nemesis", line);
            }
            "runs" => {
                out.runs =
                    Some(u32::try_from(number()?).map_err(|_| at("at most 4294967295 runs"))?);
                out.lines.insert("runs", line);
            }
            "seed" => out.seed = Some(number()?),
            _ => {
                return Err(at(
                    "[matrix] has db, workload, nemesis, runs and seed; the options of each \
                     run go in [test]",
                ))
            }
        }
    }
    Ok(())
}

/// Options the matrix sets itself cannot be in a plan's tables.
fn refuse_owned(path: &Path, entries: &[PlanArg]) -> Result<(), Usage> {
    let owned: HashSet<&str> = MATRIX_OWNS.iter().copied().collect();
    match entries.iter().find(|e| owned.contains(e.key.as_str())) {
        Some(e) => Err(Usage(format!(
            "{} line {} ({}): the matrix sets `{}` for each cell (the axes and seed go in \
             [matrix], the store and JUnit file on the command line)",
            path.display(),
            e.line,
            e.key,
            e.key
        ))),
        None => Ok(()),
    }
}
