//! Writing histories: faultline's JSONL (what a test run records), and EDN for Jepsen's tools.
//!
//! Both write one op per line, so that what the readers report as a line is an op, and so that a
//! history streamed to disk while a test runs loses at most its last, unfinished line.

use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::json_value::JsonOut;
use super::{History, Op, Process, Value};

/// Writes `history` as faultline's JSONL, with DESIGN.md's field names. `key`, `time`, `node`,
/// `error` and `workload` are left out when absent. JSON lacks keywords and sets: they are written as strings
/// and arrays. A NaN or infinite float is an `InvalidData` error, since JSON cannot hold it.
pub fn write_jsonl(history: &History, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    for op in &history.ops {
        serde_json::to_writer(&mut out, &JsonOp(op)).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes one op as a JSONL line (with its newline): what a recorder streams while a test runs.
pub fn write_jsonl_op(op: &Op, mut out: impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut out, &JsonOp(op)).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

struct JsonOp<'a>(&'a Op);

impl Serialize for JsonOp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let op = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &op.index)?;
        if let Some(t) = op.time {
            m.serialize_entry("time", &t)?;
        }
        match op.process {
            Process::Client(p) => m.serialize_entry("process", &p)?,
            Process::Nemesis => m.serialize_entry("process", "nemesis")?,
        }
        m.serialize_entry("type", op.kind.name())?;
        m.serialize_entry("f", &*op.f)?;
        if let Some(k) = &op.key {
            m.serialize_entry("key", &JsonOut(k))?;
        }
        m.serialize_entry("value", &JsonOut(&op.value))?;
        if let Some(n) = op.node() {
            m.serialize_entry("node", n)?;
        }
        if let Some(e) = op.error() {
            m.serialize_entry("error", &JsonOut(e))?;
        }
        if let Some(w) = op.workload() {
            m.serialize_entry("workload", w)?;
        }
        m.end()
    }
}

/// Writes `history` as Jepsen EDN, one op map per line: `{:index 0, :type :invoke, :process 3,
/// :f :read, :value nil}`. `type`, `f` and the nemesis are keywords as Jepsen writes them; an `f`
/// that cannot be a keyword (a space, say) is written as a string, which the reader also takes.
pub fn write_edn(history: &History, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    for op in &history.ops {
        write!(out, "{{:index {}", op.index)?;
        if let Some(t) = op.time {
            write!(out, ", :time {t}")?;
        }
        write!(out, ", :type :{}", op.kind.name())?;
        match op.process {
            Process::Client(p) => write!(out, ", :process {p}")?,
            Process::Nemesis => write!(out, ", :process :nemesis")?,
        }
        if is_keyword_name(&op.f) {
            write!(out, ", :f :{}", op.f)?;
        } else {
            write!(out, ", :f {}", Value::Str(op.f.as_ref().into()))?;
        }
        if let Some(k) = &op.key {
            write!(out, ", :key {k}")?;
        }
        write!(out, ", :value {}", op.value)?;
        if let Some(n) = op.node() {
            write!(out, ", :node {}", Value::Str(n.into()))?;
        }
        if let Some(e) = op.error() {
            write!(out, ", :error {e}")?;
        }
        out.write_all(b"}\n")?;
    }
    out.flush()
}

/// Whether `name` reads back as the same keyword: EDN symbol characters, not starting with a digit.
fn is_keyword_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || "*!_?$%&=<>-+.".contains(c));
    first_ok
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "*!_?$%&=<>-+.:#/'".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{parse_history, Format, OpExtra, OpType, ReadOptions};
    use std::path::Path;

    fn op(index: u64, process: Process, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index,
            time: Some(index as i64 * 1000),
            ..Op::new(process, kind, f, value)
        }
    }

    /// A history with everything a writer must carry: nemesis ops, keys, nil, nested values,
    /// strings with quotes, newlines and unicode, nodes and errors.
    fn rich_history() -> History {
        let s = |t: &str| Value::Str(t.into());
        let nested = Value::Map(
            vec![
                (
                    s("a\"b"),
                    Value::Vector(vec![Value::Nil, Value::Bool(true), Value::Float(-0.5)].into()),
                ),
                (
                    s("ünï\ncode ✓"),
                    Value::Map(vec![(s(""), Value::Int(i64::MIN))].into()),
                ),
            ]
            .into(),
        );
        let mut ops = vec![
            op(0, Process::Client(0), OpType::Invoke, "read", Value::Nil),
            op(
                1,
                Process::Nemesis,
                OpType::Info,
                "start-partition",
                nested.clone(),
            ),
            op(2, Process::Client(0), OpType::Ok, "read", nested),
            op(
                3,
                Process::Client(7),
                OpType::Invoke,
                "cas",
                Value::Vector(vec![Value::Int(1), Value::Int(4)].into()),
            ),
            op(
                5,
                Process::Client(7),
                OpType::Info,
                "cas",
                Value::Vector(vec![Value::Int(1), Value::Int(4)].into()),
            ),
            op(
                6,
                Process::Client(8),
                OpType::Invoke,
                "odd f",
                s("tab\there \\ back"),
            ),
        ];
        ops[3].key = Some(s("k7"));
        ops[4].key = Some(s("k7"));
        ops[4].time = None;
        ops[4].extra = Some(Box::new(OpExtra {
            node: Some("n1".into()),
            error: Some(s("timed out")),
            workload: None,
        }));
        History::from_ops(ops)
    }

    fn read_back(bytes: &[u8], format: Format) -> History {
        let options = ReadOptions {
            format: Some(format),
            independent: false,
        };
        match parse_history(bytes, Path::new("round-trip"), &options) {
            Ok(loaded) => loaded.history,
            Err(e) => panic!("{e}\n{}", String::from_utf8_lossy(bytes)),
        }
    }

    fn round_trip(history: &History, format: Format) -> History {
        let mut bytes = Vec::new();
        match format {
            Format::Jsonl => write_jsonl(history, &mut bytes).unwrap(),
            _ => write_edn(history, &mut bytes).unwrap(),
        }
        read_back(&bytes, format)
    }

    #[test]
    fn jsonl_round_trips_a_rich_history() {
        let h = rich_history();
        let back = round_trip(&h, Format::Jsonl);
        assert_eq!(back.ops, h.ops);
        assert_eq!(back.lines, (1..=h.len() as u32).collect::<Vec<_>>());
        assert_eq!(round_trip(&back, Format::Jsonl), back);
    }

    #[test]
    fn edn_round_trips_a_rich_history() {
        let h = rich_history();
        let back = round_trip(&h, Format::Edn);
        assert_eq!(back.ops, h.ops);
        assert_eq!(round_trip(&back, Format::Edn), back);
    }

    #[test]
    fn jsonl_uses_the_design_field_names_and_omits_absent_ones() {
        let mut h = History::from_ops(vec![op(
            12,
            Process::Client(3),
            OpType::Invoke,
            "cas",
            Value::Vector(vec![Value::Int(1), Value::Int(4)].into()),
        )]);
        h.ops[0].time = Some(81234567);
        h.ops[0].key = Some(Value::Str("k7".into()));
        let mut out = Vec::new();
        write_jsonl(&h, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"index\":12,\"time\":81234567,\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k7\",\"value\":[1,4]}\n"
        );
        let mut out = Vec::new();
        write_jsonl(
            &History::from_ops(vec![op(
                0,
                Process::Nemesis,
                OpType::Info,
                "start",
                Value::Nil,
            )]),
            &mut out,
        )
        .unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.contains("\"process\":\"nemesis\"")
                && !line.contains("key")
                && !line.contains("node"),
            "{line}"
        );
    }

    #[test]
    fn edn_writes_keywords_as_jepsen_does() {
        let h = History::from_ops(vec![op(
            0,
            Process::Nemesis,
            OpType::Info,
            "start-partition",
            Value::Keyword("majority".into()),
        )]);
        let mut out = Vec::new();
        write_edn(&h, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{:index 0, :time 0, :type :info, :process :nemesis, :f :start-partition, :value :majority}\n"
        );
    }

    #[test]
    fn edn_round_trips_keywords_and_sets_that_json_cannot_hold() {
        let v = Value::canonical_set(vec![Value::Keyword("a".into()), Value::Int(2)]);
        let h = History::from_ops(vec![op(0, Process::Client(1), OpType::Invoke, "add", v)]);
        assert_eq!(round_trip(&h, Format::Edn).ops, h.ops);
    }

    #[test]
    fn jsonl_refuses_nan_rather_than_writing_null() {
        let h = History::from_ops(vec![op(
            0,
            Process::Client(1),
            OpType::Invoke,
            "w",
            Value::Float(f64::NAN),
        )]);
        let e = write_jsonl(&h, Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn keyword_names_are_told_from_strings_that_need_quotes() {
        assert!(is_keyword_name("start-partition"));
        assert!(is_keyword_name("txn"));
        assert!(!is_keyword_name("odd f"));
        assert!(!is_keyword_name("1st"));
        assert!(!is_keyword_name(""));
        assert!(!is_keyword_name("a;b"));
    }
}
