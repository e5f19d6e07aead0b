//! A reader of EDN values, the notation of Jepsen's histories.
//!
//! Hand-written rather than taken from a crate because histories need what general EDN crates do
//! not give together: the line of every error, a bound on nesting (a fuzzed `[[[[...` must not
//! overflow the stack), `#jepsen.history.Op{...}` tagged records read as plain maps, and values
//! small enough for tens of millions of operations.

use super::Value;

/// Nesting deeper than this is refused: no real history comes close, and recursion must stay bounded.
pub const MAX_DEPTH: usize = 128;

/// An EDN syntax error at a position of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based line of the text where the error was found.
    pub line: usize,
    pub message: String,
}

/// Reads EDN values one after another from a text.
pub struct EdnReader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> EdnReader<'a> {
    pub fn new(text: &'a str) -> Self {
        EdnReader {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// Starts reading at `line` (1-based), for texts that are one line of a larger file.
    pub fn at_line(text: &'a str, line: usize) -> Self {
        EdnReader { text, pos: 0, line }
    }

    /// The line the reader has reached.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Skips white space, commas and comments; true when the text is exhausted.
    pub fn at_end(&mut self) -> bool {
        self.skip_blank();
        self.pos >= self.text.len()
    }

    /// Reads the next value; `Ok(None)` at the end of the text.
    pub fn next_value(&mut self) -> Result<Option<Value>, EdnError> {
        if self.at_end() {
            return Ok(None);
        }
        self.value(0).map(Some)
    }

    /// If the next thing is the opening of a top-level vector or list, consumes it and returns the
    /// matching close delimiter: lets a caller read a whole-file `[op op ...]` one op at a time.
    pub fn open_top_sequence(&mut self) -> Option<char> {
        self.skip_blank();
        let close = match self.peek()? {
            '[' => ']',
            '(' => ')',
            _ => return None,
        };
        self.bump();
        Some(close)
    }

    /// Consumes `close` if it is next (after blanks).
    pub fn close_top_sequence(&mut self, close: char) -> bool {
        self.skip_blank();
        if self.peek() == Some(close) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.bump();
            } else if c == ';' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, EdnError> {
        if depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.skip_blank();
        let Some(c) = self.peek() else {
            return self.err("unexpected end of input, expected a value");
        };
        match c {
            '[' | '(' => {
                self.bump();
                let items = self.seq(if c == '[' { ']' } else { ')' }, depth)?;
                Ok(Value::Vector(items.into_boxed_slice()))
            }
            '{' => {
                self.bump();
                self.map(depth)
            }
            '"' => {
                self.bump();
                self.string().map(|s| Value::Str(s.into_boxed_str()))
            }
            ':' => {
                self.bump();
                let sym = self.symbol_text();
                if sym.is_empty() {
                    return self.err("a keyword needs a name after ':'");
                }
                Ok(Value::Keyword(sym.into()))
            }
            '#' => {
                self.bump();
                self.dispatch(depth)
            }
            '\\' => {
                self.bump();
                let name = self.symbol_text();
                let ch = match name {
                    "newline" => "\n".to_string(),
                    "space" => " ".to_string(),
                    "tab" => "\t".to_string(),
                    "return" => "\r".to_string(),
                    _ if name.is_empty() => match self.bump() {
                        Some(c) => c.to_string(),
                        None => return self.err("a character literal needs a character"),
                    },
                    s if s.chars().count() == 1 => s.to_string(),
                    s => return self.err(format!("unknown character literal \\{s}")),
                };
                Ok(Value::Str(ch.into()))
            }
            ')' | ']' | '}' => self.err(format!("unexpected '{c}'")),
            _ => self.atom(),
        }
    }

    fn seq(&mut self, close: char, depth: usize) -> Result<Vec<Value>, EdnError> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => return self.err(format!("unexpected end of input, expected '{close}'")),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(c @ (')' | ']' | '}')) => {
                    return self.err(format!("expected '{close}' but found '{c}'"))
                }
                // A discarded form inside a collection leaves nothing: `[1 #_ 2]` is `[1]`.
                Some('#') if self.text[self.pos..].starts_with("#_") => {
                    self.bump();
                    self.bump();
                    self.value(depth + 1)?;
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    fn map(&mut self, depth: usize) -> Result<Value, EdnError> {
        let items = self.seq('}', depth)?;
        if items.len() % 2 != 0 {
            return self.err("a map needs an even number of forms (a key without a value)");
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            entries.push((k, v));
        }
        Ok(Value::Map(entries.into_boxed_slice()))
    }

    /// After '#': a set, a discard, a symbolic value, or a tagged element (whose tag is dropped:
    /// `#jepsen.history.Op{...}` reads as the map it wraps).
    fn dispatch(&mut self, depth: usize) -> Result<Value, EdnError> {
        match self.peek() {
            Some('{') => {
                self.bump();
                let items = self.seq('}', depth)?;
                Ok(Value::canonical_set(items))
            }
            // `#_ a #_ b c` is `c`: a chain of discards is walked in a loop, not by recursion at
            // the same depth, which a long enough chain would turn into a stack overflow.
            Some('_') => loop {
                self.bump();
                self.value(depth + 1)?;
                self.skip_blank();
                if self.peek().is_none() || matches!(self.peek(), Some(')' | ']' | '}')) {
                    return self.err("#_ discards a form but none follows");
                }
                if !self.text[self.pos..].starts_with("#_") {
                    return self.value(depth);
                }
                self.bump();
            },
            Some('#') => {
                self.bump();
                match self.symbol_text() {
                    "Inf" => Ok(Value::Float(f64::INFINITY)),
                    "-Inf" => Ok(Value::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Value::Float(f64::NAN)),
                    s => self.err(format!("unknown symbolic value ##{s}")),
                }
            }
            Some(c) if c.is_alphabetic() => {
                let tag = self.symbol_text().to_string();
                self.skip_blank();
                if self.peek().is_none() {
                    return self.err(format!("tag #{tag} is not followed by a value"));
                }
                self.value(depth + 1)
            }
            _ => self.err("unexpected character after '#'"),
        }
    }

    fn string(&mut self) -> Result<String, EdnError> {
        let start_line = self.line;
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(EdnError {
                        line: start_line,
                        message: "unterminated string".into(),
                    })
                }
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(c) => s.push(c),
                            None => return self.err(format!("bad unicode escape \\u{hex}")),
                        }
                    }
                    Some(c) => return self.err(format!("unknown string escape \\{c}")),
                    None => return self.err("unterminated string"),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn symbol_text(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
            {
                break;
            }
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn atom(&mut self) -> Result<Value, EdnError> {
        let tok = self.symbol_text();
        if tok.is_empty() {
            return self.err("expected a value");
        }
        match tok {
            "nil" => return Ok(Value::Nil),
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
        let first = tok.as_bytes()[0];
        let numeric = first.is_ascii_digit()
            || (matches!(first, b'-' | b'+')
                && tok.len() > 1
                && tok.as_bytes()[1].is_ascii_digit());
        if !numeric {
            // A bare symbol: Jepsen writes few, keep it as a keyword-like name.
            return Ok(Value::Keyword(tok.into()));
        }
        let digits = tok.trim_end_matches('N');
        if let Ok(i) = digits.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        if digits.bytes().skip(1).all(|b| b.is_ascii_digit()) {
            return self.err(format!("integer {tok} does not fit in 64 bits"));
        }
        match tok.trim_end_matches('M').parse::<f64>() {
            Ok(x) => Ok(Value::Float(x)),
            Err(_) => self.err(format!("malformed number {tok}")),
        }
    }
}

/// Parses a text holding exactly one EDN value.
pub fn parse_value(text: &str) -> Result<Value, EdnError> {
    let mut r = EdnReader::new(text);
    let Some(v) = r.next_value()? else {
        return r.err("expected a value, found nothing");
    };
    if !r.at_end() {
        return r.err("unexpected text after the value");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &str) -> Value {
        Value::Keyword(s.into())
    }

    #[test]
    fn reads_a_jepsen_op_record() {
        let v = parse_value(
            r#"#jepsen.history.Op{:index 3, :time 123, :type :ok, :process 1, :f :cas, :value [1 2]}"#,
        )
        .unwrap();
        assert_eq!(v.get("type"), Some(&kw("ok")));
        assert_eq!(
            v.get("value"),
            Some(&Value::Vector(vec![Value::Int(1), Value::Int(2)].into()))
        );
    }

    #[test]
    fn reads_sets_comments_and_discards() {
        let v = parse_value("; a comment\n[#{3 1 2} #_ :gone nil \"s\\n\" -4 2.5]").unwrap();
        let items = v.as_slice().unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(
            items[0],
            Value::canonical_set(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
        );
        assert_eq!(items[1], Value::Nil);
        assert_eq!(items[2], Value::Str("s\n".into()));
        assert_eq!(items[3], Value::Int(-4));
        assert_eq!(items[4], Value::Float(2.5));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_value("[1\n2\n{:a}]").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("even number"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        let e = parse_value(&text).unwrap_err();
        assert!(e.message.contains("nesting"), "{}", e.message);
    }

    #[test]
    fn a_long_chain_of_discards_is_not_a_stack_overflow() {
        let text = format!("[{}2]", "#_ 1 ".repeat(200_000));
        assert_eq!(
            parse_value(&text).unwrap(),
            Value::Vector(vec![Value::Int(2)].into())
        );
        assert_eq!(parse_value("#_ #_ 1 2 3").unwrap(), Value::Int(3));
        assert_eq!(
            parse_value("[#_ 1 #_ 2]").unwrap(),
            Value::Vector(Box::new([]))
        );
        assert_eq!(
            parse_value("{:a 1 #_ :b}").unwrap(),
            Value::Map(vec![(kw("a"), Value::Int(1))].into())
        );
        let e = parse_value("[1 #_]").unwrap_err();
        assert!(e.message.contains("unexpected ']'"), "{}", e.message);
    }

    #[test]
    fn huge_integers_are_refused_with_a_reason() {
        let e = parse_value("123456789012345678901234567890").unwrap_err();
        assert!(e.message.contains("64 bits"), "{}", e.message);
    }

    #[test]
    fn unterminated_string_names_its_start_line() {
        let e = parse_value("\n\"abc\n\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
