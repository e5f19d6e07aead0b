//! The fast way through one line of faultline's JSONL: a transaction's op scanned byte by byte
//! straight into micro-ops, with no [`Value`] built and nothing allocated but what the batch keeps.
//! Parsing JSON into values was most of the cost of a check; the lines of a transactional history
//! all have one plain shape, and this reads that shape only.
//!
//! It is exact or it declines: anything it does not fully understand (an escape in a string, a
//! float, an integer beyond 64 bits, a field given twice, a micro-op the workload does not have,
//! a value in the wrong place) returns `None` with the batch as it was, and the line goes to the
//! general reader (`parse_jsonl_line` and `decode_op`), whose results and messages are the
//! reference. What it accepts, it reads as that reader would (a test compares the two on every
//! line of generated histories and on hand-made odd ones).

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::build::DecodedOp;
use super::txn::{Key, Mop, Txns, Workload};
use crate::history::{FnNames, OpType, Process, Value};

/// What a chunk's scanner keeps between lines (and blocks): the ids its batch gave each key,
/// and function names. It must stay with the one batch whose keys it names.
#[derive(Default)]
pub struct Scanner {
    ints: FxHashMap<i64, Key>,
    strs: FxHashMap<Box<str>, Key>,
    pub names: FnNames,
}

/// The fields of an op met so far.
#[derive(Default)]
struct Seen {
    index: Option<u64>,
    process: Option<Process>,
    kind: Option<OpType>,
    f: Option<Arc<str>>,
    /// Where the value starts, when it came before `process` or `type` and waits for them.
    value_at: Option<usize>,
    mops: Option<Option<(u32, u32)>>,
    /// Bits of the fields already given, so that one given twice declines.
    given: u16,
}

impl Scanner {
    /// The op of `line` (without its line end), its micro-ops decoded into `batch`, numbered
    /// `line_no`; `None` when the general reader must read it. An op without an `index` gets
    /// `u64::MAX`, as `parse_jsonl_line` is asked to give it.
    pub fn op(
        &mut self,
        line: &str,
        line_no: usize,
        workload: Workload,
        batch: &mut Txns,
    ) -> Option<(DecodedOp, Arc<str>)> {
        let (mops, elements) = (batch.mops.len(), batch.elements.len());
        let out = self.fields(line, line_no, workload, batch);
        if out.is_none() {
            batch.mops.truncate(mops);
            batch.elements.truncate(elements);
        }
        out
    }

    fn fields(
        &mut self,
        line: &str,
        line_no: usize,
        workload: Workload,
        batch: &mut Txns,
    ) -> Option<(DecodedOp, Arc<str>)> {
        let mut c = Cursor { text: line, at: 0 };
        let mut seen = Seen::default();
        c.ws();
        c.eat(b'{')?;
        c.ws();
        if c.peek() != Some(b'}') {
            loop {
                let name = c.string()?;
                c.ws();
                c.eat(b':')?;
                c.ws();
                let bit = match name {
                    "index" => 1,
                    "time" => 2,
                    "process" => 4,
                    "type" => 8,
                    "f" => 16,
                    "key" => 32,
                    "value" => 64,
                    "node" => 128,
                    "error" => 256,
                    _ => 0,
                };
                if seen.given & bit != 0 {
                    return None;
                }
                seen.given |= bit;
                match name {
                    "index" => {
                        seen.index = Some(match c.peek()? {
                            b'n' => c.null().map(|()| u64::MAX)?,
                            _ => u64::try_from(c.int()?).ok()?,
                        })
                    }
                    "time" => match c.peek()? {
                        b'n' => c.null()?,
                        _ => c.int().map(drop)?,
                    },
                    "process" => {
                        seen.process = Some(match c.peek()? {
                            b'"' => (c.string()? == "nemesis").then_some(Process::Nemesis)?,
                            _ => Process::Client(u64::try_from(c.int()?).ok()?),
                        })
                    }
                    "type" => seen.kind = Some(OpType::parse(c.string()?)?),
                    "f" => {
                        let f = c.string()?;
                        if f.is_empty() {
                            return None;
                        }
                        seen.f = Some(self.names.intern(f));
                    }
                    "node" => match c.peek()? {
                        b'n' => c.null()?,
                        _ => c.string().map(drop)?,
                    },
                    "value" => match (seen.process, seen.kind) {
                        (Some(p), Some(k)) => {
                            seen.mops = Some(self.value(&mut c, p, k, workload, batch)?)
                        }
                        _ => {
                            seen.value_at = Some(c.at);
                            c.skip_value(0)?;
                        }
                    },
                    _ => c.skip_value(0)?,
                }
                c.ws();
                match c.next()? {
                    b',' => c.ws(),
                    b'}' => break,
                    _ => return None,
                }
            }
        } else {
            c.at += 1;
        }
        c.ws();
        if c.at != line.len() {
            return None;
        }
        let (process, kind, f) = (seen.process?, seen.kind?, seen.f?);
        let mops = match (seen.mops, seen.value_at) {
            (Some(m), _) => m,
            (None, Some(at)) => {
                let mut v = Cursor { text: line, at };
                self.value(&mut v, process, kind, workload, batch)?
            }
            // No value: nil, which only a fail or info may carry.
            (None, None) => {
                if process != Process::Nemesis && matches!(kind, OpType::Invoke | OpType::Ok) {
                    return None;
                }
                None
            }
        };
        let op = DecodedOp {
            index: seen.index.unwrap_or(u64::MAX),
            process,
            kind,
            line: line_no,
            mops,
        };
        Some((op, f))
    }

    /// An op's value: its micro-ops, or `None` where `decode_op` keeps none (a nemesis op, or a
    /// `fail` or `info` whose value is not a list).
    fn value(
        &mut self,
        c: &mut Cursor,
        process: Process,
        kind: OpType,
        workload: Workload,
        batch: &mut Txns,
    ) -> Option<Option<(u32, u32)>> {
        let settled = matches!(kind, OpType::Fail | OpType::Info);
        if process == Process::Nemesis || (settled && c.peek()? != b'[') {
            c.skip_value(0)?;
            return Some(None);
        }
        let first = batch.mops.len();
        let observed = kind == OpType::Ok;
        c.eat(b'[')?;
        c.ws();
        if c.peek()? == b']' {
            c.at += 1;
        } else {
            loop {
                let mop = self.mop(c, workload, observed, batch)?;
                batch.mops.push(mop);
                c.ws();
                match c.next()? {
                    b',' => c.ws(),
                    b']' => break,
                    _ => return None,
                }
            }
        }
        Some(Some((first as u32, (batch.mops.len() - first) as u32)))
    }

    /// One micro-op `["append", key, element]`, as `mop::decode` reads it.
    fn mop(
        &mut self,
        c: &mut Cursor,
        workload: Workload,
        observed: bool,
        batch: &mut Txns,
    ) -> Option<Mop> {
        c.eat(b'[')?;
        c.ws();
        let f = c.string()?;
        c.ws();
        c.eat(b',')?;
        c.ws();
        let key = match c.peek()? {
            b'"' => {
                let s = c.string()?;
                match self.strs.get(s) {
                    Some(&k) => k,
                    None => {
                        let k = batch.key_id(&Value::Str(s.into()));
                        self.strs.insert(s.into(), k);
                        k
                    }
                }
            }
            _ => {
                let i = c.int()?;
                *self
                    .ints
                    .entry(i)
                    .or_insert_with(|| batch.key_id(&Value::Int(i)))
            }
        };
        c.ws();
        c.eat(b',')?;
        c.ws();
        let mop = match (workload, f) {
            (Workload::ListAppend, "append") => Mop::Append {
                key,
                element: c.int()?,
            },
            (Workload::RwRegister, "w") => Mop::Write {
                key,
                value: c.int()?,
            },
            (_, "r") if !observed => {
                c.skip_value(0)?;
                Mop::ReadUnknown { key }
            }
            (Workload::ListAppend, "r") => {
                let start = u32::try_from(batch.elements.len()).ok()?;
                if c.peek()? == b'n' {
                    c.null()?;
                } else {
                    c.eat(b'[')?;
                    c.ws();
                    if c.peek()? == b']' {
                        c.at += 1;
                    } else {
                        loop {
                            batch.elements.push(c.int()?);
                            c.ws();
                            match c.next()? {
                                b',' => c.ws(),
                                b']' => break,
                                _ => return None,
                            }
                        }
                    }
                }
                let len = (batch.elements.len() - start as usize) as u32;
                Mop::ReadList { key, start, len }
            }
            (Workload::RwRegister, "r") => Mop::ReadRegister {
                key,
                value: match c.peek()? {
                    b'n' => c.null().map(|()| None)?,
                    _ => Some(c.int()?),
                },
            },
            _ => return None,
        };
        c.ws();
        c.eat(b']')?;
        Some(mop)
    }
}

/// A position in a line; every method returns `None` for what the scanner does not read.
struct Cursor<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Cursor<'t> {
    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON's whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn null(&mut self) -> Option<()> {
        let end = self.at + 4;
        (self.text.get(self.at..end)? == "null").then(|| self.at = end)
    }

    /// A string with no escape in it (and, as JSON wants, no control character).
    fn string(&mut self) -> Option<&'t str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = memchr::memchr(b'"', &self.bytes()[start..])?;
        let text = &self.bytes()[start..start + len];
        if text.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are ASCII quotes, so the slice is whole characters.
        self.text.get(start..start + len)
    }

    /// An integer as serde_json gives it to faultline's reader: one that fits in an `i64`
    /// (`-0` reads as a float there, and one beyond 64 bits as an error or a float, so they
    /// decline), with no fraction or exponent after it.
    fn int(&mut self) -> Option<i64> {
        let bytes = self.bytes();
        let negative = bytes.get(self.at) == Some(&b'-');
        let start = self.at + usize::from(negative);
        let mut at = start;
        let mut n: u64 = 0;
        while let Some(&d) = bytes.get(at) {
            if !d.is_ascii_digit() {
                break;
            }
            // 19 digits always fit in a u64; more decline.
            if at - start == 19 {
                return None;
            }
            n = n * 10 + u64::from(d - b'0');
            at += 1;
        }
        let digits = at - start;
        if digits == 0 || (digits > 1 && bytes[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = bytes.get(at) {
            return None;
        }
        self.at = at;
        if negative {
            match n {
                0 => None,
                n if n <= 1 << 63 => Some((n as i64).wrapping_neg()),
                _ => None,
            }
        } else {
            i64::try_from(n).ok()
        }
    }

    /// Skips a value of a field or micro-op the op does not use, made only of what this
    /// scanner reads exactly (so that no value it passes over is one the general reader refuses).
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > 32 {
            return None;
        }
        let (open, close) = match self.peek()? {
            b'"' => return self.string().map(drop),
            b'n' => return self.null(),
            b't' => return self.word("true"),
            b'f' => return self.word("false"),
            b'[' => (b'[', b']'),
            b'{' => (b'{', b'}'),
            _ => return self.int().map(drop),
        };
        self.eat(open)?;
        self.ws();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            if open == b'{' {
                self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            self.skip_value(depth + 1)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b if b == close => return Some(()),
                _ => return None,
            }
        }
    }

    fn word(&mut self, w: &str) -> Option<()> {
        let end = self.at + w.len();
        (self.text.get(self.at..end)? == w).then(|| self.at = end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::build::decode_op;
    use crate::history::parse_jsonl_line;

    /// The general reader's op of `line`, its micro-ops in `batch`.
    fn general(line: &str, w: Workload, batch: &mut Txns) -> Option<(DecodedOp, Arc<str>)> {
        let mut names = FnNames::default();
        let op = parse_jsonl_line(line, &mut names, u64::MAX).ok()?;
        decode_op(&op, 7, w, batch).ok().map(|d| (d, op.f))
    }

    /// Scans `line`; when it is read, checks it reads as the general reader reads it.
    fn scan(line: &str, w: Workload) -> Option<DecodedOp> {
        let mut batch = Txns::default();
        let mut s = Scanner::default();
        let got = s.op(line, 7, w, &mut batch);
        let Some((d, f)) = got else {
            assert!(batch.mops.is_empty() && batch.elements.is_empty(), "{line}");
            return None;
        };
        let mut reference = Txns::default();
        let (want, want_f) = general(line, w, &mut reference)
            .unwrap_or_else(|| panic!("scanned what the general reader refuses: {line}"));
        assert_eq!(format!("{d:?}"), format!("{want:?}"), "{line}");
        assert_eq!(f, want_f, "{line}");
        assert_eq!(batch.mops, reference.mops, "{line}");
        assert_eq!(batch.elements, reference.elements, "{line}");
        assert_eq!(batch.keys, reference.keys, "{line}");
        Some(d)
    }

    const LA: Workload = Workload::ListAppend;
    const RW: Workload = Workload::RwRegister;

    #[test]
    fn plain_ops_are_scanned_as_the_general_reader_reads_them() {
        let lines = [
            r#"{"index":0,"time":19000,"process":1,"type":"invoke","f":"txn","value":[["r",4,null],["append",6,7]]}"#,
            r#"{"index":1,"time":19000,"process":1,"type":"ok","f":"txn","value":[["r",4,[1,2,3]],["append",6,7]]}"#,
            r#"{"index":2,"process":1,"type":"ok","f":"txn","value":[["r","x",[]],["r","x",null]]}"#,
            r#"{"process":1,"type":"fail","f":"txn","value":[["r",4,["odd",{"a":[true]}]]]}"#,
            r#"{"process":1,"type":"info","f":"txn","value":null,"error":"timeout"}"#,
            r#"{"process":1,"type":"info","f":"txn"}"#,
            r#"{"process":"nemesis","type":"info","f":"start","value":{"n1":["n2"]}}"#,
            r#"{"value":[["append",-5,-9223372036854775808]],"type":"invoke","process":3,"f":"txn","index":null}"#,
            r#"{"process":3,"value":[],"type":"ok","f":"txn","node":"n1","extra":[1,2]}"#,
            r#" { "process" : 3 , "type" : "ok" , "f" : "txn" , "value" : [ [ "r" , 1 , [ 9 , 8 ] ] ] } "#,
            r#"{"process":0,"type":"invoke","f":"txn","value":[["append",1,9223372036854775807]]}"#,
        ];
        for line in lines {
            assert!(scan(line, LA).is_some(), "declined: {line}");
        }
        let rw = [
            r#"{"process":0,"type":"ok","f":"txn","value":[["w",1,2],["r",1,null],["r","k",5]]}"#,
            r#"{"process":0,"type":"invoke","f":"txn","value":[["w",1,2],["r",1,null]]}"#,
        ];
        for line in rw {
            assert!(scan(line, RW).is_some(), "declined: {line}");
        }
        let d = scan(lines[7], LA).unwrap();
        assert_eq!((d.index, d.process), (u64::MAX, Process::Client(3)));
    }

    #[test]
    fn anything_unusual_is_left_to_the_general_reader() {
        let lines = [
            // Not what the general reader accepts.
            r#"{"process":1,"type":"invoke","f":"txn","value":[["r",4,null]],}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["r",4,null]]} x"#,
            r#"{"process":1,"type":"invoke","type":"ok","f":"txn","value":[]}"#,
            r#"{"process":1,"type":"done","f":"txn","value":[]}"#,
            r#"{"process":-1,"type":"invoke","f":"txn","value":[]}"#,
            r#"{"process":1,"type":"invoke","f":"","value":[]}"#,
            r#"{"process":1,"type":"invoke","value":[]}"#,
            r#"{"type":"invoke","f":"txn","value":[]}"#,
            r#"{"process":1,"type":"invoke","f":"txn"}"#,
            r#"{"process":1,"type":"ok","f":"txn","value":null}"#,
            r#"{"index":-1,"process":1,"type":"invoke","f":"txn","value":[]}"#,
            r#"{"time":1.5,"process":1,"type":"invoke","f":"txn","value":[]}"#,
            r#"{"node":3,"process":1,"type":"invoke","f":"txn","value":[]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",1,2.0]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",1,-0]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",1,01]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",1,9223372036854775808]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",1,-9223372036854775809]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",1,2,3]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append",[1],2]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["w",1,2]]}"#,
            r#"{"process":1,"type":"ok","f":"txn","value":[["r",1,3]]}"#,
            r#"{"process":1,"type":"ok","f":"txn","value":[["r",1,[1,"a"]]]}"#,
            r#"{"process":1,"type":"fail","f":"txn","value":[1]}"#,
            // Accepted by the general reader, but not read here: it reads them.
            r#"{"process":1,"type":"invoke","f":"t\u0078n","value":[]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","value":[["append","k\"",2]]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","extra":1.5,"value":[]}"#,
            r#"{"process":1,"type":"invoke","f":"txn","extra":99999999999999999999,"value":[]}"#,
        ];
        for line in lines {
            assert!(scan(line, LA).is_none(), "scanned: {line}");
        }
        assert!(scan(
            r#"{"process":1,"type":"ok","f":"txn","value":[["r",1,[2]]]}"#,
            RW
        )
        .is_none());
    }

    #[test]
    fn a_declined_line_leaves_the_batch_as_it_was() {
        let mut batch = Txns::default();
        let mut s = Scanner::default();
        let line =
            r#"{"process":1,"type":"ok","f":"txn","value":[["append",1,2],["r",1,[2,2.5]]]}"#;
        assert!(s.op(line, 1, LA, &mut batch).is_none());
        assert!(batch.mops.is_empty() && batch.elements.is_empty());
    }
}
