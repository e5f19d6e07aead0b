//! Jepsen's `history.edn`: op maps, either all inside one top-level vector or list (which may span
//! many lines and carry `;` comments), or one after another, usually one per line as Jepsen and
//! Porcupine's kv logs write them. `#jepsen.history.Op{...}` records read as the maps they wrap.
//!
//! Jepsen's independent workloads write a client op's value as a `[key value]` tuple; with
//! [`ReadOptions::independent`](super::ReadOptions) the tuple is split into the op's key and
//! value. Nemesis ops are never split, and neither is an op that already names its `:key`.

use std::path::Path;

use super::edn::{EdnError, EdnReader};
use super::op_fields::{brief, Field, OpFields};
use super::{Emit, FnNames, Op, ReadError, Value};

pub(super) fn read(
    text: &str,
    path: &Path,
    independent: bool,
    emit: &mut Emit,
) -> Result<(), ReadError> {
    let err = |line: usize, message: String| ReadError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    let mut reader = EdnReader::new(text);
    let close = reader.open_top_sequence();
    let open_line = reader.line();
    let mut names = FnNames::default();
    let mut previous: Option<u64> = None;
    loop {
        if let Some(close) = close {
            if reader.close_top_sequence(close) {
                if !reader.at_end() {
                    return Err(err(
                        reader.line(),
                        format!("text after the history's closing '{close}'"),
                    ));
                }
                break;
            }
            if reader.at_end() {
                return Err(err(
                    reader.line(),
                    format!("the history opened at line {open_line} is never closed: expected '{close}'"),
                ));
            }
        } else if reader.at_end() {
            break;
        }
        // `at_end` and `close_top_sequence` skipped blanks: the reader stands at the op's start.
        let line = reader.line();
        let Some(value) = reader
            .next_value()
            .map_err(|e| syntax_error(e, line, &err))?
        else {
            break;
        };
        let next_index = previous.map_or(0, |i| i.saturating_add(1));
        let op =
            op_from_map(value, &mut names, next_index, independent).map_err(|m| err(line, m))?;
        previous = Some(op.index);
        emit(op, line)?;
    }
    Ok(())
}

/// An EDN syntax error inside the op map that starts at `line`: reported at the op's line, as
/// every error of this reader is, with the exact line in the message when it differs.
fn syntax_error(e: EdnError, line: usize, err: &impl Fn(usize, String) -> ReadError) -> ReadError {
    if e.line == line {
        err(line, e.message)
    } else {
        err(line, format!("{} (at line {})", e.message, e.line))
    }
}

fn op_from_map(
    value: Value,
    names: &mut FnNames,
    next_index: u64,
    independent: bool,
) -> Result<Op, String> {
    let Value::Map(entries) = value else {
        return Err(format!(
            "expected an operation map like {{:process 0, :type :invoke, :f :read}}, found {}",
            brief(&value)
        ));
    };
    let mut fields = OpFields::default();
    for (k, v) in entries.into_vec() {
        if let Some(name) = k.as_str() {
            fields.set(Field::from_name(name), v)?;
        }
    }
    let mut op = fields.into_op(names, next_index)?;
    if independent && !op.process.is_nemesis() && op.key.is_none() {
        split_tuple(&mut op)?;
    }
    Ok(op)
}

/// `[key value]` into the op's key and value.
fn split_tuple(op: &mut Op) -> Result<(), String> {
    match std::mem::take(&mut op.value) {
        Value::Vector(pair) if pair.len() == 2 => {
            let mut pair = pair.into_vec().into_iter();
            op.key = pair.next().filter(|k| !k.is_nil());
            op.value = pair.next().unwrap_or_default();
            Ok(())
        }
        other => Err(format!(
            "independent histories give every client op a [key value] tuple, found {}",
            brief(&other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, OpType, Process};

    fn read(text: &str, independent: bool) -> Result<History, ReadError> {
        let options = crate::history::ReadOptions {
            format: Some(crate::history::Format::Edn),
            independent,
        };
        crate::history::parse_history(text.as_bytes(), Path::new("h.edn"), &options)
            .map(|l| l.history)
    }

    fn line_and_message(r: Result<History, ReadError>) -> (usize, String) {
        match r {
            Err(ReadError::Parse { line, message, .. }) => (line, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn reads_porcupine_kv_lines_with_keys() {
        let h = read(
            "{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x 9 0 y\"}\n\
             {:process 9, :type :ok, :f :append, :key \"0\", :value \"x 9 0 y\"}\n",
            false,
        )
        .unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].process, Process::Client(9));
        assert_eq!(&*h.ops[1].f, "append");
        assert_eq!(h.ops[1].key, Some(Value::Str("0".into())));
        assert_eq!(h.ops[1].value, Value::Str("x 9 0 y".into()));
        assert_eq!(h.ops[1].index, 1);
        assert_eq!(h.lines, vec![1, 2]);
    }

    #[test]
    fn reads_a_whole_file_vector_of_tagged_records_with_comments() {
        let h = read(
            "; a Jepsen history\n[#jepsen.history.Op{:index 0, :time 5, :type :invoke,\n  :process 0, :f :read, :value nil}\n\
             ; the nemesis\n {:index 1 :type :info :process :nemesis :f \"start-partition\" :value {\"n1\" #{\"n2\"}}}\n]\n",
            false,
        )
        .unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].time, Some(5));
        assert_eq!(h.ops[1].process, Process::Nemesis);
        assert_eq!(h.ops[1].kind, OpType::Info);
        assert_eq!(h.lines, vec![2, 5]);
    }

    #[test]
    fn a_list_works_like_a_vector() {
        let h = read("({:process 0 :type :invoke :f :read})", false).unwrap();
        assert_eq!(h.ops.len(), 1);
    }

    #[test]
    fn an_unclosed_history_vector_says_where_it_opened() {
        let (_, msg) = line_and_message(read("\n[{:process 0 :type :invoke :f :read}\n", false));
        assert!(
            msg.contains("opened at line 2") && msg.contains("']'"),
            "{msg}"
        );
    }

    #[test]
    fn text_after_the_closing_bracket_is_refused() {
        let (line, msg) = line_and_message(read("[]\n\n:x", false));
        assert_eq!(line, 3);
        assert!(msg.contains("after"), "{msg}");
    }

    #[test]
    fn errors_name_the_line_where_the_op_map_starts() {
        let (line, msg) = line_and_message(read(
            "{:process 0 :type :invoke :f :read}\n{:process 0\n :type :okay\n :f :read}\n",
            false,
        ));
        assert_eq!(line, 2);
        assert!(msg.contains(":okay"), "{msg}");
    }

    #[test]
    fn a_top_level_value_that_is_not_a_map_is_refused() {
        let (line, msg) =
            line_and_message(read("{:process 0 :type :invoke :f :read}\n42\n", false));
        assert_eq!(line, 2);
        assert!(msg.contains("expected an operation map"), "{msg}");
    }

    #[test]
    fn independent_tuples_split_into_key_and_value_but_not_for_the_nemesis() {
        let h = read(
            "{:process 1 :type :invoke :f :cas :value [\"k\" [1 2]]}\n\
             {:process :nemesis :type :info :f :start :value [:a :b]}\n\
             {:process 1 :type :ok :f :cas :value [\"k\" [1 2]]}\n",
            true,
        )
        .unwrap();
        assert_eq!(h.ops[0].key, Some(Value::Str("k".into())));
        assert_eq!(
            h.ops[0].value,
            Value::Vector(vec![Value::Int(1), Value::Int(2)].into())
        );
        assert_eq!(h.ops[1].key, None);
        assert_eq!(h.ops[1].value.as_slice().map(<[_]>::len), Some(2));
        assert_eq!(h.ops[2].key, Some(Value::Str("k".into())));
    }

    #[test]
    fn without_independent_a_tuple_stays_a_value() {
        let h = read("{:process 1 :type :invoke :f :cas :value [\"k\" 3]}", false).unwrap();
        assert_eq!(h.ops[0].key, None);
    }

    #[test]
    fn an_independent_op_without_a_tuple_names_its_line() {
        let (line, msg) = line_and_message(read(
            "{:process 1 :type :invoke :f :read :value [\"k\" nil]}\n{:process 1 :type :ok :f :read :value 3}\n",
            true,
        ));
        assert_eq!(line, 2);
        assert!(msg.contains("[key value] tuple"), "{msg}");
    }

    #[test]
    fn syntax_errors_name_the_op_start_and_the_exact_line() {
        let (line, msg) = line_and_message(read(
            "{:process 1 :type :invoke :f :read}\n{:process 1 :type\n :f :read :value [1 2}\n",
            false,
        ));
        assert_eq!(line, 2);
        assert!(msg.contains("(at line 3)"), "{msg}");
    }

    #[test]
    fn reads_the_independent_fixture_through_read_history() {
        use crate::history::{read_history, Format, ReadOptions};
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/independent-cas.edn");
        let options = ReadOptions {
            format: None,
            independent: true,
        };
        let loaded = read_history(&path, &options).unwrap();
        assert_eq!(loaded.format, Format::Edn);
        let h = loaded.history;
        assert_eq!(h.len(), 8);
        assert_eq!(h.lines[0], 3);
        assert_eq!(h.ops[1].key, Some(Value::Int(3)));
        assert_eq!(h.ops[1].value, Value::Nil);
        assert_eq!(h.ops[2].process, Process::Nemesis);
        assert_eq!(h.ops[3].node(), Some("n1"));
        assert_eq!(h.ops[6].error(), Some(&Value::Keyword("timeout".into())));
        assert_eq!(h.ops[7].key, Some(Value::Int(4)));
        // Without --independent the same file reads, with the tuples kept as values.
        let plain = read_history(&path, &ReadOptions::default())
            .unwrap()
            .history;
        assert_eq!(plain.ops[1].key, None);
    }
}
