//! What the nemesis was doing to one node at one moment, in words: "cut off from n1 n2 since
//! 17.2 s", "paused since 30.1 s". The anomaly pages put it next to each process lane, so that
//! a reader sees at once that the stale read came from the node on the wrong side of a cut.
//!
//! It is read off the history's own nemesis events, replayed up to the moment: partitions
//! (`start-partition` with its grudge, `stop-partition`), packet loss and latency, kill/restart
//! and pause/resume (one node or a list), and `heal-all`. A step that failed (it carries an
//! `error`) is not replayed: the page shows what is known to have happened.

use std::collections::{BTreeMap, BTreeSet};

use faultline_checkers::history::{History, Op, Value};

/// The faults in force on each node, and since when (ns).
#[derive(Debug, Default, Clone, PartialEq)]
struct State {
    /// node -> the nodes it drops packets from (the grudge in force).
    grudge: BTreeMap<String, BTreeSet<String>>,
    partition_since: i64,
    killed: BTreeMap<String, i64>,
    paused: BTreeMap<String, i64>,
    slowed: BTreeMap<String, i64>,
    lossy: BTreeMap<String, i64>,
}

/// The nemesis's doings, replayable to any moment.
pub struct Situations<'h> {
    events: Vec<&'h Op>,
}

impl<'h> Situations<'h> {
    pub fn of(history: &'h History) -> Situations<'h> {
        Situations {
            events: history
                .ops
                .iter()
                .filter(|o| o.process.is_nemesis() && o.time.is_some() && o.error().is_none())
                .collect(),
        }
    }

    fn at(&self, t: i64) -> State {
        let mut s = State::default();
        for op in self.events.iter().take_while(|o| o.time.unwrap_or(0) <= t) {
            let when = op.time.unwrap_or(0);
            match &*op.f {
                "start-partition" => {
                    s.grudge = grudge(&op.value);
                    s.partition_since = when;
                }
                "stop-partition" => s.grudge.clear(),
                "kill" => mark(&mut s.killed, &op.value, when),
                "restart" => unmark(&mut s.killed, &op.value),
                "pause" => mark(&mut s.paused, &op.value, when),
                "resume" => unmark(&mut s.paused, &op.value),
                "start-latency" => mark(
                    &mut s.slowed,
                    op.value.get("node").unwrap_or(&Value::Nil),
                    when,
                ),
                "stop-latency" => unmark(&mut s.slowed, &op.value),
                "start-packet-loss" => mark(
                    &mut s.lossy,
                    op.value.get("node").unwrap_or(&Value::Nil),
                    when,
                ),
                "stop-packet-loss" => s.lossy.clear(),
                "heal-all" => s = State::default(),
                _ => {}
            }
        }
        s
    }

    /// What was being done to `node` at `t` (ns), or `None` when nothing was.
    pub fn describe(&self, node: &str, t: i64) -> Option<String> {
        let s = self.at(t);
        let since = |ns: i64| format!("since {:.1} s", ns as f64 / 1e9);
        let mut parts = Vec::new();
        let cut: Vec<&str> = s
            .grudge
            .keys()
            .filter(|other| *other != node)
            .filter(|other| {
                s.grudge.get(node).is_some_and(|d| d.contains(*other))
                    || s.grudge.get(*other).is_some_and(|d| d.contains(node))
            })
            .map(String::as_str)
            .collect();
        if !cut.is_empty() {
            parts.push(format!(
                "cut off from {} {}",
                cut.join(" "),
                since(s.partition_since)
            ));
        }
        for (what, map) in [
            ("killed", &s.killed),
            ("paused", &s.paused),
            ("100 ms latency", &s.slowed),
            ("losing packets", &s.lossy),
        ] {
            if let Some(at) = map.get(node) {
                parts.push(format!("{what} {}", since(*at)));
            }
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// A grudge as the history holds it: a map node -> [nodes it drops].
fn grudge(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let Value::Map(entries) = v else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter_map(|(k, drops)| {
            let node = k.as_str()?.to_string();
            let drops = drops
                .as_slice()
                .unwrap_or(&[])
                .iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect();
            Some((node, drops))
        })
        .collect()
}

/// The node names of a fault's value: one name, or a list.
fn names(v: &Value) -> Vec<String> {
    match v {
        Value::Str(s) | Value::Keyword(s) => vec![s.to_string()],
        Value::Vector(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn mark(map: &mut BTreeMap<String, i64>, v: &Value, at: i64) {
    for n in names(v) {
        map.entry(n).or_insert(at);
    }
}

fn unmark(map: &mut BTreeMap<String, i64>, v: &Value) {
    let named = names(v);
    if named.is_empty() {
        map.clear();
    }
    for n in named {
        map.remove(&n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{OpType, Process};

    fn nemesis(time_s: f64, f: &str, value: Value) -> Op {
        Op {
            time: Some((time_s * 1e9) as i64),
            ..Op::new(Process::Nemesis, OpType::Info, f, value)
        }
    }

    fn list(names: &[&str]) -> Value {
        Value::Vector(names.iter().map(|n| Value::Str((*n).into())).collect())
    }

    #[test]
    fn a_node_on_the_small_side_of_a_cut_is_cut_off_from_the_others() {
        let g = Value::Map(
            vec![
                (Value::Str("n1".into()), list(&["n2", "n3"])),
                (Value::Str("n2".into()), list(&["n1"])),
                (Value::Str("n3".into()), list(&["n1"])),
            ]
            .into(),
        );
        let h = History::from_ops(vec![
            nemesis(17.2, "start-partition", g),
            nemesis(20.0, "pause", Value::Str("n2".into())),
            nemesis(25.0, "stop-partition", Value::Nil),
        ]);
        let s = Situations::of(&h);
        assert_eq!(s.describe("n1", 10_000_000_000), None, "before the cut");
        assert_eq!(
            s.describe("n1", 18_000_000_000).as_deref(),
            Some("cut off from n2 n3 since 17.2 s")
        );
        assert_eq!(
            s.describe("n2", 21_000_000_000).as_deref(),
            Some("cut off from n1 since 17.2 s, paused since 20.0 s")
        );
        assert_eq!(
            s.describe("n2", 26_000_000_000).as_deref(),
            Some("paused since 20.0 s")
        );
    }

    #[test]
    fn a_kill_of_several_nodes_and_heal_all_are_replayed() {
        let h = History::from_ops(vec![
            nemesis(1.0, "kill", list(&["n1", "n3"])),
            nemesis(2.0, "heal-all", Value::Nil),
        ]);
        let s = Situations::of(&h);
        assert_eq!(
            s.describe("n3", 1_500_000_000).as_deref(),
            Some("killed since 1.0 s")
        );
        assert_eq!(s.describe("n3", 2_500_000_000), None);
    }
}
