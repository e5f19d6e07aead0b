//! Histories: the operation types, and the readers and writers of every format faultline takes.
//!
//! A reader turns a file into a [`History`] or fails with a [`ReadError`] that names the file, the
//! line and what was expected there; it never panics on bad input. The one liberty taken with the
//! bytes: a UTF-8 byte-order mark at the start of a file is skipped.

pub mod edn;
mod edn_history;
mod jepsen_log;
mod json_value;
mod jsonl;
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

pub use json_value::value_from_json;
pub use op::{FnNames, History, Op, OpExtra, OpType, Process};
pub use value::Value;
pub use well_formed::check_well_formed;
pub use write::{write_edn, write_jsonl, write_jsonl_op};

use std::path::{Path, PathBuf};

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
    /// faultline's own history.jsonl: one JSON object per line (DESIGN.md).
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

/// Reads a history file.
pub fn read_history(path: &Path, options: &ReadOptions) -> Result<Loaded, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_history(&bytes, path, options)
}

/// Parses a history held in memory; `path` names it in errors. The history is checked with
/// [`check_well_formed`] before it is returned, so a checker may trust its pairing.
pub fn parse_history(
    bytes: &[u8],
    path: &Path,
    options: &ReadOptions,
) -> Result<Loaded, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ReadError::Parse {
            path: path.to_owned(),
            line,
            message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        }
    })?;
    // A byte-order mark (some Windows editors write one) is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = options.format.unwrap_or_else(|| detect_format(path, text));
    let history = match format {
        Format::Jsonl => jsonl::parse(text, path)?,
        Format::Edn => edn_history::parse(text, path, options.independent)?,
        Format::JepsenLog => jepsen_log::parse(text, path)?,
    };
    check_well_formed(&history, path)?;
    Ok(Loaded { history, format })
}

/// Picks a format from the file's extension, then from its first meaningful bytes.
pub fn detect_format(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") | Some("json") => return Format::Jsonl,
        Some("edn") => return Format::Edn,
        Some("log") => return Format::JepsenLog,
        _ => {}
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
