//! Reading a transaction's micro-ops from a history value: `[["append", 5, 3], ["r", 5, [1, 2]]]`
//! in JSON, `[[:append 5 3] [:r 5 [1 2]]]` in EDN, `["w", "x", 1]` or `[:r :x nil]` for registers.
//!
//! A micro-op the workload does not have, a key that is not an integer, string or keyword, a list
//! read that is not a list, a value that is not an integer: each is refused with the micro-op's
//! position and text, since a checker that guessed would judge a history nobody recorded.

use super::txn::{Mop, Txns, Workload};
use crate::history::Value;

/// Appends the micro-ops of `value` to `txns`. `observed`: the reads carry what they saw (an `ok`
/// completion); otherwise reads are kept as unknown, whatever they hold. On error nothing is
/// appended, and the message names the micro-op.
pub fn decode(
    value: &Value,
    workload: Workload,
    observed: bool,
    txns: &mut Txns,
) -> Result<(), String> {
    let (mops, elements) = (txns.mops.len(), txns.elements.len());
    let result = decode_all(value, workload, observed, txns);
    if result.is_err() {
        txns.mops.truncate(mops);
        txns.elements.truncate(elements);
    }
    result
}

fn decode_all(
    value: &Value,
    workload: Workload,
    observed: bool,
    txns: &mut Txns,
) -> Result<(), String> {
    let Value::Vector(items) = value else {
        return Err(format!(
            "a transaction's value must be a list of micro-ops like [[\"append\", 5, 3], [\"r\", 5, null]], found {}",
            brief(value)
        ));
    };
    for (i, item) in items.iter().enumerate() {
        decode_one(item, workload, observed, txns)
            .map_err(|why| format!("micro-op {} {}: {why}", i + 1, brief(item)))?;
    }
    Ok(())
}

fn decode_one(
    item: &Value,
    workload: Workload,
    observed: bool,
    txns: &mut Txns,
) -> Result<(), String> {
    let parts = match item {
        Value::Vector(p) if p.len() == 3 => p,
        _ => return Err("a micro-op is a list of three: [f key value]".into()),
    };
    let f = parts[0]
        .as_str()
        .ok_or("the micro-op's function must be a string or keyword")?;
    let key = match &parts[1] {
        k @ (Value::Int(_) | Value::Str(_) | Value::Keyword(_)) => txns.key_id(k),
        other => {
            return Err(format!(
                "a key must be an integer or a string, not {}",
                brief(other)
            ))
        }
    };
    let v = &parts[2];
    let mop = match (workload, f) {
        (Workload::ListAppend, "append") => Mop::Append {
            key,
            element: integer(v, "an appended element")?,
        },
        (Workload::RwRegister, "w") => Mop::Write {
            key,
            value: integer(v, "a written value")?,
        },
        (_, "r") if !observed => Mop::ReadUnknown { key },
        (Workload::ListAppend, "r") => {
            let items: &[Value] = match v {
                // Jepsen writes nil for a read of a list never appended to.
                Value::Nil => &[],
                Value::Vector(items) => items,
                other => {
                    return Err(format!(
                        "a list-append read must give a list, not {}",
                        brief(other)
                    ))
                }
            };
            let start = txns.elements.len();
            for e in items.iter() {
                txns.elements.push(integer(e, "an element of a read list")?);
            }
            let start = u32::try_from(start).map_err(|_| "more than 2^32 read elements")?;
            Mop::ReadList {
                key,
                start,
                len: items.len() as u32,
            }
        }
        (Workload::RwRegister, "r") => Mop::ReadRegister {
            key,
            value: match v {
                Value::Nil => None,
                other => Some(integer(other, "a read register value")?),
            },
        },
        (w, f) => {
            let known = match w {
                Workload::ListAppend => "append and r",
                Workload::RwRegister => "w and r",
            };
            return Err(format!(
                "unknown micro-op `{f}`: {} takes {known}",
                w.name()
            ));
        }
    };
    txns.mops.push(mop);
    Ok(())
}

fn integer(v: &Value, what: &str) -> Result<i64, String> {
    v.as_int()
        .ok_or_else(|| format!("{what} must be an integer, not {}", brief(v)))
}

/// A value as EDN, cut short: a message must stay readable when a read holds a long list.
pub fn brief(v: &Value) -> String {
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
    use crate::history::edn::parse_value;

    fn decode_edn(text: &str, w: Workload, observed: bool) -> Result<Txns, String> {
        let mut t = Txns::default();
        decode(&parse_value(text).unwrap(), w, observed, &mut t)?;
        Ok(t)
    }

    #[test]
    fn list_append_reads_keep_their_elements_in_the_arena() {
        let t = decode_edn(
            "[[:append :x 3] [:r :x [1 2 3]] [:r 5 nil]]",
            Workload::ListAppend,
            true,
        )
        .unwrap();
        assert_eq!(t.mops.len(), 3);
        assert_eq!(t.mops[0], Mop::Append { key: 0, element: 3 });
        let Mop::ReadList { start, len, .. } = t.mops[1] else {
            panic!("{:?}", t.mops[1])
        };
        assert_eq!(t.list(start, len), &[1, 2, 3]);
        assert!(matches!(t.mops[2], Mop::ReadList { key: 1, len: 0, .. }));
        assert_eq!(t.keys[0], Value::Keyword("x".into()));
    }

    #[test]
    fn unobserved_reads_are_unknown_whatever_they_hold() {
        let t = decode_edn("[[:r 1 nil] [:w 1 2]]", Workload::RwRegister, false).unwrap();
        assert_eq!(t.mops[0], Mop::ReadUnknown { key: 0 });
    }

    #[test]
    fn malformed_micro_ops_are_named_and_leave_nothing_behind() {
        let cases = [
            (
                "[[:append 1 2] [:incr 1 2]]",
                Workload::ListAppend,
                "micro-op 2 [:incr 1 2]: unknown micro-op `incr`",
            ),
            (
                "[[:w 1 2]]",
                Workload::ListAppend,
                "list-append takes append and r",
            ),
            (
                "[[:append 1 2]]",
                Workload::RwRegister,
                "rw-register takes w and r",
            ),
            (
                "[[:r 1 3]]",
                Workload::ListAppend,
                "a list-append read must give a list, not 3",
            ),
            (
                "[[:r [1] [3]]]",
                Workload::ListAppend,
                "a key must be an integer or a string",
            ),
            (
                "[[:append 1 \"a\"]]",
                Workload::ListAppend,
                "an appended element must be an integer",
            ),
            (
                "[[:r 1 [1 :x]]]",
                Workload::ListAppend,
                "an element of a read list must be an integer",
            ),
            ("[[:r 1]]", Workload::RwRegister, "a list of three"),
            (
                "{:a 1}",
                Workload::RwRegister,
                "must be a list of micro-ops",
            ),
        ];
        for (text, w, want) in cases {
            let mut t = Txns::default();
            let e = decode(&parse_value(text).unwrap(), w, true, &mut t).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(t.mops.is_empty() && t.elements.is_empty(), "{text}");
        }
    }
}
