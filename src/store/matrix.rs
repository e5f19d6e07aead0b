//! The record of a test matrix (`faultline test-all`): which datastore x workload x nemesis
//! cells it ran, each cell's runs and verdicts, and how each cell compares with the same cell
//! of the matrix before it. Kept as `<store>/matrices/<timestamp>/matrix.json`, next to the
//! matrix's page (`index.html`) and its JUnit file (`junit.xml`); `<store>/matrices/latest`
//! points at the newest. The runs themselves stay where every run is
//! (`<store>/<db>-<workload>/<timestamp>/`); the record names them relative to the store.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use faultline_checkers::Validity;
use serde::{Deserialize, Serialize};

use super::{replace_symlink, subdirs, timestamp, write_json, LATEST};

/// Where matrices are kept, under the store.
pub const MATRICES: &str = "matrices";
/// A matrix's record.
pub const MATRIX: &str = "matrix.json";
/// A matrix's JUnit file.
pub const JUNIT: &str = "junit.xml";

/// How a cell, or one run of it, came out: a verdict, or no verdict at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every check passed.
    Valid,
    /// A checker could not decide, or the run cannot vouch for its history.
    Unknown,
    /// An anomaly was found.
    Invalid,
    /// The run ended without a verdict, or with faults left unhealed (exit 69, 70, ...).
    Error,
}

impl Outcome {
    /// The outcome of a run from its exit code and its verdict, if it has one.
    pub fn of(exit_code: i32, valid: Option<Validity>) -> Outcome {
        match (exit_code, valid) {
            (0..=2, Some(Validity::Valid)) => Outcome::Valid,
            (0..=2, Some(Validity::Unknown)) => Outcome::Unknown,
            (0..=2, Some(Validity::Invalid)) => Outcome::Invalid,
            _ => Outcome::Error,
        }
    }

    /// `valid`, `unknown`, `invalid`, `error`: also the CSS class of the pages.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Unknown => "unknown",
            Outcome::Invalid => "invalid",
            Outcome::Error => "error",
        }
    }

    /// The worst of these (valid < unknown < invalid < error), `None` for none.
    pub fn worst(all: impl IntoIterator<Item = Outcome>) -> Option<Outcome> {
        all.into_iter().max()
    }
}

/// One run of a cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CellRun {
    /// The run's seed (`--seed`), derived from the matrix's.
    pub seed: u64,
    /// `faultline test`'s exit code.
    pub exit_code: i32,
    /// The run directory relative to the store (`etcd-register/20261204T...Z`), if one was
    /// made.
    pub run: Option<String>,
    /// The verdict in its `results.json`, if it has one.
    pub valid: Option<Validity>,
    pub seconds: f64,
    pub ok_per_second: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Every anomaly, as `checker: kind key` (what `faultline compare` tracks).
    pub anomalies: Vec<String>,
}

impl CellRun {
    pub fn outcome(&self) -> Outcome {
        Outcome::of(self.exit_code, self.valid)
    }
}

/// The same cell in the matrix before, and what got worse since.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CellComparison {
    /// The earlier matrix (its timestamp).
    pub matrix: String,
    /// Its outcome of the cell.
    pub outcome: Option<Outcome>,
    /// Its median p99 latency of the cell's runs, in ms.
    pub p99_ms: Option<f64>,
    /// What got worse: `valid -> invalid`, `p99 2.4x (11.0 -> 26.4 ms)`, new anomalies.
    pub regressions: Vec<String>,
    /// What got better.
    pub improvements: Vec<String>,
}

/// One datastore x workload x nemesis combination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CellRecord {
    pub db: String,
    pub workload: String,
    /// The column: the faults as `--nemesis` takes them (`partition-random-halves,kill`, `none`).
    pub nemesis: String,
    /// Why the cell was not run (the datastore has no client for the workload), if it was not.
    pub skipped: Option<String>,
    pub runs: Vec<CellRun>,
    pub previous: Option<CellComparison>,
}

impl CellRecord {
    /// `etcd-register [kill]`: how JUnit and the text output name a cell.
    pub fn name(&self) -> String {
        format!("{}-{} [{}]", self.db, self.workload, self.nemesis)
    }

    /// Whether this is the same cell as `other` (of another matrix).
    pub fn same_cell(&self, other: &CellRecord) -> bool {
        self.db == other.db && self.workload == other.workload && self.nemesis == other.nemesis
    }

    /// The worst outcome of its runs, `None` when it has none.
    pub fn outcome(&self) -> Option<Outcome> {
        Outcome::worst(self.runs.iter().map(CellRun::outcome))
    }

    /// The median p99 latency over the runs that have one.
    pub fn p99_ms(&self) -> Option<f64> {
        let mut p: Vec<f64> = self.runs.iter().filter_map(|r| r.p99_ms).collect();
        if p.is_empty() {
            return None;
        }
        p.sort_by(f64::total_cmp);
        Some(p[p.len() / 2])
    }

    /// The cell's newest run directory, relative to the store.
    pub fn last_run(&self) -> Option<&str> {
        self.runs.iter().rev().find_map(|r| r.run.as_deref())
    }
}

/// `matrix.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatrixRecord {
    /// When it started (`YYYYMMDDTHHMMSS.sssZ`): also its directory's name.
    pub stamp: String,
    /// The plan file, if there was one.
    pub plan: Option<PathBuf>,
    /// Every run's seed derives from this one.
    pub seed: u64,
    pub dbs: Vec<String>,
    pub workloads: Vec<String>,
    /// The columns.
    pub nemeses: Vec<String>,
    pub runs_per_cell: u32,
    /// The options of `faultline test` every cell was given (before its own).
    pub test_options: Vec<String>,
    pub cells: Vec<CellRecord>,
    pub seconds: f64,
    /// The worst exit code of the runs: the exit code of `test-all`.
    pub exit_code: i32,
    /// Stopped by a signal before every cell ran.
    pub interrupted: bool,
    /// `faultline` version.
    pub faultline_version: String,
}

impl MatrixRecord {
    /// The cell of `db`, `workload`, `nemesis`.
    pub fn cell(&self, db: &str, workload: &str, nemesis: &str) -> Option<&CellRecord> {
        self.cells
            .iter()
            .find(|c| c.db == db && c.workload == workload && c.nemesis == nemesis)
    }

    /// Every cell's regressions, as `cell: what`.
    pub fn regressions(&self) -> Vec<String> {
        self.cells
            .iter()
            .flat_map(|c| {
                c.previous
                    .iter()
                    .flat_map(|p| p.regressions.iter())
                    .map(move |r| format!("{}: {r}", c.name()))
            })
            .collect()
    }
}

/// A matrix's directory: `<store>/matrices/<stamp>/`.
#[derive(Debug, Clone)]
pub struct MatrixDir {
    pub path: PathBuf,
    pub stamp: String,
}

impl MatrixDir {
    /// Creates a fresh matrix directory, named by the time now.
    pub fn create(store: &Path) -> Result<MatrixDir> {
        let stamp = timestamp(std::time::SystemTime::now());
        let path = store.join(MATRICES).join(&stamp);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create the matrix directory {}", path.display()))?;
        Ok(MatrixDir { path, stamp })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, record: &MatrixRecord) -> Result<()> {
        write_json(&self.file(MATRIX), record)
    }

    /// Points `<store>/matrices/latest` at this matrix.
    pub fn link_latest(&self, store: &Path) -> Result<()> {
        replace_symlink(Path::new(&self.stamp), &store.join(MATRICES).join(LATEST))
    }
}

/// Reads a `matrix.json`, naming the file on failure.
pub fn read_matrix(path: &Path) -> Result<MatrixRecord> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a matrix record", path.display()))
}

/// Every matrix of the store that can be read, oldest first (a directory without a readable
/// `matrix.json`, such as one whose run is still going, is left out).
pub fn matrices(store: &Path) -> Vec<(MatrixDir, MatrixRecord)> {
    let Ok(dirs) = subdirs(&store.join(MATRICES)) else {
        return Vec::new();
    };
    dirs.into_iter()
        .filter_map(|path| {
            let record = read_matrix(&path.join(MATRIX)).ok()?;
            let stamp = path.file_name()?.to_string_lossy().into_owned();
            Some((MatrixDir { path, stamp }, record))
        })
        .collect()
}

/// The folder of a matrix that holds the `faultline compare` texts of its cells.
pub const COMPARE: &str = "compare";

/// The file name of a cell's comparison text.
pub fn compare_file(cell: &CellRecord) -> String {
    super::file_safe(&format!("{}-{}-{}", cell.db, cell.workload, cell.nemesis)) + ".txt"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_record_survives_a_round_trip() {
        let record = MatrixRecord {
            stamp: "20261204T010000.000Z".into(),
            seed: 7,
            dbs: vec!["etcd".into()],
            workloads: vec!["register".into()],
            nemeses: vec!["kill".into()],
            runs_per_cell: 1,
            cells: vec![CellRecord {
                db: "etcd".into(),
                workload: "register".into(),
                nemesis: "kill".into(),
                runs: vec![CellRun {
                    seed: 8,
                    exit_code: 1,
                    run: Some("etcd-register/20261204T010001.000Z".into()),
                    valid: Some(Validity::Invalid),
                    p99_ms: Some(12.5),
                    anomalies: vec!["linearizable: nonlinearizable k1".into()],
                    ..Default::default()
                }],
                previous: Some(CellComparison {
                    matrix: "20261203T010000.000Z".into(),
                    outcome: Some(Outcome::Valid),
                    regressions: vec!["valid -> invalid".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            exit_code: 1,
            ..Default::default()
        };
        let text = serde_json::to_string_pretty(&record).unwrap();
        assert!(text.contains("\"outcome\": \"valid\""), "{text}");
        let back: MatrixRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
        assert_eq!(
            back.regressions(),
            vec!["etcd-register [kill]: valid -> invalid"]
        );
        assert_eq!(back.cells[0].outcome(), Some(Outcome::Invalid));
    }

    #[test]
    fn the_worst_outcome_wins_and_an_error_is_worst() {
        assert_eq!(
            Outcome::worst([Outcome::Valid, Outcome::Invalid, Outcome::Unknown]),
            Some(Outcome::Invalid)
        );
        assert_eq!(Outcome::of(69, Some(Validity::Valid)), Outcome::Error);
        assert_eq!(Outcome::of(2, Some(Validity::Unknown)), Outcome::Unknown);
        assert_eq!(Outcome::of(0, None), Outcome::Error);
        assert_eq!(Outcome::worst([]), None);
    }
}
