//! Fault windows: when, during a run, the nemesis had a fault in force.
//!
//! The plots shade these windows so that a reader can see at a glance whether latency spikes, failures
//! and drops in throughput line up with the faults. A window is read off the nemesis's own events:
//! `start-X`/`stop-X`, `kill`/`restart` and `pause`/`resume` open and close one. The first event of a
//! fault opens its window and the first event of its undoing closes it, so a nemesis that writes both
//! an invoke and a completion for one action is read the same as one that writes a single event.
//! A fault still open at the end of the history, or closed only by `heal-all`, ends at the last
//! event's time: `heal-all` is the run's final cleanup, not a fault of its own. `clock-reset`
//! closes the clock faults (`clock-bump`, `clock-strobe`, `clock-skew`) open at the time.

use faultline_checkers::history::{History, Op, Value};

/// One stretch of time during which a fault was in force.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    /// `partition`, `packet-loss`, `latency`, `kill` or `pause` (or the `X` of another `start-X`).
    pub kind: String,
    /// Seconds since the test started.
    pub start_s: f64,
    /// Seconds since the test started; never before `start_s`.
    pub end_s: f64,
    /// The kind, followed by the nodes it hit where the nemesis named them (`kill n1,n3`).
    pub label: String,
}

/// What one nemesis event does to the set of open faults.
enum Action<'a> {
    Open(&'a str),
    Close(&'a str),
    /// Closes every open fault whose kind starts with this.
    CloseAll(&'a str),
    HealAll,
    Ignore,
}

fn action(f: &str) -> Action<'_> {
    if let Some(kind) = f.strip_prefix("start-") {
        return Action::Open(kind);
    }
    if let Some(kind) = f.strip_prefix("stop-") {
        return Action::Close(kind);
    }
    match f {
        "kill" => Action::Open("kill"),
        "restart" => Action::Close("kill"),
        "pause" => Action::Open("pause"),
        "resume" => Action::Close("pause"),
        "clock-reset" => Action::CloseAll("clock-"),
        "heal-all" => Action::HealAll,
        _ => Action::Ignore,
    }
}

/// The fault windows of a history, ordered by start time. Events without a time are skipped.
pub fn fault_windows(history: &History) -> Vec<FaultWindow> {
    let last_s = history
        .ops
        .iter()
        .filter_map(|op| op.time)
        .max()
        .map_or(0.0, seconds);
    // Faults in force, in the order they were opened: (kind, start, label).
    let mut open: Vec<(String, f64, String)> = Vec::new();
    let mut windows = Vec::new();
    for op in history.ops.iter().filter(|op| op.process.is_nemesis()) {
        let Some(time) = op.time else { continue };
        let at = seconds(time);
        match action(&op.f) {
            Action::Open(kind) => {
                if !open.iter().any(|(k, _, _)| k == kind) {
                    open.push((kind.to_owned(), at, label(kind, op)));
                }
            }
            Action::Close(kind) => {
                if let Some(i) = open.iter().position(|(k, _, _)| k == kind) {
                    let (kind, start_s, label) = open.remove(i);
                    windows.push(window(kind, start_s, at, label));
                }
            }
            Action::CloseAll(prefix) => {
                let (closed, still): (Vec<_>, Vec<_>) =
                    open.drain(..).partition(|(k, _, _)| k.starts_with(prefix));
                open = still;
                for (kind, start_s, label) in closed {
                    windows.push(window(kind, start_s, at, label));
                }
            }
            Action::HealAll => {
                for (kind, start_s, label) in open.drain(..) {
                    windows.push(window(kind, start_s, last_s, label));
                }
            }
            Action::Ignore => {}
        }
    }
    for (kind, start_s, label) in open {
        windows.push(window(kind, start_s, last_s, label));
    }
    windows.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    windows
}

fn window(kind: String, start_s: f64, end_s: f64, label: String) -> FaultWindow {
    FaultWindow {
        kind,
        start_s,
        end_s: end_s.max(start_s),
        label,
    }
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// `kill n1,n3` where the nemesis named its targets as a node or a list of nodes, else the kind.
fn label(kind: &str, op: &Op) -> String {
    let name = |v: &Value| match v {
        Value::Str(s) | Value::Keyword(s) => Some(s.to_string()),
        _ => None,
    };
    // A clock event names its nodes in a map.
    let value = op.value.get("nodes").unwrap_or(&op.value);
    let nodes: Option<Vec<String>> = match value {
        Value::Vector(items) if !items.is_empty() => items.iter().map(name).collect(),
        v => name(v).map(|n| vec![n]),
    };
    match nodes {
        Some(nodes) => format!("{kind} {}", nodes.join(",")),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{OpType, Process};

    fn op(time_s: f64, process: Process, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            time: Some((time_s * 1e9) as i64),
            ..Op::new(process, kind, f, value)
        }
    }

    fn nemesis(time_s: f64, f: &str) -> Op {
        op(time_s, Process::Nemesis, OpType::Info, f, Value::Nil)
    }

    fn client(time_s: f64) -> Op {
        op(
            time_s,
            Process::Client(0),
            OpType::Invoke,
            "read",
            Value::Nil,
        )
    }

    fn spans(history: &History) -> Vec<(String, f64, f64)> {
        fault_windows(history)
            .into_iter()
            .map(|w| (w.kind, w.start_s, w.end_s))
            .collect()
    }

    #[test]
    fn start_and_stop_of_each_kind_pair_into_windows() {
        let h = History::from_ops(vec![
            nemesis(1.0, "start-partition"),
            nemesis(2.0, "start-latency"),
            nemesis(3.0, "stop-partition"),
            nemesis(4.0, "start-packet-loss"),
            nemesis(5.0, "stop-latency"),
            nemesis(6.0, "stop-packet-loss"),
        ]);
        assert_eq!(
            spans(&h),
            vec![
                ("partition".into(), 1.0, 3.0),
                ("latency".into(), 2.0, 5.0),
                ("packet-loss".into(), 4.0, 6.0),
            ]
        );
    }

    #[test]
    fn clock_faults_are_windows_closed_by_their_reset() {
        let bump = faultline_checkers::history::value_from_json(serde_json::json!({
            "delta_ms": 250, "nodes": ["n2"], "clock_offsets_ms": {"n2": 250.0}
        }))
        .unwrap();
        let h = History::from_ops(vec![
            op(
                1.0,
                Process::Nemesis,
                OpType::Info,
                "start-clock-bump",
                bump,
            ),
            nemesis(2.0, "start-partition"),
            nemesis(3.0, "clock-reset"),
            nemesis(4.0, "stop-partition"),
        ]);
        assert_eq!(
            spans(&h),
            vec![
                ("clock-bump".into(), 1.0, 3.0),
                ("partition".into(), 2.0, 4.0)
            ]
        );
        assert_eq!(fault_windows(&h)[0].label, "clock-bump n2");
    }

    #[test]
    fn kill_restart_and_pause_resume_are_windows() {
        let h = History::from_ops(vec![
            nemesis(1.0, "kill"),
            nemesis(2.0, "restart"),
            nemesis(3.0, "pause"),
            nemesis(4.0, "resume"),
        ]);
        assert_eq!(
            spans(&h),
            vec![("kill".into(), 1.0, 2.0), ("pause".into(), 3.0, 4.0)]
        );
    }

    #[test]
    fn a_fault_left_open_or_closed_by_heal_all_ends_at_the_last_event() {
        let h = History::from_ops(vec![
            nemesis(1.0, "start-partition"),
            nemesis(2.0, "heal-all"),
            nemesis(3.0, "pause"),
            client(9.0),
        ]);
        assert_eq!(
            spans(&h),
            vec![("partition".into(), 1.0, 9.0), ("pause".into(), 3.0, 9.0)]
        );
    }

    #[test]
    fn invoke_and_completion_of_one_action_make_one_window() {
        let h = History::from_ops(vec![
            op(1.0, Process::Nemesis, OpType::Invoke, "kill", Value::Nil),
            op(1.5, Process::Nemesis, OpType::Info, "kill", Value::Nil),
            op(4.0, Process::Nemesis, OpType::Invoke, "restart", Value::Nil),
            op(4.5, Process::Nemesis, OpType::Info, "restart", Value::Nil),
        ]);
        assert_eq!(spans(&h), vec![("kill".into(), 1.0, 4.0)]);
    }

    #[test]
    fn stray_stops_and_client_ops_make_no_window() {
        let h = History::from_ops(vec![
            client(0.5),
            nemesis(1.0, "stop-partition"),
            nemesis(2.0, "resume"),
        ]);
        assert!(fault_windows(&h).is_empty());
        assert!(fault_windows(&History::default()).is_empty());
    }

    #[test]
    fn the_label_names_the_nodes_the_nemesis_named() {
        let nodes = Value::Vector(vec![Value::Str("n1".into()), Value::Str("n3".into())].into());
        let h = History::from_ops(vec![
            op(1.0, Process::Nemesis, OpType::Info, "kill", nodes),
            nemesis(2.0, "start-partition"),
        ]);
        let labels: Vec<String> = fault_windows(&h).into_iter().map(|w| w.label).collect();
        assert_eq!(labels, vec!["kill n1,n3", "partition"]);
    }

    #[test]
    fn the_recorded_run_has_six_partitions() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/run-history.jsonl");
        let h = faultline_checkers::history::read_history(&path, &Default::default())
            .unwrap()
            .history;
        let w = fault_windows(&h);
        assert_eq!(w.len(), 6);
        assert!(w
            .iter()
            .all(|w| w.kind == "partition" && w.end_s - w.start_s > 4.0));
    }
}
