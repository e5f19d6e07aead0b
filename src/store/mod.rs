//! The store: `results/<test-name>/<YYYYMMDDTHHMMSS.sssZ>/`, one directory per run, with
//! `latest` links to the newest run of each test and of all tests (DESIGN.md "The store").
//!
//! This module owns the layout: the names of the files a run holds are spelled here and only
//! here ([`HISTORY`], [`TEST`], [`RESULTS`], ...), and [`records`] has the typed `test.json` and
//! `results.json` that the run writes and the pages, `--junit` and `compare` read.

pub mod gc;
pub mod matrix;
pub mod records;
pub mod synthetic;

pub use records::{ResultsRecord, RunRecords, Summary, TestRecord};

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// The history, streamed while the run goes on.
pub const HISTORY: &str = "history.jsonl";
/// How the run was made ([`TestRecord`]).
pub const TEST: &str = "test.json";
/// What came of it ([`ResultsRecord`]); missing when the run ended before its check.
pub const RESULTS: &str = "results.json";
/// The run's own log.
pub const LOG: &str = "faultline.log";
/// The run's summary page, and the store's index page.
pub const INDEX: &str = "index.html";
/// Where each node's logs go: `nodes/<node>/<file>`.
pub const NODE_LOGS: &str = "nodes";
/// The link to the newest run.
pub const LATEST: &str = "latest";

/// A run's directory in the store.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
    /// `<test-name>/<timestamp>`, relative to the store.
    pub relative: PathBuf,
}

impl RunDir {
    /// Creates a fresh run directory (and the store, if missing).
    pub fn create(store: &Path, test_name: &str) -> Result<RunDir> {
        let stamp = timestamp(SystemTime::now());
        let relative = Path::new(test_name).join(&stamp);
        let path = store.join(&relative);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create the run directory {}", path.display()))?;
        Ok(RunDir { path, relative })
    }

    /// A run directory that exists already (to read it, or to write its pages).
    pub fn open(path: &Path) -> RunDir {
        let relative = match (path.parent().and_then(Path::file_name), path.file_name()) {
            (Some(test), Some(stamp)) => Path::new(test).join(stamp),
            _ => path.to_owned(),
        };
        RunDir {
            path: path.to_owned(),
            relative,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `history.jsonl`.
    pub fn history(&self) -> PathBuf {
        self.file(HISTORY)
    }

    /// Writes `test.json`.
    pub fn write_test(&self, test: &TestRecord) -> Result<()> {
        write_json(&self.file(TEST), test)
    }

    /// Writes `results.json`.
    pub fn write_results(&self, results: &ResultsRecord) -> Result<()> {
        write_json(&self.file(RESULTS), results)
    }

    /// Reads whatever records the run holds (see [`RunRecords::read`]).
    pub fn records(&self) -> RunRecords {
        RunRecords::read(&self.path)
    }

    /// Points `<store>/<test>/latest` and `<store>/latest` at this run. Links are replaced
    /// atomically (a new link renamed over the old one), so a reader never sees none.
    pub fn link_latest(&self, store: &Path) -> Result<()> {
        let test_dir = self.path.parent().context("run directory has no parent")?;
        let stamp = self.path.file_name().context("run directory has no name")?;
        replace_symlink(Path::new(stamp), &test_dir.join(LATEST))?;
        replace_symlink(&self.relative, &store.join(LATEST))
    }
}

/// Every run directory of a store (`<store>/<test>/<stamp>/`, the `latest` links and the
/// matrices left out), sorted by test, then time.
pub fn run_dirs(store: &Path) -> std::io::Result<Vec<RunDir>> {
    let mut runs = Vec::new();
    for test in subdirs(store)? {
        if test.file_name().is_some_and(|n| n == matrix::MATRICES) {
            continue;
        }
        for run in subdirs(&test)? {
            runs.push(RunDir::open(&run));
        }
    }
    Ok(runs)
}

/// The real subdirectories of `dir` (symbolic links such as `latest` left out), sorted.
pub(crate) fn subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .with_context(|| format!("serializing {}", path.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create link {}", tmp.display()))?;
    std::fs::rename(&tmp, link).with_context(|| format!("cannot replace link {}", link.display()))
}

/// UTC time as `YYYYMMDDTHHMMSS.sssZ`: sortable, and legal in file names everywhere.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A file name made of the key's letters, digits, `-` and `_` (anything else becomes `_`),
/// short enough for any file system. Callers make it unique when two keys collide.
pub fn file_safe(key: &str) -> String {
    let name: String = key
        .trim_matches('"')
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .take(80)
        .collect();
    if name.is_empty() {
        "key".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_become_plain_file_names() {
        assert_eq!(file_safe("\"k1\""), "k1");
        assert_eq!(file_safe("../etc/passwd"), "___etc_passwd");
        assert_eq!(file_safe("\"\""), "key");
    }

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_660_245_123);
        assert_eq!(timestamp(t), "20261126T023045.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..8], "20000229");
    }

    #[test]
    fn latest_links_follow_the_newest_run() {
        let store = tempfile::tempdir().unwrap();
        let a = RunDir::create(store.path(), "etcd-register").unwrap();
        a.link_latest(store.path()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = RunDir::create(store.path(), "etcd-register").unwrap();
        b.link_latest(store.path()).unwrap();
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b.path).unwrap());
        let per_test = std::fs::canonicalize(store.path().join("etcd-register/latest")).unwrap();
        assert_eq!(per_test, latest);
    }
}
