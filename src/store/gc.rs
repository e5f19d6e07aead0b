//! `faultline gc --keep-days N`: prunes the runs of a store older than N days, so that a store
//! that grows every night stays small, without losing what a person or the next matrix needs.
//!
//! Never removed, whatever their age:
//! - the newest run of each test (what `<test>/latest` points at, and so `results/latest`);
//! - the last run of every matrix cell (the newest run of each datastore x workload x nemesis
//!   that any matrix recorded and that still exists): the next matrix compares against it;
//! - anything that is not a run directory named by its time stamp (faultline did not make it).
//!
//! Matrix records themselves (`matrices/<stamp>/`, a few kilobytes each) are kept; their pages
//! show a pruned run as pruned. `--dry-run` lists what would go and removes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::matrix::matrices;
use super::{run_dirs, RunDir};

/// What a collection keeps and removes.
#[derive(Debug, Default, PartialEq)]
pub struct Collection {
    /// Run directories to remove (older than the limit, not protected), oldest first.
    pub remove: Vec<PathBuf>,
    /// Old runs kept anyway, and why.
    pub protected: Vec<(PathBuf, String)>,
    /// Runs young enough to keep.
    pub recent: usize,
}

/// Decides what `gc` removes from `store`: runs older than `keep` at `now`, but never a
/// protected one (see the module documentation).
pub fn collect(store: &Path, keep: Duration, now: SystemTime) -> Result<Collection> {
    let runs = run_dirs(store).with_context(|| format!("cannot list {}", store.display()))?;
    let mut reasons: BTreeMap<PathBuf, String> = BTreeMap::new();
    // The newest run of each test: run_dirs sorts by test, then time.
    let mut newest: BTreeMap<PathBuf, &RunDir> = BTreeMap::new();
    for run in &runs {
        if let (Some(test), Some(_)) = (run.path.parent(), stamp_time(&run.path)) {
            newest.insert(test.to_owned(), run);
        }
    }
    for (test, run) in newest {
        reasons.insert(
            run.path.clone(),
            format!("the newest run of {}", name(&test)),
        );
    }
    // The last existing run of every matrix cell, over every matrix, oldest to newest.
    let mut cells: BTreeMap<(String, String, String), (PathBuf, String)> = BTreeMap::new();
    for (dir, record) in matrices(store) {
        for cell in &record.cells {
            let last = cell
                .runs
                .iter()
                .rev()
                .filter_map(|r| r.run.as_deref())
                .map(|r| store.join(r))
                .find(|p| p.is_dir());
            if let Some(path) = last {
                cells.insert(
                    (cell.db.clone(), cell.workload.clone(), cell.nemesis.clone()),
                    (
                        path,
                        format!(
                            "the last run of matrix cell {} (matrix {})",
                            cell.name(),
                            dir.stamp
                        ),
                    ),
                );
            }
        }
    }
    for (path, why) in cells.into_values() {
        reasons.entry(path).or_insert(why);
    }
    let mut out = Collection::default();
    for run in runs {
        let Some(time) = stamp_time(&run.path) else {
            continue;
        };
        let old = now.duration_since(time).is_ok_and(|age| age > keep);
        if !old {
            out.recent += 1;
        } else if let Some(why) = reasons.get(&run.path) {
            out.protected.push((run.path.clone(), why.clone()));
        } else {
            out.remove.push(run.path);
        }
    }
    out.remove
        .sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    Ok(out)
}

/// Runs `faultline gc`; returns the exit code. After removing, the store's index and the
/// matrices' pages are written again by `rewrite_pages` (the report's: the store knows
/// no page), so that no page links to a run that is gone.
pub fn run<E: std::fmt::Display>(
    args: &crate::cli::GcArgs,
    rewrite_pages: impl Fn(&Path) -> std::result::Result<(), E>,
) -> i32 {
    let days = args.keep_days;
    if !(days.is_finite() && days >= 0.0) {
        eprintln!("faultline gc: --keep-days {days}: a number of days, at least 0");
        return crate::exit::USAGE;
    }
    let Ok(keep) = Duration::try_from_secs_f64(days * 86_400.0) else {
        eprintln!("faultline gc: --keep-days {days}: too many days");
        return crate::exit::USAGE;
    };
    if !args.store.is_dir() {
        eprintln!(
            "faultline gc: the store {} does not exist",
            args.store.display()
        );
        return crate::exit::BAD_INPUT;
    }
    let collection = match collect(&args.store, keep, SystemTime::now()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faultline gc: {e:#}");
            return crate::exit::BAD_INPUT;
        }
    };
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removing"
    };
    for dir in &collection.remove {
        println!("{verb} {}", dir.display());
    }
    for (dir, why) in &collection.protected {
        println!("keeping {} ({why})", dir.display());
    }
    println!(
        "{} run(s) older than {days} day(s) {}; {} old run(s) kept; {} recent run(s) kept",
        collection.remove.len(),
        if args.dry_run {
            "would be removed (dry run: nothing removed)"
        } else {
            "removed"
        },
        collection.protected.len(),
        collection.recent
    );
    if args.dry_run {
        return crate::exit::VALID;
    }
    if let Err(e) = remove(&collection) {
        eprintln!("faultline gc: {e:#}");
        return crate::exit::INTERNAL;
    }
    if let Err(e) = rewrite_pages(&args.store) {
        eprintln!("faultline gc: the pages could not be written again: {e}");
        return crate::exit::INTERNAL;
    }
    crate::exit::VALID
}

/// Removes what [`collect`] chose; returns the directories removed.
pub fn remove(collection: &Collection) -> Result<usize> {
    for dir in &collection.remove {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(collection.remove.len())
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The time a run directory's name stands for (`YYYYMMDDTHHMMSS.sssZ`), if it is one.
pub fn stamp_time(run: &Path) -> Option<SystemTime> {
    parse_stamp(run.file_name()?.to_str()?)
}

/// Reads a [`super::timestamp`] back.
pub fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    let b = stamp.as_bytes();
    if stamp.len() != 20 || !stamp.is_ascii() || b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp[r].parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss, ms) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian (H. Hinnant's algorithm,
/// the inverse of the store's `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::timestamp;

    #[test]
    fn stamps_read_back_to_their_time() {
        for ms in [0u64, 951_782_400_123, 1_795_660_245_123, 4_102_444_799_999] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(parse_stamp(&timestamp(t)), Some(t), "{}", timestamp(t));
        }
        assert_eq!(parse_stamp("latest"), None);
        assert_eq!(parse_stamp("20261399T000000.000Z"), None);
    }
}
