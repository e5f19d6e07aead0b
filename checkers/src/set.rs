//! The set checker: Jepsen's `set-full` semantics for a history of `add` and `read` operations
//! on a set (one set, or one per key).
//!
//! Clients add unique elements and now and then read the whole set; after the faults are healed
//! every node is read once more. Each element then gets one outcome:
//!
//! - **ok**: known (its add was acknowledged, or a read returned it) and returned by the last
//!   read that began after it was known;
//! - **lost**: known, yet missing from the latest read that began after it was known, and from
//!   every read after the last one that had it: an acknowledged write the datastore did not
//!   keep (the anomaly Jepsen found in Redis Sentinel in 2013);
//! - **unexpected**: returned by a read, but never added (or added by an add that failed, which
//!   promised it did not happen);
//! - **recovered**: its add ended `info` (unknown), and reads kept returning it: it happened;
//! - **stale**: not lost, but missing from some read that began after it was known: a read that
//!   did not see an acknowledged write (the delay from knowing to that read is its window);
//! - **duplicated**: a single read returned it more than once;
//! - **never-read**: its add was acknowledged, but no read returned it or began after that,
//!   so its fate cannot be told;
//! - **absent** (its add ended `info` and no read returned it) and **failed** (its add failed
//!   and no read returned it) are not anomalies: nothing was promised.
//!
//! These are Jepsen's rules, where the latest read decides. A run reads every node once more
//! after healing and settling, so the latest reads are those final reads. "Began after" is
//! decided by history position (an invoke after a completion is after it in real time), the
//! windows by the ops' `time`.
//!
//! The verdict is invalid when anything is lost, unexpected or duplicated, and, when the set
//! must be linearizable (`linearizable`), when anything is stale; otherwise it is unknown when
//! an acknowledged element was never read, since nothing then shows it was kept.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::history::{pair_calls, Call, History, OpType, Value};
use crate::verdict::{Anomaly, Validity, Verdict};

/// The name under which this checker's verdicts are stored.
pub const CHECKER: &str = "set";

/// How many elements an anomaly's explanation names one by one.
const EXPLAINED: usize = 10;

/// How to judge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// A stale read makes the history invalid (the datastore promises linearizable reads).
    pub linearizable: bool,
}

/// What became of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Lost,
    Unexpected,
    Duplicated,
    Stale,
    Recovered,
    NeverRead,
    Ok,
    Absent,
    Failed,
}

impl Outcome {
    /// The outcome's name, as in results and pages.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Lost => "lost",
            Outcome::Unexpected => "unexpected",
            Outcome::Duplicated => "duplicated",
            Outcome::Stale => "stale",
            Outcome::Recovered => "recovered",
            Outcome::NeverRead => "never-read",
            Outcome::Ok => "ok",
            Outcome::Absent => "absent",
            Outcome::Failed => "failed",
        }
    }

    /// Every outcome, anomalies first.
    pub const ALL: [Outcome; 9] = [
        Outcome::Lost,
        Outcome::Unexpected,
        Outcome::Duplicated,
        Outcome::Stale,
        Outcome::Recovered,
        Outcome::NeverRead,
        Outcome::Ok,
        Outcome::Absent,
        Outcome::Failed,
    ];
}

/// One element's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Element {
    /// The element, as the history writes it.
    pub element: String,
    pub outcome: Outcome,
    /// The add's invoke index and time (ns), if it was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_time: Option<i64>,
    /// `ok`, `fail`, `info` or `pending`; absent when never added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_outcome: Option<String>,
    /// When it became known: the completion of its acknowledged add, or of the first read
    /// that returned it (index and time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_time: Option<i64>,
    /// The latest-starting read, begun after it was known, that did not return it (its
    /// invoke index), and how long after it was known that read began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_absent_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_ms: Option<f64>,
    /// The latest-starting read that returned it (its invoke index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_present_index: Option<u64>,
    /// The nodes whose reads missed it after the last read that had it (lost elements).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_on: Vec<String>,
}

/// The result for one set (one key, or the whole history).
#[derive(Debug, Clone, PartialEq)]
pub struct SetResult {
    /// The key, in EDN; `None` for a history of one set.
    pub key: Option<String>,
    pub valid: Validity,
    /// Reads that completed ok.
    pub reads: usize,
    /// Every element, in order of first appearance.
    pub elements: Vec<Element>,
}

impl SetResult {
    /// How many elements had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.elements
            .iter()
            .filter(|e| e.outcome == outcome)
            .count()
    }

    /// The worst stale window, in milliseconds.
    pub fn worst_stale_ms(&self) -> Option<f64> {
        self.elements
            .iter()
            .filter(|e| e.outcome == Outcome::Stale)
            .filter_map(|e| e.stale_ms)
            .max_by(|a, b| a.total_cmp(b))
    }
}

/// The analysis of a history: one result per set.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAnalysis {
    pub valid: Validity,
    pub sets: Vec<SetResult>,
    /// Why the verdict is unknown.
    pub unknown_because: Vec<String>,
}

/// Checks every set of `history` (ops with `f` = `add` or `read`; others are ignored).
pub fn check(history: &History, options: &SetOptions) -> SetAnalysis {
    let calls = pair_calls(history);
    let mut by_key: BTreeMap<Option<String>, Vec<Call<'_>>> = BTreeMap::new();
    for call in calls {
        if matches!(&*call.invoke.f, "add" | "read") {
            let key = call.invoke.key.as_ref().map(|k| k.to_string());
            by_key.entry(key).or_default().push(call);
        }
    }
    let mut sets = Vec::new();
    let mut unknown_because = Vec::new();
    for (key, calls) in by_key {
        let result = check_one(key, &calls, options);
        if result.valid == Validity::Unknown {
            let which = result
                .key
                .as_deref()
                .map(|k| format!("key {k}: "))
                .unwrap_or_default();
            unknown_because.push(format!(
                "{which}{} acknowledged element(s) never read after they were acknowledged, \
                 so nothing shows they were kept",
                result.count(Outcome::NeverRead)
            ));
        }
        sets.push(result);
    }
    let valid = sets.iter().fold(Validity::Valid, |v, s| v.and(s.valid));
    SetAnalysis {
        valid,
        sets,
        unknown_because,
    }
}

/// What is known of one element while the calls are walked.
#[derive(Default)]
struct Track {
    element: String,
    add_index: Option<u64>,
    add_time: Option<i64>,
    add_outcome: Option<OpType>,
    add_pending: bool,
    known_index: Option<u64>,
    known_time: Option<i64>,
    duplicated: bool,
    read: bool,
}

fn check_one(key: Option<String>, calls: &[Call<'_>], options: &SetOptions) -> SetResult {
    let mut tracks: Vec<Track> = Vec::new();
    let mut slot: HashMap<Value, usize> = HashMap::new();
    let mut track_of = |v: &Value, tracks: &mut Vec<Track>| -> usize {
        *slot.entry(v.clone()).or_insert_with(|| {
            tracks.push(Track {
                element: v.to_string(),
                ..Default::default()
            });
            tracks.len() - 1
        })
    };
    // Adds first: an element's add decides whether a read of it is expected.
    let mut last_add_completion: Option<u64> = None;
    for call in calls.iter().filter(|c| &*c.invoke.f == "add") {
        let t = track_of(&call.invoke.value, &mut tracks);
        let track = &mut tracks[t];
        let kind = call.kind();
        // An element added twice keeps its best outcome: ok > info/pending > fail.
        let better = match (track.add_outcome, kind) {
            (None, _) if !track.add_pending => true,
            (_, Some(OpType::Ok)) => track.add_outcome != Some(OpType::Ok),
            (Some(OpType::Fail), Some(OpType::Info) | None) => true,
            _ => false,
        };
        if better {
            track.add_index = Some(call.invoke.index);
            track.add_time = call.invoke.time;
            track.add_outcome = kind;
            track.add_pending = kind.is_none();
        }
        if let Some(done) = call.completion {
            last_add_completion = last_add_completion.max(Some(done.index));
            if done.kind == OpType::Ok && sooner(track.known_index, done.index) {
                track.known_index = Some(done.index);
                track.known_time = done.time;
            }
        }
    }
    // Reads in history order (pair_calls keeps invoke order).
    let reads: Vec<(&Call<'_>, &[Value])> = calls
        .iter()
        .filter(|c| &*c.invoke.f == "read" && c.is_ok())
        .filter_map(|c| {
            let done = c.completion?;
            Some((c, done.value.as_slice().unwrap_or(&[])))
        })
        .collect();
    for (call, elements) in &reads {
        let Some(done) = call.completion else {
            continue;
        };
        let mut seen: HashMap<&Value, ()> = HashMap::new();
        for v in elements.iter() {
            let t = track_of(v, &mut tracks);
            let track = &mut tracks[t];
            track.read = true;
            if seen.insert(v, ()).is_some() {
                track.duplicated = true;
            }
            if sooner(track.known_index, done.index) {
                track.known_index = Some(done.index);
                track.known_time = done.time;
            }
        }
    }
    let read_sets: Vec<HashSet<&Value>> = reads.iter().map(|(_, es)| es.iter().collect()).collect();
    let values: Vec<&Value> = {
        let mut v: Vec<(&Value, usize)> = slot.iter().map(|(k, i)| (k, *i)).collect();
        v.sort_by_key(|(_, i)| *i);
        v.into_iter().map(|(k, _)| k).collect()
    };
    let mut elements = Vec::with_capacity(tracks.len());
    for (track, value) in tracks.iter().zip(values) {
        elements.push(judge(track, value, &reads, &read_sets));
    }
    let mut valid = Validity::Valid;
    for e in &elements {
        let bad = match e.outcome {
            Outcome::Lost | Outcome::Unexpected | Outcome::Duplicated => true,
            Outcome::Stale => options.linearizable,
            _ => false,
        };
        if bad {
            valid = Validity::Invalid;
        }
    }
    if valid == Validity::Valid && elements.iter().any(|e| e.outcome == Outcome::NeverRead) {
        valid = Validity::Unknown;
    }
    SetResult {
        key,
        valid,
        reads: reads.len(),
        elements,
    }
}

/// Whether `index` comes before `known` (or nothing is known yet).
fn sooner(known: Option<u64>, index: u64) -> bool {
    known.is_none_or(|k| index < k)
}

/// One element's outcome from what the walk gathered and the ok reads (in invoke order).
fn judge(
    track: &Track,
    value: &Value,
    reads: &[(&Call<'_>, &[Value])],
    read_sets: &[HashSet<&Value>],
) -> Element {
    let mut last_present: Option<u64> = None;
    // Reads begun after the element was known that missed it: (read, ns after it was known).
    let mut absent_after_known: Vec<(&Call<'_>, i64)> = Vec::new();
    let mut read_after_known = false;
    for ((call, _), set) in reads.iter().zip(read_sets) {
        let present = set.contains(value);
        if present {
            last_present = Some(call.invoke.index);
        }
        let Some(known) = track.known_index else {
            continue;
        };
        if call.invoke.index > known {
            read_after_known = true;
            if !present {
                let after = call.start() - track.known_time.unwrap_or(call.start());
                absent_after_known.push((call, after));
            }
        }
    }
    let last_absent = absent_after_known.last().copied();
    let lost = match (last_absent, last_present) {
        (Some((absent, _)), Some(present)) => absent.invoke.index > present,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let added = track.add_index.is_some();
    let failed = track.add_outcome == Some(OpType::Fail);
    let outcome = if track.read && (!added || failed) {
        Outcome::Unexpected
    } else if track.duplicated {
        Outcome::Duplicated
    } else if track.known_index.is_none() {
        if failed {
            Outcome::Failed
        } else {
            Outcome::Absent
        }
    } else if lost {
        Outcome::Lost
    } else if !read_after_known && last_present.is_none() {
        Outcome::NeverRead
    } else if last_absent.is_some() {
        Outcome::Stale
    } else if track.add_outcome == Some(OpType::Ok) {
        Outcome::Ok
    } else {
        Outcome::Recovered
    };
    let missing_on = if outcome == Outcome::Lost {
        let mut nodes: Vec<String> = Vec::new();
        for (call, _) in &absent_after_known {
            if last_present.is_some_and(|p| call.invoke.index < p) {
                continue;
            }
            let node = call.invoke.node().unwrap_or("?").to_string();
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        nodes
    } else {
        Vec::new()
    };
    Element {
        element: track.element.clone(),
        outcome,
        add_index: track.add_index,
        add_time: track.add_time,
        add_outcome: added.then(|| {
            track
                .add_outcome
                .map_or("pending", |k| k.name())
                .to_string()
        }),
        known_index: track.known_index,
        known_time: track.known_time,
        last_absent_index: last_absent.map(|(c, _)| c.invoke.index),
        // The window of a stale element: how long after it was known a read still missed it.
        stale_ms: (outcome == Outcome::Stale)
            .then(|| {
                absent_after_known
                    .iter()
                    .map(|(_, ns)| *ns)
                    .max()
                    .map(|ns| ns as f64 / 1e6)
            })
            .flatten(),
        last_present_index: last_present,
        missing_on,
    }
}

/// The part of a set's results kept in `results.json`: counts and the anomalous elements.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub valid: Validity,
    pub reads: usize,
    /// Elements per outcome.
    pub counts: BTreeMap<String, usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_stale_ms: Option<f64>,
    /// Every element that is lost, unexpected, duplicated, stale or recovered.
    pub notable: Vec<Element>,
}

impl SetAnalysis {
    /// This analysis as a neutral verdict.
    pub fn to_verdict(&self, options: &SetOptions) -> Verdict {
        let mut v = Verdict::new(
            CHECKER,
            if options.linearizable {
                "set (linearizable)"
            } else {
                "set"
            },
        );
        v.valid = self.valid;
        v.unknown_because = self.unknown_because.clone();
        let mut details = Vec::new();
        for set in &self.sets {
            for outcome in Outcome::ALL {
                *v.counts.entry(outcome.name().to_string()).or_default() +=
                    set.count(outcome) as u64;
            }
            *v.counts.entry("elements".into()).or_default() += set.elements.len() as u64;
            *v.counts.entry("reads".into()).or_default() += set.reads as u64;
            for outcome in [
                Outcome::Lost,
                Outcome::Unexpected,
                Outcome::Duplicated,
                Outcome::Stale,
            ] {
                if let Some(a) = anomaly(set, outcome, options) {
                    v.anomalies.push(a);
                }
            }
            details.push(SetDetail {
                key: set.key.clone(),
                valid: set.valid,
                reads: set.reads,
                counts: Outcome::ALL
                    .iter()
                    .map(|o| (o.name().to_string(), set.count(*o)))
                    .collect(),
                worst_stale_ms: set.worst_stale_ms(),
                notable: set
                    .elements
                    .iter()
                    .filter(|e| {
                        !matches!(e.outcome, Outcome::Ok | Outcome::Absent | Outcome::Failed)
                    })
                    .cloned()
                    .collect(),
            });
        }
        let worst = self
            .sets
            .iter()
            .filter_map(SetResult::worst_stale_ms)
            .max_by(|a, b| a.total_cmp(b));
        if let Some(ms) = worst {
            v.counts.insert("worst_stale_ms".into(), ms.round() as u64);
        }
        let acknowledged = self
            .sets
            .iter()
            .flat_map(|s| &s.elements)
            .filter(|e| e.add_outcome.as_deref() == Some("ok"))
            .count();
        v.counts.insert("acknowledged".into(), acknowledged as u64);
        let c = |k: &str| v.counts.get(k).copied().unwrap_or(0);
        v.summary = format!(
            "{} elements: {} ok, {} lost ({} acknowledged adds), {} unexpected, {} recovered, {} stale{}",
            c("elements"),
            c("ok"),
            c("lost"),
            acknowledged,
            c("unexpected"),
            c("recovered"),
            c("stale"),
            worst.map(|ms| format!(" (worst {ms:.0} ms)")).unwrap_or_default()
        );
        v.detail = serde_json::to_value(&details).unwrap_or(serde_json::Value::Null);
        v
    }
}

/// One anomaly for all elements of `outcome` in `set`, or `None` when there are none (or
/// stale elements are allowed, in which case they are not an anomaly).
fn anomaly(set: &SetResult, outcome: Outcome, options: &SetOptions) -> Option<Anomaly> {
    if outcome == Outcome::Stale && !options.linearizable {
        return None;
    }
    let elements: Vec<&Element> = set
        .elements
        .iter()
        .filter(|e| e.outcome == outcome)
        .collect();
    if elements.is_empty() {
        return None;
    }
    let names: Vec<&str> = elements.iter().map(|e| e.element.as_str()).collect();
    let mut explanation = vec![format!(
        "{} element(s) {}: {}",
        elements.len(),
        outcome.name(),
        abbreviate(&names, 40)
    )];
    for e in elements.iter().take(EXPLAINED) {
        explanation.push(explain(e));
    }
    Some(Anomaly {
        kind: outcome.name().to_string(),
        key: set.key.clone(),
        explanation,
        ops: elements.iter().filter_map(|e| e.add_index).collect(),
    })
}

/// One element's story in words.
pub fn explain(e: &Element) -> String {
    let add = match (&e.add_outcome, e.add_index) {
        (Some(o), Some(i)) => format!("added at index {i} ({o})"),
        _ => "never added".to_string(),
    };
    match e.outcome {
        Outcome::Lost => format!(
            "{}: {add}, known from index {}, missing from the last reads (on {})",
            e.element,
            e.known_index.unwrap_or(0),
            e.missing_on.join(", ")
        ),
        Outcome::Unexpected => format!("{}: {add}, yet returned by a read", e.element),
        Outcome::Duplicated => format!("{}: {add}, returned twice by one read", e.element),
        Outcome::Stale => format!(
            "{}: {add}, known from index {}, missing from reads until index {} (up to {:.0} ms later), then read again",
            e.element,
            e.known_index.unwrap_or(0),
            e.last_absent_index.unwrap_or(0),
            e.stale_ms.unwrap_or(0.0)
        ),
        other => format!("{}: {add}, {}", e.element, other.name()),
    }
}

/// `a, b, c ... and N more`.
fn abbreviate(names: &[&str], shown: usize) -> String {
    let mut text = names
        .iter()
        .take(shown)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > shown {
        text.push_str(&format!(" ... and {} more", names.len() - shown));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpExtra, Process};

    /// Builds a history from (process, type, f, value, node) events; time = 1 ms per index.
    fn history(events: &[(u64, OpType, &str, Value, &str)]) -> History {
        History::from_ops(
            events
                .iter()
                .enumerate()
                .map(|(i, (p, kind, f, value, node))| {
                    let mut o = Op::new(Process::Client(*p), *kind, f, value.clone());
                    o.index = i as u64;
                    o.time = Some(i as i64 * 1_000_000);
                    o.extra = Some(Box::new(OpExtra {
                        node: Some((*node).into()),
                        error: None,
                        workload: None,
                    }));
                    o
                })
                .collect(),
        )
    }

    fn set(xs: &[i64]) -> Value {
        Value::Vector(xs.iter().map(|x| Value::Int(*x)).collect())
    }

    use OpType::{Fail, Info, Invoke, Ok as Done};

    fn outcome(a: &SetAnalysis, element: &str) -> Outcome {
        a.sets[0]
            .elements
            .iter()
            .find(|e| e.element == element)
            .unwrap_or_else(|| panic!("no element {element}"))
            .outcome
    }

    #[test]
    fn an_acknowledged_add_missing_from_a_final_read_is_lost() {
        let h = history(&[
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Done, "add", Value::Int(1), "n1"),
            (1, Invoke, "add", Value::Int(2), "n2"),
            (1, Done, "add", Value::Int(2), "n2"),
            (2, Invoke, "read", Value::Nil, "n1"),
            (2, Done, "read", set(&[2]), "n1"),
            (3, Invoke, "read", Value::Nil, "n2"),
            (3, Done, "read", set(&[2]), "n2"),
        ]);
        let a = check(&h, &SetOptions::default());
        assert_eq!(a.valid, Validity::Invalid);
        assert_eq!(outcome(&a, "1"), Outcome::Lost);
        assert_eq!(outcome(&a, "2"), Outcome::Ok);
        let lost = a.sets[0]
            .elements
            .iter()
            .find(|e| e.element == "1")
            .unwrap();
        assert_eq!(lost.missing_on, vec!["n1", "n2"]);
        let v = a.to_verdict(&SetOptions::default());
        assert_eq!(v.anomaly_kinds(), vec!["lost"]);
        assert_eq!(v.counts["lost"], 1);
        assert_eq!(v.counts["acknowledged"], 2);
    }

    #[test]
    fn a_read_of_something_never_added_or_whose_add_failed_is_unexpected() {
        let h = history(&[
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Fail, "add", Value::Int(1), "n1"),
            (1, Invoke, "read", Value::Nil, "n1"),
            (1, Done, "read", set(&[1, 9]), "n1"),
        ]);
        let a = check(&h, &SetOptions::default());
        assert_eq!(a.valid, Validity::Invalid);
        assert_eq!(outcome(&a, "1"), Outcome::Unexpected);
        assert_eq!(outcome(&a, "9"), Outcome::Unexpected);
    }

    #[test]
    fn an_info_add_that_shows_up_is_recovered_and_one_that_does_not_is_no_anomaly() {
        let h = history(&[
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Info, "add", Value::Int(1), "n1"),
            (1, Invoke, "add", Value::Int(2), "n1"),
            (1, Info, "add", Value::Int(2), "n1"),
            (2, Invoke, "read", Value::Nil, "n1"),
            (2, Done, "read", set(&[1]), "n1"),
        ]);
        let a = check(&h, &SetOptions::default());
        assert_eq!(a.valid, Validity::Valid);
        assert_eq!(outcome(&a, "1"), Outcome::Recovered);
        assert_eq!(outcome(&a, "2"), Outcome::Absent);
    }

    #[test]
    fn a_read_that_misses_a_known_element_later_read_is_stale_and_invalid_only_if_linearizable() {
        let h = history(&[
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Done, "add", Value::Int(1), "n1"),
            (1, Invoke, "read", Value::Nil, "n3"),
            (1, Done, "read", set(&[]), "n3"),
            (2, Invoke, "read", Value::Nil, "n1"),
            (2, Done, "read", set(&[1]), "n1"),
        ]);
        let a = check(&h, &SetOptions::default());
        assert_eq!(a.valid, Validity::Valid);
        assert_eq!(outcome(&a, "1"), Outcome::Stale);
        let stale = &a.sets[0].elements[0];
        assert_eq!(stale.last_absent_index, Some(2));
        assert_eq!(
            stale.stale_ms,
            Some(1.0),
            "known at 1 ms, the read began at 2 ms"
        );
        let strict = check(&h, &SetOptions { linearizable: true });
        assert_eq!(strict.valid, Validity::Invalid);
        assert_eq!(
            strict
                .to_verdict(&SetOptions { linearizable: true })
                .anomaly_kinds(),
            vec!["stale"]
        );
    }

    #[test]
    fn a_read_concurrent_with_the_add_is_not_stale() {
        let h = history(&[
            (1, Invoke, "read", Value::Nil, "n1"),
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Done, "add", Value::Int(1), "n1"),
            (1, Done, "read", set(&[]), "n1"),
            (2, Invoke, "read", Value::Nil, "n1"),
            (2, Done, "read", set(&[1]), "n1"),
        ]);
        let a = check(&h, &SetOptions { linearizable: true });
        assert_eq!(outcome(&a, "1"), Outcome::Ok);
        assert_eq!(a.valid, Validity::Valid);
    }

    #[test]
    fn without_a_read_after_the_last_add_nothing_can_be_called_lost() {
        let h = history(&[
            (1, Invoke, "read", Value::Nil, "n1"),
            (1, Done, "read", set(&[]), "n1"),
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Done, "add", Value::Int(1), "n1"),
        ]);
        let a = check(&h, &SetOptions::default());
        assert_eq!(a.valid, Validity::Unknown);
        assert_eq!(a.unknown_because.len(), 1);
    }

    #[test]
    fn a_read_returning_an_element_twice_is_duplicated() {
        let h = history(&[
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Done, "add", Value::Int(1), "n1"),
            (1, Invoke, "read", Value::Nil, "n1"),
            (1, Done, "read", set(&[1, 1]), "n1"),
        ]);
        let a = check(&h, &SetOptions::default());
        assert_eq!(outcome(&a, "1"), Outcome::Duplicated);
        assert_eq!(a.valid, Validity::Invalid);
    }

    #[test]
    fn sets_under_different_keys_are_judged_apart() {
        let mut h = history(&[
            (0, Invoke, "add", Value::Int(1), "n1"),
            (0, Done, "add", Value::Int(1), "n1"),
            (1, Invoke, "read", Value::Nil, "n1"),
            (1, Done, "read", set(&[]), "n1"),
            (2, Invoke, "read", Value::Nil, "n1"),
            (2, Done, "read", set(&[1]), "n1"),
        ]);
        for (i, op) in h.ops.iter_mut().enumerate() {
            op.key = Some(Value::Str(if i < 4 { "a" } else { "b" }.into()));
        }
        let a = check(&h, &SetOptions::default());
        assert_eq!(a.sets.len(), 2);
        assert_eq!(a.sets[0].valid, Validity::Invalid, "1 is lost from set a");
        assert_eq!(
            a.sets[1].valid,
            Validity::Invalid,
            "1 was never added to set b"
        );
    }
}
