//! The values that operations carry: a small EDN/JSON data model.
//!
//! Histories come from faultline's JSONL, Jepsen's EDN and Jepsen's text logs, so a value must hold
//! what any of them can say: nil, booleans, integers, floats, strings, keywords, vectors, maps and
//! sets. Containers are boxed slices rather than `Vec`s so that a `Value` is 24 bytes: histories of
//! tens of millions of operations must fit in memory.

use std::fmt;
use std::hash::{Hash, Hasher};

/// One value of a history: an operation's argument or result, a key, a grudge.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// EDN `nil`, JSON `null`: absent, or (in Jepsen reads) unknown.
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    /// Compared and hashed by bit pattern, so that values can key hash maps.
    Float(f64),
    Str(Box<str>),
    /// An EDN keyword, without its leading colon.
    Keyword(Box<str>),
    /// EDN vectors and lists, JSON arrays.
    Vector(Box<[Value]>),
    /// Entries in the order they were read.
    Map(Box<[(Value, Value)]>),
    /// EDN sets, elements in the order they were read.
    Set(Box<[Value]>),
}

impl Value {
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text of a string or keyword.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Keyword(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_slice(&self) -> Option<&[Value]> {
        match self {
            Value::Vector(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }

    /// Looks up a map entry whose key is the keyword or string `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets are equal whatever the order of their elements; this gives them one canonical order.
    pub fn canonical_set(items: Vec<Value>) -> Value {
        let mut items = items;
        items.sort_by_cached_key(|v| v.to_string());
        items.dedup();
        Value::Set(items.into_boxed_slice())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Nil, Nil) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (Keyword(a), Keyword(b)) => a == b,
            (Vector(a), Vector(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Set(a), Set(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Nil => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(f) => f.to_bits().hash(state),
            Value::Str(s) | Value::Keyword(s) => s.hash(state),
            Value::Vector(v) => v.hash(state),
            Value::Map(m) => m.hash(state),
            // Order-independent, to agree with `eq`.
            Value::Set(v) => {
                v.len().hash(state);
                let mut sum: u64 = 0;
                for x in v.iter() {
                    let mut h = rustc_hash::FxHasher::default();
                    x.hash(&mut h);
                    sum = sum.wrapping_add(h.finish());
                }
                sum.hash(state);
            }
        }
    }
}

/// Writes the value as EDN, the notation Jepsen users read.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(
            f: &mut fmt::Formatter<'_>,
            open: &str,
            items: &[Value],
            close: &str,
        ) -> fmt::Result {
            f.write_str(open)?;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str(close)
        }
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 {
                    write!(f, "{x:.1}")
                } else if x.is_nan() {
                    f.write_str("##NaN")
                } else if x.is_infinite() {
                    f.write_str(if *x > 0.0 { "##Inf" } else { "##-Inf" })
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Str(s) => write_edn_string(f, s),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::Vector(v) => seq(f, "[", v, "]"),
            Value::Set(v) => seq(f, "#{", v, "}"),
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_edn_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_equal_and_hash_alike_in_any_order() {
        let a = Value::Set(vec![Value::Int(1), Value::Int(2)].into());
        let b = Value::Set(vec![Value::Int(2), Value::Int(1)].into());
        assert_eq!(a, b);
        let h = |v: &Value| {
            let mut s = rustc_hash::FxHasher::default();
            v.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(&a), h(&b));
    }

    #[test]
    fn display_writes_edn() {
        let v = Value::Map(
            vec![
                (Value::Keyword("f".into()), Value::Keyword("cas".into())),
                (
                    Value::Keyword("value".into()),
                    Value::Vector(vec![Value::Int(1), Value::Str("a\"b".into())].into()),
                ),
            ]
            .into(),
        );
        assert_eq!(v.to_string(), r#"{:f :cas, :value [1 "a\"b"]}"#);
    }

    #[test]
    fn a_value_stays_small() {
        assert!(std::mem::size_of::<Value>() <= 24);
    }
}
