//! `faultline check` as a user runs it: verdicts, witnesses, JSON lines and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_valid_history_exits_0() {
    let o = faultline(&["check", &fixture("register-ok.jsonl")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("valid"));
}

#[test]
fn a_stale_read_exits_1_with_a_witness_naming_the_line() {
    let o = faultline(&["check", &fixture("stale-read.jsonl")]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("key \"k1\""), "{text}");
    assert!(
        text.contains("read nil (invoked at line 3, ok at line 4) cannot be linearized"),
        "{text}"
    );
    assert!(
        text.contains("read nil is impossible: the register holds 1"),
        "{text}"
    );
}

#[test]
fn json_output_is_one_object_per_file() {
    let files = [fixture("register-ok.jsonl"), fixture("stale-read.jsonl")];
    let o = faultline(&["check", "--json", &files[0], &files[1]]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], files[0].as_str());
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[1]["file"], files[1].as_str());
    assert_eq!(lines[1]["valid"], false);
    let witness = &lines[1]["failures"][0]["witness"];
    assert_eq!(witness["op"]["op"], "read nil");
    assert_eq!(witness["op"]["index"], 2);
}

#[test]
fn malformed_input_exits_65_naming_file_and_line() {
    let path = fixture("broken.jsonl");
    let o = faultline(&["check", &path]);
    assert_eq!(o.status.code(), Some(65));
    let text = stdout(&o);
    assert!(text.contains(&format!("{path}:2")), "{text}");
    assert!(text.contains("okay"), "{text}");
}

#[test]
fn a_missing_file_exits_65_naming_it() {
    let o = faultline(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(o.status.code(), Some(65));
    assert!(stdout(&o).contains("/nonexistent/history.jsonl"));
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(
        faultline(&["check", "--no-such-flag", "x"]).status.code(),
        Some(64)
    );
    assert_eq!(faultline(&["check"]).status.code(), Some(64));
    let o = faultline(&["check", "--model", "nope", &fixture("register-ok.jsonl")]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown model"));
}

/// Options that once panicked mid-run (after the datastore was set up) or left an empty run
/// directory behind are refused before the store or any node is touched.
#[test]
fn test_options_that_cannot_run_are_refused_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.display().to_string();
    for bad in [
        &["--nemesis-interval", "inf"][..],
        &["--rate", "1e-300"][..],
        &["--concurrency", "0"][..],
        &["--time-limit", "0"][..],
        &["--workload", "set"][..],
        &["--workload", "register,set"][..],
        &["--workload", "register,register"][..],
        &["--workload", "register,counter", "--mix", "1,1,1"][..],
        &["--db", "nosuchdb"][..],
        &["--read-consistency", "serializable", "--db", "nosuchdb"][..],
        &["--nemesis-targets", "everyone"][..],
    ] {
        let mut args = vec![
            "test",
            "--local-cluster",
            "3",
            "--cluster",
            "never-up",
            "--store",
            &s,
        ];
        args.extend_from_slice(bad);
        let o = faultline(&args);
        assert_eq!(
            o.status.code(),
            Some(64),
            "{bad:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!store.exists(), "{bad:?} created the store");
        assert!(
            !std::path::Path::new("/run/netns/never-up-n1").exists(),
            "{bad:?} brought a cluster up"
        );
    }
}

#[test]
fn test_help_lists_datastores_workloads_and_faults() {
    let o = faultline(&["test", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for word in [
        "Datastores",
        "etcd",
        "Workloads",
        "register",
        "set",
        "Faults",
        "partition-primary",
        "--nemesis-targets",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}

#[test]
fn the_initial_value_changes_the_verdict() {
    // A read of 0 before any write is only valid when the register starts at 0.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(
        &path,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":0}\n",
    )
    .unwrap();
    let p = path.display().to_string();
    assert_eq!(faultline(&["check", &p]).status.code(), Some(1));
    assert_eq!(
        faultline(&["check", "--initial", "0", &p]).status.code(),
        Some(0)
    );
}

#[test]
fn jepsen_nil_reads_match_anything_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.edn");
    std::fs::write(
        &path,
        "[{:process 0, :type :invoke, :f :write, :value 1}\n\
          {:process 0, :type :ok, :f :write, :value 1}\n\
          {:process 1, :type :invoke, :f :read, :value nil}\n\
          {:process 1, :type :ok, :f :read, :value nil}]\n",
    )
    .unwrap();
    let p = path.display().to_string();
    assert_eq!(faultline(&["check", &p]).status.code(), Some(0));
    assert_eq!(
        faultline(&["check", "--nil-read", "absent", &p])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn the_etcd_corpus_checks_in_one_command() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine/jepsen");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "corpus missing under CI"
        );
        return;
    };
    let files: Vec<String> = entries
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut args = vec!["check", "--json"];
    args.extend(files.iter().map(String::as_str));
    let o = faultline(&args);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).lines().count(), files.len());
}

/// A case of the checkers' kept corpus of histories.
fn regression(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("checkers/tests/regressions")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn write_skew_is_g2_item_not_repeatable_read_yet_snapshot_isolation() {
    let h = regression("elle-la-g2-item.edn");
    let o = faultline(&["check", "--workload", "list-append", &h]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("G2-item (1 found)"), "{text}");
    assert!(text.contains("so T1 read before T2 wrote: rw"), "{text}");
    assert!(text.contains("not repeatable-read"), "{text}");
    let o = faultline(&[
        "check",
        "--workload",
        "list-append",
        "--consistency-models",
        "snapshot-isolation,read-committed",
        &h,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn elle_json_output_carries_the_neutral_verdict() {
    let o = faultline(&[
        "check",
        "--workload",
        "list-append",
        "--json",
        &regression("elle-la-g1a.jsonl"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(line["verdict"]["checker"], "elle");
    assert_eq!(line["verdict"]["valid"], false);
    assert_eq!(line["verdict"]["anomalies"][0]["kind"], "G1a");
    assert_eq!(line["verdict"]["detail"]["not"][0], "read-committed");
}

#[test]
fn a_malformed_transaction_exits_65_and_bad_flags_64() {
    let h = regression("elle-la-unknown-micro-op.edn");
    let o = faultline(&["check", "--workload", "list-append", &h]);
    assert_eq!(o.status.code(), Some(65));
    let text = stdout(&o);
    assert!(
        text.contains("elle-la-unknown-micro-op.edn:3: micro-op 1"),
        "{text}"
    );
    for args in [
        &["check", "--workload", "no-such-workload", &h][..],
        &[
            "check",
            "--workload",
            "list-append",
            "--consistency-models",
            "eventual",
            &h,
        ],
        &["check", "--workload", "list-append", "--wfr-keys", &h],
    ] {
        assert_eq!(faultline(args).status.code(), Some(64), "{args:?}");
    }
}

#[test]
fn html_draws_each_transactional_history_and_needs_a_workload() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    let h = regression("elle-la-g-nonadjacent.edn");
    let o = faultline(&[
        "check",
        "--workload",
        "list-append",
        "--html",
        pages.to_str().unwrap(),
        &h,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let page = std::fs::read_to_string(pages.join("elle-la-g-nonadjacent.edn.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("G-nonadjacent 1"));
    assert_eq!(page.matches("marker-end").count(), 4, "four edges drawn");

    let o = faultline(&["check", "--html", pages.to_str().unwrap(), &h]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs --workload"));
}

#[test]
fn jepsen_bank_and_counter_histories_check_with_their_workloads_checker() {
    let o = faultline(&[
        "check",
        "--workload",
        "bank",
        &fixture("bank-wrong-total.edn"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("sums to 95, not 100"), "{}", stdout(&o));

    let o = faultline(&["check", "--workload", "counter", &fixture("counter-ok.edn")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    let o = faultline(&["check", "--workload", "nope", &fixture("counter-ok.edn")]);
    assert_eq!(o.status.code(), Some(64));
}
