//! One JSON array of op objects, as Elle's command-line users write histories:
//! `[{"type": "invoke", "f": "txn", "value": [["append", 1, 2]], "process": 0}, ...]`, on one
//! line or pretty-printed over many. `f` may be left out (Elle's checkers treat every client op
//! as a transaction): it reads as `txn`. Read as faultline's JSONL is, once each object's
//! extent is found; an error names the line where its object starts.

use std::path::Path;

use super::jsonl::read_fields;
use super::{Emit, FnNames, ReadError};

/// Whether `text` (after any byte-order mark and blanks) opens a JSON array of objects.
pub(super) fn looks_like(text: &[u8]) -> bool {
    let mut rest = text.iter().skip_while(|b| b.is_ascii_whitespace());
    if rest.next() != Some(&b'[') {
        return false;
    }
    let mut after = rest.skip_while(|b| b.is_ascii_whitespace());
    // `[{"` is JSON; `[{:type` is EDN.
    match after.next() {
        Some(b'{') => after.find(|b| !b.is_ascii_whitespace()) == Some(&b'"'),
        Some(b']') => true,
        _ => false,
    }
}

pub(super) fn read(text: &str, path: &Path, emit: &mut Emit) -> Result<(), ReadError> {
    let bytes = text.as_bytes();
    let err = |at: usize, message: String| ReadError::Parse {
        path: path.to_owned(),
        line: line_of(bytes, at),
        message,
    };
    let mut i = skip_blank(bytes, 0);
    if bytes.get(i) != Some(&b'[') {
        return Err(err(i, "expected a JSON array of operations, `[`".into()));
    }
    i += 1;
    let mut names = FnNames::default();
    let mut previous: Option<u64> = None;
    let mut first = true;
    loop {
        i = skip_blank(bytes, i);
        match bytes.get(i) {
            Some(b']') if first => break,
            Some(b']') => {
                return Err(err(
                    i,
                    "a `]` after a `,`: expected another operation".into(),
                ))
            }
            None => {
                return Err(err(
                    i,
                    "the array of operations is never closed: expected `]`".into(),
                ))
            }
            _ => {}
        }
        let start = i;
        let end = value_end(bytes, start)
            .ok_or_else(|| err(start, "an operation object that never ends".into()))?;
        let line = line_of(bytes, start);
        let mut fields = read_fields(&text[start..end]).map_err(|(m, _)| err(start, m))?;
        fields.default_f("txn");
        let next_index = previous.map_or(0, |p| p.saturating_add(1));
        let op = fields
            .into_op(&mut names, next_index)
            .map_err(|m| err(start, m))?;
        previous = Some(op.index);
        emit(op, line)?;
        first = false;
        i = skip_blank(bytes, end);
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b']') => break,
            None => {
                return Err(err(
                    i,
                    "the array of operations is never closed: expected `]`".into(),
                ))
            }
            _ => return Err(err(i, "expected `,` or `]` after an operation".into())),
        }
    }
    let tail = skip_blank(bytes, i + 1);
    if tail < bytes.len() {
        return Err(err(tail, "text after the array of operations".into()));
    }
    Ok(())
}

fn skip_blank(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The 1-based line of byte `at`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// One past the end of the JSON object or array starting at `start`: brackets balanced outside
/// strings. `None` if the text ends first. (What is inside is checked when it is parsed.)
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ if depth == 0 => {
                // A scalar where an object was expected: take it up to the next separator.
                let end = bytes[i..]
                    .iter()
                    .position(|c| matches!(c, b',' | b']') || c.is_ascii_whitespace())
                    .map_or(bytes.len(), |p| i + p);
                return Some(end);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::history::{parse_history, Format, History, OpType, ReadError, ReadOptions};
    use std::path::Path;

    fn read(text: &str) -> Result<History, ReadError> {
        let options = ReadOptions {
            format: Some(Format::Jsonl),
            independent: false,
        };
        parse_history(text.as_bytes(), Path::new("h.json"), &options).map(|l| l.history)
    }

    #[test]
    fn reads_an_elle_array_with_f_left_out_over_several_lines() {
        let h = read(
            "[\n  {\"type\": \"invoke\", \"value\": [[\"append\", \"x\", 1]], \"process\": 0},\n  \
             {\"type\": \"ok\", \"value\": [[\"append\", \"x\", 1]], \"process\": 0, \"note\": \"]\"}\n]\n",
        )
        .unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(&*h.ops[0].f, "txn");
        assert_eq!(h.ops[1].kind, OpType::Ok);
        assert_eq!(h.lines, vec![2, 3]);
        assert!(read("[]").unwrap().ops.is_empty());
    }

    #[test]
    fn a_bad_object_is_named_by_its_line() {
        let e = read("[{\"type\": \"invoke\", \"process\": 0, \"value\": []},\n {\"type\": \"okay\", \"process\": 0}]")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("h.json:2:") && e.contains("unknown operation `type`"),
            "{e}"
        );
        let e = read("[{\"type\": \"invoke\", \"process\": 0}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("never closed"), "{e}");
        let e = read("[{\"type\": \"invoke\", \"process\": 0}] x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("text after"), "{e}");
    }

    #[test]
    fn detection_tells_a_json_array_from_edn() {
        use crate::history::detect_format;
        let p = Path::new("history");
        assert_eq!(
            detect_format(p, "[\n {\"type\": \"invoke\"}]"),
            Format::Jsonl
        );
        assert_eq!(detect_format(p, "[{:type :invoke}]"), Format::Edn);
    }
}
