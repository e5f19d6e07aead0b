//! A run's `index.html`: the verdict first, then what happened (counts, latency, throughput,
//! faults), the anomalies per key with links to their pages, how the test was run (options and
//! seed from `test.json`), and links to everything else stored in the run directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::anomaly::Failure;
use super::html::{escape, json_text, page, verdict_class};
use super::{write_file, Result};

/// What the index needs to know about a run.
pub struct RunFacts<'a> {
    pub test: Option<&'a Json>,
    pub results: Option<&'a Json>,
    pub failures: &'a [Failure],
    /// (key, page) for each anomaly page written.
    pub anomalies: &'a [(String, PathBuf)],
    pub timeline: &'a [PathBuf],
    /// Client operations in the history.
    pub calls: usize,
}

/// The plots the run may have stored, with their captions.
const PLOTS: [(&str, &str); 3] = [
    ("latency-raw.png", "Latency of every operation"),
    ("latency-quantiles.png", "Latency quantiles"),
    ("rate.png", "Throughput"),
];

/// Writes `index.html` into `run_dir`; returns its path.
pub fn write(run_dir: &Path, facts: &RunFacts<'_>) -> Result<PathBuf> {
    let path = run_dir.join("index.html");
    write_file(&path, &render(run_dir, facts))?;
    Ok(path)
}

/// A link relative to the run directory, for a file that exists there.
fn link(run_dir: &Path, rel: &str, text: &str) -> Option<String> {
    run_dir
        .join(rel)
        .exists()
        .then(|| format!("<a href=\"{}\">{}</a>", escape(rel), escape(text)))
}

fn render(run_dir: &Path, facts: &RunFacts<'_>) -> String {
    let summary = facts.results.and_then(|r| r.get("summary"));
    let valid = facts.results.and_then(|r| r.get("valid"));
    let class = verdict_class(valid);
    let name = facts
        .test
        .and_then(|t| t.get("name"))
        .map(json_text)
        .unwrap_or_else(|| "faultline run".to_owned());
    let stamp = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut body = String::new();
    // The store's index sits two levels up once `faultline report --index` has written it.
    if run_dir.join("../../index.html").exists() {
        body.push_str("<p class=\"nav\"><a href=\"../../index.html\">all runs</a></p>\n");
    }
    let _ = writeln!(
        body,
        "<h1>{} <small>{}</small></h1>\n<p><span class=\"verdict {class}\">{}</span></p>",
        escape(&name),
        escape(&stamp),
        match class {
            "crashed" => "crashed: no results.json (the run ended before its check)",
            other => other,
        }
    );

    if let Some(s) = summary {
        let get = |k: &str| s.get(k).map(json_text).unwrap_or_else(|| "-".to_owned());
        let number = |k: &str, digits: usize| {
            s.get(k)
                .and_then(Json::as_f64)
                .map_or("-".to_owned(), |v| format!("{v:.digits$}"))
        };
        body.push_str("<h2>Summary</h2>\n<table>\n");
        let _ = writeln!(
            body,
            "<tr><th>operations</th><th>ok</th><th>fail</th><th>info</th><th>faults injected</th><th>ok/s</th><th>keys</th><th>run</th></tr>\n<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s</td></tr>\n</table>",
            escape(&get("ops")),
            escape(&get("ok")),
            escape(&get("fail")),
            escape(&get("info")),
            escape(&get("faults")),
            number("ok_per_second", 1),
            escape(&get("keys")),
            number("run_seconds", 1)
        );
        if let Some(lat) = s.get("latency_ms") {
            body.push_str("<table>\n<tr><th>latency</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>\n<tr><td>ms</td>");
            for q in ["p50", "p95", "p99", "max"] {
                let v = lat.get(q).and_then(Json::as_f64);
                let _ = write!(
                    body,
                    "<td>{}</td>",
                    v.map_or("-".to_owned(), |v| format!("{v:.2}"))
                );
            }
            body.push_str("</tr>\n</table>\n");
        }
        if s.get("interrupted").and_then(Json::as_bool) == Some(true) {
            body.push_str("<p><b>The run was interrupted</b>: the history is partial.</p>\n");
        }
        let list = |key: &str| {
            s.get(key)
                .and_then(Json::as_array)
                .filter(|p| !p.is_empty())
                .map(|items| {
                    let mut ul = String::from("<ul>\n");
                    for p in items {
                        let _ = writeln!(ul, "<li>{}</li>", escape(&json_text(p)));
                    }
                    ul.push_str("</ul>\n");
                    ul
                })
        };
        if let Some(ul) = list("unhealed") {
            body.push_str("<h2>Faults left on the cluster</h2>\n<p><b>Healing failed</b>: the cluster may still be partitioned or paused.</p>\n");
            body.push_str(&ul);
        }
        if let Some(ul) = list("unknown_because") {
            body.push_str("<h2>Why the verdict is unknown</h2>\n");
            body.push_str(&ul);
        }
        if let Some(ul) = list("problems") {
            body.push_str("<h2>Problems</h2>\n");
            body.push_str(&ul);
        }
    }

    if !facts.failures.is_empty() {
        body.push_str("<h2>Anomalies</h2>\n<table>\n<tr><th>key</th><th>verdict</th><th>what</th><th>calls</th></tr>\n");
        for f in facts.failures {
            let page = facts.anomalies.iter().find(|(k, _)| k == &f.key);
            let key = escape(f.key.trim_matches('"'));
            let key_cell = match page {
                Some((_, p)) => format!(
                    "<a href=\"anomalies/{}\">{key}</a>",
                    escape(&p.file_name().unwrap_or_default().to_string_lossy())
                ),
                None => key,
            };
            let what = match (&f.witness, &f.cause) {
                (Some(w), _) => {
                    format!("process {} {} cannot be linearized", w.op.process, w.op.op)
                }
                (None, Some(cause)) => cause.clone(),
                (None, None) => String::new(),
            };
            let v = verdict_class(Some(&f.valid));
            let _ = writeln!(
                body,
                "<tr class=\"{v}\"><td>{key_cell}</td><td>{v}</td><td>{}</td><td>{}</td></tr>",
                escape(&what),
                f.calls.map(|c| c.to_string()).unwrap_or_default()
            );
        }
        body.push_str("</table>\n");
    }

    body.push_str("<h2>Files</h2>\n<ul>\n");
    let _ = writeln!(
        body,
        "<li><a href=\"timeline.html\">timeline</a> ({} operations on {} page(s))</li>",
        facts.calls,
        facts.timeline.len()
    );
    for (rel, text) in [
        ("history.jsonl", "history (JSONL)"),
        ("results.json", "results.json"),
        ("test.json", "test.json"),
        ("faultline.log", "faultline.log"),
    ] {
        if let Some(a) = link(run_dir, rel, text) {
            let _ = writeln!(body, "<li>{a}</li>");
        }
    }
    for (file, caption) in PLOTS {
        if let Some(a) = link(run_dir, file, caption) {
            let _ = writeln!(body, "<li>{a}</li>");
        }
    }
    body.push_str("</ul>\n");
    let logs = node_logs(run_dir);
    if !logs.is_empty() {
        body.push_str("<h2>Node logs</h2>\n<ul>\n");
        for rel in logs {
            let _ = writeln!(body, "<li><a href=\"{0}\">{0}</a></li>", escape(&rel));
        }
        body.push_str("</ul>\n");
    }

    let plots: Vec<_> = PLOTS
        .iter()
        .filter(|(f, _)| run_dir.join(f).exists())
        .collect();
    if !plots.is_empty() {
        body.push_str("<h2>Plots</h2>\n");
        for (file, caption) in plots {
            let _ = writeln!(
                body,
                "<p>{}<br /><a href=\"{file}\"><img class=\"plot\" src=\"{file}\" alt=\"{}\" /></a></p>",
                escape(caption),
                escape(caption)
            );
        }
    }

    if let Some(test) = facts.test.and_then(Json::as_object) {
        body.push_str("<h2>Test</h2>\n<table>\n");
        for (k, v) in test {
            let text = match (k.as_str(), v) {
                ("nodes", Json::Array(nodes)) => nodes
                    .iter()
                    .map(|n| match (n.get("name"), n.get("ip")) {
                        (Some(name), Some(ip)) => {
                            format!("{} ({})", json_text(name), json_text(ip))
                        }
                        _ => json_text(n),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => json_text(v),
            };
            let _ = writeln!(
                body,
                "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                escape(k),
                escape(&text)
            );
        }
        body.push_str("</table>\n");
    }
    page(&format!("faultline: {name} {stamp}"), &body)
}

/// `nodes/<node>/<file>` for every file the run downloaded from its nodes, sorted.
fn node_logs(run_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(nodes) = std::fs::read_dir(run_dir.join("nodes")) else {
        return out;
    };
    for node in nodes.flatten() {
        let Ok(files) = std::fs::read_dir(node.path()) else {
            continue;
        };
        for file in files.flatten() {
            if file.path().is_file() {
                out.push(format!(
                    "nodes/{}/{}",
                    node.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(results: Json) -> String {
        let dir = tempfile::tempdir().unwrap();
        render(
            dir.path(),
            &RunFacts {
                test: None,
                results: Some(&results),
                failures: &[],
                anomalies: &[],
                timeline: &[],
                calls: 0,
            },
        )
    }

    #[test]
    fn what_the_run_could_not_vouch_for_is_on_the_page() {
        let page = rendered(serde_json::json!({
            "valid": "unknown",
            "summary": {
                "problems": ["nemesis start-partition: node n3: <refused>"],
                "unknown_because": ["the history file does not hold every event of the run"],
                "unhealed": ["node n3: cannot connect"],
            }
        }));
        assert!(page.contains("Faults left on the cluster"), "{page}");
        assert!(page.contains("node n3: cannot connect"));
        assert!(page.contains("Why the verdict is unknown"));
        assert!(page.contains("does not hold every event"));
        assert!(page.contains("node n3: &lt;refused&gt;"), "escaped");
    }

    #[test]
    fn a_clean_run_shows_no_trouble_sections() {
        let page = rendered(serde_json::json!({
            "valid": true,
            "summary": {"problems": [], "unknown_because": [], "unhealed": []}
        }));
        for heading in ["Faults left", "Why the verdict", "Problems"] {
            assert!(!page.contains(heading), "{heading}");
        }
    }
}
