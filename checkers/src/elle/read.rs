//! Reading a faultline JSONL history on every core: parsing JSON is most of the cost of a
//! check, and lines are independent. The file is read in blocks of whole lines; each block is cut
//! into chunks parsed and decoded in parallel (each chunk into its own batch of micro-ops, with
//! its own keys); then, in file order, each op is checked against the rules of well-formedness
//! and paired into its transaction. Memory holds one block of text at a time.
//!
//! An error anywhere sends the file back to the one-op-at-a-time reader, whose messages are the
//! reference: errors are rare, and their wording must not depend on how a file was read.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::build::{decode_op, Builder, DecodedOp};
use super::scan::Scanner;
use super::txn::{Key, Txns, Workload};
use crate::history::{echoes, parse_jsonl_line, Op, OpType, Process, Value, WellFormed};

/// Bytes of text parsed at a time: enough for every core to have several chunks, small enough
/// that the one buffer, used again for every block, stays in memory the OS has already given.
const BLOCK: usize = 8 << 20;

/// One chunk's place: kept from block to block, so that its buffers, its batch's keys and their
/// global ids are made once.
#[derive(Default)]
struct Chunk {
    /// Lines in the chunk, blank ones included.
    lines: usize,
    /// Micro-ops and read elements of this block's chunk; its keys are kept from block to block.
    batch: Txns,
    scanner: Scanner,
    /// The builder's id of each key of `batch`, as far as known.
    global: Vec<Key>,
    /// Each op with its function, and its line within the chunk (from 1).
    ops: Vec<(DecodedOp, Arc<str>)>,
    failed: bool,
}

/// The transactions of the JSONL history at `path`, or `None` when it must be read the
/// one-op-at-a-time way (it is a JSON array, or something in it is wrong).
pub fn read_jsonl(path: &Path, workload: Workload) -> Option<Txns> {
    let mut file = std::fs::File::open(path).ok()?;
    // The file's size, to make room for its transactions once the first block tells how many
    // a megabyte holds.
    let size = file.metadata().map_or(0, |m| m.len());
    let (mut read, mut reserved) = (0u64, false);
    let mut builder = Builder::new(workload);
    let mut rules = WellFormed::default();
    let mut line_base = 0usize;
    let mut previous: Option<u64> = None;
    let mut first = true;
    // The op the rules see: what they read of it, without its value.
    let mut light = Op::new(Process::Nemesis, OpType::Info, "-", Value::Nil);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut buf = vec![0u8; BLOCK];
    // Bytes of `buf` holding text: a block's whole lines, then the start of the next line.
    let mut filled = 0;
    let mut eof = false;
    loop {
        while filled < buf.len() && !eof {
            match file.read(&mut buf[filled..]) {
                Ok(0) => eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        if filled == 0 {
            break;
        }
        let end = match memchr::memrchr(b'\n', &buf[..filled]) {
            _ if eof => filled,
            Some(p) => p + 1,
            // A line longer than the buffer: make room for it.
            None => {
                buf.resize(buf.len() * 2, 0);
                continue;
            }
        };
        let mut text: &[u8] = &buf[..end];
        if first {
            text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
            if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                return None;
            }
            first = false;
        }
        let parts = split(text, rayon::current_num_threads() * 4);
        if chunks.len() < parts.len() {
            chunks.resize_with(parts.len(), Chunk::default);
        }
        chunks
            .par_iter_mut()
            .zip(parts.par_iter())
            .for_each(|(chunk, &part)| parse(part, workload, chunk));
        for chunk in &mut chunks[..parts.len()] {
            if chunk.failed {
                return None;
            }
            for (mut d, f) in chunk.ops.drain(..) {
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
                builder.push_decoded(&d, &chunk.batch, &mut chunk.global);
            }
            line_base += chunk.lines;
        }
        read += end as u64;
        if !reserved && read < size {
            builder.expect(size as f64 / read as f64);
            reserved = true;
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
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
            memchr::memchr(b'\n', &rest[target..]).map_or(rest.len(), |p| target + p + 1)
        };
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts
}

/// Parses `text` into `chunk`, emptied first (but for its keys).
fn parse(text: &[u8], workload: Workload, chunk: &mut Chunk) {
    chunk.lines = 0;
    chunk.failed = false;
    chunk.ops.clear();
    chunk.batch.mops.clear();
    chunk.batch.elements.clear();
    let mut rest = text;
    while !rest.is_empty() {
        chunk.lines += 1;
        let Some(end) = memchr::memchr(b'\n', rest) else {
            // A last line with no newline may be cut short: the careful reader says so.
            chunk.failed = true;
            return;
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            chunk.failed = true;
            return;
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(op) = chunk
            .scanner
            .op(line, chunk.lines, workload, &mut chunk.batch)
        {
            chunk.ops.push(op);
            continue;
        }
        let parsed = parse_jsonl_line(line, &mut chunk.scanner.names, u64::MAX).and_then(|op| {
            decode_op(&op, chunk.lines, workload, &mut chunk.batch).map(|d| (d, op.f))
        });
        match parsed {
            Ok(op) => chunk.ops.push(op),
            Err(_) => {
                chunk.failed = true;
                return;
            }
        }
    }
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
