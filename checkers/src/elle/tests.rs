//! Each anomaly kind on the smallest history that shows it, and the verdict around it.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::history::{parse_history, Format};
use crate::verdict::Validity;

/// A history from lines `PROCESS TYPE VALUE`, in EDN (`0 ok [[:append :x 1]]`); an `invoke`
/// line's value may hold reads of nil.
pub fn hist(lines: &[&str]) -> History {
    let text: String = lines
        .iter()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (p, t, v) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            format!("{{:process {p}, :type :{t}, :f :txn, :value {v}}}\n")
        })
        .collect();
    let read = ReadOptions {
        format: Some(Format::Edn),
        independent: false,
    };
    parse_history(text.as_bytes(), Path::new("t.edn"), &read)
        .unwrap()
        .history
}

/// Runs a transaction `value` on `process` alone: invoke then completion.
fn alone(p: u32, t: &str, v: &str) -> [String; 2] {
    [format!("{p} invoke {v}"), format!("{p} {t} {v}")]
}

/// A transaction run alone: (process, outcome, value).
type Serial<'a> = (u32, &'a str, &'a str);

fn serial(txns: &[Serial]) -> History {
    let lines: Vec<String> = txns.iter().flat_map(|&(p, t, v)| alone(p, t, v)).collect();
    hist(&lines.iter().map(String::as_str).collect::<Vec<_>>())
}

fn check_with(h: &History, w: Workload, models: &[&str]) -> Verdict {
    let mut o = ElleOptions::new(w);
    o.consistency_models = models.iter().map(|m| m.to_string()).collect();
    check(h, &o).unwrap()
}

fn kinds(v: &Verdict) -> Vec<String> {
    let d: ElleDetail = serde_json::from_value(v.detail.clone()).unwrap();
    d.anomaly_types
}

fn la(h: &History) -> Verdict {
    check_with(h, Workload::ListAppend, &["serializable"])
}

#[test]
fn a_serial_list_append_history_is_valid_under_every_model() {
    let h = serial(&[
        (0, "ok", "[[:append :x 1] [:r :x [1]]]"),
        (1, "ok", "[[:r :x [1]] [:append :y 1]]"),
        (0, "fail", "[[:append :x 2]]"),
        (1, "ok", "[[:r :y [1]] [:r :x [1]]]"),
    ]);
    let v = check_with(&h, Workload::ListAppend, &["strict-serializable"]);
    assert_eq!(v.valid, Validity::Valid, "{v:#?}");
    assert!(v.anomalies.is_empty());
    assert_eq!(v.counts["transactions"], 4);
    assert_eq!(v.checker, "elle");
}

#[test]
fn g0_two_transactions_each_appending_after_the_other() {
    let h = hist(&[
        "0 invoke [[:append :x 1] [:append :y 2]]",
        "1 invoke [[:append :x 2] [:append :y 1]]",
        "0 ok [[:append :x 1] [:append :y 2]]",
        "1 ok [[:append :x 2] [:append :y 1]]",
        "2 invoke [[:r :x nil] [:r :y nil]]",
        "2 ok [[:r :x [1 2]] [:r :y [1 2]]]",
    ]);
    let v = la(&h);
    assert_eq!(v.valid, Validity::Invalid);
    assert_eq!(kinds(&v), vec!["G0"]);
    assert_eq!(v.anomalies[0].ops, vec![0, 1]);
    let d: ElleDetail = serde_json::from_value(v.detail).unwrap();
    assert_eq!(d.not, vec!["read-uncommitted"]);
    let case = &d.anomalies["G0"][0];
    assert_eq!(case.edges.len(), 2);
    assert!(case.edges.iter().all(|e| e.kind == "ww"));
    assert!(
        case.edges[0].explanation.contains("appended"),
        "{:?}",
        case.edges
    );
}

#[test]
fn g1c_each_reads_the_others_append() {
    let h = hist(&[
        "0 invoke [[:append :x 1] [:r :y nil]]",
        "1 invoke [[:append :y 1] [:r :x nil]]",
        "0 ok [[:append :x 1] [:r :y [1]]]",
        "1 ok [[:append :y 1] [:r :x [1]]]",
    ]);
    let v = la(&h);
    assert_eq!(kinds(&v), vec!["G1c"]);
    let text = v.anomalies[0].explanation.join("\n");
    assert!(text.contains("ending in T2's append of 1"), "{text}");
}

#[test]
fn g_single_read_skew() {
    let h = hist(&[
        "0 invoke [[:r :x nil] [:r :y nil]]",
        "1 invoke [[:append :x 1] [:append :y 1]]",
        "1 ok [[:append :x 1] [:append :y 1]]",
        "0 ok [[:r :x []] [:r :y [1]]]",
    ]);
    let v = la(&h);
    assert_eq!(kinds(&v), vec!["G-single"]);
    let text = v.anomalies[0].explanation.join("\n");
    assert!(text.contains("read key :x as [], without 1"), "{text}");
    assert!(text.contains(": rw") && text.contains(": wr"), "{text}");
    let d: ElleDetail = serde_json::from_value(v.detail).unwrap();
    assert_eq!(d.not, vec!["consistent-view", "repeatable-read"]);
}

#[test]
fn g2_item_write_skew_rules_out_repeatable_read_but_not_snapshot_isolation() {
    let h = hist(&[
        "0 invoke [[:r :x nil] [:append :y 1]]",
        "1 invoke [[:r :y nil] [:append :x 1]]",
        "0 ok [[:r :x []] [:append :y 1]]",
        "1 ok [[:r :y []] [:append :x 1]]",
    ]);
    let v = la(&h);
    assert_eq!(kinds(&v), vec!["G2-item"]);
    let d: ElleDetail = serde_json::from_value(v.detail.clone()).unwrap();
    assert_eq!(d.not, vec!["repeatable-read"]);
    assert!(!d.also_not.contains(&"snapshot-isolation".to_string()));
    let si = check_with(&h, Workload::ListAppend, &["snapshot-isolation"]);
    assert_eq!(si.valid, Validity::Valid, "{si:#?}");
    assert!(si.anomalies.is_empty(), "allowed anomalies stay in detail");
    assert_eq!(kinds(&si), vec!["G2-item"]);
}

#[test]
fn g_nonadjacent_two_rw_edges_apart() {
    let h = hist(&[
        "0 invoke [[:r :a nil] [:r :d nil]]",
        "1 invoke [[:append :a 1] [:append :b 1]]",
        "2 invoke [[:r :b nil] [:r :c nil]]",
        "3 invoke [[:append :c 1] [:append :d 1]]",
        "1 ok [[:append :a 1] [:append :b 1]]",
        "3 ok [[:append :c 1] [:append :d 1]]",
        "0 ok [[:r :a []] [:r :d [1]]]",
        "2 ok [[:r :b [1]] [:r :c []]]",
    ]);
    let v = la(&h);
    assert_eq!(kinds(&v), vec!["G-nonadjacent"]);
    let d: ElleDetail = serde_json::from_value(v.detail).unwrap();
    assert!(
        d.not.contains(&"snapshot-isolation".to_string())
            || d.also_not.contains(&"snapshot-isolation".to_string())
    );
}

#[test]
fn read_anomalies_of_list_append() {
    let cases: &[(&[Serial], &str)] = &[
        (
            &[(0, "fail", "[[:append :x 1]]"), (1, "ok", "[[:r :x [1]]]")],
            "G1a",
        ),
        (
            &[
                (0, "ok", "[[:append :x 1] [:append :x 2]]"),
                (1, "ok", "[[:r :x [1]]]"),
            ],
            "G1b",
        ),
        (
            &[(0, "ok", "[[:r :x []] [:append :x 1] [:r :x []]]")],
            "internal",
        ),
        (
            &[(0, "ok", "[[:append :x 1]]"), (1, "ok", "[[:r :x [1 1]]]")],
            "duplicate-elements",
        ),
        (&[(0, "ok", "[[:r :x [9]]]")], "garbage-read"),
        (&[(0, "ok", "[[:r :x [1]] [:append :x 1]]")], "future-read"),
    ];
    for (txns, kind) in cases {
        let v = la(&serial(txns));
        assert_eq!(v.valid, Validity::Invalid, "{kind}");
        assert!(
            kinds(&v).contains(&kind.to_string()),
            "{kind}: {:?}",
            kinds(&v)
        );
        assert!(v.anomalies.iter().any(|a| a.kind == *kind));
    }
}

#[test]
fn incompatible_orders_and_dirty_updates() {
    let v = la(&serial(&[
        (0, "ok", "[[:append :x 1]]"),
        (1, "ok", "[[:append :x 2]]"),
        (2, "ok", "[[:r :x [1 2]]]"),
        (3, "ok", "[[:r :x [2 1]]]"),
    ]));
    assert!(
        kinds(&v).contains(&"incompatible-order".to_string()),
        "{:?}",
        kinds(&v)
    );
    let v = la(&serial(&[
        (0, "fail", "[[:append :x 1]]"),
        (1, "ok", "[[:append :x 2]]"),
        (2, "ok", "[[:r :x [1 2]]]"),
    ]));
    let k = kinds(&v);
    assert!(
        k.contains(&"dirty-update".to_string()) && k.contains(&"G1a".to_string()),
        "{k:?}"
    );
}

#[test]
fn lost_update_two_committed_appends_on_the_same_read() {
    let h = hist(&[
        "0 invoke [[:r :x nil] [:append :x 1]]",
        "1 invoke [[:r :x nil] [:append :x 2]]",
        "0 ok [[:r :x []] [:append :x 1]]",
        "1 ok [[:r :x []] [:append :x 2]]",
        "2 invoke [[:r :x nil]]",
        "2 ok [[:r :x [1 2]]]",
    ]);
    let v = la(&h);
    let k = kinds(&v);
    assert!(k.contains(&"lost-update".to_string()), "{k:?}");
    // T1 -ww-> T2 (2 follows 1), T2 -rw-> T1 (T2 read [] before T1 appended 1): one rw edge.
    assert!(k.contains(&"G-single".to_string()), "{k:?}");
}

#[test]
fn a_process_that_misses_its_own_append_is_g_single_process() {
    let h = serial(&[(0, "ok", "[[:append :x 1]]"), (0, "ok", "[[:r :x []]]")]);
    assert_eq!(
        la(&h).valid,
        Validity::Valid,
        "serializable: order them the other way"
    );
    let v = check_with(&h, Workload::ListAppend, &["strict-serializable"]);
    assert_eq!(kinds(&v), vec!["G-single-process"]);
    assert!(v.anomalies[0]
        .explanation
        .iter()
        .any(|l| l.contains("ran on process 0")));
    let other = serial(&[(0, "ok", "[[:append :x 1]]"), (1, "ok", "[[:r :x []]]")]);
    let v = check_with(&other, Workload::ListAppend, &["strict-serializable"]);
    assert_eq!(kinds(&v), vec!["G-single-realtime"]);
    let v = check_with(
        &other,
        Workload::ListAppend,
        &["strong-session-serializable"],
    );
    assert_eq!(v.valid, Validity::Valid, "another process may read stale");
}

#[test]
fn rw_register_anomalies() {
    let rw = |txns: &[Serial]| {
        let mut o = ElleOptions::new(Workload::RwRegister);
        o.consistency_models = vec!["serializable".into()];
        o.inference.wfr_keys = true;
        check(&serial(txns), &o).unwrap()
    };
    let cases: &[(&[Serial], &str)] = &[
        (
            &[(0, "fail", "[[:w :x 1]]"), (1, "ok", "[[:r :x 1]]")],
            "G1a",
        ),
        (
            &[(0, "ok", "[[:w :x 1] [:w :x 2]]"), (1, "ok", "[[:r :x 1]]")],
            "G1b",
        ),
        (
            &[(0, "ok", "[[:w :x 1] [:r :x 2]]"), (1, "ok", "[[:w :x 2]]")],
            "internal",
        ),
        (&[(0, "ok", "[[:r :x 7]]")], "garbage-read"),
        (&[(0, "ok", "[[:r :x 1] [:w :x 1]]")], "future-read"),
        (
            &[
                (0, "ok", "[[:r :x nil] [:w :x 1]]"),
                (1, "ok", "[[:r :x nil] [:w :x 2]]"),
            ],
            "lost-update",
        ),
        (
            &[
                (0, "ok", "[[:r :x 2] [:w :x 1]]"),
                (1, "ok", "[[:r :x 1] [:w :x 2]]"),
            ],
            "cyclic-versions",
        ),
        (
            &[
                (0, "ok", "[[:r :x nil] [:w :y 1]]"),
                (1, "ok", "[[:r :y nil] [:w :x 1]]"),
            ],
            "G2-item",
        ),
    ];
    for (txns, kind) in cases {
        let v = rw(txns);
        assert!(
            kinds(&v).contains(&kind.to_string()),
            "{kind}: {:?}",
            kinds(&v)
        );
        assert_eq!(v.valid, Validity::Invalid, "{kind}");
    }
    let ok = rw(&[
        (0, "ok", "[[:r :x nil] [:w :x 1]]"),
        (1, "ok", "[[:r :x 1] [:w :x 2]]"),
    ]);
    assert_eq!(ok.valid, Validity::Valid, "{ok:#?}");
}

#[test]
fn a_register_cycle_explains_where_each_version_order_came_from() {
    let h = hist(&[
        "0 invoke [[:r :x nil] [:w :y 1]]",
        "1 invoke [[:r :y nil] [:w :x 1]]",
        "0 ok [[:r :x nil] [:w :y 1]]",
        "1 ok [[:r :y nil] [:w :x 1]]",
    ]);
    let v = check_with(&h, Workload::RwRegister, &["serializable"]);
    let text = v.anomalies[0].explanation.join("\n");
    assert!(text.contains("read key :x = nil and T2 wrote 1, a later version (the initial state precedes every value)"), "{text}");
}

#[test]
fn non_unique_appends_make_the_verdict_unknown() {
    let v = la(&serial(&[
        (0, "ok", "[[:append :x 1]]"),
        (1, "ok", "[[:append :x 1]]"),
    ]));
    assert_eq!(v.valid, Validity::Unknown);
    assert!(
        v.unknown_because[0].contains("appended to key :x twice"),
        "{:?}",
        v.unknown_because
    );
}

#[test]
fn a_time_limit_keeps_what_was_found_before_it() {
    let h = serial(&[(0, "fail", "[[:append :x 1]]"), (1, "ok", "[[:r :x [1]]]")]);
    let mut o = ElleOptions::new(Workload::ListAppend);
    o.time_limit = Some(Duration::ZERO);
    let v = check(&h, &o).unwrap();
    assert_eq!(v.valid, Validity::Invalid, "G1a was found before the limit");
    let clean = serial(&[(0, "ok", "[[:append :x 1]]"), (1, "ok", "[[:r :x [1]]]")]);
    let v = check(&clean, &o).unwrap();
    assert_eq!(v.valid, Validity::Unknown);
    assert!(
        v.unknown_because[0].contains("time limit"),
        "{:?}",
        v.unknown_because
    );
    o.time_limit = None;
    o.memory_limit = Some(10);
    let v = check(&clean, &o).unwrap();
    assert_eq!(v.valid, Validity::Unknown);
    assert!(
        v.unknown_because[0].contains("memory limit"),
        "{:?}",
        v.unknown_because
    );
}

#[test]
fn malformed_transactions_name_the_line_and_micro_op() {
    let h = hist(&[
        "0 invoke [[:append :x 1]]",
        "0 ok [[:append :x 1] [:r :x 5]]",
    ]);
    match check(&h, &ElleOptions::new(Workload::ListAppend)) {
        Err(ElleError::Malformed { line, message, .. }) => {
            assert_eq!(line, 2);
            assert!(message.contains("micro-op 2 [:r :x 5]"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let mut o = ElleOptions::new(Workload::ListAppend);
    o.consistency_models = vec!["eventual-bliss".into()];
    assert!(matches!(check(&h, &o), Err(ElleError::UnknownModel(_))));
}

#[test]
fn nothing_committed_is_unknown() {
    let v = la(&serial(&[(0, "fail", "[[:append :x 1]]")]));
    assert_eq!(v.valid, Validity::Unknown);
}
