//! Reading a faultline JSONL history on every core: parsing JSON is most of the cost of a
//! check, and lines are independent. The file is read in blocks of whole lines; each block is cut
//! into chunks parsed and decoded in parallel (each chunk into its own batch of micro-ops, with
//! its own keys); then, in file order, each op is checked against the rules of well-formedness
//! and paired into its transaction, while the next block is read and parsed. Memory holds one
//! block of text at a time, and the parsed ops of two.
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
///
/// A two-stage pipeline: while one core pairs the ops of block `n` in file order (the only
/// serial work, about a third of the reading), the other reads block `n + 1` and both cores
/// then parse it; pairing would otherwise leave a core idle for a third of the time.
pub fn read_jsonl(path: &Path, workload: Workload) -> Option<Txns> {
    read_in_blocks(path, workload, BLOCK)
}

/// [`read_jsonl`] with blocks of `block` bytes (grown for a longer line).
fn read_in_blocks(path: &Path, workload: Workload, block: usize) -> Option<Txns> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut text = Blocks {
        file,
        buf: vec![0u8; block.max(1)],
        filled: 0,
        consumed: 0,
        eof: false,
    };
    let mut pairing = Pairing::new(workload, size);
    let mut ready = Parsed::default();
    let mut next = Parsed::default();
    match text.next_block().ok()? {
        None => return Some(pairing.builder.finish()),
        Some(block) => {
            let block = block.strip_prefix("\u{feff}".as_bytes()).unwrap_or(block);
            if block.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                return None;
            }
            ready.parse(block, workload);
        }
    }
    loop {
        let (paired, more) = rayon::join(
            || pairing.take(&mut ready),
            || -> Result<bool, ()> {
                match text.next_block()? {
                    None => Ok(false),
                    Some(block) => {
                        next.parse(block, workload);
                        Ok(true)
                    }
                }
            },
        );
        paired?;
        if !more.ok()? {
            break;
        }
        std::mem::swap(&mut ready, &mut next);
    }
    Some(pairing.builder.finish())
}

/// The file, read a block of whole lines at a time into one buffer used again for every block.
struct Blocks {
    file: std::fs::File,
    buf: Vec<u8>,
    /// Bytes of `buf` holding text: the last block's whole lines, then the start of a line.
    filled: usize,
    /// Bytes of `buf` handed out as the last block.
    consumed: usize,
    eof: bool,
}

impl Blocks {
    /// The next block of whole lines (the last may lack its newline), `None` at the end of the
    /// file; `Err` when the file cannot be read.
    fn next_block(&mut self) -> Result<Option<&[u8]>, ()> {
        self.buf.copy_within(self.consumed..self.filled, 0);
        self.filled -= self.consumed;
        self.consumed = 0;
        loop {
            while self.filled < self.buf.len() && !self.eof {
                match self.file.read(&mut self.buf[self.filled..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(()),
                }
            }
            if self.filled == 0 {
                return Ok(None);
            }
            self.consumed = match memchr::memrchr(b'\n', &self.buf[..self.filled]) {
                _ if self.eof => self.filled,
                Some(p) => p + 1,
                // A line longer than the buffer: make room for it.
                None => {
                    self.buf.resize(self.buf.len() * 2, 0);
                    continue;
                }
            };
            return Ok(Some(&self.buf[..self.consumed]));
        }
    }
}

/// A block parsed into chunks, waiting to be paired.
#[derive(Default)]
struct Parsed {
    /// Kept from block to block, so that their buffers, keys and keys' global ids are made once.
    chunks: Vec<Chunk>,
    /// How many of `chunks` hold this block.
    used: usize,
    /// The block's length in bytes.
    bytes: u64,
}

impl Parsed {
    /// Parses `block` on every core.
    fn parse(&mut self, block: &[u8], workload: Workload) {
        let parts = split(block, rayon::current_num_threads() * 4);
        if self.chunks.len() < parts.len() {
            self.chunks.resize_with(parts.len(), Chunk::default);
        }
        self.chunks
            .par_iter_mut()
            .zip(parts.par_iter())
            .for_each(|(chunk, &part)| parse(part, workload, chunk));
        self.used = parts.len();
        self.bytes = block.len() as u64;
    }
}

/// The serial stage: each op, in file order, checked against the rules of well-formedness and
/// paired into its transaction.
struct Pairing {
    builder: Builder,
    rules: WellFormed,
    /// Lines before the block being paired.
    line_base: usize,
    /// The index of the previous op, for ops without one.
    previous: Option<u64>,
    /// The op the rules see: what they read of it, without its value.
    light: Op,
    /// Bytes paired so far, and the file's size: to make room for all its transactions once the
    /// first block tells how many a megabyte holds.
    paired: u64,
    size: u64,
}

impl Pairing {
    fn new(workload: Workload, size: u64) -> Pairing {
        Pairing {
            builder: Builder::new(workload),
            rules: WellFormed::default(),
            line_base: 0,
            previous: None,
            light: Op::new(Process::Nemesis, OpType::Info, "-", Value::Nil),
            paired: 0,
            size,
        }
    }

    /// Pairs the ops of `parsed`; `None` when the file must be read the careful way.
    fn take(&mut self, parsed: &mut Parsed) -> Option<()> {
        for chunk in &mut parsed.chunks[..parsed.used] {
            if chunk.failed {
                return None;
            }
            for (mut d, f) in chunk.ops.drain(..) {
                d.line += self.line_base;
                if d.index == u64::MAX {
                    d.index = self.previous.map_or(0, |p| p.saturating_add(1));
                }
                self.previous = Some(d.index);
                // The rules compare the value a write or cas echoes, which is not kept here.
                if echoes(&f) {
                    return None;
                }
                self.light.index = d.index;
                self.light.process = d.process;
                self.light.kind = d.kind;
                self.light.f = f;
                self.rules.push(&self.light, d.line).ok()?;
                self.builder
                    .push_decoded(&d, &chunk.batch, &mut chunk.global);
            }
            self.line_base += chunk.lines;
        }
        let first = self.paired == 0;
        self.paired += parsed.bytes;
        if first && self.paired > 0 && self.paired < self.size {
            self.builder.expect(self.size as f64 / self.paired as f64);
        }
        parsed.used = 0;
        Some(())
    }
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
        // In many blocks, paired while the next is parsed, one of them shorter than a line.
        for block in [64, 4096, 100_000] {
            let piped = read_in_blocks(&path, Workload::ListAppend, block).expect("read in blocks");
            same(&piped, &serial);
        }
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
