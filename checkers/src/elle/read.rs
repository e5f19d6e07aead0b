//! Reading a faultline JSONL history on every core: parsing JSON is most of the cost of a
//! check, and lines are independent. The file is read in blocks of whole lines; each block is cut
//! into chunks parsed and decoded in parallel (each chunk into its own batch of micro-ops, with
//! its own keys); then, in file order, each op is checked against the rules of well-formedness
//! and paired into its transaction. Memory holds one block of text at a time.
//!
//! An error anywhere sends the file back to the one-op-at-a-time reader, whose messages are the
//! reference: errors are rare, and their wording must not depend on how a file was read.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::build::{decode_op, Builder, DecodedOp};
use super::scan::Scanner;
use super::txn::{Key, Txns, Workload};
use crate::history::{echoes, parse_jsonl_line, Op, OpType, Process, Value, WellFormed};

/// Bytes of text parsed at a time.
const BLOCK: u64 = 32 << 20;

/// A chunk of lines, parsed.
struct Chunk {
    /// Lines in the chunk, blank ones included.
    lines: usize,
    batch: Txns,
    /// Each op with its function, and its line within the chunk (from 1).
    ops: Vec<(DecodedOp, Arc<str>)>,
    failed: bool,
}

/// The transactions of the JSONL history at `path`, or `None` when it must be read the
/// one-op-at-a-time way (it is a JSON array, or something in it is wrong).
pub fn read_jsonl(path: &Path, workload: Workload) -> Option<Txns> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut builder = Builder::new(workload);
    let mut rules = WellFormed::default();
    let mut line_base = 0usize;
    let mut previous: Option<u64> = None;
    let mut first = true;
    // The op the rules see: what they read of it, without its value.
    let mut light = Op::new(Process::Nemesis, OpType::Info, "-", Value::Nil);
    loop {
        let mut buf = Vec::with_capacity(BLOCK as usize + (1 << 16));
        (&mut reader).take(BLOCK).read_to_end(&mut buf).ok()?;
        if buf.is_empty() {
            break;
        }
        reader.read_until(b'\n', &mut buf).ok()?;
        let mut text: &[u8] = &buf;
        if first {
            text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
            if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                return None;
            }
            first = false;
        }
        let chunks: Vec<Chunk> = split(text, rayon::current_num_threads() * 4)
            .par_iter()
            .map(|&part| parse(part, workload))
            .collect();
        for chunk in chunks {
            if chunk.failed {
                return None;
            }
            let mut keys: Vec<Key> = Vec::new();
            for (mut d, f) in chunk.ops {
                d.line += line_base;
                if d.index == u64::MAX {
                    d.index = previous.map_or(0, |p| p.saturating_add(1));
                }
                previous = Some(d.index);
                // The rules compare the value a write or cas echoes, which is not kept here.
                if echoes(&f) {
                    return None;
                }
                light.index = d.index;
                light.process = d.process;
                light.kind = d.kind;
                light.f = f;
                rules.push(&light, d.line).ok()?;
                builder.push_decoded(&d, &chunk.batch, &mut keys);
            }
            line_base += chunk.lines;
        }
    }
    Some(builder.finish())
}

/// `text` cut into about `n` parts, each ending at a line end.
fn split(text: &[u8], n: usize) -> Vec<&[u8]> {
    let target = (text.len() / n.max(1)).max(1 << 16);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            rest[target..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| target + p + 1)
        };
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts
}

fn parse(text: &[u8], workload: Workload) -> Chunk {
    let mut chunk = Chunk {
        lines: 0,
        batch: Txns::default(),
        ops: Vec::new(),
        failed: false,
    };
    let mut scanner = Scanner::default();
    for raw in text.split_inclusive(|&b| b == b'\n') {
        chunk.lines += 1;
        let Some(line) = raw.strip_suffix(b"\n") else {
            // A last line with no newline may be cut short: the careful reader says so.
            chunk.failed = true;
            return chunk;
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            chunk.failed = true;
            return chunk;
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(op) = scanner.op(line, chunk.lines, workload, &mut chunk.batch) {
            chunk.ops.push(op);
            continue;
        }
        let parsed = parse_jsonl_line(line, &mut scanner.names, u64::MAX).and_then(|op| {
            decode_op(&op, chunk.lines, workload, &mut chunk.batch).map(|d| (d, op.f))
        });
        match parsed {
            Ok(op) => chunk.ops.push(op),
            Err(_) => {
                chunk.failed = true;
                return chunk;
            }
        }
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::build::from_ops;
    use crate::history::{read_history, ReadOptions};

    /// A history of `n` transactions from 7 processes, interleaved, some failing, some timing
    /// out (their process retires), every third op without an index.
    fn jsonl(n: usize) -> String {
        let mut out = String::new();
        let mut index = 0u64;
        let mut write = |line: String| {
            let with_index = if index.is_multiple_of(3) {
                line
            } else {
                line.replacen('{', &format!("{{\"index\":{},", index * 2), 1)
            };
            out.push_str(&with_index);
            out.push('\n');
            index += 1;
        };
        let mut retired = 0;
        for i in 0..n {
            let p = i % 7 + 7 * retired;
            let k = i % 13;
            write(format!(
                r#"{{"process":{p},"type":"invoke","f":"txn","value":[["append",{k},{i}],["r",{k},null]]}}"#
            ));
            let (kind, read) = match i % 10 {
                3 => ("fail", "null".to_string()),
                7 => ("info", "null".to_string()),
                _ => ("ok", format!("[{i}]")),
            };
            write(format!(
                r#"{{"process":{p},"type":"{kind}","f":"txn","value":[["append",{k},{i}],["r",{k},{read}]]}}"#
            ));
            if kind == "info" {
                retired += 1;
            }
        }
        out
    }

    fn same(a: &Txns, b: &Txns) {
        assert_eq!(a.txns, b.txns);
        assert_eq!(a.mops, b.mops);
        assert_eq!(a.elements, b.elements);
        assert_eq!(a.keys, b.keys);
    }

    #[test]
    fn reading_on_every_core_gives_what_reading_one_op_at_a_time_gives() {
        let dir = std::env::temp_dir().join(format!("faultline-elle-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.jsonl");
        std::fs::write(&path, jsonl(4000)).unwrap();
        let parallel = read_jsonl(&path, Workload::ListAppend).expect("read in parallel");
        let h = read_history(&path, &ReadOptions::default())
            .unwrap()
            .history;
        let lines = (0..h.len()).map(|i| h.line(i));
        let serial = from_ops(h.ops.iter().zip(lines), Workload::ListAppend).unwrap();
        assert!(parallel.len() == 4000 && serial.len() == 4000);
        same(&parallel, &serial);
        // A bad line, or a JSON array, is left to the one-op-at-a-time reader.
        let mut bad = jsonl(2000);
        bad.push_str("{\"process\":1,\"type\":\"invoke\"\n");
        std::fs::write(&path, bad).unwrap();
        assert!(read_jsonl(&path, Workload::ListAppend).is_none());
        std::fs::write(
            &path,
            "[{\"process\":0,\"type\":\"invoke\",\"value\":[]}]\n",
        )
        .unwrap();
        assert!(read_jsonl(&path, Workload::ListAppend).is_none());
        // So is a history whose function is one whose echo the rules compare.
        std::fs::write(&path, jsonl(100).replace("\"txn\"", "\"write\"")).unwrap();
        assert!(read_jsonl(&path, Workload::ListAppend).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
