//! `faultline serve`, `faultline compare` and the JUnit writer, as a user and a CI job meet them.
//!
//! The server runs as the real binary on a free port of 127.0.0.1 over a temporary store, and is
//! spoken to over raw TCP so that paths reach it exactly as an attacker would send them.

use faultline::web::junit;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn fixture_runs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs/etcd-register")
}

const VALID: &str = "20260101T000000.000Z";
const INVALID: &str = "20260102T000000.000Z";
const UNKNOWN: &str = "20260103T000000.000Z";

/// A `faultline serve` process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    _store: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store with one fake run, its `latest` links, and two links pointing out of the store.
fn fake_store() -> tempfile::TempDir {
    let store = tempfile::tempdir().unwrap();
    let run = store.path().join("etcd-register").join(VALID);
    std::fs::create_dir_all(run.join("nodes/n1")).unwrap();
    std::fs::write(run.join("results.json"), "{\"valid\": true}\n").unwrap();
    std::fs::write(run.join("history.jsonl"), "{\"f\":\"read\"}\n").unwrap();
    std::fs::write(run.join("nodes/n1/etcd.log"), "started <n1>\n").unwrap();
    std::fs::write(run.join("index.html"), "<html>the run</html>\n").unwrap();
    std::fs::write(run.join("rate.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    std::os::unix::fs::symlink(VALID, store.path().join("etcd-register/latest")).unwrap();
    std::os::unix::fs::symlink(
        Path::new("etcd-register").join(VALID),
        store.path().join("latest"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", store.path().join("passwd")).unwrap();
    std::os::unix::fs::symlink("/etc", store.path().join("etc")).unwrap();
    std::fs::write(store.path().join("<b>odd&name.txt"), "x").unwrap();
    store
}

fn serve(store: tempfile::TempDir) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(store.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start faultline serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().strip_suffix('/'))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    Server {
        child,
        addr,
        _store: store,
    }
}

/// A parsed response: status, lower-cased header lines, body.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn raw(server: &Server, request: &str) -> Reply {
    let mut tcp = TcpStream::connect(&server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    tcp.read_to_end(&mut bytes).unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
    }
}

fn get(server: &Server, path: &str) -> Reply {
    raw(
        server,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}

#[test]
fn serve_gives_a_file_with_its_type_and_length() {
    let server = serve(fake_store());
    let path = format!("/etcd-register/{VALID}/history.jsonl");
    let r = get(&server, &path);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(r.header("content-length").as_deref(), Some("13"));
    assert_eq!(r.text(), "{\"f\":\"read\"}\n");
    let json = get(&server, &format!("/etcd-register/{VALID}/results.json"));
    assert_eq!(
        json.header("content-type").as_deref(),
        Some("application/json")
    );
    let png = get(&server, &format!("/etcd-register/{VALID}/rate.png"));
    assert_eq!(png.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(png.body, b"\x89PNG\r\n\x1a\n");
}

#[test]
fn serve_gives_a_directory_its_index_or_an_escaped_listing() {
    let server = serve(fake_store());
    let r = get(&server, &format!("/etcd-register/{VALID}/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<html>the run</html>\n");
    let root = get(&server, "/");
    assert_eq!(root.status, 200);
    let listing = root.text();
    assert!(listing.contains("etcd-register/"), "{listing}");
    assert!(listing.contains("&lt;b&gt;odd&amp;name.txt"), "{listing}");
    assert!(!listing.contains("<b>odd"), "{listing}");
    let nodes = get(&server, &format!("/etcd-register/{VALID}/nodes"));
    assert_eq!(nodes.status, 301);
    assert_eq!(
        nodes.header("location"),
        Some(format!("/etcd-register/{VALID}/nodes/"))
    );
    let nodes = get(&server, &format!("/etcd-register/{VALID}/nodes/n1/"));
    assert!(nodes.text().contains("etcd.log"), "{}", nodes.text());
}

#[test]
fn serve_follows_the_stores_own_latest_links() {
    let server = serve(fake_store());
    let r = get(&server, "/latest/results.json");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "{\"valid\": true}\n");
    let r = get(&server, "/etcd-register/latest/nodes/n1/etcd.log");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "started <n1>\n");
}

#[test]
fn serve_never_gives_a_file_outside_the_store() {
    let server = serve(fake_store());
    for path in [
        "/../../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/latest/../../../../etc/passwd",
        "/etcd-register/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..\\..\\etc\\passwd",
        "/%5c..%5c..%5cetc%5cpasswd",
        "/etc%00/passwd",
        "/passwd",
        "/etc/passwd",
        "/etc/",
        "../../etc/passwd",
        "//etc/passwd",
    ] {
        let r = get(&server, path);
        assert!(
            [400, 403, 404].contains(&r.status),
            "{path}: status {}",
            r.status
        );
        assert!(!r.text().contains("root:"), "{path} leaked /etc/passwd");
    }
    assert_eq!(get(&server, "/passwd").status, 403);
    assert_eq!(get(&server, "/etc/passwd").status, 403);
    assert_eq!(get(&server, "/%2e%2e/%2e%2e/etc/passwd").status, 403);
    assert_eq!(get(&server, "/etc%00/passwd").status, 400);
}

#[test]
fn serve_answers_head_without_a_body_and_refuses_other_methods() {
    let server = serve(fake_store());
    let path = format!("/etcd-register/{VALID}/history.jsonl");
    let head = raw(
        &server,
        &format!("HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length").as_deref(), Some("13"));
    assert!(head.body.is_empty());
    let post = raw(
        &server,
        &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi"),
    );
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(raw(&server, "garbage\r\n\r\n").status, 400);
}

#[test]
fn serve_bounds_the_request_head() {
    let server = serve(fake_store());
    let huge = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(64 * 1024));
    let mut tcp = TcpStream::connect(&server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may close before reading everything; only its answer matters.
    let _ = tcp.write_all(huge.as_bytes());
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    // A client that stays silent does not stop others from being served.
    let _silent = TcpStream::connect(&server.addr).unwrap();
    assert_eq!(get(&server, "/latest/results.json").status, 200);
}

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

fn run_path(stamp: &str) -> String {
    fixture_runs().join(stamp).display().to_string()
}

#[test]
fn compare_names_a_worse_verdict_and_the_throughput_change_and_exits_1() {
    let o = faultline(&["compare", &run_path(VALID), &run_path(INVALID)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("verdict: valid -> invalid (worse)"), "{text}");
    assert!(
        text.contains(
            "2 added [linearizable: nonlinearizable k7, linearizable: nonlinearizable k<9>]"
        ),
        "{text}"
    );
    assert!(
        text.contains("throughput: 50.0 -> 40.0 ok/s (-20.0%)"),
        "{text}"
    );
    assert!(
        text.contains("latency p99: 10.0 -> 15.0 ms (+50.0%)"),
        "{text}"
    );
    assert!(text.contains("ops: 4637 -> 4300"), "{text}");
}

#[test]
fn compare_exits_0_when_the_verdict_is_no_worse() {
    let o = faultline(&["compare", &run_path(INVALID), &run_path(VALID)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("verdict: invalid -> valid (better)"),
        "{text}"
    );
    assert!(text.contains("0 added [], 2 removed"), "{text}");
    let same = faultline(&["compare", &run_path(VALID), &run_path(VALID)]);
    assert_eq!(same.status.code(), Some(0));
    let unknown = faultline(&["compare", &run_path(VALID), &run_path(UNKNOWN)]);
    assert_eq!(unknown.status.code(), Some(1));
    let missing = faultline(&["compare", &run_path(VALID), "/nonexistent/run"]);
    assert_eq!(missing.status.code(), Some(65));
}

#[test]
fn compare_json_is_machine_readable() {
    let o = faultline(&["compare", "--json", &run_path(VALID), &run_path(INVALID)]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"]["change"], "worse");
    assert_eq!(v["verdict"]["b"], false);
    assert_eq!(
        v["anomalies"]["added"][0],
        "linearizable: nonlinearizable k7"
    );
    assert!((v["ok_per_second"]["relative"].as_f64().unwrap() + 0.2).abs() < 1e-9);
    assert_eq!(v["ops"]["delta"], -337);
}

/// Every element of a JUnit document, by name with its attributes; panics if not well-formed.
fn parse_xml(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut elements = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().into_inner().to_owned();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("well-formed attribute");
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .expect("escaped value")
                            .into_owned();
                        (a.key.into_inner().to_owned(), value)
                    })
                    .collect();
                elements.push((name, attrs));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    elements
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> &'a str {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

#[test]
fn junit_has_a_failure_for_an_invalid_run_and_an_error_for_an_unknown_one() {
    let runs: Vec<junit::RunSummary> = [VALID, INVALID, UNKNOWN]
        .iter()
        .map(|s| junit::RunSummary::load(&fixture_runs().join(s)).unwrap())
        .collect();
    assert_eq!(runs[1].test, "etcd-register");
    assert_eq!(
        runs[1].checkers[0].2,
        ["nonlinearizable k7", "nonlinearizable k<9>"]
    );
    assert!(runs[2].cause.as_deref().unwrap().contains("memory limit"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ci/junit.xml");
    junit::write_junit(&path, &runs).unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();
    let elements = parse_xml(&xml);
    let suite = &elements.iter().find(|e| e.0 == "testsuite").unwrap().1;
    assert_eq!(attr(suite, "tests"), "3");
    assert_eq!(attr(suite, "failures"), "1");
    assert_eq!(attr(suite, "errors"), "1");
    let cases: Vec<_> = elements.iter().filter(|e| e.0 == "testcase").collect();
    assert_eq!(cases.len(), 3);
    assert_eq!(attr(&cases[0].1, "name"), "etcd-register/linearizable");
    assert_eq!(attr(&cases[0].1, "classname"), "etcd-register");
    assert_eq!(attr(&cases[1].1, "time"), "70.250");
    let failures: Vec<_> = elements.iter().filter(|e| e.0 == "failure").collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        attr(&failures[0].1, "message"),
        "anomalies: nonlinearizable k7, nonlinearizable k<9>"
    );
    let errors: Vec<_> = elements.iter().filter(|e| e.0 == "error").collect();
    assert_eq!(errors.len(), 1);
    assert!(attr(&errors[0].1, "message").contains("time \"limit\""));
}

#[test]
fn junit_runs_since_picks_the_runs_of_one_invocation() {
    let store = fixture_runs().parent().unwrap().to_owned();
    let runs = junit::runs_since(&store, INVALID).unwrap();
    let dirs: Vec<_> = runs
        .iter()
        .map(|r| r.run_dir.file_name().unwrap())
        .collect();
    assert_eq!(dirs, [INVALID, UNKNOWN]);
}
