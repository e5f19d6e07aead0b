//! The fields of one operation as a reader found them, and their checking into an [`Op`].
//!
//! JSONL objects and EDN maps name the same fields (`index`, `type`, `process`, ...), one with
//! strings and one with keywords. Both readers collect the raw values here so that the rules of
//! what a field may hold, and the messages when it does not, are written once.

use super::{FnNames, Op, OpExtra, OpType, Process, Value};

/// The fields faultline reads; anything else an op carries is ignored (Jepsen ops often carry
/// extra fields of their workload, and a reader must not refuse them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Index,
    Time,
    Process,
    Type,
    F,
    Key,
    Value,
    Node,
    Error,
    Workload,
    Other,
}

impl Field {
    pub(super) fn from_name(name: &str) -> Field {
        match name {
            "index" => Field::Index,
            "time" => Field::Time,
            "process" => Field::Process,
            "type" => Field::Type,
            "f" => Field::F,
            "key" => Field::Key,
            "value" => Field::Value,
            "node" => Field::Node,
            "error" => Field::Error,
            "workload" => Field::Workload,
            _ => Field::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Field::Index => "index",
            Field::Time => "time",
            Field::Process => "process",
            Field::Type => "type",
            Field::F => "f",
            Field::Key => "key",
            Field::Value => "value",
            Field::Node => "node",
            Field::Error => "error",
            Field::Workload => "workload",
            Field::Other => "(other)",
        }
    }
}

/// The raw values of one op's fields, before they are checked.
#[derive(Default, Debug)]
pub(super) struct OpFields {
    index: Option<Value>,
    time: Option<Value>,
    process: Option<Value>,
    kind: Option<Value>,
    f: Option<Value>,
    key: Option<Value>,
    value: Option<Value>,
    node: Option<Value>,
    error: Option<Value>,
    workload: Option<Value>,
}

impl OpFields {
    /// The function, for formats where it may be left out (Elle's JSON: every op is a `txn`).
    pub(super) fn default_f(&mut self, f: &str) {
        if self.f.is_none() {
            self.f = Some(Value::Str(f.into()));
        }
    }

    /// Stores a field; a field given twice is an error, since which one is meant is unknowable.
    pub(super) fn set(&mut self, field: Field, v: Value) -> Result<(), String> {
        let slot = match field {
            Field::Index => &mut self.index,
            Field::Time => &mut self.time,
            Field::Process => &mut self.process,
            Field::Type => &mut self.kind,
            Field::F => &mut self.f,
            Field::Key => &mut self.key,
            Field::Value => &mut self.value,
            Field::Node => &mut self.node,
            Field::Error => &mut self.error,
            Field::Workload => &mut self.workload,
            Field::Other => return Ok(()),
        };
        if slot.is_some() {
            return Err(format!("field `{}` appears twice", field.name()));
        }
        *slot = Some(v);
        Ok(())
    }

    /// Checks the fields into an op. `next_index` numbers an op that gives no `index` of its own:
    /// one past the previous op's, which is its position when no op of the file has one.
    /// A missing `value` reads as nil, as Jepsen omits it on some completions.
    pub(super) fn into_op(self, names: &mut FnNames, next_index: u64) -> Result<Op, String> {
        let index = match self.index {
            None | Some(Value::Nil) => next_index,
            Some(Value::Int(i)) if i >= 0 => i as u64,
            Some(other) => {
                return Err(format!(
                    "`index` must be a non-negative integer, found {}",
                    brief(&other)
                ))
            }
        };
        let time = match self.time {
            None | Some(Value::Nil) => None,
            Some(Value::Int(t)) => Some(t),
            Some(other) => {
                return Err(format!(
                    "`time` must be an integer of nanoseconds, found {}",
                    brief(&other)
                ))
            }
        };
        let process = match self.process {
            None => return Err("missing field `process` (a client number or nemesis)".into()),
            Some(Value::Int(p)) if p >= 0 => Process::Client(p as u64),
            Some(v) if v.as_str() == Some("nemesis") => Process::Nemesis,
            Some(other) => {
                return Err(format!(
                    "`process` must be a non-negative integer or nemesis, found {}",
                    brief(&other)
                ))
            }
        };
        let kind = match self.kind {
            None => return Err("missing field `type` (invoke, ok, fail or info)".into()),
            Some(v) => match v.as_str().and_then(OpType::parse) {
                Some(t) => t,
                None => {
                    return Err(format!(
                        "unknown operation `type` {}, expected invoke, ok, fail or info",
                        brief(&v)
                    ))
                }
            },
        };
        let f = match self.f {
            None => return Err("missing field `f` (the operation's function, like read)".into()),
            Some(v) => match v.as_str() {
                Some(s) if !s.is_empty() => names.intern(s),
                _ => {
                    return Err(format!(
                        "`f` must be a non-empty string or keyword, found {}",
                        brief(&v)
                    ))
                }
            },
        };
        let node = match self.node {
            None | Some(Value::Nil) => None,
            Some(Value::Str(s)) => Some(s),
            Some(other) => return Err(format!("`node` must be a string, found {}", brief(&other))),
        };
        let error = self.error.filter(|e| !e.is_nil());
        let workload = match self.workload {
            None | Some(Value::Nil) => None,
            Some(Value::Str(s)) | Some(Value::Keyword(s)) => Some(s),
            Some(other) => {
                return Err(format!(
                    "`workload` must be a string, found {}",
                    brief(&other)
                ))
            }
        };
        let extra = if node.is_some() || error.is_some() || workload.is_some() {
            Some(Box::new(OpExtra {
                node,
                error,
                workload,
            }))
        } else {
            None
        };
        Ok(Op {
            index,
            time,
            process,
            kind,
            f,
            key: self.key.filter(|k| !k.is_nil()),
            value: self.value.unwrap_or_default(),
            extra,
        })
    }
}

/// A value as EDN, cut short: error messages must stay readable when a field holds a megabyte.
pub(super) fn brief(v: &Value) -> String {
    const LIMIT: usize = 60;
    let mut s = v.to_string();
    if s.len() > LIMIT {
        let mut cut = LIMIT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> OpFields {
        let mut f = OpFields::default();
        for (name, v) in pairs {
            f.set(Field::from_name(name), v.clone()).unwrap();
        }
        f
    }

    fn kw(s: &str) -> Value {
        Value::Keyword(s.into())
    }

    #[test]
    fn strings_and_keywords_name_type_f_and_nemesis_alike() {
        let mut names = FnNames::default();
        let a = fields(&[
            ("process", kw("nemesis")),
            ("type", kw("info")),
            ("f", kw("start")),
        ])
        .into_op(&mut names, 7)
        .unwrap();
        let b = fields(&[
            ("process", Value::Str("nemesis".into())),
            ("type", Value::Str("info".into())),
            ("f", Value::Str("start".into())),
        ])
        .into_op(&mut names, 7)
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.process, Process::Nemesis);
        assert_eq!(a.index, 7);
        assert_eq!(a.value, Value::Nil);
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let mut f = OpFields::default();
        f.set(Field::Type, kw("ok")).unwrap();
        let e = f.set(Field::Type, kw("fail")).unwrap_err();
        assert!(e.contains("`type` appears twice"), "{e}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut f = fields(&[
            ("process", Value::Int(1)),
            ("type", kw("ok")),
            ("f", kw("r")),
        ]);
        f.set(Field::from_name("latency"), Value::Int(3)).unwrap();
        assert!(f.into_op(&mut FnNames::default(), 0).is_ok());
    }

    #[test]
    fn bad_fields_say_what_was_expected() {
        let mut names = FnNames::default();
        let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
            (
                vec![("type", kw("ok")), ("f", kw("r"))],
                "missing field `process`",
            ),
            (
                vec![("process", Value::Int(1)), ("f", kw("r"))],
                "missing field `type`",
            ),
            (
                vec![("process", Value::Int(1)), ("type", kw("ok"))],
                "missing field `f`",
            ),
            (
                vec![
                    ("process", Value::Int(1)),
                    ("type", kw("okay")),
                    ("f", kw("r")),
                ],
                "unknown operation `type` :okay",
            ),
            (
                vec![
                    ("process", Value::Int(-1)),
                    ("type", kw("ok")),
                    ("f", kw("r")),
                ],
                "`process` must be",
            ),
            (
                vec![
                    ("process", Value::Int(1)),
                    ("type", kw("ok")),
                    ("f", kw("r")),
                    ("index", Value::Float(1.5)),
                ],
                "`index` must be",
            ),
            (
                vec![
                    ("process", Value::Int(1)),
                    ("type", kw("ok")),
                    ("f", kw("r")),
                    ("node", Value::Int(3)),
                ],
                "`node` must be a string",
            ),
        ];
        for (pairs, expected) in cases {
            let e = fields(&pairs).into_op(&mut names, 0).unwrap_err();
            assert!(e.contains(expected), "{e} should contain {expected}");
        }
    }

    #[test]
    fn brief_cuts_long_values_on_a_char_boundary() {
        let s = brief(&Value::Str("é".repeat(100).into()));
        assert!(s.len() <= 64 && s.ends_with("..."), "{s}");
    }
}
