//! The neutral verdict: what any checker concluded, in terms every consumer understands.
//!
//! faultline has several checkers (linearizability per key, the set checker, Elle-style
//! transactional cycles, ...). Whatever shows a result (`results.json`, the run page, the store
//! index, `--junit`, `compare`) must not need to know which one spoke, or adding a checker would
//! mean editing each of them. So every checker reports a [`Verdict`]: the [`Validity`], a
//! one-line summary, the [`Anomaly`]s it found (a kind in the checker's own vocabulary, the key,
//! an explanation in words and the history indexes involved), counts worth comparing between
//! runs, and, in `detail`, its own data (a linearizability witness, a set's element outcomes, a
//! cycle) for the pages that draw that checker's findings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A checker's verdict. Composition: invalid beats unknown beats valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Validity {
    #[default]
    Valid,
    Unknown,
    Invalid,
}

impl Validity {
    /// The worse of two verdicts.
    pub fn and(self, other: Validity) -> Validity {
        self.max(other)
    }

    /// The verdict as Jepsen writes it in JSON: `true`, `false` or `"unknown"`.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Validity::Valid => serde_json::Value::Bool(true),
            Validity::Invalid => serde_json::Value::Bool(false),
            Validity::Unknown => serde_json::Value::String("unknown".into()),
        }
    }

    /// Reads Jepsen's JSON form back (`true`, `false`, `"unknown"`; also the words `"valid"`
    /// and `"invalid"`, which people write by hand). Anything else is `None`.
    pub fn from_json(v: &serde_json::Value) -> Option<Validity> {
        match v {
            serde_json::Value::Bool(true) => Some(Validity::Valid),
            serde_json::Value::Bool(false) => Some(Validity::Invalid),
            serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "unknown" => Some(Validity::Unknown),
                "valid" | "true" => Some(Validity::Valid),
                "invalid" | "false" => Some(Validity::Invalid),
                _ => None,
            },
            _ => None,
        }
    }

    /// The lower-case word: `valid`, `invalid` or `unknown` (for CSS classes and file names).
    pub fn word(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Unknown => "unknown",
        }
    }
}

/// `true`, `false` or `"unknown"`, as Jepsen writes it.
impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Validity::from_json(&v).ok_or_else(|| {
            serde::de::Error::custom(format!("a verdict is true, false or \"unknown\", not {v}"))
        })
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "unknown",
        })
    }
}

/// One thing a checker found wrong (or, for an unknown verdict, could not decide).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The kind, in the checker's vocabulary (Jepsen's and Elle's where they have one):
    /// `nonlinearizable`, `lost`, `unexpected`, `stale`, `G2-item`, `incompatible-order`, ...
    pub kind: String,
    /// The key or object it concerns (EDN, as the history has it), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What happened, in words a person can act on: one line each.
    #[serde(default)]
    pub explanation: Vec<String>,
    /// History indexes of the operations involved (invokes), for drawings and links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<u64>,
}

/// What one checker concluded about one history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The workload whose part of the history this verdict judges, in a run of several
    /// workloads at once (`register` of `register+counter`); `None` when the run had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Which checker: `linearizable`, `set`, `elle`, ... (the report picks the pages that draw
    /// `detail` by this name; everything else ignores it).
    pub checker: String,
    /// What the history was checked against, for people: a model (`cas-register`), or
    /// consistency models (`serializable`).
    #[serde(default)]
    pub against: String,
    pub valid: Validity,
    /// One line: what was found, or that nothing was.
    #[serde(default)]
    pub summary: String,
    /// The anomalies, the most telling first. Empty when valid.
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
    /// Why the verdict is unknown (a budget ran out, nothing was observed, ...).
    #[serde(default)]
    pub unknown_because: Vec<String>,
    /// Numbers worth showing and comparing between runs (`keys`, `lost`, `stale`, ...).
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// The checker's own data (witnesses, element outcomes, cycles), for the pages that draw
    /// it and for tools; `null` when there is none.
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl Verdict {
    /// A verdict with nothing found yet: `valid`, no anomalies, no counts, no detail.
    pub fn new(checker: &str, against: &str) -> Verdict {
        Verdict {
            workload: None,
            checker: checker.to_string(),
            against: against.to_string(),
            valid: Validity::Valid,
            summary: String::new(),
            anomalies: Vec::new(),
            unknown_because: Vec::new(),
            counts: BTreeMap::new(),
            detail: serde_json::Value::Null,
        }
    }

    /// The verdict's name for people and for reports: the checker, after its workload's name
    /// when the run had several (`register linearizable`, `counter counter`).
    pub fn name(&self) -> String {
        match &self.workload {
            Some(w) => format!("{w} {}", self.checker),
            None => self.checker.clone(),
        }
    }

    /// The distinct anomaly kinds, in order of first appearance (`G2-item`, `lost`, ...).
    pub fn anomaly_kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = Vec::new();
        for a in &self.anomalies {
            if !kinds.contains(&a.kind.as_str()) {
                kinds.push(&a.kind);
            }
        }
        kinds
    }

    /// The keys named by anomalies, each once, in order.
    pub fn anomaly_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for k in self.anomalies.iter().filter_map(|a| a.key.as_deref()) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }
}

/// The verdict of several checkers together: the worst of them (none is valid).
pub fn combine<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Validity {
    verdicts
        .into_iter()
        .fold(Validity::Valid, |v, c| v.and(c.valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_reads_and_writes_jepsens_json() {
        for v in [Validity::Valid, Validity::Invalid, Validity::Unknown] {
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<Validity>(&text).unwrap(), v);
        }
        assert_eq!(
            serde_json::to_string(&Validity::Unknown).unwrap(),
            "\"unknown\""
        );
        assert!(serde_json::from_str::<Validity>("3").is_err());
        assert!(serde_json::from_str::<Validity>("\"maybe\"").is_err());
    }

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        let mut a = Verdict::new("x", "m");
        let mut b = Verdict::new("y", "m");
        assert_eq!(combine([&a, &b]), Validity::Valid);
        b.valid = Validity::Unknown;
        assert_eq!(combine([&a, &b]), Validity::Unknown);
        a.valid = Validity::Invalid;
        assert_eq!(combine([&a, &b]), Validity::Invalid);
        assert_eq!(combine([]), Validity::Valid);
    }

    #[test]
    fn a_verdict_survives_a_round_trip_through_json() {
        let mut v = Verdict::new("set", "set-full");
        v.valid = Validity::Invalid;
        v.anomalies.push(Anomaly {
            kind: "lost".into(),
            key: None,
            explanation: vec!["element 3 was acknowledged, then absent".into()],
            ops: vec![7],
        });
        v.counts.insert("lost".into(), 1);
        v.detail = serde_json::json!({"lost": [3]});
        let back: Verdict = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.anomaly_kinds(), vec!["lost"]);
    }
}
