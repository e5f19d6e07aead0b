//! A run's `index.html`: the verdict first, then what happened (counts, latency, throughput,
//! faults), the anomalies per key with links to their pages, how the test was run (options and
//! seed from `test.json`), and links to everything else stored in the run directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_checkers::{Validity, Verdict};

use super::anomaly::Failure;
use super::html::{escape, page, verdict_class};
use super::{write_file, Result};
use crate::store::{self, RunRecords, TestRecord};

/// What the index needs to know about a run.
pub struct RunFacts<'a> {
    pub records: &'a RunRecords,
    pub failures: &'a [Failure],
    /// (key, page) for each anomaly page written.
    pub anomalies: &'a [(String, PathBuf)],
    pub timeline: &'a [PathBuf],
    /// Client operations in the history.
    pub calls: usize,
}

/// The plots the run may have stored, with their captions.
const PLOTS: [(&str, &str); 4] = [
    ("latency-raw.png", "Latency of every operation"),
    ("latency-quantiles.png", "Latency quantiles"),
    ("rate.png", "Throughput"),
    (super::clock_plot::FILE, "Clock offset of each node"),
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
    let results = facts.records.results.as_ref();
    let class = verdict_class(results.map(|r| r.valid));
    let name = facts.records.name(run_dir);
    let stamp = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut body = String::new();
    // The store's index sits two levels up once `faultline report --index` has written it.
    if run_dir.join("../..").join(store::INDEX).exists() {
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
    for e in &facts.records.errors {
        let _ = writeln!(body, "<p><b>Unreadable record</b>: {}</p>", escape(e));
    }

    if let Some(r) = results {
        let s = &r.summary;
        body.push_str("<h2>Summary</h2>\n<table>\n");
        let _ = writeln!(
            body,
            "<tr><th>operations</th><th>ok</th><th>fail</th><th>info</th><th>faults injected</th><th>ok/s</th><th>run</th></tr>\n<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1} s</td></tr>\n</table>",
            s.ops, s.ok, s.fail, s.info, s.faults, s.ok_per_second, s.run_seconds
        );
        let l = s.latency_ms;
        let _ = writeln!(
            body,
            "<table>\n<tr><th>latency</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>\n<tr><td>ms</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>\n</table>",
            l.p50, l.p95, l.p99, l.max
        );
        if s.interrupted {
            body.push_str("<p><b>The run was interrupted</b>: the history is partial.</p>\n");
        }
        let list = |items: &[String]| {
            let mut ul = String::from("<ul>\n");
            for p in items {
                let _ = writeln!(ul, "<li>{}</li>", escape(p));
            }
            ul.push_str("</ul>\n");
            ul
        };
        if !s.unhealed.is_empty() {
            body.push_str("<h2>Faults left on the cluster</h2>\n<p><b>Healing failed</b>: the cluster may still be partitioned or paused.</p>\n");
            body.push_str(&list(&s.unhealed));
        }
        let unknown = r.unknown_because();
        if !unknown.is_empty() {
            body.push_str("<h2>Why the verdict is unknown</h2>\n");
            body.push_str(&list(&unknown));
        }
        if !s.problems.is_empty() {
            body.push_str("<h2>Problems</h2>\n");
            body.push_str(&list(&s.problems));
        }
        if !r.checks.is_empty() {
            body.push_str("<h2>Checks</h2>\n");
            for c in &r.checks {
                check_section(&mut body, c, facts);
            }
        }
    }

    body.push_str("<h2>Files</h2>\n<ul>\n");
    let _ = writeln!(
        body,
        "<li><a href=\"timeline.html\">timeline</a> ({} operations on {} page(s))</li>",
        facts.calls,
        facts.timeline.len()
    );
    for (rel, text) in [
        (store::HISTORY, "history (JSONL)"),
        (store::RESULTS, "results.json"),
        (store::TEST, "test.json"),
        (store::LOG, "faultline.log"),
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

    if let Some(test) = &facts.records.test {
        body.push_str("<h2>Test</h2>\n<table>\n");
        for (k, v) in test_fields(test) {
            let _ = writeln!(
                body,
                "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                escape(&k),
                escape(&v)
            );
        }
        body.push_str("</table>\n");
    }
    page(&format!("faultline: {name} {stamp}"), &body)
}

/// One checker's verdict: its summary, its counts, its anomalies with links to their pages.
fn check_section(body: &mut String, c: &Verdict, facts: &RunFacts<'_>) {
    let class = verdict_class(Some(c.valid));
    let _ = writeln!(
        body,
        "<h3>{} <small>({})</small> <span class=\"verdict {class}\">{class}</span></h3>\n<p>{}</p>",
        escape(&c.name()),
        escape(&c.against),
        escape(&c.summary)
    );
    if !c.counts.is_empty() {
        body.push_str("<table>\n<tr>");
        for k in c.counts.keys() {
            let _ = write!(body, "<th>{}</th>", escape(k));
        }
        body.push_str("</tr>\n<tr>");
        for v in c.counts.values() {
            let _ = write!(body, "<td>{v}</td>");
        }
        body.push_str("</tr>\n</table>\n");
    }
    if c.anomalies.is_empty() && c.valid != Validity::Unknown {
        return;
    }
    body.push_str("<table>\n<tr><th>anomaly</th><th>key</th><th>what</th><th>page</th></tr>\n");
    for a in &c.anomalies {
        let key = a.key.as_deref().unwrap_or("");
        let page = facts
            .anomalies
            .iter()
            .find(|(k, _)| k == key || (a.key.is_none() && k == &c.checker));
        let link = match page {
            Some((_, p)) => format!(
                "<a href=\"anomalies/{}\">drawing</a>",
                escape(&p.file_name().unwrap_or_default().to_string_lossy())
            ),
            None => String::new(),
        };
        let what = a.explanation.first().cloned().unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr class=\"invalid\"><td>{}</td><td>{}</td><td>{}</td><td>{link}</td></tr>",
            escape(&a.kind),
            escape(key.trim_matches('"')),
            escape(&what)
        );
    }
    // Keys the linearizability checker could not decide, with why.
    for f in facts.failures.iter().filter(|f| {
        c.checker == faultline_checkers::linear::verdict::CHECKER && f.witness.is_none()
    }) {
        let _ = writeln!(
            body,
            "<tr class=\"unknown\"><td>undecided</td><td>{}</td><td>{}</td><td></td></tr>",
            escape(f.key.trim_matches('"')),
            escape(f.cause.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>\n");
}

/// The fields of `test.json` as (name, text) rows, in the record's order.
pub fn test_fields(test: &TestRecord) -> Vec<(String, String)> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows = vec![
        ("name".to_string(), test.name.clone()),
        ("db".into(), format!("{} ({})", test.db, test.db_version)),
        ("db options".into(), text(&test.db_options)),
        ("workload".into(), test.workload.clone()),
        ("workload options".into(), text(&test.workload_options)),
        (
            "nemesis".into(),
            format!(
                "{} every {} s, targets {}{}",
                test.nemesis.join(","),
                test.nemesis_interval_s,
                test.nemesis_targets,
                if test.nemesis_schedule.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} schedule, {} at once, {} steps",
                        test.nemesis_schedule,
                        test.nemesis_at_once,
                        test.schedule.len()
                    )
                }
            ),
        ),
        ("time limit".into(), format!("{} s", test.time_limit_s)),
        (
            "concurrency, rate".into(),
            format!("{} workers, {} ops/s", test.concurrency, test.rate),
        ),
        ("op timeout".into(), format!("{} ms", test.op_timeout_ms)),
        ("seed".into(), test.seed.to_string()),
        (
            "nodes".into(),
            test.nodes
                .iter()
                .map(|n| format!("{} ({})", n.name, n.ip))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "ssh".into(),
            format!(
                "{}@port {}, strict host keys: {}",
                test.ssh.user, test.ssh.port, test.ssh.strict_host_key_checking
            ),
        ),
        ("faultline".into(), test.faultline_version.clone()),
    ];
    for (k, v) in &test.other {
        rows.push((k.clone(), text(v)));
    }
    rows
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
    use crate::store::ResultsRecord;

    fn rendered(results: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let records = RunRecords {
            test: None,
            results: Some(ResultsRecord::from_json(results).unwrap()),
            errors: Vec::new(),
        };
        render(
            dir.path(),
            &RunFacts {
                records: &records,
                failures: &[],
                anomalies: &[],
                timeline: &[],
                calls: 0,
            },
        )
    }

    #[test]
    fn what_the_run_could_not_vouch_for_is_on_the_page() {
        let page = rendered(
            r#"{
            "valid": "unknown",
            "summary": {
                "problems": ["nemesis start-partition: node n3: <refused>"],
                "unknown_because": ["the history file does not hold every event of the run"],
                "unhealed": ["node n3: cannot connect"]
            }
        }"#,
        );
        assert!(page.contains("Faults left on the cluster"), "{page}");
        assert!(page.contains("node n3: cannot connect"));
        assert!(page.contains("Why the verdict is unknown"));
        assert!(page.contains("does not hold every event"));
        assert!(page.contains("node n3: &lt;refused&gt;"), "escaped");
    }

    #[test]
    fn a_clean_run_shows_no_trouble_sections() {
        let page = rendered(
            r#"{"valid": true, "summary": {"problems": [], "unknown_because": [], "unhealed": []}}"#,
        );
        for heading in ["Faults left", "Why the verdict", "Problems"] {
            assert!(!page.contains(heading), "{heading}");
        }
    }

    #[test]
    fn every_checker_speaks_on_the_page_without_the_page_knowing_it() {
        let page = rendered(
            r#"{"valid": false, "summary": {},
            "checks": [{"checker": "elle", "against": "serializable", "valid": false,
              "summary": "G2-item found", "counts": {"transactions": 40},
              "anomalies": [{"kind": "G2-item", "explanation": ["T1 read x before T2 wrote it: rw"]}]}]}"#,
        );
        for text in [
            "elle",
            "serializable",
            "G2-item found",
            "transactions",
            "T1 read x",
        ] {
            assert!(page.contains(text), "{text}: {page}");
        }
    }
}
