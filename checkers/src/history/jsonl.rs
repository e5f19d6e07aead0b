//! faultline's `history.jsonl`: one JSON object per line, Jepsen's field names (DESIGN.md).
//!
//! Each line is deserialized straight into the op's fields; fields other than Jepsen's are
//! skipped without building them. Blank lines are skipped. A last line cut short (a history still
//! being written, or whose writer stopped mid-line) is an error that says so, rather than a
//! history silently missing its last op.

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::json_value::{oversized_integer, JsonIn};
use super::lines::Lines;
use super::op_fields::{Field, OpFields};
use super::{Emit, FnNames, ReadError};

pub(super) fn read<R: BufRead>(
    lines: &mut Lines<R>,
    path: &Path,
    emit: &mut Emit,
) -> Result<(), ReadError> {
    let mut names = FnNames::default();
    let mut previous: Option<u64> = None;
    while let Some((line_no, line)) = lines.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| ReadError::Parse {
            path: path.to_owned(),
            line: line_no,
            message,
        };
        let fields = read_fields(line).map_err(|(message, cut_short)| {
            if cut_short && !lines.line_complete() {
                err(format!(
                    "the last line is cut short, with no newline after it ({message}): the \
                     history was still being written, or its writer stopped mid-line; remove \
                     the line to check the rest"
                ))
            } else {
                err(message)
            }
        })?;
        let next_index = previous.map_or(0, |i| i.saturating_add(1));
        let op = fields.into_op(&mut names, next_index).map_err(err)?;
        previous = Some(op.index);
        emit(op, line_no)?;
    }
    Ok(())
}

/// One line's JSON object as op fields, or what was wrong with it and whether the line ended
/// before the JSON did.
pub(super) fn read_fields(line: &str) -> Result<OpFields, (String, bool)> {
    let mut de = serde_json::Deserializer::from_str(line);
    let fields = OpObject
        .deserialize(&mut de)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| {
            let eof = e.classify() == serde_json::error::Category::Eof;
            (json_message(e), eof)
        })?;
    let read = |field: Option<&str>| field.is_none_or(|f| Field::from_name(f) != Field::Other);
    if let Some((field, n)) = oversized_integer(line, read) {
        let field = field.map(|f| format!("`{f}`: ")).unwrap_or_default();
        return Err((
            format!("{field}integer {n} does not fit in 64 signed bits"),
            false,
        ));
    }
    Ok(fields)
}

/// serde_json's message with its position given as a column: its "line 1" is always the one
/// line handed to it, and would contradict the file line of the error.
fn json_message(e: serde_json::Error) -> String {
    let text = e.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    match e.classify() {
        // Well-formed JSON that is not an op: the message says what was expected.
        serde_json::error::Category::Data => format!("at column {}: {message}", e.column()),
        _ => format!("invalid JSON at column {}: {message}", e.column()),
    }
}

/// Deserializes the top-level object of a line into [`OpFields`].
struct OpObject;

impl<'de> DeserializeSeed<'de> for OpObject {
    type Value = OpFields;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OpFields, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OpObject {
    type Value = OpFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an operation object like {\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OpFields, A::Error> {
        let mut fields = OpFields::default();
        while let Some(FieldName(field)) = map.next_key()? {
            if field == Field::Other {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let JsonIn(v) = map.next_value()?;
            fields.set(field, v).map_err(de::Error::custom)?;
        }
        Ok(fields)
    }
}

/// An object key, recognised without allocating.
struct FieldName(Field);

impl<'de> de::Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, s: &str) -> Result<FieldName, E> {
                Ok(FieldName(Field::from_name(s)))
            }
        }
        d.deserialize_identifier(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, OpType, Process, Value};

    fn parse(text: &str, path: &Path) -> Result<History, ReadError> {
        let options = crate::history::ReadOptions {
            format: Some(crate::history::Format::Jsonl),
            independent: false,
        };
        crate::history::parse_history(text.as_bytes(), path, &options).map(|l| l.history)
    }

    fn parse_ok(text: &str) -> History {
        parse(text, Path::new("h.jsonl")).unwrap()
    }

    fn parse_err(text: &str) -> (usize, String) {
        match parse(text, Path::new("h.jsonl")) {
            Err(ReadError::Parse { line, message, .. }) => (line, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_design_example_and_a_nemesis_op() {
        let h = parse_ok(concat!(
            r#"{"index":12,"time":81234567,"process":3,"type":"invoke","f":"cas","key":"k7","value":[1,4]}"#,
            "\n\n",
            r#"{"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2"]},"node":"n1","error":"x"}"#,
            "\n"
        ));
        assert_eq!(h.ops.len(), 2);
        let op = &h.ops[0];
        assert_eq!(
            (op.index, op.time, op.process),
            (12, Some(81234567), Process::Client(3))
        );
        assert_eq!((op.kind, &*op.f), (OpType::Invoke, "cas"));
        assert_eq!(op.key, Some(Value::Str("k7".into())));
        assert_eq!(
            op.value,
            Value::Vector(vec![Value::Int(1), Value::Int(4)].into())
        );
        let nem = &h.ops[1];
        assert_eq!(nem.process, Process::Nemesis);
        assert_eq!(nem.index, 13, "a missing index follows the previous one");
        assert_eq!(nem.node(), Some("n1"));
        assert_eq!(nem.error(), Some(&Value::Str("x".into())));
        assert_eq!(h.lines, vec![1, 3]);
    }

    #[test]
    fn a_missing_index_is_the_position() {
        let h = parse_ok(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":null}\r\n",
        );
        assert_eq!(
            h.ops.iter().map(|o| o.index).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(h.ops[0].time, None);
    }

    #[test]
    fn unknown_type_names_the_line_and_the_choices() {
        let (line, msg) = parse_err(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"done\",\"f\":\"read\"}\n",
        );
        assert_eq!(line, 2);
        assert!(
            msg.contains("\"done\"") && msg.contains("invoke, ok, fail or info"),
            "{msg}"
        );
    }

    #[test]
    fn missing_f_is_named() {
        let (line, msg) = parse_err("{\"process\":0,\"type\":\"invoke\"}");
        assert_eq!(line, 1);
        assert!(msg.contains("missing field `f`"), "{msg}");
    }

    #[test]
    fn bad_json_gives_serde_json_message_and_column() {
        let (line, msg) = parse_err("\n{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"\n");
        assert_eq!(line, 2);
        assert!(msg.starts_with("invalid JSON at column"), "{msg}");
        assert!(!msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn a_last_line_cut_short_says_so_and_one_inside_the_file_does_not() {
        let whole = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
        let (line, msg) = parse_err(&format!("{whole}{}", &whole[..20]));
        assert_eq!(line, 2);
        assert!(msg.contains("the last line is cut short"), "{msg}");
        assert!(msg.contains("EOF while parsing"), "{msg}");
        let (line, msg) = parse_err(&format!("{}\n{whole}", &whole[..20]));
        assert_eq!(line, 1);
        assert!(!msg.contains("cut short") && msg.contains("EOF"), "{msg}");
        // A last line with its newline was written whole, just wrongly.
        let (_, msg) = parse_err(&format!("{whole}{}\n", &whole[..20]));
        assert!(!msg.contains("cut short"), "{msg}");
    }

    #[test]
    fn a_line_that_is_not_an_object_says_what_was_expected() {
        let (_, msg) = parse_err("[1,2]");
        assert!(msg.contains("an operation object"), "{msg}");
    }

    #[test]
    fn trailing_text_after_the_object_is_refused() {
        let (_, msg) = parse_err("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"} x");
        assert!(msg.contains("trailing"), "{msg}");
    }

    #[test]
    fn integers_beyond_i64_are_errors_not_floats() {
        for big in [
            "9223372036854775808",
            "123456789012345678901234567890",
            "-99999999999999999999",
        ] {
            let (_, msg) = parse_err(&format!(
                "{{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":{big}}}"
            ));
            assert!(msg.contains("does not fit in 64"), "{msg}");
        }
    }

    #[test]
    fn a_huge_integer_in_a_field_faultline_ignores_is_no_error() {
        let h = parse_ok(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"hash\":99999999999999999999}",
        );
        assert_eq!(h.ops.len(), 1);
        let (_, msg) = parse_err(
            "{\"hash\":99999999999999999999,\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":[99999999999999999999]}",
        );
        assert!(
            msg.starts_with("`value`: integer 99999999999999999999"),
            "{msg}"
        );
    }

    #[test]
    fn a_duplicate_field_is_refused() {
        let (_, msg) =
            parse_err("{\"process\":0,\"type\":\"invoke\",\"type\":\"ok\",\"f\":\"read\"}");
        assert!(msg.contains("`type` appears twice"), "{msg}");
    }

    #[test]
    fn extra_fields_are_skipped() {
        let h = parse_ok(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"latency\":[1,{\"a\":2}]}",
        );
        assert_eq!(h.ops.len(), 1);
    }

    #[test]
    fn the_workload_of_an_op_is_read_and_written_back() {
        let line =
            r#"{"index":4,"process":1,"type":"invoke","f":"add","value":3,"workload":"counter"}"#;
        let h = parse_ok(line);
        assert_eq!(h.ops[0].workload(), Some("counter"));
        let mut out = Vec::new();
        crate::history::write_jsonl_op(&h.ops[0], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim_end(), line);
        let (_, msg) = parse_err(r#"{"process":1,"type":"invoke","f":"add","workload":7}"#);
        assert!(msg.contains("`workload` must be a string"), "{msg}");
    }
}
