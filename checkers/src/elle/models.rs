//! Consistency models and the anomalies they rule out, as Elle names them (after Adya's
//! "Weak Consistency", Bailis et al.'s "Highly Available Transactions", Cerone et al.'s
//! framework for atomic visibility, and Daudjee and Salem for the session and strong variants).
//!
//! Three relations, each a small table:
//! - a model implies weaker models (`serializable` implies `snapshot-isolation`, ...);
//! - a model directly proscribes some anomalies (`repeatable-read` proscribes `G2-item`);
//! - an anomaly implies others (a `G0` cycle is also a `G1c` cycle, `G1a` is a case of `G1`).
//!
//! From these: the anomalies a set of models prohibits (what makes a history invalid), and for
//! the anomalies found, the models they rule out: `not`, the weakest of them, and `also_not`,
//! every stronger one.
//!
//! One deliberate difference from Elle: faultline's reads are all of single keys (no predicate
//! reads), so every rw edge is an item anti-dependency, and a `G-single` or `G-nonadjacent`
//! cycle is a `G2-item` cycle too (Adya: a G2 cycle with an item anti-dependency). Elle keeps
//! `G-single` apart from `G2-item` because its cycles may involve predicates; here that would
//! only hide that such a cycle rules out `repeatable-read`.
//!
//! Also: `garbage-read` (a value nobody wrote) is faultline's own name, proscribed by every
//! model, as Elle does for `duplicate-elements` and `cyclic-versions`.

use std::collections::{BTreeSet, VecDeque};

/// Each model with the weaker models it directly implies.
const IMPLIES: &[(&str, &[&str])] = &[
    (
        "strict-serializable",
        &[
            "serializable",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
    ),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-read-committed"],
    ),
    (
        "strong-session-snapshot-isolation",
        &["snapshot-isolation", "strong-session-read-committed"],
    ),
    (
        "serializable",
        &[
            "repeatable-read",
            "snapshot-isolation",
            "update-serializable",
        ],
    ),
    ("update-serializable", &["forward-consistent-view"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    ("forward-consistent-view", &["consistent-view"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("parallel-snapshot-isolation", &["causal-cerone"]),
    ("prefix", &["causal-cerone"]),
    ("causal-cerone", &["read-atomic"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    (
        "repeatable-read",
        &["cursor-stability", "monotonic-atomic-view"],
    ),
    ("cursor-stability", &["read-committed"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("monotonic-view", &["read-committed"]),
    ("monotonic-snapshot-read", &["read-committed"]),
    (
        "strong-read-committed",
        &["strong-session-read-committed", "strong-read-uncommitted"],
    ),
    (
        "strong-session-read-committed",
        &["read-committed", "strong-session-read-uncommitted"],
    ),
    (
        "strong-read-uncommitted",
        &["strong-session-read-uncommitted"],
    ),
    ("strong-session-read-uncommitted", &["read-uncommitted"]),
    ("read-committed", &["read-uncommitted"]),
    ("read-uncommitted", &[]),
];

/// Other names people use, and Adya's, for the models above.
const ALIASES: &[(&str, &str)] = &[
    ("PL-1", "read-uncommitted"),
    ("PL-2", "read-committed"),
    ("PL-CS", "cursor-stability"),
    ("PL-2L", "monotonic-view"),
    ("PL-MSR", "monotonic-snapshot-read"),
    ("PL-2+", "consistent-view"),
    ("PL-FCV", "forward-consistent-view"),
    ("PL-3U", "update-serializable"),
    ("PL-2.99", "repeatable-read"),
    ("PL-SI", "snapshot-isolation"),
    ("PL-3", "serializable"),
    ("conflict-serializable", "serializable"),
    ("PL-SS", "strict-serializable"),
    ("strong-serializable", "strict-serializable"),
];

/// What each model forbids over the models it implies.
const PROSCRIBES: &[(&str, &[&str])] = &[
    (
        "read-uncommitted",
        &[
            "G0",
            "duplicate-elements",
            "cyclic-versions",
            "garbage-read",
        ],
    ),
    ("read-committed", &["G1"]),
    ("cursor-stability", &["G1", "lost-update"]),
    ("monotonic-view", &["G1"]),
    ("monotonic-snapshot-read", &["G1"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1"]),
    ("update-serializable", &["G1"]),
    ("repeatable-read", &["G1", "G2-item", "lost-update"]),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("causal-cerone", &["internal", "G1a"]),
    ("prefix", &["internal", "G1a"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("snapshot-isolation", &["internal", "G1", "G-nonadjacent"]),
    ("serializable", &["internal", "G1", "G2"]),
    (
        "strict-serializable",
        &["G1", "G1c-realtime", "G2-realtime"],
    ),
    ("strong-session-read-uncommitted", &["G0-process"]),
    ("strong-session-read-committed", &["G1c-process"]),
    ("strong-read-uncommitted", &["G0-realtime"]),
    ("strong-read-committed", &["G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &["internal", "G1-process", "G-nonadjacent-process"],
    ),
    (
        "strong-snapshot-isolation",
        &["internal", "G1-realtime", "G-nonadjacent-realtime"],
    ),
    ("strong-session-serializable", &["G1-process", "G2-process"]),
];

/// Each anomaly with the anomalies it is a case of.
const ANOMALY_IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1-process", "G1c-realtime"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    ("G-single", &["G-nonadjacent", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    ("G-nonadjacent", &["G2-item", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-item-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-item-realtime"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-process", &["G2-realtime"]),
    // Two committed reads that no single order of appends explains: someone read a state
    // that was never committed.
    ("incompatible-order", &["G1a"]),
    // A committed append built on an aborted one: a dirty read by a write.
    ("dirty-update", &["G1a"]),
    // Observing one's own later write: a cycle of one transaction through a wr edge.
    ("future-read", &["G1c"]),
    // Two transactions read the same version and both wrote over it: a G2-item cycle when
    // the version order is known.
    ("lost-update", &["G2-item"]),
];

fn out<'a>(table: &'a [(&'a str, &'a [&'a str])], x: &str) -> &'a [&'a str] {
    table.iter().find(|(k, _)| *k == x).map_or(&[], |(_, v)| v)
}

/// Everything reachable from `start` by `next`, `start` included.
fn closure<'a>(
    start: impl IntoIterator<Item = &'a str>,
    next: impl Fn(&str) -> Vec<&'a str>,
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&str> = start.into_iter().collect();
    while let Some(x) = queue.pop_front() {
        if seen.insert(x) {
            queue.extend(next(x));
        }
    }
    seen
}

/// Every model name faultline knows, canonical names first.
pub fn known_models() -> Vec<&'static str> {
    IMPLIES
        .iter()
        .map(|(m, _)| *m)
        .chain(ALIASES.iter().map(|(a, _)| *a))
        .collect()
}

/// The canonical name of a model (aliases resolved), or `None` if unknown.
pub fn canonical(model: &str) -> Option<&'static str> {
    if let Some((m, _)) = IMPLIES.iter().find(|(m, _)| *m == model) {
        return Some(m);
    }
    ALIASES.iter().find(|(a, _)| *a == model).map(|(_, m)| *m)
}

/// The models implied by `models`, themselves included.
fn implied_models(models: &[&'static str]) -> BTreeSet<&'static str> {
    closure(models.iter().copied(), |m| out(IMPLIES, m).to_vec())
}

/// The models that imply `models` (stronger ones), themselves included.
fn models_implying(models: impl IntoIterator<Item = &'static str>) -> BTreeSet<&'static str> {
    closure(models, |m| {
        IMPLIES
            .iter()
            .filter(|(_, weaker)| weaker.contains(&m))
            .map(|(s, _)| *s)
            .collect()
    })
}

/// The anomalies implied by `anomalies`, themselves included.
pub fn implied_anomalies<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    closure(anomalies, |a| out(ANOMALY_IMPLIES, a).to_vec())
}

/// The anomalies whose presence makes `models` impossible: what each proscribes, what the
/// weaker models it implies proscribe, and every anomaly that implies one of those.
pub fn prohibited(models: &[&'static str]) -> BTreeSet<&'static str> {
    let direct = implied_models(models)
        .into_iter()
        .flat_map(|m| out(PROSCRIBES, m).iter().copied());
    closure(direct, |a| {
        ANOMALY_IMPLIES
            .iter()
            .filter(|(_, implied)| implied.contains(&a))
            .map(|(x, _)| *x)
            .collect()
    })
}

/// The models that anomalies of these kinds rule out: `(not, also_not)`, the weakest of them
/// and all the others. Both sorted by name.
pub fn boundary<'a>(
    anomalies: impl IntoIterator<Item = &'a str>,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let found = implied_anomalies(anomalies);
    let direct = PROSCRIBES
        .iter()
        .filter(|(_, proscribed)| proscribed.iter().any(|a| found.contains(a)))
        .map(|(m, _)| *m);
    let impossible = models_implying(direct);
    // The weakest: those implying no other impossible model.
    let weakest: Vec<&'static str> = impossible
        .iter()
        .copied()
        .filter(|m| {
            implied_models(&[m])
                .iter()
                .all(|w| w == m || !impossible.contains(w))
        })
        .collect();
    let rest = impossible
        .iter()
        .copied()
        .filter(|m| !weakest.contains(m))
        .collect();
    (weakest, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_skew_rules_out_repeatable_read_and_up_but_not_snapshot_isolation() {
        let (not, also) = boundary(["G2-item"]);
        assert_eq!(not, vec!["repeatable-read"]);
        assert!(also.contains(&"serializable") && also.contains(&"strict-serializable"));
        assert!(!also.contains(&"snapshot-isolation"), "{also:?}");
    }

    #[test]
    fn g_single_rules_out_consistent_view_and_repeatable_read() {
        let (not, also) = boundary(["G-single"]);
        assert_eq!(not, vec!["consistent-view", "repeatable-read"]);
        assert!(also.contains(&"snapshot-isolation"));
        assert!(!also.contains(&"read-committed"));
    }

    #[test]
    fn g0_rules_out_everything_from_read_uncommitted() {
        let (not, also) = boundary(["G0"]);
        assert_eq!(not, vec!["read-uncommitted"]);
        assert!(also.contains(&"strict-serializable") && also.contains(&"read-committed"));
    }

    #[test]
    fn a_realtime_cycle_rules_out_only_the_strong_models() {
        let (not, also) = boundary(["G2-item-realtime"]);
        assert_eq!(not, vec!["strict-serializable"]);
        assert!(also.is_empty(), "{also:?}");
        let (not, _) = boundary(["G1c-realtime"]);
        assert_eq!(not, vec!["strong-read-committed"]);
    }

    #[test]
    fn nothing_found_rules_out_nothing() {
        assert_eq!(boundary([]), (vec![], vec![]));
    }

    #[test]
    fn serializable_prohibits_data_cycles_but_not_realtime_ones() {
        let p = prohibited(&["serializable"]);
        for a in [
            "G0",
            "G1a",
            "G1b",
            "G1c",
            "G-single",
            "G2-item",
            "lost-update",
            "internal",
        ] {
            assert!(p.contains(a), "{a}");
        }
        for a in ["G2-item-realtime", "G0-process", "G1c-realtime"] {
            assert!(!p.contains(a), "{a}");
        }
        let strict = prohibited(&["strict-serializable"]);
        assert!(strict.contains("G2-item-realtime") && strict.contains("G0-process"));
        assert!(!prohibited(&["snapshot-isolation"]).contains("G2-item"));
        assert!(prohibited(&["read-committed"]).contains("G1a"));
        assert!(!prohibited(&["read-committed"]).contains("G-single"));
    }

    #[test]
    fn aliases_resolve_and_every_table_names_known_models() {
        assert_eq!(canonical("PL-3"), Some("serializable"));
        assert_eq!(canonical("snapshot-isolation"), Some("snapshot-isolation"));
        assert_eq!(canonical("eventual"), None);
        for (m, weaker) in IMPLIES {
            for w in *weaker {
                assert!(canonical(w).is_some(), "{m} implies unknown {w}");
            }
        }
        for (m, _) in PROSCRIBES {
            assert!(canonical(m).is_some(), "{m}");
        }
    }
}
