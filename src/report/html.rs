//! Escaping and the page frame shared by every report page.
//!
//! Everything a history or a results file says is untrusted text: it goes through [`escape`]
//! before it reaches a page. Pages are self-contained (inline CSS and SVG, no scripts, no
//! fetches) and written so that every element is closed, which keeps them easy to check.

use std::fmt::Write as _;

/// Escapes text for an HTML element body or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Formats nanoseconds since the test started as seconds with millisecond precision.
pub fn seconds(ns: i64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// The CSS every page carries: verdict colours, tables, SVG bars.
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code, .mono { font-family: ui-monospace, monospace; }
.verdict { display: inline-block; padding: 0.2em 0.8em; border-radius: 0.3em; font-weight: bold; color: #fff; }
.valid { background: #2e7d32; } .invalid { background: #c62828; }
.unknown { background: #ef8f00; } .crashed { background: #555; }
tr.valid td:first-child { border-left: 6px solid #2e7d32; }
tr.invalid td:first-child { border-left: 6px solid #c62828; }
tr.unknown td:first-child { border-left: 6px solid #ef8f00; }
tr.crashed td:first-child { border-left: 6px solid #555; }
.nav a { margin-right: 1em; }
svg text { font-size: 11px; font-family: ui-monospace, monospace; }
.legend span { display: inline-block; margin-right: 1.2em; }
.swatch { display: inline-block; width: 1em; height: 0.8em; margin-right: 0.3em; vertical-align: middle; }
img.plot { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
";

/// Wraps a body in a complete page; `title` is plain text and is escaped here.
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
    let _ = writeln!(out, "<title>{}</title>", escape(title));
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("</head>\n<body>\n");
    out.push_str(body);
    out.push_str("</body>\n</html>\n");
    out
}

/// The CSS class and the word for a verdict: `valid`, `invalid`, `unknown`, or `crashed` for a
/// run without results.
pub fn verdict_class(valid: Option<faultline_checkers::Validity>) -> &'static str {
    valid.map_or("crashed", faultline_checkers::Validity::word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_history_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
