//! Each cell of a matrix against the same cell of the matrix before it: `faultline compare` of
//! their last runs (its text kept in the matrix's `compare/` folder), and what got worse at the
//! level of the cell, so that a regression stands out on the matrix page and in the output:
//! a worse outcome (valid yesterday, invalid today), a median p99 latency at least twice as
//! slow, kinds of anomaly not seen before.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::store::matrix::{compare_file, matrices, CellComparison, CellRecord, COMPARE};
use crate::web::compare::{Comparison, RunFacts};

/// How much slower a cell's median p99 must be to count as a regression.
pub const P99_REGRESSION: f64 = 2.0;

/// Fills in each cell's `previous` from the newest earlier matrix of `store` (before `stamp`)
/// that ran the same cell, and writes the comparison texts into `matrix_dir/compare/`.
pub fn compare_with_previous(
    store: &Path,
    stamp: &str,
    matrix_dir: &Path,
    cells: &mut [CellRecord],
) {
    let mut earlier = matrices(store);
    earlier.retain(|(dir, _)| dir.stamp.as_str() < stamp);
    earlier.reverse();
    for cell in cells.iter_mut().filter(|c| !c.runs.is_empty()) {
        let Some((dir, before)) = earlier.iter().find_map(|(dir, m)| {
            m.cells
                .iter()
                .find(|c| c.same_cell(cell) && !c.runs.is_empty())
                .map(|c| (dir, c))
        }) else {
            continue;
        };
        let mut comparison = judge(before, cell);
        comparison.matrix = dir.stamp.clone();
        // `faultline compare` of the two last runs, when both still exist.
        if let (Some(a), Some(b)) = (before.last_run(), cell.last_run()) {
            if let (Ok(a), Ok(b)) = (
                RunFacts::load(&store.join(a)),
                RunFacts::load(&store.join(b)),
            ) {
                let text = Comparison::new(a, b).to_text();
                let folder = matrix_dir.join(COMPARE);
                let path: PathBuf = folder.join(compare_file(cell));
                let written =
                    std::fs::create_dir_all(&folder).and_then(|()| std::fs::write(&path, text));
                if let Err(e) = written {
                    eprintln!("faultline test-all: {}: {e}", path.display());
                }
            }
        }
        cell.previous = Some(comparison);
    }
}

/// What got worse and better from `before` to `now` (the same cell).
pub fn judge(before: &CellRecord, now: &CellRecord) -> CellComparison {
    let mut c = CellComparison {
        outcome: before.outcome(),
        p99_ms: before.p99_ms(),
        ..Default::default()
    };
    if let (Some(a), Some(b)) = (before.outcome(), now.outcome()) {
        let change = format!("{} -> {}", a.word(), b.word());
        if b > a {
            c.regressions.push(change);
        } else if b < a {
            c.improvements.push(change);
        }
    }
    if let (Some(a), Some(b)) = (before.p99_ms(), now.p99_ms()) {
        if a > 0.0 && b >= a * P99_REGRESSION {
            c.regressions
                .push(format!("p99 {:.1}x slower ({a:.1} -> {b:.1} ms)", b / a));
        } else if b > 0.0 && a >= b * P99_REGRESSION {
            c.improvements
                .push(format!("p99 {:.1}x faster ({a:.1} -> {b:.1} ms)", a / b));
        }
    }
    // Kinds of anomaly (`checker: kind`, without the key, which differs from run to run).
    let kinds = |cell: &CellRecord| -> BTreeSet<String> {
        cell.runs
            .iter()
            .flat_map(|r| r.anomalies.iter())
            .map(|a| match a.split_once(": ") {
                Some((checker, rest)) => {
                    format!("{checker}: {}", rest.split(' ').next().unwrap_or(rest))
                }
                None => a.clone(),
            })
            .collect()
    };
    let (was, is) = (kinds(before), kinds(now));
    let new: Vec<&String> = is.difference(&was).collect();
    if !new.is_empty() {
        c.regressions.push(format!(
            "new anomalies: {}",
            new.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let gone: Vec<&String> = was.difference(&is).collect();
    if !gone.is_empty() {
        c.improvements.push(format!(
            "anomalies gone: {}",
            gone.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::matrix::{CellRun, Outcome};
    use faultline_checkers::Validity;

    fn cell(runs: &[(i32, Option<Validity>, f64, &[&str])]) -> CellRecord {
        CellRecord {
            db: "etcd".into(),
            workload: "register".into(),
            nemesis: "kill".into(),
            runs: runs
                .iter()
                .map(|(code, valid, p99, anomalies)| CellRun {
                    exit_code: *code,
                    valid: *valid,
                    p99_ms: Some(*p99),
                    anomalies: anomalies.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn valid_yesterday_invalid_today_is_a_regression() {
        let before = cell(&[(0, Some(Validity::Valid), 10.0, &[])]);
        let now = cell(&[(
            1,
            Some(Validity::Invalid),
            11.0,
            &["linearizable: nonlinearizable k7"],
        )]);
        let c = judge(&before, &now);
        assert_eq!(c.outcome, Some(Outcome::Valid));
        assert_eq!(
            c.regressions,
            vec![
                "valid -> invalid".to_string(),
                "new anomalies: linearizable: nonlinearizable".to_string()
            ]
        );
        // The way back is an improvement, not a regression.
        let back = judge(&now, &before);
        assert!(back.regressions.is_empty(), "{back:?}");
        assert_eq!(back.improvements.len(), 2, "{back:?}");
    }

    #[test]
    fn a_p99_twice_as_slow_is_a_regression_and_noise_is_not() {
        let before = cell(&[(0, Some(Validity::Valid), 10.0, &[])]);
        let slower = cell(&[(0, Some(Validity::Valid), 20.0, &[])]);
        assert_eq!(
            judge(&before, &slower).regressions,
            vec!["p99 2.0x slower (10.0 -> 20.0 ms)".to_string()]
        );
        let noisy = cell(&[(0, Some(Validity::Valid), 17.0, &[])]);
        assert!(judge(&before, &noisy).regressions.is_empty());
        // The median of the runs, so one slow run out of three is not enough.
        let three = cell(&[
            (0, Some(Validity::Valid), 10.0, &[]),
            (0, Some(Validity::Valid), 50.0, &[]),
            (0, Some(Validity::Valid), 11.0, &[]),
        ]);
        assert!(judge(&before, &three).regressions.is_empty());
    }

    #[test]
    fn a_run_that_crashed_is_worse_than_any_verdict() {
        let before = cell(&[(1, Some(Validity::Invalid), 10.0, &[])]);
        let now = cell(&[(70, None, 10.0, &[])]);
        assert_eq!(judge(&before, &now).regressions, vec!["invalid -> error"]);
    }
}
