//! Building shell command lines that survive the trip to a node.
//!
//! Every command reaches a node as one string that a POSIX shell on the other side parses
//! (that is how SSH `exec` works). An argument taken from a test's options, a file name with a
//! space, or a value such as `it's` must reach the program as exactly one word, so every
//! argument is quoted unless the caller explicitly asks for raw shell syntax (pipes,
//! redirections, `&&`) with [`Cmd::raw`].

use std::fmt;

/// Quotes `word` so that a POSIX shell reads it back as exactly that one word.
///
/// Words made only of characters that the shell never interprets are left alone, so logged
/// commands stay readable; anything else is wrapped in single quotes, where nothing is special
/// except the single quote itself, which is written as `'\''` (close, escaped quote, reopen).
pub fn shell_escape(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'+' | b'@' | b'%'
                )
        });
    if plain {
        return word.to_string();
    }
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('\'');
    for c in word.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// A command line for a node: a program and its arguments, each quoted, plus optional raw shell
/// fragments for the cases where shell syntax is the point.
///
/// ```ignore
/// let cmd = Cmd::new("iptables").args(["-w", "-A", "INPUT", "-s", ip, "-j", "DROP"]);
/// let cmd = Cmd::new("cat").arg(path).raw("| wc -c");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    line: String,
}

impl Cmd {
    /// Starts a command line with `program`, quoted like any argument.
    pub fn new(program: impl AsRef<str>) -> Self {
        Cmd {
            line: shell_escape(program.as_ref()),
        }
    }

    /// A command line given verbatim, for shell snippets that were written by hand
    /// (never pass untrusted text here: it is not quoted).
    pub fn shell(line: impl Into<String>) -> Self {
        Cmd { line: line.into() }
    }

    /// Appends one argument, quoted so it arrives as exactly one word.
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.line.push(' ');
        self.line.push_str(&shell_escape(arg.as_ref()));
        self
    }

    /// Appends several arguments, each quoted.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Appends a fragment of shell syntax unquoted (`| grep x`, `>>log 2>&1`, `&& true`).
    pub fn raw(mut self, fragment: impl AsRef<str>) -> Self {
        self.line.push(' ');
        self.line.push_str(fragment.as_ref());
        self
    }

    /// The command line as the remote shell will receive it.
    pub fn as_str(&self) -> &str {
        &self.line
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl From<&str> for Cmd {
    /// A plain `&str` is taken as a hand-written shell line, as with [`Cmd::shell`].
    fn from(line: &str) -> Self {
        Cmd::shell(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `line` through a real `sh` and returns the words it sees, one per line.
    fn words_seen_by_sh(line: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("for w in {line}; do printf '%s\\n' \"$w\"; done"))
            .output()
            .expect("sh runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn plain_words_are_left_readable() {
        assert_eq!(shell_escape("10.77.0.11"), "10.77.0.11");
        assert_eq!(
            shell_escape("--data-dir=/var/lib/x"),
            "--data-dir=/var/lib/x"
        );
    }

    #[test]
    fn empty_word_stays_a_word() {
        assert_eq!(shell_escape(""), "''");
    }

    #[test]
    fn dangerous_words_round_trip_through_a_real_shell() {
        let nasty = [
            "it's",
            "a b",
            "$(rm -rf /)",
            "`x`",
            "a\"b",
            "x;y",
            "*",
            "new\nline",
            "'",
            "\\",
        ];
        for w in nasty {
            let seen = words_seen_by_sh(&shell_escape(w));
            if w.contains('\n') {
                assert_eq!(seen.join("\n"), w);
            } else {
                assert_eq!(seen, vec![w.to_string()], "word {w:?}");
            }
        }
    }

    #[test]
    fn cmd_quotes_args_but_not_raw_fragments() {
        let cmd = Cmd::new("echo")
            .arg("a b")
            .args(["c", "it's"])
            .raw("| tr a-z A-Z");
        assert_eq!(cmd.as_str(), "echo 'a b' c 'it'\\''s' | tr a-z A-Z");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd.as_str())
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "A B C IT'S\n");
    }
}
