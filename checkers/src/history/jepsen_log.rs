//! Jepsen's text logs: `INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>`.
//!
//! Old Jepsen tests (and Porcupine's and Knossos' test data) kept their histories only as these
//! log lines. Lines that are not operations are log noise and skipped. On a `fail` or `info` line a
//! keyword value such as `:timed-out` is the reason, not a result, and is kept as the error.

use std::io::BufRead;
use std::path::Path;

use super::edn::EdnReader;
use super::lines::Lines;
use super::{Emit, FnNames, Op, OpExtra, OpType, Process, ReadError, Value};

const MARKER: &str = "jepsen.util - ";

pub(super) fn read<R: BufRead>(
    lines: &mut Lines<R>,
    path: &Path,
    emit: &mut Emit,
) -> Result<(), ReadError> {
    let mut names = FnNames::default();
    let mut index = 0;
    while let Some((line_no, line)) = lines.next_line()? {
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let rest = &line[at + MARKER.len()..];
        let err = |message: String| ReadError::Parse {
            path: path.to_owned(),
            line: line_no,
            message,
        };
        let mut reader = EdnReader::at_line(rest, line_no);
        let next = |reader: &mut EdnReader, what: &str| -> Result<Value, ReadError> {
            match reader.next_value() {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(err(format!("expected {what}, found the end of the line"))),
                Err(e) => Err(err(format!("expected {what}: {}", e.message))),
            }
        };
        let process = match next(&mut reader, "a process")? {
            Value::Int(p) if p >= 0 => Process::Client(p as u64),
            Value::Keyword(k) if &*k == "nemesis" => Process::Nemesis,
            // Not an operation line (for example a log message that happens to follow the marker).
            _ => continue,
        };
        let kind = match next(&mut reader, "the operation type")? {
            Value::Keyword(k) => match OpType::parse(&k) {
                Some(t) => t,
                None => return Err(err(format!("unknown operation type :{k}"))),
            },
            other => {
                return Err(err(format!(
                    "expected an operation type like :invoke, found {other}"
                )))
            }
        };
        let f = match next(&mut reader, "the operation's function")? {
            Value::Keyword(k) => names.intern(&k),
            other => {
                return Err(err(format!(
                    "expected a function like :read, found {other}"
                )))
            }
        };
        let value = if reader.at_end() {
            Value::Nil
        } else {
            next(&mut reader, "a value")?
        };
        let (value, extra) = match (kind, value) {
            (OpType::Fail | OpType::Info, Value::Keyword(reason)) => (
                Value::Nil,
                Some(Box::new(OpExtra {
                    node: None,
                    error: Some(Value::Keyword(reason)),
                    workload: None,
                })),
            ),
            (_, v) => (v, None),
        };
        let op = Op {
            index,
            time: None,
            process,
            kind,
            f,
            key: None,
            value,
            extra,
        };
        index += 1;
        emit(op, line_no)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;

    fn parse(text: &str, path: &Path) -> Result<History, ReadError> {
        let options = crate::history::ReadOptions {
            format: Some(crate::history::Format::JepsenLog),
            independent: false,
        };
        crate::history::parse_history(text.as_bytes(), path, &options).map(|l| l.history)
    }

    #[test]
    fn reads_tabs_spaces_and_skips_noise() {
        let text = "INFO  jepsen.core - Running test\n\
                    INFO  jepsen.util - 4\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 4 :ok :read 3\n\
                    INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n";
        let h = parse(text, Path::new("x.log")).unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[1].value, Value::Int(3));
        assert_eq!(
            h.ops[2].value,
            Value::Vector(vec![Value::Int(1), Value::Int(2)].into())
        );
        assert_eq!(h.ops[3].kind, OpType::Info);
        assert_eq!(h.ops[3].value, Value::Nil);
        assert_eq!(h.ops[3].error(), Some(&Value::Keyword("timed-out".into())));
    }

    #[test]
    fn a_broken_operation_line_names_its_line() {
        let text =
            "INFO  jepsen.util - 4\t:invoke\t:read\tnil\nINFO  jepsen.util - 4\t:okay\t:read\t1\n";
        match parse(text, Path::new("x.log")) {
            Err(ReadError::Parse { line, message, .. }) => {
                assert_eq!(line, 2);
                assert!(message.contains("okay"), "{message}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }
}
