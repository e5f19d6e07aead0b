//! The HTML report: pages from the stored fixtures runs are well formed, self-contained, link
//! only to files that exist, draw the witness's operations, and escape history text.

use faultline::report;

use std::fs;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Copies a fixture run into `<store>/etcd-register/<stamp>/` and returns that directory.
fn stored_run(store: &Path, fixture: &str, stamp: &str) -> PathBuf {
    let dir = store.join("etcd-register").join(stamp);
    fs::create_dir_all(dir.join("nodes/n1")).unwrap();
    for file in ["test.json", "results.json", "history.jsonl"] {
        fs::copy(Path::new(FIXTURES).join(fixture).join(file), dir.join(file)).unwrap();
    }
    fs::write(dir.join("nodes/n1/etcd.log"), "etcd says <hello>\n").unwrap();
    dir
}

const VOID: [&str; 6] = ["meta", "br", "img", "hr", "link", "input"];

/// Checks that a page is well formed: every tag closed in order, no stray `<` or `&` in text,
/// nothing but CSS in `<style>`, and no script at all (the pages need none).
fn assert_well_formed(path: &Path) {
    let page = fs::read_to_string(path).unwrap();
    let fail = |msg: String| -> ! { panic!("{}: {msg}", path.display()) };
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}: no doctype",
        path.display()
    );
    assert!(
        !page.to_ascii_lowercase().contains("<script"),
        "{}: has a script",
        path.display()
    );
    let mut stack: Vec<String> = Vec::new();
    let mut rest = &page["<!DOCTYPE html>".len()..];
    while let Some(lt) = rest.find(['<', '&']) {
        let text = &rest[..lt];
        assert!(
            !text.contains('>'),
            "{}: stray '>' in {text:?}",
            path.display()
        );
        rest = &rest[lt..];
        if rest.starts_with('&') {
            let end = rest
                .find(';')
                .filter(|&e| e <= 10)
                .unwrap_or_else(|| fail(format!("bare '&' at {:?}", &rest[..rest.len().min(20)])));
            let entity = &rest[1..end];
            assert!(
                entity.starts_with('#') || entity.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}: bad entity {entity:?}",
                path.display()
            );
            rest = &rest[end + 1..];
            continue;
        }
        let gt = rest
            .find('>')
            .unwrap_or_else(|| fail("unclosed tag".to_owned()));
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => fail(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.is_empty() {
            fail(format!("not a tag: <{tag}>"));
        }
        let quotes = tag.matches('"').count();
        assert!(
            quotes.is_multiple_of(2),
            "{}: unbalanced quotes in <{tag}>",
            path.display()
        );
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let end = rest.find("</style>").unwrap();
            assert!(
                !rest[..end].contains('<'),
                "{}: markup in style",
                path.display()
            );
            rest = &rest[end + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "{}: unclosed {stack:?}", path.display());
}

/// Every `href` and `src` of the page points at a file that exists (fragments and the store
/// index above a run aside, they are relative paths).
fn assert_links_resolve(path: &Path) {
    let page = fs::read_to_string(path).unwrap();
    for attr in ["href=\"", "src=\""] {
        for part in page.split(attr).skip(1) {
            let target = &part[..part.find('"').unwrap()];
            if target.starts_with('#') {
                continue;
            }
            assert!(
                !target.contains("://"),
                "{}: external link {target}",
                path.display()
            );
            let file = target.replace("&amp;", "&");
            let file = file.split('#').next().unwrap();
            let resolved = path.parent().unwrap().join(file);
            assert!(
                resolved.exists(),
                "{}: link {target} resolves to nothing",
                path.display()
            );
        }
    }
}

fn html_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(html_files(&p));
        } else if p.extension().is_some_and(|e| e == "html") {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_page_of_both_runs_is_well_formed_and_links_to_existing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path();
    let valid = stored_run(store, "run-valid", "20261126T014905.811Z");
    let invalid = stored_run(store, "run-invalid", "20261126T014826.040Z");
    report::write_store_index(store).unwrap();
    let valid_files = report::write_run_report(&valid).unwrap();
    let invalid_files = report::write_run_report(&invalid).unwrap();

    assert!(valid_files.anomalies.is_empty());
    assert_eq!(invalid_files.anomalies.len(), 7, "one page per invalid key");
    let pages = html_files(store);
    assert!(pages.len() >= 11, "{pages:?}");
    for page in &pages {
        assert_well_formed(page);
        assert_links_resolve(page);
    }
    let index = fs::read_to_string(&invalid_files.index).unwrap();
    assert!(index.contains("verdict invalid"));
    assert!(index.contains("anomalies/k1.html"));
    assert!(index.contains("1 timeline") || index.contains("timeline.html"));
    assert!(index.contains("nodes/n1/etcd.log"));
    assert!(
        index.contains("href=\"../../index.html\""),
        "links back to the store index"
    );
    assert!(fs::read_to_string(&valid_files.index)
        .unwrap()
        .contains("verdict valid"));
}

#[test]
fn anomaly_pages_draw_the_failing_op_and_its_concurrent_ops() {
    let tmp = tempfile::tempdir().unwrap();
    let run = stored_run(tmp.path(), "run-invalid", "20261126T014826.040Z");
    let files = report::write_run_report(&run).unwrap();
    let results = faultline::store::ResultsRecord::from_json(
        &fs::read_to_string(run.join("results.json")).unwrap(),
    )
    .unwrap();
    let failures = report::anomaly::failures_of(&results);
    assert_eq!(failures.len(), 7);
    for failure in &failures {
        let witness = failure.witness.as_ref().unwrap();
        let name = failure.key.trim_matches('"');
        let page = fs::read_to_string(run.join(format!("anomalies/{name}.html"))).unwrap();
        assert!(files
            .anomalies
            .contains(&run.join(format!("anomalies/{name}.html"))));
        for op in std::iter::once(&witness.op).chain(&witness.concurrent) {
            assert!(
                page.contains(&format!("id=\"op-{}\"", op.index)),
                "{name}: op {} is not drawn",
                op.index
            );
        }
        for explanation in &witness.explanations {
            assert!(
                page.contains(&report::html::escape(explanation)),
                "{name}: {explanation}"
            );
        }
        assert!(page.contains("linearizable up to here"));
    }
}

#[test]
fn history_text_with_markup_is_escaped_on_every_page() {
    let tmp = tempfile::tempdir().unwrap();
    let run = stored_run(tmp.path(), "run-invalid", "20261126T014826.040Z");
    // Give a failed op of a witnessed key an error that is a script.
    let history = fs::read_to_string(run.join("history.jsonl")).unwrap();
    let mut poisoned = 0;
    let lines: Vec<String> = history
        .lines()
        .map(|line| {
            if line.contains("\"error\":\"compare failed\"") && line.contains("\"key\":\"k1\"") {
                poisoned += 1;
                line.replacen(
                    "\"error\":\"compare failed\"",
                    "\"error\":\"<script>alert('x')</script> & more\"",
                    1,
                )
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert!(poisoned > 0);
    fs::write(run.join("history.jsonl"), lines.join("\n") + "\n").unwrap();

    let files = report::write_run_report(&run).unwrap();
    let timeline = fs::read_to_string(&files.timeline[0]).unwrap();
    assert!(timeline.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    for page in html_files(&run) {
        assert!(
            !fs::read_to_string(&page).unwrap().contains("<script"),
            "{page:?}"
        );
        assert_well_formed(&page);
    }
}

#[test]
fn store_index_lists_runs_newest_first_by_verdict_and_skips_latest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path();
    stored_run(store, "run-valid", "20260101T000000.000Z");
    let invalid = stored_run(store, "run-invalid", "20260102T000000.000Z");
    let crashed = stored_run(store, "run-valid", "20260103T000000.000Z");
    fs::remove_file(crashed.join("results.json")).unwrap();
    std::os::unix::fs::symlink(&invalid, store.join("etcd-register/latest")).unwrap();
    std::os::unix::fs::symlink(&invalid, store.join("latest")).unwrap();

    let index = report::write_store_index(store).unwrap();
    assert_eq!(index, store.join("index.html"));
    assert_well_formed(&index);
    assert_links_resolve(&index);
    let page = fs::read_to_string(&index).unwrap();
    let rows: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("<tr class="))
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[0].contains("crashed") && rows[0].contains("2026-01-03"));
    assert!(rows[1].contains("invalid") && rows[1].contains("2026-01-02"));
    assert!(rows[2].contains("\"valid\"") && rows[2].contains("2026-01-01"));
}

#[test]
fn a_long_history_is_paged_with_links_between_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("etcd-register/20260101T000000.000Z");
    fs::create_dir_all(&run).unwrap();
    let mut history = String::new();
    let mut index = 0;
    for i in 0..100_000u64 {
        let t = i as i64 * 1_000_000;
        for (kind, time) in [("invoke", t), ("ok", t + 500_000)] {
            history.push_str(&format!(
                "{{\"index\":{index},\"time\":{time},\"process\":{},\"type\":\"{kind}\",\"f\":\"write\",\"key\":\"k{}\",\"value\":{i}}}\n",
                i % 10,
                i % 7
            ));
            index += 1;
        }
    }
    fs::write(run.join("history.jsonl"), history).unwrap();

    let started = std::time::Instant::now();
    let files = report::write_run_report(&run).unwrap();
    let took = started.elapsed();
    assert_eq!(
        files.timeline.len(),
        100_000 / report::timeline::OPS_PER_PAGE
    );
    assert!(took.as_secs() < 30, "report took {took:?}");
    let biggest = files
        .timeline
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .max()
        .unwrap();
    assert!(biggest < 2_000_000, "a timeline page has {biggest} bytes");
    for page in [
        &files.timeline[0],
        &files.timeline[1],
        files.timeline.last().unwrap(),
    ] {
        assert_well_formed(page);
        assert_links_resolve(page);
    }
    let second = fs::read_to_string(&files.timeline[1]).unwrap();
    assert!(second.contains("href=\"timeline.html\">&larr; previous"));
    assert!(second.contains("href=\"timeline-2.html\">next &rarr;"));
    // No results.json: the run is reported as crashed, not as valid.
    assert!(fs::read_to_string(&files.index)
        .unwrap()
        .contains("verdict crashed"));
}

#[test]
fn a_run_without_a_history_fails_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = report::write_run_report(tmp.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("history.jsonl"), "{err}");
}
