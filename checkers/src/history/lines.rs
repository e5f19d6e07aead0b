//! The lines of a history, one at a time: numbered from 1, without their line ends (`\n` or
//! `\r\n`), checked to be UTF-8, and without a byte-order mark at the start of the file.
//!
//! Readers of line-based formats pull lines from here rather than from a string of the whole
//! file, so that a history of tens of millions of lines is never all in memory as text.

use std::io::BufRead;
use std::path::Path;

use super::ReadError;

/// A source of numbered lines. See the module documentation.
pub(super) struct Lines<'p, R> {
    reader: R,
    path: &'p Path,
    buf: Vec<u8>,
    /// The number of the line in `buf`.
    line: usize,
    /// Bytes of the file before the line in `buf`.
    offset: u64,
    /// Whether the line in `buf` ended with a newline (only the last line of a file may not).
    complete: bool,
}

impl<'p, R: BufRead> Lines<'p, R> {
    pub(super) fn new(reader: R, path: &'p Path) -> Self {
        Lines {
            reader,
            path,
            buf: Vec::new(),
            line: 0,
            offset: 0,
            complete: true,
        }
    }

    /// The next line and its number, or `None` at the end of the file.
    pub(super) fn next_line(&mut self) -> Result<Option<(usize, &str)>, ReadError> {
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| ReadError::Io {
                path: self.path.to_owned(),
                source,
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut end = self.buf.len();
        self.complete = self.buf.ends_with(b"\n");
        if self.complete {
            end -= 1;
            if self.buf[..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        let start = if self.line == 1 && self.buf.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let bytes = &self.buf[start..end.max(start)];
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Some((self.line, text))),
            Err(e) => Err(ReadError::Parse {
                path: self.path.to_owned(),
                line: self.line,
                message: format!(
                    "invalid UTF-8 at byte {}",
                    self.offset + (start + e.valid_up_to()) as u64
                ),
            }),
        }
    }
}

/// The source line of every op of a history, kept as the few places where consecutive ops stop
/// being on consecutive lines (a blank line, a comment, log noise, an op over several lines):
/// for faultline's own JSONL that is nothing at all, where a `Vec<u32>` would cost 4 bytes an op.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineMap {
    /// (position of an op, its line), by position; ops after it follow on consecutive lines.
    jumps: Vec<(usize, usize)>,
    len: usize,
}

impl LineMap {
    /// Records that the next op (at position `len()`) starts at `line`.
    pub fn push(&mut self, line: usize) {
        if self.len == 0 || self.line(self.len) != line {
            self.jumps.push((self.len, line));
        }
        self.len += 1;
    }

    /// The line of the op at `position`, or `position + 1` when nothing was recorded, as
    /// [`History::line`](super::History::line) does.
    pub fn line(&self, position: usize) -> usize {
        let after = self.jumps.partition_point(|&(p, _)| p <= position);
        match after.checked_sub(1).map(|j| self.jumps[j]) {
            Some((p, line)) => line + (position - p),
            None => position + 1,
        }
    }

    /// The number of ops recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<R> Lines<'_, R> {
    /// Whether the line last returned ended with a newline: a last line without one may have
    /// been cut short by a writer that stopped.
    pub(super) fn line_complete(&self) -> bool {
        self.complete
    }
}

/// The UTF-8 byte-order mark, which some Windows editors put at the start of a text file.
pub(super) const BOM: &[u8] = "\u{feff}".as_bytes();

/// The whole text of `bytes`, for the formats that are not read line by line; an invalid byte is
/// an error at its line.
pub(super) fn whole_text<'b>(bytes: &'b [u8], path: &Path) -> Result<&'b str, ReadError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Result<Vec<(usize, String)>, ReadError> {
        let mut lines = Lines::new(bytes, Path::new("t"));
        let mut out = Vec::new();
        while let Some((n, text)) = lines.next_line()? {
            out.push((n, text.to_string()));
        }
        Ok(out)
    }

    #[test]
    fn splits_on_lf_and_crlf_keeps_a_lone_cr_and_a_last_line_without_end() {
        let got = all(b"a\r\nb\n\nc\rd\ne").unwrap();
        let want = [(1, "a"), (2, "b"), (3, ""), (4, "c\rd"), (5, "e")];
        assert_eq!(got, want.map(|(n, s)| (n, s.to_string())));
        assert!(all(b"").unwrap().is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_skipped_on_the_first_line_only() {
        let bom = "\u{feff}";
        let got = all(format!("{bom}a\n{bom}b\n").as_bytes()).unwrap();
        assert_eq!(got[0].1, "a");
        assert_eq!(got[1].1, bom.to_string() + "b");
    }

    #[test]
    fn a_line_map_keeps_only_the_jumps() {
        let mut map = LineMap::default();
        for line in [1, 2, 3, 7, 8, 20, 22, 23] {
            map.push(line);
        }
        assert_eq!(map.jumps, vec![(0, 1), (3, 7), (5, 20), (6, 22)]);
        let lines: Vec<usize> = (0..8).map(|i| map.line(i)).collect();
        assert_eq!(lines, vec![1, 2, 3, 7, 8, 20, 22, 23]);
        assert_eq!(map.len(), 8);
        let mut plain = LineMap::default();
        (1..=1000).for_each(|l| plain.push(l));
        assert_eq!(plain.jumps, vec![(0, 1)]);
        assert_eq!(LineMap::default().line(4), 5);
    }

    #[test]
    fn invalid_utf8_names_its_line_and_byte() {
        match all(b"ok\nfine\nba\xffd\n") {
            Err(ReadError::Parse { line, message, .. }) => {
                assert_eq!(line, 3);
                assert_eq!(message, "invalid UTF-8 at byte 10");
            }
            other => panic!("{other:?}"),
        }
    }
}
