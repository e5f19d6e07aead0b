//! JSON to [`Value`] and back, straight through serde, without a `serde_json::Value` in between:
//! histories run to tens of millions of lines, and one tree per line would double the work.
//!
//! JSON has fewer kinds than EDN, so writing is lossy for some values: a keyword becomes a string,
//! a set an array, and a map key that is not a string or keyword is written as its EDN text.
//! NaN and infinities have no JSON form and are refused rather than silently written as `null`.
//!
//! Floats: serde_json is built without its `float_roundtrip` feature, so a float of extreme
//! exponent (say 7.5e-299) may read back one ulp off what was written. Integers are exact.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

use super::Value;

/// A [`Value`] read from JSON.
pub(super) struct JsonIn(pub Value);

impl<'de> Deserialize<'de> for JsonIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(JsonIn)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("integer {u} does not fit in 64 signed bits")))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.into()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s.into_boxed_str()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(JsonIn(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Vector(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, JsonIn(v))) = map.next_entry::<String, JsonIn>()? {
            entries.push((Value::Str(k.into_boxed_str()), v));
        }
        Ok(Value::Map(entries.into_boxed_slice()))
    }
}

/// The first integer literal of a JSON text that does not fit in an `i64`, with the name of the
/// top-level field whose value holds it, among those for which `wanted` says yes.
///
/// serde_json reads an integer too large for `u64` as a float, silently rounding it; a history's
/// index, time or value must not change that way, so the reader looks for such literals in the
/// raw text after a line parsed. Fields the reader ignores may hold any number: `wanted` skips
/// them, so that a history is not refused for what faultline never reads.
pub(super) fn oversized_integer(
    json: &str,
    wanted: impl Fn(Option<&str>) -> bool,
) -> Option<(Option<&str>, &str)> {
    let bytes = json.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let mut field = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let text = &json[start..i.min(bytes.len())];
                i += 1;
                // At depth 1, a string followed by ':' names the field that follows.
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if depth == 1 && bytes.get(j) == Some(&b':') {
                    field = Some(text);
                }
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let token = &json[start..i];
                let integral = !token.contains(['.', 'e', 'E']);
                if integral && token.len() >= 19 && token.parse::<i64>().is_err() && wanted(field) {
                    return Some((field, token));
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A [`Value`] to be written as JSON.
pub(super) struct JsonOut<'a>(pub &'a Value);

impl Serialize for JsonOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) if x.is_finite() => s.serialize_f64(*x),
            Value::Float(x) => Err(ser::Error::custom(format!(
                "JSON cannot hold the number {x}"
            ))),
            Value::Str(t) | Value::Keyword(t) => s.serialize_str(t),
            Value::Vector(items) | Value::Set(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items.iter() {
                    seq.serialize_element(&JsonOut(v))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries.iter() {
                    match k.as_str() {
                        Some(name) => map.serialize_entry(name, &JsonOut(v))?,
                        None => map.serialize_entry(&k.to_string(), &JsonOut(v))?,
                    }
                }
                map.end()
            }
        }
    }
}

/// A JSON value as a history [`Value`], read exactly as the JSONL reader reads it.
pub fn value_from_json(json: serde_json::Value) -> Result<Value, serde_json::Error> {
    serde_json::from_value::<JsonIn>(json).map(|j| j.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Value {
        serde_json::from_str::<JsonIn>(json).unwrap().0
    }

    #[test]
    fn json_kinds_map_to_values() {
        let v = read(r#"{"a":[null,true,-3,2.5,"s"],"b":{}}"#);
        assert_eq!(
            v.get("a").unwrap().as_slice().unwrap(),
            &[
                Value::Nil,
                Value::Bool(true),
                Value::Int(-3),
                Value::Float(2.5),
                Value::Str("s".into())
            ]
        );
        assert_eq!(v.get("b"), Some(&Value::Map(Box::new([]))));
    }

    #[test]
    fn an_integer_beyond_i64_is_an_error_not_a_rounded_value() {
        let e = serde_json::from_str::<JsonIn>("9223372036854775808")
            .err()
            .unwrap();
        assert!(e.to_string().contains("does not fit"), "{e}");
        let all = |_: Option<&str>| true;
        assert_eq!(
            oversized_integer(r#"{"v":[1,-99999999999999999999999]}"#, all),
            Some((Some("v"), "-99999999999999999999999"))
        );
        assert_eq!(
            oversized_integer(r#"{"v":"99999999999999999999999","x":1e300}"#, all),
            None
        );
        assert_eq!(
            oversized_integer(r#"{"v":"\"99999999999999999999999"}"#, all),
            None
        );
        assert_eq!(oversized_integer("-9223372036854775808", all), None);
        assert_eq!(
            oversized_integer("99999999999999999999", all),
            Some((None, "99999999999999999999"))
        );
        // The field is the top-level one, however deep the number, and unwanted fields are
        // passed over for later wanted ones.
        let not_x = |f: Option<&str>| f != Some("x");
        assert_eq!(
            oversized_integer(
                r#"{"x":{"v":99999999999999999999},"y" : [{"z":[-99999999999999999999]}]}"#,
                not_x
            ),
            Some((Some("y"), "-99999999999999999999"))
        );
    }

    #[test]
    fn non_finite_floats_are_refused_when_writing() {
        assert!(serde_json::to_string(&JsonOut(&Value::Float(f64::NAN))).is_err());
    }

    #[test]
    fn keywords_sets_and_odd_map_keys_are_written_as_json_can() {
        let v = Value::Map(
            vec![
                (
                    Value::Keyword("k".into()),
                    Value::Set(vec![Value::Int(1)].into()),
                ),
                (Value::Int(2), Value::Keyword("x".into())),
            ]
            .into(),
        );
        assert_eq!(
            serde_json::to_string(&JsonOut(&v)).unwrap(),
            r#"{"k":[1],"2":"x"}"#
        );
    }
}
