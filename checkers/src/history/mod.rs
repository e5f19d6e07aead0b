//! Histories: the operation types, and the readers and writers of every format faultline takes.
//!
//! A reader turns a file into a [`History`] or fails with a [`ReadError`] that names the file, the
//! line and what was expected there; it never panics on bad input. The one liberty taken with the
//! bytes: a UTF-8 byte-order mark at the start of a file is skipped.

mod calls;
pub mod edn;
mod edn_history;
mod jepsen_log;
mod json_array;
mod json_value;
mod jsonl;
mod lines;
mod op;
mod op_fields;
mod value;
mod well_formed;
mod write;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod corruption_tests;
#[cfg(test)]
mod robustness_tests;

pub use calls::{pair_calls, Call};
pub use json_value::value_from_json;
pub use lines::LineMap;
pub use op::{FnNames, History, Op, OpExtra, OpType, Process};
pub use value::Value;
pub use well_formed::{check_well_formed, echoes, WellFormed};
pub use write::{write_edn, write_jsonl, write_jsonl_op};

use std::io::BufRead;
use std::path::{Path, PathBuf};

use lines::Lines;

/// Where reading a history went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The formats faultline reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's own history.jsonl: one JSON object per line (DESIGN.md); also one JSON
    /// array of such objects, as Elle's command-line users write histories.
    Jsonl,
    /// Jepsen EDN: a whole vector or list of op maps, or one op map per line; also Porcupine's kv logs.
    Edn,
    /// Jepsen's text log lines `INFO  jepsen.util - 3\t:invoke\t:read\tnil`.
    JepsenLog,
}

impl Format {
    /// Whether histories in this format come from Jepsen, whose checkers (Knossos) read an ok
    /// read of `nil` as "no information" rather than "absent".
    pub fn is_jepsen(self) -> bool {
        matches!(self, Format::Edn | Format::JepsenLog)
    }
}

/// How to read a history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `None`: decide by extension and first bytes.
    pub format: Option<Format>,
    /// Jepsen's independent workloads write values as `[key value]` tuples: split them.
    pub independent: bool,
}

/// A history and the format it was read in.
#[derive(Debug)]
pub struct Loaded {
    pub history: History,
    pub format: Format,
}

/// What a reader hands on: each op with the source line where it starts.
type Emit<'a> = dyn FnMut(Op, usize) -> Result<(), ReadError> + 'a;

/// Reads a history file.
pub fn read_history(path: &Path, options: &ReadOptions) -> Result<Loaded, ReadError> {
    let mut history = History::default();
    let format = read_ops(path, options, |op, line| {
        history.ops.push(op);
        history.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    })?;
    Ok(Loaded { history, format })
}

/// Reads a history file one op at a time, handing each to `each` with the source line where it
/// starts, and returns the format it was read in. Every op handed on has passed the checks of
/// [`check_well_formed`] up to that point; a later error still ends the reading with `Err`, so a
/// caller must not judge what it was handed before the whole file has read.
///
/// JSONL and Jepsen logs are read line by line: memory stays flat however long the file. EDN is
/// read whole first, since one value may span the file.
pub fn read_ops(
    path: &Path,
    options: &ReadOptions,
    each: impl FnMut(Op, usize),
) -> Result<Format, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_from(
        std::io::BufReader::with_capacity(1 << 20, file),
        path,
        options,
        each,
    )
}

/// Parses a history held in memory; `path` names it in errors. The history is checked with
/// [`check_well_formed`] before it is returned, so a checker may trust its pairing.
pub fn parse_history(
    bytes: &[u8],
    path: &Path,
    options: &ReadOptions,
) -> Result<Loaded, ReadError> {
    let mut history = History::default();
    let format = read_from(bytes, path, options, |op, line| {
        history.ops.push(op);
        history.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    })?;
    Ok(Loaded { history, format })
}

/// The one way every history is read: pick the format, run its reader, check each op against the
/// rules of well-formedness as it comes, and hand it on.
fn read_from(
    mut reader: impl BufRead,
    path: &Path,
    options: &ReadOptions,
    mut each: impl FnMut(Op, usize),
) -> Result<Format, ReadError> {
    let io_error = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let format = match options.format {
        Some(f) => f,
        None => sniff_format(&mut reader, path)?,
    };
    let mut rules = WellFormed::default();
    let mut emit = |op: Op, line: usize| {
        rules.push(&op, line).map_err(|message| ReadError::Parse {
            path: path.to_owned(),
            line,
            message,
        })?;
        each(op, line);
        Ok(())
    };
    match format {
        Format::Jsonl if json_array::looks_like(starts(&mut reader, path)?) => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map_err(io_error)?;
            let text = lines::whole_text(&bytes, path)?;
            json_array::read(text, path, &mut emit)?;
        }
        Format::Jsonl => jsonl::read(&mut Lines::new(reader, path), path, &mut emit)?,
        Format::JepsenLog => jepsen_log::read(&mut Lines::new(reader, path), path, &mut emit)?,
        Format::Edn => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map_err(io_error)?;
            let text = lines::whole_text(&bytes, path)?;
            edn_history::read(text, path, options.independent, &mut emit)?;
        }
    }
    Ok(format)
}

/// Parses one line of faultline's JSONL into an op, for readers that split a file themselves
/// (to parse its lines on several threads). An op with no `index` gets `next_index`; the op must
/// then still pass [`WellFormed`], in file order.
pub fn parse_jsonl_line(line: &str, names: &mut FnNames, next_index: u64) -> Result<Op, String> {
    let fields = jsonl::read_fields(line).map_err(|(m, _)| m)?;
    fields.into_op(names, next_index)
}

/// The first buffered bytes of `reader` (not consumed), without a byte-order mark.
fn starts<'r>(reader: &'r mut impl BufRead, path: &Path) -> Result<&'r [u8], ReadError> {
    let head = reader.fill_buf().map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(head.strip_prefix(lines::BOM).unwrap_or(head))
}

/// The format of a history file, as [`read_history`] would decide it without a format given.
pub fn detect_file_format(path: &Path) -> Result<Format, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    sniff_format(&mut std::io::BufReader::with_capacity(1 << 20, file), path)
}

/// The format from the extension, or from the first lines (not consumed) of `reader`.
fn sniff_format(reader: &mut impl BufRead, path: &Path) -> Result<Format, ReadError> {
    // The first megabyte is plenty to find the first line that says what the file is.
    let head = reader.fill_buf().map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let head = head.strip_prefix(lines::BOM).unwrap_or(head);
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    Ok(detect_format(path, valid))
}

/// Picks a format from the file's extension, then from its first meaningful bytes.
pub fn detect_format(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") | Some("json") => return Format::Jsonl,
        Some("edn") => return Format::Edn,
        Some("log") => return Format::JepsenLog,
        _ => {}
    }
    if json_array::looks_like(text.as_bytes()) {
        return Format::Jsonl;
    }
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with(';'));
    match first {
        // `{"index":...` is JSON; `{:index ...` and `#jepsen.history.Op{` are EDN.
        Some(l) if l.starts_with('{') && l[1..].trim_start().starts_with('"') => Format::Jsonl,
        Some(l) if l.starts_with(['{', '[', '(', '#']) => Format::Edn,
        Some(l) if l.contains("jepsen") => Format::JepsenLog,
        _ => Format::Edn,
    }
}
