//! Readers against broken input: whatever the bytes, a reader returns a history or a
//! `ReadError::Parse` whose line lies within the file, and never panics or overflows its stack.
//! Also: any well-formed history survives writing and reading back, in both written formats.

use std::path::Path;

use proptest::prelude::*;

use super::{
    parse_history, write_edn, write_jsonl, Format, History, Op, OpExtra, OpType, Process,
    ReadError, ReadOptions, Value,
};
use crate::linear::{check_by_name, CheckOptions};
use crate::model::{ModelConfig, MODEL_NAMES};

const FORMATS: [Option<Format>; 4] = [
    None,
    Some(Format::Jsonl),
    Some(Format::Edn),
    Some(Format::JepsenLog),
];

/// Reads `bytes` in every format (and auto-detected, plain and independent) and checks that each
/// outcome is a history or an error naming a line of the file.
fn assert_reads_or_names_a_line(bytes: &[u8]) {
    let last_line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    for format in FORMATS {
        for independent in [false, true] {
            let options = ReadOptions {
                format,
                independent,
            };
            match parse_history(bytes, Path::new("fuzz"), &options) {
                Ok(loaded) => check_never_panics(&loaded.history),
                Err(ReadError::Parse { line, message, .. }) => {
                    assert!(
                        (1..=last_line).contains(&line),
                        "line {line} outside 1..={last_line} ({format:?}): {message}"
                    );
                    assert!(!message.is_empty());
                }
                Err(e @ ReadError::Io { .. }) => panic!("no I/O in memory: {e}"),
            }
        }
    }
}

/// Whatever a reader accepts, every model checks (or refuses by name) without a panic, within a
/// small budget.
fn check_never_panics(history: &History) {
    let options = CheckOptions {
        time_limit: Some(std::time::Duration::from_millis(50)),
        memory_limit: 16 << 20,
        ..CheckOptions::default()
    };
    for model in MODEL_NAMES {
        let _ = check_by_name(history, model, ModelConfig::default(), &options, None);
    }
}

fn parse_err(text: &str, format: Format) -> (usize, String) {
    let options = ReadOptions {
        format: Some(format),
        independent: false,
    };
    match parse_history(text.as_bytes(), Path::new("h"), &options) {
        Err(ReadError::Parse { line, message, .. }) => (line, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// Values that both JSON and EDN can hold exactly: no keywords, sets or non-finite floats, and
/// string map keys.
fn json_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        // serde_json without its `float_roundtrip` feature may read extreme floats (7.5e-299)
        // one ulp off; histories' floats are ordinary, so the test keeps to those that serde_json
        // itself reads back exactly (see json_value.rs). Drawn from ordinary ranges rather than
        // filtered out of any f64, which rejects so many that long runs abort.
        prop_oneof![
            any::<i32>().prop_map(|i| f64::from(i) / 64.0),
            -1e15f64..1e15,
            -1.0f64..1.0,
        ]
        .prop_filter("finite and exact in serde_json", |x| {
            x.is_finite()
                && serde_json::from_str::<f64>(&serde_json::to_string(x).unwrap()).ok() == Some(*x)
        })
        .prop_map(Value::Float),
        any::<String>().prop_map(|s| Value::Str(s.into())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| Value::Vector(v.into())),
            prop::collection::vec((any::<String>(), inner), 0..4).prop_map(|kv| {
                Value::Map(
                    kv.into_iter()
                        .map(|(k, v)| (Value::Str(k.into()), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Values of EDN alone: keywords and sets too.
fn edn_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        json_value(),
        "[a-z][a-z0-9-]{0,8}".prop_map(|k| Value::Keyword(k.into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::canonical_set),
            prop::collection::vec((inner.clone(), inner), 0..3)
                .prop_map(|kv| Value::Map(kv.into())),
        ]
    })
}

/// One process's invoke and its completion, with the values and extras a history can carry.
#[derive(Clone, Debug)]
struct Pair {
    process: u8,
    f: String,
    completion: OpType,
    key: Option<Value>,
    invoke_value: Value,
    result: Value,
    error: Option<Value>,
    node: Option<String>,
}

fn pair(value: impl Strategy<Value = Value> + Clone) -> impl Strategy<Value = Pair> {
    (
        (
            0u8..6,
            prop_oneof![
                Just("read"),
                Just("cas"),
                Just("start-partition"),
                Just("odd f")
            ],
            prop_oneof![Just(OpType::Ok), Just(OpType::Fail), Just(OpType::Info)],
            prop::option::of(
                value
                    .clone()
                    .prop_filter("a key is not nil", |k| !k.is_nil()),
            ),
        ),
        (
            value.clone(),
            value.clone(),
            prop::option::of(value.prop_filter("an error is not nil", |e| !e.is_nil())),
            prop::option::of("[a-z0-9]{1,4}"),
        ),
    )
        .prop_map(
            |((process, f, completion, key), (invoke_value, result, error, node))| Pair {
                process,
                f: f.to_string(),
                completion,
                key,
                invoke_value,
                result,
                error,
                node,
            },
        )
}

/// Lays pairs out as a well-formed history: each pair runs on a fresh process when its process
/// is busy or crashed, and process 255 is the nemesis.
fn history_of(pairs: Vec<Pair>, with_time: bool) -> History {
    let mut ops = Vec::new();
    let mut next_fresh = 1000u64;
    let mut retired = std::collections::HashSet::new();
    for (n, p) in pairs.into_iter().enumerate() {
        let mut process = match p.process {
            5 => Process::Nemesis,
            c => Process::Client(u64::from(c)),
        };
        if let Process::Client(c) = process {
            if retired.contains(&c) {
                process = Process::Client(next_fresh);
                next_fresh += 1;
            }
        }
        let op = |kind, value: Value, extra| Op {
            index: 0, // numbered below, with gaps
            time: with_time.then_some(n as i64 * 10),
            process,
            kind,
            f: p.f.as_str().into(),
            key: p.key.clone(),
            value,
            extra,
        };
        let extra = (p.error.is_some() || p.node.is_some()).then(|| {
            Box::new(OpExtra {
                node: p.node.clone().map(String::into_boxed_str),
                error: p.error.clone(),
                workload: None,
            })
        });
        // A client's ok cas echoes its argument (or carries none), as well-formedness requires.
        let echoes = p.f == "cas" && p.completion == OpType::Ok && process != Process::Nemesis;
        let result = if echoes && !p.result.is_nil() {
            p.invoke_value.clone()
        } else {
            p.result.clone()
        };
        ops.push(op(OpType::Invoke, p.invoke_value.clone(), None));
        ops.push(op(p.completion, result, extra));
        if let (Process::Client(c), OpType::Info) = (process, p.completion) {
            retired.insert(c);
        }
    }
    for (i, op) in ops.iter_mut().enumerate() {
        op.index = i as u64 * 2;
    }
    History::from_ops(ops)
}

fn round_trip(h: &History, format: Format) -> History {
    let mut bytes = Vec::new();
    match format {
        Format::Jsonl => write_jsonl(h, &mut bytes).unwrap(),
        _ => write_edn(h, &mut bytes).unwrap(),
    }
    let options = ReadOptions {
        format: Some(format),
        independent: false,
    };
    parse_history(&bytes, Path::new("rt"), &options)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&bytes)))
        .history
}

fn sample_jsonl() -> String {
    let mut out = Vec::new();
    let h = history_of(
        vec![Pair {
            process: 1,
            f: "cas".into(),
            completion: OpType::Info,
            key: Some(Value::Str("k".into())),
            invoke_value: Value::Vector(vec![Value::Int(1), Value::Str("\"é\n".into())].into()),
            result: Value::Nil,
            error: Some(Value::Str("timeout".into())),
            node: Some("n1".into()),
        }],
        true,
    );
    write_jsonl(&h, &mut out).unwrap();
    write_edn(&h, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Small histories in every format, to cut and corrupt: faultline's JSONL and EDN lines of a
/// crashed cas, the same as one EDN vector, a Jepsen text log, and a multi-key JSONL history that
/// the checkers have work to do on.
fn samples() -> [String; 4] {
    let lines = sample_jsonl();
    let edn: Vec<&str> = lines.lines().filter(|l| l.starts_with("{:")).collect();
    let vector = format!("; a Jepsen history\n[{}\n]\n", edn.join("\n "));
    let log = "INFO  jepsen.core - Running test\n\
               INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
               INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n\
               INFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n\
               INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
               INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 2\t:ok\t:read\t2\n"
        .to_string();
    let mut keyed = String::new();
    for (p, kind, f, key, value) in [
        (0, "invoke", "write", "a", "1"),
        (1, "invoke", "cas", "b", "[null,2]"),
        (0, "ok", "write", "a", "1"),
        (2, "invoke", "read", "a", "null"),
        (1, "info", "cas", "b", "[null,2]"),
        (2, "ok", "read", "a", "1"),
        (3, "invoke", "read", "b", "null"),
        (3, "ok", "read", "b", "2"),
    ] {
        keyed.push_str(&format!(
            "{{\"process\":{p},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{value}}}\n"
        ));
    }
    [lines, vector, log, keyed]
}

proptest! {
    // The float strategy filters out the few floats serde_json reads back one ulp off; a run of
    // hundreds of thousands of cases meets more than proptest's default of rejects.
    #![proptest_config(ProptestConfig {
        max_local_rejects: 1 << 24,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        assert_reads_or_names_a_line(&bytes);
    }

    #[test]
    fn random_history_like_text_never_panics(
        text in concat!(
            r#"([\[\]{}()#:;, \n\r\t"\\0-9a-z.eE+_-]|\u{feff}|é|#_|##|\\u|N|M|nil|"#,
            r#"process|type|invoke|ok|info|fail|nemesis|index|value|key|:f :read|"#,
            r#"jepsen.util - |#jepsen.history.Op|9999999999999999999){0,80}"#
        )
    ) {
        assert_reads_or_names_a_line(text.as_bytes());
    }

    #[test]
    fn truncated_and_corrupted_histories_never_panic(
        which in 0usize..4, cut in 0usize..1000, at in 0usize..1000, byte in any::<u8>()
    ) {
        let mut bytes = samples()[which].clone().into_bytes();
        bytes.truncate(cut.min(bytes.len()));
        assert_reads_or_names_a_line(&bytes);
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = byte;
            assert_reads_or_names_a_line(&bytes);
        }
    }

    #[test]
    fn histories_with_text_spliced_in_never_panic(
        which in 0usize..4,
        at in 0usize..1000,
        deleted in 0usize..20,
        inserted in r#"[\[\]{}()#:;," \n]|#_|##|nil|-|99999999999999999999|"type":"ok"|:type :ok|\t:ok\t| |"#
    ) {
        let text = samples()[which].clone();
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + deleted).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let spliced = format!("{}{inserted}{}", &text[..at], &text[end..]);
        assert_reads_or_names_a_line(spliced.as_bytes());
    }

    #[test]
    fn shuffled_and_repeated_lines_never_panic(
        which in 0usize..4, picks in prop::collection::vec(0usize..12, 0..12)
    ) {
        let text = samples()[which].clone();
        let lines: Vec<&str> = text.lines().collect();
        let mixed: Vec<&str> = picks.iter().map(|&i| lines[i % lines.len()]).collect();
        assert_reads_or_names_a_line(mixed.join("\n").as_bytes());
    }

    #[test]
    fn jsonl_round_trips_any_well_formed_history(
        pairs in prop::collection::vec(pair(json_value()), 0..8), with_time in any::<bool>()
    ) {
        let h = history_of(pairs, with_time);
        let back = round_trip(&h, Format::Jsonl);
        prop_assert_eq!(&back.ops, &h.ops);
        prop_assert_eq!(round_trip(&back, Format::Jsonl), back);
    }

    #[test]
    fn edn_round_trips_any_well_formed_history(
        pairs in prop::collection::vec(pair(edn_value()), 0..8), with_time in any::<bool>()
    ) {
        let h = history_of(pairs, with_time);
        let back = round_trip(&h, Format::Edn);
        prop_assert_eq!(&back.ops, &h.ops);
        prop_assert_eq!(round_trip(&back, Format::Edn), back);
    }
}

#[test]
fn deep_nesting_is_an_error_in_every_format() {
    let deep = "[".repeat(200_000);
    assert_reads_or_names_a_line(deep.as_bytes());
    let json = format!("{{\"process\":0,\"type\":\"invoke\",\"f\":\"w\",\"value\":{deep}");
    let (line, msg) = parse_err(&json, Format::Jsonl);
    assert_eq!(line, 1);
    assert!(msg.contains("recursion limit"), "{msg}");
    let edn = format!("{{:process 0 :type :invoke :f :w :value {deep}");
    let (_, msg) = parse_err(&edn, Format::Edn);
    assert!(msg.contains("nesting"), "{msg}");
}

#[test]
fn invalid_utf8_names_its_line() {
    let (line, msg) =
        match parse_history(b"{}\n{}\n\xff\n", Path::new("h"), &ReadOptions::default()) {
            Err(ReadError::Parse { line, message, .. }) => (line, message),
            other => panic!("{other:?}"),
        };
    assert_eq!(line, 3);
    assert!(msg.contains("UTF-8"), "{msg}");
}

#[test]
fn huge_numbers_are_errors_in_both_formats() {
    let (_, msg) = parse_err(
        "{\"index\":99999999999999999999,\"process\":0,\"type\":\"invoke\",\"f\":\"w\"}",
        Format::Jsonl,
    );
    assert!(msg.contains("64"), "{msg}");
    let (_, msg) = parse_err(
        "{:process 0 :type :invoke :f :w :time 99999999999999999999}",
        Format::Edn,
    );
    assert!(msg.contains("64 bits"), "{msg}");
}

#[test]
fn pairing_errors_come_through_every_reader() {
    let jsonl = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\
                 {\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n";
    let (line, msg) = parse_err(jsonl, Format::Jsonl);
    assert_eq!(line, 2);
    assert!(msg.contains("invoke at line 1 has no completion"), "{msg}");
    let edn = "{:process 3 :type :ok :f :read}";
    assert_eq!(
        parse_err(edn, Format::Edn).1,
        "ok at line 1 by process 3 completes no invoke"
    );
    let log = "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 2\t:info\t:read\t:timed-out\n\
               INFO  jepsen.util - 2\t:invoke\t:read\tnil\n";
    let (line, msg) = parse_err(log, Format::JepsenLog);
    assert_eq!(line, 3);
    assert!(msg.contains("crashed"), "{msg}");
}

#[test]
fn duplicate_indexes_are_errors() {
    let jsonl = "{\"index\":4,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\
                 {\"index\":4,\"process\":1,\"type\":\"ok\",\"f\":\"read\"}\n";
    let (line, msg) = parse_err(jsonl, Format::Jsonl);
    assert_eq!(line, 2);
    assert!(msg.contains("indexes must increase"), "{msg}");
}

#[test]
fn unknown_type_values_are_errors_in_both_formats() {
    let (_, msg) = parse_err(
        "{\"process\":1,\"type\":\"invokd\",\"f\":\"r\"}",
        Format::Jsonl,
    );
    assert!(msg.contains("unknown operation `type`"), "{msg}");
    let (_, msg) = parse_err("{:process 1 :type 3 :f :r}", Format::Edn);
    assert!(msg.contains("unknown operation `type` 3"), "{msg}");
}
